"""What reconcile remembers between runs: ``<data dir>/reconciliation_state.json``.

    {"version": 1,
     "runs": {"changed": {"at": 1714557600.0, "summary": {...}}, "all": {...}, "missing": {...}},
     "last": {"scope": "changed", "at": 1714557600.0, "summary": {...}},
     "cursor": "2024-05-01T10:00:00+02:00",
     "scheduler": {"requested_at": 1714557000.0, "task": "Reconcile: changed scenes"}}

``cursor`` is the newest ``updated_at`` a run saw, as Stash wrote it (text in the
server's offset); *Reconcile changed* asks for scenes updated after it, minus an
overlap. ``scheduler`` marks the last time a hook or task asked Stash for a
scheduled reconcile, so a burst of hooks asks once.

Every change is a read-modify-write under ``fcntl.flock`` on ``<file>.lock`` ending
in one atomic replace (``shared.jsonfile``). A missing or unreadable file means
"never run": callers say so with a warning, and the next write starts afresh.
Standard library only: the hook's scheduler check reads this file.
"""

from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager

from shared.jsonfile import CorruptStateError, read_json, write_json_atomic
from shared.log import create_logger

# Hook path: typing costs ~10 ms to import; these names serve annotations only.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Iterator

log_trace, log_debug, log_info, log_warn, log_error = create_logger("reconcile")

STATE_FILE = "reconciliation_state.json"
VERSION = 1
#: Scopes whose runs compare scenes (and so reset the scheduler's clock).
COMPARING_SCOPES = ("changed", "all")


def state_path(data_dir: str) -> str:
    """The state file of ``data_dir``."""
    return os.path.join(data_dir, STATE_FILE)


def empty_state() -> dict:
    """The state of a data folder where reconcile never ran."""
    return {"version": VERSION, "runs": {}, "last": None, "cursor": None, "scheduler": None}


def read_state(data_dir: str) -> tuple[dict, str | None]:
    """``(state, problem)``: ``problem`` says why the state counts as "never run"
    (file missing or unreadable), ``None`` when the file was read."""
    path = state_path(data_dir)
    try:
        stored = read_json(path)
    except CorruptStateError as exc:
        return empty_state(), f"{STATE_FILE} is unreadable ({exc})"
    if stored is None:
        return empty_state(), f"there is no {STATE_FILE} yet"
    if not isinstance(stored, dict) or not isinstance(stored.get("runs", {}), dict):
        return empty_state(), f"{STATE_FILE} does not hold reconcile state"
    state = empty_state()
    state.update(stored)
    return _sane(state), None


