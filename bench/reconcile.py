"""Reconcile at library scale: N Stash scenes against N Plex items.

Usage::

    python -m bench.reconcile --scenes 10000
    python -m bench.reconcile --scenes 100000 [--plex-process]

Three processes, so each number means one thing:

* a **server** process holds both emulators (the Stash GraphQL emulator and the Plex
  emulator) loaded with N generated scenes and N matching Plex items, and times how
  long each emulator spends answering; with ``--plex-process`` the Plex emulator runs
  in a process of its own (``sandbox/plex_process.py``), as a real Plex is a program
  apart from Stash, and its busy time is that process's CPU time;
* each measured reconcile runs in a fresh **run** process (``reconcile()`` in-process
  there, as the plugin task runs it), so its peak RSS is the reconcile's alone;
* this **driver** process seeds the sync state between runs and writes the results.

The runs, in order:

1. ``cold``: ``reconcile("all")`` on an empty data folder: every scene is never
   synced and is queued (the first reconcile after installing); the queue is then
   emptied;
2. the driver simulates a finished full sync: it records, for every scene, the
   fingerprint a sync would have stored (the Plex items already show the metadata);
3. ``steady``: ``reconcile("all")``: everything in step, nothing queued (the target:
   100,000 scenes in at most 120 s and 300 MB peak RSS);
4. 1 % of the scenes are edited in Stash and 0.1 % of the items in Plex, then
   ``changed``: ``reconcile("changed")`` reads only the edited scenes;
5. ``all``: ``reconcile("all")`` finds the Plex edits too (the Stash edits are
   already queued).

Results print as a table and go to ``bench/results/reconcile_<N>.json``: wall time,
scenes/s, peak RSS, Plex requests by route, what was queued, and the time the
emulators spent answering and the reconcile's own CPU time, so its own work is read
apart from the emulators' (the emulators share one process and this machine's two
cores with the reconcile).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import peak_rss_mb, routes, save

ROOT = Path(__file__).resolve().parent.parent
STASH_PREFIX = "/stash/media"
PLEX_PREFIX = "/plex/media"
EDITED_FRACTION = 0.01
DRIFTED_FRACTION = 0.001

WORDS = ["Harbor", "Lantern", "Orchard", "Canyon", "River", "Meadow", "Comet", "Falcon", "Garden", "Island",
         "Mirror", "Prairie", "Summit", "Tide", "Valley", "Willow", "Ember", "Forest", "Horizon", "Atlas",
         "Café", "Ночь", "東京", "Rock & Roll", "“Quoted”", "O'Brien"]
SENTENCES = ["A warm afternoon turns into something unexpected.", "Filmed on location — no retakes.",
             "Ella dit « bonjour » et tout commence.", "Она улыбается и закрывает дверь.", "二人は駅で再会する。",
             "Tom & Jerry's café, 3 a.m.", "Includes bonus footage 🎥 and interviews."]


# ------------------------------------------------------------------------ the server process


def _library(n: int, seed: int) -> tuple[dict[str, list[str]], list[dict[str, Any]]]:
    """Entity names and N scenes (as ``StashServer.add_scenes`` specs, with names for links)."""
    rng = random.Random(seed)
    names = {
        "studio": [f"{rng.choice(WORDS)} {w} Studios {i}" for i, w in enumerate(WORDS * 8)][: max(20, n // 500)],
        "performer": [f"{rng.choice(WORDS)} Performer {i}" for i in range(max(50, n // 20))],
        "tag": [f"{rng.choice(WORDS)} Tag {i}" for i in range(max(30, min(400, n // 100)))],
    }
    scenes = []
    for i in range(n):
        studio = rng.choice(names["studio"]) if rng.random() < 0.9 else None
        year = rng.randint(1990, 2024)
        date = f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}" if rng.random() < 0.92 else None
        folder = (studio or "Unsorted").replace("/", "-")
        scenes.append({
            "title": f"{rng.choice(WORDS)} {rng.choice(WORDS)} #{i}",
            "details": " ".join(rng.sample(SENTENCES, rng.randint(0, 3))),
            "date": date,
            "rating100": rng.choice([None, 20, 40, 60, 80, 100, rng.randint(1, 100)]),
            "studio": studio,
            "performers": rng.sample(names["performer"], rng.choice([0, 1, 1, 2, 2, 3])),
            "tags": rng.sample(names["tag"], rng.choice([0, 1, 2, 3, 4, 6])),
            "code": f"ABC-{i}" if rng.random() < 0.3 else "",
            "director": "",
            "files": [f"{STASH_PREFIX}/{folder}/{date[:4] if date else 'undated'}/scene_{i:06d}.mp4"],
        })
    return names, scenes


def _plex_fields(scene: dict[str, Any], config: Any) -> dict[str, Any]:
    """The Plex item as a finished sync leaves it (scalars from the project's own mapping)."""
    from worker.mapping import desired_metadata

    view = {"title": scene["title"], "details": scene["details"], "date": scene["date"],
            "rating100": scene["rating100"], "code": scene["code"], "director": "",
            "studio": {"name": scene["studio"]} if scene["studio"] else None,
            "tags": [{"name": t} for t in scene["tags"]], "performers": [{"name": p} for p in scene["performers"]]}
    desired = desired_metadata(view, config)
    fields = {k: v for k, v in desired.scalars.items() if v}
    fields["genres"] = list(desired.tags.get("genre", ()))
    fields["actors"] = list(desired.tags.get("actor", ()))
    fields["collections"] = list(desired.tags.get("collection", ()))
    return fields


def serve(n: int, seed: int, plex_process: bool = False) -> None:
    """The server process: build, print where to connect, then obey commands on stdin."""
    from sandbox.plex_process import PlexProcess
    from sandbox.plex_server import PlexServer
    from sandbox.stash_server import StashServer
    from validation.config import PlexSyncConfig

    started = time.perf_counter()
    stash = StashServer()
    plex: Any = PlexProcess() if plex_process else PlexServer()
    busy = {"stash": 0.0, "plex": 0.0}
    plex_cpu_at_reset = 0.0
    _time_calls(stash.executor, "run", busy, "stash")
    if not plex_process:
        _time_calls(plex, "_handle", busy, "plex")
    # Scenes were last updated a minute apart, the newest two days ago: edits made
    # now are "changed", and few scenes fall in the overlap before the cursor.
    newest = datetime.now(stash.tz) - timedelta(days=2)
    names, scenes = _library(n, seed)
    ids = {kind: {name: getattr(stash, f"add_{kind}")(name) for name in pool} for kind, pool in names.items()}
    scene_ids = stash.add_scenes(
        {"title": s["title"], "details": s["details"], "date": s["date"], "rating100": s["rating100"],
         "code": s["code"], "files": s["files"], "created_at": newest - timedelta(minutes=n - i),
         "updated_at": newest - timedelta(minutes=n - i),
         "studio_id": ids["studio"][s["studio"]] if s["studio"] else None,
         "performer_ids": [ids["performer"][p] for p in s["performers"]],
         "tag_ids": [ids["tag"][t] for t in s["tags"]]} for i, s in enumerate(scenes))
    config = PlexSyncConfig(plex_url="http://127.0.0.1:1", plex_token="x" * 20)
    section = plex.add_section("Movies", [PLEX_PREFIX])
    keys = plex.add_items(section, ({"title": s["title"], "files": [PLEX_PREFIX + s["files"][0][len(STASH_PREFIX):]],
                                     **_plex_fields(s, config)} for s in scenes))
    del scenes
    stash.start()
    plex.start()
    print(json.dumps({"stash_port": stash.port, "stash_api_key": stash.api_key, "plex_url": plex.url,
                      "plex_token": plex.token, "section": section, "build_s": time.perf_counter() - started,
                      "rss_mb": peak_rss_mb()}), flush=True)
    rng = random.Random(seed + 1)
    for line in sys.stdin:
        command, _, arg = line.strip().partition(" ")
        if command == "reset":
            plex.reset_requests()
            busy.update(stash=0.0, plex=0.0)
            plex_cpu_at_reset = plex.cpu_seconds() if plex_process else 0.0
            reply: Any = "ok"
        elif command == "counts":
            if plex_process:
                busy["plex"] = plex.cpu_seconds() - plex_cpu_at_reset
            reply = {"plex_requests": routes(plex.request_counts()), "busy_s": dict(busy)}
        elif command == "edit_stash":        # edit some scenes in Stash (updated_at moves)
            chosen = rng.sample(scene_ids, int(arg))
            for sid in chosen:
                stash.update_scene(sid, details=f"Edited for the bench at {time.time()}")
            reply = sorted(int(s) for s in chosen)
        elif command == "pick_items":        # items for the driver to edit in Plex: [scene id, key]
            reply = [[int(scene_ids[i]), keys[i]] for i in rng.sample(range(n), int(arg))]
        elif command == "quit":
            break
        else:
            reply = f"unknown command {command!r}"
        print(json.dumps(reply), flush=True)
    plex.stop()
    stash.stop()


def _time_calls(owner: Any, name: str, busy: dict[str, float], key: str) -> None:
    original = getattr(owner, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            busy[key] += time.perf_counter() - began

    setattr(owner, name, timed)


# --------------------------------------------------------------------------- the run process


def _config(servers: dict[str, Any]) -> Any:
    from validation.config import PlexSyncConfig

    return PlexSyncConfig(plex_url=servers["plex_url"], plex_token=servers["plex_token"],
                          path_mappings=f"{STASH_PREFIX} => {PLEX_PREFIX}", read_timeout=300.0)


def _stash(servers: dict[str, Any]) -> Any:
    from stash.client import StashClient, StashConnection

    return StashClient(StashConnection(port=servers["stash_port"], api_key=servers["stash_api_key"]), timeout=300.0)


def run_once(scope: str, data_dir: str, servers: dict[str, Any]) -> dict[str, Any]:
    """The run process: one reconcile, in-process; its own peak RSS."""
    from plex.client import PlexConnection
    from reconciliation.reconcile import reconcile
    from shared.log import set_verbose

    set_verbose(False)
    rss_before = peak_rss_mb()
    config = _config(servers)
    plex = PlexConnection(config)
    plex.server()  # the handshake (GET /) is not part of the reconcile
    cpu_before = _cpu_s()
    began = time.perf_counter()
    summary = reconcile(scope, stash=_stash(servers), config=config, data_dir=data_dir, plex=plex)
    wall = time.perf_counter() - began
    cpu = _cpu_s() - cpu_before
    plex.close()
    return {"scope": scope, "wall_s": wall, "scenes_per_s": summary.scanned / wall if wall else 0.0,
            "cpu_s": cpu, "peak_rss_mb": peak_rss_mb(), "rss_after_imports_mb": rss_before,
            "summary": summary.as_dict()}


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ------------------------------------------------------------------------------- the driver


class Servers:
    """The server process, spoken to line by line."""

    def __init__(self, n: int, seed: int, plex_process: bool = False) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.reconcile", "--serve", "--scenes", str(n),
                                      "--seed", str(seed), *(["--plex-process"] if plex_process else [])],
                                     cwd=ROOT, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=_env())
        self.info = json.loads(self.proc.stdout.readline())

    def ask(self, command: str) -> Any:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def measure(servers: Servers, scope: str, data_dir: str) -> dict[str, Any]:
    """One reconcile in a fresh process, with the emulators' request counts and busy time."""
    servers.ask("reset")
    proc = subprocess.run([sys.executable, "-m", "bench.reconcile", "--run", scope, "--data-dir", data_dir,
                           "--servers", json.dumps(servers.info)], cwd=ROOT, capture_output=True, text=True,
                          env=_env())
    if proc.returncode != 0:
        raise SystemExit(f"the {scope} run failed:\n{proc.stderr[-4000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result.update(servers.ask("counts"))
    return result


def seed_sync_state(servers: Servers, data_dir: str) -> float:
    """Record what a finished full sync would have: each scene's item and fingerprint."""
    from plex.path_index import PathIndex
    from plex.paths import mapped_files
    from reconciliation.compare import sync_fingerprint
    from plex.path_index import index_signature
    from shared.sqlite import transaction
    from worker.mapping import desired_metadata
    from worker.sync_state import SyncRecord, SyncState

    began = time.perf_counter()
    config = _config(servers.info)
    index = PathIndex(data_dir, case_insensitive=False, signature=index_signature(config))
    state = SyncState(data_dir)
    try:
        with transaction(state._conn):  # one transaction for N records (bench-only shortcut)
            for scene in _stash(servers.info).iter_scenes(per_page=1000):
                wanted = mapped_files([f["path"] for f in scene["files"]], config.path_mappings)
                [part] = index.lookup(wanted[0])
                desired = desired_metadata(scene, config)
                state.put(SyncRecord(int(scene["id"]), part.rating_key,
                                     sync_fingerprint(desired, "bench-poster", config.lock_fields), "bench-poster"))
    finally:
        index.close()
        state.close()
    return time.perf_counter() - began


def edit_in_plex(servers: Servers, keys: list[int]) -> None:
    """A Plex user retitles these items (through Plex's API, as Plex Web does)."""
    from plex.client import PlexConnection

    plex = PlexConnection(_config(servers.info))
    try:
        for key in keys:
            plex.edit(str(servers.info["section"]), str(key), {"title.value": "Edited in Plex", "title.locked": 1})
    finally:
        plex.close()


def _empty_queue(data_dir: str) -> None:
    shutil.rmtree(os.path.join(data_dir, "queue"), ignore_errors=True)


def _row(name: str, r: dict[str, Any]) -> str:
    s = r["summary"]
    enq = ", ".join(f"{k} {v}" for k, v in s["enqueued"].items()) or "-"
    plex = ", ".join(f"{k.split(' ', 1)[1]} ×{v}" for k, v in r["plex_requests"].items())
    t = s["timings"]
    return (f"{name:7} {r['wall_s']:7.1f}s {r['scenes_per_s']:9.0f}/s {r['peak_rss_mb']:7.0f} MB  "
            f"scanned {s['scanned']:>6}  in sync {s['in_sync']:>6}  queued: {enq}\n"
            f"{'':8}reconcile CPU {r['cpu_s']:.1f}s; emulators busy: Plex {r['busy_s']['plex']:.1f}s, "
            f"Stash {r['busy_s']['stash']:.1f}s; phases: Plex listing {t.get('plex_listing', 0):.1f}s, "
            f"then compare {t.get('compare', 0):.1f}s + waiting for Stash {t.get('stash_wait', 0):.1f}s\n"
            f"{'':8}Plex requests: {plex}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Reconcile benchmark (see the module docstring)")
    parser.add_argument("--scenes", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--run", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    parser.add_argument("--servers", help=argparse.SUPPRESS)
    parser.add_argument("--plex-process", action="store_true",
                        help="run the Plex emulator in a process of its own instead of beside Stash's")
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.scenes, args.seed, args.plex_process)
        return 0
    if args.run:
        print(json.dumps(run_once(args.run, args.data_dir, json.loads(args.servers))))
        return 0

    n = args.scenes
    print(f"Building {n} Stash scenes and {n} Plex items…", flush=True)
    servers = Servers(n, args.seed, args.plex_process)
    data_dir = tempfile.mkdtemp(prefix="plexsync-bench-")
    suffix = " --plex-process" if args.plex_process else ""
    results: dict[str, Any] = {
        "scenes": n, "command": f"python -m bench.reconcile --scenes {n}{suffix}",
        "plex_emulator": "own process (busy_s.plex: its CPU seconds)" if args.plex_process else "beside Stash's",
        "emulators": {"build_s": servers.info["build_s"], "rss_mb": servers.info["rss_mb"]},
        "runs": {},
    }
    try:
        results["runs"]["cold"] = cold = measure(servers, "all", data_dir)
        print(_row("cold", cold), flush=True)
        _empty_queue(data_dir)
        results["seed_state_s"] = seed_sync_state(servers, data_dir)
        results["runs"]["steady"] = steady = measure(servers, "all", data_dir)
        print(_row("steady", steady), flush=True)
        edited = servers.ask(f"edit_stash {max(1, int(n * EDITED_FRACTION))}")
        drifted = servers.ask(f"pick_items {max(1, int(n * DRIFTED_FRACTION))}")
        edit_in_plex(servers, [key for _, key in drifted])
        results["edits"] = {"stash": len(edited), "plex": len(drifted)}
        results["runs"]["changed"] = changed = measure(servers, "changed", data_dir)
        print(_row("changed", changed), flush=True)
        results["runs"]["all"] = full = measure(servers, "all", data_dir)
        print(_row("all", full), flush=True)
    finally:
        servers.close()
        shutil.rmtree(data_dir, ignore_errors=True)

    ok = steady["summary"]["in_sync"] == n and steady["summary"]["enqueued_total"] == 0
    results["checks"] = {
        "steady_state_all_in_sync": ok,
        "changed_found_the_stash_edits": changed["summary"]["enqueued"] == {"changed_in_stash": len(edited)},
        "all_found_the_plex_edits": full["summary"]["enqueued"] == {
            "drifted_in_plex": len({scene for scene, _ in drifted} - set(edited))},
        "target_100k_120s_300mb": {"wall_s": steady["wall_s"], "peak_rss_mb": steady["peak_rss_mb"]},
    }
    print(f"checks: {json.dumps(results['checks'])}")
    save(f"reconcile_{n}" + ("_plexprocess" if args.plex_process else ""), results)
    return 0 if all(v for k, v in results["checks"].items() if isinstance(v, bool)) else 1


if __name__ == "__main__":
    sys.exit(main())
