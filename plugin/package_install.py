"""Installing PlexSync's pinned requirements into its private folder (``pip --target``).

Only a task comes here (never the hook), and only when a package is missing or the
folder was made from another requirements.txt or another Python. pip runs as a child
of Stash's Python with ``--target``: PEP 668's "externally managed" refusal applies
to installs into the interpreter's own site-packages, not to a target folder, so
nothing of Stash's Python changes and ``--break-system-packages`` is never used.

pip writes into ``python-packages.partial-<pid>`` beside the real folder; only a
complete install (stamp written) is renamed into place, so a timeout, a failure or a
killed task never leaves a half folder where the next run would look. Leftover
partial folders are removed by the next install. Standard library only.
"""

from __future__ import annotations

import glob
import hashlib
import os
import platform
import queue
import shutil
import subprocess
import sys
import threading
import time
from typing import Callable

from shared.datadir import ensure_private_dir
from shared.defaults import PACKAGE_INSTALL_TIMEOUT_SECONDS
from shared.log import create_logger, log_progress
from shared.python_packages import STAMP_FILE

log_trace, log_debug, log_info, log_warn, log_error = create_logger("packages")

#: Environment variables that would turn ``--target`` into an error or a user install.
_PIP_ENV_DROPPED = ("PIP_USER", "PIP_REQUIRE_VIRTUALENV", "PIP_TARGET", "PIP_PREFIX", "PYTHONUSERBASE")


def requirements_stamp(requirements_text: str, python_tag: str | None = None) -> str:
    """What a private folder is made for (pure): the requirements and the Python that
    loads them (compiled packages such as pydantic-core fit one Python version)."""
    tag = python_tag or f"{sys.implementation.cache_tag}-{sys.platform}-{platform.machine()}"
    digest = hashlib.sha256(requirements_text.encode("utf-8")).hexdigest()
    return f"{tag} {digest}"


def read_stamp(folder: str) -> str | None:
    """The stamp of the folder's install; ``None`` when there is none (made by hand, or no folder)."""
    try:
        with open(os.path.join(folder, STAMP_FILE), encoding="utf-8") as handle:
            return handle.read().strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def needs_reinstall(stamp_on_disk: str | None, current: str) -> bool:
    """A folder made by PlexSync from other requirements or another Python is replaced (pure);
    one without a stamp was made by hand and is left alone."""
    return stamp_on_disk is not None and stamp_on_disk != current


def quote(word: str) -> str:
    """``word`` as a shell would need it (double quotes also work in Windows' cmd)."""
    if word and not any(ch.isspace() or ch in "'\"&;|()$`<>" for ch in word):
        return word
    return f'"{word}"'


def install_command(python: str, folder: str, requirements: str) -> list[str]:
    """The pip command line that fills ``folder`` with the pinned requirements."""
    return [python, "-m", "pip", "install", "--target", folder, "-r", requirements]


def manual_command(python: str, folder: str, requirements: str) -> str:
    """The same, for a user to paste (without our quiet flags)."""
    return " ".join(quote(w) for w in install_command(python, folder, requirements))


def _progress_for(line: str, collected: int) -> float | None:
    """Where a pip output line puts the progress bar (pure): downloads fill 5–75 %,
    installing 80 %."""
    if line.startswith(("Collecting ", "Processing ")):
        return 0.05 + 0.7 * (1 - 0.8 ** collected)
    if line.startswith("Installing collected packages"):
        return 0.8
    return None


def _remove(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _kill(proc: subprocess.Popen[str]) -> None:
    try:
        if os.name == "posix":
            os.killpg(proc.pid, 9)  # pip's own children (build backends) too
        else:
            proc.kill()
    except OSError:
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def install_requirements(folder: str, requirements: str, *, python: str | None = None,
                         timeout: float = PACKAGE_INSTALL_TIMEOUT_SECONDS,
                         progress: Callable[[float], None] = log_progress) -> str | None:
    """Install ``requirements`` into ``folder``; ``None`` on success, else why not (one phrase).

    Bounded by ``timeout`` seconds; the folder is replaced only by a complete install.
    """
    python = python or sys.executable
    if not python:
        return "the Python running PlexSync is unknown"
    try:
        with open(requirements, encoding="utf-8") as handle:
            stamp = requirements_stamp(handle.read())
        ensure_private_dir(os.path.dirname(folder))
        for stale in glob.glob(glob.escape(folder) + ".partial-*") + glob.glob(glob.escape(folder) + ".old-*"):
            _remove(stale)
        partial = f"{folder}.partial-{os.getpid()}"
        os.mkdir(partial, 0o700)
    except OSError as exc:
        return f"cannot prepare {folder}: {exc}"

    command = install_command(python, partial, requirements)
    command[4:4] = ["--disable-pip-version-check", "--no-input", "--progress-bar", "off", "--no-warn-script-location"]
    env = {k: v for k, v in os.environ.items() if k not in _PIP_ENV_DROPPED}
    env["PYTHONNOUSERSITE"] = "1"
    log_info(f"Installing PlexSync's Python packages into {folder} (once; up to {timeout:.0f} s)…")
    progress(0.05)
    started = time.monotonic()
    try:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                text=True, encoding="utf-8", errors="replace", env=env,
                                start_new_session=os.name == "posix")
    except OSError as exc:
        _remove(partial)
        return f"cannot run {python}: {exc}"

    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        with proc.stdout:
            for raw in proc.stdout:
                lines.put(raw.rstrip())
        lines.put(None)

    reader = threading.Thread(target=read, name="pip-output", daemon=True)
    reader.start()
    tail: list[str] = []
    collected = 0
    deadline = started + timeout
    finished = False
    while not finished:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            break
        if line is None:
            finished = True
            break
        log_debug(f"pip: {line}")
        tail = (tail + [line])[-20:]
        if line.startswith(("Collecting ", "Processing ")):
            collected += 1
        fraction = _progress_for(line, collected)
        if fraction is not None:
            progress(fraction)
    if not finished:
        _kill(proc)
        reader.join(timeout=5)
        _remove(partial)
        return f"pip did not finish within {timeout:.0f} s"
    code = proc.wait()
    reader.join(timeout=5)
    if code != 0:
        _remove(partial)
        errors = [t for t in tail if t.startswith("ERROR:")] or [t for t in tail if t.strip()] or [f"exit {code}"]
        if any("No module named pip" in t for t in tail):
            return f"{python} has no pip (on Alpine: apk add py3-pip; on Debian: apt install python3-pip)"
        return f"pip failed: {errors[0].removeprefix('ERROR:').strip()}"
    try:
        with open(os.path.join(partial, STAMP_FILE), "w", encoding="utf-8") as handle:
            handle.write(stamp + "\n")
        old = f"{folder}.old-{os.getpid()}"
        if os.path.isdir(folder):
            os.replace(folder, old)
        os.replace(partial, folder)
        _remove(old)
    except OSError as exc:
        _remove(partial)
        return f"cannot move the packages into {folder}: {exc}"
    progress(1.0)
    log_info(f"Installed PlexSync's Python packages into {folder} in {time.monotonic() - started:.0f} s")
    return None
