"""plex/item_state.py: Plex XML → PlexItemState / ListedItem / Section. Pure; fed captured PMS
responses (skipped with a reason when absent) and XML the emulator serves over HTTP."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
import requests

from plex.item_state import ListedItem, Section, parse_item, parse_listing, parse_sections
from sandbox.plex_server import generate_items
from tests.sync_support import MOVIES, plex_emu  # noqa: F401  (fixture)

FIXTURES = Path(__file__).resolve().parents[1] / ".." / "shared" / "fixtures" / "plex"
ODD = 'Line one\nline "two" & <three> — “smart” 🎬 zero\u200bwidth  '


def fixture(name: str) -> ET.Element:
    path = FIXTURES / name
    if not path.exists():
        pytest.skip(f"captured Plex response {name} not found in {FIXTURES.resolve()}")
    return ET.parse(path).getroot()


def fetch(plex, path: str, **headers: str) -> ET.Element:
    response = requests.get(plex.url + path, headers={"X-Plex-Token": plex.token, **headers}, timeout=5)
    response.raise_for_status()
    return ET.fromstring(response.content)


# ------------------------------------------------------------------- captured responses
def test_parse_captured_metadata_response():
    state = parse_item(fixture("media_1.xml"))
    assert (state.rating_key, state.section_id) == ("1", "1")
    assert dict(state.scalars) == {
        "title": "Movie 1", "titleSort": "", "summary": "Some elaborate summary.", "studio": "Studio Entertainment",
        "originallyAvailableAt": "2000-01-01", "year": "2000", "userRating": "", "tagline": "Witty saying.",
    }
    assert state.tags["genre"] == ("Sci-Fi", "Action")
    assert state.tags["actor"] == ("Actor 1", "Actor 2", "Actor 3")
    assert state.tags["director"] == ("Famous Director",)
    assert state.tags["writer"] == ("A Writer",)
    assert state.tags["country"] == ("USA",)
    assert state.tags["collection"] == () and state.tags["label"] == ()
    assert state.locked == frozenset()
    assert state.has_poster


def test_parse_captured_listing():
    items = parse_listing(fixture("library_movies_all.xml"), "1")
    assert [i.rating_key for i in items] == ["1", "2", "3", "4", "5"]
    assert all(isinstance(i, ListedItem) and i.section_id == "1" for i in items)
    assert [i.scalars["title"] for i in items] == [f"Movie {n}" for n in range(1, 6)]
    assert items[0].scalars["originallyAvailableAt"] == "2000-01-01"


def test_parse_captured_sections():
    sections = parse_sections(fixture("library_sections.xml"))
    assert sections[:3] == [Section("1", "Movies", "movie", ("/storage/movies",), "1605409122",
                                    "com.plexapp.agents.imdb"),
                            Section("2", "TV Shows", "show", ("/storage/tvshows",), "1605461424",
                                    "com.plexapp.agents.thetvdb"),
                            Section("3", "Music", "artist", ("/storage/music",), "1605413685", "tv.plex.agents.music")]
    assert [s.kind for s in sections[:3]] == ["Movies", "TV Shows", "Music"]


def test_listings_carry_each_parts_size_and_duration():
    """Captured PMS XML: Part@size in bytes, Part@duration (else Media@duration) in ms."""
    container = fixture("media_1.xml")
    # The capture lists <Part> beside <Media>; PMS (and plexapi) nest it inside.
    video = container.find("Video")
    media, part = video.find("Media"), video.find("Part")
    video.remove(part)
    media.append(part)
    [item] = parse_listing(container, "1")
    assert item.files == ("/storage/videos/video.mkv",)
    assert (item.sizes, item.durations) == ((8500000000,), (9000000,))


def test_emulator_listing_has_the_same_shape(plex_emu):
    files = [f"{MOVIES}/m - pt1.mp4", f"{MOVIES}/m - pt2.mp4"]
    plex_emu.add_item(plex_emu.section_id, "M", files, size=123456, duration=600000)
    [item] = parse_listing(fetch(plex_emu, f"/library/sections/{plex_emu.section_id}/all"), str(plex_emu.section_id))
    assert (item.files, item.sizes, item.durations) == (tuple(files), (123456, 123456), (300000, 300000))


# --------------------------------------------------------------------- emulator responses
def test_parse_emulator_metadata_response(plex_emu):
    files = [f"{MOVIES}/Odd/odd.cd1.mkv", f"{MOVIES}/Odd/odd.cd2.mkv"]
    key = plex_emu.add_item(
        plex_emu.section_id, ODD, files, summary=ODD, studio="S & S", tagline="tl", originallyAvailableAt="2001-02-03",
        year=2001, userRating=8.5, titleSort="sort", genres=["Drama", "Black, White"],
        actors=["Zed", "Amy", "Bob", "Cat", "Dan"], collections=["Saga"], directors=["Dee"], labels=["L"],
        writers=["W"], countries=["Fr"], locked=["title", "genre"])
    state = parse_item(fetch(plex_emu, f"/library/metadata/{key}"))
    assert (state.rating_key, state.section_id) == (str(key), str(plex_emu.section_id))
    assert dict(state.scalars) == {"title": ODD, "titleSort": "sort", "summary": ODD, "studio": "S & S",
                                   "originallyAvailableAt": "2001-02-03", "year": "2001", "userRating": "8.5",
                                   "tagline": "tl"}
    assert dict(state.tags) == {"genre": ("Drama", "Black, White"), "actor": ("Zed", "Amy", "Bob", "Cat", "Dan"),
                                "director": ("Dee",), "collection": ("Saga",), "label": ("L",), "writer": ("W",),
                                "country": ("Fr",)}
    assert state.locked == {"title", "genre"}
    assert state.files == tuple(files)
    assert state.has_poster


def test_parse_emulator_item_with_nothing_set(plex_emu):
    key = plex_emu.add_item(plex_emu.section_id, "Bare", [f"{MOVIES}/bare.mp4"])
    state = parse_item(fetch(plex_emu, f"/library/metadata/{key}"))
    assert state.scalars["title"] == "Bare"
    assert all(state.scalars[name] == "" for name in state.scalars if name != "title")
    assert all(names == () for names in state.tags.values())
    assert state.locked == frozenset()


def test_parse_emulator_listing_page(plex_emu):
    plex_emu.add_items(plex_emu.section_id, generate_items(12, MOVIES))
    container = fetch(plex_emu, f"/library/sections/{plex_emu.section_id}/all?type=1",
                      **{"X-Plex-Container-Start": "10", "X-Plex-Container-Size": "5"})
    items = parse_listing(container, str(plex_emu.section_id))
    assert [i.scalars["title"] for i in items] == ["Movie 000011", "Movie 000012"]
    assert [i.files for i in items] == [(f"{MOVIES}/Movie 000011/movie-000011.mkv",),
                                        (f"{MOVIES}/Movie 000012/movie-000012.mkv",)]
    assert all(i.section_id == str(plex_emu.section_id) for i in items)
    assert {i.rating_key for i in items} == {str(plex_emu.find_by_file(i.files[0])) for i in items}


def test_parse_emulator_sections(plex_emu):
    second = plex_emu.add_section("Other", ["/a", "C:\\Media"])
    sections = parse_sections(fetch(plex_emu, "/library/sections"))
    assert [s.scanned_at.isdigit() for s in sections] == [True, True]
    assert [s.__class__(s.id, s.title, s.type, s.locations) for s in sections] == [
        Section(str(plex_emu.section_id), "Movies", "movie", (MOVIES,)),
        Section(str(second), "Other", "movie", ("/a", "C:\\Media"))]


# ---------------------------------------------------------------------------- edge cases
def test_date_with_time_is_cut_to_the_day_and_locks_read_by_value():
    container = ET.fromstring(
        '<MediaContainer librarySectionID="4"><Video ratingKey="9" originallyAvailableAt="2020-01-02 00:00:00">'
        '<Field name="title" locked="1"/><Field name="summary" locked="0"/><Field name="studio" locked="true"/>'
        '</Video></MediaContainer>')
    state = parse_item(container)
    assert state.scalars["originallyAvailableAt"] == "2020-01-02"
    assert state.section_id == "4"      # from the container when the Video lacks it
    assert state.locked == {"title", "studio"}
    assert not state.has_poster
    assert parse_item(container[0]).rating_key == "9"   # the element itself is accepted too


def test_listing_date_is_cut_too_and_empty_listing():
    container = ET.fromstring('<MediaContainer><Video ratingKey="1" originallyAvailableAt="1999-12-31 00:00:00"/>'
                              '</MediaContainer>')
    [item] = parse_listing(container, "7")
    assert item.scalars["originallyAvailableAt"] == "1999-12-31" and item.section_id == "7"
    assert parse_listing(ET.fromstring('<MediaContainer size="0"/>'), "7") == []


def test_a_container_without_an_item_is_an_error():
    with pytest.raises(ValueError):
        parse_item(ET.fromstring('<MediaContainer size="0"/>'))


def test_an_item_is_read_with_the_fields_of_its_own_type():
    episode = ET.fromstring('<MediaContainer><Video ratingKey="7" type="episode" librarySectionID="2" title="E" '
                            'studio="Not an episode field" contentRating="R"><Director tag="D"/><Genre tag="G"/>'
                            '</Video></MediaContainer>')
    state = parse_item(episode)
    assert state.media_type == "episode" and state.media.name == "episode"
    assert state.scalars["title"] == "E" and state.scalars["contentRating"] == "R" and "studio" not in state.scalars
    assert state.tags == {"collection": (), "director": ("D",), "label": (), "writer": ()}
    movie = parse_item(ET.fromstring('<Video ratingKey="8" type="movie" studio="S"/>'))
    assert movie.media_type == "movie" and movie.scalars["studio"] == "S"


def test_sections_know_their_kind_and_what_scenes_become_there():
    sections = parse_sections(ET.fromstring(
        '<MediaContainer><Directory key="1" type="movie" title="M" agent="tv.plex.agents.movie"/>'
        '<Directory key="2" type="movie" title="O" agent="tv.plex.agents.none"/>'
        '<Directory key="3" type="show" title="T" agent="tv.plex.agents.series"/>'
        '<Directory key="4" type="artist" title="Music" agent="tv.plex.agents.music"/></MediaContainer>'))
    assert [(s.kind, s.media.name if s.media else None) for s in sections] == [
        ("Movies", "movie"), ("Other Videos", "movie"), ("TV Shows", "episode"), ("Music", None)]
