"""worker/processor.py: SyncWorker to the contract, and its drain on the real SQLite queue and DLQ."""

import json
import os
import pickle
import socket
import time
from unittest import mock

import pytest
from freezegun import freeze_time

from plex.exceptions import (
    ConfigurationError,
    PermanentError,
    PlexNotFound,
    PlexUnreachable,
)
from shared.log import register_secret
from validation.config import PlexSyncConfig
from worker.circuit_breaker import CircuitBreaker, CircuitState
from worker.processor import BREAKER_FILE, SyncWorker, TransientError
from worker.queue import enqueue, pending_jobs

TOKEN = "x" * 20


@pytest.fixture
def frozen():
    with freeze_time("2024-06-01 10:00:00") as clock:
        yield clock


@pytest.fixture
def mock_worker(config):
    queue, dlq = mock.Mock(), mock.Mock()
    return SyncWorker(queue=queue, dlq=dlq, config=config)


class Sync:
    """A real sync callable: succeeds, or raises what ``plan[scene_id]`` says (in turn)."""

    def __init__(self, plan=None, on_call=None):
        self.plan = {k: list(v) if isinstance(v, list) else v for k, v in (plan or {}).items()}
        self.calls = []
        self.on_call = on_call

    def __call__(self, job):
        self.calls.append(dict(job))
        if self.on_call:
            self.on_call(job)
        outcome = self.plan.get(job["scene_id"])
        if isinstance(outcome, list):
            outcome = outcome.pop(0) if outcome else None
        if outcome is not None:
            raise outcome

    @property
    def scenes(self):
        return [job["scene_id"] for job in self.calls]


def drain(job_queue, dlq, config, data_dir, sync, **kwargs):
    """One drain, by a worker built fresh as a new drain process would."""
    worker = SyncWorker(queue=job_queue, dlq=dlq, config=config, data_dir=data_dir)
    return worker.drain(sync, **kwargs)


def breaker_of(data_dir):
    return CircuitBreaker(state_file=os.path.join(data_dir, BREAKER_FILE))


def only_job(data_dir):
    jobs = list(pending_jobs(data_dir))
    assert len(jobs) == 1, jobs
    return jobs[0]


# == the contract, with stand-in queue and DLQ ===========================================================

def test_builds_from_mocks_without_network_or_touching_the_queue(config):
    queue, dlq = mock.Mock(), mock.Mock()
    with mock.patch.object(socket.socket, "connect", side_effect=AssertionError("network!")), \
            mock.patch.object(socket, "create_connection", side_effect=AssertionError("network!")):
        worker = SyncWorker(queue=queue, dlq=dlq, config=config)
    assert worker.queue is queue and worker.dlq is dlq and worker.config is config
    assert queue.method_calls == [] and queue.mock_calls == []
    assert dlq.method_calls == [] and dlq.mock_calls == []


def test_builds_with_data_dir_without_touching_the_queue(config, data_dir):
    queue, dlq = mock.Mock(), mock.Mock()
    SyncWorker(queue=queue, dlq=dlq, config=config, data_dir=data_dir)
    assert queue.mock_calls == [] and dlq.mock_calls == []


def test_breaker_parameters_and_state_file(config, data_dir):
    worker = SyncWorker(queue=mock.Mock(), dlq=mock.Mock(), config=config, data_dir=data_dir)
    breaker = worker.circuit_breaker
    assert isinstance(breaker, CircuitBreaker)
    assert breaker.failure_threshold == 5
    assert breaker.recovery_timeout == 60.0
    assert breaker.success_threshold == 1
    assert breaker._state_file == os.path.join(data_dir, "circuit_breaker.json")


def test_breaker_handed_in_is_the_one_used(config, data_dir, job_queue, dlq, make_job, frozen):
    breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=60.0, success_threshold=1)
    breaker.record_failure()  # open: the drain must stop before taking a job
    enqueue(data_dir, make_job(1))
    worker = SyncWorker(queue=job_queue, dlq=dlq, config=config, data_dir=data_dir, breaker=breaker)
    assert worker.circuit_breaker is breaker
    sync = Sync()
    report = worker.drain(sync)
    assert sync.calls == [] and report.stopped_because.startswith("Plex unreachable")
    assert [j["scene_id"] for j in pending_jobs(data_dir)] == [1]
    assert not os.path.exists(os.path.join(data_dir, BREAKER_FILE))  # the default one was never built


