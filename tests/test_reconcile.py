"""reconciliation/reconcile.py and compare.py, against the real Stash and Plex emulators.

Each test loads a generated world (stress names, paths that need a mapping), brings
it in step with a real full sync (``SceneSync`` over every scene), then changes
things behind PlexSync's back: an edit made in Plex, a tag renamed in Stash (no
hook, no ``updated_at`` bump), a Plex item removed or re-added, a scene Plex has not
scanned. A reconcile must find exactly those, by reason, with no Plex request but
the section listing. The last tests run the *Reconcile* tasks through the runner.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from plex.client import PlexConnection
from plex.exceptions import PlexUnreachable
from plex.matcher import StashFile, choose_by_name
from plex.path_index import IndexedPart, PathIndex, index_signature
from reconciliation import compare
from reconciliation.compare import (
    CHANGED_IN_STASH, DRIFT_MARK, DRIFTED_IN_PLEX, MISSING_IN_PLEX, MOVED_IN_PLEX, NEVER_SYNCED,
    drifted_fields, judge, listing_digest, sync_fingerprint,
)
from reconciliation.reconcile import cursor_filter, reconcile
from reconciliation.state import STATE_FILE, read_state
from reconciliation.summary import ReconcileSummary
from sandbox.library import World, generate
from sandbox.plex_server import PlexServer
from sandbox.runner import PluginRunner
from sandbox.stash_server import StashServer
from shared.datadir import ensure_private_dir
from stash.client import StashClient, StashConnection
from validation.config import PlexSyncConfig
from worker.dlq import DeadLetterQueue
from worker.drain import run_drain
from worker.jobs import new_job
from worker.mapping import desired_metadata
from worker.queue import enqueue, pending_jobs
from worker.sync import SceneSync
from worker.sync_state import SyncRecord, SyncState

from tests.conftest import ROOT

LISTING_ROUTES = {("GET", "/library/sections"), ("GET", "/library/sections/{id}/all")}
SCAN = ("GET", "/library/sections/{id}/refresh")
HOURS_AGO = 3


# ----------------------------------------------------------------------------- the world


@dataclass
class Env:
    """Emulators holding a generated world, a config and client for them, a data folder."""

    stash: StashServer
    plex: PlexServer
    world: World
    config: PlexSyncConfig
    client: StashClient
    data_dir: str

    def with_config(self, **changes: Any) -> "Env":
        values = {"plex_url": self.plex.url, "plex_token": self.plex.token,
                  "path_mappings": self.world.mapping_setting, "read_timeout": 10.0, **changes}
        return replace(self, config=PlexSyncConfig(**values))

    def connection(self) -> PlexConnection:
        """A Plex connection already past plexapi's handshake (``GET /``), requests reset."""
        plex = PlexConnection(self.config)
        plex.server()
        self.plex.reset_requests()
        return plex

    def reconcile(self, scope: str, **kwargs: Any) -> ReconcileSummary:
        plex = self.connection()
        try:
            return reconcile(scope, stash=self.client, config=self.config, data_dir=self.data_dir, plex=plex,
                             **kwargs)
        finally:
            plex.close()

    def full_sync(self) -> None:
        """What a first drain of every scene leaves: Plex written, sync state recorded."""
        sync = SceneSync(self.config, self.client, self.data_dir, PlexConnection(self.config))
        try:
            for scene_id in self.stash.scene_ids():
                sync({"scene_id": int(scene_id)})
        finally:
            sync.close()

    def sync_one(self, scene_id: int | str) -> None:
        sync = SceneSync(self.config, self.client, self.data_dir, PlexConnection(self.config))
        try:
            sync({"scene_id": int(scene_id)})
        finally:
            sync.close()

    def drain(self) -> None:
        sync = SceneSync(self.config, self.client, self.data_dir, PlexConnection(self.config))
        try:
            run_drain(self.data_dir, self.config, sync)
        finally:
            sync.close()

    def queued(self) -> dict[int, dict[str, Any]]:
        """Pending jobs by scene id (each scene queued once)."""
        jobs = list(pending_jobs(self.data_dir))
        by_scene = {job["scene_id"]: job for job in jobs}
        assert len(by_scene) == len(jobs), "a scene was queued twice"
        return by_scene

    def reasons(self) -> dict[str, set[int]]:
        out: dict[str, set[int]] = {}
        for scene_id, job in self.queued().items():
            assert job["update_type"] == "reconcile"
            out.setdefault(job["data"]["reason"], set()).add(scene_id)
        return out

    def spec(self, index: int):
        """The ``index``-th scene with one file whose name no other scene shares (so
        removing its Plex item leaves nothing to match by name)."""
        return [s for s in self.world.scenes if not s.duplicate_name and not s.multipart][index]

    def tag_id(self, name: str) -> str:
        with self.stash.store.lock:
            return next(r["id"] for r in self.stash.store.entities["tag"].values() if r["name"] == name)

    def scenes_with_tag(self, name: str) -> set[int]:
        return {int(s.stash_id) for s in self.world.scenes if name in s.tags}

    def add_unscanned_scene(self, name: str = "Brand New Scene") -> tuple[int, int]:
        """A new Stash scene whose file Plex has but has not scanned yet: (scene id, rating key)."""
        stash_path = f"{self.world.stash_prefix}/New Arrivals/{name}.mp4"
        scene_id = int(self.stash.add_scene(title=name, files=[stash_path]))
        key = self.plex.add_item(self.world.section_id, name, [self.world.plex_path(stash_path)], scanned=False)
        return scene_id, key


