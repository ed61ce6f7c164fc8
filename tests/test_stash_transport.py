"""The hook's tiny HTTP transport against a real socket that answers with raw bytes."""

from __future__ import annotations

import socket
import threading
from typing import Callable, Iterator

import pytest

from stash.transport import TransportError, request


@pytest.fixture
def answer() -> Iterator[Callable[[bytes], int]]:
    """Serve one connection with the bytes given; returns its port."""
    servers: list[socket.socket] = []

    def serve(raw: bytes) -> int:
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        servers.append(server)

        def run() -> None:
            conn, _ = server.accept()
            with conn:
                conn.settimeout(5)
                conn.recv(65536)
                conn.sendall(raw)

        threading.Thread(target=run, daemon=True).start()
        return server.getsockname()[1]

    yield serve
    for server in servers:
        server.close()


def test_a_chunked_body_is_joined(answer):
    port = answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n")
    response = request("POST", "http", "127.0.0.1", port, "/graphql", timeout=5)
    assert response.status == 200 and response.body == b"hello world"


@pytest.mark.parametrize("body", [b"zz\r\nhello\r\n0\r\n\r\n", b"5\r\nhello"], ids=["bad size", "truncated"])
def test_a_malformed_chunked_body_is_a_transport_error(answer, body):
    # A ValueError here would escape the Stash client's error handling.
    port = answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
    with pytest.raises(TransportError, match="chunked body"):
        request("POST", "http", "127.0.0.1", port, "/graphql", timeout=5)
