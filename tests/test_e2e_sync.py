"""End to end: Stash edits reach Plex through the plugin, run exactly as Stash runs it.

Each test starts the Stash and Plex emulators with a generated library (names full of
accents, emoji, commas, quotes, zero-width joiners; Stash paths that need a mapping to
become Plex's), and drives the real plugin through ``sandbox.runner.PluginRunner``:
every hook and task is a subprocess with the real plexapi inside. Assertions read the
emulators' state (``PlexServer.item``, request counts, scan requests) and the plugin's
data folder (queue, dead-letter queue, circuit breaker). The last test checks every
GraphQL document the plugin sent during these tests against Stash's real schema.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import pytest

from sandbox.library import ZWJ, World, generate
from sandbox.plex_server import PlexServer
from sandbox.runner import PluginRunner
from sandbox.stash_server import StashServer
from shared.datadir import ensure_private_dir
from tests.e2e_helpers import (
    EDIT,
    POSTER_UPLOAD,
    QUERIES,
    ROOT,
    Sandbox,
    all_runs,
    assert_in_plex,
    close_sandbox,
    log_text,
    mismatches,
    untouched,
)

pytestmark = pytest.mark.slow


def make_sandbox(tmp_path, *, seed: int = 11, scenes: int = 30, job_queue: str | None = None,
                 mapping: bool | str = True, prepare: Callable[[World], None] | None = None,
                 **world_options) -> Sandbox:
    """Emulators loaded with a generated world (``prepare`` may alter it first), the
    plugin configured (``mapping``: the world's path mapping, none, or this one), a runner."""
    stash = StashServer().start()
    plex = PlexServer().start()
    world = generate(seed, scenes, **world_options)
    if prepare is not None:
        prepare(world)
    world.load_into(stash, plex)
    data_dir = ensure_private_dir(str(tmp_path / "data"))
    runner_options = {"job_queue": job_queue} if job_queue else {}
    runner = PluginRunner(ROOT, stash, tmp_path / "stash", env={"PLEXSYNC_DATA_DIR": data_dir}, **runner_options)
    sandbox = Sandbox(stash=stash, plex=plex, world=world, runner=runner, data_dir=data_dir)
    settings = {"plex_url": plex.url, "plex_token": plex.token}
    if mapping:
        settings["path_mappings"] = mapping if isinstance(mapping, str) else world.mapping_setting
    sandbox.configure(**settings)
    return sandbox


@pytest.fixture
def sandbox(tmp_path):
    """A 20-scene world (some two-part scenes), every file scanned, mapping set, nothing synced."""
    box = make_sandbox(tmp_path, scenes=20, multipart_fraction=0.1)
    yield box
    close_sandbox(box)


@pytest.fixture
def synced(sandbox):
    """The same world after one full sync of every scene."""
    result = sandbox.sync(sandbox.world.scenes)
    assert result.ok, result.stderr
    assert result.output["synced"] == len(sandbox.world.scenes), result.output
    sandbox.plex.reset_requests()
    return sandbox


def pick(sandbox: Sandbox, *, min_tags: int = 0, min_performers: int = 0, skip: int = 0):
    """A scene with at least that many tags and performers (the ``skip``-th such)."""
    found = [s for s in sandbox.world.scenes
             if len(s.tags) >= min_tags and len(s.performers) >= min_performers and not s.bare]
    return found[skip]


# ---------------------------------------------------------------------------------------
# The first full sync, and an edit reaching Plex exactly
# ---------------------------------------------------------------------------------------


def test_full_sync_maps_paths_and_writes_every_field_exactly(sandbox):
    world = sandbox.world
    assert world.stash_prefix != world.plex_prefix          # only the mapping joins them
    # A backslash is an ordinary character in a POSIX file name, not a separator.
    assert any("\\" in f for s in world.scenes for f in s.files)
    result = sandbox.sync(world.scenes)

    assert result.ok, result.stderr
    assert result.output["synced"] == len(world.scenes)
    assert result.output["dead_lettered"] == 0 and result.output["retried"] == 0
    assert_in_plex(sandbox.plex, world.scenes)
    # Every file was found by its full (mapped) path: no file-name guess, no scan.
    logs = log_text([result])
    assert "matched by file name" not in logs
    assert sandbox.plex.scan_requests == []
    # Written fields are locked against Plex's agents; the cover became the poster.
    for spec in world.scenes:
        item = sandbox.plex.item(spec.plex_key)
        assert {"title", "summary", "studio", "genre", "actor", "collection", "thumb"} <= item["locked"]
        assert item["poster"] is not None and item["poster"]["source"] == "upload"
    # One edit per scene, one poster each.
    counts = sandbox.plex.request_counts()
    assert counts[EDIT] == len(world.scenes)
    assert counts[POSTER_UPLOAD] == len(world.scenes)
    assert sandbox.pending() == [] and sandbox.dead_letters() == []


def test_edit_in_stash_reaches_plex_with_every_field_exact(synced):
    spec = pick(synced, min_tags=2, min_performers=1)
    results = synced.save(
        spec,
        title="Edited — “Title”, with commas",
        details="Line one.\nLine two, with a comma.\n\n“Quoted” paragraph…",
        date="2001-02-03",
        rating100=73,
        studio="Brand-New Studio, Inc.",
        performers=["New Performer", *spec.performers[:1]],
        tags=[*spec.tags, "Fresh Tag"],
        groups=["A New Group"],
        director="Dana Director",
    )

    runs = all_runs(results)
    assert [r.kind for r in runs] == ["hook", "task"]      # the hook asked for one drain
    assert all(r.ok for r in runs), [(r.name, r.error) for r in runs]
    assert runs[1].name == "Process queue" and runs[1].output["synced"] == 1
    assert mismatches(synced.plex, spec) == {}
    item = synced.plex.item(spec.plex_key)
    assert item["userRating"] == 7.3 and item["year"] == 2001
    assert item["actors"] == ["New Performer", spec.performers[1]]
    # Nothing else moved.
    assert_in_plex(synced.plex, synced.world.scenes)
    assert synced.writes() == {EDIT: 1}


def test_removed_tags_and_performers_disappear_from_plex(synced):
    spec = pick(synced, min_tags=3, min_performers=2)
    kept_tags = spec.tags[1:2]
    synced.save(spec, tags=kept_tags, performers=spec.performers[1:])
    assert mismatches(synced.plex, spec) == {}
    assert synced.plex.item(spec.plex_key)["genres"] == kept_tags

    synced.save(spec, tags=[], performers=[], groups=[], studio=None)
    item = synced.plex.item(spec.plex_key)
    assert item["genres"] == [] and item["actors"] == [] and item["collections"] == []
    assert item["studio"] is None
    assert mismatches(synced.plex, spec) == {}

    # Cleared text, date and rating clear Plex's fields too.
    synced.save(spec, details="", date=None, rating100=None, director="")
    item = synced.plex.item(spec.plex_key)
    assert [item[k] for k in ("summary", "originallyAvailableAt", "year", "userRating")] == [None] * 4
    assert item["directors"] == []
    assert mismatches(synced.plex, spec) == {}
    assert synced.writes() == {EDIT: 3}


# ---------------------------------------------------------------------------------------
# One request per changed scene, none for unchanged ones
# ---------------------------------------------------------------------------------------


def edit_requests(plex: PlexServer) -> list[dict]:
    """The query of every edit PUT, without the item address."""
    return [{k: v for k, v in r.query.items() if k not in ("type", "id")}
            for r in plex.requests if (r.method, r.route) == EDIT]


@pytest.mark.parametrize("parallel", [1, 4])
def test_request_counts_unchanged_changed_and_new_cover(synced, parallel):
    synced.configure(parallel_plex_requests=parallel)
    plex, stash = synced.plex, synced.stash
    spec = pick(synced, min_tags=1)

    # Saved without a change: the scene is read from Stash, nothing is sent to Plex.
    synced.hook(spec)
    assert synced.writes() == {}

    # A changed field: exactly one edit, holding only that field (and its lock).
    synced.save(spec, title=spec.title + " (director's cut)")
    assert synced.writes() == {EDIT: 1}
    assert edit_requests(plex) == [{"title.value": spec.title, "title.locked": "1"}]
    plex.reset_requests()

    # A new cover: one upload (and the poster lock in one edit), nothing else.
    stash.set_cover(spec.stash_id)
    synced.hook(spec, {"cover_image": "data:image/jpeg;base64,AAAA"})
    assert synced.writes() == {EDIT: 1, POSTER_UPLOAD: 1}
    assert edit_requests(plex) == [{"thumb.locked": "1"}]
    cover = stash.store.screenshot(spec.stash_id)
    assert plex.item(spec.plex_key)["poster"]["sha256"] == hashlib.sha256(cover).hexdigest()
    plex.reset_requests()

    # A field and the cover at once: still one edit and one upload.
    stash.set_cover(spec.stash_id)
    synced.save(spec, tags=spec.tags[:-1])
    assert synced.writes() == {EDIT: 1, POSTER_UPLOAD: 1}
    plex.reset_requests()

    # And saving again without a change costs nothing.
    synced.hook(spec)
    synced.hook(pick(synced, skip=1))
    assert synced.writes() == {}
    assert mismatches(plex, spec) == {}


def test_burst_of_saves_to_one_scene_costs_one_plex_write(synced):
    spec = pick(synced, min_tags=2)
    for n in range(5):
        synced.edit(spec, title=f"Draft {n}", tags=spec.tags[:1] if n % 2 else spec.tags[:2])
        synced.queue_quietly([spec])
    assert len(synced.pending()) == 5

    result = synced.drain()
    assert result.output["synced"] == 1 and result.output["superseded"] == 4, result.output
    assert synced.writes() == {EDIT: 1}
    assert mismatches(synced.plex, spec) == {}


def test_rating_only_save_changes_nothing_else_in_plex(synced):
    spec = next(s for s in synced.world.scenes if s.details and s.tags and s.performers and s.studio and s.date)
    before = synced.plex.item(spec.plex_key)
    rating = 42 if spec.rating100 != 42 else 43

    results = synced.save(spec, rating100=rating)

    # Stash's hook input carried null for every field the save did not send …
    hook_input = json.loads(results[0].stdin)["args"]["hookContext"]["input"]
    assert hook_input["rating100"] == rating
    assert hook_input["details"] is None and hook_input["title"] is None and hook_input["tag_ids"] is None
    # … and none of those nulls reached Plex: only the rating changed.
    after = synced.plex.item(spec.plex_key)
    changed = {k for k in before if before[k] != after[k]} - {"updatedAt"}
    assert changed == {"userRating"}, {k: (before[k], after[k]) for k in changed}
    assert after["userRating"] == rating / 10
    assert edit_requests(synced.plex) == [{"userRating.value": f"{rating / 10:g}", "userRating.locked": "1"}]
    assert synced.writes() == {EDIT: 1}


def test_save_touching_only_unsynced_fields_queues_nothing(sandbox):
    spec = sandbox.world.scenes[0]
    sandbox.stash.reset_queries()
    for sent in ({"play_count": 3}, {"o_counter": 2}, {"resume_time": 61.5},
                 {"play_count": 4, "play_duration": 30.5, "resume_time": 0}):
        results = sandbox.hook(spec, sent)
        assert [r.output for r in results] == ["nothing to sync"], [(r.output, r.error) for r in results]
        assert not results[0].followups
    assert sandbox.pending() == []
    assert sandbox.stash.queries == []            # not even the settings were read
    assert sandbox.runner.task_runs == []
    assert sandbox.plex.requests == []


# ---------------------------------------------------------------------------------------
# Text arrives exactly
# ---------------------------------------------------------------------------------------

ZW = "\u200b\u200c" + ZWJ + "\u2060\ufeff"     # zero-width space, non-joiner, joiner, word joiner, BOM
NASTY = {
    "title": f'  “Smart” and "straight" quotes, commas, {ZW}zero-width{ZW} & emoji 👩{ZWJ}👩{ZWJ}👧  ',
    "details": f"Line one,\nline two — “quoted”…\r\n\n\ttabbed 'single' ‹angle› <b>not html</b> &amp; {ZW}\n",
    "studio": f' Studio, "Quoted" & Co.{ZW} ',
    "performers": ["Smith, Jane", f'Jamie "JJ" Jones{ZW}', f"Zoë{ZWJ}Çelik", " Padded , Comma "],
    "tags": ["Black, White", f"“Classic”{ZW}", "Multi\nline tag", " spaced tag ", "a,b,c", "%2C encoded?"],
    "groups": [f"Volume 1, 2 & 3{ZW}", 'The "Quoted" Saga'],
    "director": f"Dir, “Quoted” O'Neil{ZW}",
    "date": "1999-12-31",
    "rating100": 1,
}


def test_unicode_commas_quotes_newlines_and_zero_width_round_trip_exactly(synced, tmp_path):
    spec = pick(synced, min_tags=1, min_performers=1)
    synced.save(spec, **NASTY)
    assert mismatches(synced.plex, spec) == {}
    item = synced.plex.item(spec.plex_key)
    assert item["title"] == NASTY["title"] and item["summary"] == NASTY["details"]
    assert item["actors"] == NASTY["performers"] and sorted(item["genres"]) == sorted(NASTY["tags"])

    # Characters XML cannot carry are the only ones dropped.
    synced.save(spec, title="Bell\x07 and\x0b vertical tab\x1f")
    assert synced.plex.item(spec.plex_key)["title"] == "Bell and vertical tab"
    spec.title = "Bell and vertical tab"

    # What Plex shows reads back equal to what we meant: a sync that has forgotten
    # everything (a fresh data folder) loads the item, compares, and sends no field.
    synced.runner.env["PLEXSYNC_DATA_DIR"] = str(tmp_path / "fresh-data")
    synced.plex.reset_requests()
    synced.hook(spec)
    # Only the poster is sent again (its hash was forgotten), with its lock: no text field.
    assert edit_requests(synced.plex) == [{"thumb.locked": "1"}]
    assert synced.writes() == {EDIT: 1, POSTER_UPLOAD: 1}
    assert mismatches(synced.plex, spec) == {}


# ---------------------------------------------------------------------------------------
# Files Plex has not scanned, same-named files, path mappings
# ---------------------------------------------------------------------------------------


def test_unscanned_file_is_scanned_for_and_found_on_retry(tmp_path):
    box = make_sandbox(tmp_path, seed=3, scenes=20, unscanned_fraction=0.25)
    try:
        spec = next(s for s in box.world.scenes if not s.scanned and not s.multipart)
        assert box.plex.find_by_file(spec.plex_files[0]) is not None
        box.plex.set_scan_delay(0.5)                # Plex scans in the background, as PMS does

        results = box.save(spec, title="Saved before Plex saw the file")

        drain = all_runs(results)[-1]
        assert drain.name == "Process queue" and drain.ok, drain.stderr
        assert drain.output["synced"] == 1 and drain.output["retried"] >= 1
        assert drain.output["dead_lettered"] == 0
        folder = spec.plex_files[0].rsplit("/", 1)[0]
        assert box.plex.scan_requests == [folder]      # one partial scan, of the mapped folder
        assert any("scan" in m for m in drain.messages("i")), drain.logs
        assert box.plex.item(spec.plex_key)["scanned"]
        assert mismatches(box.plex, spec) == {}
        assert box.pending() == [] and box.dead_letters() == []
        # The rest of the unscanned files stay unscanned: the scan was of one folder.
        others = [s for s in box.world.scenes if not s.scanned and s is not spec
                  and s.plex_files[0].rsplit("/", 1)[0] != folder]
        assert others and not any(box.plex.item(s.plex_key)["scanned"] for s in others)
    finally:
        close_sandbox(box)


def test_windows_stash_paths_map_onto_plex_paths(tmp_path):
    """Stash on Windows (``D:\\Stash\\…``), Plex on Linux (``/data/media/…``)."""

    def to_windows(world: World) -> None:
        world.scenes = [s for s in world.scenes if "\\" not in "".join(s.files)]   # not a Windows file name
        for spec in world.scenes:
            spec.files = [f.replace("/", "\\") for f in spec.files]

    box = make_sandbox(tmp_path, seed=4, scenes=16, stash_prefix="D:/Stash", plex_prefix="/data/media",
                       multipart_fraction=0.2, prepare=to_windows, mapping="d:\\Stash\\ => /data/media/")
    try:
        world = box.world
        assert box.stash.scene(world.scenes[0].stash_id)["files"][0]["path"].startswith("D:\\Stash\\")
        result = box.sync(world.scenes)
        assert result.ok and result.output["synced"] == len(world.scenes), (result.output, result.stderr)
        assert "matched by file name" not in log_text([result])
        assert_in_plex(box.plex, world.scenes)
    finally:
        close_sandbox(box)


def test_duplicate_file_names_sync_exactly_with_a_path_mapping(tmp_path):
    box = make_sandbox(tmp_path, seed=8, scenes=60, duplicate_name_fraction=0.1, multipart_fraction=0.05)
    try:
        dupes = [s for s in box.world.scenes if s.duplicate_name]
        assert len(dupes) >= 6
        result = box.sync(box.world.scenes)
        assert result.ok and result.output["synced"] == 60, (result.output, result.stderr)
        assert_in_plex(box.plex, box.world.scenes)     # each copy on its own item
        assert box.dead_letters() == []
    finally:
        close_sandbox(box)


def test_without_mapping_unique_names_sync_and_ambiguous_ones_go_to_the_dlq(tmp_path):
    """10 % of file names repeat across folders (copies of one file: same size and length)
    and Plex sees other paths than Stash: every scene whose file name is unique syncs by
    name, each ambiguous one goes to the dead-letter queue naming its candidates, and the
    drain never stalls on them."""
    box = make_sandbox(tmp_path, seed=21, scenes=100, duplicate_name_fraction=0.1, mapping=False,
                       same_size_duplicates=True)
    try:
        world = box.world
        dupes = [s for s in world.scenes if s.duplicate_name]
        unique = [s for s in world.scenes if not s.duplicate_name]
        assert len(dupes) == 10

        box.runner.timeout = 60           # a stall would be killed and reported as timed out
        result = box.sync(world.scenes)

        assert result.ok, result.stderr
        out = result.output
        assert out["synced"] == len(unique) and out["dead_lettered"] == len(dupes), out
        assert out["retried"] == 0 and out["waiting"] == 0 and out["stopped"] == "queue empty", out
        assert not result.timed_out
        assert_in_plex(box.plex, unique)
        assert all(untouched(box.plex, s) for s in dupes)   # no guess wrote onto a stranger's item
        assert box.pending() == []

        letters = {int(d.scene_id): d for d in box.dead_letters()}
        assert set(letters) == {int(s.stash_id) for s in dupes}
        assert {d.error_type for d in letters.values()} == {"PermanentError"}

        # "DLQ: show" lists them with the candidates, so the user sees what to fix.
        shown = box.runner.run_task("DLQ: show")
        assert shown.ok and shown.output["total"] == len(dupes), shown.stderr
        text = "\n".join(shown.messages("i"))
        for spec in dupes:
            twin = next(s for s in dupes if s is not spec and
                        s.plex_files[0].rsplit("/", 1)[1] == spec.plex_files[0].rsplit("/", 1)[1])
            entry = letters[int(spec.stash_id)]
            for path in (spec.plex_files[0], twin.plex_files[0]):
                assert path in entry.error_message
                assert path in text
            assert "Path mappings" in entry.error_message

        # Fixing the setting and retrying the dead letters lands them on the right items.
        box.configure(path_mappings=world.mapping_setting)
        retried = box.runner.run_task("DLQ: retry all")
        assert retried.ok and retried.output["requeued"] == len(dupes), retried.stderr
        drains = all_runs([retried])[1:]
        assert [d.name for d in drains] == ["Process queue"] and drains[0].output["synced"] == len(dupes)
        assert_in_plex(box.plex, world.scenes)
        assert box.dead_letters() == [] and box.pending() == []
    finally:
        close_sandbox(box)


# ---------------------------------------------------------------------------------------
# Plex down, wrong token: nothing burned, nothing lost
# ---------------------------------------------------------------------------------------


def test_plex_down_mid_drain_opens_breaker_keeps_jobs_and_everything_lands_after(synced):
    plex = synced.plex
    specs = synced.world.scenes[:12]
    for n, spec in enumerate(specs):
        synced.edit(spec, title=f"Edited during the outage #{n}", rating100=n + 1)
    synced.queue_quietly(specs)
    plex.set_latency(0.1)

    outcome: dict = {}
    drain = threading.Thread(target=lambda: outcome.setdefault("result", synced.drain()))
    drain.start()
    deadline = time.monotonic() + 30
    while plex.request_counts()[EDIT] < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    plex.set_down(True)                              # Plex goes away in the middle of the drain
    drain.join(60)
    assert not drain.is_alive()
    result = outcome["result"]

    # The task fails, saying when Plex is tried again; its report is still returned.
    assert result.exit_code == 1 and result.error.startswith("Plex unreachable; next try at "), result.error
    assert result.output["stopped"] == "Plex unreachable (circuit breaker open)", result.output
    assert synced.breaker()["state"] == "open"
    # Nothing lost: every edit is either in Plex already or still queued …
    pending = synced.pending()
    queued = {int(j["scene_id"]) for j in pending}
    plex.set_down(False)
    plex.set_latency(0)
    done = {int(s.stash_id) for s in specs if not mismatches(plex, s)}
    assert queued | done == {int(s.stash_id) for s in specs}, (queued, done)
    assert len(queued) >= 5, (queued, done)
    # … and nothing burned: no retry used up, nothing dead-lettered.
    assert all(not j.get("retry_count") for j in pending), pending
    assert any(j.get("outage_count") for j in pending)
    assert synced.dead_letters() == []
    assert "unreachable" in log_text([result], "w")

    # Plex is back; the user resets the breaker, which asks for a drain: everything lands.
    reset = synced.runner.run_task("Reset circuit breaker")
    assert reset.ok and reset.output["before"] == "open", reset.stderr
    followups = all_runs([reset])[1:]
    assert [f.name for f in followups] == ["Process queue"] and followups[0].ok, followups[0].stderr
    assert_in_plex(plex, synced.world.scenes)
    assert synced.pending() == [] and synced.dead_letters() == []
    assert synced.breaker()["state"] == "closed"


def test_breaker_half_opens_by_itself_once_the_recovery_time_passed(synced):
    """Without a manual reset: once the breaker's recovery time has passed, the next
    drain probes Plex and carries on."""
    specs = synced.world.scenes[:6]
    for spec in specs:
        synced.edit(spec, details=spec.details + " (updated)")
    synced.queue_quietly(specs)
    synced.plex.set_down(True)
    down = synced.drain()
    assert down.output["stopped"] == "Plex unreachable (circuit breaker open)", down.output
    assert synced.breaker()["state"] == "open"
    synced.plex.set_down(False)

    # Move the breaker's clock back past its recovery timeout (60 s) rather than wait.
    from shared.defaults import BREAKER_RECOVERY_TIMEOUT

    state = synced.breaker()
    state["opened_at"] -= BREAKER_RECOVERY_TIMEOUT + 1
    with open(f"{synced.data_dir}/circuit_breaker.json", "w", encoding="utf-8") as fh:
        json.dump(state, fh)
    up = synced.drain(max_wait="10")
    assert up.ok and up.output["synced"] == len(specs), (up.output, up.stderr)
    assert_in_plex(synced.plex, synced.world.scenes)
    assert synced.breaker()["state"] == "closed"
    assert synced.pending() == [] and synced.dead_letters() == []


def test_wrong_token_stops_with_an_error_naming_the_setting_and_keeps_jobs(synced):
    wrong = "wrong-token-0123456789"
    synced.configure(plex_token=wrong)
    spec = pick(synced)
    other = pick(synced, skip=1)
    synced.edit(other, title="Queued behind the bad token")
    synced.queue_quietly([other])

    results = synced.save(spec, title="Saved with a bad token")

    drain = all_runs(results)[-1]
    assert drain.name == "Process queue"
    errors = drain.messages("e")
    assert any("'Plex token'" in m for m in errors), drain.logs
    assert drain.output["stopped"] == "a setting needs fixing", drain.output
    assert drain.error.startswith("Fix the 'Plex token' setting"), drain.error
    everything = "\n".join(r.stderr + r.stdout for r in all_runs(results))
    assert wrong not in everything                                  # never logged
    queued = {int(j["scene_id"]) for j in synced.pending()}
    assert queued == {int(spec.stash_id), int(other.stash_id)}
    assert all(not j.get("retry_count") for j in synced.pending())
    assert synced.dead_letters() == []
    assert (synced.breaker() or {}).get("state", "closed") == "closed"   # not an outage
    assert synced.writes() == {}

    # The Status task says the same.
    status = synced.runner.run_task("Status")
    assert status.output["plex"]["reachable"] is False
    assert "'Plex token'" in status.output["plex"]["error"]

    # Fixed: the kept jobs land.
    synced.configure(plex_token=synced.plex.token)
    result = synced.drain()
    assert result.output["synced"] == 2, (result.output, result.stderr)
    assert_in_plex(synced.plex, synced.world.scenes)
    assert synced.pending() == []


# ---------------------------------------------------------------------------------------
# A burst of 500 saves, with Stash's job queue running alongside
# ---------------------------------------------------------------------------------------


def test_500_hooks_ask_for_a_handful_of_drains_and_every_edit_lands(tmp_path):
    box = make_sandbox(tmp_path, seed=500, scenes=500, job_queue="background")
    try:
        world, stash = box.world, box.stash
        stash.reset_queries()


        def save(spec):
            sent = box.edit(spec, title=f"{spec.title} ✓")
            return box.runner.fire_hook("Scene.Update.Post", int(spec.stash_id), sent, ["id", *sent])

        # Saves from two browser tabs at once: Stash runs their hooks side by side.
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=2) as pool:
            hooks = [h for hs in pool.map(save, world.scenes) for h in hs]
        fired = time.monotonic() - started
        assert [h.output for h in hooks] == ["queued"] * 500, [(h.error, h.stderr) for h in hooks if not h.ok]
        jobs = box.runner.wait_for_jobs(timeout=120)
        total = time.monotonic() - started

        asks = [q for q in stash.queries if "runPluginTask" in (q["query"] or "")]
        assert 1 <= len(asks) <= 5, len(asks)
        assert all(j.name == "Process queue" and j.ok for j in jobs), [(j.name, j.error) for j in jobs]
        assert sum(j.output.get("synced", 0) for j in jobs) == 500
        assert_in_plex(box.plex, world.scenes)
        assert box.plex.request_counts()[EDIT] == 500          # one edit per scene
        assert box.pending() == [] and box.dead_letters() == []
        print(f"\n500 hooks fired in {fired:.1f}s, all in Plex after {total:.1f}s; "
              f"{len(asks)} drain request(s), {len(jobs)} drain(s)")
    finally:
        close_sandbox(box)


