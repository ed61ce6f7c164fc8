"""sandbox/runner.py: a throwaway plugin, run the way Stash runs plugins."""

import json
import os
import textwrap
import threading
import time
from pathlib import Path

import pytest

from sandbox.runner import (
    BULK_SCENE_UPDATE_INPUT_KEYS,
    SCENE_UPDATE_INPUT_KEYS,
    JobQueueTimeout,
    PluginConfig,
    PluginConfigError,
    PluginRunner,
    RunnerError,
    UnknownOperation,
    UnsupportedPlugin,
    exit_error,
    go_json,
    load_plugin,
    parse_stderr,
    parse_stdout,
)

PLUGIN_YML = """\
name: Echo Plugin
description: a throwaway plugin for the runner's tests
version: "0.1"
exec:
  - python
  - "{pluginDir}/echo.py"
  - "--dir={pluginDir}"
interface: raw
settings:
  some_setting:
    displayName: Some setting
    type: BOOLEAN
hooks:
  - name: Record update
    description: echoes what it got
    triggeredBy: [Scene.Update.Post]
    defaultArgs: {mode: echo, hook_default: h1}
  - name: Record create or update
    triggeredBy: [Scene.Create.Post, Scene.Update.Post]
    defaultArgs: {mode: echo}
  - name: Queue a task
    triggeredBy: [Scene.Destroy.Post]
    defaultArgs: {mode: queue, queue_task: Chained}
tasks:
  - name: Echo
    description: echoes what it got
    defaultArgs: {mode: echo, a: default-a, b: default-b}
  - name: Chained
    description: run from runPluginTask
    defaultArgs: {mode: echo, chained_default: "yes"}
  - name: Loop
    description: queues itself again
    defaultArgs: {mode: queue, queue_task: Loop}
"""

PLUGIN_SCRIPT = r'''
import json, os, sys, time, urllib.request

import helperpkg          # a sibling package: importable only through PYTHONPATH

raw = sys.stdin.read()
data = json.loads(raw)
args = data["args"]
mode = args.get("mode")
conn = data["server_connection"]


def graphql(query, variables):
    host = "127.0.0.1" if conn["Host"] == "0.0.0.0" else conn["Host"]
    cookie = conn["SessionCookie"]
    request = urllib.request.Request(
        f"{conn['Scheme']}://{host}:{conn['Port']}/graphql",
        data=json.dumps({"query": query, "variables": variables}).encode(),
        headers={"Content-Type": "application/json",
                 "Cookie": f"{cookie['Name']}={cookie['Value']}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


report = {"raw": raw, "cwd": os.getcwd(), "argv": sys.argv[1:],
          "pythonpath": os.environ.get("PYTHONPATH", ""), "helper": helperpkg.VALUE,
          "data_dir": os.environ.get("PLEXSYNC_DATA_DIR")}
if mode == "log":
    for line in ["\x01t\x02tracing", "\x01d\x02debugging", "\x01i\x02hello  ",
                 "\x01w\x02careful", "\x01e\x02bad", "\x01p\x020.25", "\x01p\x021",
                 "\x01p\x02half", "no prefix here", "", "\x01x\x02unknown level"]:
        sys.stderr.write(line + "\n")
elif mode == "text":
    sys.stdout.write("plain text, not JSON")
    sys.exit(0)
elif mode == "fail":
    sys.exit(3)
elif mode == "fail_with_error":
    print(json.dumps({"output": None, "error": "boom"}))
    sys.exit(2)
elif mode == "sleep":
    time.sleep(30)
elif mode == "slow":               # a job: ~0.3 s of work, then one line in $JOB_LOG
    started = time.time()
    time.sleep(0.3)
    with open(os.environ["JOB_LOG"], "a", encoding="utf-8") as log:
        log.write(f"{args.get('scene')} {started!r} {time.time()!r}\n")
elif mode == "queue":
    report["queued"] = graphql(
        "mutation Run($id: ID!, $task: String, $description: String, $args: Map) {"
        " runPluginTask(plugin_id: $id, task_name: $task, description: $description,"
        " args_map: $args) }",
        {"id": args.get("queue_plugin", "echo"), "task": args.get("queue_task"),
         "description": args.get("queue_description"),
         "args": {"from": "hook", "scene": args.get("hookContext", {}).get("id")}})
print(json.dumps({"output": report, "error": None}))
'''


