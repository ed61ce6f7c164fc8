"""Shared bits of the bench scripts: percentiles, peak RSS (ours and the plugin's), saving results."""

from __future__ import annotations

import json
import os
import platform
import resource
import stat
import statistics
import sys
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def python_loop_ms() -> float:
    """This machine's speed now: the best of three runs of a fixed pure-Python loop, in ms.

    The 2-core machines these benches run on changed speed by more than 2× within an
    hour (same code: 46 s, then 19 s for one run), so every result records this at the
    bench's start and end; compare figures only between runs whose loop times agree.
    """
    best = float("inf")
    for _ in range(3):
        began = time.perf_counter()
        total = 0
        for i in range(1_000_000):
            total += i
        best = min(best, time.perf_counter() - began)
    return round(best * 1000, 1)


#: The loop's time when this bench started (this module is imported first thing).
_LOOP_AT_START = python_loop_ms()


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (``fraction`` in 0..1)."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


def summary_ms(values: list[float]) -> dict[str, float]:
    """Median, p95 and max of seconds, in milliseconds."""
    return {"n": len(values), "median_ms": round(statistics.median(values) * 1000, 1),
            "p95_ms": round(percentile(values, 0.95) * 1000, 1), "max_ms": round(max(values) * 1000, 1)}


def peak_rss_mb() -> float:
    """Peak resident memory of this process, in MB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux reports KiB


# The launcher the runner's 'python' becomes: runs the plugin exactly as given (same
# stdin, stdout, stderr, environment), then appends its peak RSS (KiB) to a file.
_LAUNCHER = """#!{python}
import os, resource, subprocess, sys
code = subprocess.call([{python!r}, *sys.argv[1:]])
with open(os.environ[{env!r}], "a") as fh:
    fh.write(f"{{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}}\\n")
if code < 0:
    os.kill(os.getpid(), -code)
sys.exit(code)
"""
_RSS_ENV = "PLEXSYNC_BENCH_RSS_FILE"


class PluginMemory:
    """The peak RSS of each plugin process a sandbox's runner starts.

    A process's peak (``ru_maxrss``) counts its memory from before ``exec``: a plugin
    forked straight from the bench inherits, for an instant, the bench's whole RSS (the
    emulators' library), which is what the drains' "peak RSS" reported until 2026-12-03
    (181 MB at 10,000 scenes, while the drain itself stays under 70 MB). So the runner
    starts each plugin through a small launcher, and the launcher reports its child's peak.
    """

    def __init__(self, runner: Any, folder: Path) -> None:
        self.file = folder / "plugin_rss.txt"
        self.file.touch()
        launcher = folder / "python-with-rss"
        launcher.write_text(_LAUNCHER.format(python=sys.executable, env=_RSS_ENV))
        launcher.chmod(launcher.stat().st_mode | stat.S_IXUSR)
        runner.python = str(launcher)
        runner.env[_RSS_ENV] = str(self.file)
        self._seen = 0

    def peaks_mb(self) -> list[float]:
        """Peak RSS of every plugin process that ended since the last call, in MB."""
        values = self.file.read_text().split()
        new, self._seen = values[self._seen:], len(values)
        return [round(int(v) / 1024, 1) for v in new]


def save(name: str, data: dict[str, Any]) -> Path:
    """Write ``bench/results/<name>.json`` with the machine described; print where."""
    RESULTS.mkdir(exist_ok=True)
    data = {"bench": name, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
                        # Other work on the machine while it ran (the 1/5/15-minute load averages at the end).
                        "load_average": [round(x, 2) for x in os.getloadavg()],
                        # Its speed (python_loop_ms) when the bench started and when it ended.
                        "python_loop_ms": {"start": _LOOP_AT_START, "end": python_loop_ms()}},
            **data}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    print(f"saved {path.relative_to(RESULTS.parent.parent)}")
    return path


def routes(counts: dict[tuple[str, str], int]) -> dict[str, int]:
    """A request Counter keyed by (method, route) as ``{"GET /x": n}``."""
    return {f"{m} {r}": n for (m, r), n in sorted(counts.items())}


def wait_until_in_plex(sb: Any, scene: Any, title: str, *, since: float, timeout: float,
                       poll: float = 0.01) -> float:
    """Poll the Plex emulator until ``scene``'s item shows ``title``; seconds since ``since``
    (a ``time.perf_counter()``). A bench measures this, so it polls rather than waits."""
    while sb.plex_item(scene)["title"] != title:
        if time.perf_counter() - since > timeout:
            raise TimeoutError(f"'{title}' not in Plex after {timeout:.0f} s")
        time.sleep(poll)
    return time.perf_counter() - since
