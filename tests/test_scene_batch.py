"""Batched Stash reads in a drain, counted at the Stash emulator (counts, never times).

A drain reads the scenes of its next jobs with one ``findScenes(ids: …)`` per batch
instead of one ``findScene`` per job, and the plugin settings once. Each scene still
syncs exactly as before (the e2e sync tests), and a scene deleted in Stash inside a
batch still goes to the dead-letter queue as "no longer exists".
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from shared.defaults import SCENE_BATCH_SIZE
from stash import queries
from tests.e2e_helpers import assert_in_plex
from tests.e2e_helpers import close_sandbox
from tests.test_e2e_sync import make_sandbox
from worker.jobs import new_job
from worker.queue import enqueue_many

pytestmark = pytest.mark.slow

#: Operations that read scenes for a sync (the ids batch, its existence check, the single read).
SCENE_READS = ("FindScene", "FindScenesById", "SceneIdsBetween")


def _operations(stash) -> Counter:
    """GraphQL requests by operation name (``query Name(…)``)."""
    names = (re.match(r"\s*(?:query|mutation)\s+(\w+)", q.get("query") or "") for q in stash.queries)
    return Counter(m.group(1) if m else "?" for m in names)


def _queue(box, specs) -> None:
    """Queue one push per scene as a reconcile does (one transaction, no hook processes)."""
    enqueue_many(box.data_dir, [new_job(int(s.stash_id), "Scene.Update.Post") for s in specs])


def test_bulk_drain_reads_scenes_in_batches_and_settings_once(tmp_path):
    box = make_sandbox(tmp_path, scenes=200)
    try:
        _queue(box, box.world.scenes)
        box.stash.reset_queries()
        result = box.drain()
        assert result.ok, result.error
        assert result.output["synced"] == 200, result.output
        ops = _operations(box.stash)
        assert ops["FindScene"] == 0, ops
        assert ops["FindScenesById"] == -(-200 // SCENE_BATCH_SIZE), ops
        assert ops["PluginSettings"] == 1, ops
        per_scene = (sum(ops[o] for o in SCENE_READS) + ops["PluginSettings"]) / 200
        assert per_scene <= 0.02, ops
        assert_in_plex(box.plex, box.world.scenes)
    finally:
        close_sandbox(box)


def test_a_scene_deleted_inside_a_batch_is_dead_lettered_as_before(tmp_path):
    box = make_sandbox(tmp_path, scenes=60)
    try:
        _queue(box, box.world.scenes)
        gone = box.world.scenes[17]
        box.stash.delete_scene(gone.stash_id)
        box.stash.reset_queries()
        result = box.drain()
        assert result.output["synced"] == 59 and result.output["dead_lettered"] == 1, result.output
        [entry] = box.dead_letters()
        assert entry.error_type == "PermanentError" and "no longer exists" in entry.error_message
        assert entry.scene_id == int(gone.stash_id)
        # Not one findScene per job: the rejected batch is narrowed with one id listing.
        ops = _operations(box.stash)
        assert sum(ops[o] for o in SCENE_READS) <= 4, ops
        assert_in_plex(box.plex, [s for s in box.world.scenes if s is not gone])
    finally:
        close_sandbox(box)


def test_batch_documents_are_valid_for_stash():
    from sandbox.schema_check import real_schema_dir, validate_against_real_schema, validate_against_subset_schema

    for document in (queries.FIND_SCENES_BY_ID, queries.SCENE_IDS_BETWEEN):
        assert validate_against_subset_schema(document) == [], document
    if real_schema_dir() is None:
        pytest.skip("Stash's real schema is not at ../shared/fixtures/stash-schema")
    for document in (queries.FIND_SCENES_BY_ID, queries.SCENE_IDS_BETWEEN):
        assert validate_against_real_schema(document, allow_deprecated=False) == [], document


def test_the_next_batch_is_read_in_the_background_and_handed_out_once():
    """``read_ahead`` reads scenes and covers off the drain's thread; taking one of its
    scenes makes it the current batch, with no further request to Stash."""
    from sandbox.stash_server import StashServer
    from stash.client import StashClient, StashConnection
    from worker.scene_batch import SceneBatch

    server = StashServer().start()
    batch = None
    try:
        ids = [int(server.add_scene(title=f"s{i}", files=[f"/v/{i}.mp4"])) for i in range(6)]
        client = StashClient(StashConnection(host=server.host, port=server.port, api_key=server.api_key), timeout=10.0)
        batch = SceneBatch(client, lambda scene: (scene.get("paths") or {}).get("screenshot"), size=3)
        server.reset_queries()
        batch.load(ids[:3])
        assert [batch.take(i).scene["id"] for i in ids[:2]] == [str(i) for i in ids[:2]]
        batch.read_ahead(ids[3:])
        assert batch.reading_ahead() and batch.holds(ids[4]) and not batch.holds(ids[0])
        taken = batch.take(ids[4])
        assert taken is not None and taken.scene["id"] == str(ids[4])
        cover = batch.take_cover(taken.scene["paths"]["screenshot"])
        assert cover is not None and cover[1].startswith("image/")
        assert batch.take(ids[4]) is None and not batch.reading_ahead()
        assert batch.take(ids[2]) is None  # the batch before was replaced, not kept growing
        # One read per batch: the second from the read ahead, nothing read again.
        assert [q["variables"]["ids"] for q in server.queries] == [[str(i) for i in ids[:3]], [str(i) for i in ids[3:]]]
    finally:
        if batch is not None:
            batch.close()
        server.stop()


def test_covers_of_batch_after_batch_reuse_the_same_connections():
    """A drain's cover threads live as long as the drain, so their kept connections to
    Stash do too: 5 batches open as many connections as one (they used to open new
    threads, and so new connections, for every batch, and keep the old ones open)."""
    from sandbox.stash_server import StashServer
    from stash.client import StashClient, StashConnection
    from stash.session import StashSession
    from worker.scene_batch import SceneBatch

    server = StashServer().start()
    session = StashSession()
    batch = None
    try:
        ids = [int(server.add_scene(title=f"s{i}", files=[f"/v/{i}.mp4"])) for i in range(20)]
        client = StashClient(StashConnection(host=server.host, port=server.port, api_key=server.api_key),
                             10.0, session.request)
        batch = SceneBatch(client, lambda scene: (scene.get("paths") or {}).get("screenshot"), size=4,
                           cover_workers=2)
        for start in range(0, 20, 4):
            batch.load(ids[start:start + 4])
            assert all(batch.take_cover(batch.take(i).scene["paths"]["screenshot"]) for i in ids[start:start + 4])
        assert session.connections <= 3   # two cover threads, and this thread's for the reads
    finally:
        if batch is not None:
            batch.close()
        session.close()
        server.stop()
