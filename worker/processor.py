"""``SyncWorker``: drains the queue through the circuit breaker, backoff and DLQ.

The loop reads as verbs: ask the breaker, take a job, hold it if its retry time has
not come, skip it if a later run of the same key (and kind) already covered it, run
it with its kind's handler, then ack — or requeue / dead-letter it *before* acking,
so a kill at any instant duplicates work at worst and never loses it.
"""

from __future__ import annotations

import os
import time
import traceback
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, Callable, Optional, Protocol, Union

from plex.exceptions import PlexSyncError, StashUnavailable, TransientError
from shared.log import create_logger, is_verbose, redact
from shared import defaults
from worker.circuit_breaker import CircuitBreaker, CircuitState
from worker.pool import Deferred, Flight, NotStarted, PlexPool, pool_size
from worker.jobs import PUSH_SCENE, coalesces, describe, due_at, is_due, key_of, kind_of
from worker.retry_policy import Action, classify, pause_delay, retry_budget, retry_decision, retry_job
from worker.stats import WorkerStats

if TYPE_CHECKING:
    from validation.config import PlexSyncConfig

__all__ = ["SyncWorker", "DrainReport", "TransientError"]

log_trace, log_debug, log_info, log_warn, log_error = create_logger("worker")

BREAKER_FILE = "circuit_breaker.json"
_LINGER_POLL_SECONDS = 0.1
#: Runs one job of a kind; raises a ``plex.exceptions`` error (or any exception) when it fails.
Handler = Callable[[dict[str, Any]], Any]
#: The drain's handler table: job kind -> handler (see ``worker.jobs``).
Handlers = Mapping[str, Handler]
#: Error type of the DLQ entry for a job whose kind this release has no handler for.
UNKNOWN_KIND = "UnknownJobKind"
ProgressFn = Callable[[int, int], None]


class WorkQueue(Protocol):
    """What the worker needs of its queue (``worker.queue.JobQueue``; tests may stand in)."""

    def get(self) -> dict[str, Any] | None: ...
    def put(self, job: dict[str, Any]) -> object: ...
    def ack(self, job: dict[str, Any]) -> object: ...
    def nack(self, job: dict[str, Any]) -> object: ...
    def ready_count(self) -> int: ...


class DeadLetters(Protocol):
    """What the worker needs of the dead-letter queue (``worker.dlq.DeadLetterQueue``)."""

    def add(self, job: dict[str, Any], error: BaseException | str, error_type: str | None = None) -> object: ...


class Outcome(Enum):
    """How one job ended."""

    SYNCED = "synced"
    RETRY = "retry"
    WAITING_FOR_PLEX = "waiting_for_plex"
    PAUSED = "paused"
    DEAD_LETTERED = "dead_lettered"
    STOPPED = "stopped"


@dataclass
class DrainReport:
    """What a drain did and why it ended."""

    synced: int = 0
    retried: int = 0
    dead_lettered: int = 0
    superseded: int = 0
    waiting: int = 0
    next_due_at: Optional[float] = None
    stopped_because: str = "queue empty"
    errors: dict[str, int] = field(default_factory=dict)
    #: Jobs held because Plex asked us to slow down (HTTP 429), and until when.
    rate_limited: int = 0
    paused_until: Optional[float] = None
    #: Why the task must end with an error (a setting to fix, Plex or Stash gone), for the user.
    problem: Optional[str] = None

    def merge(self, other: "DrainReport") -> "DrainReport":
        """This report followed by ``other`` (a second pass of the same drain)."""
        errors = dict(self.errors)
        for key, value in other.errors.items():
            errors[key] = errors.get(key, 0) + value
        return DrainReport(
            synced=self.synced + other.synced, retried=self.retried + other.retried,
            dead_lettered=self.dead_lettered + other.dead_lettered, superseded=self.superseded + other.superseded,
            waiting=other.waiting, next_due_at=other.next_due_at, stopped_because=other.stopped_because,
            errors=errors, rate_limited=self.rate_limited + other.rate_limited, paused_until=other.paused_until,
            problem=other.problem,
        )

    def summary(self) -> str:
        """One human line."""
        parts = [f"{self.synced} synced"]
        for name in ("retried", "dead_lettered", "superseded", "rate_limited"):
            if getattr(self, name):
                parts.append(f"{getattr(self, name)} {name.replace('_', '-')}")
        if self.waiting:
            due = max(0.0, (self.next_due_at or time.time()) - time.time())
            parts.append(f"{self.waiting} waiting to retry (next in {due:.0f}s)")
        return f"{', '.join(parts)}; stopped: {self.stopped_because}"


