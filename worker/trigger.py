"""Asking Stash for a drain: once per burst of hooks, not once per hook.

A hook asks Stash (``runPluginTask``) to run *Process queue* unless a drain holds
the lock (it will see the new job: drains re-check the queue after releasing the
lock) or a request is already pending (written here, cleared when a drain starts).
A pending request older than :data:`PENDING_STALE_SECONDS` is assumed lost (Stash
restarted) and asked again. Standard library only: hooks use it.
"""

from __future__ import annotations

import os
import time

from worker.lock import drain_running

PENDING_FILE = "drain_requested"
PENDING_STALE_SECONDS = 600.0


def _pending_path(data_dir: str) -> str:
    return os.path.join(data_dir, PENDING_FILE)


def drain_request_needed(data_dir: str) -> bool:
    """Whether a hook that just queued a job should ask Stash for a drain."""
    if drain_running(data_dir):
        return False
    try:
        age = time.time() - os.stat(_pending_path(data_dir)).st_mtime
    except FileNotFoundError:
        return True
    return age >= PENDING_STALE_SECONDS or age < 0


def mark_drain_requested(data_dir: str) -> None:
    """Record that a drain was asked for (before asking, so concurrent hooks see it)."""
    fd = os.open(_pending_path(data_dir), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(fd)
    now = time.time()
    os.utime(_pending_path(data_dir), (now, now))


def clear_drain_request(data_dir: str) -> None:
    """A drain started: the pending request is served."""
    try:
        os.unlink(_pending_path(data_dir))
    except FileNotFoundError:
        pass