def test_no_data_dir_no_state_file(mock_worker):
    assert mock_worker.circuit_breaker._state_file is None


@pytest.mark.parametrize("target", ["OPEN", "CLOSED", "HALF_OPEN"])
def test_new_worker_on_same_data_dir_loads_breaker_state(config, data_dir, frozen, target):
    first = SyncWorker(queue=mock.Mock(), dlq=mock.Mock(), config=config, data_dir=data_dir)
    for _ in range(5):
        first.circuit_breaker.record_failure()
    if target == "HALF_OPEN":
        frozen.tick(61)
        assert first.circuit_breaker.state is CircuitState.HALF_OPEN
    elif target == "CLOSED":
        first.circuit_breaker.reset()
    second = SyncWorker(queue=mock.Mock(), dlq=mock.Mock(), config=config, data_dir=data_dir)
    assert second.circuit_breaker._state is CircuitState[target]
    assert second.circuit_breaker._opened_at == first.circuit_breaker._opened_at


@pytest.mark.parametrize("error, name", [(TransientError("429"), "TransientError"),
                                         (PlexNotFound("not scanned"), "PlexNotFound"),
                                         (ValueError("bug"), "ValueError")])
def test_prepare_for_retry(mock_worker, make_job, frozen, error, name):
    now = time.time()
    job = make_job(3)
    prepared = mock_worker._prepare_for_retry(job, error)
    assert prepared["retry_count"] == 1  # absent counts as 0
    assert now <= prepared["next_retry_at"] <= now + 5  # base 5 s for the first retry
    assert prepared["last_error_type"] == name
    assert pickle.loads(pickle.dumps(prepared)) == prepared
    again = mock_worker._prepare_for_retry(prepared, error)
    assert again["retry_count"] == 2
    assert now <= again["next_retry_at"] <= now + 10
    later = mock_worker._prepare_for_retry(make_job(3, retry_count=9), error)
    assert later["retry_count"] == 10 and later["next_retry_at"] <= now + 80  # capped


def test_prepare_for_retry_keeps_the_job(mock_worker, make_job):
    job = make_job(3)
    prepared = mock_worker._prepare_for_retry(job, TransientError("x"))
    for key in ("scene_id", "update_type", "data", "enqueued_at", "job_key"):
        assert prepared[key] == job[key]


def test_requeue_with_metadata_puts_once_positionally(mock_worker, make_job):
    job = mock_worker._prepare_for_retry(make_job(4), TransientError("x"))
    mock_worker._requeue_with_metadata(job)
    mock_worker.queue.put.assert_called_once()
    args, kwargs = mock_worker.queue.put.call_args
    assert len(args) == 1 and kwargs == {}
    new_job = args[0]
    for key in ("scene_id", "update_type", "data", "retry_count", "next_retry_at"):
        assert new_job[key] == job[key]
    assert pickle.loads(pickle.dumps(new_job)) == new_job


def test_is_ready_for_retry_returns_real_bools(mock_worker, make_job, frozen):
    now = time.time()
    assert mock_worker._is_ready_for_retry(make_job(1)) is True
    assert mock_worker._is_ready_for_retry(make_job(1, next_retry_at=None)) is True
    assert mock_worker._is_ready_for_retry(make_job(1, next_retry_at=now - 1)) is True
    assert mock_worker._is_ready_for_retry(make_job(1, next_retry_at=now + 1)) is False
    assert mock_worker._is_ready_for_retry(make_job(1, next_retry_at=now + 3600)) is False
    frozen.tick(3601)
    assert mock_worker._is_ready_for_retry(make_job(1, next_retry_at=now + 3600)) is True


