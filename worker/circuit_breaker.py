"""A circuit breaker that stops the worker from hammering a Plex that is down.

Transitions are in-memory logic; each ends in one :meth:`CircuitBreaker._save`,
which persists the state as JSON (temp file + ``os.replace``) under a non-blocking
``fcntl`` lock, so every plugin process (drains, the status task) sees one breaker.
"""

from __future__ import annotations

import fcntl
import math
import os
import time
from enum import Enum
from typing import Any, Optional

from shared.jsonfile import CorruptStateError, private_opener, read_json, write_json_atomic
from shared.log import create_logger

log_trace, log_debug, log_info, log_warn, log_error = create_logger("circuit_breaker")


class CircuitState(Enum):
    """Where the breaker stands; ``.value`` is what the state file stores."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Open after ``failure_threshold`` consecutive failures; probe after ``recovery_timeout``."""

    def __init__(
        self,
        failure_threshold: int = 5,
        recovery_timeout: float = 60.0,
        success_threshold: int = 1,
        state_file: Optional[str] = None,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.recovery_timeout = recovery_timeout
        self.success_threshold = success_threshold
        self._state_file = state_file
        self._state = CircuitState.CLOSED
        self._failure_count = 0
        self._success_count = 0
        self._opened_at: Optional[float] = None
        self._load()

    # -- queries -----------------------------------------------------------------

    @property
    def state(self) -> CircuitState:
        """The current state; an OPEN circuit past its recovery timeout becomes HALF_OPEN."""
        if (
            self._state is CircuitState.OPEN
            and self._opened_at is not None
            and time.time() - self._opened_at >= self.recovery_timeout
        ):
            self._state = CircuitState.HALF_OPEN
            self._success_count = 0
            log_info(f"Circuit breaker HALF_OPEN: recovery timeout of {self.recovery_timeout:.0f}s passed, probing Plex")
            self._save()
        return self._state

    @property
    def failure_count(self) -> int:
        """Consecutive failures counted while CLOSED."""
        return self._failure_count

    @property
    def opened_at(self) -> Optional[float]:
        """Epoch seconds when the circuit last opened, or ``None``."""
        return self._opened_at

    def half_opens_at(self) -> Optional[float]:
        """When an OPEN circuit will let a probe through, or ``None`` if not OPEN."""
        if self._state is CircuitState.OPEN and self._opened_at is not None:
            return self._opened_at + self.recovery_timeout
        return None

    def can_execute(self) -> bool:
        """``False`` while OPEN; CLOSED and HALF_OPEN let a call through."""
        return self.state is not CircuitState.OPEN

    # -- transitions ---------------------------------------------------------------

    def record_failure(self) -> None:
        """Count an outage-type failure; may open (or reopen) the circuit."""
        state = self.state
        if state is CircuitState.HALF_OPEN:
            self._open()
            log_info("Circuit breaker reopening: the probe failed; OPENED again")
            return
        if state is CircuitState.OPEN:
            return
        self._failure_count += 1
        if self._failure_count >= self.failure_threshold:
            self._open()
            log_info(f"Circuit breaker OPENED after {self._failure_count} consecutive failures")
        else:
            self._save()

    def record_success(self) -> None:
        """Count a success; closes a HALF_OPEN circuit after ``success_threshold`` of them."""
        state = self.state
        if state is CircuitState.HALF_OPEN:
            self._success_count += 1
            if self._success_count >= self.success_threshold:
                self._close()
                log_info("Circuit breaker CLOSED: Plex answered again (recovery confirmed)")
            else:
                self._save()
        elif state is CircuitState.CLOSED and self._failure_count:
            self._failure_count = 0
            self._save()

    def reset(self) -> None:
        """Force the circuit CLOSED and forget every count."""
        self._close()

    def _open(self) -> None:
        self._state = CircuitState.OPEN
        self._opened_at = time.time()
        self._success_count = 0
        self._save()

    def _close(self) -> None:
        self._state = CircuitState.CLOSED
        self._failure_count = 0
        self._success_count = 0
        self._opened_at = None
        self._save()

    # -- persistence ---------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The persisted form of the breaker."""
        return {
            "state": self._state.value,
            "failure_count": self._failure_count,
            "success_count": self._success_count,
            "opened_at": self._opened_at,
        }

    def _load(self) -> None:
        if not self._state_file:
            return
        try:
            data = read_json(self._state_file)
        except CorruptStateError as exc:
            log_warn(f"Circuit breaker state unreadable, starting CLOSED: {exc}")
            return
        if data is None:
            return
        try:
            state = CircuitState(data["state"])
            failures = int(data["failure_count"])
            successes = int(data["success_count"])
            opened_at = data["opened_at"]
            if opened_at is not None:
                opened_at = float(opened_at)
                if not math.isfinite(opened_at):
                    raise ValueError(f"opened_at {opened_at} is not a time")
            if state is CircuitState.OPEN and opened_at is None:
                # It could never half-open: the queue would stay stuck until a manual reset.
                raise ValueError("an open circuit without opened_at")
        except (KeyError, TypeError, ValueError) as exc:
            log_warn(f"Circuit breaker state file {self._state_file} is invalid ({exc!r}); starting CLOSED")
            return
        # Assign together: never a half-loaded breaker.
        self._state, self._failure_count, self._success_count, self._opened_at = (
            state, failures, successes, opened_at,
        )

    def _save(self) -> None:
        if not self._state_file:
            return
        try:
            with open(self._state_file + ".lock", "a", opener=private_opener) as lock:
                try:
                    fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    # Another process is writing this very moment; its state is as
                    # fresh as ours and blocking here could stall a drain.
                    log_debug("Circuit breaker state is being saved by another process; skipped")
                    return
                try:
                    write_json_atomic(self._state_file, self.to_dict())
                finally:
                    fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
        except OSError as exc:
            log_warn(f"Could not save circuit breaker state to {self._state_file}: {exc}")
