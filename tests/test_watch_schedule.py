"""'Watch-state check interval': when a pass is queued (pure), and the queueing itself
on a real queue file; the command line's watch-state."""

import pytest
from freezegun import freeze_time

from plugin.cli import build_parser, task_call
from reconciliation.scheduler import maybe_queue_watch_state, parse_watch_interval, watch_is_due
from worker.jobs import SYNC_WATCH_STATE, key_of
from worker.queue import pending_jobs


@pytest.mark.parametrize("interval, last, now, due", [
    ("off", None, 1000, False), ("15min", None, 1000, True), ("15min", 1000, 1899, False),
    ("15min", 1000, 1900, True), ("hourly", 1000, 4599, False), ("daily", 1000, 1000 + 86400, True),
    ("hourly", 5000, 1000, True),   # the clock went back
    ("weekly", None, 1000, False),  # not a watch interval
])
def test_watch_is_due(interval, last, now, due):
    assert watch_is_due(interval, last, now) is due


def test_spellings():
    assert [parse_watch_interval(x) for x in ("15 min", "Hourly", "", "nonsense")] == ["15min", "hourly", "off", "off"]


def test_queues_one_pass_per_interval(data_dir):
    with freeze_time("2026-01-11 12:00:00") as clock:
        assert maybe_queue_watch_state(data_dir, "15min") is True
        assert maybe_queue_watch_state(data_dir, "15min") is False
        clock.tick(899)
        assert maybe_queue_watch_state(data_dir, "15min") is False
        clock.tick(1)
        assert maybe_queue_watch_state(data_dir, "15min") is True
    jobs = list(pending_jobs(data_dir))
    assert [j["kind"] for j in jobs] == [SYNC_WATCH_STATE] * 2
    assert {key_of(j) for j in jobs} == {"watch_state"}


def test_off_queues_nothing(data_dir):
    assert maybe_queue_watch_state(data_dir, "off") is False
    assert list(pending_jobs(data_dir)) == []


def test_command_line():
    parser = build_parser()
    assert task_call(parser.parse_args(["watch-state"])) == ("watch_state", {"linger": "0"})
    assert task_call(parser.parse_args(["watch-state", "--dry-run"])) == ("watch_state_dry_run", {})
