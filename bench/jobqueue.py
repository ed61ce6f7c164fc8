"""How long drains hold Stash's job queue: a library with files Plex lacks, saves at intervals.

    python -m bench.jobqueue [--scenes 200] [--saves 12] [--gap 5] [--plugin-root DIR] [--label after]

A 200-scene library of which 10 files Plex has not scanned (and won't: its scanner is
slowed down for the run) is fully synced; then saves alternate between a scene Plex
lacks and one it has, ``--gap`` seconds apart, with Stash's job queue running in the
background as in Stash. Figures: how long drains ran in total, how long jobs sat READY
behind another job (what a save's own drain waits), and save → visible in Plex for the
scenes Plex has. ``--plugin-root`` runs another checkout of the plugin (e.g. the commit
before this change, exported with ``git archive``) against the same sandbox.
Writes ``bench/results/jobqueue.json`` (the ``--label`` entry). Bounded: each wait times out.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from bench.common import RESULTS, save, wait_until_in_plex
from sandbox.harness import PROJECT_ROOT, Sandbox
from sandbox.runner import PluginRunner


def _record_jobs(stash) -> list[dict]:
    """Wrap the emulator's job bookkeeping to keep each job's added/started/ended times."""
    log: dict[str, dict] = {}
    store = stash.store
    add, start, end = store.add_job, store.start_job, store.end_job

    def add_job(description):
        job_id = add(description)
        log[job_id] = {"description": description, "added": time.perf_counter()}
        return job_id

    def start_job(job_id):
        start(job_id)
        log.get(str(job_id), {})["started"] = time.perf_counter()

    def end_job(job_id):
        end(job_id)
        log.get(str(job_id), {}).setdefault("ended", time.perf_counter())

    store.add_job, store.start_job, store.end_job = add_job, start_job, end_job
    return log  # type: ignore[return-value]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=200)
    parser.add_argument("--saves", type=int, default=12)
    parser.add_argument("--gap", type=float, default=5.0)
    parser.add_argument("--plugin-root", default=str(PROJECT_ROOT))
    parser.add_argument("--label", default="after")
    args = parser.parse_args()

    with Sandbox(scenes=args.scenes, seed=41, unscanned_fraction=0.05) as sb:
        sb.plex.set_scan_delay(100_000)                 # the missing files stay missing
        sb.runner.close()
        env = {k: v for k, v in os.environ.items() if k != "PLEXSYNC_DATA_DIR"}
        sb.runner = PluginRunner(args.plugin_root, sb.stash, sb.stash_dir, env=env,
                                 job_queue="background", timeout=600)
        sb.queue_everything()
        sb.runner.run_task("Process queue", {"linger": "0.1", "max_wait": "0"})
        sb.runner.wait_for_jobs(timeout=600)
        missing = [s for s in sb.world.scenes if not s.scanned][:args.saves]
        present = [s for s in sb.world.scenes if s.scanned]
        jobs = _record_jobs(sb.stash)

        latencies, started = [], time.perf_counter()
        for i in range(args.saves):
            t0 = time.perf_counter()
            if i % 2 == 0 and missing:
                scene = missing[(i // 2) % len(missing)]
                sb.edit(scene, title=f"{scene.title} (edit {i})")
            else:
                scene = present[i]
                title = f"{scene.title} (edit {i})"
                sb.edit(scene, title=title)
                latencies.append(wait_until_in_plex(sb, scene, title, since=t0, timeout=180))
            time.sleep(max(0.0, args.gap - (time.perf_counter() - t0)))
        sb.runner.wait_for_jobs(timeout=900)
        total = time.perf_counter() - started

    done = [j for j in jobs.values() if "started" in j and "ended" in j]
    drains = [j for j in done if j["description"].endswith("Process queue")]
    figures = {
        "label": args.label, "scenes": args.scenes, "missing_files": len([1 for _ in missing]),
        "saves": args.saves, "gap_s": args.gap, "phase_s": round(total, 1),
        "drains": len(drains),
        "drain_time_total_s": round(sum(j["ended"] - j["started"] for j in drains), 1),
        "drain_time_max_s": round(max((j["ended"] - j["started"] for j in drains), default=0), 1),
        "queued_behind_total_s": round(sum(j["started"] - j["added"] for j in done), 1),
        "queued_behind_max_s": round(max((j["started"] - j["added"] for j in done), default=0), 1),
        "save_to_plex_median_s": round(statistics.median(latencies), 2) if latencies else None,
        "save_to_plex_max_s": round(max(latencies), 2) if latencies else None,
    }
    print(json.dumps(figures, indent=1))
    path = RESULTS / "jobqueue.json"
    runs = {}
    if path.exists():
        try:
            runs = json.loads(path.read_text(encoding="utf-8")).get("runs", {})
        except ValueError:
            runs = {}
    runs[args.label] = figures
    save("jobqueue", {"runs": runs})


if __name__ == "__main__":
    main()
