"""Status and 'DLQ: show' only look (finding 11): they never create the data folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from sandbox.harness import Sandbox
from tests.conftest import ROOT
from tests.test_entrypoint import closed_port

pytestmark = pytest.mark.slow


def test_status_task_in_stash_creates_no_data_folder():
    with Sandbox(scenes=2, seed=3, job_queue="sync") as sb:
        assert not sb.data_dir.exists()
        result = sb.runner.run_task("Status")
        assert result.ok, (result.error, result.logs)
        assert json.loads(result.stdout)["error"] is None
        assert not sb.data_dir.exists()
        assert any("no data yet" in m for m in result.messages("i")), result.logs
        assert result.output["plex"]["reachable"], "Plex is still checked"


@pytest.mark.parametrize("command", [["status"], ["dlq", "show"]])
def test_cli_read_only_commands_create_no_data_folder(tmp_path, command):
    settings = tmp_path / "plexsync.conf"
    settings.write_text(f"plex_url = http://127.0.0.1:{closed_port()}\nplex_token = abcdefghijklmnop\n")
    fresh = tmp_path / "not-yet"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLEXSYNC_", "STASH_"))}
    env.update(HOME=str(tmp_path / "home"), PYTHONDONTWRITEBYTECODE="1", PLEXSYNC_DATA_DIR=str(fresh))
    result = subprocess.run([sys.executable, str(ROOT / "plexsync.py"), "--settings", str(settings), *command],
                            capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=120)
    assert "Traceback" not in result.stderr, result.stderr
    assert not fresh.exists()
    assert "no data yet" in result.stdout, (result.stdout, result.stderr)


def test_status_over_a_corrupt_queue_reports_it_without_a_traceback():
    from tests.test_sqlite_files import corrupt
    from worker.jobs import new_job
    from worker.queue import DB_FILE, enqueue, queue_path

    with Sandbox(scenes=2, seed=3, job_queue="sync") as sb:
        data = str(sb.data_dir)
        for i in range(40):
            enqueue(data, new_job(i + 1, "Scene.Update.Post", {"pad": "x" * 200}))
        corrupt(os.path.join(queue_path(data), DB_FILE), "garbage")
        result = sb.runner.run_task("Status")
        assert result.ok, (result.error, result.logs)
        assert "Traceback" not in result.stderr
        assert any("Queue: unreadable" in m for m in result.messages("e")), result.logs
