"""The hook: record the work and get out of the way.

Stash's save does not return until this process exits, so it does the least that
keeps the change safe: validate stdin, read the few settings it needs from the
snapshot the tasks leave (``shared/hook_settings.py``; Stash is asked only when it is
missing or stale), insert one row into the queue, and — once per burst — ask Stash to
run the *Process queue* task. Standard library only; measured in ``bench/hook.py``.
"""

from __future__ import annotations

# Hook path: typing and dataclasses cost ~18 ms to import, so names used only in
# annotations are imported for type checkers alone.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from stash.client import StashClient

from plugin.protocol import respond
from shared.log import create_logger, set_verbose
from validation.hook_input import parse_hook_call
from validation.stash_input_errors import InputError

log_trace, log_debug, log_info, log_warn, log_error = create_logger("hook")


#: Input fields (SceneUpdateInput, and BulkSceneUpdateInput for bulk edits) whose
#: change can alter what Plex shows. A save that touches none of them — Stash's
#: player saving resume time and play duration, the o-counter — needs no sync.
SYNCED_INPUT_FIELDS = frozenset({
    "title", "code", "details", "director", "date", "rating100", "studio_id",
    "performer_ids", "tag_ids", "groups", "movies", "group_ids", "movie_ids",
    "cover_image", "primary_file_id",
})


def _load_sqlite_without_functools() -> None:
    """Import SQLite's C module the cheap way, for this one-shot process.

    ``_sqlite3`` imports ``functools`` (and with it ``collections``: ~5 ms, a sixth of
    a hook) only to wrap each connection's statement cache in ``lru_cache``. A hook runs
    three statements once, so it loads the module with a stand-in whose ``lru_cache``
    leaves the cache out (each statement is compiled when run), then removes the
    stand-in: a later ``import functools`` gets the real one. Tasks never come here.
    """
    import sys

    if "functools" in sys.modules or "_sqlite3" in sys.modules:
        return
    stand_in = type(sys)("functools")
    stand_in.lru_cache = lambda maxsize=128, typed=False: (lambda function: function)  # type: ignore[attr-defined]
    sys.modules["functools"] = stand_in
    try:
        import _sqlite3  # noqa: F401
    except ImportError:  # no such private module: shared.sqlite_files imports sqlite3
        pass
    finally:
        del sys.modules["functools"]


def _retry_due_in_default_folder(stash_dir: str | None) -> bool:
    """Whether the last drain left a job waiting to retry that is due now.

    Read before the settings, so only the default data folder is known here; a drain
    using another folder mirrors its marker there when that folder exists.
    """
    if not stash_dir:
        return False
    from shared.datadir import default_data_dir
    from worker.trigger import retry_due

    return retry_due(default_data_dir(stash_dir))


class _LazyStash:
    """A :class:`StashClient` built at its first use: most hooks of a burst send Stash
    nothing, and ``stash.client`` brings socket and json imports the hook can skip."""

    def __init__(self, server_connection: dict[str, Any]) -> None:
        self._conn = server_connection
        self._client: StashClient | None = None

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            from stash.client import StashClient, StashConnection

            self._client = StashClient(StashConnection.from_server_connection(self._conn), timeout=10.0)
        return getattr(self._client, name)


def _settings_from_stash(stash: StashClient, stash_dir: str | None) -> dict[str, Any]:
    """The plugin settings from Stash (no usable snapshot), saved as the hook's snapshot."""
    import os

    from shared.datadir import default_data_dir, resolve_data_dir
    from shared.hook_settings import save_hook_settings
    from stash.client import StashError

    try:
        settings: dict[str, Any] = stash.plugin_settings()
    except StashError as exc:
        # The job matters more than the setting: queue it in the default folder
        # (the drain adopts it) rather than lose the user's change.
        log_warn(f"Could not read PlexSync settings from Stash ({exc}); queueing in the default data folder")
        return {}
    if stash_dir:
        try:
            folder = resolve_data_dir(stash_dir, settings.get("data_dir"))
            # The default folder is made only when it is the data folder too (the tasks
            # make it otherwise): a hook leaves nothing beside a custom 'Data folder'.
            own = os.path.abspath(folder) == os.path.abspath(default_data_dir(stash_dir))
            save_hook_settings(stash_dir, settings, folder, create=own)
        except (OSError, ValueError) as exc:
            log_debug(f"Could not save the hook's settings snapshot: {exc}")
    return settings


def handle_hook(document: dict[str, Any]) -> int:
    """Run one hook invocation from the parsed stdin ``document``; returns the exit code."""
    try:
        call = parse_hook_call(document)
    except InputError as exc:
        log_error(f"PlexSync hook ignored: {exc}")
        return respond(error=str(exc))

    nothing_to_sync = False
    if call.input_fields is not None and call.hook_type.endswith(".Update.Post"):
        if not SYNCED_INPUT_FIELDS.intersection(call.input_fields):
            # Frequent (playback saves activity): answer before loading anything else,
            # and say nothing, since the 'Debug logging' setting is not known yet —
            # unless a job left waiting to retry is due (one stat): then ask for a drain.
            if not _retry_due_in_default_folder(call.stash_dir):
                return respond(output="nothing to sync")
            nothing_to_sync = True

    # Imported only now: the save above needs none of this (~10 ms).
    _load_sqlite_without_functools()
    from plugin.tasks_common import request_drain, request_recovery
    from shared.datadir import ensure_private_dir, resolve_data_dir
    from shared.hook_settings import load_hook_settings
    from worker.jobs import new_job
    from worker.queue import enqueue

    stash: StashClient = _LazyStash(call.server_connection)  # type: ignore[assignment]  # quacks alike
    # Steady state: the snapshot the last task left, no request to Stash.
    settings = load_hook_settings(call.stash_dir)
    if settings is None:
        settings = _settings_from_stash(stash, call.stash_dir)
    set_verbose(bool(settings.get("debug_logging")))

    if nothing_to_sync:
        from plugin.tasks_common import request_drain_if_due

        try:
            data_dir = resolve_data_dir(call.stash_dir, settings.get("data_dir"))
        except ValueError:
            return respond(output="nothing to sync")
        request_drain_if_due(stash, data_dir)
        return respond(output="nothing to sync")

    try:
        data_dir = ensure_private_dir(resolve_data_dir(call.stash_dir, settings.get("data_dir")))
        enqueue(data_dir, new_job(call.scene_id, call.hook_type, {"input_fields": list(call.input_fields or [])}))
    except (OSError, ValueError) as exc:
        log_error(f"Scene {call.scene_id}: could not queue the sync: {exc}")
        return respond(error=f"could not queue scene {call.scene_id}: {exc}")
    log_debug(f"Scene {call.scene_id}: queued ({call.hook_type})")

    if str(settings.get("watch_interval") or "off").strip().lower() != "off":
        from reconciliation.scheduler import maybe_queue_watch_state

        maybe_queue_watch_state(data_dir, settings.get("watch_interval"))  # the drain asked for below runs it
    request_drain(stash, data_dir)
    request_recovery(stash, data_dir)
    interval = str(settings.get("reconcile_interval") or "off").strip().lower()
    if interval != "off":  # unknown values count as off in the scheduler
        from reconciliation.scheduler import maybe_request_reconcile

        maybe_request_reconcile(stash, data_dir, interval)
    return respond(output="queued")
