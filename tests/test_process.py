"""The *Process queue* task (plugin/process.py), run through the Stash-faithful runner."""

from __future__ import annotations

import pytest

from sandbox.harness import Sandbox
from worker.jobs import new_job
from worker.queue import enqueue, pending_jobs


@pytest.fixture
def sandbox(tmp_path):
    custom = tmp_path / "custom-data"
    with Sandbox(scenes=6, seed=21, job_queue="sync", settings={"data_dir": str(custom)}) as sb:
        yield sb, custom


def test_jobs_queued_in_the_default_folder_are_adopted_and_synced(sandbox):
    sb, custom = sandbox
    # A hook that could not read the settings queued here, the default folder.
    scene = sb.world.scenes[0]
    sb.data_dir.mkdir(parents=True)
    enqueue(str(sb.data_dir), new_job(int(scene.stash_id), "Scene.Update.Post"))

    result = sb.runner.run_task("Process queue", {"linger": "0.05", "max_wait": "0"})

    assert result.ok, result.error
    assert any("Moved 1 job" in message for _level, message in result.logs)
    assert list(pending_jobs(str(sb.data_dir))) == []
    assert list(pending_jobs(str(custom))) == []
    assert sb.plex_item(scene)["title"] == scene.title
    assert (custom / "sync_state.db").exists() and not (sb.data_dir / "sync_state.db").exists()


def test_nothing_is_moved_when_the_data_folder_is_the_default(tmp_path):
    with Sandbox(scenes=3, seed=22, job_queue="sync") as sb:
        scene = sb.world.scenes[0]
        sb.data_dir.mkdir(parents=True)
        enqueue(str(sb.data_dir), new_job(int(scene.stash_id), "Scene.Update.Post"))
        result = sb.runner.run_task("Process queue", {"linger": "0.05", "max_wait": "0"})
        assert result.ok, result.error
        assert not any("Moved" in message for _level, message in result.logs)
        assert result.output["synced"] == 1
