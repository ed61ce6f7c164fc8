"""Save → Plex latency: from the user's save in Stash to the edit visible in Plex.

    python -m bench.latency [--edits 25] [--gap 3]

Each edit: the scene changes in Stash, its hook runs (Stash waits for it), Stash's
job queue runs *Process queue* in the background, and we poll the Plex emulator
until the new title shows. ``--gap`` seconds separate edits so each starts a new
drain (the slow case: no drain already running). Saves ``bench/results/latency.json``.
"""

from __future__ import annotations

import argparse
import time

from bench.common import save, summary_ms, wait_until_in_plex
from sandbox.harness import Sandbox


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=25)
    parser.add_argument("--gap", type=float, default=3.0, help="seconds between edits (> the drain's linger)")
    args = parser.parse_args()
    with Sandbox(scenes=max(args.edits, 50), seed=12) as sb:
        assert sb.runner is not None
        sb.queue_everything()
        sb.runner.run_task("Process queue", {"linger": "0.1"})
        sb.runner.wait_for_jobs(timeout=300)
        latencies = []
        for i, scene in enumerate(sb.world.scenes[: args.edits]):
            title = f"{scene.title} — edit {i}"
            saved = time.perf_counter()
            sb.edit(scene, title=title)
            latencies.append(wait_until_in_plex(sb, scene, title, since=saved, timeout=60, poll=0.005))
            sb.runner.wait_for_jobs(timeout=120)
            time.sleep(max(0.0, args.gap - (time.perf_counter() - saved)))
    figures = {"save_to_plex": summary_ms(latencies), "gap_seconds": args.gap}
    print(f"save → visible in Plex over {len(latencies)} edits: median {figures['save_to_plex']['median_ms']} ms, "
          f"p95 {figures['save_to_plex']['p95_ms']} ms")
    save("latency", figures)


if __name__ == "__main__":
    main()
