"""worker/handover.py: a drain waits or lingers only while no other job waits in Stash's
job queue, hands over at once when one does, and jobs left waiting to retry still run
later without a user action (the ``retry_due`` marker every invocation checks).

Unit tests of the decision and the waits, then the real plugin in the sandbox with
Stash's background job queue (jobs run one at a time while hooks keep firing).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from freezegun import freeze_time

from worker.handover import QueueWatch, may_hold, others_waiting
from worker.processor import SyncWorker
from worker.queue import JobQueue, enqueue, pending_jobs
from worker.trigger import RETRY_DUE_FILE, mark_retry_due, retry_due

#: Put first on a plugin process's PYTHONPATH to shift its wall clock (sandbox/simclock).
SIMCLOCK_DIR = str(Path(__file__).resolve().parent.parent / "sandbox" / "simclock")

ROOT = Path(__file__).resolve().parent.parent


def job_entry(status: str, job_id: str = "1") -> dict:
    return {"id": job_id, "status": status, "description": "Running plugin task: Process queue",
            "addTime": "2026-01-11T12:00:00Z"}


# ------------------------------------------------------------------ the pure decision


@pytest.mark.parametrize("jobs, allowed", [
    ([], True),                                                    # nobody at all (a CLI drain)
    ([job_entry("RUNNING")], True),                                # only us
    ([job_entry("RUNNING"), job_entry("READY", "2")], False),      # a save's drain waits behind us
    ([job_entry("READY", "2")], False),
    ([job_entry("RUNNING"), job_entry("FINISHED", "2"), job_entry("CANCELLED", "3")], True),
    ([job_entry("RUNNING"), {"id": "2", "status": "ready"}], False),
    (None, False),                                                 # Stash could not say: don't hold blind
])
def test_may_hold_only_while_no_other_job_is_ready(jobs, allowed):
    assert may_hold(jobs) is allowed
    if jobs is not None:
        assert others_waiting(jobs) is (not allowed)


def test_queue_watch_asks_stash_at_most_once_per_poll_and_handing_over_is_final():
    answers = [[job_entry("RUNNING")], [job_entry("RUNNING")], [job_entry("RUNNING"), job_entry("READY", "2")]]
    asked = []

    def fetch():
        asked.append(1)
        return answers[len(asked) - 1]

    with freeze_time("2026-01-11 12:00:00") as clock:
        watch = QueueWatch(fetch, poll_seconds=1.0)
        assert watch() is True and len(asked) == 1        # the first call asks at once
        clock.tick(0.5)
        assert watch() is True and len(asked) == 1        # cached within the poll interval
        clock.tick(0.6)
        assert watch() is True and len(asked) == 2
        clock.tick(1.0)
        assert watch() is False and len(asked) == 3       # another job is READY
        clock.tick(5.0)
        assert watch() is False and len(asked) == 3       # final: Stash is not asked again
        assert watch.handed_over and watch.asked == 3


# ------------------------------------------------------------------ the linger and the wait


class Sync:
    def __init__(self):
        self.scenes = []

    def __call__(self, job):
        self.scenes.append(job["scene_id"])


def test_linger_ends_as_soon_as_another_job_is_ready(data_dir, config, make_job):
    enqueue(data_dir, make_job(1))
    calls = []

    def keep_lingering():
        calls.append(1)
        return len(calls) < 3          # a job turns READY at the third look

    queue = JobQueue(data_dir)
    try:
        worker = SyncWorker(queue=queue, dlq=_NoDlq(), config=config, data_dir=data_dir)
        report = worker.drain(Sync(), linger=30.0, keep_lingering=keep_lingering)
    finally:
        queue.close()
    assert report.synced == 1
    assert len(calls) == 3             # looked until told, then stopped lingering at once


class _NoDlq:
    def add(self, *args, **kwargs):
        raise AssertionError("nothing should be dead-lettered")

    def close(self):
        pass


def _waiting_job(make_job, scene_id, due_at):
    """A job as a not-found sync leaves it: retried once, due at ``due_at``."""
    return make_job(scene_id, retry_count=1, next_retry_at=due_at, last_error_type="PlexNotFound")


def test_waiting_drain_hands_over_keeping_the_job_and_its_retries(data_dir, config, make_job, monkeypatch):
    from worker.drain import run_drain

    enqueue(data_dir, _waiting_job(make_job, 7, time.time() + 30))

    def no_sleep(seconds):
        raise AssertionError(f"the drain slept {seconds}s while another job waited")

    monkeypatch.setattr("worker.handover.time.sleep", no_sleep)
    monkeypatch.setattr("worker.processor.time.sleep", no_sleep)
    sync = Sync()
    report = run_drain(data_dir, config, sync, max_wait=60, may_hold=lambda: False)
    assert sync.scenes == [] and report.synced == 0 and report.waiting == 1
    [job] = pending_jobs(data_dir)
    assert job["scene_id"] == 7 and job["retry_count"] == 1          # kept, no retry used


def test_drain_with_an_empty_stash_queue_still_waits_for_a_near_retry(data_dir, config, make_job, monkeypatch):
    from worker.drain import run_drain

    asked = []

    def hold():
        asked.append(1)
        return True

    with freeze_time("2026-01-11 12:00:00") as clock:
        enqueue(data_dir, _waiting_job(make_job, 7, time.time() + 20))
        monkeypatch.setattr("worker.handover.time.sleep", lambda seconds: clock.tick(seconds))
        sync = Sync()
        report = run_drain(data_dir, config, sync, max_wait=60, may_hold=hold)
    assert sync.scenes == [7] and report.synced == 1 and report.waiting == 0
    assert 20 <= len(asked) <= 23          # asked about once a second while waiting
    assert list(pending_jobs(data_dir)) == []


def test_retry_due_marker_is_one_stat_of_its_mtime(data_dir):
    with freeze_time("2026-01-11 12:00:00") as clock:
        assert retry_due(data_dir) is False                       # nothing waits
        mark_retry_due(data_dir, time.time() + 10)
        path = os.path.join(data_dir, RETRY_DUE_FILE)
        assert os.stat(path).st_mode & 0o777 == 0o600
        assert retry_due(data_dir) is False
        clock.tick(11)
        assert retry_due(data_dir) is True
        mark_retry_due(data_dir, None)
        assert not os.path.exists(path) and retry_due(data_dir) is False
    assert retry_due(os.path.join(data_dir, "missing")) is False


# ------------------------------------------------------------------ the real plugin, Stash's job queue


@pytest.fixture
def box(tmp_path):
    """Six scenes, all in Plex; the plugin in Stash's default data folder, and Stash's
    job queue running in the background as Stash runs it."""
    from sandbox.library import generate
    from sandbox.plex_server import PlexServer
    from sandbox.runner import PluginRunner
    from sandbox.stash_server import StashServer
    from shared.datadir import default_data_dir, ensure_private_dir
    from tests.e2e_helpers import Sandbox

    stash, plex = StashServer().start(), PlexServer().start()
    world = generate(23, 6, bare_fraction=0.0)
    world.load_into(stash, plex)
    stash_dir = tmp_path / "stash"
    data_dir = ensure_private_dir(default_data_dir(str(stash_dir)))
    runner = PluginRunner(ROOT, stash, stash_dir, job_queue="background", timeout=180)
    sandbox = Sandbox(stash=stash, plex=plex, world=world, runner=runner, data_dir=data_dir)
    sandbox.configure(plex_url=plex.url, plex_token=plex.token, path_mappings=world.mapping_setting)
    yield sandbox
    runner.close()
    plex.stop()
    stash.stop()


def wait_for(condition, timeout: float, what: str) -> None:
    """Poll ``condition`` until true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def first_pass_over(box) -> bool:
    """Whether a drain has finished a pass (its statistics record the last drain)."""
    import json

    try:
        with open(os.path.join(box.data_dir, "stats.json"), encoding="utf-8") as fh:
            return bool(json.load(fh).get("last_drain"))
    except (OSError, ValueError):
        return False


