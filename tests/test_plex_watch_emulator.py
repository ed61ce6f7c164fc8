"""Watch state, history and accounts of the Plex emulator, driven by plexapi's own calls.

Every write goes through plexapi (markPlayed, markUnplayed, rate, updateProgress,
updateTimeline) and every read through plexapi too (item attributes, item.history(),
server.history(), systemAccounts()), so the emulator speaks what plexapi sends. Time
comes from freezegun: the emulator reads ``time.time()``.
"""

from __future__ import annotations

import random
from datetime import datetime, timezone
from xml.etree import ElementTree

import pytest
import requests
from freezegun import freeze_time
from plexapi.exceptions import BadRequest, NotFound
from plexapi.server import PlexServer as PlexApiServer

from sandbox.plex_server import PlexServer, generate_items
from sandbox.plex_watch import History
from tests.sync_support import no_plexapi_autoreload  # noqa: F401  (fixture)

MOVIES = "/media/movies"
NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
NOW_TS = int(NOW.timestamp())
HISTORY = ("GET", "/status/sessions/history/all")


pytestmark = pytest.mark.usefixtures("no_plexapi_autoreload")


@pytest.fixture
def emu():
    with PlexServer() as server:
        server.section_id = server.add_section("Movies", [MOVIES])
        server.keys = server.add_items(server.section_id, generate_items(5))
        server.add_account(7, "Kid", token="kid-token-123456")
        yield server
    assert server.server_errors == []


@pytest.fixture
def sessions():
    made: list[requests.Session] = []
    yield made
    for s in made:
        s.close()


@pytest.fixture
def plex(emu, sessions):
    sessions.append(requests.Session())
    return PlexApiServer(emu.url, emu.token, session=sessions[-1], timeout=5)


@pytest.fixture
def kid(emu, sessions):
    sessions.append(requests.Session())
    return PlexApiServer(emu.url, "kid-token-123456", session=sessions[-1], timeout=5)


def raw_video(emu, key: int, token: str | None = None) -> dict:
    """The attributes of ``/library/metadata/{key}`` exactly as sent."""
    answer = requests.get(f"{emu.url}/library/metadata/{key}", headers={"X-Plex-Token": token or emu.token},
                          timeout=5)
    answer.raise_for_status()
    return dict(ElementTree.fromstring(answer.content).find("Video").attrib)


def test_system_accounts_list_the_owner_and_added_accounts(plex):
    accounts = {a.id: a.name for a in plex.systemAccounts()}
    assert accounts == {0: None, 1: "admin", 7: "Kid"}   # 0: PMS's own nameless account


def test_an_unknown_token_is_refused(emu):
    assert requests.get(f"{emu.url}/accounts", headers={"X-Plex-Token": "nobody"}, timeout=5).status_code == 401


def test_unset_watch_attributes_are_absent_as_plex_omits_them(emu):
    attrs = raw_video(emu, emu.keys[0])
    assert not {"viewCount", "viewOffset", "lastViewedAt", "userRating", "lastRatedAt"} & set(attrs)


def test_mark_played_counts_a_play_at_now_with_a_history_row(emu, plex):
    movie = plex.fetchItem(emu.keys[0])
    movie.updateProgress(60_000)
    with freeze_time(NOW):
        movie.markPlayed()
        movie.markPlayed()
    movie = plex.fetchItem(emu.keys[0])
    assert (movie.viewCount, movie.viewOffset, int(movie.lastViewedAt.timestamp())) == (2, 0, NOW_TS)
    assert "viewOffset" not in raw_video(emu, emu.keys[0])
    rows = movie.history()
    assert [(r.accountID, int(r.viewedAt.timestamp()), r.ratingKey) for r in rows] == [(1, NOW_TS, emu.keys[0])] * 2
    assert rows[0].historyKey.startswith("/status/sessions/history/")
    ids = [int(r.historyKey.rsplit("/", 1)[1]) for r in rows]
    assert ids[0] > ids[1]   # newest first, ids grow


def test_mark_unplayed_clears_count_and_offset_and_keeps_history(emu, plex):
    movie = plex.fetchItem(emu.keys[0])
    movie.markPlayed()
    movie.updateProgress(30_000)
    movie.markUnplayed()
    movie = plex.fetchItem(emu.keys[0])
    assert (movie.viewCount, movie.viewOffset, movie.isPlayed) == (0, 0, False)
    assert len(movie.history()) == 1


