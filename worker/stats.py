"""The worker's running totals in ``<data dir>/stats.json`` (atomic writes)."""

from __future__ import annotations

import os
import time
from typing import Any

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

    def bump(self, counter: str, by: int = 1) -> None:
        """Add ``by`` to ``counter``."""
        self.data[counter] = int(self.data.get(counter) or 0) + by

    def success(self, scene_id: int) -> None:
        """A scene synced."""
        self.bump("succeeded")
        self.data["last_success_at"] = time.time()
        self.data["last_scene_id"] = scene_id

    def error(self, scene_id: int | None, error_type: str, message: str) -> None:
        """Remember the latest failure (message already token-free)."""
        self.data["last_error"] = {"at": time.time(), "scene_id": scene_id, "type": error_type, "message": message[:500]}

    def save(self) -> None:
        """Persist; a failure is a warning, never fatal."""
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
        if isinstance(stored, dict):
            self.data.update(stored)
