"""Shared bits of the bench scripts: percentiles, peak RSS, saving results."""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (``fraction`` in 0..1)."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


def summary_ms(values: list[float]) -> dict[str, float]:
    """Median, p95 and max of seconds, in milliseconds."""
    return {"n": len(values), "median_ms": round(statistics.median(values) * 1000, 1),
            "p95_ms": round(percentile(values, 0.95) * 1000, 1), "max_ms": round(max(values) * 1000, 1)}


def peak_rss_mb(children: bool = False) -> float:
    """Peak resident memory of this process (or of its waited-for children), in MB."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF)
    return round(usage.ru_maxrss / 1024, 1)  # Linux reports KiB


def save(name: str, data: dict[str, Any]) -> Path:
    """Write ``bench/results/<name>.json`` with the machine described; print where."""
    RESULTS.mkdir(exist_ok=True)
    data = {"bench": name, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
                        # Other work on the machine while it ran (the 1/5/15-minute load averages at the end).
                        "load_average": [round(x, 2) for x in os.getloadavg()]},
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
