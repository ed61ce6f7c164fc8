"""Dead-letter queue tasks: show, retry, purge, clear."""

from __future__ import annotations

import os
import time
from typing import Any

from plugin.context import TaskContext
from plugin.tasks_common import request_drain
from shared.log import create_logger
from worker.dlq import DB_FILE, DeadLetterQueue
from worker.jobs import PUSH_SCENE, kind_of
from worker.queue import QueuePutter

log_trace, log_debug, log_info, log_warn, log_error = create_logger("dlq")

SHOW_LIMIT = 25


def show(ctx: TaskContext) -> dict[str, Any]:
    """Log the DLQ grouped by error type, then the newest entries."""
    if not os.path.exists(os.path.join(ctx.data_dir, DB_FILE)):  # only looking: create nothing
        log_info("The dead-letter queue is empty: no sync has failed for good.")
        log_info(f"(Data folder {ctx.data_dir}: no data yet.)")
        return {"total": 0, "by_type": {}, "no_data": True}
    dlq = DeadLetterQueue(ctx.data_dir)
    try:
        by_type = dlq.count_by_type()
        total = sum(by_type.values())
        if not total:
            log_info("The dead-letter queue is empty: no sync has failed for good.")
            return {"total": 0, "by_type": {}}
        log_info(f"Dead-letter queue: {total} scene(s) could not be synced")
        for kind, count in by_type.items():
            log_info(f"  {kind}: {count}")
        entries = dlq.list(limit=int(ctx.args.get("limit") or SHOW_LIMIT))
        log_info(f"Newest {len(entries)}:")
        for entry in entries:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.failed_at))
            title = entry.job.get("data", {}).get("title") or ""
            kind = kind_of(entry.job)
            label = f"scene {entry.scene_id}" + ("" if kind == PUSH_SCENE else f" ({kind})") + \
                (f" '{title}'" if title else "")
            log_info(f"  [{entry.id}] {when} {label}: {entry.error_type}: {entry.error_message}")
        return {"total": total, "by_type": by_type,
                "newest": [{"id": e.id, "scene_id": e.scene_id, "error_type": e.error_type,
                            "error": e.error_message, "failed_at": e.failed_at} for e in entries]}
    finally:
        dlq.close()


def retry(ctx: TaskContext) -> dict[str, Any]:
    """Requeue entries (all, or one error type via the ``error_type`` argument) and drain."""
    error_type = (ctx.args.get("error_type") or "").strip() or None
    dlq = DeadLetterQueue(ctx.data_dir)
    try:
        count = dlq.requeue(QueuePutter(ctx.data_dir), error_type=error_type)
    finally:
        dlq.close()
    what = f"'{error_type}' " if error_type else ""
    log_info(f"Requeued {count} {what}dead-letter entr{'y' if count == 1 else 'ies'}")
    if count:
        request_drain(ctx.stash, ctx.data_dir)
    return {"requeued": count, "error_type": error_type}


def purge(ctx: TaskContext) -> dict[str, Any]:
    """Delete entries older than the ``days`` argument or the retention setting."""
    days_arg = str(ctx.args.get("days") or "").strip()
    if days_arg:
        try:
            days = float(days_arg)
        except ValueError:
            raise ValueError(f"the 'days' argument must be a number, not {days_arg!r}") from None
        if days < 0:
            raise ValueError("the 'days' argument must not be negative")
    else:
        days = ctx.config.dlq_retention_days
    dlq = DeadLetterQueue(ctx.data_dir)
    try:
        removed = dlq.purge(days)
        left = dlq.count()
    finally:
        dlq.close()
    log_info(f"Purged {removed} dead-letter entr{'y' if removed == 1 else 'ies'} older than {days:g} days; {left} left")
    return {"purged": removed, "days": days, "remaining": left}


def clear(ctx: TaskContext) -> dict[str, Any]:
    """Delete every entry."""
    dlq = DeadLetterQueue(ctx.data_dir)
    try:
        removed = dlq.clear()
    finally:
        dlq.close()
    log_info(f"Cleared the dead-letter queue ({removed} entr{'y' if removed == 1 else 'ies'})")
    return {"cleared": removed}