def make_env(tmp_path, *, scenes: int = 40, seed: int = 5, tz_offset_minutes: int = 0) -> Env:
    stash = StashServer(tz_offset_minutes=tz_offset_minutes).start()
    plex = PlexServer().start()
    # The library was loaded hours ago: updated_at values sit well before the overlap.
    loaded = datetime.now(stash.tz) - timedelta(hours=HOURS_AGO)
    stash.clock = lambda: loaded
    world = generate(seed, scenes, multipart_fraction=0.05, duplicate_name_fraction=0.1)
    world.load_into(stash, plex)
    stash.clock = lambda: datetime.now(stash.tz)
    client = StashClient(StashConnection(host=stash.host, port=stash.port, api_key=stash.api_key), timeout=10.0)
    env = Env(stash, plex, world, None, client, ensure_private_dir(str(tmp_path / "data")))  # type: ignore[arg-type]
    return env.with_config()


@pytest.fixture
def env(tmp_path):
    box = make_env(tmp_path)
    yield box
    box.plex.stop()
    box.stash.stop()
    assert box.plex.server_errors == []


@pytest.fixture
def synced(env):
    env.full_sync()
    return env


def only_listing(plex: PlexServer, pages: int = 1) -> None:
    counts = plex.request_counts()
    assert set(counts) == {("GET", r) for _, r in LISTING_ROUTES}, counts
    assert counts[("GET", "/library/sections")] == 1
    assert counts[("GET", "/library/sections/{id}/all")] == pages


# ------------------------------------------------------------------------ in step: nothing


def test_all_after_a_full_sync_finds_nothing_and_only_lists_plex(synced):
    summary = synced.reconcile("all")
    n = len(synced.world.scenes)
    assert (summary.scanned, summary.matched, summary.in_sync) == (n, n, n)
    assert summary.enqueued_total == 0 and summary.missing_in_plex == 0 and summary.ambiguous == 0
    assert summary.plex_items == n
    assert synced.queued() == {}
    only_listing(synced.plex)


def test_index_is_shared_with_the_sync(synced):
    synced.reconcile("all")
    sync = SceneSync(synced.config, synced.client, synced.data_dir, PlexConnection(synced.config))
    sync.close()
    index = PathIndex(synced.data_dir, case_insensitive=False, signature=index_signature(synced.config))
    try:
        spec = synced.spec(0)
        assert [p.rating_key for p in index.lookup(spec.plex_files[0])] == [str(spec.plex_key)]
    finally:
        index.close()


# ---------------------------------------------------------------------- drift, by reason


