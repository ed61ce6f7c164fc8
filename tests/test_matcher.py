"""plex/matcher.py: Stash files → the Plex item, against the emulator through PlexConnection,
with the real path index in a tmp data dir. Request counts come from the emulator."""

from __future__ import annotations

from typing import Any

import pytest

from plex.client import PlexConnection
from plex.exceptions import PermanentError, PlexNotFound
from plex.item_state import ListedItem
from plex.matcher import Match, Matcher, StashFile
from plex.path_index import PathIndex
from tests.sync_support import LISTING, MOVIES, plex_config, plex_emu  # noqa: F401  (fixture)


@pytest.fixture
def make_matcher(plex_emu, data_dir):
    made: list[tuple[PlexConnection, PathIndex]] = []

    def make(*, folder: str = data_dir, **overrides: Any) -> Matcher:
        config = plex_config(plex_emu, **overrides)
        conn = PlexConnection(config)
        index = PathIndex(folder, case_insensitive=config.path_case_insensitive, signature="test")
        made.append((conn, index))
        return Matcher(conn, index, config)

    yield make
    for conn, index in made:
        conn.close()
        index.close()


def lookups(plex) -> list[str]:
    """The ``file=`` values of the listing requests, in order."""
    return [r.query["file"] for r in plex.requests if (r.method, r.route) == LISTING and "file" in r.query]


def warnings(parse_log, capsys) -> list[str]:
    return [text for level, text in parse_log(capsys.readouterr().err) if level == "w"]


# ------------------------------------------------------------------------------ exact
def test_exact_match_from_the_index_sends_no_request(plex_emu, make_matcher):
    matcher = make_matcher()
    path = f"{MOVIES}/a.mp4"
    matcher.index.add([ListedItem("42", "1", (path,), {})])
    assert matcher.match([path]) == Match("42", "1", path, "exact")
    assert plex_emu.requests == []


def test_exact_match_by_file_lookup_then_cached(plex_emu, make_matcher):
    path = f"{MOVIES}/Studio/2020/a film.mp4"
    key = plex_emu.add_item(plex_emu.section_id, "A", [path])
    matcher = make_matcher()
    assert matcher.match([path]) == Match(str(key), str(plex_emu.section_id), path, "exact")
    assert lookups(plex_emu) == [path]
    assert plex_emu.request_counts()[LISTING] == 1
    plex_emu.reset_requests()
    assert matcher.match([path]).rating_key == str(key)
    assert plex_emu.requests == []


def test_the_cache_serves_the_next_process_too(plex_emu, make_matcher):
    path = f"{MOVIES}/a.mp4"
    key = plex_emu.add_item(plex_emu.section_id, "A", [path])
    make_matcher().match([path])
    plex_emu.reset_requests()
    assert make_matcher().match([path]).rating_key == str(key)
    assert plex_emu.requests == []


def test_path_mappings_apply_before_matching(plex_emu, make_matcher):
    key = plex_emu.add_item(plex_emu.section_id, "A", [f"{MOVIES}/Sub/a.mp4"])
    matcher = make_matcher(path_mappings=f"/stash => /nowhere; /stash/videos => {MOVIES}")
    match = matcher.match(["/stash/videos/Sub/a.mp4"])
    assert (match.rating_key, match.plex_path, match.how) == (str(key), f"{MOVIES}/Sub/a.mp4", "exact")


def test_windows_stash_paths_map_to_plex(plex_emu, make_matcher):
    key = plex_emu.add_item(plex_emu.section_id, "A", [f"{MOVIES}/Sub/a.mp4"])
    matcher = make_matcher(path_mappings=f"D:\\Videos => {MOVIES}")
    assert matcher.match(["d:\\Videos\\Sub\\a.mp4"]).rating_key == str(key)


def test_loose_server_results_are_never_taken_as_exact(plex_emu, make_matcher):
    plex_emu.add_item(plex_emu.section_id, "Orig", [f"{MOVIES}/clip.mp4.orig"])
    plex_emu.add_item(plex_emu.section_id, "Upper", [f"{MOVIES}/CLIP.mp4"])
    with pytest.raises(PlexNotFound):
        make_matcher().match([f"{MOVIES}/clip.mp4"])


