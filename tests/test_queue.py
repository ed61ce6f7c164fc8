"""worker/queue.py: the hook's enqueue and the drain's JobQueue share one real SQLite table."""

import os
import pickle
import sqlite3
import subprocess
import sys

import pytest
from freezegun import freeze_time
from persistqueue import SQLiteAckQueue
from persistqueue.exceptions import Empty
from persistqueue.sqlackqueue import AckStatus

from worker.queue import DB_FILE, JobQueue, enqueue, pending_jobs, queue_path


def queue_file(data_dir):
    return os.path.join(queue_path(data_dir), DB_FILE)


@pytest.fixture
def private_umask():
    """The umask plexsync.py sets before anything is created."""
    old = os.umask(0o077)
    yield
    os.umask(old)


def varied_jobs(make_job):
    jobs = [make_job(scene) for scene in (1, 2, 3)]
    jobs[1]["data"] = {"input_fields": ["title", "tag_ids"], "title": "Ünïcode ✓ 🎬", "nested": {"a": [1, 2.5, None]}}
    jobs[2].update(retry_count=2, next_retry_at=1_700_000_123.25, last_error_type="PlexNotFound")
    return jobs


# -- one format, two doors ---------------------------------------------------------------------------------------

def test_hook_rows_read_back_by_real_sqliteackqueue(data_dir, make_job):
    jobs = varied_jobs(make_job)
    ids = [enqueue(data_dir, job) for job in jobs]
    assert ids == sorted(ids) and len(set(ids)) == 3
    real = SQLiteAckQueue(queue_path(data_dir), auto_resume=False)
    try:
        assert real.qsize() == 3
        got = [real.get(block=False) for _ in jobs]
        assert got == jobs  # identical, in FIFO order
        with pytest.raises(Empty):
            real.get(block=False)
        for item in got:
            real.ack(item)
        assert real.acked_count() == 3
    finally:
        real.close()


def test_rows_put_by_real_sqliteackqueue_read_by_pending_jobs(data_dir, make_job):
    jobs = varied_jobs(make_job)
    real = SQLiteAckQueue(queue_path(data_dir), auto_resume=False)
    try:
        for job in jobs:
            real.put(job)
    finally:
        real.close()
    assert list(pending_jobs(data_dir)) == jobs


def test_table_layout_identical_to_persist_queue(tmp_path, make_job):
    ours, theirs = str(tmp_path / "ours"), str(tmp_path / "theirs")
    enqueue(ours, make_job(1))
    real = SQLiteAckQueue(queue_path(theirs))
    real.put(make_job(1))
    real.close()

    def layout(data_dir):
        conn = sqlite3.connect(queue_file(data_dir))
        try:
            tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' "
                                                  "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
            info = {t: conn.execute(f"PRAGMA table_info({t})").fetchall() for t in tables}
            row = conn.execute(f"SELECT status, typeof(data), typeof(timestamp) FROM {tables[0]}").fetchone()
            return info, row
        finally:
            conn.close()

    assert layout(ours) == layout(theirs)


def test_row_status_timestamp_and_pickle(data_dir, make_job):
    with freeze_time("2024-01-02 03:04:05"):
        import time

        job = make_job(9)
        enqueue(data_dir, job)
        now = time.time()
    conn = sqlite3.connect(queue_file(data_dir))
    try:
        [(data, timestamp, status)] = conn.execute("SELECT data, timestamp, status FROM ack_queue_default")
    finally:
        conn.close()
    assert status == int(AckStatus.inited)
    assert timestamp == now
    assert pickle.loads(data) == job


def test_enqueue_and_jobqueue_put_interleave_in_order(data_dir, make_job):
    queue = JobQueue(data_dir)
    try:
        enqueue(data_dir, make_job(1))
        queue.put(make_job(2))
        enqueue(data_dir, make_job(3))
        assert [queue.get()["scene_id"] for _ in range(3)] == [1, 2, 3]
        assert queue.get() is None
    finally:
        queue.close()


# -- the drain's view -------------------------------------------------------------------------------------------------

def test_get_ack_nack(job_queue, data_dir, make_job):
    assert job_queue.get() is None
    enqueue(data_dir, make_job(1))
    enqueue(data_dir, make_job(2))
    assert job_queue.ready_count() == 2
    first = job_queue.get()
    assert first["scene_id"] == 1
    assert [j["scene_id"] for j in pending_jobs(data_dir)] == [1, 2]  # in flight is still pending
    job_queue.nack(first)
    again = job_queue.get()
    assert again["scene_id"] == 1  # nack puts it back where it was
    job_queue.ack(again)
    assert [j["scene_id"] for j in pending_jobs(data_dir)] == [2]
    second = job_queue.get()
    job_queue.ack(second)
    assert job_queue.get() is None
    assert list(pending_jobs(data_dir)) == []


def test_taking_the_next_job_skips_acked_rows_by_index(job_queue, data_dir, make_job):
    # persist-queue's own "next job" query, as it runs it: without the ready-rows index
    # SQLite walks every acked row first (a 10,000-job drain was quadratic: ~9 s).
    query = job_queue._queue._sql_select(job_queue._queue._start_key())
    conn = sqlite3.connect(os.path.join(queue_path(data_dir), DB_FILE))
    try:
        plan = " ".join(str(row[-1]) for row in conn.execute("EXPLAIN QUERY PLAN " + query))
    finally:
        conn.close()
    assert "USING INDEX ack_queue_default_ready" in plan, plan
    for scene in range(3):
        enqueue(data_dir, make_job(scene + 1))
    job_queue.ack(job_queue.get())
    assert [job_queue.get()["scene_id"], job_queue.ready_count()] == [2, 1]


