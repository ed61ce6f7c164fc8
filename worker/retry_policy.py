"""What to do with a failed job: a pure decision; the worker applies it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import Enum
from typing import Any

from plex.exceptions import PlexSyncError
from shared import defaults
from worker.backoff import calculate_delay


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
              base: float = defaults.BACKOFF_BASE_SECONDS, cap: float = defaults.BACKOFF_CAP_SECONDS) -> tuple[dict[str, Any], float]:
    """A copy of ``job`` with ``counter`` + 1, ``next_retry_at`` and ``last_error_type`` set."""
    attempt = int(job.get(counter) or 0) + 1
    delay = calculate_delay(attempt - 1, base=base, cap=cap)
    retry_after = getattr(error, "retry_after", None)
    if retry_after:
        delay = max(delay, float(retry_after))
    new = dict(job)
    new[counter] = attempt
    new["next_retry_at"] = time.time() + delay
    new["last_error_type"] = type(error).__name__
    return new, delay


def pause_job(job: dict[str, Any], error: BaseException, until: float) -> dict[str, Any]:
    """A copy of ``job`` due at ``until`` with ``last_error_type`` set; no counter moves."""
    new = dict(job)
    new["next_retry_at"] = max(float(job.get("next_retry_at") or 0), until)
    new["last_error_type"] = type(error).__name__
    return new


def decide(job: dict[str, Any], error: BaseException, budget: int) -> Decision:
    """Choose what happens to ``job`` after ``error``, given its retry ``budget``.

    Read from the error's attributes (see ``plex.exceptions``); an exception outside the
    tree has no budget and goes to the dead-letter queue under its type name.
    """
    if getattr(error, "stops_drain", False):
        return Decision(Action.STOP, job)
    if getattr(error, "pauses_drain", False):
        delay = float(getattr(error, "retry_after", None) or defaults.BACKOFF_BASE_SECONDS)
        return Decision(Action.PAUSE, pause_job(job, error, time.time() + delay), delay)
    if isinstance(error, PlexSyncError) and not error.consumes_retry:
        new, delay = retry_job(job, error, counter="outage_count")
        return Decision(Action.WAIT_FOR_PLEX, new, delay)
    new, delay = retry_job(job, error)
    if new["retry_count"] > budget:
        return Decision(Action.DEAD_LETTER, new)
    return Decision(Action.RETRY, new, delay)
