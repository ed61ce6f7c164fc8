"""The operations behind the Plex panel in Stash's UI (``ui/plexsync.js``).

Stash's UI calls them with ``runPluginOperation(plugin_id: "plexsync", args: {mode, ...})``:
the plugin runs at once, outside Stash's job queue, and its ``output`` is the answer
(its ``error`` becomes a GraphQL error). They go through the task table like every
task, so bad input, bad settings and unexpected errors are told the same way.

* ``ui_scene`` (``scene_id``; ``compare: "true"`` adds a dry-run diff): the scene's
  state (:func:`worker.scene_status.panel_state`), the Plex item it was written to
  (library, title, file, play count, resume point), the Open-in-Plex link.
* ``ui_sync_now`` (``scene_id``): queue the scene and, unless a drain runs or many jobs
  wait before it, drain now; answers what it did and the scene's new state.
* ``ui_status``: the status card: Plex reachable, breaker, queue and DLQ counts, last
  drain (the *Status* task's facts, :func:`plugin.status.local_health`).

Reads never import plexapi (``plex/probe.py``); only *compare* and *Sync now* do. The
Plex token never leaves the process: links carry the server's machine identifier.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from plex.exceptions import ConfigurationError, PlexSyncError
from plex.probe import PlexProbe, item_web_url
from plugin.context import TaskContext
from plugin.protocol import TaskError
from plugin.status import breaker_summary, local_health, queue_summary
from shared.defaults import UI_SYNC_NOW_MAX_AHEAD
from shared.log import create_logger
from validation.config import ConfigError, PlexSyncConfig
from validation.hook_input import MAX_ID, whole_number
from worker.circuit_breaker import CircuitState
from worker.lock import drain_running
from worker.scene_status import (
    DEAD_LETTERED,
    MATCHED,
    RETRY_WAITING,
    UNMATCHED,
    SceneStatus,
    panel_state,
    read_scene_status,
)

if TYPE_CHECKING:
    from worker.sync_state import SyncRecord

log_trace, log_debug, log_info, log_warn, log_error = create_logger("ui")

#: What *Sync now* did (the ``action`` of its answer), decided by :func:`sync_now_plan`.
SYNC_HERE = "synced_here"
QUEUED_FOR_RUNNING_DRAIN = "queued_for_running_drain"
QUEUED_BEHIND_JOBS = "queued_behind_jobs"
SYNC_NOW_UPDATE_TYPE = "UI.SyncNow"
_TRUE = {"true", "1", "yes", "on"}


def scene_id_arg(args: dict[str, Any]) -> int:
    """The ``scene_id`` argument as a positive whole number; :class:`TaskError` otherwise."""
    value = args.get("scene_id")
    number = whole_number(value)
    if number is None or not 0 < number <= MAX_ID:
        shown = repr(value)[:40]
        raise TaskError(f"invalid args.scene_id: expected a scene id (a whole number above 0), not {shown}")
    return number


def sync_now_plan(drain_is_running: bool, ready_ahead: int, max_ahead: int = UI_SYNC_NOW_MAX_AHEAD) -> str:
    """What *Sync now* does once the scene's job is queued: leave it to the drain that runs
    (one drainer at a time), leave it to a background drain when many jobs are ahead of
    it (the page would wait for all of them), else drain here and now."""
    if drain_is_running:
        return QUEUED_FOR_RUNNING_DRAIN
    if ready_ahead > max_ahead:
        return QUEUED_BEHIND_JOBS
    return SYNC_HERE


# ---------------------------------------------------------------------------- Plex side


def _config(ctx: TaskContext, answer: dict[str, Any]) -> PlexSyncConfig | None:
    try:
        return ctx.config
    except ConfigError as exc:
        answer["config_error"] = str(exc)
        return None


def _plex_error(exc: PlexSyncError) -> dict[str, Any]:
    error: dict[str, Any] = {"reachable": False, "error": str(exc), "error_type": type(exc).__name__}
    if isinstance(exc, ConfigurationError) and exc.setting:
        error["setting"] = exc.setting
    return error


def _breaker_open(health_breaker: dict[str, Any]) -> dict[str, Any] | None:
    """Plex is failing (the breaker is open): don't wait on it from a page view."""
    if health_breaker.get("state") != CircuitState.OPEN.value:
        return None
    when = health_breaker.get("half_opens_at")
    retry = f"; PlexSync tries again after {time.strftime('%H:%M:%S', time.localtime(when))}" if when else ""
    return {"reachable": False, "error_type": "CircuitOpen",
            "error": f"Plex failed repeatedly, so PlexSync paused (circuit breaker open){retry}"}