# ---------------------------------------------------------------------------------------
# Conformance: every GraphQL document the plugin sent is valid for the real Stash
# ---------------------------------------------------------------------------------------


def test_every_graphql_document_sent_is_valid_against_stashs_schema(tmp_path):
    """Runs last: checks what the plugin sent in every test of this module (plus a short
    tour of its tasks, so the check stands on its own when run alone)."""
    from sandbox.schema_check import real_schema_dir, validate_against_real_schema, validate_against_subset_schema

    box = make_sandbox(tmp_path, scenes=4)
    try:
        box.save(box.world.scenes[0], title="Conformance")
        for task in ("Status", "DLQ: show", "DLQ: retry all", "DLQ: purge old entries", "DLQ: clear",
                     "Reset circuit breaker"):
            result = box.runner.run_task(task)
            assert result.ok, (task, result.stderr)
    finally:
        close_sandbox(box)

    assert QUERIES.failed == [], QUERIES.failed
    documents = QUERIES.documents
    operations = " ".join(documents)
    for name in ("FindScene", "PluginSettings", "ApiKey", "RunPluginTask"):
        assert name in operations, f"no {name} among the documents sent: {list(documents)}"
    for document in documents:
        assert validate_against_subset_schema(document) == [], document
    if real_schema_dir() is None:
        pytest.skip("Stash's real schema is not at ../shared/fixtures/stash-schema; "
                    f"{len(documents)} documents checked against the emulator's subset only")
    problems = {doc: errs for doc in documents
                if (errs := validate_against_real_schema(doc, allow_deprecated=False))}
    assert problems == {}, problems