def test_case_insensitive_paths(plex_emu, make_matcher):
    key = plex_emu.add_item(plex_emu.section_id, "Upper", [f"{MOVIES}/Some/CLIP.mp4"])
    match = make_matcher(path_case_insensitive=True).match([f"{MOVIES}/some/clip.mp4"])
    assert (match.rating_key, match.plex_path, match.how) == (str(key), f"{MOVIES}/Some/CLIP.mp4", "exact")


def test_every_file_is_tried_primary_first(plex_emu, make_matcher):
    third = f"{MOVIES}/c.mp4"
    key = plex_emu.add_item(plex_emu.section_id, "C", [third])
    files = [f"{MOVIES}/a.mp4", f"{MOVIES}/b.mp4", third]
    match = make_matcher().match(files)
    assert (match.rating_key, match.plex_path, match.how) == (str(key), third, "exact")
    assert lookups(plex_emu) == files


def test_the_primary_file_wins_when_several_are_in_plex(plex_emu, make_matcher, tmp_path):
    second = plex_emu.add_item(plex_emu.section_id, "B", [f"{MOVIES}/b.mp4"])
    first = plex_emu.add_item(plex_emu.section_id, "A", [f"{MOVIES}/a.mp4"])
    assert make_matcher().match([f"{MOVIES}/a.mp4", f"{MOVIES}/b.mp4"]).rating_key == str(first)
    fresh = make_matcher(folder=str(tmp_path))   # an empty index: nothing cached from the first match
    assert fresh.match([f"{MOVIES}/b.mp4", f"{MOVIES}/a.mp4"]).rating_key == str(second)


def test_multi_part_item_matches_by_any_part(plex_emu, make_matcher):
    parts = [f"{MOVIES}/m - pt1.mp4", f"{MOVIES}/m - pt2.mp4"]
    key = plex_emu.add_item(plex_emu.section_id, "M", parts)
    assert make_matcher().match([parts[1]]).rating_key == str(key)


def test_items_in_a_second_library(plex_emu, make_matcher):
    clips = plex_emu.add_section("Clips", ["/clips"])
    key = plex_emu.add_item(clips, "A", ["/clips/a.mp4"])
    match = make_matcher(plex_libraries="Movies, Clips").match(["/clips/a.mp4"])
    assert (match.rating_key, match.section_id) == (str(key), str(clips))


def test_libraries_not_configured_are_not_searched(plex_emu, make_matcher):
    clips = plex_emu.add_section("Clips", ["/clips"])
    plex_emu.add_item(clips, "A", ["/clips/a.mp4"])
    with pytest.raises(PlexNotFound):
        make_matcher(plex_libraries="Movies").match(["/clips/a.mp4"])


# ----------------------------------------------------------------------- by file name
#: What the emulator reports for an item added without ``size``/``duration``.
PLEX_SIZE, PLEX_SECONDS = 1_500_000_000, 1800.0


def same(path: str, size: int = PLEX_SIZE, duration: float | None = PLEX_SECONDS) -> StashFile:
    """A Stash file of the size and length the emulator gives its items by default."""
    return StashFile(path, size, duration)


def test_unique_name_fallback_warns(plex_emu, make_matcher, parse_log, capsys):
    key = plex_emu.add_item(plex_emu.section_id, "A", [f"{MOVIES}/Elsewhere/a film.mp4"])
    match = make_matcher().match([same("/stash/Studio/a film.mp4")])
    assert match == Match(str(key), str(plex_emu.section_id), f"{MOVIES}/Elsewhere/a film.mp4", "name")
    [warning] = warnings(parse_log, capsys)
    assert "/stash/Studio/a film.mp4" in warning and f"{MOVIES}/Elsewhere/a film.mp4" in warning
    assert "Path mappings" in warning


def test_name_fallback_never_takes_an_item_another_scene_owns(plex_emu, make_matcher):
    owned = plex_emu.add_item(plex_emu.section_id, "A", [f"{MOVIES}/Elsewhere/a film.mp4"])
    with pytest.raises(PlexNotFound):
        make_matcher().match([same("/stash/Studio/a film.mp4")], taken=lambda key: key == str(owned))