def test_max_retries_per_error(mock_worker):
    assert mock_worker._get_max_retries_for_error(TransientError("x")) == 5
    assert mock_worker._get_max_retries_for_error(PlexNotFound("x")) == 12
    assert mock_worker._get_max_retries_for_error(PermanentError("x")) == 0
    assert mock_worker._get_max_retries_for_error(ValueError("x")) == 0


def test_max_retries_follow_the_settings():
    config = PlexSyncConfig(plex_url="http://127.0.0.1:32400", plex_token=TOKEN, max_retries=8,
                            not_found_max_retries=20)
    worker = SyncWorker(queue=mock.Mock(), dlq=mock.Mock(), config=config)
    assert worker._get_max_retries_for_error(TransientError("x")) == 8
    assert worker._get_max_retries_for_error(PlexNotFound("x")) == 20


def test_max_retries_without_config():
    worker = SyncWorker(queue=mock.Mock(), dlq=mock.Mock(), config=None)
    assert worker._get_max_retries_for_error(TransientError("x")) == 5
    assert worker._get_max_retries_for_error(PlexNotFound("x")) == 12


def test_breaker_opens_after_exactly_5_failures_half_opens_after_60s_success_closes(mock_worker, make_job, frozen):
    failing = Sync({n: PlexUnreachable("connection refused") for n in range(1, 6)})
    for scene in range(1, 5):
        mock_worker.process_job(make_job(scene), failing)
        assert mock_worker.circuit_breaker.state is CircuitState.CLOSED, scene
    mock_worker.process_job(make_job(5), failing)
    assert mock_worker.circuit_breaker.state is CircuitState.OPEN
    assert mock_worker.circuit_breaker.can_execute() is False
    frozen.tick(59)
    assert mock_worker.circuit_breaker.state is CircuitState.OPEN
    frozen.tick(1)
    assert mock_worker.circuit_breaker.state is CircuitState.HALF_OPEN
    mock_worker.process_job(make_job(6), Sync())
    assert mock_worker.circuit_breaker.state is CircuitState.CLOSED
    # Every failed job went back into the queue, the success was acked.
    assert mock_worker.queue.put.call_count == 5
    mock_worker.dlq.add.assert_not_called()


# == draining the real queue ===============================================================================

def test_successful_jobs_synced_in_order_and_acked(job_queue, dlq, config, data_dir, make_job):
    for scene in (1, 2, 3):
        enqueue(data_dir, make_job(scene))
    sync = Sync()
    report = drain(job_queue, dlq, config, data_dir, sync)
    assert sync.scenes == [1, 2, 3]
    assert report.synced == 3 and report.retried == 0 and report.dead_lettered == 0
    assert report.stopped_because == "queue empty"
    assert list(pending_jobs(data_dir)) == []
    assert dlq.count() == 0


def test_ack_only_after_success(job_queue, dlq, config, data_dir, make_job):
    enqueue(data_dir, make_job(1))
    seen_during_sync = []
    sync = Sync(on_call=lambda job: seen_during_sync.append([j["scene_id"] for j in pending_jobs(data_dir)]))
    drain(job_queue, dlq, config, data_dir, sync)
    assert seen_during_sync == [[1]]  # still in the queue while it runs
    assert list(pending_jobs(data_dir)) == []


def test_crash_inside_sync_leaves_the_job_in_the_queue(job_queue, dlq, config, data_dir, make_job):
    from worker.queue import JobQueue

    enqueue(data_dir, make_job(1))
    with pytest.raises(KeyboardInterrupt):
        drain(job_queue, dlq, config, data_dir, Sync({1: KeyboardInterrupt()}))
    assert [j["scene_id"] for j in pending_jobs(data_dir)] == [1]
    job_queue.close()
    resumed = JobQueue(data_dir, resume_unacked=True)  # the next drain
    try:
        sync = Sync()
        drain(resumed, dlq, config, data_dir, sync)
    finally:
        resumed.close()
    assert sync.scenes == [1]
    assert "retry_count" not in sync.calls[0]
    assert list(pending_jobs(data_dir)) == []


