"""``make demo`` (sandbox/demo.py): what it shows, and that it fails when an expectation does.

The whole demo runs once, small, with a setting that keeps the advertised title edit
out of Plex ('Don't sync title'): it must say so and exit 1. The other expectations are
checked on the pure helpers.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.demo import change_lines, edit_failures
from sandbox.stash_server import StashServer, demo_scenes

ROOT = Path(__file__).resolve().parents[1]

BEFORE = {"title": "A", "summary": "s", "studio": "S", "originallyAvailableAt": "2020-01-02", "userRating": 3.4,
          "genres": ["Rock & Roll", "日本語", "a very long genre name that a table would have cut short"],
          "actors": ["X"], "collections": ["S"], "poster": True}


def test_a_changed_list_is_shown_in_full_with_what_was_removed():
    after = dict(BEFORE, genres=BEFORE["genres"][1:])
    lines = change_lines(BEFORE, after)
    assert lines[0] == "  genres      Rock & Roll, 日本語, a very long genre name that a table would have cut short"
    assert lines[1].endswith("→ 日本語, a very long genre name that a table would have cut short")
    assert lines[2].strip() == "(-Rock & Roll)"
    assert lines[-1] == "  unchanged: title, summary, studio, date, rating, actors, collections, poster"


def test_an_edit_must_show_and_change_nothing_else():
    assert edit_failures("7", "rating", BEFORE, dict(BEFORE, userRating=9.5), True) == []
    assert edit_failures("7", "rating", BEFORE, BEFORE, False) == ["scene 7: the edit (rating) is not visible in Plex"]
    assert edit_failures("7", "title", BEFORE, dict(BEFORE, title="B", studio="T"), True) == [
        "scene 7: the edit (title) also changed studio"]


@pytest.mark.slow
def test_the_demo_exits_1_when_an_expectation_fails(tmp_path):
    done = subprocess.run([sys.executable, "-m", "sandbox.demo", "--scenes", "8", "--setting", "skip_title=true"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    failed = [line for line in lines if line.startswith("FAILED: ")]
    assert len(failed) == 1 and failed[0].endswith("the edit (title) is not visible in Plex"), done.stdout
    assert "Traceback" not in done.stderr
    # The two edits that did reach Plex are shown before → after, in full.
    assert any(line.strip().startswith("(-") for line in lines), done.stdout
    assert any(line.strip() == "→ 9.5" for line in lines), done.stdout


def test_the_standalone_emulators_pair_up():
    """``python -m sandbox.stash_server --scenes N`` and ``python -m sandbox.plex_server
    --items N`` hold the same files, under the paths the README's mapping names."""
    from plex.paths import PathMapping, map_path
    from sandbox.plex_library import generate_items
    from sandbox.stash_server import STANDALONE_MAPPING

    server = StashServer()
    ids = demo_scenes(6, server)
    stash_paths = [f["path"] for i in ids for f in server.scene(i)["files"]]
    plex_paths = {path for item in generate_items(6) for path in item["files"]}
    stash_prefix, plex_prefix = (p.strip() for p in STANDALONE_MAPPING.split("=>"))
    mapped = {map_path(p, [PathMapping(stash_prefix, plex_prefix)]) for p in stash_paths}
    assert mapped == plex_paths
