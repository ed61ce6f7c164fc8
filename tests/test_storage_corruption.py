"""The corruption matrix (finding 2): every file the data folder holds × {empty, garbage,
cut in half}, with the plugin run as Stash runs it (sandbox runner, real subprocesses).

Each case: the hook still records the edit (the drain it asks for puts it into Plex),
every run answers with one plugin JSON and no traceback, Status works, a corrupt queue
or DLQ is kept aside and a recovery reconcile runs, a corrupt cache is rebuilt.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3

import pytest

from sandbox.harness import Sandbox
from tests.e2e_helpers import all_runs
from tests.test_sqlite_files import corrupt

pytestmark = pytest.mark.slow

#: Every file a data folder holds after syncs, a reconcile, a failure and a purge.
STORES = {"queue/data.db", "dlq.db"}                 # lost work: kept aside, recovery requested
CACHES = {"plex_index.db", "sync_state.db"}           # rebuilt from Plex and Stash
OTHERS = {"stats.json", "reconciliation_state.json", "reconciliation_state.json.lock", "dlq_purge.json",
          "circuit_breaker.json", "circuit_breaker.json.lock", "worker.lock", "drain_requested",
          "recovery_requested", "hook_settings.json"}
FILES = sorted(STORES | CACHES | OTHERS)
MODES = ("empty", "garbage", "half")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with Sandbox(scenes=6, seed=8, job_queue="sync") as sb:
        first = sb.runner.run_task("Reconcile: all scenes")
        assert all(r.ok for r in all_runs([first])), [r.error for r in all_runs([first])]
        data = str(sb.data_dir)
        # The files a day of use leaves that this run did not: a dead letter, a breaker
        # state, a pending drain request and a pending recovery request.
        from worker.circuit_breaker import CircuitBreaker
        from worker.dlq import DeadLetterQueue

        dlq = DeadLetterQueue(data)
        for i in range(30):
            dlq.add({"scene_id": 9000 + i, "job_key": f"scene_{9000 + i}"}, RuntimeError("x" * 300))
        dlq.close()
        breaker = CircuitBreaker(state_file=os.path.join(data, "circuit_breaker.json"))
        breaker.record_failure()
        breaker.reset()
        with open(os.path.join(data, "drain_requested"), "w") as fh:
            fh.write("")
        # …a stale one (Stash restarted since), or the hook would wait for it.
        os.utime(os.path.join(data, "drain_requested"), (1, 1))
        with open(os.path.join(data, "recovery_requested"), "w") as fh:
            json.dump({"task": "Reconcile: changed scenes", "reason": "test", "at": 0}, fh)
        held = {os.path.relpath(os.path.join(root, f), data) for root, _d, files in os.walk(data) for f in files}
        assert held == set(FILES), f"the matrix must cover every file: add {held - set(FILES)}"
        template = tmp_path_factory.mktemp("template") / "data"
        shutil.copytree(data, template)
        yield sb, str(template)


def _one_plugin_json(run) -> None:
    doc = json.loads(run.stdout)
    assert isinstance(doc, dict) and set(doc) == {"output", "error"}, run.stdout
    assert "Traceback" not in run.stderr, run.stderr


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", FILES)
def test_corrupt_file_neither_crashes_nor_loses_the_edit(world, name, mode):
    sb, template = world
    data = str(sb.data_dir)
    shutil.rmtree(data)
    shutil.copytree(template, data)  # copy2: the stale mtime stays
    corrupt(os.path.join(data, name), mode)
    if name == "drain_requested":  # its content is never read; a fresh one would mean "pending"
        os.utime(os.path.join(data, name), (1, 1))
    scene = sb.world.scenes[FILES.index(name) % len(sb.world.scenes)]
    title = f"after {mode} {name}"

    hook_runs = sb.edit(scene, title=title)
    status = sb.runner.run_task("Status")
    runs = all_runs([*hook_runs, status])

    for run in runs:
        _one_plugin_json(run)
    [hook] = hook_runs
    assert hook.ok and hook.output == "queued", (hook.error, hook.logs)
    assert status.ok, (status.error, status.logs)
    assert sb.plex_item(scene)["title"] == title, "the edit was recorded and synced"
    drains = [r for r in runs if r.name == "Process queue"]
    assert drains and all(r.ok for r in drains), [(r.error, r.logs) for r in drains]

    if mode == "empty" or name not in STORES | CACHES:
        return
    folder, base = os.path.split(os.path.join(data, name))
    if name.startswith("queue/"):
        folder, base = data, "queue"
    kept = [n for n in os.listdir(folder) if n.startswith(base + ".corrupt-")]
    assert len(kept) == 1, os.listdir(folder)
    if name in STORES:
        errors = [m for r in runs for m in r.messages("e")]
        assert len(errors) == 1 and kept[0] in errors[0], errors
        assert any(r.name == "Reconcile: changed scenes" and r.ok for r in runs), [r.name for r in runs]
    else:
        conn = sqlite3.connect(os.path.join(data, name))
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        finally:
            conn.close()
        assert any("rebuil" in m for r in runs for m in r.messages("w"))
