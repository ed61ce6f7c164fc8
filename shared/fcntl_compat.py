"""``fcntl.flock`` for a Python without ``fcntl`` (Windows), on msvcrt's file locks.

PlexSync's locks (the single drainer, the circuit breaker's file, moving a damaged
SQLite file aside) are ``fcntl.flock`` calls on files of their own. Windows has no
``fcntl``; ``plexsync.py`` then registers this module under that name before anything
imports it, so the same code runs. Each lock is msvcrt's lock on one byte far past any
content of the file (Windows locks are mandatory: locking a byte someone reads would
block the read), taken on the file handle as flock's are: a second handle is refused,
and closing the handle drops the lock. Windows has no shared locks: ``LOCK_SH`` locks
exclusively (its one use, probing whether a drain holds the lock, drops it at once).

Standard library only, no ``typing``: the hook uses it (on Windows).
"""

from __future__ import annotations

import os
import sys
import types

LOCK_SH = 1
LOCK_EX = 2
LOCK_NB = 4
LOCK_UN = 8
#: The locked byte: past the end of every lock file (locking past the end is allowed).
LOCK_OFFSET = 0x7FFFFFFF


def flock(fd: object, operation: int) -> None:
    """``fcntl.flock(fd, operation)``: raises ``BlockingIOError`` when ``LOCK_NB`` finds it held."""
    import msvcrt  # Windows only; a test supplies a stand-in

    locking = getattr(msvcrt, "locking")  # typeshed declares msvcrt for win32 alone

    number = fd.fileno() if hasattr(fd, "fileno") else fd
    assert isinstance(number, int)
    position = os.lseek(number, 0, os.SEEK_CUR)
    os.lseek(number, LOCK_OFFSET, os.SEEK_SET)
    try:
        if operation & LOCK_UN:
            try:
                locking(number, getattr(msvcrt, "LK_UNLCK"), 1)
            except OSError:  # not locked: flock's unlock is a no-op then too
                pass
        elif operation & LOCK_NB:
            try:
                locking(number, getattr(msvcrt, "LK_NBLCK"), 1)
            except OSError as exc:
                raise BlockingIOError(exc.errno, f"locked by another process: {exc.strerror}") from None
        else:
            while True:  # LK_LOCK gives up after ten one-second tries; flock waits for good
                try:
                    locking(number, getattr(msvcrt, "LK_LOCK"), 1)
                    break
                except OSError:
                    continue
    finally:
        os.lseek(number, position, os.SEEK_SET)


def install() -> None:
    """Make ``import fcntl`` give this module's ``flock`` and constants."""
    module = types.ModuleType("fcntl", __doc__)
    for name in ("LOCK_SH", "LOCK_EX", "LOCK_NB", "LOCK_UN", "flock"):
        setattr(module, name, globals()[name])
    sys.modules["fcntl"] = module
