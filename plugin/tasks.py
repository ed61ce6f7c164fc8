"""Stash task menu entries: validate stdin, load settings, run the chosen operation.

Every task shares one context (Stash client with API key, settings, data folder);
each operation lives in its own module and is looked up in :data:`TASKS` by the
``mode`` argument that ``plexsync.yml`` gives the task.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from plugin.protocol import respond
from shared.datadir import ensure_private_dir, resolve_data_dir
from shared.log import create_logger, set_verbose
from stash.client import StashClient, StashConnection, StashError
from validation.config import ConfigError, PlexSyncConfig
from validation.stash_input import PluginInput, validate_plugin_input
from validation.stash_input_errors import InputError

log_trace, log_debug, log_info, log_warn, log_error = create_logger("tasks")


@dataclass
class TaskContext:
    """What every task gets."""

    stash: StashClient
    settings: dict[str, Any]
    data_dir: str
    args: dict[str, Any]
    stash_dir: str | None = None
    _config: PlexSyncConfig | None = field(default=None, repr=False)

    @property
    def config(self) -> PlexSyncConfig:
        """Validated settings; raises :class:`ConfigError` naming each bad setting."""
        if self._config is None:
            self._config = PlexSyncConfig.from_stash(self.settings)
        return self._config


TaskFn = Callable[[TaskContext], Any]


def _task_table() -> dict[str, TaskFn]:
    # Imported here so a task loads only what it uses.
    from plugin import dlq_tasks, process, status

    table: dict[str, TaskFn] = {
        "process": process.run,
        "status": status.run,
        "reset_breaker": status.reset_breaker,
        "dlq_show": dlq_tasks.show,
        "dlq_retry": dlq_tasks.retry,
        "dlq_purge": dlq_tasks.purge,
        "dlq_clear": dlq_tasks.clear,
    }
    try:
        from plugin import reconcile
    except ImportError:
        return table
    table.update(reconcile.TASKS)
    return table


def handle_task(document: dict[str, Any]) -> int:
    """Run the task named by ``args.mode`` in the parsed stdin ``document``; returns the exit code."""
    try:
        plugin_input: PluginInput = validate_plugin_input(document)
    except InputError as exc:
        log_error(f"PlexSync: {exc}")
        return respond(error=str(exc))

    tasks = _task_table()
    mode = plugin_input.mode
    if mode == "hook":
        message = "invalid args.hookContext: a hook run needs a hookContext with the scene id"
        log_error(f"PlexSync: {message}")
        return respond(error=message)
    if mode not in tasks:
        known = ", ".join(sorted(tasks))
        message = f"unknown mode {mode!r}: expected one of {known}"
        log_error(f"PlexSync: {message}")
        return respond(error=message)

    conn = plugin_input.server_connection
    try:
        stash = StashClient(StashConnection.from_server_connection(conn.model_dump())).with_api_key()
        settings = stash.plugin_settings()
    except StashError as exc:
        log_error(f"PlexSync cannot talk to Stash: {exc}")
        return respond(error=str(exc))
    set_verbose(bool(settings.get("debug_logging")))

    try:
        data_dir = ensure_private_dir(resolve_data_dir(conn.Dir, settings.get("data_dir")))
    except (OSError, ValueError) as exc:
        message = f"'Data folder' cannot be used: {exc}"
        log_error(message)
        return respond(error=message)

    args = {k: v for k, v in plugin_input.args.model_dump().items() if k not in ("mode", "hookContext")}
    context = TaskContext(stash=stash, settings=settings, data_dir=data_dir, args=args, stash_dir=conn.Dir)
    try:
        output = tasks[mode](context)
    except ConfigError as exc:
        log_error(str(exc))
        return respond(error=str(exc))
    except StashError as exc:
        log_error(f"PlexSync lost Stash: {exc}")
        return respond(error=str(exc))
    return respond(output=output)
