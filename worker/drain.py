"""One drain of the queue, as the *Process queue* task runs it.

Takes the single-drainer lock, resumes jobs a killed drain left in flight (safe
only under the lock), drains with :class:`SyncWorker`, and after releasing the
lock looks once more: a hook that queued a job while we were finishing saw the
lock held and did not ask for a drain, so we must pick that job up ourselves.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Callable, Optional, Union

from shared.defaults import MAX_PASSES, MAX_PAUSED_PASSES
from shared.log import create_logger
from shared.memory import limit_malloc_arenas
from worker.dlq import DeadLetterQueue
from worker.handover import wait_while_holding
from worker.jobs import is_due
from worker.lock import DrainLock
from worker.processor import DrainReport, Handler, Handlers, ProgressFn, SyncWorker, build_breaker
from worker.queue import JobQueue, pending_jobs
from worker.trigger import clear_drain_request

if TYPE_CHECKING:
    from validation.config import PlexSyncConfig

log_trace, log_debug, log_info, log_warn, log_error = create_logger("drain")


def due_jobs_waiting(data_dir: str) -> bool:
    """Whether the queue holds a job that could run right now."""
    now = time.time()
    return any(is_due(job, now) for job in pending_jobs(data_dir))


def run_drain(data_dir: str, config: PlexSyncConfig, handlers: Union[Handlers, Handler], *, progress: Optional[ProgressFn] = None,
              linger: float = 0.0, max_wait: float = 0.0,
              before_pass: Optional[Callable[[SyncWorker], None]] = None,
              may_hold: Callable[[], bool] = lambda: True) -> Optional[DrainReport]:
    """Drain the queue in ``data_dir`` with ``handlers`` (kind -> handler, or one callable
    for scene pushes); ``None`` if another drain holds the lock.

    ``linger``: see :meth:`SyncWorker.drain`. ``max_wait``: wait up to this long for
    jobs whose retry time is near (see :data:`shared.defaults.MAX_WAIT_FOR_RETRY_SECONDS`). Both only
    while ``may_hold()`` (a :class:`worker.handover.QueueWatch`) says no other job
    waits in Stash's job queue; once it says one does, the drain ends, leaving every
    job queued (the caller asks for another drain if some are ready).
    """
    total: Optional[DrainReport] = None
    passes = paused_passes = 0
    limit_malloc_arenas()   # before the pool's threads start
    while passes < MAX_PASSES and paused_passes < MAX_PAUSED_PASSES:
        lock = DrainLock(data_dir)
        if not lock.acquire():
            if total is None:
                log_info("Another PlexSync drain is already running; it will process the queue. Exiting.")
            return total
        clear_drain_request(data_dir)
        try:
            queue = JobQueue(data_dir, resume_unacked=True)
            dlq = DeadLetterQueue(data_dir)
            try:
                worker = SyncWorker(queue=queue, dlq=dlq, config=config, data_dir=data_dir,
                                    breaker=build_breaker(data_dir))
                if before_pass:
                    before_pass(worker)
                report = worker.drain(handlers, progress=progress, linger=linger, keep_lingering=may_hold)
                queue.compact()
            finally:
                queue.close()
                dlq.close()
        finally:
            lock.release()
        total = report if total is None else total.merge(report)
        if report.paused_until is not None:
            paused_passes += 1
        else:
            passes += 1
        if report.stopped_because not in ("queue empty", "only jobs waiting to retry remain"):
            return total
        if report.next_due_at is not None and max_wait > 0:
            wait = report.next_due_at - time.time()
            if wait > max_wait:
                return total
            log_info(f"Waiting {max(wait, 0):.0f}s for {report.waiting} job(s) due to retry")
            if not wait_while_holding(max(wait, 0) + 0.05, may_hold):
                return total    # handed over: another job waits in Stash's queue
        elif not due_jobs_waiting(data_dir):
            return total
        log_debug("New jobs arrived while the drain was finishing; draining again")
    return total
