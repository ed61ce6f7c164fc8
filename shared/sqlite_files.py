"""Opening PlexSync's SQLite files when one may be corrupt: detect, move aside, start afresh.

A crash mid-write, a full disk or a stray copy can leave garbage or half a file. SQLite
notices at open ("file is not a database", "database disk image is malformed"), so
detection costs nothing extra: :func:`open_or_quarantine` catches that error, renames
the damaged file to ``<name>.corrupt-<UTC time>`` (kept for the user), and opens a new
one. A cache (path index, sync state) just rebuilds, with one warning; the queue and
the dead-letter queue held work that is now out of reach, so one error line names the
kept file and a recovery reconcile is requested (:data:`RECOVERY_FILE`, served by the
next hook or task).

Standard library only and cheap: the hook opens the queue through this.
"""

from __future__ import annotations

import fcntl
import os
import time

from shared.log import create_logger

# Hook path: typing costs ~10 ms to import; these names serve annotations only.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3
    from typing import Callable, TypeVar

    T = TypeVar("T")
else:
    # The C module itself (the same connect, Connection and errors): the ``sqlite3``
    # package adds only date/time adapters we never bind, and importing it costs the
    # hook ~4 ms more (datetime, collections.abc). worker.queue uses this name too.
    try:
        import _sqlite3 as sqlite3
    except ImportError:  # an interpreter without the private name
        import sqlite3

log_trace, log_debug, log_info, log_warn, log_error = create_logger("storage")

#: Marker asking the next hook or task to request :data:`RECOVERY_TASK` from Stash.
RECOVERY_FILE = "recovery_requested"
RECOVERY_TASK = "Reconcile: changed scenes"
CORRUPT_INFIX = ".corrupt-"
_LOCK_FILE = "quarantine.lock"
# SQLITE_CORRUPT and SQLITE_NOTADB: the file itself is bad. Busy/locked/full are not.
_CORRUPT_CODES = (11, 26)


def is_corruption(exc: BaseException) -> bool:
    """Whether ``exc`` says the database file is damaged (not busy, locked or full)."""
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _CORRUPT_CODES
    return not isinstance(exc, sqlite3.OperationalError)


def quarantine(path: str) -> str:
    """Rename ``path`` (a file with its ``-wal``/``-shm``, or a folder) to
    ``<path>.corrupt-<UTC time>``; returns the new path."""
    base = f"{path}{CORRUPT_INFIX}{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    target, n = base, 1
    while os.path.lexists(target):
        n += 1
        target = f"{base}-{n}"
    os.rename(path, target)
    # A journal left beside a new file would be replayed into it: it goes too.
    for side in ("-wal", "-shm", "-journal"):
        if os.path.lexists(path + side):
            os.rename(path + side, target + side)
    return target


def open_or_quarantine(open_fn: Callable[[], T], path: str, *, data_dir: str, what: str,
                       rebuildable: bool) -> T:
    """``open_fn()``; if it fails because ``path`` is corrupt, move ``path`` aside and retry once.

    ``open_fn`` must read the file (a pragma or the schema) and close what it opened
    before raising. ``what`` names the store for the user. Concurrent processes agree
    through a lock: only the first moves the file, the others open its replacement.
    """
    try:
        return open_fn()
    except sqlite3.DatabaseError as exc:
        if not is_corruption(exc):
            raise
    fd = os.open(os.path.join(data_dir, _LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            return open_fn()  # another process may have replaced it meanwhile
        except sqlite3.DatabaseError as exc:
            if not is_corruption(exc):
                raise
            reason = str(exc)
        moved = quarantine(path)
        if rebuildable:
            log_warn(f"The {what} was unreadable ({reason}); moved it to {moved} and rebuilding it "
                     "(it is a cache: nothing is lost, the next syncs just do a little more work)")
        else:
            request_recovery(data_dir, f"the {what} was unreadable")
            log_error(f"The {what} was unreadable ({reason}): moved it to {moved} and started a new one. "
                      f"What it held is out of reach, so '{RECOVERY_TASK}' has been requested to "
                      "catch up (run 'Reconcile: all scenes' too if older edits were waiting); "
                      "keep the moved file for a bug report, or delete it.")
        return open_fn()
    finally:
        os.close(fd)  # drops the lock


def request_recovery(data_dir: str, reason: str) -> None:
    """Leave a note for the next hook or task to request :data:`RECOVERY_TASK`."""
    path = os.path.join(data_dir, RECOVERY_FILE)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            import json  # only when a file was moved aside: not on the hook's usual path

            json.dump({"task": RECOVERY_TASK, "reason": reason, "at": time.time()}, fh)
    except OSError as exc:
        log_warn(f"Could not note that a recovery is needed ({exc}); run '{RECOVERY_TASK}' yourself")


def recovery_pending(data_dir: str) -> bool:
    """Whether a recovery reconcile still has to be requested (any content counts)."""
    return os.path.exists(os.path.join(data_dir, RECOVERY_FILE))


def recovery_requested(data_dir: str) -> None:
    """The recovery was handed to Stash: forget the note."""
    try:
        os.unlink(os.path.join(data_dir, RECOVERY_FILE))
    except FileNotFoundError:
        pass


def private_file(path: str) -> None:
    """Make an existing file owner-only (it may predate PlexSync's umask); cheap."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    if mode & 0o077:
        os.chmod(path, mode & 0o700)
