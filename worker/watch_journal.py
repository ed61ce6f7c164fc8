"""The watch-state journal: what the plugin carried between Plex and Stash, in
``<data dir>/watch_journal.db``.

It is what stops a play being added twice, so it is a store of record, not a cache: a
corrupt file is moved aside and named in an error line (like the DLQ), never silently
rebuilt, and every method commits before it returns. It holds:

* per Plex account, the **history cursor**: the last ``viewedAt`` fully processed and the
  history ids seen at that very second, so a page boundary inside one second neither
  skips nor repeats an entry (:class:`HistoryCursor`; read with ``viewedAt >= second``);
* the **Stash cursor**: the last ``last_played_at`` processed (Stash has one user);
* plays carried **Plex → Stash** (account, history id → scene, time; and the plays
  added for scenes finished in Plex with no history entry) and **Stash → Plex**
  (scene, Stash time, account → the history id our scrobble made, when sent);
* per scene and account, the :class:`~plex.watch_plan.WatchSnapshot`;
* per account, the **push baseline**: Stash plays at or before it predate 'Send Stash
  plays to Plex' and are not sent;
* **scrobble intents**, written before each Plex scrobble. A SIGKILL between Plex's write
  and :meth:`WatchJournal.scrobble_sent` leaves the intent open; it counts as sent (never
  twice), and the next pass resolves it from the item's Plex history since the intent
  (:meth:`WatchJournal.resolve_intent`): an entry found → sent, and that entry is ours
  (never carried back); none → the scrobble never happened, the intent is dropped and
  the play is sent again.

A fresh journal (new, or replacing a corrupt one) knows no plays: :attr:`fresh` tells
the caller, which sets the push baseline (so old Stash plays are not all scrobbled) and
pulls Plex history from the start (Plex → Stash is idempotent by Stash's own state).
No Plex token is ever stored here; only ids, times and rating keys.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Iterable

from plex.watch_plan import Carried, PlexPlay, WatchSnapshot
from shared.defaults import WATCH_INTENT_CLOCK_SLACK_SECONDS
from shared.sqlite import open_store, transaction

DB_FILE = "watch_journal.db"
_SCHEMA = """
PRAGMA synchronous=FULL;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS plex_cursors (
    account_id INTEGER PRIMARY KEY, viewed_at INTEGER NOT NULL, ids_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS stash_cursor (
    one INTEGER PRIMARY KEY CHECK (one = 1), last_played_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS push_baselines (account_id INTEGER PRIMARY KEY, since INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS from_plex (
    account_id INTEGER NOT NULL, history_id INTEGER NOT NULL, scene_id INTEGER NOT NULL,
    played_at INTEGER NOT NULL, carried_at REAL NOT NULL, PRIMARY KEY (account_id, history_id));
CREATE INDEX IF NOT EXISTS from_plex_scene ON from_plex (scene_id);
CREATE TABLE IF NOT EXISTS finished (
    account_id INTEGER NOT NULL, scene_id INTEGER NOT NULL, played_at INTEGER NOT NULL,
    PRIMARY KEY (scene_id, played_at, account_id));
CREATE TABLE IF NOT EXISTS to_plex (
    scene_id INTEGER NOT NULL, played_at INTEGER NOT NULL, account_id INTEGER NOT NULL,
    rating_key TEXT NOT NULL, history_id INTEGER, sent_at REAL NOT NULL,
    PRIMARY KEY (scene_id, played_at, account_id));
CREATE INDEX IF NOT EXISTS to_plex_history ON to_plex (account_id, history_id);
CREATE TABLE IF NOT EXISTS intents (
    scene_id INTEGER NOT NULL, played_at INTEGER NOT NULL, account_id INTEGER NOT NULL,
    rating_key TEXT NOT NULL, started_at INTEGER NOT NULL, PRIMARY KEY (scene_id, played_at, account_id));
CREATE TABLE IF NOT EXISTS snapshots (
    scene_id INTEGER NOT NULL, account_id INTEGER NOT NULL, snapshot TEXT NOT NULL,
    PRIMARY KEY (scene_id, account_id));
"""


@dataclass(frozen=True)
class HistoryCursor:
    """How far an account's Plex history has been carried: every entry before
    ``viewed_at`` and those of ``ids_at`` at that second. Pure."""

    viewed_at: int | None = None
    ids_at: frozenset[int] = frozenset()

    def is_new(self, play: PlexPlay) -> bool:
        """Whether ``play`` has not been processed yet."""
        if self.viewed_at is None or play.viewed_at > self.viewed_at:
            return True
        return play.viewed_at == self.viewed_at and play.history_id not in self.ids_at

    def after(self, plays: Iterable[PlexPlay]) -> HistoryCursor:
        """The cursor once ``plays`` (all of history up to their newest second, in any
        order) have been processed."""
        cursor = self
        for play in plays:
            if cursor.viewed_at is None or play.viewed_at > cursor.viewed_at:
                cursor = HistoryCursor(play.viewed_at, frozenset({play.history_id}))
            elif play.viewed_at == cursor.viewed_at:
                cursor = HistoryCursor(cursor.viewed_at, cursor.ids_at | {play.history_id})
        return cursor


@dataclass(frozen=True)
class ScrobbleIntent:
    """A scrobble about to be (or maybe) made: Stash's play ``played_at`` of ``scene_id``
    sent to Plex item ``rating_key`` for ``account_id``, from ``started_at``."""

    scene_id: int
    played_at: int
    account_id: int
    rating_key: str
    started_at: int


class WatchJournal:
    """The journal in ``<data dir>/watch_journal.db`` (see the module docstring)."""

    def __init__(self, data_dir: str) -> None:
        os.makedirs(data_dir, mode=0o700, exist_ok=True)
        self.path = os.path.join(data_dir, DB_FILE)
        self._conn = open_store(self.path, _SCHEMA, what="watch-state journal (watch_journal.db)",
                                rebuildable=False)
        cur = self._conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('created_at', ?)",
                                 (str(int(time.time())),))
        #: True when this journal knows nothing yet (a new file, or one replacing a corrupt file).
        self.fresh = cur.rowcount == 1

    # -- cursors -------------------------------------------------------------------------------

    def plex_cursor(self, account_id: int) -> HistoryCursor:
        """How far ``account_id``'s Plex history has been carried."""
        row = self._conn.execute("SELECT viewed_at, ids_at FROM plex_cursors WHERE account_id = ?",
                                 (account_id,)).fetchone()
        return HistoryCursor() if row is None else HistoryCursor(row[0], frozenset(json.loads(row[1])))

    def advance_plex_cursor(self, account_id: int, cursor: HistoryCursor) -> None:
        """Record that ``account_id``'s history up to ``cursor`` is carried (never moves back)."""
        if cursor.viewed_at is None:
            return
        with transaction(self._conn):
            old = self.plex_cursor(account_id)
            if old.viewed_at is not None and old.viewed_at > cursor.viewed_at:
                return
            ids = cursor.ids_at | (old.ids_at if old.viewed_at == cursor.viewed_at else frozenset())
            self._conn.execute("INSERT OR REPLACE INTO plex_cursors (account_id, viewed_at, ids_at) VALUES (?, ?, ?)",
                               (account_id, cursor.viewed_at, json.dumps(sorted(ids))))

    def stash_cursor(self) -> int | None:
        """The last Stash ``last_played_at`` processed, or ``None``."""
        row = self._conn.execute("SELECT last_played_at FROM stash_cursor").fetchone()
        return None if row is None else int(row[0])

    def advance_stash_cursor(self, last_played_at: int) -> None:
        """Record that Stash plays up to ``last_played_at`` are processed (never moves back)."""
        self._conn.execute(
            "INSERT INTO stash_cursor (one, last_played_at) VALUES (1, ?) ON CONFLICT (one) DO UPDATE"
            " SET last_played_at = MAX(last_played_at, excluded.last_played_at)", (int(last_played_at),))

    def push_baseline(self, account_id: int) -> int | None:
        """Stash plays at or before this are not sent to ``account_id``; ``None`` when unset."""
        row = self._conn.execute("SELECT since FROM push_baselines WHERE account_id = ?", (account_id,)).fetchone()
        return None if row is None else int(row[0])

    def start_push(self, account_id: int, since: int) -> int:
        """Set the push baseline for ``account_id`` unless already set; returns the one in force."""
        self._conn.execute("INSERT OR IGNORE INTO push_baselines (account_id, since) VALUES (?, ?)",
                           (account_id, int(since)))
        baseline = self.push_baseline(account_id)
        assert baseline is not None
        return baseline

    # -- plays ---------------------------------------------------------------------------------

    def record_carried(self, account_id: int, scene_id: int, plays: Iterable[PlexPlay]) -> None:
        """Record Plex plays as now in Stash for ``scene_id`` (again is a no-op)."""
        now = time.time()
        with transaction(self._conn):
            self._conn.executemany(
                "INSERT OR IGNORE INTO from_plex (account_id, history_id, scene_id, played_at, carried_at)"
                " VALUES (?, ?, ?, ?, ?)",
                [(account_id, p.history_id, scene_id, p.viewed_at, now) for p in plays])

    def record_finished(self, account_id: int, scene_id: int, played_at: int) -> None:
        """Record a Stash play added for a scene finished in Plex without a history entry."""
        self._conn.execute("INSERT OR IGNORE INTO finished (account_id, scene_id, played_at) VALUES (?, ?, ?)",
                           (account_id, scene_id, int(played_at)))

    def carried(self, account_id: int, scene_id: int) -> Carried:
        """What the journal knows about ``scene_id``'s plays, for ``plan_watch``."""
        from_plex = self._column("SELECT played_at FROM from_plex WHERE scene_id = ?"
                                 " UNION SELECT played_at FROM finished WHERE scene_id = ?", (scene_id, scene_id))
        sent = self._column("SELECT played_at FROM to_plex WHERE scene_id = ? AND account_id = ?"
                            " UNION SELECT played_at FROM intents WHERE scene_id = ? AND account_id = ?",
                            (scene_id, account_id, scene_id, account_id))
        own = self._column("SELECT history_id FROM to_plex WHERE scene_id = ? AND account_id = ?"
                           " AND history_id IS NOT NULL", (scene_id, account_id))
        return Carried(frozenset(from_plex), frozenset(sent), frozenset(own), self.push_baseline(account_id))

    def is_own_scrobble(self, account_id: int, history_id: int) -> bool:
        """Whether Plex history entry ``history_id`` was made by our scrobble (for entries of
        items not matched to a scene yet)."""
        return self._conn.execute("SELECT 1 FROM to_plex WHERE account_id = ? AND history_id = ?",
                                  (account_id, history_id)).fetchone() is not None

    # -- scrobbles -----------------------------------------------------------------------------

    def begin_scrobble(self, account_id: int, scene_id: int, played_at: int, rating_key: str,
                       now: int) -> ScrobbleIntent:
        """Record the intent to scrobble; call it (it commits) before Plex's write."""
        intent = ScrobbleIntent(scene_id, int(played_at), account_id, str(rating_key), int(now))
        self._conn.execute(
            "INSERT OR REPLACE INTO intents (scene_id, played_at, account_id, rating_key, started_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (intent.scene_id, intent.played_at, intent.account_id, intent.rating_key, intent.started_at))
        return intent

    def scrobble_sent(self, intent: ScrobbleIntent, history_id: int | None) -> None:
        """Record the scrobble as made (with the history entry it created, when known)."""
        with transaction(self._conn):
            self._conn.execute(
                "INSERT OR REPLACE INTO to_plex (scene_id, played_at, account_id, rating_key, history_id, sent_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (intent.scene_id, intent.played_at, intent.account_id, intent.rating_key, history_id, time.time()))
            self._delete_intent(intent)

    def drop_intent(self, intent: ScrobbleIntent) -> None:
        """Forget an intent whose scrobble never reached Plex (the play will be sent again)."""
        with transaction(self._conn):
            self._delete_intent(intent)

    def open_intents(self, account_id: int | None = None) -> list[ScrobbleIntent]:
        """Intents a killed pass left (of one account, if given), oldest first."""
        where, args = ("WHERE account_id = ?", (account_id,)) if account_id is not None else ("", ())
        rows = self._conn.execute(
            f"SELECT scene_id, played_at, account_id, rating_key, started_at FROM intents {where}"
            " ORDER BY started_at, scene_id, played_at", args).fetchall()
        return [ScrobbleIntent(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    def resolve_intent(self, intent: ScrobbleIntent, item_history: Iterable[PlexPlay]) -> bool:
        """Settle an open intent from the Plex item's history for the intent's account since
        ``intent.started_at - WATCH_INTENT_CLOCK_SLACK_SECONDS`` (the caller reads it): an
        entry not already ours nor carried means the scrobble happened (recorded as sent,
        the entry as ours); none means it did not (dropped). Returns whether it happened."""
        entry = pick_scrobble_entry(intent, [p for p in item_history if not self._known(intent.account_id, p)])
        if entry is None:
            self.drop_intent(intent)
            return False
        self.scrobble_sent(intent, entry.history_id)
        return True

    # -- snapshots -----------------------------------------------------------------------------

    def snapshot(self, account_id: int, scene_id: int) -> WatchSnapshot | None:
        """The last values seen or written for ``scene_id``, or ``None``."""
        row = self._conn.execute("SELECT snapshot FROM snapshots WHERE scene_id = ? AND account_id = ?",
                                 (scene_id, account_id)).fetchone()
        return None if row is None else _snapshot_from_json(row[0])

    def record_snapshot(self, account_id: int, scene_id: int, snapshot: WatchSnapshot) -> None:
        """Keep ``snapshot`` as the last values seen or written for ``scene_id``."""
        self._conn.execute("INSERT OR REPLACE INTO snapshots (scene_id, account_id, snapshot) VALUES (?, ?, ?)",
                           (scene_id, account_id, _snapshot_to_json(snapshot)))

    def close(self) -> None:
        """Close the database."""
        self._conn.close()

    # -- helpers -------------------------------------------------------------------------------

    def _column(self, sql: str, args: tuple[object, ...]) -> list[int]:
        return [int(r[0]) for r in self._conn.execute(sql, args).fetchall()]

    def _known(self, account_id: int, play: PlexPlay) -> bool:
        return self.is_own_scrobble(account_id, play.history_id) or self._conn.execute(
            "SELECT 1 FROM from_plex WHERE account_id = ? AND history_id = ?",
            (account_id, play.history_id)).fetchone() is not None

    def _delete_intent(self, intent: ScrobbleIntent) -> None:
        self._conn.execute("DELETE FROM intents WHERE scene_id = ? AND played_at = ? AND account_id = ?",
                           (intent.scene_id, intent.played_at, intent.account_id))


def pick_scrobble_entry(intent: ScrobbleIntent, unknown_entries: Iterable[PlexPlay]) -> PlexPlay | None:
    """The history entry an intent's scrobble made, among entries of its item not yet
    known: the one nearest the intent's time within the clock slack (Plex stamps
    ``viewedAt`` with its own clock). Pure."""
    earliest = intent.started_at - WATCH_INTENT_CLOCK_SLACK_SECONDS
    candidates = [p for p in unknown_entries if p.viewed_at >= earliest]
    if not candidates:
        return None
    return min(candidates, key=lambda p: (abs(p.viewed_at - intent.started_at), p.history_id))


def _snapshot_to_json(snapshot: WatchSnapshot) -> str:
    return json.dumps({"resume": snapshot.resume, "rating": snapshot.rating,
                       "stash_rating_changed_at": snapshot.stash_rating_changed_at})


def _snapshot_from_json(text: str) -> WatchSnapshot:
    data = json.loads(text)
    resume = data.get("resume")
    rating = data.get("rating")
    return WatchSnapshot(
        resume=None if resume is None else (float(resume[0]), int(resume[1])),
        rating=None if rating is None else (rating[0], rating[1]),
        stash_rating_changed_at=data.get("stash_rating_changed_at"),
    )
