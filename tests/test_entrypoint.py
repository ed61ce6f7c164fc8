"""plexsync.py, run as Stash runs it: a real subprocess, cwd elsewhere, JSON on stdin."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, log_lines
from worker.queue import pending_jobs

ENTRY = str(ROOT / "plexsync.py")
HEAVY = ("pydantic", "plexapi", "persistqueue", "requests", "asyncio")

pytestmark = pytest.mark.slow


class Run:
    def __init__(self, proc: subprocess.CompletedProcess):
        self.code = proc.returncode
        self.stdout = proc.stdout.decode("utf-8")
        self.stderr = proc.stderr.decode("utf-8")

    @property
    def result(self) -> dict:
        """The one JSON object on stdout (fails if there is anything else)."""
        value = json.loads(self.stdout)  # raises on two objects or stray text
        assert isinstance(value, dict) and set(value) == {"output", "error"}, value
        return value

    @property
    def log(self) -> list[tuple[str, str]]:
        return log_lines(self.stderr)


@pytest.fixture
def stash_dir(tmp_path) -> Path:
    return tmp_path / "stash-config"


@pytest.fixture
def data_dir_env(tmp_path) -> Path:
    return tmp_path / "plexsync-data"


@pytest.fixture
def run_plugin(tmp_path, subprocess_env, data_dir_env):
    """Run plexsync.py with ``stdin`` from a folder that is not the plugin's."""
    cwd = tmp_path / "stash-cwd"
    cwd.mkdir()
    env = dict(subprocess_env, PLEXSYNC_DATA_DIR=str(data_dir_env))
    env.pop("PYTHONPATH")  # Stash adds the plugins folder, not ours: the script must find its own modules

    def _run(stdin: bytes | str | dict, *, data_dir_env: bool = True) -> Run:
        run_env = env if data_dir_env else {k: v for k, v in env.items() if k != "PLEXSYNC_DATA_DIR"}
        if isinstance(stdin, dict):
            stdin = json.dumps(stdin)
        if isinstance(stdin, str):
            stdin = stdin.encode("utf-8")
        proc = subprocess.run([sys.executable, ENTRY], input=stdin, capture_output=True, env=run_env, cwd=str(cwd),
                              timeout=60)
        assert os.listdir(cwd) == [], "the plugin wrote into Stash's working directory"
        return Run(proc)

    return _run


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def hook_doc(stash_dir, scene_id=45, fields=("id", "title"), port=9999, **conn):
    return {
        "server_connection": {"Scheme": "http", "Host": "0.0.0.0", "Port": port,
                              "SessionCookie": {"Name": "session", "Value": conn.pop("cookie", "abc")},
                              "Dir": str(stash_dir), "PluginDir": str(ROOT), **conn},
        "args": {"mode": "hook",
                 "hookContext": {"id": scene_id, "type": "Scene.Update.Post",
                                 "input": {"id": str(scene_id), "title": "t"},
                                 "inputFields": list(fields)}},
    }


def _bad_inputs(stash_dir, port=None):
    conn = {"Scheme": "http", "Host": "127.0.0.1", "Port": port or closed_port(), "Dir": str(stash_dir)}
    return {
        "empty stdin": b"",
        "whitespace only": b" \n ",
        "not JSON": b"{this is not json",
        "not UTF-8": b"\xff\xfe\x00garbage",
        "JSON array": b'[{"server_connection": {}}]',
        "JSON string": b'"hello"',
        "missing server_connection": json.dumps({"args": {"mode": "process"}}).encode(),
        "unknown mode": json.dumps({"server_connection": conn, "args": {"mode": "explode"}}).encode(),
        "no mode at all": json.dumps({"server_connection": conn, "args": {}}).encode(),
        "hook without context": json.dumps({"server_connection": conn, "args": {"mode": "hook"}}).encode(),
        "hook without scene id": json.dumps({"server_connection": conn, "args": {
            "mode": "hook", "hookContext": {"type": "Scene.Update.Post", "inputFields": ["title"]}}}).encode(),
        "non-numeric id": json.dumps({"server_connection": conn, "args": {
            "mode": "hook", "hookContext": {"id": "abc", "type": "Scene.Update.Post", "inputFields": ["title"]}}}).encode(),
        "fractional id": json.dumps({"server_connection": conn, "args": {
            "mode": "hook", "hookContext": {"id": 4.5, "type": "Scene.Update.Post"}}}).encode(),
        "negative id": json.dumps({"server_connection": conn, "args": {
            "mode": "hook", "hookContext": {"id": -4, "type": "Scene.Update.Post"}}}).encode(),
        "bad port": json.dumps({"server_connection": dict(conn, Port="port"), "args": {
            "mode": "hook", "hookContext": {"id": 4, "type": "Scene.Update.Post"}}}).encode(),
    }


