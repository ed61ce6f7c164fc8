"""The reliability suite's tally: each family adds what it tried, what survived and the
jobs lost; the table is printed after the run and written to bench/results/reliability.json.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

RESULTS_FILE = Path(__file__).resolve().parents[2] / "bench" / "results" / "reliability.json"

#: family → {"unit": what a case is, "tried": n, "survived": n, "lost": jobs lost, "failed": [..]}
TALLY: dict[str, dict] = {}
FAMILIES = {
    "kills": "SIGKILLed drains",
    "outages": "outage minutes (simulated)",
    "concurrency": "hook events under concurrency",
    "corruption": "corrupt files",
    "malformed": "malformed inputs",
    "token": "places searched for the token",
}


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


_started = time.monotonic()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not TALLY:
        return
    tr = terminalreporter
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


@pytest.fixture
def box_factory(tmp_path):
    """``box_factory(scenes, **settings)`` → a Box; every box is closed (and audited) after."""
    from tests.reliability.support import make_box

    boxes = []

    def _make(scenes: int, **kwargs):
        box = make_box(tmp_path / f"box{len(boxes)}", scenes, **kwargs)
        boxes.append(box)
        return box

    yield _make
    for box in boxes:
        box.close()
