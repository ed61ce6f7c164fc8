"""reconciliation/scheduler.py: the automatic reconcile asks Stash once per interval.

The pure decisions are tested on numbers; ``maybe_request_reconcile`` against a real
Stash emulator that records every ``runPluginTask``, with freezegun moving the clock.
The last tests go through the runner: a hook and a task ask for the reconcile.
"""

from __future__ import annotations

import fcntl
import os
import sys
import threading
from datetime import timedelta

import pytest
from freezegun import freeze_time

from reconciliation.scheduler import (
    FULL_RECONCILE_EVERY, INTERVALS, TASK_ALL, TASK_CHANGED, choose_task, is_due, maybe_request_reconcile,
    parse_interval,
)
from reconciliation.state import STATE_FILE, read_state, record_run, state_path
from sandbox.library import generate
from sandbox.plex_server import PlexServer
from sandbox.runner import PluginRunner
from sandbox.stash_server import StashServer
from stash.client import StashClient, StashConnection

from tests.conftest import ROOT

HOUR = 3600.0
DAY = 24 * HOUR
START = "2024-05-01 10:00:00"


@pytest.fixture
def stash():
    with StashServer() as server:
        yield server


def client(stash: StashServer) -> StashClient:
    return StashClient(StashConnection(host=stash.host, port=stash.port, api_key=stash.api_key), timeout=5.0)


def requested(stash: StashServer) -> list[str]:
    """Task names asked for since the last call (and only ours)."""
    taken = stash.take_plugin_task_requests()
    assert all(r["plugin_id"] == "plexsync" for r in taken)
    return [r["task_name"] for r in taken]


# --------------------------------------------------------------------------------- pure


@pytest.mark.parametrize("interval, last, now, due", [
    ("off", None, 0.0, False),
    ("hourly", None, 0.0, True),
    ("hourly", 0.0, HOUR - 1, False),
    ("hourly", 0.0, HOUR, True),
    ("daily", 0.0, DAY - 1, False),
    ("daily", 0.0, DAY, True),
    ("weekly", 0.0, 7 * DAY - 1, False),
    ("weekly", 0.0, 7 * DAY, True),
    ("daily", 100.0, 50.0, True),        # the clock went back: don't wait a day for it to catch up
    ("fortnightly", None, 0.0, False),   # unknown: off
    ("Daily", 0.0, DAY, True),
])
def test_is_due(interval, last, now, due):
    assert is_due(interval, last, now) is due


@pytest.mark.parametrize("raw, parsed", [
    ("hourly", "hourly"), (" Weekly ", "weekly"), ("DAILY", "daily"), ("", "off"), (None, "off"),
    ("every day", "off"), (7, "off"), ("off", "off"),
])
def test_parse_interval(raw, parsed):
    assert parse_interval(raw) == parsed


def test_choose_task():
    assert choose_task(None, 0.0) == TASK_ALL
    assert choose_task(0.0, FULL_RECONCILE_EVERY - 1) == TASK_CHANGED
    assert choose_task(0.0, FULL_RECONCILE_EVERY) == TASK_ALL
    assert choose_task(100.0, 50.0) == TASK_ALL


# ----------------------------------------------------------------- against a real Stash


def test_hourly_asks_once_per_hour(stash, data_dir):
    c = client(stash)
    with freeze_time(START) as clock:
        assert maybe_request_reconcile(c, data_dir, "hourly") is True
        assert requested(stash) == [TASK_ALL]          # never ran: a full reconcile first
        for _ in range(5):
            assert maybe_request_reconcile(c, data_dir, "hourly") is False
        clock.tick(timedelta(minutes=59))
        assert maybe_request_reconcile(c, data_dir, "hourly") is False
        clock.tick(timedelta(minutes=1))
        assert maybe_request_reconcile(c, data_dir, "hourly") is True
        assert maybe_request_reconcile(c, data_dir, "hourly") is False
        assert requested(stash) == [TASK_CHANGED]


