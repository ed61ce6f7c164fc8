"""worker/jobs.py: job kinds, keys, due times; and the drain dispatching on the kind.

Real parts: the SQLite queue and DLQ on disk, the drain of ``SyncWorker``. A second,
test-only kind (registered for the test's duration) stands in for the watch-state kinds
of the next issue, to prove two kinds for the same scene never erase each other.
"""

from __future__ import annotations

import os
import pickle
import sqlite3
import time
from typing import Any, Iterator

import pytest
from freezegun import freeze_time

from plex.exceptions import PermanentError
from worker import jobs
from worker.dlq import DeadLetterQueue
from worker.jobs import PUSH_SCENE, JobKind, due_at, is_due, job_key, key_of, kind_of, new_job
from worker.processor import SyncWorker
from worker.queue import DB_FILE, JobQueue, enqueue, pending_jobs, queue_path

TEST_KIND = "test_pull"


@pytest.fixture
def frozen() -> Iterator[Any]:
    with freeze_time("2024-06-01 10:00:00") as clock:
        yield clock


@pytest.fixture
def second_kind(monkeypatch: pytest.MonkeyPatch) -> str:
    """A test-only kind for the same subject (a scene), registered for this test only."""
    monkeypatch.setitem(jobs.KINDS, TEST_KIND, JobKind(TEST_KIND, "testpull"))
    return TEST_KIND


class Handler:
    """A real handler: records the jobs it ran; raises ``fail[scene_id]`` if given."""

    def __init__(self, fail: dict[int, BaseException] | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail = fail or {}

    def __call__(self, job: dict[str, Any]) -> None:
        self.calls.append(dict(job))
        if job["scene_id"] in self.fail:
            raise self.fail[job["scene_id"]]


def _drain(data_dir: str, config: Any, handlers: Any) -> Any:
    queue, dlq = JobQueue(data_dir, resume_unacked=True), DeadLetterQueue(data_dir)
    try:
        return SyncWorker(queue=queue, dlq=dlq, config=config, data_dir=data_dir).drain(handlers)
    finally:
        queue.close()
        dlq.close()


# == identity ==================================================================================================


def test_push_scene_key_stays_scene_id() -> None:
    job = new_job(45, "Scene.Update.Post")
    assert job["job_key"] == "scene_45" == job_key(45) == key_of(job)
    assert job["kind"] == PUSH_SCENE == kind_of(job)


def test_job_without_kind_or_key_reads_as_push_scene() -> None:
    old = {"scene_id": 3, "update_type": "Scene.Update.Post", "data": {}, "enqueued_at": 1.0}
    assert kind_of(old) == PUSH_SCENE
    assert key_of(old) == "scene_3"


def test_kinds_have_distinct_keys_for_the_same_scene(second_kind: str) -> None:
    other = new_job(3, "test", kind=second_kind)
    assert kind_of(other) == second_kind
    assert key_of(other) == job_key(3, second_kind) == "testpull_3"
    assert key_of(other) != key_of(new_job(3, "test"))
    prefixes = [kind.key_prefix for kind in jobs.KINDS.values()]
    assert len(prefixes) == len(set(prefixes))


def test_new_job_of_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="no_such_kind"):
        new_job(3, "test", kind="no_such_kind")


def test_due_is_one_rule(frozen: Any) -> None:
    now = time.time()
    assert is_due({}, now) and due_at({}) == 0.0
    assert is_due({"next_retry_at": None}, now)
    assert is_due({"next_retry_at": now}, now)
    assert not is_due({"next_retry_at": now + 1}, now) and due_at({"next_retry_at": now + 1}) == now + 1


# == jobs already on disk =====================================================================================


def test_pickled_old_format_job_in_the_real_queue_runs_as_push_scene(data_dir: str, config: Any, frozen: Any) -> None:
    """A job queued by the previous release (no ``kind``) is read and run by the push_scene handler."""
    enqueue(data_dir, {"scene_id": 1, "update_type": "x", "data": {}, "enqueued_at": 0.0})  # creates the table
    old_job = {"scene_id": 12, "update_type": "Scene.Update.Post", "data": {"input_fields": ["title"]},
               "enqueued_at": time.time(), "job_key": "scene_12"}
    conn = sqlite3.connect(os.path.join(queue_path(data_dir), DB_FILE))
    try:
        conn.execute("DELETE FROM ack_queue_default")
        conn.execute("INSERT INTO ack_queue_default (data, timestamp, status) VALUES (?, ?, 0)",
                     (pickle.dumps(old_job, protocol=4), time.time()))
        conn.commit()
    finally:
        conn.close()
    (read,) = list(pending_jobs(data_dir))
    assert "kind" not in read and kind_of(read) == PUSH_SCENE
    push, other = Handler(), Handler()
    report = _drain(data_dir, config, {PUSH_SCENE: push, "some_other_kind": other})
    assert [j["scene_id"] for j in push.calls] == [12] and other.calls == []
    assert report.synced == 1 and list(pending_jobs(data_dir)) == []


# == dispatch =================================================================================================


