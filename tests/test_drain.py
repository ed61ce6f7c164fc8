"""worker/drain.py: one drain as the *Process queue* task runs it — lock, resume, passes, crashes."""

import os
import signal
import subprocess
import sys

import pytest

from tests.conftest import read_line
from freezegun import freeze_time

from plex.exceptions import ConfigurationError, PermanentError, TransientError
from worker.dlq import DeadLetterQueue
from worker.drain import run_drain
from worker.lock import DrainLock, drain_running, lock_path
from worker.processor import DrainReport
from worker.queue import JobQueue, enqueue, pending_jobs
from worker.trigger import PENDING_FILE, mark_drain_requested


class Sync:
    def __init__(self, plan=None):
        self.plan = plan or {}
        self.scenes = []

    def __call__(self, job):
        self.scenes.append(job["scene_id"])
        error = self.plan.get(job["scene_id"])
        if error is not None:
            raise error


HOLD_LOCK = """
import sys
from worker.lock import DrainLock
lock = DrainLock(sys.argv[1])
print("held" if lock.acquire() else "busy", flush=True)
sys.stdin.read()
lock.release()
"""


@pytest.fixture
def lock_holder(data_dir, subprocess_env):
    """Another process holding the drain lock until the test ends."""
    child = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, data_dir], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, env=subprocess_env, text=True)
    assert read_line(child.stdout).strip() == "held"
    yield child
    child.stdin.close()
    child.wait(timeout=30)
    child.stdout.close()


def test_drains_what_hooks_queued(data_dir, config, make_job):
    for scene in (1, 2, 3):
        enqueue(data_dir, make_job(scene))
    sync = Sync()
    report = run_drain(data_dir, config, sync)
    assert isinstance(report, DrainReport)
    assert sync.scenes == [1, 2, 3] and report.synced == 3
    assert list(pending_jobs(data_dir)) == []
    assert not drain_running(data_dir)  # the lock was released


def test_empty_queue(data_dir, config):
    report = run_drain(data_dir, config, Sync())
    assert report.synced == 0 and report.stopped_because == "queue empty"


def test_returns_none_when_another_process_holds_the_lock(data_dir, config, make_job, lock_holder, queue_rows,
                                                          capsys, parse_log):
    enqueue(data_dir, make_job(1))
    before = queue_rows(data_dir)
    assert drain_running(data_dir)
    sync = Sync()
    assert run_drain(data_dir, config, sync) is None
    assert sync.scenes == []
    assert queue_rows(data_dir) == before
    lines = parse_log(capsys.readouterr().err)
    assert any(level == "i" and "already running" in message for level, message in lines)
    # Once the other drain is gone, the queue is drained.
    lock_holder.stdin.close()
    lock_holder.wait(timeout=30)
    assert run_drain(data_dir, config, sync).synced == 1
    assert sync.scenes == [1]


def test_lock_is_exclusive_within_one_process_too(data_dir, config):
    lock = DrainLock(data_dir)
    assert lock.acquire()
    try:
        assert run_drain(data_dir, config, Sync()) is None
        assert DrainLock(data_dir).acquire() is False
    finally:
        lock.release()
    assert os.path.exists(lock_path(data_dir))
    assert run_drain(data_dir, config, Sync()) is not None


def test_resumes_jobs_a_dead_drain_left_in_flight(data_dir, config, make_job):
    enqueue(data_dir, make_job(1))
    enqueue(data_dir, make_job(2))
    crashed = JobQueue(data_dir)
    assert crashed.get()["scene_id"] == 1  # in flight, never acked
    crashed.close()
    sync = Sync()
    report = run_drain(data_dir, config, sync)
    assert sorted(sync.scenes) == [1, 2] and report.synced == 2
    assert list(pending_jobs(data_dir)) == []


def test_clears_the_pending_drain_request(data_dir, config):
    mark_drain_requested(data_dir)
    assert os.path.exists(os.path.join(data_dir, PENDING_FILE))
    run_drain(data_dir, config, Sync())
    assert not os.path.exists(os.path.join(data_dir, PENDING_FILE))


