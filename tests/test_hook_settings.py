"""The hook's settings snapshot (shared/hook_settings.py): pure rules, and the hook run
as Stash runs it, counting its requests to the Stash emulator."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path
from typing import Any

import pytest
from freezegun import freeze_time

from sandbox.harness import PLUGIN_ID, Sandbox
from sandbox.runner import RunResult
from shared.defaults import HOOK_SETTINGS_FORMER_FOLDERS, HOOK_SETTINGS_MAX_AGE_SECONDS
from shared.hook_settings import (
    HOOK_KEYS,
    build_snapshot,
    former_data_folders,
    fresh_settings,
    load_hook_settings,
    save_hook_settings,
    snapshot_path,
)
from worker.jobs import new_job
from worker.queue import enqueue, pending_jobs

QUICK = {"linger": "0.05", "max_wait": "0"}
SECRET = "plex-token-that-must-never-be-written"

# -- pure rules ---------------------------------------------------------------------------


def test_only_the_hook_keys_are_kept_never_the_token() -> None:
    settings = {"plex_token": SECRET, "plex_url": "http://plex:32400", "data_dir": "/d", "debug_logging": True,
                "reconcile_interval": "daily", "path_mappings": "/a => /b", "weird": {"nested": 1}}
    doc = build_snapshot(settings, "/d", None, 1000.0)
    assert doc["settings"] == {"data_dir": "/d", "debug_logging": True, "reconcile_interval": "daily"}
    assert SECRET not in json.dumps(doc)


def test_former_folders_are_newest_first_unique_and_bounded() -> None:
    doc = build_snapshot({}, "/a", None, 1.0)
    for n, folder in enumerate(["/b", "/c", "/a", "/d", "/e", "/f", "/g"], start=2):
        doc = build_snapshot({}, folder, doc, float(n))
    assert doc["data_folder"] == "/g"
    assert doc["former_data_folders"] == ["/f", "/e", "/d", "/a", "/c"][:HOOK_SETTINGS_FORMER_FOLDERS]


@pytest.mark.parametrize("age, fresh", [(0, True), (HOOK_SETTINGS_MAX_AGE_SECONDS - 1, True),
                                        (HOOK_SETTINGS_MAX_AGE_SECONDS, False), (-5, False)])
def test_a_snapshot_is_trusted_only_within_the_max_age(age: float, fresh: bool) -> None:
    doc = build_snapshot({"debug_logging": True}, "/d", None, 10_000.0)
    got = fresh_settings(doc, 10_000.0 + age)
    assert (got == {"debug_logging": True}) if fresh else got is None


@pytest.mark.parametrize("doc", [None, [], "x", {"version": 99}, {"version": 1, "written_at": "now", "settings": {}},
                                 {"version": 1, "written_at": True, "settings": {}},
                                 {"version": 1, "written_at": 1.0, "settings": []}])
def test_a_snapshot_of_another_shape_is_not_trusted(doc: Any) -> None:
    assert fresh_settings(doc, 1.0) is None


def test_saved_private_and_read_back_until_it_ages(tmp_path: Path) -> None:
    stash_dir = str(tmp_path / "stash")
    with freeze_time("2026-01-01 12:00:00") as frozen:
        assert save_hook_settings(stash_dir, {"plex_token": SECRET, "debug_logging": True}, "/data")
        path = snapshot_path(stash_dir)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
        assert SECRET not in Path(path).read_text()
        assert load_hook_settings(stash_dir) == {"debug_logging": True}
        frozen.tick(HOOK_SETTINGS_MAX_AGE_SECONDS + 1)
        assert load_hook_settings(stash_dir) is None
    assert former_data_folders(stash_dir) == ["/data"]


def test_a_read_only_task_creates_no_folder_for_it(tmp_path: Path) -> None:
    assert not save_hook_settings(str(tmp_path / "stash"), {}, "/data", create=False)
    assert not (tmp_path / "stash").exists()


# -- the hook as Stash runs it ---------------------------------------------------------------


def _requests_of(sb: Sandbox, run: RunResult) -> list[str]:
    """The GraphQL documents one plugin run sent (told apart by its session cookie)."""
    session = json.loads(run.stdin)["server_connection"]["SessionCookie"]["Value"]
    return [q["query"] or "" for q in sb.stash.queries if q.get("session") == session]


def _save(sb: Sandbox, index: int, title: str) -> RunResult:
    [result] = sb.edit(sb.world.scenes[index], title=title)
    assert result.ok, (result.error, result.logs)
    assert result.output == "queued"
    return result


def _settings_reads(documents: list[str]) -> int:
    return sum("configuration" in d for d in documents)


def _task_runs(documents: list[str]) -> int:
    return sum("runPluginTask" in d for d in documents)


def test_with_a_fresh_snapshot_the_hook_asks_stash_only_for_the_drain() -> None:
    with Sandbox(scenes=3, seed=41, job_queue="sync") as sb:
        assert sb.runner is not None
        assert sb.runner.run_task("Process queue", QUICK).ok      # any task leaves the snapshot
        snapshot = Path(snapshot_path(str(sb.stash_dir))).read_text()
        assert sb.plex.token not in snapshot
        assert set(json.loads(snapshot)["settings"]) <= set(HOOK_KEYS)

        result = _save(sb, 0, "Snapshot floor")

        sent = _requests_of(sb, result)
        assert _task_runs(sent) == 1 and len(sent) == 1, sent
        assert result.followups and result.followups[0].ok
        assert sb.plex_item(sb.world.scenes[0])["title"] == "Snapshot floor"


def _break(path: str, how: str) -> None:
    if how == "missing":
        os.unlink(path)
    elif how == "corrupt":
        Path(path).write_bytes(b"\x00{not json")
    elif how == "stale":
        doc = json.loads(Path(path).read_text())
        doc["written_at"] = time.time() - HOOK_SETTINGS_MAX_AGE_SECONDS - 60
        Path(path).write_text(json.dumps(doc))


@pytest.mark.parametrize("how", ["missing", "corrupt", "stale"])
def test_without_a_usable_snapshot_the_hook_reads_settings_once_and_still_queues(how: str) -> None:
    with Sandbox(scenes=3, seed=42, job_queue="sync") as sb:
        assert sb.runner is not None
        assert sb.runner.run_task("Process queue", QUICK).ok
        path = snapshot_path(str(sb.stash_dir))
        _break(path, how)
        sb.stash.set_plugin_settings(PLUGIN_ID, {**sb.settings(), "debug_logging": True})

        result = _save(sb, 1, f"After a {how} snapshot")

        sent = _requests_of(sb, result)
        assert _settings_reads(sent) == 1 and _task_runs(sent) == 1 and len(sent) == 2, sent
        assert any(level == "d" for level, _ in result.logs), "the setting read from Stash applied"
        assert sb.plex_item(sb.world.scenes[1])["title"] == f"After a {how} snapshot"
        assert load_hook_settings(str(sb.stash_dir)) == {"debug_logging": True}   # refreshed


def test_a_changed_data_folder_loses_no_job(tmp_path: Path) -> None:
    old, new = tmp_path / "old-data", tmp_path / "new-data"
    with Sandbox(scenes=3, seed=43, job_queue="sync", settings={"data_dir": str(old)}) as sb:
        assert sb.runner is not None
        assert sb.runner.run_task("Process queue", QUICK).ok
        sb.stash.set_plugin_settings(PLUGIN_ID, {**sb.settings(), "data_dir": str(new)})

        # Documented: until a task runs, hooks queue into the folder the snapshot names;
        # the drain this save asks for adopts the job from there.
        result = _save(sb, 0, "Moved data folder")
        assert sb.plex_item(sb.world.scenes[0])["title"] == "Moved data folder"
        assert any("Moved 1 job" in m for r in result.followups for _l, m in r.logs)
        assert json.loads(Path(snapshot_path(str(sb.stash_dir))).read_text())["data_folder"] == str(new)

        # A hook that read the old snapshot just before the drain rewrote it: its job,
        # queued in the old folder afterwards, is adopted by the next drain too.
        scene = sb.world.scenes[1]
        sb.stash.update_scene(scene.stash_id, title="Late hook")
        enqueue(str(old), new_job(int(scene.stash_id), "Scene.Update.Post"))
        drained = sb.runner.run_task("Process queue", QUICK)
        assert drained.ok, drained.error
        assert list(pending_jobs(str(old))) == [] and list(pending_jobs(str(new))) == []
        assert sb.plex_item(scene)["title"] == "Late hook"
