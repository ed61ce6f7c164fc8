"""The *Process queue* task: drain the queue into Plex."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any, Callable

from plugin.context import TaskContext
from plugin.protocol import TaskError
from shared.datadir import default_data_dir
from shared.defaults import LINGER_SECONDS, MAX_WAIT_FOR_RETRY_SECONDS
from shared.log import create_logger, progress_reporter
from reconciliation.scheduler import maybe_queue_watch_state
from worker.auto_purge import maybe_auto_purge
from worker.drain import due_jobs_waiting, run_drain
from worker.handover import QueueWatch
from worker.jobs import FILL_SHOW, PUSH_SCENE, SYNC_WATCH_STATE
from worker.lock import DrainLock
from worker.queue import move_jobs
from worker.trigger import mark_retry_due

if TYPE_CHECKING:
    from worker.processor import Handlers
    from worker.show_fill import ShowFill
    from worker.sync import SceneSync
    from worker.watch_sync import WatchStateHandler

log_trace, log_debug, log_info, log_warn, log_error = create_logger("process")


def _adopt_stray_jobs(ctx: TaskContext) -> None:
    """Jobs a hook queued elsewhere join ours: in the default folder (it could not read
    the settings), or in a folder its settings snapshot named before *Data folder* changed."""
    if not ctx.stash_dir:
        return
    from shared.hook_settings import former_data_folders

    here = os.path.abspath(ctx.data_dir)
    folders = [os.path.abspath(f) for f in [default_data_dir(ctx.stash_dir), *former_data_folders(ctx.stash_dir)]]
    for folder in dict.fromkeys(folders):
        if folder == here or not os.path.isdir(folder):
            continue
        with DrainLock(folder) as held:
            if held:
                moved = move_jobs(folder, ctx.data_dir)
                if moved:
                    log_info(f"Moved {moved} job(s) queued in {folder} into the data folder {ctx.data_dir}")


def _stash_job_queue(ctx: TaskContext) -> Callable[[], list[dict[str, Any]] | None]:
    """A reader of Stash's job queue for :class:`QueueWatch`: ``None`` when Stash can't say."""
    from stash.client import StashError

    def fetch() -> list[dict[str, Any]] | None:
        try:
            return ctx.stash.job_queue()
        except StashError as exc:
            log_debug(f"Could not read Stash's job queue ({exc}); not holding it")
            return None
    return fetch


def _mark_retry_due(ctx: TaskContext, due_at: float | None) -> None:
    """Leave the next retry's due time where every later invocation looks (even the hook
    of a save that syncs nothing, which knows only the default folder)."""
    folders = [ctx.data_dir]
    if ctx.stash_dir:
        default = default_data_dir(ctx.stash_dir)
        if os.path.abspath(default) != os.path.abspath(ctx.data_dir) and os.path.isdir(default):
            folders.append(default)
    for folder in folders:
        try:
            mark_retry_due(folder, due_at)
        except OSError as exc:
            log_warn(f"Could not record when the next retry is due in {folder}: {exc}")


def handlers(sync: SceneSync, watch: WatchStateHandler, shows: ShowFill | None = None) -> Handlers:
    """The drain's handler table: one handler per job kind (see ``worker/jobs.py``)."""
    table: dict[str, Any] = {PUSH_SCENE: sync, SYNC_WATCH_STATE: _ThenForgetReadItems(watch, sync)}
    if shows is not None:
        table[FILL_SHOW] = shows
    return table


class _ThenForgetReadItems:
    """A handler that writes Plex items outside the scene sync (watch state rates them):
    afterwards the sync's items read ahead may be stale, so they are dropped."""

    def __init__(self, handler: Any, sync: SceneSync) -> None:
        self.handler, self.sync = handler, sync

    def __call__(self, job: dict[str, Any]) -> Any:
        try:
            return self.handler(job)
        finally:
            self.sync.forget_read_items()


def run(ctx: TaskContext) -> dict[str, Any]:
    """Drain with the real Plex sync; log one summary line."""
    from worker.show_fill import ShowFill
    from worker.sync import SceneSync
    from worker.watch_sync import WatchStateHandler

    config = ctx.config
    maybe_auto_purge(ctx.data_dir, config.dlq_retention_days)
    from plugin.compatibility import maybe_check

    maybe_check(ctx)  # once a day: did a Stash upgrade drop a field we use?
    _adopt_stray_jobs(ctx)
    sync = SceneSync(config, ctx.stash, ctx.data_dir)
    watch = WatchStateHandler(config, ctx.stash, ctx.data_dir)
    shows = ShowFill(config, ctx.stash, ctx.data_dir)
    # A watch-state pass at the end of the drain when one is due (it queues behind the
    # scenes already waiting).
    maybe_queue_watch_state(ctx.data_dir, config.watch_interval)
    linger = float(ctx.args.get("linger") or LINGER_SECONDS)
    max_wait = float(ctx.args.get("max_wait") or MAX_WAIT_FOR_RETRY_SECONDS)
    # Stash runs one job at a time: wait or linger only while no other job waits.
    queue_watch = QueueWatch(_stash_job_queue(ctx))
    bar = progress_reporter()
    try:
        report = run_drain(ctx.data_dir, config, handlers(sync, watch, shows), progress=lambda done, total: bar(done / max(total, 1)),
                           linger=linger, max_wait=max_wait, before_pass=sync.before_pass, may_hold=queue_watch)
    finally:
        sync.close()
        shows.close()
    if report is None:
        return {"skipped": "another drain is running"}
    _mark_retry_due(ctx, report.next_due_at)
    if queue_watch.handed_over and due_jobs_waiting(ctx.data_dir):
        # Jobs a hook queued while we held the lock (so it asked for no drain): our
        # turn is over, so queue a drain behind the job we gave way to.
        from plugin.tasks_common import request_drain

        request_drain(ctx.stash, ctx.data_dir)
    log_info(f"Process queue: {report.summary()}")
    if report.next_due_at:
        log_info(f"Next retry due at {time.strftime('%H:%M:%S', time.localtime(report.next_due_at))}; "
                 "the next save, task or reconcile picks it up")
    output = {"synced": report.synced, "retried": report.retried, "dead_lettered": report.dead_lettered,
              "superseded": report.superseded, "waiting": report.waiting, "stopped": report.stopped_because,
              "errors": report.errors, "rate_limited": report.rate_limited}
    if watch.last is not None:
        output["watch_state"] = watch.last.as_dict()
    if report.problem:
        # A stop for a setting, an open breaker or a lost Stash fails the task (Stash
        # shows it as failed, the command line exits 1); the report goes along.
        raise TaskError(report.problem, output=output)
    return output
