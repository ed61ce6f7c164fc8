"""The command line (plugin/cli.py): ``python plexsync.py COMMAND`` as a subprocess
against the Stash and Plex emulators, and the terminal mode of shared/log.py."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import shared.log as slog
from plugin.cli import build_parser, parse_stash_url, task_call, UsageError
from sandbox.harness import Sandbox
from worker.dlq import DeadLetterQueue
from worker.jobs import new_job
from worker.queue import enqueue, pending_jobs
from worker.sync_state import SyncState

ROOT = Path(__file__).resolve().parent.parent
PLEXSYNC = ROOT / "plexsync.py"
WRITES = ("PUT", "POST", "DELETE")


@pytest.fixture(autouse=True)
def stash_output_mode():
    """Tests that switch shared.log to terminal mode leave it as they found it."""
    yield
    slog.set_output_mode("stash")


@pytest.fixture
def sb(tmp_path):
    with Sandbox(scenes=6, seed=5, job_queue="sync") as sandbox:
        sandbox.data_dir.mkdir(parents=True, exist_ok=True)
        yield sandbox


@pytest.fixture
def cli(tmp_path):
    """``cli(*args, stash=sb)``: run plexsync.py with arguments; HOME and cwd are tmp_path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLEXSYNC_", "STASH_"))}
    env.update(HOME=str(tmp_path / "home"), PYTHONDONTWRITEBYTECODE="1")

    def run(*args: str, stash: Sandbox | None = None, extra_env: dict | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
        prefix: list[str] = []
        if stash is not None:
            prefix = ["--stash-url", stash.stash.url, "--api-key", stash.stash.api_key,
                      "--data-dir", str(stash.data_dir)]
        result = subprocess.run([sys.executable, str(PLEXSYNC), *prefix, *args], capture_output=True, text=True,
                                env={**env, **(extra_env or {})}, cwd=str(tmp_path), timeout=timeout)
        # Plain text for a person: never Stash's log framing, never a traceback.
        for stream in (result.stdout, result.stderr):
            assert "\x01" not in stream and "\x02" not in stream, stream
            assert "Traceback" not in stream, stream
        return result

    return run


def writes(sb: Sandbox) -> dict:
    return {route: n for route, n in sb.plex.request_counts().items() if route[0] in WRITES}


def queue_all(sb: Sandbox) -> None:
    for scene in sb.world.scenes:
        enqueue(str(sb.data_dir), new_job(int(scene.stash_id), "Scene.Update.Post", {"input_fields": ["title"]}))


# ---------------------------------------------------------------------------- commands


def test_status_reports_plex_queue_dlq_and_breaker(sb, cli):
    queue_all(sb)
    result = cli("status", stash=sb)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"PlexSync data folder: {sb.data_dir}" in out
    assert "Plex: 'PlexSync Sandbox' version" in out
    assert "library 'Movies': 6 items" in out
    assert "Queue: 6 ready, 0 waiting to retry" in out
    assert "Dead-letter queue: 0" in out and "Circuit breaker: closed" in out
    assert result.stderr == ""


def test_status_exits_1_when_plex_is_unusable(sb, cli):
    sb.plex.set_down(True)
    result = cli("status", stash=sb)
    assert result.returncode == 1
    assert "error: Plex: not usable" in result.stderr
    assert "Queue:" in result.stdout       # the rest of the report still comes


def test_json_puts_only_the_result_on_stdout(sb, cli):
    result = cli("--json", "status", stash=sb)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["plex"]["reachable"] is True and report["queue"]["ready"] == 0
    assert "Circuit breaker: closed" in result.stderr


def test_dlq_show_then_clear(sb, cli):
    dlq = DeadLetterQueue(str(sb.data_dir))
    scene = sb.world.scenes[0]
    dlq.add(dict(new_job(int(scene.stash_id), "Scene.Update.Post"), data={"title": "Lost scene"}),
            "Plex has no item for /x.mp4", error_type="PlexNotFound")
    dlq.add(new_job(int(sb.world.scenes[1].stash_id), "Scene.Update.Post"), "HTTP 400", error_type="PermanentError")
    dlq.close()

    shown = cli("dlq", "show", "--limit", "5", stash=sb)
    assert shown.returncode == 0, shown.stderr
    assert "Dead-letter queue: 2 scene(s) could not be synced" in shown.stdout
    assert "PlexNotFound: 1" in shown.stdout and "PermanentError: 1" in shown.stdout
    assert f"scene {scene.stash_id} 'Lost scene': PlexNotFound: Plex has no item for /x.mp4" in shown.stdout

    cleared = cli("dlq", "clear", stash=sb)
    assert cleared.returncode == 0, cleared.stderr
    assert "Cleared the dead-letter queue (2 entries)" in cleared.stdout
    dlq = DeadLetterQueue(str(sb.data_dir))
    assert dlq.count() == 0
    dlq.close()


def test_dlq_retry_not_found_requeues_only_those(sb, cli):
    dlq = DeadLetterQueue(str(sb.data_dir))
    first, second = sb.world.scenes[:2]
    dlq.add(new_job(int(first.stash_id), "Scene.Update.Post"), "missing", error_type="PlexNotFound")
    dlq.add(new_job(int(second.stash_id), "Scene.Update.Post"), "bad", error_type="PermanentError")
    dlq.close()
    result = cli("dlq", "retry", "--not-found", stash=sb)
    assert result.returncode == 0, result.stderr
    assert "Requeued 1 'PlexNotFound' dead-letter entry" in result.stdout
    assert [job["scene_id"] for job in pending_jobs(str(sb.data_dir))] == [int(first.stash_id)]
    # Stash was asked to run the Process queue task, as the Stash task does.
    assert [r["task_name"] for r in sb.stash.take_plugin_task_requests()] == ["Process queue"]


def test_process_dry_run_prints_changes_and_writes_nothing(sb, cli):
    queue_all(sb)
    before = list(pending_jobs(str(sb.data_dir)))
    sb.plex.reset_requests()

    result = cli("process", "--dry-run", stash=sb)

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Dry run: 6 queued scene(s)" in out
    changed = [s for s in sb.world.scenes if s.title.strip() and s.title != s.plex_title]
    assert changed, "the world should hold scenes whose Plex title differs"
    for scene in changed:
        assert f"title: '{scene.plex_title}' →" in out
    assert "poster: upload the scene's cover" in out
    assert "Nothing was written." in out
    assert writes(sb) == {}                                   # no PUT/POST/DELETE reached Plex
    assert sb.plex.scan_requests == []
    assert list(pending_jobs(str(sb.data_dir))) == before     # the queue is untouched
    state = SyncState(str(sb.data_dir))
    assert list(state.all()) == []                            # no sync recorded
    state.close()
    for scene in sb.world.scenes:
        assert sb.plex_item(scene)["title"] == scene.plex_title


def test_process_dry_run_json_and_then_the_real_process(sb, cli):
    queue_all(sb)
    planned = cli("--json", "process", "--dry-run", stash=sb)
    assert planned.returncode == 0, planned.stderr
    report = json.loads(planned.stdout)
    assert report["dry_run"] is True and report["queued"] == 6
    would = {s["scene_id"] for s in report["scenes"] if s["outcome"] == "would_write"}
    assert would and all(s["params"] for s in report["scenes"] if s["outcome"] == "would_write"
                         and not s["poster"])

    done = cli("process", stash=sb)
    assert done.returncode == 0, done.stderr
    assert "Process queue: 6 synced" in done.stdout
    assert list(pending_jobs(str(sb.data_dir))) == []
    for scene in sb.world.scenes:
        if scene.title:
            assert sb.plex_item(scene)["title"] == sb.world.expected_plex(scene)["title"]

    # After the sync, a dry run of the same scenes has nothing left to write.
    queue_all(sb)
    again = json.loads(cli("--json", "process", "--dry-run", stash=sb).stdout)
    assert again["counts"] == {"unchanged": 6}


def test_process_dry_run_with_plex_down_stops_with_one_error(sb, cli):
    queue_all(sb)
    sb.plex.set_down(True)
    result = cli("process", "--dry-run", stash=sb)
    assert result.returncode == 1
    assert result.stderr.startswith("error: Dry run stopped: cannot connect to Plex")
    assert len(list(pending_jobs(str(sb.data_dir)))) == 6


def test_process_exits_1_when_the_queue_could_not_be_processed(sb, cli):
    queue_all(sb)
    sb.plex.set_token("a-new-token-the-plugin-does-not-have")
    result = cli("process", stash=sb)
    assert result.returncode == 1
    assert "stopped: a setting needs fixing" in result.stdout
    assert "Plex token" in result.stderr
    assert len(list(pending_jobs(str(sb.data_dir)))) == 6   # every job kept


def test_process_with_stash_unreachable_keeps_every_job_and_exits_1(sb, cli, tmp_path):
    """A wrong --stash-url is not the scenes' fault: no retry used, nothing dead-lettered."""
    queue_all(sb)
    settings = tmp_path / "plexsync.conf"
    settings.write_text(f"plex_url = {sb.plex.url}\nplex_token = {sb.plex.token}\n", encoding="utf-8")
    result = cli("--stash-url", "http://127.0.0.1:9", "--settings", str(settings), "--data-dir", str(sb.data_dir),
                 "process", "--max-wait", "1")
    assert result.returncode == 1, result.stderr
    assert "PlexSync lost Stash at http://127.0.0.1:9" in result.stderr
    pending = list(pending_jobs(str(sb.data_dir)))
    assert len(pending) == len(sb.world.scenes)
    assert all(not job.get("retry_count") for job in pending), pending
    dlq = DeadLetterQueue(str(sb.data_dir))
    try:
        assert dlq.count() == 0
    finally:
        dlq.close()
    assert writes(sb) == {}


def test_process_dry_run_when_plex_asks_to_slow_down_stops_without_blaming_a_scene(sb, cli):
    # A 429 pauses a real drain (no scene's fault, no retry used): the dry run says so
    # instead of planning the scene as 'would fail'.
    queue_all(sb)
    sb.plex.fail_until_cleared(status=429, retry_after=30)
    result = cli("--json", "process", "--dry-run", stash=sb)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1].startswith("error: Dry run stopped: Plex asked PlexSync to slow down")
    assert "would_fail" not in result.stdout and "RateLimited" not in result.stderr
    assert len(list(pending_jobs(str(sb.data_dir)))) == 6


