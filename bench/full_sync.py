"""Full sync at scale: N scenes, then again with 10 % changed in Stash.

    python -m bench.full_sync --scenes 1000

Queues every scene and runs the *Process queue* task through the runner (the
plugin as a subprocess, real plexapi, the sandbox servers), twice: the first sync
of a fresh library, then a full re-sync after changing 10 % of the scenes in
Stash. Reports wall time, scenes/s, Plex requests per changed and per unchanged
scene by route, and the drain process's peak RSS. Saves
``bench/results/full_sync_<N>.json``.
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Any

from bench.common import peak_rss_mb, routes, save
from sandbox.harness import Sandbox


def _drain(sb: Sandbox) -> tuple[float, dict[str, int]]:
    assert sb.runner is not None
    sb.plex.reset_requests()
    started = time.perf_counter()
    result = sb.runner.run_task("Process queue", {"linger": "0.1", "max_wait": "0.1"})
    sb.runner.wait_for_jobs(timeout=3600)
    if result.error:
        raise RuntimeError(result.error)
    return time.perf_counter() - started, routes(sb.plex.request_counts())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=1000)
    parser.add_argument("--changed", type=float, default=0.10)
    args = parser.parse_args()
    n = args.scenes
    with Sandbox(scenes=n, seed=13, job_queue="sync") as sb:
        sb.queue_everything()
        sb.stash.reset_queries()
        first_seconds, first_routes = _drain(sb)
        first_stash_queries = len(sb.stash.queries)  # GraphQL requests during the drain

        rng = random.Random(5)
        changed = rng.sample(sb.world.scenes, max(1, round(n * args.changed)))
        for scene in changed:
            sb.stash.update_scene(scene.stash_id, details=(scene.details or "") + " (re-cut)")
        sb.queue_everything()
        sb.stash.reset_queries()
        resync_seconds, resync_routes = _drain(sb)
        resync_stash_queries = len(sb.stash.queries)

    writes = {k: v for k, v in resync_routes.items() if k.startswith(("PUT", "POST"))}
    unchanged = n - len(changed)
    per_changed: dict[str, Any] = {k: round(v / len(changed), 3) for k, v in resync_routes.items()}
    figures = {
        "scenes": n,
        "first_sync": {"seconds": round(first_seconds, 2), "scenes_per_s": round(n / first_seconds, 1),
                       "plex_requests": first_routes,
                       "stash_queries_per_scene": round(first_stash_queries / n, 4)},
        "resync_10pct_changed": {
            "seconds": round(resync_seconds, 2), "scenes_per_s": round(n / resync_seconds, 1),
            "changed": len(changed), "unchanged": unchanged, "plex_requests": resync_routes,
            "stash_queries_per_scene": round(resync_stash_queries / n, 4),
            "requests_per_changed_scene": per_changed,
            # Every write belongs to a changed scene when this is 0.
            "writes_per_unchanged_scene": round((sum(writes.values()) - len(changed)) / max(unchanged, 1), 3),
        },
        "drain_peak_rss_mb": peak_rss_mb(children=True),
    }
    print(f"{n} scenes — first sync {first_seconds:.1f}s ({n / first_seconds:.0f} scenes/s); "
          f"re-sync with {len(changed)} changed {resync_seconds:.1f}s ({n / resync_seconds:.0f} scenes/s)")
    print(f"Stash queries per scene: first sync {first_stash_queries / n:.4f}, re-sync {resync_stash_queries / n:.4f}")
    print(f"re-sync Plex requests: {resync_routes}")
    print(f"drain peak RSS {figures['drain_peak_rss_mb']} MB")
    save(f"full_sync_{n}", figures)


if __name__ == "__main__":
    main()
