"""Stash path → Plex path: pure functions.

Plex and Stash often see one file under different names: Docker volumes
(``/data`` vs ``/media``), NAS mounts, Windows drive letters vs UNC shares. Rules
are ``stash_prefix => plex_prefix``; the longest matching prefix wins and matches
only at a folder boundary (``/media`` never matches ``/media2/x``).
"""

from __future__ import annotations

import re
from typing import Iterable, NamedTuple, Sequence

_DRIVE = re.compile(r"^[A-Za-z]:")


class PathMapping(NamedTuple):
    """One ``stash_prefix => plex_prefix`` rule."""

    stash_prefix: str
    plex_prefix: str


def is_windows_path(path: str) -> bool:
    """``C:\\x``, ``C:/x`` or a UNC ``\\\\server\\share`` path."""
    return bool(_DRIVE.match(path)) or path.startswith("\\\\")


def normalize(path: str, *, case_insensitive: bool = False) -> str:
    """The form paths are compared in: forward slashes, no trailing slash, and
    lower case when asked (Windows drive letters are always case-insensitive)."""
    # Only a Windows path has backslash separators; in a POSIX path a backslash is
    # part of a file name ("Back\\slash.mp4"), and two such files are not one.
    text = path.replace("\\", "/") if is_windows_path(path) else path
    if len(text) > 1:
        text = text.rstrip("/") or "/"
    if _DRIVE.match(text):
        text = text[0].lower() + text[1:]
    return text.lower() if case_insensitive else text


def _has_prefix(path_norm: str, prefix_norm: str) -> bool:
    if prefix_norm == "/":
        return path_norm.startswith("/")
    return path_norm == prefix_norm or path_norm.startswith(prefix_norm + "/")


def map_path(stash_path: str, mappings: Sequence[PathMapping], *, case_insensitive: bool = False) -> str:
    """The Plex path of ``stash_path`` under ``mappings`` (unchanged when none applies)."""
    key = normalize(stash_path, case_insensitive=case_insensitive)
    best: PathMapping | None = None
    best_len = -1
    for rule in mappings:
        prefix = normalize(rule.stash_prefix, case_insensitive=case_insensitive)
        if _has_prefix(key, prefix) and len(prefix) > best_len:
            best, best_len = rule, len(prefix)
    if best is None:
        return stash_path
    # Cut the original (not lower-cased) path after the prefix. Only a Windows path
    # has backslash separators; in a POSIX path a backslash is part of a file name.
    source = normalize(stash_path) if is_windows_path(stash_path) else stash_path
    # Cut by folder count, not characters: lower-casing may change a name's length ("İ").
    rest = "/".join(source.split("/")[len(normalize(best.stash_prefix).split("/")):]) if best_len > 1 else source
    rest = rest.lstrip("/")
    target = best.plex_prefix.rstrip("/\\")
    if is_windows_path(best.plex_prefix):
        return target + ("\\" + rest.replace("/", "\\") if rest else "")
    return target + ("/" + rest if rest else "") if target else "/" + rest


def stash_paths_for(plex_path: str, mappings: Sequence[PathMapping], *, case_insensitive: bool = False) -> list[str]:
    """Every Stash path that :func:`map_path` could turn into ``plex_path``: the path
    itself and, per rule whose Plex prefix holds it, the Stash prefix plus the rest.
    A superset: callers map each back to check (a rule may shadow the identity)."""
    out = [plex_path]
    key = normalize(plex_path, case_insensitive=case_insensitive)
    source = normalize(plex_path)
    for rule in mappings:
        prefix = normalize(rule.plex_prefix, case_insensitive=case_insensitive)
        if not _has_prefix(key, prefix):
            continue
        depth = len(normalize(rule.plex_prefix).split("/")) if prefix != "/" else 1
        rest = "/".join(source.split("/")[depth:])
        target = rule.stash_prefix.rstrip("/\\")
        if is_windows_path(rule.stash_prefix):
            out.append(target + ("\\" + rest.replace("/", "\\") if rest else ""))
        else:
            out.append((target + ("/" + rest if rest else "")) if target else "/" + rest)
    return list(dict.fromkeys(out))


def is_under(path: str, folder: str, *, case_insensitive: bool = False) -> bool:
    """Whether ``path`` is ``folder`` or inside it (``/media2/x`` is not inside ``/media``)."""
    return _has_prefix(normalize(path, case_insensitive=case_insensitive),
                       normalize(folder, case_insensitive=case_insensitive))


def basename(path: str) -> str:
    """The file name (a backslash separates only in Windows paths)."""
    if is_windows_path(path):
        path = path.replace("\\", "/")
    return path.rstrip("/").rsplit("/", 1)[-1]


def parent(path: str) -> str:
    """The folder holding ``path``, in the path's own separator style."""
    windows = is_windows_path(path)
    sep = "\\" if windows else "/"
    head = path.rstrip("/\\" if windows else "/")
    cut = max(head.rfind("/"), head.rfind("\\")) if windows else head.rfind("/")
    return head[:cut] if cut > 0 else sep


def common_suffix_depth(a: str, b: str, *, case_insensitive: bool = False) -> int:
    """How many trailing path components ``a`` and ``b`` share (file name included)."""
    pa = normalize(a, case_insensitive=case_insensitive).split("/")
    pb = normalize(b, case_insensitive=case_insensitive).split("/")
    depth = 0
    for x, y in zip(reversed(pa), reversed(pb)):
        if x != y:
            break
        depth += 1
    return depth


def same_file(a: str, b: str, *, case_insensitive: bool = False) -> bool:
    """Whether two Plex-side paths name the same file."""
    return normalize(a, case_insensitive=case_insensitive) == normalize(b, case_insensitive=case_insensitive)


def mapped_files(paths: Iterable[str], mappings: Sequence[PathMapping], *, case_insensitive: bool = False) -> list[str]:
    """Every path mapped, order kept, duplicates dropped."""
    out: list[str] = []
    seen: set[str] = set()
    for path in paths:
        mapped = map_path(path, mappings, case_insensitive=case_insensitive)
        key = normalize(mapped, case_insensitive=case_insensitive)
        if key not in seen:
            seen.add(key)
            out.append(mapped)
    return out
