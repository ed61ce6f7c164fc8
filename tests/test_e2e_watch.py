"""Watch state both ways, end to end: the plugin as Stash runs it (a subprocess per
hook and task), real plexapi/HTTP to the Plex emulator, the Stash emulator's plays.

Counts, never timers: plays in Stash, Plex history rows, Plex write requests.
"""

from __future__ import annotations

import time

import pytest

from stash.watch_state import to_epoch
from tests.test_e2e_sync import close_sandbox, make_sandbox

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
