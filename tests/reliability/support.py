"""What the reliability suite shares: a sandbox whose every plugin process is recorded
(argv, stderr) for the token audit, a simulated clock, and the checks every case makes.

The plugin always runs as Stash runs it (``sandbox.runner``): same command, environment,
working folder and stdin document. Only the test's side (seeding, corrupting, reading the
data folder) is done in-process.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from sandbox.library import SceneSpec, generate
from sandbox.plex_server import PlexServer
from sandbox.runner import PluginRunner, RunResult
from sandbox.stash_server import StashServer
from shared.datadir import default_data_dir, ensure_private_dir
from shared.sqlite_files import CORRUPT_INFIX
from tests.e2e_helpers import ROOT, Sandbox, log_text

#: A token no other string in the sandbox resembles, so any leak is unmistakable.
TOKEN = "RELIABILITY-tok3n-7Qx9Zp2Lm5Vb8Nc4"
#: The token after a user regenerated it in Plex (the token-change case).
NEW_TOKEN = "RELIABILITY-n3w-tok3n-Hd6Wq1Rt9Ys3"
SECRETS = (TOKEN, NEW_TOKEN)
SIMCLOCK_DIR = str(ROOT / "sandbox" / "simclock")
#: Jobs at or above this count make the drain refresh the whole Plex index first.
BULK = 50


@dataclass
class Audit:
    """Everything the plugin left where a token must never be: stderr, argv, data folders."""

    stderr: list[str] = field(default_factory=list)
    argv: list[list[str]] = field(default_factory=list)
    data_dirs: list[str] = field(default_factory=list)
    token_urls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, argv: list[str], stderr: str) -> None:
        with self.lock:
            self.argv.append(list(argv))
            self.stderr.append(stderr)


#: One audit for the whole session: the token-hygiene test reads it last.
AUDIT = Audit()


class AuditedRunner(PluginRunner):
    """The Stash-faithful runner, recording each process's argv and stderr in ``AUDIT``."""

    def _run(self, kind: str, name: str, operation: Any, plugin_input: dict) -> RunResult:
        result = super()._run(kind, name, operation, plugin_input)
        AUDIT.record(self.command(operation), result.stderr)
        return result


class SimClock:
    """The wall clock the plugin's processes see, moved forward by :meth:`advance`."""

    def __init__(self, runner: PluginRunner) -> None:
        self.runner = runner
        self.offset = 0.0
        path = runner.env.get("PYTHONPATH")
        runner.env["PYTHONPATH"] = SIMCLOCK_DIR if not path else f"{SIMCLOCK_DIR}{os.pathsep}{path}"

    def advance(self, seconds: float) -> None:
        self.offset += seconds
        self.runner.env["SANDBOX_CLOCK_OFFSET"] = f"{self.offset:.3f}"


class Box(Sandbox):
    """A sandbox plus its simulated clock; ``close()`` audits the data folder."""

    clock: SimClock

    def close(self) -> None:
        AUDIT.data_dirs.append(self.data_dir)
        scan_data_dir(self.data_dir)          # collected now: tmp_path may be reused later
        with AUDIT.lock:
            AUDIT.token_urls += self.plex.token_urls
        self.runner.close()
        self.plex.stop()
        self.stash.stop()


def make_box(tmp_path: Path, scenes: int, *, seed: int = 8, job_queue: str = "sync",
             default_data_folder: bool = False, **settings: Any) -> Box:
    """Emulators with a generated world, the plugin configured with the suite's token.

    ``default_data_folder``: the data folder is ``<Stash config dir>/plexsync`` (where the
    hook's settings snapshot lives too), not one chosen through ``PLEXSYNC_DATA_DIR``."""
    stash = StashServer().start()
    plex = PlexServer(token=TOKEN).start()
    world = generate(seed, scenes)
    world.load_into(stash, plex)
    if default_data_folder:
        data_dir = ensure_private_dir(default_data_dir(str(tmp_path / "stash")))
        env: dict[str, str] = {}
    else:
        data_dir = ensure_private_dir(str(tmp_path / "data"))
        env = {"PLEXSYNC_DATA_DIR": data_dir}
    runner = AuditedRunner(ROOT, stash, tmp_path / "stash", env=env, job_queue=job_queue)
    box = Box(stash=stash, plex=plex, world=world, runner=runner, data_dir=data_dir)
    box.clock = SimClock(runner)
    box.configure(plex_url=plex.url, plex_token=TOKEN, path_mappings=world.mapping_setting, **settings)
    return box


def enqueue_scenes(box: Sandbox, specs: Iterable[SceneSpec]) -> None:
    """Queue one job per scene with the hook's own job shape (fast: no process per scene)."""
    from worker.jobs import new_job
    from worker.queue import enqueue

    for spec in specs:
        enqueue(box.data_dir, new_job(int(spec.stash_id), "Scene.Update.Post", {"input_fields": ["title"]}))


def retitle(box: Sandbox, specs: Iterable[SceneSpec], tag: str) -> None:
    """Give each scene a new title in Stash (so a sync has something to write)."""
    for spec in specs:
        box.edit(spec, title=f"{spec.title.split(' ⟨')[0]} ⟨{tag}⟩")