def make_plugin(root: Path, yml: str = PLUGIN_YML, plugin_id: str = "echo") -> Path:
    """plugins/<plugin_id>/{<plugin_id>.yml, echo.py} and a sibling package plugins/helperpkg."""
    plugin_dir = root / "plugins" / plugin_id
    plugin_dir.mkdir(parents=True)
    (plugin_dir / f"{plugin_id}.yml").write_text(yml, encoding="utf-8")
    (plugin_dir / "echo.py").write_text(PLUGIN_SCRIPT, encoding="utf-8")
    helper = root / "plugins" / "helperpkg"
    helper.mkdir(exist_ok=True)
    (helper / "__init__.py").write_text("VALUE = 'sibling package imported'\n")
    return plugin_dir


@pytest.fixture
def plugin_dir(tmp_path):
    return make_plugin(tmp_path)


@pytest.fixture
def runner(plugin_dir, tmp_path):
    return PluginRunner(plugin_dir, None, tmp_path / "stash-config", timeout=30)


@pytest.fixture
def stash():
    from sandbox.stash_server import StashServer

    with StashServer() as server:
        yield server


def report(result):
    assert result.error is None, (result.error, result.stderr)
    return result.output


# ------------------------------------------------------------------ loading the yml


def test_id_is_the_file_stem_and_keys_load(tmp_path):
    plugin_dir = make_plugin(tmp_path, plugin_id="my_plugin")
    config = load_plugin(plugin_dir)
    assert config.id == "my_plugin" and config.name == "Echo Plugin"
    assert config.exec == ("python", "{pluginDir}/echo.py", "--dir={pluginDir}")
    assert config.settings == {"some_setting": {"displayName": "Some setting", "type": "BOOLEAN"}}
    assert [h.name for h in config.hooks_for("Scene.Update.Post")] == [
        "Record update", "Record create or update"]
    assert config.task("Echo").default_args == {"mode": "echo", "a": "default-a", "b": "default-b"}
    assert config.warnings == ()


@pytest.mark.parametrize("yml, message", [
    (PLUGIN_YML + "requires: [PythonDepManager]\n", "unknown key 'requires'"),
    (PLUGIN_YML.replace("    type: BOOLEAN\n", "    type: BOOLEAN\n    default: true\n"),
     "settings.some_setting: unknown key 'default'"),
    (PLUGIN_YML.replace("interface: raw", "interface: grpc"), "invalid interface type 'grpc'"),
    (PLUGIN_YML.replace("    description: echoes what it got\n    triggeredBy",
                        "    descripton: typo\n    triggeredBy"),
     "hooks[0]: unknown key 'descripton'"),
    (PLUGIN_YML.replace("  - name: Loop\n", "  - name: Loop\n    timeout: 5\n"),
     "tasks[2]: unknown key 'timeout'"),
    (PLUGIN_YML + "ui:\n  javascript: [a.js]\n  html: [b.html]\n", "ui: unknown key 'html'"),
    (PLUGIN_YML + "name: Again\n", "key 'name' already set"),
    (PLUGIN_YML.replace("exec:\n  - python\n", "exec: python\nold_exec:\n  - python\n"),
     "unknown key 'old_exec'"),
    (PLUGIN_YML.replace('exec:\n  - python\n  - "{pluginDir}/echo.py"\n  - "--dir={pluginDir}"\n',
                        "exec: python echo.py\n"),
     "exec: expected a list, got text"),
])
def test_yml_stash_would_refuse_is_refused_clearly(tmp_path, yml, message):
    plugin_dir = make_plugin(tmp_path, yml)
    with pytest.raises(PluginConfigError) as caught:
        load_plugin(plugin_dir)
    assert message in str(caught.value)
    assert "echo.yml" in str(caught.value)


