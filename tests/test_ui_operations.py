"""The plugin modes behind the Plex tab (plugin/ui_operations.py), without a browser.

The pure decisions (the panel's state, what *Sync now* does, the Open-in-Plex link) are
tested directly; the modes themselves run as Stash's ``runPluginOperation`` runs them
(``PluginRunner.run_operation``: a subprocess, args exactly as given) against the
emulators. The browser side is tests/test_ui_browser.py.
"""

from __future__ import annotations

import json
import os
import time
from xml.etree import ElementTree

import pytest

from plex.probe import item_web_url, parse_item
from plugin.protocol import TaskError
from plugin.ui_operations import (
    QUEUED_BEHIND_JOBS,
    QUEUED_FOR_RUNNING_DRAIN,
    SYNC_HERE,
    scene_id_arg,
    sync_now_plan,
    synced_here_message,
)
from tests.e2e_helpers import close_sandbox
from tests.test_e2e_sync import make_sandbox
from worker.lock import DrainLock
from worker.scene_status import (
    DEAD_LETTERED,
    MATCHED,
    NEVER_SYNCED,
    QUEUED,
    RETRY_WAITING,
    UNMATCHED,
    SceneStatus,
    panel_state,
)

NOW = 1_800_000_000.0


# ---------------------------------------------------------------------------- pure


@pytest.mark.parametrize("status, state", [
    (SceneStatus(1), NEVER_SYNCED),
    (SceneStatus(1, rating_key="7", synced_at=NOW - 60), MATCHED),
    (SceneStatus(1, queued={"due_at": 0.0}), QUEUED),
    (SceneStatus(1, rating_key="7", synced_at=NOW - 60, queued={"due_at": NOW - 1}), QUEUED),
    (SceneStatus(1, queued={"due_at": NOW + 30}), RETRY_WAITING),
    (SceneStatus(1, miss="Plex has no item for /a.mp4", queued={"due_at": NOW + 30}), UNMATCHED),
    (SceneStatus(1, miss="Plex has no item for /a.mp4"), UNMATCHED),
    (SceneStatus(1, dead_letter={"failed_at": NOW - 5}), DEAD_LETTERED),
    (SceneStatus(1, miss="gone", dead_letter={"failed_at": NOW - 5}), DEAD_LETTERED),
    # a later successful sync makes the old entry history
    (SceneStatus(1, rating_key="7", synced_at=NOW - 1, dead_letter={"failed_at": NOW - 5}), MATCHED),
    # Sync now on a dead-lettered scene: the new job leads
    (SceneStatus(1, dead_letter={"failed_at": NOW - 5}, queued={"due_at": 0.0}), QUEUED),
])
def test_panel_state(status, state):
    assert panel_state(status, NOW) == state


def test_sync_now_plan_keeps_one_drainer_and_does_not_hold_the_page():
    assert sync_now_plan(True, 0) == QUEUED_FOR_RUNNING_DRAIN
    assert sync_now_plan(False, 0) == SYNC_HERE
    assert sync_now_plan(False, 10, max_ahead=10) == SYNC_HERE
    assert sync_now_plan(False, 11, max_ahead=10) == QUEUED_BEHIND_JOBS
    assert sync_now_plan(True, 50) == QUEUED_FOR_RUNNING_DRAIN


def test_sync_now_says_what_became_of_the_scene():
    assert synced_here_message(SceneStatus(1, rating_key="7", synced_at=NOW)) == "Synced now."
    dead = SceneStatus(1, dead_letter={"failed_at": NOW, "error_type": "PermanentError", "message": "no files"})
    assert synced_here_message(dead) == "The sync failed: PermanentError: no files"
    assert synced_here_message(SceneStatus(1, miss="Plex has no item for /a.mp4")) == \
        "Not synced: Plex has no item for /a.mp4"
    waiting = SceneStatus(1, queued={"due_at": time.time() + 60, "last_error_type": "TransientError"})
    assert synced_here_message(waiting) == "The sync failed (TransientError); it is tried again later."


@pytest.mark.parametrize("value", [None, "", "x", "0", 0, -3, True, 4.5, "4.5", "+4", "٣", [1], {"id": 1}])
def test_scene_id_argument_rejects_what_is_not_an_id(value):
    with pytest.raises(TaskError, match=r"^invalid args.scene_id: expected a scene id"):
        scene_id_arg({"scene_id": value})


@pytest.mark.parametrize("value, number", [("12", 12), (12, 12), (" 7 ", 7), (3.0, 3)])
def test_scene_id_argument_accepts_whole_numbers(value, number):
    assert scene_id_arg({"scene_id": value}) == number


def test_open_in_plex_link_is_the_web_apps_item_page_without_token():
    url = item_web_url("abc123", "42")
    assert url == "https://app.plex.tv/desktop#!/server/abc123/details?key=%2Flibrary%2Fmetadata%2F42"


