"""The *Status* and *Reset circuit breaker* tasks."""

from __future__ import annotations

import os
import sqlite3
import time
from typing import TYPE_CHECKING, Any

from plex.media_types import MOVIE, MediaType
from plugin.context import TaskContext
from plugin.protocol import describe_unexpected
from shared.jsonfile import CorruptStateError, read_json
from shared.log import create_logger
from validation.config import ConfigError, PlexSyncConfig
from worker.circuit_breaker import CircuitBreaker, CircuitState
from worker.dlq import DB_FILE as DLQ_FILE, DeadLetterQueue
from worker.jobs import due_at, is_due
from worker.processor import BREAKER_FILE
from worker.queue import pending_jobs
from worker.stats import STATS_FILE

if TYPE_CHECKING:
    from plex.client import PlexConnection  # imports plexapi: only plex_summary loads it, when called

log_trace, log_debug, log_info, log_warn, log_error = create_logger("status")


def _ago(epoch: float | None) -> str:
    if not epoch:
        return "never"
    seconds = time.time() - float(epoch)
    if seconds < 0:
        return f"in {-seconds:.0f}s"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit} ago"
    return f"{seconds:.0f}s ago"


def queue_summary(data_dir: str) -> dict[str, Any]:
    """Jobs ready now and waiting to retry, with when the next one is due."""
    now = time.time()
    ready = waiting = 0
    next_due: float | None = None
    for job in pending_jobs(data_dir):
        due = due_at(job)
        if not is_due(job, now):
            waiting += 1
            next_due = due if next_due is None else min(next_due, due)
        else:
            ready += 1
    return {"ready": ready, "waiting": waiting, "next_due_at": next_due}


def breaker_summary(data_dir: str) -> dict[str, Any]:
    """The breaker's state and, when open, when it half-opens."""
    breaker = CircuitBreaker(state_file=os.path.join(data_dir, BREAKER_FILE))
    state = breaker.state
    return {"state": state.value, "failures": breaker.failure_count, "half_opens_at": breaker.half_opens_at()}


def plex_summary(config: PlexSyncConfig) -> dict[str, Any]:
    """Plex reachable? Server name, version, latency, the sections we use and their sizes."""
    from plex.client import PlexConnection
    from plex.exceptions import PlexSyncError

    started = time.perf_counter()
    plex = PlexConnection(config)
    try:
        server = plex.server()
        latency_ms = (time.perf_counter() - started) * 1000
        sections = [{"title": s.title, "id": s.id, "kind": s.kind,
                     "items": _section_size(plex, s.id, s.media or MOVIE)} for s in plex.sections()]
    except PlexSyncError as exc:
        return {"reachable": False, "error": str(exc), "error_type": type(exc).__name__}
    except Exception as exc:  # a bug, but Status must still report the rest
        return {"reachable": False, "error": describe_unexpected(exc), "error_type": type(exc).__name__}
    finally:
        plex.close()
    return {"reachable": True, "name": server.friendlyName, "version": server.version,
            "latency_ms": round(latency_ms, 1), "sections": sections}


def _section_size(plex: PlexConnection, section_id: str, media: MediaType = MOVIE) -> int | None:
    """How many items scenes can become a section holds (movies, or episodes): one listing
    request for zero items (Plex sends the total)."""
    container = plex.query(f"/library/sections/{section_id}/all?type={media.listing_type}",
                           headers={"X-Plex-Container-Start": "0", "X-Plex-Container-Size": "0"})
    if container is None:
        return None
    return int(container.get("totalSize") or container.get("size") or 0)


def local_health(data_dir: str) -> dict[str, Any]:
    """The data folder's side of Status, read-only: ``queue`` (or its ``error``), ``dlq``
    counts by type, ``breaker``, ``stats`` (last sync, last drain). The *Status* task and
    the UI's status card (``plugin/ui_operations.py``) both show these."""
    health: dict[str, Any] = {}
    try:
        health["queue"] = queue_summary(data_dir)
    except sqlite3.DatabaseError as exc:
        # Read-only here; the next save or 'Process queue' moves the file aside.
        health["queue"] = {"error": str(exc)}
    health["dlq"] = {}
    if os.path.exists(os.path.join(data_dir, DLQ_FILE)):
        dlq = DeadLetterQueue(data_dir)
        try:
            health["dlq"] = dlq.count_by_type()
        finally:
            dlq.close()
    health["breaker"] = breaker_summary(data_dir)
    try:
        health["stats"] = read_json(os.path.join(data_dir, STATS_FILE)) or {}
    except CorruptStateError:
        health["stats"] = {}
    return health