def test_what_stash_accepts_silently_is_a_warning_not_a_refusal(tmp_path):
    yml = PLUGIN_YML.replace("[Scene.Create.Post, Scene.Update.Post]",
                             "[Scene.Created.Post, Scene.Update.Post]")
    config = load_plugin(make_plugin(tmp_path, yml + "errLog: loud\n"))
    assert any("Scene.Created.Post" in w for w in config.warnings)
    assert any("errLog" in w for w in config.warnings)


def test_rpc_and_js_plugins_load_but_the_sandbox_refuses_to_run_them(tmp_path):
    plugin_dir = make_plugin(tmp_path, PLUGIN_YML.replace("interface: raw", "interface: rpc"))
    assert load_plugin(plugin_dir).interface == "rpc"
    with pytest.raises(UnsupportedPlugin, match="interface 'rpc'"):
        PluginRunner(plugin_dir, None, tmp_path)


# ------------------------------------------------------------------ one run, as Stash starts it


def test_process_starts_elsewhere_with_the_plugin_parent_on_pythonpath(plugin_dir, tmp_path):
    runner = PluginRunner(plugin_dir, None, tmp_path / "cfg",
                          env={"PYTHONPATH": "/already/there", "PLEXSYNC_DATA_DIR": "/data/x"})
    out = report(runner.run_task("Echo"))
    assert Path(out["cwd"]) == runner.cwd != plugin_dir.resolve()
    assert not Path(out["cwd"]).is_relative_to(plugin_dir.resolve())
    # Stash appends the plugins folder after the PYTHONPATH it was given.
    assert out["pythonpath"] == f"/already/there{os.pathsep}{plugin_dir.resolve().parent}"
    assert out["helper"] == "sibling package imported"
    assert out["argv"] == [f"--dir={plugin_dir.resolve()}"]
    assert out["data_dir"] == "/data/x"


def test_stdin_is_the_document_stash_writes(runner, plugin_dir, tmp_path):
    result = runner.run_task("Echo", {"b": "caller-b", "extra": {"z": 1, "a": [1, "<&>"]}})
    raw = report(result)["raw"]
    assert raw == result.stdin and not raw.endswith("\n")
    assert "\\u003c\\u0026\\u003e" in raw          # Go escapes <, & and >
    doc = json.loads(raw)
    assert list(doc) == ["server_connection", "args"]
    conn = doc["server_connection"]
    assert list(conn) == ["Scheme", "Host", "Port", "SessionCookie", "Dir", "PluginDir"]
    assert conn["Scheme"] == "http" and conn["Host"] == "0.0.0.0" and conn["Port"] == 9999
    assert conn["Dir"] == str((tmp_path / "stash-config").resolve())
    assert conn["PluginDir"] == str(plugin_dir.resolve())
    assert conn["SessionCookie"] == {
        "Name": "session", "Value": conn["SessionCookie"]["Value"], "Path": "", "Domain": "",
        "Expires": "0001-01-01T00:00:00Z", "RawExpires": "", "MaxAge": 0, "Secure": False,
        "HttpOnly": False, "SameSite": 0, "Raw": "", "Unparsed": None}
    # defaultArgs merged under the caller's args; Go writes map keys sorted
    assert doc["args"] == {"a": "default-a", "b": "caller-b", "extra": {"a": [1, "<&>"], "z": 1},
                           "mode": "echo"}
    assert list(doc["args"]) == sorted(doc["args"]) and list(doc["args"]["extra"]) == ["a", "z"]
    assert "hookContext" not in doc["args"]


def test_stdin_carries_the_emulators_port_and_a_fresh_session(plugin_dir, tmp_path, stash):
    runner = PluginRunner(plugin_dir, stash, tmp_path)
    first, second = (json.loads(report(runner.run_task("Echo"))["raw"]) for _ in range(2))
    assert first["server_connection"]["Port"] == stash.port
    assert first["server_connection"]["Host"] == "0.0.0.0"
    values = {d["server_connection"]["SessionCookie"]["Value"] for d in (first, second)}
    assert len(values) == 2 and "" not in values


