"""Watch state both ways, end to end: the plugin as Stash runs it (a subprocess per
hook and task), real plexapi/HTTP to the Plex emulator, the Stash emulator's plays.

Counts, never timers: plays in Stash, Plex history rows, Plex write requests.
"""

from __future__ import annotations

import time

import pytest

from stash.watch_state import to_epoch
from tests.e2e_helpers import close_sandbox
from tests.test_e2e_sync import make_sandbox

pytestmark = pytest.mark.slow

T0 = 1_700_000_000          # plays in the past, at known seconds
WATCH_WRITES = {("GET", "/:/scrobble"), ("PUT", "/:/rate"), ("GET", "/:/timeline"), ("GET", "/:/unscrobble")}


@pytest.fixture
def box(tmp_path):
    sandbox = make_sandbox(tmp_path, scenes=8)
    result = sandbox.sync(sandbox.world.scenes)
    assert result.ok and result.output["synced"] == 8, result.output
    sandbox.plex.add_account(2, "Alice")
    sandbox.plex.reset_requests()
    yield sandbox
    close_sandbox(sandbox)


def plays(box, spec) -> list[int]:
    return sorted(to_epoch(t) for t in box.stash.scene(spec.stash_id)["play_history"] or ())


def watch(box, **args):
    result = box.runner.run_task("Sync watch state", {"linger": "0", **args})
    assert result.ok, (result.error, result.logs)
    return result


def watch_writes(box) -> int:
    counts = box.plex.request_counts()
    return sum(n for (method, route), n in counts.items() if (method, route) in WATCH_WRITES) + sum(box.writes().values())


def summary(result) -> dict:
    return result.output["watch_state"]


def test_pull_carries_only_the_chosen_accounts_plays_at_plexs_times(box):
    a, b = box.world.scenes[:2]
    box.plex.add_plays([(a.plex_key, 1, T0 + 10), (a.plex_key, 1, T0 + 20), (b.plex_key, 2, T0 + 30),
                        (a.plex_key, 2, T0 + 40)])
    box.configure(watch_pull=True, watch_account="Alice")
    result = watch(box)
    assert plays(box, a) == [T0 + 40] and plays(box, b) == [T0 + 30]
    assert summary(result)["plays_into_stash"] == 2
    assert "2 plays into Stash, 0 plays to Plex" in "\n".join(m for _l, m in result.logs)


def test_plays_of_many_scenes_reach_stash_in_one_request(box):
    # A first pull of a long history: one aliased request per 50 scenes, not one per scene
    # (the 100,000-play bench sent 95,260 single sceneAddPlay requests before).
    import re

    scenes = box.world.scenes
    box.plex.add_plays([(spec.plex_key, 1, T0 + 10 * n + k) for n, spec in enumerate(scenes) for k in range(2)])
    box.configure(watch_pull=True)
    box.stash.reset_queries()
    assert summary(watch(box))["plays_into_stash"] == 2 * len(scenes)
    names = [m.group(1) for q in box.stash.queries
             if (m := re.match(r"\s*mutation\s+(\w+)", q.get("query") or ""))]
    assert names.count("SceneAddPlays") == 1 and "SceneAddPlay" not in names, names
    assert [plays(box, spec) for spec in scenes] == [[T0 + 10 * n, T0 + 10 * n + 1] for n in range(len(scenes))]


def test_ten_repeated_pulls_add_nothing(box):
    a = box.world.scenes[0]
    box.plex.add_plays([(a.plex_key, 1, T0 + i) for i in range(5)])
    box.configure(watch_pull=True)
    watch(box)
    assert plays(box, a) == [T0 + i for i in range(5)]
    for _ in range(10):
        assert summary(watch(box))["plays_into_stash"] == 0
    assert plays(box, a) == [T0 + i for i in range(5)]


def test_unmatched_plex_items_are_counted_and_reported(box):
    section = box.plex.item(box.world.scenes[0].plex_key)["sectionId"]
    stray = box.plex.add_item(section, "Not in Stash", ["/nowhere/x.mp4"])
    box.plex.add_play(stray, 1, T0)
    box.configure(watch_pull=True)
    result = watch(box)
    assert summary(result)["unmatched"] == 1
    assert "1 unmatched Plex items" in "\n".join(m for _l, m in result.logs)


