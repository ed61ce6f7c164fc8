"""Stash task menu entries: validate stdin, load settings, run the chosen operation.

Every task shares one context (Stash client with API key, settings, data folder);
each operation lives in its own module and is looked up in :func:`task_table` by the
``mode`` argument that ``plexsync.yml`` gives the task. The command line
(``plugin/cli.py``) builds the same context with :func:`make_context` and runs the
same table through :func:`run_task`.
"""

from __future__ import annotations

import os
from typing import Any, Callable

from plugin.context import TaskContext
from plugin.protocol import TaskError, describe_unexpected, respond
from plugin.tasks_common import record_hook_settings, request_drain_if_due, request_recovery
from shared.datadir import ensure_private_dir, resolve_data_dir
from shared.log import create_logger, route_warnings, set_verbose
from stash.client import StashClient, StashConnection, StashError
from validation.config import ConfigError
from validation.stash_input import PluginInput, validate_plugin_input
from validation.stash_input_errors import InputError

log_trace, log_debug, log_info, log_warn, log_error = create_logger("tasks")


TaskFn = Callable[[TaskContext], Any]

#: Every task by its ``mode``: the module under ``plugin`` and the function that runs it.
_TASKS: dict[str, tuple[str, str]] = {
    "process": ("process", "run"),
    "process_dry_run": ("dry_run", "run"),
    "status": ("status", "run"),
    "reset_breaker": ("status", "reset_breaker"),
    "dlq_show": ("dlq_tasks", "show"),
    "dlq_retry": ("dlq_tasks", "retry"),
    "dlq_purge": ("dlq_tasks", "purge"),
    "dlq_clear": ("dlq_tasks", "clear"),
    "watch_state": ("watch_state", "run"),
    "watch_state_dry_run": ("watch_state", "dry_run"),
    "ui_scene": ("ui_operations", "scene"),
    "ui_sync_now": ("ui_operations", "sync_now"),
    "ui_status": ("ui_operations", "status"),
    "reconcile": ("reconcile", "run"),
}


class _Task:
    """A task whose module is imported when it runs: a drain started by a save should not
    wait for the other tasks' modules (the UI's pulls in the Plex probe; ~80 ms in all)."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def resolve(self) -> TaskFn:
        """The task's function (its module imported now)."""
        from importlib import import_module

        fn: TaskFn = getattr(import_module(f"plugin.{self.module}"), self.name)
        return fn

    def __call__(self, ctx: TaskContext) -> Any:
        return self.resolve()(ctx)

    def __repr__(self) -> str:
        return f"plugin.{self.module}.{self.name}"


def task_table() -> dict[str, TaskFn]:
    """Every task by its ``mode``; the Stash task menu and the command line share it."""
    return {mode: _Task(module, name) for mode, (module, name) in _TASKS.items()}


#: Tasks that only look: they must not create the data folder (they say "no data yet").
READ_ONLY_TASKS = frozenset({"status", "dlq_show", "ui_scene", "ui_status"})


def make_context(stash: StashClient, settings: dict[str, Any], args: dict[str, Any], *,
                 stash_dir: str | None, data_dir: str | None = None, create: bool = True) -> TaskContext:
    """The context every task gets: logging verbosity set, data folder chosen and created.

    ``data_dir`` overrides the choice (``$PLEXSYNC_DATA_DIR``, the *Data folder*
    setting, ``<stash_dir>/plexsync``). ``create=False`` (read-only tasks) leaves a
    missing folder missing. Raises :class:`TaskError` (logged).
    """
    set_verbose(bool(settings.get("debug_logging")))
    try:
        chosen = data_dir or resolve_data_dir(stash_dir, settings.get("data_dir"))
        folder = os.path.abspath(os.path.expanduser(chosen))
        if create or os.path.isdir(folder):
            ensure_private_dir(folder)
    except (OSError, ValueError) as exc:
        message = f"'Data folder' cannot be used: {exc}"
        log_error(message)
        raise TaskError(message) from None
    return TaskContext(stash=stash, settings=settings, data_dir=folder, args=args, stash_dir=stash_dir)


