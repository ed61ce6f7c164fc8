"""shared/datadir.py: the data folder is private when it is PlexSync's own (finding 11)."""

from __future__ import annotations

import os
import stat

from shared.datadir import ensure_private_dir


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_folder_is_0700_whatever_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        ensure_private_dir(str(tmp_path / "a" / "b"))
    finally:
        os.umask(old)
    assert mode(tmp_path / "a" / "b") == 0o700


def test_an_existing_own_folder_is_tightened(tmp_path):
    folder = tmp_path / "plexsync"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    ensure_private_dir(str(folder))
    assert mode(folder) == 0o700


def test_a_folder_the_user_made_is_tightened_too(tmp_path):
    folder = tmp_path / "my-plexsync"
    folder.mkdir()
    os.chmod(folder, 0o755)
    ensure_private_dir(str(folder))
    assert mode(folder) == 0o700


def test_state_files_end_up_0600_even_over_looser_leftovers(tmp_path):
    from shared.jsonfile import write_json_atomic

    path = tmp_path / "stats.json"
    for leftover in (path, tmp_path / "stats.json.tmp"):  # an older release, a copy, a crash
        leftover.write_text("{}")
        os.chmod(leftover, 0o644)
    write_json_atomic(str(path), {"a": 1})
    assert mode(path) == 0o600


def test_sqlite_stores_tighten_a_looser_existing_file(tmp_path):
    from worker.dlq import DB_FILE, DeadLetterQueue

    DeadLetterQueue(str(tmp_path)).close()
    os.chmod(tmp_path / DB_FILE, 0o644)
    DeadLetterQueue(str(tmp_path)).close()
    assert mode(tmp_path / DB_FILE) == 0o600