def test_stash_plays_reach_plex_once_each(box):
    a = box.world.scenes[0]
    box.configure(watch_push=True)
    watch(box)                                   # push start point: plays before it are history
    before = box.plex.watch(a.plex_key)["viewCount"]
    later = int(time.time()) + 10               # after the start point (Stash keeps the times given)
    box.stash.add_plays(a.stash_id, [later, later + 60])
    watch(box)
    assert box.plex.watch(a.plex_key)["viewCount"] == before + 2
    for _ in range(3):
        assert summary(watch(box))["plays_to_plex"] == 0
    assert box.plex.watch(a.plex_key)["viewCount"] == before + 2


def test_another_account_with_push_on_is_a_settings_error_and_writes_nothing(box):
    box.configure(watch_push=True, watch_account="Alice")
    result = box.runner.run_task("Sync watch state", {"linger": "0"})
    assert not result.ok
    assert "Plex account for plays" in result.error and "Send Stash plays to Plex" in result.error
    assert watch_writes(box) == 0
    assert box.pending(), "the pass stays queued until the setting is fixed"


def test_dry_run_writes_nothing_and_reports(box):
    a = box.world.scenes[0]
    box.plex.add_plays([(a.plex_key, 1, T0)])
    box.configure(watch_pull=True)
    result = box.runner.run_task("Sync watch state (dry run)")
    assert result.ok, result.error
    assert result.output["plays_into_stash"] == 1 and result.output["dry_run"]
    assert plays(box, a) == []
    import os
    assert not os.path.exists(os.path.join(box.data_dir, "watch_journal.db"))


# -- ratings and resume points, both ways; no ping-pong ------------------------------------


@pytest.fixture
def plex_user(box):
    """A Plex client acting as the token's account (as Plex Web would), over HTTP."""
    from plex.client import PlexConnection
    from validation.config import PlexSyncConfig

    conn = PlexConnection(PlexSyncConfig.from_stash(box.settings))
    yield conn
    conn.close()


def rating(box, spec):
    return box.stash.scene(spec.stash_id)["rating100"]


def test_a_plex_rating_reaches_stash_and_its_hook_costs_no_plex_write(box, plex_user):
    from plex import watch_io

    a = box.world.scenes[0]
    box.configure(watch_pull=True, watch_push=True)
    watch(box)
    watch_io.rate(plex_user, str(a.plex_key), 3.0)
    box.plex.reset_requests()
    result = watch(box)
    assert rating(box, a) == 30
    hooks = [r for r in box.runner.hook_runs if r.output == "queued"]
    assert hooks, "Stash fires Scene.Update.Post for the plugin's own rating write"
    # The hook's push finds Plex's item already at 3: no edit, no rate, nothing.
    assert watch_writes(box) == 0, box.plex.request_counts()
    assert summary(result)["ratings"] == 1
    assert box.plex.watch(a.plex_key)["userRating"] == 3.0


def test_a_stash_rating_reaches_plex_newest_wins(box):
    a = box.world.scenes[0]
    box.configure(watch_pull=True, watch_push=True, skip_rating=True)   # only the watch state carries ratings
    watch(box)
    box.edit(a, rating100=80)
    watch(box)
    assert box.plex.watch(a.plex_key)["userRating"] == 8.0


def test_resume_points_both_ways(box, plex_user):
    from plex import watch_io

    a, b = box.world.scenes[:2]
    box.configure(watch_pull=True, watch_push=True)
    watch(box)
    duration = int(a.duration * 1000) * len(a.files)
    assert duration > 60_000
    watch_io.set_progress(plex_user, str(a.plex_key), 42_000, duration)   # watched 42 s in Plex
    box.stash.save_activity(b.stash_id, resume_time=55.0)                  # and 55 s of b in Stash
    watch(box)
    assert box.stash.scene(a.stash_id)["resume_time"] == pytest.approx(42.0)
    assert abs(box.plex.watch(b.plex_key)["viewOffset"] - 55_000) < 1000


