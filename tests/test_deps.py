"""Missing third-party packages (plugin/deps.py): one clear line, never a traceback.

A Python without a package is simulated with a ``sitecustomize`` module (on
``PYTHONPATH``) that puts a finder first on ``sys.meta_path`` raising
``ModuleNotFoundError`` for the hidden top-level names, as an absent package does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement as PipRequirement

from plugin import deps
from sandbox.runner import PluginRunner
from stash.client import PLUGIN_ID

ROOT = Path(__file__).resolve().parent.parent
HIDE_ENV = "PLEXSYNC_TEST_HIDE"

SITECUSTOMIZE = f'''
import os, sys

class HidePackages:
    """Pretend the packages named in ${HIDE_ENV} are not installed."""

    hidden = {{n for n in os.environ.get("{HIDE_ENV}", "").split(",") if n}}

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in self.hidden:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, HidePackages())
'''

# A stand-in for the PythonDepManager plugin: "installing" un-hides the packages and
# records what it was asked for.
FAKE_DEP_MANAGER = '''
import json, os, sys

def ensure_import(*specs):
    with open(os.environ["FAKE_DEPMANAGER_LOG"], "a") as log:
        log.write(json.dumps(list(specs)) + "\\n")
    if os.environ.get("FAKE_DEPMANAGER_FAILS"):
        raise RuntimeError("pip is not available")
    for finder in sys.meta_path:
        if type(finder).__name__ == "HidePackages":
            finder.hidden.clear()
'''


@pytest.fixture
def hider(tmp_path) -> Path:
    folder = tmp_path / "hider"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    return folder


@pytest.fixture
def stash(tmp_path):
    from sandbox.stash_server import StashServer

    with StashServer() as server:
        # Opted out of the install: these tests are about the line a task logs without
        # the packages (tests/test_package_install.py installs them for real).
        server.set_plugin_settings(PLUGIN_ID, {"plex_url": "http://127.0.0.1:9", "plex_token": "x" * 20,
                                               deps.NO_INSTALL_KEY: True})
        yield server


def runner_for(stash, tmp_path, hider: Path, hidden: str, extra_path: Path | None = None,
               extra_env: dict | None = None) -> PluginRunner:
    path = os.pathsep.join(str(p) for p in (hider, extra_path) if p)
    env = {"PYTHONPATH": path, HIDE_ENV: hidden, "PLEXSYNC_DATA_DIR": str(tmp_path / "data"), **(extra_env or {})}
    return PluginRunner(ROOT, stash, tmp_path / "stash", env=env)


def test_requirements_match_requirements_txt():
    lines = [line.split("#", 1)[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    pinned = {PipRequirement(line).name.lower(): PipRequirement(line) for line in lines if line}
    assert {req.package.lower() for req in deps.REQUIREMENTS} == set(pinned)
    for req in deps.REQUIREMENTS:
        spec = req.dep_spec
        module, _, spec = spec.rpartition(":") if ":" in spec else (req.module, "", spec)
        assert module == req.module
        version = spec.split("==")[-1].split(">=")[-1]
        assert pinned[req.package.lower()].specifier.contains(version), (req, version)


def test_nothing_missing_in_the_project_venv():
    assert deps.missing_requirements() == []
    assert deps.dependency_problem() is None


def test_the_line_names_the_packages_the_python_and_the_command():
    line = deps.install_hint(["pydantic", "plexapi"])
    assert "\n" not in line
    assert "pydantic, plexapi" in line and sys.executable in line
    assert f"-m pip install -r {ROOT / 'requirements.txt'}" in line
    assert "PythonDepManager" in line
    assert "PythonDepManager" not in deps.install_hint(["pydantic"], in_stash=False)


def test_the_opt_out_is_the_setting_stash_shows():
    from validation.config import SETTING_BY_KEY

    setting = SETTING_BY_KEY[deps.NO_INSTALL_KEY]
    assert setting.display_name == deps.NO_INSTALL_NAME and setting.inverted and setting.type == "BOOLEAN"


def test_import_error_of_our_own_module_says_reinstall():
    line = deps.import_error_problem(ModuleNotFoundError("No module named 'worker.gone'", name="worker.gone"))
    assert "reinstall the plugin" in line
    line = deps.import_error_problem(ModuleNotFoundError("No module named 'pydantic_core'", name="pydantic_core"))
    assert "pydantic_core" in line and "pip install -r" in line


@pytest.mark.parametrize("hidden, named", [
    ("pydantic", "pydantic"),
    ("persistqueue,plexapi", "plexapi, persist-queue"),
    ("pydantic,plexapi,persistqueue,requests", "pydantic, plexapi, persist-queue, requests"),
])
def test_a_task_with_a_missing_package_logs_one_clear_line(stash, tmp_path, hider, hidden, named):
    runner = runner_for(stash, tmp_path, hider, hidden)
    try:
        result = runner.run_task("Status")
    finally:
        runner.close()
    errors = result.messages("e")
    assert len(errors) == 1, result.logs
    line = errors[0]
    assert line.startswith(f"PlexSync needs the Python package{'s' if ',' in hidden else ''} {named},")
    folder = tmp_path / "data" / "python-packages"
    assert f"-m pip install --target {folder} -r {ROOT / 'requirements.txt'}" in line
    assert "untick 'Don't install Python packages'" in line
    assert not folder.exists()
    assert result.logs == [("e", line)]                     # nothing else, no traceback
    assert "Traceback" not in result.stderr
    assert result.error == line and result.exit_code == 1  # the {"output", "error"} JSON
    assert json.loads(result.stdout) == {"output": None, "error": line}


def test_the_hook_needs_none_of_them(stash, tmp_path, hider):
    scene = stash.add_scene(title="A scene", files=["/media/a.mp4"])
    runner = runner_for(stash, tmp_path, hider, ",".join(r.module for r in deps.REQUIREMENTS))
    try:
        hooks = runner.fire_hook("Scene.Update.Post", int(scene), input={"title": "New"})
    finally:
        runner.close()
    assert [h.ok for h in hooks] == [True], [h.stderr for h in hooks]
    assert hooks[0].output == "queued"
    # The drain it asked for then reports the missing packages in one line.
    assert [len(run.messages("e")) for run in runner.task_runs] == [1]
    assert "PlexSync needs the Python packages" in runner.task_runs[0].error


def test_python_dep_manager_installs_what_is_missing(stash, tmp_path, hider):
    plugins = tmp_path / "plugins"
    (plugins / "PythonDepManager").mkdir(parents=True)
    (plugins / "PythonDepManager" / "__init__.py").write_text(FAKE_DEP_MANAGER, encoding="utf-8")
    log = tmp_path / "depmanager.log"
    runner = runner_for(stash, tmp_path, hider, "pydantic,persistqueue", extra_path=plugins,
                        extra_env={"FAKE_DEPMANAGER_LOG": str(log)})
    try:
        result = runner.run_task("DLQ: show")
    finally:
        runner.close()
    assert result.ok, (result.error, result.stderr)
    assert json.loads(log.read_text()) == ["pydantic>=2.6", "persistqueue:persist-queue==1.1.0"]


def test_python_dep_manager_failing_still_gives_the_line(stash, tmp_path, hider):
    plugins = tmp_path / "plugins"
    (plugins / "PythonDepManager").mkdir(parents=True)
    (plugins / "PythonDepManager" / "__init__.py").write_text(FAKE_DEP_MANAGER, encoding="utf-8")
    runner = runner_for(stash, tmp_path, hider, "plexapi", extra_path=plugins,
                        extra_env={"FAKE_DEPMANAGER_LOG": str(tmp_path / "log"), "FAKE_DEPMANAGER_FAILS": "1"})
    try:
        result = runner.run_task("Status")
    finally:
        runner.close()
    assert len(result.messages("e")) == 1
    assert "PythonDepManager could not install them: RuntimeError: pip is not available" in result.error
    assert "pip install --target" in result.error


def test_the_command_line_says_what_to_install(tmp_path, hider):
    env = {**os.environ, "PYTHONPATH": str(hider), HIDE_ENV: "pydantic", "HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, str(ROOT / "plexsync.py"), "--data-dir", str(tmp_path / "d"),
                             "status"], capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=60)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: PlexSync needs the Python package pydantic,")
    assert "pip install -r" in lines[0] and "PythonDepManager" not in lines[0]
