"""worker/sync.py: SceneSync with the real StashClient against the Stash emulator, the real
PlexConnection (plexapi) against the Plex emulator, and real SQLite state in a tmp data dir.
Plex request counts come from the emulator: what the issue promises is what is asserted."""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from freezegun import freeze_time

from plex.exceptions import PermanentError, PlexNotFound, StashUnavailable
from plex.item_state import ListedItem
from sandbox.library import World, generate
from sandbox import plex_server
from sandbox.plex_server import PlexServer
from sandbox.stash_media import mp4_bytes
from sandbox.stash_server import StashServer
from tests.sync_support import (
    EDIT, LISTING, METADATA, MOVIES, PLEX_TOKEN, POSTER, REFRESH, edits, plex_config, stash_client,
)
from shared.defaults import FOLDER_SCAN_WINDOW_SECONDS
from worker.sync import SceneSync

STASH = "/stash/videos"


class Env:
    """A Stash and a Plex emulator, a data dir, and SceneSyncs over them."""

    def __init__(self, plex: PlexServer, stash: StashServer, data_dir: str) -> None:
        self.plex, self.stash, self.data_dir = plex, stash, data_dir
        self.section = plex.add_section("Movies", [MOVIES])
        # Stash's clock, moved by hand: its updated_at (and the cover URL's ?t=) has whole seconds.
        self.now = datetime(2026, 1, 10, 12, 0, 0, tzinfo=timezone.utc)
        stash.clock = lambda: self.now
        self.syncs: list[SceneSync] = []
        self._default: SceneSync | None = None

    def make_sync(self, **overrides: Any) -> SceneSync:
        overrides.setdefault("path_mappings", f"{STASH} => {MOVIES}")
        sync = SceneSync(plex_config(self.plex, **overrides), stash_client(self.stash), self.data_dir)
        self.syncs.append(sync)
        return sync

    @property
    def sync(self) -> SceneSync:
        if self._default is None:
            self._default = self.make_sync()
        return self._default

    def add(self, name: str = "a", folder: str = "Studio", *, scanned: bool = True,
            plex_fields: dict | None = None, **stash_fields: Any) -> tuple[str, int]:
        """A scene at ``STASH/folder/name.mp4`` and its Plex item at ``MOVIES/folder/name.mp4``."""
        scene_id = self.stash.add_scene(files=[f"{STASH}/{folder}/{name}.mp4"], **stash_fields)
        key = self.plex.add_item(self.section, name, [f"{MOVIES}/{folder}/{name}.mp4"], scanned=scanned,
                                 **(plex_fields or {}))
        return scene_id, key

    def update(self, scene_id: str, **fields: Any) -> None:
        """Edit a scene in Stash a second after whatever happened before."""
        self.now += timedelta(seconds=1)
        self.stash.update_scene(scene_id, **fields)

    def set_cover(self, scene_id: str, data: bytes | None = None) -> None:
        self.now += timedelta(seconds=1)
        self.stash.set_cover(scene_id, data)

    def run(self, scene_id: str, sync: SceneSync | None = None) -> str:
        return (sync or self.sync)({"scene_id": scene_id})

    def requests(self) -> Counter:
        return self.plex.request_counts()


@pytest.fixture
def env(data_dir):
    with PlexServer(token=PLEX_TOKEN) as plex, StashServer() as stash:
        environment = Env(plex, stash, data_dir)
        yield environment
        for sync in environment.syncs:
            sync.close()
    assert plex.server_errors == []


@pytest.fixture
def rich(env):
    """A scene with every synced field set, synced once; request log cleared."""
    studio = env.stash.add_studio("Studio “One”, Inc.")
    performers = [env.stash.add_performer(n) for n in ("Zoë", "Smith, Jane", "Amy")]
    tags = [env.stash.add_tag(n) for n in ("Rock & Roll", "Black, White", "Outdoor")]
    group = env.stash.add_group("Saga: Part I")
    scene_id, key = env.add(
        "rich", title="  It’s a “Smart” Title — 🎬  ", details="Line one\nline two… 👩\u200d👩\u200d👧\u200b",
        date="2019-06-07", rating100=85, studio_id=studio, performer_ids=performers, tag_ids=tags,
        group_ids=[group], director="Dee Rector", code="ABC-123",
        plex_fields={"summary": "agent summary", "genres": ["Agent Genre"], "collections": ["User Made"]})
    assert env.run(scene_id) == "written"
    env.plex.reset_requests()
    return {"scene": scene_id, "key": key, "tags": tags, "performers": performers, "studio": studio}


