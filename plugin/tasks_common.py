"""Asking Stash for a drain; shared by the hook and the tasks that add work.

Standard library only: the hook uses it.
"""

from __future__ import annotations

from shared.log import create_logger
from worker.trigger import clear_drain_request, drain_request_needed, mark_drain_requested, retry_due

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from stash.client import StashClient

log_trace, log_debug, log_info, log_warn, log_error = create_logger("tasks")

PROCESS_TASK = "Process queue"


def _failures() -> tuple[type[BaseException], ...]:
    """What asking Stash may raise; imported only once it did (the hook's path skips
    ``stash.client`` and its socket imports unless it really asks Stash)."""
    from stash.client import StashError

    return (StashError, OSError)


def request_drain(stash: StashClient, data_dir: str) -> bool:
    """Ask Stash to run *Process queue* unless a drain runs or is pending; ``True`` if asked."""
    if not drain_request_needed(data_dir):
        return False
    try:
        mark_drain_requested(data_dir)
        stash.run_plugin_task(PROCESS_TASK)
    except _failures() as exc:
        # Nothing is pending after all: the next hook must ask again, not wait
        # for the marker to go stale.
        try:
            clear_drain_request(data_dir)
        except OSError:
            pass
        log_warn(f"The work is queued, but asking Stash to process the queue failed ({exc}); "
                 f"run the '{PROCESS_TASK}' task to sync now")
        return False
    return True


def request_recovery(stash: StashClient, data_dir: str) -> bool:
    """If a corrupt queue or DLQ was moved aside, ask Stash for the recovery reconcile
    (once: the note is dropped when Stash accepted); ``True`` if asked. Never raises."""
    from shared.sqlite_files import RECOVERY_TASK, recovery_pending, recovery_requested

    if not recovery_pending(data_dir):
        return False
    try:
        stash.run_plugin_task(RECOVERY_TASK)
        recovery_requested(data_dir)
    except _failures() as exc:
        log_warn(f"Asking Stash for '{RECOVERY_TASK}' failed ({exc}); it is asked again on the next "
                 "save or task, or run it yourself")
        return False
    log_info(f"Asked Stash to run '{RECOVERY_TASK}' to recover what a damaged file held")
    return True


def request_drain_if_due(stash: StashClient, data_dir: str) -> bool:
    """Ask for a drain when a job the last drain left waiting to retry is due now.

    Every invocation calls this (Stash gives plugins no timer): a drain hands Stash's
    job queue over rather than sleep while others wait, and its waiting jobs run at
    the first invocation after they are due. ``True`` if a drain was asked for.
    """
    if not retry_due(data_dir):
        return False
    log_debug("A job waiting to retry is due; asking Stash to process the queue")
    return request_drain(stash, data_dir)


def record_hook_settings(stash_dir: str | None, settings: dict[str, Any], data_dir: str, *, create: bool) -> None:
    """Leave the settings the hook needs where it reads them without asking Stash
    (``shared/hook_settings.py``). Never raises: without it the hook just asks Stash."""
    if not stash_dir:
        return
    from shared.hook_settings import save_hook_settings

    try:
        save_hook_settings(stash_dir, settings, data_dir, create=create)
    except OSError as exc:
        log_debug(f"Could not save the hook's settings snapshot: {exc}")
