"""A Stash scene → the Plex metadata we want: a pure function.

Always fed the scene as fetched from Stash at sync time, never the hook's
``input`` (which holds nulls for every field the user did not send: a
rating-only save must not clear Plex's summary). Text is carried exactly; only
characters XML cannot hold are dropped, since Plex could not store them.
"""

from __future__ import annotations

import datetime
import re
from typing import Any, Mapping

from plex.desired import DesiredMetadata
from plex.ratings import plex_rating_of
from validation.config import PlexSyncConfig

# XML 1.0 allows tab, newline, carriage return and everything from U+0020 except
# surrogates and U+FFFE/U+FFFF.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


def plex_text(value: Any) -> str:
    """``value`` as text Plex can store: exact, minus XML-invalid characters."""
    if value is None:
        return ""
    return _XML_INVALID.sub("", str(value))


def _unique(names: list[str]) -> tuple[str, ...]:
    # Plex matches tags case-insensitively: "Blonde" and "blonde" are one tag.
    seen: set[str] = set()
    out = []
    for name in names:
        key = name.casefold()
        if name.strip() and key not in seen:
            seen.add(key)
            out.append(name)
    return tuple(out)


def excluded(tag: str, patterns: tuple[str, ...]) -> bool:
    """Whether ``tag`` matches an exclusion: an exact name, or ``prefix*``."""
    for pattern in patterns:
        if pattern.endswith("*"):
            if tag.startswith(pattern[:-1]):
                return True
        elif tag == pattern:
            return True
    return False


def _date_fields(date: Any) -> tuple[str, str]:
    text = (date or "").strip() if isinstance(date, str) else ""
    match = _DATE.match(text)
    if not match:
        return "", ""
    try:
        datetime.date.fromisoformat(text)   # "2021-02-30" has the shape but is no date: Plex answers 400
    except ValueError:
        return "", ""
    return text, match.group(1)


def _rating(rating100: Any) -> str:
    # The scale the watch-state pass reads back (plex/ratings.py): one conversion, no echo.
    try:
        value = plex_rating_of(None if rating100 is None or isinstance(rating100, bool) else int(rating100))
    except (TypeError, ValueError):
        return ""
    return "" if value is None else f"{value:g}"


def desired_metadata(scene: Mapping[str, Any], config: PlexSyncConfig) -> DesiredMetadata:
    """The Plex metadata ``scene`` (a Stash ``findScene`` result) should produce."""
    scalars: dict[str, str | None] = {}
    tags: dict[str, tuple[str, ...]] = {}
    title = plex_text(scene.get("title"))
    studio = plex_text((scene.get("studio") or {}).get("name"))

    if config.sync_title and title:
        scalars["title"] = title
    if config.sync_title_sort and title:
        scalars["titleSort"] = title
    if config.sync_summary:
        scalars["summary"] = plex_text(scene.get("details"))
    if config.sync_studio:
        scalars["studio"] = studio
    if config.sync_date:
        day, year = _date_fields(scene.get("date"))
        scalars["originallyAvailableAt"] = day
        scalars["year"] = year
    if config.sync_rating:
        scalars["userRating"] = _rating(scene.get("rating100"))
    if config.sync_tagline:
        scalars["tagline"] = plex_text(scene.get("code"))

    if config.sync_tags:
        names = [plex_text(t.get("name")) for t in scene.get("tags") or []]
        kept = [n for n in _unique(names) if not excluded(n, config.tag_exclude)]
        tags["genre"] = tuple(kept[: config.max_tags] if config.max_tags else kept)
    if config.sync_performers:
        tags["actor"] = _unique([plex_text(p.get("name")) for p in scene.get("performers") or []])
    if config.sync_director:
        director = plex_text(scene.get("director"))
        tags["director"] = (director,) if director.strip() else ()
    if config.sync_collections:
        groups = [plex_text((g.get("group") or {}).get("name")) for g in scene.get("groups") or []]
        tags["collection"] = _unique(([studio] if studio.strip() else []) + groups)

    poster = None
    if config.sync_poster:
        # Only the screenshot: paths.preview is a video and must never become a poster.
        poster = ((scene.get("paths") or {}).get("screenshot")) or None
    return DesiredMetadata(scalars=scalars, tags=tags, poster_url=poster)
