"""End to end: every failure a drain or Status can meet is classified and told once.

The plugin runs as Stash runs it (``sandbox.runner.PluginRunner``), against the Plex and
Stash emulators. For each failure the checks are the same: stdout is exactly one plugin
JSON, no traceback reaches Stash's log, the task ends with an ``error`` that says what to
do (naming the setting as Stash shows it), and every queued job is kept unless it was
truly the scene's fault.
"""

from __future__ import annotations

import json

import pytest

from sandbox.runner import RunResult
from tests.e2e_helpers import EDIT, Sandbox, all_runs, assert_in_plex
from tests.e2e_helpers import close_sandbox
from tests.test_e2e_sync import make_sandbox

pytestmark = pytest.mark.slow

#: More than worker.sync.BULK_INDEX_THRESHOLD: the drain lists every section first.
BULK = 55


def assert_clean(result: RunResult) -> None:
    """One plugin JSON on stdout, no traceback anywhere, every stderr line framed for Stash."""
    document = json.loads(result.stdout)
    assert set(document) == {"output", "error"}, result.stdout
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, result.stderr
    for line in result.stderr.splitlines():
        assert line.startswith("\x01"), f"unframed stderr line: {line!r}"


def kept_untouched(box: Sandbox, count: int) -> None:
    pending = box.pending()
    assert len(pending) == count, len(pending)
    assert all(not j.get("retry_count") for j in pending), pending
    assert box.dead_letters() == []


@pytest.fixture
def bulk(tmp_path):
    """A world of BULK scenes, every scene queued, nothing synced yet."""
    box = make_sandbox(tmp_path, seed=21, scenes=BULK)
    box.queue_quietly(box.world.scenes)
    yield box
    close_sandbox(box)


# ---------------------------------------------------------------------------------------
# Finding 1 (+7): a bulk drain (≥ 50 jobs) meets a failing Plex before its first job
# ---------------------------------------------------------------------------------------


def test_bulk_drain_with_plex_down_stops_keeping_every_job(bulk):
    bulk.plex.set_down(True)
    result = bulk.drain()
    assert_clean(result)
    assert result.exit_code == 1
    assert result.error and "Plex" in result.error and "unreachable" in result.error, result.error
    kept_untouched(bulk, BULK)
    assert bulk.breaker()["failure_count"] == 1          # an outage counts toward the breaker
    bulk.plex.set_down(False)
    after = bulk.drain()
    assert after.ok and after.output["synced"] == BULK, (after.output, after.error)


@pytest.mark.parametrize("setting, change", [
    ("Plex token", {"plex_token": "wrong-token-0123456789"}),
    ("Plex libraries", {"plex_libraries": "No Such Library"}),
    ("Plex server URL", {"plex_url": "stash"}),       # Stash's own address: not a Plex server
])
def test_bulk_drain_with_a_bad_setting_fails_naming_it_and_keeps_every_job(bulk, setting, change):
    bulk.configure(**{k: bulk.stash.url if v == "stash" else v for k, v in change.items()})
    result = bulk.drain()
    assert_clean(result)
    assert result.exit_code == 1
    assert f"Fix the '{setting}' setting" in result.error, result.error
    assert "wrong-token-0123456789" not in result.stderr + result.stdout
    kept_untouched(bulk, BULK)
    assert (bulk.breaker() or {}).get("state", "closed") == "closed"   # a setting is not an outage


def test_bulk_drain_with_https_to_an_http_plex_says_use_http(bulk):
    bulk.configure(plex_url=bulk.plex.url.replace("http://", "https://"), skip_tls_verify=True)
    result = bulk.drain()
    assert_clean(result)
    assert result.exit_code == 1
    assert "Fix the 'Plex server URL' setting" in result.error, result.error
    assert "http://" in result.error and "Skip TLS" not in result.error, result.error
    kept_untouched(bulk, BULK)


