"""``make demo``: PlexSync's main job, end to end, against the local Stash and Plex.

1. Start a sandbox Stash and Plex holding a generated library (Stash sees files under
   /stash/media, Plex under /data/media, and Plex has not scanned a few yet).
2. Configure the plugin in Stash's settings, exactly as a user would.
3. Full sync from Stash's task menu; new files get a Plex scan and are retried.
4. Edit a few scenes in Stash: the save fires the hook, the hook queues the scene
   and asks Stash to run *Process queue*, which writes to Plex.
5. Print Plex before/after and the figures.
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Any

from sandbox.harness import Sandbox
from sandbox.library import SceneSpec

SCENES = 300
WIDTH = 34


def _short(value: Any, width: int = WIDTH) -> str:
    text = ", ".join(value) if isinstance(value, list) else ("" if value is None else str(value))
    text = text.replace("\n", "⏎")
    return text if len(text) <= width else text[: width - 1] + "…"


LABELS = {"title": "title", "studio": "studio", "originallyAvailableAt": "date", "userRating": "rating",
          "genres": "genres", "actors": "actors", "collections": "collections", "poster": "poster"}


def _row(label: str, before: Any, after: Any) -> str:
    return f"  {label:<11} {_short(before):<{WIDTH}}  →  {_short(after)}"


def _wait_visible(sb: Sandbox, scene: SceneSpec, check: Any, timeout: float = 60.0) -> float:
    """Seconds until ``check(plex item)`` holds (the edit is visible in Plex)."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if check(sb.plex_item(scene)):
            return time.perf_counter() - started
        time.sleep(0.01)
    raise TimeoutError(f"scene {scene.stash_id}: edit not visible in Plex after {timeout:.0f}s")


def _snapshot(sb: Sandbox, scene: SceneSpec) -> dict[str, Any]:
    item = sb.plex_item(scene)
    return {k: item.get(k) for k in ("title", "summary", "studio", "originallyAvailableAt", "userRating",
                                      "genres", "actors", "collections")} | {"poster": bool(item.get("poster"))}


def _run_task(sb: Sandbox, name: str, args: dict[str, str] | None = None) -> float:
    assert sb.runner is not None
    started = time.perf_counter()
    result = sb.runner.run_task(name, args or {})
    sb.runner.wait_for_jobs(timeout=300)
    if result.error:
        print(f"  task {name!r} failed: {result.error}")
    return time.perf_counter() - started


def main() -> int:
    """Run the demo; exit code 0 when every expectation held."""
    t0 = time.perf_counter()
    print("PlexSync demo — local Stash and Plex emulators, the real plugin run as Stash runs it\n")
    with Sandbox(scenes=SCENES, seed=7, unscanned_fraction=0.03, duplicate_name_fraction=0.04) as sb:
        world = sb.world
        unscanned = sum(1 for s in world.scenes if not s.scanned)
        print(f"Library: {len(world.scenes)} scenes; Stash paths {world.stash_prefix}/…, Plex paths "
              f"{world.plex_prefix}/… (setting 'Path mappings' = {world.mapping_setting!r}); "
              f"{unscanned} files Plex has not scanned yet.")
        samples = [s for s in world.scenes if s.scanned and not s.bare and s.tags and s.performers][:3]
        before = {s.stash_id: _snapshot(sb, s) for s in samples}

        # Full sync, as from Stash's task menu.
        plugin_tasks = {t.name for t in sb.runner.config.tasks} if sb.runner else set()
        sb.plex.reset_requests()
        if "Reconcile: all scenes" in plugin_tasks:
            seconds = _run_task(sb, "Reconcile: all scenes")
            how = "task 'Reconcile: all scenes' (then 'Process queue')"
        else:
            sb.queue_everything()
            seconds = _run_task(sb, "Process queue")
            how = "every scene queued, task 'Process queue'"
        full_counts = sb.plex.request_counts()
        synced = sum(1 for s in world.scenes if sb.plex_item(s).get("locked"))
        print(f"\nFull sync ({how}): {synced}/{len(world.scenes)} Plex items written in {seconds:.1f}s, "
              f"{sum(full_counts.values())} Plex requests, {len(sb.plex.scan_requests)} partial scans asked.")

        # Edits in Stash: hooks fire, Stash's job queue runs the drain.
        sb.plex.reset_requests()
        new_title = samples[0].title + " (Director's Cut)"
        dropped_tag = sb.stash.scene(samples[1].stash_id)["tags"][0]
        kept_tags = [t["id"] for t in sb.stash.scene(samples[1].stash_id)["tags"][1:]]
        edits = [
            (samples[0], {"title": new_title}, lambda item: item["title"] == new_title),
            (samples[1], {"tag_ids": kept_tags}, lambda item: dropped_tag["name"] not in item["genres"]),
            (samples[2], {"rating100": 95}, lambda item: item["userRating"] == 9.5),
        ]
        hook_times: list[float] = []
        latencies: list[float] = []
        for scene, fields, visible in edits:
            saved = time.perf_counter()
            results = sb.edit(scene, **fields)
            hook_times += [r.wall_time for r in results]
            latencies.append(_wait_visible(sb, scene, visible) + sum(r.wall_time for r in results))
            sb.runner.wait_for_jobs(timeout=120)
        edit_counts = sb.plex.request_counts()

        print("\nPlex before → after (after the full sync, Stash edits: a new title on the first scene, "
              f"tag '{dropped_tag['name']}' removed from the second, rating 95 on the third):")
        for scene in samples:
            after = _snapshot(sb, scene)
            print(f" Scene {scene.stash_id}:")
            for key, label in LABELS.items():
                print(_row(label, before[scene.stash_id][key], after[key]))

        writes = sum(v for (method, _route), v in edit_counts.items() if method in ("PUT", "POST"))
        print("\nFigures:")
        print(f"  hooks: median {statistics.median(hook_times) * 1000:.0f} ms per save (Stash waits for this)")
        print(f"  save → visible in Plex: median {statistics.median(latencies):.2f}s, max {max(latencies):.2f}s")
        print(f"  Plex requests for {len(edits)} edited scenes: {dict(sorted((f'{m} {r}', c) for (m, r), c in edit_counts.items()))}"
              f" ({writes} writes)")
        status = sb.runner.run_task("Status")
        dlq = (status.output or {}).get("dlq", {}) if isinstance(status.output, dict) else {}
        print(f"  dead-letter queue: {dlq or 'empty'}")
        print(f"  total demo time {time.perf_counter() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
