"""plex/wire.py: PlexSync's own keep-alive requests to Plex, over real sockets.

Through ``PlexConnection`` against the Plex emulator (what the drain uses), plus two
small servers for what the emulator never does (close an idle connection without
warning, redirect). A request is never sent twice, one thread keeps one connection,
and what requests did (proxies, redirects) still happens.
"""

from __future__ import annotations

import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import pytest

from plex.client import PlexConnection
from plex.exceptions import PlexUnreachable
from plex.wire import PlexWire, tls_context
from tests.raw_server import RawServer
from tests.sync_support import LISTING, MOVIES, plex_config, plex_emu  # noqa: F401  (fixture)

SECTIONS = ("GET", "/library/sections")


class OneShotServer(RawServer):
    """Answers each connection's first request with ``answer(request line)``, then closes
    it without saying so (no ``Connection: close``): a keep-alive timeout on the server's side."""

    def __init__(self, answer: Callable[[bytes], bytes]) -> None:
        self.answer = answer
        self.requests: list[bytes] = []
        self.closed = threading.Semaphore(0)   # released each time the server hung up
        super().__init__()

    def serve_connection(self, client: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(65536)
            if not chunk:
                break
            head += chunk
        line = head.split(b"\r\n", 1)[0]
        self.requests.append(line)
        client.sendall(self.answer(line))

    def hung_up(self) -> None:
        self.closed.release()


def wire_to(port: int) -> PlexWire:
    return PlexWire(f"http://127.0.0.1:{port}", {"X-Plex-Token": "t"}, verify=True, timeout=(2.0, 5.0))


@pytest.fixture
def conn(plex_emu):
    connection = PlexConnection(plex_config(plex_emu))
    yield connection
    connection.close()


def test_one_thread_keeps_one_connection(plex_emu, conn):
    for _ in range(5):
        conn.all_sections()
    assert conn._wire is not None and conn._wire.connections == 1
    assert plex_emu.request_counts()[SECTIONS] == 5


def test_each_pool_thread_has_its_own_connection_and_close_ends_them(plex_emu, conn):
    conn.server()
    barrier = threading.Barrier(3)

    def call(_: int) -> None:
        barrier.wait(timeout=10)   # all three threads alive at once: three connections
        conn.all_sections()

    with ThreadPoolExecutor(3) as pool:
        list(pool.map(call, range(3)))
    assert conn._wire is not None and conn._wire.connections == 3
    conn.close()
    assert conn._wire.connections == 0


def test_a_connection_plex_closed_while_idle_is_replaced_not_resent(plex_emu, conn):
    conn.all_sections()
    plex_emu.set_down(True)    # a Plex restart closes every open connection
    plex_emu.set_down(False)
    before = plex_emu.request_counts()[SECTIONS]
    assert conn.all_sections()
    assert plex_emu.request_counts()[SECTIONS] == before + 1


def test_silent_close_after_each_answer_costs_a_reconnect_never_a_second_send():
    server = OneShotServer(lambda line: b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n<Container/>")
    wire = wire_to(server.port)
    try:
        for _ in range(3):
            assert wire.request("PUT", "/library/sections/1/all?title.value=x").status == 200
            assert server.closed.acquire(timeout=10)   # idle and closed before the next request
    finally:
        wire.close()
        server.close()
    assert len(server.requests) == 3 and server.connections == 3


def test_dropped_mid_request_is_an_error_not_a_resend(plex_emu, conn):
    conn.all_sections()
    plex_emu.drop_next(1)
    with pytest.raises(PlexUnreachable):
        conn.load_item("1")
    assert [r.status for r in plex_emu.requests if r.route == "/library/metadata/{key}"] == [0]


def test_a_redirect_hands_the_connection_to_requests_which_follows_it(plex_emu):
    # A reverse proxy in front of Plex that redirects every request to the real address.
    def redirect(line: bytes) -> bytes:
        return (f"HTTP/1.1 307 Temporary Redirect\r\nLocation: {plex_emu.url}{line.split()[1].decode()}\r\n"
                "Content-Length: 0\r\n\r\n").encode()

    proxy = OneShotServer(redirect)
    conn = PlexConnection(plex_config(plex_emu, plex_url=f"http://127.0.0.1:{proxy.port}"))
    try:
        assert [s.title for s in conn.all_sections()] == ["Movies"]
        assert conn._wire is None                       # requests carries the rest
        assert [s.title for s in conn.all_sections()] == ["Movies"]
    finally:
        conn.close()
        proxy.close()
    assert plex_emu.request_counts()[SECTIONS] == 2     # each listing reached Plex once


def test_no_wire_when_a_proxy_applies(monkeypatch, plex_emu):
    # requests speaks to the proxy; the wire is for a Plex reached directly (no_proxy honoured).
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)

    def wire(url: str) -> PlexWire | None:
        conn = PlexConnection(plex_config(plex_emu, plex_url=url))
        return conn._make_wire(conn._make_session())

    assert wire("http://plex.example:32400") is None
    monkeypatch.setenv("NO_PROXY", "plex.example")
    assert isinstance(wire("http://plex.example:32400"), PlexWire)


def test_tls_context_follows_requests_rules(tmp_path):
    import ssl

    assert tls_context(False).verify_mode == ssl.CERT_NONE and not tls_context(False).check_hostname
    assert tls_context(True).verify_mode == ssl.CERT_REQUIRED and tls_context(True).check_hostname
    with pytest.raises(FileNotFoundError):
        tls_context(str(tmp_path / "missing.pem"))
    assert tls_context(str(tmp_path)).verify_mode == ssl.CERT_REQUIRED   # a folder of hashed certificates


def test_sections_listing_through_the_wire_is_counted(plex_emu, conn):
    list(conn.list_section(str(plex_emu.section_id)))
    assert conn.request_count == 2 and plex_emu.request_counts()[LISTING] == 1
