"""Where one scene stands with PlexSync, from the data folder alone (no Stash, no Plex).

The scene panel in Stash's UI (``plugin/ui_operations.py``) shows it: the item the
scene was last written to and when, a job waiting in the queue (ready or waiting to
retry), a dead-letter entry, the last look-up that found no Plex item. Reading never
creates a file: a fresh install just has nothing to say yet. :func:`panel_state` is
the one place that turns these facts into the state the panel shows.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from worker.dlq import DB_FILE as DLQ_FILE, DeadLetterQueue
from worker.jobs import PUSH_SCENE, due_at, job_key, kind_of
from worker.lock import drain_running
from worker.queue import pending_jobs
from worker.sync_state import DB_FILE as SYNC_STATE_FILE, SyncState

#: The states the panel shows, most pressing first (see :func:`panel_state`).
DEAD_LETTERED = "dead_lettered"
RETRY_WAITING = "retry_waiting"
QUEUED = "queued"
UNMATCHED = "unmatched"
MATCHED = "matched"
NEVER_SYNCED = "never_synced"


@dataclass(frozen=True)
class SceneStatus:
    """What the data folder knows about one scene."""

    scene_id: int
    rating_key: str | None = None       # the Plex item last written for the scene
    synced_at: float | None = None      # when that write happened
    collections: tuple[str, ...] = ()   # the Plex collections PlexSync owns on the item
    miss: str | None = None             # why the last look-up found no Plex item
    queued: dict[str, Any] | None = None      # the scene's job in the queue, if any
    dead_letter: dict[str, Any] | None = None  # its dead-letter entry, if any
    drain_running: bool = False

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON for the plugin's answer."""
        return {"scene_id": self.scene_id, "rating_key": self.rating_key, "synced_at": self.synced_at,
                "collections": list(self.collections), "miss": self.miss, "queued": self.queued,
                "dead_letter": self.dead_letter, "drain_running": self.drain_running}


def read_scene_status(data_dir: str, scene_id: int) -> SceneStatus:
    """Everything the data folder holds about ``scene_id``; creates nothing.

    Raises ``sqlite3.DatabaseError`` for a damaged queue (never read as an empty one).
    """
    if not os.path.isdir(data_dir):
        return SceneStatus(scene_id)
    rating_key = synced_at = miss = None
    collections: tuple[str, ...] = ()
    if os.path.exists(os.path.join(data_dir, SYNC_STATE_FILE)):
        state = SyncState(data_dir)
        try:
            record = state.get(scene_id)
            last_miss = state.last_miss(scene_id)
        finally:
            state.close()
        if record is not None:
            rating_key, synced_at = record.rating_key, record.synced_at
            collections = tuple(name for names in record.owned.values() for name in names)
        if last_miss is not None:
            miss = last_miss[1]
    return SceneStatus(scene_id, rating_key=rating_key, synced_at=synced_at, collections=collections, miss=miss,
                       queued=_queued_job(data_dir, scene_id), dead_letter=_dead_letter(data_dir, scene_id),
                       drain_running=drain_running(data_dir))


def _queued_job(data_dir: str, scene_id: int) -> dict[str, Any] | None:
    """The scene's newest push job in the queue: when due, its retries and last error."""
    key = job_key(scene_id)
    found: dict[str, Any] | None = None
    for job in pending_jobs(data_dir):
        if kind_of(job) == PUSH_SCENE and str(job.get("job_key") or job_key(job.get("scene_id") or 0)) == key:
            found = job
    if found is None:
        return None
    return {"due_at": due_at(found), "retry_count": int(found.get("retry_count") or 0),
            "last_error_type": found.get("last_error_type"), "enqueued_at": found.get("enqueued_at")}


def _dead_letter(data_dir: str, scene_id: int) -> dict[str, Any] | None:
    if not os.path.exists(os.path.join(data_dir, DLQ_FILE)):
        return None
    dlq = DeadLetterQueue(data_dir)
    try:
        entry = dlq.find(job_key(scene_id))
    finally:
        dlq.close()
    if entry is None:
        return None
    return {"error_type": entry.error_type, "message": entry.error_message, "failed_at": entry.failed_at,
            "retry_count": entry.retry_count, "id": entry.id}


def panel_state(status: SceneStatus, now: float | None = None) -> str:
    """The one state the scene panel leads with, most pressing first: a dead-letter
    entry newer than the last sync (nothing will retry it), the last look-up found no
    Plex item (with or without a retry waiting), a job waiting to retry, a job ready to
    run, matched, never synced."""
    now = time.time() if now is None else now
    dead = status.dead_letter
    # An entry older than a later successful sync is history, not the scene's state.
    if dead is not None and status.queued is None and (status.synced_at or 0) < dead["failed_at"]:
        return DEAD_LETTERED
    if status.miss is not None:      # its retry, if one waits, is told beside the reason
        return UNMATCHED
    if status.queued is not None:
        return QUEUED if status.queued["due_at"] <= now else RETRY_WAITING
    if status.rating_key is not None:
        return MATCHED
    return NEVER_SYNCED