def screenshot_sha(stash: StashServer, scene_id: str) -> str:
    return hashlib.sha256(stash.store.screenshot(scene_id)).hexdigest()


def same(a: Any, b: Any) -> bool:
    """Plex has no empty string: an unset field reads back as None."""
    return (a if a not in ("", None) else None) == (b if b not in ("", None) else None)


# ------------------------------------------------------------------------- first sync
def test_first_sync_writes_every_field_exactly(data_dir, parse_log, capsys):
    world = generate(seed=7, scenes=40, multipart_fraction=0.1, bare_fraction=0.1)
    with PlexServer(token=PLEX_TOKEN) as plex, StashServer() as stash:
        world.load_into(stash, plex)
        sync = SceneSync(plex_config(plex, path_mappings=world.mapping_setting), stash_client(stash), data_dir)
        try:
            results = [sync({"scene_id": s.stash_id}) for s in world.scenes]
            assert results == ["written"] * len(world.scenes)
            for spec in world.scenes:
                item, expected = plex.item(spec.plex_key), World.expected_plex(spec)
                for name in ("title", "summary", "studio", "originallyAvailableAt", "year", "userRating"):
                    assert same(item[name], expected[name]), (spec.stash_id, name, item[name], expected[name])
                assert item["actors"] == expected["actors"], spec.stash_id
                assert sorted(item["genres"]) == sorted(expected["genres"]), spec.stash_id
                assert sorted(item["collections"]) == sorted(expected["collections"]), spec.stash_id
                assert item["directors"] == ([spec.director] if spec.director else [])
                assert item["tagline"] is None and item["titleSort"] is None   # opt-in fields
                assert {"title", "summary", "studio", "originallyAvailableAt", "year", "userRating", "genre",
                        "actor", "director", "collection", "thumb"} <= item["locked"]
                assert item["poster"]["sha256"] == screenshot_sha(stash, spec.stash_id)
            counts = plex.request_counts()
            n = len(world.scenes)
            assert counts[EDIT] == n and counts[POSTER] == n and counts[METADATA] == n
            assert [w for level, w in parse_log(capsys.readouterr().err) if level in "we"] == []

            # Nothing changed: a second pass costs Plex nothing at all.
            plex.reset_requests()
            assert [sync({"scene_id": s.stash_id}) for s in world.scenes] == ["unchanged"] * n
            assert plex.requests == []
        finally:
            sync.close()
        assert plex.server_errors == []


def test_opt_in_fields_and_empty_title(env):
    scene_id, key = env.add("x", title="", code="XYZ-9", details="d")
    sync = env.make_sync(sync_tagline=True, sync_title_sort=True)
    env.run(scene_id, sync)
    item = env.plex.item(key)
    assert item["title"] == "x" and "title" not in item["locked"]     # Plex's own title stays
    assert item["tagline"] == "XYZ-9" and item["titleSort"] is None
    assert item["summary"] == "d"


def test_unlocked_mode_writes_without_locks(env):
    scene_id, key = env.add("x", title="T", details="d")
    env.run(scene_id, env.make_sync(lock_fields=False))
    item = env.plex.item(key)
    assert (item["title"], item["summary"]) == ("T", "d")
    assert item["locked"] == set()
    assert all(".locked" not in name for query in edits(env.plex) for name in query)


# ------------------------------------------------------------------- batched scene reads
def test_a_scene_read_ahead_before_its_job_was_queued_is_read_again(env):
    # A drain reads the scenes of its next jobs ahead; a save in Stash after that read
    # queues a job the batch predates. Syncing it from the batch would write the old
    # title and leave Plex behind for good (found by tests/reliability/test_concurrency.py).
    first, key = env.add("a", title="Before")
    other, _ = env.add("b", title="Other")
    env.sync.batch.load([int(first), int(other)])
    env.update(first, title="After")
    queued_after_the_read = time.time() + 1
    assert env.sync({"scene_id": first, "enqueued_at": queued_after_the_read}) == "written"
    assert env.plex.item(key)["title"] == "After"