def test_all_finds_exactly_what_drifted_and_a_drain_repairs_it(synced):
    env = synced
    tag = next(t for t in env.world.tags if 1 <= len(env.scenes_with_tag(t)) <= 4)
    tagged = env.scenes_with_tag(tag)
    others = [s for s in env.world.scenes
              if int(s.stash_id) not in tagged and not s.multipart and not s.duplicate_name]
    edited, removed, moved = others[0], others[1], others[2]

    # 1. A Plex user edits a title (a scalar the listing carries).
    plex = env.connection()
    plex.edit(str(env.world.section_id), str(edited.plex_key), {"title.value": "Edited in Plex", "title.locked": 1})
    plex.close()
    # 2. A tag is renamed in Stash: the scenes show the new name, updated_at does not move.
    env.stash.rename_tag(env.tag_id(tag), tag + " (renamed)")
    # 3. A scene's Plex item disappears.
    env.plex.remove_item(removed.plex_key)
    # 4. Plex re-adds another scene's file as a new item (new ratingKey).
    env.plex.remove_item(moved.plex_key)
    new_key = env.plex.add_item(env.world.section_id, moved.plex_title, list(moved.plex_files))
    # 5. A new scene whose file Plex has not scanned.
    new_scene, _ = env.add_unscanned_scene()

    summary = env.reconcile("all")

    assert env.reasons() == {
        DRIFTED_IN_PLEX: {int(edited.stash_id)},
        CHANGED_IN_STASH: tagged,
        MOVED_IN_PLEX: {int(moved.stash_id)},
        MISSING_IN_PLEX: {int(removed.stash_id), new_scene},
    }
    assert dict(summary.enqueued) == {DRIFTED_IN_PLEX: 1, CHANGED_IN_STASH: len(tagged), MOVED_IN_PLEX: 1,
                                      MISSING_IN_PLEX: 2}
    assert summary.missing_in_plex == 2
    assert summary.in_sync == len(env.world.scenes) - len(tagged) - 3
    [example] = summary.examples[DRIFTED_IN_PLEX]
    assert example.startswith(f"scene {edited.stash_id} '") and example.endswith("': title")
    only_listing(env.plex)
    assert env.plex.scan_requests == []  # "all" leaves scanning to the jobs themselves

    env.drain()
    assert env.plex.item(edited.plex_key)["title"] == edited.title
    for scene_id in tagged:
        spec = env.world.scene(scene_id)
        assert tag + " (renamed)" in env.plex.item(spec.plex_key)["genres"]
    assert env.plex.item(new_key)["title"] == moved.title

    # What could be repaired is in step. The two missing scenes wait to retry; the
    # sync's own scan request made Plex pick up the new one meanwhile.
    again = env.reconcile("all")
    assert again.enqueued_total == 0
    assert again.already_queued == 2 and again.missing_in_plex == 1
    assert again.in_sync == len(env.world.scenes) - 1


def test_drift_in_plex_is_rewritten_even_though_the_scene_did_not_change(synced):
    spec = next(s for s in synced.world.scenes if s.details and s.studio)
    plex = synced.connection()
    plex.edit(str(synced.world.section_id), str(spec.plex_key),
              {"summary.value": "Plex's own summary", "studio.value": "Someone Else"})
    plex.close()
    summary = synced.reconcile("all")
    [example] = summary.examples[DRIFTED_IN_PLEX]
    assert example.startswith(f"scene {spec.stash_id} '") and example.endswith("': summary, studio")
    state = SyncState(synced.data_dir)
    assert state.get(int(spec.stash_id)).fingerprint.startswith(DRIFT_MARK)
    state.close()
    synced.drain()
    item = synced.plex.item(spec.plex_key)
    assert (item["summary"], item["studio"]) == (spec.details, spec.studio)
    assert synced.reconcile("all").enqueued_total == 0


# ------------------------------------------------------------------------------- scopes


