"""plex/diff.py: current item vs desired metadata → one edit's parameters. Pure, plus the
round trip that matters: the parameters applied by the emulator (through PlexConnection and
real plexapi) leave an item whose diff against the same desired metadata is empty."""

from __future__ import annotations

import datetime
from typing import Any, Mapping
from urllib.parse import unquote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plex.client import PlexConnection
from plex.desired import DesiredMetadata
from plex.diff import edit_params, target_tags
from plex.item_state import PlexItemState
from tests.sync_support import MOVIES, plex_config, plex_emu  # noqa: F401  (fixture)
from validation.config import PlexSyncConfig
from worker.mapping import desired_metadata

KINDS = ("genre", "actor", "director", "collection")


def state(scalars: Mapping[str, str] | None = None, tags: Mapping[str, tuple[str, ...]] | None = None,
          locked: frozenset[str] | set[str] = frozenset()) -> PlexItemState:
    base = dict.fromkeys(("title", "titleSort", "summary", "studio", "originallyAvailableAt", "year",
                          "userRating", "tagline"), "")
    base.update(scalars or {})
    all_tags = {k: () for k in (*KINDS, "label", "writer", "country")}
    all_tags.update(tags or {})
    return PlexItemState("1", "1", base, all_tags, frozenset(locked), ("/f.mp4",), True)


def desired(scalars: Mapping[str, str | None] | None = None, **tags: tuple[str, ...]) -> DesiredMetadata:
    return DesiredMetadata(scalars=dict(scalars or {}), tags=tags)


# --------------------------------------------------------------------------- scalars
def test_only_differing_fields_are_sent():
    current = state({"title": "Old", "summary": "Same", "studio": "S"})
    params = edit_params(current, desired({"title": "New", "summary": "Same", "studio": "S"}), lock=False)
    assert params == {"title.value": "New"}


def test_changed_fields_are_locked_when_locking():
    current = state({"title": "Old"}, locked={"title"})
    assert edit_params(current, desired({"title": "New"}), lock=True) == {"title.value": "New", "title.locked": 1}


def test_unlocked_equal_fields_are_locked_once():
    current = state({"title": "T", "summary": "S"}, locked={"summary"})
    assert edit_params(current, desired({"title": "T", "summary": "S"}), lock=True) == {
        "title.value": "T", "title.locked": 1}
    assert edit_params(current, desired({"title": "T", "summary": "S"}), lock=False) == {}


def test_equal_and_locked_state_gives_no_params():
    current = state({"title": "T", "userRating": "8.0", "year": "2001"}, {"genre": ("A", "B"), "actor": ("X",)},
                    locked={"title", "userRating", "year", "genre", "actor"})
    wanted = desired({"title": "T", "userRating": "8", "year": "2001"}, genre=("B", "A"), actor=("X",))
    assert edit_params(current, wanted, lock=True) == {}
    assert edit_params(current, wanted, lock=False) == {}


def test_none_means_leave_plexs_value():
    assert edit_params(state({"title": "Plex's"}), desired({"title": None}), lock=True) == {}


def test_clearing_a_field_sends_an_empty_value():
    params = edit_params(state({"summary": "old"}), desired({"summary": ""}), lock=False)
    assert params == {"summary.value": ""}


@pytest.mark.parametrize("current, wanted, same", [
    ("8.0", "8", True), ("10.0", "10", True), ("", "", True), ("", "0", False), ("0.0", "0", True),
    ("8.5", "8.4", False), ("2001", "2001", True), ("", "2001", False),
])
def test_numbers_compare_as_numbers(current, wanted, same):
    for name in ("userRating", "year"):
        params = edit_params(state({name: current}), desired({name: wanted}), lock=False)
        assert (params == {}) is same


# ------------------------------------------------------------------------------ tags
def test_tag_lists_are_sent_whole_as_indexed_lists():
    current = state(tags={"genre": ("A", "B", "Old")})
    params = edit_params(current, desired(genre=("A", "B", "New")), lock=False)
    assert params == {"genre[0].tag.tag": "A", "genre[1].tag.tag": "B", "genre[2].tag.tag": "New"}


def test_list_locks_follow_the_lock_setting():
    current = state(tags={"genre": ("A",)})
    assert edit_params(current, desired(genre=("B",)), lock=True) == {"genre[0].tag.tag": "B", "genre.locked": 1}
    assert edit_params(current, desired(genre=("A",)), lock=True) == {"genre.locked": 1}
    assert edit_params(state(tags={"genre": ("A",)}, locked={"genre"}), desired(genre=("A",)), lock=True) == {}


