"""The drain's Plex pool: a job split into its Plex I/O (run on a pool thread) and the
rest (run on the drain's thread).

A handler that offers ``start(job)`` does its decisions, Stash reads and SQLite work on
the drain's thread and returns either a final result or a :class:`Deferred`: the
item's Plex requests (``io``, on a pool thread) and what to do with their answer
(``finish``, back on the drain's thread). The SQLite connections of the sync state, the
path index and the queue are used from the drain's thread only; pool threads touch
nothing but the Plex connection. :class:`KeyLocks` keeps two requests for one Plex item
from ever running at once.

:data:`WAITING` flights more than there are threads wait in the pool: a thread that
finishes takes the next at once, instead of idling while the drain's thread settles the
landed job and starts another (a mean 3.5 ms between one thread's flights, 1.2 ms with
two waiting, at 20 ms per Plex request; ``bench/full_sync.py``). A failure holds them
back (:class:`NotStarted`) until the drain has settled it, so nothing new reaches Plex
after an error that opens the breaker or asks us to slow down.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional

__all__ = ["Deferred", "Flight", "KeyLocks", "NotStarted", "PlexPool", "WAITING", "pool_size"]

#: Flights started on the drain's thread and waiting for a pool thread. Two, not one:
#: flights often land close together, faster than the drain's thread starts the next.
WAITING = 2


@dataclass(frozen=True)
class Deferred:
    """A job's Plex I/O, to run on a pool thread, and its ending, for the drain's thread.

    ``io`` must not touch SQLite or the queue; ``finish`` receives what ``io`` returned
    and gives the job's result (or raises its error, as a handler does).
    """

    io: Callable[[], Any]
    finish: Callable[[Any], Any]
    #: The Plex item the I/O is for (informational: ``io`` takes the item's lock itself).
    item: Optional[str] = None

    def run_inline(self) -> Any:
        """Both halves on this thread: the serial path, exactly what a pool would do."""
        return self.finish(self.io())


class KeyLocks:
    """One lock per Plex item (rating key): requests for one item never overlap, across
    pool threads and the drain's thread alike. Locks are dropped once nobody holds or
    waits for them, so memory follows the requests in flight, not the library."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        """Hold ``key``'s lock for the block."""
        with self._guard:
            lock, users = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, users = self._locks[key]
                if users <= 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)

    def busy(self, key: str) -> bool:
        """Whether a thread holds or waits for ``key``'s lock."""
        with self._guard:
            return key in self._locks

    def __len__(self) -> int:
        with self._guard:
            return len(self._locks)


def pool_size(config: Any) -> int:
    """The 'Parallel Plex requests' setting of ``config`` (1 when it has none, e.g. a stand-in)."""
    value = getattr(config, "parallel_plex_requests", 1)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else 1


@dataclass(frozen=True)
class Flight:
    """A job whose Plex I/O is in the pool."""

    job: dict[str, Any]
    deferred: Deferred
    #: The job's (kind, key): a second job of that key waits until this one settles.
    key: tuple[str, str]
    #: When its run read its subject (for superseding, see ``worker.processor.read_at``).
    read_at: float


class NotStarted(Exception):
    """A flight's I/O was held back because an earlier flight failed: nothing was sent,
    and its job goes back to the queue untouched."""


#: A finished flight: the flight, what ``io`` returned, or the exception it raised
#: (:class:`NotStarted` when it never ran).
Landed = tuple[Flight, Any, Optional[Exception]]


class PlexPool:
    """At most ``size`` jobs' Plex I/O running on worker threads, and :data:`WAITING`
    more waiting for a thread; results are handed back to the drain's thread (:meth:`finished`),
    never settled on the pool's threads. ``size`` 1 is no pool at all: the drain runs
    every job inline, as before."""

    def __init__(self, size: int) -> None:
        self.size = max(1, int(size))
        self._executor = (ThreadPoolExecutor(max_workers=self.size, thread_name_prefix="plexsync-plex")
                          if self.size > 1 else None)
        self._flights: dict[Future[Any], Flight] = {}
        # Each future as it completes (or is cancelled), in that order: the drain's thread
        # waits on this one queue instead of registering a waiter with every flight each
        # time (``concurrent.futures.wait``: ~16 µs a landing against ~3 µs).
        self._landed: queue.SimpleQueue[Future[Any]] = queue.SimpleQueue()
        # Failures of I/O so far, counted by the pool threads, and those the drain has
        # settled (:meth:`resume`): while they differ, no waiting flight starts.
        self._lock = threading.Lock()
        self._failures = self._handed_over = self._settled = 0

    @property
    def parallel(self) -> bool:
        """Whether jobs go to the pool (more than one request at a time)."""
        return self._executor is not None

    @property
    def busy(self) -> bool:
        """Whether any job is in flight."""
        return bool(self._flights)

    @property
    def full(self) -> bool:
        """Whether ``size`` jobs run and :data:`WAITING` wait (take no new job before one lands)."""
        return len(self._flights) >= self.size + WAITING

    def has_key(self, key: tuple[str, str]) -> bool:
        """Whether a job of this (kind, key) is in flight."""
        return any(flight.key == key for flight in self._flights.values())

    def submit(self, flight: Flight) -> None:
        """Start ``flight``'s I/O on a pool thread (or as soon as one is free)."""
        assert self._executor is not None and not self.full
        future = self._executor.submit(self._run, flight.deferred.io)
        self._flights[future] = flight
        future.add_done_callback(self._landed.put)

    def _run(self, io: Callable[[], Any]) -> Any:
        with self._lock:
            if self._failures != self._settled:
                raise NotStarted()
        try:
            return io()
        except BaseException:
            with self._lock:
                self._failures += 1   # before the future is done: finished() counts after
            raise

    def hold_waiting(self) -> list[Flight]:
        """Take back every flight that has not started (after a failure, or when the drain
        stops): they never reach Plex; the caller returns their jobs to the queue."""
        taken = [future for future in self._flights if future.cancel()]
        return [self._flights.pop(future) for future in taken]

    def resume(self) -> None:
        """The drain has settled every failure :meth:`finished` handed it: once no other
        has happened, waiting flights may start again."""
        with self._lock:
            self._settled = self._handed_over

    def finished(self, block: bool) -> list[Landed]:
        """The flights done so far (waiting for at least one when ``block``), in the order
        they finished, removed from the pool. When one of them failed, the flights still
        waiting for a thread come back too, as :class:`NotStarted`: nothing new reaches Plex
        before the drain has settled that failure (the breaker may open, a 429 pauses)."""
        landed: list[Landed] = []
        while self._flights:
            try:
                future = self._landed.get(block=block and not landed)
            except queue.Empty:
                break
            flight = self._flights.pop(future, None)
            if flight is None:
                continue   # taken back by hold_waiting: its job is requeued already
            try:
                landed.append((flight, future.result(), None))
            except NotStarted as error:
                landed.append((flight, None, error))
            except Exception as error:  # the drain classifies it like a handler's error
                with self._lock:
                    self._handed_over += 1
                landed.append((flight, None, error))
        if any(error is not None and not isinstance(error, NotStarted) for _, _, error in landed):
            landed += [(flight, None, NotStarted()) for flight in self.hold_waiting()]
        return landed

    def close(self) -> None:
        """Wait for the threads to end (every flight has been taken by then)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
