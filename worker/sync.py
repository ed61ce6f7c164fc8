"""One job → one scene in step in Plex: the ``sync(job)`` the worker drains with.

Fetch the scene from Stash (always fresh: the hook's input holds nulls for fields
the user did not send), compute the desired metadata, find the Plex item, and —
unless the last sync wrote exactly this — load the item, diff, and send one
batched edit (plus a poster upload only when the cover's bytes changed).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, Protocol

from plex.client import PlexConnection
from plex.desired import DesiredMetadata, fit_to_media, sync_fingerprint
from plex.diff import EditParams, edit_params, edit_request, request_changes
from plex.exceptions import PermanentError, PlexNotFound, StashRejected, StashUnavailable
from plex.item_state import PlexItemState
from plex.library import PlexLibrary
from plex.matcher import Match, Matcher, StashFile
from plex.path_index import PathIndex, index_signature
from plex.paths import is_under, map_path, normalize, parent, same_file, stash_paths_for
from shared.defaults import (
    BULK_INDEX_THRESHOLD, FOLDER_SCAN_WINDOW_SECONDS, MAX_POSTER_BYTES, SCAN_STAMP_MAX_AGE,
)
from shared.log import create_logger
from stash.client import StashAuthError, StashConnection, StashError, StashUnreachable
from worker.item_batch import ItemBatch
from worker.jobs import PUSH_SCENE, fill_show_job, is_due, kind_of
from worker.mapping import desired_metadata
from worker.pool import Deferred, KeyLocks, pool_size
from worker.queue import enqueue
from worker.scene_batch import Cover, SceneBatch, SceneSource, batch_ids
from worker.sync_state import SyncRecord, SyncRecords, SyncState

if TYPE_CHECKING:
    from validation.config import PlexSyncConfig
    from worker.processor import SyncWorker

log_trace, log_debug, log_info, log_warn, log_error = create_logger("sync")


def image_kind(data: bytes) -> str | None:
    """``jpeg``/``png``/``gif``/``webp`` from the bytes themselves, else ``None``."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def scene_files(scene: dict[str, Any]) -> list[StashFile]:
    """A Stash scene's files (primary first) with the size and duration Stash measured."""
    out = []
    for f in scene.get("files") or []:
        if not f.get("path"):
            continue
        size, duration = f.get("size"), f.get("duration")
        out.append(StashFile(f["path"], int(size) if isinstance(size, (int, float)) and size > 0 else None,
                             float(duration) if isinstance(duration, (int, float)) and duration > 0 else None))
    return out


def claimed_in_stash(stash: SceneSource, config: PlexSyncConfig, scene_id: int) -> Callable[[str], bool]:
    """A predicate for the file-name rule: does a Stash scene other than ``scene_id`` have
    a file whose mapped path is this Plex path? Asks Stash (one path query per Stash path
    that could map there; answers kept for the predicate's life)."""
    mappings, case = config.path_mappings, config.path_case_insensitive
    answers: dict[str, bool] = {}

    def scenes_with_file(stash_path: str) -> list[dict[str, Any]]:
        try:
            return stash.scenes_with_file(stash_path)
        except (StashUnreachable, StashAuthError) as exc:
            # Lost Stash: the drain stops and keeps every job.
            raise StashUnavailable(f"could not ask Stash which scene has {stash_path}: {exc}") from None
        except StashError as exc:
            raise StashRejected(f"Stash could not say which scene has {stash_path}: {exc}") from None

    def claimed(plex_path: str) -> bool:
        key = normalize(plex_path, case_insensitive=case)
        if key not in answers:
            answers[key] = any(
                int(scene["id"]) != int(scene_id) and any(
                    same_file(map_path(f.get("path") or "", mappings, case_insensitive=case), plex_path,
                              case_insensitive=case) for f in scene.get("files") or [])
                for stash_path in stash_paths_for(plex_path, mappings, case_insensitive=case)
                for scene in scenes_with_file(stash_path))
        return answers[key]
    return claimed


@dataclass(frozen=True)
class _Plan:
    """What a scene's sync decided on the drain's thread, for its Plex requests."""

    scene_id: int
    files: list[StashFile]
    wanted: list[str]          # the files' Plex paths
    desired: DesiredMetadata
    record: SyncRecord | None
    poster: bytes | None
    poster_sha: str | None
    fingerprint: str