def test_rate_sets_and_clears_the_rating(emu, plex):
    movie = plex.fetchItem(emu.keys[1])
    with freeze_time(NOW):
        movie.rate(7.5)
    movie = plex.fetchItem(emu.keys[1])
    assert movie.userRating == 7.5 and int(movie.lastRatedAt.timestamp()) == NOW_TS
    assert emu.item(emu.keys[1])["userRating"] == 7.5   # the owner's rating is the item's field
    movie.rate()
    movie = plex.fetchItem(emu.keys[1])
    assert movie.userRating is None and movie.lastRatedAt is None
    with pytest.raises(BadRequest):
        plex.query(f"/:/rate?key={emu.keys[1]}&identifier=com.plexapp.plugins.library&rating=11",
                   method=plex._session.put)


def test_progress_and_timeline_set_the_resume_offset(emu, plex):
    movie = plex.fetchItem(emu.keys[2])
    with freeze_time(NOW):
        movie.updateProgress(61_000)
    movie = plex.fetchItem(emu.keys[2])
    assert movie.viewOffset == 61_000 and int(movie.lastViewedAt.timestamp()) == NOW_TS and not movie.viewCount
    movie.updateTimeline(90_000, duration=1_800_000)
    assert plex.fetchItem(emu.keys[2]).viewOffset == 90_000
    assert movie.history() == []


def test_progress_near_the_end_counts_as_a_play(emu, plex):
    movie = plex.fetchItem(emu.keys[2])
    movie.updateTimeline(int(movie.duration * 0.95))
    movie = plex.fetchItem(emu.keys[2])
    assert (movie.viewCount, movie.viewOffset, len(movie.history())) == (1, 0, 1)
    movie.updateProgress(int(movie.duration * 0.91))
    assert plex.fetchItem(emu.keys[2]).viewCount == 2


def test_writes_to_unknown_items_are_404(emu, plex):
    for path in ("/:/scrobble?key=999&identifier=com.plexapp.plugins.library",
                 "/:/unscrobble?key=999&identifier=com.plexapp.plugins.library",
                 "/:/progress?key=999&identifier=com.plexapp.plugins.library&time=5000&state=stopped"):
        with pytest.raises(NotFound):
            plex.query(path)
    with pytest.raises(NotFound):
        plex.query("/:/rate?key=999&identifier=com.plexapp.plugins.library&rating=5", method=plex._session.put)


def test_two_accounts_are_kept_apart(emu, plex, kid):
    key = emu.keys[3]
    with freeze_time(NOW):
        kid.fetchItem(key).markPlayed()
        kid.fetchItem(key).rate(4.0)
        kid.fetchItem(key).updateProgress(5_000)
    theirs = kid.fetchItem(key)
    assert (theirs.viewCount, theirs.viewOffset, theirs.userRating) == (1, 5_000, 4.0)
    mine = plex.fetchItem(key)
    assert (mine.viewCount, mine.viewOffset, mine.userRating, mine.lastViewedAt) == (0, 0, None, None)
    listed = {m.ratingKey: m for m in kid.library.section("Movies").all()}
    assert listed[key].viewCount == 1 and listed[key].userRating == 4.0
    assert not plex.library.section("Movies").all()[3].viewCount
    assert [r.accountID for r in plex.history(accountID=7)] == [7]
    assert plex.history(accountID=1) == []
    assert [r.accountID for r in kid.history()] == [7]   # a non-owner sees its own plays
    assert emu.watch(key, 7)["viewCount"] == 1 and emu.watch(key)["viewCount"] == 0
    assert all("kid-token" not in str(r) for r in emu.requests)


