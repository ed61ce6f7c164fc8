"""Where PlexSync keeps its queue and state, created private (0700 folder, 0600 files).

Stash deletes a plugin's files on update and its folder on uninstall, so the data
lives beside Stash's own config by default. Standard library only: the hook uses it.
"""

from __future__ import annotations

import os

DATA_DIR_ENV = "PLEXSYNC_DATA_DIR"
DEFAULT_FOLDER = "plexsync"


def default_data_dir(stash_dir: str) -> str:
    """``<Stash config dir>/plexsync``."""
    return os.path.join(stash_dir, DEFAULT_FOLDER)


def resolve_data_dir(stash_dir: str | None, setting: str | None, environ: dict[str, str] | None = None) -> str:
    """The data folder: ``$PLEXSYNC_DATA_DIR``, else the *Data folder* setting, else the default.

    Raises ``ValueError`` when none is known (no Stash config dir, nothing set).
    """
    env = os.environ if environ is None else environ
    chosen = (env.get(DATA_DIR_ENV) or "").strip() or (setting or "").strip()
    if chosen:
        return os.path.abspath(os.path.expanduser(chosen))
    if stash_dir:
        return os.path.abspath(default_data_dir(stash_dir))
    raise ValueError(
        f"no data folder: set the 'Data folder' setting or {DATA_DIR_ENV} (Stash's config folder is unknown)"
    )


def ensure_private_dir(path: str) -> str:
    """Create ``path`` (and parents) with mode 0700 if missing; return it.

    An existing folder is tightened to 0700 too (0755 from an older copy, or made by
    hand): the queue and DLQ hold scene data, and the folder is PlexSync's alone —
    the README asks for a folder of its own when *Data folder* is set.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        os.makedirs(path, mode=0o700, exist_ok=True)
        mode = os.stat(path).st_mode
    if mode & 0o077:
        os.chmod(path, mode & 0o700)
    return path