def test_drain_commits_skip_fsync_and_hook_inserts_keep_it(job_queue, data_dir):
    # The drain's take/ack/requeue: NORMAL (WAL: a killed drain still loses nothing);
    # what a hook inserts is the user's edit: FULL (SQLite's default, 2).
    assert job_queue._queue._conn.execute("PRAGMA synchronous").fetchone()[0] == 1
    from worker.queue import _connect
    conn = _connect(data_dir)
    try:
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2
    finally:
        conn.close()


def test_in_flight_job_resumed_only_when_asked(data_dir, make_job):
    enqueue(data_dir, make_job(1))
    crashed = JobQueue(data_dir)
    assert crashed.get()["scene_id"] == 1
    crashed.close()  # a drain that died without acking

    # A second drain that does not hold the lock must not take the in-flight job.
    observer = JobQueue(data_dir, resume_unacked=False)
    try:
        assert observer.get() is None
    finally:
        observer.close()
    assert [j["scene_id"] for j in pending_jobs(data_dir)] == [1]

    resumed = JobQueue(data_dir, resume_unacked=True)
    try:
        job = resumed.get()
        assert job["scene_id"] == 1
        resumed.ack(job)
    finally:
        resumed.close()
    assert list(pending_jobs(data_dir)) == []


def test_compact_deletes_acked_rows(job_queue, data_dir, make_job, queue_rows):
    for scene in range(5):
        enqueue(data_dir, make_job(scene + 1))
    for _ in range(3):
        job_queue.ack(job_queue.get())
    assert len(queue_rows(data_dir)) == 5
    job_queue.compact()
    rows = queue_rows(data_dir)
    assert len(rows) == 2
    assert [pickle.loads(r[2])["scene_id"] for r in rows] == [4, 5]


def test_pending_jobs_of_missing_queue_is_empty_and_creates_nothing(tmp_path):
    assert list(pending_jobs(str(tmp_path / "nothing"))) == []
    assert not (tmp_path / "nothing").exists()


def test_corrupt_queue_file_raises_not_empty(data_dir):
    os.makedirs(queue_path(data_dir))
    with open(queue_file(data_dir), "wb") as fh:
        fh.write(b"not a database " * 500)
    with pytest.raises(sqlite3.DatabaseError):
        list(pending_jobs(data_dir))
    # enqueue moves it aside and records (tests/test_sqlite_files.py)


def test_enqueue_into_unusable_folder_raises(tmp_path, make_job):
    blocker = tmp_path / "data"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(OSError):
        enqueue(str(blocker), make_job(1))


# -- private files -----------------------------------------------------------------------------------------------------

def test_modes_under_umask_077(tmp_path, make_job, private_umask):
    data_dir = tmp_path / "fresh" / "data"  # nothing exists yet
    enqueue(str(data_dir), make_job(1))
    queue = JobQueue(str(data_dir))
    queue.put(make_job(2))
    queue.close()
    assert os.stat(data_dir).st_mode & 0o777 == 0o700
    assert os.stat(data_dir / "queue").st_mode & 0o777 == 0o700
    files = list((data_dir / "queue").iterdir())
    assert files
    for path in files:
        assert os.stat(path).st_mode & 0o777 == 0o600, path.name


# -- many hooks at once -----------------------------------------------------------------------------------------------------

ENQUEUE_CHILD = """
import sys
from worker.jobs import new_job
from worker.queue import enqueue
data_dir, proc, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sys.stdin.read()  # start together: the parent closes every stdin at once
for i in range(count):
    job = new_job(proc * 1000 + i + 1, "Scene.Update.Post", {"proc": proc, "i": i})
    enqueue(data_dir, job)
print("done", flush=True)
"""


@pytest.mark.slow
def test_many_concurrent_processes_lose_nothing(tmp_path, subprocess_env):
    processes, per_process = 25, 20
    data_dir = str(tmp_path / "data")  # fresh: they race to create folder, file, WAL and table too
    children = [
        subprocess.Popen([sys.executable, "-c", ENQUEUE_CHILD, data_dir, str(p), str(per_process)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=subprocess_env, cwd=str(tmp_path))
        for p in range(processes)
    ]
    for child in children:
        child.stdin.close()
        child.stdin = None  # closed above: communicate() must not flush it again
    for child in children:
        out, err = child.communicate(timeout=120)  # bounded, and closes the pipes
        assert child.returncode == 0, err.decode()
        assert out.strip() == b"done"

    real = SQLiteAckQueue(queue_path(data_dir), auto_resume=False)
    try:
        got = []
        while True:
            try:
                got.append(real.get(block=False))
            except Empty:
                break
    finally:
        real.close()
    keys = [(job["data"]["proc"], job["data"]["i"]) for job in got]
    assert len(keys) == processes * per_process
    assert set(keys) == {(p, i) for p in range(processes) for i in range(per_process)}
    # Each process's jobs stay in its own order.
    for p in range(processes):
        assert [i for proc, i in keys if proc == p] == list(range(per_process))
