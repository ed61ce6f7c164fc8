"""plex/desired.py: the desired metadata fitted to the kind of item it lands on (pure)."""

from __future__ import annotations

from plex.desired import DesiredMetadata, fit_to_media
from plex.media_types import EPISODE, MOVIE

SCENE = DesiredMetadata(
    scalars={"title": "T", "summary": "S", "studio": "Studio", "originallyAvailableAt": "2020-01-02",
             "year": "2020", "userRating": "7", "tagline": ""},
    tags={"genre": ("G",), "actor": ("A",), "director": ("D",), "collection": ("Studio",)},
    poster_url="http://stash/cover")


def test_a_movie_keeps_every_field():
    fitted, dropped = fit_to_media(SCENE, MOVIE)
    assert fitted is SCENE and dropped == ()


def test_an_episode_gets_only_its_fields_and_names_the_rest():
    fitted, dropped = fit_to_media(SCENE, EPISODE)
    assert dict(fitted.scalars) == {"title": "T", "summary": "S", "originallyAvailableAt": "2020-01-02",
                                    "userRating": "7"}
    assert dict(fitted.tags) == {"director": ("D",), "collection": ("Studio",)}
    assert fitted.poster_url == SCENE.poster_url
    # The year follows the date on an episode, an empty tagline says nothing: neither is named.
    assert dropped == ("studio", "genres", "actors")


def test_nothing_to_say_when_the_scene_has_none_of_the_missing_fields():
    bare = DesiredMetadata(scalars={"title": "T", "studio": ""}, tags={"genre": (), "actor": ()})
    fitted, dropped = fit_to_media(bare, EPISODE)
    assert dict(fitted.scalars) == {"title": "T"} and dict(fitted.tags) == {} and dropped == ()
