"""stash/session.py: kept connections to Stash for tasks, against the Stash emulator.

The same answers and errors as the hook's one-shot transport, one connection per
thread, a connection Stash closed while idle replaced before use (never a request
sent twice), and a StashClient on it behaving as on the one-shot transport.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from stash.client import StashClient, StashConnection, StashUnreachable
from stash.session import StashSession
from stash.transport import TransportError, request
from tests.sync_support import stash_emu  # noqa: F401  (fixture)


def connection(server) -> StashConnection:
    return StashConnection(host=server.host, port=server.port, api_key=server.api_key)


def cover_path(server) -> str:
    scene_id = server.add_scene(title="A", files=["/stash/a.mp4"])
    return f"/scene/{scene_id}/screenshot"


def test_answers_match_the_one_shot_transport_on_one_kept_connection(stash_emu):
    path = cover_path(stash_emu)
    headers = connection(stash_emu).headers()
    session = StashSession()
    try:
        kept = [session.request("GET", "http", stash_emu.host, stash_emu.port, path, headers=headers)
                for _ in range(5)]
        assert session.connections == 1
    finally:
        session.close()
    once = request("GET", "http", stash_emu.host, stash_emu.port, path, headers=headers)
    assert {(r.status, r.body, r.headers["content-type"]) for r in kept} == {(once.status, once.body,
                                                                              once.headers["content-type"])}
    assert once.status == 200 and once.body.startswith(b"\xff\xd8")


def test_each_thread_keeps_its_own_connection(stash_emu):
    path = cover_path(stash_emu)
    session = StashSession()
    barrier = threading.Barrier(3)

    def fetch(_: int) -> int:
        barrier.wait(timeout=10)
        return session.request("GET", "http", stash_emu.host, stash_emu.port, path,
                               headers=connection(stash_emu).headers()).status

    try:
        with ThreadPoolExecutor(3) as pool:
            assert list(pool.map(fetch, range(3))) == [200] * 3
        assert session.connections == 3
    finally:
        session.close()
    assert session.connections == 0


def test_stash_restarting_between_requests_costs_a_reconnect_not_an_error(stash_emu):
    client = StashClient(connection(stash_emu)).keep_alive()
    assert client.plugin_settings() == {}
    stash_emu.set_down(True)   # closes every open connection
    stash_emu.set_down(False)  # listening again on the same port
    before = len(stash_emu.queries)
    assert client.plugin_settings() == {}
    assert len(stash_emu.queries) == before + 1   # sent once


def test_stash_gone_is_unreachable_with_the_address(stash_emu):
    client = StashClient(connection(stash_emu)).keep_alive()
    client.plugin_settings()
    stash_emu.set_down(True)
    try:
        with pytest.raises(StashUnreachable) as info:
            client.plugin_settings()
        assert f"{stash_emu.port}" in str(info.value)
    finally:
        stash_emu.set_down(False)


def test_header_values_cannot_inject_lines(stash_emu):
    session = StashSession()
    try:
        answer = session.request("POST", "http", stash_emu.host, stash_emu.port, "/graphql",
                                 headers={"Content-Type": "application/json\r\nX-Evil: 1"},
                                 body=b'{"query": "{ version { version } }"}')
    finally:
        session.close()
    assert answer.status in (200, 401, 422)


def test_connect_failure_is_a_transport_error():
    session = StashSession()
    with pytest.raises(TransportError):
        session.request("GET", "http", "127.0.0.1", 9, "/", timeout=2.0)


def test_connections_of_threads_that_ended_are_closed(stash_emu):
    # Short-lived threads (a pool per round) must not leave a socket each behind.
    path = cover_path(stash_emu)
    headers = connection(stash_emu).headers()
    session = StashSession()
    try:
        for _ in range(5):
            with ThreadPoolExecutor(3) as pool:
                statuses = list(pool.map(lambda _: session.request("GET", "http", stash_emu.host, stash_emu.port,
                                                                   path, headers=headers).status, range(6)))
            assert statuses == [200] * 6
            assert session.connections <= 3
    finally:
        session.close()
