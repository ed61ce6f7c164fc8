"""Helpers for the end-to-end tests: a sandbox (Stash + Plex emulators, a generated
library, the plugin run by the Stash-faithful runner) and ways to act and check on it.

Everything the plugin does runs as Stash runs it: a subprocess per hook or task, the
real plexapi inside, talking HTTP to the emulators. The test process only seeds the
emulators, reads their state back, and looks at the plugin's data folder.
"""

from __future__ import annotations

import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from sandbox.library import SceneSpec, World
from sandbox.plex_server import PlexServer
from sandbox.runner import PluginRunner, RunResult
from sandbox.stash_server import StashServer

ROOT = Path(__file__).resolve().parent.parent
PLUGIN_ID = "plexsync"
UPDATE = "Scene.Update.Post"

#: Task arguments for a drain the test starts itself: short linger, short wait for retries.
QUICK_DRAIN = {"linger": "0.2", "max_wait": "5"}

#: Requests that change something in Plex.
WRITE_ROUTES = {("PUT", "/library/sections/{id}/all"), ("POST", "/library/metadata/{key}/posters"),
                ("PUT", "/library/metadata/{key}/refresh"), ("PUT", "/library/metadata/{key}/poster")}
EDIT = ("PUT", "/library/sections/{id}/all")
POSTER_UPLOAD = ("POST", "/library/metadata/{key}/posters")


@dataclass
class Sandbox:
    """One test's world: emulators, generated library, runner, data folder."""

    stash: StashServer
    plex: PlexServer
    world: World
    runner: PluginRunner
    data_dir: str
    settings: dict[str, Any] = field(default_factory=dict)

    # -- settings -----------------------------------------------------------------------

    def configure(self, **changes: Any) -> None:
        """Change plugin settings as Stash's UI does (``None`` unsets one)."""
        for key, value in changes.items():
            if value is None:
                self.settings.pop(key, None)
            else:
                self.settings[key] = value
        self.stash.set_plugin_settings(PLUGIN_ID, dict(self.settings))

    # -- acting -------------------------------------------------------------------------

    def hook(self, spec: SceneSpec | str | int, input: dict | None = None,
             input_fields: list[str] | None = None) -> list[RunResult]:
        """Fire ``Scene.Update.Post`` for a scene (``input`` = the fields the save sent)."""
        scene_id = int(spec.stash_id if isinstance(spec, SceneSpec) else spec)
        sent = dict(input or {"title": self.stash.scene(scene_id)["title"]})
        fields = input_fields if input_fields is not None else ["id", *sent]
        return self.runner.fire_hook(UPDATE, scene_id, sent, fields)

    def queue_quietly(self, specs: Iterable[SceneSpec], workers: int = 4) -> None:
        """Fire one real hook per scene while holding the drain lock, so the hooks queue
        their jobs but ask Stash for no drain (as when a drain is already running);
        several at once, as Stash runs hooks of concurrent requests."""
        from worker.lock import DrainLock

        specs = list(specs)
        lock = DrainLock(self.data_dir)
        assert lock.acquire(), "a drain is running"
        try:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                results = [r for rs in pool.map(self.hook, specs) for r in rs]
        finally:
            lock.release()
        for result in results:
            assert result.ok and result.output == "queued", (result.error, result.logs)
            assert not result.followups

    def drain(self, **args: str) -> RunResult:
        """Run *Process queue* from the task menu (short linger and retry wait by default)."""
        result = self.runner.run_task("Process queue", {**QUICK_DRAIN, **args})
        assert result.exit_code is not None, result.error
        return result

    def sync(self, specs: Iterable[SceneSpec]) -> RunResult:
        """Queue the scenes through their hooks, then drain once."""
        self.queue_quietly(specs)
        return self.drain()

    # -- editing Stash (and the world's record of it) ------------------------------------

    def entity_id(self, kind: str, name: str) -> str:
        """The id of the studio/performer/tag/group named ``name``, created if missing."""
        with self.stash.store.lock:
            for record in self.stash.store.entities[kind].values():
                if record["name"] == name:
                    return record["id"]
        return getattr(self.stash, f"add_{kind}")(name)

    def edit(self, spec: SceneSpec, **changes: Any) -> dict[str, Any]:
        """Change a scene in Stash and in ``spec`` alike; returns the SceneUpdateInput sent.

        Names are given for links: ``studio``, ``performers``, ``tags``, ``groups``.
        """
        sent: dict[str, Any] = {}
        for key, value in changes.items():
            if key in ("title", "details", "code", "director", "date", "rating100"):
                sent[key] = value
            elif key == "studio":
                sent["studio_id"] = self.entity_id("studio", value) if value else None
            elif key == "performers":
                sent["performer_ids"] = [self.entity_id("performer", n) for n in value]
            elif key == "tags":
                sent["tag_ids"] = [self.entity_id("tag", n) for n in value]
            elif key == "groups":
                sent["groups"] = [{"group_id": self.entity_id("group", n)} for n in value]
            else:
                raise TypeError(f"unknown edit {key!r}")
            setattr(spec, key, value)
        store_changes = dict(sent)
        if "groups" in store_changes:
            store_changes["group_ids"] = [g["group_id"] for g in store_changes.pop("groups")]
        self.stash.update_scene(spec.stash_id, **store_changes)
        return sent

    def save(self, spec: SceneSpec, **changes: Any) -> list[RunResult]:
        """What a user's Save does: edit the scene, then fire its hook with what was sent."""
        sent = self.edit(spec, **changes)
        return self.hook(spec, sent, ["id", *sent])

    # -- reading the plugin's data folder ---------------------------------------------------

    def pending(self) -> list[dict[str, Any]]:
        from worker.queue import pending_jobs

        return list(pending_jobs(self.data_dir))

    def dead_letters(self) -> list[Any]:
        from worker.dlq import DeadLetterQueue

        dlq = DeadLetterQueue(self.data_dir)
        try:
            return dlq.list(limit=10_000)
        finally:
            dlq.close()

    def breaker(self) -> dict[str, Any] | None:
        path = os.path.join(self.data_dir, "circuit_breaker.json")
        if not os.path.exists(path):
            return None
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)

    def writes(self) -> dict[tuple[str, str], int]:
        """Plex requests that change something, by route."""
        return {k: v for k, v in self.plex.request_counts().items() if k in WRITE_ROUTES}