def test_process_dry_run_with_an_empty_queue(sb, cli):
    result = cli("process", "--dry-run", stash=sb)
    assert result.returncode == 0
    assert "the queue is empty" in result.stdout


def test_reconcile_dry_run_queues_and_writes_nothing(sb, cli):
    sb.plex.reset_requests()
    result = cli("reconcile", "all", "--dry-run", stash=sb)
    assert result.returncode == 0, result.stdout + result.stderr
    assert writes(sb) == {}
    assert list(pending_jobs(str(sb.data_dir))) == []


# ---------------------------------------------------------------------------- settings


def test_settings_file_key_value(sb, cli, tmp_path):
    sb.stash.set_plugin_settings("plexsync", {})          # nothing in Stash: the file is what counts
    settings = tmp_path / "plexsync.conf"
    settings.write_text(f"# PlexSync settings\nplex_url = {sb.plex.url}\nplex_token = \"{sb.plex.token}\"\n"
                        f"path_mappings = {sb.world.mapping_setting}\nskip_poster = true\nmax_tags = 30\n",
                        encoding="utf-8")
    result = cli("--settings", str(settings), "--data-dir", str(sb.data_dir), "status")
    assert result.returncode == 0, result.stderr
    assert "Plex: 'PlexSync Sandbox'" in result.stdout
    assert sb.plex.token not in result.stdout + result.stderr