BAD_CASES = list(_bad_inputs(Path("/placeholder"), port=9))


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_is_one_error_and_touches_nothing(run_plugin, stash_dir, data_dir_env, case):
    stdin = _bad_inputs(stash_dir)[case]
    run = run_plugin(stdin)
    assert run.code != 0
    result = run.result
    assert isinstance(result["error"], str) and result["error"].strip()
    assert result["output"] is None
    lines = run.log
    assert len(lines) == 1, run.stderr
    level, message = lines[0]
    assert level == "e"
    assert message.startswith("PlexSync")
    # The queue (and every other file) is untouched: nothing was even created.
    assert not data_dir_env.exists()
    assert not stash_dir.exists()


def test_error_messages_say_what_is_wrong(run_plugin, stash_dir):
    inputs = _bad_inputs(stash_dir)
    assert "no input" in run_plugin(inputs["empty stdin"]).result["error"]
    assert "not JSON" in run_plugin(inputs["not JSON"]).result["error"]
    assert "JSON object" in run_plugin(inputs["JSON array"]).result["error"]
    assert "server_connection" in run_plugin(inputs["missing server_connection"]).result["error"]
    unknown = run_plugin(inputs["unknown mode"]).result["error"]
    assert "explode" in unknown and "process" in unknown
    assert "scene id" in run_plugin(inputs["hook without scene id"]).result["error"]
    assert "whole number" in run_plugin(inputs["non-numeric id"]).result["error"]


def test_hook_touching_nothing_synced_queues_nothing(run_plugin, stash_dir, data_dir_env):
    run = run_plugin(hook_doc(stash_dir, fields=["id", "play_count"], port=closed_port()))
    assert run.code == 0
    assert run.result["error"] is None
    assert all(level not in ("w", "e") for level, _ in run.log)
    assert not data_dir_env.exists()
    assert not stash_dir.exists()


HOOK_IMPORTS = """
import json, sys
sys.argv = [sys.argv[1]]
sys.path.insert(0, __import__("os").path.dirname(sys.argv[0]))
import plexsync
code = plexsync.main()
with open(REPORT, "w") as fh:
    json.dump({"code": code, "modules": sorted(sys.modules)}, fh)
"""


