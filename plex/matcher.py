"""Stash file → the Plex item that plays it.

Order of trust: an exact full-path match (after path mappings) — from the cached
index, else Plex's ``file=`` look-up checked exactly on our side — for every file
of the scene, primary first. Only when no path matches, a file-name fallback that
may pick an item only when it is certainly the scene's file (same size and duration,
no other Stash scene has a file at that item's path: :func:`choose_by_name`);
several candidates are an error listing them (or, with loose matching, the one whose folders match best when
that is unambiguous). Nothing here is an outage: failures are ``PlexNotFound``
(retried: Plex may not have scanned the file) or ``PermanentError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

from plex.exceptions import PermanentError, PlexNotFound
from plex.path_index import IndexedPart, PathIndex
from plex.paths import basename, common_suffix_depth, mapped_files, normalize, same_file
from shared.defaults import DURATION_TOLERANCE_MS
from shared.log import create_logger

if TYPE_CHECKING:
    from plex.library import PlexLibrary
    from plex.settings import MatchSettings

log_trace, log_debug, log_info, log_warn, log_error = create_logger("matcher")

_MAX_LISTED_CANDIDATES = 5


@dataclass(frozen=True)
class StashFile:
    """A scene's file as Stash knows it: path, bytes and seconds (``None``: unknown)."""

    path: str
    size: int | None = None
    duration: float | None = None


def same_facts(file: StashFile, part: IndexedPart) -> bool:
    """Whether a Plex part is certainly ``file`` by what both sides measured: the size
    must be known on both sides and equal, and the durations agree where both know one."""
    if file.size is None or part.size is None or int(file.size) != int(part.size):
        return False
    if file.duration and part.duration:
        return abs(float(file.duration) * 1000.0 - part.duration) <= DURATION_TOLERANCE_MS
    return True


@dataclass(frozen=True)
class NameChoice:
    """The outcome of the file-name rule."""

    part: IndexedPart | None
    #: Same-named parts that could be the scene's file (right size, nobody else's).
    candidates: tuple[IndexedPart, ...] = ()
    #: Same-named parts that are certainly not it (another scene's file, or another size).
    rejected: tuple[IndexedPart, ...] = ()

    @property
    def ambiguous(self) -> bool:
        """Several items could be the file and none could be chosen."""
        return self.part is None and len(self.candidates) > 1


def choose_by_name(path: str, candidates: Sequence[IndexedPart], *, strict: bool, case_insensitive: bool,
                   file: StashFile | None = None,
                   taken: Callable[[str], bool] = lambda _key: False,
                   claimed: Callable[[str], bool] = lambda _path: False) -> NameChoice:
    """The file-name rule — the one rule both sync and reconcile follow — used only when
    no full path matches. A same-named part may be chosen only when it is certainly the
    scene's file: its size (and duration, where both know it) equals ``file``'s, it is not
    ``taken`` (``rating_key`` → already synced for another scene) and not ``claimed``
    (Plex path → another Stash scene has a file mapped to exactly that path). Among
    several such parts, with loose matching, the one whose folders match best (and more
    than the name); otherwise none (ambiguous when several remain)."""
    unique = tuple({c.rating_key: c for c in candidates}.values())
    plausible: list[IndexedPart] = []
    rejected: list[IndexedPart] = []
    for c in unique:
        # Cheap checks first: ``claimed`` may ask Stash.
        if file is None or not same_facts(file, c) or taken(c.rating_key) or claimed(c.path):
            rejected.append(c)
        else:
            plausible.append(c)
    if len(plausible) == 1:
        return NameChoice(plausible[0], tuple(plausible), tuple(rejected))
    if len(plausible) > 1 and not strict:
        depth = {c.rating_key: common_suffix_depth(path, c.path, case_insensitive=case_insensitive) for c in plausible}
        best = max(depth.values())
        winners = [c for c in plausible if depth[c.rating_key] == best]
        if len(winners) == 1 and best > 1:
            return NameChoice(winners[0], tuple(plausible), tuple(rejected))
    return NameChoice(None, tuple(plausible), tuple(rejected))


