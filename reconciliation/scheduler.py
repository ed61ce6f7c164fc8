"""Automatic reconcile: ask Stash for a reconcile task at most once per interval.

Checked on every plugin run (hooks after queueing, tasks as they start), so it must
cost almost nothing: one small JSON read when nothing is due. When a reconcile is
due, the check takes the state file's lock without waiting (another process that
holds it is deciding already), re-reads, writes the request marker, and only then
asks Stash (``runPluginTask``) to queue the task: a burst of hooks asks once.

Which task: *Reconcile: changed scenes* at each interval, but *Reconcile: all
scenes* when no full reconcile ran (or was requested) in the last
:data:`FULL_RECONCILE_EVERY` seconds, since only a full run sees renamed tags,
performers and studios (Stash fires no scene hook for them) and edits made in
Plex to scenes Stash did not change. So ``weekly`` always runs the full
reconcile, and ``hourly``/``daily`` run it once a week besides.

Standard library only (the hook imports it).
"""

from __future__ import annotations

import os
import time

from reconciliation.state import last_run_at, read_state, update_state
from shared.defaults import FULL_RECONCILE_EVERY
from shared.jsonfile import CorruptStateError, read_json, write_json_atomic
from shared.log import create_logger
from stash.client import StashClient, StashError

log_trace, log_debug, log_info, log_warn, log_error = create_logger("scheduler")

#: Seconds between automatic reconciles, by the *Automatic reconcile* setting.
INTERVALS = {"hourly": 3600.0, "daily": 86400.0, "weekly": 7 * 86400.0}
TASK_CHANGED = "Reconcile: changed scenes"
TASK_ALL = "Reconcile: all scenes"


def parse_interval(raw: object) -> str:
    """The setting's value as one of off/hourly/daily/weekly (unknown → off)."""
    text = str(raw or "").strip().lower()
    return text if text in INTERVALS else "off"


def is_due(interval: str, last_run_at: float | None, now: float) -> bool:
    """Whether a reconcile should be requested now: pure.

    ``last_run_at``: the later of the last comparing run and the last request
    (``None``: never). A time in the future (the clock went back) counts as due.
    """
    return period_elapsed(INTERVALS.get(parse_interval(interval)), last_run_at, now)


def period_elapsed(period: float | None, last_at: float | None, now: float) -> bool:
    """The one due rule of both schedules: never without a period, at once without a last
    time, else once ``period`` has passed (a last time in the future — the clock went
    back — counts as due). Pure."""
    if period is None:
        return False
    if last_at is None:
        return True
    age = now - last_at
    return age >= period or age < 0


def choose_task(last_full_at: float | None, now: float) -> str:
    """The task to request: the full reconcile when none ran for a week, else *changed*. Pure."""
    if last_full_at is None or not 0 <= now - last_full_at < FULL_RECONCILE_EVERY:
        return TASK_ALL
    return TASK_CHANGED


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _last_activity(state: dict) -> tuple[float | None, float | None]:
    """(last run or request of any comparing reconcile, last run or request of a full one)."""
    scheduler = state.get("scheduler") or {}
    requested, full_requested = (_number(scheduler.get(k)) for k in ("requested_at", "full_requested_at"))
    any_run = [t for t in (last_run_at(state), requested) if t is not None]
    full = [t for t in (last_run_at(state, ("all",)), full_requested) if t is not None]
    return (max(any_run) if any_run else None), (max(full) if full else None)


def maybe_request_reconcile(stash: StashClient, data_dir: str, interval: str) -> bool:
    """Ask Stash for the scheduled reconcile if one is due; ``True`` if asked. Never raises."""
    if parse_interval(interval) == "off":
        return False
    try:
        state, problem = read_state(data_dir)
        now = time.time()
        if not is_due(interval, _last_activity(state)[0], now):
            return False
        chosen: list[str] = []

        def claim(fresh: dict) -> bool:
            last_any, last_full = _last_activity(fresh)
            if not is_due(interval, last_any, time.time()):
                return False  # another process asked in the meantime
            now = time.time()
            task = choose_task(last_full, now)
            previous = fresh.get("scheduler") or {}
            fresh["scheduler"] = {
                "requested_at": now, "task": task, "interval": parse_interval(interval),
                "full_requested_at": now if task == TASK_ALL else _number(previous.get("full_requested_at")),
            }
            chosen.append(task)
            return True

        if not update_state(data_dir, claim, blocking=False) or not chosen:
            return False
        if problem:
            log_warn(f"Reconcile state: {problem}, so reconcile counts as never run")
        log_info(f"Automatic reconcile ({parse_interval(interval)}) is due: asking Stash to run '{chosen[0]}'")
        stash.run_plugin_task(chosen[0])
        return True
    except (StashError, OSError) as exc:
        log_warn(f"Could not ask Stash for the automatic reconcile ({exc}); it is tried again "
                 f"after the next interval, or run it from the task menu")
        return False


# -- the watch-state pass ('Watch-state check interval') --------------------------------

#: Seconds between watch-state passes, by the 'Watch-state check interval' setting.
WATCH_INTERVALS = {"15min": 900.0, "hourly": 3600.0, "daily": 86400.0}
WATCH_SCHEDULE_FILE = "watch_schedule.json"


def parse_watch_interval(raw: object) -> str:
    """The setting's value as one of off/15min/hourly/daily (unknown → off)."""
    text = "".join(str(raw or "").split()).lower()
    if text in ("15m", "15mins", "15minutes"):
        text = "15min"
    return text if text in WATCH_INTERVALS else "off"


def watch_is_due(interval: str, last_queued_at: float | None, now: float) -> bool:
    """Whether a watch-state pass should be queued now: pure (a time in the future, the
    clock gone back, counts as due)."""
    return period_elapsed(WATCH_INTERVALS.get(parse_watch_interval(interval)), last_queued_at, now)


def maybe_queue_watch_state(data_dir: str, interval: object) -> bool:
    """Queue a watch-state pass if one is due; ``True`` if queued (the caller asks for a
    drain, or is the drain). Never raises: a failure is logged and tried next time.

    Two processes deciding at once may both queue: the pass's jobs share one key, so the
    drain runs one and counts the other as superseded.
    """
    if parse_watch_interval(interval) == "off":
        return False
    path = os.path.join(data_dir, WATCH_SCHEDULE_FILE)
    try:
        try:
            state = read_json(path) or {}
        except CorruptStateError:
            state = {}
        last = _number(state.get("queued_at")) if isinstance(state, dict) else None
        now = time.time()
        if not watch_is_due(str(interval), last, now):
            return False
        from worker.jobs import watch_state_job
        from worker.queue import enqueue

        # Recorded first: a failing queue must not make every later save try again at once.
        write_json_atomic(path, {"queued_at": now, "interval": parse_watch_interval(interval)})
        enqueue(data_dir, watch_state_job("schedule"))
        log_info(f"Watch-state check ({parse_watch_interval(interval)}) is due: queued a pass")
        return True
    except (OSError, ValueError) as exc:
        log_warn(f"Could not queue the scheduled watch-state pass ({exc}); it is tried again later")
        return False