def queue_waiting_job(box, spec, due_at: float) -> None:
    from worker.jobs import new_job

    job = new_job(int(spec.stash_id), "Scene.Update.Post", {"input_fields": ["id", "title"]})
    job.update(retry_count=1, next_retry_at=due_at, last_error_type="PlexNotFound")
    enqueue(box.data_dir, job)


def ask_for_drain(box, **args: str) -> None:
    """What a hook does: runPluginTask('Process queue') — a READY job in Stash's queue."""
    box.stash.store.run_plugin_task("plexsync", "Process queue", None, None, dict(args) or None)


def test_a_waiting_drain_hands_over_to_a_save_and_the_waiting_job_still_runs(box):
    from tests.e2e_helpers import assert_in_plex
    from worker.lock import drain_running

    first, saved = box.world.scenes[0], box.world.scenes[1]
    box.edit(first, title="Retried once Plex had it")
    queue_waiting_job(box, first, time.time() + 15)
    box.stash.reset_queries()
    ask_for_drain(box, linger="0")
    # The drain's first pass is over (its stats are saved, its lock released): it is
    # now waiting for the retry.
    wait_for(lambda: first_pass_over(box) and not drain_running(box.data_dir), 60,
             "the drain to wait for the retry")
    [hook] = box.save(saved, title="Saved while a drain waited")
    assert hook.output == "queued", hook.stderr

    jobs = box.runner.wait_for_jobs(timeout=120)
    assert [j.name for j in jobs] == ["Process queue", "Process queue"], [(j.name, j.error) for j in jobs]
    waiting, served = jobs
    assert waiting.ok and served.ok, (waiting.stderr, served.stderr)
    # The waiting drain ended without syncing anything: it handed over, keeping its job.
    assert waiting.output["synced"] == 0 and waiting.output["waiting"] == 1, waiting.output
    assert "handing over" in waiting.stderr
    # The save's drain synced the saved scene, then (Stash's queue empty) waited and
    # ran the retry itself once due: nobody had to act.
    assert served.output["synced"] == 2, served.output
    assert_in_plex(box.plex, [first, saved])
    assert box.pending() == []
    assert not os.path.exists(os.path.join(box.data_dir, RETRY_DUE_FILE))


