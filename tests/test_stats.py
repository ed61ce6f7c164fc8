"""worker/stats.py: totals survive a drain killed mid-way (finding 11)."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys

import pytest
from freezegun import freeze_time

from worker.stats import SAVE_EVERY_CHANGES, SAVE_INTERVAL_SECONDS, STATS_FILE, WorkerStats

DRAIN_CHILD = """
import sys, threading
from validation.config import PlexSyncConfig
from worker.dlq import DeadLetterQueue
from worker.jobs import new_job
from worker.processor import SyncWorker
from worker.queue import JobQueue, enqueue

data_dir, total, block_at = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(total):
    enqueue(data_dir, new_job(i + 1, "Scene.Update.Post", {}))
queue, dlq = JobQueue(data_dir, resume_unacked=True), DeadLetterQueue(data_dir)
worker = SyncWorker(queue=queue, dlq=dlq, data_dir=data_dir,
                    config=PlexSyncConfig(plex_url="http://127.0.0.1:32400", plex_token="x" * 20))
done = []

def sync(job):
    if len(done) == block_at:
        print("blocked", flush=True)
        threading.Event().wait()   # until SIGKILL, as Stash cancels a task
    done.append(job)

worker.drain(sync)
"""


@pytest.mark.slow
def test_totals_survive_a_drain_killed_mid_way(data_dir, subprocess_env):
    total, block_at = 200, 120
    proc = subprocess.Popen([sys.executable, "-c", DRAIN_CHILD, data_dir, str(total), str(block_at)],
                            env=subprocess_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        ready, _w, _x = select.select([proc.stdout], [], [], 120)
        assert ready, "the drain never reached the blocking job"
        assert proc.stdout.readline() == b"blocked\n", proc.stderr.read().decode()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()
    with open(os.path.join(data_dir, STATS_FILE), encoding="utf-8") as fh:
        stats = json.load(fh)
    assert block_at - SAVE_EVERY_CHANGES <= stats["succeeded"] <= block_at
    assert stats["drains"] == 1


def test_saves_are_bounded_by_count_and_time(data_dir):
    with freeze_time("2026-01-01 00:00:00") as clock:
        stats = WorkerStats(data_dir)
        path = os.path.join(data_dir, STATS_FILE)
        for i in range(SAVE_EVERY_CHANGES - 1):
            stats.success(i)
        assert not os.path.exists(path), "no write per job"
        stats.success(99)
        assert json.load(open(path))["succeeded"] == SAVE_EVERY_CHANGES
        stats.bump("retried")
        assert json.load(open(path))["retried"] == 0
        clock.tick(SAVE_INTERVAL_SECONDS)
        stats.bump("retried")
        assert json.load(open(path))["retried"] == 2


@pytest.mark.parametrize("content", [b"", b"\x00garbage", b'{"succeeded": 4', b'{"succeeded": "x", "drains": null}',
                                     b"[1, 2]"])
def test_unreadable_or_odd_stats_start_from_zero(data_dir, content):
    with open(os.path.join(data_dir, STATS_FILE), "wb") as fh:
        fh.write(content)
    stats = WorkerStats(data_dir)
    stats.bump("succeeded")
    stats.bump("drains")
    stats.save()
    assert stats.data["succeeded"] >= 1
