"""Watch state and play history for the Plex emulator (``sandbox/plex_server.py``).

PMS keeps, per item and per account, a play count, a resume offset (ms), when it was
last viewed, a star rating (0–10) and when it was rated; and one history row per play
(``/status/sessions/history/all``), with ids that only grow. This module holds both,
without HTTP: :class:`WatchBook` is the per-account state and the rules that change it
(scrobble, unscrobble, rate, progress), :class:`History` the plays, indexed so a page of
a filtered, time-bounded listing costs O(log n + page) even with 100,000 plays.

Not thread-safe: the server calls it under its own lock. ``now`` is always passed in
(the server reads ``time.time()``, which tests freeze).
"""

from __future__ import annotations

import bisect
import gc
from dataclasses import dataclass
from typing import Iterable, NamedTuple

#: Share of the duration past which PMS counts a reported offset as a full play
#: (its "Video played threshold" setting, 90% by default).
PLAYED_THRESHOLD = 0.9
#: The device id seeded plays get when none is given.
DEFAULT_DEVICE_ID = 1


@dataclass
class Watch:
    """One account's state for one item (PMS omits each attribute while it is unset/zero)."""
    view_count: int = 0
    view_offset: int = 0                 # ms
    last_viewed_at: int | None = None    # epoch seconds
    user_rating: float | None = None     # 0–10
    last_rated_at: int | None = None     # epoch seconds


class Play(NamedTuple):
    """One history row."""
    id: int
    rating_key: int
    account_id: int
    viewed_at: int
    section_id: int
    device_id: int


# The filter combinations a listing can ask for, each with its own sorted index; an
# item's plays are all in its section, so item+section needs no index of its own.
_COMBOS: tuple[tuple[str, ...], ...] = ((), ("account",), ("section",), ("item",), ("account", "section"),
                                        ("account", "item"))


def _index_keys(play: Play) -> list[tuple]:
    values = {"account": play.account_id, "section": play.section_id, "item": play.rating_key}
    return [(combo, *(values[name] for name in combo)) for combo in _COMBOS]


class History:
    """Every play, by id and in one sorted ``(viewedAt, id)`` list per filter combination."""

    def __init__(self) -> None:
        self.plays: dict[int, Play] = {}
        self._index: dict[tuple, list[tuple[int, int]]] = {}
        self._next_id = 1

    def __len__(self) -> int:
        return len(self.plays)

    def add(self, rating_key: int, account_id: int, viewed_at: int, section_id: int,
            device_id: int = DEFAULT_DEVICE_ID) -> Play:
        """Record one play; its id is the next one (ids only grow, as PMS's row ids)."""
        play = Play(self._next_id, rating_key, account_id, int(viewed_at), section_id, device_id)
        self._next_id += 1
        self.plays[play.id] = play
        for key in _index_keys(play):
            bisect.insort(self._index.setdefault(key, []), (play.viewed_at, play.id))
        return play

    def add_many(self, rows: Iterable[tuple[int, int, int, int, int]]) -> list[int]:
        """Record many plays ``(rating_key, account_id, viewed_at, section_id, device_id)`` at
        once: appended, then each touched index sorted once (not one insort per play)."""
        first = self._next_id
        index = self._index
        plays = self.plays
        collecting = gc.isenabled()
        gc.disable()   # millions of small tuples would otherwise trigger GC passes over them all
        try:
            for play_id, (rating_key, account_id, viewed_at, section_id, device_id) in enumerate(rows, first):
                entry = (int(viewed_at), play_id)
                plays[play_id] = Play(play_id, rating_key, account_id, entry[0], section_id, device_id)
                # The keys of _index_keys, spelled out: this loop runs 100,000 times in benches.
                for key in (((),), (("account",), account_id), (("section",), section_id),
                            (("item",), rating_key), (("account", "section"), account_id, section_id),
                            (("account", "item"), account_id, rating_key)):
                    bucket = index.get(key)
                    if bucket is None:
                        bucket = index[key] = []
                    bucket.append(entry)
                self._next_id = play_id + 1
            for bucket in index.values():
                bucket.sort()   # timsort: one linear pass over runs that are already in order
        finally:
            if collecting:
                gc.enable()
        return list(range(first, self._next_id))

    def delete(self, play_id: int) -> bool:
        """Forget one play (``DELETE /status/sessions/history/{id}``); False if unknown."""
        play = self.plays.pop(play_id, None)
        if play is None:
            return False
        for key in _index_keys(play):
            entries = self._index[key]
            at = bisect.bisect_left(entries, (play.viewed_at, play.id))
            del entries[at]
        return True

    def query(self, *, account: int | None = None, section: int | None = None, item: int | None = None,
              since: int | None = None, before: int | None = None, descending: bool = False,
              start: int = 0, size: int | None = None) -> tuple[list[Play], int]:
        """One page of the plays matching every filter given (``since`` inclusive, ``before``
        exclusive), ordered by viewedAt then id; returns ``(page, total matches)``."""
        wanted = {"account": account, "section": section, "item": item}
        if item is not None and section is not None:
            # An item's plays are all in its section: the item index answers alone.
            first = self._first_play_of(item)
            if first is not None and first.section_id != section:
                return [], 0
            wanted["section"] = None
        combo = tuple(name for name in ("account", "section", "item") if wanted[name] is not None)
        entries = self._index.get((combo, *(wanted[name] for name in combo)), [])
        lo = 0 if since is None else bisect.bisect_left(entries, (int(since), 0))
        hi = len(entries) if before is None else bisect.bisect_left(entries, (int(before), 0))
        total = max(0, hi - lo)
        start = min(max(0, start), total)
        count = total - start if size is None else min(size, total - start)
        if descending:
            window = entries[hi - start - count:hi - start][::-1]
        else:
            window = entries[lo + start:lo + start + count]
        return [self.plays[play_id] for _, play_id in window], total

    def _first_play_of(self, item: int) -> Play | None:
        entries = self._index.get((("item",), item))
        return self.plays[entries[0][1]] if entries else None


