"""The reliability suite's tally: each family adds what it tried, what survived and the
jobs lost; the table is printed after the run and written to bench/results/reliability.json.

Plain module state, so it also works under pytest-xdist: each worker hands its tally to
the controller (``workeroutput``), which merges them and writes the one table
(hooks in ``tests/conftest.py``, the conftest the controller loads).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

RESULTS_FILE = Path(__file__).resolve().parents[2] / "bench" / "results" / "reliability.json"
WORKER_KEY = "reliability_tally"

#: family → {"unit": what a case is, "tried": n, "survived": n, "lost": jobs lost, "failed": [..]}
TALLY: dict[str, dict[str, Any]] = {}
FAMILIES = {
    "kills": "SIGKILLed drains",
    "outages": "outage minutes (simulated)",
    "concurrency": "hook events under concurrency",
    "corruption": "corrupt files",
    "malformed": "malformed inputs",
    "token": "places searched for the token",
}
_started = time.monotonic()


def start() -> None:
    """The session began now (the table reports the session's wall time)."""
    global _started
    _started = time.monotonic()


def tally(family: str, *, tried: float = 0, survived: float = 0, lost: int = 0,
          failed: str | None = None) -> None:
    """Add to a family's counts (``failed``: a short note on a case that did not survive)."""
    entry = TALLY.setdefault(family, {"unit": FAMILIES[family], "tried": 0, "survived": 0,
                                      "lost": 0, "failed": []})
    entry["tried"] += tried
    entry["survived"] += survived
    entry["lost"] += lost
    if failed:
        entry["failed"].append(failed)


def merge(serialized: str) -> None:
    """Add a worker's tally (as :func:`serialize` gave it) to this process's."""
    for family, entry in json.loads(serialized).items():
        tally(family, tried=entry["tried"], survived=entry["survived"], lost=entry["lost"])
        TALLY[family]["failed"].extend(entry["failed"])


def serialize() -> str:
    """This process's tally, for the controller."""
    return json.dumps(TALLY)


def report(tr: Any, exitstatus: int) -> None:
    """Print the table on pytest's terminal and write it under bench/results/."""
    if not TALLY:
        return
    tr.section("reliability summary")
    tr.write_line(f"{'family':<13}{'case':<32}{'tried':>8}{'survived':>10}{'lost':>6}")
    for family, entry in TALLY.items():
        tr.write_line(f"{family:<13}{entry['unit']:<32}{entry['tried']:>8g}{entry['survived']:>10g}"
                      f"{entry['lost']:>6}")
        for note in entry["failed"][:5]:
            tr.write_line(f"    not survived: {note[:150]}")
    seconds = time.monotonic() - _started
    tr.write_line(f"(pytest session wall time {seconds:.0f} s)")
    if os.environ.get("RELIABILITY_NO_WRITE"):
        return
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    doc = {"families": TALLY, "wall_seconds": round(seconds, 1), "exit_status": int(exitstatus)}
    RESULTS_FILE.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
