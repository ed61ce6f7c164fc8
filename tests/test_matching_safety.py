"""Never the wrong Plex item (issue 8, finding 0), whatever the order scenes are synced in.

A generated world holds pairs of Stash scenes whose files share a name in different
folders, where Plex has only one of each pair, and Plex-only files named like a Stash
file Plex lacks. Scenes are synced by hook jobs (the real queue and drain) in every
order of a small set, and in both orders over twelve pairs, then reconciled three
times. Every edit Plex receives is checked: it must target the item of the scene whose
metadata it carries, and no Plex-only item is ever edited.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any, Iterable

import pytest

from reconciliation.compare import DRIFTED_IN_PLEX, MISSING_IN_PLEX, MOVED_IN_PLEX
from sandbox.library import World, generate
from sandbox.plex_server import PlexServer
from sandbox.stash_server import StashServer
from shared.datadir import ensure_private_dir
from stash.client import StashClient, StashConnection
from tests.sync_support import edits
from tests.test_reconcile import HOURS_AGO, Env
from worker.jobs import new_job
from worker.queue import enqueue, pending_jobs


def make_env(tmp_path, **options: Any) -> Env:
    stash = StashServer().start()
    plex = PlexServer().start()
    loaded = datetime.now(stash.tz) - timedelta(hours=HOURS_AGO)
    stash.clock = lambda: loaded
    world = generate(11, bare_fraction=0.0, **options)
    world.load_into(stash, plex)
    stash.clock = lambda: datetime.now(stash.tz)
    client = StashClient(StashConnection(host=stash.host, port=stash.port, api_key=stash.api_key), timeout=10.0)
    env = Env(stash, plex, world, None, client, ensure_private_dir(str(tmp_path / "data")))  # type: ignore[arg-type]
    return env.with_config()


def close(env: Env) -> None:
    _EDITS.pop(id(env.plex), None)
    env.plex.stop()
    env.stash.stop()
    assert env.plex.server_errors == []


def hooks(env: Env, scene_ids: Iterable[str]) -> None:
    """What Stash's hooks leave: one job per saved scene, in save order; then a drain."""
    for scene_id in scene_ids:
        enqueue(env.data_dir, new_job(int(scene_id), "Scene.Update.Post", {}))
    env.drain()


#: Every edit each emulator received (a reconcile resets the emulator's request log).
_EDITS: dict[int, list[dict]] = {}


def all_edits(env: Env) -> list[dict]:
    """The edits so far, kept across request-log resets."""
    log = _EDITS.setdefault(id(env.plex), [])
    log.extend(edits(env.plex))
    env.plex.reset_requests()
    return log


def assert_no_wrong_item(env: Env) -> None:
    """Each edit went to the edited scene's own item; Plex-only and absent files untouched."""
    world: World = env.world
    keys_by_title: dict[str, set[str]] = {}
    for s in world.scenes:   # titles repeat in a generated world: any scene of that title
        keys_by_title.setdefault(s.title, set()).add(str(s.plex_key))
    own_keys = {str(s.plex_key) for s in world.scenes if s.in_plex}
    for query in all_edits(env):
        key = str(query.get("id"))
        assert key in own_keys, f"an edit reached Plex item {key}, which no scene of its own owns: {query}"
        title = query.get("title.value")
        if title is not None:
            assert key in keys_by_title[title], (
                f"title {title!r} was written to item {key} (its scenes' items: {keys_by_title[title]})")
    for key in world.plex_only_keys:
        assert env.plex.item(key)["summary"] in ("", None)
    for scene in world.scenes:
        if scene.in_plex:
            item = env.plex.item(scene.plex_key)
            assert item["title"] in (scene.title, scene.plex_title), (scene.stash_id, item["title"])


def reconcile_reasons(env: Env) -> dict[str, set[int]]:
    """Reason → scenes the reconcile queued (hook jobs still waiting to retry left out)."""
    out: dict[str, set[int]] = {}
    for job in pending_jobs(env.data_dir):
        if job["update_type"] == "reconcile":
            out.setdefault(job["data"]["reason"], set()).add(int(job["scene_id"]))
    return out


def reconcile_and_drain(env: Env) -> dict[str, set[int]]:
    before = reconcile_reasons(env)
    all_edits(env)
    env.reconcile("all")
    reasons = {reason: ids - before.get(reason, set()) for reason, ids in reconcile_reasons(env).items()}
    env.drain()
    return reasons


