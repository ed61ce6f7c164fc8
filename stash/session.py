"""Keep-alive requests to Stash, for tasks that send many (a drain's covers and batches).

The hook's transport (``stash.transport.request``) opens one connection per request,
right for a process that sends one or two. A bulk drain fetches a cover per scene:
connecting each time costs a TCP handshake (and a TLS one for an https Stash) on both
sides. :class:`StashSession` sends the same requests, with the same TLS policy and
the same answer type, each thread on a connection it keeps. Transport failures are
raised as :class:`stash.transport.TransportError`, as the hook's transport raises them.
"""

from __future__ import annotations

import http.client
import select
import socket
import threading
from typing import Mapping

from stash.transport import Response, TransportError, clean_header, tls_context

__all__ = ["StashSession"]

_Key = tuple[str, str, int]


def _dropped(sock: socket.socket | None) -> bool:
    """Whether an idle kept connection was closed by Stash (readable while idle)."""
    if sock is None:
        return True
    try:
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


class StashSession:
    """``request`` with the signature of ``stash.transport.request``, on kept connections."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: set[http.client.HTTPConnection] = set()

    def request(self, method: str, scheme: str, host: str, port: int, path: str, *,
                headers: Mapping[str, str] | None = None, body: bytes = b"", timeout: float = 30.0) -> Response:
        """Send one request and return the whole response (see ``stash.transport.request``)."""
        key = (scheme, host, port)
        conn = self._connection(key, timeout)
        try:
            conn.request(method, path, body=body if body or method in ("POST", "PUT") else None,
                         headers={"Accept-Encoding": "identity",
                                  **{clean_header(k): clean_header(v) for k, v in (headers or {}).items()}})
            answer = conn.getresponse()
            data = answer.read()
        except (OSError, http.client.HTTPException) as exc:
            self._discard(key, conn)
            raise TransportError(f"{method} {scheme}://{host}:{port}{path.split('?')[0]} failed: {exc}") from exc
        if answer.will_close:
            self._discard(key, conn)
        return Response(answer.status, {k.lower(): v for k, v in answer.getheaders()}, data)

    @property
    def connections(self) -> int:
        """Connections open now."""
        with self._lock:
            return len(self._open)

    def close(self) -> None:
        """Close every thread's connections."""
        with self._lock:
            connections, self._open = self._open, set()
        for conn in connections:
            conn.close()

    def _connection(self, key: _Key, timeout: float) -> http.client.HTTPConnection:
        kept: dict[_Key, http.client.HTTPConnection] = self._local.__dict__.setdefault("conns", {})
        conn = kept.get(key)
        if conn is not None and _dropped(conn.sock):
            self._discard(key, conn)
            conn = None
        if conn is None:
            scheme, host, port = key
            if scheme == "https":
                conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=tls_context(host))
            else:
                conn = http.client.HTTPConnection(host, port, timeout=timeout)
            try:
                conn.connect()
            except OSError as exc:
                conn.close()
                raise TransportError(f"cannot connect to {scheme}://{host}:{port}: {exc.strerror or exc}") from exc
            kept[key] = conn
            with self._lock:
                self._open.add(conn)
        elif conn.sock is not None:
            conn.sock.settimeout(timeout)
        return conn

    def _discard(self, key: _Key, conn: http.client.HTTPConnection) -> None:
        conn.close()
        kept: dict[_Key, http.client.HTTPConnection] = self._local.__dict__.get("conns", {})
        if kept.get(key) is conn:
            del kept[key]
        with self._lock:
            self._open.discard(conn)
