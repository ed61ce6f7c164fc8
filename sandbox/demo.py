"""``make demo``: PlexSync's main job, end to end, against the local Stash and Plex.

1. Start a sandbox Stash and Plex holding a generated library (Stash sees files under
   /stash/media, Plex under /data/media, and Plex has not scanned a few yet).
2. Configure the plugin in Stash's settings, exactly as a user would.
3. Full sync from Stash's task menu; new files get a Plex scan and are retried.
4. Edit a few scenes in Stash: the save fires the hook, the hook queues the scene
   and asks Stash to run *Process queue*, which writes to Plex.
5. Print each edited scene's Plex item just before the edit and after it: every field
   the edit changed in full (never cut short), the others named as unchanged; then the
   figures.
6. Watch state both ways: a play made in Plex (plexapi's ``markPlayed``) and one added in
   Stash (GraphQL ``sceneAddPlay``), then the task *Sync watch state*: the Plex play is a
   Stash play at Plex's time, the Stash play one more Plex play, and a second pass moves
   nothing back.

Exits non-zero when an expectation fails (every file synced, each edit visible in
Plex and changing nothing else, an empty dead-letter queue, plays moved once each way),
after printing one ``FAILED:`` line per failed expectation.

    python -m sandbox.demo [--scenes N] [--setting key=value ...]

``--setting`` configures the plugin further, as a user would in Stash (e.g.
``--setting skip_title=true``: the title edit then never reaches Plex, and the demo
says so and fails).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
import urllib.request
from datetime import datetime, timezone
from typing import Any

from sandbox.harness import Sandbox
from sandbox.library import SceneSpec

SCENES = 300


def _text(value: Any) -> str:
    """A field's value in full (lists joined, line breaks shown), never cut short."""
    text = ", ".join(value) if isinstance(value, list) else ("" if value is None else str(value))
    return text.replace("\n", "⏎") or "(empty)"


LABELS = {"title": "title", "summary": "summary", "studio": "studio", "originallyAvailableAt": "date",
          "userRating": "rating", "genres": "genres", "actors": "actors", "collections": "collections",
          "poster": "poster"}


