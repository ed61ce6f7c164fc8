"""The Stash emulator's play fields, filters and mutations (sandbox/stash_plays.py and
its wiring), over real HTTP, checked against Stash's real schema at the end."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import requests
from freezegun import freeze_time

from sandbox import schema_check
from sandbox.stash_server import StashServer

PLAY_FIELDS = "id updated_at play_count play_history last_played_at resume_time play_duration o_counter"
FIND_SCENE = "query FindScene($id: ID!) { findScene(id: $id) { " + PLAY_FIELDS + " } }"
FIND_SCENES = (
    "query FindScenes($filter: FindFilterType, $scene_filter: SceneFilterType) {"
    " findScenes(filter: $filter, scene_filter: $scene_filter) { count scenes { id } } }"
)
ADD_PLAY = "mutation AddPlay($id: ID!, $times: [Timestamp!]) { sceneAddPlay(id: $id, times: $times) { count history } }"
DELETE_PLAY = ("mutation DeletePlay($id: ID!, $times: [Timestamp!]) {"
               " sceneDeletePlay(id: $id, times: $times) { count history } }")
RESET_PLAYS = "mutation ResetPlays($id: ID!) { sceneResetPlayCount(id: $id) }"
SAVE_ACTIVITY = ("mutation SaveActivity($id: ID!, $resume_time: Float, $playDuration: Float) {"
                 " sceneSaveActivity(id: $id, resume_time: $resume_time, playDuration: $playDuration) }")
RESET_ACTIVITY = ("mutation ResetActivity($id: ID!, $r: Boolean, $d: Boolean) {"
                  " sceneResetActivity(id: $id, reset_resume: $r, reset_duration: $d) }")
SCENE_UPDATE = "mutation U($input: SceneUpdateInput!) { sceneUpdate(input: $input) { id rating100 } }"

CAPTURED: list[str] = []
T0 = datetime(2026, 1, 10, 12, 0, 0, tzinfo=timezone.utc)
E0 = int(T0.timestamp())


@pytest.fixture
def make_stash():
    servers: list[StashServer] = []

    def make(**kwargs) -> StashServer:
        server = StashServer(**kwargs).start()
        server.clock = lambda: T0
        servers.append(server)
        return server
    yield make
    for server in servers:
        server.stop()
        CAPTURED.extend(q["query"] for q in server.queries
                        if isinstance(q["query"], str) and q["status"] not in (400, 422))


@pytest.fixture
def stash(make_stash) -> StashServer:
    return make_stash()


def call(server: StashServer, query: str, variables: dict | None = None) -> dict:
    response = requests.post(server.graphql_url, json={"query": query, "variables": variables},
                             headers={"ApiKey": server.api_key}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def data(server: StashServer, query: str, variables: dict | None = None) -> dict:
    body = call(server, query, variables)
    assert "errors" not in body, body["errors"]
    return body["data"]


def error(server: StashServer, query: str, variables: dict | None = None) -> str:
    body = call(server, query, variables)
    assert body.get("errors"), body
    return body["errors"][0]["message"]


def scene(server: StashServer, sid: str) -> dict:
    return data(server, FIND_SCENE, {"id": sid})["findScene"]


def ids(server: StashServer, scene_filter: dict | None = None, **find_filter) -> list[str]:
    result = data(server, FIND_SCENES, {"filter": {"per_page": -1, **find_filter}, "scene_filter": scene_filter})
    return [s["id"] for s in result["findScenes"]["scenes"]]


def z(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- fields ----------------------------------------------------------------------------

def test_a_new_scene_has_no_plays_and_zero_activity(stash):
    sid = stash.add_scene(title="a")
    assert scene(stash, sid) == {
        "id": sid, "updated_at": "2026-01-10T12:00:00Z", "play_count": 0, "play_history": [],
        "last_played_at": None, "resume_time": 0.0, "play_duration": 0.0, "o_counter": 0,
    }


def test_add_play_keeps_past_times_is_not_idempotent_and_leaves_updated_at(make_stash):
    server = make_stash(tz_offset_minutes=60)
    sid = server.add_scene(title="a")
    before = scene(server, sid)["updated_at"]
    assert before == "2026-01-10T13:00:00+01:00"  # the server's offset for updated_at...
    server.clock = lambda: T0 + timedelta(hours=5)
    # ...but plays are stored and shown in UTC, to the second, newest first.
    times = ["2025-12-01T08:00:00+01:00", "2025-12-02T07:00:00.900Z"]
    result = data(server, ADD_PLAY, {"id": sid, "times": times})["sceneAddPlay"]
    assert result == {"count": 2, "history": ["2025-12-02T07:00:00Z", "2025-12-01T07:00:00Z"]}
    again = data(server, ADD_PLAY, {"id": sid, "times": times[:1]})["sceneAddPlay"]
    assert again["count"] == 3  # the same time again is a second play: not idempotent
    now = scene(server, sid)
    assert now["play_count"] == 3
    assert now["play_history"] == ["2025-12-02T07:00:00Z", "2025-12-01T07:00:00Z", "2025-12-01T07:00:00Z"]
    assert now["last_played_at"] == "2025-12-02T07:00:00Z"
    assert now["updated_at"] == before


def test_add_play_without_times_stamps_the_emulators_clock_which_freezegun_moves():
    with StashServer() as server:  # the default clock: datetime.now, so freezegun moves it
        sid = server.add_scene(title="a")
        with freeze_time("2026-03-01 09:30:15"):
            assert data(server, ADD_PLAY, {"id": sid})["sceneAddPlay"]["history"] == ["2026-03-01T09:30:15Z"]
            assert data(server, ADD_PLAY, {"id": sid, "times": []})["sceneAddPlay"]["count"] == 2
            CAPTURED.extend(q["query"] for q in server.queries)


@pytest.mark.parametrize("text, expected", [
    ("2026-01-09", "2026-01-09T00:00:00Z"),
    ("2026-01-09 08:30:00", "2026-01-09T08:30:00Z"),
    ("2026-01-09T08:30:00-02:00", "2026-01-09T10:30:00Z"),
    ("<90m", "2026-01-10T10:30:00Z"),
    (">1h30m", "2026-01-10T13:30:00Z"),
])
def test_timestamp_inputs_are_parsed_as_stash_parses_them(stash, text, expected):
    sid = stash.add_scene(title="a")
    assert data(stash, ADD_PLAY, {"id": sid, "times": [text]})["sceneAddPlay"]["history"] == [expected]


def test_bad_input_is_refused_like_stash(stash):
    sid = stash.add_scene(title="a")
    assert "ParseDateStringAsTime failed" in error(stash, ADD_PLAY, {"id": sid, "times": ["yesterday"]})
    assert "cannot parse <-duration" in error(stash, ADD_PLAY, {"id": sid, "times": ["<soon"]})
    assert "FOREIGN KEY" in error(stash, ADD_PLAY, {"id": "999", "times": ["2026-01-01"]})
    assert "converting id" in error(stash, ADD_PLAY, {"id": "x"})
    assert "does not exist in scenes" in error(stash, SAVE_ACTIVITY, {"id": "999", "resume_time": 3.0})
    assert scene(stash, sid)["play_count"] == 0


def test_delete_play_removes_exact_times_or_the_newest_and_reset_removes_all(stash):
    sid = stash.add_scene(title="a")
    stash.add_plays(sid, [E0 - 300, E0 - 200, E0 - 100, E0 - 100])
    result = data(stash, DELETE_PLAY, {"id": sid, "times": [z(E0 - 100), z(E0 - 5)]})["sceneDeletePlay"]
    assert result == {"count": 3, "history": [z(E0 - 100), z(E0 - 200), z(E0 - 300)]}  # one of the two
    assert data(stash, DELETE_PLAY, {"id": sid})["sceneDeletePlay"]["history"] == [z(E0 - 200), z(E0 - 300)]
    assert data(stash, DELETE_PLAY, {"id": "999"})["sceneDeletePlay"] == {"count": 0, "history": []}
    assert data(stash, RESET_PLAYS, {"id": sid}) == {"sceneResetPlayCount": 0}
    assert scene(stash, sid)["last_played_at"] is None


def test_save_activity_sets_resume_and_adds_duration_reset_zeroes_them(stash):
    sid = stash.add_scene(title="a")
    stash.clock = lambda: T0 + timedelta(hours=1)
    assert data(stash, SAVE_ACTIVITY, {"id": sid, "resume_time": 12.5, "playDuration": 30.0}) == {"sceneSaveActivity": True}
    data(stash, SAVE_ACTIVITY, {"id": sid, "resume_time": 40.25, "playDuration": 20.0})
    data(stash, SAVE_ACTIVITY, {"id": sid, "resume_time": 41.0})  # no duration: nothing added
    data(stash, SAVE_ACTIVITY, {"id": sid, "playDuration": 5.0})  # no resume time: kept
    state = scene(stash, sid)
    assert (state["resume_time"], state["play_duration"]) == (41.0, 55.0)
    assert state["updated_at"] == "2026-01-10T12:00:00Z"  # activity leaves updated_at alone
    data(stash, RESET_ACTIVITY, {"id": sid, "r": True})
    assert (scene(stash, sid)["resume_time"], scene(stash, sid)["play_duration"]) == (0.0, 55.0)
    data(stash, RESET_ACTIVITY, {"id": sid, "d": True})
    assert scene(stash, sid)["play_duration"] == 0.0


def test_play_and_activity_mutations_fire_no_hook_scene_update_does(stash):
    sid = stash.add_scene(title="a")
    data(stash, ADD_PLAY, {"id": sid, "times": ["2026-01-01T00:00:00Z"]})
    data(stash, DELETE_PLAY, {"id": sid})
    data(stash, RESET_PLAYS, {"id": sid})
    data(stash, SAVE_ACTIVITY, {"id": sid, "resume_time": 5.0, "playDuration": 5.0})
    data(stash, RESET_ACTIVITY, {"id": sid, "r": True, "d": True})
    stash.add_plays(sid, [E0])
    assert stash.take_hook_triggers() == []
    data(stash, SCENE_UPDATE, {"input": {"id": sid, "rating100": 80}})
    assert stash.take_hook_triggers() == [{"type": "Scene.Update.Post", "id": int(sid),
                                           "input": {"id": sid, "rating100": 80},
                                           "input_fields": ["id", "rating100"]}]
    assert stash.take_hook_triggers() == []


# ---- filters and sorts ----------------------------------------------------------------------

def test_last_played_at_filter_and_sort_behave_like_stash(stash):
    never = stash.add_scene(title="never")
    old = stash.add_scene(title="old")
    new = stash.add_scene(title="new")
    assert ids(stash, {"last_played_at": {"value": z(E0 - 1000), "modifier": "GREATER_THAN"}}) == []
    stash.add_plays(old, [E0 - 500])
    stash.add_plays(new, [E0 - 600, E0 - 100])  # the newest play counts
    assert ids(stash, {"last_played_at": {"value": z(E0 - 500), "modifier": "GREATER_THAN"}}) == [new]
    assert ids(stash, {"last_played_at": {"value": z(E0 - 1000), "modifier": "GREATER_THAN"}}) == [old, new]
    # Stash compares IFNULL(last play, datetime(0)): an unplayed scene is "before" anything...
    assert ids(stash, {"last_played_at": {"value": z(E0 - 100), "modifier": "LESS_THAN"}}) == [never, old]
    # ...and never NULL, so IS_NULL finds nothing and NOT_NULL everything.
    assert ids(stash, {"last_played_at": {"value": "", "modifier": "IS_NULL"}}) == []
    assert ids(stash, {"last_played_at": {"value": "", "modifier": "NOT_NULL"}}) == [never, old, new]
    between = {"value": z(E0 - 550), "value2": z(E0 - 100), "modifier": "BETWEEN"}
    assert ids(stash, {"last_played_at": between}) == [old, new]
    # BETWEEN without value2 runs to now + 1 day (the emulator's clock)
    assert ids(stash, {"last_played_at": {"value": z(E0 - 550), "modifier": "BETWEEN"}}) == [old, new]
    assert ids(stash, sort="last_played_at", direction="ASC") == [never, old, new]
    assert ids(stash, sort="last_played_at", direction="DESC") == [new, old, never]


def test_play_count_resume_time_and_play_duration_filters_and_sorts(stash):
    a, b, c = (stash.add_scene(title=t) for t in "abc")
    stash.add_plays(a, [E0, E0])
    stash.add_plays(b, [E0])
    stash.save_activity(a, resume_time=10.9, play_duration=100.0)
    stash.save_activity(b, resume_time=11.0)
    assert ids(stash, {"play_count": {"value": 0, "modifier": "EQUALS"}}) == [c]
    assert ids(stash, {"play_count": {"value": 1, "modifier": "GREATER_THAN"}}) == [a]
    # cast(resume_time as int): 10.9 counts as 10
    assert ids(stash, {"resume_time": {"value": 10, "modifier": "GREATER_THAN"}}) == [b]
    assert ids(stash, {"play_duration": {"value": 99, "modifier": "GREATER_THAN"}}) == [a]
    assert ids(stash, sort="play_count", direction="DESC") == [a, b, c]
    assert ids(stash, sort="resume_time", direction="ASC") == [c, a, b]


def test_seeding_plays_is_cheap_and_sends_no_request(stash):
    sids = stash.add_scenes({"title": f"s{i}"} for i in range(200))
    for n, sid in enumerate(sids):
        stash.add_plays(sid, range(E0 - 50 * 86400, E0, 86400 + n))
    assert stash.queries == []
    assert len(stash.scene(sids[0])["play_history"]) == 50
    assert stash.scene(sids[0])["last_played_at"] == z(E0 - 86400)


# ---- conformance (keep last) -------------------------------------------------------------------

@pytest.mark.skipif(schema_check.real_schema_dir() is None, reason="Stash's schema is absent")
def test_subset_schema_still_matches_stashs_and_every_query_sent_is_valid():
    assert schema_check.subset_incompatibilities() == []
    if not CAPTURED:
        pytest.skip("no queries captured: run the whole module")
    for query in dict.fromkeys(CAPTURED):
        assert schema_check.validate_against_real_schema(query, allow_deprecated=False) == [], query
        assert schema_check.validate_against_subset_schema(query) == [], query
