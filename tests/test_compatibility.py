"""plugin/compatibility.py: Status names what the running Stash lacks; drains check daily.

Status runs as Stash runs it against the emulators; the emulator serves a schema
without fields PlexSync uses, as a Stash that renamed them would (introspection and
validation both lack them).
"""

from __future__ import annotations

import json

import pytest

from plugin import compatibility
from plugin.context import TaskContext
from sandbox.harness import Sandbox
from stash.client import StashClient, StashConnection
from shared.defaults import COMPATIBILITY_CHECK_EVERY_SECONDS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sb():
    with Sandbox(scenes=2, seed=3, job_queue="sync") as sandbox:
        yield sandbox


def test_status_names_the_fields_stash_lacks(sb):
    sb.stash.drop_schema_fields("Scene.resume_time", "Scene.play_history")
    try:
        status = sb.runner.run_task("Status")
    finally:
        sb.stash.drop_schema_fields()
    assert status.ok, (status.error, status.logs)
    warnings = [m for m in status.messages("w") if m.startswith("Compatibility:")]
    assert len(warnings) == 1, status.logs
    assert "Stash v0.30.1 lacks what PlexSync uses: Scene.play_history, Scene.resume_time." in warnings[0]
    assert status.output["compatibility"]["stash"]["missing"] == ["Scene.play_history", "Scene.resume_time"]


def test_status_says_all_is_well(sb):
    status = sb.runner.run_task("Status")
    assert status.ok, (status.error, status.logs)
    assert not [m for m in status.messages("w") if m.startswith("Compatibility:")]
    assert any(m.startswith("Compatibility: Stash v0.30.1 has every field PlexSync uses; Plex ")
               for m in status.messages("i")), status.logs
    assert status.output["compatibility"]["problems"] == []


def context(sb, tmp_path, **settings) -> TaskContext:
    stash = StashClient(StashConnection("http", "127.0.0.1", sb.stash.port, "session", None, sb.stash.api_key))
    return TaskContext(stash=stash, settings={**sb.settings(), **settings}, data_dir=str(tmp_path), args={})


def test_a_drain_checks_once_a_day(sb, tmp_path):
    ctx = context(sb, tmp_path, plex_libraries="Gone")
    start = 1_800_000_000.0
    assert compatibility.maybe_check(ctx, now=start) is None          # the first drain starts the clock
    asked = len(sb.stash.queries)
    assert compatibility.maybe_check(ctx, now=start + 3600) is None   # not yet due: asks nobody
    assert len(sb.stash.queries) == asked
    found = compatibility.maybe_check(ctx, now=start + COMPATIBILITY_CHECK_EVERY_SECONDS + 1)
    assert found is not None
    assert found["plex"]["missing_libraries"] == ["Gone"]
    assert any("fix 'Plex libraries'" in p for p in found["problems"])
    state = json.loads((tmp_path / compatibility.STATE_FILE).read_text())
    assert state == {"checked_at": start + COMPATIBILITY_CHECK_EVERY_SECONDS + 1}
    assert compatibility.maybe_check(ctx, now=start + COMPATIBILITY_CHECK_EVERY_SECONDS + 2) is None


def test_the_minimum_stash_version_is_stated_where_users_look():
    from pathlib import Path

    from release.build import manifest_fields
    from stash.queries import MINIMUM_STASH_VERSION

    root = Path(__file__).resolve().parents[1]
    assert f"Stash {MINIMUM_STASH_VERSION} or newer" in manifest_fields((root / "plexsync.yml").read_text())["description"]
    assert f"Stash {MINIMUM_STASH_VERSION} or newer" in (root / "README.md").read_text(encoding="utf-8")