def build_breaker(data_dir: Optional[str]) -> CircuitBreaker:
    """The drain's circuit breaker, its state in ``data_dir`` (in memory without one)."""
    return CircuitBreaker(
        failure_threshold=defaults.BREAKER_FAILURE_THRESHOLD,
        recovery_timeout=defaults.BREAKER_RECOVERY_TIMEOUT,
        success_threshold=defaults.BREAKER_SUCCESS_THRESHOLD,
        state_file=os.path.join(data_dir, BREAKER_FILE) if data_dir else None,
    )


def read_at(handler: Optional[Handler], job: dict[str, Any], started: float) -> float:
    """When the run of ``job`` read its subject: ``started``, or earlier when the handler
    read it ahead (its ``subject_read_at``), so only jobs queued before that read count
    as covered by the run."""
    reader = getattr(handler, "subject_read_at", None)
    when = reader(job) if callable(reader) else None
    return min(started, float(when)) if when is not None else started


def as_handlers(handlers: Union[Handlers, Handler]) -> Handlers:
    """A handler table; a single callable handles scene pushes (the only kind before kinds)."""
    if isinstance(handlers, Mapping):
        return handlers
    return {PUSH_SCENE: handlers}


class SyncWorker:
    """Runs jobs through the handler of their kind with retries, breaker and DLQ."""

    def __init__(self, queue: WorkQueue, dlq: DeadLetters, config: Optional[PlexSyncConfig], data_dir: Optional[str] = None, *,
                 breaker: Optional[CircuitBreaker] = None) -> None:
        self.queue = queue
        self.dlq = dlq
        self.config = config
        self.data_dir = data_dir
        self.circuit_breaker = breaker if breaker is not None else build_breaker(data_dir)
        self.stats = WorkerStats(data_dir)
        #: Failures by error type during the current drain.
        self.errors_seen: Counter[str] = Counter()
        #: Plex asked us to slow down: no job runs before this (epoch seconds). A worker-level
        #: pause, so every job (and, later, every worker of a pool) holds off together.
        self.paused_until: Optional[float] = None
        #: Set when a step before the first job (the bulk index) must stop this drain.
        self._stop: Optional[tuple[str, str]] = None

    # -- the drain -------------------------------------------------------------------

    def drain(self, handlers: Union[Handlers, Handler], *, progress: Optional[ProgressFn] = None,
              should_continue: Callable[[], bool] = lambda: True, linger: float = 0.0,
              keep_lingering: Callable[[], bool] = lambda: True) -> DrainReport:
        """Process ready jobs until the queue is empty, only waiting jobs remain,
        the breaker opens or a setting must be fixed.

        ``linger``: seconds to keep polling an empty queue for jobs that hooks are
        still adding (a bulk edit), so one drain serves the whole burst — only while
        ``keep_lingering()`` says so (no other job waits in Stash's job queue).
        ``handlers``: kind -> handler; a single callable handles scene pushes.
        """
        table = as_handlers(handlers)
        report = DrainReport()
        held: list[dict[str, Any]] = []      # jobs whose retry time has not come
        synced_at: dict[tuple[str, str], float] = {}  # (kind, key) -> when its last run in this drain began
        pool = PlexPool(pool_size(self.config))
        total = self._ready_estimate()
        done = 0
        last_activity = time.monotonic()
        self.stats.bump("drains")
        self.errors_seen.clear()

        def settled(job: dict[str, Any], outcome: Outcome, read_when: float) -> bool:
            """Count a finished job; ``True`` when it stops the drain."""
            nonlocal done, total
            self._tally(report, outcome)
            if outcome is Outcome.SYNCED:
                synced_at[(kind_of(job), key_of(job))] = read_when
            done += 1
            if progress:
                total = max(total, done)
                progress(done, total)
            if outcome is Outcome.STOPPED:
                report.stopped_because, report.problem = self._stop or ("a setting needs fixing", None)
                return True
            return False

        def settle(block: bool) -> bool:
            """Settle the pool's finished jobs (waiting for one when ``block``), on this
            thread, in the order they finish; ``True`` when one stopped the drain."""
            stop = False
            for flight, result, error in pool.finished(block):
                if isinstance(error, NotStarted):
                    self.queue.nack(flight.job)   # never ran: taken again, as if never taken
                    continue
                outcome = self._settle(flight.job, flight.deferred, result, error)
                stop = settled(flight.job, outcome, flight.read_at) or stop
            pool.resume()
            return stop

        try:
            while should_continue():
                # Failures count toward the breaker as soon as they happen.
                if pool.busy and settle(block=False):
                    break
                if self._stop is not None:
                    report.stopped_because, report.problem = self._stop
                    break
                if not self.circuit_breaker.can_execute():
                    report.stopped_because = "Plex unreachable (circuit breaker open)"
                    report.problem = breaker_problem(self.circuit_breaker.half_opens_at())
                    break
                if pool.full or (pool.busy and self.circuit_breaker.state is not CircuitState.CLOSED):
                    # At most N jobs running and WAITING more: nothing is read ahead past that. A half-open
                    # breaker tries Plex with one job at a time, as a serial drain does.
                    if settle(block=True):
                        break
                    continue
                job = self.queue.get()
                if job is None:
                    if pool.busy:
                        # Jobs in flight may still requeue, stop or pause: see them settle first.
                        if settle(block=True):
                            break
                        continue
                    if linger and time.monotonic() - last_activity < linger and keep_lingering():
                        time.sleep(_LINGER_POLL_SECONDS)
                        continue
                    break
                last_activity = time.monotonic()
                if not self._is_ready_for_retry(job) or self._paused():
                    held.append(job)
                    continue
                # Per kind as well as key: another kind's job for the same scene is other work.
                key = (kind_of(job), key_of(job))
                stopped = False
                while pool.has_key(key) and not stopped:
                    stopped = settle(block=True)  # the same key's run decides whether this one is covered
                if stopped:
                    self.queue.nack(job)
                    break
                if coalesces(job) and key in synced_at and float(job.get("enqueued_at") or 0) <= synced_at[key]:
                    # A run that started after this job was queued read its subject
                    # fresh, so it already carried this change.
                    self.queue.ack(job)
                    report.superseded += 1
                    self.stats.bump("superseded")
                    continue
                started = time.time()
                handler = table.get(kind_of(job))
                starter = getattr(handler, "start", None)
                if pool.parallel and callable(starter):
                    outcome = self._start_job(job, handler, pool, key, started)
                    if outcome is None:
                        continue  # in flight: settled when its Plex requests are done
                else:
                    # A job the pool cannot take runs as in a serial drain: after every job
                    # started before it has settled (a show fill reads what its episodes'
                    # syncs recorded; a watch-state pass rates the items they wrote).
                    while pool.busy and not stopped:
                        stopped = settle(block=True)
                    if stopped:
                        self.queue.nack(job)
                        break
                    outcome = self.process_job(job, table)
                if settled(job, outcome, read_at(handler, job, started)):
                    break
            else:
                report.stopped_because = "cancelled"
        finally:
            try:
                # In-flight jobs finish and are settled as any other: nothing is left unacked
                # that ran, and no new one starts (the loop has ended).
                for flight in pool.hold_waiting():
                    self.queue.nack(flight.job)
                while pool.busy:
                    settle(block=True)
            finally:
                pool.close()
                for job in held:
                    self.queue.nack(job)
                self.stats.data["last_drain"] = {"at": time.time(), "summary": None}
                self.stats.save()
        report.errors = dict(self.errors_seen)
        report.waiting = len(held)
        report.paused_until = self.paused_until
        if held:
            pause = self.paused_until or 0.0
            report.next_due_at = min(max(due_at(j), pause) for j in held)
            if report.stopped_because == "queue empty":
                report.stopped_because = "only jobs waiting to retry remain"
        self.stats.data["last_drain"]["summary"] = report.summary()
        self.stats.save()
        return report

    def process_job(self, job: dict[str, Any], handlers: Union[Handlers, Handler]) -> Outcome:
        """Run one job with its kind's handler and settle it: ack, requeue, dead-letter or keep."""
        handler = as_handlers(handlers).get(kind_of(job))
        if handler is None:
            return self._dead_letter_unknown_kind(job)
        try:
            handler(job)
        except Exception as error:  # every failure is classified below, none escapes
            return self._handle_failure(job, error)
        return self._succeeded(job)

    def _succeeded(self, job: dict[str, Any]) -> Outcome:
        self.circuit_breaker.record_success()
        self.queue.ack(job)
        self.stats.success(job.get("scene_id"))
        return Outcome.SYNCED

    def _start_job(self, job: dict[str, Any], handler: Any, pool: PlexPool, key: tuple[str, str],
                   started_at: float) -> Optional[Outcome]:
        """Run the drain-thread part of ``job``; its Plex I/O goes to the pool (``None``:
        in flight), or the job is settled now when it needs none or failed before."""
        try:
            started = handler.start(job)
        except Exception as error:  # classified like a handler's failure
            return self._handle_failure(job, error)
        if isinstance(started, Deferred):
            # Read now: the next job's start reads ahead and moves the handler's note.
            pool.submit(Flight(job, started, key, read_at(handler, job, started_at)))
            return None
        return self._succeeded(job)

    def _settle(self, job: dict[str, Any], deferred: Deferred, result: Any, error: Optional[Exception]) -> Outcome:
        """Settle a job whose Plex I/O landed, on the drain's thread: finish it, then ack,
        or requeue / dead-letter / keep it exactly as a serial run would."""
        if error is None:
            try:
                deferred.finish(result)
            except Exception as exc:  # classified below, none escapes
                error = exc
        if error is not None:
            return self._handle_failure(job, error)
        return self._succeeded(job)

    def run_guarded(self, step: Callable[[], Any], what: str) -> bool:
        """Run a step that talks to Plex before the first job (the bulk index) under the
        breaker and the same classification as a job; ``True`` if it ran and succeeded.

        An outage counts toward the breaker and stops this drain, a bad setting stops it
        naming the setting, a 429 pauses it; every job is kept untouched. Any other
        failure only costs the shortcut: each job then classifies its own failures.
        """
        if not self.circuit_breaker.can_execute():
            return False  # the drain reports the open breaker
        try:
            step()
        except Exception as error:  # classified below, none escapes
            self._step_failed(error, what)
            return False
        self.circuit_breaker.record_success()
        return True

    def _step_failed(self, error: Exception, what: str) -> None:
        message = redact(str(error)) or type(error).__name__
        self.errors_seen[type(error).__name__] += 1
        action = classify(error)
        if getattr(error, "trips_breaker", False):
            self.circuit_breaker.record_failure()
            self._stop = ("Plex unreachable", f"Plex unreachable ({message}); every queued job is kept "
                          "and runs on the next drain (no retry used)")
        elif action is Action.STOP:
            self._stop = stop_reason(error, message)
        elif action is Action.PAUSE:
            self._pause(error)
        elif isinstance(error, PlexSyncError):
            log_warn(f"{what} failed ({type(error).__name__}: {message}); syncing scene by scene instead")
        else:
            log_unexpected(f"{what} failed", error)
        if self._stop is not None:
            log_debug(f"{what} failed: {type(error).__name__}: {message}")

    def _pause(self, error: BaseException) -> float:
        delay = pause_delay(error)
        until = time.time() + delay
        if self.paused_until is None or until > self.paused_until:
            self.paused_until = until
            log_info(f"Plex asked us to slow down; every job waits {delay:.0f}s (no retry used)")
        return until

    def _paused(self) -> bool:
        return self.paused_until is not None and time.time() < self.paused_until

    # -- failure handling ------------------------------------------------------------

    def _dead_letter_unknown_kind(self, job: dict[str, Any]) -> Outcome:
        """A job this release cannot run (queued by a newer one): kept in the DLQ, never
        silently acked; it can be retried from there after an upgrade."""
        message = f"no handler for job kind '{kind_of(job)}' in this PlexSync release"
        self.errors_seen[UNKNOWN_KIND] += 1
        self.stats.error(job.get("scene_id"), UNKNOWN_KIND, message)
        self.dlq.add(job, message, error_type=UNKNOWN_KIND)
        self.queue.ack(job)
        self.stats.bump("dead_lettered")
        log_warn(f"{describe(job)}: {message} — moved to the dead-letter queue")
        return Outcome.DEAD_LETTERED

    def _handle_failure(self, job: dict[str, Any], error: Exception) -> Outcome:
        scene = describe(job)
        message = redact(str(error)) or type(error).__name__
        self.stats.error(job.get("scene_id"), type(error).__name__, message)
        self.errors_seen[type(error).__name__] += 1
        if getattr(error, "trips_breaker", False):
            self.circuit_breaker.record_failure()
        decision = retry_decision(job, error, self.config)
        if decision.action is Action.STOP:
            self.queue.nack(job)
            self._stop = stop_reason(error, message)
            log_debug(f"{scene}: {type(error).__name__}: {message}; drain stopped")
            return Outcome.STOPPED
        if decision.action is Action.PAUSE:
            self._pause(error)
            self._requeue_with_metadata(decision.job)
            self.queue.ack(job)
            self.stats.bump("rate_limited")
            return Outcome.PAUSED
        if not isinstance(error, PlexSyncError) and is_verbose():
            # A bug: the dead-letter line below says type and message; the trace only when debugging.
            log_debug("".join(traceback.format_exception(error)).rstrip())
        if decision.action is Action.DEAD_LETTER:
            self.dlq.add(decision.job, error)
            self.queue.ack(job)
            self.stats.bump("dead_lettered")
            log_warn(f"{scene}: {type(error).__name__}: {message} — moved to the dead-letter queue"
                     f" after {decision.job.get('retry_count', 1) - 1} retries")
            return Outcome.DEAD_LETTERED
        self._requeue_with_metadata(decision.job)
        self.queue.ack(job)
        if decision.action is Action.WAIT_FOR_PLEX:
            self.stats.bump("outages")
            log_warn(f"{scene}: Plex unreachable ({message}); kept, next try in {decision.delay:.0f}s")
            return Outcome.WAITING_FOR_PLEX
        self.stats.bump("retried")
        log_info(f"{scene}: attempt {decision.job['retry_count']} failed ({type(error).__name__}: {message});"
                 f" retrying in {decision.delay:.0f}s")
        return Outcome.RETRY

    def _prepare_for_retry(self, job: dict[str, Any], error: BaseException) -> dict[str, Any]:
        """``job`` with ``retry_count`` + 1, ``next_retry_at`` = now + backoff, ``last_error_type``."""
        new, _delay = retry_job(job, error)
        return new

    def _requeue_with_metadata(self, job: dict[str, Any]) -> None:
        """Put ``job`` (retry metadata included) back into the queue."""
        self.queue.put(dict(job))

    def _is_ready_for_retry(self, job: dict[str, Any]) -> bool:
        """``True`` when the job has no ``next_retry_at`` or it has passed."""
        return is_due(job, time.time())

    def _get_max_retries_for_error(self, error: BaseException) -> int:
        """The retry budget for ``error``: the class's budget, unless a setting overrides it."""
        return retry_budget(error, self.config)

    # -- helpers ---------------------------------------------------------------------

    def _ready_estimate(self) -> int:
        try:
            return int(self.queue.ready_count())
        except Exception:  # a stand-in queue without counts: progress just grows
            return 0

    @staticmethod
    def _tally(report: DrainReport, outcome: Outcome) -> None:
        if outcome is Outcome.SYNCED:
            report.synced += 1
            return
        elif outcome is Outcome.PAUSED:
            report.rate_limited += 1
        elif outcome in (Outcome.RETRY, Outcome.WAITING_FOR_PLEX):
            report.retried += 1
        elif outcome is Outcome.DEAD_LETTERED:
            report.dead_lettered += 1


