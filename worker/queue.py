"""The job queue: persist-queue's ``SQLiteAckQueue`` in ``<data dir>/queue``.

Two doors into the same SQLite table:

* :func:`enqueue` is what hooks call. Importing persist-queue costs ~60 ms (it pulls
  in asyncio and logging), more than a hook's whole budget, so the hook inserts the
  row itself with ``sqlite3`` exactly as ``SQLiteAckQueue.put`` does (same table,
  columns, status and pickle protocol; the pickle written by ``shared.picklelite``,
  which spares the hook the pickle machinery). persist-queue is pinned in requirements.txt
  and ``tests/test_queue.py`` proves the real class reads these rows.
* :class:`JobQueue` wraps ``SQLiteAckQueue`` for the drain: get, ack, nack, put.
"""

from __future__ import annotations

import os
import sys
import time

from shared.datadir import ensure_private_dir
from shared.defaults import SQLITE_LOCK_TIMEOUT_SECONDS
from shared.picklelite import dumps as _pickle_dumps
from shared.sqlite_files import open_or_quarantine, private_file, sqlite3
# Hook path: typing and dataclasses cost ~18 ms to import, so names used only in
# annotations are imported for type checkers alone.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Iterator

QUEUE_FOLDER = "queue"
DB_FILE = "data.db"
# SQLiteAckQueue's table for the default queue name, and its row layout.
_TABLE = "ack_queue_default"
_CREATE = (
    f"CREATE TABLE IF NOT EXISTS {_TABLE} ("
    "_id INTEGER PRIMARY KEY AUTOINCREMENT, data BLOB, timestamp FLOAT, status INTEGER)"
)
_STATUS_INITED = 0
_STATUS_UNACK = 2
# Created by the drain (not the hook): persist-queue's get and our counts use it.
_READY_INDEX = f"CREATE INDEX IF NOT EXISTS {_TABLE}_ready ON {_TABLE} (_id) WHERE status < {_STATUS_UNACK}"
_PICKLE_PROTOCOL = 4  # persistqueue.serializers.pickle.protocol
_PRAGMA_ATTEMPTS = 50


def _pickle_loads(blob: bytes) -> Any:
    # Only readers unpickle: the hook (which writes) never loads the pickle machinery.
    try:  # the C unpickler itself: pickle.py would import re and struct
        from _pickle import loads
    except ImportError:
        from pickle import loads
    return loads(blob)


def queue_path(data_dir: str) -> str:
    """The folder holding the queue's SQLite file."""
    return os.path.join(data_dir, QUEUE_FOLDER)


def _connect(data_dir: str) -> sqlite3.Connection:
    """Open the queue (created if missing); a corrupt file is moved aside with the
    folder ``queue`` → ``queue.corrupt-<time>`` and a new queue started, so hooks keep
    recording (see ``shared.sqlite_files``)."""
    folder = ensure_private_dir(queue_path(data_dir))  # always ours: tightened if looser
    path = os.path.join(folder, DB_FILE)
    conn = open_or_quarantine(lambda: _open(path), folder, data_dir=data_dir, what="job queue", rebuildable=False)
    private_file(path)
    return conn


def _open(path: str) -> sqlite3.Connection:
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)  # gone after a quarantine
    conn = sqlite3.connect(path, timeout=SQLITE_LOCK_TIMEOUT_SECONDS, isolation_level=None)
    # Switching to WAL takes an exclusive lock and does not wait on the busy
    # handler; many hooks starting at once on a new file must retry it.
    try:
        for attempt in range(_PRAGMA_ATTEMPTS):
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(_CREATE)
                break
            except sqlite3.OperationalError:
                if attempt == _PRAGMA_ATTEMPTS - 1:
                    raise
                time.sleep(0.005 * (attempt + 1))
    except BaseException:
        conn.close()
        raise
    return conn


_INSERT = f"INSERT INTO {_TABLE} (data, timestamp, status) VALUES (?, ?, {_STATUS_INITED})"


def enqueue(data_dir: str, job: dict[str, Any]) -> int:
    """Append ``job`` to the queue in ``data_dir``; safe from many processes at once.

    Returns the row id. Raises ``sqlite3.Error`` or ``OSError`` if it could not be stored.
    """
    conn = _connect(data_dir)
    try:
        cur = conn.execute(_INSERT, (_pickle_dumps(job, _PICKLE_PROTOCOL), time.time()))
        return int(cur.lastrowid or 0)
    finally:
        conn.close()


def enqueue_many(data_dir: str, jobs: list[dict[str, Any]]) -> None:
    """Append ``jobs`` in one transaction (a reconcile may queue 100,000: one open
    and commit per job would take minutes)."""
    if not jobs:
        return
    try:  # tasks only: the C pickler is ~5x faster per job than the hook's picklelite
        from _pickle import dumps
    except ImportError:
        from pickle import dumps
    conn = _connect(data_dir)
    try:
        now = time.time()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(_INSERT, [(dumps(job, protocol=_PICKLE_PROTOCOL), now) for job in jobs])
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    finally:
        conn.close()


class QueuePutter:
    """Adds jobs with :func:`enqueue`, for code that takes "something to ``put`` jobs
    into" (the DLQ's requeue) but must not open the drain's queue: no lock needed."""

    def __init__(self, data_dir: str) -> None:
        self.data_dir = data_dir

    def put(self, job: dict[str, Any]) -> None:
        """Append ``job``."""
        enqueue(self.data_dir, job)


