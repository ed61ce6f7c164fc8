"""End to end, per kind of Plex library: Movies, Other Videos (a movie-type library with
the Personal Media agent) and TV Shows (studio → show, year → season, scene → episode),
and a Movies and a TV Shows library at once. The plugin runs as Stash runs it (hooks and
tasks as subprocesses, real plexapi over HTTP to the emulators).

Each kind goes through one story on one small world: a full sync, an edit, removals, a
rating-only save, an unchanged save, and a file Plex has not scanned yet — exact values
(stated by ``World.expected_plex``/``expected_episode`` from the scene alone), one Plex
edit per changed item and none for unchanged ones.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from sandbox.library import SceneSpec, World, generate
from sandbox.plex_server import PlexServer
from sandbox.runner import PluginRunner
from sandbox.stash_server import StashServer
from shared.datadir import ensure_private_dir
from tests.e2e_helpers import EDIT, ROOT, Sandbox, all_runs, close_sandbox, log_text

pytestmark = pytest.mark.slow

#: Fields an episode edit may carry (plexapi's EpisodeEditMixins, minus the agents' ratings).
EPISODE_EDIT_FIELDS = {"title", "titleSort", "summary", "originallyAvailableAt", "contentRating", "userRating",
                       "collection", "director", "label", "writer", "thumb"}


def make_box(tmp_path, layout: str, *, scenes: int = 10, seed: int = 5, unscanned: float = 0.1,
             studios: int = 0, **settings: Any) -> Sandbox:
    stash, plex = StashServer().start(), PlexServer().start()
    world = generate(seed, scenes, unscanned_fraction=unscanned, bare_fraction=0.0)
    for i, spec in enumerate(world.scenes if studios else ()):
        spec.studio = world.studios[i % studios]      # a few shows of several episodes each
    world.load_into(stash, plex, section_title="Scenes", layout=layout)
    data_dir = ensure_private_dir(str(tmp_path / "data"))
    runner = PluginRunner(ROOT, stash, tmp_path / "stash", env={"PLEXSYNC_DATA_DIR": data_dir})
    box = Sandbox(stash=stash, plex=plex, world=world, runner=runner, data_dir=data_dir)
    box.configure(plex_url=plex.url, plex_token=plex.token, path_mappings=world.mapping_setting, **settings)
    return box


def expected(spec: SceneSpec) -> dict[str, Any]:
    """What the scene's Plex item must show, by the kind of item it is (unset text is None)."""
    if spec.plex_type == "episode":
        want = World.expected_episode(spec)
    else:
        want = World.expected_plex(spec)
        want["directors"] = [spec.director] if spec.director.strip() else []
    for name in ("summary", "studio"):
        want[name] = want[name] or None
    return want


def mismatches(plex: PlexServer, spec: SceneSpec) -> dict[str, tuple[Any, Any]]:
    item = plex.item(spec.plex_key)
    out = {}
    for key, wanted in expected(spec).items():
        got = item[key]
        same = sorted(got) == sorted(wanted) if key in ("genres", "collections", "directors") else got == wanted
        if not same:
            out[key] = (got, wanted)
    return out


def assert_exact(box: Sandbox, specs) -> None:
    bad = {s.stash_id: m for s in specs if (m := mismatches(box.plex, s))}
    assert not bad, bad


def edits(plex: PlexServer) -> list[dict[str, str]]:
    """The query of every edit PUT (type and id included)."""
    return [dict(r.query) for r in plex.requests if (r.method, r.route) == EDIT]


def full_sync(box: Sandbox, specs: list[SceneSpec]) -> None:
    result = box.sync(specs)
    assert result.ok, result.stderr
    assert result.output["synced"] == len(specs) and result.output["dead_lettered"] == 0, result.output
    assert_exact(box, specs)


