"""The hook's requests to Stash: one request per connection (``shared.http_connection``).

Why not ``requests`` or ``http.client``: a hook must finish in a few tens of
milliseconds including interpreter start, and importing ``http.client`` alone costs
~22 ms (``requests`` ~100 ms). Stash is a local Go server answering small JSON, so
one request per connection with ``Connection: close`` is all the hook needs; tasks
that send many keep their connections (``stash.session``).
"""

from __future__ import annotations

from collections import namedtuple

from shared.http_connection import HttpConnection

# Hook path: typing and dataclasses cost ~18 ms to import, so names used only in
# annotations are imported for type checkers alone.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import ssl
    from typing import Mapping

_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


class TransportError(OSError):
    """The request did not complete (refused, reset, timed out, malformed reply)."""


class Response(namedtuple("Response", "status headers body")):
    """A complete HTTP response: status, headers (lower-case names), body bytes."""

    __slots__ = ()


def tls_context(host: str) -> ssl.SSLContext:
    """The TLS context for Stash at ``host``: certificates verified, except on loopback,
    where Stash commonly runs with a self-signed certificate and the traffic never
    leaves the machine."""
    import ssl  # only when needed: 6 ms

    context = ssl.create_default_context()
    if host in _LOOPBACK:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def request(method: str, scheme: str, host: str, port: int, path: str, *,
            headers: Mapping[str, str] | None = None, body: bytes = b"", timeout: float = 30.0) -> Response:
    """Send one request and return the whole response.

    TLS certificates are verified, except on loopback, where Stash commonly runs
    with a self-signed certificate and the traffic never leaves the machine.
    """
    conn = HttpConnection(host, port, timeout=timeout, context=tls_context(host) if scheme == "https" else None)
    try:
        conn.connect()
    except OSError as exc:
        raise TransportError(f"cannot connect to {scheme}://{host}:{port}: {exc.strerror or exc}") from exc
    try:
        answer = conn.request(method, path, {**(headers or {}), "Connection": "close"}, body)
    except OSError as exc:
        raise TransportError(f"{method} {scheme}://{host}:{port}{path.split('?')[0]} failed: {exc}") from exc
    finally:
        conn.close()
    return Response(answer.status, answer.headers, answer.body)
