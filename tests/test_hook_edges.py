"""plexsync.py as Stash runs it, on odd input and odd folders (finding 11)."""

from __future__ import annotations

import os
import stat

import pytest

from tests.test_entrypoint import closed_port, data_dir_env, hook_doc, run_plugin, stash_dir  # noqa: F401 - fixtures
from worker.queue import pending_jobs

pytestmark = pytest.mark.slow


def test_stdin_nested_200000_deep_is_one_clear_error(run_plugin, stash_dir, data_dir_env):
    raw = '{"server_connection": {"Port": 9999}, "args": ' + "[" * 200_000 + "]" * 200_000 + "}"
    run = run_plugin(raw)
    assert run.code != 0
    assert "nested too deeply" in run.result["error"]
    assert "Traceback" not in run.stderr
    assert [level for level, _ in run.log] == ["e"], run.stderr
    assert not data_dir_env.exists()


def test_a_performer_hook_queues_nothing(run_plugin, stash_dir, data_dir_env):
    doc = hook_doc(stash_dir, scene_id=1, port=closed_port())
    doc["args"]["hookContext"]["type"] = "Performer.Update.Post"
    run = run_plugin(doc)
    assert run.code != 0
    assert "Performer.Update.Post" in run.result["error"]
    assert [level for level, _ in run.log] == ["e"], run.stderr
    assert not data_dir_env.exists()


def test_a_default_data_folder_that_exists_as_0755_is_tightened(run_plugin, stash_dir):
    folder = stash_dir / "plexsync"
    folder.mkdir(parents=True)
    os.chmod(folder, 0o755)
    (folder / "queue").mkdir()
    os.chmod(folder / "queue", 0o755)
    (folder / "queue" / "data.db").touch()
    os.chmod(folder / "queue" / "data.db", 0o644)
    run = run_plugin(hook_doc(stash_dir, scene_id=3, port=closed_port()), data_dir_env=False)
    assert run.result == {"output": "queued", "error": None}, run.stderr
    assert [j["scene_id"] for j in pending_jobs(str(folder))] == [3]
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(folder / "queue").st_mode) == 0o700
    for path in (folder / "queue").iterdir():
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path


def test_a_chosen_folder_that_existed_as_0755_is_made_private(run_plugin, stash_dir, data_dir_env):
    # 'Data folder' (here $PLEXSYNC_DATA_DIR) made by hand with the usual 0755.
    data_dir_env.mkdir()
    os.chmod(data_dir_env, 0o755)
    run = run_plugin(hook_doc(stash_dir, scene_id=4, port=closed_port()))
    assert run.result == {"output": "queued", "error": None}, run.stderr
    assert stat.S_IMODE(os.stat(data_dir_env).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(data_dir_env / "queue").st_mode) == 0o700
