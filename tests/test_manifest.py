"""plexsync.yml: loadable by Stash's strict parser, settings rendered from the model."""

import subprocess
import sys

import pytest
import yaml

from tests.conftest import ROOT, SHARED
from validation.config import SETTINGS
from validation.manifest import settings_table, settings_yaml

MANIFEST = ROOT / "plexsync.yml"
CHECKER = SHARED / "tools" / "check_plugin_yml.py"

# Stash's plugin config structs (pkg/plugin/config.go), key by key.
TOP_KEYS = {"name", "description", "version", "url", "exec", "interface", "errLog", "settings", "hooks", "tasks", "ui"}
SETTING_KEYS = {"displayName", "description", "type"}
TASK_KEYS = {"name", "description", "execArgs", "defaultArgs"}
HOOK_KEYS = TASK_KEYS | {"triggeredBy"}


@pytest.fixture(scope="module")
def manifest_text() -> str:
    return MANIFEST.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def manifest(manifest_text) -> dict:
    return yaml.safe_load(manifest_text)


def test_shared_checker_accepts_the_manifest():
    if not CHECKER.exists():
        pytest.skip(f"{CHECKER} is absent (no ../shared beside this checkout)")
    result = subprocess.run([sys.executable, str(CHECKER), str(MANIFEST)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    # Not even a note: every defaultArgs value is a string.
    assert result.stdout.strip() == ""


def test_shared_checker_would_catch_a_default_key(tmp_path, manifest_text):
    # Guard that the check above can fail: Stash refuses settings with a default.
    if not CHECKER.exists():
        pytest.skip(f"{CHECKER} is absent (no ../shared beside this checkout)")
    broken = tmp_path / "plexsync.yml"
    broken.write_text(manifest_text.replace("    type: STRING\n", "    type: STRING\n    default: x\n", 1))
    result = subprocess.run([sys.executable, str(CHECKER), str(broken)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "default" in result.stdout


def test_strict_keys(manifest):
    assert isinstance(manifest, dict)
    assert set(manifest) <= TOP_KEYS, set(manifest) - TOP_KEYS
    assert manifest["name"] and manifest["description"] and manifest["version"]
    assert manifest.get("interface", "raw") == "raw"
    assert isinstance(manifest["exec"], list) and manifest["exec"][0] in ("python", "python3")
    assert manifest["exec"][1] == "{pluginDir}/plexsync.py"
    assert manifest.get("errLog") in (None, "trace", "debug", "info", "warning", "error", "none")
    for key, setting in manifest["settings"].items():
        assert set(setting) <= SETTING_KEYS, (key, set(setting) - SETTING_KEYS)
        assert setting["type"] in ("STRING", "NUMBER", "BOOLEAN")
        assert setting["displayName"].strip() and setting["description"].strip()
    for hook in manifest["hooks"]:
        assert set(hook) <= HOOK_KEYS, set(hook) - HOOK_KEYS
    for task in manifest["tasks"]:
        assert set(task) <= TASK_KEYS, set(task) - TASK_KEYS
        assert task["name"] and task["description"]
        assert all(isinstance(v, str) for v in (task.get("defaultArgs") or {}).values()), task["name"]


def test_requires_is_only_a_comment(manifest, manifest_text):
    assert "requires" not in manifest
    assert "# requires: PythonDepManager" in manifest_text


def test_settings_block_is_rendered_from_the_model(manifest_text, manifest):
    rendered = settings_yaml()
    assert rendered in manifest_text, "plexsync.yml settings differ: run python -m validation.manifest yml"
    # And it is the whole settings block, parsed the same way.
    assert manifest["settings"] == yaml.safe_load(rendered)["settings"]
    assert list(manifest["settings"]) == [s.key for s in SETTINGS]


def test_every_setting_states_default_and_example():
    for setting in SETTINGS:
        # A required setting has no default to state.
        assert "Default:" in setting.description or "Required." in setting.description, setting.key
        if setting.type != "BOOLEAN":
            assert "Example:" in setting.description, setting.key


def test_settings_table_has_one_row_per_setting():
    rows = settings_table().strip().splitlines()
    assert len(rows) == 2 + len(SETTINGS)
    for setting, row in zip(SETTINGS, rows[2:]):
        assert f"`{setting.key}`" in row and setting.display_name in row


def test_hooks_on_scene_create_and_update(manifest):
    triggers = [t for hook in manifest["hooks"] for t in hook["triggeredBy"]]
    assert sorted(triggers) == ["Scene.Create.Post", "Scene.Update.Post"]
    for hook in manifest["hooks"]:
        assert hook["defaultArgs"]["mode"] == "hook"


def test_every_task_mode_exists_in_the_task_table(manifest):
    from plugin.tasks import task_table

    table = task_table()
    modes = [task["defaultArgs"]["mode"] for task in manifest["tasks"]]
    assert modes, "no tasks"
    for mode in modes:
        assert mode in table, mode
        assert callable(table[mode].resolve()), mode   # its module imports and has the function
    # The task list exists.
    for required in ("process", "status", "dlq_purge", "dlq_clear", "dlq_retry"):
        assert required in modes


def test_task_names_are_unique(manifest):
    names = [task["name"] for task in manifest["tasks"]]
    assert len(names) == len(set(names))


def test_process_task_name_matches_what_the_hook_asks_for(manifest):
    from plugin.tasks_common import PROCESS_TASK

    assert PROCESS_TASK in [task["name"] for task in manifest["tasks"]]
