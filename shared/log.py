"""Logging in Stash's plugin protocol.

Stash reads a plugin's stderr line by line; a line ``"\\x01" + L + "\\x02" + text``
is logged at level L (t, d, i, w, e) and ``p`` carries a task's progress (0..1).
Every message passes through :func:`redact` so a registered secret (the Plex token)
never reaches Stash's log, whatever code path produced the text.

The command line (``plugin/cli.py``) switches to :func:`set_output_mode` ``"terminal"``:
plain lines for a person (info on stdout, the rest on stderr prefixed ``warning:``,
``error:``…), and progress drawn as a bar only when stderr is a terminal.
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

OUTPUT_MODES = ("stash", "terminal")
_mode = "stash"
#: Terminal mode: whether info lines go to stdout (off when stdout carries JSON).
_info_to_stdout = True
_TERMINAL_PREFIX = {"t": "trace: ", "d": "debug: ", "i": "", "w": "warning: ", "e": "error: "}
# Control characters (escape sequences from a scene title, Stash's \x01 framing) are
# shown as U+FFFD in a terminal, never interpreted; tab stays.
_CONTROL = {c: 0xFFFD for c in (*range(0x20), *range(0x7F, 0xA0)) if c != 0x09}
_BAR_WIDTH = 30
_BAR_MIN_INTERVAL = 0.1  # seconds between redraws of an unchanged percentage
_bar: dict[str, float] | None = None  # the bar on screen: {"fraction", "drawn_at"}


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


def is_verbose() -> bool:
    """Whether *Debug logging* is on (trace and debug lines are emitted)."""
    return _verbose


def set_output_mode(mode: str, *, info_to_stdout: bool = True) -> None:
    """``"stash"`` (the default): Stash's stderr protocol. ``"terminal"``: plain text.

    In terminal mode info lines go to stdout (to stderr when ``info_to_stdout`` is
    false, e.g. when stdout carries JSON), other levels to stderr prefixed with their
    level, and progress is drawn as a bar on stderr only when stderr is a terminal.
    """
    global _mode, _info_to_stdout, _bar
    if mode not in OUTPUT_MODES:
        raise ValueError(f"unknown output mode {mode!r}: expected one of {', '.join(OUTPUT_MODES)}")
    _mode, _info_to_stdout, _bar = mode, info_to_stdout, None


def output_mode() -> str:
    """The current output mode, ``"stash"`` or ``"terminal"``."""
    return _mode


def _cap(line: str) -> str:
    data = line.encode("utf-8")
    if len(data) <= MAX_LINE_BYTES:
        return line
    return data[: MAX_LINE_BYTES - len(_TRUNCATED.encode())].decode("utf-8", "ignore") + _TRUNCATED


def _write(stream: object, text: str) -> None:
    try:
        # Any object: a missing or closed stderr raises, and is caught below.
        stream.write(text)  # type: ignore[attr-defined]
        stream.flush()  # type: ignore[attr-defined]
    except (OSError, ValueError, AttributeError):
        # Stash went away (broken pipe) or stderr is closed: logging must never
        # turn into the error that loses a job.
        pass


def _emit(level: str, message: object) -> None:
    if _mode == "terminal":
        _emit_terminal(level, message)
        return
    text = redact(str(message))
    lines = text.splitlines() or [""]
    _write(sys.stderr, "".join(f"\x01{level}\x02{_cap(line)}\n" for line in lines))


def _is_tty(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]  # any object; failures caught below
    except (AttributeError, OSError, ValueError):
        return False


def _bar_text(fraction: float) -> str:
    filled = int(round(fraction * _BAR_WIDTH))
    return f"\r[{'#' * filled}{'.' * (_BAR_WIDTH - filled)}] {fraction * 100:3.0f}%"


def _emit_terminal(level: str, message: object) -> None:
    global _bar
    if level == "p":
        if not _is_tty(sys.stderr):
            return  # a bar makes no sense in a file or a pipe
        import time  # terminal mode only: keep the hook's imports minimal

        fraction = float(str(message))
        now = time.monotonic()
        if (_bar is not None and fraction < 1.0 and int(fraction * 100) == int(_bar["fraction"] * 100)
                and now - _bar["drawn_at"] < _BAR_MIN_INTERVAL):
            return
        done = fraction >= 1.0
        _write(sys.stderr, _bar_text(fraction) + ("\n" if done else ""))
        _bar = None if done else {"fraction": fraction, "drawn_at": now}
        return
    lines = redact(str(message)).splitlines() or [""]
    prefix = _TERMINAL_PREFIX.get(level, "")
    out = "".join(f"{prefix}{line.translate(_CONTROL)}\n" for line in lines)
    if _bar is not None:
        # Wipe the bar, print the line where it was, then draw the bar again below it.
        _write(sys.stderr, "\r" + " " * (_BAR_WIDTH + 8) + "\r")
    _write(sys.stdout if level == "i" and _info_to_stdout else sys.stderr, out)
    if _bar is not None:
        _write(sys.stderr, _bar_text(_bar["fraction"]))


_warned: set[tuple[str, str]] = set()


def route_warnings() -> None:
    """Send Python warnings (a library's deprecation or TLS warning) through this log,
    each text once per run: raw on stderr they lack Stash's prefix and Stash logs every
    one of them as an error."""
    import warnings  # tasks and the command line only: not on the hook's path

    def show(message: object, category: type, filename: str, lineno: int, file: object = None,
             line: object = None) -> None:
        key = (category.__name__, str(message))
        if key not in _warned:
            _warned.add(key)
            _emit("w", f"{category.__name__}: {message}")

    warnings.showwarning = show


def end_progress() -> None:
    """Terminal mode: end a progress bar left on screen, so what follows starts on a new line."""
    global _bar
    if _bar is not None:
        _write(sys.stderr, "\n")
        _bar = None


def log_progress(fraction: float) -> None:
    """Report a task's progress to Stash's progress bar (clamped to 0..1)."""
    _emit("p", f"{min(1.0, max(0.0, float(fraction))):.4f}")


def progress_reporter(step: float = 0.001) -> Callable[[float], None]:
    """:func:`log_progress` for a task that reports after every job (a drain): a report
    reaches Stash only when the bar moved by ``step`` or more since the last one, or
    reached the end. A 10,000-job drain then writes ~1,000 progress lines, not 10,000."""
    last = -1.0

    def report(fraction: float) -> None:
        nonlocal last
        value = min(1.0, max(0.0, float(fraction)))
        if abs(value - last) >= step or (value >= 1.0 and last < 1.0):
            last = value
            log_progress(value)

    return report


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