@dataclass(frozen=True)
class _Written:
    """What the Plex requests of a sync sent."""

    match: Match
    request: EditParams
    upload: bool
    #: Labels of the fields the scene has that the item's type lacks (e.g. studio on an episode).
    not_applicable: tuple[str, ...] = ()
    #: The episode's show ("" for a movie).
    show_key: str = ""


class SceneSync:
    """Callable ``sync(job)``; holds the Plex connection, index and state for one drain."""

    def __init__(self, config: PlexSyncConfig, stash: SceneSource, data_dir: str,
                 plex: PlexLibrary | None = None) -> None:
        self.config = config
        self.stash = stash
        self.plex: PlexLibrary = plex or PlexConnection(config, pool_size=pool_size(config))
        self.index = PathIndex(data_dir, case_insensitive=config.path_case_insensitive,
                               signature=index_signature(config))
        self.state: SyncRecords = SyncState(data_dir)
        self.matcher = Matcher(self.plex, self.index, config)
        self._scanned_folders: set[str] = set()
        self._stamps: dict[str, str] | None = None
        self._stamps_at = 0.0
        self.batch = SceneBatch(stash, lambda scene: desired_metadata(scene, config).poster_url)
        #: The drain's queue, to read the scenes of its next jobs ahead (set per pass).
        self._queue: Any = None
        #: Requests for one Plex item never overlap (the drain's pool, its own thread).
        self.item_locks = KeyLocks()
        #: Loads items, several per request for the next first-time syncs.
        self.items = ItemBatch(self.plex, self.item_locks)
        #: Scenes already looked at for :meth:`_expect_items` in this drain.
        self._expected_scenes: set[int] = set()
        #: (job key, when its scene was read) of the last job run.
        self._last_read: tuple[str, float] | None = None
        #: (media type, field label) already reported as not applicable in this drain.
        self._told_not_applicable: set[tuple[str, str]] = set()
        #: Shows whose fill this drain queued ('Fill in shows from studios').
        self._shows_queued: set[str] = set()
        self.data_dir = data_dir

    # -- hooks for the drain ------------------------------------------------------------

    def before_pass(self, worker: SyncWorker) -> None:
        """Before draining many jobs, index every section once (one request per 1,000 items).

        Runs through ``worker.run_guarded``: under the breaker, and classified like a job,
        so a failing Plex stops or pauses the drain instead of escaping it.
        """
        self._queue = worker.queue if hasattr(worker.queue, "peek_ready") else None
        # Between passes the drain lock was free: another drain may have written items.
        self.forget_read_items()
        try:
            waiting = int(worker.queue.ready_count())
        except Exception:
            return
        if waiting >= BULK_INDEX_THRESHOLD:
            worker.run_guarded(self.refresh_index, "Indexing Plex's libraries")

    def forget_read_items(self) -> None:
        """Drop the Plex items read ahead (after a write that did not go through this sync)."""
        self.items.clear()
        self._expected_scenes.clear()

    def refresh_index(self) -> int:
        """List every configured section into the index; returns the item count."""
        total = 0
        for section in self.plex.sections():
            if section.media is not None:
                total += self.index.replace_section(section.id, self.plex.list_section(section.id,
                                                                                      media=section.media))
        log_debug(f"Indexed {total} Plex items")
        return total

    def subject_read_at(self, job: dict[str, Any]) -> float | None:
        """When the scene of ``job`` (the last job run) was read from Stash: earlier than
        the run's start when a batch read it ahead, so the drain supersedes only jobs
        queued before that read."""
        if self._last_read is not None and self._last_read[0] == job.get("job_key"):
            return self._last_read[1]
        return None

    def close(self) -> None:
        """Release files and connections."""
        self.batch.close()
        self.plex.close()
        self.index.close()
        self.state.close()

    # -- the sync ----------------------------------------------------------------------

    def __call__(self, job: dict[str, Any]) -> str:
        """Bring one scene's Plex item in step; returns what happened."""
        started = self.start(job)
        return started.run_inline() if isinstance(started, Deferred) else started

    def start(self, job: dict[str, Any]) -> str | Deferred:
        """Everything of a scene's sync up to its Plex item's requests, on the drain's
        thread: ``"unchanged"``, or a :class:`Deferred` whose ``io`` loads, diffs and
        writes the item (on a pool thread; Plex only) and whose ``finish`` records the
        sync (back on the drain's thread: SQLite)."""
        scene_id = int(job["scene_id"])
        self._last_read = None
        scene, read_at = self._fetch_scene(scene_id, float(job.get("enqueued_at") or 0))
        self._last_read = (str(job.get("job_key")), read_at)
        self._expect_items()
        desired = desired_metadata(scene, self.config)
        record = self.state.get(scene_id)
        poster, poster_sha = self._poster(scene, desired)
        fingerprint = sync_fingerprint(desired, poster_sha, self.config.lock_fields)
        files = scene_files(scene)

        match = self._match(scene_id, files)
        if record and record.rating_key == match.rating_key and record.fingerprint == fingerprint:
            log_trace(f"Scene {scene_id}: unchanged since the last sync")
            return "unchanged"
        plan = _Plan(scene_id, files, self.matcher.plex_paths([f.path for f in files]), desired, record,
                     poster, poster_sha, fingerprint)
        return Deferred(io=lambda: self._write_if_verified(plan, match),
                        finish=lambda written: self._finish(plan, match, written), item=match.rating_key)

    def _write_if_verified(self, plan: _Plan, match: Match) -> _Written | None:
        """Pool side: load the item and, if it still holds the scene's file, write it;
        ``None`` when the index was stale (the drain's thread then matches again)."""
        with self.item_locks.hold(match.rating_key):
            try:
                current = self.items.load(match.rating_key)
            except PlexNotFound:
                return None
            if not (match.how == "name" or any(
                    same_file(w, f, case_insensitive=self.config.path_case_insensitive)
                    for w in plan.wanted for f in current.files)):
                return None
            return self._write(plan, match, current)

    def _finish(self, plan: _Plan, match: Match, written: _Written | None) -> str:
        """Drain side: re-match once if the index was stale, then record the sync."""
        if written is None:
            self.index.forget(match.rating_key)
            fresh = self._match(plan.scene_id, plan.files)
            with self.item_locks.hold(fresh.rating_key):
                written = self._write(plan, fresh, self.items.load(fresh.rating_key))
        match, request, upload = written.match, written.request, written.upload
        self._tell_not_applicable(match.media_type, written.not_applicable)
        if written.show_key:
            # The scene changed since its last sync (tags too, which its episode lacks but its show takes).
            self._queue_show_fill(match.section_id, written.show_key)
        desired = plan.desired
        self.state.put(SyncRecord(plan.scene_id, match.rating_key, plan.fingerprint, plan.poster_sha,
                                  {k: desired.tags[k] for k in desired.shared_kinds if k in desired.tags}))
        if request or upload:
            log_debug(f"Scene {plan.scene_id} → Plex item {match.rating_key}: {len(request_changes(request))} fields"
                      + (", poster" if upload else ""))
            return "written"
        return "in_step"

    def _write(self, plan: _Plan, match: Match, current: PlexItemState) -> _Written:
        """Diff ``current`` against the plan and send the differences (one edit, plus the
        poster when it changed). Plex requests only: runs on either thread."""
        record = plan.record
        if record and record.rating_key != match.rating_key:
            record = None  # a different item now: nothing of ours is on it
        # The loaded item's own type decides its fields (an episode has no studio or genres).
        media = current.media
        desired, not_applicable = fit_to_media(plan.desired, media)
        match = replace(match, media_type=media.name)
        changes = edit_params(current, desired, lock=self.config.lock_fields,
                              owned_before=record.owned if record else {}, media=media)
        poster = plan.poster
        upload = poster is not None and (record is None or record.poster_sha != plan.poster_sha
                                             or not current.has_poster)
        if upload or changes:
            self.items.forget(match.rating_key)  # whatever was read of it is about to change
        if upload:
            assert poster is not None
            self.plex.upload_poster(match.rating_key, poster)
        request = edit_request(media, match.rating_key, changes, lock=self.config.lock_fields, poster_uploaded=upload)
        if request:
            self.plex.send_edit(current.section_id or match.section_id, request)
        return _Written(match, request, upload, not_applicable, current.show_key)

    def _queue_show_fill(self, section_id: str, show_key: str) -> None:
        """'Fill in shows from studios': once per show per drain, a job behind the scenes
        already queued (only in a real drain: a dry run queues nothing)."""
        if not self.config.sync_show_fields or self._queue is None or show_key in self._shows_queued:
            return
        self._shows_queued.add(show_key)
        enqueue(self.data_dir, fill_show_job(section_id, show_key))

    def _tell_not_applicable(self, media_type: str, labels: tuple[str, ...]) -> None:
        """One info line per drain for the fields an item type lacks: not an error, nothing to fix."""
        new = [label for label in labels if (media_type, label) not in self._told_not_applicable]
        if not new:
            return
        self._told_not_applicable.update((media_type, label) for label in new)
        log_info(f"Not applicable to {media_type}s, so not sent to Plex: {', '.join(new)}")

    # -- steps -------------------------------------------------------------------------

    def _fetch_scene(self, scene_id: int, queued_at: float = 0.0) -> tuple[dict[str, Any], float]:
        """The scene and when it was read: from the batch read ahead, else one ``findScene``.

        A batch read that began before the job was queued may predate the edit the job is
        for (read ahead, then edited in Stash): it is not used, and the scene is read again."""
        fetched = self.batch.take(scene_id)
        if fetched is not None and fetched.read_at <= queued_at:
            fetched = None
        if fetched is None:
            upcoming = self._upcoming_scene_ids()
            if upcoming:
                self._load_batch(scene_id, upcoming)
                fetched = self.batch.take(scene_id)
        if fetched is not None:
            self._read_next_batch_ahead()
            if fetched.scene is None:
                self.state.forget(scene_id)
                raise PermanentError(f"scene {scene_id} no longer exists in Stash")
            return fetched.scene, fetched.read_at
        read_at = time.time()
        try:
            scene = self.stash.find_scene(scene_id)
        except (StashUnreachable, StashAuthError) as exc:
            # Not the scene's fault: the drain stops and keeps every job.
            raise StashUnavailable(f"lost Stash at {self.stash.connection.base_url} while reading scene "
                                   f"{scene_id}: {exc}") from None
        except StashError as exc:
            raise StashRejected(f"Stash could not give scene {scene_id}: {exc}") from None
        if scene is None:
            self.state.forget(scene_id)
            raise PermanentError(f"scene {scene_id} no longer exists in Stash")
        return scene, read_at

    def _expect_items(self) -> None:
        """Name the Plex items the next first-time syncs will load, so the pool reads
        them in batches: scenes of the batch read ahead with no sync record yet (a
        synced scene may well be unchanged: reading its item would be wasted), found by
        exact path in the index. Looks at each scene once, and only when few are named."""
        if self.items.expecting() >= self.items.size // 2:
            return
        keys: list[str] = []
        for scene in self.batch.upcoming():
            scene_id = int(scene["id"])
            if scene_id in self._expected_scenes:
                continue
            self._expected_scenes.add(scene_id)
            if self.state.get(scene_id) is not None:
                continue
            found = self.matcher.from_index(scene_files(scene))
            if found is not None:
                keys.append(found.rating_key)
            if len(keys) >= self.items.size:
                break
        if keys:
            self.items.expect(keys)

    def _upcoming_scene_ids(self, limit: int | None = None) -> list[int]:
        """Scene ids of the drain's next due scene pushes (none outside a drain)."""
        if self._queue is None:
            return []
        now = time.time()
        return [int(job["scene_id"]) for job in self._queue.peek_ready(limit or self.batch.size)
                if kind_of(job) == PUSH_SCENE and is_due(job, now)]

    def _read_next_batch_ahead(self) -> None:
        """Half the batch handed out: read the scenes after it in the background."""
        if self.batch.reading_ahead() or self.batch.remaining() > self.batch.size // 2:
            return
        upcoming = [i for i in self._upcoming_scene_ids(2 * self.batch.size) if not self.batch.holds(i)]
        if len(upcoming) >= 2:
            self.batch.read_ahead(upcoming[:self.batch.size])

    def _load_batch(self, scene_id: int, upcoming: list[int]) -> None:
        ids = batch_ids(scene_id, upcoming, self.batch.size)
        if len(ids) < 2:
            return  # one scene: findScene, as a single save always did
        try:
            self.batch.load(ids)
        except (StashUnreachable, StashAuthError) as exc:
            # Not the scene's fault: the drain stops and keeps every job.
            raise StashUnavailable(f"lost Stash at {self.stash.connection.base_url} while reading scene "
                                   f"{scene_id}: {exc}") from None

    def _poster(self, scene: dict[str, Any], desired: DesiredMetadata) -> tuple[bytes | None, str | None]:
        """The cover's bytes and hash, fetched every time: Stash's cover URL changes
        only once a second, so the URL alone cannot prove the cover is unchanged,
        and a local fetch (~3 ms) is cheaper than a missed cover."""
        if not desired.poster_url:
            return None, None
        try:
            data, content_type = self._cover(desired.poster_url)
        except StashError as exc:
            log_warn(f"Scene {scene.get('id')}: cover not available from Stash ({exc}); poster left as is")
            return None, None
        kind = image_kind(data)
        if kind is None or not content_type.startswith("image/") or len(data) > MAX_POSTER_BYTES:
            # Never upload a video preview or an error page as a poster.
            log_warn(f"Scene {scene.get('id')}: the cover is not an image ({content_type or 'unknown type'}); "
                     "poster left as is")
            return None, None
        return data, hashlib.sha256(data).hexdigest()

    def _cover(self, url: str) -> tuple[bytes, str]:
        """The cover the batch fetched ahead (its error raised again), else fetched now."""
        cover: Cover | None = self.batch.take_cover(url)
        if cover is None:
            return self.stash.fetch(url)
        if isinstance(cover, StashError):
            raise cover
        return cover

    def _match(self, scene_id: int, files: list[StashFile]) -> Match:
        """The scene's item. A scene Plex lacked is looked up again only when something
        changed since (a scan finished, the index was rebuilt, its files moved);
        otherwise it waits for its next retry without a request."""
        token = self._plex_state_token(files)
        missed = self.state.last_miss(scene_id)
        if missed is not None and missed[0] == token:
            found = self.matcher.from_index(files)
            if found is not None:
                return found
            token = self._plex_state_token(files, fresh=True)
            if missed[0] == token:
                self._request_scan(files)
                raise PlexNotFound(missed[1])
        try:
            match = self.matcher.match(files, taken=self.state.taken_by_other(scene_id),
                                       claimed=self._claimed_by_other(scene_id))
        except PlexNotFound as exc:
            self.state.record_miss(scene_id, token, str(exc))
            self._request_scan(files)
            raise
        if missed is not None:
            self.state.clear_miss(scene_id)
        return match

    def _plex_state_token(self, files: list[StashFile], fresh: bool = False) -> str:
        """What a look-up's answer depends on: the scene's mapped paths, and per section
        when Plex last finished a scan and when the index last listed it in full."""
        stamps = self._scan_stamps(fresh)
        sections = [(s.id, stamps.get(s.id, ""), self.index.complete_since(s.id)) for s in self.plex.sections()]
        return repr((self.matcher.plex_paths([f.path for f in files]), sections))

    def _scan_stamps(self, fresh: bool) -> dict[str, str]:
        """Each section's ``scannedAt``; re-read (one request) when ``fresh`` and the
        last reading is :data:`SCAN_STAMP_MAX_AGE` seconds old, so a long drain notices
        a finished scan without asking on every retry."""
        now = time.time()
        if self._stamps is None:
            self._stamps = {s.id: s.scanned_at for s in self.plex.sections()}
            self._stamps_at = now
        elif fresh and now - self._stamps_at >= SCAN_STAMP_MAX_AGE:
            self._stamps = {s.id: s.scanned_at for s in self.plex.all_sections()}
            self._stamps_at = now
        return self._stamps

    def _claimed_by_other(self, scene_id: int) -> Callable[[str], bool]:
        return claimed_in_stash(self.stash, self.config, scene_id)

    def _request_scan(self, files: list[StashFile]) -> None:
        """One partial scan per folder per :data:`FOLDER_SCAN_WINDOW_SECONDS`, across drains."""
        if not self.config.trigger_plex_scan or not files:
            return
        folder = parent(self.matcher.plex_paths([f.path for f in files])[0])
        key = normalize(folder, case_insensitive=self.config.path_case_insensitive)
        if key in self._scanned_folders or self.state.scanned_within(key, FOLDER_SCAN_WINDOW_SECONDS):
            return
        self._scanned_folders.add(key)
        self.state.record_scan(key)
        sections = self.plex.sections()
        inside = [s for s in sections if any(is_under(folder, loc, case_insensitive=self.config.path_case_insensitive)
                                             for loc in s.locations)]
        for section in inside or sections:
            self.plex.scan(section.id, folder)
        log_info(f"Asked Plex to scan {folder} for new files")
