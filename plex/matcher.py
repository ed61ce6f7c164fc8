"""Stash file → the Plex item that plays it.

Order of trust: an exact full-path match (after path mappings) — from the cached
index, else Plex's ``file=`` look-up checked exactly on our side — for every file
of the scene, primary first. Only when no path matches, a file-name fallback that
must be unique across the configured libraries; several candidates are an error
listing them (or, with loose matching, the one whose folders match best when
that is unambiguous). Nothing here is an outage: failures are ``PlexNotFound``
(retried: Plex may not have scanned the file) or ``PermanentError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from plex.client import PlexConnection
from plex.exceptions import PermanentError, PlexNotFound
from plex.path_index import IndexedPart, PathIndex
from plex.paths import basename, common_suffix_depth, mapped_files, same_file
from shared.log import create_logger

log_trace, log_debug, log_info, log_warn, log_error = create_logger("matcher")

_MAX_LISTED_CANDIDATES = 5


@dataclass(frozen=True)
class NameChoice:
    """The outcome of the file-name rule."""

    part: IndexedPart | None
    candidates: tuple[IndexedPart, ...] = ()

    @property
    def ambiguous(self) -> bool:
        """Several items share the name and none could be chosen."""
        return self.part is None and len(self.candidates) > 1


def choose_by_name(path: str, candidates: Sequence[IndexedPart], *, strict: bool, case_insensitive: bool,
                   taken: Callable[[str], bool] = lambda _key: False) -> NameChoice:
    """The file-name rule, used only when no full path matches: a unique name wins;
    among several, with loose matching, the one whose folders match best (and more
    than the name); otherwise ambiguous. Items ``taken`` by another scene never count:
    a same-named file that another scene already owns is not this scene's file."""
    unique = tuple(c for c in {c.rating_key: c for c in candidates}.values() if not taken(c.rating_key))
    if len(unique) == 1:
        return NameChoice(unique[0], unique)
    if len(unique) > 1 and not strict:
        depth = {c.rating_key: common_suffix_depth(path, c.path, case_insensitive=case_insensitive) for c in unique}
        best = max(depth.values())
        winners = [c for c in unique if depth[c.rating_key] == best]
        if len(winners) == 1 and best > 1:
            return NameChoice(winners[0], unique)
    return NameChoice(None, unique)


@dataclass(frozen=True)
class Match:
    """Where a scene lives in Plex."""

    rating_key: str
    section_id: str
    plex_path: str
    #: "exact" (full path) or "name" (file-name fallback).
    how: str


class Matcher:
    """Finds Plex items for Stash files in the configured sections."""

    def __init__(self, plex: PlexConnection, index: PathIndex, config: Any) -> None:
        self.plex = plex
        self.index = index
        self.config = config

    def plex_paths(self, stash_files: Sequence[str]) -> list[str]:
        """The scene's files as Plex should see them, primary first."""
        return mapped_files(stash_files, self.config.path_mappings, case_insensitive=self.config.path_case_insensitive)

    def match(self, stash_files: Sequence[str], taken: Callable[[str], bool] = lambda _key: False) -> Match:
        """The item for a scene with these files (primary first); ``taken(rating_key)``
        says an item already belongs to another scene (excluded from the name rule)."""
        wanted = self.plex_paths(stash_files)
        if not wanted:
            raise PermanentError("the scene has no files, so there is nothing to find in Plex")
        for path in wanted:
            for part in self.index.lookup(path):
                return Match(part.rating_key, part.section_id, part.path, "exact")
        for path in wanted:
            found = self._ask_plex(path)
            if found:
                return found
        return self._by_name(wanted, taken)

    def _ask_plex(self, path: str) -> Match | None:
        for section in self.plex.sections():
            listed = self.plex.find_by_file(section.id, path)
            exact = [item for item in listed if any(self._same(path, f) for f in item.files)]
            if exact:
                self.index.add(exact)
                item = exact[0]
                plex_path = next(f for f in item.files if self._same(path, f))
                return Match(item.rating_key, item.section_id, plex_path, "exact")
        return None

    def _by_name(self, wanted: list[str], taken: Callable[[str], bool]) -> Match:
        for path in wanted:
            candidates = self._name_candidates(path)
            if not candidates:
                continue
            choice = choose_by_name(path, candidates, strict=self.config.strict_matching,
                                    case_insensitive=self.config.path_case_insensitive, taken=taken)
            if choice.part is not None:
                if len(choice.candidates) == 1:
                    log_warn(f"No Plex file at {path}; matched by file name to {choice.part.path}. "
                             "If Plex and Stash see different folders, set 'Path mappings'.")
                else:
                    log_warn(f"{len(choice.candidates)} Plex files are named {basename(path)}; chose "
                             f"{choice.part.path} (closest folders to {path})")
                return Match(choice.part.rating_key, choice.part.section_id, choice.part.path, "name")
            if choice.candidates:
                listing = "; ".join(c.path for c in choice.candidates[:_MAX_LISTED_CANDIDATES])
                extra = len(choice.candidates) - _MAX_LISTED_CANDIDATES
                more = f" and {extra} more" if extra > 0 else ""
                raise PermanentError(f"no Plex file at {path}, and {len(choice.candidates)} Plex files share its "
                                     f"name: {listing}{more}. Set 'Path mappings' so the full path matches.")
        libraries = ", ".join(s.title for s in self.plex.sections())
        raise PlexNotFound(f"Plex has no item for {wanted[0]}" + (f" (+{len(wanted) - 1} more files)" if len(wanted) > 1 else "")
                           + f" in {libraries}; if the file is there, check 'Path mappings'")

    def _name_candidates(self, path: str) -> list[IndexedPart]:
        name = basename(path)
        found: dict[str, IndexedPart] = {}
        complete = all(self.index.complete_since(s.id) for s in self.plex.sections())
        if complete:
            for part in self.index.by_name(path):
                found.setdefault(part.rating_key, part)
        else:
            for section in self.plex.sections():
                for item in self.plex.find_by_file(section.id, name):
                    for f in item.files:
                        if self._same(basename(f), name):
                            found.setdefault(item.rating_key, IndexedPart(f, item.rating_key, item.section_id))
        return list(found.values())

    def _same(self, a: str, b: str) -> bool:
        return same_file(a, b, case_insensitive=self.config.path_case_insensitive)