def _listing(parts: Sequence[IndexedPart]) -> str:
    shown = "; ".join(c.path for c in parts[:_MAX_LISTED_CANDIDATES])
    extra = len(parts) - _MAX_LISTED_CANDIDATES
    return shown + (f" and {extra} more" if extra > 0 else "")


def name_choice_error(path: str, choice: NameChoice) -> PermanentError:
    """The error for an ambiguous choice: the candidates, and the setting that fixes it."""
    return PermanentError(f"no Plex file at {path}, and {len(choice.candidates)} Plex files of the same name and "
                          f"size could be it: {_listing(choice.candidates)}. Set 'Path mappings' so the full "
                          "path matches.")


@dataclass(frozen=True)
class NameMatch:
    """The file-name rule over all of a scene's files: the deciding choice (one picked,
    or ambiguous) and its path, else ``None`` with every same-named file ruled out."""

    choice: NameChoice | None
    path: str = ""
    rejected: tuple[IndexedPart, ...] = ()


def match_by_name(files: Sequence[StashFile], wanted: Sequence[str],
                  candidates_for: Callable[[str], Sequence[IndexedPart]], *, strict: bool, case_insensitive: bool,
                  taken: Callable[[str], bool] = lambda _key: False,
                  claimed: Callable[[str], bool] = lambda _path: False) -> NameMatch:
    """:func:`choose_by_name` for each file, primary first (``wanted``: the files' Plex
    paths, aligned with ``files``): the first file that picks an item or is ambiguous
    decides. Sync and reconcile both call this; they differ only in where candidates
    and the ``claimed`` answers come from."""
    rejected: list[IndexedPart] = []
    for file, path in zip(files, wanted):
        candidates = candidates_for(path)
        if not candidates:
            continue
        choice = choose_by_name(path, candidates, strict=strict, case_insensitive=case_insensitive,
                                file=file, taken=taken, claimed=claimed)
        if choice.part is not None or choice.ambiguous:
            return NameMatch(choice, path, tuple(rejected) + choice.rejected)
        rejected.extend(choice.rejected)
    return NameMatch(None, "", tuple(rejected))


def as_stash_files(files: Sequence[StashFile | str]) -> list[StashFile]:
    """Plain paths become files of unknown size (which the name rule never matches)."""
    return [f if isinstance(f, StashFile) else StashFile(str(f)) for f in files]


def indexed_parts(index: PathIndex, wanted: Sequence[str]) -> list[tuple[str, IndexedPart]]:
    """The exact-path look-up both sync and reconcile use: each of ``wanted`` (Plex paths,
    primary first) that the index holds, with its item's part; the first pair decides."""
    found: list[tuple[str, IndexedPart]] = []
    for path in wanted:
        parts = index.lookup(path)
        if parts:
            found.append((path, parts[0]))
    return found


@dataclass(frozen=True)
class Match:
    """Where a scene lives in Plex."""

    rating_key: str
    section_id: str
    plex_path: str
    #: "exact" (full path) or "name" (file-name fallback).
    how: str
    #: Plex's type name for the item (``movie``, ``episode``), as its section listed it.
    media_type: str = "movie"


