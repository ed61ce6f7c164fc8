"""Asking Stash for a drain: once per burst of hooks, not once per hook.

A hook asks Stash (``runPluginTask``) to run *Process queue* unless a drain holds
the lock (it will see the new job: drains re-check the queue after releasing the
lock) or a request is already pending (written here, cleared when a drain starts).
A pending request older than :data:`PENDING_STALE_SECONDS` is assumed lost (Stash
restarted) and asked again.

A drain that ends while jobs wait to retry (it handed Stash's job queue over, or the
retry is too far off to wait for) leaves :data:`RETRY_DUE_FILE`, whose modification time
is when the first of them is due: any later invocation (a hook, any task) asks for a
drain once that time has passed. Stash gives plugins no timer, so with no invocation at
all nothing runs. Standard library only: hooks use it.
"""

from __future__ import annotations

import os
import time

from shared.defaults import PENDING_STALE_SECONDS
from worker.lock import drain_running

PENDING_FILE = "drain_requested"
RETRY_DUE_FILE = "retry_due"


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


def _due_path(data_dir: str) -> str:
    return os.path.join(data_dir, RETRY_DUE_FILE)


def mark_retry_due(data_dir: str, due_at: float | None) -> None:
    """Record when the first job waiting to retry is due (``None``: none waits).

    The time is the file's mtime, so checking it costs one ``stat`` and no read.
    """
    path = _due_path(data_dir)
    if due_at is None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(fd)
    os.utime(path, (due_at, due_at))


def retry_due(data_dir: str) -> bool:
    """Whether a job left waiting to retry by the last drain is due now."""
    try:
        return os.stat(_due_path(data_dir)).st_mtime <= time.time()
    except OSError:   # no marker (nothing waits), or no folder
        return False