# ---------------------------------------------------------------------------------------
# Finding 7: a drain stopped by a setting or an open breaker fails the task
# ---------------------------------------------------------------------------------------


def test_small_drain_stopped_by_a_bad_token_ends_the_task_with_an_error(tmp_path):
    box = make_sandbox(tmp_path, seed=7, scenes=6)
    try:
        box.queue_quietly(box.world.scenes)
        box.configure(plex_token="wrong-token-0123456789")
        result = box.drain()
        assert_clean(result)
        assert result.exit_code == 1
        assert "Fix the 'Plex token' setting" in result.error, result.error
        assert result.output["stopped"] == "a setting needs fixing"   # the report is still there
        kept_untouched(box, 6)
    finally:
        close_sandbox(box)


def test_drain_stopped_by_an_open_breaker_says_when_the_next_try_is(tmp_path):
    box = make_sandbox(tmp_path, seed=8, scenes=8)
    try:
        box.queue_quietly(box.world.scenes)
        box.plex.set_down(True)
        result = box.drain()
        assert_clean(result)
        assert result.exit_code == 1
        assert box.breaker()["state"] == "open"
        assert "Plex unreachable; next try at " in result.error, result.error
        pending = box.pending()
        assert len(pending) == 8 and all(not j.get("retry_count") for j in pending)
    finally:
        close_sandbox(box)


# ---------------------------------------------------------------------------------------
# Finding 8: a server that is not Plex, a Plex URL with a path
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["stash", "path"])
def test_not_a_plex_server_is_a_setting_to_fix_in_status_and_drain(tmp_path, where):
    box = make_sandbox(tmp_path, seed=9, scenes=4)
    try:
        box.queue_quietly(box.world.scenes)
        url = box.stash.url if where == "stash" else box.plex.url + "/web"
        box.configure(plex_url=url)
        status = box.runner.run_task("Status")
        assert_clean(status)
        assert status.output["plex"]["reachable"] is False
        assert "'Plex server URL'" in status.output["plex"]["error"], status.output
        result = box.drain()
        assert_clean(result)
        assert result.exit_code == 1
        assert "Fix the 'Plex server URL' setting" in result.error, result.error
        kept_untouched(box, 4)
    finally:
        close_sandbox(box)


# ---------------------------------------------------------------------------------------
# Finding 6: 429 slows the whole drain down, uses no retry, never trips the breaker
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("parallel", [1, 4])
def test_burst_of_429_pauses_the_drain_and_everything_lands_without_a_retry(tmp_path, parallel):
    box = make_sandbox(tmp_path, seed=6, scenes=30)
    try:
        box.configure(parallel_plex_requests=parallel)
        box.queue_quietly(box.world.scenes)
        box.plex.fail_next(12, status=429, retry_after=1)
        result = box.drain(max_wait="10")
        assert_clean(result)
        assert result.ok, (result.error, result.output)
        assert result.output["synced"] == 30, result.output
        assert result.output["retried"] == 0, result.output
        assert box.pending() == [] and box.dead_letters() == []
        assert (box.breaker() or {}).get("state", "closed") == "closed"
        assert (box.breaker() or {}).get("failure_count", 0) == 0
        assert box.plex.request_counts()[EDIT] == 30
        assert_in_plex(box.plex, box.world.scenes)
    finally:
        close_sandbox(box)


# ---------------------------------------------------------------------------------------
# Status never shows a traceback
# ---------------------------------------------------------------------------------------


def test_status_with_plex_down_reports_the_classified_error(tmp_path):
    box = make_sandbox(tmp_path, seed=10, scenes=2)
    try:
        box.plex.set_down(True)
        status = box.runner.run_task("Status")
        assert_clean(status)
        assert status.output["plex"]["error_type"] == "PlexUnreachable"
        assert all(not r.error or "Traceback" not in r.error for r in all_runs([status]))
    finally:
        close_sandbox(box)
