"""Corruption matrix (issue 8, finding 2): every file the plugin leaves in the data folder
× {empty, garbage, cut in half}. After each: Status answers, the hook still records the
next save and its drain syncs it (no crash loop, no traceback), the SQLite files are sound
again (a cache rebuilt, with a warning), and a corrupt queue or dead-letter queue is kept
aside — named in exactly one error line — with a recovery reconcile run automatically.

The data folder is made once (a full drain, a reconcile, a breaker trip and reset, a
dead letter), copied, and restored before each case; each case edits its own scene.
"""

from __future__ import annotations

import json
import os
import random
import shutil

import pytest

from tests.e2e_helpers import all_runs
from tests.reliability.conftest import tally
from tests.reliability.support import (
    assert_plugin_answer,
    data_files,
    enqueue_scenes,
    integrity_problems,
    make_box,
    retitle,
)

pytestmark = pytest.mark.slow

#: What a drain (and reconcile, the breaker, the hook's trigger) leaves in the data folder.
MATRIX_FILES = ("circuit_breaker.json", "circuit_breaker.json.lock", "compatibility.json", "dlq.db", "dlq_purge.json",
                "drain_requested",
                "hook_settings.json", "plex_index.db", "queue/data.db", "reconciliation_state.json",
                "reconciliation_state.json.lock", "recovery_requested", "stats.json", "sync_state.db", "worker.lock")
MODES = ("empty", "garbage", "half")
#: Files whose content is the user's work: kept aside when corrupt, never deleted.
KEPT_ASIDE = ("queue/data.db", "dlq.db")
#: Caches: moved aside and rebuilt from Plex and Stash.
REBUILT = ("plex_index.db", "sync_state.db")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("corruption")
    box = make_box(root, 40, default_data_folder=True)  # the hook's settings snapshot is in it too
    scenes = box.world.scenes
    enqueue_scenes(box, scenes[:20])
    assert box.drain(linger="0", max_wait="0").output["synced"] == 20
    assert box.runner.run_task("Reconcile: changed scenes").ok
    retitle(box, scenes[:6], "tripped")
    enqueue_scenes(box, scenes[:6])
    box.plex.fail_until_cleared(503)
    box.drain(linger="0", max_wait="0")
    box.plex.clear_faults()
    assert box.runner.run_task("Reset circuit breaker").ok
    assert box.drain(linger="0", max_wait="0").ok and box.pending() == []
    from worker.dlq import DeadLetterQueue
    from worker.jobs import new_job

    dlq = DeadLetterQueue(box.data_dir)
    dlq.add(new_job(int(scenes[39].stash_id), "Scene.Update.Post"), "kept for the matrix", "PlexNotFound")
    dlq.close()
    # A drain request from before Stash restarted (stale: a fresh one would make the hook
    # wait for it) and a pending recovery request, as a corrupt store leaves one.
    with open(os.path.join(box.data_dir, "drain_requested"), "w"):
        pass
    os.utime(os.path.join(box.data_dir, "drain_requested"), (1, 1))
    with open(os.path.join(box.data_dir, "recovery_requested"), "w") as fh:
        json.dump({"task": "Reconcile: changed scenes", "reason": "matrix", "at": 0}, fh)
    pristine = str(root / "pristine")
    shutil.copytree(box.data_dir, pristine)
    yield box, pristine
    box.close()


def test_matrix_covers_every_file_the_plugin_leaves(world):
    box, pristine = world
    found = set(data_files(pristine))
    assert set(EMPTY_FILES) & found <= {f for f in found if os.path.getsize(os.path.join(pristine, f)) == 0}
    assert found == set(MATRIX_FILES), \
        f"the matrix must cover every file the plugin leaves: add {found - set(MATRIX_FILES)}"


def corrupt(path: str, mode: str, rng: random.Random) -> bytes:
    """Damage one file as a crash or a bad disk would; returns what is left in it."""
    old = b""
    if os.path.exists(path):
        with open(path, "rb") as fh:
            old = fh.read()
    new = {"empty": b"",
           "garbage": bytes(rng.getrandbits(8) for _ in range(max(len(old), 4096))),
           "half": old[: len(old) // 2]}[mode]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(new)
    os.chmod(path, 0o600)
    return new


#: Files that are always empty (locks, the drain-request marker): emptying or halving them
#: changes nothing, so only garbage is tried.
EMPTY_FILES = ("circuit_breaker.json.lock", "drain_requested", "reconciliation_state.json.lock")
CASES = [(f, m) for f in MATRIX_FILES for m in MODES if f not in EMPTY_FILES or m == "garbage"]


@pytest.mark.parametrize(("name", "mode"), CASES, ids=[f"{f}-{m}" for f, m in CASES])
def test_corrupt_file_is_survived(world, name, mode):
    box, pristine = world
    index = CASES.index((name, mode))
    spec = box.world.scenes[20 + index % 19]       # scenes 20..38: a fresh edit each case
    shutil.rmtree(box.data_dir)
    shutil.copytree(pristine, box.data_dir)
    damaged = corrupt(os.path.join(box.data_dir, name), mode, random.Random(index))
    if name == "drain_requested":  # its content is never read; a fresh one would mean "pending"
        os.utime(os.path.join(box.data_dir, name), (1, 1))
    survived = False
    try:
        status = box.runner.run_task("Status")
        assert_plugin_answer(status)
        results = box.save(spec, title=f"{spec.plex_title} · after {name} {mode}")
        runs = all_runs(results)
        for run in runs:
            assert_plugin_answer(run)
        assert results[0].ok and results[0].output == "queued", (results[0].error, results[0].logs)
        # The drain the hook asked for (or, if none, the next one) works: no crash loop.
        drains = runs[1:] or [box.drain(linger="0", max_wait="0")]
        for drain in drains:
            assert_plugin_answer(drain)
            assert drain.ok, drain.error
        assert box.plex.item(spec.plex_key)["title"] == spec.title
        assert box.pending() == []
        assert integrity_problems(box.data_dir) == {}
        if name in KEPT_ASIDE and len(damaged) >= 100:
            kept = []
            for rel in data_files(box.data_dir):
                with open(os.path.join(box.data_dir, rel), "rb") as fh:
                    if rel != name and fh.read() == damaged:
                        kept.append(rel)
            assert kept, f"the corrupt {name} was not kept aside"
            everything = all_runs([status]) + runs  # Status may start the recovery itself
            # Moving it aside is told once, naming where it went (Status, run first, may
            # also say the file is unreadable).
            aside = os.path.basename(kept[0].split("/")[0])
            told = [m for r in everything for m in r.messages("e") if aside in m]
            assert len(told) == 1, [m for r in everything for m in r.messages("e")]
            assert any(r.name == "Reconcile: changed scenes" and r.ok for r in everything), \
                [r.name for r in everything]
        if name in REBUILT and mode != "empty":
            assert any("rebuil" in m for r in all_runs([status]) + runs for m in r.messages("w")), "no rebuild warning"
        survived = True
    finally:
        tally("corruption", tried=1, survived=int(survived),
              lost=0 if box.plex.item(spec.plex_key)["title"] == spec.title else 1,
              failed=None if survived else f"{name} {mode}")