def test_changed_sees_only_scenes_updated_since_the_last_run(synced):
    env = synced
    # The library was loaded 3 h ago; one scene was edited (and synced) 1.5 h ago.
    recent = env.spec(8)
    earlier = datetime.now(env.stash.tz) - timedelta(hours=1.5)
    env.stash.clock = lambda: earlier
    env.stash.update_scene(recent.stash_id, details="Edited an hour and a half ago")
    env.stash.clock = lambda: datetime.now(env.stash.tz)
    env.sync_one(recent.stash_id)
    first = env.reconcile("all")
    assert first.enqueued_total == 0 and first.cursor == env.stash.scene(recent.stash_id)["updated_at"]
    updated, drifted = env.spec(3), env.spec(4)
    env.stash.update_scene(updated.stash_id, title="Changed in Stash")
    tag = next(t for t in env.world.tags if t not in recent.tags and t not in updated.tags)
    env.stash.rename_tag(env.tag_id(tag), "Renamed quietly")
    plex = env.connection()
    plex.edit(str(env.world.section_id), str(drifted.plex_key), {"title.value": "Edited in Plex"})
    plex.close()
    env.stash.reset_queries()

    summary = env.reconcile("changed")

    assert summary.full is False
    assert summary.updated_after == cursor_filter(first.cursor)
    # The scene updated now, and the one inside the overlap (re-read, still in step).
    assert (summary.scanned, summary.in_sync) == (2, 1)
    assert env.reasons() == {CHANGED_IN_STASH: {int(updated.stash_id)}}
    finds = [q for q in env.stash.queries if "findScenes" in (q["query"] or "")]
    assert finds[0]["variables"]["scene_filter"] == {
        "updated_at": {"value": summary.updated_after, "modifier": "GREATER_THAN"}}
    only_listing(env.plex)
    state, problem = read_state(env.data_dir)
    assert problem is None and state["cursor"] == env.stash.scene(updated.stash_id)["updated_at"]
    assert state["last"]["scope"] == "changed"


def test_changed_without_a_previous_run_compares_every_scene(synced, capsys):
    summary = synced.reconcile("changed")
    assert summary.full is True and summary.scanned == len(synced.world.scenes)
    assert "comparing every scene" in capsys.readouterr().err
    assert read_state(synced.data_dir)[0]["cursor"] == max(
        synced.stash.scene(i)["updated_at"] for i in synced.stash.scene_ids())


def test_changed_keeps_the_servers_offset(tmp_path):
    env = make_env(tmp_path, scenes=8, tz_offset_minutes=120)
    try:
        env.full_sync()
        env.reconcile("all")
        env.stash.update_scene(env.spec(1).stash_id, details="New details")
        summary = env.reconcile("changed")
        assert summary.updated_after.endswith("+02:00") and summary.cursor.endswith("+02:00")
        assert dict(summary.enqueued) == {CHANGED_IN_STASH: 1}
    finally:
        env.plex.stop()
        env.stash.stop()


def test_missing_scans_each_folder_once_and_queues_the_scenes(synced):
    env = synced
    removed = env.spec(2)
    env.plex.remove_item(removed.plex_key)
    new_scene, new_key = env.add_unscanned_scene()
    drifted = env.spec(6)
    plex = env.connection()
    plex.edit(str(env.world.section_id), str(drifted.plex_key), {"title.value": "Edited in Plex"})
    plex.close()
    env.plex.reset_requests()

    summary = env.reconcile("missing")

    assert summary.missing_in_plex == 2
    assert env.reasons() == {MISSING_IN_PLEX: {int(removed.stash_id), new_scene}}  # no drift in this scope
    folders = {removed.plex_files[0].rsplit("/", 1)[0], f"{env.world.plex_prefix}/New Arrivals"}
    assert sorted(env.plex.scan_requests) == sorted(folders)
    counts = env.plex.request_counts()
    assert counts[SCAN] == 2 and set(counts) == {("GET", r) for _, r in LISTING_ROUTES} | {SCAN}
    assert env.plex.item(new_key)["scanned"] is True  # the scan made Plex pick it up

    env.drain()
    state = SyncState(env.data_dir)
    assert state.get(new_scene).rating_key == str(new_key)
    state.close()


def test_missing_without_scanning_when_the_setting_says_so(synced):
    env = synced.with_config(trigger_plex_scan=False)
    env.plex.remove_item(env.spec(2).plex_key)
    summary = env.reconcile("missing")
    assert summary.scans_requested == 0 and env.plex.scan_requests == []
    assert env.reasons() == {MISSING_IN_PLEX: {int(env.spec(2).stash_id)}}


def test_dead_lettered_missing_scenes_wait_for_the_missing_task(synced):
    env = synced
    gone = env.spec(7)
    env.plex.remove_item(gone.plex_key)
    dlq = DeadLetterQueue(env.data_dir)
    dlq.add(new_job(int(gone.stash_id), "Scene.Update.Post"), "Plex has no item", error_type="PlexNotFound")
    dlq.close()

    summary = env.reconcile("all")
    assert summary.left_in_dlq == 1 and summary.enqueued_total == 0 and env.queued() == {}
    assert "dead-letter queue" in "\n".join(summary.lines())

    summary = env.reconcile("missing")
    assert dict(summary.enqueued) == {MISSING_IN_PLEX: 1}
    assert list(env.queued()) == [int(gone.stash_id)]
    dlq = DeadLetterQueue(env.data_dir)
    assert dlq.count() == 0  # requeued, not copied
    dlq.close()


