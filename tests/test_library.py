"""sandbox/library.py: a deterministic, sync-stressing world, and loading it into the emulators."""

import collections
import dataclasses
import re
import unicodedata
import xml.etree.ElementTree as ET

import pytest
import requests

from sandbox.library import LONG_NAME_LENGTH, SceneSpec, World, generate

EXPECTED_KEYS = {"title", "summary", "studio", "originallyAvailableAt", "year", "userRating",
                 "genres", "actors", "collections"}


def _basename(path: str) -> str:
    return path.rsplit("/", 1)[1]


def _folder(path: str) -> str:
    return path.rsplit("/", 1)[0]


def test_same_seed_same_world_and_another_seed_another():
    options = dict(unscanned_fraction=0.1, duplicate_name_fraction=0.1, multipart_fraction=0.1)
    first, again = generate(7, 200, **options), generate(7, 200, **options)
    assert dataclasses.asdict(first) == dataclasses.asdict(again)
    assert dataclasses.asdict(generate(8, 200, **options)) != dataclasses.asdict(first)


@pytest.mark.parametrize("n", [40, 300, 1000])
def test_fractions_are_honoured(n):
    world = generate(3, n, unscanned_fraction=0.2, duplicate_name_fraction=0.1,
                     multipart_fraction=0.15, bare_fraction=0.05)
    scenes = world.scenes
    assert len(scenes) == n
    assert sum(not s.scanned for s in scenes) == round(0.2 * n)
    assert sum(s.multipart for s in scenes) == round(0.15 * n)
    assert sum(s.bare for s in scenes) == round(0.05 * n)
    assert sum(s.duplicate_name for s in scenes) == 2 * round(0.1 * n / 2)
    assert all(len(s.files) == (2 if s.multipart else 1) for s in scenes)


def test_defaults_are_a_plain_library_with_a_few_bare_scenes():
    world = generate()
    assert len(world.scenes) == 300 and world.mapping_setting == "/stash/media => /data/media"
    assert all(s.scanned and not s.multipart and not s.duplicate_name for s in world.scenes)
    assert sum(s.bare for s in world.scenes) == 15
    names = [_basename(f) for s in world.scenes for f in s.files]
    assert len(names) == len(set(names))          # no duplicate names unless asked for


def test_files_sit_under_studio_and_year_at_the_same_relative_path_in_plex():
    world = generate(5, 300, stash_prefix="/mnt/stash/", plex_prefix="/data/plex",
                     multipart_fraction=0.1, duplicate_name_fraction=0.1)
    assert world.mapping_setting == "/mnt/stash => /data/plex"
    paths = [f for s in world.scenes for f in s.files]
    assert len(paths) == len(set(paths))
    for scene in world.scenes:
        for stash_path, plex_path in zip(scene.files, scene.plex_files, strict=True):
            assert stash_path.startswith("/mnt/stash/") and stash_path.endswith(".mp4")
            assert plex_path == "/data/plex" + stash_path[len("/mnt/stash"):]
            assert world.plex_path(stash_path) == plex_path
            studio_dir, year_dir = stash_path[len("/mnt/stash/"):].split("/")[:2]
            assert year_dir == (scene.date[:4] if scene.date else "undated")
            if scene.studio and not scene.duplicate_name:
                assert scene.studio.strip().startswith(studio_dir[:40])


def test_duplicate_names_live_in_different_folders_and_some_pairs_are_both_in_plex():
    world = generate(11, 400, duplicate_name_fraction=0.2, unscanned_fraction=0.5)
    by_name = collections.defaultdict(list)
    for scene in world.scenes:
        for path in scene.plex_files:
            by_name[_basename(path)].append((scene, path))
    shared = {name: hits for name, hits in by_name.items() if len(hits) > 1}
    assert len(shared) == 40
    assert all(len(hits) == 2 and _folder(hits[0][1]) != _folder(hits[1][1])
               for hits in shared.values())
    assert {s.index for hits in shared.values() for s, _ in hits} == {
        s.index for s in world.scenes if s.duplicate_name}
    both_in_plex = [h for h in shared.values() if all(s.scanned for s, _ in h)]
    assert len(both_in_plex) >= 20                # a name-only lookup is ambiguous for these


def test_multipart_scenes_have_two_parts_of_one_name():
    world = generate(2, 100, multipart_fraction=0.2)
    for scene in (s for s in world.scenes if s.multipart):
        first, second = map(_basename, scene.plex_files)
        assert first.endswith(" - pt1.mp4") and second.endswith(" - pt2.mp4")
        assert first[:-10] == second[:-10] == scene.plex_title


def test_bare_scenes_have_nothing_but_a_title_and_a_file():
    world = generate(4, 200, bare_fraction=0.25)
    bare = [s for s in world.scenes if s.bare]
    assert len(bare) == 50
    for scene in bare:
        assert scene.title and scene.files
        assert (scene.studio, scene.date, scene.details, scene.rating100) == (None, None, "", None)
        assert scene.performers == scene.tags == scene.groups == []
        assert World.expected_plex(scene) == {
            "title": scene.title, "summary": "", "studio": None, "originallyAvailableAt": None,
            "year": None, "userRating": None, "genres": [], "actors": [], "collections": []}


