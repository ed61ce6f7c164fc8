"""worker/circuit_breaker.py, to the letter of the contract.

Behaviour tests run against both backends ("no state file" and "state file");
persistence is proven with a second instance on the same file, as a new process
would see it.
"""

import builtins
import fcntl
import json
import os
import subprocess
import sys
import threading
from unittest import mock

import pytest

from tests.conftest import read_line
from freezegun import freeze_time

from worker.circuit_breaker import CircuitBreaker, CircuitState

START = "2024-03-01 12:00:00"


@pytest.fixture(params=["no_state_file", "state_file"])
def state_file(request, tmp_path):
    """``None`` or a path: every behaviour test runs against both."""
    return None if request.param == "no_state_file" else str(tmp_path / "breaker.json")


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "breaker.json")


@pytest.fixture
def frozen():
    with freeze_time(START) as clock:
        yield clock


def opened(state_file=None, **kwargs) -> CircuitBreaker:
    breaker = CircuitBreaker(state_file=state_file, **kwargs)
    for _ in range(breaker.failure_threshold):
        breaker.record_failure()
    assert breaker._state is CircuitState.OPEN
    return breaker


def read(path):
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


# -- the enum and constructor -------------------------------------------------------------------

def test_states_and_values():
    assert {s.name for s in CircuitState} == {"CLOSED", "OPEN", "HALF_OPEN"}
    assert CircuitState.CLOSED.value == "closed"
    assert CircuitState.OPEN.value == "open"
    assert CircuitState.HALF_OPEN.value == "half_open"


def test_defaults(state_file):
    breaker = CircuitBreaker(state_file=state_file)
    assert breaker.failure_threshold == 5
    assert breaker.recovery_timeout == 60.0
    assert breaker.success_threshold == 1
    assert breaker._state_file is state_file  # exactly what was passed
    assert breaker.state is CircuitState.CLOSED
    assert breaker.can_execute() is True
    assert breaker._opened_at is None


