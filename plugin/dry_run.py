"""*Process queue* as a dry run: what each queued scene would change in Plex.

Runs the real sync (:class:`worker.sync.SceneSync`: fetch the scene, desired
metadata, match, load the item, :func:`plex.diff.edit_params`) against a Plex
connection that reads but only records its writes, and a sync state that is read
but never written. So the plan is exactly what *Process queue* would send, and
nothing changes: no edit, no poster upload, no scan request; the queue, the
dead-letter queue and the record of past syncs are left as they are. (Paths Plex
reports may be added to the local path cache, which only saves requests later.)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence
from urllib.parse import unquote

from plex.client import PlexConnection
from plex.diff import EditParams, request_changes
from plex.exceptions import ConfigurationError, PlexUnreachable, RateLimited, StashUnavailable
from plex.item_state import PlexItemState
from plex.media_types import FIELD_LABELS, POSTER_FIELD
from plugin.context import TaskContext
from plugin.protocol import TaskError
from shared.log import create_logger, log_progress
from stash.client import StashClient
from worker.jobs import due_at, is_due
from worker.queue import pending_jobs
from worker.sync import BULK_INDEX_THRESHOLD, SceneSync
from worker.sync_state import SyncRecord, SyncRecords

log_trace, log_debug, log_info, log_warn, log_error = create_logger("dry-run")

#: Longest value shown in a change line; a summary can be pages long.
MAX_SHOWN = 80
#: Errors that stop (or, for a 429, pause) a real drain with every job kept: no scene's
#: fault, so no point planning the rest.
STOPPING_ERRORS = (ConfigurationError, PlexUnreachable, StashUnavailable, RateLimited)


class RecordingPlex:
    """A Plex connection that reads for real and records edits, uploads and scans."""

    def __init__(self, plex: PlexConnection) -> None:
        self._plex = plex
        #: rating key → the edit parameters that would be sent.
        self.edits: dict[str, dict[str, Any]] = {}
        #: rating keys that would get the scene cover as poster.
        self.posters: set[str] = set()
        #: folders Plex would be asked to scan.
        self.scans: list[str] = []
        #: rating key → the item as loaded (what Plex shows now).
        self.loaded: dict[str, PlexItemState] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._plex, name)

    def load_item(self, rating_key: str) -> PlexItemState:
        state = self._plex.load_item(rating_key)
        self.loaded[str(rating_key)] = state
        return state

    def load_items(self, rating_keys: Sequence[str]) -> dict[str, PlexItemState]:
        states = self._plex.load_items(rating_keys)
        self.loaded.update(states)
        return states

    def send_edit(self, section_id: str, request: EditParams) -> None:
        self.edits[str(request["id"])] = request_changes(request)

    def upload_poster(self, rating_key: str, image: bytes) -> None:
        self.posters.add(str(rating_key))

    def scan(self, section_id: str, folder: str) -> None:
        self.scans.append(folder)


class TitleNotingStash:
    """The Stash client, noting each fetched scene's title for the report."""

    def __init__(self, stash: StashClient) -> None:
        self._stash = stash
        self.titles: dict[int, str] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stash, name)

    def find_scene(self, scene_id: int | str) -> dict[str, Any] | None:
        scene = self._stash.find_scene(scene_id)
        if scene:
            self.titles[int(scene_id)] = str(scene.get("title") or "")
        return scene

    def find_scenes_by_id(self, scene_ids: Sequence[int]) -> list[dict[str, Any]]:
        scenes = self._stash.find_scenes_by_id(scene_ids)
        for scene in scenes:
            self.titles[int(scene["id"])] = str(scene.get("title") or "")
        return scenes


class ReadOnlyState:
    """The record of past syncs, read but never written: every read goes to the real
    store, the writes (``put``, ``forget``) do nothing."""

    def __init__(self, state: SyncRecords) -> None:
        self._state = state

    def __getattr__(self, name: str) -> Any:
        return getattr(self._state, name)

    def put(self, record: SyncRecord) -> None:
        pass

    def forget(self, scene_id: int) -> None:
        pass

    def close(self) -> None:
        self._state.close()