def _due(data_dir):
    """When the next drain can run the (only) job: its retry time, and the breaker's."""
    job = only_job(data_dir)
    return max(float(job.get("next_retry_at") or 0), breaker_of(data_dir).half_opens_at() or 0)


def test_transient_retried_with_backoff_then_dead_lettered(job_queue, dlq, config, data_dir, make_job, frozen):
    enqueue(data_dir, make_job(1))
    sync = Sync({1: TransientError("Plex answered 429")})
    attempts = waiting_checked = 0
    while dlq.count() == 0:
        failed_at = time.time()
        report = drain(job_queue, dlq, config, data_dir, sync)
        attempts += 1
        assert len(sync.calls) == attempts  # exactly one try per drain, no spinning
        if dlq.count():
            break
        assert report.retried == 1
        job = only_job(data_dir)
        assert job["retry_count"] == attempts
        assert job["last_error_type"] == "TransientError"
        ceiling = min(80, 5 * 2 ** (attempts - 1))
        assert failed_at <= job["next_retry_at"] <= failed_at + ceiling
        # Not yet due: a drain now does not call sync at all.
        if job["next_retry_at"] > time.time():
            again = drain(job_queue, dlq, config, data_dir, sync)
            assert len(sync.calls) == attempts
            if "breaker" not in again.stopped_because:  # after the 5th failure it is open
                assert again.waiting == 1 and again.next_due_at == job["next_retry_at"]
                waiting_checked += 1
        frozen.move_to(_utc(_due(data_dir) + 0.5))
        assert attempts < 20, "never dead-lettered"
    assert attempts == 6  # the first try and 5 retries
    assert waiting_checked >= 1
    [entry] = dlq.list()
    assert entry.error_type == "TransientError" and entry.error_message == "Plex answered 429"
    assert entry.scene_id == 1 and entry.retry_count == 6
    assert list(pending_jobs(data_dir)) == []


def _utc(epoch):
    from datetime import datetime, timezone

    return datetime.fromtimestamp(epoch, tz=timezone.utc)


def test_not_found_gets_12_retries_and_never_trips_the_breaker(job_queue, dlq, config, data_dir, make_job, frozen):
    enqueue(data_dir, make_job(1))
    sync = Sync({1: PlexNotFound("Plex has no item for /media/a.mp4")})
    drains = 0
    while dlq.count() == 0:
        drain(job_queue, dlq, config, data_dir, sync)
        drains += 1
        assert breaker_of(data_dir).state is CircuitState.CLOSED
        if dlq.count() == 0:
            frozen.move_to(_utc(only_job(data_dir)["next_retry_at"] + 0.5))
        assert drains < 30
    assert len(sync.calls) == 13
    assert dlq.list()[0].error_type == "PlexNotFound"


def test_not_found_does_not_hold_up_other_jobs(job_queue, dlq, config, data_dir, make_job):
    for scene in (1, 2, 3):
        enqueue(data_dir, make_job(scene))
    sync = Sync({1: PlexNotFound("not yet"), 2: PermanentError("ambiguous")})
    report = drain(job_queue, dlq, config, data_dir, sync)
    assert sync.scenes == [1, 2, 3]
    assert report.synced == 1 and report.retried == 1 and report.dead_lettered == 1
    assert report.waiting == 1


@pytest.mark.parametrize("error", [PermanentError("two Plex items match"), ValueError("a bug in sync")],
                         ids=["PermanentError", "ValueError"])
def test_permanent_and_unclassified_errors_go_straight_to_dlq(job_queue, dlq, config, data_dir, make_job, error):
    enqueue(data_dir, make_job(1))
    sync = Sync({1: error})
    report = drain(job_queue, dlq, config, data_dir, sync)
    assert len(sync.calls) == 1 and report.dead_lettered == 1
    assert dlq.count_by_type() == {type(error).__name__: 1}
    assert dlq.list()[0].error_message == str(error)
    assert list(pending_jobs(data_dir)) == []
    assert breaker_of(data_dir).failure_count == 0  # not an outage
    assert report.errors == {type(error).__name__: 1}


