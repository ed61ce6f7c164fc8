"""50 hook processes at once × 20 events each: all 1,000 recorded, one drain at a time.

Stash runs the hooks of concurrent saves side by side and Process queue in its one-at-a-
time job queue (the runner's ``"background"`` mode); a few extra drains are started
directly meanwhile (what the command line or a second trigger would do) to press on the
drain lock. Each event re-titles a scene in Stash and fires its hook; 100 scenes share the
1,000 events, so jobs for one scene pile up and must be coalesced, never lost.

Proof of "all recorded, each consumed once, never two drains on one job": every hook
answered ``queued``; the drains' ``synced + superseded`` add up to exactly 1,000 (a job run
by two drains would count twice, a lost one not at all); Plex shows each scene's last
title; the runner's job log shows no two drains overlapping.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.reliability.conftest import tally
from tests.reliability.support import assert_plugin_answer, finish, spawn

pytestmark = pytest.mark.slow

HOOKS, EVENTS, SCENES, EXTRA_DRAINS = 50, 20, 100, 4


def test_concurrent_hooks_record_every_event_and_drains_never_overlap(box_factory):
    box = box_factory(SCENES, job_queue="background")
    scenes = box.world.scenes
    hook_results = []
    extra = []
    lock = threading.Lock()
    task = box.runner.config.task("Process queue")

    def storm(worker: int) -> None:
        for event in range(EVENTS):
            spec = scenes[(worker * EVENTS + event) % SCENES]
            title = f"{spec.plex_title} · {worker}.{event}"
            box.stash.update_scene(spec.stash_id, title=title)
            results = box.runner.fire_hook("Scene.Update.Post", int(spec.stash_id),
                                           {"title": title}, ["id", "title"])
            with lock:
                hook_results.extend(results)
            if worker < EXTRA_DRAINS and event == EVENTS // 2:
                proc = spawn(box.runner, "Process queue",
                             box.runner.plugin_input(task, {"linger": "0", "max_wait": "0"}))
                with lock:
                    extra.append(finish(proc, "extra drain"))

    with ThreadPoolExecutor(max_workers=HOOKS) as pool:
        list(pool.map(storm, range(HOOKS)))
    runs = box.runner.wait_for_jobs(timeout=300)
    # Whatever the last chained drain left (it may have ended while the last hooks ran).
    runs.append(box.drain(linger="0", max_wait="0"))
    runs += box.runner.wait_for_jobs(timeout=300)

    events = HOOKS * EVENTS
    recorded = sum(1 for r in hook_results if r.ok and r.output == "queued")
    drains = [r for r in runs + extra if isinstance(r.output, dict)]
    consumed = sum(r.output.get("synced", 0) + r.output.get("superseded", 0) for r in drains)
    wrong = [s.stash_id for s in scenes
             if box.plex.item(s.plex_key)["title"] != box.stash.scene(s.stash_id)["title"]]
    tally("concurrency", tried=events, survived=recorded if not wrong else 0,
          lost=max(0, events - consumed) + len(wrong))

    assert len(hook_results) == events
    for result in hook_results + runs + extra:
        assert_plugin_answer(result)
    assert recorded == events
    assert box.pending() == [] and box.dead_letters() == []
    assert consumed == events, f"{consumed} jobs consumed for {events} events"
    assert wrong == []
    # Stash's job queue never ran two drains at once.
    spans = sorted((r.started_perf, r.ended_perf) for r in box.runner.task_runs)
    for (_s1, end), (start, _e2) in zip(spans, spans[1:]):
        assert start >= end
