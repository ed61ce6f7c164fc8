"""Plex down / 503 / 429 bursts / token change / high latency, each with fewer than 50
and with 50 or more jobs queued (50 starts the bulk index refresh).

One sandbox serves every case (each case re-titles its own scenes first, so what Plex must
end up showing is new). While the fault lasts, drains run as Stash would start them, with
the plugin's clock moved forward between them (``SimClock``: the breaker cools down and
probes, retries fall due) — the outage minutes in the summary are these simulated minutes.
Each drain must answer with one plugin JSON and no traceback, and keep every job; once
Plex recovers (or the setting is fixed) every scene must be synced exactly.
"""

from __future__ import annotations

import pytest

from tests.e2e_helpers import all_runs, mismatches
from tests.reliability.conftest import tally
from tests.reliability.support import (
    BULK,
    NEW_TOKEN,
    TOKEN,
    assert_plugin_answer,
    enqueue_scenes,
    make_box,
    retitle,
)

pytestmark = pytest.mark.slow

SIZES = (10, BULK + 10)
FAULTS = ("down", "503", "429", "token", "latency")
#: Drains started while the fault lasts, and simulated minutes between them.
OUTAGE_DRAINS, MINUTES_BETWEEN = 3, 5


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    box = make_box(tmp_path_factory.mktemp("outages"), BULK + 20, read_timeout=1, connect_timeout=1)
    yield box
    box.close()


def heal(box) -> None:
    """Undo every fault and the user's fixes, so each case starts from a working setup."""
    box.plex.clear_faults()
    box.plex.set_down(False)
    box.plex.set_token(TOKEN)
    box.configure(plex_token=TOKEN)


def inject(box, fault: str) -> None:
    if fault == "down":
        box.plex.set_down(True)
    elif fault == "503":
        box.plex.fail_until_cleared(503)
    elif fault == "429":
        box.plex.fail_next(12, 429, retry_after=1)
    elif fault == "token":
        box.plex.set_token(NEW_TOKEN)           # the user regenerated it in Plex
    elif fault == "latency":
        box.plex.set_latency(1.5)               # longer than 'Read timeout (seconds)' = 1


def recover(box, fault: str) -> None:
    if fault == "token":
        box.configure(plex_token=NEW_TOKEN)     # the user fixes the setting
    else:
        box.plex.clear_faults()
        box.plex.set_down(False)


@pytest.mark.parametrize("jobs", SIZES, ids=lambda n: f"{n}jobs")
@pytest.mark.parametrize("fault", FAULTS)
def test_outage_keeps_every_job_and_syncs_after_recovery(box, fault, jobs):
    heal(box)
    box.clock.advance(3600)                     # whatever an earlier case left is due now
    settle = box.drain(linger="0", max_wait="0")
    assert box.pending() == [], f"an earlier case left jobs behind: {settle.output}"
    scenes = box.world.scenes[:jobs]
    retitle(box, scenes, f"{fault}-{jobs}")
    enqueue_scenes(box, scenes)
    minutes = OUTAGE_DRAINS * MINUTES_BETWEEN
    try:
        inject(box, fault)
        runs = []
        for _ in range(OUTAGE_DRAINS):
            runs.append(box.drain(linger="0", max_wait="0" if fault != "429" else "30"))
            box.clock.advance(MINUTES_BETWEEN * 60)
        for run in all_runs(runs):
            assert_plugin_answer(run)
        assert box.dead_letters() == [], "a job was dead-lettered for Plex's fault"
        synced_meanwhile = [s for s in scenes if not mismatches(box.plex, s)]
        assert len(box.pending()) + len(synced_meanwhile) >= jobs
        if fault == "token":
            first = runs[0]
            assert first.error and "Plex token" in first.error, (
                "a drain stopped for a setting must end with an error naming it", first.output)
            assert len(box.pending()) == jobs
        if fault in ("down", "503", "latency"):
            # Stopped by the open breaker: Stash must see the task end with an error.
            assert runs[0].error, ("a drain stopped by the breaker must end with an error",
                                   runs[0].output)
        if fault == "429":
            # A rate limit means 'slow down', not 'Plex is down'.
            assert (box.breaker() or {}).get("state") != "open", box.breaker()
        recover(box, fault)
        for _ in range(3):
            box.clock.advance(MINUTES_BETWEEN * 60)
            final = box.drain(linger="0", max_wait="0")
            assert_plugin_answer(final)
            if not box.pending():
                break
        wrong = [s.stash_id for s in scenes if mismatches(box.plex, s)]
        assert wrong == [] and box.pending() == [] and box.dead_letters() == []
        survived = minutes
    except BaseException as exc:
        survived, failure = 0, f"{fault} with {jobs} jobs: {str(exc).splitlines()[0][:100]}"
        raise
    else:
        failure = None
    finally:
        # Lost: neither right in Plex nor still queued (a dead letter counts as lost).
        queued = {int(j["scene_id"]) for j in box.pending()}
        lost = sum(1 for s in scenes if mismatches(box.plex, s) and int(s.stash_id) not in queued)
        tally("outages", tried=minutes, survived=survived, lost=lost, failed=failure)
        heal(box)
