"""worker/dlq.py: the dead-letter queue, on a real SQLite file."""

import os
import sqlite3

import pytest
from freezegun import freeze_time

from plex.exceptions import PermanentError, PlexNotFound, TransientError
from shared.log import register_secret
from worker.dlq import DB_FILE, DeadLetterQueue
from worker.jobs import RETRY_FIELDS
from worker.queue import JobQueue, pending_jobs

DAY = 86400.0
TOKEN = "AbCdEfGh1234567890xy"


class RecordingPutter:
    """A queue stand-in that checks the DLQ still holds the entry while it is put."""

    def __init__(self, dlq, fail_on: int | None = None):
        self.dlq = dlq
        self.jobs = []
        self.counts_at_put = []
        self.fail_on = fail_on

    def put(self, job):
        if self.fail_on is not None and len(self.jobs) == self.fail_on:
            raise OSError("queue full")
        # A second connection sees what is committed on disk.
        other = DeadLetterQueue(os.path.dirname(self.dlq.path))
        try:
            self.counts_at_put.append(other.count())
        finally:
            other.close()
        self.jobs.append(job)


def failed(make_job, scene_id, **retry):
    return make_job(scene_id, retry_count=retry.get("retry_count", 5), next_retry_at=123.0,
                    last_error_type="TransientError", outage_count=2)


@pytest.fixture
def frozen():
    with freeze_time("2024-05-01 00:00:00") as clock:
        yield clock


def test_own_sqlite_file(dlq, data_dir, make_job):
    dlq.add(make_job(1), PermanentError("nope"))
    assert dlq.path == os.path.join(data_dir, DB_FILE)
    assert os.path.isfile(dlq.path)
    assert not os.path.exists(os.path.join(data_dir, "queue"))


def test_add_keeps_the_whole_job_and_why(dlq, make_job, frozen):
    import time

    job = make_job(7, retry_count=6, next_retry_at=1.0, last_error_type="TransientError")
    job["data"] = {"input_fields": ["title", "tag_ids"], "title": "Ünïcode ✓"}
    entry_id = dlq.add(job, TransientError("Plex said 429"))
    assert entry_id > 0
    [entry] = dlq.list()
    assert entry.id == entry_id
    assert entry.job == job
    assert entry.scene_id == 7
    assert entry.error_type == "TransientError"
    assert entry.error_message == "Plex said 429"
    assert entry.failed_at == time.time()
    assert entry.retry_count == 6


def test_add_with_text_error_and_explicit_type(dlq, make_job):
    dlq.add(make_job(1), "went wrong", error_type="Custom")
    dlq.add(make_job(2), "went wrong too")
    assert dlq.count_by_type() == {"Custom": 1, "Error": 1}


def test_count_and_count_by_type(dlq, make_job):
    assert dlq.count() == 0 and dlq.count_by_type() == {}
    for scene in range(1, 4):
        dlq.add(make_job(scene), PlexNotFound("no item"))
    dlq.add(make_job(10), PermanentError("ambiguous"))
    dlq.add(make_job(11), ValueError("bug"))
    dlq.add(make_job(12), ValueError("bug"))
    assert dlq.count() == 6
    assert dlq.count("PlexNotFound") == 3
    assert dlq.count("ValueError") == 2
    assert dlq.count("Nothing") == 0
    assert dlq.count_by_type() == {"PlexNotFound": 3, "ValueError": 2, "PermanentError": 1}
    assert list(dlq.count_by_type()) == ["PlexNotFound", "ValueError", "PermanentError"]  # largest first


def test_one_entry_per_scene_latest_wins(dlq, make_job, frozen):
    dlq.add(make_job(5), PlexNotFound("first"))
    frozen.tick(10)
    dlq.add(make_job(5, retry_count=3), PermanentError("second"))
    dlq.add(make_job(6), PlexNotFound("other scene"))
    assert dlq.count() == 2
    entry = next(e for e in dlq.list() if e.scene_id == 5)
    assert entry.error_type == "PermanentError" and entry.error_message == "second" and entry.retry_count == 3