def test_unreachable_opens_breaker_after_5_and_consumes_no_retries(job_queue, dlq, config, data_dir, make_job):
    for scene in range(1, 7):
        enqueue(data_dir, make_job(scene))
    sync = Sync({scene: PlexUnreachable("connection refused") for scene in range(1, 7)})
    report = drain(job_queue, dlq, config, data_dir, sync)
    assert sync.scenes == [1, 2, 3, 4, 5]
    assert breaker_of(data_dir).state is CircuitState.OPEN
    assert "breaker" in report.stopped_because
    assert dlq.count() == 0
    jobs = list(pending_jobs(data_dir))
    assert sorted(j["scene_id"] for j in jobs) == [1, 2, 3, 4, 5, 6]
    for job in jobs:
        assert "retry_count" not in job, job


def test_long_outage_never_exhausts_a_job(job_queue, dlq, config, data_dir, make_job, frozen):
    enqueue(data_dir, make_job(1))
    sync = Sync({1: PlexUnreachable("connection refused")})
    for n in range(1, 25):
        drain(job_queue, dlq, config, data_dir, sync)
        assert len(sync.calls) == n
        job = only_job(data_dir)
        assert "retry_count" not in job and dlq.count() == 0
        frozen.move_to(_utc(_due(data_dir) + 0.5))
    # Plex comes back: the job syncs.
    sync.plan.clear()
    report = drain(job_queue, dlq, config, data_dir, sync)
    assert report.synced == 1 and list(pending_jobs(data_dir)) == []
    assert breaker_of(data_dir).state is CircuitState.CLOSED


def test_open_breaker_touches_no_job(job_queue, dlq, config, data_dir, make_job, queue_rows, frozen):
    for scene in (1, 2, 3):
        enqueue(data_dir, make_job(scene))
    enqueue(data_dir, make_job(4, retry_count=2, next_retry_at=time.time() - 1))
    breaker = breaker_of(data_dir)
    for _ in range(5):
        breaker.record_failure()
    before = queue_rows(data_dir)
    sync = Sync()
    report = drain(job_queue, dlq, config, data_dir, sync)
    assert sync.calls == []
    assert queue_rows(data_dir) == before  # same rows, same status, same bytes
    assert report.synced == report.retried == report.dead_lettered == 0
    assert "breaker" in report.stopped_because
    assert dlq.count() == 0
    frozen.tick(61)  # half-open: one probe succeeds, the rest follows
    report = drain(job_queue, dlq, config, data_dir, sync)
    assert sorted(sync.scenes) == [1, 2, 3, 4]
    assert report.synced == 4


def test_configuration_error_stops_keeps_jobs_and_names_the_setting(job_queue, dlq, config, data_dir, make_job,
                                                                    queue_rows, capsys, parse_log):
    for scene in (1, 2, 3):
        enqueue(data_dir, make_job(scene))
    before = queue_rows(data_dir)
    sync = Sync({1: ConfigurationError("Plex rejected the token (401)", setting="Plex token")})
    report = drain(job_queue, dlq, config, data_dir, sync)
    assert sync.scenes == [1]
    assert report.stopped_because == "a setting needs fixing"
    after = queue_rows(data_dir)
    # Same rows and same job bytes: the job was handed back untouched, not requeued.
    assert [(r[0], r[2]) for r in after] == [(r[0], r[2]) for r in before]
    assert all("retry_count" not in job for job in pending_jobs(data_dir))
    assert dlq.count() == 0
    assert breaker_of(data_dir).failure_count == 0
    # The task tells the user (once): the report carries the sentence, naming the setting.
    assert report.problem.startswith("Fix the 'Plex token' setting") and "401" in report.problem
    assert [m for level, m in parse_log(capsys.readouterr().err) if level == "e"] == []
    # Fixed: everything syncs, the first job first.
    sync.plan.clear()
    drain(job_queue, dlq, config, data_dir, sync)
    assert sync.scenes == [1, 1, 2, 3]


