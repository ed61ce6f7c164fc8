"""Read ahead: iterate a slow source (pages from Stash, a Plex listing) in a thread.

A reconcile spends most of its time waiting: for Plex to render a listing page, for
Stash to answer ``findScenes``. A :class:`Prefetch` keeps the next few elements
coming while the caller works on the current one, with a bound (``depth``) so
memory stays that of a few pages. Errors in the source reach the caller where it
iterates; a caller that stops early ends the thread at its next element.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Generic, Iterable, Iterator, TypeVar

T = TypeVar("T")
_DONE = object()
_POLL_SECONDS = 0.1
#: How long :meth:`Prefetch.close` waits for a source stuck in a request.
_JOIN_SECONDS = 30.0


class Prefetch(Generic[T]):
    """Iterate ``source`` in a daemon thread, up to ``depth`` elements ahead of the caller."""

    def __init__(self, source: Iterable[T], depth: int, name: str) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        #: Seconds the caller spent waiting for the source.
        self.waited = 0.0
        self._thread = threading.Thread(target=self._run, args=(source,), name=name, daemon=True)
        self._thread.start()

    def _run(self, source: Iterable[T]) -> None:
        try:
            for element in source:
                if not self._put((True, element)):
                    return
        except BaseException as exc:  # handed to the caller, raised where it iterates
            self._put((False, exc))
            return
        self._put((True, _DONE))

    def _put(self, entry: tuple) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(entry, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[T]:
        while True:
            began = time.perf_counter()
            ok, element = self._queue.get()
            self.waited += time.perf_counter() - began
            if not ok:
                raise element
            if element is _DONE:
                return
            yield element

    def close(self) -> None:
        """Stop reading ahead and wait for the thread (it may be finishing a request)."""
        self._stop.set()
        self._thread.join(timeout=_JOIN_SECONDS)


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of ``size`` (the last may be shorter)."""
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