def change_lines(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The lines showing what changed between two snapshots of one Plex item (pure): each
    changed field before → after in full (list fields also say what was removed and added),
    then the unchanged fields by name."""
    lines: list[str] = []
    unchanged: list[str] = []
    for key, label in LABELS.items():
        old, new = before.get(key), after.get(key)
        if old == new:
            unchanged.append(label)
            continue
        lines.append(f"  {label:<11} {_text(old)}")
        lines.append(f"  {'':<11} → {_text(new)}")
        if isinstance(old, list) and isinstance(new, list):
            removed = [v for v in old if v not in new]
            added = [v for v in new if v not in old]
            delta = ", ".join([*(f"-{v}" for v in removed), *(f"+{v}" for v in added)])
            if delta:
                lines.append(f"  {'':<11}   ({delta})")
    if not lines:
        lines.append("  (nothing changed)")
    lines.append(f"  unchanged: {', '.join(unchanged)}")
    return lines


def edit_failures(scene_id: str, advertised: str, before: dict[str, Any], after: dict[str, Any],
                  visible: bool) -> list[str]:
    """What went wrong with one advertised edit (pure): it must show in Plex, and change
    only its own field."""
    failures = []
    if not visible:
        failures.append(f"scene {scene_id}: the edit ({advertised}) is not visible in Plex")
    label = {v: k for k, v in LABELS.items()}.get(advertised, advertised)
    others = [LABELS[k] for k in LABELS if k != label and before.get(k) != after.get(k)]
    if others:
        failures.append(f"scene {scene_id}: the edit ({advertised}) also changed {', '.join(others)}")
    return failures


def _wait_visible(sb: Sandbox, scene: SceneSpec, check: Any, timeout: float = 120.0) -> float | None:
    """Seconds until ``check(plex item)`` holds (the edit is visible in Plex); ``None`` if
    it does not once Stash's job queue has run everything the save queued."""
    assert sb.runner is not None
    runner = sb.runner
    idle = threading.Event()

    def wait_idle() -> None:
        try:
            runner.wait_for_jobs(timeout=timeout)
        finally:
            idle.set()

    waiter = threading.Thread(target=wait_idle, daemon=True)
    started = time.perf_counter()
    waiter.start()
    try:
        while time.perf_counter() - started < timeout:
            done = idle.is_set()
            if check(sb.plex_item(scene)):
                return time.perf_counter() - started
            if done:
                return None
            time.sleep(0.01)
        return None
    finally:
        waiter.join(timeout)


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


def _stash_add_play(sb: Sandbox, scene: SceneSpec) -> dict[str, Any]:
    """Record a play in Stash as its player does: GraphQL ``sceneAddPlay`` (no time: now)."""
    body = json.dumps({"query": "mutation ($id: ID!) { sceneAddPlay(id: $id) { count history } }",
                       "variables": {"id": str(scene.stash_id)}}).encode()
    request = urllib.request.Request(sb.stash.graphql_url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", "ApiKey": sb.stash.api_key})
    with urllib.request.urlopen(request, timeout=30) as answer:
        result: dict[str, Any] = json.load(answer)
    if result.get("errors"):
        raise RuntimeError(f"sceneAddPlay failed: {result['errors']}")
    return result["data"]["sceneAddPlay"]


def _stash_plays(sb: Sandbox, scene: SceneSpec) -> list[int]:
    from stash.watch_state import to_epoch

    return sorted(to_epoch(t) for t in sb.stash.scene(scene.stash_id)["play_history"] or ())


def _clock(epoch: int | None) -> str:
    return "-" if epoch is None else datetime.fromtimestamp(epoch, timezone.utc).strftime("%H:%M:%S UTC")


def _watch_pass(sb: Sandbox) -> dict[str, Any]:
    """Run 'Sync watch state' from the task menu; its summary (raises if the task failed)."""
    assert sb.runner is not None
    result = sb.runner.run_task("Sync watch state", {})
    sb.runner.wait_for_jobs(timeout=300)
    if result.error:
        raise RuntimeError(f"task 'Sync watch state' failed: {result.error}")
    summary: dict[str, Any] = (result.output or {}).get("watch_state") or {}
    return summary


def watch_state_act(sb: Sandbox, scenes: list[SceneSpec]) -> list[str]:
    """A play in Plex reaches Stash at Plex's time; a play in Stash reaches Plex; nothing
    echoes back. Prints before/after; returns the expectations that failed."""
    from plexapi.server import PlexServer as PlexAPI

    in_plex, in_stash = scenes
    plex_key, pushed_key = in_plex.plex_key, in_stash.plex_key
    assert plex_key is not None and pushed_key is not None, "both scenes are in Plex"
    failures: list[str] = []
    sb.configure(watch_pull=True, watch_push=True)
    _watch_pass(sb)   # the first pass records where the push starts: older Stash plays are history
    started = time.time()
    before = {"stash": _stash_plays(sb, in_plex), "plex": sb.plex.watch(pushed_key)["viewCount"]}

    # In Plex: a user marks the item played (plexapi, as a Plex client does).
    PlexAPI(sb.plex.url, sb.plex.token).fetchItem(plex_key).markPlayed()
    plex_time = sb.plex.watch(plex_key)["lastViewedAt"]
    # In Stash: the player records a play. Plays from the second the push started are
    # history, so the play waits for the next second.
    time.sleep(max(0.0, int(started) + 1 - time.time()))
    stash_time = _stash_add_play(sb, in_stash)["history"]

    summary = _watch_pass(sb)
    after = {"stash": _stash_plays(sb, in_plex), "plex": sb.plex.watch(pushed_key)["viewCount"]}
    echo = _watch_pass(sb)
    settled = {"stash": _stash_plays(sb, in_plex), "plex": sb.plex.watch(pushed_key)["viewCount"]}

    print("\nWatch state both ways ('Bring Plex plays into Stash' and 'Send Stash plays to Plex' ticked, "
          "task 'Sync watch state'):")
    print(f" Scene {in_plex.stash_id}: played in Plex (plexapi markPlayed) at {_clock(plex_time)}")
    print(f"  Stash plays {len(before['stash']):<3} →  {len(after['stash'])} (last at "
          f"{_clock(after['stash'][-1] if after['stash'] else None)})")
    print(f" Scene {in_stash.stash_id}: played in Stash (sceneAddPlay, history {stash_time[:1]})")
    print(f"  Plex plays  {before['plex']:<3} →  {after['plex']}")
    print(f"  pass: {summary.get('summary')}")
    print(f"  next pass: {echo.get('plays_into_stash')} plays into Stash, {echo.get('plays_to_plex')} to Plex")

    if after["stash"] != sorted(before["stash"] + [plex_time]):
        failures.append(f"scene {in_plex.stash_id}: Stash plays {after['stash']}, expected "
                        f"{sorted(before['stash'] + [plex_time])} (the Plex play at Plex's time)")
    if after["plex"] != before["plex"] + 1:
        failures.append(f"scene {in_stash.stash_id}: Plex viewCount {before['plex']} → {after['plex']}, expected +1")
    if settled != after or echo.get("plays_into_stash") or echo.get("plays_to_plex"):
        failures.append(f"a second pass moved plays: {echo.get('summary')}")
    return failures


def _setting(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    words = {"true": True, "false": False}
    return key.strip(), words.get(value.strip().lower(), value.strip())


def main(argv: list[str] | None = None) -> int:
    """Run the demo; exit code 0 when every expectation held, 1 otherwise."""
    parser = argparse.ArgumentParser(prog="python -m sandbox.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenes", type=int, default=SCENES, help=f"library size (default {SCENES})")
    parser.add_argument("--setting", type=_setting, action="append", default=[], metavar="KEY=VALUE",
                        help="a further plugin setting (its key as in plexsync.yml)")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    failures: list[str] = []
    print("PlexSync demo — local Stash and Plex emulators, the real plugin run as Stash runs it\n")
    with Sandbox(scenes=args.scenes, seed=7, unscanned_fraction=0.03, duplicate_name_fraction=0.04,
                 settings=dict(args.setting)) as sb:
        assert sb.runner is not None
        world = sb.world
        unscanned = sum(1 for s in world.scenes if not s.scanned)
        print(f"Library: {len(world.scenes)} scenes; Stash paths {world.stash_prefix}/…, Plex paths "
              f"{world.plex_prefix}/… (setting 'Path mappings' = {world.mapping_setting!r}); "
              f"{unscanned} files Plex has not scanned yet.")
        if args.setting:
            print(f"Further settings: {dict(args.setting)}")

        # Full sync, as from Stash's task menu.
        plugin_tasks = {t.name for t in sb.runner.config.tasks}
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
        if synced != len(world.scenes):
            failures.append(f"full sync: {synced} of {len(world.scenes)} Plex items written")

        # Edits in Stash: hooks fire, Stash's job queue runs the drain. "Before" is the
        # Plex item just before its edit (after the full sync).
        samples = [s for s in world.scenes if s.scanned and not s.bare and s.tags and s.performers][:3]
        sb.plex.reset_requests()
        new_title = samples[0].title + " (Director's Cut)"
        dropped_tag = sb.stash.scene(samples[1].stash_id)["tags"][0]
        kept_tags = [t["id"] for t in sb.stash.scene(samples[1].stash_id)["tags"][1:]]
        edits = [
            (samples[0], "title", f"title '{new_title}'", {"title": new_title},
             lambda item: item["title"] == new_title),
            (samples[1], "genres", f"tag '{dropped_tag['name']}' removed", {"tag_ids": kept_tags},
             lambda item: dropped_tag["name"] not in item["genres"]),
            (samples[2], "rating", "rating 95", {"rating100": 95}, lambda item: item["userRating"] == 9.5),
        ]
        hook_times: list[float] = []
        latencies: list[float] = []
        shown: list[tuple[SceneSpec, str, dict[str, Any], dict[str, Any]]] = []
        for scene, field, what, fields, visible in edits:
            before = _snapshot(sb, scene)
            results = sb.edit(scene, **fields)
            hook_times += [r.wall_time for r in results]
            seen = _wait_visible(sb, scene, visible)
            after = _snapshot(sb, scene)
            if seen is not None:
                latencies.append(seen + sum(r.wall_time for r in results))
            failures += edit_failures(scene.stash_id, field, before, after, seen is not None)
            shown.append((scene, what, before, after))
        edit_counts = sb.plex.request_counts()

        print("\nPlex just before → after each Stash edit:")
        for scene, what, before, after in shown:
            print(f" Scene {scene.stash_id} ({what}):")
            for line in change_lines(before, after):
                print(line)

        writes = sum(v for (method, _route), v in edit_counts.items() if method in ("PUT", "POST"))
        print("\nFigures:")
        print(f"  hooks: median {statistics.median(hook_times) * 1000:.0f} ms per save (Stash waits for this)")
        if latencies:
            print(f"  save → visible in Plex: median {statistics.median(latencies):.2f}s, max {max(latencies):.2f}s")
        print(f"  Plex requests for {len(edits)} edited scenes: {dict(sorted((f'{m} {r}', c) for (m, r), c in edit_counts.items()))}"
              f" ({writes} writes)")
        status = sb.runner.run_task("Status")
        dlq = (status.output or {}).get("dlq", {}) if isinstance(status.output, dict) else {}
        print(f"  dead-letter queue: {dlq or 'empty'}")
        if not status.ok:
            failures.append(f"task 'Status' failed: {status.error}")
        elif dlq:
            failures.append(f"the dead-letter queue holds {dlq}")

        played = [s for s in world.scenes if s.scanned and s not in samples and sb.plex_item(s).get("locked")][:2]
        if len(played) == 2:
            failures += watch_state_act(sb, played)
        else:
            failures.append("fewer than two synced scenes left for the watch-state act")
        print(f"\ntotal demo time {time.perf_counter() - t0:.1f}s")
    for failure in failures:
        print(f"FAILED: {failure}")
    if not failures:
        print("Every expectation held.")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
