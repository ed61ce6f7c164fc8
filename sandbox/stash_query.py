"""How the Stash emulator answers findScenes: filter, sort and page, Stash's way.

Pure functions over the emulator's scene records (plain dicts, see stash_store.py).
Behaviour follows Stash's SQL query builder:

- Timestamps are compared and sorted **as text** (Stash stores RFC3339 strings in the
  server's local offset and compares the filter value with them in SQL).
- No ``sort`` means no ORDER BY: scenes come in id order. An unknown sort is an error
  ("invalid sort"); a sort real Stash has but the emulator does not is an error too.
- Whatever the sort, ties are broken by title (or the id when untitled), natural and
  case-insensitive, ascending; then by id.
- ``per_page`` -1 (any negative) returns everything, 0 only counts, unset means 25.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Callable, Iterable

from sandbox import stash_plays

Record = dict
Predicate = Callable[[Record], bool]

# Sort names real Stash accepts for scenes (v0.30). The emulator implements SORT_KEYS.
STASH_SCENE_SORTS = frozenset({
    "bitrate", "created_at", "code", "date", "production_date", "file_count", "filesize",
    "duration", "file_mod_time", "framerate", "group_scene_number", "id", "interactive",
    "interactive_speed", "last_o_at", "last_played_at", "movie_scene_number", "o_counter",
    "organized", "performer_count", "play_count", "play_duration", "resume_time", "path",
    "perceptual_similarity", "random", "rating", "resolution", "studio", "tag_count",
    "title", "updated_at", "performer_age",
})

DEFAULT_PER_PAGE = 25


class QueryError(ValueError):
    """A findScenes request real Stash would also reject; the message becomes the GraphQL error."""


_DIGITS = re.compile(r"(\d+)")


def natural_key(text: str) -> tuple:
    """Sort key like SQLite's NATURAL_CI collation: case-insensitive, digit runs as numbers."""
    parts = _DIGITS.split(text.casefold())
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts))


def _nullable(value) -> tuple:
    # SQL puts NULL first in ascending order.
    return (0, 0) if value is None else (1, value)


def _primary_file(files: dict[int, dict], scene: Record) -> dict | None:
    return files.get(scene["_files"][0]) if scene["_files"] else None


def sort_key(name: str, files: dict[int, dict]) -> Callable[[Record], object]:
    """Key function for one of the sorts the emulator implements."""
    def primary_attr(attr):
        def key(scene):
            f = _primary_file(files, scene)
            return _nullable(None if f is None else f[attr])
        return key

    def title_key(scene):
        f = _primary_file(files, scene)
        folder, basename = "", ""
        if f is not None:
            basename = f["basename"]
            folder = f["path"][: len(f["path"]) - len(basename)]
        return natural_key(scene["title"] or basename), natural_key(folder)

    def path_key(scene):
        f = _primary_file(files, scene)
        return natural_key("" if f is None else f["path"])

    keys: dict[str, Callable[[Record], object]] = {
        "id": lambda s: s["_id"],
        "title": title_key,
        "code": lambda s: _nullable(s["code"] or None),
        "date": lambda s: _nullable(s["date"]),
        "rating": lambda s: _nullable(s["rating100"]),
        "organized": lambda s: s["organized"],
        "created_at": lambda s: s["created_at"],
        "updated_at": lambda s: s["updated_at"],
        "path": path_key,
        "filesize": primary_attr("size"),
        "duration": primary_attr("duration"),
        # ORDER BY (SELECT MAX(view_date) ...): NULL (never played) first when ascending.
        "last_played_at": lambda s: _nullable(stash_plays.last_played(s)),
        "play_count": lambda s: len(s["_plays"]),
        "resume_time": lambda s: s["resume_time"],
        "play_duration": lambda s: s["play_duration"],
    }
    return keys[name]


SORT_KEYS = frozenset({"id", "title", "code", "date", "rating", "organized", "created_at",
                       "updated_at", "path", "filesize", "duration", "last_played_at", "play_count",
                       "resume_time", "play_duration"})


