"""Watch state both ways: what to write to Stash and to Plex for one scene (pure).

Inputs are plain values the caller read (Stash's scene, Plex's item for the chosen
account, the Plex history entries not yet carried, facts from the journal,
``worker.watch_journal``) and the answer, :class:`WatchPlan`, is every write to make and
the snapshot to keep. No I/O, no clock: ``now`` is passed in.

Units (shared by every part of issue 11): times are int epoch seconds (UTC, to the
second); Stash's ``resume_time`` is seconds (float), Plex's ``viewOffset`` ms (int);
Stash's ``rating100`` is 1–100 or ``None``, Plex's ``userRating`` 0–10 or ``None``.

Rules, and the choices behind them:

* **Plex → Stash plays.** Each Plex play (history entry) of the account becomes one
  Stash play at exactly its ``viewedAt``, unless that second is already in the scene's
  ``play_history``: idempotent by Stash's own state, because ``sceneAddPlay`` is not.
  Every such entry is returned in ``carried_plays`` (added now or found already there) so
  the journal records it even after a kill between Stash's write and the journal's.
  History entries our own scrobbles created (``Carried.own_history_ids``) are never
  carried back. Two plays in one second are one play (Stash's times have that grain).
* **Finished in Plex, unplayed in Stash.** ``viewCount > 0``, an empty
  ``play_history``, no history entry for the item and nothing ever carried or sent for
  the scene: one Stash play at ``lastViewedAt`` (Plex may have plays older than its
  history, e.g. after "clear history").
* **Stash → Plex plays.** Each Stash play time not from Plex, not already sent (or with
  an open intent: never twice, see the journal) and after ``Carried.send_after`` (plays
  from before 'Send Stash plays to Plex' was turned on are history, not news) becomes one
  scrobble. Plex stamps a scrobble with the time it is made: a play cannot be back-dated.
* **Resume points and ratings** use a three-way comparison with the snapshot (what the
  plugin last saw or wrote on each side): a side whose value differs from its snapshot
  value changed; one changed side wins; both changed → the newer activity wins (Plex
  ``lastViewedAt`` / ``lastRatedAt`` vs Stash's ``max(last_played_at, updated_at)`` /
  ``updated_at``; a tie goes to Stash); no snapshot counts as both changed. Values equal
  after conversion are never a change, and after a write the snapshot holds the value
  on each side, so a rounded echo is never read back (no ping-pong).
* Resume: Stash seconds = Plex ms / 1000; Plex ms = round(seconds × 1000); "none" on
  either side is 0. Equal within :data:`~shared.defaults.WATCH_RESUME_TOLERANCE_MS`.
  A scrobble may clear Plex's offset, so whenever scrobbles are planned the Plex
  progress is written explicitly afterwards (the caller writes scrobbles first).
* Ratings: the scale of ``plex/ratings.py``, the same one the scene sync writes (Plex =
  rating100 / 10, Stash = Plex × 10; Plex 0 or none is unrated, as Stash's ``None``), so
  neither sync reads the other's write as a change. Stash wins → Plex is written (needs
  ``push``); Plex wins → Stash is written (needs ``pull``).
* Settings: Stash is written only with ``pull`` on, Plex only with ``push`` on; ratings
  only with ``ratings`` on (then both ways). When a needed write is off, that pair's
  snapshot is kept as it was, so the change still counts once the direction is on.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Final, TypeVar, Union

from plex.ratings import plex_rating_of, same_rating, stash_rating_of
from shared.defaults import WATCH_RESUME_TOLERANCE_MS


class _Unchanged(enum.Enum):
    UNCHANGED = "unchanged"

    def __repr__(self) -> str:
        return "UNCHANGED"


#: "Do not write this field" in a :class:`WatchPlan` (``None`` means "clear it").
UNCHANGED: Final = _Unchanged.UNCHANGED
T = TypeVar("T")
Maybe = Union[T, _Unchanged]


@dataclass(frozen=True)
class StashWatch:
    """A scene's watch state as Stash holds it."""

    play_history: tuple[int, ...]
    resume_time: float | None
    last_played_at: int | None
    rating100: int | None
    updated_at: int


@dataclass(frozen=True)
class PlexWatch:
    """An item's watch state for the chosen Plex account."""

    view_count: int
    view_offset_ms: int | None
    last_viewed_at: int | None
    user_rating: float | None
    last_rated_at: int | None
    duration_ms: int | None = None  # informational (reports); decisions do not need it


@dataclass(frozen=True)
class PlexPlay:
    """One Plex history entry: its id (from ``historyKey``) and ``viewedAt``."""

    history_id: int
    viewed_at: int


