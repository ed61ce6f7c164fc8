"""plugin/package_install.py: the private folder is replaced only by a complete install.

pip itself is stood in for by a small script in the place of the Python that runs it
(its output and exit code are what the installer reads); the real pip on an
externally-managed Python is exercised end to end in tests/test_e2e_install.py.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from plugin import package_install as pi
from shared.python_packages import STAMP_FILE, packages_dir, use_private_packages

FAKE_PIP = '''#!{python}
import os, sys, time
args = sys.argv[1:]
target = args[args.index("--target") + 1]
with open(os.environ["FAKE_PIP_PID"], "w") as f:
    f.write(str(os.getpid()))
print("Collecting plexapi==4.18.3", flush=True)
print("Collecting requests>=2.31", flush=True)
mode = os.environ["FAKE_PIP_MODE"]
if mode == "hang":
    os.makedirs(os.path.join(target, "plexapi"))
    time.sleep(600)
if mode == "fail":
    print("ERROR: No matching distribution found for plexapi==9.9", flush=True)
    sys.exit(1)
os.makedirs(os.path.join(target, "plexapi"))
open(os.path.join(target, "plexapi", "__init__.py"), "w").close()
print("Installing collected packages: plexapi, requests", flush=True)
print("Successfully installed plexapi-4.18.3 requests-2.32.0", flush=True)
'''


@pytest.fixture
def fake_python(tmp_path, monkeypatch) -> Path:
    script = tmp_path / "fake-python"
    script.write_text(FAKE_PIP.format(python=sys.executable), encoding="utf-8")
    script.chmod(0o700)
    monkeypatch.setenv("FAKE_PIP_PID", str(tmp_path / "pip.pid"))
    return script


@pytest.fixture
def requirements(tmp_path) -> Path:
    path = tmp_path / "requirements.txt"
    path.write_text("plexapi==4.18.3\nrequests>=2.31\n", encoding="utf-8")
    return path


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.parent.iterdir() if p.name.startswith(folder.name))


def test_stamp_names_the_requirements_and_the_python():
    one = pi.requirements_stamp("a==1\n", "cpython-311-linux-x86_64")
    assert one == pi.requirements_stamp("a==1\n", "cpython-311-linux-x86_64")
    assert one != pi.requirements_stamp("a==2\n", "cpython-311-linux-x86_64")
    assert one != pi.requirements_stamp("a==1\n", "cpython-312-linux-x86_64")
    assert pi.needs_reinstall("old", "new") and not pi.needs_reinstall("new", "new")
    assert not pi.needs_reinstall(None, "new")  # made by hand: left alone


def test_a_complete_install_replaces_the_folder(tmp_path, fake_python, requirements, monkeypatch):
    folder = tmp_path / "data" / "python-packages"
    folder.mkdir(parents=True)
    (folder / "from-before.py").write_text("", encoding="utf-8")
    monkeypatch.setenv("FAKE_PIP_MODE", "ok")
    seen: list[float] = []
    assert pi.install_requirements(str(folder), str(requirements), python=str(fake_python), progress=seen.append) is None
    assert sorted(p.name for p in folder.iterdir()) == [STAMP_FILE, "plexapi"]
    assert pi.read_stamp(str(folder)) == pi.requirements_stamp(requirements.read_text(encoding="utf-8"))
    assert leftovers(folder) == ["python-packages"]
    assert seen == sorted(seen) and seen[0] > 0 and seen[-1] == 1.0 and len(seen) >= 4
    assert stat.S_IMODE(os.stat(folder.parent).st_mode) == 0o700


def test_a_failure_leaves_no_folder_and_says_what_pip_said(tmp_path, fake_python, requirements, monkeypatch):
    folder = tmp_path / "data" / "python-packages"
    monkeypatch.setenv("FAKE_PIP_MODE", "fail")
    reason = pi.install_requirements(str(folder), str(requirements), python=str(fake_python), progress=lambda f: None)
    assert reason == "pip failed: No matching distribution found for plexapi==9.9"
    assert leftovers(folder) == []


def test_a_hanging_pip_is_killed_and_leaves_no_half_folder(tmp_path, fake_python, requirements, monkeypatch):
    folder = tmp_path / "data" / "python-packages"
    folder.parent.mkdir()
    # A partial folder a killed task left behind is cleared by the next install.
    (folder.parent / "python-packages.partial-1").mkdir()
    monkeypatch.setenv("FAKE_PIP_MODE", "hang")
    reason = pi.install_requirements(str(folder), str(requirements), python=str(fake_python), timeout=2,
                                     progress=lambda f: None)
    assert reason == "pip did not finish within 2 s"
    assert leftovers(folder) == []
    pid = int((tmp_path / "pip.pid").read_text())
    with pytest.raises(ProcessLookupError):  # killed and reaped
        os.kill(pid, 0)


def test_no_python_is_one_phrase(tmp_path, requirements):
    reason = pi.install_requirements(str(tmp_path / "p"), str(requirements), python=str(tmp_path / "nope"))
    assert reason is not None and reason.startswith("cannot run ")
    assert leftovers(tmp_path / "p") == []


def test_the_manual_command_installs_into_the_folder():
    assert pi.manual_command("/usr/bin/python3", "/root/.stash/plexsync/python-packages", "/p/requirements.txt") == (
        "/usr/bin/python3 -m pip install --target /root/.stash/plexsync/python-packages -r /p/requirements.txt")
    assert pi.manual_command("C:\\Program Files\\Python\\python.exe", "C:\\s\\p", "r.txt").startswith(
        '"C:\\Program Files\\Python\\python.exe" -m pip')


def test_the_folder_is_found_from_the_stash_dir_or_the_environment(tmp_path, monkeypatch):
    assert packages_dir("/root/.stash", {}) == "/root/.stash/plexsync/python-packages"
    assert packages_dir("/root/.stash", {"PLEXSYNC_DATA_DIR": "/data/ps"}) == "/data/ps/python-packages"
    assert packages_dir(None, {}) is None
    monkeypatch.setattr(sys, "path", ["/plugin", "/usr/lib/python3.11"])
    assert use_private_packages(str(tmp_path / "absent")) is False
    assert use_private_packages(str(tmp_path)) is True and use_private_packages(str(tmp_path)) is True
    assert sys.path == ["/plugin", str(tmp_path), "/usr/lib/python3.11"]


def test_the_command_line_uses_the_folder_of_its_data_dir(tmp_path, monkeypatch):
    import argparse

    from plugin.cli import _use_private_packages

    (tmp_path / "python-packages").mkdir()
    monkeypatch.setattr(sys, "path", ["/plugin"])
    _use_private_packages(argparse.Namespace(data_dir=str(tmp_path)))
    assert sys.path == ["/plugin", str(tmp_path / "python-packages")]
