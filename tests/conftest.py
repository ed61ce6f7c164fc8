"""Shared fixtures: jobs, configs, data folders, clean logging globals, subprocess helpers.

Everything here is real: data folders are ``tmp_path`` folders, queues and DLQs are
the real SQLite files, subprocesses run the project's own interpreter.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import freezegun
import pytest

import shared.log as slog

# pytest times tests (--durations, junit times) with _pytest.timing, which freezegun would
# otherwise freeze too: a frozen test then "took" decades.
freezegun.configure(extend_ignore_list=["_pytest.timing"])

# -- the reliability summary, also under pytest-xdist (the controller loads only this conftest)


def pytest_sessionstart(session):
    from tests.reliability import tally

    tally.start()


def pytest_sessionfinish(session, exitstatus):
    from tests.reliability import tally

    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller prints and writes
        workeroutput[tally.WORKER_KEY] = tally.serialize()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    from tests.reliability import tally

    serialized = getattr(node, "workeroutput", {}).get(tally.WORKER_KEY)
    if serialized:
        tally.merge(serialized)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if hasattr(config, "workerinput"):
        return
    from tests.reliability import tally

    tally.report(terminalreporter, exitstatus)


ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"

#: The token the contract's tests use; long enough to be registered as a secret.
TOKEN = "x" * 20
PLEX_URL = "http://127.0.0.1:32400"


def _reset_log_module() -> None:
    slog._secrets.clear()
    slog._verbose = True
    # Output mode (Stash protocol vs terminal), where the module has one.
    if hasattr(slog, "_mode"):
        slog._mode = "stash"
    if hasattr(slog, "_info_to_stdout"):
        slog._info_to_stdout = True
    if hasattr(slog, "_bar"):
        slog._bar = None


@pytest.fixture(autouse=True)
def clean_log_state():
    """Every test starts (and leaves) shared.log clean: no secrets, verbose on, Stash protocol."""
    _reset_log_module()
    yield
    _reset_log_module()


@pytest.fixture(autouse=True)
def close_every_runner(monkeypatch):
    """Every sandbox runner a test makes is closed after it, so its private working folder
    is removed by the test rather than by the garbage collector (a ResourceWarning that
    surfaced in whichever test ran next)."""
    from sandbox.runner import PluginRunner

    made = []
    init = PluginRunner.__init__

    def tracking(self, *args, **kwargs):
        made.append(self)
        init(self, *args, **kwargs)

    monkeypatch.setattr(PluginRunner, "__init__", tracking)
    yield
    for runner in made:
        if hasattr(runner, "_closed"):        # fully built (some tests expect __init__ to refuse)
            runner.close()


@pytest.fixture
def config():
    """The contract's config: no network, token ``'x' * 20``."""
    from validation.config import PlexSyncConfig

    return PlexSyncConfig(plex_url=PLEX_URL, plex_token=TOKEN)


@pytest.fixture
def data_dir(tmp_path) -> str:
    """A fresh, private data folder."""
    from shared.datadir import ensure_private_dir

    return ensure_private_dir(str(tmp_path / "data"))


@pytest.fixture
def make_job() -> Callable[..., dict[str, Any]]:
    """``make_job(scene_id, **overrides)``: a job dict as the hook builds it."""
    from worker.jobs import new_job

    def _make(scene_id: int = 1, update_type: str = "Scene.Update.Post", **overrides: Any) -> dict[str, Any]:
        job = new_job(scene_id, update_type, {"input_fields": ["title"]})
        job.update(overrides)
        return job

    return _make


@pytest.fixture
def job_queue(data_dir):
    """The drain's real JobQueue on ``data_dir`` (resuming in-flight jobs), closed afterwards."""
    from worker.queue import JobQueue

    queue = JobQueue(data_dir, resume_unacked=True)
    yield queue
    queue.close()


@pytest.fixture
def dlq(data_dir):
    """The real dead-letter queue on ``data_dir``."""
    from worker.dlq import DeadLetterQueue

    store = DeadLetterQueue(data_dir)
    yield store
    store.close()


@pytest.fixture
def queue_rows() -> Callable[[str], list[tuple]]:
    """``queue_rows(data_dir)``: the raw ``(_id, status, data)`` rows of the queue table."""
    from worker.queue import DB_FILE, _TABLE, queue_path

    def _rows(data_dir: str) -> list[tuple]:
        conn = sqlite3.connect(os.path.join(queue_path(data_dir), DB_FILE))
        try:
            return conn.execute(f"SELECT _id, status, data FROM {_TABLE} ORDER BY _id").fetchall()
        finally:
            conn.close()

    return _rows


@pytest.fixture
def subprocess_env(tmp_path) -> dict[str, str]:
    """Environment for a child Python that imports the project from ROOT."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLEXSYNC_")}
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


@pytest.fixture
def run_python(subprocess_env, tmp_path) -> Callable[..., subprocess.CompletedProcess]:
    """``run_python(code, *args, input=None)``: run ``code`` in a child interpreter, cwd = tmp."""

    def _run(code: str, *args: str, input: bytes | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", code, *args], input=input, capture_output=True,
                              env=subprocess_env, cwd=str(tmp_path), timeout=timeout)

    return _run


def read_line(pipe, timeout: float = 30) -> str | bytes:
    """``pipe.readline()`` that fails the test after ``timeout`` seconds instead of hanging
    (a child that never writes its line, or dies holding the pipe open)."""
    import threading

    line: list = []
    reader = threading.Thread(target=lambda: line.append(pipe.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if reader.is_alive():
        raise AssertionError(f"no line from the child within {timeout} s")
    return line[0]


def log_lines(text: str) -> list[tuple[str, str]]:
    """Split captured stderr into ``(level, message)`` pairs; fails on an unframed line."""
    out = []
    for line in text.split("\n")[:-1] if text.endswith("\n") else text.split("\n"):
        if not line:
            continue
        assert line[0] == "\x01" and line[2] == "\x02", f"not a Stash log line: {line!r}"
        out.append((line[1], line[3:]))
    return out


@pytest.fixture
def parse_log() -> Callable[[str], list[tuple[str, str]]]:
    """``parse_log(stderr_text)`` → ``[(level, message), ...]`` in Stash's protocol."""
    return log_lines
