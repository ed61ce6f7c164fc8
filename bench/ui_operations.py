"""What the Plex tab waits for: the UI modes' wall time, and what they import.

    python -m bench.ui_operations [--runs 15]

Each run is ``runPluginOperation`` as Stash runs it (a new ``plexsync.py`` process, args
exactly as given) against the emulators: ``ui_status``, ``ui_scene`` (a synced scene),
``ui_scene`` with ``compare`` (the dry-run diff: the one read that loads plexapi) and
``ui_sync_now`` (an edited scene, synced in the call). Also counts the Plex requests of
one ``ui_scene`` and lists, from ``-X importtime``, whether plexapi was imported and the
total import time per mode. Saves ``bench/results/ui_operations.json``.
"""

from __future__ import annotations

import argparse
from typing import Any

from bench.common import routes, save, summary_ms
from sandbox.harness import Sandbox


def _imports(stderr: str) -> tuple[set[str], float]:
    """Top-level modules imported and the total import time (ms) from importtime lines."""
    modules: set[str] = set()
    total_us = 0
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = line.split("|")
        name = parts[-1]
        if not name.strip() or not parts[1].strip().isdigit():
            continue
        modules.add(name.strip().split(".")[0])
        if len(name) - len(name.lstrip()) == 1:      # a top-level import: its cumulative time
            total_us += int(parts[1])
    return modules, round(total_us / 1000, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    ns = parser.parse_args(argv)
    results: dict[str, Any] = {"runs": ns.runs, "modes": {}}
    with Sandbox(scenes=10, seed=3, job_queue="sync") as sb:
        assert sb.runner is not None
        sb.queue_everything()
        sb.runner.run_task("Process queue", {"linger": "0", "max_wait": "0"})
        scene = sb.world.scenes[0]
        calls = {
            "ui_status": lambda i: {"mode": "ui_status"},
            "ui_scene": lambda i: {"mode": "ui_scene", "scene_id": scene.stash_id},
            "ui_scene_compare": lambda i: {"mode": "ui_scene", "scene_id": scene.stash_id, "compare": "true"},
        }
        for name, args in calls.items():
            times = []
            for i in range(ns.runs):
                run = sb.runner.run_operation(args(i))
                assert run.error is None, run.error
                times.append(run.wall_time)
            sb.runner.env["PYTHONPROFILEIMPORTTIME"] = "1"
            run = sb.runner.run_operation(args(0))
            del sb.runner.env["PYTHONPROFILEIMPORTTIME"]
            modules, import_ms = _imports(run.stderr)
            results["modes"][name] = {**summary_ms(times), "imports_plexapi": "plexapi" in modules,
                                      "import_ms_once": import_ms}
        times = []
        for i in range(ns.runs):
            spec = sb.world.scenes[1 + i % (len(sb.world.scenes) - 1)]
            sb.stash.update_scene(spec.stash_id, title=f"Sync now {i}")
            run = sb.runner.run_operation({"mode": "ui_sync_now", "scene_id": spec.stash_id})
            assert run.error is None and run.output["action"] == "synced_here", (run.error, run.output)
            times.append(run.wall_time)
        results["modes"]["ui_sync_now"] = summary_ms(times)
        sb.plex.reset_requests()
        sb.runner.run_operation({"mode": "ui_scene", "scene_id": scene.stash_id})
        results["plex_requests_per_ui_scene"] = routes(sb.plex.request_counts())
    for name, figures in results["modes"].items():
        print(f"{name:18} median {figures['median_ms']:7.1f} ms  p95 {figures['p95_ms']:7.1f} ms"
              + (f"  plexapi imported: {figures['imports_plexapi']}" if "imports_plexapi" in figures else ""))
    print(f"Plex requests for one ui_scene: {results['plex_requests_per_ui_scene']}")
    save("ui_operations", results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