def run(ctx: TaskContext) -> dict[str, Any]:
    """Log everything a user needs to see whether PlexSync is healthy."""
    report: dict[str, Any] = {"data_dir": ctx.data_dir}
    log_info(f"PlexSync data folder: {ctx.data_dir}")
    try:
        config = ctx.config
    except ConfigError as exc:
        report["config_error"] = str(exc)
        log_error(str(exc))
        config = None
    if config is not None:
        plex = plex_summary(config)
        report["plex"] = plex
        if plex["reachable"]:
            log_info(f"Plex: '{plex['name']}' version {plex['version']}, answered in {plex['latency_ms']} ms")
            for section in plex["sections"]:
                log_info(f"  library '{section['title']}': {section['items']} items ({section['kind']})")
        else:
            log_error(f"Plex: not usable — {plex['error']}")
    from plugin import compatibility

    report["compatibility"] = compatibility.check(ctx, ask_plex=False,
                                                  plex_version=report.get("plex", {}).get("version"))

    if not os.path.isdir(ctx.data_dir):  # Status only looks: it creates nothing
        report["no_data"] = True
        log_info(f"Data folder {ctx.data_dir}: no data yet (nothing was queued or synced so far)")
        return report

    report.update(local_health(ctx.data_dir))
    queue = report["queue"]
    if "error" in queue:
        log_error(f"Queue: unreadable ({queue['error']}); the next save or 'Process queue' moves it aside and "
                  "starts a new one")
    else:
        due = f", next retry {_ago(queue['next_due_at'])}" if queue["next_due_at"] else ""
        log_info(f"Queue: {queue['ready']} ready, {queue['waiting']} waiting to retry{due}")

    total = sum(report["dlq"].values())
    detail = ", ".join(f"{k}: {v}" for k, v in report["dlq"].items())
    log_info(f"Dead-letter queue: {total}" + (f" ({detail})" if detail else ""))

    breaker = report["breaker"]
    if breaker["state"] == CircuitState.OPEN.value:
        log_warn(f"Circuit breaker: OPEN (Plex failing); next probe {_ago(breaker['half_opens_at'])}")
    else:
        log_info(f"Circuit breaker: {breaker['state']}")

    stats = report["stats"]
    log_info(f"Last sync: {_ago(stats.get('last_success_at'))}; totals: {stats.get('succeeded', 0)} synced, "
             f"{stats.get('dead_lettered', 0)} dead-lettered")
    last_error = stats.get("last_error")
    if last_error:
        log_info(f"Last error: {_ago(last_error.get('at'))}, scene {last_error.get('scene_id')}: "
                 f"{last_error.get('type')}: {last_error.get('message')}")
    last_drain = stats.get("last_drain") or {}
    if last_drain:
        log_info(f"Last drain: {_ago(last_drain.get('at'))}: {last_drain.get('summary')}")
    try:
        from reconciliation.state import describe_last_reconcile
    except ImportError:
        pass
    else:
        report["reconcile"] = describe_last_reconcile(ctx.data_dir, log_info)
    return report


def reset_breaker(ctx: TaskContext) -> dict[str, Any]:
    """Close the circuit now (after fixing Plex), so the next drain tries at once."""
    breaker = CircuitBreaker(state_file=os.path.join(ctx.data_dir, BREAKER_FILE))
    before = breaker.state.value
    breaker.reset()
    log_info(f"Circuit breaker reset (was {before}); the queue will be tried on the next drain")
    from plugin.tasks_common import request_drain

    request_drain(ctx.stash, ctx.data_dir)
    return {"before": before, "after": CircuitState.CLOSED.value}
