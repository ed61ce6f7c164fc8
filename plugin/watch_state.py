"""The *Sync watch state* tasks: one watch-state pass now, or its dry run."""

from __future__ import annotations

from typing import Any

from plugin.context import TaskContext
from shared.log import create_logger

log_trace, log_debug, log_info, log_warn, log_error = create_logger("watch")


def run(ctx: TaskContext) -> dict[str, Any]:
    """Queue a watch-state pass and drain: the pass runs under the drain's lock, breaker
    and retries (another drain running takes the job over)."""
    from plugin import process
    from worker.jobs import watch_state_job
    from worker.queue import enqueue

    config = ctx.config      # bad settings fail the task before anything is queued
    if not (config.watch_pull or config.watch_push):
        from worker.watch_sync import WatchSummary

        summary = WatchSummary(off=True)
        log_info(summary.line())
        return summary.as_dict()
    enqueue(ctx.data_dir, watch_state_job("task"))
    return process.run(ctx)


def dry_run(ctx: TaskContext) -> dict[str, Any]:
    """Plan one pass and report what it would write; writes nothing anywhere."""
    from worker.watch_sync import run_watch_pass

    return run_watch_pass(ctx.config, ctx.stash, ctx.data_dir, dry_run=True,
                          progress=lambda text: log_debug(f"Watch state (dry run): {text}")).as_dict()
