"""plex/paths.py: Stash path → Plex path, pure (hypothesis for the rules, examples for the
awkward cases users actually have: Docker volumes, Windows drives, UNC shares)."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from plex.paths import (
    basename, common_suffix_depth, is_under, is_windows_path, map_path, mapped_files, normalize, parent, same_file,
)
from plex.paths import PathMapping as M

# One path component: no separators, not empty, not a drive ("x:") so POSIX paths stay POSIX.
component = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/\\:"),
                    min_size=1, max_size=8)
components = st.lists(component, min_size=1, max_size=4)
ascii_component = st.text("abcdefgXYZ019 _-.", min_size=1, max_size=6).filter(lambda c: c.strip("."))


def posix(parts: list[str]) -> str:
    return "/" + "/".join(parts)


# ------------------------------------------------------------------ identity and basics
@given(st.text())
def test_no_rules_is_identity(path):
    assert map_path(path, ()) == path
    assert map_path(path, (), case_insensitive=True) == path


@given(components, components, components)
def test_a_rule_moves_the_prefix_and_keeps_the_rest_exactly(stash_prefix, plex_prefix, rest):
    source, target = posix(stash_prefix), posix(plex_prefix)
    assert map_path(posix(stash_prefix + rest), [M(source, target)]) == target + "/" + "/".join(rest)
    # Trailing separators on either side of the rule change nothing.
    assert map_path(posix(stash_prefix + rest), [M(source + "/", target + "/")]) == target + "/" + "/".join(rest)


@given(components, components)
def test_the_prefix_itself_maps_to_the_target(stash_prefix, plex_prefix):
    assert map_path(posix(stash_prefix), [M(posix(stash_prefix), posix(plex_prefix))]) == posix(plex_prefix)


@given(components, components)
def test_unrelated_paths_are_left_alone(rule_prefix, path):
    assume(path[: len(rule_prefix)] != rule_prefix)
    assert map_path(posix(path), [M(posix(rule_prefix), "/elsewhere")]) == posix(path)


# ------------------------------------------------------------------- longest prefix wins
@given(components, components, components, st.booleans())
def test_longest_prefix_wins_whatever_the_order(base, deeper, rest, longest_first):
    short, long = M(posix(base), "/short"), M(posix(base + deeper), "/long")
    rules = [long, short] if longest_first else [short, long]
    assert map_path(posix(base + deeper + rest), rules) == "/long/" + "/".join(rest)
    # A path under the short prefix only still uses it.
    assume(rest[0] != deeper[0])
    assert map_path(posix(base + rest), rules) == "/short/" + "/".join(rest)


def test_longest_prefix_example():
    rules = [M("/data", "/media"), M("/data/stash/videos", "/mnt/videos"), M("/data/stash", "/srv")]
    assert map_path("/data/stash/videos/a/b.mp4", rules) == "/mnt/videos/a/b.mp4"
    assert map_path("/data/stash/other.mp4", rules) == "/srv/other.mp4"
    assert map_path("/data/x.mp4", rules) == "/media/x.mp4"


# --------------------------------------------------------------------- folder boundary
@given(components, component, components)
def test_a_prefix_matches_only_at_a_folder_boundary(prefix, glued, rest):
    # "/media" must not match "/media2/…": the prefix's last folder continues in the path.
    path = posix(prefix[:-1] + [prefix[-1] + glued] + rest)
    assert map_path(path, [M(posix(prefix), "/plex")]) == path


def test_boundary_example():
    rules = [M("/media", "/plex")]
    assert map_path("/media2/a.mp4", rules) == "/media2/a.mp4"
    assert map_path("/media/a.mp4", rules) == "/plex/a.mp4"
    assert map_path("/media", rules) == "/plex"
    assert map_path("/mediafile.mp4", rules) == "/mediafile.mp4"


def test_root_prefix_maps_everything():
    assert map_path("/a/b.mp4", [M("/", "/mnt/share")]) == "/mnt/share/a/b.mp4"
    assert map_path("/a/b.mp4", [M("/a", "/")]) == "/b.mp4"


# --------------------------------------------------------------- separators and Windows
@given(st.lists(ascii_component, min_size=1, max_size=4), st.booleans(), st.booleans())
def test_backslash_and_slash_are_the_same_separator_on_windows(rest, rule_slashes, path_slashes):
    rule = "D:/Videos/Stash" if rule_slashes else "D:\\Videos\\Stash"
    sep = "/" if path_slashes else "\\"
    path = sep.join(["D:", "Videos", "Stash", *rest])
    assert map_path(path, [M(rule, "/mnt/videos")]) == "/mnt/videos/" + "/".join(rest)


@given(st.lists(ascii_component, min_size=1, max_size=4), st.sampled_from("cCdDzZ"), st.sampled_from("cCdDzZ"))
def test_drive_letters_are_case_insensitive(rest, rule_drive, path_drive):
    assume(rule_drive.lower() == path_drive.lower())
    path = f"{path_drive}:\\Media\\" + "\\".join(rest)
    assert map_path(path, [M(f"{rule_drive}:\\Media", "/srv")]) == "/srv/" + "/".join(rest)


def test_drive_letter_case_does_not_make_folders_case_insensitive():
    assert map_path("d:\\media\\a.mp4", [M("D:\\Media", "/srv")]) == "d:\\media\\a.mp4"
    assert map_path("d:\\media\\a.mp4", [M("D:\\Media", "/srv")], case_insensitive=True) == "/srv/a.mp4"
    # Another drive never matches.
    assert map_path("E:\\Media\\a.mp4", [M("D:\\Media", "/srv")]) == "E:\\Media\\a.mp4"


def test_windows_target_gets_backslashes():
    assert map_path("/data/a/b.mp4", [M("/data", "C:\\Plex\\Media")]) == "C:\\Plex\\Media\\a\\b.mp4"
    assert same_file(map_path("/data/a/b.mp4", [M("/data", "C:/Plex/Media/")]), "C:\\Plex\\Media\\a\\b.mp4")


@given(st.lists(ascii_component, min_size=1, max_size=4))
def test_unc_targets(rest):
    mapped = map_path("/data/" + "/".join(rest), [M("/data", "\\\\nas\\share\\videos")])
    assert mapped == "\\\\nas\\share\\videos\\" + "\\".join(rest)
    assert is_windows_path(mapped)


def test_unc_source_prefix():
    rules = [M("\\\\nas\\share", "/mnt/share")]
    assert map_path("\\\\nas\\share\\x\\y.mp4", rules) == "/mnt/share/x/y.mp4"
    assert map_path("\\\\nas\\shared\\y.mp4", rules) == "\\\\nas\\shared\\y.mp4"
    assert map_path("\\\\NAS\\Share\\y.mp4", rules, case_insensitive=True) == "/mnt/share/y.mp4"


def test_a_backslash_in_a_posix_file_name_is_not_a_separator():
    # "Back\slash.mp4" is one file name on Linux; it must reach Plex unchanged.
    assert map_path("/stash/Back\\slash.mp4", [M("/stash", "/plex")]) == "/plex/Back\\slash.mp4"
    assert basename("/plex/Back\\slash.mp4") == "Back\\slash.mp4"
    assert parent("/plex/Back\\slash.mp4") == "/plex"
    assert not same_file("/plex/Back\\slash.mp4", "/plex/Back/slash.mp4")


# ------------------------------------------------------------------ case-insensitive mode
@given(components, components, st.data())
def test_case_insensitive_matches_any_casing_and_keeps_the_rest(prefix, rest, data):
    source = posix(prefix)
    cased = "".join(data.draw(st.sampled_from([c, c.upper(), c.lower()])) for c in source)
    assume(cased.lower() == source.lower() and len(cased) == len(source))
    mapped = map_path(cased + "/" + "/".join(rest), [M(source, "/plex")], case_insensitive=True)
    assert mapped == "/plex/" + "/".join(rest)


def test_case_insensitive_with_case_changing_length():
    # "İ".lower() is two characters: the rest must still be cut after the prefix's folders.
    rules = [M("/İx", "/plex")]
    assert map_path("/i\u0307x/ab.mp4", rules, case_insensitive=True) == "/plex/ab.mp4"


def test_case_sensitive_by_default():
    assert map_path("/Data/a.mp4", [M("/data", "/plex")]) == "/Data/a.mp4"
    assert map_path("/Data/A.mp4", [M("/data", "/plex")], case_insensitive=True) == "/plex/A.mp4"


# --------------------------------------------------------------------------- mapped_files
@given(st.lists(st.sampled_from(["/s/a.mp4", "/s/b.mp4", "/t/a.mp4", "/s/c.mp4", "/other/a.mp4"]), max_size=8))
def test_mapped_files_dedupes_and_keeps_order(paths):
    rules = [M("/s", "/p"), M("/t", "/p")]   # /s/a.mp4 and /t/a.mp4 are one Plex file
    expected: list[str] = []
    for path in paths:
        mapped = map_path(path, rules)
        if mapped not in expected:
            expected.append(mapped)
    assert mapped_files(paths, rules) == expected


def test_mapped_files_example():
    rules = [M("/s", "/p")]
    assert mapped_files(["/s/b.mp4", "/s/a.mp4", "/s/b.mp4", "/s/a.mp4/"], rules) == ["/p/b.mp4", "/p/a.mp4"]
    assert mapped_files(["/s/A.mp4", "/s/a.mp4"], rules) == ["/p/A.mp4", "/p/a.mp4"]
    assert mapped_files(["/s/A.mp4", "/s/a.mp4"], rules, case_insensitive=True) == ["/p/A.mp4"]
    assert mapped_files([], rules) == []


# ------------------------------------------------------------------------------ helpers
@pytest.mark.parametrize("path, name, folder", [
    ("/a/b/c.mp4", "c.mp4", "/a/b"),
    ("/c.mp4", "c.mp4", "/"),
    ("C:\\V\\x.mkv", "x.mkv", "C:\\V"),
    ("C:/V/x.mkv", "x.mkv", "C:/V"),
    ("\\\\nas\\share\\d\\x.mkv", "x.mkv", "\\\\nas\\share\\d"),
    ("/a/b/", "b", "/a"),
])
def test_basename_and_parent(path, name, folder):
    assert basename(path) == name
    assert parent(path) == folder


def test_normalize():
    assert normalize("C:\\Media\\") == "c:/Media"
    assert normalize("/media/") == "/media"
    assert normalize("/") == "/"
    assert normalize("/Media/A", case_insensitive=True) == "/media/a"


@pytest.mark.parametrize("a, b, depth", [
    ("/x/Studio/2020/a.mp4", "/y/Studio/2020/a.mp4", 3),
    ("/x/Studio/2020/a.mp4", "/y/Other/2020/a.mp4", 2),
    ("/x/a.mp4", "/y/b.mp4", 0),
    ("D:\\Studio\\a.mp4", "/mnt/Studio/a.mp4", 2),
])
def test_common_suffix_depth(a, b, depth):
    assert common_suffix_depth(a, b) == depth
    assert common_suffix_depth(b, a) == depth


def test_same_file():
    assert same_file("C:\\V\\a.mkv", "c:/V/a.mkv")
    assert not same_file("/V/a.mkv", "/v/a.mkv")
    assert same_file("/V/a.mkv", "/v/A.mkv", case_insensitive=True)


@pytest.mark.parametrize("path, folder, inside", [
    ("/media/x", "/media", True), ("/media", "/media/", True), ("/media2/x", "/media", False),
    ("/medi", "/media", False), ("/anything", "/", True), ("C:\\Media\\x", "c:/Media", True),
    ("/Media/x", "/media", False),
])
def test_is_under(path, folder, inside):
    assert is_under(path, folder) is inside


@given(components, component, components)
def test_is_under_respects_folder_boundaries(folder, glued, rest):
    assert is_under(posix(folder + rest), posix(folder))
    assert not is_under(posix(folder[:-1] + [folder[-1] + glued] + rest), posix(folder))
