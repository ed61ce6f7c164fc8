"""The *Process queue* task: drain the queue into Plex."""

from __future__ import annotations

import time
from typing import Any

from shared.log import create_logger, log_progress
from worker.drain import MAX_WAIT_FOR_RETRY_SECONDS, run_drain

log_trace, log_debug, log_info, log_warn, log_error = create_logger("process")

#: Keep polling an empty queue this long: hooks of a bulk edit keep adding jobs.
LINGER_SECONDS = 2.0


def run(ctx: Any) -> dict[str, Any]:
    """Drain with the real Plex sync; log one summary line."""
    from worker.sync import SceneSync

    config = ctx.config
    sync = SceneSync(config, ctx.stash, ctx.data_dir)
    linger = float(ctx.args.get("linger") or LINGER_SECONDS)
    max_wait = float(ctx.args.get("max_wait") or MAX_WAIT_FOR_RETRY_SECONDS)
    try:
        report = run_drain(ctx.data_dir, config, sync, progress=lambda done, total: log_progress(done / max(total, 1)),
                           linger=linger, max_wait=max_wait, before_pass=sync.before_pass)
    finally:
        sync.close()
    if report is None:
        return {"skipped": "another drain is running"}
    log_info(f"Process queue: {report.summary()}")
    if report.next_due_at:
        log_info(f"Next retry due at {time.strftime('%H:%M:%S', time.localtime(report.next_due_at))}; "
                 "the next save, task or reconcile picks it up")
    return {"synced": report.synced, "retried": report.retried, "dead_lettered": report.dead_lettered,
            "superseded": report.superseded, "waiting": report.waiting, "stopped": report.stopped_because,
            "errors": report.errors}
