"""worker/mapping.py: a Stash scene (as findScene returns it) → the Plex metadata we want. Pure."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from validation.config import PlexSyncConfig
from worker.mapping import DesiredMetadata, desired_metadata, excluded, plex_text

URL, TOKEN = "http://127.0.0.1:32400", "x" * 20
SCREENSHOT = "http://127.0.0.1:9999/scene/7/screenshot?t=1700000000"
PREVIEW = "http://127.0.0.1:9999/scene/7/preview"
ZWJ, ZWSP, ZWNJ, BOM = "\u200d", "\u200b", "\u200c", "\ufeff"
# Text that must arrive in Plex exactly as written in Stash.
AWKWARD = (f"  “Smart” ‘quotes’ — dashes – and … ellipses\nline two\r\nline\tthree 🎬 "
           f"👩{ZWJ}👩{ZWJ}👧 zero{ZWSP}width{ZWNJ}non{BOM}joiner, commas, & <tags>  ")


def cfg(**overrides: Any) -> PlexSyncConfig:
    return PlexSyncConfig(plex_url=URL, plex_token=TOKEN, **overrides)


def scene(**overrides: Any) -> dict[str, Any]:
    """A findScene result with every field we sync set."""
    base = {
        "id": "7", "title": "A Title", "code": "ABC-123", "details": "Some details.", "director": "Dee Rector",
        "date": "2021-03-04", "rating100": 85, "organized": True, "urls": ["https://example.com/7"],
        "updated_at": "2024-01-01T00:00:00Z",
        "studio": {"id": "1", "name": "Studio One"},
        "performers": [{"id": "3", "name": "Zed"}, {"id": "1", "name": "Amy"}, {"id": "2", "name": "Bob"}],
        "tags": [{"id": "1", "name": "Outdoor"}, {"id": "2", "name": "Drama"}],
        "files": [{"id": "1", "path": "/stash/a.mp4", "basename": "a.mp4"}],
        "paths": {"screenshot": SCREENSHOT, "preview": PREVIEW},
        "groups": [{"group": {"id": "1", "name": "Saga"}, "scene_index": 1},
                   {"group": {"id": "2", "name": "Box Set"}, "scene_index": None}],
    }
    base.update(overrides)
    return base


def tags(*names: str) -> list[dict[str, str]]:
    return [{"id": str(i), "name": n} for i, n in enumerate(names, 1)]


def xml_char(ch: str) -> bool:
    """XML 1.0's Char production, stated independently of the product's regex."""
    o = ord(ch)
    return o in (0x9, 0xA, 0xD) or 0x20 <= o <= 0xD7FF or 0xE000 <= o <= 0xFFFD or 0x10000 <= o <= 0x10FFFF


# ------------------------------------------------------------------------ every field
def test_every_field_with_default_settings():
    desired = desired_metadata(scene(), cfg())
    assert dict(desired.scalars) == {
        "title": "A Title", "summary": "Some details.", "studio": "Studio One",
        "originallyAvailableAt": "2021-03-04", "year": "2021", "userRating": "8.5",
    }
    assert dict(desired.tags) == {
        "genre": ("Outdoor", "Drama"), "actor": ("Zed", "Amy", "Bob"), "director": ("Dee Rector",),
        "collection": ("Studio One", "Saga", "Box Set"),
    }
    assert desired.poster_url == SCREENSHOT


def test_opt_in_fields():
    desired = desired_metadata(scene(), cfg(sync_tagline=True, sync_title_sort=True))
    assert desired.scalars["tagline"] == "ABC-123"
    assert desired.scalars["titleSort"] == "A Title"


TOGGLES = {
    "sync_title": ({"title"}, set(), False),
    "sync_summary": ({"summary"}, set(), False),
    "sync_studio": ({"studio"}, set(), False),
    "sync_date": ({"originallyAvailableAt", "year"}, set(), False),
    "sync_rating": ({"userRating"}, set(), False),
    "sync_tags": (set(), {"genre"}, False),
    "sync_performers": (set(), {"actor"}, False),
    "sync_director": (set(), {"director"}, False),
    "sync_collections": (set(), {"collection"}, False),
    "sync_poster": (set(), set(), True),
}


@pytest.mark.parametrize("toggle", sorted(TOGGLES))
def test_each_toggle_removes_exactly_its_fields(toggle):
    scalars, kinds, poster = TOGGLES[toggle]
    on = desired_metadata(scene(), cfg())
    off = desired_metadata(scene(), cfg(**{toggle: False}))
    assert set(on.scalars) - set(off.scalars) == scalars
    assert set(on.tags) - set(off.tags) == kinds
    assert {k: v for k, v in on.scalars.items() if k not in scalars} == dict(off.scalars)
    assert {k: v for k, v in on.tags.items() if k not in kinds} == dict(off.tags)
    assert (off.poster_url is None) == poster


def test_title_sort_follows_the_title_toggle_data():
    # No title in Stash: neither title nor sort title is written (Plex keeps its own).
    desired = desired_metadata(scene(title=""), cfg(sync_title_sort=True))
    assert "title" not in desired.scalars and "titleSort" not in desired.scalars


# ---------------------------------------------------------------------------- title
@pytest.mark.parametrize("title", ["", None])
def test_empty_title_leaves_plexs(title):
    desired = desired_metadata(scene(title=title), cfg())
    assert "title" not in desired.scalars
    assert desired.scalars["summary"] == "Some details."   # the rest is still written


def test_title_with_only_spaces_is_kept_exactly():
    assert desired_metadata(scene(title="  "), cfg()).scalars["title"] == "  "


def test_empty_fields_clear_plexs():
    # Stash is the source of truth: a cleared field in Stash clears it in Plex.
    desired = desired_metadata(scene(details=None, studio=None, date=None, rating100=None, tags=[],
                                     performers=[], director="", groups=[], code=""), cfg(sync_tagline=True))
    assert {k: desired.scalars[k] for k in ("summary", "studio", "originallyAvailableAt", "year",
                                            "userRating", "tagline")} == dict.fromkeys(
        ("summary", "studio", "originallyAvailableAt", "year", "userRating", "tagline"), "")
    assert dict(desired.tags) == {"genre": (), "actor": (), "director": (), "collection": ()}


# --------------------------------------------------------------------------- rating
@pytest.mark.parametrize("rating100, expected", [
    (85, "8.5"), (100, "10"), (1, "0.1"), (33, "3.3"), (50, "5"), (None, ""),
    # Stash keeps 1–100 or nothing: anything else is unrated (plex/ratings.py).
    (0, ""), (150, "10"), (-5, ""), (True, ""), ("abc", ""),
])
def test_rating100_becomes_user_rating_out_of_ten(rating100, expected):
    assert desired_metadata(scene(rating100=rating100), cfg()).scalars["userRating"] == expected


@given(st.integers(1, 100))
def test_every_stash_rating_maps_exactly(rating100):
    text = desired_metadata(scene(rating100=rating100), cfg()).scalars["userRating"]
    assert float(text) == rating100 / 10


# ----------------------------------------------------------------------------- date
@pytest.mark.parametrize("date, day, year", [
    ("2021-03-04", "2021-03-04", "2021"),
    ("1972-01-01", "1972-01-01", "1972"),
    (" 2020-02-29 ", "2020-02-29", "2020"),
])
def test_date_gives_release_date_and_year(date, day, year):
    scalars = desired_metadata(scene(date=date), cfg()).scalars
    assert (scalars["originallyAvailableAt"], scalars["year"]) == (day, year)


@pytest.mark.parametrize("date", [None, "", "not a date", "2021-3-4", "04-03-2021", "2021/03/04",
                                  "2021-02-30", "2021-13-01", "2021-00-10", "0000-01-01", 20210304])
def test_invalid_dates_write_no_date(date):
    # Plex rejects an impossible date with HTTP 400: that would fail the whole edit.
    scalars = desired_metadata(scene(date=date), cfg()).scalars
    assert (scalars["originallyAvailableAt"], scalars["year"]) == ("", "")


# ----------------------------------------------------------------------------- tags
def test_tag_exclusion_by_exact_name_and_prefix():
    names = ("Favorite", "_meta", "_", "Keep", "Favorites", "Todo later", "Todo", "x_y")
    desired = desired_metadata(scene(tags=tags(*names)), cfg(tag_exclude="Favorite; _*; Todo"))
    assert desired.tags["genre"] == ("Keep", "Favorites", "Todo later", "x_y")


@pytest.mark.parametrize("tag, patterns, hit", [
    ("Favorite", ("Favorite",), True), ("Favorites", ("Favorite",), False), ("_x", ("_*",), True),
    ("x_", ("_*",), False), ("anything", ("*",), True), ("a", (), False),
])
def test_excluded(tag, patterns, hit):
    assert excluded(tag, patterns) is hit


def test_max_tags_keeps_the_first_in_stash_order_after_exclusion():
    names = tags("_skip", "A", "B", "_also", "C", "D")
    desired = desired_metadata(scene(tags=names), cfg(max_tags=3, tag_exclude="_*"))
    assert desired.tags["genre"] == ("A", "B", "C")


@given(st.lists(st.text(min_size=1, max_size=6), max_size=12), st.integers(0, 8))
def test_max_tags_is_a_prefix_of_the_unlimited_list(names, limit):
    unlimited = desired_metadata(scene(tags=tags(*names)), cfg()).tags["genre"]
    capped = desired_metadata(scene(tags=tags(*names)), cfg(max_tags=limit)).tags["genre"]
    assert capped == (unlimited[:limit] if limit else unlimited)


def test_tags_dedupe_case_insensitively_keeping_the_first_spelling():
    desired = desired_metadata(scene(tags=tags("Blonde", "blonde", "Other", "BLONDE", "ÉTÉ", "été")), cfg())
    assert desired.tags["genre"] == ("Blonde", "Other", "ÉTÉ")


def test_blank_tag_names_are_dropped_but_padded_names_kept():
    desired = desired_metadata(scene(tags=tags("", "   ", " spaced tag ", "\x00")), cfg())
    assert desired.tags["genre"] == (" spaced tag ",)


# ------------------------------------------------------------------- performers, director
def test_performers_keep_stash_order_and_dedupe():
    people = [{"id": str(i), "name": n} for i, n in enumerate(["Zoë", "Amy", "zoë", "Bob", "Amy"])]
    assert desired_metadata(scene(performers=people), cfg()).tags["actor"] == ("Zoë", "Amy", "Bob")


@given(st.lists(st.text(min_size=1, max_size=8), max_size=8))
def test_performer_order_is_stash_order(names):
    people = [{"id": str(i), "name": n} for i, n in enumerate(names)]
    expected: list[str] = []
    for name in names:
        text = plex_text(name)
        if text.strip() and text.casefold() not in {e.casefold() for e in expected}:
            expected.append(text)
    assert desired_metadata(scene(performers=people), cfg()).tags["actor"] == tuple(expected)


def test_director_blank_is_empty_list():
    assert desired_metadata(scene(director="  "), cfg()).tags["director"] == ()
    assert desired_metadata(scene(director=None), cfg()).tags["director"] == ()


# ---------------------------------------------------------------------------- collections
def test_collections_are_studio_then_groups():
    assert desired_metadata(scene(), cfg()).tags["collection"] == ("Studio One", "Saga", "Box Set")


def test_collections_without_studio_or_groups():
    assert desired_metadata(scene(studio=None), cfg()).tags["collection"] == ("Saga", "Box Set")
    assert desired_metadata(scene(groups=[]), cfg()).tags["collection"] == ("Studio One",)
    assert desired_metadata(scene(studio=None, groups=None), cfg()).tags["collection"] == ()


def test_a_group_named_like_the_studio_is_one_collection():
    groups = [{"group": {"id": "9", "name": "studio one"}, "scene_index": 1}]
    assert desired_metadata(scene(groups=groups), cfg()).tags["collection"] == ("Studio One",)


def test_studio_toggle_off_still_feeds_collections():
    # "Don't sync studio" leaves Plex's studio field alone; collections are their own toggle.
    desired = desired_metadata(scene(), cfg(sync_studio=False))
    assert "studio" not in desired.scalars
    assert desired.tags["collection"][0] == "Studio One"


# ------------------------------------------------------------------------- exact text
def test_awkward_text_is_carried_exactly_in_every_field():
    s = scene(title=AWKWARD, details=AWKWARD, code=AWKWARD, director=AWKWARD,
              studio={"id": "1", "name": AWKWARD}, tags=tags(AWKWARD), performers=[{"id": "1", "name": AWKWARD}],
              groups=[{"group": {"id": "1", "name": AWKWARD + "!"}, "scene_index": 1}])
    desired = desired_metadata(s, cfg(sync_tagline=True, sync_title_sort=True))
    for name in ("title", "titleSort", "summary", "studio", "tagline"):
        assert desired.scalars[name] == AWKWARD, name
    assert desired.tags == {"genre": (AWKWARD,), "actor": (AWKWARD,), "director": (AWKWARD,),
                            "collection": (AWKWARD, AWKWARD + "!")}


def test_only_xml_invalid_control_characters_are_dropped():
    text = "a\x00b\x01c\x08d\x0be\x0cf\x1fg\ufffeh\uffffi\ud800j\tk\nl\rm\x7fn\x85o\u2028p"
    assert plex_text(text) == "abcdefghij\tk\nl\rm\x7fn\x85o\u2028p"
    assert desired_metadata(scene(details=text), cfg()).scalars["summary"] == plex_text(text)


@given(st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=40))
def test_plex_text_is_xml_safe_and_otherwise_exact(text):
    out = plex_text(text)
    assert out == "".join(ch for ch in text if xml_char(ch))
    element = ET.Element("Video", summary=out)
    assert ET.fromstring(ET.tostring(element, encoding="unicode")).get("summary") == out


def test_plex_text_of_none_and_numbers():
    assert plex_text(None) == ""
    assert plex_text(12) == "12"


# ---------------------------------------------------------------------------- poster
def test_poster_comes_only_from_the_screenshot():
    assert desired_metadata(scene(paths={"preview": PREVIEW, "screenshot": SCREENSHOT}), cfg()).poster_url == SCREENSHOT
    # A scene with a preview but no screenshot gets no poster: a video is never an image.
    assert desired_metadata(scene(paths={"preview": PREVIEW, "stream": PREVIEW}), cfg()).poster_url is None
    assert desired_metadata(scene(paths={"preview": PREVIEW, "screenshot": ""}), cfg()).poster_url is None
    assert desired_metadata(scene(paths=None), cfg()).poster_url is None


# ------------------------------------------------------------------------ fingerprint
def test_fingerprint_is_stable():
    a = desired_metadata(scene(), cfg())
    b = desired_metadata(scene(), cfg())
    assert a.fingerprint() == b.fingerprint() == a.fingerprint()
    # Insertion order of the mappings does not matter.
    reordered = DesiredMetadata(scalars=dict(reversed(list(a.scalars.items()))),
                                tags=dict(reversed(list(a.tags.items()))), poster_url=a.poster_url)
    assert reordered.fingerprint("x") == a.fingerprint("x")


CHANGES = [
    {"title": "Other"}, {"details": "Other details."}, {"details": "Some details. "}, {"studio": {"id": "2", "name": "S2"}},
    {"date": "2021-03-05"}, {"rating100": 86}, {"tags": tags("Outdoor")}, {"tags": tags("Drama", "Outdoor")},
    {"performers": [{"id": "1", "name": "Amy"}, {"id": "3", "name": "Zed"}, {"id": "2", "name": "Bob"}]},
    {"director": "Other"}, {"groups": []}, {"title": "A Title\u200b"},
]


@pytest.mark.parametrize("change", CHANGES, ids=lambda c: next(iter(c)))
def test_fingerprint_changes_with_any_synced_field(change):
    before = desired_metadata(scene(), cfg()).fingerprint()
    assert desired_metadata(scene(**change), cfg()).fingerprint() != before


def test_fingerprint_changes_with_extra_and_settings():
    desired = desired_metadata(scene(), cfg())
    assert desired.fingerprint("poster-a") != desired.fingerprint("poster-b") != desired.fingerprint()
    assert desired_metadata(scene(), cfg(sync_tagline=True)).fingerprint() != desired.fingerprint()


def test_fingerprint_ignores_what_is_not_synced():
    before = desired_metadata(scene(), cfg()).fingerprint()
    assert desired_metadata(scene(organized=False, urls=[], updated_at="2025-01-01T00:00:00Z"),
                            cfg()).fingerprint() == before


@given(st.text(max_size=20), st.text(max_size=20))
def test_fingerprint_tells_any_two_summaries_apart(a, b):
    fa = desired_metadata(scene(details=a), cfg()).fingerprint()
    fb = desired_metadata(scene(details=b), cfg()).fingerprint()
    assert (fa == fb) == (plex_text(a) == plex_text(b))