def test_waiting_jobs_are_not_spun_on(job_queue, dlq, config, data_dir, make_job, frozen):
    enqueue(data_dir, make_job(1))
    enqueue(data_dir, make_job(2, next_retry_at=time.time() + 30, retry_count=1))
    sync = Sync({1: TransientError("429")})
    get_calls = []
    real_get = job_queue.get
    with mock.patch.object(job_queue, "get", side_effect=lambda: get_calls.append(1) or real_get()):
        report = drain(job_queue, dlq, config, data_dir, sync)
    assert sync.scenes == [1]  # the failed job came back but was not retried in the same drain
    assert len(get_calls) <= 4  # job 1, job 2 (held), job 1's retry (held), empty
    assert report.waiting == 2 and report.retried == 1
    retry = next(j for j in pending_jobs(data_dir) if j["scene_id"] == 1)
    assert report.next_due_at == min(retry["next_retry_at"], time.time() + 30)
    assert report.stopped_because == "only jobs waiting to retry remain"
    # Both still in the queue, ready to be taken once due.
    assert sorted(j["scene_id"] for j in pending_jobs(data_dir)) == [1, 2]
    assert job_queue.ready_count() == 2
    frozen.tick(31)
    sync.plan.clear()
    report = drain(job_queue, dlq, config, data_dir, sync)
    assert sorted(sync.scenes[1:]) == [1, 2] and report.waiting == 0


def test_jobs_of_one_scene_queued_before_a_sync_coalesce(job_queue, dlq, config, data_dir, make_job, frozen):
    for _ in range(3):
        enqueue(data_dir, make_job(7))
    enqueue(data_dir, make_job(8))
    enqueue(data_dir, make_job(7))
    sync = Sync()
    report = drain(job_queue, dlq, config, data_dir, sync)
    assert sync.scenes == [7, 8]
    assert report.synced == 2 and report.superseded == 3
    assert list(pending_jobs(data_dir)) == []


def test_change_queued_during_a_sync_is_synced_again(job_queue, dlq, config, data_dir, make_job, frozen):
    enqueue(data_dir, make_job(7))

    def user_saves_again(job):
        if len(sync.calls) == 1:
            frozen.tick(1)
            enqueue(data_dir, make_job(7))

    sync = Sync(on_call=user_saves_again)
    report = drain(job_queue, dlq, config, data_dir, sync)
    assert sync.scenes == [7, 7]
    assert report.superseded == 0 and report.synced == 2


def test_change_queued_after_a_read_ahead_is_synced_again(job_queue, dlq, config, data_dir, make_job, frozen):
    """A handler that read its scene ahead (a batch, before the run started) covers only
    jobs queued before that read: a save in between must still run."""
    read_ahead_at = time.time()
    enqueue(data_dir, make_job(7))
    frozen.tick(1)
    enqueue(data_dir, make_job(7))  # saved after the batch read, before the first run
    frozen.tick(1)

    class ReadAhead(Sync):
        def subject_read_at(self, job):
            return read_ahead_at if len(self.calls) == 1 else None

    sync = ReadAhead()
    report = drain(job_queue, dlq, config, data_dir, sync)
    assert sync.scenes == [7, 7]
    assert report.superseded == 0 and report.synced == 2


def test_failed_sync_does_not_supersede(job_queue, dlq, config, data_dir, make_job, frozen):
    enqueue(data_dir, make_job(7))
    enqueue(data_dir, make_job(7))
    sync = Sync({7: [PermanentError("first fails")]})
    report = drain(job_queue, dlq, config, data_dir, sync)
    assert sync.scenes == [7, 7]  # the first failed: the second must still run
    assert report.synced == 1 and report.dead_lettered == 1 and report.superseded == 0