@dataclass(frozen=True)
class Carried:
    """What the journal knows about one scene's plays."""

    #: Stash play times that came from Plex.
    from_plex: frozenset[int] = frozenset()
    #: Stash play times already scrobbled, or with an open (unresolved) intent.
    sent_to_plex: frozenset[int] = frozenset()
    #: Plex history ids our own scrobbles created (never carried back to Stash).
    own_history_ids: frozenset[int] = frozenset()
    #: Stash plays at or before this time are not sent (``None``: send all).
    send_after: int | None = None


@dataclass(frozen=True)
class WatchSnapshot:
    """The last values the plugin saw or wrote on both sides for a scene."""

    #: (Stash resume seconds, Plex offset ms), or ``None`` when never seen.
    resume: tuple[float, int] | None = None
    #: (Stash rating100, Plex userRating), or ``None`` when never seen.
    rating: tuple[int | None, float | None] | None = None
    #: When the plugin saw Stash's rating change (Stash keeps no rating timestamp): the
    #: scene's ``updated_at`` at that sight, or ``now`` when the plugin wrote it.
    stash_rating_changed_at: int | None = None


@dataclass(frozen=True)
class WatchSettings:
    """Which directions are on ('Bring Plex plays into Stash', 'Send Stash plays to Plex')."""

    pull: bool
    push: bool
    ratings: bool


@dataclass(frozen=True)
class WatchPlan:
    """Every write for one scene, in the order to make them, and the snapshot to keep."""

    scene_id: int
    #: Times for ``sceneAddPlay`` (all came from Plex: record them as such).
    stash_add_plays: tuple[int, ...] = ()
    #: Plex history entries now in Stash (added now or already there): record as carried.
    carried_plays: tuple[PlexPlay, ...] = ()
    #: Stash play times to scrobble, one scrobble each (record an intent before each).
    plex_scrobbles: tuple[int, ...] = ()
    stash_resume: Maybe[float] = UNCHANGED
    #: Written after the scrobbles.
    plex_progress_ms: Maybe[int] = UNCHANGED
    stash_rating: Maybe[int | None] = UNCHANGED
    plex_rating: Maybe[float | None] = UNCHANGED
    next_snapshot: WatchSnapshot = field(default_factory=WatchSnapshot)

    @property
    def writes(self) -> int:
        """How many writes the plan makes (a play or a scrobble counts one each)."""
        return (len(self.stash_add_plays) + len(self.plex_scrobbles)
                + sum(v is not UNCHANGED for v in (self.stash_resume, self.plex_progress_ms,
                                                   self.stash_rating, self.plex_rating)))


# -- conversions -------------------------------------------------------------------------------


def _half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def plex_offset_of(resume_time: float | None) -> int:
    """Stash's resume seconds as Plex ms (none → 0)."""
    return max(0, round((resume_time or 0.0) * 1000))


def stash_resume_of(view_offset_ms: int | None) -> float:
    """Plex's offset ms as Stash's resume seconds (none → 0)."""
    return max(0, view_offset_ms or 0) / 1000.0


def same_resume(resume_time: float | None, view_offset_ms: int | None) -> bool:
    """Whether the two resume points are the same (within the tolerance)."""
    return abs(plex_offset_of(resume_time) - (view_offset_ms or 0)) < WATCH_RESUME_TOLERANCE_MS


# -- the decision ------------------------------------------------------------------------------


def plan_watch(scene_id: int, stash: StashWatch, plex: PlexWatch, new_plex_plays: tuple[PlexPlay, ...],
               carried: Carried, snapshot: WatchSnapshot | None, settings: WatchSettings,
               now: int) -> WatchPlan:
    """What to write for ``scene_id`` so both sides agree (see the module's rules)."""
    snapshot = snapshot or WatchSnapshot()
    adds, carried_plays = _plays_from_plex(stash, plex, new_plex_plays, carried, settings)
    scrobbles = _plays_to_plex(stash, carried, carried_plays, adds, settings)
    stash_resume, plex_progress, resume_snap = _resume(stash, plex, snapshot, settings, bool(scrobbles))
    stash_rating, plex_rating, rating_snap, rating_changed_at = _rating(stash, plex, snapshot, settings, now)
    return WatchPlan(
        scene_id=scene_id, stash_add_plays=adds, carried_plays=carried_plays, plex_scrobbles=scrobbles,
        stash_resume=stash_resume, plex_progress_ms=plex_progress, stash_rating=stash_rating,
        plex_rating=plex_rating,
        next_snapshot=WatchSnapshot(resume_snap, rating_snap, rating_changed_at),
    )


