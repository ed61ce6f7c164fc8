"""Full sync at scale: N scenes, then again with 10 % changed in Stash.

    python -m bench.full_sync --scenes 1000 [--plex-latency-ms 20] [--upload-latency-ms 100] [--parallel 4]

Queues every scene and runs the *Process queue* task through the runner (the
plugin as a subprocess, real plexapi, the sandbox servers), twice: the first sync
of a fresh library, then a full re-sync after changing 10 % of the scenes in
Stash. Reports wall time, scenes/s, Plex requests per scene (per changed and per
unchanged scene by route on the re-sync), Stash queries per scene (the Stash emulator's
request count), and the drain process's peak RSS. ``--plex-latency-ms`` holds every
answer of the Plex emulator back that long (``--upload-latency-ms`` a poster upload's;
default the same), approximating a slow PMS. ``--parallel`` is the 'Parallel Plex
requests' setting (default 4; 1 = serial). Saves
``bench/results/full_sync_<N>[_plex<ms>ms]_par<P>.json``.
"""

from __future__ import annotations

import argparse
import random
import resource
import time
from typing import Any

from bench.common import PluginMemory, routes, save
from sandbox.harness import Sandbox
from sandbox.plex_process import PlexProcess


def _cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _drain(sb: Sandbox) -> tuple[float, dict[str, int], int, dict[str, float]]:
    """Run one drain; (seconds, Plex requests by route, Stash requests, CPU seconds).

    The CPU split says whose time the wall is on this machine: the plugin (the drain
    subprocess, waited for) and the emulators (threads of this process; a real Stash and
    Plex cost far less per request than these Python servers).
    """
    assert sb.runner is not None
    sb.plex.reset_requests()
    sb.stash.reset_queries()
    def emulators() -> float:
        own = _cpu_seconds(resource.RUSAGE_SELF)
        return own + (sb.plex.cpu_seconds() if isinstance(sb.plex, PlexProcess) else 0.0)

    plugin_cpu, emulator_cpu = _cpu_seconds(resource.RUSAGE_CHILDREN), emulators()
    started = time.perf_counter()
    result = sb.runner.run_task("Process queue", {"linger": "0.1", "max_wait": "0.1"})
    sb.runner.wait_for_jobs(timeout=3600)
    if result.error:
        raise RuntimeError(result.error)
    seconds = time.perf_counter() - started
    cpu = {"plugin": round(_cpu_seconds(resource.RUSAGE_CHILDREN) - plugin_cpu, 2),
           "emulators": round(emulators() - emulator_cpu, 2)}
    return seconds, routes(sb.plex.request_counts()), len(sb.stash.queries), cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=1000)
    parser.add_argument("--changed", type=float, default=0.10)
    parser.add_argument("--plex-latency-ms", type=float, default=0.0, help="Plex emulator: wait before every answer")
    parser.add_argument("--upload-latency-ms", type=float, default=None,
                        help="Plex emulator: wait before a poster upload's answer (default: --plex-latency-ms)")
    parser.add_argument("--parallel", type=int, default=4, help="the 'Parallel Plex requests' setting")
    parser.add_argument("--plex-process", action="store_true",
                        help="run the Plex emulator in a process of its own (sandbox/plex_process.py) instead "
                             "of as threads of this process beside Stash's, sharing one interpreter lock")
    args = parser.parse_args()
    n = args.scenes
    upload_ms = args.plex_latency_ms if args.upload_latency_ms is None else args.upload_latency_ms
    with Sandbox(scenes=n, seed=13, job_queue="sync", settings={"parallel_plex_requests": args.parallel},
                 plex_process=args.plex_process) as sb:
        assert sb.runner is not None
        sb.runner.timeout = 3600.0   # a slow Plex makes one drain longer than the runner's default
        memory = PluginMemory(sb.runner, sb.root)
        sb.plex.latency, sb.plex.upload_latency = args.plex_latency_ms / 1000, upload_ms / 1000
        # A real Stash serves covers from files it made when it scanned; the emulator makes
        # each on first request, in pure Python (~2 ms). Made here, before the clock runs.
        for scene in sb.world.scenes:
            sb.stash.store.screenshot(scene.stash_id)
        sb.queue_everything()
        first_seconds, first_routes, first_stash, first_cpu = _drain(sb)

        rng = random.Random(5)
        changed = rng.sample(sb.world.scenes, max(1, round(n * args.changed)))
        for scene in changed:
            sb.stash.update_scene(scene.stash_id, details=(scene.details or "") + " (re-cut)")
        sb.queue_everything()
        resync_seconds, resync_routes, resync_stash, resync_cpu = _drain(sb)
        max_in_flight = sb.plex.max_in_flight
        drain_peak = max(memory.peaks_mb(), default=0.0)

    writes = {k: v for k, v in resync_routes.items() if k.startswith(("PUT", "POST"))}
    unchanged = n - len(changed)
    per_changed: dict[str, Any] = {k: round(v / len(changed), 3) for k, v in resync_routes.items()}
    figures = {
        "scenes": n,
        "plex_latency_ms": args.plex_latency_ms,
        "upload_latency_ms": upload_ms,
        "parallelism": args.parallel,
        "plex_emulator": "own process" if args.plex_process else "threads of the bench process",
        "plex_max_in_flight": max_in_flight,
        "first_sync": {"seconds": round(first_seconds, 2), "scenes_per_s": round(n / first_seconds, 1),
                       "plex_requests": first_routes,
                       "plex_requests_per_scene": round(sum(first_routes.values()) / n, 3),
                       "stash_queries_per_scene": round(first_stash / n, 4),
                       "cpu_seconds": first_cpu, "plugin_cpu_ms_per_scene": round(first_cpu["plugin"] * 1000 / n, 2)},
        "resync_10pct_changed": {
            "seconds": round(resync_seconds, 2), "scenes_per_s": round(n / resync_seconds, 1),
            "changed": len(changed), "unchanged": unchanged, "plex_requests": resync_routes,
            "stash_queries_per_scene": round(resync_stash / n, 4),
            "cpu_seconds": resync_cpu, "plugin_cpu_ms_per_scene": round(resync_cpu["plugin"] * 1000 / n, 2),
            "requests_per_changed_scene": per_changed,
            # Every write belongs to a changed scene when this is 0.
            "writes_per_unchanged_scene": round((sum(writes.values()) - len(changed)) / max(unchanged, 1), 3),
        },
        "drain_peak_rss_mb": drain_peak,
    }
    first = figures["first_sync"]
    print(f"{n} scenes, Plex {args.plex_latency_ms:g} ms per request ({upload_ms:g} ms per upload), parallelism {args.parallel} — "
          f"first sync {first_seconds:.1f}s ({n / first_seconds:.1f} scenes/s, {first['plex_requests_per_scene']} Plex "
          f"requests and {first['stash_queries_per_scene']} Stash queries per scene); "
          f"re-sync with {len(changed)} changed {resync_seconds:.1f}s ({n / resync_seconds:.0f} scenes/s)")
    print(f"CPU seconds, first sync: {first_cpu} ({first['plugin_cpu_ms_per_scene']} ms of plugin CPU per scene); "
          f"re-sync: {resync_cpu}")
    print(f"Stash queries per scene: first sync {first_stash / n:.4f}, re-sync {resync_stash / n:.4f}")
    print(f"re-sync Plex requests: {resync_routes}")
    print(f"drain peak RSS {figures['drain_peak_rss_mb']} MB")
    suffix = f"_plex{args.plex_latency_ms:g}ms" if args.plex_latency_ms or args.upload_latency_ms else ""
    suffix += "_plexprocess" if args.plex_process else ""
    save(f"full_sync_{n}{suffix}_par{args.parallel}", figures)


if __name__ == "__main__":
    main()
