"""What to do with a failed job: a pure decision; the worker applies it.

The one place that reads the error tree's policy attributes (``max_retries``,
``budget_setting``, ``consumes_retry``, ``stops_drain``, ``pauses_drain``, see
``plex.exceptions``) and the budget settings: :func:`retry_decision` decides.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, Optional

from plex.exceptions import PlexSyncError
from shared import defaults
from worker.backoff import calculate_delay
from worker.jobs import due_at

if TYPE_CHECKING:
    from validation.config import PlexSyncConfig


class Action(Enum):
    """The worker's answers to a failure."""

    RETRY = "retry"                # requeue with backoff, one retry used
    WAIT_FOR_PLEX = "wait"         # requeue with backoff, no retry used (Plex is down)
    DEAD_LETTER = "dead_letter"    # out of retries, or retrying cannot help
    STOP = "stop"                  # a setting is wrong or Stash is gone: keep the job, stop the drain
    PAUSE = "pause"                # Plex asked to slow down: hold every job until then, no retry used


@dataclass(frozen=True)
class Decision:
    """The action and, for the requeue actions, the job to put back."""

    action: Action
    job: dict[str, Any]
    delay: float = 0.0


def retry_job(job: dict[str, Any], error: BaseException, *, counter: str = "retry_count",
              base: float = defaults.BACKOFF_BASE_SECONDS, cap: float = defaults.BACKOFF_CAP_SECONDS,
              now: Optional[float] = None) -> tuple[dict[str, Any], float]:
    """A copy of ``job`` with ``counter`` + 1, ``next_retry_at`` and ``last_error_type`` set."""
    attempt = int(job.get(counter) or 0) + 1
    delay = calculate_delay(attempt - 1, base=base, cap=cap)
    retry_after = getattr(error, "retry_after", None)
    if retry_after:
        delay = max(delay, float(retry_after))
    new = dict(job)
    new[counter] = attempt
    new["next_retry_at"] = (time.time() if now is None else now) + delay
    new["last_error_type"] = type(error).__name__
    return new, delay


def pause_job(job: dict[str, Any], error: BaseException, until: float) -> dict[str, Any]:
    """A copy of ``job`` due at ``until`` with ``last_error_type`` set; no counter moves."""
    new = dict(job)
    new["next_retry_at"] = max(due_at(job), until)
    new["last_error_type"] = type(error).__name__
    return new


def classify(error: BaseException) -> Action:
    """What kind of answer ``error`` calls for, before any budget is counted: STOP, PAUSE,
    WAIT_FOR_PLEX (no retry used) or RETRY (one retry used; DEAD_LETTER once spent)."""
    if getattr(error, "stops_drain", False):
        return Action.STOP
    if getattr(error, "pauses_drain", False):
        return Action.PAUSE
    if isinstance(error, PlexSyncError) and not error.consumes_retry:
        return Action.WAIT_FOR_PLEX
    return Action.RETRY


def pause_delay(error: BaseException) -> float:
    """How long Plex asked every job to wait (its Retry-After, else the backoff base)."""
    return float(getattr(error, "retry_after", None) or defaults.BACKOFF_BASE_SECONDS)


def retry_budget(error: BaseException, config: Optional[PlexSyncConfig] = None) -> int:
    """The retries ``error`` allows: its class's budget unless the user's setting named by
    ``budget_setting`` overrides it; an exception outside the tree has none."""
    setting = getattr(error, "budget_setting", None)
    if setting and config is not None:
        value = getattr(config, setting, None)
        if isinstance(value, int):
            return value
    if isinstance(error, PlexSyncError):
        return error.max_retries
    return 0


def retry_decision(job: dict[str, Any], error: BaseException, config: Optional[PlexSyncConfig] = None, *,
                   now: Optional[float] = None) -> Decision:
    """The decision for ``job`` after ``error``, its budget read from ``config``'s settings."""
    return decide(job, error, retry_budget(error, config), now=now)


def decide(job: dict[str, Any], error: BaseException, budget: int, *, now: Optional[float] = None) -> Decision:
    """Choose what happens to ``job`` after ``error``, given its retry ``budget``.

    Read from the error's attributes (see ``plex.exceptions``); an exception outside the
    tree has no budget and goes to the dead-letter queue under its type name.
    """
    now = time.time() if now is None else now
    action = classify(error)
    if action is Action.STOP:
        return Decision(Action.STOP, job)
    if action is Action.PAUSE:
        delay = pause_delay(error)
        return Decision(Action.PAUSE, pause_job(job, error, now + delay), delay)
    if action is Action.WAIT_FOR_PLEX:
        new, delay = retry_job(job, error, counter="outage_count", now=now)
        return Decision(Action.WAIT_FOR_PLEX, new, delay)
    new, delay = retry_job(job, error, now=now)
    if new["retry_count"] > budget:
        return Decision(Action.DEAD_LETTER, new)
    return Decision(Action.RETRY, new, delay)