def test_update_hook_gets_stashs_input_with_nulls_for_unsent_fields(runner):
    results = runner.fire_hook("Scene.Update.Post", 45, {"title": "New title", "tag_ids": ["21"]})
    assert [(r.kind, r.name) for r in results] == [
        ("hook", "Record update"), ("hook", "Record create or update")]
    args = json.loads(report(results[0])["raw"])["args"]
    assert args["mode"] == "echo" and args["hook_default"] == "h1"
    context = args["hookContext"]
    assert list(context) == ["id", "type", "input", "inputFields"]
    assert context["id"] == 45 and context["type"] == "Scene.Update.Post"
    assert context["inputFields"] == ["id", "title", "tag_ids"]
    sent = {"id": "45", "title": "New title", "tag_ids": ["21"]}
    assert list(context["input"]) == list(SCENE_UPDATE_INPUT_KEYS)
    assert context["input"] == {key: sent.get(key) for key in SCENE_UPDATE_INPUT_KEYS}
    assert context["input"]["details"] is None and context["input"]["studio_id"] is None


def test_hook_context_for_a_scan_create_and_explicit_fields(runner):
    (result,) = runner.fire_hook("Scene.Create.Post", 7)
    assert result.name == "Record create or update"
    context = json.loads(report(result)["raw"])["args"]["hookContext"]
    assert context == {"id": 7, "type": "Scene.Create.Post", "input": None}   # no inputFields
    context = PluginRunner.hook_context("Scene.Update.Post", 3, {"id": "3", "rating100": 80},
                                        ["id", "rating100"])
    assert context["inputFields"] == ["id", "rating100"] and context["input"]["rating100"] == 80
    bulk = PluginRunner.hook_context("Scene.Update.Post", 3,
                                     {"ids": ["3", "4"], "tag_ids": {"ids": ["1"], "mode": "ADD"}})
    assert bulk["input"]["ids"] == ["3", "4"] and "id" not in bulk["input"]
    assert bulk["input"]["group_ids"] is None and bulk["inputFields"] == ["ids", "tag_ids"]


def test_input_keys_are_those_of_stashs_schema():
    schema_dir = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "stash-schema"
    if not schema_dir.is_dir():
        pytest.skip(f"Stash's schema is not at {schema_dir} (only beside a checkout with ../shared)")
    from graphql import build_schema

    files = sorted((schema_dir / "types").glob("*.graphql")) + [schema_dir / "schema.graphql"]
    schema = build_schema("\n".join(p.read_text(encoding="utf-8") for p in files))
    assert tuple(schema.type_map["SceneUpdateInput"].fields) == SCENE_UPDATE_INPUT_KEYS
    assert tuple(schema.type_map["BulkSceneUpdateInput"].fields) == BULK_SCENE_UPDATE_INPUT_KEYS


def test_hook_without_matching_trigger_runs_nothing(runner):
    assert runner.fire_hook("Image.Update.Post", 1, {"title": "x"}) == []


def test_stderr_levels_and_progress_are_parsed(runner):
    result = runner.run_task("Echo", {"mode": "log"})
    report(result)
    assert result.logs == [
        ("t", "tracing"), ("d", "debugging"), ("i", "hello"), ("w", "careful"), ("e", "bad"),
        ("e", "Error parsing progress value 'half': strconv.ParseFloat: parsing \"half\": "
              "invalid syntax"),
        ("e", "no prefix here"), ("e", "\x01x\x02unknown level")]
    assert result.progress == [0.25, 1.0]
    assert result.messages("w") == ["careful"] == result.messages("warning")
    assert len(result.messages()) == len(result.logs)


def test_errlog_sets_the_level_of_unprefixed_lines(tmp_path):
    plugin_dir = make_plugin(tmp_path, PLUGIN_YML + "errLog: info\n")
    result = PluginRunner(plugin_dir, None, tmp_path).run_task("Echo", {"mode": "log"})
    assert ("i", "no prefix here") in result.logs


def test_parse_stderr_line_endings_and_long_lines():
    long_line = b"\x01i\x02" + b"x" * (70 * 1024)
    logs, _ = parse_stderr(b"\x01w\x02crlf\r\n" + long_line + b"\nlast\r")
    assert logs[0] == ("w", "crlf")
    assert logs[1][1].endswith(" [truncated]") and len(logs[1][1]) == 64 * 1024 - 3 + 12
    assert logs[2] == ("e", "last\r")     # an unterminated last line keeps its \r
    assert parse_stderr(b"plain\n", "none") == ([], [])