@pytest.mark.parametrize("interval, days, expected", [
    ("daily", 3, [TASK_ALL, TASK_CHANGED, TASK_CHANGED]),
    ("daily", 9, [TASK_ALL] + [TASK_CHANGED] * 6 + [TASK_ALL, TASK_CHANGED]),
    ("weekly", 15, [TASK_ALL, TASK_ALL, TASK_ALL]),
    # Each run restarts the hour, 5 minutes after the request: one every 70 minutes.
    ("hourly", 1, [TASK_ALL] + [TASK_CHANGED] * 20),
])
def test_fires_once_per_interval_with_the_task_running_each_time(stash, data_dir, interval, days, expected):
    """A plugin run every 10 minutes for days; each requested reconcile runs 5 minutes later."""
    c = client(stash)
    asked: list[str] = []
    with freeze_time(START) as clock:
        for _ in range(days * 24 * 6):
            if maybe_request_reconcile(c, data_dir, interval):
                [task] = requested(stash)
                asked.append(task)
                clock.tick(timedelta(minutes=5))
                record_run(data_dir, "all" if task == TASK_ALL else "changed", {"scope": "x"})
                clock.tick(timedelta(minutes=5))
            else:
                clock.tick(timedelta(minutes=10))
            assert requested(stash) == []
    assert asked == expected
    assert read_state(data_dir)[0]["scheduler"]["interval"] == interval


@pytest.mark.parametrize("days, expected", [
    (3, [TASK_ALL, TASK_CHANGED, TASK_CHANGED]),
    (8, [TASK_ALL] + [TASK_CHANGED] * 6 + [TASK_ALL]),
])
def test_fires_once_per_interval_even_when_the_task_never_runs(stash, data_dir, days, expected):
    """Stash lost the queued tasks (restarted): the request marker alone paces the asking."""
    c = client(stash)
    asked: list[str] = []
    with freeze_time(START) as clock:
        for _ in range(days * 24 * 6):
            if maybe_request_reconcile(c, data_dir, "daily"):
                asked += requested(stash)
            clock.tick(timedelta(minutes=10))
    assert asked == expected


def test_a_run_from_the_task_menu_resets_the_clock(stash, data_dir):
    c = client(stash)
    with freeze_time(START) as clock:
        record_run(data_dir, "changed", {"scope": "changed"})
        clock.tick(timedelta(hours=23))
        assert maybe_request_reconcile(c, data_dir, "daily") is False
        clock.tick(timedelta(hours=1))
        assert maybe_request_reconcile(c, data_dir, "daily") is True
        assert requested(stash) == [TASK_ALL]  # no full reconcile ran yet


def test_missing_state_counts_as_never_run_with_a_warning(stash, data_dir, capsys, parse_log):
    with freeze_time(START):
        assert maybe_request_reconcile(client(stash), data_dir, "weekly") is True
    warnings = [m for level, m in parse_log(capsys.readouterr().err) if level == "w"]
    assert warnings == [f"Reconcile state: there is no {STATE_FILE} yet, so reconcile counts as never run"]
    assert requested(stash) == [TASK_ALL]


def test_corrupt_state_counts_as_never_run_with_a_warning(stash, data_dir, capsys):
    with freeze_time(START):
        record_run(data_dir, "all", {"scope": "all"})
        with open(state_path(data_dir), "wb") as fh:
            fh.write(b"\x00garbage")
        assert maybe_request_reconcile(client(stash), data_dir, "daily") is True
    err = capsys.readouterr().err
    assert "unreadable" in err and "never run" in err
    assert requested(stash) == [TASK_ALL]
    assert read_state(data_dir)[1] is None  # rewritten whole


def test_off_and_unknown_intervals_do_nothing(stash, data_dir):
    for interval in ("off", "", "fortnightly"):
        assert maybe_request_reconcile(client(stash), data_dir, interval) is False
    assert requested(stash) == []
    assert not os.path.exists(state_path(data_dir))


def test_a_burst_of_runs_asks_once(stash, data_dir):
    c = client(stash)
    barrier = threading.Barrier(8)
    results: list[bool] = []

    def run():
        barrier.wait()
        results.append(maybe_request_reconcile(c, data_dir, "hourly"))

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 7 + [True]
    assert requested(stash) == [TASK_ALL]


