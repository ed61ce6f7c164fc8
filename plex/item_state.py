"""A Plex item's current metadata, read from ``/library/metadata/{key}`` XML: pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping
from xml.etree.ElementTree import Element

from plex.media_types import MEDIA_TYPES, MOVIE, MediaType, library_kind, scene_media


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
    #: Plex's type name for the item (``movie``, ``episode``): which fields it has.
    media_type: str = MOVIE.name
    #: An episode's show (its ``grandparentRatingKey``), else "".
    show_key: str = ""

    @property
    def media(self) -> MediaType:
        """The item's entry in the media vocabulary."""
        return MEDIA_TYPES[self.media_type]


def _item_element(container: Element) -> Element:
    if container.tag in ("Video", "Directory"):
        return container
    for child in container:
        if child.tag in ("Video", "Directory", "Photo", "Track"):
            return child
    raise ValueError("no item in the response")


def read_scalars(item: Element, media: MediaType) -> dict[str, str]:
    """``media``'s scalar fields as an item element shows them ("" when absent)."""
    scalars = {name: item.get(name, "") for name in media.scalars}
    for name in media.dates:
        # Plex reports the date with a time on some versions ("2020-01-02 00:00:00").
        scalars[name] = scalars[name][:10]
    return scalars


def parse_item(container: Element, media: MediaType | None = None) -> PlexItemState:
    """Read an item's state from a ``MediaContainer`` (or the item element itself), with
    the fields of its own type (its ``type`` attribute; ``media`` forces one)."""
    item = _item_element(container)
    attrs = item.attrib
    if media is None:
        media = MEDIA_TYPES.get(attrs.get("type", ""), MOVIE)
    scalars = read_scalars(item, media)
    tags = {kind: tuple(child.get("tag", "") for child in item.findall(element))
            for kind, element in media.tags.items()}
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
        media_type=media.name,
        show_key=attrs.get("grandparentRatingKey", ""),
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
    #: Plex's type name for the item (its ``type``): the index derives the section type from it.
    media_type: str = MOVIE.name


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


def parse_listing(container: Element, section_id: str, media: MediaType = MOVIE) -> list[ListedItem]:
    """Items of one listing page (``/library/sections/{id}/all?type=N`` for ``media``)."""
    items = []
    for video in container.iter(media.element):
        files, sizes, durations = part_facts(video)
        items.append(ListedItem(video.get("ratingKey", ""), video.get("librarySectionID", section_id), files,
                                read_scalars(video, media), sizes, durations, video.get("type") or media.name))
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
    #: The section's metadata agent (tells Other Videos from Movies).
    agent: str = ""

    @property
    def media(self) -> MediaType | None:
        """The type scenes take in this section (movies, episodes); ``None``: not a video library."""
        return scene_media(self.type)

    @property
    def kind(self) -> str:
        """The library's kind as Plex names it: Movies, Other Videos, TV Shows."""
        return library_kind(self.type, self.agent)


def parse_sections(container: Element) -> list[Section]:
    """``/library/sections`` → sections with their folders."""
    return [Section(d.get("key", ""), d.get("title", ""), d.get("type", ""),
                    tuple(loc.get("path", "") for loc in d.findall("Location")), d.get("scannedAt", ""),
                    d.get("agent", ""))
            for d in container.findall("Directory")]