def check_sort(name: str) -> None:
    if name not in STASH_SCENE_SORTS:
        raise QueryError(f"invalid sort: {name}")
    if name not in SORT_KEYS:
        raise QueryError(f"sort {name!r} is valid in Stash but not implemented by the sandbox emulator")


def order(scenes: Iterable[Record], sort: str | None, direction: str, files: dict[int, dict]) -> list[Record]:
    """Scenes in Stash's order for `sort` and `direction` (ASC/DESC)."""
    scenes = list(scenes)
    if not sort:
        return scenes  # no ORDER BY: storage (id) order
    check_sort(sort)
    scenes.sort(key=tiebreak_key)
    scenes.sort(key=sort_key(sort, files), reverse=(direction == "DESC"))
    return scenes


def tiebreak_key(scene: Record) -> tuple:
    """Stash's final sort, title (or id) natural ascending, then id; memoised in the
    record under "_tiebreak" (the store drops it when the title changes)."""
    key = scene.get("_tiebreak")
    if key is None:
        key = scene["_tiebreak"] = (natural_key(scene["title"] or str(scene["_id"])), scene["_id"])
    return key


def page_bounds(find_filter: dict | None, total: int) -> tuple[int, int]:
    """(start, stop) slice of the ordered result for the filter's page and per_page."""
    find_filter = find_filter or {}
    per_page = find_filter.get("per_page")
    if per_page is None:
        per_page = DEFAULT_PER_PAGE
    if per_page < 0:
        return 0, total
    page = find_filter.get("page")
    page = 1 if page is None or page < 1 else page
    start = (page - 1) * per_page
    return start, start + per_page


# ---- scene_filter -------------------------------------------------------------------

def compile_filter(scene_filter: dict | None, now_text: Callable[[timedelta], str],
                   files: dict[int, dict] | None = None) -> Predicate | None:
    """A predicate for a SceneFilterType dict, or None when it filters nothing.

    `now_text(delta)` formats now + delta as the server's timestamp text; Stash uses
    now + 1 day as the upper bound of a timestamp BETWEEN without value2.
    """
    if not scene_filter:
        return None
    own: list[Predicate] = []
    for key, criterion in scene_filter.items():
        if key in ("AND", "OR", "NOT") or criterion is None:
            continue
        own.append(_path(criterion, files or {}) if key == "path" else _criterion(key, criterion, now_text))

    def base(scene: Record) -> bool:
        return all(p(scene) for p in own)

    pred: Predicate = base
    for key in ("AND", "OR", "NOT"):
        sub = compile_filter(scene_filter.get(key), now_text, files)
        if sub is None:
            continue
        prev = pred
        if key == "AND":
            pred = lambda s, a=prev, b=sub: a(s) and b(s)
        elif key == "OR":
            pred = lambda s, a=prev, b=sub: a(s) or b(s)
        else:
            pred = lambda s, a=prev, b=sub: a(s) and not b(s)
    return pred


def _criterion(key: str, crit, now_text) -> Predicate:
    if key == "organized":
        return lambda s: s["organized"] == crit
    if key == "id":
        return _compare(lambda s: s["_id"], crit, key)
    if key == "rating100":
        return _compare(lambda s: s["rating100"], crit, key)
    if key in ("title", "code", "details", "director"):
        return _string(key, crit)
    if key == "date":
        return _compare(lambda s: s["date"], crit, key)
    if key in ("created_at", "updated_at"):
        if crit.get("value2") is None:
            crit = dict(crit, value2=now_text(timedelta(days=1)))
        return _compare(lambda s, k=key: s[k], crit, key)
    if key == "last_played_at":
        # Stash compares IFNULL(MAX(view_date), datetime(0)) as text: never NULL, so
        # IS_NULL matches no scene and NOT_NULL every scene; unplayed ones sort lowest.
        if crit.get("value2") is None:
            crit = dict(crit, value2=now_text(timedelta(days=1)))
        return _compare(stash_plays.last_played_text, crit, key)
    if key == "play_count":
        return _compare(lambda s: len(s["_plays"]), crit, key)
    if key in ("resume_time", "play_duration"):
        # cast(column as int): SQLite truncates toward zero.
        return _compare(lambda s, k=key: int(s[k]), crit, key)
    raise QueryError(f"scene_filter.{key} is not implemented by the sandbox emulator")