class Matcher:
    """Finds Plex items for Stash files in the configured sections."""

    def __init__(self, plex: PlexLibrary, index: PathIndex, config: MatchSettings) -> None:
        self.plex = plex
        self.index = index
        self.config = config

    def plex_paths(self, stash_files: Sequence[str]) -> list[str]:
        """The scene's files as Plex should see them, primary first."""
        return mapped_files(stash_files, self.config.path_mappings, case_insensitive=self.config.path_case_insensitive)

    def match(self, stash_files: Sequence[StashFile | str], taken: Callable[[str], bool] = lambda _key: False,
              claimed: Callable[[str], bool] = lambda _path: False) -> Match:
        """The item for a scene with these files (primary first). For the file-name rule:
        ``taken(rating_key)`` says an item already belongs to another scene, and
        ``claimed(plex_path)`` that another Stash scene has a file at that Plex path."""
        files = as_stash_files(stash_files)
        wanted = self.plex_paths([f.path for f in files])
        if not wanted:
            raise PermanentError("the scene has no files, so there is nothing to find in Plex")
        found = self.from_index(files)
        if found:
            return found
        for path in wanted:
            found = self._ask_plex(path)
            if found:
                return found
        return self._by_name(files, wanted, taken, claimed)

    def from_index(self, stash_files: Sequence[StashFile | str]) -> Match | None:
        """The item by exact path from the cached index alone (no request), or ``None``."""
        found = indexed_parts(self.index, self.plex_paths([f.path for f in as_stash_files(stash_files)]))
        if not found:
            return None
        part = found[0][1]
        return Match(part.rating_key, part.section_id, part.path, "exact", part.media_type)

    def _ask_plex(self, path: str) -> Match | None:
        for section in self.plex.sections():
            if section.media is None:
                continue
            listed = self.plex.find_by_file(section.id, path, media=section.media)
            exact = [item for item in listed if any(self._same(path, f) for f in item.files)]
            if exact:
                self.index.add(exact)
                item = exact[0]
                plex_path = next(f for f in item.files if self._same(path, f))
                return Match(item.rating_key, item.section_id, plex_path, "exact", item.media_type)
        return None

    def _by_name(self, files: list[StashFile], wanted: list[str], taken: Callable[[str], bool],
                 claimed: Callable[[str], bool]) -> Match:
        # ``wanted`` drops duplicate paths; pair each mapped path with its own file.
        mapped = dict(zip((self._key(p) for p in self.plex_paths([f.path for f in files])), files))
        aligned = [mapped.get(self._key(p), StashFile(p)) for p in wanted]
        found = match_by_name(aligned, wanted, self._name_candidates, strict=self.config.strict_matching,
                              case_insensitive=self.config.path_case_insensitive, taken=taken, claimed=claimed)
        choice, path = found.choice, found.path
        if choice is not None and choice.part is not None:
            if len(choice.candidates) == 1:
                log_warn(f"No Plex file at {path}; matched by file name, size and duration to "
                         f"{choice.part.path}. If Plex and Stash see different folders, set 'Path mappings'.")
            else:
                log_warn(f"{len(choice.candidates)} Plex files are named {basename(path)} with its size; chose "
                         f"{choice.part.path} (closest folders to {path})")
            return Match(choice.part.rating_key, choice.part.section_id, choice.part.path, "name",
                         choice.part.media_type)
        if choice is not None:
            raise name_choice_error(path, choice)
        libraries = ", ".join(s.title for s in self.plex.sections())
        others = (f"; Plex files of the same name are other files (another size, or another Stash scene's): "
                  f"{_listing(found.rejected)}" if found.rejected else "")
        raise PlexNotFound(f"Plex has no item for {wanted[0]}" + (f" (+{len(wanted) - 1} more files)" if len(wanted) > 1 else "")
                           + f" in {libraries}{others}; if the file is there, check 'Path mappings'")

    def _name_candidates(self, path: str) -> list[IndexedPart]:
        name = basename(path)
        found: dict[str, IndexedPart] = {}
        complete = all(self.index.complete_since(s.id) for s in self.plex.sections())
        if complete:
            for part in self.index.by_name(path):
                found.setdefault(part.rating_key, part)
        else:
            for section in self.plex.sections():
                if section.media is None:
                    continue
                for item in self.plex.find_by_file(section.id, name, media=section.media):
                    for f in item.files:
                        if self._same(basename(f), name):
                            i = item.files.index(f)
                            found.setdefault(item.rating_key, IndexedPart(
                                f, item.rating_key, item.section_id,
                                item.sizes[i] if i < len(item.sizes) else None,
                                item.durations[i] if i < len(item.durations) else None,
                                section.type, item.media_type))
        return list(found.values())

    def _key(self, path: str) -> str:
        return normalize(path, case_insensitive=self.config.path_case_insensitive)

    def _same(self, a: str, b: str) -> bool:
        return same_file(a, b, case_insensitive=self.config.path_case_insensitive)