# -- how a stop reads -------------------------------------------------------------------


def stop_reason(error: BaseException, message: str) -> tuple[str, str]:
    """``(stopped_because, problem)`` for an error that stops the drain keeping every job."""
    if isinstance(error, StashUnavailable):
        return ("Stash unavailable", f"PlexSync {message}; every queued job is kept (no retry used) and runs "
                                     "on the next drain")
    setting = getattr(error, "setting", None)
    fix = f"Fix the '{setting}' setting: " if setting else "Sync stopped: "
    return ("a setting needs fixing", f"{fix}{message}. Every queued job is kept and runs once it is fixed")


def breaker_problem(half_opens_at: Optional[float]) -> str:
    """The task error for a drain the open circuit breaker stopped."""
    if half_opens_at is None:
        return "Plex unreachable; every queued job is kept"
    at = time.strftime("%H:%M:%S", time.localtime(half_opens_at))
    return f"Plex unreachable; next try at {at} (every queued job is kept, no retry used)"


def log_unexpected(where: str, error: BaseException) -> None:
    """An exception outside the error tree is a bug: one short line, the traceback only
    with 'Debug logging' on."""
    log_error(f"{where}: unexpected {type(error).__name__}: {redact(str(error))}")
    if is_verbose():
        log_debug("".join(traceback.format_exception(error)).rstrip())
