"""Keep-alive requests to Stash, for tasks that send many (a drain's covers and batches).

The hook's transport (``stash.transport.request``) opens one connection per request,
right for a process that sends one or two. A bulk drain fetches a cover per scene:
connecting each time costs a TCP handshake (and a TLS one for an https Stash) on both
sides. :class:`StashSession` sends the same requests, with the same TLS policy and
the same answer type, each thread on a connection it keeps. Transport failures are
raised as :class:`stash.transport.TransportError`, as the hook's transport raises them.
"""

from __future__ import annotations

from typing import Mapping

from shared.http_connection import HttpConnection
from shared.keepalive import KeptConnections
from stash.transport import Response, TransportError, tls_context

__all__ = ["StashSession"]


class StashSession:
    """``request`` with the signature of ``stash.transport.request``, on kept connections."""

    def __init__(self) -> None:
        self._kept = KeptConnections()

    def request(self, method: str, scheme: str, host: str, port: int, path: str, *,
                headers: Mapping[str, str] | None = None, body: bytes = b"", timeout: float = 30.0) -> Response:
        """Send one request and return the whole response (see ``stash.transport.request``)."""
        key = (scheme, host, port)

        def open_connection() -> HttpConnection:
            return HttpConnection(host, port, timeout=timeout, context=tls_context(host) if scheme == "https" else None)

        try:
            conn = self._kept.get(key, open_connection, timeout)
        except OSError as exc:
            raise TransportError(f"cannot connect to {scheme}://{host}:{port}: {exc.strerror or exc}") from exc
        try:
            answer = conn.request(method, path, headers, body if body or method in ("POST", "PUT") else None)
        except OSError as exc:
            self._kept.discard(key, conn)
            raise TransportError(f"{method} {scheme}://{host}:{port}{path.split('?')[0]} failed: {exc}") from exc
        except BaseException:
            self._kept.discard(key, conn)
            raise
        if answer.will_close:
            self._kept.discard(key, conn)
        return Response(answer.status, answer.headers, answer.body)

    @property
    def connections(self) -> int:
        """Connections open now."""
        return self._kept.count

    def close(self) -> None:
        """Close every thread's connections."""
        self._kept.close()
