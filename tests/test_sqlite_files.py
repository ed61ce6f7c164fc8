"""Corrupt SQLite files (finding 2): each store opens through shared.sqlite_files, which
moves a corrupt file aside; the queue and DLQ ask for a recovery, caches just rebuild."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import log_lines
from worker.queue import DB_FILE, JobQueue, enqueue, pending_jobs, queue_path

MODES = ("garbage", "half")


def corrupt(path: str, mode: str) -> None:
    """Damage ``path`` as a crash, a bad disk or a stray write would."""
    if mode == "empty":
        open(path, "wb").close()
    elif mode == "garbage":
        with open(path, "wb") as fh:
            fh.write(b"\x00not a database\xff" * 700)
    else:
        size = os.path.getsize(path)
        with open(path, "r+b") as fh:
            fh.truncate(size // 2)


def corrupt_copies(folder: str, name: str) -> list[str]:
    return sorted(n for n in os.listdir(folder) if n.startswith(name + ".corrupt-"))


def recovery_marker(data_dir: str) -> bool:
    from shared.sqlite_files import RECOVERY_FILE

    return os.path.exists(os.path.join(data_dir, RECOVERY_FILE))


def fill_queue(data_dir: str, make_job, count: int = 60) -> None:
    for i in range(count):
        enqueue(data_dir, make_job(i + 1, title="x" * 200))


@pytest.mark.parametrize("mode", MODES)
def test_hook_enqueue_into_corrupt_queue_moves_it_aside_and_records(data_dir, make_job, mode, capsys):
    fill_queue(data_dir, make_job)
    corrupt(os.path.join(queue_path(data_dir), DB_FILE), mode)
    capsys.readouterr()

    enqueue(data_dir, make_job(777))

    assert [j["scene_id"] for j in pending_jobs(data_dir)] == [777]
    [moved] = corrupt_copies(data_dir, "queue")
    assert os.path.exists(os.path.join(data_dir, moved, DB_FILE)), "the damaged file is kept"
    errors = [m for level, m in log_lines(capsys.readouterr().err) if level == "e"]
    assert len(errors) == 1 and moved in errors[0] and "Reconcile: changed scenes" in errors[0], errors
    assert recovery_marker(data_dir)


def test_drain_queue_opens_over_a_corrupt_file(data_dir, make_job):
    fill_queue(data_dir, make_job)
    corrupt(os.path.join(queue_path(data_dir), DB_FILE), "garbage")
    queue = JobQueue(data_dir, resume_unacked=True)
    try:
        queue.put(make_job(5))
        assert queue.get()["scene_id"] == 5
    finally:
        queue.close()
    assert corrupt_copies(data_dir, "queue")


def test_empty_queue_file_is_an_empty_queue(data_dir, make_job):
    os.makedirs(queue_path(data_dir), exist_ok=True)
    corrupt(os.path.join(queue_path(data_dir), DB_FILE), "empty")
    enqueue(data_dir, make_job(3))
    assert [j["scene_id"] for j in pending_jobs(data_dir)] == [3]
    assert not corrupt_copies(data_dir, "queue") and not recovery_marker(data_dir)


def test_read_only_pending_jobs_still_raises_on_a_corrupt_queue(data_dir, make_job):
    # A failed read must never pass for an empty queue (style guide): Status reports it.
    import sqlite3

    fill_queue(data_dir, make_job, 5)
    corrupt(os.path.join(queue_path(data_dir), DB_FILE), "garbage")
    with pytest.raises(sqlite3.DatabaseError):
        list(pending_jobs(data_dir))


@pytest.mark.parametrize("mode", MODES)
def test_corrupt_dlq_is_moved_aside_and_a_recovery_requested(data_dir, make_job, mode, capsys):
    from worker.dlq import DB_FILE as DLQ_FILE, DeadLetterQueue

    dlq = DeadLetterQueue(data_dir)
    for i in range(40):
        dlq.add(make_job(i + 1), RuntimeError("boom " * 40))
    dlq.close()
    corrupt(os.path.join(data_dir, DLQ_FILE), mode)
    capsys.readouterr()

    dlq = DeadLetterQueue(data_dir)
    try:
        assert dlq.count() == 0
        dlq.add(make_job(9), RuntimeError("again"))
        assert dlq.count() == 1
    finally:
        dlq.close()
    [moved] = corrupt_copies(data_dir, DLQ_FILE)
    errors = [m for level, m in log_lines(capsys.readouterr().err) if level == "e"]
    assert len(errors) == 1 and moved in errors[0], errors
    assert recovery_marker(data_dir)


def _sync_state(data_dir):
    from worker.sync_state import DB_FILE, SyncRecord, SyncState

    def fill():
        store = SyncState(data_dir)
        for i in range(200):
            store.put(SyncRecord(i + 1, str(i + 1000), "f" * 40))
        store.close()

    def check():
        store = SyncState(data_dir)
        try:
            assert store.get(1) is None
            store.put(SyncRecord(1, "5", "f"))
            assert store.get(1).rating_key == "5"
        finally:
            store.close()

    return DB_FILE, fill, check


def _path_index(data_dir):
    from plex.path_index import DB_FILE, PathIndex

    def open_index():
        return PathIndex(data_dir, case_insensitive=False, signature="libraries=")

    def fill():
        # Through the index itself, so the rows follow whatever layout it has now.
        from plex.item_state import ListedItem
        index = open_index()
        index.replace_section("1", [ListedItem(str(i), "1", (f"/m/{i}.mp4",), {}) for i in range(300)])
        index.close()

    def check():
        index = open_index()
        try:
            assert index.lookup("/m/1.mp4") == []
        finally:
            index.close()

    return DB_FILE, fill, check


@pytest.mark.parametrize("store", [_sync_state, _path_index], ids=["sync_state", "path_index"])
@pytest.mark.parametrize("mode", MODES)
def test_corrupt_cache_is_moved_aside_and_rebuilt_with_one_warning(data_dir, store, mode, capsys):
    name, fill, check = store(data_dir)
    fill()
    corrupt(os.path.join(data_dir, name), mode)
    capsys.readouterr()

    check()

    assert len(corrupt_copies(data_dir, name)) == 1
    lines = log_lines(capsys.readouterr().err)
    assert [level for level, _ in lines] == ["w"], lines
    assert not recovery_marker(data_dir), "a cache rebuilds itself: no reconcile needed"


ENQUEUE_CHILD = """
import sys
from worker.jobs import new_job
from worker.queue import enqueue
sys.stdin.read()  # start together
enqueue(sys.argv[1], new_job(int(sys.argv[2]), "Scene.Update.Post", {}))
"""


@pytest.mark.slow
def test_concurrent_hooks_on_a_corrupt_queue_all_record_and_move_it_once(data_dir, make_job, subprocess_env):
    fill_queue(data_dir, make_job, 20)
    corrupt(os.path.join(queue_path(data_dir), DB_FILE), "garbage")
    procs = [subprocess.Popen([sys.executable, "-c", ENQUEUE_CHILD, data_dir, str(100 + i)], env=subprocess_env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for i in range(8)]
    for proc in procs:
        proc.stdin.close()
    for proc in procs:
        proc.wait(timeout=60)  # tiny output: the pipes cannot fill
        err = proc.stderr.read().decode()
        proc.stdout.close()
        proc.stderr.close()
        assert proc.returncode == 0, err
    assert sorted(j["scene_id"] for j in pending_jobs(data_dir)) == list(range(100, 108))
    assert len(corrupt_copies(data_dir, "queue")) == 1