def test_drain_dispatches_on_the_kind(data_dir: str, config: Any, second_kind: str, frozen: Any) -> None:
    enqueue(data_dir, new_job(3, "Scene.Update.Post"))
    enqueue(data_dir, new_job(3, "test", kind=second_kind))
    push, pull = Handler(), Handler()
    report = _drain(data_dir, config, {PUSH_SCENE: push, second_kind: pull})
    assert [kind_of(j) for j in push.calls] == [PUSH_SCENE]
    assert [kind_of(j) for j in pull.calls] == [second_kind]
    assert report.synced == 2 and report.superseded == 0


def test_single_callable_still_handles_push_scene(data_dir: str, config: Any, frozen: Any) -> None:
    enqueue(data_dir, new_job(3, "Scene.Update.Post"))
    push = Handler()
    assert _drain(data_dir, config, push).synced == 1 and len(push.calls) == 1


def test_unknown_kind_goes_to_the_dlq_with_a_clear_message(data_dir: str, config: Any, frozen: Any) -> None:
    future = dict(new_job(4, "Scene.Update.Post"), kind="from_a_newer_release", job_key="newer_4")
    enqueue(data_dir, future)
    enqueue(data_dir, new_job(5, "Scene.Update.Post"))
    push = Handler()
    report = _drain(data_dir, config, {PUSH_SCENE: push})
    assert [j["scene_id"] for j in push.calls] == [5]   # the drain carried on
    assert report.dead_lettered == 1 and report.synced == 1
    assert list(pending_jobs(data_dir)) == []           # acked only after the DLQ has it
    dlq = DeadLetterQueue(data_dir)
    try:
        (entry,) = dlq.list()
    finally:
        dlq.close()
    assert entry.error_type == "UnknownJobKind"
    assert "from_a_newer_release" in entry.error_message and entry.job["kind"] == "from_a_newer_release"


# == two kinds for one scene never erase each other =============================================================


def test_coalescing_is_per_kind(data_dir: str, config: Any, second_kind: str, frozen: Any) -> None:
    """Jobs queued before a sync of the same key are superseded; another kind's are not."""
    for _ in range(2):
        enqueue(data_dir, new_job(3, "Scene.Update.Post"))
        enqueue(data_dir, new_job(3, "test", kind=second_kind))
    push, pull = Handler(), Handler()
    report = _drain(data_dir, config, {PUSH_SCENE: push, second_kind: pull})
    assert len(push.calls) == 1 and len(pull.calls) == 1
    assert report.synced == 2 and report.superseded == 2
    assert list(pending_jobs(data_dir)) == []


def test_another_kind_is_not_superseded_by_a_push(data_dir: str, config: Any, second_kind: str,
                                                  frozen: Any) -> None:
    """A job of another kind queued before a push of the same scene still runs, even when
    it carries the push's key (so the kind, not only the key, decides)."""
    enqueue(data_dir, new_job(3, "Scene.Update.Post"))
    enqueue(data_dir, dict(new_job(3, "test", kind=second_kind), job_key="scene_3"))
    pull = Handler()
    report = _drain(data_dir, config, {PUSH_SCENE: Handler(), second_kind: pull})
    assert len(pull.calls) == 1 and report.superseded == 0


def test_dlq_keeps_one_entry_per_key_not_per_scene(data_dir: str, config: Any, second_kind: str,
                                                   frozen: Any) -> None:
    enqueue(data_dir, new_job(3, "Scene.Update.Post"))
    enqueue(data_dir, new_job(3, "test", kind=second_kind))
    failing = {3: PermanentError("cannot")}
    report = _drain(data_dir, config, {PUSH_SCENE: Handler(failing), second_kind: Handler(failing)})
    assert report.dead_lettered == 2
    # A push_scene failing again replaces only its own entry.
    enqueue(data_dir, new_job(3, "Scene.Update.Post"))
    _drain(data_dir, config, {PUSH_SCENE: Handler(failing), second_kind: Handler()})
    dlq = DeadLetterQueue(data_dir)
    try:
        entries = dlq.list()
    finally:
        dlq.close()
    assert sorted(kind_of(e.job) for e in entries) == sorted([PUSH_SCENE, second_kind])


def test_dlq_requeue_keeps_each_kind(data_dir: str, second_kind: str, frozen: Any) -> None:
    """Entries come back as the kind they were, old entries (no kind) as scene pushes."""
    from worker.queue import QueuePutter

    old_entry = {"scene_id": 3, "update_type": "Scene.Update.Post", "data": {}, "enqueued_at": 1.0,
                 "job_key": "scene_3", "retry_count": 6}
    dlq = DeadLetterQueue(data_dir)
    try:
        dlq.add(old_entry, PermanentError("old"))
        dlq.add(dict(new_job(3, "test", kind=second_kind), retry_count=6), PermanentError("new"))
        assert dlq.count() == 2
        assert dlq.requeue(QueuePutter(data_dir)) == 2
    finally:
        dlq.close()
    requeued = list(pending_jobs(data_dir))
    assert [kind_of(j) for j in requeued] == [PUSH_SCENE, second_kind]
    assert [key_of(j) for j in requeued] == ["scene_3", "testpull_3"]
    assert all("retry_count" not in j for j in requeued)
