"""shared/memory.py: the malloc arena cap a drain sets before its threads start."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sandbox.harness import PROJECT_ROOT

CHECK = "from shared.memory import limit_malloc_arenas; print(limit_malloc_arenas())"


def _run(env_extra: dict[str, str]) -> str:
    import os

    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    env.update(env_extra)
    return subprocess.run([sys.executable, "-c", CHECK], cwd=PROJECT_ROOT, env=env, capture_output=True,
                          text=True, timeout=30, check=True).stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_the_cap_is_applied_on_glibc_and_the_users_own_setting_wins():
    import platform

    expected = "True" if platform.libc_ver()[0] == "glibc" else "False"
    assert _run({}) == expected
    assert _run({"MALLOC_ARENA_MAX": "8"}) == "False"
