"""Stash's plugin output protocol: exactly one JSON object on stdout."""

from __future__ import annotations

import json
import sys
# Hook path: typing costs ~10 ms to import; these names serve annotations only.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

from shared.log import redact


def respond(output: Any = None, error: str | None = None) -> int:
    """Write ``{"output": ..., "error": ...}`` to stdout; return the exit code (1 on error)."""
    payload = {"output": output, "error": redact(error) if error else None}
    sys.stdout.write(json.dumps(payload, ensure_ascii=False, default=str))
    sys.stdout.flush()
    return 1 if error else 0