def _plays_from_plex(stash: StashWatch, plex: PlexWatch, new_plex_plays: tuple[PlexPlay, ...],
                     carried: Carried, settings: WatchSettings) -> tuple[tuple[int, ...], tuple[PlexPlay, ...]]:
    if not settings.pull:
        return (), ()
    present = set(stash.play_history)
    adds: list[int] = []
    carried_plays: list[PlexPlay] = []
    for play in sorted(new_plex_plays, key=lambda p: (p.viewed_at, p.history_id)):
        if play.history_id in carried.own_history_ids:
            continue
        carried_plays.append(play)
        if play.viewed_at not in present:
            present.add(play.viewed_at)
            adds.append(play.viewed_at)
    if (not stash.play_history and not carried_plays and plex.view_count > 0 and plex.last_viewed_at is not None
            and not (carried.from_plex or carried.sent_to_plex or carried.own_history_ids)):
        adds.append(int(plex.last_viewed_at))
    return tuple(adds), tuple(carried_plays)


def _plays_to_plex(stash: StashWatch, carried: Carried, carried_plays: tuple[PlexPlay, ...],
                   adds: tuple[int, ...], settings: WatchSettings) -> tuple[int, ...]:
    if not settings.push:
        return ()
    from_plex = carried.from_plex | {p.viewed_at for p in carried_plays} | set(adds)
    return tuple(t for t in sorted(set(stash.play_history))
                 if t not in from_plex and t not in carried.sent_to_plex
                 and (carried.send_after is None or t > carried.send_after))


def _winner(stash_changed: bool, plex_changed: bool, stash_time: int | None, plex_time: int | None) -> str | None:
    """Which side's value stands: the changed one, or the newer when both changed."""
    if stash_changed and plex_changed:
        return "plex" if (plex_time or 0) > (stash_time or 0) else "stash"
    return "stash" if stash_changed else "plex" if plex_changed else None


def _resume(stash: StashWatch, plex: PlexWatch, snapshot: WatchSnapshot, settings: WatchSettings,
            scrobbling: bool) -> tuple[Maybe[float], Maybe[int], tuple[float, int] | None]:
    stash_now = float(stash.resume_time or 0.0)
    plex_now = int(plex.view_offset_ms or 0)
    last = snapshot.resume
    if same_resume(stash_now, plex_now) and not scrobbling:
        return UNCHANGED, UNCHANGED, (stash_now, plex_now)
    # A new Stash play is Stash activity: its resume point counts as changed.
    stash_changed = last is None or scrobbling or stash_now != last[0]
    plex_changed = last is None or plex_now != last[1]
    side = _winner(stash_changed, plex_changed, max(stash.last_played_at or 0, stash.updated_at),
                   plex.last_viewed_at)
    if side is None:  # they differ, yet neither moved: a write that was off earlier
        return UNCHANGED, UNCHANGED, last
    seconds = stash_now if side == "stash" else stash_resume_of(plex_now)
    ms = plex_now if side == "plex" else plex_offset_of(stash_now)
    write_stash = not same_resume(stash_now, ms)
    # After a scrobble Plex's offset is unknown (it may clear it): always write it.
    write_plex = scrobbling or not same_resume(seconds, plex_now)
    if (write_stash and not settings.pull) or (write_plex and not settings.push):
        return UNCHANGED, UNCHANGED, last
    return (seconds if write_stash else UNCHANGED, ms if write_plex else UNCHANGED,
            (seconds if write_stash else stash_now, ms if write_plex else plex_now))


def _rating(stash: StashWatch, plex: PlexWatch, snapshot: WatchSnapshot, settings: WatchSettings, now: int
            ) -> tuple[Maybe[int | None], Maybe[float | None], tuple[int | None, float | None] | None, int | None]:
    stash_now, plex_now = stash.rating100, plex.user_rating
    last = snapshot.rating
    stash_changed = last is None or stash_now != last[0]
    changed_at = stash.updated_at if (last is not None and stash_changed) else snapshot.stash_rating_changed_at
    if same_rating(stash_now, plex_now):
        return UNCHANGED, UNCHANGED, (stash_now, plex_now), changed_at
    plex_changed = last is None or plex_now != last[1]
    side = _winner(stash_changed, plex_changed, stash.updated_at, plex.last_rated_at)
    allowed = settings.push if side == "stash" else settings.pull
    if side is None or not settings.ratings or not allowed:
        return UNCHANGED, UNCHANGED, last, snapshot.stash_rating_changed_at
    if side == "stash":
        plex_value = plex_rating_of(stash_now)
        return UNCHANGED, plex_value, (stash_now, plex_value), changed_at
    stash_value = stash_rating_of(plex_now)
    return stash_value, UNCHANGED, (stash_value, plex_now), now
