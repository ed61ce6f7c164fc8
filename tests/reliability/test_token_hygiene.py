"""Token hygiene, checked after every other family of the suite has run (this file sorts
last): the Plex token appears in no file of any data folder the suite used, no log line
(stderr) of any plugin process, no argv of any process the suite started, and no URL the
Plex emulator saw; data folders are 0700 and their files 0600, even when the folder
already existed as 0755.
"""

from __future__ import annotations

import os
import stat

import pytest

from tests.reliability import support
from tests.reliability.conftest import tally
from tests.reliability.support import AUDIT, SECRETS, assert_plugin_answer, scan_data_dir

pytestmark = pytest.mark.slow


def test_data_folder_is_private_even_when_it_existed_as_0755(box_factory, tmp_path):
    box = box_factory(5)
    loose = tmp_path / "loose-data"
    loose.mkdir(mode=0o755)
    os.chmod(loose, 0o755)
    box.runner.env["PLEXSYNC_DATA_DIR"] = str(loose)   # checked here, not in the session audit
    spec = box.world.scenes[0]
    for run in box.save(spec, title="private"):
        assert_plugin_answer(run)
    assert box.plex.item(spec.plex_key)["title"] == "private"
    bad = []
    for root, _dirs, files in os.walk(loose):
        if stat.S_IMODE(os.stat(root).st_mode) != 0o700:
            bad.append((root, oct(stat.S_IMODE(os.stat(root).st_mode))))
        for name in files:
            mode = stat.S_IMODE(os.stat(os.path.join(root, name)).st_mode)
            if mode != 0o600:
                bad.append((os.path.join(root, name), oct(mode)))
    assert bad == []


def test_every_task_with_debug_logging_keeps_the_token_out(box_factory):
    """The verbose path too: every task once with 'Debug logging' ticked."""
    box = box_factory(8, debug_logging=True)
    box.sync(box.world.scenes)
    for task in ("Status", "Reconcile: all scenes", "DLQ: show", "Process queue"):
        assert_plugin_answer(box.runner.run_task(task))
    box.configure(plex_token="wrong-" + SECRETS[0][::-1])     # a refused token is a secret too
    assert_plugin_answer(box.runner.run_task("Status"))


def test_token_appears_nowhere(request):
    # Audit the boxes still open in this session's fixtures first (they close after).
    leaks: list[str] = []
    for number, stderr in enumerate(AUDIT.stderr):
        if any(secret in stderr or secret[::-1] in stderr for secret in SECRETS):
            leaks.append(f"stderr of run {number}")
    for argv in AUDIT.argv:
        if any(secret in word for word in argv for secret in SECRETS):
            leaks.append(f"argv {argv[:3]}")
    for data_dir in AUDIT.data_dirs:
        if os.path.isdir(data_dir):
            scan_data_dir(data_dir)
    leaks += [f"{path}: {what}" for path, what in support.LEAKS]
    if AUDIT.token_urls:
        leaks.append(f"{AUDIT.token_urls} Plex request(s) with the token in the URL")
    places = len(AUDIT.stderr) + len(AUDIT.argv) + len(AUDIT.data_dirs) + 1
    tally("token", tried=places, survived=places - len(leaks), lost=0)
    assert AUDIT.stderr, "no plugin run was audited"
    assert leaks == []
    modes = sorted(set(support.MODES))
    assert modes == [], f"not private (want folders 0700, files 0600): {modes[:20]}"