def story(box: Sandbox, kind: str) -> None:
    """Full sync, an edit, removals, a rating-only save, an unchanged save, an unscanned file."""
    plex = box.plex
    scanned = [s for s in box.world.scenes if s.scanned]
    unscanned = next(s for s in box.world.scenes if not s.scanned)
    full_sync(box, scanned)
    writes = edits(plex)
    assert len(writes) == len(scanned)            # one edit per item, every field in it
    episodes = [s for s in scanned if s.plex_type == "episode"]
    for spec in episodes:
        item = plex.item(spec.plex_key)
        assert item["type"] == "episode" and item["poster"] is not None
        assert {"title", "summary", "userRating", "collection"} <= item["locked"]
    for query in writes:
        item = plex.item(int(query["id"]))
        assert query["type"] == {"movie": "1", "episode": "4"}[item["type"]]
        if item["type"] == "episode":
            sent = {k.split(".")[0].split("[")[0] for k in query if k not in ("type", "id")}
            assert sent <= EPISODE_EDIT_FIELDS, sent - EPISODE_EDIT_FIELDS
    plex.reset_requests()

    # An edit: one request to write it, every field exact.
    spec = next(s for s in scanned if len(s.tags) >= 2 and len(s.performers) >= 1)
    runs = all_runs(box.save(spec, title="Edited, “again”", details="New\nlines", date="2003-04-05",
                             director="Dana Director", groups=["A New Group"], tags=[*spec.tags, "Fresh"]))
    assert all(r.ok for r in runs), [(r.name, r.error) for r in runs]
    assert box.writes() == {EDIT: 1}
    assert mismatches(plex, spec) == {}
    if spec.plex_type == "episode":
        assert "Not applicable to episodes, so not sent to Plex: " in log_text(runs, "i")
    plex.reset_requests()

    # Removals: tags, performers, groups and studio gone; on an episode the collections follow.
    box.save(spec, tags=spec.tags[1:2], performers=[], groups=[], studio=None)
    item = plex.item(spec.plex_key)
    assert item["collections"] == [] and item["actors"] == []
    assert item["genres"] == ([] if spec.plex_type == "episode" else spec.tags)
    assert mismatches(plex, spec) == {} and box.writes() == {EDIT: 1}
    plex.reset_requests()

    # A rating-only save changes only the rating.
    other = next(s for s in scanned if s is not spec and s.details and s.date)
    before = plex.item(other.plex_key)
    rating = 42 if other.rating100 != 42 else 43
    results = box.save(other, rating100=rating)
    assert json.loads(results[0].stdin)["args"]["hookContext"]["input"]["title"] is None
    after = plex.item(other.plex_key)
    assert {k for k in before if before[k] != after[k]} - {"updatedAt"} == {"userRating"}
    assert after["userRating"] == rating / 10
    assert [{k: v for k, v in q.items() if k not in ("type", "id")} for q in edits(plex)] == [
        {"userRating.value": f"{rating / 10:g}", "userRating.locked": "1"}]
    plex.reset_requests()

    # Saved without a change: no Plex write at all.
    box.hook(other)
    assert box.writes() == {}

    # A file Plex has not scanned: one partial scan of its folder, found on the retry.
    plex.set_scan_delay(0.5)
    drain = all_runs(box.save(unscanned, title="Saved before Plex saw it"))[-1]
    assert drain.name == "Process queue" and drain.ok, drain.stderr
    assert drain.output["synced"] == 1 and drain.output["retried"] >= 1 and drain.output["dead_lettered"] == 0
    assert plex.scan_requests == [unscanned.plex_files[0].rsplit("/", 1)[0]]
    assert plex.item(unscanned.plex_key)["type"] == unscanned.plex_type
    assert mismatches(plex, unscanned) == {}
    assert box.pending() == [] and box.dead_letters() == []


