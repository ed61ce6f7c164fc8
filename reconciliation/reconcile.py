"""Reconcile: find the scenes whose Plex items are not what Stash says, and queue only those.

Hooks miss changes (tag, performer and studio renames, merges, auto-tagging fire no
scene hook) and Plex users edit items. A reconcile walks Stash page by page and
decides each scene without asking Plex about it:

1. every configured Plex section is listed once (pages of 1,000) into the path
   index, keeping each item's listed scalars as a compact digest;
2. Stash's ``findScenes`` is paged (1,000 a page; a few pages are fetched ahead, from
   the start, while Plex is listed and scenes compared); *changed* asks only for
   scenes updated after the last run's cursor minus :data:`CURSOR_OVERLAP`;
3. each scene is matched through the index by exact path after mappings and judged
   by :mod:`reconciliation.compare`; scenes with no exact path wait until every page
   was read, then go through the sync's own file-name rule
   (:func:`plex.matcher.match_by_name`), with "another Stash scene has a file at that
   Plex path" answered from the paths this run saw (or Stash, when it read only
   changed scenes);
4. scenes that differ are queued as ``reconcile`` jobs with ``data["reason"]``;
   *missing* also asks Plex for one partial scan per folder.

Only the scenes of one page are held at a time: memory grows with the Plex library
(about 200 bytes an item), not with Stash.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Optional

from plex.client import PlexConnection
from plex.exceptions import PlexSyncError
from plex.item_state import ListedItem
from plex.matcher import StashFile, indexed_parts, match_by_name
from plex.media_types import MEDIA_TYPES, MOVIE
from plex.path_index import IndexedPart, PathIndex, index_signature
from plex.paths import is_under, map_path, mapped_files, normalize, parent
from reconciliation import state as reconcile_state
from reconciliation.compare import (
    DRIFT_MARK, DRIFTED_IN_PLEX, MISSING_IN_PLEX, IN_SYNC, ListingDigest, Verdict,
    judge, listing_digest,
)
from reconciliation.prefetch import Prefetch, batched
from reconciliation.summary import ReconcileSummary
from shared.defaults import (
    ENQUEUE_BATCH, LISTING_AHEAD, LISTING_BATCH, MAX_SCAN_FOLDERS, PREFETCH_PAGES, PROGRESS_EVERY, STASH_PAGE_SIZE,
)
from shared.log import create_logger
from stash.client import StashClient
from worker.dlq import DeadLetterQueue
from worker.jobs import new_job
from worker.mapping import desired_metadata
from worker.queue import QueuePutter, enqueue_many, pending_jobs

if TYPE_CHECKING:
    from validation.config import PlexSyncConfig
from worker.sync import claimed_in_stash, scene_files
from worker.sync_state import SyncRecord, SyncState

log_trace, log_debug, log_info, log_warn, log_error = create_logger("reconcile")

SCOPES = ("changed", "all", "missing")
UPDATE_TYPE = "reconcile"
#: *changed* re-reads scenes updated this long before the cursor: Stash compares
#: ``updated_at`` as text in its local offset, and clocks and DST shifts wobble.
CURSOR_OVERLAP = timedelta(hours=1)
#: The error type the worker dead-letters a scene Plex has no item for.
NOT_FOUND_ERROR = "PlexNotFound"

ProgressFn = Callable[[int, int], None]


def parse_stash_time(text: Any) -> Optional[datetime]:
    """Stash's ``updated_at`` text as a datetime (``None`` if unreadable)."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def cursor_filter(cursor: str, overlap: timedelta = CURSOR_OVERLAP) -> str:
    """The ``updated_at`` to ask for: ``cursor`` minus ``overlap``, in the cursor's own offset
    and form (Stash compares the text in its local offset)."""
    moment = parse_stash_time(cursor)
    if moment is None:
        raise ValueError(f"not a Stash time: {cursor!r}")
    text = (moment - overlap).isoformat()
    if cursor.endswith("Z") and text.endswith("+00:00"):
        text = text[:-6] + "Z"
    return text


def _later(a: Optional[str], b: Optional[str]) -> Optional[str]:
    ta, tb = parse_stash_time(a), parse_stash_time(b)
    if ta is None:
        return b if tb is not None else a
    if tb is None:
        return a
    try:
        return b if tb > ta else a
    except TypeError:  # one naive, one aware: trust the newer text's form
        return b


def _label(scene: dict[str, Any]) -> str:
    title = str(scene.get("title") or "").strip()
    if len(title) > 60:
        title = title[:57] + "…"
    return f"scene {scene.get('id')}" + (f" '{title}'" if title else "")