def _probe(config: PlexSyncConfig, rating_key: str | None, answer: dict[str, Any]) -> None:
    """Fill ``plex`` (reachable and who, or the error) and, for a rating key, ``item``,
    ``open_url`` and ``watch`` from Plex."""
    probe = PlexProbe(config)
    try:
        server = probe.identity()
        answer["plex"] = {"reachable": True, "name": server.name, "version": server.version,
                          "latency_ms": server.latency_ms}
        if rating_key is not None:
            item = probe.item(rating_key)
            answer["item"] = item.as_dict() if item is not None else None
            answer["item_missing"] = item is None
            if item is not None:
                answer["open_url"] = item_web_url(server.machine_identifier, item.rating_key)
                if config.watch_pull or config.watch_push:
                    answer["watch"] = {"view_count": item.view_count, "view_offset_ms": item.view_offset_ms,
                                       "duration_ms": item.duration_ms}
    except PlexSyncError as exc:
        answer["plex"] = _plex_error(exc)
    finally:
        probe.close()


def _compare(ctx: TaskContext, config: PlexSyncConfig, scene_id: int) -> dict[str, Any]:
    """What a sync of the scene would change in Plex right now (the dry run's plan, for
    one scene; its last-sync fingerprint is ignored, so edits made in Plex show too)."""
    from plex.client import PlexConnection
    from plugin.dry_run import ReadOnlyState, RecordingPlex, TitleNotingStash, plan_scene
    from worker.jobs import new_job
    from worker.sync import SceneSync

    dry_config = config.model_copy(update={"trigger_plex_scan": False})
    plex = RecordingPlex(PlexConnection(dry_config))
    stash = TitleNotingStash(ctx.stash)
    sync = SceneSync(dry_config, stash, ctx.data_dir, plex=plex)
    sync.state = _ForgetFingerprint(ReadOnlyState(sync.state))
    try:
        planned = plan_scene(sync, plex, stash, scene_id, new_job(scene_id, SYNC_NOW_UPDATE_TYPE, {}))
    except PlexSyncError as exc:
        return {"error": str(exc), "error_type": type(exc).__name__}
    finally:
        sync.close()
    return planned.as_dict()


class _ForgetFingerprint:
    """The record of past syncs with each scene's fingerprint blanked, so the plan always
    loads the item and compares it field by field."""

    def __init__(self, state: Any) -> None:
        self._state = state

    def __getattr__(self, name: str) -> Any:
        return getattr(self._state, name)

    def get(self, scene_id: int) -> SyncRecord | None:
        record = self._state.get(scene_id)
        return replace(record, fingerprint="") if record is not None else None


# ---------------------------------------------------------------------------- operations