class WatchBook:
    """Per-item, per-account watch state and the rules PMS applies when a client writes it.

    Account 1's rating is the item's ``userRating`` field itself (``ratings``), so the
    metadata edits that set ``userRating.value`` and ``/:/rate`` agree, as on a real server
    where the owner's rating is the one the edit API changes.
    """

    def __init__(self, history: History) -> None:
        self.history = history
        self._state: dict[tuple[int, int], Watch] = {}

    def get(self, rating_key: int, account_id: int, owner_rating: float | None = None) -> Watch:
        """A copy of the account's state (defaults if it never touched the item)."""
        state = self._state.get((rating_key, account_id)) or Watch()
        copy = Watch(state.view_count, state.view_offset, state.last_viewed_at, state.user_rating,
                     state.last_rated_at)
        if account_id == 1:
            copy.user_rating = owner_rating
        return copy

    def state_for(self, rating_key: int, account_id: int) -> Watch:
        """The account's live state for the item, created on first use."""
        return self._state.setdefault((rating_key, account_id), Watch())

    def scrobble(self, rating_key: int, account_id: int, section_id: int, now: int, device_id: int) -> Play:
        """Mark played: one more play, resume offset cleared, viewed now, a history row."""
        state = self.state_for(rating_key, account_id)
        state.view_count += 1
        state.view_offset = 0
        state.last_viewed_at = now
        return self.history.add(rating_key, account_id, now, section_id, device_id)

    def unscrobble(self, rating_key: int, account_id: int) -> None:
        """Mark unplayed: play count and resume offset cleared; history rows stay."""
        state = self.state_for(rating_key, account_id)
        state.view_count = 0
        state.view_offset = 0

    def rate(self, rating_key: int, account_id: int, rating: float | None, now: int) -> None:
        """Set (or, with ``None``, clear) the account's rating; account 1's lives on the item."""
        state = self.state_for(rating_key, account_id)
        state.user_rating = rating
        state.last_rated_at = now if rating is not None else None

    def progress(self, rating_key: int, account_id: int, section_id: int, offset_ms: int, duration_ms: int,
                 now: int, device_id: int) -> Play | None:
        """A client reported ``offset_ms``: past the played threshold it is a play (see
        :meth:`scrobble`), else the resume offset; 0 or less changes nothing (as PMS)."""
        if offset_ms <= 0:
            return None
        if duration_ms and offset_ms >= duration_ms * PLAYED_THRESHOLD:
            return self.scrobble(rating_key, account_id, section_id, now, device_id)
        state = self.state_for(rating_key, account_id)
        state.view_offset = int(offset_ms)
        state.last_viewed_at = now
        return None

    def forget_item(self, rating_key: int) -> None:
        """Drop every account's state for a deleted item (its history rows stay, as in PMS)."""
        for key in [k for k in self._state if k[0] == rating_key]:
            del self._state[key]
