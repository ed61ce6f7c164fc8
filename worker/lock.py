"""The single-drainer lock: ``fcntl.flock`` on ``<data dir>/worker.lock``.

The kernel drops the lock when the holder dies, even by SIGKILL (Stash's cancel),
so a stale lock can never block the queue. Standard library only: hooks probe it.
"""

from __future__ import annotations

import fcntl
import os
# Hook path: typing costs ~10 ms to import; these names serve annotations only.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO

LOCK_FILE = "worker.lock"


def lock_path(data_dir: str) -> str:
    """The lock file of the drain working on ``data_dir``."""
    return os.path.join(data_dir, LOCK_FILE)


class DrainLock:
    """Non-blocking exclusive lock; ``with DrainLock(d) as held:`` tells whether we got it."""

    def __init__(self, data_dir: str) -> None:
        self.path = lock_path(data_dir)
        self._fh: IO[str] | None = None

    def acquire(self) -> bool:
        """Take the lock if free; ``False`` at once if another drain holds it."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fh = os.fdopen(fd, "r+")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            return False
        fh.truncate(0)
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        self._fh = fh
        return True

    def release(self) -> None:
        """Let the next drain in."""
        if self._fh is not None:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def drain_running(data_dir: str) -> bool:
    """Whether some process holds the drain lock right now."""
    try:
        fd = os.open(lock_path(data_dir), os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing also drops our probe lock
    return False
