"""Scenes as episodes at scale: N scenes filed in a TV Shows library across S shows.

    python -m bench.library_kinds --scenes 10000 --shows 50

The world is generated as for the other benches, then every scene's studio is one of
``--shows`` studios, so the TV Shows library holds S shows (studio → show, year →
season, scene → episode). Through the runner (the plugin as a subprocess, real
plexapi, the sandbox servers), twice:

1. **first sync**: every scene queued, one *Process queue* drain (a section listing of
   ``type=4`` pages, then per episode a load, an edit and a poster upload);
2. **changed-only reconcile**: 1 % of the scenes edited in Stash without a hook, then
   *Reconcile: changed scenes* and the drain it queues (one ``type=4`` listing, one
   edit per changed episode, nothing for the rest).

Reports wall time, Plex requests by route and per item, Stash queries, and the peak
RSS of the plugin's processes. Saves ``bench/results/library_kinds_<N>.json``.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from typing import Any

from bench.common import PluginMemory, routes, save
from sandbox.harness import Sandbox
from sandbox.library import generate

LIBRARY = "Scenes as shows"


def _per_item(counts: dict[str, int], items: int) -> dict[str, float]:
    return {route: round(n / max(items, 1), 4) for route, n in counts.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=10000)
    parser.add_argument("--shows", type=int, default=50)
    parser.add_argument("--changed", type=float, default=0.01)
    args = parser.parse_args()
    n = args.scenes
    world = generate(seed=17, scenes=n, bare_fraction=0.0)
    shows = world.studios[: args.shows]
    for i, scene in enumerate(world.scenes):
        scene.studio = shows[i % len(shows)]
    with Sandbox(world=world, layout="episodes", library=LIBRARY, job_queue="sync",
                 settings={"plex_libraries": LIBRARY}) as sb:
        assert sb.runner is not None
        sb.runner.timeout = 3600.0
        memory = PluginMemory(sb.runner, sb.root)
        sb.queue_everything()
        sb.plex.reset_requests()
        sb.stash.reset_queries()
        started = time.perf_counter()
        first = sb.runner.run_task("Process queue", {"linger": "0.1", "max_wait": "0.1"})
        first_seconds = time.perf_counter() - started
        if first.error:
            raise RuntimeError(first.error)
        first_routes, first_stash = routes(sb.plex.request_counts()), len(sb.stash.queries)
        wrong = [s.stash_id for s in world.scenes[:: max(1, n // 200)] if sb.plex_item(s)["title"] != s.title]
        if wrong:
            raise RuntimeError(f"scenes not written: {wrong[:5]}")

        rng = random.Random(5)
        changed = rng.sample(world.scenes, max(1, round(n * args.changed)))
        for scene in changed:
            sb.stash.update_scene(scene.stash_id, details=(scene.details or "") + " (re-cut)")
        sb.plex.reset_requests()
        sb.stash.reset_queries()
        started = time.perf_counter()
        result = sb.runner.run_task("Reconcile: changed scenes")
        reconcile_seconds = time.perf_counter() - started
        if result.error:
            raise RuntimeError(result.error)
        drain_seconds = sum(r.wall_time for r in result.followups)
        reconcile_routes, reconcile_stash = routes(sb.plex.request_counts()), len(sb.stash.queries)
        enqueued = result.output.get("enqueued")

    writes = {k: v for k, v in reconcile_routes.items() if k.startswith(("PUT", "POST"))}
    figures: dict[str, Any] = {
        "scenes": n, "shows": len(shows), "library": "TV Shows (scene = episode)",
        "first_sync": {"seconds": round(first_seconds, 2), "episodes_per_s": round(n / first_seconds, 1),
                       "plex_requests": first_routes,
                       "plex_requests_per_episode": round(sum(first_routes.values()) / n, 3),
                       "per_episode_by_route": _per_item(first_routes, n),
                       "stash_queries_per_episode": round(first_stash / n, 4)},
        "changed_reconcile": {"seconds_with_its_drain": round(reconcile_seconds, 2),
                              "drain_seconds": round(drain_seconds, 2), "changed": len(changed),
                              "enqueued": enqueued, "plex_requests": reconcile_routes,
                              "per_changed_episode_by_route": _per_item(reconcile_routes, len(changed)),
                              # Every write belongs to a changed episode when this equals 1.
                              "writes_per_changed_episode": round(sum(writes.values()) / len(changed), 3),
                              "stash_queries": reconcile_stash},
        "plugin_peak_rss_mb": max(memory.peaks_mb(), default=0.0),
        # Wall times mean little on a shared machine: say how busy it was.
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
    }
    print(f"{n} episodes in {len(shows)} shows — first sync {first_seconds:.1f}s ({n / first_seconds:.1f}/s, "
          f"{figures['first_sync']['plex_requests_per_episode']} Plex requests per episode)")
    print(f"changed-only reconcile of {len(changed)} edited scenes: {reconcile_seconds:.1f}s with its drain; "
          f"Plex requests {reconcile_routes}")
    print(f"plugin peak RSS {figures['plugin_peak_rss_mb']} MB")
    save(f"library_kinds_{n}", figures)


if __name__ == "__main__":
    main()
