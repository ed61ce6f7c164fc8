"""One HTTP/1.1 connection on a plain socket: a request at a time, each answer read whole.

Why not ``http.client``: a bulk drain sends two requests to Plex and one to Stash per
scene, and ``http.client`` spends most of its CPU per answer on work PlexSync never
needs: headers parsed into an ``email.message.Message`` through ``email.parser``, a
new buffered file per response. Reading the answer here (status line, headers into a
dict, then the body by ``Content-Length``, chunks, or to the end of the stream) costs a
fraction of that (``python -m bench.http_client``). The hook uses it too, for one
request with ``Connection: close``: importing ``http.client`` alone costs ~22 ms.

What it does not do: compression (it asks for ``identity``), redirects, proxies,
pipelining. Whoever needs those uses requests. Errors: what ``socket``/``ssl`` raise,
plus :class:`ProtocolError` for an answer that is not HTTP/1.x; never a second send.
"""

from __future__ import annotations

import socket
from collections import namedtuple

# Hook path: typing costs ~10 ms to import, so annotation-only names are for type checkers.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import ssl
    from typing import Mapping

__all__ = ["Answer", "HttpConnection", "ProtocolError", "clean_header"]

_MAX_HEAD = 64 * 1024            # status line and headers together (http.client: 64 kB a line, 100 lines)
_MAX_BODY = 1024 * 1024 * 1024   # a length beyond this is not an answer we can use
_RECV = 256 * 1024
_NO_BODY = (204, 304)


class ProtocolError(ConnectionError):
    """The server's answer is not HTTP/1.x as a Plex or Stash server sends it (or stops short)."""


class Answer(namedtuple("Answer", "status headers body will_close")):
    """One whole answer: status, headers (lower-case names; repeated ones joined by ``, ``),
    body bytes, and whether the server closes the connection after it."""

    __slots__ = ()


def clean_header(value: str) -> str:
    """``value`` without line breaks: no header injection from values that came from outside."""
    return value.replace("\r", "").replace("\n", "")