def test_list_newest_first_and_paged(dlq, make_job, frozen):
    for scene in range(1, 6):
        dlq.add(make_job(scene), PermanentError(f"e{scene}"))
        frozen.tick(60)
    assert [e.scene_id for e in dlq.list()] == [5, 4, 3, 2, 1]
    assert [e.scene_id for e in dlq.list(limit=2)] == [5, 4]
    assert [e.scene_id for e in dlq.list(limit=2, offset=2)] == [3, 2]
    assert [e.scene_id for e in dlq.list(limit=2, offset=4)] == [1]
    assert dlq.list(limit=2, offset=5) == []


def test_list_ties_broken_by_newest_id(dlq, make_job, frozen):
    for scene in (1, 2, 3):
        dlq.add(make_job(scene), PermanentError("same second"))
    assert [e.scene_id for e in dlq.list()] == [3, 2, 1]


def test_list_by_error_type(dlq, make_job):
    dlq.add(make_job(1), PlexNotFound("a"))
    dlq.add(make_job(2), PermanentError("b"))
    dlq.add(make_job(3), PlexNotFound("c"))
    assert [e.scene_id for e in dlq.list(error_type="PlexNotFound")] == [3, 1]


def test_requeue_all_into_the_real_queue(dlq, data_dir, make_job, frozen):
    import time

    jobs = {scene: failed(make_job, scene) for scene in (1, 2, 3)}
    for job in jobs.values():
        dlq.add(job, TransientError("429"))
    queue = JobQueue(data_dir)
    try:
        assert dlq.requeue(queue) == 3
    finally:
        queue.close()
    assert dlq.count() == 0
    back = list(pending_jobs(data_dir))
    assert [j["scene_id"] for j in back] == [1, 2, 3]
    for job in back:
        assert not set(RETRY_FIELDS) & set(job), job  # retry state cleared
        assert job["requeued_at"] == time.time()
        original = jobs[job["scene_id"]]
        for key in ("scene_id", "update_type", "data", "enqueued_at", "job_key"):
            assert job[key] == original[key]


def test_requeue_by_type(dlq, make_job):
    dlq.add(failed(make_job, 1), PlexNotFound("a"))
    dlq.add(failed(make_job, 2), PermanentError("b"))
    dlq.add(failed(make_job, 3), PlexNotFound("c"))
    putter = RecordingPutter(dlq)
    assert dlq.requeue(putter, error_type="PlexNotFound") == 2
    assert sorted(j["scene_id"] for j in putter.jobs) == [1, 3]
    assert dlq.count_by_type() == {"PermanentError": 1}


def test_requeue_by_ids(dlq, make_job):
    ids = [dlq.add(failed(make_job, scene), PermanentError("x")) for scene in (1, 2, 3, 4)]
    putter = RecordingPutter(dlq)
    assert dlq.requeue(putter, ids=[ids[1], ids[3], 999_999]) == 2
    assert sorted(j["scene_id"] for j in putter.jobs) == [2, 4]
    assert sorted(e.scene_id for e in dlq.list()) == [1, 3]
    assert dlq.requeue(putter, ids=[]) == 0
    assert dlq.count() == 2


def test_requeue_puts_before_deleting(dlq, make_job):
    for scene in (1, 2, 3):
        dlq.add(failed(make_job, scene), PermanentError("x"))
    putter = RecordingPutter(dlq)
    dlq.requeue(putter)
    # When each job was put, its own entry was still in the DLQ.
    assert putter.counts_at_put == [3, 2, 1]


