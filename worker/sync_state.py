"""What PlexSync last wrote for each scene, in ``<data dir>/sync_state.db``.

Per scene: the Plex item, a fingerprint of the metadata written, the poster's
hash and the collections we own. It lets an unchanged scene cost no Plex request,
a cover be uploaded only when it changed, and a reconcile compare 100,000 scenes
without asking Plex about each.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Mapping, Protocol

from shared.sqlite import open_store

DB_FILE = "sync_state.db"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS scenes (
    scene_id INTEGER PRIMARY KEY, rating_key TEXT NOT NULL, fingerprint TEXT NOT NULL,
    poster_sha TEXT, owned TEXT NOT NULL DEFAULT '{}', synced_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS scenes_rating_key ON scenes (rating_key);
CREATE TABLE IF NOT EXISTS scans (folder_key TEXT PRIMARY KEY, scanned_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS misses (
    scene_id INTEGER PRIMARY KEY, token TEXT NOT NULL, message TEXT NOT NULL, missed_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS shows (
    rating_key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, poster_sha TEXT, filled_at REAL NOT NULL);
"""

_COLUMNS = "scene_id, rating_key, fingerprint, poster_sha, owned, synced_at"


@dataclass(frozen=True)
class SyncRecord:
    """The last successful sync of one scene."""

    scene_id: int
    rating_key: str
    fingerprint: str
    poster_sha: str | None = None
    owned: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    synced_at: float = 0.0


class SyncRecords(Protocol):
    """What a sync reads and records: :class:`SyncState`, or the dry run's read-only view."""

    def get(self, scene_id: int) -> SyncRecord | None: ...
    def put(self, record: SyncRecord) -> None: ...
    def taken_by_other(self, scene_id: int) -> Callable[[str], bool]: ...
    def forget(self, scene_id: int) -> None: ...
    def scanned_within(self, folder_key: str, seconds: float) -> bool: ...
    def record_scan(self, folder_key: str) -> None: ...
    def last_miss(self, scene_id: int) -> tuple[str, str] | None: ...
    def record_miss(self, scene_id: int, token: str, message: str) -> None: ...
    def clear_miss(self, scene_id: int) -> None: ...
    def close(self) -> None: ...


class SyncState:
    """Read and record successful syncs."""

    def __init__(self, data_dir: str) -> None:
        # A cache: lost, it costs one full re-write of each scene's metadata (and
        # cover) on its next sync, never a wrong item, since every write re-checks the
        # item's file path.
        self._conn = open_store(os.path.join(data_dir, DB_FILE), _SCHEMA, what="sync state (sync_state.db)",
                                rebuildable=True)

    def get(self, scene_id: int) -> SyncRecord | None:
        """The scene's last sync, or ``None``."""
        row = self._conn.execute(f"SELECT {_COLUMNS} FROM scenes WHERE scene_id = ?", (int(scene_id),)).fetchone()
        return _record(row) if row else None

    def put(self, record: SyncRecord) -> None:
        """Store (replace) a scene's record."""
        self._conn.execute(
            f"INSERT OR REPLACE INTO scenes ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
            (int(record.scene_id), record.rating_key, record.fingerprint, record.poster_sha,
             json.dumps({k: list(v) for k, v in record.owned.items()}, ensure_ascii=False),
             record.synced_at or time.time()),
        )

    def show(self, rating_key: str) -> tuple[str, str | None] | None:
        """(fingerprint, poster hash) of what the last fill of a TV show wrote, or ``None``."""
        row = self._conn.execute("SELECT fingerprint, poster_sha FROM shows WHERE rating_key = ?",
                                 (str(rating_key),)).fetchone()
        return (row[0], row[1]) if row else None

    def put_show(self, rating_key: str, fingerprint: str, poster_sha: str | None) -> None:
        """Record a fill of a TV show from its studio."""
        self._conn.execute("INSERT OR REPLACE INTO shows VALUES (?, ?, ?, ?)",
                           (str(rating_key), fingerprint, poster_sha, time.time()))

    def owner(self, rating_key: str) -> int | None:
        """The scene whose metadata PlexSync last wrote to this Plex item, if any."""
        row = self._conn.execute("SELECT scene_id FROM scenes WHERE rating_key = ? LIMIT 1",
                                 (str(rating_key),)).fetchone()
        return int(row[0]) if row else None

    def taken_by_other(self, scene_id: int) -> Callable[[str], bool]:
        """A predicate: does a Plex item already belong to a scene other than ``scene_id``?"""
        def taken(rating_key: str) -> bool:
            owner = self.owner(rating_key)
            return owner is not None and owner != int(scene_id)
        return taken

    def forget(self, scene_id: int) -> None:
        """Drop a scene's record (its next sync writes in full)."""
        self._conn.execute("DELETE FROM scenes WHERE scene_id = ?", (int(scene_id),))
        self.clear_miss(scene_id)

    # -- Plex lacks the file: scans asked and look-ups that found nothing --------------------

    def scanned_within(self, folder_key: str, seconds: float) -> bool:
        """Whether PlexSync asked Plex to scan this folder in the last ``seconds``."""
        row = self._conn.execute("SELECT scanned_at FROM scans WHERE folder_key = ?", (folder_key,)).fetchone()
        return row is not None and time.time() - float(row[0]) < seconds

    def record_scan(self, folder_key: str) -> None:
        """Remember that a scan of this folder was asked for now."""
        self._conn.execute("INSERT OR REPLACE INTO scans VALUES (?, ?)", (folder_key, time.time()))

    def last_miss(self, scene_id: int) -> tuple[str, str] | None:
        """(token, message) of the scene's last look-up that found nothing, or ``None``."""
        row = self._conn.execute("SELECT token, message FROM misses WHERE scene_id = ?", (int(scene_id),)).fetchone()
        return (row[0], row[1]) if row else None

    def record_miss(self, scene_id: int, token: str, message: str) -> None:
        """Remember that looking for the scene found nothing while Plex was in state ``token``."""
        self._conn.execute("INSERT OR REPLACE INTO misses VALUES (?, ?, ?, ?)",
                           (int(scene_id), token, message, time.time()))

    def clear_miss(self, scene_id: int) -> None:
        """The scene was found (or is gone): forget its miss."""
        self._conn.execute("DELETE FROM misses WHERE scene_id = ?", (int(scene_id),))

    def all(self) -> Iterator[SyncRecord]:
        """Every record (for reconcile)."""
        for row in self._conn.execute(f"SELECT {_COLUMNS} FROM scenes"):
            yield _record(row)

    def close(self) -> None:
        """Close the database."""
        self._conn.close()


def _record(row: tuple) -> SyncRecord:
    owned = {k: tuple(v) for k, v in json.loads(row[4] or "{}").items()}
    return SyncRecord(int(row[0]), row[1], row[2], row[3], owned, float(row[5]))
