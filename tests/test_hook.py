"""The hook's field filter (plugin/hook.py) against Stash's real input types."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from plugin.hook import SYNCED_INPUT_FIELDS

SCHEMA = Path(__file__).resolve().parents[1] / ".." / "shared" / "fixtures" / "stash-schema" / "types" / "scene.graphql"


def _input_fields(type_name: str) -> set[str]:
    if not SCHEMA.exists():
        pytest.skip(f"Stash's schema is not at {SCHEMA} (../shared absent in a user's clone)")
    body = re.search(rf"input {type_name} \{{(.*?)\n\}}", SCHEMA.read_text(), re.S)
    assert body, type_name
    return set(re.findall(r"^\s*(\w+)\s*:", body.group(1), re.M))


def test_every_synced_field_is_a_real_stash_input_field() -> None:
    real = _input_fields("SceneUpdateInput") | _input_fields("BulkSceneUpdateInput")
    assert SYNCED_INPUT_FIELDS <= real


def test_every_real_field_that_changes_plex_is_synced() -> None:
    # What Plex shows comes from these; a save touching only them must still sync.
    shown = {"title", "code", "details", "director", "date", "rating100", "studio_id", "performer_ids",
             "tag_ids", "groups", "movies", "group_ids", "movie_ids", "cover_image", "primary_file_id"}
    real = _input_fields("SceneUpdateInput") | _input_fields("BulkSceneUpdateInput")
    assert shown & real <= SYNCED_INPUT_FIELDS


@pytest.mark.parametrize("fields", [["id", "resume_time", "play_duration"], ["id", "o_counter"], ["id", "organized"]])
def test_saves_of_unsynced_fields_need_no_sync(fields: list[str]) -> None:
    assert not SYNCED_INPUT_FIELDS.intersection(fields)


def test_a_groups_only_save_is_queued_through_the_runner() -> None:
    from sandbox.harness import Sandbox
    from worker.queue import pending_jobs

    with Sandbox(scenes=3, seed=31, job_queue="sync") as sb:
        scene = sb.world.scenes[0]
        [result] = sb.runner.fire_hook("Scene.Update.Post", int(scene.stash_id),
                                       input={"groups": []}, input_fields=["groups"])
        assert result.ok, result.error
        assert result.output == "queued"
        assert result.followups, "the hook asked Stash to process the queue"
        assert list(pending_jobs(str(sb.data_dir))) == []   # and the drain took it
