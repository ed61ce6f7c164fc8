"""plex/media_types.py: the media vocabulary, checked against python-plexapi 4.18's own
edit mixins (by calling them in batch mode, which records the edit without sending it).
The movie edit the table drives is pinned at the emulator in tests/test_movie_edit.py."""

from __future__ import annotations

from xml.etree.ElementTree import Element

import pytest
from plexapi import utils, video
from plexapi.mixins import EditFieldMixin, EditTagsMixin

from plex.media_types import AGENT_FIELDS, EPISODE, MEDIA_TYPES, MOVIE, POSTER_FIELD, SEASON, SHOW, MediaType

PLEXAPI_CLASSES = {"movie": video.Movie, "show": video.Show, "season": video.Season, "episode": video.Episode}
#: What the movie path writes beyond plexapi's mixins, through Plex's generic edit
#: (pinned at the emulator below and by tests/test_plex_server.py).
MOVIE_BEYOND_PLEXAPI = {"year", "actor"}


def plexapi_edits(cls: type) -> tuple[set[str], set[str], set[str]]:
    """Scalar fields, tag kinds and locks plexapi's edit mixins of ``cls`` write."""
    element = "Directory" if cls in (video.Show, video.Season) else "Video"
    item = cls(None, Element(element, {"ratingKey": "1", "type": cls.TYPE}))
    item.batchEdits()   # record edits, send nothing
    fields: set[str] = set()
    tags: set[str] = set()
    locks: set[str] = set()
    for klass in cls.__mro__:
        if klass in (EditFieldMixin, EditTagsMixin) or not issubclass(klass, (EditFieldMixin, EditTagsMixin)):
            continue
        for name, method in vars(klass).items():
            item._edits = {}
            if name.startswith("edit") and name not in ("editField", "editTags"):
                method(item, "2020-01-01")
                fields |= {k.split(".")[0] for k in item._edits if k.endswith(".value")}
            elif name.startswith("add"):
                method(item, ["x"])
                tags |= {k.split(".")[0] for k in item._edits if k.endswith(".locked")}
            locks |= {k.split(".")[0] for k in item._edits if k.endswith(".locked")}
    if hasattr(cls, "lockPoster"):
        item._edits = {}
        cls.lockPoster(item)
        locks |= {k.split(".")[0] for k in item._edits}
    return fields, tags, locks


@pytest.mark.parametrize("media", [SHOW, SEASON, EPISODE], ids=lambda m: m.name)
def test_tv_entries_are_plexapis_edit_mixins(media: MediaType):
    fields, tags, locks = plexapi_edits(PLEXAPI_CLASSES[media.name])
    assert set(media.scalars) == fields - AGENT_FIELDS
    assert set(media.tags) == tags
    assert media.lockable <= locks
    assert set(media.numeric) <= set(media.scalars) and set(media.dates) <= set(media.scalars)


def test_the_movie_entry_edits_what_plexapi_or_plex_knows():
    fields, tags, locks = plexapi_edits(video.Movie)
    assert set(MOVIE.scalars) - MOVIE_BEYOND_PLEXAPI <= fields - AGENT_FIELDS
    assert set(MOVIE.tags) - MOVIE_BEYOND_PLEXAPI <= tags
    assert POSTER_FIELD in locks


@pytest.mark.parametrize("name", sorted(PLEXAPI_CLASSES))
def test_type_ids_and_section_types_are_plexs(name: str):
    media = MEDIA_TYPES[name]
    assert media.type_id == media.listing_type == utils.searchType(name)
    assert media.section_type == ("movie" if name == "movie" else "show")
    assert media.element == PLEXAPI_CLASSES[name].TAG


def test_the_movie_vocabulary_is_what_the_movie_path_always_read():
    # The lists item_state/diff/compare held before the table: nothing dropped or renamed.
    assert MOVIE.scalars == ("title", "titleSort", "summary", "studio", "originallyAvailableAt", "year",
                             "userRating", "tagline")
    assert dict(MOVIE.tags) == {"genre": "Genre", "actor": "Role", "director": "Director",
                                "collection": "Collection", "label": "Label", "writer": "Writer",
                                "country": "Country"}
    assert MOVIE.numeric == {"year", "userRating"} and MOVIE.ordered_tags == {"actor"}


def test_scenes_become_movies_in_movie_sections_and_episodes_in_show_sections():
    from plex.media_types import scene_media

    assert scene_media("movie") is MOVIE and scene_media("show") is EPISODE
    assert scene_media("artist") is None and scene_media("photo") is None


def test_library_kinds_as_plex_names_them():
    from plex.media_types import library_kind

    assert library_kind("movie", "tv.plex.agents.movie") == "Movies"
    assert library_kind("movie", "com.plexapp.agents.imdb") == "Movies"
    assert library_kind("movie", "tv.plex.agents.none") == "Other Videos"
    assert library_kind("movie", "com.plexapp.agents.none") == "Other Videos"
    assert library_kind("movie", "") == "Other Videos"
    assert library_kind("show", "tv.plex.agents.series") == "TV Shows"
    assert (library_kind("artist"), library_kind("photo")) == ("Music", "Photos")


def test_episodes_have_no_cast_studio_genres_or_year_of_ours():
    assert not {"actor", "genre"} & set(EPISODE.tags)
    assert not {"studio", "tagline", "year"} & set(EPISODE.scalars)
