"""Sync jobs: plain picklable dicts, so any release can read what an older one queued.

Standard library only: the hook builds jobs.
"""

from __future__ import annotations

import time
# Hook path: typing and dataclasses cost ~18 ms to import, so names used only in
# annotations are imported for type checkers alone.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: Retry bookkeeping a job gains when it fails; cleared when the DLQ requeues it.
RETRY_FIELDS = ("retry_count", "next_retry_at", "last_error_type", "outage_count")


def job_key(scene_id: int) -> str:
    """The identity of the work: one scene, whatever triggered it."""
    return f"scene_{scene_id}"


def new_job(scene_id: int, update_type: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    """A fresh job for ``scene_id``; ``update_type`` says what asked for it (hook type, reconcile…)."""
    return {
        "scene_id": int(scene_id),
        "update_type": update_type,
        "data": dict(data or {}),
        "enqueued_at": time.time(),
        "job_key": job_key(scene_id),
    }


def without_retry_state(job: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``job`` with its retry bookkeeping cleared."""
    return {k: v for k, v in job.items() if k not in RETRY_FIELDS}
