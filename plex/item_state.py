"""A Plex item's current metadata, read from ``/library/metadata/{key}`` XML: pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping
from xml.etree.ElementTree import Element

#: Scalar attributes we compare, by Plex's edit name.
SCALARS = ("title", "titleSort", "summary", "studio", "originallyAvailableAt", "year", "userRating", "tagline")
#: Tag kind (edit name) → XML element tag.
TAG_ELEMENTS = {"genre": "Genre", "actor": "Role", "director": "Director", "collection": "Collection",
                "label": "Label", "writer": "Writer", "country": "Country"}


@dataclass(frozen=True)
class PlexItemState:
    """What Plex shows for one item now."""

    rating_key: str
    section_id: str
    scalars: Mapping[str, str]
    tags: Mapping[str, tuple[str, ...]]
    locked: frozenset[str]
    files: tuple[str, ...]
    has_poster: bool


def _item_element(container: Element) -> Element:
    if container.tag in ("Video", "Directory"):
        return container
    for child in container:
        if child.tag in ("Video", "Directory", "Photo", "Track"):
            return child
    raise ValueError("no item in the response")


def parse_item(container: Element) -> PlexItemState:
    """Read an item's state from a ``MediaContainer`` (or the item element itself)."""
    item = _item_element(container)
    attrs = item.attrib
    scalars = {name: attrs.get(name, "") for name in SCALARS}
    # Plex reports the date with a time on some versions ("2020-01-02 00:00:00").
    scalars["originallyAvailableAt"] = scalars["originallyAvailableAt"][:10]
    tags = {kind: tuple(child.get("tag", "") for child in item.findall(element))
            for kind, element in TAG_ELEMENTS.items()}
    locked = frozenset(f.get("name", "") for f in item.findall("Field") if f.get("locked") in ("1", "true"))
    files = tuple(part.get("file", "") for media in item.findall("Media") for part in media.findall("Part"))
    return PlexItemState(
        rating_key=attrs.get("ratingKey", ""),
        section_id=attrs.get("librarySectionID", "") or container.get("librarySectionID", ""),
        scalars=scalars,
        tags=tags,
        locked=locked,
        files=files,
        has_poster=bool(attrs.get("thumb")),
    )


@dataclass(frozen=True)
class ListedItem:
    """An item as a section listing shows it (partial: truncated tags, no locks)."""

    rating_key: str
    section_id: str
    files: tuple[str, ...]
    scalars: Mapping[str, str]
    #: Per file (aligned with ``files``): bytes and milliseconds, ``None`` when Plex
    #: does not say. They tell a same-named file from the scene's own.
    sizes: tuple[int | None, ...] = ()
    durations: tuple[int | None, ...] = ()


def _int_attr(element: Element, name: str) -> int | None:
    try:
        value = int(float(element.get(name, "")))
    except ValueError:
        return None
    return value if value > 0 else None


def part_facts(video: Element) -> tuple[tuple[str, ...], tuple[int | None, ...], tuple[int | None, ...]]:
    """Files, sizes (Part@size, bytes) and durations (Part@duration, else Media@duration
    for a single-part media, in ms) of an item element, in Plex's order."""
    files: list[str] = []
    sizes: list[int | None] = []
    durations: list[int | None] = []
    for media in video.findall("Media"):
        parts = media.findall("Part")
        for part in parts:
            files.append(part.get("file", ""))
            sizes.append(_int_attr(part, "size"))
            duration = _int_attr(part, "duration")
            if duration is None and len(parts) == 1:
                duration = _int_attr(media, "duration")
            durations.append(duration)
    return tuple(files), tuple(sizes), tuple(durations)


def parse_listing(container: Element, section_id: str) -> list[ListedItem]:
    """Items of one listing page (``/library/sections/{id}/all``)."""
    items = []
    for video in container.iter("Video"):
        files, sizes, durations = part_facts(video)
        scalars = {name: video.get(name, "") for name in SCALARS}
        scalars["originallyAvailableAt"] = scalars["originallyAvailableAt"][:10]
        items.append(ListedItem(video.get("ratingKey", ""), video.get("librarySectionID", section_id), files, scalars,
                                sizes, durations))
    return items


@dataclass(frozen=True)
class Section:
    """A Plex library section."""

    id: str
    title: str
    type: str
    locations: tuple[str, ...]
    #: When Plex last finished scanning the section (epoch seconds as text, "" if unknown).
    scanned_at: str = ""


def parse_sections(container: Element) -> list[Section]:
    """``/library/sections`` → sections with their folders."""
    return [Section(d.get("key", ""), d.get("title", ""), d.get("type", ""),
                    tuple(loc.get("path", "") for loc in d.findall("Location")), d.get("scannedAt", ""))
            for d in container.findall("Directory")]
