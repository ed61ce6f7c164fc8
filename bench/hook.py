"""Hook wall time: what a Stash save waits for, against a do-nothing Python hook.

    python -m bench.hook [--runs 60] [--warmup 5]

Each run is a hook started exactly as Stash starts it (interpreter start included) by the
same sandbox runner, alternating between PlexSync's hook for a Scene.Update.Post that
changes a title (read the settings snapshot, queue the job, ask for a drain once per
burst) and a do-nothing plugin whose hook reads stdin and prints ``{"output":"ok"}``.
Drains run in Stash's job queue meanwhile, as in Stash, so both see the same machine.
Prints medians, p95s and the ratio; saves ``bench/results/hook.json``; also records
``python -X importtime`` for the hook path and the Stash requests each hook sent.
Python caches bytecode as in a Stash install (``PYTHONDONTWRITEBYTECODE`` is cleared
for the runs; ``--no-bytecode-cache`` keeps it, and every run then compiles every module).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import save, summary_ms
from sandbox.harness import PROJECT_ROOT, Sandbox
from sandbox.runner import PluginRunner, RunResult

NOOP_YML = """name: Noop
description: A hook that does nothing, the floor a Python hook can reach.
version: 0.0.1
exec:
  - python
  - "{pluginDir}/noop.py"
interface: raw
hooks:
  - name: Nothing
    description: Reads stdin, answers ok.
    triggeredBy:
      - Scene.Update.Post
"""
NOOP_PY = 'import sys\nsys.stdin.buffer.read()\nsys.stdout.write(\'{"output":"ok"}\')\n'


def import_time_ms() -> float:
    """Cumulative import time of the hook's modules (``-X importtime``), median of 5."""
    totals = []
    for _ in range(5):
        err = subprocess.run([sys.executable, "-X", "importtime", "-c", "import plugin.hook"], cwd=PROJECT_ROOT,
                             capture_output=True, text=True, timeout=60).stderr
        match = re.search(r"\|\s*(\d+)\s*\|\s*plugin\.hook\s*$", err, re.M)
        totals.append(int(match.group(1)) / 1000 if match else float("nan"))
    return sorted(totals)[len(totals) // 2]


def bare_interpreter_ms(runs: int = 20) -> float:
    """Median wall time of ``python -c pass`` on this machine, for scale."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], timeout=60)
        times.append(time.perf_counter() - started)
    return round(sorted(times)[len(times) // 2] * 1000, 1)


def noop_plugin(folder: Path) -> Path:
    """Write the do-nothing plugin into ``folder``; returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "noop.yml").write_text(NOOP_YML)
    (folder / "noop.py").write_text(NOOP_PY)
    return folder


def stash_requests(sb: Sandbox, run: RunResult) -> list[str]:
    """The operation names of the GraphQL requests one run sent (by its session cookie)."""
    session = json.loads(run.stdin)["server_connection"]["SessionCookie"]["Value"]
    return [q.get("operationName") or (q.get("query") or "").split("(")[0].split("{")[0].strip()
            for q in list(sb.stash.queries) if q.get("session") == session]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=5, help="runs of each hook discarded first")
    parser.add_argument("--no-bytecode-cache", action="store_true", help="keep PYTHONDONTWRITEBYTECODE if set")
    args = parser.parse_args()
    if not args.no_bytecode_cache:
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)   # the runner's runs inherit os.environ
    bytecode_cache = not os.environ.get("PYTHONDONTWRITEBYTECODE")
    total = args.runs + args.warmup
    with Sandbox(scenes=max(total, 50), seed=11) as sb, tempfile.TemporaryDirectory() as tmp:
        assert sb.runner is not None
        noop = PluginRunner(noop_plugin(Path(tmp) / "noop"), sb.stash, sb.stash_dir, job_queue="sync")
        walls: list[float] = []
        noop_walls: list[float] = []
        requests: dict[str, int] = {}
        for i, scene in enumerate(sb.world.scenes[:total]):
            [result] = sb.edit(scene, title=scene.title + " ·")
            assert result.exit_code == 0 and result.output == "queued", result.error
            [floor] = noop.fire_hook("Scene.Update.Post", int(scene.stash_id), input={"title": "x"},
                                     input_fields=["id", "title"])
            assert floor.exit_code == 0 and floor.output == "ok", floor.error
            if i >= args.warmup:
                walls.append(result.wall_time)
                noop_walls.append(floor.wall_time)
                for name in stash_requests(sb, result):
                    requests[name] = requests.get(name, 0) + 1
        noop.close()
        # A save touching nothing we sync (play count): validated and dismissed.
        skipped_walls = []
        for scene in sb.world.scenes[:20]:
            [result] = sb.runner.fire_hook("Scene.Update.Post", int(scene.stash_id), input={"play_count": 3},
                                           input_fields=["id", "play_count"])
            skipped_walls.append(result.wall_time)
        sb.runner.wait_for_jobs(timeout=300)
        drain_requests = sum(1 for r in sb.runner.task_runs if r.name == "Process queue")
    figures: dict[str, Any] = {
        "bytecode_cache": bytecode_cache,
        "hook_queue_job": summary_ms(walls),
        "noop_python_hook": summary_ms(noop_walls),
        "hook_nothing_to_sync": summary_ms(skipped_walls),
        "python_c_pass_ms": bare_interpreter_ms(),
        "hook_import_time_ms": import_time_ms(),
        "drains_requested": drain_requests,
        "stash_requests_by_hooks": requests,
        "stash_requests_per_hook": round(sum(requests.values()) / len(walls), 3),
    }
    ratio = figures["hook_queue_job"]["median_ms"] / figures["noop_python_hook"]["median_ms"]
    figures["ratio_to_noop_median"] = round(ratio, 2)
    print(f"hook that queues a job: median {figures['hook_queue_job']['median_ms']} ms, "
          f"p95 {figures['hook_queue_job']['p95_ms']} ms over {len(walls)} runs")
    print(f"do-nothing Python hook, same runner, interleaved: median {figures['noop_python_hook']['median_ms']} ms "
          f"→ ratio {figures['ratio_to_noop_median']}×")
    print(f"hook with nothing to sync: median {figures['hook_nothing_to_sync']['median_ms']} ms")
    print(f"Stash requests sent by the {len(walls)} hooks: {requests} "
          f"({figures['stash_requests_per_hook']} per hook); drains requested: {drain_requests}")
    print(f"for scale: python -c pass {figures['python_c_pass_ms']} ms; hook imports "
          f"{figures['hook_import_time_ms']:.1f} ms (-X importtime)")
    save("hook", figures)


if __name__ == "__main__":
    main()
