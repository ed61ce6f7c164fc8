"""Kept HTTP connections: each thread its own, per server, for tasks that send many requests.

Used by PlexSync's own requests to Plex (``plex.wire``) and to Stash (``stash.session``).
A connection the server closed while it sat idle is found before it is used (the
socket reads as ready while no answer is due) and replaced, so no request is ever
sent twice. Standard library only.
"""

from __future__ import annotations

import select
import socket
import threading
from typing import Callable, Hashable

from shared.http_connection import HttpConnection

__all__ = ["KeptConnections", "dropped"]


def dropped(sock: socket.socket | None) -> bool:
    """Whether an idle kept connection was closed by the server (readable while idle
    means end of stream or stray bytes: either way not reusable)."""
    if sock is None:
        return True
    try:
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


class KeptConnections:
    """Each thread's open connection to each server (``key``).

    A thread that ends leaves its connections behind; they are closed the next time any
    thread opens one, so open sockets follow the live threads, not every thread that
    ever sent a request (a drain's short-lived helper threads would otherwise leave
    hundreds open, towards the process's file limit).
    """

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: dict[HttpConnection, threading.Thread] = {}

    def get(self, key: Hashable, open_connection: Callable[[], HttpConnection],
            read_timeout: float) -> HttpConnection:
        """This thread's connection for ``key``, connected by ``open_connection()`` (whose
        timeout is the connect timeout) when it has none or the server closed it; its
        socket then waits ``read_timeout`` for answers. Raises what connecting raises."""
        kept = self._kept()
        conn = kept.get(key)
        if conn is not None and dropped(conn.sock):
            self.discard(key, conn)
            conn = None
        if conn is None:
            conn = open_connection()
            try:
                conn.connect()
            except BaseException:
                conn.close()
                raise
            kept[key] = conn
            with self._lock:
                self._open[conn] = threading.current_thread()
                orphans = [c for c, owner in self._open.items() if not owner.is_alive()]
                for orphan in orphans:
                    del self._open[orphan]
            for orphan in orphans:
                orphan.close()
        assert conn.sock is not None
        conn.sock.settimeout(read_timeout)
        return conn

    def discard(self, key: Hashable, conn: HttpConnection) -> None:
        """Close ``conn`` (failed, or the server said it closes it) and forget it."""
        conn.close()
        kept = self._kept()
        if kept.get(key) is conn:
            del kept[key]
        with self._lock:
            self._open.pop(conn, None)

    @property
    def count(self) -> int:
        """Connections open now, over every thread."""
        with self._lock:
            return len(self._open)

    def close(self) -> None:
        """Close every thread's connections."""
        with self._lock:
            connections, self._open = list(self._open), {}
        for conn in connections:
            conn.close()

    def _kept(self) -> dict[Hashable, HttpConnection]:
        kept: dict[Hashable, HttpConnection] = self._local.__dict__.setdefault("conns", {})
        return kept
