"""plex/path_index.py: the file path → Plex item cache in the data dir (real SQLite files)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Iterator

import pytest
from freezegun import freeze_time

from plex.exceptions import PlexUnreachable
from plex.item_state import ListedItem
from plex.path_index import DB_FILE, IndexedPart, PathIndex

SIG = "libraries="


def item(key: str, *files: str, section: str = "1") -> ListedItem:
    return ListedItem(key, section, tuple(files), {})


@pytest.fixture
def index(data_dir):
    idx = PathIndex(data_dir, case_insensitive=False, signature=SIG)
    yield idx
    idx.close()


def test_lookup_exact_path(index):
    index.add([item("10", "/m/a/x.mkv"), item("11", "/m/b/x.mkv")])
    assert index.lookup("/m/a/x.mkv") == [IndexedPart("/m/a/x.mkv", "10", "1")]
    assert index.lookup("/m/a/y.mkv") == []
    assert index.lookup("/m/a") == []


def test_lookup_uses_the_compared_form_of_paths(index):
    index.add([item("10", "C:\\Media\\x.mkv"), item("11", "/m/dir/y.mkv")])
    assert index.lookup("c:/Media/x.mkv") == [IndexedPart("C:\\Media\\x.mkv", "10", "1")]
    assert index.lookup("/m/dir/y.mkv/") == [IndexedPart("/m/dir/y.mkv", "11", "1")]


def test_a_backslash_in_a_posix_name_is_its_own_file(index):
    index.add([item("10", "/m/Back\\slash.mkv")])
    assert index.lookup("/m/Back/slash.mkv") == []
    assert [p.rating_key for p in index.lookup("/m/Back\\slash.mkv")] == ["10"]


def test_by_name_finds_every_folder(index):
    index.add([item("10", "/m/a/x.mkv"), item("11", "/m/b/x.mkv"), item("12", "/m/b/y.mkv")])
    assert sorted(p.rating_key for p in index.by_name("/anywhere/x.mkv")) == ["10", "11"]
    assert index.by_name("/anywhere/X.mkv") == []


def test_multi_part_items_index_every_part(index):
    index.add([item("10", "/m/a - pt1.mkv", "/m/a - pt2.mkv", "")])
    assert [p.rating_key for p in index.lookup("/m/a - pt2.mkv")] == ["10"]
    assert index.lookup("") == []


def test_add_replaces_what_was_known_of_the_item(index):
    index.add([item("10", "/m/old.mkv")])
    index.add([item("10", "/m/new.mkv")])
    assert index.lookup("/m/old.mkv") == []
    assert [p.rating_key for p in index.lookup("/m/new.mkv")] == ["10"]


def test_forget(index):
    index.add([item("10", "/m/a.mkv"), item("11", "/m/b.mkv")])
    index.forget("10")
    assert index.lookup("/m/a.mkv") == [] and index.by_name("/a.mkv") == []
    assert [p.rating_key for p in index.lookup("/m/b.mkv")] == ["11"]


def test_replace_section_replaces_only_that_section(index):
    index.add([item("10", "/m/a.mkv", section="1"), item("20", "/o/a.mkv", section="2")])
    count = index.replace_section("1", iter([item("11", "/m/b.mkv"), item("12", "/m/c.mkv")]))
    assert count == 2
    assert index.lookup("/m/a.mkv") == []
    assert [p.rating_key for p in index.lookup("/m/c.mkv")] == ["12"]
    assert [p.rating_key for p in index.lookup("/o/a.mkv")] == ["20"]


def test_complete_since(index):
    assert index.complete_since("1") is None
    with freeze_time(datetime(2026, 1, 10, 12, 0, tzinfo=timezone.utc)):
        index.replace_section("1", [])
    assert index.complete_since("1") == datetime(2026, 1, 10, 12, 0, tzinfo=timezone.utc).timestamp()
    assert index.complete_since("2") is None
    index.add([item("10", "/m/a.mkv")])   # single look-ups do not make a section complete
    assert index.complete_since("2") is None


def test_a_listing_that_fails_midway_keeps_the_old_index(index):
    index.add([item("10", "/m/a.mkv")])

    def listing() -> Iterator[ListedItem]:
        yield item("11", "/m/b.mkv")
        raise PlexUnreachable("Plex went away")

    with pytest.raises(PlexUnreachable):
        index.replace_section("1", listing())
    assert [p.rating_key for p in index.lookup("/m/a.mkv")] == ["10"]
    assert index.lookup("/m/b.mkv") == [] and index.complete_since("1") is None


def test_the_index_persists_for_the_next_process(data_dir, index):
    index.replace_section("1", [item("10", "/m/a.mkv")])
    again = PathIndex(data_dir, case_insensitive=False, signature=SIG)
    assert [p.rating_key for p in again.lookup("/m/a.mkv")] == ["10"]
    assert again.complete_since("1") is not None
    again.close()


@pytest.mark.parametrize("signature, case_insensitive", [("libraries=movies", False), (SIG, True)])
def test_a_signature_change_drops_everything(data_dir, index, signature, case_insensitive):
    index.replace_section("1", [item("10", "/m/a.mkv")])
    index.close()
    changed = PathIndex(data_dir, case_insensitive=case_insensitive, signature=signature)
    assert changed.lookup("/m/a.mkv") == [] and changed.by_name("/a.mkv") == []
    assert changed.complete_since("1") is None
    changed.close()
    # And back: still empty, the old entries are gone for good.
    back = PathIndex(data_dir, case_insensitive=False, signature=SIG)
    assert back.lookup("/m/a.mkv") == []
    back.close()


def test_case_insensitive_keys(data_dir):
    idx = PathIndex(data_dir, case_insensitive=True, signature=SIG)
    idx.add([item("10", "/Movies/Some Film.MKV")])
    assert idx.lookup("/movies/some film.mkv") == [IndexedPart("/Movies/Some Film.MKV", "10", "1")]
    assert [p.rating_key for p in idx.by_name("/x/SOME FILM.mkv")] == ["10"]
    idx.close()


def test_case_sensitive_keys_by_default(index):
    index.add([item("10", "/Movies/Film.mkv")])
    assert index.lookup("/movies/film.mkv") == []


def test_the_file_lives_in_the_data_dir(data_dir, index):
    import os
    assert os.path.exists(os.path.join(data_dir, DB_FILE))


def test_parts_keep_the_size_and_duration_plex_reported(index):
    index.add([ListedItem("10", "1", ("/m/a/x.mkv", "/m/a/y.mkv"), {}, (111, None), (60_000, None))])
    assert index.lookup("/m/a/x.mkv") == [IndexedPart("/m/a/x.mkv", "10", "1", 111, 60_000)]
    assert index.by_name("/elsewhere/y.mkv") == [IndexedPart("/m/a/y.mkv", "10", "1", None, None)]


def test_an_index_of_the_old_layout_is_rebuilt_empty(data_dir):
    import os
    import sqlite3

    old = sqlite3.connect(os.path.join(data_dir, DB_FILE))
    old.executescript("CREATE TABLE parts (path_key TEXT, name_key TEXT, path TEXT, rating_key TEXT, section_id TEXT);"
                      "INSERT INTO parts VALUES ('/m/x.mkv', 'x.mkv', '/m/x.mkv', '10', '1');")
    old.close()
    idx = PathIndex(data_dir, case_insensitive=False, signature=SIG)
    try:
        assert idx.lookup("/m/x.mkv") == []        # a cache: rebuilt, never misread
        idx.add([ListedItem("11", "1", ("/m/x.mkv",), {}, (5,), (6,))])
        assert idx.lookup("/m/x.mkv") == [IndexedPart("/m/x.mkv", "11", "1", 5, 6)]
    finally:
        idx.close()
    again = PathIndex(data_dir, case_insensitive=False, signature=SIG)
    try:
        assert again.lookup("/m/x.mkv")[0].size == 5    # the current layout is kept
    finally:
        again.close()


def test_the_index_stores_each_items_section_type(index):
    index.add([item("10", "/m/a/film.mkv"),
               ListedItem("20", "2", ("/tv/show/s01e01.mkv",), {}, (), (), "episode")])
    assert [p.section_type for p in index.lookup("/m/a/film.mkv")] == ["movie"]
    assert [p.section_type for p in index.by_name("/elsewhere/s01e01.mkv")] == ["show"]


def test_an_index_without_section_types_is_rebuilt_empty(data_dir):
    import os
    import sqlite3

    # The layout before section types (user_version 2): a cache, so dropped, never misread.
    old = sqlite3.connect(os.path.join(data_dir, DB_FILE))
    old.executescript("CREATE TABLE parts (path_key TEXT NOT NULL, name_key TEXT NOT NULL, path TEXT NOT NULL,"
                      " rating_key TEXT NOT NULL, section_id TEXT NOT NULL, size INTEGER, duration INTEGER);"
                      "INSERT INTO parts VALUES ('/m/x.mkv', 'x.mkv', '/m/x.mkv', '10', '1', 5, 6);"
                      "PRAGMA user_version = 2;")
    old.close()
    idx = PathIndex(data_dir, case_insensitive=False, signature=SIG)
    try:
        assert idx.lookup("/m/x.mkv") == []
        idx.add([item("11", "/m/x.mkv")])
        assert [p.section_type for p in idx.lookup("/m/x.mkv")] == ["movie"]
    finally:
        idx.close()


def test_the_index_stores_each_items_media_type(index):
    index.add([item("10", "/m/a/film.mkv"),
               ListedItem("20", "2", ("/tv/show/s01e01.mkv",), {}, (), (), "episode")])
    assert [p.media_type for p in index.lookup("/m/a/film.mkv")] == ["movie"]
    assert [(p.section_type, p.media_type) for p in index.lookup("/tv/show/s01e01.mkv")] == [("show", "episode")]


def test_an_index_without_item_types_is_rebuilt_empty(data_dir):
    import os
    import sqlite3

    # The layout with section types only (user_version 3): dropped, never read as movies.
    old = sqlite3.connect(os.path.join(data_dir, DB_FILE))
    old.executescript("CREATE TABLE parts (path_key TEXT NOT NULL, name_key TEXT NOT NULL, path TEXT NOT NULL,"
                      " rating_key TEXT NOT NULL, section_id TEXT NOT NULL, size INTEGER, duration INTEGER,"
                      " section_type TEXT NOT NULL);"
                      "INSERT INTO parts VALUES ('/tv/x.mkv', 'x.mkv', '/tv/x.mkv', '10', '1', 5, 6, 'show');"
                      "PRAGMA user_version = 3;")
    old.close()
    idx = PathIndex(data_dir, case_insensitive=False, signature=SIG)
    try:
        assert idx.lookup("/tv/x.mkv") == []
    finally:
        idx.close()