def pending_jobs(data_dir: str) -> Iterator[dict[str, Any]]:
    """Every job not yet acked (ready or in flight), oldest first; read-only."""
    path = os.path.join(queue_path(data_dir), DB_FILE)
    if not os.path.exists(path):
        return
    # Read-only: a corrupt file raises here (never passes for an empty queue); the
    # next hook or drain moves it aside.
    conn = _open(path)
    try:
        for (blob,) in conn.execute(f"SELECT data FROM {_TABLE} WHERE status <= {_STATUS_UNACK} ORDER BY _id"):
            yield _pickle_loads(blob)
    finally:
        conn.close()


def move_jobs(source_dir: str, target_dir: str) -> int:
    """Move every job not yet acked from the queue in ``source_dir`` to the one in
    ``target_dir``; returns how many. Each job is added to the target before it is
    deleted from the source, so a crash in between duplicates, never loses.

    Used when a hook could not read the settings and queued in the default folder
    while the *Data folder* setting points elsewhere.
    """
    if os.path.abspath(source_dir) == os.path.abspath(target_dir):
        return 0
    if not os.path.exists(os.path.join(queue_path(source_dir), DB_FILE)):
        return 0
    conn = _connect(source_dir)
    try:
        rows = conn.execute(f"SELECT _id, data FROM {_TABLE} WHERE status <= {_STATUS_UNACK} ORDER BY _id").fetchall()
        for row_id, blob in rows:
            enqueue(target_dir, _pickle_loads(blob))
            conn.execute(f"DELETE FROM {_TABLE} WHERE _id = ?", (row_id,))
    finally:
        conn.close()
    return len(rows)


def _import_persistqueue() -> tuple[Any, type[Exception]]:
    """persist-queue's ``SQLiteAckQueue`` class and ``Empty`` exception.

    Its package tries to load its asyncio queues first (``asyncio`` alone takes 35-60 ms
    of every task's start, and without ``aiofiles`` they fail anyway); PlexSync uses
    none, so they are marked absent and the package's own ``ImportError`` path skips them.
    """
    for name in ("persistqueue.async_queue", "persistqueue.async_sqlqueue"):
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]  # None: "not importable"
    from persistqueue import SQLiteAckQueue
    from persistqueue.exceptions import Empty

    return SQLiteAckQueue, Empty


class JobQueue:
    """The drain's view of the queue. Open it only while holding the drain lock.

    ``resume_unacked=True`` returns jobs a killed drain left in flight to the queue,
    which is safe only when no other drain is running (the lock guarantees it).
    """

    def __init__(self, data_dir: str, *, resume_unacked: bool = False) -> None:
        ack_queue, self._empty = _import_persistqueue()  # heavy: kept off the hook's path

        _connect(data_dir).close()  # WAL + table, with the retry above
        self.data_dir = data_dir
        self._queue = ack_queue(queue_path(data_dir), auto_resume=resume_unacked, timeout=SQLITE_LOCK_TIMEOUT_SECONDS)
        # The drain's own commits (take, ack, requeue) skip the fsync: in WAL mode a
        # killed drain still loses nothing, and a power cut can only take back its last
        # commits, in order: a job may run twice, never vanish.
        # A hook's insert stays fully synchronous: that is the edit Stash was told is queued.
        self._queue._conn.execute("PRAGMA synchronous=NORMAL")
        # persist-queue takes the next job with "status < unack ORDER BY _id": without
        # an index that walks every acked row first, so a 10,000-job drain spent ~9 s
        # (quadratic) finding jobs; with it, 0.7 s. Only rows of ready jobs are indexed.
        self._queue._conn.execute(_READY_INDEX)

    def put(self, job: dict[str, Any]) -> None:
        """Append ``job``."""
        self._queue.put(job)

    def get(self) -> dict[str, Any] | None:
        """Take the oldest ready job (now in flight), or ``None`` when none is ready."""
        try:
            return self._queue.get(block=False)
        except self._empty:
            return None

    def ack(self, job: dict[str, Any]) -> None:
        """Forget ``job`` (the object :meth:`get` returned): it is done."""
        self._queue.ack(job)

    def nack(self, job: dict[str, Any]) -> None:
        """Return ``job`` (the object :meth:`get` returned) to the queue unchanged."""
        self._queue.nack(job)

    def ready_count(self) -> int:
        """Jobs waiting to be taken (including those whose retry time has not come)."""
        # Counted in the file, not persist-queue's in-memory total, which misses the
        # rows hooks inserted through :func:`enqueue` since this queue was opened.
        conn = _connect(self.data_dir)
        try:
            return int(conn.execute(f"SELECT COUNT(*) FROM {_TABLE} WHERE status < {_STATUS_UNACK}").fetchone()[0])
        finally:
            conn.close()

    def peek_ready(self, limit: int) -> list[dict[str, Any]]:
        """The next ``limit`` jobs :meth:`get` would take (due or not), without taking them."""
        conn = _connect(self.data_dir)
        try:
            rows = conn.execute(f"SELECT data FROM {_TABLE} WHERE status < {_STATUS_UNACK} ORDER BY _id LIMIT ?",
                                (int(limit),)).fetchall()
        finally:
            conn.close()
        return [_pickle_loads(blob) for (blob,) in rows]

    def compact(self) -> None:
        """Delete acked rows so the file does not grow forever."""
        self._queue.clear_acked_data(max_delete=None, keep_latest=None)

    def close(self) -> None:
        """Close the SQLite connections."""
        self._queue.close()
        # persist-queue's __del__ closes them again, from whatever thread the garbage
        # collector runs in, which sqlite3 refuses noisily; closed is closed.
        self._queue._getter = self._queue._putter = None