def test_a_scene_read_after_its_job_was_queued_comes_from_the_batch(env):
    first, key = env.add("a", title="Title")
    other, _ = env.add("b", title="Other")
    queued_before_the_read = time.time() - 1
    env.sync.batch.load([int(first), int(other)])
    reads = len(env.stash.queries)
    assert env.sync({"scene_id": first, "enqueued_at": queued_before_the_read}) == "written"
    assert env.plex.item(key)["title"] == "Title" and len(env.stash.queries) == reads


# ----------------------------------------------------------------------- request counts
def test_an_unchanged_scene_costs_no_request(env, rich):
    assert env.run(rich["scene"]) == "unchanged"
    assert env.plex.requests == []


def test_a_changed_scene_costs_one_edit(env, rich):
    before = env.plex.item(rich["key"])
    env.update(rich["scene"], title="New “title”, again")
    assert env.run(rich["scene"]) == "written"
    assert env.requests() == {METADATA: 1, EDIT: 1}
    [query] = edits(env.plex)
    assert set(query) == {"type", "id", "title.value", "title.locked"}
    after = env.plex.item(rich["key"])
    assert after["title"] == "New “title”, again"
    assert {k: v for k, v in after.items() if k not in ("title", "updatedAt")} == \
        {k: v for k, v in before.items() if k not in ("title", "updatedAt")}


def test_a_new_cover_costs_one_upload_more(env, rich):
    env.set_cover(rich["scene"])
    assert env.run(rich["scene"]) == "written"
    assert env.requests() == {METADATA: 1, EDIT: 1, POSTER: 1}
    assert env.plex.item(rich["key"])["poster"]["sha256"] == screenshot_sha(env.stash, rich["scene"])
    env.plex.reset_requests()
    assert env.run(rich["scene"]) == "unchanged" and env.plex.requests == []


def test_a_new_cover_in_the_same_second_is_still_uploaded(env, rich):
    env.stash.set_cover(rich["scene"])         # Stash's clock has not moved on: same ?t= as the last sync
    env.run(rich["scene"])
    assert env.plex.item(rich["key"])["poster"]["sha256"] == screenshot_sha(env.stash, rich["scene"])


def test_a_scene_update_that_keeps_the_cover_uploads_nothing(env, rich):
    env.update(rich["scene"], details="new details")
    env.run(rich["scene"])
    assert env.requests()[POSTER] == 0


def test_a_rating_only_change_changes_only_the_rating(env, rich):
    before = env.plex.item(rich["key"])
    env.update(rich["scene"], rating100=42)
    env.run(rich["scene"])
    assert env.requests() == {METADATA: 1, EDIT: 1}
    [query] = edits(env.plex)
    assert set(query) == {"type", "id", "userRating.value", "userRating.locked"}
    after = env.plex.item(rich["key"])
    assert after["userRating"] == 4.2
    assert {k: v for k, v in after.items() if k not in ("userRating", "updatedAt")} == \
        {k: v for k, v in before.items() if k not in ("userRating", "updatedAt")}


# ------------------------------------------------------------------------ exact content
def test_rich_scene_lands_exactly(env, rich):
    item = env.plex.item(rich["key"])
    assert item["title"] == "  It’s a “Smart” Title — 🎬  "
    assert item["summary"] == "Line one\nline two… 👩\u200d👩\u200d👧\u200b"
    assert (item["studio"], item["originallyAvailableAt"], item["year"], item["userRating"]) == (
        "Studio “One”, Inc.", "2019-06-07", 2019, 8.5)
    assert item["actors"] == ["Zoë", "Smith, Jane", "Amy"]
    assert sorted(item["genres"]) == sorted(["Rock & Roll", "Black, White", "Outdoor"])   # agent's genre gone
    assert item["directors"] == ["Dee Rector"]
    assert sorted(item["collections"]) == sorted(["Studio “One”, Inc.", "Saga: Part I", "User Made"])


