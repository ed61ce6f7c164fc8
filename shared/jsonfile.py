"""Atomic, private JSON state files (breaker, stats, reconcile state, poster hashes).

Writers go through :func:`write_json_atomic` (temp file + ``os.replace``, mode 0600) so
a reader never sees half a file; readers tell *missing* from *corrupt* so callers
can warn about the second and treat both as "no state".
"""

from __future__ import annotations

import json
import os
from typing import Any


class CorruptStateError(ValueError):
    """A state file exists but does not hold the JSON we wrote."""


def private_opener(path: str, flags: int) -> int:
    """``open(..., opener=private_opener)``: create files readable by the owner only."""
    return os.open(path, flags, 0o600)


def write_json_atomic(path: str, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` via ``path + '.tmp'`` and ``os.replace``.

    Raises ``OSError`` on failure; the previous file, if any, is left intact.
    """
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8", opener=private_opener) as fh:
        if hasattr(os, "fchmod"):  # not on Windows before Python 3.13 (no such modes there)
            os.fchmod(fh.fileno(), 0o600)  # a leftover .tmp keeps its old mode through O_CREAT
        json.dump(data, fh, ensure_ascii=False, separators=(",", ":"))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read_json(path: str) -> Any | None:
    """Return the JSON in ``path``, ``None`` if it does not exist.

    Raises :class:`CorruptStateError` when the file is unreadable or not JSON.
    """
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CorruptStateError(f"{path}: {exc.strerror or exc}") from exc
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptStateError(f"{path}: not valid JSON ({exc})") from exc
