"""A minimal HTTP/1.1 client for talking to Stash, on raw sockets.

Why not ``requests`` or ``http.client``: a hook must finish in a few tens of
milliseconds including interpreter start, and importing ``http.client`` alone costs
~22 ms (``requests`` ~100 ms). Stash is a local Go server answering small JSON, so
one request per connection with ``Connection: close`` is all we need; this module
handles exactly that (Content-Length, chunked or read-to-close bodies, TLS).
"""

from __future__ import annotations

import socket
from collections import namedtuple

# Hook path: typing and dataclasses cost ~18 ms to import, so names used only in
# annotations are imported for type checkers alone.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import ssl
    from typing import Mapping

_LOOPBACK = {"127.0.0.1", "::1", "localhost"}
_MAX_BODY = 512 * 1024 * 1024


class TransportError(OSError):
    """The request did not complete (refused, reset, timed out, malformed reply)."""


class Response(namedtuple("Response", "status headers body")):
    """A complete HTTP response: status, headers (lower-case names), body bytes."""

    __slots__ = ()


def clean_header(value: str) -> str:
    """``value`` without line breaks: no header injection from values that came over stdin."""
    return value.replace("\r", "").replace("\n", "")


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
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        raise TransportError(f"cannot connect to {scheme}://{host}:{port}: {exc.strerror or exc}") from exc
    try:
        if scheme == "https":
            sock = tls_context(host).wrap_socket(sock, server_hostname=host)
        lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close",
                 f"Content-Length: {len(body)}", "Accept-Encoding: identity"]
        lines += [f"{clean_header(k)}: {clean_header(v)}" for k, v in (headers or {}).items()]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        raw = _read_all(sock)
    except OSError as exc:
        raise TransportError(f"{method} {scheme}://{host}:{port}{path.split('?')[0]} failed: {exc}") from exc
    finally:
        sock.close()
    return _parse(raw)


def _read_all(sock: socket.socket) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        data = sock.recv(65536)
        if not data:
            return b"".join(chunks)
        chunks.append(data)
        size += len(data)
        if size > _MAX_BODY:
            raise TransportError("response too large")


def _parse(raw: bytes) -> Response:
    head, sep, rest = raw.partition(b"\r\n\r\n")
    if not sep:
        raise TransportError("incomplete HTTP response")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise TransportError(f"not an HTTP response: {status_line[:80]!r}")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = _dechunk(rest)
    elif headers.get("content-length", "").isdigit():
        body = rest[: int(headers["content-length"])]
    else:
        body = rest
    return Response(int(parts[1]), headers, body)


def _dechunk(data: bytes) -> bytes:
    out: list[bytes] = []
    pos = 0
    while True:
        end = data.find(b"\r\n", pos)
        if end < 0:
            raise TransportError("truncated chunked body")
        try:
            size = int(data[pos:end].split(b";")[0] or b"0", 16)
        except ValueError:
            raise TransportError("malformed chunked body (bad chunk size)") from None
        if size == 0:
            return b"".join(out)
        start = end + 2
        out.append(data[start:start + size])
        pos = start + size + 2