def test_tag_removal_in_stash_removes_it_in_plex(env, rich):
    env.update(rich["scene"], tag_ids=[rich["tags"][1]])
    env.run(rich["scene"])
    assert env.plex.item(rich["key"])["genres"] == ["Black, White"]
    env.update(rich["scene"], tag_ids=[])
    env.run(rich["scene"])
    assert env.plex.item(rich["key"])["genres"] == []
    assert env.requests()[EDIT] == 2


def test_performer_removal_and_reorder(env, rich):
    zoe, jane, amy = rich["performers"]
    env.update(rich["scene"], performer_ids=[amy, zoe])
    env.run(rich["scene"])
    assert env.plex.item(rich["key"])["actors"] == ["Amy", "Zoë"]
    env.update(rich["scene"], performer_ids=[])
    env.run(rich["scene"])
    assert env.plex.item(rich["key"])["actors"] == []


def test_studio_change_replaces_our_collection_and_keeps_the_users(env, rich):
    other = env.stash.add_studio("Other Studio")
    env.update(rich["scene"], studio_id=other, group_ids=[])
    env.run(rich["scene"])
    item = env.plex.item(rich["key"])
    assert item["studio"] == "Other Studio"
    assert sorted(item["collections"]) == ["Other Studio", "User Made"]


def test_a_tag_rename_is_picked_up_on_the_next_sync(env, rich):
    # A rename does not move the scene's updated_at; the next sync of the scene still sees it.
    env.stash.rename_tag(rich["tags"][0], "Rock ’n’ Roll")
    assert env.run(rich["scene"]) == "written"
    assert "Rock ’n’ Roll" in env.plex.item(rich["key"])["genres"]


# --------------------------------------------------------------------------- posters
@pytest.mark.parametrize("cover", [b"<html><body>Login | Stash</body></html>", mp4_bytes("preview")],
                         ids=["html", "video"])
def test_a_cover_that_is_not_an_image_is_never_uploaded(env, parse_log, capsys, cover):
    scene_id, key = env.add("x", title="T")
    env.set_cover(scene_id, cover)
    assert env.run(scene_id) == "written"
    assert env.requests()[POSTER] == 0
    item = env.plex.item(key)
    assert item["poster"] is None and item["title"] == "T"
    assert any("not an image" in text for level, text in parse_log(capsys.readouterr().err) if level == "w")


def test_no_poster_when_the_poster_toggle_is_off(env):
    scene_id, key = env.add("x", title="T")
    env.run(scene_id, env.make_sync(sync_poster=False))
    assert env.requests()[POSTER] == 0 and env.plex.item(key)["poster"] is None


# ---------------------------------------------------------------------------- failures
def test_a_scene_deleted_in_stash_is_permanent(env, rich):
    env.stash.delete_scene(rich["scene"])
    with pytest.raises(PermanentError) as info:
        env.run(rich["scene"])
    assert "no longer exists" in info.value.message
    assert env.sync.state.get(int(rich["scene"])) is None
    assert env.plex.requests == []


def test_stash_down_is_stash_unavailable(env, rich):
    env.stash.set_down(True)
    with pytest.raises(StashUnavailable) as info:
        env.run(rich["scene"])
    assert not info.value.trips_breaker
    env.stash.set_down(False)


@pytest.fixture
def plex_clock(monkeypatch):
    """The Plex emulator's clock (scans finish ``scan_delay`` after the request), moved by hand."""
    now = [1000.0]
    monkeypatch.setattr(plex_server, "_clock", lambda: now[0])
    return now


def test_an_unscanned_file_asks_for_one_scan_per_folder_then_is_found(env, plex_clock):
    env.plex.set_scan_delay(30)    # Plex scans in the background, as PMS does
    first, key1 = env.add("one", "New Folder", scanned=False, title="One")
    second, key2 = env.add("two", "New Folder", scanned=False, title="Two")
    for scene_id in (first, second, first):
        with pytest.raises(PlexNotFound) as info:
            env.run(scene_id)
        assert "Path mappings" in info.value.message and not info.value.trips_breaker
    assert env.plex.scan_requests == [f"{MOVIES}/New Folder"]
    assert env.requests()[REFRESH] == 1
    plex_clock[0] += 31            # the scan has finished: the retry (a later drain) finds what it brought in
    later = env.make_sync()
    assert env.run(first, later) == "written" and env.run(second, later) == "written"
    assert (env.plex.item(key1)["title"], env.plex.item(key2)["title"]) == ("One", "Two")