def test_gives_way_while_another_process_holds_the_state(stash, data_dir):
    fd = os.open(state_path(data_dir) + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert maybe_request_reconcile(client(stash), data_dir, "hourly") is False
    finally:
        os.close(fd)
    assert requested(stash) == []


def test_stash_unreachable_is_a_warning_not_an_error(stash, data_dir, capsys):
    c = client(stash)
    stash.set_down(True)
    try:
        assert maybe_request_reconcile(c, data_dir, "hourly") is False
    finally:
        stash.set_down(False)
    assert "Could not ask Stash for the automatic reconcile" in capsys.readouterr().err
    # The request is marked before asking, so the next runs don't hammer Stash.
    assert maybe_request_reconcile(c, data_dir, "hourly") is False


def test_the_hook_path_stays_standard_library_only(run_python):
    code = ("import sys, plugin.hook, reconciliation.scheduler, reconciliation.state\n"
            "heavy = [m for m in ('pydantic', 'plexapi', 'persistqueue', 'requests') if m in sys.modules]\n"
            "print(','.join(heavy))")
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().strip() == ""


def test_intervals_match_the_setting():
    from validation.config import ReconcileInterval
    from typing import get_args

    assert set(get_args(ReconcileInterval)) == set(INTERVALS) | {"off"}


# ----------------------------------------------------------------------- through the runner


@pytest.fixture
def sandbox(tmp_path):
    stash = StashServer().start()
    plex = PlexServer().start()
    world = generate(2, 6)
    world.load_into(stash, plex)
    data_dir = str(tmp_path / "data")
    runner = PluginRunner(ROOT, stash, tmp_path / "stash", env={"PLEXSYNC_DATA_DIR": data_dir})
    settings = {"plex_url": plex.url, "plex_token": plex.token, "path_mappings": world.mapping_setting}
    yield stash, plex, world, runner, settings, data_dir
    plex.stop()
    stash.stop()


def _names(runs) -> list[str]:
    return [r.name for r in runs]


@pytest.mark.slow
def test_hooks_ask_for_the_reconcile_once_per_interval(sandbox):
    stash, plex, world, runner, settings, data_dir = sandbox
    stash.set_plugin_settings("plexsync", {**settings, "reconcile_interval": " Daily "})
    first = runner.fire_hook("Scene.Update.Post", int(world.scenes[0].stash_id), {"title": "One"})
    assert first[0].ok and first[0].output == "queued"
    assert _names(runner.task_runs) == ["Process queue", "Reconcile: all scenes", "Process queue"]
    assert all(r.ok for r in runner.task_runs), [r.stderr for r in runner.task_runs]
    reconciled = runner.task_runs[1].output
    assert reconciled["scanned"] == len(world.scenes) and reconciled["enqueued"] == {
        "never_synced": len(world.scenes) - 1}

    runner.task_runs.clear()
    runner.fire_hook("Scene.Update.Post", int(world.scenes[1].stash_id), {"title": "Two"})
    assert _names(runner.task_runs) == ["Process queue"]
    assert read_state(data_dir)[0]["scheduler"]["task"] == "Reconcile: all scenes"


@pytest.mark.slow
def test_hooks_ignore_an_unknown_interval(sandbox):
    stash, plex, world, runner, settings, data_dir = sandbox
    stash.set_plugin_settings("plexsync", {**settings, "reconcile_interval": "fortnightly"})
    runner.fire_hook("Scene.Update.Post", int(world.scenes[0].stash_id), {"title": "One"})
    assert _names(runner.task_runs) == ["Process queue"]
    assert not os.path.exists(os.path.join(data_dir, STATE_FILE))


@pytest.mark.slow
def test_a_task_asks_for_the_reconcile_when_due(sandbox):
    stash, plex, world, runner, settings, data_dir = sandbox
    stash.set_plugin_settings("plexsync", {**settings, "reconcile_interval": "hourly"})
    status = runner.run_task("Status")
    assert status.ok, status.stderr
    assert _names(status.followups) == ["Reconcile: all scenes"]
    reconcile = status.followups[0]
    assert reconcile.ok and not any(r.name == "Reconcile: changed scenes" for r in runner.task_runs)
    runner.task_runs.clear()
    assert runner.run_task("Status").followups == []
    assert sys.executable  # the runner ran the project's interpreter
