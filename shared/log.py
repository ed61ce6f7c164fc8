"""Logging in Stash's plugin protocol.

Stash reads a plugin's stderr line by line; a line ``"\\x01" + L + "\\x02" + text``
is logged at level L (t, d, i, w, e) and ``p`` carries a task's progress (0..1).
Every message passes through :func:`redact` so a registered secret (the Plex token)
never reaches Stash's log, whatever code path produced the text.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing costs ~10 ms on the hook path; annotations only
if TYPE_CHECKING:
    from typing import Callable

    LogFn = Callable[[object], None]

# Stash cuts lines at 64 KiB; stay well below so the level prefix survives.
MAX_LINE_BYTES = 60_000
_TRUNCATED = " …[truncated]"
_MASK = "****"

_secrets: set[str] = set()
_verbose = True


def register_secret(secret: str | None) -> None:
    """Mask ``secret`` in every message logged from now on (short values are ignored)."""
    # Very short strings would mask ordinary words; a real token is 20 characters.
    if secret and len(secret) >= 4:
        _secrets.add(secret)


def redact(text: str) -> str:
    """Return ``text`` with every registered secret replaced by ``****``."""
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, _MASK)
    return text


def set_verbose(verbose: bool) -> None:
    """Emit trace and debug lines only when ``verbose`` (the *Debug logging* setting)."""
    global _verbose
    _verbose = verbose


def _cap(line: str) -> str:
    data = line.encode("utf-8")
    if len(data) <= MAX_LINE_BYTES:
        return line
    return data[: MAX_LINE_BYTES - len(_TRUNCATED.encode())].decode("utf-8", "ignore") + _TRUNCATED


def _emit(level: str, message: object) -> None:
    text = redact(str(message))
    lines = text.splitlines() or [""]
    out = "".join(f"\x01{level}\x02{_cap(line)}\n" for line in lines)
    try:
        sys.stderr.write(out)
        sys.stderr.flush()
    except (OSError, ValueError):
        # Stash went away (broken pipe) or stderr is closed: logging must never
        # turn into the error that loses a job.
        pass


def log_progress(fraction: float) -> None:
    """Report a task's progress to Stash's progress bar (clamped to 0..1)."""
    _emit("p", f"{min(1.0, max(0.0, float(fraction))):.4f}")


def create_logger(name: str) -> tuple[LogFn, LogFn, LogFn, LogFn, LogFn]:
    """Return ``(log_trace, log_debug, log_info, log_warn, log_error)`` for module ``name``.

    ``name`` shows on trace and debug lines only, where knowing the origin helps;
    the user-facing levels stay clean (Stash already prefixes the plugin's name).
    """

    def log_trace(message: object) -> None:
        if _verbose:
            _emit("t", f"[{name}] {message}")

    def log_debug(message: object) -> None:
        if _verbose:
            _emit("d", f"[{name}] {message}")

    def log_info(message: object) -> None:
        _emit("i", message)

    def log_warn(message: object) -> None:
        _emit("w", message)

    def log_error(message: object) -> None:
        _emit("e", message)

    return log_trace, log_debug, log_info, log_warn, log_error
