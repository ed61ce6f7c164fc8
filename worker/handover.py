"""Handing Stash's job queue over: a drain may wait or linger only while no other job waits.

Stash runs one job at a time, so a drain that sleeps — waiting for a retry that is due
soon, or lingering for the rest of a bulk edit's hooks — holds up every job queued behind
it, a save's own drain included. Stash's ``jobQueue`` query lists the jobs it holds: the
one running (us) and those waiting their turn (``READY``). The decision is pure
(:func:`may_hold`); :class:`QueueWatch` asks Stash at most once per poll interval.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable, Mapping, Optional

from shared.defaults import HANDOVER_POLL_SECONDS
from shared.log import create_logger

log_trace, log_debug, log_info, log_warn, log_error = create_logger("handover")


#: Status Stash gives a job that is queued and not yet started.
WAITING_STATUS = "READY"


def others_waiting(jobs: Iterable[Mapping[str, Any]]) -> bool:
    """Whether Stash's job queue (as ``jobQueue`` lists it) holds a job waiting its turn."""
    return any(str(job.get("status") or "").upper() == WAITING_STATUS for job in jobs)


def may_hold(jobs: Optional[Iterable[Mapping[str, Any]]]) -> bool:
    """Whether a drain may keep Stash's job queue while it waits.

    ``jobs`` is what ``jobQueue`` answered, or ``None`` when Stash could not be asked:
    then we cannot know who waits, and holding the queue blind is what we must not do.
    """
    return jobs is not None and not others_waiting(jobs)


class QueueWatch:
    """Asks Stash (through ``fetch``) whether the drain may keep the job queue.

    Cheap to call in a loop: Stash is asked at most once per ``poll_seconds`` (the
    first call asks at once). Once it said no, the answer stays no for this drain:
    having handed over, the drain ends rather than starting to wait again.
    """

    def __init__(self, fetch: Callable[[], Optional[list[dict[str, Any]]]],
                 poll_seconds: float = HANDOVER_POLL_SECONDS) -> None:
        self._fetch = fetch
        self.poll_seconds = poll_seconds
        self._asked_at: Optional[float] = None
        self._answer = True
        #: Times Stash was asked (for tests and the bench).
        self.asked = 0

    @property
    def handed_over(self) -> bool:
        """Whether another job was found waiting (or Stash could not be asked)."""
        return not self._answer

    def __call__(self) -> bool:
        """``True`` while the drain may go on waiting or lingering."""
        if not self._answer:
            return False
        now = time.monotonic()
        if self._asked_at is not None and 0 <= now - self._asked_at < self.poll_seconds:
            return True
        self._asked_at = now
        self.asked += 1
        self._answer = may_hold(self._fetch())
        if not self._answer:
            log_info("Another job is waiting in Stash's job queue: handing over "
                     "(jobs waiting to retry stay queued)")
        return self._answer


def wait_while_holding(seconds: float, hold: Callable[[], bool],
                       sleep: Optional[Callable[[float], None]] = None) -> bool:
    """Sleep ``seconds`` in steps, asking ``hold`` before each; ``False`` if told to hand over.

    ``sleep`` defaults to ``time.sleep`` looked up at call time (tests move the clock).
    """
    deadline = time.time() + seconds
    while True:
        if not hold():
            return False
        remaining = deadline - time.time()
        if remaining <= 0:
            return True
        (sleep or time.sleep)(min(remaining, HANDOVER_POLL_SECONDS))