@pytest.mark.parametrize("layout", ["movies", "other_videos", "episodes"])
def test_each_kind_of_library_syncs_exactly(tmp_path, layout):
    # Movies and Other Videos libraries are used without naming them; a TV Shows library is named.
    settings = {"plex_libraries": "Scenes"} if layout == "episodes" else {}
    box = make_box(tmp_path, layout, **settings)
    try:
        assert {s.plex_type for s in box.world.scenes} == {"episode" if layout == "episodes" else "movie"}
        story(box, layout)
    finally:
        close_sandbox(box)


def test_a_movies_and_a_tv_shows_library_at_once(tmp_path):
    box = make_box(tmp_path, "mixed", scenes=14, seed=8, unscanned=0.15, plex_libraries="Scenes, Scenes (shows)")
    plex = box.plex
    try:
        world = box.world
        assert {s.plex_type for s in world.scenes} == {"movie", "episode"}
        scanned = [s for s in world.scenes if s.scanned]
        unscanned = [s for s in world.scenes if not s.scanned]
        assert {s.plex_type for s in unscanned} == {"movie", "episode"}
        full_sync(box, scanned)
        assert sorted(q["type"] for q in edits(plex)) == sorted(
            {"movie": "1", "episode": "4"}[s.plex_type] for s in scanned)
        # Status lists each library with its kind and item count.
        status = box.runner.run_task("Status")
        assert status.ok, status.stderr
        lines = status.messages("i")
        movies = sum(s.plex_type == "movie" for s in scanned)
        assert f"library 'Scenes': {movies} items (Movies)" in lines
        assert f"library 'Scenes (shows)': {len(scanned) - movies} items (TV Shows)" in lines

        # Missing in Plex: a scan of each folder, then the drain Stash runs next writes them.
        plex.reset_requests()
        missing = box.runner.run_task("Reconcile: missing in Plex")
        assert missing.ok, missing.stderr
        assert missing.output["enqueued"] == {"missing_in_plex": len(unscanned)}
        assert [r.name for r in missing.followups] == ["Process queue"] and missing.followups[0].ok
        assert_exact(box, unscanned)
        assert box.writes()[EDIT] == len(unscanned)

        # All scenes: one listing per library (episodes as type=4), everything in step, nothing written.
        plex.reset_requests()
        again = box.runner.run_task("Reconcile: all scenes")
        assert again.ok and again.output["enqueued_total"] == 0, again.output
        assert again.output["in_sync"] == len(world.scenes)
        listings = [r.query.get("type") for r in plex.requests if r.route == "/library/sections/{id}/all"]
        assert sorted(listings) == ["1", "4"]
        assert plex.request_counts()[("GET", "/library/metadata/{key}")] == 0 and box.writes() == {}

        # Changed scenes (edited in Stash without a hook): the dry run queues and writes nothing,
        # the real one writes each with the request of its own type.
        movie = next(s for s in scanned if s.plex_type == "movie")
        episode = next(s for s in scanned if s.plex_type == "episode")
        for spec in (movie, episode):
            box.edit(spec, title=f"{spec.title} (changed)")
        plex.reset_requests()
        dry = box.runner.run_task("Reconcile: changed scenes", {"dry_run": "true"})
        assert dry.ok and dry.output["enqueued_total"] == 2 and box.pending() == [] and box.writes() == {}
        changed = box.runner.run_task("Reconcile: changed scenes")
        assert changed.ok and changed.output["enqueued"] == {"changed_in_stash": 2}, changed.output
        assert sorted(q["type"] for q in edits(plex)) == ["1", "4"]
        assert_exact(box, world.scenes)

        # The queue's dry run on an episode: what would change, in the episode's fields, nothing sent.
        box.edit(episode, title="Dry-run title", studio=movie.studio)
        box.queue_quietly([episode])
        plex.reset_requests()
        planned = json.loads(plexsync_cli(box, "--json", "process", "--dry-run").stdout)
        assert planned["counts"] == {"would_write": 1}, planned
        # A new studio is a new collection on an episode, never a studio field (it has none).
        collections = {f"collection[{i}].tag.tag": name for i, name in enumerate(expected(episode)["collections"])}
        assert planned["scenes"][0]["params"] == {"title.value": "Dry-run title", "title.locked": 1,
                                                  **collections, "collection.locked": 1}
        assert box.writes() == {} and len(box.pending()) == 1
        drain = box.drain()
        assert drain.ok and drain.output["synced"] == 1
        assert_exact(box, world.scenes)
    finally:
        close_sandbox(box)