def test_name_fallback_skips_owned_items_among_same_named_ones(plex_emu, make_matcher):
    owned = plex_emu.add_item(plex_emu.section_id, "A", [f"{MOVIES}/One/a film.mp4"])
    free = plex_emu.add_item(plex_emu.section_id, "B", [f"{MOVIES}/Two/a film.mp4"])
    match = make_matcher().match([same("/stash/Studio/a film.mp4")], taken=lambda key: key == str(owned))
    assert match.rating_key == str(free) and match.how == "name"


def test_name_fallback_uses_a_complete_index_without_asking_plex(plex_emu, make_matcher):
    key = plex_emu.add_item(plex_emu.section_id, "A", [f"{MOVIES}/Elsewhere/a.mp4"])
    matcher = make_matcher()
    matcher.index.replace_section(str(plex_emu.section_id), matcher.plex.list_section(str(plex_emu.section_id)))
    plex_emu.reset_requests()
    assert matcher.match([same("/stash/a.mp4")]).rating_key == str(key)
    assert lookups(plex_emu) == ["/stash/a.mp4"]     # the exact look-up only, no name look-up


def test_ambiguous_name_is_permanent_and_lists_candidates(plex_emu, make_matcher):
    plex_emu.add_item(plex_emu.section_id, "A1", [f"{MOVIES}/One/a.mp4"])
    plex_emu.add_item(plex_emu.section_id, "A2", [f"{MOVIES}/Two/a.mp4"])
    with pytest.raises(PermanentError) as info:
        make_matcher().match([same("/stash/One/a.mp4")])
    message = info.value.message
    assert f"{MOVIES}/One/a.mp4" in message and f"{MOVIES}/Two/a.mp4" in message
    assert "/stash/One/a.mp4" in message and "Path mappings" in message
    assert not info.value.trips_breaker


def test_many_candidates_are_listed_briefly(plex_emu, make_matcher):
    for n in range(8):
        plex_emu.add_item(plex_emu.section_id, f"A{n}", [f"{MOVIES}/F{n}/a.mp4"])
    with pytest.raises(PermanentError) as info:
        make_matcher().match([same("/stash/a.mp4")])
    assert "8 Plex files" in info.value.message and "and 3 more" in info.value.message


def test_loose_matching_picks_the_closest_folders(plex_emu, make_matcher, parse_log, capsys):
    best = plex_emu.add_item(plex_emu.section_id, "A1", [f"{MOVIES}/Studio A/2020/a.mp4"])
    plex_emu.add_item(plex_emu.section_id, "A2", [f"{MOVIES}/Studio B/2020/a.mp4"])
    plex_emu.add_item(plex_emu.section_id, "A3", [f"{MOVIES}/Studio A/2021/a.mp4"])
    match = make_matcher(strict_matching=False).match([same("/stash/Studio A/2020/a.mp4")])
    assert (match.rating_key, match.how) == (str(best), "name")
    assert any("closest folders" in w for w in warnings(parse_log, capsys))


def test_loose_matching_tie_is_permanent(plex_emu, make_matcher):
    plex_emu.add_item(plex_emu.section_id, "A1", [f"{MOVIES}/X/Studio/a.mp4"])
    plex_emu.add_item(plex_emu.section_id, "A2", [f"{MOVIES}/Y/Studio/a.mp4"])
    with pytest.raises(PermanentError) as info:
        make_matcher(strict_matching=False).match([same("/stash/Studio/a.mp4")])
    assert f"{MOVIES}/X/Studio/a.mp4" in info.value.message and f"{MOVIES}/Y/Studio/a.mp4" in info.value.message


def test_loose_matching_needs_more_than_the_file_name(plex_emu, make_matcher):
    plex_emu.add_item(plex_emu.section_id, "A1", [f"{MOVIES}/X/a.mp4"])
    plex_emu.add_item(plex_emu.section_id, "A2", [f"{MOVIES}/Y/a.mp4"])
    with pytest.raises(PermanentError):
        make_matcher(strict_matching=False).match([same("/stash/Z/a.mp4")])