def test_stats_json_written_atomically(job_queue, dlq, config, data_dir, make_job, frozen):
    enqueue(data_dir, make_job(1))
    enqueue(data_dir, make_job(2))
    path = os.path.join(data_dir, "stats.json")
    real_replace = os.replace
    with mock.patch("os.replace", side_effect=real_replace) as replace:
        drain(job_queue, dlq, config, data_dir, Sync({2: PermanentError("nope")}))
    assert any(c.args == (path + ".tmp", path) for c in replace.call_args_list)
    assert not os.path.exists(path + ".tmp")
    with open(path, encoding="utf-8") as fh:
        stats = json.load(fh)
    assert stats["succeeded"] == 1 and stats["dead_lettered"] == 1 and stats["drains"] == 1
    assert stats["last_success_at"] == time.time()
    assert stats["last_error"]["type"] == "PermanentError" and stats["last_error"]["scene_id"] == 2
    assert "1 synced" in stats["last_drain"]["summary"]
    assert os.stat(path).st_mode & 0o777 == 0o600
    # Totals accumulate across drains (new workers).
    enqueue(data_dir, make_job(3))
    drain(job_queue, dlq, config, data_dir, Sync())
    with open(path, encoding="utf-8") as fh:
        stats = json.load(fh)
    assert stats["succeeded"] == 2 and stats["drains"] == 2


def test_stats_save_failure_is_not_fatal(job_queue, dlq, config, data_dir, make_job):
    enqueue(data_dir, make_job(1))
    with mock.patch("shared.jsonfile.os.replace", side_effect=OSError("disk full")):
        report = drain(job_queue, dlq, config, data_dir, Sync())
    assert report.synced == 1 and list(pending_jobs(data_dir)) == []


def test_progress_reported(job_queue, dlq, config, data_dir, make_job):
    for scene in (1, 2, 3):
        enqueue(data_dir, make_job(scene))
    seen = []
    drain(job_queue, dlq, config, data_dir, Sync(), progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 3), (2, 3), (3, 3)]


def test_token_never_reaches_dlq_stats_or_log(job_queue, dlq, config, data_dir, make_job, capsys):
    register_secret(TOKEN)
    enqueue(data_dir, make_job(1))
    enqueue(data_dir, make_job(2))
    message = f"GET http://127.0.0.1:32400/library?X-Plex-Token={TOKEN} failed"
    drain(job_queue, dlq, config, data_dir, Sync({1: PermanentError(message), 2: TransientError(message)}))
    assert TOKEN not in dlq.list()[0].error_message
    with open(os.path.join(data_dir, "stats.json"), encoding="utf-8") as fh:
        assert TOKEN not in fh.read()
    assert TOKEN not in capsys.readouterr().err


def test_retry_scheduled_logs_one_line(job_queue, dlq, config, data_dir, make_job, capsys, parse_log):
    enqueue(data_dir, make_job(42))
    drain(job_queue, dlq, config, data_dir, Sync({42: TransientError("429")}))
    lines = [m for level, m in parse_log(capsys.readouterr().err) if level in "iw" and "42" in m]
    assert len(lines) == 1
    assert "attempt 1" in lines[0] and "TransientError" in lines[0] and "retrying in" in lines[0]


def test_should_continue_false_cancels(job_queue, dlq, config, data_dir, make_job):
    enqueue(data_dir, make_job(1))
    worker = SyncWorker(queue=job_queue, dlq=dlq, config=config, data_dir=data_dir)
    sync = Sync()
    report = worker.drain(sync, should_continue=lambda: False)
    assert sync.calls == [] and report.stopped_because == "cancelled"
    assert [j["scene_id"] for j in pending_jobs(data_dir)] == [1]


def test_corrupt_state_files_do_not_stop_the_worker(job_queue, dlq, config, data_dir, make_job):
    for name in ("stats.json", BREAKER_FILE):
        with open(os.path.join(data_dir, name), "wb") as fh:
            fh.write(b"\x00garbage{")
    enqueue(data_dir, make_job(1))
    report = drain(job_queue, dlq, config, data_dir, Sync())
    assert report.synced == 1
    with open(os.path.join(data_dir, "stats.json"), encoding="utf-8") as fh:
        assert json.load(fh)["succeeded"] == 1  # started from zero, rewritten whole