def plexsync_cli(box: Sandbox, *args: str):
    """``plexsync.py`` on the command line against the box's Stash and data folder."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLEXSYNC_", "STASH_"))}
    prefix = ["--stash-url", box.stash.url, "--api-key", box.stash.api_key, "--data-dir", box.data_dir]
    result = subprocess.run([sys.executable, str(ROOT / "plexsync.py"), *prefix, *args], capture_output=True,
                            text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    return result


def test_music_library_is_a_settings_error_naming_it(tmp_path):
    box = make_box(tmp_path, "movies", scenes=3)
    try:
        box.plex.add_section("Songs", ["/music"], type="artist")
        box.configure(plex_libraries="Scenes, Songs")
        result = box.runner.run_task("Status")
        text = log_text([result])
        assert "'Songs' is a Music library" in text and "'Plex libraries'" in text, text
        box.configure(plex_libraries="Scenes, Nope")
        text = log_text([box.runner.run_task("Status")])
        assert "no library named Nope" in text and "'Plex libraries'" in text, text
    finally:
        close_sandbox(box)


def test_fill_in_shows_from_studios(tmp_path):
    from sandbox.stash_media import jpeg_bytes
    import hashlib

    box = make_box(tmp_path, "episodes", scenes=9, seed=9, unscanned=0.0, studios=3, plex_libraries="Scenes",
                   sync_show_fields=True)
    plex, world = box.plex, box.world
    try:
        by_show: dict[str, list[SceneSpec]] = {}
        for spec in world.scenes:
            by_show.setdefault(spec.show, []).append(spec)
        studios = [name for name in by_show if name != "Unsorted" and len(by_show[name]) >= 2]
        ours, foreign = studios[0], studios[1]
        image = jpeg_bytes("studio-image", width=40, height=60)
        box.stash.set_studio_image(box.entity_id("studio", ours), image)
        # Someone else's episode in the second show: that show is not entirely ours.
        plex.add_item(world.show_section_id, "Not from Stash", ["/data/media/elsewhere/x.mp4"], show=foreign,
                      season=by_show[foreign][0].season)
        show_key = {name: plex.item(by_show[name][0].plex_key)["parentKey"] for name in (ours, foreign)}
        show_key = {name: plex.item(key)["parentKey"] for name, key in show_key.items()}
        before = plex.item(show_key[foreign])

        result = box.sync(world.scenes)
        assert result.ok and result.output["dead_lettered"] == 0, result.output
        assert_exact(box, world.scenes)
        show = plex.item(show_key[ours])
        assert show["type"] == "show" and show["studio"] == ours
        assert show["genres"] == list(dict.fromkeys(t for s in by_show[ours] for t in s.tags))
        assert show["poster"]["sha256"] == hashlib.sha256(image).hexdigest()
        assert {"studio", "genre", "thumb"} <= show["locked"]
        untouched_show = plex.item(show_key[foreign])
        assert untouched_show == before
        assert "filled in from studio" in log_text([result], "i")

        # Saved again without a change: neither the episode nor its show is written.
        plex.reset_requests()
        box.hook(by_show[ours][0])
        assert box.writes() == {}

        # A new tag on one of its scenes: its episode has no genres (no write), its show does (one edit).
        spec = by_show[ours][0]
        box.save(spec, tags=[*spec.tags, "Brand New Tag"])
        assert [dict(q)["type"] for q in edits(plex)] == ["2"]
        assert box.writes() == {EDIT: 1}
        assert "Brand New Tag" in plex.item(show_key[ours])["genres"]
    finally:
        close_sandbox(box)
