"""stash/client.py's watch-state calls and stash/watch_state.py, against the Stash
emulator over HTTP; requests are counted, documents checked against Stash's schema."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from sandbox import schema_check
from sandbox.stash_server import StashServer
from stash import queries
from stash.client import StashClient, StashConnection, StashError, StashUnreachable
from stash.watch_state import SceneWatchState, parse_watch_state, to_epoch, to_stash_time

T0 = datetime(2026, 1, 10, 12, 0, 0, tzinfo=timezone.utc)
E0 = int(T0.timestamp())
WATCH_DOCUMENTS = [queries.SCENE_WATCH_STATES, queries.SCENES_PLAYED_SINCE, queries.SCENE_ADD_PLAY,
                   queries.SCENE_SAVE_ACTIVITY, queries.SCENE_SET_RATING, queries.scene_add_plays_document(3)]


@pytest.fixture
def stash():
    server = StashServer(tz_offset_minutes=120).start()
    server.clock = lambda: T0
    yield server
    server.stop()


def client_for(server: StashServer) -> StashClient:
    return StashClient(StashConnection(host=server.host, port=server.port, api_key=server.api_key), timeout=10.0)


def operations(server: StashServer) -> list[str]:
    return [q["operationName"] or q["query"].split("(")[0].split()[-1] for q in server.queries]


# ---- pure parts -----------------------------------------------------------------------------

def test_stash_times_round_trip_to_epoch_seconds():
    assert to_stash_time(E0) == "2026-01-10T12:00:00Z"
    assert to_epoch("2026-01-10T12:00:00Z") == E0
    assert to_epoch("2026-01-10T14:00:00+02:00") == E0
    assert to_epoch("2026-01-10T12:00:00.999999999Z"[:26] + "Z") == E0  # fractions dropped
    with pytest.raises(ValueError):
        to_epoch("2026-01-10T12:00:00")  # no offset: never guessed


# ---- scene_watch_states ---------------------------------------------------------------------

def test_scene_watch_states_reads_every_field_and_250_ids_cost_3_queries(stash):
    sids = stash.add_scenes({"title": f"s{i}", "files": [{"path": f"/v/{i}.mp4", "duration": 600.5}]}
                            for i in range(250))
    stash.add_plays(sids[0], [E0 - 100, E0 - 300])
    stash.save_activity(sids[0], resume_time=42.5, play_duration=90.0)
    stash.update_scene(sids[0], rating100=80)
    stash.reset_queries()
    states = client_for(stash).scene_watch_states([int(s) for s in sids])
    assert operations(stash) == ["SceneWatchStates"] * 3
    assert len(states) == 250
    assert states[int(sids[0])] == SceneWatchState(
        scene_id=int(sids[0]), play_history=(E0 - 300, E0 - 100), play_count=2, last_played_at=E0 - 100,
        resume_time=42.5, play_duration=90.0, rating100=80, updated_at=E0, duration=600.5)
    assert states[int(sids[1])].play_history == () and states[int(sids[1])].last_played_at is None


def test_scene_watch_states_leaves_out_deleted_scenes_with_one_extra_listing(stash):
    sids = [int(s) for s in stash.add_scenes({"title": f"s{i}"} for i in range(5))]
    stash.delete_scene(sids[2])
    stash.reset_queries()
    states = client_for(stash).scene_watch_states(sids)
    assert sorted(states) == [sids[0], sids[1], sids[3], sids[4]]
    assert states[sids[0]].duration is None  # no file
    # the rejected batch, the id listing that narrows it, the batch again
    assert operations(stash) == ["SceneWatchStates", "SceneIdsBetween", "SceneWatchStates"]


def test_scene_watch_states_raises_when_stash_is_down(stash):
    sid = int(stash.add_scene(title="a"))
    client = client_for(stash)
    stash.set_down(True)
    with pytest.raises(StashUnreachable):
        client.scene_watch_states([sid])


# ---- scenes_played_since ---------------------------------------------------------------------

def test_scenes_played_since_pages_oldest_first_and_only_after_the_time(stash):
    sids = [int(s) for s in stash.add_scenes({"title": f"s{i}"} for i in range(7))]
    for n, sid in enumerate(sids[:6]):
        stash.add_plays(sid, [E0 - 1000 + 100 * (6 - n)])   # sids[5] played first
    stash.reset_queries()
    got = [s.scene_id for s in client_for(stash).scenes_played_since(E0 - 700, page_size=2)]
    # played after E0-700: sids[0] (E0-400) .. sids[3] (E0-700 is not after); oldest first
    assert got == [sids[2], sids[1], sids[0]]
    # Each page starts at the previous page's last second (ties at a page boundary are not
    # lost), so it reads that scene again: [2, 1], [1, 0], [0].
    assert operations(stash) == ["ScenesPlayedSince"] * 3


def test_scenes_played_since_loses_none_of_many_plays_in_one_second(stash):
    sids = [int(s) for s in stash.add_scenes({"title": f"s{i}"} for i in range(7))]
    for sid in sids:
        stash.add_plays(sid, [E0])
    stash.add_plays(sids[0], [E0 + 1])
    got = [s.scene_id for s in client_for(stash).scenes_played_since(E0 - 1, page_size=2)]
    assert sorted(got) == sorted(sids) and len(got) == len(sids)
    assert got[-1] == sids[0]


def test_scenes_played_since_skips_nobody_when_a_scene_is_played_during_the_pass(stash):
    sids = [int(s) for s in stash.add_scenes({"title": f"s{i}"} for i in range(6))]
    for n, sid in enumerate(sids):
        stash.add_plays(sid, [E0 + 10 * n])
    pages = client_for(stash).scenes_played_since(E0 - 1, page_size=2)
    first = [next(pages).scene_id, next(pages).scene_id]
    stash.add_plays(sids[0], [E0 + 1000])  # an already read scene moves to the end
    rest = [s.scene_id for s in pages]
    # Page numbers would now skip sids[2]; following the last play time skips nobody.
    assert first + rest == [*sids, sids[0]]


# ---- writes -------------------------------------------------------------------------------

def test_add_plays_adds_each_time_once_per_call_and_fires_no_hook(stash):
    sid = int(stash.add_scene(title="a"))
    client = client_for(stash)
    assert client.add_plays(sid, [E0 - 60, E0 - 3600]) == [E0 - 3600, E0 - 60]
    assert client.add_plays(sid, [E0 - 60]) == [E0 - 3600, E0 - 60, E0 - 60]  # Stash: not idempotent
    state = client.scene_watch_states([sid])[sid]
    assert state.play_history == (E0 - 3600, E0 - 60, E0 - 60) and state.last_played_at == E0 - 60
    assert stash.take_hook_triggers() == []
    stash.reset_queries()
    with pytest.raises(ValueError, match="at least one time"):
        client.add_plays(sid, [])
    assert stash.queries == []  # Stash would have recorded a play now
    with pytest.raises(StashError):
        client.add_plays(999, [E0])


def test_save_activity_sets_resume_and_leaves_play_duration(stash):
    sid = int(stash.add_scene(title="a"))
    stash.save_activity(sid, play_duration=50.0)
    client = client_for(stash)
    assert client.save_activity(sid, 123.25) is True
    state = client.scene_watch_states([sid])[sid]
    assert (state.resume_time, state.play_duration, state.updated_at) == (123.25, 50.0, E0)
    assert stash.take_hook_triggers() == []


def test_set_rating_is_a_scene_update_that_fires_the_hook(stash):
    sid = int(stash.add_scene(title="a"))
    client = client_for(stash)
    stash.clock = lambda: T0.replace(hour=13)
    assert client.set_rating(sid, 60) == E0 + 3600
    assert client.scene_watch_states([sid])[sid].rating100 == 60
    assert client.set_rating(sid, None) == E0 + 3600
    assert client.scene_watch_states([sid])[sid].rating100 is None
    assert [t["input"] for t in stash.take_hook_triggers()] == [{"id": str(sid), "rating100": 60},
                                                                 {"id": str(sid), "rating100": None}]
    stash.reset_queries()
    for bad in (0, 101, True):
        with pytest.raises(ValueError, match="1-100"):
            client.set_rating(sid, bad)
    assert stash.queries == []


def test_parse_watch_state_takes_stashs_answer():
    scene = {"id": "7", "updated_at": "2026-01-10T14:00:00+02:00", "rating100": None, "play_count": 1,
             "play_history": ["2026-01-10T11:00:00Z"], "last_played_at": "2026-01-10T11:00:00Z",
             "resume_time": 0, "play_duration": 0, "files": [{"duration": 30}, {"duration": 99}]}
    state = parse_watch_state(scene)
    assert (state.scene_id, state.play_history, state.updated_at, state.duration) == (7, (E0 - 3600,), E0, 30.0)


# ---- conformance ---------------------------------------------------------------------------

@pytest.mark.skipif(schema_check.real_schema_dir() is None, reason="Stash's schema is absent")
@pytest.mark.parametrize("document", WATCH_DOCUMENTS)
def test_watch_documents_are_valid_for_real_stash_and_the_emulator(document):
    assert schema_check.validate_against_real_schema(document, allow_deprecated=False) == []
    assert schema_check.validate_against_subset_schema(document) == []