def test_names_stress_a_sync():
    world = generate(1, 300)
    names = world.studios + world.performers + world.tags + world.groups
    titles = [s.title for s in world.scenes]
    everything = names + titles
    scripts = {"CJK": r"[\u3040-\u30ff\u4e00-\u9fff\uac00-\ud7af]", "Cyrillic": r"[\u0400-\u04ff]",
               "Arabic": r"[\u0600-\u06ff]", "accent": r"[À-ž]", "emoji": r"[\U0001F300-\U0001FAFF]"}
    for label, pattern in scripts.items():
        assert any(re.search(pattern, n) for n in everything), label
    for char in [",", '"', "“", "’", "'", "&", "\u200d"]:
        assert any(char in n for n in names), repr(char)
    for pool in (world.studios, world.performers, world.tags, world.groups):
        assert any(len(n) > 200 for n in pool)
        assert len({n.casefold() for n in pool}) == len(pool)      # unique, as Stash needs
    assert any(len(t) > 200 for t in titles)
    assert any(n != n.strip() for n in names) and any(t != t.strip() for t in titles)
    assert any(unicodedata.normalize("NFC", t) != t for t in titles)
    assert any("\n" in s.details for s in world.scenes)
    assert 200 < max(len(n) for n in names) <= LONG_NAME_LENGTH


def test_every_name_is_used_and_values_vary_like_a_real_library():
    world = generate(9, 300)
    scenes = [s for s in world.scenes if not s.bare]
    assert {s.studio for s in scenes} - {None} == set(world.studios)
    assert {p for s in scenes for p in s.performers} == set(world.performers)
    assert {t for s in scenes for t in s.tags} == set(world.tags)
    assert {g for s in scenes for g in s.groups} == set(world.groups)
    decades = {int(s.date[:3]) for s in scenes if s.date}
    assert len(decades) >= 5
    assert any(s.rating100 is None for s in scenes) and any(s.rating100 for s in scenes)
    assert all(s.rating100 is None or 1 <= s.rating100 <= 100 for s in scenes)


def test_expected_plex_is_stated_from_the_scene():
    scene = SceneSpec(index=0, title="A “Title”, ok", details="Line 1\nLine 2", date="1999-12-31",
                      rating100=73, studio="Rock & Roll Pictures", performers=["B", "A"],
                      tags=["x", "y"], groups=["G1"], code="", director="", urls=[],
                      organized=False, files=["/s/a.mp4"], plex_files=["/p/a.mp4"])
    expected = World.expected_plex(scene)
    assert set(expected) == EXPECTED_KEYS
    assert expected == {
        "title": "A “Title”, ok", "summary": "Line 1\nLine 2", "studio": "Rock & Roll Pictures",
        "originallyAvailableAt": "1999-12-31", "year": 1999, "userRating": 7.3,
        "genres": ["x", "y"], "actors": ["B", "A"], "collections": ["Rock & Roll Pictures", "G1"]}
    scene.rating100 = None
    assert World.expected_plex(scene)["userRating"] is None


@pytest.mark.parametrize("bad", [-0.1, 1.5])
def test_fractions_outside_zero_to_one_are_refused(bad):
    with pytest.raises(ValueError, match="multipart_fraction"):
        generate(1, 10, multipart_fraction=bad)


# ------------------------------------------------------------------ into the emulators


@pytest.fixture
def emulators():
    from sandbox.plex_server import PlexServer
    from sandbox.stash_server import StashServer

    with StashServer() as stash, PlexServer() as plex:
        yield stash, plex


def _section_files(plex, section_id: int) -> set[str]:
    """Part files of every item Plex lists in the section (what a client can see)."""
    response = requests.get(f"{plex.url}/library/sections/{section_id}/all",
                            params={"type": 1}, headers={"X-Plex-Token": plex.token,
                                                         "X-Plex-Container-Size": "100000"},
                            timeout=60)
    response.raise_for_status()
    return {part.get("file") for part in ET.fromstring(response.content).iter("Part")}


def _stash_scenes(stash) -> dict[str, dict]:
    query = """query { findScenes(filter: {per_page: -1}) { count scenes {
        id title details date rating100 files { path } studio { name }
        performers { name } tags { name } groups { group { name } } } } }"""
    response = requests.post(stash.graphql_url, json={"query": query},
                             headers={"ApiKey": stash.api_key}, timeout=120)
    response.raise_for_status()
    body = response.json()
    assert "errors" not in body, body
    return {s["id"]: s for s in body["data"]["findScenes"]["scenes"]}


@pytest.mark.slow
def test_load_into_the_emulators_with_1000_scenes(emulators):
    stash, plex = emulators
    world = generate(21, 1000, unscanned_fraction=0.1, duplicate_name_fraction=0.05,
                     multipart_fraction=0.05)
    world.load_into(stash, plex)

    assert len({s.stash_id for s in world.scenes}) == 1000
    assert len({s.plex_key for s in world.scenes}) == 1000
    listed = _section_files(plex, world.section_id)
    for scene in world.scenes:
        item = plex.item(scene.plex_key)
        assert item["files"] == scene.plex_files and item["scanned"] == scene.scanned
        assert item["title"] == scene.plex_title
        assert not item["summary"] and item["genres"] == item["actors"] == []
        assert item["collections"] == [] and item["studio"] is None
        assert set(scene.plex_files) <= listed if scene.scanned else not (
            set(scene.plex_files) & listed)

    stored = _stash_scenes(stash)
    assert len(stored) == 1000
    for scene in world.scenes:
        got = stored[scene.stash_id]
        assert [f["path"] for f in got["files"]] == scene.files
        assert got["title"] == scene.title and got["details"] == scene.details
        assert got["date"] == scene.date and got["rating100"] == scene.rating100
        assert (got["studio"] or {}).get("name") == scene.studio
        assert [p["name"] for p in got["performers"]] == scene.performers
        assert [t["name"] for t in got["tags"]] == scene.tags
        assert [g["group"]["name"] for g in got["groups"]] == scene.groups