def test_dry_run_reports_but_queues_scans_and_records_nothing(synced):
    env = synced
    edited = env.spec(1)
    plex = env.connection()
    plex.edit(str(env.world.section_id), str(edited.plex_key), {"title.value": "Edited in Plex"})
    plex.close()
    env.plex.remove_item(env.spec(2).plex_key)

    summary = env.reconcile("all", dry_run=True)
    assert dict(summary.enqueued) == {DRIFTED_IN_PLEX: 1, MISSING_IN_PLEX: 1}
    assert "would enqueue 2" in summary.lines()[1]
    missing = env.reconcile("missing", dry_run=True)
    assert missing.scans_requested == 1 and env.plex.scan_requests == []

    assert env.queued() == {}
    assert not os.path.exists(os.path.join(env.data_dir, STATE_FILE))
    state = SyncState(env.data_dir)
    assert not state.get(int(edited.stash_id)).fingerprint.startswith(DRIFT_MARK)
    state.close()


def test_scenes_already_queued_are_not_queued_again(synced):
    env = synced
    edited = env.spec(1)
    plex = env.connection()
    plex.edit(str(env.world.section_id), str(edited.plex_key), {"title.value": "Edited in Plex"})
    plex.close()
    enqueue(env.data_dir, new_job(int(edited.stash_id), "Scene.Update.Post"))
    summary = env.reconcile("all")
    assert summary.already_queued == 1 and summary.enqueued_total == 0
    assert len(list(pending_jobs(env.data_dir))) == 1


def test_never_synced_scenes_are_queued_in_one_go(env):
    calls: list[tuple[int, int]] = []
    summary = env.reconcile("all", progress=lambda done, total: calls.append((done, total)))
    n = len(env.world.scenes)
    assert dict(summary.enqueued) == {NEVER_SYNCED: n}
    assert len(env.queued()) == n
    assert calls[-1] == (n, n)


def emulator_sized(path: str) -> dict[str, Any]:
    """A Stash file the size and length of a Plex emulator item added without either."""
    return {"path": path, "size": 1_500_000_000, "duration": 1800.0}


def test_ambiguous_names_are_reported_not_queued(synced):
    env = synced
    env.plex.add_item(env.world.section_id, "Twin", [f"{env.world.plex_prefix}/A/twin.mp4"])
    env.plex.add_item(env.world.section_id, "Twin", [f"{env.world.plex_prefix}/B/twin.mp4"])
    scene = int(env.stash.add_scene(title="Twin", files=[emulator_sized("/elsewhere/C/twin.mp4")]))
    summary = env.reconcile("all")
    assert summary.ambiguous == 1 and summary.enqueued_total == 0
    assert summary.examples["ambiguous"][0].startswith(f"scene {scene} 'Twin': no Plex file at /elsewhere/C/twin.mp4")
    assert any("Path mappings" in line for line in summary.lines())


def test_a_unique_file_name_matches_when_the_path_does_not(synced):
    env = synced
    env.plex.add_item(env.world.section_id, "Moved", [env.world.plex_prefix + "/moved/elsewhere/unique-name.mp4"])
    scene = int(env.stash.add_scene(title="Elsewhere",
                                    files=[emulator_sized(env.world.stash_prefix + "/x/unique-name.mp4")]))
    summary = env.reconcile("all")
    assert env.reasons() == {NEVER_SYNCED: {scene}}
    assert summary.ambiguous == 0


def test_a_same_named_file_another_scene_owns_is_never_matched(synced):
    env = synced
    spec = next(s for s in env.world.scenes if not s.duplicate_name and not s.multipart)
    scene = int(env.stash.add_scene(title="Elsewhere", files=["/other/place/" + spec.files[0].rsplit("/", 1)[1]]))
    summary = env.reconcile("all")
    # The only Plex file with that name is spec's: writing this scene onto it would
    # overwrite another scene's item.
    assert env.reasons() == {MISSING_IN_PLEX: {scene}}
    assert summary.ambiguous == 0


