"""The dead-letter queue: jobs that ran out of retries, kept with why they failed.

Its own SQLite file (``<data dir>/dlq.db``), one entry per job key (kind + scene, see
``worker.jobs``): a job that fails again replaces its key's older entry, so the DLQ
counts problems, not attempts, and two kinds for one scene keep an entry each. Verbs
match the other stores: add, count, list, requeue, purge, clear.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Any, Iterable, Protocol

from shared.log import redact
from shared.sqlite import open_store, transaction
from worker.jobs import key_of, without_retry_state

DB_FILE = "dlq.db"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_key TEXT NOT NULL,
    scene_id INTEGER,
    job TEXT NOT NULL,
    error_type TEXT NOT NULL,
    error_message TEXT NOT NULL,
    failed_at REAL NOT NULL,
    retry_count INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS dead_letters_failed_at ON dead_letters (failed_at);
CREATE INDEX IF NOT EXISTS dead_letters_job_key ON dead_letters (job_key);
"""
_MAX_MESSAGE = 2000


class Putter(Protocol):
    """Anything jobs can be put into (the job queue)."""

    def put(self, job: dict[str, Any]) -> Any: ...


@dataclass(frozen=True)
class DeadLetter:
    """One failed job and why."""

    id: int
    job: dict[str, Any]
    error_type: str
    error_message: str
    failed_at: float
    retry_count: int

    @property
    def scene_id(self) -> int | None:
        """The scene the job was for."""
        return self.job.get("scene_id")


class DeadLetterQueue:
    """Failed jobs in ``<data dir>/dlq.db``."""

    def __init__(self, data_dir: str) -> None:
        os.makedirs(data_dir, mode=0o700, exist_ok=True)
        self.path = os.path.join(data_dir, DB_FILE)
        self._conn = open_store(self.path, _SCHEMA, what="dead-letter queue (dlq.db)", rebuildable=False)

    def add(self, job: dict[str, Any], error: BaseException | str, error_type: str | None = None) -> int:
        """Record ``job`` as failed with ``error``; replaces an older entry for the same job key."""
        kind = error_type or (type(error).__name__ if isinstance(error, BaseException) else "Error")
        message = redact(str(error))[:_MAX_MESSAGE]
        key = key_of(job)
        with transaction(self._conn):
            self._conn.execute("DELETE FROM dead_letters WHERE job_key = ?", (key,))
            cur = self._conn.execute(
                "INSERT INTO dead_letters (job_key, scene_id, job, error_type, error_message, failed_at, retry_count)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (key, job.get("scene_id"), json.dumps(job, default=str, ensure_ascii=False), kind, message,
                 time.time(), int(job.get("retry_count") or 0)),
            )
        return int(cur.lastrowid or 0)

    def count(self, error_type: str | None = None) -> int:
        """How many entries (of one error type, if given)."""
        where, args = _where(error_type=error_type)
        return self._conn.execute(f"SELECT COUNT(*) FROM dead_letters {where}", args).fetchone()[0]

    def count_by_type(self) -> dict[str, int]:
        """Entries per error type, largest first."""
        rows = self._conn.execute(
            "SELECT error_type, COUNT(*) FROM dead_letters GROUP BY error_type ORDER BY COUNT(*) DESC, error_type"
        )
        return dict(rows.fetchall())

    def list(self, limit: int = 20, offset: int = 0, error_type: str | None = None) -> list[DeadLetter]:
        """Entries newest first, paged."""
        where, args = _where(error_type=error_type)
        rows = self._conn.execute(
            f"SELECT id, job, error_type, error_message, failed_at, retry_count FROM dead_letters {where}"
            " ORDER BY failed_at DESC, id DESC LIMIT ? OFFSET ?",
            (*args, limit, offset),
        )
        return [DeadLetter(r[0], json.loads(r[1]), r[2], r[3], r[4], r[5]) for r in rows.fetchall()]

    def find(self, key: str) -> DeadLetter | None:
        """The entry of one job key (e.g. ``scene_12``), or ``None``: at most one per key."""
        row = self._conn.execute(
            "SELECT id, job, error_type, error_message, failed_at, retry_count FROM dead_letters WHERE job_key = ?"
            " ORDER BY failed_at DESC, id DESC LIMIT 1", (key,)).fetchone()
        return DeadLetter(row[0], json.loads(row[1]), row[2], row[3], row[4], row[5]) if row else None

    def requeue(self, queue: Putter, *, ids: Iterable[int] | None = None, error_type: str | None = None) -> int:
        """Put entries back into ``queue`` with their retry state cleared; returns how many.

        Each job is put before its entry is deleted: a crash in between duplicates
        a job (harmless, the sync is idempotent) but never loses one.
        """
        where, args = _where(error_type=error_type, ids=ids)
        rows = self._conn.execute(f"SELECT id, job FROM dead_letters {where} ORDER BY id", args).fetchall()
        for entry_id, job_text in rows:
            job = without_retry_state(json.loads(job_text))
            job["requeued_at"] = time.time()
            queue.put(job)
            self._conn.execute("DELETE FROM dead_letters WHERE id = ?", (entry_id,))
        return len(rows)

    def purge(self, older_than_days: float) -> int:
        """Delete entries that failed more than ``older_than_days`` ago; returns how many."""
        cutoff = time.time() - float(older_than_days) * 86400
        return self._conn.execute("DELETE FROM dead_letters WHERE failed_at < ?", (cutoff,)).rowcount

    def clear(self) -> int:
        """Delete every entry; returns how many."""
        return self._conn.execute("DELETE FROM dead_letters").rowcount

    def close(self) -> None:
        """Close the database."""
        self._conn.close()


def _where(*, error_type: str | None = None, ids: Iterable[int] | None = None) -> tuple[str, tuple[Any, ...]]:
    clauses: list[str] = []
    args: list[object] = []
    if error_type is not None:
        clauses.append("error_type = ?")
        args.append(error_type)
    if ids is not None:
        id_list = [int(i) for i in ids]
        clauses.append(f"id IN ({','.join('?' * len(id_list)) or 'NULL'})")
        args.extend(id_list)
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", tuple(args)