class Reconciler:
    """One reconcile run; see :func:`reconcile`."""

    def __init__(self, scope: str, *, stash: StashClient, config: PlexSyncConfig, data_dir: str, plex: PlexConnection,
                 progress: Optional[ProgressFn] = None, dry_run: bool = False) -> None:
        if scope not in SCOPES:
            raise ValueError(f"unknown reconcile scope {scope!r}: expected one of {', '.join(SCOPES)}")
        self.scope = scope
        self.stash = stash
        self.config = config
        self.data_dir = data_dir
        self.plex = plex
        self.progress = progress
        self.dry_run = dry_run
        self.summary = ReconcileSummary(scope=scope, dry_run=dry_run)
        self.index = PathIndex(data_dir, case_insensitive=config.path_case_insensitive,
                               signature=index_signature(config))
        self.sync_state = SyncState(data_dir)
        self.listing: dict[str, ListingDigest] = {}
        self.pending: set[int] = set()
        self.dead_not_found: dict[int, int] = {}   # scene id → DLQ entry id
        self.requeue_ids: list[int] = []
        self.jobs: list[dict[str, Any]] = []
        self.folders: dict[str, None] = {}         # folders to scan, in first-seen order
        self.newest: Optional[str] = None          # newest updated_at seen
        #: Index paths some scene's file maps to exactly (path key → scene id).
        self.claimed: dict[str, int] = {}
        #: Scenes no exact path matched: decided once every scene's paths are known.
        self.deferred: list[dict[str, Any]] = []

    # -- the run -------------------------------------------------------------------------

    def run(self) -> ReconcileSummary:
        """Compare, queue, scan, remember; returns the summary."""
        summary = self.summary
        summary.started_at = time.time()
        began = time.perf_counter()
        pages: Optional[Prefetch] = None
        try:
            updated_after = self._updated_after()
            # Stash starts answering while Plex is listed: the first pages are ready after.
            pages = Prefetch(self.stash.scene_pages(STASH_PAGE_SIZE, updated_after=updated_after), PREFETCH_PAGES,
                             "stash-pages")
            listed = time.perf_counter()
            self._list_plex()
            summary.timings["plex_listing"] = time.perf_counter() - listed
            self._load_queue_and_dlq()
            self._walk_stash(pages)
            summary.timings["stash_wait"] = pages.waited
            self._flush()
            self._requeue_dead()
            self._request_scans()
        finally:
            if pages is not None:
                pages.close()
            self.close()
        summary.duration = time.perf_counter() - began
        summary.timings["compare"] = max(0.0, summary.duration - sum(summary.timings.values()))
        if not self.dry_run:
            reconcile_state.record_run(self.data_dir, self.scope, summary.as_dict(), cursor=summary.cursor)
        return summary

    def close(self) -> None:
        """Release the index and state databases."""
        self.index.close()
        self.sync_state.close()

    # -- steps -----------------------------------------------------------------------------

    def _updated_after(self) -> Optional[str]:
        state, problem = reconcile_state.read_state(self.data_dir)
        previous = reconcile_state.cursor_of(state)
        self.summary.cursor = previous
        if self.scope != "changed":
            return None
        if previous is None or parse_stash_time(previous) is None:
            why = problem or "no earlier reconcile recorded where it stopped"
            log_warn(f"Reconcile (changed scenes): {why}; comparing every scene this time")
            return None
        self.summary.full = False
        self.summary.updated_after = cursor_filter(previous)
        return self.summary.updated_after

    def _remember(self, batches: Iterable[list[ListedItem]]) -> Iterator[ListedItem]:
        for batch in batches:
            for item in batch:
                self.listing[item.rating_key] = listing_digest(item.scalars)
                yield item

    def _list_plex(self) -> None:
        """Each section's listing into the index; the next page is requested (and parsed)
        in a thread while this one is stored."""
        for section in self.plex.sections():
            if section.media is None:
                continue
            # One listing per section, of the items scenes become there (type=4 for TV Shows).
            ahead = Prefetch(batched(self.plex.list_section(section.id, media=section.media), LISTING_BATCH),
                             LISTING_AHEAD, "plex-listing")
            try:
                count = self.index.replace_section(section.id, self._remember(ahead))
            finally:
                ahead.close()
            self.summary.plex_items += count
            log_debug(f"Listed Plex library '{section.title}': {count} items")

    def _load_queue_and_dlq(self) -> None:
        self.pending = {int(job["scene_id"]) for job in pending_jobs(self.data_dir) if job.get("scene_id") is not None}
        dlq = DeadLetterQueue(self.data_dir)
        try:
            count = dlq.count(NOT_FOUND_ERROR)
            if count:
                for entry in dlq.list(limit=count, error_type=NOT_FOUND_ERROR):
                    if entry.scene_id is not None:
                        self.dead_not_found.setdefault(int(entry.scene_id), entry.id)
        finally:
            dlq.close()

    def _walk_stash(self, pages: Iterable[tuple[int, list[dict[str, Any]]]]) -> None:
        total = 0
        for count, scenes in pages:
            total = max(count, self.summary.scanned + len(scenes))
            for scene in scenes:
                self._one(scene)
                if self.progress and self.summary.scanned % PROGRESS_EVERY == 0:
                    self.progress(self.summary.scanned, total)
            if len(self.jobs) >= ENQUEUE_BATCH:
                self._flush()
        self._by_name()
        if self.progress:
            self.progress(self.summary.scanned, max(total, self.summary.scanned))
        self.summary.cursor = _later(self.summary.cursor, self.newest)

    def _key(self, path: str) -> str:
        return normalize(path, case_insensitive=self.config.path_case_insensitive)

    def _one(self, scene: dict[str, Any]) -> None:
        summary = self.summary
        summary.scanned += 1
        if scene.get("updated_at"):
            self.newest = _later(self.newest, scene["updated_at"])
        files = [f["path"] for f in scene.get("files") or [] if f.get("path")]
        if not files:
            summary.no_files += 1
            return
        wanted = mapped_files(files, self.config.path_mappings, case_insensitive=self.config.path_case_insensitive)
        found = indexed_parts(self.index, wanted)
        # Every file counts: another scene's name fallback must not take it.
        for path, _part in found:
            self.claimed.setdefault(self._key(path), int(scene["id"]))
        if not found:
            self.deferred.append(scene)
            return
        self._judge(scene, found[0][1])

    def _judge(self, scene: dict[str, Any], part: IndexedPart) -> None:
        summary = self.summary
        summary.matched += 1
        if self.scope == "missing":
            return
        desired = desired_metadata(scene, self.config)
        record = self.sync_state.get(int(scene["id"]))
        verdict = judge(desired, record, part.rating_key, self.listing.get(part.rating_key), self.config.lock_fields,
                        media=MEDIA_TYPES.get(part.media_type, MOVIE))
        if verdict is IN_SYNC:
            summary.in_sync += 1
            return
        self._enqueue(scene, verdict, record)

    def _by_name(self) -> None:
        """The scenes no exact path matched, through the file-name rule. An item two of
        them would take is neither's: that is ambiguous, never a guess."""
        chosen: list[tuple[dict[str, Any], Optional[IndexedPart], bool, str]] = []
        takers: dict[str, int] = {}
        for scene in self.deferred:
            scene_id = int(scene["id"])
            files, wanted = self._mapped(scene_files(scene))
            found = match_by_name(files, wanted, self.index.by_name, strict=self.config.strict_matching,
                                  case_insensitive=self.config.path_case_insensitive,
                                  taken=self.sync_state.taken_by_other(scene_id), claimed=self._claimed(scene_id))
            part = found.choice.part if found.choice is not None else None
            ambiguous = found.choice is not None and found.choice.ambiguous
            if part is not None:
                takers[part.rating_key] = takers.get(part.rating_key, 0) + 1
            chosen.append((scene, part, ambiguous, found.path or (wanted[0] if wanted else "")))
        self.deferred = []
        for scene, part, ambiguous, path in chosen:
            if part is not None and takers[part.rating_key] > 1:
                ambiguous, part = True, None
            if part is not None:
                self._judge(scene, part)
            elif ambiguous:
                self.summary.ambiguous += 1
                self.summary.example("ambiguous", f"{_label(scene)}: no Plex file at {path}, and several Plex "
                                                  "files of the same name and size could be it")
            else:
                paths = [f["path"] for f in scene.get("files") or [] if f.get("path")]
                self._missing(scene, mapped_files(paths, self.config.path_mappings,
                                                  case_insensitive=self.config.path_case_insensitive))
            if len(self.jobs) >= ENQUEUE_BATCH:
                self._flush()

    def _mapped(self, files: list[StashFile]) -> tuple[list[StashFile], list[str]]:
        """The scene's files and their Plex paths, aligned, one per distinct Plex path."""
        seen: dict[str, tuple[StashFile, str]] = {}
        for f in files:
            path = map_path(f.path, self.config.path_mappings, case_insensitive=self.config.path_case_insensitive)
            seen.setdefault(self._key(path), (f, path))
        return [f for f, _ in seen.values()], [p for _, p in seen.values()]

    def _claimed(self, scene_id: int) -> Callable[[str], bool]:
        """Whether another Stash scene has a file at a Plex path: from this run's paths
        when it read every scene, else from Stash."""
        if self.summary.full:
            return lambda path: self.claimed.get(self._key(path), scene_id) != scene_id
        return claimed_in_stash(self.stash, self.config, scene_id)

    def _missing(self, scene: dict[str, Any], wanted: list[str]) -> None:
        summary = self.summary
        scene_id = int(scene["id"])
        summary.missing_in_plex += 1
        if self.scope == "missing":
            self.folders.setdefault(parent(wanted[0]), None)
        if scene_id in self.dead_not_found and scene_id not in self.pending:
            if self.scope != "missing":
                summary.left_in_dlq += 1
                return
            # Retry the dead-lettered job itself: requeueing removes its DLQ entry.
            summary.enqueued[MISSING_IN_PLEX] += 1
            summary.example(MISSING_IN_PLEX, f"{_label(scene)}: {wanted[0]} (from the dead-letter queue)")
            self.pending.add(scene_id)
            self.requeue_ids.append(self.dead_not_found[scene_id])
            return
        self._enqueue(scene, Verdict(MISSING_IN_PLEX, wanted[0]), None)

    def _enqueue(self, scene: dict[str, Any], verdict: Verdict, record: Optional[SyncRecord]) -> None:
        summary = self.summary
        scene_id = int(scene["id"])
        if scene_id in self.pending:
            summary.already_queued += 1
            return
        reason = verdict.reason or ""
        summary.enqueued[reason] += 1
        summary.example(reason, _label(scene) + (f": {verdict.detail}" if verdict.detail else ""))
        self.pending.add(scene_id)
        if self.dry_run:
            return
        if reason == DRIFTED_IN_PLEX and record is not None and not record.fingerprint.startswith(DRIFT_MARK):
            # Otherwise the sync would find the fingerprint unchanged and skip the scene.
            self.sync_state.put(replace(record, fingerprint=DRIFT_MARK + record.fingerprint))
        title = str(scene.get("title") or "")[:200]
        self.jobs.append(new_job(scene_id, UPDATE_TYPE, {"reason": reason, "title": title}))

    def _flush(self) -> None:
        if self.jobs:
            enqueue_many(self.data_dir, self.jobs)
            self.jobs = []

    def _requeue_dead(self) -> None:
        if not self.requeue_ids or self.dry_run:
            return
        dlq = DeadLetterQueue(self.data_dir)
        try:
            dlq.requeue(QueuePutter(self.data_dir), ids=self.requeue_ids)
        finally:
            dlq.close()

    def _request_scans(self) -> None:
        """*missing*: one partial scan per folder (or per library folder when there are many)."""
        if not self.folders or not self.config.trigger_plex_scan:
            return
        sections = self.plex.sections()
        case = self.config.path_case_insensitive

        targets: dict[tuple[str, str], None] = {}
        if len(self.folders) > MAX_SCAN_FOLDERS:
            for section in sections:
                for location in section.locations:
                    if any(is_under(folder, location, case_insensitive=case) for folder in self.folders):
                        targets[(section.id, location)] = None
        else:
            for folder in self.folders:
                inside = [s for s in sections
                          if any(is_under(folder, loc, case_insensitive=case) for loc in s.locations)]
                for section in inside or sections:
                    targets[(section.id, folder)] = None
        self.summary.scans_requested = len(targets)
        if self.dry_run:
            return
        try:
            for section_id, folder in targets:
                self.plex.scan(section_id, folder)
        except PlexSyncError as exc:
            # The scenes are queued: each asks Plex to scan its folder when it syncs.
            log_warn(f"Plex refused a folder scan ({exc}); the queued scenes ask again when they sync")
            return
        log_info(f"Asked Plex to scan {len(targets)} folder(s) for files it does not have yet")


def reconcile(scope: str, *, stash: StashClient, config: PlexSyncConfig, data_dir: str, plex: PlexConnection,
              progress: Optional[ProgressFn] = None, dry_run: bool = False) -> ReconcileSummary:
    """Compare Stash with Plex and queue the scenes that differ (see the module docstring).

    ``scope``: ``"changed"`` (updated since the last run, with an overlap; every scene
    the first time), ``"all"`` or ``"missing"`` (scenes with no Plex item: scan their
    folders and queue them). ``dry_run``: queue, scan and record nothing.
    ``progress(done, total)`` is called every :data:`PROGRESS_EVERY` scenes and at the
    end. Raises ``plex.exceptions.PlexSyncError`` when Plex cannot be listed (nothing is queued
    then) and ``stash.client.StashError`` when Stash cannot be read.
    """
    return Reconciler(scope, stash=stash, config=config, data_dir=data_dir, plex=plex,
                      progress=progress, dry_run=dry_run).run()
