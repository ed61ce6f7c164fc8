"""``make package`` (release/build.py): the Stash plugin source, and installing it.

The zip is unpacked into a plugins folder the way Stash's package manager does, loaded
as strictly as Stash loads plugins, and run through the Stash-faithful runner against
the emulators with nothing of the checkout on the Python path.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
import yaml

from release import build as builder
from sandbox.harness import Sandbox
from sandbox.runner import PluginRunner, load_plugin
from worker.queue import pending_jobs

ROOT = Path(__file__).resolve().parent.parent
DATE = "2025-01-02 03:04:05"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return builder.build(tmp_path_factory.mktemp("dist"), date=DATE)


def zip_names(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        return archive.namelist()


def test_zip_ships_the_ui_files_the_yml_declares(built):
    names = zip_names(built.zip_path)
    assert "ui/plexsync.js" in names and "ui/plexsync.css" in names


def test_zip_holds_exactly_what_runs_in_stash(built):
    names = zip_names(built.zip_path)
    assert names == sorted(names) and len(names) == len(set(names))
    for required in ("plexsync.yml", "plexsync.py", "requirements.txt", "plugin/cli.py", "plugin/tasks.py",
                     "plugin/deps.py", "worker/sync.py", "plex/client.py", "stash/client.py",
                     "validation/config.py", "shared/log.py", "reconciliation/__init__.py"):
        assert required in names
    assert "README.md" in names  # the user's guide, made from release/USER_README.md
    # Every module of every runtime package is there …
    for package in builder.PACKAGES:
        for source in (ROOT / package).rglob("*.py"):
            if "__pycache__" not in source.parts:
                assert source.relative_to(ROOT).as_posix() in names
    # … and nothing that is not needed at run time.
    tops = {name.split("/", 1)[0] for name in names}
    allowed = (set(builder.PACKAGES) | set(builder.REQUIRED_FILES) | set(builder.OPTIONAL_FILES)
               | {builder.USER_README_NAME})
    assert tops <= allowed | {name.split("/", 1)[0] for name in builder.UI_FILES}
    for name in names:
        assert "__pycache__" not in name and not name.endswith((".pyc", ".pyo"))
        assert not name.startswith(("tests/", "sandbox/", "bench/", "release/", ".venv/", "dist/", "."))


def test_zip_entries_have_fixed_times_and_readable_modes(built):
    with zipfile.ZipFile(built.zip_path) as archive:
        for info in archive.infolist():
            assert info.date_time == builder.ZIP_TIMESTAMP
            assert info.create_system == 3
            # Stash creates each file with the entry's mode: it must be a readable file.
            assert info.external_attr >> 16 == 0o100644
            if info.filename != builder.USER_README_NAME:
                assert archive.read(info) == (ROOT / info.filename).read_bytes()


def test_the_zip_carries_the_users_readme(built):
    with zipfile.ZipFile(built.zip_path) as archive:
        guide = archive.read(builder.USER_README_NAME).decode("utf-8")
    manifest = yaml.safe_load((ROOT / "plexsync.yml").read_text(encoding="utf-8"))
    for key, setting in manifest["settings"].items():
        assert f"| {setting['displayName']} | `{key}` |" in guide, setting["displayName"]
    for task in manifest["tasks"]:
        assert f"| {task['name']} |" in guide, task["name"]
    # Installing from nothing, Docker included, and what to do when things go wrong.
    for words in ("Add Source", "/root/.stash/plugins", "image: stashapp/stash", "Path mappings", "%USERPROFILE%",
                  "Don't install Python packages", "| Error (type in *DLQ: show*) |", "Stash v0.27.0 or newer"):
        assert words in guide, words
    # It is the user's README: no developer commands, no leftover markers.
    assert not re.search(r"\bmake\b", guide), re.search(r".{40}\bmake\b.{40}", guide)
    assert "<!--" not in guide
    assert "## Development" not in guide


def test_the_users_readme_is_filled_from_the_repository_readme():
    readme = "<!-- user:install:start -->\nsteps\n<!-- user:install:end -->\n<!-- settings:start -->\n|t|\n<!-- settings:end -->\n"
    assert builder.user_readme("# G\n<!-- include: install -->\n<!-- include: settings -->\n", readme) == "# G\nsteps\n|t|\n"
    with pytest.raises(builder.BuildError, match="user:tasks"):
        builder.user_readme("<!-- include: tasks -->\n", readme)


def test_index_is_a_stash_plugin_source(built):
    index = yaml.safe_load(built.index_path.read_text(encoding="utf-8"))
    assert isinstance(index, list) and len(index) == 1
    package = index[0]
    manifest = yaml.safe_load((ROOT / "plexsync.yml").read_text(encoding="utf-8"))
    assert package["id"] == "plexsync"
    assert package["name"] == manifest["name"]
    assert str(package["version"]) == built.version
    assert re.fullmatch(re.escape(str(manifest["version"])) + r"\+g[0-9a-f]{4,}(\.dirty)?", built.version)
    assert package["date"] == DATE
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", package["date"])
    assert package["path"] == "plexsync.zip"
    assert (built.index_path.parent / package["path"]).is_file()
    assert package["sha256"] == hashlib.sha256(built.zip_path.read_bytes()).hexdigest() == built.sha256
    assert package["requires"] == []
    assert package["metadata"]["description"] == manifest["description"]
    # Only keys Stash's RemotePackage knows.
    assert set(package) <= {"id", "name", "version", "date", "path", "sha256", "requires", "metadata"}


def test_build_is_reproducible(built, tmp_path):
    again = builder.build(tmp_path / "again", date="2030-12-31 23:59:59")
    assert again.zip_path.read_bytes() == built.zip_path.read_bytes()
    assert again.sha256 == built.sha256


def test_make_package_twice_from_one_commit_gives_identical_files(tmp_path, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    one = builder.build(tmp_path / "one")
    two = builder.build(tmp_path / "two")
    assert one.zip_path.read_bytes() == two.zip_path.read_bytes()
    assert one.index_path.read_bytes() == two.index_path.read_bytes()
    # The date and version come from HEAD, not from the clock.
    epoch, short = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%ct %h"], capture_output=True,
                                  text=True, check=True, timeout=30).stdout.split()
    assert one.date == builder.build_date(None, {}, commit_epoch=int(epoch))
    assert one.version.startswith(f"{builder.manifest_fields((ROOT / 'plexsync.yml').read_text())['version']}+g{short}")


def test_version_names_the_commit():
    commit = builder.Commit(1700000000, "1a2b3c4", dirty=False)
    assert builder.package_version("0.1.0", commit) == "0.1.0+g1a2b3c4"
    assert builder.package_version("0.1.0", builder.Commit(1, "1a2b3c4", dirty=True)) == "0.1.0+g1a2b3c4.dirty"
    assert builder.package_version("0.1.0", None) == "0.1.0"


def test_date_defaults_to_source_date_epoch_or_the_commit_or_now():
    assert builder.build_date(None, {"SOURCE_DATE_EPOCH": "1700000000"}, commit_epoch=5) == "2023-11-14 22:13:20"
    assert builder.build_date(None, {}, commit_epoch=1700000000) == "2023-11-14 22:13:20"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", builder.build_date(None, {}))
    with pytest.raises(builder.BuildError):
        builder.build_date("yesterday")


def test_manifest_fields_read_quoted_and_plain_values():
    fields = builder.manifest_fields('# c\nname: "Plex \\"Sync\\""\nversion: 1.2.3\ndescription: \'it\'\'s\'\n'
                                     "settings:\n  name: nested, ignored\n")
    assert fields == {"name": 'Plex "Sync"', "version": "1.2.3", "description": "it's"}


def test_missing_runtime_file_fails_the_build(tmp_path):
    for name in builder.REQUIRED_FILES:
        shutil.copy(ROOT / name, tmp_path / name)
    with pytest.raises(builder.BuildError, match="not a Python package"):
        builder.build(tmp_path / "dist", root=tmp_path, date=DATE)


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_package(tmp_path, built):
    dist = tmp_path / "dist"
    subprocess.run(["make", "--no-print-directory", "package", f"DIST={dist}"], cwd=ROOT, check=True,
                   capture_output=True, timeout=120)
    assert (dist / "index.yml").is_file()
    assert (dist / "plexsync.zip").read_bytes() == built.zip_path.read_bytes()


# ---------------------------------------------------------------------------- installing it


def install(zip_path: Path, stash_dir: Path) -> Path:
    """Unpack the package as Stash's package manager does: into <plugins>/<id>/."""
    plugin_dir = stash_dir / "plugins" / "plexsync"
    plugin_dir.mkdir(parents=True)
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(plugin_dir)
    return plugin_dir


