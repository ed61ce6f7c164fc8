"""Shared parts for the sync-core tests (test_plex_client, test_matcher, test_sync, …).

Everything is real: the Plex emulator and the Stash emulator serve over loopback HTTP,
``PlexConnection`` drives them through unmodified plexapi, ``StashClient`` through its own
transport. Import the fixtures by name into a test module to use them.
"""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.plex_server import PlexServer
from sandbox.stash_server import StashServer
from stash.client import StashClient, StashConnection
from validation.config import PlexSyncConfig

#: Long enough to be unmistakable in any message it leaks into.
PLEX_TOKEN = "plexsync-test-token-0123456789"
MOVIES = "/plex/movies"
EDIT = ("PUT", "/library/sections/{id}/all")
LISTING = ("GET", "/library/sections/{id}/all")
METADATA = ("GET", "/library/metadata/{key}")
POSTER = ("POST", "/library/metadata/{key}/posters")
REFRESH = ("GET", "/library/sections/{id}/refresh")


def plex_config(plex: PlexServer, **overrides: Any) -> PlexSyncConfig:
    """A config pointing at the emulator (short timeouts: everything is on loopback)."""
    values: dict[str, Any] = {"plex_url": plex.url, "plex_token": plex.token, "connect_timeout": 2.0,
                              "read_timeout": 5.0}
    values.update(overrides)
    return PlexSyncConfig(**values)


def stash_client(stash: StashServer) -> StashClient:
    """A client authenticated the way a long task is: with Stash's API key."""
    return StashClient(StashConnection(host=stash.host, port=stash.port, api_key=stash.api_key), timeout=5.0)


@pytest.fixture
def no_plexapi_autoreload(monkeypatch):
    """For modules driving plexapi directly: plexapi reads this per object, and a hidden
    reload request would skew the emulator's counts. Import it by name and use it for the
    whole module: ``pytestmark = pytest.mark.usefixtures("no_plexapi_autoreload")``."""
    monkeypatch.setenv("PLEXAPI_PLEXAPI_AUTORELOAD", "false")


@pytest.fixture
def plex_emu():
    """A started Plex emulator with one movie section at ``MOVIES`` (``plex_emu.section_id``)."""
    with PlexServer(token=PLEX_TOKEN) as server:
        server.section_id = server.add_section("Movies", [MOVIES])
        yield server
    assert server.server_errors == []


@pytest.fixture
def stash_emu():
    """A started Stash emulator."""
    with StashServer() as server:
        yield server


def edits(plex: PlexServer) -> list[dict]:
    """The query of every edit PUT the emulator received, oldest first (type/id included)."""
    return [r.query for r in plex.requests if (r.method, r.route) == EDIT]
