"""reconciliation/state.py: the reconcile state file, missing, corrupt and shared."""

from __future__ import annotations

import fcntl
import json
import os
import stat

import pytest

from reconciliation.state import (
    STATE_FILE, cursor_of, describe_last_reconcile, last_run_at, read_state, record_run, state_path, update_state,
)

SUMMARY = {"scope": "all", "dry_run": False, "scanned": 10, "in_sync": 8, "enqueued": {"drifted_in_plex": 2},
           "missing_in_plex": 1, "ambiguous": 0}


@pytest.mark.parametrize("content", [None, b"", b"{not json", b"\x00\xff\xfe", b"[1, 2]", b'{"runs": []}'])
def test_missing_or_corrupt_state_counts_as_never_run(data_dir, content):
    if content is not None:
        with open(state_path(data_dir), "wb") as fh:
            fh.write(content)
    state, problem = read_state(data_dir)
    assert problem
    assert last_run_at(state) is None and cursor_of(state) is None and state["scheduler"] is None


def test_a_run_is_recorded_atomically_and_privately(data_dir):
    assert record_run(data_dir, "all", SUMMARY, cursor="2024-05-01T10:00:00Z", at=1000.0)
    path = state_path(data_dir)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert not os.path.exists(path + ".tmp")
    # A second reader (another process) sees it.
    state, problem = read_state(data_dir)
    assert problem is None
    assert state["runs"]["all"] == {"at": 1000.0, "summary": SUMMARY}
    assert state["last"] == {"scope": "all", "at": 1000.0, "summary": SUMMARY}
    assert cursor_of(state) == "2024-05-01T10:00:00Z"


def test_runs_of_each_scope_are_kept_and_the_cursor_moves_only_when_given(data_dir):
    record_run(data_dir, "all", SUMMARY, cursor="2024-05-01T10:00:00Z", at=1000.0)
    record_run(data_dir, "missing", dict(SUMMARY, scope="missing"), at=3000.0)
    record_run(data_dir, "changed", dict(SUMMARY, scope="changed"), cursor="2024-05-02T10:00:00Z", at=2000.0)
    state, _ = read_state(data_dir)
    assert set(state["runs"]) == {"all", "missing", "changed"}
    assert state["last"]["scope"] == "changed"
    assert last_run_at(state) == 2000.0              # "missing" compares nothing
    assert last_run_at(state, ("all",)) == 1000.0
    assert cursor_of(state) == "2024-05-02T10:00:00Z"
    record_run(data_dir, "missing", SUMMARY, cursor=None, at=4000.0)
    assert cursor_of(read_state(data_dir)[0]) == "2024-05-02T10:00:00Z"


def test_a_corrupt_file_is_replaced_with_a_warning(data_dir, capsys, parse_log):
    with open(state_path(data_dir), "w") as fh:
        fh.write("garbage")
    assert record_run(data_dir, "all", SUMMARY, at=1.0)
    warnings = [m for level, m in parse_log(capsys.readouterr().err) if level == "w"]
    assert len(warnings) == 1 and "unreadable" in warnings[0]
    assert read_state(data_dir)[1] is None


def test_update_can_decline_and_then_writes_nothing(data_dir):
    assert update_state(data_dir, lambda state: False) is False
    assert not os.path.exists(state_path(data_dir))


def test_a_non_blocking_update_gives_way_to_another_process(data_dir):
    fd = os.open(state_path(data_dir) + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert update_state(data_dir, lambda state: None, blocking=False) is False
    finally:
        os.close(fd)
    assert update_state(data_dir, lambda state: None, blocking=False) is True


def test_a_failed_save_is_a_warning(data_dir, capsys, monkeypatch):
    import reconciliation.state as module

    def broken(path, data):
        raise OSError("disk full")

    monkeypatch.setattr(module, "write_json_atomic", broken)
    assert record_run(data_dir, "all", SUMMARY) is False
    assert "disk full" in capsys.readouterr().err


def test_status_description(data_dir):
    lines: list[str] = []
    described = describe_last_reconcile(data_dir, lines.append)
    assert lines == ["Last reconcile: never"] and described["last"] is None

    record_run(data_dir, "all", SUMMARY, cursor="2024-05-01T10:00:00Z")
    record_run(data_dir, "missing", dict(SUMMARY, scope="missing", enqueued={}))
    lines.clear()
    described = describe_last_reconcile(data_dir, lines.append)
    assert lines[0].startswith("Last reconcile: missing ")
    assert "10 scanned" in lines[0] and "enqueued 0" in lines[0] and "in sync" not in lines[0]
    assert lines[1].startswith("  last 'all' reconcile: ")
    assert described["cursor"] == "2024-05-01T10:00:00Z" and set(described["runs"]) == {"all", "missing"}
    json.dumps(described)


def test_status_warns_about_a_corrupt_file(data_dir, capsys):
    with open(os.path.join(data_dir, STATE_FILE), "w") as fh:
        fh.write("{")
    lines: list[str] = []
    describe_last_reconcile(data_dir, lines.append)
    assert lines == ["Last reconcile: never"]
    assert "unreadable" in capsys.readouterr().err