# -- expectations -------------------------------------------------------------------------


def expected(spec: SceneSpec) -> dict[str, Any]:
    """``World.expected_plex`` in the emulator's terms: an empty text is an unset field."""
    want = World.expected_plex(spec)
    for name in ("summary", "studio"):
        want[name] = want[name] or None
    want["directors"] = [spec.director] if spec.director.strip() else []
    return want


def actual(plex: PlexServer, spec: SceneSpec) -> dict[str, Any]:
    """The Plex item of ``spec`` in the same shape as :func:`expected`."""
    item = plex.item(spec.plex_key)
    keys = ("title", "summary", "studio", "originallyAvailableAt", "year", "userRating",
            "genres", "actors", "collections", "directors")
    return {k: item[k] for k in keys}


def mismatches(plex: PlexServer, spec: SceneSpec) -> dict[str, tuple[Any, Any]]:
    """Fields where Plex differs from what ``spec`` says: ``{field: (plex, wanted)}``.

    Genres, collections and directors compare as sets, actors in order, text exactly.
    """
    have, want = actual(plex, spec), expected(spec)
    out = {}
    for key, wanted in want.items():
        got = have[key]
        if key in ("genres", "collections", "directors"):
            same = sorted(got) == sorted(wanted)
        else:
            same = got == wanted
        if not same:
            out[key] = (got, wanted)
    return out


def assert_in_plex(plex: PlexServer, specs: Iterable[SceneSpec]) -> None:
    """Every scene's Plex item shows exactly its Stash metadata."""
    bad = {f"scene {s.stash_id} (#{s.index})": m for s in specs if (m := mismatches(plex, s))}
    assert not bad, f"{len(bad)} scene(s) differ in Plex: {bad}"


def untouched(plex: PlexServer, spec: SceneSpec) -> bool:
    """Whether the item still shows what the Plex agent left (never synced)."""
    item = plex.item(spec.plex_key)
    return item["title"] == spec.plex_title and not item["locked"]


def all_runs(results: Iterable[RunResult]) -> list[RunResult]:
    """The runs and, depth first, every task they queued."""
    out: list[RunResult] = []
    for result in results:
        out.append(result)
        out.extend(all_runs(result.followups))
    return out


def log_text(results: Iterable[RunResult], level: str | None = None) -> str:
    """Every log message of the runs (and their follow-ups), one per line."""
    return "\n".join(m for r in all_runs(results) for m in r.messages(level))


class QueryLog:
    """Every GraphQL document the plugin sent, gathered across tests for the conformance check."""

    def __init__(self) -> None:
        #: document → how many times it was sent
        self.documents: dict[str, int] = {}
        #: requests Stash did not answer with 200 (status, operation name)
        self.failed: list[tuple[int, str | None]] = []
        self._lock = threading.Lock()

    def add(self, stash: StashServer) -> None:
        with self._lock:
            for q in stash.queries:
                if q.get("query"):
                    self.documents[q["query"]] = self.documents.get(q["query"], 0) + 1
                if q.get("status") != 200:
                    self.failed.append((q.get("status"), q.get("operationName")))
            stash.reset_queries()


QUERIES = QueryLog()


def save_title_and_drain(sb: Any, runner: PluginRunner, title: str) -> RunResult:
    """Save ``title`` on the world's first scene as Stash does (its hook queues; Stash runs
    *Process queue* through ``runner``), check both went well and Plex shows the title;
    the drain's run."""
    scene = sb.world.scenes[0]
    sb.stash.update_scene(scene.stash_id, title=title)
    hooks = runner.fire_hook("Scene.Update.Post", int(scene.stash_id), input={"title": "x"})
    assert [h.ok for h in hooks] == [True], [h.stderr for h in hooks]
    assert [r.name for r in runner.task_runs] == ["Process queue"]
    drain = runner.task_runs[0]
    assert drain.ok, (drain.error, drain.logs)
    assert sb.plex_item(scene)["title"] == title
    return drain


def close_sandbox(sandbox: Sandbox) -> None:
    """Stop a test's sandbox, keeping the GraphQL documents its Stash received (``QUERIES``)."""
    QUERIES.add(sandbox.stash)
    sandbox.runner.close()
    sandbox.plex.stop()
    sandbox.stash.stop()