def test_scans_are_per_folder(env, plex_clock):
    env.plex.set_scan_delay(30)
    a, _ = env.add("a", "Folder A", scanned=False)
    b, _ = env.add("b", "Folder B", scanned=False)
    for scene_id in (a, b, a, b):
        with pytest.raises(PlexNotFound):
            env.run(scene_id)
    assert env.plex.scan_requests == [f"{MOVIES}/Folder A", f"{MOVIES}/Folder B"]


def hand_clock_in_freezegun(monkeypatch, plex_clock: list[float]) -> None:
    """Inside ``freeze_time``: freezegun swaps every module attribute it once saw holding a
    real clock (``plex_server._clock``) for its own; put the hand-moved one back."""
    monkeypatch.setattr(plex_server, "_clock", lambda: plex_clock[0])


def test_later_drains_ask_again_only_after_the_scan_window(env, plex_clock, monkeypatch):
    env.plex.set_scan_delay(30)
    a, _ = env.add("a", "Folder A", scanned=False)
    with freeze_time("2026-01-10 12:00:00") as frozen:
        hand_clock_in_freezegun(monkeypatch, plex_clock)
        for _ in range(3):                           # each drain is a new SceneSync
            with pytest.raises(PlexNotFound):
                env.run(a, env.make_sync())
            frozen.tick(60)
        assert env.plex.scan_requests == [f"{MOVIES}/Folder A"]
        frozen.tick(FOLDER_SCAN_WINDOW_SECONDS)
        with pytest.raises(PlexNotFound):
            env.run(a, env.make_sync())
    assert env.plex.scan_requests == [f"{MOVIES}/Folder A"] * 2


def test_ten_missing_files_cost_one_scan_per_folder_and_look_ups_only_after_a_scan(env, plex_clock, monkeypatch):
    """Finding 13: retries of scenes Plex lacks send no scan within the window and no
    ``file=`` look-up until a scan has finished; then one round finds them all."""
    env.plex.set_scan_delay(120)
    folders = ["A", "B", "C", "D"]
    scenes = [env.add(f"m{n}", f"Folder {folders[n % 4]}", scanned=False, title=f"M{n}")[0] for n in range(10)]
    with freeze_time("2026-01-10 12:00:00") as frozen:
        hand_clock_in_freezegun(monkeypatch, plex_clock)
        for _ in range(5):                           # five retry rounds, each a new drain
            sync = env.make_sync()
            for scene_id in scenes:
                with pytest.raises(PlexNotFound):
                    env.run(scene_id, sync)
            frozen.tick(60)
        counts = env.requests()
        lookups = [r for r in env.plex.requests if (r.method, r.route) == LISTING and "file" in r.query]
        assert counts[REFRESH] == len(folders)       # one partial scan per folder
        assert len(lookups) == 2 * len(scenes)       # exact + name, on the first round only
        plex_clock[0] += 121                         # the scans finish: scannedAt moves
        sync = env.make_sync()
        assert [env.run(scene_id, sync) for scene_id in scenes] == ["written"] * len(scenes)
    lookups = [r for r in env.plex.requests if (r.method, r.route) == LISTING and "file" in r.query]
    assert len(lookups) == 3 * len(scenes) and env.requests()[REFRESH] == len(folders)


def test_the_scan_goes_to_the_section_holding_the_folder(env, plex_clock):
    # "/plex/movies2" is not inside "/plex/movies": only the second section is asked to scan.
    other = env.plex.add_section("More", [MOVIES + "2"])
    scene_id = env.stash.add_scene(files=["/stash/more/x/a.mp4"])
    env.plex.add_item(other, "a", [MOVIES + "2/x/a.mp4"], scanned=False)
    with pytest.raises(PlexNotFound):
        env.run(scene_id, env.make_sync(path_mappings=f"/stash/more => {MOVIES}2"))
    asked = [r.path for r in env.plex.requests if (r.method, r.route) == REFRESH]
    assert asked == [f"/library/sections/{other}/refresh"]