def _scene_answer(ctx: TaskContext, scene_id: int, status: SceneStatus, breaker: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = {**status.as_dict(), "state": panel_state(status), "now": time.time()}
    config = _config(ctx, answer)
    if config is None:
        return answer
    answer["watch_configured"] = bool(config.watch_pull or config.watch_push)
    stopped = _breaker_open(breaker)
    if stopped is not None:
        answer["plex"] = stopped
    else:
        _probe(config, status.rating_key, answer)
    if str(ctx.args.get("compare", "")).strip().lower() in _TRUE and answer.get("plex", {}).get("reachable"):
        answer["compare"] = _compare(ctx, config, scene_id)
    return answer


def scene(ctx: TaskContext) -> dict[str, Any]:
    """``ui_scene``: everything the scene panel shows for ``args.scene_id``."""
    scene_id = scene_id_arg(ctx.args)
    status = read_scene_status(ctx.data_dir, scene_id)
    return _scene_answer(ctx, scene_id, status, breaker_summary(ctx.data_dir))


def sync_now(ctx: TaskContext) -> dict[str, Any]:
    """``ui_sync_now``: queue the scene, then sync it here unless another drain has the
    queue or too many jobs wait before it; answers ``action``, ``message`` and ``scene``."""
    scene_id = scene_id_arg(ctx.args)
    config = ctx.config   # bad settings: told (ConfigError) before anything is queued
    from plugin.tasks_common import PROCESS_TASK, request_drain
    from worker.jobs import new_job
    from worker.queue import enqueue

    enqueue(ctx.data_dir, new_job(scene_id, SYNC_NOW_UPDATE_TYPE, {"reason": "Sync now on the scene page"}))
    ready_ahead = max(queue_summary(ctx.data_dir)["ready"] - 1, 0)
    action = sync_now_plan(drain_running(ctx.data_dir), ready_ahead)
    problem = None
    if action == SYNC_HERE:
        from plugin import process

        drain_ctx = TaskContext(stash=ctx.stash, settings=ctx.settings, data_dir=ctx.data_dir,
                                args={"linger": "0", "max_wait": "0"}, stash_dir=ctx.stash_dir,
                                _config=config)
        try:
            report = process.run(drain_ctx)
        except TaskError as exc:   # the drain stopped (a setting, Plex down): the job is kept
            problem = str(exc)
        else:
            if report.get("skipped"):   # a drain started meanwhile: it takes the job
                action = QUEUED_FOR_RUNNING_DRAIN
    elif action == QUEUED_BEHIND_JOBS:
        request_drain(ctx.stash, ctx.data_dir)
    status = read_scene_status(ctx.data_dir, scene_id)
    messages = {
        SYNC_HERE: f"Sync stopped: {problem}" if problem else synced_here_message(status),
        QUEUED_FOR_RUNNING_DRAIN: "A sync is running; the scene is queued and that sync takes it.",
        QUEUED_BEHIND_JOBS: f"{ready_ahead} scenes are queued before this one; it is queued and "
                            f"'{PROCESS_TASK}' was asked to run in the background.",
    }
    log_info(f"Sync now, scene {scene_id}: {messages[action]}")
    answer = _scene_answer(ctx, scene_id, status, breaker_summary(ctx.data_dir))
    return {"action": action, "message": messages[action], "problem": problem, "scene": answer}


def synced_here_message(status: SceneStatus) -> str:
    """What a drain run by *Sync now* did for the scene, from where the scene stands after it."""
    state = panel_state(status)
    if state == MATCHED:
        return "Synced now."
    if state == DEAD_LETTERED and status.dead_letter is not None:
        return f"The sync failed: {status.dead_letter['error_type']}: {status.dead_letter['message']}"
    if state == UNMATCHED:
        return f"Not synced: {status.miss}"
    if state == RETRY_WAITING and status.queued is not None:
        return f"The sync failed ({status.queued['last_error_type']}); it is tried again later."
    return "Not synced yet: the scene is still queued."


def status(ctx: TaskContext) -> dict[str, Any]:
    """``ui_status``: the status card (the *Status* task's facts, without library sizes)."""
    answer: dict[str, Any] = {"data_dir": ctx.data_dir, "now": time.time()}
    config = _config(ctx, answer)
    if os.path.isdir(ctx.data_dir):
        answer.update(local_health(ctx.data_dir))
        answer["drain_running"] = drain_running(ctx.data_dir)
    else:
        answer["no_data"] = True
    if config is not None:
        stopped = _breaker_open(answer.get("breaker") or {})
        if stopped is not None:
            answer["plex"] = stopped
        else:
            _probe(config, None, answer)
    return answer
