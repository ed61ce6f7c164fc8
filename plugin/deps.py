"""The third-party packages tasks need, checked before a task starts.

The hook uses the standard library only and never comes here. A task (or the
command line) first looks for each package without importing it; when one is
missing it asks the PythonDepManager plugin to install it (if that plugin is
installed: Stash puts the plugins folder on ``PYTHONPATH``), then installs the pinned
requirements into PlexSync's private folder (``plugin/package_install.py``) unless
*Don't install Python packages* is ticked; when that is not possible it produces one
line that says exactly what to run, instead of a traceback. A private folder made
from an older requirements.txt (or for another Python) is reinstalled. Standard
library only.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import Callable, NamedTuple

from shared.log import create_logger

log_trace, log_debug, log_info, log_warn, log_error = create_logger("deps")


class Requirement(NamedTuple):
    """One runtime dependency (keep in step with requirements.txt)."""

    module: str     # what we import
    package: str    # what pip installs
    dep_spec: str   # the same for PythonDepManager's ensure_import ("module:package==version")


#: PythonDepManager understands only ``==`` and ``>=``. persist-queue is pinned exactly
#: (the hook writes its table format), plexapi to the tested release, the others have
#: a floor. ``tests/test_deps.py`` checks these against requirements.txt.
REQUIREMENTS: tuple[Requirement, ...] = (
    Requirement("pydantic", "pydantic", "pydantic>=2.6"),
    Requirement("plexapi", "plexapi", "plexapi==4.18.3"),
    Requirement("persistqueue", "persist-queue", "persistqueue:persist-queue==1.1.0"),
    Requirement("requests", "requests", "requests>=2.31"),
)
DEP_MANAGER = "PythonDepManager"
#: The opt-out setting, as ``validation/config.py`` declares it (this module must not
#: import pydantic; ``tests/test_deps.py`` checks the two agree).
NO_INSTALL_KEY = "no_package_install"
NO_INSTALL_NAME = "Don't install Python packages"
#: Our own top-level packages: a missing one is a broken install, not a dependency.
OWN_PACKAGES = frozenset({"plugin", "worker", "plex", "stash", "validation", "shared", "reconciliation"})


def plugin_dir() -> str:
    """The folder holding plexsync.py and requirements.txt."""
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing_requirements() -> list[Requirement]:
    """The requirements that cannot be imported (looked up, not imported: fast)."""
    return [req for req in REQUIREMENTS if not _installed(req.module)]


def _quote(path: str) -> str:
    if not any(ch.isspace() or ch in "'\"&;|()$`" for ch in path):
        return path
    return f'"{path}"'


def requirements_path() -> str:
    """The plugin's requirements.txt (the pins the private folder is made from)."""
    return os.path.join(plugin_dir(), "requirements.txt")


def install_hint(packages: list[str], note: str = "", *, in_stash: bool = True,
                 packages_folder: str | None = None, opted_out: bool = False) -> str:
    """The one line telling the user what to install, and with which Python.

    ``in_stash``: run by Stash (mention PythonDepManager), not from the command line.
    ``packages_folder``: the private folder; the command then installs into it (``--target``
    works on a Python whose system install pip refuses), where every run looks.
    """
    from plugin.package_install import manual_command

    python = sys.executable or "python3"
    requirements = requirements_path()
    names = ", ".join(packages)
    what = "package" if len(packages) == 1 else "packages"
    which = f"the Python Stash runs ({python})" if in_stash else f"this Python ({python})"
    if packages_folder:
        command = manual_command(python, packages_folder, requirements)
    else:
        command = f"{_quote(python)} -m pip install -r {_quote(requirements)}"
    line = (f"PlexSync needs the Python {what} {names}, not installed for {which}"
            f"{f' ({note})' if note else ''}: run `{command}`")
    if in_stash and opted_out:
        line += f", or untick '{NO_INSTALL_NAME}' and run the task again"
    elif in_stash:
        line += f", or install the {DEP_MANAGER} plugin (Stash's CommunityScripts plugin source) and run the task again"
    return line


def _install_with_dep_manager(missing: list[Requirement]) -> str:
    """Ask PythonDepManager to install ``missing``; returns a note on failure, "" on success."""
    if not _installed(DEP_MANAGER):
        return ""
    try:
        # Stash's dependency-manager plugin: only importable inside Stash, no type information.
        from PythonDepManager import ensure_import  # type: ignore[import-not-found]

        ensure_import(*(req.dep_spec for req in missing))
    except Exception as exc:  # noqa: BLE001 - whatever it raises, the user gets the pip line
        return f"{DEP_MANAGER} could not install them: {type(exc).__name__}: {exc}"
    importlib.invalidate_caches()
    return ""


def _folder_is_stale(folder: str) -> bool:
    if not os.path.isdir(folder):
        return False   # the usual case, before the installer's imports (~20 ms of every task)
    from plugin.package_install import needs_reinstall, read_stamp, requirements_stamp

    try:
        with open(requirements_path(), encoding="utf-8") as handle:
            current = requirements_stamp(handle.read())
    except OSError:
        return False
    return needs_reinstall(read_stamp(folder), current)


def _install_privately(folder: str) -> str:
    """Install into the private folder and put it on the path; returns a note on failure, "" on success."""
    from plugin.package_install import install_requirements
    from shared.python_packages import use_private_packages

    reason = install_requirements(folder, requirements_path())
    if reason is not None:
        return f"installing them failed: {reason}"
    use_private_packages(folder)
    # The folder may be new, or replaced under a path entry already cached.
    sys.path_importer_cache.pop(folder, None)
    importlib.invalidate_caches()
    return ""


def dependency_problem(*, in_stash: bool = True, packages_folder: str | None = None,
                       install_allowed: Callable[[], bool] | None = None) -> str | None:
    """``None`` when every requirement is importable; otherwise the one line to log.

    Run by Stash (``in_stash``), missing packages are first handed to PythonDepManager
    when that plugin is installed, then installed into ``packages_folder`` unless
    ``install_allowed()`` says the user opted out. A ``packages_folder`` made from other
    requirements is reinstalled (a failure then only warns while the old one still works).
    """
    missing = missing_requirements()
    stale = bool(packages_folder) and _folder_is_stale(str(packages_folder))
    if not missing and not stale:
        return None
    notes: list[str] = []
    if in_stash and missing:
        notes.append(_install_with_dep_manager(missing))
        missing = missing_requirements()
        if not missing and not stale:
            return None
    opted_out = False
    if in_stash and packages_folder:
        opted_out = install_allowed is not None and not install_allowed()
        if not opted_out:
            note = _install_privately(packages_folder)
            missing = missing_requirements()
            if note and not missing:
                log_warn(f"Could not update PlexSync's Python packages in {packages_folder} ({note}); "
                         "going on with the ones installed")
            notes.append(note)
    if not missing:
        return None
    note = "; ".join(n for n in notes if n)
    return install_hint([req.package for req in missing], note, in_stash=in_stash,
                        packages_folder=packages_folder, opted_out=opted_out)


def import_error_problem(exc: ModuleNotFoundError, *, in_stash: bool = True) -> str:
    """The one line for a module found missing only at import time: a dependency of a
    dependency, or one of PlexSync's own files (an incomplete install)."""
    name = exc.name or str(exc)
    top = name.partition(".")[0]
    if top in OWN_PACKAGES:
        return (f"PlexSync's files are incomplete (no module named {name!r} in {plugin_dir()}): "
                "reinstall the plugin")
    known = {req.module: req.package for req in REQUIREMENTS}
    return install_hint([known.get(top, top)], note=f"no module named {name!r}", in_stash=in_stash)