def test_emptying_a_list_removes_every_name_quoted():
    names = ("Black, White", "Rock & Roll", "100%", "“Classic”", "a+b", " spaced ")
    params = edit_params(state(tags={"genre": names}), desired(genre=()), lock=True)
    assert set(params) == {"genre[].tag.tag-", "genre.locked"}
    value = str(params["genre[].tag.tag-"])
    # Commas separate names; a comma inside a name is quoted, so splitting recovers each exactly.
    assert [unquote(part) for part in value.split(",")] == list(names)


def test_emptying_an_empty_list_sends_nothing():
    assert edit_params(state(), desired(genre=()), lock=False) == {}


def test_actor_order_matters_genre_order_does_not():
    current = state(tags={"actor": ("A", "B"), "genre": ("A", "B")})
    assert edit_params(current, desired(genre=("B", "A")), lock=False) == {}
    assert edit_params(current, desired(actor=("B", "A")), lock=False) == {
        "actor[0].tag.tag": "B", "actor[1].tag.tag": "A"}


def test_foreign_collections_are_kept_previously_owned_removed():
    current = state(tags={"collection": ("Old Studio", "User Made", "Saga")})
    wanted = desired(collection=("New Studio", "Saga"))
    owned = {"collection": ("Old Studio", "Saga")}
    assert target_tags("collection", current.tags["collection"], wanted, owned) == ("New Studio", "Saga", "User Made")
    params = edit_params(current, wanted, lock=False, owned_before=owned)
    assert params == {"collection[0].tag.tag": "New Studio", "collection[1].tag.tag": "Saga",
                      "collection[2].tag.tag": "User Made"}


def test_without_history_every_existing_collection_is_foreign():
    current = state(tags={"collection": ("Theirs",)})
    params = edit_params(current, desired(collection=("Ours",)), lock=False)
    assert params == {"collection[0].tag.tag": "Ours", "collection[1].tag.tag": "Theirs"}


def test_dropping_all_our_collections_keeps_foreign_ones():
    current = state(tags={"collection": ("Ours", "Theirs")})
    params = edit_params(current, desired(collection=()), lock=False, owned_before={"collection": ("Ours",)})
    assert params == {"collection[0].tag.tag": "Theirs"}
    only_ours = state(tags={"collection": ("Ours",)})
    assert edit_params(only_ours, desired(collection=()), lock=False, owned_before={"collection": ("Ours",)}) == {
        "collection[].tag.tag-": "Ours"}


def test_genres_are_not_shared_stale_genres_go():
    current = state(tags={"genre": ("Theirs", "Ours")})
    assert edit_params(current, desired(genre=("Ours",)), lock=False) == {"genre[0].tag.tag": "Ours"}


# ---------------------------------------------------------------- pure property: fixed point
names_st = st.lists(st.text(min_size=1, max_size=6), max_size=4, unique=True)


@given(st.dictionaries(st.sampled_from(["title", "summary", "studio", "tagline"]), st.text(max_size=10)),
       names_st, names_st, st.booleans())
def test_a_state_showing_desired_needs_no_edit(scalars, genres, actors, lock):
    wanted = desired(scalars, genre=tuple(genres), actor=tuple(actors))
    current = state(scalars, {"genre": tuple(reversed(genres)), "actor": tuple(actors)},
                    locked=set(scalars) | {"genre", "actor"})
    assert edit_params(current, wanted, lock=lock) == {}


# ------------------------------------------------------------- round trip through Plex
# Text with everything awkward in it, minus nothing: mapping strips what XML cannot hold.
text_st = st.text(st.characters(codec="utf-8"), max_size=16)
name_pool = ["Drama", "Black, White", "Rock & Roll", "“Classic”", " spaced ", "100%", "Saga", "Zoë", "a+b"]
names = st.lists(st.one_of(st.sampled_from(name_pool), text_st), max_size=5)
scenes = st.fixed_dictionaries({
    "title": text_st, "details": text_st, "code": text_st, "director": text_st,
    "date": st.one_of(st.none(), st.dates(datetime.date(1900, 1, 1), datetime.date(2100, 12, 31)).map(str),
                      st.text(max_size=10)),
    "rating100": st.one_of(st.none(), st.integers(0, 100)),
    "studio": st.one_of(st.none(), st.builds(lambda n: {"id": "1", "name": n}, text_st)),
    "tags": names.map(lambda ns: [{"id": str(i), "name": n} for i, n in enumerate(ns)]),
    "performers": names.map(lambda ns: [{"id": str(i), "name": n} for i, n in enumerate(ns)]),
    "groups": names.map(lambda ns: [{"group": {"id": str(i), "name": n}, "scene_index": i} for i, n in enumerate(ns)]),
})
starting_items = st.fixed_dictionaries({
    "summary": st.sampled_from(["", "Agent summary"]),
    "genres": st.lists(st.sampled_from(name_pool), max_size=3, unique=True),
    "actors": st.lists(st.sampled_from(name_pool), max_size=3, unique=True),
    "collections": st.lists(st.sampled_from(name_pool + ["User Made"]), max_size=3, unique=True),
    "locked": st.lists(st.sampled_from(["title", "genre", "collection", "summary"]), max_size=2, unique=True),
})


