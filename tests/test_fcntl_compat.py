"""shared/fcntl_compat.py: PlexSync on a Python without ``fcntl`` (as on Windows).

Windows cannot be had here, so the plugin runs as Stash runs it on a Python made to look
like Windows' where it matters: ``import fcntl`` fails and ``os.fchmod`` is missing (a
``sitecustomize`` on ``PYTHONPATH``), and ``msvcrt.locking`` is a stand-in with
Windows' behaviour for what PlexSync does with it — a lock per file handle, refused to
another handle, ``LK_NBLCK`` failing at once and ``LK_LOCK`` after ten one-second
tries with ``OSError`` — built on ``flock``, which is also per open file (registered
after ``subprocess`` is imported, which would take it for Windows itself). It records
each call (and the file position, which must be the far byte) so the test sees the
locks were taken through it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sandbox.harness import Sandbox
from sandbox.runner import PluginRunner
from shared import fcntl_compat
from tests.e2e_helpers import save_title_and_drain
from worker.lock import DrainLock

ROOT = Path(__file__).resolve().parents[1]

SITECUSTOMIZE = '''
import errno, fcntl as _fcntl, json, os, sys, time, types
import subprocess  # before the stand-in: subprocess takes an importable msvcrt for Windows

_flock, _EX, _NB, _UN = _fcntl.flock, _fcntl.LOCK_EX, _fcntl.LOCK_NB, _fcntl.LOCK_UN
msvcrt = types.ModuleType("msvcrt")
msvcrt.LK_UNLCK, msvcrt.LK_LOCK, msvcrt.LK_NBLCK, msvcrt.LK_RLCK, msvcrt.LK_NBRLCK = 0, 1, 2, 3, 4


def locking(fd, mode, nbytes):
    with open(os.environ["FAKE_MSVCRT_LOG"], "a") as log:
        log.write(json.dumps([mode, os.lseek(fd, 0, os.SEEK_CUR), nbytes]) + "\\n")
    if mode == msvcrt.LK_UNLCK:
        _flock(fd, _UN)
        return
    for attempt in range(10 if mode == msvcrt.LK_LOCK else 1):
        try:
            _flock(fd, _EX | _NB)
            return
        except BlockingIOError:
            if mode == msvcrt.LK_LOCK:
                time.sleep(1)
    raise OSError(errno.EDEADLK, "Resource deadlock avoided")


msvcrt.locking = locking
sys.modules["msvcrt"] = msvcrt
del sys.modules["fcntl"]
del os.fchmod


class NoFcntl:
    def find_spec(self, name, path=None, target=None):
        if name == "fcntl":
            raise ModuleNotFoundError("No module named 'fcntl'", name="fcntl")
        return None


sys.meta_path.insert(0, NoFcntl())
'''


def calls(log: Path) -> list[list[int]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.mark.slow
def test_the_plugin_runs_and_locks_without_fcntl(tmp_path):
    hider = tmp_path / "windows-like"
    hider.mkdir()
    (hider / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    log = tmp_path / "msvcrt.log"
    with Sandbox(scenes=2, seed=4, job_queue="sync") as sb:
        stash_dir = tmp_path / "stash"
        env = {k: v for k, v in os.environ.items() if k != "PLEXSYNC_DATA_DIR"}
        runner = PluginRunner(ROOT, sb.stash, stash_dir, job_queue="sync",
                              env={**env, "PYTHONPATH": str(hider), "FAKE_MSVCRT_LOG": str(log)})
        try:
            save_title_and_drain(sb, runner, "Synced without fcntl")
            taken = calls(log)
            assert taken and {offset for _mode, offset, _n in taken} == {fcntl_compat.LOCK_OFFSET}
            assert {n for *_x, n in taken} == {1}

            # A drain holding the lock (here: this process, with real flock) keeps the next one out.
            data_dir = stash_dir / "plexsync"
            with DrainLock(str(data_dir)) as held:
                assert held
                blocked = runner.run_task("Process queue")
            assert blocked.ok, (blocked.error, blocked.logs)
            assert blocked.output == {"skipped": "another drain is running"}
            # The state files are private where modes exist, written without os.fchmod.
            assert (data_dir / "stats.json").is_file()
        finally:
            runner.close()
