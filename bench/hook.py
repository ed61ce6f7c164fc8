"""Hook wall time: what a Stash save waits for, measured through the sandbox runner.

    python -m bench.hook [--runs 60]

Each run is ``plexsync.py`` started exactly as Stash starts it (interpreter start
included), for a Scene.Update.Post that changes a title: read settings, queue the
job, ask for a drain once per burst. Prints median / p95 and saves
``bench/results/hook.json``; also records ``python -X importtime`` for the hook path.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time

from bench.common import save, summary_ms
from sandbox.harness import PROJECT_ROOT, Sandbox


def import_time_ms() -> float:
    """Cumulative import time of the hook's modules (``-X importtime``), median of 5."""
    totals = []
    for _ in range(5):
        err = subprocess.run([sys.executable, "-X", "importtime", "-c", "import plugin.hook"], cwd=PROJECT_ROOT,
                             capture_output=True, text=True).stderr
        match = re.search(r"\|\s*(\d+)\s*\|\s*plugin\.hook\s*$", err, re.M)
        totals.append(int(match.group(1)) / 1000 if match else float("nan"))
    return sorted(totals)[len(totals) // 2]


def bare_interpreter_ms(runs: int = 20) -> float:
    """Median wall time of ``python -c pass`` on this machine, for scale."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"])
        times.append(time.perf_counter() - started)
    return round(sorted(times)[len(times) // 2] * 1000, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=60)
    args = parser.parse_args()
    with Sandbox(scenes=max(args.runs, 50), seed=11) as sb:
        assert sb.runner is not None
        walls, skipped_walls = [], []
        for scene in sb.world.scenes[: args.runs]:
            [result] = sb.edit(scene, title=scene.title + " ·")
            assert result.exit_code == 0, result.error
            walls.append(result.wall_time)
        # A save touching nothing we sync (play count): validated and dismissed.
        for scene in sb.world.scenes[:20]:
            [result] = sb.runner.fire_hook("Scene.Update.Post", int(scene.stash_id), input={"play_count": 3},
                                           input_fields=["id", "play_count"])
            skipped_walls.append(result.wall_time)
        sb.runner.wait_for_jobs(timeout=300)
        drain_requests = sum(1 for r in sb.runner.task_runs if r.name == "Process queue")
    figures = {
        "hook_queue_job": summary_ms(walls),
        "hook_nothing_to_sync": summary_ms(skipped_walls),
        "python_c_pass_ms": bare_interpreter_ms(),
        "hook_import_time_ms": import_time_ms(),
        "drains_requested": drain_requests,
    }
    print(f"hook that queues a job: median {figures['hook_queue_job']['median_ms']} ms, "
          f"p95 {figures['hook_queue_job']['p95_ms']} ms over {len(walls)} runs")
    print(f"hook with nothing to sync: median {figures['hook_nothing_to_sync']['median_ms']} ms")
    print(f"for scale: python -c pass {figures['python_c_pass_ms']} ms; hook imports "
          f"{figures['hook_import_time_ms']:.1f} ms (-X importtime); drains requested: {drain_requests}")
    save("hook", figures)


if __name__ == "__main__":
    main()
