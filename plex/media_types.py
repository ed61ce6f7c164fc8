"""Plex's media vocabulary, one declarative entry per media type: pure data.

Everything that reads or writes a Plex item's metadata — the item state, the diff,
the edit request, the listing and the path index, reconcile's comparison, the dry
run — takes its field names from here. Supporting a new media type is filling in an
entry; adding a field is adding its name to an entry.

The show, season and episode entries are written from python-plexapi 4.18's edit
mixins (``ShowEditMixins``, ``SeasonEditMixins``, ``EpisodeEditMixins``): a field is
listed when plexapi can edit it, minus :data:`AGENT_FIELDS`. Scenes become movies (in
Movies and Other Videos libraries) or episodes (in TV Shows libraries): the matched
item's own type picks the entry, so a field an episode lacks is never sent to one;
``tests/test_media_types.py`` checks the entries against plexapi itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

#: Fields plexapi can edit that PlexSync never writes: when Plex added the item and
#: the ratings agents fetch (audience and critic: ``rating``), never the user's own.
AGENT_FIELDS = frozenset({"addedAt", "audienceRating", "rating"})
#: The lock of the poster (Plex's edit name for it is ``thumb``).
POSTER_FIELD = "thumb"

#: Tag kind (edit name) → the XML element Plex lists it under.
_TAG_ELEMENTS = {"genre": "Genre", "actor": "Role", "director": "Director", "collection": "Collection",
                 "label": "Label", "writer": "Writer", "country": "Country", "producer": "Producer"}

#: How the dry run names a field to the user (the edit name otherwise).
FIELD_LABELS: Mapping[str, str] = {
    "originallyAvailableAt": "date", "userRating": "rating", "titleSort": "sort title",
    "contentRating": "content rating",
    "genre": "genres", "actor": "actors", "director": "director", "collection": "collections",
}


@dataclass(frozen=True)
class MediaType:
    """One Plex media type and the metadata PlexSync reads and edits on it."""

    #: Plex's name for the type (the item's ``type`` attribute).
    name: str
    #: Plex's type id: the ``type`` of an edit request.
    type_id: int
    #: The ``type=N`` of ``/library/sections/{id}/all`` that lists items of this type.
    listing_type: int
    #: The type of the library section the items live in (``Section.type``).
    section_type: str
    #: The XML element an item of this type is (``Video`` or ``Directory``).
    element: str
    #: Scalar fields, by Plex's edit name (``{name}.value``), in a fixed order.
    scalars: tuple[str, ...]
    #: Tag kinds, by Plex's edit name (``{kind}[i].tag.tag``) → XML element.
    tags: Mapping[str, str]
    #: Scalars compared as numbers ("2020" equals "2020.0").
    numeric: frozenset[str] = frozenset()
    #: Scalars Plex may report with a time after the day ("2020-01-02 00:00:00").
    dates: frozenset[str] = frozenset()
    #: Tag kinds whose order matters (billing order); other lists compare as sets.
    ordered_tags: frozenset[str] = frozenset()
    #: Extra fields with a lock besides the scalars and tag kinds (the poster).
    other_locks: frozenset[str] = field(default_factory=lambda: frozenset({POSTER_FIELD}))

    @property
    def lockable(self) -> frozenset[str]:
        """Every field whose ``{name}.locked`` this type accepts."""
        return frozenset(self.scalars) | frozenset(self.tags) | self.other_locks


def _tags(*kinds: str) -> dict[str, str]:
    return {kind: _TAG_ELEMENTS[kind] for kind in kinds}


#: Movies: what the sync writes today. ``year`` and ``actor`` are edited through
#: Plex's generic field/tag edit (plexapi has no mixin for them).
MOVIE = MediaType(
    name="movie", type_id=1, listing_type=1, section_type="movie", element="Video",
    scalars=("title", "titleSort", "summary", "studio", "originallyAvailableAt", "year", "userRating", "tagline"),
    tags=_tags("genre", "actor", "director", "collection", "label", "writer", "country"),
    numeric=frozenset({"year", "userRating"}), dates=frozenset({"originallyAvailableAt"}),
    ordered_tags=frozenset({"actor"}),
)
#: Shows (the level above seasons), from plexapi's ``ShowEditMixins``.
SHOW = MediaType(
    name="show", type_id=2, listing_type=2, section_type="show", element="Directory",
    scalars=("title", "titleSort", "originalTitle", "editionTitle", "summary", "studio", "originallyAvailableAt",
             "tagline", "contentRating", "userRating"),
    tags=_tags("genre", "collection", "label"),
    numeric=frozenset({"userRating"}), dates=frozenset({"originallyAvailableAt"}),
)
#: Seasons, from plexapi's ``SeasonEditMixins``.
SEASON = MediaType(
    name="season", type_id=3, listing_type=3, section_type="show", element="Directory",
    scalars=("title", "summary", "userRating"),
    tags=_tags("collection", "label"),
    numeric=frozenset({"userRating"}),
)
#: Episodes, from plexapi's ``EpisodeEditMixins``. No ``actor``: plexapi edits no cast on
#: episodes (their roles are the agent's guest stars), and no ``year``: Plex derives an
#: episode's year from its date.
EPISODE = MediaType(
    name="episode", type_id=4, listing_type=4, section_type="show", element="Video",
    scalars=("title", "titleSort", "summary", "originallyAvailableAt", "contentRating", "userRating"),
    tags=_tags("collection", "director", "label", "writer"),
    numeric=frozenset({"userRating"}), dates=frozenset({"originallyAvailableAt"}),
)

#: Every media type, by Plex's name for it.
MEDIA_TYPES: Mapping[str, MediaType] = {m.name: m for m in (MOVIE, SHOW, SEASON, EPISODE)}


#: The type of the items a scene becomes in each kind of section we sync: a movie-type
#: section (Movies, Other Videos) holds movies, a show-type section (TV Shows) episodes.
SCENE_MEDIA: Mapping[str, MediaType] = {"movie": MOVIE, "show": EPISODE}
#: Agents of a movie-type section that make it an "Other Videos" library (Personal Media, new and legacy).
PERSONAL_MEDIA_AGENTS = frozenset({"tv.plex.agents.none", "com.plexapp.agents.none"})
#: Plex's names for the kinds of library scenes cannot go into.
_OTHER_KINDS = {"artist": "Music", "photo": "Photos"}


def scene_media(section_type: str) -> MediaType | None:
    """The media type scenes take in a section of ``section_type`` (``None``: music, photos…)."""
    return SCENE_MEDIA.get(section_type)


def library_kind(section_type: str, agent: str = "") -> str:
    """How Plex's "Add library" names a section's kind: Movies, Other Videos, TV Shows
    (else Plex's own type name, e.g. ``artist``, ``photo``)."""
    if section_type == MOVIE.section_type:
        return "Other Videos" if agent in PERSONAL_MEDIA_AGENTS or not agent else "Movies"
    if section_type == SHOW.section_type:
        return "TV Shows"
    return _OTHER_KINDS.get(section_type, section_type)


def media_type(name: str) -> MediaType:
    """The entry for Plex's type name (an item's ``type``); raises ``KeyError`` for one we lack."""
    return MEDIA_TYPES[name]


def section_type_of(name: str, default: str = "") -> str:
    """The section type items of Plex type ``name`` live in (``default`` for a type we lack)."""
    entry = MEDIA_TYPES.get(name)
    return entry.section_type if entry else default
