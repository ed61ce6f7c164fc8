"""worker/sync_state.py: what was last written per scene (real SQLite file in the data dir)."""

from __future__ import annotations

import os
from datetime import datetime, timezone

import pytest
from freezegun import freeze_time

from worker.sync_state import DB_FILE, SyncRecord, SyncState

T0 = datetime(2026, 1, 10, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def state(data_dir):
    store = SyncState(data_dir)
    yield store
    store.close()


def test_unknown_scene_has_no_record(state):
    assert state.get(1) is None


def test_put_and_get_round_trip(state):
    owned = {"collection": ("Studio “One”, Inc.", "Saga 🎬", " padded ")}
    record = SyncRecord(7, "123", "f" * 32, "a" * 64, owned, 1700000000.5)
    state.put(record)
    assert state.get(7) == record
    assert state.get("7") == record          # ids arrive as text from Stash


def test_synced_at_defaults_to_now(state):
    with freeze_time(T0):
        state.put(SyncRecord(1, "9", "fp"))
    assert state.get(1) == SyncRecord(1, "9", "fp", None, {}, T0.timestamp())


def test_put_replaces(state):
    state.put(SyncRecord(1, "9", "old", "sha1", {"collection": ("A",)}, 1.0))
    state.put(SyncRecord(1, "10", "new", None, {}, 2.0))
    assert state.get(1) == SyncRecord(1, "10", "new", None, {}, 2.0)
    assert len(list(state.all())) == 1


def test_forget(state):
    state.put(SyncRecord(1, "9", "fp", synced_at=1.0))
    state.put(SyncRecord(2, "8", "fp", synced_at=1.0))
    state.forget(1)
    state.forget(99)                          # forgetting the unknown is fine
    assert state.get(1) is None
    assert [r.scene_id for r in state.all()] == [2]


def test_all_lists_every_record(state):
    for n in range(1, 6):
        state.put(SyncRecord(n, str(100 + n), f"fp{n}", synced_at=float(n)))
    assert sorted((r.scene_id, r.rating_key, r.fingerprint) for r in state.all()) == [
        (n, str(100 + n), f"fp{n}") for n in range(1, 6)]


def test_records_survive_for_the_next_process(data_dir, state):
    record = SyncRecord(5, "55", "fp", "sha", {"collection": ("X",)}, 3.0)
    state.put(record)
    state.close()
    again = SyncState(data_dir)
    assert again.get(5) == record
    again.close()
    assert os.path.exists(os.path.join(data_dir, DB_FILE))


def test_caches_skip_the_fsync_and_the_dlq_keeps_it(tmp_path):
    # Caches (sync state, path index) may lose their last commits to a power cut and
    # be rebuilt; the DLQ is work and keeps SQLite's fully synchronous default.
    from plex.path_index import PathIndex
    from worker.dlq import DeadLetterQueue
    from worker.sync_state import SyncState
    state, index, dlq = SyncState(str(tmp_path)), PathIndex(str(tmp_path), case_insensitive=False, signature="s"), DeadLetterQueue(str(tmp_path))
    try:
        assert [store._conn.execute("PRAGMA synchronous").fetchone()[0] for store in (state, index, dlq)] == [1, 1, 2]
    finally:
        for store in (state, index, dlq):
            store.close()