def run_task(fn: TaskFn, context: TaskContext) -> Any:
    """Run one task; returns its output. Raises :class:`TaskError` (logged) when it fails.

    The task-level choke point: every exception a task lets out is classified here into
    one user-facing line; an unknown one is a bug, told as ``Type: message`` (the
    traceback only with 'Debug logging' on), never a traceback on Stash's log.
    """
    from plex.exceptions import ConfigurationError, PlexSyncError

    output = None
    try:
        return fn(context)
    except TaskError as exc:
        message, output = str(exc), exc.output
    except ConfigError as exc:
        message = str(exc)
    except StashError as exc:
        message = f"PlexSync lost Stash: {exc}"
    except ConfigurationError as exc:
        message = f"Fix the '{exc.setting}' setting: {exc}" if exc.setting else str(exc)
    except PlexSyncError as exc:
        message = f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # a bug: told once, short
        message = describe_unexpected(exc)
    log_error(message)
    raise TaskError(message, output=output) from None


def _check_reconcile_schedule(ctx: TaskContext) -> None:
    """Ask Stash for the automatic reconcile when it is due (bad settings: the task reports them)."""
    try:
        interval = ctx.config.reconcile_interval
    except ConfigError:
        return
    if interval != "off":
        from reconciliation.scheduler import maybe_request_reconcile

        try:
            # A read-only task on a fresh install has no folder yet; the scheduled
            # reconcile it may ask for writes there anyway.
            ensure_private_dir(ctx.data_dir)
        except OSError:
            return
        maybe_request_reconcile(ctx.stash, ctx.data_dir, interval)


def _check_watch_schedule(ctx: TaskContext) -> None:
    """Queue the scheduled watch-state pass when due, and ask for the drain that runs it."""
    try:
        interval = ctx.config.watch_interval
    except ConfigError:
        return
    if interval == "off":
        return
    from reconciliation.scheduler import maybe_queue_watch_state

    try:
        ensure_private_dir(ctx.data_dir)
    except OSError:
        return
    if maybe_queue_watch_state(ctx.data_dir, interval):
        from plugin.tasks_common import request_drain

        request_drain(ctx.stash, ctx.data_dir)


def handle_task(document: dict[str, Any]) -> int:
    """Run the task named by ``args.mode`` in the parsed stdin ``document``; returns the exit code."""
    route_warnings()
    try:
        plugin_input: PluginInput = validate_plugin_input(document)
    except InputError as exc:
        log_error(f"PlexSync: {exc}")
        return respond(error=str(exc))

    tasks = task_table()
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
        # Kept connections: a drain fetches a cover per scene (a TCP and TLS handshake each otherwise).
        stash = StashClient(StashConnection.from_server_connection(conn.model_dump())).keep_alive().with_api_key()
        settings = stash.plugin_settings()
    except StashError as exc:
        log_error(f"PlexSync cannot talk to Stash: {exc}")
        return respond(error=str(exc))

    args = {k: v for k, v in plugin_input.args.model_dump().items() if k not in ("mode", "hookContext")}
    try:
        context = make_context(stash, settings, args, stash_dir=conn.Dir, create=mode not in READ_ONLY_TASKS)
        record_hook_settings(conn.Dir, settings, context.data_dir, create=mode not in READ_ONLY_TASKS)
        if mode != "reconcile":  # a reconcile resets the schedule itself
            _check_reconcile_schedule(context)
        if mode not in ("process", "watch_state", "watch_state_dry_run"):  # these queue the pass themselves
            _check_watch_schedule(context)
        if mode != "process":    # a drain runs due jobs itself
            request_drain_if_due(context.stash, context.data_dir)
        try:
            output = run_task(tasks[mode], context)
        finally:
            # A damaged queue or DLQ found before or during this task: ask for the recovery.
            request_recovery(stash, context.data_dir)
    except TaskError as exc:
        return respond(output=exc.output, error=str(exc))
    return respond(output=output)
