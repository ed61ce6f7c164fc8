"""The Stash emulator's in-memory library: scenes, files, studios, performers, tags,
groups, plugin settings and queued plugin tasks.

Records are plain dicts shaped like the GraphQL types, so graphql-core's default
resolvers read them directly; keys starting with "_" are internal (links by id), and
stash_graphql.py resolves those. Links are by id, so renaming a tag, performer or
studio shows on every scene at once and leaves the scenes' updated_at alone, as in
Stash, where such renames fire no scene hook.
"""

from __future__ import annotations

import base64
import binascii
import copy
import functools
import gc
import hashlib
import itertools
import json
import re
import threading
from collections import OrderedDict
from datetime import datetime, timedelta, tzinfo
from typing import Callable, Iterable

from sandbox import stash_plays, stash_query
from sandbox.stash_media import jpeg_bytes

KINDS = ("studio", "performer", "tag", "group")
_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
_SCENE_FIELDS = frozenset({
    "title", "files", "studio_id", "performer_ids", "tag_ids", "group_ids", "date", "details",
    "code", "director", "rating100", "urls", "organized", "created_at", "updated_at",
})
_UPDATE_FIELDS = frozenset({
    "title", "code", "details", "director", "urls", "date", "rating100", "organized",
    "studio_id", "performer_ids", "tag_ids", "groups", "cover_image",
})
COVER_SIZE = (160, 90)


@functools.lru_cache(maxsize=20_000)
def _cover_jpeg(sid: str, version: int) -> bytes:
    """A scene's generated cover: made once per version (Stash serves a file; encoding it
    again on every request made the emulator, not the plugin, a bench's bottleneck)."""
    width, height = COVER_SIZE
    return jpeg_bytes(f"scene-{sid}-cover-{version}", width=width, height=height,
                      comment=f"PlexSync sandbox Stash: scene {sid}, cover {version}")


class StashError(ValueError):
    """A request Stash would refuse; the message is returned as the GraphQL error."""