class HttpConnection:
    """An HTTP/1.1 connection to ``host:port`` (TLS when ``context`` is given).

    ``timeout`` bounds connecting, and every wait for the answer until it is changed
    on :attr:`sock`. Not thread-safe: one thread uses a connection at a time.
    """

    def __init__(self, host: str, port: int, *, timeout: float,
                 context: ssl.SSLContext | None = None) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.context = context
        self.sock: socket.socket | None = None
        default_port = 443 if context is not None else 80
        bracketed = f"[{host}]" if ":" in host else host
        self._host_header = bracketed if port == default_port else f"{bracketed}:{port}"
        self._buffer = bytearray()

    def connect(self) -> None:
        """Open the connection (a TLS handshake too, verified as ``context`` says)."""
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        try:
            # Head and body go out in one send; small answers must not wait for Nagle.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.context is not None:
                sock = self.context.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise
        self.sock = sock

    def close(self) -> None:
        """Close the socket (idempotent)."""
        sock, self.sock = self.sock, None
        self._buffer.clear()
        if sock is not None:
            sock.close()

    def request(self, method: str, target: str, headers: Mapping[str, str] | None = None,
                body: bytes | None = None) -> Answer:
        """Send one request (``target``: path and query) and read its whole answer.

        Header values lose any line breaks; a target with spaces or control characters
        raises ``ValueError`` before anything is sent. After any exception the
        connection's state is unknown: close it.
        """
        sock = self.sock
        if sock is None:
            raise ProtocolError("the connection is not open")
        if not (target.isascii() and target.isprintable()) or " " in target:
            raise ValueError(f"not a request target: {target[:80]!r}")
        lines = [f"{method} {target} HTTP/1.1\r\nHost: {self._host_header}\r\nAccept-Encoding: identity\r\n"]
        for name, value in (headers or {}).items():
            lines.append(f"{clean_header(name)}: {clean_header(value)}\r\n")
        if body is not None:
            lines.append(f"Content-Length: {len(body)}\r\n")
        elif method in ("POST", "PUT", "PATCH"):
            lines.append("Content-Length: 0\r\n")   # some servers wait for a body without it
        lines.append("\r\n")
        head = "".join(lines).encode("latin-1")
        if body and len(body) <= _RECV:
            sock.sendall(head + body)
        else:
            sock.sendall(head)
            if body:
                sock.sendall(body)
        return self._read_answer(method)

    # -- reading -------------------------------------------------------------------

    def _read_answer(self, method: str) -> Answer:
        while True:
            version, status, headers = self._read_head()
            if not 100 <= status < 200 or status == 101:
                break   # else an interim answer (100 Continue): the real one follows
        connection = headers.get("connection", "").lower()
        will_close = ("close" in connection or (version == "HTTP/1.0" and "keep-alive" not in connection)
                      or status == 101)   # switched to another protocol: no more HTTP on it
        if method == "HEAD" or status in _NO_BODY or 100 <= status < 200:
            body = b""
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            body = self._read_chunked()
        elif "content-length" in headers:
            length = headers["content-length"]
            if not length.isdigit() or int(length) > _MAX_BODY:
                raise ProtocolError(f"bad Content-Length in the answer: {length[:40]!r}")
            body = self._read_exact(int(length))
        else:
            body = self._read_to_close()
            will_close = True
        if self._buffer:
            will_close = True   # bytes nobody asked for: the connection cannot be trusted
        return Answer(status, headers, body, will_close)

    def _read_head(self) -> tuple[str, int, dict[str, str]]:
        buffer = self._buffer
        start = 0
        while True:
            end = buffer.find(b"\r\n\r\n", start)
            if end >= 0:
                break
            if len(buffer) > _MAX_HEAD:
                raise ProtocolError("the answer's headers are too long")
            start = max(0, len(buffer) - 3)
            if not self._fill():
                raise ProtocolError("the server closed the connection without an answer" if not buffer
                                    else "the answer stops within its headers")
        status_line, *lines = buffer[:end].decode("latin-1").split("\r\n")
        del buffer[:end + 4]
        version, _, rest = status_line.partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/1.") or not (code.isdigit() and len(code) == 3):
            raise ProtocolError(f"not an HTTP answer: {status_line[:80]!r}")
        headers: dict[str, str] = {}
        for line in lines:
            name, colon, value = line.partition(":")
            if not colon:
                raise ProtocolError(f"malformed header line in the answer: {line[:80]!r}")
            name = name.strip().lower()
            value = value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        return version, int(code), headers

    def _fill(self) -> bool:
        """Receive more bytes into the buffer; ``False`` at the end of the stream."""
        assert self.sock is not None
        data = self.sock.recv(_RECV)
        self._buffer += data
        return bool(data)

    def _read_exact(self, size: int) -> bytes:
        buffer = self._buffer
        if len(buffer) >= size:
            data = bytes(buffer[:size])
            del buffer[:size]
            return data
        out = bytearray(size)
        view = memoryview(out)
        got = len(buffer)
        view[:got] = buffer
        buffer.clear()
        assert self.sock is not None
        while got < size:
            n = self.sock.recv_into(view[got:], min(size - got, 4 * _RECV))
            if not n:
                raise ProtocolError(f"the answer stops after {got} of {size} bytes")
            got += n
        return bytes(out)

    def _read_line(self) -> bytes:
        buffer = self._buffer
        while True:
            end = buffer.find(b"\r\n")
            if end >= 0:
                line = bytes(buffer[:end])
                del buffer[:end + 2]
                return line
            if len(buffer) > _MAX_HEAD:
                raise ProtocolError("malformed chunked body (a line too long)")
            if not self._fill():
                raise ProtocolError("truncated chunked body")

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self._read_line()
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise ProtocolError("malformed chunked body (bad chunk size)") from None
            if size == 0:
                while self._read_line():   # trailers, up to the blank line
                    pass
                return b"".join(parts)
            total += size
            if size < 0 or total > _MAX_BODY:
                raise ProtocolError("malformed chunked body (bad chunk size)")
            parts.append(self._read_exact(size))
            if self._read_line():
                raise ProtocolError("malformed chunked body (no line end after a chunk)")

    def _read_to_close(self) -> bytes:
        while self._fill():
            if len(self._buffer) > _MAX_BODY:
                raise ProtocolError("the answer is too large")
        data = bytes(self._buffer)
        self._buffer.clear()
        return data