@pytest.mark.parametrize("stash_file", [
    same("/stash/Studio/a film.mp4", size=PLEX_SIZE + 1),            # another size
    same("/stash/Studio/a film.mp4", duration=PLEX_SECONDS + 60),    # same size, another length
    StashFile("/stash/Studio/a film.mp4"),                           # size unknown: never certain
], ids=["size", "duration", "unknown-size"])
def test_name_fallback_needs_the_same_size_and_duration(plex_emu, make_matcher, stash_file):
    plex_emu.add_item(plex_emu.section_id, "A", [f"{MOVIES}/Elsewhere/a film.mp4"])
    with pytest.raises(PlexNotFound) as info:
        make_matcher().match([stash_file])
    assert f"{MOVIES}/Elsewhere/a film.mp4" in info.value.message and "Path mappings" in info.value.message


def test_durations_measured_a_little_differently_still_match(plex_emu, make_matcher):
    key = plex_emu.add_item(plex_emu.section_id, "A", [f"{MOVIES}/Elsewhere/a film.mp4"])
    match = make_matcher().match([same("/stash/Studio/a film.mp4", duration=PLEX_SECONDS + 0.7)])
    assert (match.rating_key, match.how) == (str(key), "name")


def test_name_fallback_never_takes_a_file_another_stash_scene_has(plex_emu, make_matcher):
    """Not yet synced, so nobody 'owns' it locally: Stash itself says it is another scene's file."""
    other = f"{MOVIES}/Elsewhere/a film.mp4"
    plex_emu.add_item(plex_emu.section_id, "A", [other])
    asked: list[str] = []
    with pytest.raises(PlexNotFound):
        make_matcher().match([same("/stash/Studio/a film.mp4")],
                             claimed=lambda path: asked.append(path) or path == other)
    assert asked == [other]


def test_a_claimed_twin_leaves_the_scenes_own_file_as_the_only_candidate(plex_emu, make_matcher):
    other = f"{MOVIES}/One/a film.mp4"
    plex_emu.add_item(plex_emu.section_id, "A", [other])
    mine = plex_emu.add_item(plex_emu.section_id, "B", [f"{MOVIES}/Two/a film.mp4"])
    match = make_matcher().match([same("/stash/Studio/a film.mp4")], claimed=lambda path: path == other)
    assert (match.rating_key, match.how) == (str(mine), "name")


def test_same_named_files_of_another_size_do_not_make_it_ambiguous(plex_emu, make_matcher):
    mine = plex_emu.add_item(plex_emu.section_id, "A1", [f"{MOVIES}/One/a.mp4"])
    plex_emu.add_item(plex_emu.section_id, "A2", [f"{MOVIES}/Two/a.mp4"], size=PLEX_SIZE // 2)
    assert make_matcher().match([same("/stash/One/a.mp4")]).rating_key == str(mine)


# ---------------------------------------------------------------------------- failures
def test_nothing_found_names_the_path_and_the_setting(plex_emu, make_matcher):
    with pytest.raises(PlexNotFound) as info:
        make_matcher().match(["/stash/missing.mp4", "/stash/missing2.mp4"])
    message = info.value.message
    assert "/stash/missing.mp4" in message and "+1 more" in message
    assert "Path mappings" in message and "Movies" in message
    assert not info.value.trips_breaker and info.value.budget_setting == "not_found_max_retries"


def test_an_unscanned_file_is_not_found(plex_emu, make_matcher):
    plex_emu.add_item(plex_emu.section_id, "New", [f"{MOVIES}/new.mp4"], scanned=False)
    with pytest.raises(PlexNotFound):
        make_matcher().match([f"{MOVIES}/new.mp4"])


def test_a_scene_without_files_is_permanent(plex_emu, make_matcher):
    with pytest.raises(PermanentError):
        make_matcher().match([])
    assert plex_emu.requests == []


def test_indexed_parts_gives_each_indexed_path_primary_first(data_dir):
    """The one exact-path look-up sync and reconcile share: every wanted path the index
    holds (reconcile claims each), in the scene's file order (the first decides)."""
    from plex.matcher import indexed_parts

    index = PathIndex(data_dir, case_insensitive=False, signature="test")
    try:
        index.add([ListedItem("10", "1", ("/m/a.mkv",), {}), ListedItem("11", "1", ("/m/c.mkv",), {})])
        found = indexed_parts(index, ["/m/b.mkv", "/m/c.mkv", "/m/a.mkv"])
        assert [(path, part.rating_key) for path, part in found] == [("/m/c.mkv", "11"), ("/m/a.mkv", "10")]
        assert indexed_parts(index, ["/m/none.mkv"]) == []
    finally:
        index.close()
