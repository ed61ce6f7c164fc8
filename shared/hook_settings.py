"""The settings the hook needs, kept where it finds them without asking Stash.

Every task reads the plugin settings from Stash anyway; it leaves the few the hook uses
(:data:`HOOK_KEYS`) in ``<Stash config dir>/plexsync/hook_settings.json`` (written
atomically, 0600), so a save costs no settings request — only the ``runPluginTask`` of
its burst. Only those keys are copied, never the Plex token or any other setting.

The hook asks Stash instead (and rewrites the file) when the file is missing,
unreadable, of another shape, or older than ``HOOK_SETTINGS_MAX_AGE_SECONDS``. A setting
changed in Stash therefore reaches hooks at the next task (every drain a hook asks for is
one) or within that bound. What that delay can do: *Debug logging* and *Automatic
reconcile* act late for the hook only (tasks read Stash); a changed *Data folder* lets
hooks queue into the previous folder for a while, so the file remembers the folders
hooks were told to use (``former_data_folders``) and every drain adopts jobs from them.

Standard library only, no ``typing``: the hook uses it.
"""

from __future__ import annotations

import os
import time

from shared import jsonlite
from shared.datadir import default_data_dir
from shared.defaults import HOOK_SETTINGS_FORMER_FOLDERS, HOOK_SETTINGS_MAX_AGE_SECONDS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SNAPSHOT_FILE = "hook_settings.json"
#: The settings the hook reads (see plugin/hook.py); nothing secret.
HOOK_KEYS = ("data_dir", "debug_logging", "reconcile_interval", "watch_interval")
FORMAT_VERSION = 1
_SCALARS = (str, bool, int, float)


def snapshot_path(stash_dir: str) -> str:
    """Where the snapshot lives: the default data folder, which the hook knows before any setting."""
    return os.path.join(default_data_dir(stash_dir), SNAPSHOT_FILE)


def build_snapshot(settings: dict[str, Any], data_folder: str, previous: dict[str, Any] | None,
                   now: float) -> dict[str, Any]:
    """The document to write (pure): the hook's settings, the folder they resolve to, and
    the folders hooks used before (newest first, at most ``HOOK_SETTINGS_FORMER_FOLDERS``)."""
    kept = {k: settings[k] for k in HOOK_KEYS if isinstance(settings.get(k), _SCALARS)}
    earlier: list[str] = []
    if isinstance(previous, dict):
        if isinstance(previous.get("data_folder"), str):
            earlier.append(previous["data_folder"])
        former = previous.get("former_data_folders")
        if isinstance(former, list):
            earlier.extend(f for f in former if isinstance(f, str))
    folders: list[str] = []
    for folder in earlier:
        if folder != data_folder and folder not in folders:
            folders.append(folder)
    return {"version": FORMAT_VERSION, "written_at": now, "settings": kept, "data_folder": data_folder,
            "former_data_folders": folders[:HOOK_SETTINGS_FORMER_FOLDERS]}


def fresh_settings(document: Any, now: float, max_age: float = HOOK_SETTINGS_MAX_AGE_SECONDS) -> dict[str, Any] | None:
    """The settings in a snapshot ``document`` if it is well formed and written within
    ``max_age`` seconds before ``now`` (a date in the future counts as stale); else ``None``."""
    if not isinstance(document, dict) or document.get("version") != FORMAT_VERSION:
        return None
    written = document.get("written_at")
    settings = document.get("settings")
    if not isinstance(written, (int, float)) or isinstance(written, bool) or not isinstance(settings, dict):
        return None
    age = now - written
    if not 0 <= age < max_age:
        return None
    return {k: v for k, v in settings.items() if k in HOOK_KEYS}


def read_snapshot(stash_dir: str) -> Any:
    """The snapshot document as written, or ``None`` when missing or unreadable."""
    try:
        with open(snapshot_path(stash_dir), "rb") as fh:
            return jsonlite.loads(fh.read())
    except (OSError, ValueError):
        return None


def load_hook_settings(stash_dir: str | None) -> dict[str, Any] | None:
    """The hook's settings from a fresh snapshot; ``None``: ask Stash."""
    if not stash_dir:
        return None
    return fresh_settings(read_snapshot(stash_dir), time.time())


def former_data_folders(stash_dir: str | None) -> list[str]:
    """Folders hooks may have queued into before *Data folder* changed (for the drain to adopt)."""
    document = read_snapshot(stash_dir) if stash_dir else None
    if not isinstance(document, dict):
        return []
    folders = [document.get("data_folder")]
    former = document.get("former_data_folders")
    if isinstance(former, list):
        folders.extend(former)
    return [f for f in folders if isinstance(f, str) and f]


def save_hook_settings(stash_dir: str, settings: dict[str, Any], data_folder: str, *, create: bool = True) -> bool:
    """Write the snapshot for the hook; ``False`` when the default folder is missing and
    ``create`` is off (read-only tasks create nothing). Raises ``OSError``."""
    from shared.datadir import ensure_private_dir
    from shared.jsonfile import write_json_atomic

    folder = default_data_dir(stash_dir)
    if create:
        ensure_private_dir(folder)
    elif not os.path.isdir(folder):
        return False
    document = build_snapshot(settings, os.path.abspath(data_folder), read_snapshot(stash_dir), time.time())
    write_json_atomic(snapshot_path(stash_dir), document)
    return True
