"""The drain's Plex pool ('Parallel Plex requests'), observed from the Plex emulator.

Real parts throughout: the Stash and Plex emulators over loopback HTTP, plexapi, the
SQLite queue and DLQ on disk, ``SceneSync`` and ``SyncWorker``. The emulator records how
many requests it served at once, overall and per item, so the rules are asserted on
recorded concurrency and request counts, never on time. A per-request latency makes
requests overlap when the pool lets them.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Iterator

import pytest

from sandbox.plex_server import PlexServer
from sandbox.stash_server import StashServer
from shared import defaults
from tests.sync_support import EDIT, METADATA, plex_config, stash_client
from worker.dlq import DeadLetterQueue
from worker.jobs import PUSH_SCENE, new_job
from worker.processor import DrainReport, SyncWorker
from worker.queue import JobQueue, enqueue, pending_jobs
from validation.config import PlexSyncConfig
from worker.sync import SceneSync

STASH = "/stash"
MOVIES = "/plex/movies"
#: Long enough that requests the pool lets overlap do overlap on a loaded machine.
LATENCY = 0.05


@pytest.fixture
def stash():
    with StashServer() as server:
        yield server


def start_plex(latency: float = LATENCY, sleep: Any = None) -> PlexServer:
    options: dict[str, Any] = {"latency": latency}
    if sleep is not None:
        options["sleep"] = sleep
    return PlexServer(**options).start()


def world(plex: PlexServer, stash: StashServer, count: int, *, folders: tuple[str, ...] = ("a",)) -> list[str]:
    """``count`` scenes per Stash folder; every folder maps onto the same Plex folder, so with
    two folders two scenes share each Plex item (a mapping mistake the pool must survive)."""
    section = plex.add_section("Movies", [MOVIES])
    ids = []
    for n in range(count):
        plex.add_item(section, f"Movie {n}", [f"{MOVIES}/m{n}.mp4"])
        for folder in folders:
            ids.append(stash.add_scene(title=f"Scene {folder}{n}", files=[f"{STASH}/{folder}/m{n}.mp4"]))
    return ids


def drain(plex: PlexServer, stash: StashServer, data_dir: str, scene_ids: list[str], parallel: int,
          *, folders: tuple[str, ...] = ("a",)) -> DrainReport:
    """Queue a push per scene and drain them once, as *Process queue* does."""
    mapping = "; ".join(f"{STASH}/{folder} => {MOVIES}" for folder in folders)
    config = plex_config(plex, path_mappings=mapping, parallel_plex_requests=parallel)
    for scene_id in scene_ids:
        enqueue(data_dir, new_job(int(scene_id), "Scene.Update.Post", {}))
    sync = SceneSync(config, stash_client(stash), data_dir)
    queue, dlq = JobQueue(data_dir, resume_unacked=True), DeadLetterQueue(data_dir)
    try:
        worker = SyncWorker(queue=queue, dlq=dlq, config=config, data_dir=data_dir)
        sync.before_pass(worker)
        return worker.drain({PUSH_SCENE: sync})
    finally:
        sync.close()
        queue.close()
        dlq.close()


def drain_stub(data_dir: str, handler: Any, jobs: int, *, breaker: Any = None, **options: Any) -> DrainReport:
    """Queue pushes of scenes 1..``jobs`` and drain them through ``handler`` (a stand-in for
    the sync: the pool and the drain are under test) with parallelism 4."""
    for scene_id in range(1, jobs + 1):
        enqueue(data_dir, new_job(scene_id, "Scene.Update.Post", {}))
    config = PlexSyncConfig(plex_url="http://127.0.0.1:32400", plex_token="x" * 20, parallel_plex_requests=4)
    queue, dlq = JobQueue(data_dir, resume_unacked=True), DeadLetterQueue(data_dir)
    try:
        worker = SyncWorker(queue=queue, dlq=dlq, config=config, data_dir=data_dir)
        if breaker is not None:
            worker.circuit_breaker._state = breaker
        return worker.drain({PUSH_SCENE: handler}, **options)
    finally:
        queue.close()
        dlq.close()


def dead_letters(data_dir: str) -> int:
    dlq = DeadLetterQueue(data_dir)
    try:
        return dlq.count()
    finally:
        dlq.close()


@pytest.mark.parametrize("parallel", [1, 4])
def test_pool_keeps_at_most_n_requests_in_flight_and_one_per_item(stash, data_dir, parallel):
    plex = start_plex()
    try:
        scenes = world(plex, stash, 16)
        report = drain(plex, stash, data_dir, scenes, parallel)
        assert report.synced == 16 and report.retried == 0 and report.dead_lettered == 0, report
        assert plex.max_in_flight <= parallel
        if parallel > 1:
            assert plex.max_in_flight > 1          # the pool did run requests side by side
        assert set(plex.max_in_flight_per_item.values()) == {1}
        # Per changed scene still exactly one load and one edit, whatever the parallelism.
        counts = plex.request_counts()
        assert counts[METADATA] == 16 and counts[EDIT] == 16
        assert list(pending_jobs(data_dir)) == []
    finally:
        plex.stop()


def test_two_scenes_on_one_plex_item_never_have_requests_in_flight_together(stash, data_dir):
    plex = start_plex()
    try:
        scenes = world(plex, stash, 8, folders=("a", "b"))   # 16 scenes, 8 items, paired
        report = drain(plex, stash, data_dir, scenes, 4, folders=("a", "b"))
        assert plex.max_in_flight > 1
        items = plex.max_in_flight_per_item
        assert len(items) == 8 and set(items.values()) == {1}, items
        # Every job was settled one way or another; none was lost.
        assert report.synced + report.retried + report.dead_lettered == 16, report
        assert len(list(pending_jobs(data_dir))) == report.retried
    finally:
        plex.stop()


def test_a_job_the_pool_cannot_take_runs_after_every_earlier_job_settled(stash, data_dir):
    # A show fill reads the sync state its episodes' jobs record: with jobs still in
    # flight it would see a show that is not yet all ours and leave it for good.
    from worker.jobs import FILL_SHOW, fill_show_job
    from worker.sync_state import SyncState

    plex = start_plex()
    seen: list[int] = []
    try:
        scenes = world(plex, stash, 12)
        config = plex_config(plex, path_mappings=f"{STASH}/a => {MOVIES}", parallel_plex_requests=4)
        for scene_id in scenes[:8]:
            enqueue(data_dir, new_job(int(scene_id), "Scene.Update.Post", {}))
        enqueue(data_dir, fill_show_job("1", "99"))
        for scene_id in scenes[8:]:
            enqueue(data_dir, new_job(int(scene_id), "Scene.Update.Post", {}))

        def probe(job: dict[str, Any]) -> None:
            state = SyncState(data_dir)
            try:
                seen.append(sum(state.get(int(s)) is not None for s in scenes[:8]))
            finally:
                state.close()

        sync = SceneSync(config, stash_client(stash), data_dir)
        queue, dlq = JobQueue(data_dir, resume_unacked=True), DeadLetterQueue(data_dir)
        try:
            worker = SyncWorker(queue=queue, dlq=dlq, config=config, data_dir=data_dir)
            sync.before_pass(worker)
            report = worker.drain({PUSH_SCENE: sync, FILL_SHOW: probe})
        finally:
            sync.close()
            queue.close()
            dlq.close()
        assert seen == [8]                       # all eight recorded before the fill ran
        assert report.synced == 13 and plex.max_in_flight > 1
    finally:
        plex.stop()


def test_breaker_opening_mid_drain_stops_the_pool_and_keeps_every_job(stash, data_dir):
    served = 0
    guard = threading.Lock()
    box: dict[str, PlexServer] = {}

    def sleep(seconds: float) -> None:
        # Plex goes away after its 12th request: counted, not timed.
        nonlocal served
        with guard:
            served += 1
            if served == 12:
                box["plex"].fail_until_cleared(503)
        threading.Event().wait(seconds)

    plex = box["plex"] = start_plex(sleep=sleep)
    try:
        scenes = world(plex, stash, 30)
        report = drain(plex, stash, data_dir, scenes, 4)
        assert "circuit breaker" in report.stopped_because, report
        # No job lost, none dead-lettered: each is synced or still queued.
        kept = list(pending_jobs(data_dir))
        assert report.synced + len(kept) == 30, (report, len(kept))
        assert dead_letters(data_dir) == 0
        assert report.synced < 30
        # Once open, nothing new was sent: the failures that opened it plus those in flight.
        failed = [r for r in plex.requests if r.status == 503]
        assert len(failed) <= defaults.BREAKER_FAILURE_THRESHOLD + 4, len(failed)
        assert plex.max_in_flight <= 4
    finally:
        plex.stop()


def test_half_open_breaker_tries_plex_with_one_job_at_a_time(data_dir):
    """A half-open breaker allows one trial, as a serial drain makes it: the pool sends no
    second job's requests until the first has landed (here it fails, reopening the breaker)."""
    from plex.exceptions import PlexUnreachable
    from worker.circuit_breaker import CircuitState
    from worker.pool import Deferred

    calls = 0
    guard = threading.Lock()
    second = threading.Event()

    class Handler:
        def __call__(self, job: dict) -> str:
            return self.start(job).run_inline()

        def start(self, job: dict) -> Deferred:
            def io() -> None:
                nonlocal calls
                with guard:
                    calls += 1
                    if calls == 2:
                        second.set()
                second.wait(1.0)   # overlapping calls would meet here; one alone times out
                raise PlexUnreachable("Plex at http://127.0.0.1:9: connection refused")
            return Deferred(io=io, finish=lambda result: "written")

    report = drain_stub(data_dir, Handler(), 6, breaker=CircuitState.HALF_OPEN)
    assert calls == 1
    assert "circuit breaker" in report.stopped_because, report
    assert len(list(pending_jobs(data_dir))) == 6 and dead_letters(data_dir) == 0


