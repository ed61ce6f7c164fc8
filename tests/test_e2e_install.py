"""The built zip on an externally-managed Python with none of the packages (needs PyPI).

Stash's official Docker image runs plugins with Alpine's system ``python3``, whose pip
refuses installs into it (PEP 668). Debian's ``/usr/bin/python3`` carries the same
``EXTERNALLY-MANAGED`` marker and has no pydantic or plexapi: the plugin is installed
from the zip into a fresh plugins folder and run with it exactly as Stash launches it.

A virtualenv cannot stand in (pip never treats one as externally managed), so this test
fails — it does not skip — when no such Python is found: CI must provide one
(Debian/Ubuntu: ``apt-get install python3 python3-pip``) or name one in
``$PLEXSYNC_EXTERNALLY_MANAGED_PYTHON``.
"""

from __future__ import annotations

import os
import subprocess
import sysconfig
import zipfile
from pathlib import Path

import pytest

from release import build as builder
from sandbox.harness import Sandbox
from sandbox.runner import PluginRunner
from shared.defaults import PACKAGE_INSTALL_TIMEOUT_SECONDS
from shared.python_packages import FOLDER_NAME, STAMP_FILE
from tests.e2e_helpers import save_title_and_drain

pytestmark = [pytest.mark.slow, pytest.mark.network]

PYTHON = os.environ.get("PLEXSYNC_EXTERNALLY_MANAGED_PYTHON", "/usr/bin/python3")


def marked_python() -> str:
    """The externally-managed Python, or a failure saying what CI must install."""
    how = ("this test needs an externally-managed system Python with pip and without pydantic/plexapi "
           "(Debian/Ubuntu: apt-get install python3 python3-pip), or its path in "
           "$PLEXSYNC_EXTERNALLY_MANAGED_PYTHON")
    if not os.access(PYTHON, os.X_OK):
        pytest.fail(f"{PYTHON} not found: {how}")
    probe = ("import importlib.util as u, os, sysconfig; "
             "print(os.path.isfile(os.path.join(sysconfig.get_path('stdlib'), 'EXTERNALLY-MANAGED')), "
             "u.find_spec('pip') is not None, u.find_spec('pydantic') is None and u.find_spec('plexapi') is None)")
    answer = subprocess.run([PYTHON, "-I", "-c", probe], capture_output=True, text=True, timeout=60).stdout.split()
    if answer != ["True", "True", "True"]:
        pytest.fail(f"{PYTHON} is not usable (marked, has pip, lacks the packages: {answer}): {how}")
    assert sysconfig.get_path("stdlib")  # the test's own Python is a venv: never the one under test
    return PYTHON


def test_status_installs_the_packages_then_a_save_syncs(tmp_path):
    python = marked_python()
    built = builder.build(tmp_path / "dist", date="2025-01-02 03:04:05")
    with Sandbox(scenes=3, seed=5, job_queue="sync") as sb:
        stash_dir = tmp_path / "stash"
        plugin_dir = stash_dir / "plugins" / "plexsync"
        plugin_dir.mkdir(parents=True)
        with zipfile.ZipFile(built.zip_path) as archive:
            archive.extractall(plugin_dir)
        empty = tmp_path / "empty"
        empty.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "PLEXSYNC_"))}
        runner = PluginRunner(plugin_dir, sb.stash, stash_dir, env={**env, "PYTHONPATH": str(empty)},
                              job_queue="sync", python=python, timeout=PACKAGE_INSTALL_TIMEOUT_SECONDS + 60)
        folder = stash_dir / "plexsync" / FOLDER_NAME
        try:
            status = runner.run_task("Status")
            assert status.ok, (status.error, status.logs)
            infos = status.messages("i")
            assert any(m.startswith(f"Installing PlexSync's Python packages into {folder}") for m in infos), infos
            assert any(m.startswith(f"Installed PlexSync's Python packages into {folder}") for m in infos), infos
            assert len(status.progress) >= 3 and status.progress[-1] == 1.0
            assert status.output["plex"]["reachable"] is True
            assert (folder / "pydantic").is_dir() and (folder / STAMP_FILE).is_file()
            assert sorted(p.name for p in folder.parent.iterdir() if p.name.startswith(FOLDER_NAME)) == [FOLDER_NAME]
            # Stash's own Python is untouched.
            assert "None" in subprocess.run([python, "-I", "-c", "import importlib.util as u; print(u.find_spec('pydantic'))"],
                                            capture_output=True, text=True, timeout=60).stdout

            # A save: the hook queues, Stash runs Process queue, which finds the packages.
            drain = save_title_and_drain(sb, runner, "Installed on a managed Python")
            assert not any("Installing" in m for m in drain.messages("i"))

            # A plugin update with other pins: the folder's stamp no longer matches, the
            # next task reinstalls (and the one after does not).
            current = (folder / STAMP_FILE).read_text()
            (folder / STAMP_FILE).write_text("cpython-311 made-from-older-requirements\n")
            again = runner.run_task("Status")
            assert again.ok, (again.error, again.logs)
            assert any(m.startswith("Installed PlexSync's Python packages") for m in again.messages("i")), again.logs
            assert (folder / STAMP_FILE).read_text() == current
            third = runner.run_task("DLQ: show")
            assert third.ok and not any("Install" in m for m in third.messages("i")), third.logs
        finally:
            runner.close()
        # Nothing written into the plugin's own folder (an update would delete it).
        assert sorted(p.relative_to(plugin_dir).as_posix() for p in plugin_dir.rglob("*")
                      if p.is_file() and "__pycache__" not in p.parts) == sorted(built.files)
