"""The movie edit a sync sends, parameter by parameter, as the Plex emulator receives it.

Written against the code before plex/media_types.py (and passing there): the
movie path now reads every field name from the movie entry, and sends the same
requests. Real parts: SceneSync, plexapi over HTTP to the Plex emulator, the Stash
emulator, SQLite state in a tmp data dir."""

from __future__ import annotations

from typing import Any

from sandbox.plex_server import PlexServer
from sandbox.stash_server import StashServer
from tests.sync_support import MOVIES, PLEX_TOKEN, edits, plex_config, stash_client
from worker.sync import SceneSync


def _full_sync(data_dir: str, **config: Any) -> tuple[list[dict[str, str]], str]:
    """Sync a scene with every field twice (the second time with its lists emptied);
    the edit queries Plex received, in order, and the item's key."""
    with PlexServer(token=PLEX_TOKEN) as plex, StashServer() as stash:
        section = plex.add_section("Movies", [MOVIES])
        studio = stash.add_studio("Studio One")
        performers = [stash.add_performer(n) for n in ("Zoë", "Amy")]
        tags = [stash.add_tag(n) for n in ("Rock & Roll", "Outdoor")]
        group = stash.add_group("Saga")
        scene = stash.add_scene(files=["/stash/Studio/full.mp4"], title="Full", details="All of it",
                                date="2019-06-07", rating100=85, studio_id=studio, performer_ids=performers,
                                tag_ids=tags, group_ids=[group], director="Dee Rector", code="ABC-123")
        key = plex.add_item(section, "full", [f"{MOVIES}/Studio/full.mp4"],
                            genres=["Agent Genre"], collections=["User Made"])
        sync = SceneSync(plex_config(plex, path_mappings=f"/stash => {MOVIES}", sync_tagline=True,
                                     sync_title_sort=True, **config), stash_client(stash), data_dir)
        try:
            assert sync({"scene_id": scene}) == "written"
            stash.update_scene(scene, tag_ids=[], performer_ids=[], director="", title="Full 2")
            assert sync({"scene_id": scene}) == "written"
        finally:
            sync.close()
        assert plex.server_errors == []
        # plexapi's joinArgs sorts the query: the parameters, not their order, are the request.
        return [dict(q) for q in edits(plex)], str(key)


def test_a_locked_movie_edit_is_the_request_it_always_was(data_dir):
    queries, key = _full_sync(data_dir)
    # Recorded from the code before the media table (same parameters, same values).
    assert queries == [
        {"type": "1", "id": key, "title.value": "Full", "title.locked": "1", "titleSort.value": "Full",
         "titleSort.locked": "1", "summary.value": "All of it", "summary.locked": "1",
         "studio.value": "Studio One", "studio.locked": "1", "originallyAvailableAt.value": "2019-06-07",
         "originallyAvailableAt.locked": "1", "year.value": "2019", "year.locked": "1",
         "userRating.value": "8.5", "userRating.locked": "1", "tagline.value": "ABC-123",
         "tagline.locked": "1", "genre[0].tag.tag": "Rock & Roll", "genre[1].tag.tag": "Outdoor",
         "genre.locked": "1", "actor[0].tag.tag": "Zoë", "actor[1].tag.tag": "Amy", "actor.locked": "1",
         "director[0].tag.tag": "Dee Rector", "director.locked": "1",
         "collection[0].tag.tag": "Studio One", "collection[1].tag.tag": "Saga",
         "collection[2].tag.tag": "User Made", "collection.locked": "1", "thumb.locked": "1"},
        {"type": "1", "id": key, "title.value": "Full 2", "title.locked": "1",
         "titleSort.value": "Full 2", "titleSort.locked": "1", "genre[].tag.tag-": "Rock%20%26%20Roll,Outdoor",
         "genre.locked": "1", "actor[].tag.tag-": "Zo%C3%AB,Amy", "actor.locked": "1",
         "director[].tag.tag-": "Dee%20Rector", "director.locked": "1"},
    ]


def test_an_unlocked_movie_edit_is_the_request_it_always_was(data_dir):
    queries, key = _full_sync(data_dir, lock_fields=False, sync_poster=False)
    assert [set(q) for q in queries] == [
        {"type", "id", "title.value", "titleSort.value", "summary.value", "studio.value",
         "originallyAvailableAt.value", "year.value", "userRating.value", "tagline.value",
         "genre[0].tag.tag", "genre[1].tag.tag", "actor[0].tag.tag", "actor[1].tag.tag", "director[0].tag.tag",
         "collection[0].tag.tag", "collection[1].tag.tag", "collection[2].tag.tag"},
        {"type", "id", "title.value", "titleSort.value", "genre[].tag.tag-", "actor[].tag.tag-",
         "director[].tag.tag-"},
    ]