def test_installed_package_loads_strictly_and_runs_against_the_emulators(built, tmp_path):
    with Sandbox(scenes=4, seed=9, job_queue="sync") as sb:
        stash_dir = tmp_path / "stash"
        plugin_dir = install(built.zip_path, stash_dir)
        config = load_plugin(plugin_dir)        # strict, as Stash: refuses unknown keys
        assert config.id == "plexsync"
        assert {t.name for t in config.tasks} >= {"Process queue", "Status", "DLQ: show"}

        # Nothing of the checkout on the path: only the unpacked plugin and Stash's Python.
        empty = tmp_path / "empty"
        empty.mkdir()
        runner = PluginRunner(plugin_dir, sb.stash, stash_dir, env={"PYTHONPATH": str(empty)}, job_queue="sync")
        try:
            shown = runner.run_task("DLQ: show")
            assert shown.ok, (shown.error, shown.stderr)
            assert "The dead-letter queue is empty: no sync has failed for good." in shown.messages("i")

            status = runner.run_task("Status")
            assert status.ok, (status.error, status.stderr)
            assert status.output["plex"]["reachable"] is True
            assert status.output["data_dir"] == str((stash_dir / "plexsync").resolve())

            # A save in Stash: the hook queues, Stash runs Process queue, Plex shows the title.
            scene = sb.world.scenes[0]
            sb.stash.update_scene(scene.stash_id, title="Installed from the zip")
            hooks = runner.fire_hook("Scene.Update.Post", int(scene.stash_id), input={"title": "Installed from the zip"})
            assert [h.ok for h in hooks] == [True]
            assert [r.name for r in runner.task_runs] == ["Process queue"]
            assert runner.task_runs[0].ok, runner.task_runs[0].stderr
            assert sb.plex_item(scene)["title"] == "Installed from the zip"
            assert list(pending_jobs(str(stash_dir / "plexsync"))) == []
        finally:
            runner.close()
        # The plugin wrote nothing into its own folder: an update deletes only its files,
        # but data kept there would be lost on uninstall.
        assert sorted(p.relative_to(plugin_dir).as_posix() for p in plugin_dir.rglob("*")
                      if p.is_file() and "__pycache__" not in p.parts) == sorted(built.files)
