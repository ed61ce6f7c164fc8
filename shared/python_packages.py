"""PlexSync's private folder of Python packages, and putting it on ``sys.path``.

When Stash's Python lacks PlexSync's packages (the official Docker image: Alpine,
pip refusing system installs), a task installs them with ``pip install --target``
into ``python-packages`` in the default data folder, never into Stash's own Python.
Every run — the hook too — puts that folder on ``sys.path`` when it exists: one
``os.path.isdir``, no import. It sits in the default folder (like the hook's settings
snapshot) because the hook knows that folder before it has read any setting.

Standard library only, no ``typing``: the hook uses it.
"""

from __future__ import annotations

import os
import sys

from shared.datadir import DATA_DIR_ENV, default_data_dir

FOLDER_NAME = "python-packages"
#: Written into the folder after a complete install: which requirements and which
#: Python it was made for (a changed requirements.txt or Python means reinstall).
STAMP_FILE = ".plexsync-requirements"


def packages_dir(stash_dir: str | None, environ: dict[str, str] | None = None) -> str | None:
    """The private folder: in ``$PLEXSYNC_DATA_DIR`` when set, else in ``<Stash config dir>/plexsync``;
    ``None`` when neither is known."""
    env = os.environ if environ is None else environ
    base = (env.get(DATA_DIR_ENV) or "").strip()
    if base:
        base = os.path.abspath(os.path.expanduser(base))
    elif stash_dir:
        base = os.path.abspath(default_data_dir(stash_dir))
    else:
        return None
    return os.path.join(base, FOLDER_NAME)


def use_private_packages(folder: str | None) -> bool:
    """Put ``folder`` on ``sys.path`` (right after the plugin's own folder, so the pinned
    packages win over older ones in Stash's Python) when it exists; ``True`` if it does."""
    if not folder or not os.path.isdir(folder):
        return False
    if folder not in sys.path:
        sys.path.insert(1 if sys.path else 0, folder)
    return True