def test_configuration_error_ends_the_drain_keeping_jobs(data_dir, config, make_job):
    for scene in (1, 2):
        enqueue(data_dir, make_job(scene))
    sync = Sync({1: ConfigurationError("401 Unauthorized", setting="Plex token")})
    report = run_drain(data_dir, config, sync)
    assert sync.scenes == [1]
    assert report.stopped_because == "a setting needs fixing"
    assert sorted(j["scene_id"] for j in pending_jobs(data_dir)) == [1, 2]


def test_waiting_jobs_end_the_drain_with_next_due(data_dir, config, make_job):
    with freeze_time("2024-06-01 10:00:00"):
        import time

        enqueue(data_dir, make_job(1))
        sync = Sync({1: TransientError("429")})
        report = run_drain(data_dir, config, sync)
        [job] = pending_jobs(data_dir)
        assert sync.scenes == [1]
        assert report.waiting == 1 and report.next_due_at == job["next_retry_at"] > time.time()
        assert report.stopped_because == "only jobs waiting to retry remain"


def test_dead_letters_and_acks_compacted(data_dir, config, make_job, queue_rows):
    for scene in (1, 2, 3):
        enqueue(data_dir, make_job(scene))
    run_drain(data_dir, config, Sync({2: PermanentError("ambiguous")}))
    assert queue_rows(data_dir) == []  # acked rows are compacted away
    dlq = DeadLetterQueue(data_dir)
    try:
        assert [e.scene_id for e in dlq.list()] == [2]
    finally:
        dlq.close()


KILLABLE_DRAIN = """
import sys, time
from validation.config import PlexSyncConfig
from worker.drain import run_drain

data_dir, marker, log = sys.argv[1], sys.argv[2], sys.argv[3]

def sync(job):
    with open(log, "a") as fh:
        fh.write(f"{job['scene_id']}\\n")
    if job["scene_id"] == 2:
        with open(marker, "w") as fh:
            fh.write("syncing scene 2")
        print("in-flight", flush=True)
        time.sleep(600)  # blocked mid-job until the test kills us

run_drain(data_dir, PlexSyncConfig(plex_url="http://127.0.0.1:32400", plex_token="x" * 20), sync)
print("finished", flush=True)
"""


@pytest.mark.slow
def test_sigkill_mid_job_loses_nothing(data_dir, config, make_job, tmp_path, subprocess_env):
    for scene in (1, 2, 3):
        enqueue(data_dir, make_job(scene))
    marker, log = tmp_path / "marker", tmp_path / "child-synced.txt"
    child = subprocess.Popen([sys.executable, "-c", KILLABLE_DRAIN, data_dir, str(marker), str(log)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=subprocess_env,
                             cwd=str(tmp_path), text=True)
    try:
        line = read_line(child.stdout)  # waits (bounded) until scene 2 is in flight
        assert line.strip() == "in-flight", child.stderr.read()
        assert marker.read_text() == "syncing scene 2"
        assert drain_running(data_dir)
    finally:
        child.send_signal(signal.SIGKILL)  # Stash's cancel: no grace period
        child.wait(timeout=30)
        child.stdout.close()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    assert log.read_text().split() == ["1", "2"]

    # The kernel dropped the lock; the in-flight job is still queued.
    assert not drain_running(data_dir)
    assert sorted(j["scene_id"] for j in pending_jobs(data_dir)) == [2, 3]

    sync = Sync()
    report = run_drain(data_dir, config, sync)
    assert sorted(sync.scenes) == [2, 3]  # scene 2 redone, scene 1 (acked) not repeated
    assert report.synced == 2
    assert list(pending_jobs(data_dir)) == []
    dlq = DeadLetterQueue(data_dir)
    try:
        assert dlq.count() == 0
    finally:
        dlq.close()


def test_report_merge_and_summary():
    first = DrainReport(synced=2, retried=1, errors={"TransientError": 1})
    second = DrainReport(synced=1, dead_lettered=1, superseded=2, waiting=0, stopped_because="queue empty",
                         errors={"TransientError": 2, "PermanentError": 1})
    merged = first.merge(second)
    assert (merged.synced, merged.retried, merged.dead_lettered, merged.superseded) == (3, 1, 1, 2)
    assert merged.errors == {"TransientError": 3, "PermanentError": 1}
    assert merged.stopped_because == "queue empty"
    assert merged.summary() == "3 synced, 1 retried, 1 dead-lettered, 2 superseded; stopped: queue empty"
