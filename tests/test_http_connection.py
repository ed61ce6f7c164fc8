"""shared/http_connection.py against a real socket that answers with scripted raw bytes.

The Plex and Stash emulators exercise the common answers (through plex/wire.py and
stash/session.py); here are the shapes of HTTP/1.1 they never send: chunks with
trailers, interim answers, a body read to the close, HTTP/1.0, stray bytes, answers
that stop short or are not HTTP at all.
"""

from __future__ import annotations

import socket
from typing import Iterator

import pytest

from shared.http_connection import HttpConnection, ProtocolError
from tests.raw_server import RawServer


class ScriptedServer(RawServer):
    """Answers each request it reads with the next scripted bytes and records what it
    read. ``None`` closes the connection: first, instead of answering; after an answer,
    as soon as it is sent."""

    def __init__(self, answers: list[bytes | None]) -> None:
        self.answers = list(answers)
        self.requests: list[bytes] = []
        super().__init__()

    def serve_connection(self, client: socket.socket) -> None:
        pending = b""
        while self.answers:
            while b"\r\n\r\n" not in pending:
                data = client.recv(65536)
                if not data:
                    return
                pending += data
            head, _, pending = pending.partition(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            while len(pending) < length:
                pending += client.recv(65536)
            self.requests.append(head + b"\r\n\r\n" + pending[:length])
            pending = pending[length:]
            answer = self.answers.pop(0)
            if answer is None:
                return
            client.sendall(answer)
            if self.answers and self.answers[0] is None:   # close right after this answer
                self.answers.pop(0)
                return


@pytest.fixture
def serve() -> Iterator:
    made: list[tuple[ScriptedServer, HttpConnection]] = []

    def start(*answers: bytes | None) -> tuple[ScriptedServer, HttpConnection]:
        server = ScriptedServer(list(answers))
        conn = HttpConnection("127.0.0.1", server.port, timeout=10)
        conn.connect()
        made.append((server, conn))
        return server, conn

    yield start
    for server, conn in made:
        conn.close()
        server.close()


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def test_two_answers_on_one_connection_with_the_request_as_sent(serve):
    server, conn = serve(OK, b"HTTP/1.1 201 Created\r\nContent-Type: text/xml\r\nContent-Length: 4\r\n\r\n<a/>")
    first = conn.request("PUT", "/library/metadata/1?title.value=A%20B", {"X-Plex-Token": "t"})
    second = conn.request("POST", "/posters", {"Content-Type": "image/jpeg"}, b"\xff\xd8jpeg")
    assert (first.status, first.body, first.will_close) == (200, b"ok", False)
    assert (second.status, second.body, second.headers["content-type"]) == (201, b"<a/>", "text/xml")
    assert server.connections == 1
    put, post = server.requests
    assert put.startswith(b"PUT /library/metadata/1?title.value=A%20B HTTP/1.1\r\n")
    assert b"\r\nHost: 127.0.0.1:" in put and b"\r\nX-Plex-Token: t\r\n" in put
    assert b"\r\nContent-Length: 0\r\n" in put   # an empty PUT still says so
    assert post.endswith(b"Content-Length: 6\r\n\r\n\xff\xd8jpeg")


def test_a_chunked_body_with_extensions_and_trailers_is_joined(serve):
    _, conn = serve(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n", OK)
    assert conn.request("GET", "/").body == b"hello world"
    assert conn.request("GET", "/").body == b"ok"   # the connection is where the next answer starts


def test_an_interim_answer_is_skipped(serve):
    _, conn = serve(b"HTTP/1.1 100 Continue\r\n\r\n" + OK)
    answer = conn.request("POST", "/", body=b"x")
    assert (answer.status, answer.body) == (200, b"ok")


@pytest.mark.parametrize("status", [204, 304])
def test_no_body_answers_read_no_body(serve, status):
    _, conn = serve(f"HTTP/1.1 {status} X\r\n\r\n".encode() + OK)
    assert conn.request("GET", "/").body == b""
    assert conn.request("GET", "/").body == b"ok"


def test_a_head_answer_has_no_body_whatever_its_length_says(serve):
    _, conn = serve(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", OK)
    assert conn.request("HEAD", "/").body == b""
    assert conn.request("GET", "/").body == b"ok"


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokSTRAY",
], ids=["connection close", "HTTP/1.0", "stray bytes"])
def test_answers_after_which_the_connection_is_not_reused(serve, answer):
    _, conn = serve(answer)
    reply = conn.request("GET", "/")
    assert (reply.body, reply.will_close) == (b"ok", True)


def test_a_switch_of_protocol_is_not_reused_for_http(serve):
    _, conn = serve(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")
    reply = conn.request("GET", "/")
    assert (reply.status, reply.body, reply.will_close) == (101, b"", True)


def test_http_1_0_keep_alive_is_kept(serve):
    _, conn = serve(b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok")
    assert conn.request("GET", "/").will_close is False


def test_a_body_without_length_is_read_to_the_close(serve):
    _, conn = serve(b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 300_000, None)
    reply = conn.request("GET", "/")
    assert (len(reply.body), reply.will_close) == (300_000, True)


def test_a_large_body_arrives_whole(serve):
    body = bytes(range(256)) * 8192   # 2 MB, many receives
    _, conn = serve(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    assert conn.request("GET", "/").body == body


def test_repeated_headers_are_joined(serve):
    _, conn = serve(b"HTTP/1.1 200 OK\r\nVary: a\r\nVARY: b\r\nContent-Length: 0\r\n\r\n")
    assert conn.request("GET", "/").headers["vary"] == "a, b"


@pytest.mark.parametrize("answer, message", [
    (None, "closed the connection without an answer"),
    (b"HTTP/1.1 200 OK\r\nContent-Le", "stops within its headers"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "stops after 5 of 10 bytes"),
    (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", "not an HTTP answer"),
    (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "malformed header line"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "bad Content-Length"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999\r\n\r\n", "bad Content-Length"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello", "truncated chunked body"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n", "no line end after a chunk"),
], ids=["nothing", "cut headers", "cut body", "not HTTP", "header line", "negative length", "huge length",
        "chunk size", "cut chunk", "chunk overrun"])
def test_answers_that_are_not_whole_http_raise_protocol_error(serve, answer, message):
    _, conn = serve(answer, None)
    with pytest.raises(ProtocolError, match=message):
        conn.request("GET", "/")


def test_an_endless_header_is_refused_not_buffered_forever(serve):
    _, conn = serve(b"HTTP/1.1 200 OK\r\nX: " + b"a" * 200_000, None)
    with pytest.raises(ProtocolError, match="too long"):
        conn.request("GET", "/")


@pytest.mark.parametrize("target", ["/a b", "/a\r\nX: y", "/\x00", "/ä"])
def test_a_target_that_could_split_the_request_is_refused_before_sending(serve, target):
    server, conn = serve(OK)
    with pytest.raises(ValueError, match="not a request target"):
        conn.request("GET", target)
    assert conn.request("GET", "/").body == b"ok" and len(server.requests) == 1


def test_header_values_cannot_add_lines(serve):
    server, conn = serve(OK)
    conn.request("GET", "/", {"X-Plex-Token": "t\r\nX-Evil: 1"})
    assert b"\r\nX-Evil" not in server.requests[0] and b"X-Plex-Token: tX-Evil: 1\r\n" in server.requests[0]


def test_a_request_on_a_closed_connection_sends_nothing(serve):
    server, conn = serve(OK)
    conn.close()
    with pytest.raises(ProtocolError, match="not open"):
        conn.request("GET", "/")
    assert server.requests == []


def test_the_host_header_names_the_port_only_when_it_is_not_the_default():
    assert HttpConnection("plex.lan", 80, timeout=1)._host_header == "plex.lan"
    assert HttpConnection("::1", 32400, timeout=1)._host_header == "[::1]:32400"