# -- checks every case makes --------------------------------------------------------------


def assert_plugin_answer(result: RunResult) -> None:
    """Stdout is exactly one plugin JSON object; stderr has only framed log lines and no
    traceback; a run that failed says why in ``error`` and exits non-zero."""
    assert result.exit_code is not None and not result.timed_out, result.error
    try:
        doc = json.loads(result.stdout)       # exactly one document, nothing around it
    except ValueError:
        raise AssertionError(f"stdout is not one plugin JSON: {result.stdout[:200]!r} "
                             f"(exit {result.exit_code}; stderr ends {result.stderr[-300:]!r})") from None
    assert isinstance(doc, dict) and set(doc) == {"output", "error"}, result.stdout[:500]
    assert doc["error"] is None or (isinstance(doc["error"], str) and doc["error"].strip())
    assert "Traceback (most recent call last)" not in result.stderr, result.stderr[-2000:]
    for line in result.stderr.splitlines():
        assert line == "" or (len(line) >= 3 and line[0] == "\x01" and line[2] == "\x02"), \
            f"unframed stderr line (Stash logs it as an error): {line[:300]!r}"
    if doc["error"] is not None:
        assert result.exit_code != 0, f"error {doc['error']!r} but exit 0"


def integrity_problems(data_dir: str) -> dict[str, str]:
    """``PRAGMA integrity_check`` of every SQLite file in the data folder: {path: problem}.
    Files the plugin moved aside as corrupt (``<name>.corrupt-<time>``) are kept damaged on purpose."""
    bad = {}
    for root, _dirs, files in os.walk(data_dir):
        for name in files:
            if CORRUPT_INFIX in name or CORRUPT_INFIX in os.path.basename(root):
                continue
            path = os.path.join(root, name)
            with open(path, "rb") as fh:
                if fh.read(16) != b"SQLite format 3\x00":
                    continue
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                answer = conn.execute("PRAGMA integrity_check").fetchone()[0]
            except sqlite3.DatabaseError as exc:
                answer = str(exc)
            finally:
                conn.close()
            if answer != "ok":
                bad[path] = answer
    return bad


def data_files(data_dir: str) -> list[str]:
    """Every file in the data folder, relative, sorted (lock files included)."""
    out = []
    for root, _dirs, files in os.walk(data_dir):
        out.extend(os.path.relpath(os.path.join(root, f), data_dir) for f in files)
    return sorted(out)


#: data folder problems found when boxes closed: (path, what)
LEAKS: list[tuple[str, str]] = []
MODES: list[tuple[str, str]] = []


def scan_data_dir(data_dir: str) -> None:
    """Record any file holding the token, and any folder not 0700 or file not 0600."""
    for root, dirs, files in os.walk(data_dir):
        mode = stat.S_IMODE(os.stat(root).st_mode)
        if mode != 0o700:
            MODES.append((root, oct(mode)))
        for name in files:
            path = os.path.join(root, name)
            mode = stat.S_IMODE(os.stat(path).st_mode)
            if mode != 0o600:
                MODES.append((path, oct(mode)))
            with open(path, "rb") as fh:
                content = fh.read()
            if any(secret.encode() in content for secret in SECRETS):
                LEAKS.append((path, "token in file"))


def spawn(runner: PluginRunner, task: str | None, plugin_input: dict | str | bytes,
          hook: bool = False) -> subprocess.Popen:
    """Start the plugin exactly as ``runner`` would (command, env, cwd), stdin written and
    closed, without waiting: for tests that kill it or run many at once."""
    from sandbox.runner import go_json

    if hook:
        operation = runner.config.hooks[0]
    else:
        operation = runner.config.task(task) if task else None
    command = runner.command(operation)
    stdin = plugin_input if isinstance(plugin_input, (str, bytes)) else go_json(plugin_input)
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=runner.cwd, env=runner.environment())
    AUDIT.record(command, "")
    proc.stdin.write(stdin if isinstance(stdin, bytes) else stdin.encode("utf-8"))
    proc.stdin.close()
    proc.stdin = None      # closed, as Stash closes it; communicate() must not flush it again
    return proc


def finish(proc: subprocess.Popen, name: str = "run", timeout: float = 120) -> RunResult:
    """Wait (bounded) for a spawned plugin process; its result as the runner reports one."""
    from sandbox.runner import exit_error, parse_stderr, parse_stdout

    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=10)
        raise AssertionError(f"{name}: still running after {timeout} s")
    stdout, stderr = out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
    with AUDIT.lock:
        AUDIT.stderr.append(stderr)
    output, error = parse_stdout(stdout)
    if error is None and proc.returncode != 0:
        error = exit_error(proc.returncode)
    logs, progress = parse_stderr(err)
    return RunResult(exit_code=proc.returncode, wall_time=0.0, logs=logs, progress=progress,
                     output=output, error=error, stdout=stdout, stderr=stderr, kind="task",
                     name=name)


__all__ = ["AUDIT", "BULK", "Box", "TOKEN", "assert_plugin_answer", "data_files", "enqueue_scenes",
           "finish", "integrity_problems", "log_text", "make_box", "retitle", "spawn"]