def test_no_scan_when_scanning_is_off(env):
    scene_id, _ = env.add("a", scanned=False)
    with pytest.raises(PlexNotFound):
        env.run(scene_id, env.make_sync(trigger_plex_scan=False))
    assert env.plex.scan_requests == []


def test_a_stale_index_entry_recovers(env, rich):
    # The item vanished from Plex and came back under a new key (file re-added).
    env.plex.remove_item(rich["key"])
    new_key = env.plex.add_item(env.section, "rich", [f"{MOVIES}/Studio/rich.mp4"])
    env.update(rich["scene"], details="after the re-add")
    assert env.run(rich["scene"]) == "written"
    item = env.plex.item(new_key)
    assert item["summary"] == "after the re-add" and item["actors"] == ["Zoë", "Smith, Jane", "Amy"]
    assert item["poster"]["sha256"] == screenshot_sha(env.stash, rich["scene"])   # the new item gets the cover
    assert env.sync.state.get(int(rich["scene"])).rating_key == str(new_key)
    env.plex.reset_requests()
    assert env.run(rich["scene"]) == "unchanged" and env.plex.requests == []


def test_a_stale_index_entry_recovers_without_a_record(env, rich):
    env.plex.remove_item(rich["key"])
    new_key = env.plex.add_item(env.section, "rich", [f"{MOVIES}/Studio/rich.mp4"])
    env.sync.state.forget(int(rich["scene"]))
    assert env.run(rich["scene"]) == "written"
    assert env.plex.item(new_key)["title"] == "  It’s a “Smart” Title — 🎬  "


def test_a_stale_exact_entry_falls_back_to_the_scenes_own_name_match(env):
    # Plex holds the file under another folder: the first sync matched it by name.
    # Same size and length as the emulator's item: certainly the same file.
    scene_id = env.stash.add_scene(files=[{"path": f"{STASH}/Studio/moved.mp4", "size": 1_500_000_000,
                                           "duration": 1800.0}], title="Moved")
    key = env.plex.add_item(env.section, "moved", [f"{MOVIES}/Elsewhere/moved.mp4"])
    assert env.run(scene_id) == "written"
    # A stale cache entry claims the mapped path is that item's exact file.
    env.sync.index.add([ListedItem(str(key), str(env.section), (f"{MOVIES}/Studio/moved.mp4",), {})])
    env.update(scene_id, details="after the move")
    # The re-match must not treat the scene's own item as another scene's.
    assert env.run(scene_id) == "written"
    assert env.plex.item(key)["summary"] == "after the move"


# ------------------------------------------------------------------------ bulk indexing
def test_refresh_index_makes_matching_free(env):
    scenes = [env.add(f"s{n}", title=f"Scene {n}")[0] for n in range(5)]
    assert env.sync.refresh_index() == 5
    env.plex.reset_requests()
    for scene_id in scenes:
        env.run(scene_id)
    listings = [r for r in env.plex.requests if (r.method, r.route) == LISTING]
    assert listings == []
    assert env.requests()[EDIT] == 5


def test_multi_part_scene(env):
    files = [f"{STASH}/Multi/m - pt1.mp4", f"{STASH}/Multi/m - pt2.mp4"]
    scene_id = env.stash.add_scene(files=files, title="Two Parts")
    key = env.plex.add_item(env.section, "m", [f"{MOVIES}/Multi/m - pt1.mp4", f"{MOVIES}/Multi/m - pt2.mp4"])
    assert env.run(scene_id) == "written"
    assert env.plex.item(key)["title"] == "Two Parts"


def test_a_backslash_in_a_file_name_matches_exactly(env):
    scene_id, key = env.add("Back\\slash", title="B")
    assert env.run(scene_id) == "written"
    assert env.plex.item(key)["title"] == "B"
    env.plex.reset_requests()
    assert env.run(scene_id) == "unchanged" and env.plex.requests == []
