"""Stash's job queue, as ``PluginRunner(job_queue="background")`` runs it.

Stash runs ``runPluginTask`` requests (and tasks started from Settings → Tasks) as jobs:
one at a time, on its job manager, while hooks keep firing on request threads. Here a
worker thread plays the job manager: it takes the requests the Stash emulator has queued,
runs them one by one through the runner's callback, and records what finished so that
:meth:`JobQueue.wait` can report it.

A chain of tasks that queue tasks is cut after ``max_chained`` links. A job queued while
another ran with no hook alongside was queued by it (one link further down its chain);
with a hook running too the origin is unknown, so it starts a new chain.

The queue knows jobs, not processes: running one, and building the result of one that
never ran, are the runner's (``sandbox/runner.py``).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator

from sandbox.plugin_yml import Operation, RunnerError

if TYPE_CHECKING:   # only for annotations: sandbox.runner imports this module
    from sandbox.runner import RunResult

JOB_POLL_INTERVAL = 0.02          # seconds between the worker's looks at Stash's queue


class JobQueueTimeout(RunnerError, TimeoutError):
    """``wait_for_jobs`` gave up before the background job queue drained."""


@dataclass(eq=False)
class Job:
    """One entry of the background job queue: a runPluginTask request, or a task started
    through ``run_task`` (whose caller waits on ``done``)."""

    depth: int                        # 0: run_task; n: the n-th link of a runPluginTask chain
    request: dict | None = None
    task: Operation | None = None
    args: dict | None = None
    done: threading.Event | None = None
    result: RunResult | None = None
    stash_job_id: str | None = None   # its id in the Stash emulator's jobQueue

    def __post_init__(self) -> None:
        if self.stash_job_id is None and self.request is not None:
            self.stash_job_id = self.request.get("job_id")

    @property
    def name(self) -> str:
        if self.task is not None:
            return self.task.name
        request = self.request or {}
        return request.get("description") or request.get("task_name") or ""


class JobQueue:
    """A worker thread running jobs one at a time, concurrently with the hooks.

    ``run_job`` runs one job and returns its result; ``refuse(job, reason)`` builds the
    result of a job that could not run; ``take_requests`` hands over (and forgets) the
    runPluginTask requests Stash holds. Results of queued jobs are appended to
    ``finished`` under the queue's lock; a ``run_task`` job's result goes to its caller.
    ``owner`` names the runner in the "is closed" error. The worker starts at once;
    :meth:`close` stops it.
    """

    def __init__(self, run_job: Callable[[Job], RunResult], refuse: Callable[[Job, str], RunResult],
                 take_requests: Callable[[], list[dict]], finished: list[RunResult], *,
                 owner: str, thread_name: str, max_chained: int,
                 poll_interval: float = JOB_POLL_INTERVAL):
        self._run_job, self._refuse, self._take = run_job, refuse, take_requests
        self.finished = finished
        self.owner = owner
        self.max_chained = max_chained
        self.poll_interval = poll_interval
        # Everything below is guarded by self._cond.
        self._cond = threading.Condition()
        self._jobs: deque[Job] = deque()
        self.running = False          # a job is running now
        self._idle_polls = 0          # looks at Stash's queue that found nothing to do
        self._hooks_active = 0
        self._hooks_started = 0
        self.errors: list[RunnerError] = []
        self._reported = 0            # finished results already returned by wait()
        self.closed = False
        self._wake = threading.Event()
        self.worker = threading.Thread(target=self._work, name=thread_name, daemon=True)
        self.worker.start()

    # -- what the runner tells the queue

    @contextmanager
    def hook_running(self) -> Iterator[None]:
        """Count a hook as running for the block, so jobs it queues start a new chain."""
        with self._cond:
            self._hooks_active += 1
            self._hooks_started += 1
        try:
            yield
        finally:
            with self._cond:
                self._hooks_active -= 1

    def wake(self) -> None:
        """Have the worker look at Stash's queue now (a run may just have queued a job)."""
        self._wake.set()

    def check_open(self) -> None:
        """Raise RunnerError once the queue is closed (by :meth:`close`, or a worker failure)."""
        if self.closed:
            cause = f" ({self.errors[0]})" if self.errors else ""
            raise RunnerError(f"{self.owner} is closed{cause}")

    def run(self, job: Job) -> RunResult:
        """Queue ``job`` behind the others and return its result once it has run (or was
        dropped by :meth:`close`)."""
        job.done = threading.Event()
        with self._cond:
            self.check_open()         # under the lock: a job queued after close would never end
            self._jobs.append(job)
        self._wake.set()
        job.done.wait()
        return job.result

    def wait(self, timeout: float) -> list[RunResult]:
        """Wait until Stash holds no request and no job is queued or running; return the
        results finished since the previous wait. Raises JobQueueTimeout, and, once, the
        first error the queue met meanwhile (see ``PluginRunner.wait_for_jobs``)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            polls = self._idle_polls
            self._wake.set()
            while self._idle_polls == polls:    # an idle look that began after this call
                self.check_open()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise JobQueueTimeout(
                        f"job queue still busy after {timeout:g} s: {len(self._jobs)} queued, "
                        f"{'one' if self.running else 'none'} running")
                self._cond.wait(remaining)
        with self._cond:
            errors, self.errors = self.errors, []
            if errors:
                raise errors[0]
            finished = self.finished[self._reported:]
            self._reported = len(self.finished)
        return finished

    def close(self) -> None:
        """Stop the worker: the running job (if any) finishes, queued ones are dropped and a
        ``run`` waiting for one gets the ``refuse`` result. Idempotent."""
        with self._cond:
            self.closed = True
            self._cond.notify_all()
        self._wake.set()
        if self.worker is not threading.current_thread():
            self.worker.join()

    # -- the worker thread

    def _work(self) -> None:
        """Stash's job manager: one job at a time, picked from Stash's queue as it comes."""
        try:
            while True:
                self._wake.clear()
                with self._cond:
                    if self.closed:
                        return
                    self._take_requests(depth=1)
                    if not self._jobs:
                        self._idle_polls += 1
                        self._cond.notify_all()
                        job = None
                    else:
                        job = self._jobs.popleft()
                        self.running = True
                        alone = self._hooks_active == 0
                        hooks_started = self._hooks_started
                if job is None:
                    self._wake.wait(self.poll_interval)
                    continue
                try:
                    result = self._run_job(job)
                except Exception as exc:         # a sandbox bug: report it, keep the queue going
                    result = self._refuse(job, f"sandbox error: {exc!r}")
                    with self._cond:
                        self.errors.append(RunnerError(f"job {job.name!r} failed in the sandbox: "
                                                       f"{exc!r}"))
                with self._cond:
                    self.running = False
                    # What was queued while this job ran alone was queued by it: one link
                    # further down its chain. With a hook alongside, the origin is unknown,
                    # so it starts a new chain (the limit is then only checked later).
                    alone = alone and self._hooks_started == hooks_started
                    self._take_requests(depth=job.depth + 1 if alone else 1)
                    if job.done is not None:
                        job.result = result
                    else:
                        self.finished.append(result)
                    self._cond.notify_all()
                if job.done is not None:
                    job.done.set()
        except Exception as exc:
            with self._cond:
                self.errors.append(RunnerError(f"the job queue stopped: {exc!r}"))
        finally:
            with self._cond:
                self.closed = True
                abandoned = list(self._jobs)
                self._jobs.clear()
                self.running = False
                self._cond.notify_all()
            for job in abandoned:
                if job.done is not None:
                    job.result = self._refuse(job, "the runner was closed before the job could run")
                    job.done.set()

    def _take_requests(self, depth: int) -> None:
        """Move Stash's pending runPluginTask requests to the queue (under _cond)."""
        for request in self._take():
            if depth > self.max_chained:
                self.errors.append(RunnerError(
                    f"more than {self.max_chained} chained plugin tasks: a task keeps queueing "
                    f"tasks (dropped the request for {request.get('task_name')!r})"))
                continue
            self._jobs.append(Job(depth=depth, request=request))
