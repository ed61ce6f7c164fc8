"""Plex's requests on the wire: keep-alive HTTP/1.1 (``shared.http_connection``), one
connection per thread.

Why not requests: an edit with its long query string costs requests ~1.4 ms of CPU
and a poster upload ~0.7 ms, against a small fraction of that here
(``python -m bench.http_client``), and a bulk drain sends two of them per scene.
Connecting to Plex (plexapi's ``PlexServer``) and every plexapi object call still go
through requests; this module carries :meth:`plex.client.PlexConnection.query` only.

What requests did is kept: the same TLS trust (the 'CA certificate file', the
environment's bundle or certifi's; 'Skip TLS certificate check' turns checking
off), the connect and read timeouts, a pooled connection found closed by the
server replaced before it is used rather than retried after (so a request is
never sent twice). Nothing here classifies errors: the caller translates what is
raised (``OSError``, ``ssl.SSLError``, ``shared.http_connection.ProtocolError``).
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from typing import Mapping
from urllib.parse import urlsplit

from shared.http_connection import HttpConnection
from shared.keepalive import KeptConnections

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
        self._kept = KeptConnections()

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: Mapping[str, str] | None = None) -> WireResponse:
        """Send one request (``path`` from the server root, query included) and read the
        whole answer. Raises what ``socket``/``ssl``/``shared.http_connection`` raise."""
        conn = self._kept.get("plex", self._open_connection, self._read_timeout)
        sent = {**self._headers, **headers} if headers else self._headers
        try:
            answer = conn.request(method, self._prefix + path, sent, body)
        except BaseException:
            self._kept.discard("plex", conn)
            raise
        if answer.will_close:
            self._kept.discard("plex", conn)
        return WireResponse(answer.status, answer.headers.get("retry-after"), answer.body)

    @property
    def connections(self) -> int:
        """Connections open now (one per thread that has sent a request)."""
        return self._kept.count

    def close(self) -> None:
        """Close every thread's connection."""
        self._kept.close()

    def _open_connection(self) -> HttpConnection:
        return HttpConnection(self._host, self._port, timeout=self._connect_timeout, context=self._context)