def test_stdout_json_text_and_exit_status(runner):
    result = runner.run_task("Echo")
    assert result.exit_code == 0 and isinstance(result.output, dict) and result.error is None
    text = runner.run_task("Echo", {"mode": "text"})
    assert text.output == "plain text, not JSON" and text.error is None
    failed = runner.run_task("Echo", {"mode": "fail"})
    assert failed.exit_code == 3 and failed.error == "exit status 3" and failed.output == ""
    own_error = runner.run_task("Echo", {"mode": "fail_with_error"})
    assert own_error.exit_code == 2 and own_error.error == "boom"
    assert result.wall_time > 0


def test_parse_stdout_like_gos_decoder():
    assert parse_stdout('{"output": {"n": 1}, "error": null}\n') == ({"n": 1}, None)
    assert parse_stdout('{"Output": 5, "ERROR": "bad"}') == (5, "bad")
    assert parse_stdout("") == ("", None)
    assert parse_stdout('"just a string"') == ('"just a string"', None)
    assert parse_stdout('{"error": 5}') == ('{"error": 5}', None)
    assert parse_stdout("null") == (None, None)
    assert exit_error(1) == "exit status 1" and exit_error(-9) == "signal: killed"
    assert go_json({"a": "é<"}) == '{"a":"é\\u003c"}'


def test_unknown_task_is_an_error(runner):
    with pytest.raises(UnknownOperation, match="no task with name 'Nope'.*'Echo'"):
        runner.run_task("Nope")


def test_a_run_past_the_timeout_is_killed_and_reported(plugin_dir, tmp_path):
    runner = PluginRunner(plugin_dir, None, tmp_path, timeout=0.5)
    result = runner.run_task("Echo", {"mode": "sleep"})
    assert result.timed_out and "timed out after 0.5 s" in result.error
    # Killed (-9) rather than waited for: the child would otherwise sleep 30 s and exit 0.
    assert result.exit_code == -9


def test_missing_program_is_reported_as_stash_does(tmp_path):
    yml = PLUGIN_YML.replace("  - python\n", "  - no-such-program-here\n")
    result = PluginRunner(make_plugin(tmp_path, yml), None, tmp_path).run_task("Echo")
    assert result.exit_code is None and result.error.startswith("error running plugin:")


# ------------------------------------------------------------------ runPluginTask, as a job queue


def test_hook_queues_a_task_through_graphql_and_the_runner_runs_it(plugin_dir, tmp_path, stash):
    runner = PluginRunner(plugin_dir, stash, tmp_path)
    (hook,) = runner.fire_hook("Scene.Destroy.Post", 12)
    queued = report(hook)["queued"]
    assert "errors" not in queued and queued["data"]["runPluginTask"]
    assert [r.name for r in runner.task_runs] == ["Chained"] and hook.followups == runner.task_runs
    task = runner.task_runs[0]
    args = json.loads(report(task)["raw"])["args"]
    # args_map merged over the task's defaultArgs; a task has no hookContext
    assert args == {"chained_default": "yes", "from": "hook", "mode": "echo", "scene": 12}
    assert task.kind == "task" and stash.take_plugin_task_requests() == []


def test_a_request_without_task_name_runs_the_bare_exec_like_stash(plugin_dir, tmp_path, stash):
    yml = PLUGIN_YML.replace("defaultArgs: {mode: queue, queue_task: Chained}",
                             "defaultArgs: {mode: queue, queue_description: Background sync}")
    runner = PluginRunner(make_plugin(tmp_path / "other", yml), stash, tmp_path)
    runner.fire_hook("Scene.Destroy.Post", 3)
    (task,) = runner.task_runs
    assert task.name == "Background sync"
    # no task name: Stash applies no defaultArgs, so the plugin sees only args_map
    assert json.loads(report(task)["raw"])["args"] == {"from": "hook", "scene": 3}


