"""The *Reconcile* tasks: changed scenes, all scenes, scenes missing in Plex."""

from __future__ import annotations

from typing import Any

from plugin.context import TaskContext
from plugin.protocol import TaskError
from plugin.tasks_common import request_drain
from shared.log import create_logger, log_progress

log_trace, log_debug, log_info, log_warn, log_error = create_logger("reconcile")

_TRUE = {"1", "true", "yes", "on"}


def _flag(value: Any) -> bool:
    """A task argument as a bool (``defaultArgs`` values are strings)."""
    if isinstance(value, bool):
        return value
    return str(value or "").strip().lower() in _TRUE


def run(ctx: TaskContext) -> dict[str, Any]:
    """Reconcile the ``scope`` argument (default ``changed``); ``dry_run`` queues nothing."""
    from plex.client import PlexConnection
    from plex.exceptions import PlexSyncError
    from reconciliation.reconcile import SCOPES, reconcile

    scope = str(ctx.args.get("scope") or "changed").strip().lower()
    if scope not in SCOPES:
        raise TaskError(f"unknown reconcile scope {scope!r}: expected one of {', '.join(SCOPES)}")
    dry_run = _flag(ctx.args.get("dry_run"))
    config = ctx.config
    plex = PlexConnection(config)
    try:
        summary = reconcile(scope, stash=ctx.stash, config=config, data_dir=ctx.data_dir, plex=plex,
                            progress=lambda done, total: log_progress(done / max(total, 1)), dry_run=dry_run)
    except PlexSyncError as exc:
        raise TaskError(f"Reconcile stopped, nothing was queued: {exc}") from None
    finally:
        plex.close()
    for line in summary.lines():
        log_info(line)
    if summary.enqueued_total and not dry_run:
        request_drain(ctx.stash, ctx.data_dir)
    return summary.as_dict()
