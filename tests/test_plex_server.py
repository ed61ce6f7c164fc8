"""The Plex emulator (sandbox/plex_server.py) driven over HTTP by real, unmodified plexapi.

Each test starts its own emulator on a free loopback port. Fixture-parity tests parse the
captured PMS responses in ../shared/fixtures/plex/ with plexapi and compare what plexapi
exposes from them with what it exposes from the emulator.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote
from xml.etree import ElementTree

import pytest

from tests.conftest import read_line
import requests
from plexapi.exceptions import BadRequest, NotFound, Unauthorized
from plexapi.library import FilteringFieldType, FilteringType, MovieSection
from plexapi.media import MediaPart
from plexapi.base import MediaContainer, PlexObject
from plexapi.server import PlexServer as PlexApiServer
from plexapi.video import Movie

from sandbox import plex_server
from sandbox.plex_server import UNKNOWN_ROUTE, PlexServer, generate_items
from tests.sync_support import no_plexapi_autoreload  # noqa: F401  (fixture)

FIXTURES = Path(__file__).resolve().parents[1] / ".." / "shared" / "fixtures" / "plex"
MOVIES = "/media/movies"
EDIT_ROUTE = ("PUT", "/library/sections/{id}/all")


pytestmark = pytest.mark.usefixtures("no_plexapi_autoreload")


@pytest.fixture
def emu():
    with PlexServer() as server:
        server.section_id = server.add_section("Movies", [MOVIES])
        yield server
    assert server.server_errors == []


@pytest.fixture
def session():
    with requests.Session() as s:
        yield s


@pytest.fixture
def plex(emu, session):
    return PlexApiServer(emu.url, emu.token, session=session, timeout=5)


def _full_item(emu) -> int:
    return emu.add_item(
        emu.section_id, "Full Movie", [f"{MOVIES}/Full/full.cd1.mkv", f"{MOVIES}/Full/full.cd2.mkv"],
        summary='Line one\nline "two" & <three> — ünïcødé 🎬', studio="Studio X", tagline="Tag line",
        contentRating="R", originallyAvailableAt="2001-02-03", year=2001, userRating=8.0, rating=7.5,
        genres=["Drama", "Sci-Fi", "Noir"], actors=["Zed", "Amy", "Bob", "Cat", "Dan"],
        collections=["Saga"], labels=["synced"], directors=["Dee"], writers=["Wes"], countries=["Fr"],
        locked=["title"])


def _movie(plex, key) -> Movie:
    return plex.fetchItem(key)


# ------------------------------------------------------------------- basics
def test_connects_and_lists_sections(emu, plex):
    assert plex.friendlyName == "PlexSync Sandbox"
    assert plex.version.startswith("1.41.")
    assert plex.machineIdentifier == emu.machine_identifier
    sections = plex.library.sections()
    assert [(s.key, s.title, s.type, s.locations) for s in sections] == [(emu.section_id, "Movies", "movie", [MOVIES])]
    assert isinstance(sections[0], MovieSection) and sections[0].uuid and sections[0].scanner


def test_find_by_file_is_loose_server_side_and_exact_after_checking_parts(emu, plex):
    wanted = f"{MOVIES}/Clip/clip.mp4"
    key = emu.add_item(emu.section_id, "Clip", [wanted])
    emu.add_item(emu.section_id, "Clip copy", [f"{MOVIES}/clip/CLIP.mp4.orig"])
    section = plex.library.sectionByID(emu.section_id)
    found = section.fetchItems(f"/library/sections/{section.key}/all?type=1&file={quote(wanted)}")
    assert len(found) == 2   # the server-side match is loose, as on a real PMS
    exact = [m for m in found if any(p.file == wanted for media in m.media for p in media.parts)]
    assert [m.ratingKey for m in exact] == [key]
    assert emu.find_by_file(wanted) == key and emu.find_by_file("/nope") is None


def test_fetch_item_returns_the_full_item(emu, plex):
    key = _full_item(emu)
    movie = _movie(plex, key)
    assert (movie.ratingKey, movie.key, movie.type) == (key, f"/library/metadata/{key}", "movie")
    assert movie.title == "Full Movie"
    assert movie.summary == 'Line one\nline "two" & <three> — ünïcødé 🎬'
    assert (movie.studio, movie.tagline, movie.contentRating, movie.year) == ("Studio X", "Tag line", "R", 2001)
    assert movie.originallyAvailableAt.date().isoformat() == "2001-02-03"
    assert (movie.userRating, movie.rating) == (8.0, 7.5)
    assert [r.tag for r in movie.roles] == ["Zed", "Amy", "Bob", "Cat", "Dan"]
    assert [g.tag for g in movie.genres] == ["Drama", "Sci-Fi", "Noir"]
    assert [t.tag for t in movie.collections + movie.labels + movie.directors + movie.writers + movie.countries] \
        == ["Saga", "synced", "Dee", "Wes", "Fr"]
    assert [(f.name, f.locked) for f in movie.fields] == [("title", True)]
    assert movie.librarySectionID == emu.section_id and movie.librarySectionTitle == "Movies"
    assert movie.guid and movie.thumb.startswith(f"/library/metadata/{key}/thumb/")
    parts = [p for media in movie.media for p in media.parts]
    assert [p.file for p in parts] == [f"{MOVIES}/Full/full.cd1.mkv", f"{MOVIES}/Full/full.cd2.mkv"]
    assert all(p.size and p.duration for p in parts)
    with pytest.raises(NotFound):
        plex.fetchItem(99999)


def test_listing_carries_partial_items_with_truncated_tags(emu, plex):
    key = _full_item(emu)
    [listed] = plex.library.sectionByID(emu.section_id).all()
    assert listed.ratingKey == key and listed.isPartialObject()
    assert [g.tag for g in listed.genres] == ["Drama", "Sci-Fi"]
    assert [r.tag for r in listed.roles] == ["Zed", "Amy", "Bob"]
    assert listed.collections == [] and listed.labels == [] and listed.fields == []
    assert [p.file for p in listed.media[0].parts][0].endswith("full.cd1.mkv")


def test_paging_by_headers_and_query_params(emu, session):
    emu.add_items(emu.section_id, generate_items(25, MOVIES))
    url = f"{emu.url}/library/sections/{emu.section_id}/all"
    by_header = session.get(url, params={"type": 1}, headers={
        "X-Plex-Token": emu.token, "X-Plex-Container-Start": "20", "X-Plex-Container-Size": "10"})
    by_query = session.get(url, params={"type": 1, "X-Plex-Container-Start": 20, "X-Plex-Container-Size": 10},
                           headers={"X-Plex-Token": emu.token})
    for response in (by_header, by_query):
        root = ElementTree.fromstring(response.content)
        assert (root.get("size"), root.get("totalSize"), root.get("offset")) == ("5", "25", "20")
        assert [v.get("title") for v in root.iter("Video")] == [f"Movie {i:06d}" for i in range(21, 26)]


# -------------------------------------------------------------------- edits
def test_batch_edits_go_out_as_one_put_and_apply_as_plex_does(emu, plex):
    key = _full_item(emu)
    movie = _movie(plex, key)
    emu.reset_requests()
    movie.batchEdits()
    movie.editTitle("New Title").editSummary("New\nsummary").editField("studio", "Studio Y", locked=False)
    movie.edit(**{"genre[0].tag.tag": "Thriller, Dark", "genre[1].tag.tag": "Crime", "genre.locked": 1,
                  "actor[0].tag.tag": "Amy", "actor[1].tag.tag": "Zed", "actor.locked": 1})
    movie.saveEdits()
    puts = [r for r in emu.requests if r.method == "PUT"]   # plexapi also looks the section up once
    assert emu.request_counts()[EDIT_ROUTE] == 1 and len(puts) == 1
    [put] = puts
    assert put.query["id"] == str(key) and put.query["type"] == "1"

    movie.reload()
    assert (movie.title, movie.summary, movie.studio) == ("New Title", "New\nsummary", "Studio Y")
    assert [g.tag for g in movie.genres] == ["Thriller, Dark", "Crime"]
    assert [r.tag for r in movie.roles] == ["Amy", "Zed"]
    assert {f.name for f in movie.fields if f.locked} == {"title", "summary", "genre", "actor"}
    state = emu.item(key)
    assert state["genres"] == ["Thriller, Dark", "Crime"] and state["actors"] == ["Amy", "Zed"]
    assert state["collections"] == ["Saga"] and "studio" not in state["locked"]


def test_tag_values_keep_every_character(emu, plex):
    key = emu.add_item(emu.section_id, "Chars", [f"{MOVIES}/c.mkv"])
    odd = ['a,b', 'quote " \' `', "amp & <lt>", "ünï 🎬 — 日本", "plus+ %20 percent", "semi;colon=eq"]
    movie = _movie(plex, key)
    movie.edit(**{f"label[{i}].tag.tag": tag for i, tag in enumerate(odd)})
    assert [t.tag for t in movie.reload().labels] == odd
    assert emu.item(key)["labels"] == odd


def test_removing_tags(emu, plex):
    key = emu.add_item(emu.section_id, "Tags", [f"{MOVIES}/t.mkv"], genres=["A,B", "C", "D", "E"])
    movie = _movie(plex, key)
    movie.removeGenre(["A,B", "C"])   # plexapi: genre[].tag.tag-=<quoted>,<quoted>
    assert emu.item(key)["genres"] == ["D", "E"]
    movie.edit(**{"genre[].tag.tag-": "E"})
    assert [g.tag for g in movie.reload().genres] == ["D"]
    assert "genre" in emu.item(key)["locked"]


def test_multi_edit_and_unknown_ids(emu, plex):
    a = emu.add_item(emu.section_id, "A", [f"{MOVIES}/a.mkv"])
    b = emu.add_item(emu.section_id, "B", [f"{MOVIES}/b.mkv"])
    hidden = emu.add_item(emu.section_id, "Hidden", [f"{MOVIES}/new/h.mkv"], scanned=False)
    section = plex.library.sectionByID(emu.section_id)
    section.multiEdit([_movie(plex, a), _movie(plex, b)], **{"label[0].tag.tag": "L"})
    assert emu.item(a)["labels"] == emu.item(b)["labels"] == ["L"]
    for bad in (99999, hidden):
        with pytest.raises(NotFound):
            plex.query(f"/library/sections/{emu.section_id}/all?type=1&id={bad}&title.value=x",
                       method=plex._session.put)
    assert emu.item(hidden)["title"] == "Hidden"


def test_posters_and_arts(emu, plex, tmp_path):
    key = emu.add_item(emu.section_id, "Poster", [f"{MOVIES}/p.mkv"])
    movie = _movie(plex, key)
    movie.uploadPoster(url="http://stash.local/scene/1/screenshot")
    assert emu.item(key)["poster"]["source"] == "url"
    assert emu.item(key)["poster"]["url"] == "http://stash.local/scene/1/screenshot"
    image = tmp_path / "poster.jpg"
    image.write_bytes(b"\xff\xd8\xff\xe0 fake jpeg \x00\x01")
    movie.uploadPoster(filepath=str(image))
    movie.lockPoster()
    state = emu.item(key)
    assert state["poster"]["source"] == "upload"
    assert state["poster"]["sha256"] == hashlib.sha256(image.read_bytes()).hexdigest()
    assert "thumb" in state["locked"]
    posters = movie.posters()
    assert len(posters) == 2 and [p.selected for p in posters] == [False, True]
    assert movie.reload().thumb != f"/library/metadata/{key}/thumb/{state['addedAt']}"
    movie.uploadArt(filepath=image.read_bytes())
    assert emu.item(key)["art"]["source"] == "upload" and len(movie.arts()) == 1
    assert movie.reload().art.startswith(f"/library/metadata/{key}/art/")


def test_refresh_keeps_only_locked_fields(emu, plex):
    key = emu.add_item(emu.section_id, "Agent Title", [f"{MOVIES}/r.mkv"], studio="Agent Studio",
                       genres=["Agent Genre"])
    movie = _movie(plex, key)
    movie.batchEdits().editTitle("Mine").editField("studio", "Unlocked", locked=False)
    movie.edit(**{"genre[0].tag.tag": "Mine", "genre.locked": 1}).saveEdits()
    movie.uploadPoster(url="http://stash.local/p.jpg")
    movie.refresh()
    state = emu.item(key)
    assert (state["title"], state["studio"], state["genres"]) == ("Mine", "Agent Studio", ["Mine"])
    assert state["poster"] is None   # unlocked poster: the agent's choice wins
    movie.uploadPoster(url="http://stash.local/p.jpg")
    movie.lockPoster()
    movie.refresh()
    assert emu.item(key)["poster"]["url"] == "http://stash.local/p.jpg"
    assert emu.request_counts()[("PUT", "/library/metadata/{key}/refresh")] == 2


def test_partial_scan_reveals_new_files_under_that_folder_only(emu, plex):
    new = f"{MOVIES}/new/fresh.mp4"
    key = emu.add_item(emu.section_id, "Fresh", [new], scanned=False)
    section = plex.library.sectionByID(emu.section_id)
    find = f"/library/sections/{section.key}/all?type=1&file={quote(new)}"
    assert section.fetchItems(find) == []
    with pytest.raises(NotFound):
        plex.fetchItem(key)
    section.update(path=f"{MOVIES}/other")
    assert section.fetchItems(find) == []
    section.update(path=f"{MOVIES}/new")
    assert [m.ratingKey for m in section.fetchItems(find)] == [key]
    assert emu.scan_requests == [f"{MOVIES}/other", f"{MOVIES}/new"]


def test_scans_can_be_asynchronous(emu, plex, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(plex_server, "_clock", lambda: now[0])
    key = emu.add_item(emu.section_id, "Later", [f"{MOVIES}/later/l.mkv"], scanned=False)
    emu.set_scan_delay(5)
    plex.library.sectionByID(emu.section_id).update()
    assert emu.item(key)["scanned"] is False
    now[0] += 5
    assert plex.fetchItem(key).title == "Later"


def test_search_filters_and_sorts_use_the_advertised_meta(emu, plex):
    emu.add_item(emu.section_id, "Alpha", [f"{MOVIES}/1.mkv"], genres=["Drama"], year=1999, studio="S1")
    emu.add_item(emu.section_id, "Beta", [f"{MOVIES}/2.mkv"], genres=["Comedy"], year=2005, studio="S2")
    section = plex.library.sectionByID(emu.section_id)
    assert {"genre", "collection", "label", "actor"} <= {f.filter for f in section.listFilters()}
    assert section.listSorts()[0].key == "titleSort"
    assert [m.title for m in section.search(filters={"genre": "Drama"})] == ["Alpha"]
    assert [m.title for m in section.search(filters={"year>>": 2000})] == ["Beta"]
    assert [m.title for m in section.search(title="bet")] == ["Beta"]
    assert [m.title for m in section.search(sort="titleSort:desc")] == ["Beta", "Alpha"]
    assert [m.title for m in section.search(maxresults=1)] == ["Alpha"]


# ---------------------------------------------------------------- recording
def test_requests_are_recorded_by_route_without_the_token(emu, plex, session):
    key = emu.add_item(emu.section_id, "R", [f"{MOVIES}/r.mkv"])
    movie = _movie(plex, key)
    movie.uploadPoster(url=f"http://stash.local/p.jpg?apikey={emu.token}")
    session.get(f"{emu.url}/library/sections?X-Plex-Token={emu.token}")
    counts = emu.request_counts()
    assert counts[("GET", "/library/metadata/{key}")] == 1
    assert counts[("POST", "/library/metadata/{key}/posters")] == 1
    assert counts[("GET", "/library/sections")] == 1
    assert emu.token not in repr(emu.requests)
    assert all("X-Plex-Token" not in r.query for r in emu.requests)
    emu.reset_requests()
    assert emu.requests == []


def test_unknown_route_is_404_and_recorded(emu, plex):
    with pytest.raises(NotFound):
        plex.query("/butler/nothing")
    assert emu.requests[-1].route == UNKNOWN_ROUTE and emu.requests[-1].path == "/butler/nothing"
    assert emu.requests[-1].status == 404


# ------------------------------------------------------------------- faults
def test_down_refuses_connections_and_comes_back_on_the_same_port(emu, plex):
    url = emu.url
    emu.set_down(True)
    with pytest.raises(requests.exceptions.ConnectionError):
        plex.library.sections()
    emu.set_down(False)
    assert emu.url == url
    assert plex.fetchItems("/library/sections") is not None


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_fail_next_answers_that_status_once(emu, plex, session, status):
    emu.fail_next(1, status)
    with pytest.raises(BadRequest, match=str(status)) as raised:
        plex.query("/library/sections")   # (plex.library would swallow it: it retries /library/sections/)
    assert not isinstance(raised.value, (Unauthorized, NotFound))
    assert plex.query("/library/sections") is not None
    emu.fail_next(1, status, retry_after=7)
    response = session.get(emu.url + "/", headers={"X-Plex-Token": emu.token})
    assert response.status_code == status
    assert response.headers.get("Retry-After") == ("7" if status == 429 else None)


def test_fail_until_cleared_and_drop(emu, plex):
    emu.fail_until_cleared(503)
    for _ in range(3):
        with pytest.raises(BadRequest, match="503"):
            plex.query("/library/sections")
    emu.clear_faults()
    assert plex.query("/library/sections") is not None
    emu.drop_next(1)
    with pytest.raises(requests.exceptions.ConnectionError):
        plex.query("/library/sections")
    assert plex.query("/library/sections") is not None


def test_wrong_or_changed_token_is_unauthorized(emu, plex, session):
    with pytest.raises(Unauthorized):
        PlexApiServer(emu.url, "wrong-token", session=session, timeout=5)
    session.get(f"{emu.url}/library?X-Plex-Token=guessed-token&note=guessed-token")
    assert emu.requests[-1].status == 401 and "guessed-token" not in repr(emu.requests)
    emu.set_token("rotated")
    with pytest.raises(Unauthorized):
        plex.query("/library/sections")
    assert PlexApiServer(emu.url, "rotated", session=session, timeout=5).friendlyName
    assert "rotated" not in repr(emu.requests) and "sandbox-plex-token" not in repr(emu.requests)


def test_latency_beyond_the_client_timeout_is_a_read_timeout(emu, session):
    plex = PlexApiServer(emu.url, emu.token, session=session, timeout=0.2)
    emu.set_latency(0.5)
    with pytest.raises(requests.exceptions.ReadTimeout):
        plex.query("/library/sections")
    emu.set_latency(0)
    assert plex.query("/library/sections") is not None


def test_latency_knobs_delay_each_request_and_uploads_more(session, tmp_path, monkeypatch):
    # The delay is checked through the sleep the emulator calls, never by timing it; on a
    # clock that stands still, the emulator's own work takes no time and the whole latency is left.
    monkeypatch.setattr(plex_server, "_clock", lambda: 1000.0)
    slept: list[float] = []
    with PlexServer(latency=0.02, upload_latency=0.25, sleep=slept.append) as emu:
        key = emu.add_item(emu.add_section("Movies", [MOVIES]), "Slow", [f"{MOVIES}/s.mkv"])
        plex = PlexApiServer(emu.url, emu.token, session=session, timeout=5)
        movie = plex.fetchItem(key)
        movie.editTitle("Slower")
        image = tmp_path / "poster.jpg"
        image.write_bytes(b"\xff\xd8\xff\xe0 fake jpeg")
        movie.uploadPoster(filepath=str(image))
        emu.set_latency(0.1)                       # a fault injected on top of the knob
        plex.query("/library/sections")
        delays = [(r.method, r.route, r.delay) for r in emu.requests]
    assert slept == pytest.approx([d for _m, _r, d in delays])
    *before, last = delays
    assert [d for m, r, d in before if (m, r) == plex_server.UPLOAD_ROUTE] == [0.25]
    assert {d for m, r, d in before if (m, r) != plex_server.UPLOAD_ROUTE} == {0.02}
    assert len(before) >= 4 and last == ("GET", "/library/sections", pytest.approx(0.12))
    assert emu.item(key)["title"] == "Slower" and emu.item(key)["poster"]["source"] == "upload"


@pytest.mark.parametrize("tick, left", [(0.001, True), (0.05, False)], ids=["work shorter", "work longer"])
def test_the_emulators_own_work_counts_in_the_latency(session, monkeypatch, tick, left):
    # A clock that moves ``tick`` each time it is read: the emulator's work on a request
    # takes a few ticks, and only what is left of the 20 ms is slept (nothing when it ran over).
    ticks = iter(range(1_000_000))
    monkeypatch.setattr(plex_server, "_clock", lambda: next(ticks) * tick)
    slept: list[float] = []
    with PlexServer(latency=0.02, sleep=slept.append) as emu:
        emu.add_section("Movies", [MOVIES])
        plex = PlexApiServer(emu.url, emu.token, session=session, timeout=5)
        plex.library.sections()
        served = len(emu.requests)
    assert len(slept) == served >= 2
    if left:
        assert all(0 < s < 0.02 for s in slept), slept
    else:
        assert slept == [0.0] * served


def test_the_command_line_takes_the_latency_knobs(monkeypatch):
    built: dict = {}

    class Stop(Exception):
        pass

    def fake_start(self):
        built.update(latency=self.latency, upload=self.upload_latency)
        raise Stop

    monkeypatch.setattr(PlexServer, "start", fake_start)
    with pytest.raises(Stop):
        plex_server.main(["--items", "1", "--port", "0", "--latency-ms", "20", "--upload-latency-ms", "300"])
    assert built == {"latency": 0.02, "upload": 0.3}


# ------------------------------------------------------------ fixture parity
def _fixture(name: str) -> ElementTree.Element:
    path = FIXTURES / name
    if not path.exists():
        pytest.skip(f"captured PMS response {path} is absent (../shared/fixtures/plex not beside the repo)")
    return ElementTree.fromstring(path.read_bytes())


def _exposed(obj, *lists: str) -> set[str]:
    """Public attributes plexapi filled in from the XML, plus the non-empty child lists."""
    names = {k for k, v in vars(obj).items() if not k.startswith("_") and v not in (None, [], "")}
    return names | {name for name in lists if getattr(obj, name)}


MOVIE_LISTS = ("genres", "roles", "directors", "writers", "countries", "producers", "collections",
               "labels", "fields", "media")
# What a real PMS sends that the emulator knowingly leaves out (no playback, ratings images, extras).
NOT_EMULATED = {"audienceRating", "audienceRatingImage", "chapterSource", "lastViewedAt",
                "primaryExtraKey", "ratingImage", "producers"}
# What the emulator sends that those particular captures lack (edited/locked fields, tags set).
EMULATOR_EXTRAS = {"userRating", "collections", "labels", "fields"}


def test_server_attributes_match_a_real_pms(plex):
    fixture = PlexApiServer.__new__(PlexApiServer)
    PlexObject.__init__(fixture, fixture, _fixture("plex_server_base.xml"), "/")
    assert _exposed(plex) - {"library"} == _exposed(fixture)


def test_section_attributes_match_a_real_pms(plex):
    real = MovieSection(plex, _fixture("library_sections.xml")[0], initpath="/library/sections")
    ours = plex.library.sections()[0]
    assert _exposed(ours, "locations") == _exposed(real, "locations")


def test_full_movie_attributes_match_a_real_pms(emu, plex):
    real = Movie(plex, _fixture("media_1.xml")[0], initpath="/library/metadata/1")
    ours = _movie(plex, _full_item(emu))
    ours.uploadArt(url="http://stash.local/art.jpg")
    ours.reload()
    assert _exposed(real, *MOVIE_LISTS) - _exposed(ours, *MOVIE_LISTS) == NOT_EMULATED
    assert _exposed(ours, *MOVIE_LISTS) - _exposed(real, *MOVIE_LISTS) == EMULATOR_EXTRAS
    real_media = _exposed(real.media[0])
    assert _exposed(ours.media[0]) - real_media <= {"parts"} and real_media - _exposed(ours.media[0]) == set()
    real_part = MediaPart(plex, _fixture("media_1.xml")[0].find("Part"), parent=real)
    assert _exposed(ours.media[0].parts[0]) - {"streams"} == _exposed(real_part)


def test_listing_attributes_match_a_real_pms(emu, plex):
    fixture = _fixture("library_movies_all.xml")
    real = Movie(plex, fixture[0], initpath="/library/sections/1/all")
    _full_item(emu)
    ours = plex.library.sectionByID(emu.section_id).all()[0]
    assert _exposed(real, *MOVIE_LISTS) - _exposed(ours, *MOVIE_LISTS) == NOT_EMULATED | {"art"}
    assert _exposed(ours, *MOVIE_LISTS) - _exposed(real, *MOVIE_LISTS) == {"userRating", "media"}
    real_container = MediaContainer(plex, fixture)
    ours_container = plex.fetchItems(f"/library/sections/{emu.section_id}/all?type=1")
    assert _exposed(real_container) <= _exposed(ours_container)


def test_meta_matches_a_real_pms(emu, plex):
    section = plex.library.sectionByID(emu.section_id)
    data = _fixture("library_movies_metadata.xml")
    [real] = [t for t in section.findItems(data, FilteringType, rtag="Meta") if t.type == "movie"]
    ours = section.getFilterType("movie")
    assert {(f.filter, f.filterType) for f in ours.filters} == {(f.filter, f.filterType) for f in real.filters}
    assert [s.key for s in ours.sorts] == [s.key for s in real.sorts]
    assert {(f.key, f.type, f.subType) for f in ours.fields} == {(f.key, f.type, f.subType) for f in real.fields}
    real_types = {(t.type, tuple(o.key for o in t.operators))
                  for t in section.findItems(data, FilteringFieldType, rtag="Meta")}
    ours_types = {(t.type, tuple(o.key for o in t.operators)) for t in section.fieldTypes()}
    assert ours_types - {("guid", ("=",))} == real_types


# ------------------------------------------------------------------ scale
@pytest.mark.slow
def test_ten_thousand_items_list_completely_through_plexapi(session):
    started = time.perf_counter()
    server = PlexServer()
    section_id = server.add_section("Movies", [MOVIES])
    server.add_items(section_id, generate_items(10_000, MOVIES))
    with server:
        startup = time.perf_counter() - started
        plex = PlexApiServer(server.url, server.token, session=session, timeout=30)
        listed_at = time.perf_counter()
        movies = plex.library.sectionByID(section_id).all()
        listing = time.perf_counter() - listed_at
        print(f"\n10k items: seeded and started in {startup:.3f}s, listed through plexapi in {listing:.2f}s")
        assert len({m.ratingKey for m in movies}) == 10_000
        assert server.request_counts()[("GET", "/library/sections/{id}/all")] == 100


@pytest.mark.slow
def test_command_line_serves_generated_items(tmp_path, session):
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox.plex_server", "--items", "30", "--port", "0", "--token", "cli-token"],
        cwd=Path(__file__).resolve().parents[1], stdout=subprocess.PIPE, text=True)
    try:
        line = read_line(process.stdout)
        url = line.split()[2]
        plex = PlexApiServer(url, "cli-token", session=session, timeout=5)
        assert len(plex.library.section("Movies").all()) == 30
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()