def test_requests_for_unknown_plugins_or_tasks_fail_visibly(plugin_dir, tmp_path, stash):
    yml = PLUGIN_YML.replace("queue_task: Chained}", "queue_task: Missing}")
    runner = PluginRunner(make_plugin(tmp_path / "other", yml), stash, tmp_path)
    runner.fire_hook("Scene.Destroy.Post", 3)
    (task,) = runner.task_runs
    assert task.exit_code is None and task.error == "no task with name Missing in plugin Echo Plugin"


def test_a_task_that_keeps_queueing_itself_is_stopped(plugin_dir, tmp_path, stash):
    runner = PluginRunner(plugin_dir, stash, tmp_path, max_chained=3)
    with pytest.raises(RunnerError, match="more than 3 chained plugin tasks"):
        runner.run_task("Loop")
    assert [r.name for r in runner.task_runs] == ["Loop"] * 3


# ------------------------------------------------------------------ the yml loader's own module


def test_the_loader_lives_in_plugin_yml_and_the_runner_re_exports_it(plugin_dir):
    from sandbox import plugin_yml, runner

    assert runner.load_plugin is plugin_yml.load_plugin
    assert runner.PluginConfig is plugin_yml.PluginConfig is PluginConfig
    assert runner.PluginConfigError is plugin_yml.PluginConfigError is PluginConfigError
    assert runner.TOP_KEYS is plugin_yml.TOP_KEYS and runner.HOOK_KEYS is plugin_yml.HOOK_KEYS
    assert issubclass(PluginConfigError, RunnerError) and issubclass(PluginConfigError, ValueError)
    assert isinstance(plugin_yml.load_plugin(plugin_dir), PluginConfig)


# ------------------------------------------------------------------ Stash's job queue, in the background

JOB_PLUGIN_YML = """\
name: Job Plugin
exec: [python, "{pluginDir}/echo.py"]
interface: raw
hooks:
  - name: Queue a slow job
    triggeredBy: [Scene.Update.Post]
    defaultArgs: {mode: queue, queue_task: Slow}
tasks:
  - name: Slow
    defaultArgs: {mode: slow}
  - name: Loop
    defaultArgs: {mode: queue, queue_task: Loop}
"""


def job_lines(log: Path) -> list[tuple[int, float, float]]:
    """(scene, started, ended) of each finished job, in the order they started."""
    if not log.exists():
        return []
    rows = [line.split() for line in log.read_text(encoding="utf-8").splitlines()]
    return sorted(((int(s), float(a), float(b)) for s, a, b in rows), key=lambda row: row[1])


@pytest.fixture
def job_runner(tmp_path, stash):
    plugin = make_plugin(tmp_path / "jobs", JOB_PLUGIN_YML)
    runner = PluginRunner(plugin, stash, tmp_path, env={"JOB_LOG": str(tmp_path / "jobs.log")},
                          job_queue="background", timeout=30)
    yield runner
    runner.close()


def test_background_hooks_return_at_once_and_jobs_run_one_at_a_time(job_runner, tmp_path):
    log = tmp_path / "jobs.log"
    hooks = []
    for scene in range(1, 6):
        (hook,) = job_runner.fire_hook("Scene.Update.Post", scene, {"title": f"t{scene}"})
        assert report(hook)["queued"]["data"]["runPluginTask"]
        assert hook.followups == []
        hooks.append(hook)
    # The last hook's job was queued just before that hook exited and takes 0.3 s:
    # fire_hook did not wait for it.
    assert len(job_lines(log)) < 5 and len(job_runner.task_runs) < 5

    jobs = job_runner.wait_for_jobs(timeout=30)
    assert sorted(json.loads(job.stdin)["args"]["scene"] for job in jobs) == [1, 2, 3, 4, 5]
    assert all(job.kind == "task" and job.name == "Slow" and job.ok for job in jobs)
    lines = job_lines(log)
    assert sorted(scene for scene, _, _ in lines) == [1, 2, 3, 4, 5]
    for (_, _, ended), (_, started, _) in zip(lines, lines[1:]):
        assert started >= ended                      # never two jobs at once
    for job, following in zip(jobs, jobs[1:]):
        assert job.started_at <= job.ended_at <= following.started_at
        assert job.started_perf < job.ended_perf <= following.started_perf
    assert all(job.ended_at - job.started_at >= 0.3 for job in jobs)
    # ... yet, as in Stash, jobs run while later hooks are still firing
    assert jobs[0].started_at < hooks[-1].started_at
    assert all(h.started_at <= h.ended_at and h.wall_time > 0 for h in hooks)
    assert job_runner.wait_for_jobs(timeout=5) == []                 # only new ones
    assert job_runner.task_runs == jobs


