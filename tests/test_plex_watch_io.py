"""plex/watch_io.py over a real PlexConnection against the Plex emulator over HTTP.

Costs are counted in requests the emulator served, never timed.
"""

from __future__ import annotations

import pytest
from freezegun import freeze_time

from plex import watch_io
from plex.client import PlexConnection
from plex.exceptions import ConfigurationError, PlexNotFound, PlexUnreachable, RateLimited
from plex.watch_io import HistoryEntry, PlexAccount
from sandbox.plex_server import generate_items
from tests.sync_support import PLEX_TOKEN, plex_config, plex_emu  # noqa: F401  (fixture)

HISTORY = ("GET", "/status/sessions/history/all")
METADATA = ("GET", "/library/metadata/{key}")
T0 = 1_714_564_800   # 2024-05-01 12:00:00 UTC


@pytest.fixture
def emu(plex_emu):
    plex_emu.keys = plex_emu.add_items(plex_emu.section_id, generate_items(300, "/plex/movies"))
    plex_emu.add_account(7, "Kid", token="kid-token-0123456789")
    return plex_emu


@pytest.fixture
def conn(emu):
    connection = PlexConnection(plex_config(emu))
    connection.server()          # the connect request is not what the tests count
    emu.reset_requests()
    yield connection
    connection.close()
    assert emu.token_urls == 0


def test_history_is_read_oldest_first_a_page_per_request(emu, conn):
    emu.add_plays([(emu.keys[i % 300], 1, T0 + i) for i in range(1000)])
    emu.add_plays([(emu.keys[0], 7, T0 + 5)])        # another account's play
    pages = list(watch_io.iter_history_pages(conn, 1, T0, page_size=200))
    assert [len(p) for p in pages] == [200] * 5
    assert emu.request_counts() == {HISTORY: 5}      # 1,000 plays / 200 = 5 requests, none extra
    plays = [p for page in pages for p in page]
    assert [p.viewed_at for p in plays] == list(range(T0, T0 + 1000))
    assert plays[0] == HistoryEntry(history_id=1, rating_key=str(emu.keys[0]), viewed_at=T0, account_id=1,
                                section_id=emu.section_id)
    assert {p.account_id for p in plays} == {1}


def test_history_since_is_inclusive_and_skips_earlier_plays(emu, conn):
    emu.add_plays([(emu.keys[1], 1, T0 - 1), (emu.keys[2], 1, T0), (emu.keys[3], 1, T0 + 1)])
    assert [(p.rating_key, p.viewed_at) for p in watch_io.iter_history(conn, 1, T0)] == [
        (str(emu.keys[2]), T0), (str(emu.keys[3]), T0 + 1)]
    assert list(watch_io.iter_history(conn, 7, T0)) == []
    assert emu.request_counts()[HISTORY] == 2


def test_resolve_account_by_default_name_or_id(emu, conn):
    assert watch_io.resolve_account(conn, None) == PlexAccount(1, "admin")
    assert watch_io.resolve_account(conn, "") == PlexAccount(1, "admin")
    assert watch_io.resolve_account(conn, "kID") == PlexAccount(7, "Kid")
    assert watch_io.resolve_account(conn, "7") == PlexAccount(7, "Kid")
    with pytest.raises(ConfigurationError) as info:
        watch_io.resolve_account(conn, "Nobody")
    error = info.value
    assert error.setting == "Plex account for plays" and "'Plex account for plays'" in str(error)
    assert "admin (1)" in str(error) and "Kid (7)" in str(error) and PLEX_TOKEN not in str(error)


def test_resolve_account_zero_is_not_an_account(emu, conn):
    with pytest.raises(ConfigurationError):
        watch_io.resolve_account(conn, "0")


def test_watch_states_batch_many_items_into_few_requests(emu, conn):
    keys = [str(k) for k in emu.keys[:250]]
    with freeze_time("2024-05-01 12:00:00"):
        watch_io.scrobble(conn, keys[0])
        watch_io.rate(conn, keys[1], 8.5)
        watch_io.set_progress(conn, keys[2], 120_000, 1_800_000)
    emu.reset_requests()
    states = watch_io.watch_states(conn, keys + ["999999"], batch=100)
    assert emu.request_counts() == {METADATA: 3}     # 251 keys / 100 per request
    assert len(states) == 250 and "999999" not in states
    assert (states[keys[0]].view_count, states[keys[0]].last_viewed_at, states[keys[0]].view_offset) == (1, T0, 0)
    assert (states[keys[1]].user_rating, states[keys[1]].last_rated_at) == (8.5, T0)
    assert (states[keys[2]].view_offset, states[keys[2]].view_count) == (120_000, 0)
    assert states[keys[3]] == watch_io.PlexWatch(keys[3], 0, 0, None, None, None, 1_800_000)


def test_watch_states_of_items_plex_lacks_is_empty(emu, conn):
    assert watch_io.watch_states(conn, ["999998", "999999"]) == {}
    assert watch_io.watch_states(conn, []) == {} and emu.request_counts()[METADATA] == 1


def test_writes_act_as_the_token_account(emu, conn):
    key = str(emu.keys[5])
    watch_io.scrobble(conn, key)
    watch_io.scrobble(conn, key)
    assert emu.watch(int(key))["viewCount"] == 2 and len(emu.history(1)) == 2
    watch_io.unscrobble(conn, key)
    assert emu.watch(int(key))["viewCount"] == 0
    watch_io.rate(conn, key, 4)
    assert emu.watch(int(key))["userRating"] == 4.0
    watch_io.rate(conn, key, None)
    assert emu.watch(int(key))["userRating"] is None
    watch_io.set_progress(conn, key, 65_000, 1_800_000)
    assert emu.watch(int(key))["viewOffset"] == 65_000
    assert emu.watch(int(key), 7) == {"viewCount": 0, "viewOffset": 0, "lastViewedAt": None, "userRating": None,
                                      "lastRatedAt": None}


def test_a_rating_outside_plex_scale_is_refused_before_any_request(emu, conn):
    with pytest.raises(ValueError):
        watch_io.rate(conn, str(emu.keys[0]), 11)
    assert emu.requests == []


def test_errors_are_classified_as_the_client_does(emu, conn):
    with pytest.raises(PlexNotFound):
        watch_io.scrobble(conn, "999999")
    emu.fail_next(1, 503)
    with pytest.raises(PlexUnreachable):
        list(watch_io.iter_history(conn, 1, T0))
    emu.fail_next(1, 429, retry_after=7)
    with pytest.raises(RateLimited) as info:
        watch_io.watch_states(conn, [str(emu.keys[0])])
    assert info.value.retry_after == 7
    emu.set_token("another-token-0123456789")
    with pytest.raises(ConfigurationError) as bad:
        watch_io.resolve_account(conn, None)
    assert bad.value.setting == "Plex token"