def test_history_filters_by_account_date_item_and_section(emu, plex):
    a, b = emu.keys[:2]
    emu.add_plays([(a, 1, NOW_TS - 100), (b, 1, NOW_TS - 50), (a, 7, NOW_TS), (b, 1, NOW_TS + 10)])
    since = datetime.fromtimestamp(NOW_TS - 50, tz=timezone.utc)
    assert [(r.ratingKey, int(r.viewedAt.timestamp())) for r in plex.history(accountID=1, mindate=since)] == [
        (b, NOW_TS + 10), (b, NOW_TS - 50)]        # mindate is inclusive, newest first
    assert [r.accountID for r in plex.fetchItem(a).history()] == [7, 1]
    assert len(plex.library.section("Movies").history()) == 3   # the section's history: account 1
    other = emu.add_section("Other", ["/media/other"])
    emu.add_items(other, [{"title": "X", "files": ["/media/other/x.mkv"]}])
    assert plex.history(librarySectionID=other) == []
    assert plex.fetchItem(a).viewCount == 1 and emu.watch(a, 7)["lastViewedAt"] == NOW_TS


def test_history_pages_like_section_listings(emu, plex):
    emu.add_plays([(emu.keys[i % 5], 1, NOW_TS + i) for i in range(250)])
    emu.reset_requests()
    rows = plex.history(accountID=1)     # plexapi pages 100 at a time, stopping at totalSize
    assert len(rows) == 250 and emu.request_counts()[HISTORY] == 3
    stamps = [int(r.viewedAt.timestamp()) for r in rows]
    assert stamps == sorted(stamps, reverse=True)
    answer = requests.get(f"{emu.url}/status/sessions/history/all?sort=viewedAt:asc&accountID=1"
                          f"&viewedAt>={NOW_TS + 100}",
                          headers={"X-Plex-Token": emu.token, "X-Plex-Container-Start": "20",
                                   "X-Plex-Container-Size": "30"}, timeout=5)
    box = ElementTree.fromstring(answer.content)
    assert (box.get("size"), box.get("totalSize"), box.get("offset")) == ("30", "150", "20")
    assert [int(v.get("viewedAt")) - NOW_TS for v in box] == list(range(120, 150))


def test_bulk_seeding_and_paging_match_a_naive_scan():
    history = History()
    rng = random.Random(11)
    rows = [(rng.randint(1, 50), rng.choice((1, 7, 9)), rng.randint(0, 10_000), 0, 1) for _ in range(40_000)]
    rows = [(k, acc, at, 1 + k % 3, dev) for k, acc, at, _, dev in rows]
    ids = history.add_many(rows)
    assert ids == list(range(1, 40_001))
    history.add(4, 7, 5_000, 2)
    history.delete(17)
    plays = sorted(history.plays.values(), key=lambda p: (p.viewed_at, p.id))
    fields = {"account": "account_id", "section": "section_id", "item": "rating_key"}
    for filters in ({}, {"account": 7}, {"section": 2}, {"item": 4}, {"account": 9, "section": 3},
                    {"account": 1, "item": 5}, {"item": 5, "section": 3}, {"item": 5, "section": 1}):
        matching = [p for p in plays if all(getattr(p, fields[n]) == v for n, v in filters.items())]
        for since, before in ((None, None), (2_000, None), (None, 7_000), (5_000, 5_001)):
            want = [p for p in matching
                    if (since is None or p.viewed_at >= since) and (before is None or p.viewed_at < before)]
            page, total = history.query(since=since, before=before, start=3, size=40, **filters)
            assert total == len(want) and page == want[3:43], filters
            page, _ = history.query(since=since, before=before, start=3, size=40, descending=True, **filters)
            assert page == want[::-1][3:43], filters


def test_watch_writes_count_as_requests_on_their_item(emu, plex):
    """The per-item concurrency measure (for the pool's per-item locks) sees watch writes."""
    movie = plex.fetchItem(emu.keys[4])
    emu.reset_concurrency()
    movie.markPlayed()
    movie.updateTimeline(5_000)
    assert emu.max_in_flight_per_item == {str(emu.keys[4]): 1}


def test_a_history_row_can_be_deleted_through_plexapi(emu, plex, kid):
    emu.add_plays([(emu.keys[0], 1, NOW_TS), (emu.keys[0], 7, NOW_TS + 1)])
    mine, theirs = plex.history(accountID=1)[0], plex.history(accountID=7)[0]
    with pytest.raises(NotFound):
        kid.query(mine.historyKey, method=kid._session.delete)   # not the kid's play
    theirs.delete()
    assert [r.accountID for r in plex.fetchItem(emu.keys[0]).history()] == [1]