def test_settings_file_json_with_process_dry_run(sb, cli, tmp_path):
    sb.stash.set_plugin_settings("plexsync", {})
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"plex_url": sb.plex.url, "plex_token": sb.plex.token,
                                    "path_mappings": sb.world.mapping_setting, "skip_poster": True,
                                    "data_dir": str(sb.data_dir)}), encoding="utf-8")
    queue_all(sb)
    result = cli("--settings", str(settings), "--stash-url", sb.stash.url, "--api-key", sb.stash.api_key,
                 "process", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "Dry run: 6 queued scene(s)" in result.stdout       # data_dir came from the file
    assert "poster" not in result.stdout                       # skip_poster came from the file


def test_settings_file_with_a_bad_value_fails_naming_the_setting(cli, tmp_path):
    settings = tmp_path / "bad.conf"
    settings.write_text("plex_url = ftp://plex\nplex_token = abcdefghijkl\nplex_tokn = typo\n", encoding="utf-8")
    result = cli("--settings", str(settings), "--data-dir", str(tmp_path / "data"), "dlq", "purge")
    assert result.returncode == 1
    assert "'Plex server URL'" in result.stderr
    assert "ignoring unknown setting(s) plex_tokn" in result.stderr


@pytest.mark.parametrize("content, message", [
    (None, "cannot read the settings file"),
    ("{not json", "is not valid JSON"),
    ("[1, 2]", "expected 'key = value'"),
    ("plex_url http://x", "expected 'key = value'"),
    ("skip_poster = maybe", "is a tick box"),
    ("max_tags = lots", "takes a number"),
])
def test_unreadable_settings_file_is_a_usage_error(cli, tmp_path, content, message):
    settings = tmp_path / "settings.conf"
    if content is not None:
        settings.write_text(content, encoding="utf-8")
    result = cli("--settings", str(settings), "--data-dir", str(tmp_path / "data"), "status")
    assert result.returncode == 2
    assert message in result.stderr


def test_stash_without_the_api_key_explains_what_to_pass(sb, cli):
    result = cli("--stash-url", sb.stash.url, "--data-dir", str(sb.data_dir), "status")
    assert result.returncode == 1
    assert "--api-key" in result.stderr and "STASH_API_KEY" in result.stderr


def test_stash_url_and_key_from_the_environment(sb, cli):
    result = cli("--data-dir", str(sb.data_dir), "dlq", "show",
                 extra_env={"STASH_URL": sb.stash.url, "STASH_API_KEY": sb.stash.api_key})
    assert result.returncode == 0, result.stderr
    assert "The dead-letter queue is empty" in result.stdout
    assert any(q["auth"] == "apikey" for q in sb.stash.queries)


def test_data_dir_from_the_environment_and_a_warning_when_created(sb, cli, tmp_path):
    fresh = tmp_path / "fresh-data"
    result = cli("--stash-url", sb.stash.url, "--api-key", sb.stash.api_key, "dlq", "purge",
                 extra_env={"PLEXSYNC_DATA_DIR": str(fresh)})  # 'dlq show' only looks: creates nothing
    assert result.returncode == 0, result.stderr
    assert fresh.is_dir()
    assert f"warning: The data folder {fresh} did not exist" in result.stderr


def test_unreachable_stash_says_how_to_point_at_it(cli, tmp_path):
    result = cli("--stash-url", "http://127.0.0.1:9", "--data-dir", str(tmp_path / "d"), "status")
    assert result.returncode == 1
    assert "--stash-url" in result.stderr


# ---------------------------------------------------------------------------- usage


@pytest.mark.parametrize("args", [
    ["bogus"],
    ["dlq"],
    ["dlq", "explode"],
    ["reconcile", "sometimes"],
    ["dlq", "show", "--limit", "0"],
    ["dlq", "purge", "--days", "-1"],
    ["dlq", "retry", "--not-found", "--error-type", "X"],
    ["--no-such-option", "status"],
    ["--stash-url", "ftp://stash", "status"],
    ["--stash-url", "http://stash:9999/some/path", "status"],
])
def test_usage_errors_exit_2(cli, tmp_path, args):
    result = cli(*args, "--data-dir", str(tmp_path / "d")) if args[-1] == "status" else cli(*args)
    assert result.returncode == 2
    assert result.stderr.strip()
    assert result.stdout == ""


def test_help_exits_0(cli):
    result = cli("--help")
    assert result.returncode == 0
    for word in ("status", "process", "reconcile", "dlq", "reset-breaker", "--settings", "--stash-url", "exit codes"):
        assert word in result.stdout


@pytest.mark.parametrize("argv, expected", [
    (["status"], ("status", {})),
    (["process"], ("process", {"linger": "0"})),
    (["process", "--max-wait", "5"], ("process", {"linger": "0", "max_wait": "5"})),
    (["process", "--dry-run"], ("process_dry_run", {})),
    (["reconcile"], ("reconcile", {"scope": "changed"})),
    (["reconcile", "missing", "--dry-run"], ("reconcile", {"scope": "missing", "dry_run": "true"})),
    (["dlq", "show", "--limit", "3"], ("dlq_show", {"limit": "3"})),
    (["dlq", "retry"], ("dlq_retry", {})),
    (["dlq", "retry", "--error-type", "PermanentError"], ("dlq_retry", {"error_type": "PermanentError"})),
    (["dlq", "retry", "--not-found"], ("dlq_retry", {"error_type": "PlexNotFound"})),
    (["dlq", "purge", "--days", "7"], ("dlq_purge", {"days": "7"})),
    (["dlq", "clear"], ("dlq_clear", {})),
    (["reset-breaker"], ("reset_breaker", {})),
    (["--json", "dlq", "show", "--data-dir", "/x"], ("dlq_show", {})),
])
def test_commands_map_onto_the_stash_tasks(argv, expected):
    assert task_call(build_parser().parse_args(argv)) == expected


def test_options_go_before_or_after_the_command():
    parser = build_parser()
    for argv in (["--data-dir", "/d", "--json", "dlq", "show"], ["dlq", "show", "--data-dir", "/d", "--json"],
                 ["dlq", "--data-dir", "/d", "show", "--json"]):
        ns = parser.parse_args(argv)
        assert ns.data_dir == "/d" and ns.json is True


@pytest.mark.parametrize("url, expected", [
    ("http://localhost:9999", ("http", "localhost", 9999)),
    ("localhost:9999", ("http", "localhost", 9999)),
    ("https://stash.example.com/", ("https", "stash.example.com", 443)),
    ("http://127.0.0.1:9999/graphql", ("http", "127.0.0.1", 9999)),
])
def test_stash_url_forms(url, expected):
    assert parse_stash_url(url) == expected


@pytest.mark.parametrize("url", ["ftp://x", "http://", "http://x:99999", "http://x/stash"])
def test_bad_stash_urls(url):
    with pytest.raises(UsageError):
        parse_stash_url(url)


# ---------------------------------------------------------------------------- terminal output


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_mode_writes_plain_lines(monkeypatch):
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    monkeypatch.setattr("sys.stderr", err)
    slog.set_output_mode("terminal")
    log_trace, log_debug, log_info, log_warn, log_error = slog.create_logger("unit")
    slog.register_secret("AbCdEfGh1234567890xy")
    log_info("hello\nworld")
    log_warn("careful")
    log_error("bad AbCdEfGh1234567890xy")
    log_debug("detail")
    log_info("title \x1b[31mred\x1b[0m \x01i\x02 end\ttab")
    slog.log_progress(0.5)                       # not a terminal: no bar at all
    assert out.getvalue() == "hello\nworld\ntitle \ufffd[31mred\ufffd[0m \ufffdi\ufffd end\ttab\n"
    assert err.getvalue() == "warning: careful\nerror: bad ****\ndebug: [unit] detail\n"


def test_terminal_mode_json_sends_info_to_stderr(monkeypatch):
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    monkeypatch.setattr("sys.stderr", err)
    slog.set_output_mode("terminal", info_to_stdout=False)
    slog.create_logger("unit")[2]("info")
    assert out.getvalue() == "" and err.getvalue() == "info\n"


def test_progress_bar_on_a_terminal(monkeypatch):
    out, err = io.StringIO(), FakeTerminal()
    monkeypatch.setattr("sys.stdout", out)
    monkeypatch.setattr("sys.stderr", err)
    slog.set_output_mode("terminal")
    slog.log_progress(0.5)
    assert err.getvalue() == "\r[" + "#" * 15 + "." * 15 + "]  50%"
    slog.log_progress(0.5)                       # same percentage, just drawn: not redrawn
    assert err.getvalue().count("50%") == 1
    slog.create_logger("unit")[3]("a warning")   # wipes the bar, prints, draws it again
    assert err.getvalue().endswith("\r" + " " * 38 + "\rwarning: a warning\n\r[" + "#" * 15 + "." * 15 + "]  50%")
    slog.log_progress(1.0)                       # complete: the bar ends its line
    assert err.getvalue().endswith("] 100%\n")
    slog.log_progress(0.25)
    slog.end_progress()                          # a bar left open is closed with a newline
    assert err.getvalue().endswith("]  25%\n")


def test_stash_mode_is_unchanged(capsys):
    slog.set_output_mode("stash")
    slog.create_logger("unit")[2]("x")
    slog.log_progress(0.5)
    assert capsys.readouterr().err == "\x01i\x02x\n\x01p\x020.5000\n"


def test_unknown_output_mode_is_refused():
    with pytest.raises(ValueError):
        slog.set_output_mode("fancy")


def test_process_dry_run_of_a_big_queue_lists_each_section_once(cli, tmp_path):
    with Sandbox(scenes=60, seed=6, job_queue="sync") as big:
        big.data_dir.mkdir(parents=True)
        queue_all(big)
        big.plex.reset_requests()
        result = cli("--json", "process", "--dry-run", stash=big)
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["queued"] == 60 and sum(report["counts"].values()) == 60
        counts = big.plex.request_counts()
        assert writes(big) == {}
        # One listing of the section (not one file look-up per scene), then each item loaded once.
        assert counts[("GET", "/library/sections/{id}/all")] == 1
        assert counts[("GET", "/library/metadata/{key}")] == 60
