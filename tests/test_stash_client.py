"""stash/client.py plugin_settings on answers a real Stash would not give (finding 11)."""

from __future__ import annotations

import pytest

from stash.client import StashClient, StashConnection


@pytest.mark.parametrize("configuration", [
    {"plugins": []}, {"plugins": "plexsync"}, {"plugins": {"plexsync": ["a"]}}, {"plugins": {"plexsync": 3}},
    [], "x",
])
def test_plugin_settings_that_are_not_a_map_count_as_none_with_a_warning(configuration, capsys):
    client = StashClient(StashConnection())
    # A stand-in for Stash's answer: no real Stash sends these, a proxy or a future one might.
    client.execute = lambda query, variables=None: {"configuration": configuration}
    assert client.plugin_settings() == {}
    assert "not a map" in capsys.readouterr().err


def test_plugin_settings_map_is_returned():
    client = StashClient(StashConnection())
    client.execute = lambda query, variables=None: {"configuration": {"plugins": {"plexsync": {"plex_url": "u"}}}}
    assert client.plugin_settings() == {"plex_url": "u"}


@pytest.mark.parametrize("configuration", [None, {"plugins": None}, {"plugins": {}}])
def test_nothing_configured_is_no_settings_silently(configuration, capsys):
    client = StashClient(StashConnection())
    client.execute = lambda query, variables=None: {"configuration": configuration}
    assert client.plugin_settings() == {}
    assert capsys.readouterr().err == ""
