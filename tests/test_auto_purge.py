"""worker/auto_purge.py: the dead-letter queue purges itself at most once a day."""

from __future__ import annotations

import json
import os
from datetime import timedelta

import pytest
from freezegun import freeze_time

from worker.auto_purge import MARKER_FILE, maybe_auto_purge, purge_due
from worker.dlq import DeadLetterQueue


def _add(data_dir: str, scene_id: int) -> None:
    dlq = DeadLetterQueue(data_dir)
    try:
        dlq.add({"scene_id": scene_id, "job_key": f"scene_{scene_id}"}, "boom", error_type="PermanentError")
    finally:
        dlq.close()


def _count(data_dir: str) -> int:
    dlq = DeadLetterQueue(data_dir)
    try:
        return dlq.count()
    finally:
        dlq.close()


@pytest.mark.parametrize("last, now, due", [(None, 0.0, True), (0.0, 86399.0, False), (0.0, 86400.0, True),
                                            (100.0, 50.0, True)])
def test_purge_due(last, now, due):
    assert purge_due(last, now) is due


def test_purges_old_entries_once_a_day(data_dir):
    with freeze_time("2024-05-01 10:00:00") as clock:
        _add(data_dir, 1)
        clock.tick(timedelta(days=40))
        _add(data_dir, 2)
        assert maybe_auto_purge(data_dir, 30) == 1          # the 40-day-old entry
        assert _count(data_dir) == 1
        clock.tick(timedelta(days=31))
        assert maybe_auto_purge(data_dir, 30) == 1          # a day has passed: purged again
        _add(data_dir, 3)
        clock.tick(timedelta(hours=23))
        assert maybe_auto_purge(data_dir, 0) is None        # not a day yet: nothing, even at 0 days
        assert _count(data_dir) == 1
        clock.tick(timedelta(hours=1))
        assert maybe_auto_purge(data_dir, 0) == 1
    with open(os.path.join(data_dir, MARKER_FILE)) as fh:
        assert json.load(fh)["removed"] == 1


def test_a_corrupt_marker_means_purge_now(data_dir, capsys):
    with open(os.path.join(data_dir, MARKER_FILE), "w") as fh:
        fh.write("nonsense")
    assert maybe_auto_purge(data_dir, 30) == 0
    assert "purging now" in capsys.readouterr().err
    assert maybe_auto_purge(data_dir, 30) is None