@dataclass
class PlannedScene:
    """What syncing one queued scene would do."""

    scene_id: int
    outcome: str                      # would_write / in_step / unchanged / would_fail
    title: str = ""
    rating_key: str | None = None
    changes: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    poster: bool = False
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"scene_id": self.scene_id, "title": self.title, "outcome": self.outcome,
                "rating_key": self.rating_key,
                "changes": self.changes, "params": self.params, "poster": self.poster, "error": self.error}


def _shown(value: Any) -> str:
    text = str(value)
    if len(text) > MAX_SHOWN:
        text = text[: MAX_SHOWN - 1] + "…"
    return repr(text)


def _same_text(have: Any, wanted: Any) -> bool:
    if str(have) == str(wanted):
        return True
    try:
        return float(have) == float(wanted)  # "2020" and "2020.0", ratings
    except (TypeError, ValueError):
        return False


def _names(values: Any) -> str:
    return ", ".join(values) if values else "(none)"


def describe_changes(params: dict[str, Any], current: PlexItemState | None) -> list[str]:
    """Human lines for one edit: ``title: 'old' → 'new'``, lists, and fields only locked."""
    scalars = current.scalars if current else {}
    tags = current.tags if current else {}
    lines: list[str] = []
    changed: set[str] = set()
    new_lists: dict[str, list[tuple[int, str]]] = {}
    for key, value in params.items():
        name, _, rest = key.partition(".")
        if rest == "value":
            have = scalars.get(name, "")
            if _same_text(have, value):
                continue  # sent only to lock the field: listed with the locks below
            changed.add(name)
            lines.append(f"{FIELD_LABELS.get(name, name)}: {_shown(have)} → {_shown(value)}")
        elif key.endswith("].tag.tag"):
            kind, _, index = name.partition("[")
            new_lists.setdefault(kind, []).append((int(index.rstrip("]") or 0), str(value)))
        elif key.endswith("[].tag.tag-"):
            kind = name.partition("[")[0]
            changed.add(kind)
            removed = [unquote(v) for v in str(value).split(",") if v]
            lines.append(f"{FIELD_LABELS.get(kind, kind)}: {_names(removed)} → (none)")
    for kind, entries in new_lists.items():
        changed.add(kind)
        wanted = [name for _, name in sorted(entries)]
        lines.append(f"{FIELD_LABELS.get(kind, kind)}: {_names(tags.get(kind, ()))} → {_names(wanted)}")
    locked_only = sorted(key.partition(".")[0] for key, value in params.items()
                         if key.endswith(".locked") and key.partition(".")[0] not in changed
                         and key != f"{POSTER_FIELD}.locked")
    if locked_only:
        lines.append("lock against Plex agents: " + ", ".join(FIELD_LABELS.get(n, n) for n in locked_only))
    return lines


def _queued_scenes(data_dir: str) -> list[tuple[int, dict[str, Any]]]:
    """Each queued scene once (its newest job), oldest first."""
    latest: dict[int, dict[str, Any]] = {}
    for job in pending_jobs(data_dir):
        try:
            scene_id = int(job["scene_id"])
        except (KeyError, TypeError, ValueError):
            continue
        latest.pop(scene_id, None)
        latest[scene_id] = job
    return list(latest.items())


def plan_scene(sync: SceneSync, plex: RecordingPlex, stash: TitleNotingStash, scene_id: int,
               job: dict[str, Any]) -> PlannedScene:
    """Run ``sync`` (a :class:`SceneSync` on the recording wrappers) for one job; describe it.

    Raises the errors that would stop a real drain (a setting to fix, Plex down).
    """
    plex.edits.clear()
    plex.posters.clear()
    plex.loaded.clear()
    try:
        result = sync(job)
    except STOPPING_ERRORS:
        raise
    except Exception as exc:  # noqa: BLE001 - the real drain dead-letters these under their type
        return PlannedScene(scene_id, "would_fail", title=stash.titles.get(scene_id, ""),
                            error=f"{type(exc).__name__}: {exc}")
    title = stash.titles.get(scene_id, "")
    if result == "unchanged":
        record = sync.state.get(scene_id)
        return PlannedScene(scene_id, "unchanged", title, rating_key=record.rating_key if record else None)
    # After a stale cache entry the sync loads a second item: the last one loaded is the match.
    rating_key = next(iter(plex.edits), None) or next(iter(plex.posters), None) or \
        (list(plex.loaded)[-1] if plex.loaded else None)
    params = plex.edits.get(rating_key or "", {})
    poster = bool(rating_key and rating_key in plex.posters)
    changes = describe_changes(params, plex.loaded.get(rating_key or ""))
    if poster:
        changes.append("poster: upload the scene's cover")
    return PlannedScene(scene_id, "would_write" if params or poster else "in_step", title, rating_key=rating_key,
                        changes=changes, params=params, poster=poster)


