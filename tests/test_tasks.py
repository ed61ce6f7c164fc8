"""plugin/tasks.py: run_task is the task-level choke point. Whatever a task lets out
becomes one user-facing line (a setting named as Stash shows it), never a traceback on
Stash's log unless 'Debug logging' is on."""

from __future__ import annotations

import warnings

import pytest

import shared.log as slog
from plex.exceptions import ConfigurationError
from plugin.tasks import TaskContext, TaskError, run_task
from tests.conftest import log_lines


@pytest.fixture
def context(tmp_path):
    return TaskContext(stash=None, settings={}, data_dir=str(tmp_path), args={})  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def quiet_by_default():
    slog.set_verbose(False)
    yield
    slog.set_verbose(True)


def raising(error: BaseException):
    def task(ctx):
        raise error
    return task


def test_unknown_exception_is_one_short_line_without_traceback(context, capsys):
    with pytest.raises(TaskError) as info:
        run_task(raising(RuntimeError("boom")), context)
    assert str(info.value) == "PlexSync failed unexpectedly: RuntimeError: boom"
    lines = log_lines(capsys.readouterr().err)
    assert lines == [("e", "PlexSync failed unexpectedly: RuntimeError: boom")]


def test_with_debug_logging_the_traceback_goes_to_debug_level(context, capsys):
    slog.set_verbose(True)
    with pytest.raises(TaskError):
        run_task(raising(KeyError("k")), context)
    lines = log_lines(capsys.readouterr().err)
    assert [level for level, _ in lines if "Traceback" in _] == ["d"]
    assert [m for level, m in lines if level == "e"] == ["PlexSync failed unexpectedly: KeyError: 'k'"]


def test_a_plex_setting_error_names_the_setting(context, capsys):
    error = ConfigurationError("Plex at http://x refused the token (HTTP 401)", setting="Plex token")
    with pytest.raises(TaskError) as info:
        run_task(raising(error), context)
    assert str(info.value).startswith("Fix the 'Plex token' setting: ")


def test_a_failed_task_keeps_its_output(context):
    with pytest.raises(TaskError) as info:
        run_task(raising(TaskError("Plex unreachable; next try at 10:00:00", output={"synced": 3})), context)
    assert info.value.output == {"synced": 3}


def test_warnings_go_through_the_log_once(capsys):
    slog.route_warnings()
    try:
        for _ in range(3):
            warnings.warn("Unverified HTTPS request", UserWarning)
    finally:
        warnings.showwarning = warnings._showwarning_orig  # type: ignore[attr-defined]
    assert log_lines(capsys.readouterr().err) == [("w", "UserWarning: Unverified HTTPS request")]
