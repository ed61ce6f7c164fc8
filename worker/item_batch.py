"""The Plex items of a drain's next first-time syncs, read in one request per batch.

A first sync of a scene costs three serial Plex requests: load the item, edit it,
upload its poster. Against a Plex that answers in 20–100 ms that is the drain's floor.
Plex reads several items in one request (``/library/metadata/1,2,3``, what plexapi's
``fetchItems`` sends), so the drain's thread names the items its next scenes will load
(:meth:`ItemBatch.expect`: scenes never synced before, found by exact path in the
index) and the first pool thread to load one reads the others along with it.

Rules it keeps: a read never overlaps another request for the same item (only items
no thread holds are read along, and a thread wanting an item another is reading
waits for that read); an item read ahead is used once, within
:data:`ITEM_BATCH_MAX_AGE_SECONDS`, and never after a write to it; memory is bounded
by :data:`ITEM_BATCH_SIZE`. A single save (nothing expected) sends exactly one GET, as
before.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Iterable

from plex.exceptions import PlexNotFound
from plex.item_state import PlexItemState
from plex.library import PlexLibrary
from shared.defaults import ITEM_BATCH_MAX_AGE_SECONDS, ITEM_BATCH_SIZE
from worker.pool import KeyLocks

__all__ = ["ItemBatch"]


class ItemBatch:
    """Loads Plex items for the drain's pool, several per request when it can."""

    def __init__(self, plex: PlexLibrary, locks: KeyLocks, *, size: int = ITEM_BATCH_SIZE,
                 max_age: float = ITEM_BATCH_MAX_AGE_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.plex = plex
        self.size = max(1, size)
        self._locks = locks
        self._max_age = max_age
        self._clock = clock
        self._guard = threading.Condition()
        self._expected: dict[str, None] = {}                       # in the order they will be loaded
        self._loaded: dict[str, tuple[PlexItemState, float]] = {}  # read along, not yet used
        self._reading: set[str] = set()
        self._generation = 0   # bumped by clear(): reads begun before it are not kept
        #: Items read along with another (for tests and the bench: requests saved).
        self.read_along = 0

    def expecting(self) -> int:
        """How many named items are neither read nor being read yet."""
        with self._guard:
            return len(self._expected)

    def expect(self, rating_keys: Iterable[str]) -> None:
        """Name items that will be loaded soon (a bounded number is kept, oldest dropped)."""
        with self._guard:
            for key in rating_keys:
                if key not in self._loaded and key not in self._reading:
                    self._expected[key] = None
            while len(self._expected) > 2 * self.size:
                del self._expected[next(iter(self._expected))]

    def load(self, rating_key: str) -> PlexItemState:
        """The full item, read along earlier or now (with the next expected items).

        Call it holding ``rating_key``'s lock. Raises ``PlexNotFound`` when Plex no
        longer has the item.
        """
        with self._guard:
            while rating_key in self._reading:   # another thread is reading it along
                self._guard.wait()
            self._expected.pop(rating_key, None)
            entry = self._loaded.pop(rating_key, None)
            if entry is not None and self._clock() - entry[1] <= self._max_age:
                return entry[0]
            along = [key for key in self._expected if not self._locks.busy(key)][:self.size - 1]
            for key in along:
                del self._expected[key]
            self._reading.update(along)
            generation = self._generation
        states: dict[str, PlexItemState] = {}
        try:
            if along:
                states = self.plex.load_items([rating_key, *along])
            else:
                states = {rating_key: self.plex.load_item(rating_key)}
        finally:
            with self._guard:
                self._reading.difference_update(along)
                now = self._clock()
                for key in along if generation == self._generation else ():
                    if key in states:
                        self._loaded[key] = (states[key], now)
                        self.read_along += 1
                while len(self._loaded) > 2 * self.size:   # never used (their jobs failed first)
                    del self._loaded[next(iter(self._loaded))]
                self._guard.notify_all()
        if rating_key not in states:
            raise PlexNotFound(f"Plex item {rating_key} is gone")
        return states[rating_key]

    def clear(self) -> None:
        """Drop everything read ahead or named: something else may have written Plex
        items since (another drain between passes, a watch-state job)."""
        with self._guard:
            self._loaded.clear()
            self._expected.clear()
            self._generation += 1

    def forget(self, rating_key: str) -> None:
        """Drop what was read of an item (it was written, or turned out stale)."""
        with self._guard:
            self._loaded.pop(rating_key, None)
            self._expected.pop(rating_key, None)
