"""The worker's running totals in ``<data dir>/stats.json`` (atomic writes).

Saved while a drain runs, not only at its end, since Stash cancels a task with
SIGKILL: at most once per :data:`SAVE_INTERVAL_SECONDS` or every
:data:`SAVE_EVERY_CHANGES` changes, so a kill loses a second's worth at most.
"""

from __future__ import annotations

import os
import time
from typing import Any

from shared.defaults import SAVE_EVERY_CHANGES, SAVE_INTERVAL_SECONDS
from shared.jsonfile import CorruptStateError, read_json, write_json_atomic
from shared.log import create_logger

log_trace, log_debug, log_info, log_warn, log_error = create_logger("stats")

STATS_FILE = "stats.json"
COUNTERS = ("succeeded", "retried", "dead_lettered", "superseded", "outages", "drains")


class WorkerStats:
    """Counters since the data folder was created, plus the last sync and error."""

    def __init__(self, data_dir: str | None) -> None:
        self.path = os.path.join(data_dir, STATS_FILE) if data_dir else None
        self.data: dict[str, Any] = {name: 0 for name in COUNTERS}
        self.data.update(last_success_at=None, last_error=None, last_drain=None)
        self._load()
        self._unsaved = 0
        self._saved_at = time.time()

    def bump(self, counter: str, by: int = 1) -> None:
        """Add ``by`` to ``counter``."""
        self.data[counter] = _count(self.data.get(counter)) + by
        self._changed()

    def success(self, scene_id: int | None) -> None:
        """A scene synced."""
        self.data["last_success_at"] = time.time()
        self.data["last_scene_id"] = scene_id
        self.bump("succeeded")

    def error(self, scene_id: int | None, error_type: str, message: str) -> None:
        """Remember the latest failure (message already token-free)."""
        self.data["last_error"] = {"at": time.time(), "scene_id": scene_id, "type": error_type, "message": message[:500]}
        self._changed()

    def _changed(self) -> None:
        self._unsaved += 1
        if self._unsaved >= SAVE_EVERY_CHANGES or abs(time.time() - self._saved_at) >= SAVE_INTERVAL_SECONDS:
            self.save()

    def save(self) -> None:
        """Persist; a failure is a warning, never fatal."""
        self._unsaved, self._saved_at = 0, time.time()
        if not self.path:
            return
        try:
            write_json_atomic(self.path, self.data)
        except OSError as exc:
            log_warn(f"Could not save worker statistics to {self.path}: {exc}")

    def _load(self) -> None:
        if not self.path:
            return
        try:
            stored = read_json(self.path)
        except CorruptStateError as exc:
            log_warn(f"Worker statistics unreadable, starting from zero: {exc}")
            return
        if not isinstance(stored, dict):
            if stored is not None:
                log_warn(f"Worker statistics in {self.path} are not a JSON object; starting from zero")
            return
        self.data.update(stored)
        for name in COUNTERS:  # a hand-edited or foreign file: a bad count restarts at 0
            self.data[name] = _count(self.data.get(name))


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0