def _log_planned(planned: PlannedScene, job: dict[str, Any]) -> None:
    label = f"Scene {planned.scene_id}" + (f" '{planned.title}'" if planned.title else "")
    due = due_at(job)
    waiting = f" (retry {job.get('retry_count', 0)}, due {time.strftime('%H:%M:%S', time.localtime(due))})" \
        if not is_due(job, time.time()) else ""
    if planned.outcome == "would_write":
        count = len(planned.changes)
        log_info(f"{label}{waiting} → Plex item {planned.rating_key}: would change {count} "
                 f"thing{'' if count == 1 else 's'}")
        for line in planned.changes:
            log_info(f"    {line}")
    elif planned.outcome == "in_step":
        log_info(f"{label}{waiting} → Plex item {planned.rating_key}: already shows this; nothing to write")
    elif planned.outcome == "unchanged":
        log_info(f"{label}{waiting} → Plex item {planned.rating_key}: unchanged since its last sync; nothing to write")
    else:
        log_info(f"{label}{waiting}: would fail: {planned.error}")


def run(ctx: TaskContext) -> dict[str, Any]:
    """Show what *Process queue* would change in Plex for every queued scene, writing nothing."""
    queued = _queued_scenes(ctx.data_dir)
    if not queued:
        log_info("Dry run: the queue is empty; nothing would be synced.")
        return {"dry_run": True, "queued": 0, "scenes": [], "counts": {}}
    log_info(f"Dry run: {len(queued)} queued scene(s); nothing is written to Plex and the queue is left as it is.")
    # Never ask Plex to scan in a dry run (the scan request is a write of sorts).
    config = ctx.config.model_copy(update={"trigger_plex_scan": False})
    plex = RecordingPlex(PlexConnection(config))
    stash = TitleNotingStash(ctx.stash)
    sync = SceneSync(config, stash, ctx.data_dir, plex=plex)
    sync.state = ReadOnlyState(sync.state)
    planned: list[PlannedScene] = []
    try:
        if len(queued) >= BULK_INDEX_THRESHOLD:
            sync.refresh_index()  # as the real drain does: list each section once (reads only)
        for done, (scene_id, job) in enumerate(queued):
            item = plan_scene(sync, plex, stash, scene_id, job)
            planned.append(item)
            _log_planned(item, job)
            log_progress((done + 1) / len(queued))
    except RateLimited as exc:
        wait = f" for {exc.retry_after:.0f}s" if exc.retry_after else ""
        raise TaskError(f"Dry run stopped: Plex asked PlexSync to slow down (HTTP 429). Process queue would pause"
                        f"{wait} here and carry on, keeping every job; run the dry run again later") from None
    except STOPPING_ERRORS as exc:
        raise TaskError(f"Dry run stopped: {exc} (Process queue would stop here too, keeping every job)") from None
    finally:
        sync.close()
    counts: dict[str, int] = {}
    for item in planned:
        counts[item.outcome] = counts.get(item.outcome, 0) + 1
    summary = ", ".join(f"{count} {outcome.replace('_', ' ')}" for outcome, count in counts.items())
    log_info(f"Dry run: {summary}. Nothing was written.")
    return {"dry_run": True, "queued": len(queued), "counts": counts, "scenes": [p.as_dict() for p in planned]}
