"""SQLite conventions shared by PlexSync's stores (DLQ, path index, sync state)."""

from __future__ import annotations

import os
import sqlite3
from contextlib import contextmanager
from typing import Iterator

from shared.defaults import SQLITE_LOCK_TIMEOUT_SECONDS
from shared.sqlite_files import open_or_quarantine, private_file


def connect(path: str, schema: str, *, durable: bool = True) -> sqlite3.Connection:
    """Open ``path`` in autocommit mode with WAL (readers never block the writer) and
    a generous lock wait (several plugin processes share the files); apply ``schema``.

    ``durable=False`` (caches): commits skip the fsync (``synchronous=NORMAL``). In WAL
    mode that still survives a killed process; only a power cut may take back the last
    commits, in order — for a cache, a little work redone.

    Raises ``sqlite3.DatabaseError`` (connection closed) when the file is corrupt."""
    conn = sqlite3.connect(path, timeout=SQLITE_LOCK_TIMEOUT_SECONDS, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        if not durable:
            conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(schema)
    except BaseException:
        conn.close()
        raise
    private_file(path)
    return conn


def open_store(path: str, schema: str, *, what: str, rebuildable: bool) -> sqlite3.Connection:
    """:func:`connect`, moving a corrupt file aside first (``shared.sqlite_files``):
    a ``rebuildable`` cache starts empty with a warning; a store of work (the DLQ) is
    kept aside, named in one error line, and a recovery reconcile is requested. Only a
    store of work is ``durable`` (fsync per commit)."""
    return open_or_quarantine(lambda: connect(path, schema, durable=not rebuildable), path,
                              data_dir=os.path.dirname(path) or ".", what=what, rebuildable=rebuildable)


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on any exception."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
