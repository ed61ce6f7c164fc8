"""A cache of which Plex item holds which file, in ``<data dir>/plex_index.db``.

Filled from full section listings (reconcile, large drains) and from single
``file=`` look-ups, so a scene synced once is found again with no request. An entry
is a hint, never trusted blindly: the writer checks the loaded item really holds
the file and forgets stale entries. The settings that shape keys (libraries, case)
are stored with it; when they change the cache is dropped.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

from plex.item_state import ListedItem
from plex.media_types import MOVIE, section_type_of
from plex.paths import basename, normalize
from shared.sqlite import open_store, transaction

if TYPE_CHECKING:
    from plex.settings import LibrarySettings

DB_FILE = "plex_index.db"
#: Bumped whenever the tables change: an index of another version is rebuilt (it is a cache).
SCHEMA_VERSION = 4
_TABLES = ("parts", "sections", "meta")
#: The columns an :class:`IndexedPart` is read from, in its field order.
_COLUMNS = "path, rating_key, section_id, size, duration, section_type, media_type"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS parts (
    path_key TEXT NOT NULL, name_key TEXT NOT NULL, path TEXT NOT NULL,
    rating_key TEXT NOT NULL, section_id TEXT NOT NULL, size INTEGER, duration INTEGER,
    section_type TEXT NOT NULL, media_type TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS parts_path ON parts (path_key);
CREATE INDEX IF NOT EXISTS parts_name ON parts (name_key);
CREATE INDEX IF NOT EXISTS parts_key ON parts (rating_key);
CREATE TABLE IF NOT EXISTS sections (section_id TEXT PRIMARY KEY, built_at REAL NOT NULL, items INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def index_signature(config: LibrarySettings) -> str:
    """What the index's entries depend on besides case: the chosen libraries. Every
    user of the index must pass this (a different one wipes the others' entries)."""
    return "libraries=" + ",".join(sorted(n.casefold() for n in config.plex_libraries))


@dataclass(frozen=True)
class IndexedPart:
    """One file of one Plex item."""

    path: str
    rating_key: str
    section_id: str
    #: Bytes and milliseconds as Plex reports them (``None``: unknown).
    size: int | None = None
    duration: int | None = None
    #: The type of the section the item lives in (``movie``, ``show``), from its media type.
    section_type: str = MOVIE.section_type
    #: Plex's type name for the item (``movie``, ``episode``): the fields a sync may write.
    media_type: str = MOVIE.name


class PathIndex:
    """File path → Plex item, for the configured sections."""

    def __init__(self, data_dir: str, *, case_insensitive: bool, signature: str) -> None:
        self.case_insensitive = case_insensitive
        self._conn = open_store(os.path.join(data_dir, DB_FILE), _SCHEMA, what="Plex path index (plex_index.db)",
                                rebuildable=True)
        self._upgrade()
        # Keys depend on the case setting, entries on the chosen libraries.
        signature = f"{signature}|case={case_insensitive}"
        row = self._conn.execute("SELECT value FROM meta WHERE name = 'signature'").fetchone()
        if row is None or row[0] != signature:
            with transaction(self._conn):
                self._conn.execute("DELETE FROM parts")
                self._conn.execute("DELETE FROM sections")
                self._conn.execute("INSERT OR REPLACE INTO meta VALUES ('signature', ?)", (signature,))

    def _upgrade(self) -> None:
        """An index written by another version is dropped and recreated empty (a cache)."""
        if self._conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
            return
        with transaction(self._conn):
            for table in _TABLES:
                self._conn.execute(f"DROP TABLE IF EXISTS {table}")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._conn.execute(statement)
            self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _path_key(self, path: str) -> str:
        return normalize(path, case_insensitive=self.case_insensitive)

    def _name_key(self, path: str) -> str:
        name = basename(path)
        return name.casefold() if self.case_insensitive else name

    def lookup(self, path: str) -> list[IndexedPart]:
        """Parts stored under exactly this path."""
        rows = self._conn.execute(f"SELECT {_COLUMNS} FROM parts WHERE path_key = ?",
                                  (self._path_key(path),))
        return [IndexedPart(*r) for r in rows.fetchall()]

    def by_name(self, path: str) -> list[IndexedPart]:
        """Parts whose file name equals ``path``'s."""
        rows = self._conn.execute(f"SELECT {_COLUMNS} FROM parts WHERE name_key = ?",
                                  (self._name_key(path),))
        return [IndexedPart(*r) for r in rows.fetchall()]

    def add(self, items: Iterable[ListedItem]) -> None:
        """Remember what a look-up found."""
        with transaction(self._conn):
            for item in items:
                self._conn.execute("DELETE FROM parts WHERE rating_key = ?", (item.rating_key,))
                self._insert(item)

    def forget(self, rating_key: str) -> None:
        """Drop an item the index was wrong about."""
        self._conn.execute("DELETE FROM parts WHERE rating_key = ?", (rating_key,))

    def replace_section(self, section_id: str, items: Iterable[ListedItem]) -> int:
        """Store a full listing of a section, replacing what we knew of it; returns the item count."""
        count = 0
        with transaction(self._conn):
            self._conn.execute("DELETE FROM parts WHERE section_id = ?", (section_id,))
            for item in items:
                self._insert(item)
                count += 1
            self._conn.execute("INSERT OR REPLACE INTO sections VALUES (?, ?, ?)", (section_id, time.time(), count))
        return count

    def complete_since(self, section_id: str) -> float | None:
        """When the section was last listed in full, or ``None``."""
        row = self._conn.execute("SELECT built_at FROM sections WHERE section_id = ?", (section_id,)).fetchone()
        return float(row[0]) if row else None

    def close(self) -> None:
        """Close the database."""
        self._conn.close()

    def _insert(self, item: ListedItem) -> None:
        self._conn.executemany(
            "INSERT INTO parts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(self._path_key(p), self._name_key(p), p, item.rating_key, item.section_id,
              _at(item.sizes, i), _at(item.durations, i), section_type_of(item.media_type, MOVIE.section_type),
              item.media_type)
             for i, p in enumerate(item.files) if p],
        )



def _at(values: tuple[int | None, ...], i: int) -> int | None:
    return values[i] if i < len(values) else None