def test_linger_hands_over_as_soon_as_another_job_is_ready(box):
    from worker.lock import drain_running

    spec = box.world.scenes[2]
    box.queue_quietly([spec])
    box.stash.reset_queries()
    ask_for_drain(box, linger="120")
    wait_for(lambda: box.pending() == [] and drain_running(box.data_dir), 60,
             "the drain to sync the job and linger")
    box.stash.store.run_plugin_task("plexsync", "Status", None, None, None)     # any other job
    jobs = box.runner.wait_for_jobs(timeout=60)     # a 120 s linger would time out here
    assert [j.name for j in jobs] == ["Process queue", "Status"], [(j.name, j.error) for j in jobs]
    assert jobs[0].ok and jobs[0].output["synced"] == 1, jobs[0].stderr
    assert "handing over" in jobs[0].stderr


@pytest.mark.parametrize("invocation", ["a save that syncs nothing", "a task"])
def test_a_job_left_waiting_runs_at_the_next_invocation_after_it_is_due(box, invocation):
    spec = box.world.scenes[3]
    box.edit(spec, title="Retried at the next invocation")
    due = time.time() + 3600
    queue_waiting_job(box, spec, due)
    left = box.runner.run_task("Process queue", {"linger": "0", "max_wait": "0"})   # too far to wait
    assert left.ok and left.output["waiting"] == 1 and left.output["synced"] == 0, left.output
    marker = os.path.join(box.data_dir, RETRY_DUE_FILE)
    assert os.stat(marker).st_mtime == pytest.approx(due, abs=0.01)

    # The hour passes for every later plugin process (a simulated clock, not a sleep).
    path = box.runner.env.get("PYTHONPATH")
    box.runner.env["PYTHONPATH"] = SIMCLOCK_DIR + (os.pathsep + path if path else "")
    box.runner.env["SANDBOX_CLOCK_OFFSET"] = "3601"
    box.stash.reset_queries()
    if invocation == "a task":
        result = box.runner.run_task("Status")
    else:    # Stash's player saving the resume time: no synced field
        [result] = box.runner.fire_hook("Scene.Update.Post", int(spec.stash_id), {"resume_time": 12.5},
                                        ["id", "resume_time"])
        assert result.output == "nothing to sync", result.stderr
    assert result.ok, result.stderr
    jobs = box.runner.wait_for_jobs(timeout=60)
    assert [j.name for j in jobs] == ["Process queue"], [(j.name, j.error) for j in jobs]
    assert jobs[0].output["synced"] == 1, jobs[0].output
    assert box.plex.item(spec.plex_key)["title"] == "Retried at the next invocation"
    assert not os.path.exists(marker)


def test_a_save_that_syncs_nothing_asks_for_nothing_when_no_retry_is_due(box):
    spec = box.world.scenes[4]
    queue_waiting_job(box, spec, time.time() + 3600)
    left = box.runner.run_task("Process queue", {"linger": "0"})
    assert left.ok and left.output["waiting"] == 1, left.output
    box.stash.reset_queries()
    [result] = box.runner.fire_hook("Scene.Update.Post", int(spec.stash_id), {"resume_time": 3.0},
                                    ["id", "resume_time"])
    assert result.output == "nothing to sync"
    assert box.stash.queries == []          # not even the settings were read
    assert box.runner.wait_for_jobs(timeout=30) == []


def test_the_job_queue_query_is_valid_for_stash():
    from sandbox.schema_check import real_schema_dir, validate_against_real_schema, validate_against_subset_schema
    from stash import queries

    assert validate_against_subset_schema(queries.JOB_QUEUE) == []
    if real_schema_dir() is None:
        pytest.skip("Stash's real schema is not at ../shared/fixtures/stash-schema")
    assert validate_against_real_schema(queries.JOB_QUEUE, allow_deprecated=False) == []