def test_item_facts_from_plex_xml():
    root = ElementTree.fromstring(
        '<MediaContainer size="1" librarySectionTitle="Movies" librarySectionID="3">'
        '<Video ratingKey="42" title="T" viewCount="2" viewOffset="61000" duration="120000">'
        '<Media><Part file="/m/a - pt1.mp4"/><Part file="/m/a - pt2.mp4"/></Media></Video></MediaContainer>')
    facts = parse_item(root)
    assert facts is not None
    assert (facts.rating_key, facts.title, facts.library, facts.library_id) == ("42", "T", "Movies", "3")
    assert facts.files == ("/m/a - pt1.mp4", "/m/a - pt2.mp4")
    assert (facts.view_count, facts.view_offset_ms, facts.duration_ms) == (2, 61000, 120000)
    assert parse_item(ElementTree.fromstring('<MediaContainer size="0"/>')) is None


# ---------------------------------------------------------------------------- the modes, as Stash runs them


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    sandbox = make_sandbox(tmp_path_factory.mktemp("ui-ops"), scenes=4, seed=15)
    sandbox.sync([sandbox.world.scenes[0]])
    yield sandbox
    close_sandbox(sandbox)


def _imported(stderr: str) -> set[str]:
    """Top-level modules named in ``-X importtime`` lines (PYTHONPROFILEIMPORTTIME)."""
    return {line.rsplit("|", 1)[1].strip().split(".")[0] for line in stderr.splitlines()
            if line.startswith("import time:") and "|" in line}


def test_reads_never_import_plexapi(box):
    box.runner.env["PYTHONPROFILEIMPORTTIME"] = "1"
    try:
        status = box.runner.run_operation({"mode": "ui_status"})
        scene = box.runner.run_operation({"mode": "ui_scene", "scene_id": box.world.scenes[0].stash_id})
    finally:
        del box.runner.env["PYTHONPROFILEIMPORTTIME"]
    assert status.error is None and scene.error is None
    assert status.output["plex"]["reachable"] is True
    assert scene.output["state"] == "matched" and scene.output["item"]["library"] == "Movies"
    for run in (status, scene):
        modules = _imported(run.stderr)
        assert "pydantic" in modules                 # the check sees imports at all
        assert "plexapi" not in modules


def test_bad_scene_id_is_one_clear_error_and_no_traceback(box):
    result = box.runner.run_operation({"mode": "ui_scene", "scene_id": "12; DROP"})
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {"output": None, "error": result.error}
    assert result.error.startswith("invalid args.scene_id: expected a scene id")
    assert "Traceback" not in result.stderr


def test_scene_of_a_fresh_install_creates_nothing(box, tmp_path):
    fresh = str(tmp_path / "fresh-data")
    result = None
    box.runner.env["PLEXSYNC_DATA_DIR"] = fresh
    try:
        result = box.runner.run_operation({"mode": "ui_scene", "scene_id": "3"})
        status = box.runner.run_operation({"mode": "ui_status"})
    finally:
        box.runner.env["PLEXSYNC_DATA_DIR"] = box.data_dir
    assert result.error is None and result.output["state"] == "never_synced"
    assert status.error is None and status.output["no_data"] is True
    assert not os.path.exists(fresh)


def test_sync_now_while_a_drain_runs_only_queues(box):
    spec = box.world.scenes[1]
    before = box.plex.item(spec.plex_key)["title"]
    with DrainLock(box.data_dir) as held:
        assert held
        result = box.runner.run_operation({"mode": "ui_sync_now", "scene_id": spec.stash_id})
    assert result.error is None, result.error
    assert result.output["action"] == QUEUED_FOR_RUNNING_DRAIN
    assert result.output["scene"]["state"] == "queued" and result.output["scene"]["drain_running"] is True
    assert [job["scene_id"] for job in box.pending()] == [int(spec.stash_id)]
    assert box.plex.item(spec.plex_key)["title"] == before
    # Later, with no drain running: Sync now syncs it here.
    result = box.runner.run_operation({"mode": "ui_sync_now", "scene_id": spec.stash_id})
    assert result.output["action"] == SYNC_HERE and result.output["scene"]["state"] == "matched"
    assert box.plex.item(spec.plex_key)["title"] == spec.title
    assert box.pending() == []


def test_no_answer_carries_the_token(box):
    for run in box.runner.task_runs + [box.runner.run_operation({"mode": "ui_status"})]:
        assert box.plex.token not in run.stdout


def test_the_tabs_graphql_is_valid_in_stashs_real_schema():
    import re
    from pathlib import Path

    from sandbox.schema_check import real_schema_dir, validate_against_real_schema

    if real_schema_dir() is None:
        pytest.skip("Stash's schema is not in ../shared/fixtures/stash-schema")
    source = (Path(__file__).resolve().parents[1] / "ui" / "plexsync.js").read_text(encoding="utf-8")
    match = re.search(r'var OPERATION = ((?:"[^"]*"\s*\+?\s*)+);', source)
    assert match, "ui/plexsync.js: OPERATION not found"
    query = "".join(json.loads(part) for part in re.findall(r'"(?:[^"\\]|\\.)*"', match.group(1)))
    assert "runPluginOperation" in query
    assert validate_against_real_schema(query) == []