def test_plex_down_queues_and_records_nothing(synced):
    plex = synced.connection()
    synced.plex.set_down(True)
    try:
        with pytest.raises(PlexUnreachable):
            reconcile("all", stash=synced.client, config=synced.config, data_dir=synced.data_dir, plex=plex)
    finally:
        synced.plex.set_down(False)
        plex.close()
    assert synced.queued() == {}
    assert not os.path.exists(os.path.join(synced.data_dir, STATE_FILE))


def test_unknown_scope_is_refused(env):
    with pytest.raises(ValueError, match="unknown reconcile scope"):
        env.reconcile("everything")


# --------------------------------------------------------------------- pure comparisons


def _desired(**scene: Any):
    config = PlexSyncConfig(plex_url="http://127.0.0.1:32400", plex_token="x" * 20)
    base = {"id": "1", "title": "A", "details": "", "date": "2020-01-02", "rating100": 70,
            "studio": {"name": "S"}, "tags": [], "performers": [], "groups": [], "paths": {"screenshot": "http://s/1"}}
    return desired_metadata({**base, **scene}, config)


def test_listing_digest_compares_numbers_as_numbers():
    desired = _desired()
    listed = {"title": "A", "summary": "", "studio": "S", "originallyAvailableAt": "2020-01-02",
              "year": "2020", "userRating": "7.0", "titleSort": "", "tagline": ""}
    assert drifted_fields(desired, listing_digest(listed)) == []
    assert drifted_fields(desired, listing_digest({**listed, "userRating": "8", "studio": "T"})) == [
        "studio", "userRating"]


def test_fingerprint_uses_the_stored_poster_hash_and_tolerates_a_missing_cover():
    desired = _desired()
    record = SyncRecord(1, "10", sync_fingerprint(desired, "abc", True), poster_sha="abc")
    assert judge(desired, record, "10", None, True) is compare.IN_SYNC
    unfetched = replace(record, fingerprint=sync_fingerprint(desired, None, True))
    assert judge(desired, unfetched, "10", None, True) is compare.IN_SYNC
    assert judge(desired, record, "10", None, False).reason == CHANGED_IN_STASH  # lock setting changed
    assert judge(_desired(title="B"), record, "10", None, True).reason == CHANGED_IN_STASH
    assert judge(desired, record, "11", None, True).reason == MOVED_IN_PLEX
    assert judge(desired, None, "10", None, True).reason == NEVER_SYNCED


def test_choose_by_name_follows_the_matchers_rules():
    a = IndexedPart("/m/studio/2020/x.mp4", "1", "1", 10, 60_000)
    b = IndexedPart("/m/other/2021/x.mp4", "2", "1", 10, 60_000)
    f = StashFile("/s/studio/2020/x.mp4", 10, 60.0)
    assert choose_by_name(f.path, [a], file=f, strict=True, case_insensitive=False).part == a
    strict = choose_by_name(f.path, [a, b], file=f, strict=True, case_insensitive=False)
    assert strict.part is None and strict.ambiguous
    assert choose_by_name(f.path, [a, b], file=f, strict=False, case_insensitive=False).part == a
    assert choose_by_name("/s/z/x.mp4", [a, b], file=f, strict=False, case_insensitive=False).ambiguous
    # Not certainly the same file: another size, or another scene's path.
    assert choose_by_name(f.path, [a], file=StashFile(f.path, 11, 60.0), strict=True, case_insensitive=False).part is None
    assert choose_by_name(f.path, [a], file=f, strict=True, case_insensitive=False,
                          claimed=lambda path: path == a.path).part is None


@pytest.mark.parametrize("cursor, expected", [
    ("2024-05-01T10:00:00Z", "2024-05-01T09:00:00Z"),
    ("2024-05-01T00:30:00+02:00", "2024-04-30T23:30:00+02:00"),
    ("2024-05-01T10:00:00-05:30", "2024-05-01T09:00:00-05:30"),
])
def test_cursor_filter_subtracts_the_overlap_in_the_same_offset(cursor, expected):
    assert cursor_filter(cursor) == expected


def test_summary_serialises_to_json():
    summary = ReconcileSummary(scope="all")
    summary.enqueued[NEVER_SYNCED] += 2
    summary.example(NEVER_SYNCED, "scene 1")
    assert json.loads(json.dumps(summary.as_dict()))["enqueued"] == {NEVER_SYNCED: 2}


