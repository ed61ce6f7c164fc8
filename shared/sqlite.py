"""SQLite conventions shared by PlexSync's stores (DLQ, path index, sync state)."""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from typing import Iterator

LOCK_TIMEOUT = 30.0


def connect(path: str, schema: str) -> sqlite3.Connection:
    """Open ``path`` in autocommit mode with WAL (readers never block the writer) and
    a generous lock wait (several plugin processes share the files); apply ``schema``."""
    conn = sqlite3.connect(path, timeout=LOCK_TIMEOUT, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(schema)
    return conn


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
