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


def test_scene_pages_reads_every_page_in_id_order_with_the_total():
    """The one paging loop: reconcile reads pages (it reports progress against the total),
    iter_scenes the same pages flattened."""
    from sandbox.stash_server import StashServer

    server = StashServer().start()
    try:
        ids = [int(server.add_scene(title=f"s{i}", files=[f"/v/{i}.mp4"])) for i in range(5)]
        client = StashClient(StashConnection(host=server.host, port=server.port, api_key=server.api_key),
                             timeout=10.0)
        pages = list(client.scene_pages(2))
        assert [count for count, _ in pages] == [5, 5, 5]
        assert [[int(s["id"]) for s in scenes] for _, scenes in pages] == [ids[0:2], ids[2:4], ids[4:5]]
        assert [int(s["id"]) for s in client.iter_scenes(2)] == ids
    finally:
        server.stop()