@pytest.fixture
def small(tmp_path):
    """One pair (one side absent from Plex) and one Plex-only namesake of an absent file."""
    made: list[Env] = []

    def make(name: str) -> Env:
        env = make_env(tmp_path / name, scenes=6, missing_twin_pairs=1, plex_only_twins=1)
        made.append(env)
        return env

    yield make
    for env in made:
        close(env)


def risky(env: Env) -> list[str]:
    """The pair and the scene whose only namesake in Plex is a Plex-only file."""
    return [s.stash_id for s in env.world.scenes if s.duplicate_name]


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))), ids=lambda o: "".join(map(str, o)))
def test_every_hook_order_writes_only_each_scenes_own_item(small, order):
    env = small("".join(map(str, order)))
    scenes = risky(env)
    assert len(scenes) == 3 and len(env.world.plex_only_keys) == 1
    hooks(env, [scenes[i] for i in order])
    assert_no_wrong_item(env)
    in_plex = [s for s in env.world.scenes if s.duplicate_name and s.in_plex]
    assert [env.plex.item(s.plex_key)["title"] for s in in_plex] == [s.title for s in in_plex]


def test_hooks_then_reconciles_never_flip_an_item(small):
    env = small("hooks-first")
    hooks(env, risky(env))
    for _ in range(3):
        reasons = reconcile_and_drain(env)
        assert not reasons.get(DRIFTED_IN_PLEX) and not reasons.get(MOVED_IN_PLEX), reasons
    assert_no_wrong_item(env)


def test_reconcile_first_then_hooks(small):
    env = small("reconcile-first")
    all_edits(env)
    summary = env.reconcile("all")
    absent = {int(s.stash_id) for s in env.world.scenes if not s.in_plex}
    assert reconcile_reasons(env)[MISSING_IN_PLEX] == absent
    assert summary.missing_in_plex == len(absent) and summary.ambiguous == 0
    env.drain()
    hooks(env, reversed(risky(env)))
    for _ in range(2):
        reasons = reconcile_and_drain(env)
        assert not reasons.get(DRIFTED_IN_PLEX) and not reasons.get(MOVED_IN_PLEX), reasons
    assert_no_wrong_item(env)


@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_twelve_pairs_in_either_order_then_three_reconciles(tmp_path, direction):
    env = make_env(tmp_path, scenes=40, missing_twin_pairs=12, plex_only_twins=1)
    try:
        ids = [s.stash_id for s in env.world.scenes]
        hooks(env, ids if direction == "forward" else reversed(ids))
        for _ in range(3):
            reasons = reconcile_and_drain(env)
            assert not reasons.get(DRIFTED_IN_PLEX) and not reasons.get(MOVED_IN_PLEX), reasons
        assert_no_wrong_item(env)
        written = {str(q.get("id")) for q in all_edits(env)}
        assert written == {str(s.plex_key) for s in env.world.scenes if s.in_plex}
    finally:
        close(env)


# ------------------------------------------------------- finding 14: summary and progress
def test_a_200_scene_reconcile_counts_every_missing_scene_and_shows_progress(tmp_path):
    """Scenes whose namesake is another scene's (or a Plex-only) file are missing, not matched;
    progress moves every few scenes, not once per 1,000-scene page."""
    env = make_env(tmp_path, scenes=200, missing_twin_pairs=4, plex_only_twins=1, unscanned_fraction=0.025)
    try:
        missing = {int(s.stash_id) for s in env.world.scenes if not s.in_plex or not s.scanned}
        assert len(missing) >= 9
        seen: list[tuple[int, int]] = []
        summary = env.reconcile("missing", progress=lambda done, total: seen.append((done, total)))
        assert summary.missing_in_plex == len(missing) and summary.ambiguous == 0, summary.as_dict()
        assert reconcile_reasons(env)[MISSING_IN_PLEX] == missing
        assert f"{len(missing)} missing in Plex" in " ".join(summary.lines())
        assert seen[-1] == (200, 200)
        intermediate = [done for done, total in seen if 0 < done < total]
        assert len(intermediate) >= 5 and intermediate == sorted(intermediate)
    finally:
        close(env)