def test_state_file_kept_exactly_as_passed_even_relative(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    breaker = CircuitBreaker(state_file="rel/../breaker.json")
    assert breaker._state_file == "rel/../breaker.json"


# -- transitions (both backends) -----------------------------------------------------------------

def test_opens_at_exactly_the_threshold(state_file):
    breaker = CircuitBreaker(state_file=state_file)
    for n in range(4):
        breaker.record_failure()
        assert breaker.state is CircuitState.CLOSED, n
        assert breaker.can_execute() is True
    breaker.record_failure()
    assert breaker.state is CircuitState.OPEN
    assert breaker.can_execute() is False


def test_custom_threshold(state_file):
    breaker = CircuitBreaker(failure_threshold=2, state_file=state_file)
    breaker.record_failure()
    assert breaker.state is CircuitState.CLOSED
    breaker.record_failure()
    assert breaker.state is CircuitState.OPEN


def test_success_in_closed_resets_the_count(state_file):
    breaker = CircuitBreaker(state_file=state_file)
    for _ in range(4):
        breaker.record_failure()
    breaker.record_success()
    for _ in range(4):
        breaker.record_failure()
    assert breaker.state is CircuitState.CLOSED  # 8 failures, never 5 in a row
    breaker.record_failure()
    assert breaker.state is CircuitState.OPEN


def test_recovery_timeout_moves_open_to_half_open(state_file, frozen):
    breaker = opened(state_file)
    frozen.tick(30)
    assert breaker.state is CircuitState.OPEN
    assert breaker.can_execute() is False
    frozen.tick(31)  # +61 s
    assert breaker.state is CircuitState.HALF_OPEN
    assert breaker.can_execute() is True


def test_half_open_exactly_when_timeout_reached(state_file, frozen):
    breaker = opened(state_file)
    frozen.tick(59.999)
    assert breaker.state is CircuitState.OPEN
    frozen.tick(0.001)
    assert breaker.state is CircuitState.HALF_OPEN


def test_custom_recovery_timeout(state_file, frozen):
    breaker = opened(state_file, recovery_timeout=5.0)
    frozen.tick(4)
    assert breaker.state is CircuitState.OPEN
    frozen.tick(1)
    assert breaker.state is CircuitState.HALF_OPEN


def test_can_execute_also_moves_to_half_open(state_file, frozen):
    breaker = opened(state_file)
    frozen.tick(61)
    assert breaker.can_execute() is True
    assert breaker._state is CircuitState.HALF_OPEN


def test_failure_in_half_open_reopens_and_restarts_timer(state_file, frozen):
    breaker = opened(state_file)
    first_open = breaker._opened_at
    frozen.tick(61)
    assert breaker.state is CircuitState.HALF_OPEN
    breaker.record_failure()
    assert breaker.state is CircuitState.OPEN
    assert breaker._opened_at == first_open + 61
    frozen.tick(30)
    assert breaker.state is CircuitState.OPEN  # 91 s after the first opening, 30 after the second
    frozen.tick(31)
    assert breaker.state is CircuitState.HALF_OPEN


def test_forced_half_open_failure_reopens(state_file, frozen):
    import time

    breaker = CircuitBreaker(state_file=state_file)
    breaker._state = CircuitState.HALF_OPEN
    breaker.record_failure()
    assert breaker.state is CircuitState.OPEN
    assert breaker._opened_at == time.time()


def test_success_in_half_open_closes(state_file, frozen):
    breaker = opened(state_file)
    frozen.tick(61)
    assert breaker.state is CircuitState.HALF_OPEN
    breaker.record_success()
    assert breaker.state is CircuitState.CLOSED
    assert breaker.can_execute() is True
    # And it counts from zero again.
    for _ in range(4):
        breaker.record_failure()
    assert breaker.state is CircuitState.CLOSED


def test_forced_half_open_success_closes(state_file):
    breaker = CircuitBreaker(state_file=state_file)
    breaker._state = CircuitState.HALF_OPEN
    breaker.record_success()
    assert breaker.state is CircuitState.CLOSED


def test_success_threshold_above_one(state_file):
    breaker = CircuitBreaker(success_threshold=3, state_file=state_file)
    breaker._state = CircuitState.HALF_OPEN
    breaker.record_success()
    breaker.record_success()
    assert breaker.state is CircuitState.HALF_OPEN
    breaker.record_success()
    assert breaker.state is CircuitState.CLOSED


def test_failures_while_open_do_not_extend_the_timer(state_file, frozen):
    breaker = opened(state_file)
    opened_at = breaker._opened_at
    frozen.tick(30)
    breaker.record_failure()
    assert breaker._opened_at == opened_at
    frozen.tick(31)
    assert breaker.state is CircuitState.HALF_OPEN


def test_reset_forces_closed_and_clears_count(state_file):
    breaker = opened(state_file)
    breaker.reset()
    assert breaker.state is CircuitState.CLOSED
    assert breaker._opened_at is None
    for _ in range(4):
        breaker.record_failure()
    assert breaker.state is CircuitState.CLOSED  # the count started again from 0
    breaker.reset()
    for _ in range(4):
        breaker.record_failure()
    assert breaker.state is CircuitState.CLOSED


# -- logging ---------------------------------------------------------------------------------------

def test_no_info_log_for_failures_below_threshold(state_file):
    breaker = CircuitBreaker(state_file=state_file)
    with mock.patch("worker.circuit_breaker.log_info") as log_info:
        for _ in range(4):
            breaker.record_failure()
    log_info.assert_not_called()


def test_log_messages_on_each_transition(state_file, frozen):
    breaker = CircuitBreaker(state_file=state_file)
    with mock.patch("worker.circuit_breaker.log_info") as log_info:
        for _ in range(5):
            breaker.record_failure()
        assert log_info.call_count == 1
        message = str(log_info.call_args.args[0])
        assert "OPENED" in message and "consecutive failures" in message

        log_info.reset_mock()
        frozen.tick(61)
        assert breaker.state is CircuitState.HALF_OPEN
        assert log_info.call_count == 1
        message = str(log_info.call_args.args[0])
        assert "HALF_OPEN" in message and "timeout" in message

        log_info.reset_mock()
        breaker.record_failure()
        assert log_info.call_count == 1
        message = str(log_info.call_args.args[0])
        assert "reopening" in message or "OPENED" in message

        log_info.reset_mock()
        frozen.tick(61)
        breaker.record_success()
        messages = [str(c.args[0]) for c in log_info.call_args_list]
        assert any("CLOSED" in m and "recovery" in m for m in messages)


def test_log_info_looked_up_at_call_time(state_file):
    # Patching the module attribute must reach the breaker's code path.
    breaker = CircuitBreaker(state_file=state_file)
    calls = []
    with mock.patch("worker.circuit_breaker.log_info", side_effect=calls.append):
        for _ in range(5):
            breaker.record_failure()
    assert len(calls) == 1


def test_log_info_comes_from_shared_log(capsys, parse_log):
    breaker = CircuitBreaker()
    for _ in range(5):
        breaker.record_failure()
    lines = parse_log(capsys.readouterr().err)
    assert any(level == "i" and "OPENED" in message for level, message in lines)


# -- persistence -------------------------------------------------------------------------------------

def test_file_format(path, frozen):
    import time

    breaker = CircuitBreaker(state_file=path)
    breaker.record_failure()
    assert read(path) == {"state": "closed", "failure_count": 1, "success_count": 0, "opened_at": None}
    for _ in range(4):
        breaker.record_failure()
    data = read(path)
    assert data == {"state": "open", "failure_count": 5, "success_count": 0, "opened_at": time.time()}
    assert isinstance(data["opened_at"], float)


@pytest.mark.parametrize("target", ["OPEN", "CLOSED", "HALF_OPEN"])
def test_second_instance_loads_the_state_and_opened_at(path, frozen, target):
    first = opened(path)
    if target == "HALF_OPEN":
        frozen.tick(61)
        assert first.state is CircuitState.HALF_OPEN  # the move itself is saved
    elif target == "CLOSED":
        first.reset()
    second = CircuitBreaker(state_file=path)
    assert second._state is CircuitState[target]
    assert second._opened_at == first._opened_at
    assert second.state is CircuitState[target]


def test_loaded_open_circuit_half_opens_on_its_original_schedule(path, frozen):
    first = opened(path)
    frozen.tick(30)
    second = CircuitBreaker(state_file=path)
    assert second.state is CircuitState.OPEN
    assert second._opened_at == first._opened_at
    frozen.tick(31)
    assert second.state is CircuitState.HALF_OPEN


def test_failures_below_threshold_persist_across_instances(path):
    first = CircuitBreaker(state_file=path)
    for _ in range(3):
        first.record_failure()
    second = CircuitBreaker(state_file=path)
    second.record_failure()
    assert second.state is CircuitState.CLOSED
    second.record_failure()
    assert second.state is CircuitState.OPEN  # 3 + 2 consecutive failures


def test_half_open_success_below_threshold_is_saved(path):
    breaker = CircuitBreaker(success_threshold=2, state_file=path)
    breaker._state = CircuitState.HALF_OPEN
    breaker.record_success()
    assert read(path)["success_count"] == 1 and read(path)["state"] == "half_open"
    again = CircuitBreaker(success_threshold=2, state_file=path)
    again.record_success()
    assert again.state is CircuitState.CLOSED


def test_success_in_closed_resets_the_saved_count(path):
    breaker = CircuitBreaker(state_file=path)
    for _ in range(4):
        breaker.record_failure()
    breaker.record_success()
    assert read(path)["failure_count"] == 0
    assert CircuitBreaker(state_file=path).failure_count == 0


def test_construction_does_not_create_the_file(path):
    CircuitBreaker(state_file=path)
    assert not os.path.exists(path)


GARBAGE = {
    "text": b"this is not json",
    "empty": b"",
    "binary": bytes(range(256)) * 4,
    "utf16": '{"state": "open"}'.encode("utf-16"),
    "json_null": b"null",
    "json_list": b"[1, 2, 3]",
    "json_string": b'"open"',
    "missing_keys": b'{"state": "open"}',
    "missing_opened_at": b'{"state": "open", "failure_count": 5, "success_count": 0}',
    "invalid_state": b'{"state": "exploded", "failure_count": 5, "success_count": 0, "opened_at": 1.0}',
    "state_uppercase_name": b'{"state": "OPEN", "failure_count": 5, "success_count": 0, "opened_at": 1.0}',
    "bad_count": b'{"state": "open", "failure_count": "many", "success_count": 0, "opened_at": 1.0}',
    "null_count": b'{"state": "open", "failure_count": null, "success_count": 0, "opened_at": 1.0}',
    "bad_opened_at": b'{"state": "open", "failure_count": 5, "success_count": 0, "opened_at": "yesterday"}',
    "open_without_opened_at": b'{"state": "open", "failure_count": 5, "success_count": 0, "opened_at": null}',
    "nan_opened_at": b'{"state": "open", "failure_count": 5, "success_count": 0, "opened_at": NaN}',
    "truncated": b'{"state": "open", "failure_count": 5, "succ',
}


@pytest.mark.parametrize("content", GARBAGE.values(), ids=GARBAGE.keys())
def test_garbage_state_file_gives_closed_without_exception(path, content):
    with open(path, "wb") as fh:
        fh.write(content)
    with mock.patch("worker.circuit_breaker.log_info") as log_info:
        breaker = CircuitBreaker(state_file=path)
    assert breaker._state is CircuitState.CLOSED
    assert breaker.state is CircuitState.CLOSED
    assert breaker.can_execute() is True
    # Nothing partially loaded.
    assert breaker._opened_at is None
    assert breaker.failure_count == 0
    assert breaker.to_dict() == {"state": "closed", "failure_count": 0, "success_count": 0, "opened_at": None}
    log_info.assert_not_called()
    # And it works normally from there, replacing the garbage.
    for _ in range(5):
        breaker.record_failure()
    assert read(path)["state"] == "open"


def test_state_file_that_is_a_directory_is_survivable(tmp_path):
    folder = tmp_path / "breaker.json"
    folder.mkdir()
    breaker = CircuitBreaker(state_file=str(folder))
    assert breaker.state is CircuitState.CLOSED
    for _ in range(5):
        breaker.record_failure()  # saving fails; not fatal
    assert breaker.state is CircuitState.OPEN


def test_missing_directory_for_state_file_is_not_fatal(tmp_path):
    breaker = CircuitBreaker(state_file=str(tmp_path / "no" / "such" / "breaker.json"))
    for _ in range(5):
        breaker.record_failure()
    assert breaker.state is CircuitState.OPEN


# -- save failures, atomicity, no writes without a file ----------------------------------------------------

def test_oserror_while_saving_is_not_fatal(path, frozen):
    breaker = CircuitBreaker(state_file=path)
    with mock.patch("builtins.open", side_effect=OSError("disk full")) as patched:
        for _ in range(5):
            breaker.record_failure()
        assert breaker.state is CircuitState.OPEN
        frozen.tick(61)
        assert breaker.state is CircuitState.HALF_OPEN
        breaker.record_success()
        assert breaker.state is CircuitState.CLOSED
    assert patched.called  # the save was really attempted
    assert not os.path.exists(path)


def test_oserror_from_replace_is_not_fatal_and_keeps_old_file(path):
    breaker = CircuitBreaker(state_file=path)
    breaker.record_failure()
    before = read(path)
    with mock.patch("os.replace", side_effect=PermissionError("read-only")):
        for _ in range(4):
            breaker.record_failure()
    assert breaker.state is CircuitState.OPEN
    assert read(path) == before  # the old file is intact, never half-written


def test_oserror_while_saving_logs_a_warning_not_info(path, capsys, parse_log):
    breaker = CircuitBreaker(state_file=path)
    with mock.patch("builtins.open", side_effect=OSError("disk full")):
        breaker.record_failure()
    levels = [level for level, _ in parse_log(capsys.readouterr().err)]
    assert "w" in levels and "i" not in levels


def test_no_state_file_writes_nothing_anywhere(tmp_path, monkeypatch, frozen):
    monkeypatch.chdir(tmp_path)
    real_open = builtins.open
    writes = []

    def spy_open(file, mode="r", *args, **kwargs):
        if any(flag in mode for flag in "wax+"):
            writes.append(file)
        return real_open(file, mode, *args, **kwargs)

    with mock.patch("builtins.open", spy_open), mock.patch("os.replace") as replace, \
            mock.patch("worker.circuit_breaker.fcntl.flock") as flock:
        breaker = CircuitBreaker(state_file=None)
        for _ in range(5):
            breaker.record_failure()
        frozen.tick(61)
        assert breaker.state is CircuitState.HALF_OPEN
        breaker.record_failure()
        frozen.tick(61)
        breaker.record_success()
        breaker.reset()
    assert writes == []
    replace.assert_not_called()
    flock.assert_not_called()
    assert os.listdir(tmp_path) == []


def test_written_via_tmp_and_os_replace(path):
    real_replace = os.replace
    with mock.patch("os.replace", side_effect=real_replace) as replace:
        breaker = CircuitBreaker(state_file=path)
        for _ in range(5):
            breaker.record_failure()
    assert replace.call_count == 5
    for call in replace.call_args_list:
        assert call.args == (path + ".tmp", path)
    assert not os.path.exists(path + ".tmp")
    assert read(path)["state"] == "open"


def test_state_file_is_private(path):
    breaker = CircuitBreaker(state_file=path)
    breaker.record_failure()
    assert os.stat(path).st_mode & 0o777 == 0o600


# -- locking ----------------------------------------------------------------------------------------------

def test_lock_file_exists_after_save_and_flock_is_non_blocking(path):
    real_flock = fcntl.flock
    with mock.patch("worker.circuit_breaker.fcntl.flock", side_effect=real_flock) as flock:
        CircuitBreaker(state_file=path).record_failure()
    assert os.path.exists(path + ".lock")
    assert any(c.args[1] == fcntl.LOCK_EX | fcntl.LOCK_NB for c in flock.call_args_list)


def _in_thread(fn):
    """Run ``fn`` in a thread; fail (instead of hanging the suite) if it blocks."""
    errors = []

    def target():
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - report anything to the test
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive(), "the save blocked on the lock"
    assert errors == []


def test_save_skipped_while_another_holder_has_the_lock(path):
    breaker = CircuitBreaker(state_file=path)
    breaker.record_failure()
    saved = read(path)
    # Another open file description on the lock file conflicts with ours, as
    # another process would.
    holder = os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)

        def more_failures():
            for _ in range(4):
                breaker.record_failure()

        _in_thread(more_failures)
        assert breaker.state is CircuitState.OPEN  # the in-memory transition happened
        assert read(path) == saved  # the file was not written
        assert not os.path.exists(path + ".tmp")
    finally:
        os.close(holder)
    breaker.reset()
    assert read(path)["state"] == "closed"  # works again after release


def test_save_skipped_while_another_process_holds_the_lock(path, subprocess_env):
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, sys\n"
         "fh = open(sys.argv[1], 'a')\n"
         "fcntl.flock(fh.fileno(), fcntl.LOCK_EX)\n"
         "print('locked', flush=True)\n"
         "sys.stdin.read()\n",
         path + ".lock"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=subprocess_env, text=True)
    try:
        assert read_line(holder.stdout).strip() == "locked"
        breaker = CircuitBreaker(state_file=path)

        def open_it():
            for _ in range(5):
                breaker.record_failure()

        _in_thread(open_it)
        assert breaker.state is CircuitState.OPEN
        assert not os.path.exists(path)  # every save skipped
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
        holder.stdout.close()
    breaker.reset()
    breaker.record_failure()
    assert read(path) == {"state": "closed", "failure_count": 1, "success_count": 0, "opened_at": None}
