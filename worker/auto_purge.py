"""The dead-letter queue's automatic purge: at most once a day, from *Process queue*.

The last purge time lives in ``<data dir>/dlq_purge.json`` (atomic writes). A
missing or unreadable file means "never purged": the purge runs and rewrites it.
"""

from __future__ import annotations

import os
import time

from shared.jsonfile import CorruptStateError, read_json, write_json_atomic
from shared.log import create_logger
from shared.defaults import DLQ_AUTO_PURGE_INTERVAL_SECONDS
from worker.dlq import DeadLetterQueue

log_trace, log_debug, log_info, log_warn, log_error = create_logger("dlq")

MARKER_FILE = "dlq_purge.json"


def purge_due(last_purge_at: float | None, now: float, interval: float = DLQ_AUTO_PURGE_INTERVAL_SECONDS) -> bool:
    """Whether the automatic purge should run now: pure (a future time counts as due)."""
    return last_purge_at is None or not 0 <= now - last_purge_at < interval


def maybe_auto_purge(data_dir: str, retention_days: float) -> int | None:
    """Purge entries older than ``retention_days`` if the last purge was a day ago or more.

    Returns how many entries were removed, or ``None`` when no purge was due.
    """
    path = os.path.join(data_dir, MARKER_FILE)
    try:
        stored = read_json(path)
    except CorruptStateError as exc:
        log_warn(f"Automatic dead-letter purge: {exc}; purging now")
        stored = None
    last = stored.get("last_purge_at") if isinstance(stored, dict) else None
    now = time.time()
    if not purge_due(last if isinstance(last, (int, float)) else None, now):
        return None
    dlq = DeadLetterQueue(data_dir)
    try:
        removed = dlq.purge(retention_days)
    finally:
        dlq.close()
    try:
        write_json_atomic(path, {"last_purge_at": now, "removed": removed, "retention_days": retention_days})
    except OSError as exc:
        log_warn(f"Could not record the automatic dead-letter purge in {path}: {exc}")
    if removed:
        log_info(f"Purged {removed} dead-letter entr{'y' if removed == 1 else 'ies'} older than "
                 f"{retention_days:g} days (automatic, once a day)")
    return removed