def test_requeue_failure_loses_nothing(dlq, make_job):
    for scene in (1, 2, 3):
        dlq.add(failed(make_job, scene), PermanentError("x"))
    putter = RecordingPutter(dlq, fail_on=1)
    with pytest.raises(OSError):
        dlq.requeue(putter)
    assert [j["scene_id"] for j in putter.jobs] == [1]
    assert sorted(e.scene_id for e in dlq.list()) == [2, 3]  # still dead-lettered, not lost


def test_purge_older_than_days(dlq, make_job, frozen):
    dlq.add(make_job(1), PermanentError("day 0"))
    frozen.tick(10 * DAY)
    dlq.add(make_job(2), PermanentError("day 10"))
    frozen.tick(5 * DAY)
    dlq.add(make_job(3), PermanentError("day 15"))
    frozen.tick(25 * DAY)
    dlq.add(make_job(4), PermanentError("day 40"))
    frozen.tick(5 * DAY)  # now: day 45
    assert dlq.purge(30) == 2  # day 0 and day 10; day 15 is exactly 30 days old: kept
    assert sorted(e.scene_id for e in dlq.list()) == [3, 4]
    assert dlq.purge(30) == 0
    frozen.tick(1)
    assert dlq.purge(30) == 1
    assert dlq.purge(5.5) == 0  # scene 4 is 5 days and 1 s old
    frozen.tick(DAY)
    assert dlq.purge(5.5) == 1
    assert dlq.count() == 0


def test_clear(dlq, make_job):
    for scene in (1, 2, 3):
        dlq.add(make_job(scene), PermanentError("x"))
    assert dlq.clear() == 3
    assert dlq.count() == 0 and dlq.list() == []
    assert dlq.clear() == 0


def test_token_never_stored(dlq, make_job):
    register_secret(TOKEN)
    dlq.add(make_job(1), TransientError(f"GET http://plex:32400/library/sections?X-Plex-Token={TOKEN} -> 503"))
    [entry] = dlq.list()
    assert TOKEN not in entry.error_message
    assert "X-Plex-Token=****" in entry.error_message
    with open(dlq.path, "rb") as fh:
        raw = fh.read()
    assert TOKEN.encode() not in raw


def test_long_messages_are_capped(dlq, make_job):
    dlq.add(make_job(1), PermanentError("x" * 100_000))
    assert len(dlq.list()[0].error_message) <= 2000


def test_entries_survive_reopening(data_dir, make_job):
    first = DeadLetterQueue(data_dir)
    first.add(make_job(1), PlexNotFound("a"))
    first.close()
    second = DeadLetterQueue(data_dir)
    try:
        assert second.count() == 1 and second.list()[0].error_type == "PlexNotFound"
    finally:
        second.close()


def test_creates_its_folder(tmp_path, make_job):
    store = DeadLetterQueue(str(tmp_path / "new" / "data"))
    try:
        store.add(make_job(1), PermanentError("x"))
        assert store.count() == 1
    finally:
        store.close()
    assert os.stat(tmp_path / "new" / "data").st_mode & 0o777 == 0o700


def test_file_private_under_plexsync_umask(tmp_path, make_job):
    old = os.umask(0o077)
    try:
        store = DeadLetterQueue(str(tmp_path / "data"))
        store.add(make_job(1), PermanentError("x"))
        store.close()
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "data" / DB_FILE).st_mode & 0o777 == 0o600


def test_corrupt_dlq_file_is_kept_aside_not_read_as_empty(data_dir):
    # The damaged file is not silently overwritten: it is moved aside (and named in an
    # error line, see tests/test_sqlite_files.py) before a new DLQ starts.
    with open(os.path.join(data_dir, DB_FILE), "wb") as fh:
        fh.write(b"garbage " * 1000)
    DeadLetterQueue(data_dir).close()
    [kept] = [n for n in os.listdir(data_dir) if n.startswith(DB_FILE + ".corrupt-")]
    with open(os.path.join(data_dir, kept), "rb") as fh:
        assert fh.read() == b"garbage " * 1000
