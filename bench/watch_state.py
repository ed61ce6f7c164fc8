"""Watch state at scale: N Plex plays into Stash, then 100 new ones, then M Stash plays to Plex.

    python -m bench.watch_state --plays 100000 [--scenes 2000] [--new-plays 100] [--stash-plays 100]

Syncs ``--scenes`` scenes first through *Process queue* (so every Plex item is matched
to its scene by the sync state, as in use), seeds the Plex emulator with ``--plays``
history entries of the token's own account spread at random over those items (one a
minute, oldest first, all in the past), ticks 'Bring Plex plays into Stash' and runs the
task *Sync watch state* through the runner (the plugin as a subprocess, real plexapi,
the sandbox servers). Then:

* **incremental pull**: ``--new-plays`` more plays in Plex, the task again;
* **push start**: 'Send Stash plays to Plex' ticked, the task again (it records the push
  start point: Stash plays from before it are history, never sent);
* **push**: ``--stash-plays`` plays added in Stash (one per scene, after the start
  point), the task again: each must become one scrobble;
* **quiet**: the task once more with nothing new: nothing may be written either way
  (the scrobbles' history entries are known as the plugin's own, not pulled back).

Per pass: wall time (task start to Stash's job queue empty), Plex requests by route,
Stash requests by GraphQL operation, what the pass reports, and the peak RSS of the
plugin processes it ran (each wrapped in a tiny launcher that records its child's
``ru_maxrss``, so the sync's own drain is not mixed in). Exits non-zero when a count is
not what it must be (N and 100 plays into Stash, M to Plex, nothing on the quiet pass).
Saves ``bench/results/watch_state_<N>.json``.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from collections import Counter
from typing import Any

from bench.common import PluginMemory, routes, save
from sandbox.harness import Sandbox

_OPERATION = re.compile(r"^\s*(?:query|mutation)\s+(\w+)")
def _operations(queries: list[dict]) -> dict[str, int]:
    """Stash requests by GraphQL operation name."""
    names: Counter[str] = Counter()
    for query in queries:
        match = _OPERATION.match(query.get("query") or "")
        names[match.group(1) if match else "(unnamed)"] += 1
    return dict(sorted(names.items()))


class Bench:
    """The sandbox plus per-pass measuring."""

    def __init__(self, sb: Sandbox) -> None:
        assert sb.runner is not None
        self.sb = sb
        self.runner = sb.runner
        self.memory = PluginMemory(self.runner, sb.root)
        self.runner.timeout = 3600.0

    def run(self, task: str, args: dict[str, str] | None = None) -> dict[str, Any]:
        """Run ``task`` and whatever it queues; its figures."""
        self.sb.plex.reset_requests()
        self.sb.stash.reset_queries()
        self.memory.peaks_mb()   # earlier processes' peaks are not this pass's
        started = time.perf_counter()
        result = self.runner.run_task(task, args or {})
        self.runner.wait_for_jobs(timeout=3600)
        seconds = time.perf_counter() - started
        if result.error:
            raise RuntimeError(f"task {task!r} failed: {result.error}")
        peaks = self.memory.peaks_mb()
        plex = routes(self.sb.plex.request_counts())
        stash = _operations(list(self.sb.stash.queries))
        output = result.output if isinstance(result.output, dict) else {}
        return {"seconds": round(seconds, 2), "plugin_processes": len(peaks),
                "peak_rss_mb": max(peaks, default=0.0),
                "plex_requests": plex, "plex_requests_total": sum(plex.values()),
                "stash_requests": stash, "stash_requests_total": sum(stash.values()),
                "reported": output.get("watch_state", {})}

    def stash_plays(self) -> int:
        """Plays Stash holds over every scene."""
        return sum(len(self.sb.stash.scene(s.stash_id)["play_history"] or ()) for s in self.sb.world.scenes)

    def plex_view_count(self, keys: list[int]) -> int:
        return sum(self.sb.plex.watch(k)["viewCount"] for k in keys)


def _line(name: str, figures: dict[str, Any], extra: str = "") -> None:
    print(f"{name}: {figures['seconds']:.1f}s, peak RSS {figures['peak_rss_mb']} MB, "
          f"{figures['plex_requests_total']} Plex requests {figures['plex_requests']}, "
          f"{figures['stash_requests_total']} Stash requests {figures['stash_requests']}{extra}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plays", type=int, default=100_000, help="Plex history entries seeded")
    parser.add_argument("--scenes", type=int, default=2000, help="scenes synced (the items the plays are on)")
    parser.add_argument("--new-plays", type=int, default=100, help="Plex plays added for the incremental pull")
    parser.add_argument("--stash-plays", type=int, default=100, help="Stash plays added for the push")
    args = parser.parse_args()
    n = args.plays
    failures: list[str] = []
    with Sandbox(scenes=args.scenes, seed=13, job_queue="sync") as sb:
        bench = Bench(sb)
        sb.queue_everything()
        sync = bench.run("Process queue", {"linger": "0.1", "max_wait": "0.1"})
        from worker.sync_state import SyncState

        state = SyncState(str(sb.data_dir))
        try:
            matched = {int(r.rating_key): r.scene_id for r in state.all()}
        finally:
            state.close()
        keys = sorted(matched)
        print(f"sync of {args.scenes} scenes: {sync['seconds']:.1f}s, {len(keys)} Plex items matched to scenes")

        rng = random.Random(11)
        now = int(time.time())
        step = 60
        start = now - (n + args.new_plays) * step - 86_400
        sb.plex.add_plays([(rng.choice(keys), 1, start + i * step) for i in range(n)])
        sb.configure(watch_pull=True)
        before = bench.stash_plays()
        first = bench.run("Sync watch state", {"linger": "0"})
        first["plays_added_to_stash"] = bench.stash_plays() - before
        _line(f"first pull of {n} Plex plays", first, f", {first['plays_added_to_stash']} plays added to Stash")
        if first["plays_added_to_stash"] != n:
            failures.append(f"first pull added {first['plays_added_to_stash']} plays, not {n}")

        later = start + n * step
        sb.plex.add_plays([(rng.choice(keys), 1, later + i * step) for i in range(args.new_plays)])
        before = bench.stash_plays()
        incremental = bench.run("Sync watch state", {"linger": "0"})
        incremental["plays_added_to_stash"] = bench.stash_plays() - before
        _line(f"incremental pull of {args.new_plays} new Plex plays", incremental,
              f", {incremental['plays_added_to_stash']} plays added to Stash")
        if incremental["plays_added_to_stash"] != args.new_plays:
            failures.append(f"incremental pull added {incremental['plays_added_to_stash']}, not {args.new_plays}")

        sb.configure(watch_push=True)
        push_start = bench.run("Sync watch state", {"linger": "0"})
        _line("push start point (both ways on, nothing new)", push_start,
              f", reported {push_start['reported'].get('plays_to_plex')} plays to Plex")
        if push_start["reported"].get("plays_to_plex") or push_start["reported"].get("plays_into_stash"):
            failures.append(f"the push start pass wrote plays: {push_start['reported'].get('summary')}")

        pushed = rng.sample(keys, min(args.stash_plays, len(keys)))
        played_at = int(time.time()) + 10     # after the push start point (Stash keeps the times given)
        counts_before = bench.plex_view_count(pushed)
        for key in pushed:
            sb.stash.add_plays(matched[key], [played_at])
        push = bench.run("Sync watch state", {"linger": "0"})
        push["scrobbles"] = bench.plex_view_count(pushed) - counts_before
        _line(f"push of {len(pushed)} Stash plays", push, f", {push['scrobbles']} scrobbles in Plex")
        if push["scrobbles"] != len(pushed):
            failures.append(f"push made {push['scrobbles']} scrobbles, not {len(pushed)}")

        before = bench.stash_plays()
        quiet = bench.run("Sync watch state", {"linger": "0"})
        quiet["plays_added_to_stash"] = bench.stash_plays() - before
        _line("quiet pass (nothing new)", quiet,
              f", {quiet['plays_added_to_stash']} plays added to Stash, "
              f"{quiet['reported'].get('plays_to_plex')} to Plex")
        if quiet["plays_added_to_stash"] or quiet["reported"].get("plays_to_plex"):
            failures.append(f"the quiet pass wrote plays: {quiet['reported'].get('summary')}")
        history_rows = len(sb.plex.history(1))

    figures = {"plex_plays": n, "scenes": args.scenes, "matched_items": len(keys),
               "plex_history_rows_at_end": history_rows, "scene_sync": {"seconds": sync["seconds"]},
               "first_pull": first, "incremental_pull": incremental, "push_start": push_start,
               "push": push, "quiet": quiet, "failures": failures}
    save(f"watch_state_{n}", figures)
    for failure in failures:
        print(f"FAILED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
