"""Stash's plugin output protocol: exactly one JSON object on stdout, and how a failure is told."""

from __future__ import annotations

import sys
# Hook path: typing costs ~10 ms to import; these names serve annotations only.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

from shared.jsonlite import dumps_simple
from shared.log import create_logger, is_verbose, redact

log_trace, log_debug, log_info, log_warn, log_error = create_logger("tasks")


def respond(output: Any = None, error: str | None = None) -> int:
    """Write ``{"output": ..., "error": ...}`` to stdout; return the exit code (1 on error)."""
    payload = {"output": output, "error": redact(error) if error else None}
    if output is None or isinstance(output, str):
        text = dumps_simple(payload)   # the hook's answer: no json import on its path
    else:
        import json

        text = json.dumps(payload, ensure_ascii=False, default=str)
    sys.stdout.write(text)
    sys.stdout.flush()
    return 1 if error else 0


class TaskError(Exception):
    """A task cannot run or failed; the message is for the user.

    A task raises it to fail cleanly; :func:`plugin.tasks.run_task` logs it and raises it
    on, and :func:`plugin.tasks.make_context` raises it already logged. ``output``: what
    the task did before it failed (a drain's report), still returned to Stash beside the error.
    """

    def __init__(self, message: str, output: Any = None) -> None:
        super().__init__(message)
        self.output = output


def describe_unexpected(exc: BaseException) -> str:
    """One line for an exception nothing classified; the traceback at debug level."""
    if is_verbose():
        # Hook path: traceback is imported only when a traceback is actually wanted.
        import traceback

        log_debug("".join(traceback.format_exception(exc)).rstrip())
    return f"PlexSync failed unexpectedly: {type(exc).__name__}: {exc}"