# ------------------------------------------------------------------- through the runner


@pytest.mark.slow
def test_reconcile_tasks_through_the_runner(synced, tmp_path):
    env = synced
    runner = PluginRunner(ROOT, env.stash, tmp_path / "stash", env={"PLEXSYNC_DATA_DIR": env.data_dir})
    env.stash.set_plugin_settings("plexsync", {"plex_url": env.plex.url, "plex_token": env.plex.token,
                                               "path_mappings": env.world.mapping_setting})
    edited = env.spec(1)
    tag = next(t for t in env.world.tags if 1 <= len(env.scenes_with_tag(t)) <= 3)
    tagged = env.scenes_with_tag(tag) - {int(edited.stash_id)}
    plex = env.connection()
    plex.edit(str(env.world.section_id), str(edited.plex_key), {"title.value": "Edited in Plex"})
    plex.close()
    env.stash.rename_tag(env.tag_id(tag), tag + " (renamed)")
    new_scene, new_key = env.add_unscanned_scene()

    dry = runner.run_task("Reconcile: all scenes", {"dry_run": "true"})
    assert dry.ok, dry.stderr
    assert dry.output["dry_run"] is True and dry.output["enqueued_total"] == len(tagged) + 2
    assert dry.followups == [] and env.queued() == {}

    # Missing in Plex: scan the folder, queue the scene, and the drain Stash runs next syncs it.
    missing = runner.run_task("Reconcile: missing in Plex")
    assert missing.ok, missing.stderr
    assert missing.output["enqueued"] == {MISSING_IN_PLEX: 1} and missing.output["scans_requested"] == 1
    assert [r.name for r in missing.followups] == ["Process queue"] and missing.followups[0].ok
    assert env.plex.item(new_key)["scanned"] is True and env.queued() == {}

    # All scenes: the Plex edit and the renamed tag (no hook, no updated_at) are found and repaired.
    result = runner.run_task("Reconcile: all scenes")
    assert result.ok, result.stderr
    out = result.output
    assert (out["scope"], out["missing_in_plex"], out["ambiguous"]) == ("all", 0, 0)
    assert out["enqueued"] == {k: v for k, v in {DRIFTED_IN_PLEX: 1, CHANGED_IN_STASH: len(tagged)}.items() if v}
    assert any(m.startswith("Reconcile (all scenes): ") for m in result.messages("i"))
    assert result.progress and result.progress[-1] == 1.0
    assert [r.name for r in result.followups] == ["Process queue"] and result.followups[0].ok
    assert env.plex.item(edited.plex_key)["title"] == edited.title
    for scene_id in tagged:
        assert tag + " (renamed)" in env.plex.item(env.world.scene(scene_id).plex_key)["genres"]

    again = runner.run_task("Reconcile: all scenes")
    assert again.ok and again.output["enqueued_total"] == 0 and again.followups == []
    assert again.output["in_sync"] == len(env.world.scenes) + 1

    # Changed scenes: only what Stash updated since the last run (and the overlap before it).
    renamed = env.spec(6)
    env.stash.update_scene(renamed.stash_id, title="Renamed in Stash")
    changed = runner.run_task("Reconcile: changed scenes")
    assert changed.ok, changed.stderr
    assert changed.output["full"] is False and changed.output["enqueued"] == {CHANGED_IN_STASH: 1}
    assert changed.output["scanned"] == 2  # the scene added a moment ago is inside the overlap
    assert [r.name for r in changed.followups] == ["Process queue"]
    assert env.plex.item(renamed.plex_key)["title"] == "Renamed in Stash"

    status = runner.run_task("Status")
    assert status.ok, status.stderr
    assert any(m.startswith("Last reconcile: changed ") for m in status.messages("i"))


@pytest.mark.slow
def test_reconcile_task_reports_an_unknown_scope(env, tmp_path):
    runner = PluginRunner(ROOT, env.stash, tmp_path / "stash", env={"PLEXSYNC_DATA_DIR": env.data_dir})
    env.stash.set_plugin_settings("plexsync", {"plex_url": env.plex.url, "plex_token": env.plex.token})
    result = runner.run_task("Reconcile: all scenes", {"scope": "everything"})
    assert result.error and "unknown reconcile scope" in result.error