def test_twenty_cycles_with_edits_on_both_sides_stay_stable(box, plex_user):
    from plex import watch_io

    a, b = box.world.scenes[:2]
    box.configure(watch_pull=True, watch_push=True)
    watch(box)
    for cycle in range(20):
        if cycle % 5 == 0:
            watch_io.rate(plex_user, str(a.plex_key), float(1 + cycle // 5))
        if cycle % 7 == 0:
            box.edit(b, rating100=10 * (2 + cycle // 7))
        watch(box)
    # Settled: a further pass writes nothing on either side.
    box.plex.reset_requests()
    stash_before = [box.stash.scene(s.stash_id) for s in (a, b)]
    result = watch(box)
    assert watch_writes(box) == 0, box.plex.request_counts()
    assert [box.stash.scene(s.stash_id)["updated_at"] for s in (a, b)] == [s["updated_at"] for s in stash_before]
    assert (rating(box, a), box.plex.watch(a.plex_key)["userRating"]) == (40, 4.0)
    assert (rating(box, b), box.plex.watch(b.plex_key)["userRating"]) == (40, 4.0)
    assert summary(result)["ratings"] == 0 and summary(result)["plays_to_plex"] == 0


# -- SIGKILLed passes -------------------------------------------------------------------------


def test_sigkilled_passes_rerun_add_nothing_twice(box):
    """Passes (both directions) SIGKILLed at seeded points — at the n-th Plex request,
    before or after Plex applies it, or right after Stash stored a play (the plugin never
    heard back) — then rerun: every play exactly once on each side."""
    import os
    import random
    import signal

    from tests.reliability.support import assert_plugin_answer, finish, spawn
    from tests.reliability.test_kills import KillSwitch

    rng = random.Random(1111)
    scenes = box.world.scenes[:5]
    seeded = {s.stash_id: [T0 + 100 * i + 7 * n for i in range(6)] for n, s in enumerate(scenes)}
    box.plex.add_plays([(s.plex_key, 1, t) for s in scenes for t in seeded[s.stash_id]])
    box.configure(watch_pull=True, watch_push=True)
    box.runner.run_task("Sync watch state (dry run)")      # nothing written: start point not set
    first = watch(box)                                        # sets the push start point
    assert summary(first)["plays_into_stash"] == 30
    later = int(time.time()) + 5
    pushed = {s.stash_id: [later + 60 * n, later + 60 * n + 1] for n, s in enumerate(scenes)}
    for s in scenes:
        box.stash.add_plays(s.stash_id, pushed[s.stash_id])
    # and new Plex plays, so the pull has work during the kills too
    fresh = {s.stash_id: [T0 + 5000 + n] for n, s in enumerate(scenes)}
    box.plex.add_plays([(s.plex_key, 1, fresh[s.stash_id][0]) for s in scenes])

    switch = KillSwitch(box.plex)
    store = box.stash.store
    original_add = store.add_plays
    victim: dict[str, int | None] = {"pid": None}

    def add_then_die(*args, **kwargs):
        answer = original_add(*args, **kwargs)
        if victim["pid"] is not None:
            os.kill(victim["pid"], signal.SIGKILL)
            victim["pid"] = None
        return answer

    store.add_plays = add_then_die
    task = box.runner.config.task("Sync watch state")
    kills = 0
    try:
        for run in range(14):
            # new work on both sides before every pass, so each pass has writes to make
            a, b = rng.choice(scenes), rng.choice(scenes)
            # (Plex plays after the push start point: they must never be sent back)
            fresh[a.stash_id].append(later + 500 + run)
            box.plex.add_play(a.plex_key, 1, later + 500 + run)
            pushed[b.stash_id].append(later + 1000 + 10 * run)
            original_add(b.stash_id, [later + 1000 + 10 * run])
            proc = spawn(box.runner, "Sync watch state", box.runner.plugin_input(task, {"linger": "0", "max_wait": "0"}))
            if rng.random() < 0.3:
                victim["pid"] = proc.pid
            else:
                switch.arm(proc.pid, rng.randint(1, 6), rng.random() < 0.5)
            result = finish(proc, f"pass {run}")
            victim["pid"] = None
            switch.arm(0, 0, False)
            switch.pid = None
            if result.exit_code == -signal.SIGKILL:
                kills += 1
            else:
                assert_plugin_answer(result)
    finally:
        store.add_plays = original_add
    assert kills >= 5, f"only {kills} kills landed"
    for _ in range(2):
        watch(box)
    for s in scenes:
        want = sorted(seeded[s.stash_id] + fresh[s.stash_id] + pushed[s.stash_id])
        assert plays(box, s) == want, s.stash_id
        owner_rows = [r for r in box.plex.history(1) if int(r["rating_key"]) == s.plex_key]
        assert len(owner_rows) == len(want), (s.stash_id, owner_rows)
    assert box.pending() == [] and box.dead_letters() == []


def test_the_interval_queues_a_pass_from_any_task_and_the_drain_runs_it(box):
    a = box.world.scenes[0]
    box.plex.add_play(a.plex_key, 1, T0)
    box.configure(watch_pull=True, watch_interval="15min")
    result = box.runner.run_task("Status")
    drains = [r for r in result.followups if r.name == "Process queue"]
    assert drains and drains[0].output["watch_state"]["plays_into_stash"] == 1
    assert plays(box, a) == [T0]
    again = box.runner.run_task("Status")           # not due again within 15 minutes
    assert not [r for r in again.followups if r.name == "Process queue"]