def _when(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _sane_run(run: object) -> dict | None:
    if not isinstance(run, dict) or not _when(run.get("at")):
        return None
    return {**run, "summary": run["summary"] if isinstance(run.get("summary"), dict) else {}}


def _sane(state: dict) -> dict:
    """Drop values of the wrong type (a hand edit, a bit flip): each counts as never set."""
    runs = {scope: run for scope, run in ((k, _sane_run(v)) for k, v in state["runs"].items())
            if run is not None and isinstance(scope, str)}
    last = _sane_run(state.get("last"))
    if last is not None and not isinstance(last.get("scope"), str):
        last = None
    scheduler = state.get("scheduler")
    if isinstance(scheduler, dict):
        scheduler = {k: v for k, v in scheduler.items()
                     if (k.endswith("_at") and _when(v)) or (not k.endswith("_at") and isinstance(v, str))}
    return {**state, "runs": runs, "last": last, "cursor": cursor_of(state),
            "scheduler": scheduler if isinstance(scheduler, dict) else None}


@contextmanager
def _locked(data_dir: str, blocking: bool) -> "Iterator[bool]":
    fd = os.open(state_path(data_dir) + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # closing drops the lock


def update_state(data_dir: str, change: "Callable[[dict], bool | None]", *, blocking: bool = True) -> bool:
    """Apply ``change`` to the stored state and save it; ``True`` when saved.

    ``change`` edits the dict in place and may return ``False`` to save nothing.
    Non-blocking callers get ``False`` at once while another process updates.
    A failed save is a warning, never an exception.
    """
    try:
        with _locked(data_dir, blocking) as held:
            if not held:
                return False
            state, problem = read_state(data_dir)
            if problem and os.path.exists(state_path(data_dir)):
                log_warn(f"Reconcile state: {problem}; starting it afresh")
            if change(state) is False:
                return False
            state["version"] = VERSION
            write_json_atomic(state_path(data_dir), state)
            return True
    except OSError as exc:
        log_warn(f"Could not save the reconcile state in {data_dir}: {exc}")
        return False


def record_run(data_dir: str, scope: str, summary: dict, *, cursor: str | None = None,
               at: float | None = None) -> bool:
    """Remember a finished run of ``scope`` (and move the cursor to ``cursor`` if given)."""
    when = time.time() if at is None else at

    def change(state: dict) -> None:
        state["runs"][scope] = {"at": when, "summary": summary}
        state["last"] = {"scope": scope, "at": when, "summary": summary}
        if cursor:
            state["cursor"] = cursor

    return update_state(data_dir, change)


def last_run_at(state: dict, scopes: "tuple[str, ...]" = COMPARING_SCOPES) -> float | None:
    """When the latest run of any of ``scopes`` finished, or ``None``."""
    times = [float(run["at"]) for scope, run in (state.get("runs") or {}).items()
             if scope in scopes and isinstance(run, dict) and isinstance(run.get("at"), (int, float))]
    return max(times) if times else None


def cursor_of(state: dict) -> str | None:
    """The newest ``updated_at`` an earlier run saw (Stash's text), or ``None``."""
    cursor = state.get("cursor")
    return cursor if isinstance(cursor, str) and cursor else None


def _ago(epoch: float) -> str:
    seconds = time.time() - float(epoch)
    if seconds < 0:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit} ago"
    return f"{seconds:.0f}s ago"


def describe_summary(summary: dict) -> str:
    """One line for a stored run summary."""
    parts = [f"{summary.get('scanned', 0)} scanned"]
    if summary.get("scope") != "missing":
        parts.append(f"{summary.get('in_sync', 0)} in sync")
    enqueued = summary.get("enqueued") or {}
    total = sum(enqueued.values())
    verb = "would enqueue" if summary.get("dry_run") else "enqueued"
    parts.append(f"{verb} {total}" + (" (" + ", ".join(f"{k} {v}" for k, v in sorted(enqueued.items())) + ")"
                                      if total else ""))
    parts.append(f"{summary.get('missing_in_plex', 0)} missing in Plex")
    parts.append(f"{summary.get('ambiguous', 0)} ambiguous")
    return ", ".join(parts)


def describe_last_reconcile(data_dir: str, log: "Callable[[object], None]") -> "dict[str, Any]":
    """For the *Status* task: log the last reconcile and the last run of each scope; return them."""
    state, problem = read_state(data_dir)
    if problem and os.path.exists(state_path(data_dir)):
        log_warn(f"Reconcile state: {problem}; reconcile counts as never run")
    last = state.get("last")
    if not isinstance(last, dict):
        log("Last reconcile: never")
    else:
        summary = last.get("summary") or {}
        log(f"Last reconcile: {last.get('scope')} {_ago(last.get('at') or 0)}: {describe_summary(summary)}")
    runs = {scope: run.get("at") for scope, run in (state.get("runs") or {}).items() if isinstance(run, dict)}
    for scope in ("changed", "all", "missing"):
        if scope in runs and (not isinstance(last, dict) or last.get("scope") != scope):
            log(f"  last '{scope}' reconcile: {_ago(runs[scope] or 0)}")
    scheduler = state.get("scheduler") or {}
    if scheduler.get("requested_at"):
        log(f"  automatic reconcile last requested {_ago(scheduler['requested_at'])} "
            f"('{scheduler.get('task')}')")
    return {"last": last, "runs": runs, "cursor": cursor_of(state), "scheduler": scheduler or None,
            "problem": problem}