def _path(crit: dict, files: dict[int, dict]) -> Predicate:
    """``path``: a scene matches when any of its files does. Stash compares the folder and
    the name with SQL ``LIKE``, which ignores ASCII case only (approximated by casefold)."""
    mod, value = crit["modifier"], crit["value"]
    folded = value.casefold()
    if mod == "EQUALS":
        test = lambda p: p.casefold() == folded
    elif mod == "INCLUDES":
        test = lambda p: folded in p.casefold()
    else:
        raise QueryError(f"scene_filter.path: modifier {mod} is not implemented by the sandbox emulator")
    return lambda s: any(test(files[f]["path"]) for f in s["_files"] if f in files)


def _compare(get: Callable[[Record], object], crit: dict, key: str) -> Predicate:
    """Int, date and timestamp criteria: SQL comparison semantics, NULL never matches."""
    mod, value, value2 = crit["modifier"], crit.get("value"), crit.get("value2")
    if mod == "IS_NULL":
        return lambda s: get(s) is None
    if mod == "NOT_NULL":
        return lambda s: get(s) is not None
    ops: dict[str, Callable[[object], bool]] = {
        "EQUALS": lambda v: v == value,
        "NOT_EQUALS": lambda v: v != value,
        "GREATER_THAN": lambda v: v > value,
        "LESS_THAN": lambda v: v < value,
    }
    if mod in ("BETWEEN", "NOT_BETWEEN"):
        if value2 is None:
            raise QueryError(f"scene_filter.{key}: {mod} needs value2")
        inside = lambda v: value <= v <= value2
        ops[mod] = inside if mod == "BETWEEN" else (lambda v: not inside(v))
    if mod not in ops:
        raise QueryError(f"scene_filter.{key}: modifier {mod} is not supported")
    op = ops[mod]

    def pred(scene: Record) -> bool:
        v = get(scene)
        return v is not None and op(v)
    return pred


_WORDS = re.compile(r'"([^"]*)"|(\S+)')


def words(text: str) -> list[str]:
    """Split a search string into words, keeping "quoted phrases" whole, casefolded."""
    return [(a or b).casefold() for a, b in _WORDS.findall(text) if (a or b)]


def _string(key: str, crit: dict) -> Predicate:
    """String criteria; Stash stores an empty string as NULL."""
    mod, value = crit["modifier"], crit["value"]
    folded = value.casefold()
    if mod == "IS_NULL":
        return lambda s: not s[key]
    if mod == "NOT_NULL":
        return lambda s: bool(s[key])
    if mod == "EQUALS":
        return lambda s: s[key].casefold() == folded
    if mod == "NOT_EQUALS":
        return lambda s: bool(s[key]) and s[key].casefold() != folded
    if mod == "INCLUDES":
        wanted = words(value)
        return lambda s: all(w in s[key].casefold() for w in wanted)
    if mod == "EXCLUDES":
        unwanted = words(value)
        return lambda s: not any(w in s[key].casefold() for w in unwanted)
    if mod in ("MATCHES_REGEX", "NOT_MATCHES_REGEX"):
        try:
            rx = re.compile(value)
        except re.error as exc:
            raise QueryError(f"scene_filter.{key}: invalid regex: {exc}") from None
        if mod == "MATCHES_REGEX":
            return lambda s: bool(s[key]) and rx.search(s[key]) is not None
        return lambda s: not s[key] or rx.search(s[key]) is None
    raise QueryError(f"scene_filter.{key}: modifier {mod} is not supported")


def text_search(q: str, files: dict[int, dict]) -> Predicate | None:
    """FindFilterType.q: every word must appear in the title, details, code or a file path."""
    wanted = words(q or "")
    if not wanted:
        return None

    def pred(scene: Record) -> bool:
        haystack = " ".join(
            [scene["title"], scene["details"], scene["code"]]
            + [files[f]["path"] for f in scene["_files"] if f in files]
        ).casefold()
        return all(w in haystack for w in wanted)
    return pred
