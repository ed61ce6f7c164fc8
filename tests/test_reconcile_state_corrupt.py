"""reconciliation/state.py: a state file with the right shape but wrong values (a hand
edit, another release, a bit flip) counts as "never run" field by field, no crash."""

from __future__ import annotations

import json
import os

import pytest

from reconciliation.scheduler import maybe_request_reconcile
from reconciliation.state import STATE_FILE, describe_last_reconcile, read_state, record_run

ODD = [
    {"runs": {"changed": "x", "all": {"at": "soon"}}, "last": {"at": "x", "summary": "y"},
     "scheduler": {"requested_at": "z", "task": 3}, "cursor": 5},
    {"runs": {"changed": {"at": 1.0, "summary": []}}, "last": {"scope": 7, "at": True, "summary": []},
     "scheduler": "y"},
    {"runs": {"all": {"at": None}}, "last": [], "scheduler": [], "cursor": ""},
]


class AskingStash:
    def __init__(self) -> None:
        self.asked: list[str] = []

    def run_plugin_task(self, task: str) -> str:
        self.asked.append(task)
        return "1"


@pytest.mark.parametrize("stored", ODD)
def test_odd_values_neither_crash_status_nor_the_scheduler(data_dir, stored):
    with open(os.path.join(data_dir, STATE_FILE), "w", encoding="utf-8") as fh:
        json.dump(stored, fh)
    lines: list[str] = []
    describe_last_reconcile(data_dir, lines.append)
    assert lines
    stash = AskingStash()
    assert maybe_request_reconcile(stash, data_dir, "daily") is True
    assert record_run(data_dir, "changed", {"scanned": 1})
    state, problem = read_state(data_dir)
    assert problem is None and state["last"]["scope"] == "changed"
