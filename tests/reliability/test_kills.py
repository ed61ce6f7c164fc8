"""Random SIGKILL of drains: nothing lost, Plex exactly right, every SQLite file intact.

Kill points are seeded and counted in Plex requests, not in time, so the same seed kills
at the same places on any machine: the drain is killed (as Stash cancels a task: SIGKILL,
no grace) when the emulator receives its r-th request, either before Plex applies it or
right after (Plex has the edit, the plugin never heard back). Between drains some scenes
are edited again, so the end state must be the newest one.

Sizes: ``RELIABILITY_KILLS`` (default 30) and ``RELIABILITY_SCENES`` (default 300);
``python -m bench.reliability --kills 100`` runs a larger version.
"""

from __future__ import annotations

import os
import random
import signal
import threading

import pytest

from tests.e2e_helpers import assert_in_plex, mismatches
from tests.reliability.conftest import tally
from tests.reliability.support import (
    assert_plugin_answer,
    enqueue_scenes,
    finish,
    integrity_problems,
    retitle,
    spawn,
)

pytestmark = pytest.mark.slow

KILLS = int(os.environ.get("RELIABILITY_KILLS") or 30)
SCENES = int(os.environ.get("RELIABILITY_SCENES") or 300)
SEED = int(os.environ.get("RELIABILITY_SEED") or 20260)


class KillSwitch:
    """Wraps the emulator's request handler: SIGKILLs ``pid`` at the ``at``-th request."""

    def __init__(self, plex) -> None:
        self.plex = plex
        self.original = plex._handle
        self.lock = threading.Lock()
        self.pid: int | None = None
        self.at = 0
        self.after = False
        self.seen = 0
        self.fired = False
        plex._handle = self._handle

    def arm(self, pid: int, at: int, after: bool) -> None:
        with self.lock:
            self.pid, self.at, self.after, self.seen, self.fired = pid, at, after, 0, False

    def _kill_if_due(self) -> None:
        with self.lock:
            if self.pid is not None and not self.fired and self.seen >= self.at:
                self.fired = True
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def _handle(self, *args, **kwargs):
        with self.lock:
            self.seen += 1
        if not self.after:
            self._kill_if_due()
        answer = self.original(*args, **kwargs)
        if self.after:
            self._kill_if_due()
        return answer


def test_random_sigkill_of_drains_loses_nothing(box_factory):
    rng = random.Random(SEED)
    # Parallel Plex requests on (the default, set here explicitly): kills land mid-pool.
    box = box_factory(SCENES, parallel_plex_requests=4)
    scenes = box.world.scenes
    retitle(box, scenes, "v0")
    enqueue_scenes(box, scenes)
    switch = KillSwitch(box.plex)
    task = box.runner.config.task("Process queue")
    kills = drains = 0
    while kills < KILLS and drains < KILLS * 3:
        drains += 1
        if drains % 4 == 0:                       # users keep editing meanwhile
            edited = rng.sample(scenes, 3)
            retitle(box, edited, f"v{drains}")
            enqueue_scenes(box, edited)
        proc = spawn(box.runner, "Process queue",
                     box.runner.plugin_input(task, {"linger": "0", "max_wait": "0"}))
        # Mostly a few requests in; sometimes deep into a bulk index refresh or many jobs.
        switch.arm(proc.pid, rng.choice([rng.randint(1, 8), rng.randint(1, 40)]), rng.random() < 0.5)
        result = finish(proc, f"drain {drains}")
        if result.exit_code == -signal.SIGKILL:
            kills += 1
        else:
            assert_plugin_answer(result)
            if not box.pending():
                break
    switch.arm(0, 0, False)
    switch.pid = None
    assert kills >= KILLS, f"only {kills} kills landed in {drains} drains (queue emptied too soon)"

    # Recovery as Stash would do it: the next Process queue (and, if a kill made the
    # breaker or a retry wait, the next after that) finishes the work.
    for _ in range(3):
        box.clock.advance(600)
        final = box.drain(linger="0", max_wait="0")
        assert_plugin_answer(final)
        if not box.pending():
            break
    wrong = [s.stash_id for s in scenes if mismatches(box.plex, s)]
    lost = len(wrong) + len(box.dead_letters())
    tally("kills", tried=kills, survived=kills if not lost and not box.pending() else 0, lost=lost,
          failed=f"{len(wrong)} scenes wrong in Plex" if wrong else None)
    assert box.pending() == []
    assert box.dead_letters() == []
    assert_in_plex(box.plex, scenes)
    assert integrity_problems(box.data_dir) == {}