@pytest.fixture
def connection(plex_emu):
    conn = PlexConnection(plex_config(plex_emu))
    yield conn
    conn.close()


def _round_trip(plex_emu, conn: PlexConnection, start: dict[str, Any], desired_: DesiredMetadata, lock: bool,
                owned: Mapping[str, tuple[str, ...]]) -> PlexItemState:
    key = plex_emu.add_item(plex_emu.section_id, "Agent Title", [f"{MOVIES}/rt/{len(plex_emu.requests)}.mp4"],
                            **start)
    before = conn.load_item(str(key))
    params = edit_params(before, desired_, lock=lock, owned_before=owned)
    if params:
        conn.edit(before.section_id, before.rating_key, params)
    after = conn.load_item(str(key))
    assert edit_params(after, desired_, lock=lock, owned_before=owned) == {}
    return after


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scene=scenes, start=starting_items, lock=st.booleans(),
       owned=st.lists(st.sampled_from(name_pool), max_size=3, unique=True))
def test_round_trip_through_plex_leaves_nothing_to_edit(plex_emu, connection, scene, start, lock, owned):
    config = PlexSyncConfig(plex_url=plex_emu.url, plex_token=plex_emu.token, sync_tagline=True,
                            sync_title_sort=bool(scene["rating100"]), lock_fields=lock)
    wanted = desired_metadata(scene, config)
    after = _round_trip(plex_emu, connection, start, wanted, lock, {"collection": tuple(owned)})
    # And Plex shows exactly what was wanted.
    for name, value in wanted.scalars.items():
        if name in ("year", "userRating"):
            assert (float(after.scalars[name]) if after.scalars[name] else None) == (float(value) if value else None)
        else:
            assert after.scalars[name] == value, name
    assert after.tags["actor"] == wanted.tags["actor"]
    assert sorted(after.tags["genre"]) == sorted(wanted.tags["genre"])
    assert after.tags["director"] == wanted.tags["director"]
    assert set(wanted.tags["collection"]) <= set(after.tags["collection"])
    foreign = set(after.tags["collection"]) - set(wanted.tags["collection"])
    assert foreign == set(start["collections"]) - set(owned) - set(wanted.tags["collection"])
    if lock:
        assert set(wanted.scalars) | set(wanted.tags) <= after.locked


def test_round_trip_example_with_every_awkward_field(plex_emu, connection):
    text = "  “Smart” — … 🎬 👩\u200d👩\u200d👧 zero\u200bwidth\nline\r\n\ttab, & <x> %20 +  "
    scene = {"title": text, "details": text, "code": text, "director": text, "date": "1999-12-31", "rating100": 73,
             "studio": {"id": "1", "name": text}, "tags": [{"id": "1", "name": text}, {"id": "2", "name": "B, C"}],
             "performers": [{"id": "1", "name": "Zed"}, {"id": "2", "name": text}, {"id": "3", "name": "Amy"}],
             "groups": [{"group": {"id": "1", "name": "Saga, Part 1"}, "scene_index": 1}]}
    config = PlexSyncConfig(plex_url=plex_emu.url, plex_token=plex_emu.token, sync_tagline=True, sync_title_sort=True)
    wanted = desired_metadata(scene, config)
    after = _round_trip(plex_emu, connection, {"genres": ["Old"], "actors": ["Amy", "Zed"]}, wanted, True, {})
    item = plex_emu.item(int(after.rating_key))
    assert (item["title"], item["summary"], item["studio"], item["tagline"], item["titleSort"]) == (text,) * 5
    assert (item["originallyAvailableAt"], item["year"], item["userRating"]) == ("1999-12-31", 1999, 7.3)
    assert sorted(item["genres"]) == sorted([text, "B, C"])
    assert item["actors"] == ["Zed", text, "Amy"]
    assert item["directors"] == [text]
    assert item["collections"] == [text, "Saga, Part 1"]


def test_round_trip_emptying_lists_with_commas(plex_emu, connection):
    start = {"genres": ["Black, White", "Rock & Roll", "100%"], "actors": ["Smith, Jane"], "collections": ["Mine"]}
    wanted = desired({}, genre=(), actor=(), collection=())
    after = _round_trip(plex_emu, connection, start, wanted, True, {"collection": ("Mine",)})
    assert (after.tags["genre"], after.tags["actor"], after.tags["collection"]) == ((), (), ())