@pytest.mark.parametrize("parallel", [1, 4])
def test_a_bulk_first_sync_reads_its_items_in_batches_and_a_resync_reads_only_changed_ones(stash, data_dir, parallel):
    """A first sync of many scenes loads its Plex items several per request
    (``/library/metadata/1,2,3``); every item still gets exactly one edit with the scene's
    values, no request for one item overlaps another for it, and a later drain reads only
    the items of changed scenes, one GET each."""
    n = 2 * defaults.BULK_INDEX_THRESHOLD + 20     # enough to index the section and fill batches
    plex = start_plex(latency=0.005)
    try:
        section = plex.add_section("Movies", [MOVIES])
        keys = plex.add_items(section, [{"title": f"Movie {i}", "files": [f"{MOVIES}/m{i}.mp4"]} for i in range(n)])
        scenes = [stash.add_scene(title=f"Scene {i}", files=[f"{STASH}/a/m{i}.mp4"]) for i in range(n)]
        report = drain(plex, stash, data_dir, scenes, parallel)
        assert report.synced == n and report.retried == 0 and report.dead_lettered == 0, report
        counts = plex.request_counts()
        assert counts[EDIT] == n
        # One request per batch of up to ITEM_BATCH_SIZE (and one per scene would be n).
        assert 1 <= counts[METADATA] <= -(-n // defaults.ITEM_BATCH_SIZE) + 4, counts[METADATA]
        assert set(plex.max_in_flight_per_item.values()) == {1}
        assert [plex.item(key)["title"] for key in keys] == [f"Scene {i}" for i in range(n)]

        plex.reset_requests()
        changed = scenes[::12]
        for scene_id in changed:
            stash.update_scene(scene_id, title=f"Retitled {scene_id}")
        report = drain(plex, stash, data_dir, scenes, parallel)
        assert report.synced == n, report
        counts = plex.request_counts()
        assert counts[METADATA] == len(changed) and counts[EDIT] == len(changed), counts
        assert {plex.item(keys[scenes.index(s)])["title"] for s in changed} == {f"Retitled {s}" for s in changed}
    finally:
        plex.stop()


# -- flights waiting for a thread -------------------------------------------------------

def _flight(n: int, io: Any) -> Any:
    from worker.pool import Deferred, Flight

    return Flight({"scene_id": n}, Deferred(io=io, finish=lambda result: result), (PUSH_SCENE, str(n)), 0.0)


def _blocked(started: threading.Event, release: threading.Event, fail: bool = False) -> Any:
    def io() -> str:
        started.set()
        assert release.wait(5), "never released"
        if fail:
            raise RuntimeError("Plex said no")
        return "written"
    return io


@contextmanager
def two_threads(flights: int) -> Iterator[tuple[Any, list[threading.Event], list[threading.Event], list[Any]]]:
    """A pool of two threads, a started and a release event per flight, and (after the
    block, which releases every flight and waits for the pool) the flights it landed."""
    from worker.pool import PlexPool

    pool = PlexPool(2)
    started = [threading.Event() for _ in range(flights)]
    release = [threading.Event() for _ in range(flights)]
    landed: list[Any] = []
    try:
        yield pool, started, release, landed
    finally:
        for event in release:
            event.set()
        while pool.busy:
            landed += pool.finished(block=True)
        pool.close()


def test_a_waiting_flight_starts_on_the_thread_that_frees_without_the_drains_help():
    """The pool takes ``size`` running flights and WAITING more: when one lands, a waiting
    one starts on that thread while the drain's thread is still elsewhere (here: never
    asks the pool anything)."""
    from worker.pool import WAITING

    with two_threads(2 + WAITING) as (pool, started, release, _):
        for n in range(2 + WAITING):
            assert not pool.full
            pool.submit(_flight(n, _blocked(started[n], release[n])))
        assert pool.full
        assert started[0].wait(5) and started[1].wait(5)
        assert not started[2].is_set()            # two threads: the third flight waits
        release[0].set()
        assert started[2].wait(5)                 # no finished() call in between
        assert not started[3].is_set()


def test_after_a_failure_no_waiting_flight_starts_until_the_drain_has_settled_it():
    from worker.pool import NotStarted

    with two_threads(4) as (pool, started, release, _):
        pool.submit(_flight(0, _blocked(started[0], release[0], fail=True)))
        pool.submit(_flight(1, _blocked(started[1], release[1])))
        pool.submit(_flight(2, _blocked(started[2], release[2])))
        assert started[0].wait(5) and started[1].wait(5)
        release[0].set()                          # flight 0 fails; its thread takes flight 2
        landed: dict[int, Any] = {}
        while len(landed) < 2:
            landed.update((flight.job["scene_id"], error) for flight, _, error in pool.finished(block=True))
        assert isinstance(landed[0], RuntimeError) and isinstance(landed[2], NotStarted)
        assert not started[2].is_set()            # held back: nothing of it reached Plex
        # Still unsettled: a flight submitted now waits too, even on a free thread.
        pool.submit(_flight(3, _blocked(started[3], release[3])))
        assert isinstance(pool.finished(block=True)[0][2], NotStarted) and not started[3].is_set()
        pool.resume()                             # the drain has counted the failure
        release[3].set()
        pool.submit(_flight(3, _blocked(started[3], release[3])))
        assert pool.finished(block=True)[0][1] == "written" and started[3].is_set()


def test_hold_waiting_takes_back_the_flights_no_thread_has_started():
    with two_threads(4) as (pool, started, release, landed):
        for n in range(4):
            pool.submit(_flight(n, _blocked(started[n], release[n])))
        assert started[0].wait(5) and started[1].wait(5)
        taken = pool.hold_waiting()
        assert sorted(flight.job["scene_id"] for flight in taken) == [2, 3]
    assert sorted(flight.job["scene_id"] for flight, _, _ in landed) == [0, 1]
    assert not started[2].is_set() and not started[3].is_set()


def test_a_failing_job_among_many_leaves_every_other_job_run_exactly_once(data_dir):
    """With flights waiting when one fails, those held back go back to the queue and run
    later in the drain: each job's Plex I/O runs once, the failure is dead-lettered,
    and nothing is lost or counted twice."""
    from collections import Counter

    from plex.exceptions import PermanentError
    from worker.pool import Deferred

    runs: Counter[int] = Counter()
    guard = threading.Lock()
    settled_one, sixth_started = threading.Event(), threading.Event()

    class Handler:
        def __call__(self, job: dict) -> str:
            return self.start(job).run_inline()

        def start(self, job: dict) -> Deferred:
            scene = int(job["scene_id"])
            if scene == 6:
                sixth_started.set()   # 4 running, 5 waiting, 6 about to

            def io() -> str:
                with guard:
                    runs[scene] += 1
                if scene == 1:
                    assert sixth_started.wait(5)
                    raise PermanentError("scene 1 no longer exists in Stash")
                # The first flights stay in the air until the failure has been settled,
                # so later flights are waiting when it lands.
                assert settled_one.wait(5)
                return "written"
            return Deferred(io=io, finish=lambda result: result)

    report = drain_stub(data_dir, Handler(), 20, progress=lambda done, total: settled_one.set())
    assert runs == Counter({n: 1 for n in range(1, 21)}), runs
    assert report.synced == 19 and report.dead_lettered == 1 and report.retried == 0, report
    assert list(pending_jobs(data_dir)) == [] and dead_letters(data_dir) == 1
