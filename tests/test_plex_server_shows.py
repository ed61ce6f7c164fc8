"""The Plex emulator's TV Shows and Other Videos libraries, checked with plexapi's own calls:
show → season → episode with Media/Part files, ``type=4`` listings with container paging,
full episode objects, episode edits (values, locks, tag lists), a poster on an episode, a
show edit, and the agent and scanner each kind of library reports."""

from __future__ import annotations

import pytest
import requests
from plexapi.server import PlexServer as PlexApiServer

from sandbox.plex_library import OTHER_VIDEOS
from sandbox.plex_server import PlexServer
from tests.sync_support import EDIT, no_plexapi_autoreload  # noqa: F401  (fixture)


pytestmark = pytest.mark.usefixtures("no_plexapi_autoreload")


@pytest.fixture
def emu():
    with PlexServer() as server:
        server.tv = server.add_section("Scenes as shows", ["/tv"], type="show")
        server.other = server.add_section("Home videos", ["/ov"], agent=OTHER_VIDEOS[0], scanner=OTHER_VIDEOS[1])
        server.movies = server.add_section("Movies", ["/movies"])
        server.episodes = server.add_items(server.tv, [
            {"title": f"Episode {i}", "files": [f"/tv/Studio {i % 2}/{2019 + i % 3}/e{i}.mp4"],
             "show": f"Studio {i % 2}", "season": 2019 + i % 3, "summary": "", "scanned": i != 5}
            for i in range(6)])
        yield server
    assert server.server_errors == []


@pytest.fixture
def plex(emu):
    with requests.Session() as session:
        yield PlexApiServer(emu.url, emu.token, session=session, timeout=5)


def test_sections_report_their_kind_agent_and_scanner(emu, plex):
    by_title = {s.title: s for s in plex.library.sections()}
    assert (by_title["Scenes as shows"].type, by_title["Scenes as shows"].agent) == ("show", "tv.plex.agents.series")
    assert by_title["Home videos"].type == "movie"
    assert (by_title["Home videos"].agent, by_title["Home videos"].scanner) == OTHER_VIDEOS
    assert by_title["Movies"].agent == "tv.plex.agents.movie"


def test_shows_seasons_and_episodes_as_plexapi_reads_them(emu, plex):
    section = plex.library.sectionByID(emu.tv)
    shows = section.all()
    assert [s.type for s in shows] == ["show", "show"]
    assert [s.title for s in shows] == ["Studio 0", "Studio 1"]
    studio0 = shows[0]
    assert [s.index for s in studio0.seasons()] == [2019, 2020, 2021]
    # Episode 5 is not scanned yet: not listed anywhere until a scan covers it.
    assert [e.title for e in studio0.episodes()] == ["Episode 0", "Episode 4", "Episode 2"]
    assert [e.title for e in shows[1].episodes()] == ["Episode 3", "Episode 1"]
    episodes = section.searchEpisodes()
    assert len(episodes) == 5 and {e.type for e in episodes} == {"episode"}
    assert [e.title for e in section.all(libtype="episode")] == [e.title for e in episodes]
    first = episodes[0]
    assert (first.grandparentTitle, first.parentIndex, first.index) == ("Studio 0", 2019, 1)
    assert first.media[0].parts[0].file == "/tv/Studio 0/2019/e0.mp4"
    # Paging as the product pages: two at a time, the total on each page.
    assert [e.title for e in section.searchEpisodes(container_size=2)] == [e.title for e in episodes]
    emu.reset_requests()
    section.update("/tv/Studio 1/2021")
    assert [e.title for e in shows[1].episodes()] == ["Episode 3", "Episode 1", "Episode 5"]


def test_full_episode_object_and_its_show_and_season(emu, plex):
    episode = plex.fetchItem(emu.episodes[1])
    assert episode.type == "episode" and episode.title == "Episode 1"
    assert episode.show().title == "Studio 1" and episode.season().index == 2020
    assert emu.item(emu.episodes[1])["type"] == "episode"


def test_episode_edit_has_movie_semantics(emu, plex):
    key = emu.episodes[0]
    episode = plex.fetchItem(key)
    (episode.batchEdits().editTitle("New title").editSummary("A summary").editOriginallyAvailable("2020-01-02")
     .addDirector(["D1", "D2"]).addWriter("W").addLabel("L").addCollection("C").saveEdits())
    item = emu.item(key)
    assert (item["title"], item["summary"], item["originallyAvailableAt"]) == ("New title", "A summary", "2020-01-02")
    assert item["directors"] == ["D1", "D2"] and item["writers"] == ["W"]
    assert item["labels"] == ["L"] and item["collections"] == ["C"]
    assert {"title", "summary", "originallyAvailableAt", "director", "writer", "label", "collection"} <= item["locked"]
    request = [r for r in emu.requests if (r.method, r.route) == EDIT][-1]
    assert request.query["type"] == "4" and request.query["id"] == str(key)
    episode.reload()
    assert [d.tag for d in episode.directors] == ["D1", "D2"]
    episode.removeDirector("D1")
    assert emu.item(key)["directors"] == ["D2"]


def test_an_edit_naming_another_type_changes_nothing(emu, plex):
    key = emu.episodes[0]
    section = plex.library.sectionByID(emu.tv)
    section._server.query(f"/library/sections/{emu.tv}/all?type=1&id={key}&title.value=Wrong", method=plex._session.put)
    assert emu.item(key)["title"] == "Episode 0"


def test_poster_upload_on_an_episode_and_a_show_edit(emu, plex):
    episode = plex.fetchItem(emu.episodes[2])
    episode.uploadPoster(filepath=__file__)
    assert emu.item(emu.episodes[2])["poster"]["source"] == "upload"
    show = episode.show()
    show.batchEdits().editStudio("Studio Zero").addGenre(["G1", "G2"]).saveEdits()
    shown = emu.item(show.ratingKey)
    assert shown["studio"] == "Studio Zero" and shown["genres"] == ["G1", "G2"] and shown["type"] == "show"
    show.reload()
    assert [g.tag for g in show.genres] == ["G1", "G2"]
    show.uploadPoster(filepath=__file__)
    assert emu.item(show.ratingKey)["poster"] is not None


def test_movie_sections_list_no_episodes(emu, plex):
    emu.add_item(emu.other, "Clip", ["/ov/clip.mp4"])
    assert [m.title for m in plex.library.sectionByID(emu.other).all()] == ["Clip"]
    assert plex.library.sectionByID(emu.other).search(libtype="episode") == []