def test_background_hooks_fired_from_several_threads(job_runner, tmp_path):
    threads = [threading.Thread(target=job_runner.fire_hook, args=("Scene.Update.Post", n))
               for n in range(1, 5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    jobs = job_runner.wait_for_jobs(timeout=30)
    assert sorted(json.loads(job.stdin)["args"]["scene"] for job in jobs) == [1, 2, 3, 4]
    lines = job_lines(tmp_path / "jobs.log")
    assert all(b[1] >= a[2] for a, b in zip(lines, lines[1:]))


def test_background_run_task_is_a_job_and_chains_are_limited(tmp_path, stash):
    plugin = make_plugin(tmp_path / "jobs", JOB_PLUGIN_YML)
    with PluginRunner(plugin, stash, tmp_path, job_queue="background", max_chained=3) as runner:
        loop = runner.run_task("Loop")
        assert loop.ok and loop.name == "Loop" and loop.started_at > 0
        with pytest.raises(RunnerError, match="more than 3 chained plugin tasks"):
            runner.wait_for_jobs(timeout=30)
        assert [r.name for r in runner.wait_for_jobs(timeout=5)] == ["Loop"] * 3
        assert stash.take_plugin_task_requests() == []


def test_wait_for_jobs_times_out_while_a_job_runs(job_runner):
    job_runner.fire_hook("Scene.Update.Post", 1)
    with pytest.raises(JobQueueTimeout, match="still busy"):
        job_runner.wait_for_jobs(timeout=0.05)
    assert len(job_runner.wait_for_jobs(timeout=30)) == 1


def test_close_finishes_the_running_job_and_stops_the_worker(job_runner, tmp_path):
    job_runner.fire_hook("Scene.Update.Post", 1)
    deadline = time.monotonic() + 10
    while not job_runner._job_running and time.monotonic() < deadline:
        time.sleep(0.005)
    job_runner.fire_hook("Scene.Update.Post", 2)        # most likely still queued
    job_runner.close()
    assert not job_runner._worker.is_alive()
    ran = [json.loads(r.stdin)["args"]["scene"] for r in job_runner.task_runs]
    assert ran[0] == 1 and all(r.ok for r in job_runner.task_runs)
    assert [scene for scene, _, _ in job_lines(tmp_path / "jobs.log")] == ran   # none cut short
    # The worker is gone (asserted above), so nothing can start later: no wait needed.
    assert [scene for scene, _, _ in job_lines(tmp_path / "jobs.log")] == ran   # none started since
    with pytest.raises(RunnerError, match="closed"):
        job_runner.fire_hook("Scene.Update.Post", 3)
    with pytest.raises(RunnerError, match="closed"):
        job_runner.wait_for_jobs()
    job_runner.close()                                   # idempotent


def test_sync_mode_runs_jobs_before_returning_and_wait_for_jobs_lists_them(tmp_path, stash):
    plugin = make_plugin(tmp_path / "jobs", JOB_PLUGIN_YML)
    with PluginRunner(plugin, stash, tmp_path, env={"JOB_LOG": str(tmp_path / "jobs.log")}) as runner:
        assert runner.job_queue == "sync"
        (hook,) = runner.fire_hook("Scene.Update.Post", 4)
        assert hook.followups == runner.task_runs and len(job_lines(tmp_path / "jobs.log")) == 1
        assert hook.ended_at <= runner.task_runs[0].started_at
        assert runner.wait_for_jobs() == runner.task_runs
        assert runner.wait_for_jobs() == []


def test_job_queue_must_be_sync_or_background(plugin_dir, tmp_path):
    with pytest.raises(ValueError, match="job_queue"):
        PluginRunner(plugin_dir, None, tmp_path, job_queue="async")