def format_time(moment: datetime, tz: tzinfo) -> str:
    """Stash's Time text: RFC3339 in the server's offset, whole seconds, "Z" for +00:00.

    A naive datetime is taken to be in the server's offset already.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    text = moment.astimezone(tz).replace(microsecond=0).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _int_id(value, what: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise StashError(f"{what}: strconv.Atoi: parsing {str(value)!r}: invalid syntax") from None


class StashStore:
    """All of the emulator's state, guarded by one re-entrant lock (`lock`)."""

    def __init__(self, now: Callable[[], datetime], tz: tzinfo) -> None:
        self._now = now
        self.tz = tz
        self.lock = threading.RLock()
        self.scenes: dict[int, dict] = {}
        self.files: dict[int, dict] = {}
        self.entities: dict[str, dict[int, dict]] = {kind: {} for kind in KINDS}
        self._ids = {kind: itertools.count(1) for kind in (*KINDS, "scene", "file", "job")}
        self.plugin_config: dict[str, dict] = {}
        self.task_requests: list[dict] = []
        # Stash's job queue as ``jobQueue`` lists it: job id -> Job (queued READY, the
        # running one RUNNING); a finished job leaves it, as in Stash's job manager.
        self.jobs: OrderedDict[str, dict] = OrderedDict()
        self.generation = 0  # bumped by every change that can alter a listing
        # The plugin hooks real Stash would fire for the GraphQL mutations served so far
        # (sceneUpdate: Scene.Update.Post). Play and activity mutations fire none.
        self.hook_triggers: list[dict] = []
        self._listings: OrderedDict[tuple, list[int]] = OrderedDict()

    # ---- time -------------------------------------------------------------------
    def now_text(self, delta: timedelta = timedelta()) -> str:
        """The server's current time (+ delta) as Stash's Time text."""
        return format_time(self._now() + delta, self.tz)

    def _stamp(self, override=None) -> tuple[str, int]:
        """(text, unix seconds) for `override` (datetime or Stash time text) or now."""
        if isinstance(override, str):
            return override, int(datetime.fromisoformat(override).timestamp())
        moment = override if override is not None else self._now()
        text = format_time(moment, self.tz)
        return text, int(datetime.fromisoformat(text).timestamp())

    # ---- studios, performers, tags, groups ---------------------------------------
    def add_entity(self, kind: str, name: str, **extra) -> str:
        with self.lock:
            new_id = next(self._ids[kind])
            text, _ = self._stamp()
            record = {"id": str(new_id), "name": name, "created_at": text, "updated_at": text, **extra}
            self.entities[kind][new_id] = record
            return record["id"]

    def rename_entity(self, kind: str, entity_id, name: str) -> None:
        with self.lock:
            record = self._entity(kind, entity_id)
            record["name"] = name
            record["updated_at"], _ = self._stamp()
            self.generation += 1

    def entity(self, kind: str, entity_id) -> dict | None:
        try:
            return self.entities[kind].get(int(entity_id))
        except (TypeError, ValueError):
            return None

    def _entity(self, kind: str, entity_id) -> dict:
        record = self.entity(kind, entity_id)
        if record is None:
            raise StashError(f"{kind} with id {entity_id} not found")
        return record

    def _entity_ids(self, kind: str, ids: Iterable) -> list[int]:
        out: list[int] = []
        for raw in ids or ():
            value = _int_id(raw, f"converting {kind} ids")
            if value not in self.entities[kind]:
                raise StashError(f"{kind} with id {value} not found")
            if value not in out:
                out.append(value)
        return out

    # ---- scenes -------------------------------------------------------------------
    def add_scenes(self, specs: Iterable[dict]) -> list[str]:
        """Create scenes from add_scene-style dicts; one timestamp for the whole batch."""
        with self.lock:
            now = self._stamp()
            collecting = gc.isenabled()
            gc.disable()  # millions of small dicts: the cyclic GC would triple the time
            try:
                ids = [self._add_scene(dict(spec), now) for spec in specs]
            finally:
                if collecting:
                    gc.enable()
            self.generation += 1
            return ids

    def _add_scene(self, spec: dict, now: tuple[str, int]) -> str:
        unknown = set(spec) - _SCENE_FIELDS
        if unknown:
            raise TypeError(f"unknown scene fields: {sorted(unknown)}")
        scene_id = next(self._ids["scene"])
        created = self._stamp(spec["created_at"]) if spec.get("created_at") is not None else now
        updated = self._stamp(spec["updated_at"]) if spec.get("updated_at") is not None else created
        record = {
            "id": str(scene_id), "_id": scene_id,
            "title": "", "code": "", "details": "", "director": "", "urls": [], "date": None,
            "rating100": None, "organized": False, "o_counter": 0, "interactive": False,
            "stash_ids": [], "created_at": created[0],
            "updated_at": updated[0], "_updated_unix": updated[1],
            "_studio": None, "_performers": [], "_tags": [], "_groups": [], "_files": [],
            "_cover": 0, "_cover_bytes": None, **stash_plays.new_activity(),
        }
        changes = {k: v for k, v in spec.items() if k not in ("files", "created_at", "updated_at", "group_ids")}
        if spec.get("group_ids"):
            changes["groups"] = groups_input(spec["group_ids"])
        self._apply(record, changes)
        record["_files"] = [self._new_file(f, created[0]) for f in spec.get("files") or ()]
        self.scenes[scene_id] = record
        return record["id"]

    def _new_file(self, spec, stamp: str) -> int:
        if isinstance(spec, str):
            spec = {"path": spec}
        file_id = next(self._ids["file"])
        path = spec["path"]
        digest = int.from_bytes(hashlib.blake2b(path.encode(), digest_size=8).digest(), "big")
        size = int(spec.get("size", 100_000_000 + digest % 3_900_000_000))
        duration = float(spec.get("duration", 300 + (digest >> 40) % 3300))
        self.files[file_id] = {
            "id": str(file_id), "path": path, "basename": path[max(path.rfind("/"), path.rfind("\\")) + 1:],
            "size": size, "duration": duration, "format": spec.get("format", "mp4"),
            "width": spec.get("width", 1920), "height": spec.get("height", 1080),
            "video_codec": spec.get("video_codec", "h264"), "audio_codec": spec.get("audio_codec", "aac"),
            "frame_rate": spec.get("frame_rate", 29.97), "bit_rate": int(size * 8 / max(duration, 1.0)),
            "mod_time": stamp, "created_at": stamp, "updated_at": stamp,
            "fingerprints": [{"type": "oshash", "value": f"{digest:016x}"}],
        }
        return file_id

    def update_scene(self, scene_id, changes: dict) -> dict:
        """Apply SceneUpdateInput-style `changes` and bump updated_at, like sceneUpdate."""
        with self.lock:
            record = self._scene(scene_id)
            unknown = set(changes) - _UPDATE_FIELDS - {"id", "clientMutationId"}
            if unknown:
                raise TypeError(f"unknown scene update fields: {sorted(unknown)}")
            trial = dict(record)
            self._apply(trial, {k: v for k, v in changes.items() if k not in ("id", "clientMutationId")})
            record.update(trial)
            record["updated_at"], record["_updated_unix"] = self._stamp()
            self.generation += 1
            return record

    def _apply(self, record: dict, changes: dict) -> None:
        """Validate and apply changes; input null clears a field (strings become "")."""
        for key, value in changes.items():
            if key in ("title", "code", "details", "director"):
                record[key] = value or ""
                record.pop("_tiebreak", None)
            elif key == "urls":
                record["urls"] = list(value or [])
            elif key == "date":
                if value and not _DATE.match(value):
                    raise StashError(f"invalid date: {value}")
                record["date"] = value or None
            elif key == "rating100":
                record["rating100"] = None if value is None else int(value)
            elif key == "organized":
                record["organized"] = bool(value)
            elif key == "studio_id":
                record["_studio"] = None if value is None else self._entity_ids("studio", [value])[0]
            elif key == "performer_ids":
                record["_performers"] = self._entity_ids("performer", value)
            elif key == "tag_ids":
                record["_tags"] = self._entity_ids("tag", value)
            elif key == "groups":
                entries = value or []
                group_ids = self._entity_ids("group", [g["group_id"] for g in entries])
                index = {_int_id(g["group_id"], "group id"): g.get("scene_index") for g in entries}
                record["_groups"] = [(gid, index[gid]) for gid in group_ids]
            elif key == "cover_image":
                if value:
                    record["_cover"] = record["_cover"] + 1
                    record["_cover_bytes"] = _decode_data_url(value)
            else:
                raise TypeError(f"unknown scene field {key!r}")

    # ---- plays and activity (no updated_at, no hook: as in Stash) --------------------
    def add_plays(self, scene_id, times: Iterable | None = None) -> list[int]:
        """sceneAddPlay: one play per time (epoch seconds, datetime or Stash time text),
        now when none; returns the history, newest first. Not idempotent."""
        with self.lock:
            record = self.get_scene(scene_id)
            if record is None:
                # Stash inserts into the history table and trips its foreign key.
                raise StashError("inserting into scenes_view_dates: FOREIGN KEY constraint failed")
            stamps = [self.epoch(t) for t in times or ()] or [self.epoch(None)]
            stash_plays.add_plays(record, stamps)
            self.generation += 1
            return stash_plays.history(record)

    def delete_plays(self, scene_id, times: Iterable | None = None) -> list[int]:
        """sceneDeletePlay: remove one play per exactly matching time, or the newest when
        none are given; returns the history left. An unknown scene is no error in Stash."""
        with self.lock:
            record = self.get_scene(scene_id)
            if record is None:
                return []
            stash_plays.delete_plays(record, [self.epoch(t) for t in times or ()])
            self.generation += 1
            return stash_plays.history(record)

    def reset_plays(self, scene_id) -> int:
        """sceneResetPlayCount: forget every play; returns the new count (0)."""
        with self.lock:
            record = self.get_scene(scene_id)
            if record is not None:
                record["_plays"].clear()
                self.generation += 1
            return 0

    def save_activity(self, scene_id, resume_time: float | None, play_duration: float | None) -> bool:
        """sceneSaveActivity: set resume_time if given, add play_duration if given."""
        with self.lock:
            record = self._scene_row(scene_id)
            stash_plays.save_activity(record, resume_time, play_duration)
            self.generation += 1
            return True

    def reset_activity(self, scene_id, reset_resume: bool, reset_duration: bool) -> bool:
        """sceneResetActivity: zero resume_time and/or play_duration."""
        with self.lock:
            record = self._scene_row(scene_id)
            stash_plays.reset_activity(record, reset_resume, reset_duration)
            self.generation += 1
            return True

    def _scene_row(self, scene_id) -> dict:
        record = self.get_scene(scene_id)
        if record is None:
            raise StashError(f"id {scene_id} does not exist in scenes")  # Stash's NotFoundError
        return record

    def epoch(self, moment) -> int:
        """Epoch seconds of an int, a datetime (naive: the server's offset), a Stash
        Timestamp text, or None (now, from the emulator's clock)."""
        if moment is None:
            moment = self._now()
        if isinstance(moment, datetime):
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=self.tz)
            return int(moment.timestamp() // 1)
        if isinstance(moment, str):
            try:
                return stash_plays.parse_timestamp(moment, self._now())
            except stash_plays.TimestampError as exc:
                raise StashError(str(exc)) from None
        return int(moment)

    def delete_scene(self, scene_id) -> None:
        with self.lock:
            record = self.scenes.pop(self._scene(scene_id)["_id"])
            for file_id in record["_files"]:
                self.files.pop(file_id, None)
            self.generation += 1

    def set_cover(self, scene_id, data: bytes | None = None) -> None:
        with self.lock:
            record = self._scene(scene_id)
            record["_cover"] += 1
            record["_cover_bytes"] = data
            record["updated_at"], record["_updated_unix"] = self._stamp()
            self.generation += 1

    def screenshot(self, scene_id) -> bytes | None:
        """The scene's cover JPEG, or None when there is no such scene."""
        with self.lock:
            record = self.get_scene(scene_id)
            if record is None:
                return None
            if record["_cover_bytes"] is not None:
                return record["_cover_bytes"]
            sid, version = record["id"], record["_cover"]
        return _cover_jpeg(sid, version)

    def get_scene(self, scene_id) -> dict | None:
        try:
            return self.scenes.get(int(scene_id))
        except (TypeError, ValueError):
            return None

    def _scene(self, scene_id) -> dict:
        record = self.get_scene(scene_id)
        if record is None:
            raise StashError(f"scene with id {scene_id} not found")
        return record

    def scene_view(self, scene_id) -> dict:
        """A resolved, copied view of one scene (links replaced by {id, name} dicts)."""
        with self.lock:
            record = self._scene(scene_id)

            def named(kind, eid):
                e = self.entities[kind][eid]
                return {"id": e["id"], "name": e["name"]}
            view = {k: copy.deepcopy(v) for k, v in record.items() if not k.startswith("_")}
            view.update(
                studio=None if record["_studio"] is None else named("studio", record["_studio"]),
                performers=[named("performer", p) for p in record["_performers"]],
                tags=[named("tag", t) for t in record["_tags"]],
                groups=[{"group": named("group", g), "scene_index": i} for g, i in record["_groups"]],
                files=[copy.deepcopy(self.files[f]) for f in record["_files"]],
                cover_version=record["_cover"],
                play_count=len(record["_plays"]),
                play_history=[stash_plays.utc_text(t) for t in stash_plays.history(record)],
                last_played_at=None if not record["_plays"] else stash_plays.last_played_text(record),
            )
            return view

    # ---- findScenes -----------------------------------------------------------------
    def find_scenes(self, find_filter: dict | None, scene_filter: dict | None, ids: list[int] | None) -> dict:
        """findScenes' result: {count, scenes, duration, filesize} (sums computed lazily)."""
        with self.lock:
            if ids:
                matched = [self._scene(i)["_id"] for i in ids]  # Stash: FindMany, filters ignored
                page = matched
            else:
                matched = self._listing(find_filter or {}, scene_filter)
                start, stop = stash_query.page_bounds(find_filter, len(matched))
                page = matched[start:stop]

            def total(attr):
                def resolve(_info):
                    files = (self.scenes[i]["_files"] for i in matched if i in self.scenes)
                    return float(sum(self.files[f[0]][attr] for f in files if f))
                return resolve
            return {
                "count": len(matched),
                "scenes": [self.scenes[i] for i in page],
                "duration": total("duration"),
                "filesize": total("size"),
            }

    def _listing(self, find_filter: dict, scene_filter: dict | None) -> list[int]:
        sort, direction = find_filter.get("sort"), find_filter.get("direction") or "ASC"
        key = (
            json.dumps(scene_filter, sort_keys=True, default=str), find_filter.get("q"), sort, direction,
            self.generation, self.now_text() if _uses_now(scene_filter) else None,
        )
        cached = self._listings.get(key)
        if cached is not None:
            self._listings.move_to_end(key)
            return cached
        try:
            predicates = [
                stash_query.compile_filter(scene_filter, self.now_text, self.files),
                stash_query.text_search(find_filter.get("q"), self.files),
            ]
            scenes: Iterable[dict] = self.scenes.values()
            for pred in filter(None, predicates):
                scenes = [s for s in scenes if pred(s)]
            ordered = [s["_id"] for s in stash_query.order(scenes, sort, direction, self.files)]
        except stash_query.QueryError as exc:
            raise StashError(str(exc)) from None
        self._listings[key] = ordered
        while len(self._listings) > 16:
            self._listings.popitem(last=False)
        return ordered

    # ---- plugins ---------------------------------------------------------------------
    def plugin_settings(self, include: list[str] | None) -> dict:
        """configuration.plugins: unset (empty) configurations are absent, as in Stash."""
        with self.lock:
            wanted = include if include else list(self.plugin_config)
            return {p: copy.deepcopy(self.plugin_config[p]) for p in wanted if self.plugin_config.get(p)}

    def configure_plugin(self, plugin_id: str, settings: dict) -> dict:
        """Replace a plugin's whole configuration (configurePlugin's semantics)."""
        with self.lock:
            self.plugin_config[plugin_id] = copy.deepcopy(dict(settings))
            return copy.deepcopy(self.plugin_config[plugin_id])

    def run_plugin_task(self, plugin_id: str, task_name, description, args, args_map) -> str:
        with self.lock:
            if args_map is None and args is not None:
                args_map = {a["key"]: _plugin_value(a.get("value")) for a in args}
            job_id = self.add_job(f"Running plugin task: {task_name or description or ''}")
            self.task_requests.append({
                "plugin_id": plugin_id, "task_name": task_name,
                "description": description, "args_map": copy.deepcopy(args_map),
                "job_id": job_id,
            })
            return job_id

    # ---- the job queue ------------------------------------------------------------------
    def add_job(self, description: str) -> str:
        """Queue a job (READY); returns its id. The runner reports its start and end."""
        with self.lock:
            job_id = str(next(self._ids["job"]))
            self.jobs[job_id] = {
                "id": job_id, "status": "READY", "subTasks": None, "description": description,
                "progress": None, "startTime": None, "endTime": None, "addTime": self.now_text(),
                "error": None,
            }
            return job_id

    def start_job(self, job_id: str | None) -> None:
        """The job manager started the job: RUNNING."""
        with self.lock:
            job = self.jobs.get(str(job_id))
            if job is not None:
                job.update(status="RUNNING", startTime=self.now_text())

    def end_job(self, job_id: str | None) -> None:
        """The job ended (or was dropped): it leaves the queue."""
        with self.lock:
            self.jobs.pop(str(job_id), None)

    def job_queue(self) -> list[dict]:
        """jobQueue: copies of the jobs queued or running, oldest first."""
        with self.lock:
            return [dict(job) for job in self.jobs.values()]

    def take_task_requests(self) -> list[dict]:
        with self.lock:
            taken, self.task_requests = self.task_requests, []
            return taken


def groups_input(group_ids) -> list[dict]:
    """add_scene's group_ids (ids, or (id, scene_index) pairs) as SceneGroupInput dicts."""
    out = []
    for item in group_ids:
        gid, index = item if isinstance(item, (tuple, list)) else (item, None)
        out.append({"group_id": str(gid), "scene_index": index})
    return out


def _plugin_value(value: dict | None):
    """A deprecated PluginValueInput as the plain value args_map would carry."""
    if not value:
        return None
    for key in ("str", "i", "b", "f"):
        if value.get(key) is not None:
            return value[key]
    if value.get("o") is not None:
        return {a["key"]: _plugin_value(a.get("value")) for a in value["o"]}
    if value.get("a") is not None:
        return [_plugin_value(v) for v in value["a"]]
    return None


def _uses_now(scene_filter) -> bool:
    """Whether a filter depends on the clock (timestamp BETWEEN without value2)."""
    if not isinstance(scene_filter, dict):
        return False
    for key, value in scene_filter.items():
        if key in ("AND", "OR", "NOT") and _uses_now(value):
            return True
        if key in ("created_at", "updated_at", "last_played_at") and value and value.get("value2") is None:
            return True
    return False


def _decode_data_url(value: str) -> bytes | None:
    """Bytes of a base64 data URL; None (a generated cover) for a plain URL."""
    if not value.startswith("data:"):
        return None
    try:
        return base64.b64decode(value.split(",", 1)[1], validate=False)
    except (IndexError, binascii.Error):
        raise StashError("invalid cover_image data URL") from None