@pytest.mark.parametrize("fields", [["id", "play_count"], ["id", "title"]])
def test_hook_path_imports_nothing_heavy(tmp_path, subprocess_env, stash_dir, data_dir_env, fields):
    report = tmp_path / "modules.json"
    code = HOOK_IMPORTS.replace("REPORT", repr(str(report)))
    env = dict(subprocess_env, PLEXSYNC_DATA_DIR=str(data_dir_env))
    proc = subprocess.run([sys.executable, "-c", code, ENTRY], capture_output=True, env=env, cwd=str(tmp_path),
                          input=json.dumps(hook_doc(stash_dir, fields=fields, port=closed_port())).encode(),
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    loaded = json.loads(report.read_text())
    assert loaded["code"] == 0
    heavy = [m for m in loaded["modules"] if m.split(".")[0] in HEAVY]
    assert heavy == [], heavy


LEAN_PROBE = """
import sys
sys.argv = [sys.argv[1]]
sys.path.insert(0, __import__("os").path.dirname(sys.argv[0]))
import plexsync
code = plexsync.main()
open(REPORT, "w").write(str(code) + "\\n" + "\\n".join(sorted(sys.modules)))
"""


def test_a_hook_that_queues_loads_neither_functools_nor_collections(tmp_path, subprocess_env, stash_dir,
                                                                     data_dir_env):
    # ~5 ms of a ~35 ms hook: SQLite's C module is loaded with a stand-in functools.
    from shared.datadir import ensure_private_dir
    from shared.hook_settings import save_hook_settings
    from worker.queue import pending_jobs
    from worker.trigger import mark_drain_requested

    # Steady state: the settings snapshot a task left, and a drain already asked for.
    save_hook_settings(str(stash_dir), {}, str(data_dir_env))
    mark_drain_requested(ensure_private_dir(str(data_dir_env)))
    report = tmp_path / "modules.txt"
    env = dict(subprocess_env, PLEXSYNC_DATA_DIR=str(data_dir_env))
    for title in ("first", "second"):   # the second finds the queue's file made by the first
        proc = subprocess.run([sys.executable, "-c", LEAN_PROBE.replace("REPORT", repr(str(report))), ENTRY],
                              capture_output=True, env=env, cwd=str(tmp_path),
                              input=json.dumps(hook_doc(stash_dir, fields=["id", "title"],
                                                        port=closed_port())).encode(), timeout=60)
        assert proc.returncode == 0, proc.stderr
        code, *modules = report.read_text().splitlines()
        assert code == "0" and "_sqlite3" in modules
        assert not {"functools", "collections"} & set(modules), sorted(set(modules))
    assert len(list(pending_jobs(str(data_dir_env)))) == 2


def test_sqlite_loaded_for_a_hook_still_runs_statements_and_leaves_the_real_functools(tmp_path):
    probe = (
        "import sys\n"
        "from plugin.hook import _load_sqlite_without_functools\n"
        "_load_sqlite_without_functools()\n"
        "assert 'functools' not in sys.modules\n"
        "import _sqlite3\n"
        "conn = _sqlite3.connect(':memory:')\n"
        "conn.execute('CREATE TABLE t (x)')\n"
        "for n in range(5): conn.execute('INSERT INTO t VALUES (?)', (n,))\n"
        "assert conn.execute('SELECT sum(x) FROM t').fetchone() == (10,)\n"
        "import functools\n"
        "assert functools.reduce(lambda a, b: a + b, [1, 2, 3]) == 6\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, cwd=str(Path(ENTRY).parent),
                          timeout=60)
    assert proc.returncode == 0, proc.stderr


TEARDOWN_PROBE = """
import atexit, runpy, sys
atexit.register(lambda: sys.stderr.write("\\nTORN DOWN\\n"))
sys.argv = [sys.argv[1]]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def test_a_hook_ends_without_interpreter_teardown_and_keeps_its_job(tmp_path, subprocess_env, stash_dir,
                                                                    data_dir_env):
    # Stash's save waits for the process to end: after the hook's answer it skips
    # teardown (~7 ms), yet its answer and log are out and its job is stored.
    env = dict(subprocess_env, PLEXSYNC_DATA_DIR=str(data_dir_env))

    def run(stdin: bytes) -> Run:
        return Run(subprocess.run([sys.executable, "-c", TEARDOWN_PROBE, ENTRY], capture_output=True, env=env,
                                  cwd=str(tmp_path), input=stdin, timeout=60))

    hook = run(json.dumps(hook_doc(stash_dir, scene_id=46, port=closed_port())).encode())
    assert hook.code == 0 and hook.result == {"output": "queued", "error": None}, hook.stderr
    assert "TORN DOWN" not in hook.stderr
    assert [job["scene_id"] for job in pending_jobs(str(data_dir_env))] == [46]
    refused = run(_bad_inputs(stash_dir)["hook without scene id"])
    assert refused.code == 1 and "scene id" in refused.result["error"]
    assert [level for level, _ in refused.log] == ["e"], refused.stderr   # its log line is out too
    # Anything else (a task, bad stdin) exits normally.
    task = run(_bad_inputs(stash_dir)["unknown mode"])
    assert task.code == 1 and "explode" in task.result["error"]
    assert "TORN DOWN" in task.stderr


def test_hook_with_stash_unreachable_still_queues_the_job(run_plugin, stash_dir, data_dir_env):
    run = run_plugin(hook_doc(stash_dir, scene_id=45, port=closed_port()))
    assert run.code == 0, run.stderr
    assert run.result == {"output": "queued", "error": None}
    assert {level for level, _ in run.log} <= {"w", "d", "t"}
    [job] = pending_jobs(str(data_dir_env))
    assert job["scene_id"] == 45 and job["job_key"] == "scene_45"
    assert job["update_type"] == "Scene.Update.Post"
    assert isinstance(job["enqueued_at"], float) and isinstance(job["data"], dict)
    # Private: the folder 0700, the queue files 0600 (plexsync.py sets umask 077).
    assert os.stat(data_dir_env).st_mode & 0o777 == 0o700
    for path in (data_dir_env / "queue").iterdir():
        assert os.stat(path).st_mode & 0o777 == 0o600, path
    # Asking Stash for a drain failed, so no request may be left pending: the
    # next hook has to ask again rather than wait for a stale marker.
    assert not (data_dir_env / "drain_requested").exists()


def test_two_hooks_queue_two_jobs(run_plugin, stash_dir, data_dir_env):
    port = closed_port()
    assert run_plugin(hook_doc(stash_dir, scene_id=1, port=port)).code == 0
    assert run_plugin(hook_doc(stash_dir, scene_id=2, port=port)).code == 0
    assert [j["scene_id"] for j in pending_jobs(str(data_dir_env))] == [1, 2]


def test_hook_against_the_stash_emulator(run_plugin, stash_dir, tmp_path):
    stash_server = pytest.importorskip("sandbox.stash_server", reason="the Stash emulator is not available")
    server = stash_server.StashServer()
    try:
        server.start()
    except OSError as exc:  # pragma: no cover - no loopback sockets
        pytest.skip(f"cannot start the Stash emulator: {exc}")
    try:
        chosen = tmp_path / "chosen-data"
        server.set_plugin_settings("plexsync", {"data_dir": str(chosen)})
        cookie = server.new_session()
        run = run_plugin(hook_doc(stash_dir, scene_id=7, port=server.port, cookie=cookie), data_dir_env=False)
        assert run.code == 0, run.stderr
        assert run.result == {"output": "queued", "error": None}
        assert [j["scene_id"] for j in pending_jobs(str(chosen))] == [7]  # the Data folder setting
        assert not stash_dir.exists()
        requests = server.take_plugin_task_requests()
        assert len(requests) == 1 and requests[0]["task_name"] == "Process queue"
        # A second save while that drain is pending queues the job without asking again.
        run = run_plugin(hook_doc(stash_dir, scene_id=8, port=server.port, cookie=cookie), data_dir_env=False)
        assert run.code == 0, run.stderr
        assert [j["scene_id"] for j in pending_jobs(str(chosen))] == [7, 8]
        assert server.take_plugin_task_requests() == []
    finally:
        server.stop()


def test_process_queue_loads_neither_the_other_tasks_nor_asyncio(tmp_path, subprocess_env, stash_dir, data_dir_env):
    # A save's drain starts a new process: every module it loads is on the way to Plex
    # (the other tasks' ~80 ms, and the asyncio persist-queue would load, ~35-60 ms).
    from sandbox.stash_server import StashServer

    report = tmp_path / "modules.txt"
    env = dict(subprocess_env, PLEXSYNC_DATA_DIR=str(data_dir_env))
    with StashServer() as stash:
        stash.set_plugin_settings("plexsync", {"plex_url": "http://127.0.0.1:9", "plex_token": "x" * 20})
        doc = hook_doc(stash_dir, port=stash.port, cookie=stash.new_session())
        doc["args"] = {"mode": "process"}
        proc = subprocess.run([sys.executable, "-c", LEAN_PROBE.replace("REPORT", repr(str(report))), ENTRY],
                              capture_output=True, env=env, cwd=str(tmp_path), input=json.dumps(doc).encode(),
                              timeout=60)
    assert proc.returncode == 0, proc.stderr
    code, *modules = report.read_text().splitlines()
    assert code == "0" and {"plugin.process", "persistqueue", "worker.sync"} <= set(modules), proc.stderr
    others = {"plugin.ui_operations", "plugin.reconcile", "plugin.dry_run", "plugin.dlq_tasks", "plugin.status",
              "plugin.watch_state", "asyncio"}
    assert not others & set(modules), sorted(others & set(modules))
