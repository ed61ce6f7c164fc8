"""Plex's requests on the wire: keep-alive HTTP/1.1 over ``http.client``, one
connection per thread.

Why not requests: preparing an edit's long query string costs requests ~1.8 ms of
CPU and a poster upload ~1.1 ms, against ~0.2 ms here (``bench/full_sync.py``),
and a bulk drain sends two of them per scene. Connecting to Plex (plexapi's
``PlexServer``) and every plexapi object call still go through requests; this
module carries :meth:`plex.client.PlexConnection.query` only.

What requests did is kept: the same TLS trust (the 'CA certificate file', the
environment's bundle or certifi's; 'Skip TLS certificate check' turns checking
off), the connect and read timeouts, a pooled connection found closed by the
server replaced before it is used rather than retried after (so a request is
never sent twice). Nothing here classifies errors: the caller translates what is
raised (``OSError``, ``ssl.SSLError``, ``http.client.HTTPException``).
"""

from __future__ import annotations

import http.client
import os
import select
import socket
import ssl
import threading
from dataclasses import dataclass
from typing import Mapping
from urllib.parse import urlsplit

__all__ = ["PlexWire", "WireResponse", "tls_context"]


@dataclass(frozen=True)
class WireResponse:
    """One answer: status, the ``Retry-After`` header (when sent) and the whole body."""

    status: int
    retry_after: str | None
    body: bytes


def tls_context(verify: bool | str) -> ssl.SSLContext:
    """The client context for ``verify`` as requests reads it: ``False`` checks nothing,
    a path names a CA bundle (a file, or a folder of hashed certificates), ``True``
    takes certifi's bundle, as requests does. A missing bundle raises ``OSError``."""
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if verify is True:
        import certifi   # requests' own default bundle (requests depends on it)

        verify = certifi.where()
    if os.path.isdir(verify):
        return ssl.create_default_context(capath=verify)
    if not os.path.exists(verify):
        raise FileNotFoundError(f"no CA certificate file at {verify}")
    return ssl.create_default_context(cafile=verify)


def _dropped(sock: socket.socket | None) -> bool:
    """Whether an idle pooled connection was closed by the server (readable while idle
    means end of stream or stray bytes: either way not reusable)."""
    if sock is None:
        return True
    try:
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


class PlexWire:
    """Requests to one Plex server, each thread on its own keep-alive connection."""

    def __init__(self, url: str, headers: Mapping[str, str], *, verify: bool | str,
                 timeout: tuple[float, float]) -> None:
        parts = urlsplit(url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port or (443 if self._https else 80)
        self._prefix = parts.path.rstrip("/")
        self._headers = dict(headers)
        self._connect_timeout, self._read_timeout = timeout
        self._context = tls_context(verify) if self._https else None
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: set[http.client.HTTPConnection] = set()

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: Mapping[str, str] | None = None) -> WireResponse:
        """Send one request (``path`` from the server root, query included) and read the
        whole answer. Raises what ``http.client``/``socket``/``ssl`` raise."""
        conn = self._connection()
        sent = dict(self._headers)
        if headers:
            sent.update(headers)
        if body is None and method in ("PUT", "POST"):
            sent["Content-Length"] = "0"   # http.client sends none for an empty PUT/POST
        try:
            conn.request(method, self._prefix + path, body=body, headers=sent)
            response = conn.getresponse()
            data = response.read()
        except BaseException:
            self._discard(conn)
            raise
        if response.will_close:
            self._discard(conn)
        return WireResponse(response.status, response.getheader("Retry-After"), data)

    @property
    def connections(self) -> int:
        """Connections open now (one per thread that has sent a request)."""
        with self._lock:
            return len(self._open)

    def close(self) -> None:
        """Close every thread's connection."""
        with self._lock:
            connections, self._open = self._open, set()
        for conn in connections:
            conn.close()

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is not None and _dropped(conn.sock):
            self._discard(conn)
            conn = None
        if conn is None:
            if self._https:
                conn = http.client.HTTPSConnection(self._host, self._port, timeout=self._connect_timeout,
                                                   context=self._context)
            else:
                conn = http.client.HTTPConnection(self._host, self._port, timeout=self._connect_timeout)
            try:
                conn.connect()
            except BaseException:
                conn.close()
                raise
            assert conn.sock is not None
            conn.sock.settimeout(self._read_timeout)
            self._local.conn = conn
            with self._lock:
                self._open.add(conn)
        return conn

    def _discard(self, conn: http.client.HTTPConnection) -> None:
        conn.close()
        if getattr(self._local, "conn", None) is conn:
            self._local.conn = None
        with self._lock:
            self._open.discard(conn)
