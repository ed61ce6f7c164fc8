"""The scenes of a drain's next jobs, read from Stash in one request per batch.

A bulk drain used to cost one ``findScene`` per job. :class:`SceneBatch` reads the
scenes of the next :data:`SCENE_BATCH_SIZE` due scene pushes with one ``findScenes``
and their covers with a small thread pool, and hands each scene out once (a retry
later in the drain reads fresh). Once half a batch is handed out, the next one is read
in the background (:meth:`SceneBatch.read_ahead`), so the Plex pool never waits for a
batch's covers; memory holds two batches at most.

Stash rejects a whole ``findScenes(ids:)`` when one id no longer exists, so a
rejected batch is narrowed with one id listing: the missing ids read as deleted
(as ``findScene`` answering null), the rest are read again. Anything else the batch
cannot settle is left to the per-scene ``findScene``, which classifies it as before.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Protocol, Sequence, Union

from shared.defaults import COVER_BATCH_MAX_BYTES, COVER_FETCH_WORKERS, SCENE_BATCH_SIZE
from shared.log import create_logger
from stash.client import StashAuthError, StashConnection, StashError, StashUnreachable

log_trace, log_debug, log_info, log_warn, log_error = create_logger("batch")

class SceneSource(Protocol):
    """What a sync asks of Stash: :class:`stash.client.StashClient`, or the dry run's
    client that notes scene titles."""

    @property
    def connection(self) -> StashConnection: ...
    def find_scene(self, scene_id: int | str) -> dict[str, Any] | None: ...
    def find_scenes_by_id(self, scene_ids: Sequence[int]) -> list[dict[str, Any]]: ...
    def scene_ids_between(self, low: int, high: int) -> set[int]: ...
    def scenes_with_file(self, path: str) -> list[dict[str, Any]]: ...
    def fetch(self, url: str) -> tuple[bytes, str]: ...


#: A cover as ``StashClient.fetch`` gave it, or the error it raised.
Cover = Union[tuple[bytes, str], StashError]


@dataclass(frozen=True)
class Fetched:
    """One scene of a batch: ``None`` when Stash no longer has it; when it was read."""

    scene: dict[str, Any] | None
    read_at: float


@dataclass(frozen=True)
class _Batch:
    """A batch as read: its scenes by id and its covers by URL."""

    scenes: dict[int, Fetched]
    covers: dict[str, Cover]


def batch_ids(first: int, upcoming: Iterable[int], size: int) -> list[int]:
    """``first`` then the other distinct ids of ``upcoming``, at most ``size`` in all."""
    out = [first]
    seen = {first}
    for scene_id in upcoming:
        if len(out) >= size:
            break
        if scene_id not in seen:
            seen.add(scene_id)
            out.append(scene_id)
    return out


class SceneBatch:
    """Reads ahead; :meth:`take` gives a scene once, :meth:`take_cover` its cover once."""

    def __init__(self, stash: SceneSource, cover_url: Callable[[dict[str, Any]], str | None], *,
                 size: int = SCENE_BATCH_SIZE, cover_workers: int = COVER_FETCH_WORKERS,
                 cover_budget: int = COVER_BATCH_MAX_BYTES) -> None:
        self.stash = stash
        self.cover_url = cover_url
        self.size = size
        self.cover_workers = cover_workers
        self.cover_budget = cover_budget
        self._scenes: dict[int, Fetched] = {}
        self._covers: dict[str, Cover] = {}
        #: The next batch, being read in the background, and its ids.
        self._ahead: Future[_Batch | None] | None = None
        self._ahead_ids: frozenset[int] = frozenset()
        self._reader: ThreadPoolExecutor | None = None
        # Kept for the drain: its threads keep their connections to Stash from batch to batch.
        self._cover_pool: ThreadPoolExecutor | None = None
        self._closed = False

    def take(self, scene_id: int) -> Fetched | None:
        """The scene as a batch read it (once), or ``None`` when no batch has it. A scene
        of the batch being read ahead waits for that read."""
        fetched = self._scenes.pop(scene_id, None)
        if fetched is None and scene_id in self._ahead_ids:
            self._adopt_ahead()
            fetched = self._scenes.pop(scene_id, None)
        return fetched

    def take_cover(self, url: str) -> Cover | None:
        """The cover at ``url`` as the last batch fetched it (once), or ``None``."""
        return self._covers.pop(url, None)

    def remaining(self) -> int:
        """Scenes of the current batch not handed out yet."""
        return len(self._scenes)

    def upcoming(self) -> list[dict[str, Any]]:
        """The current batch's scenes not handed out yet, in the order of the jobs."""
        return [fetched.scene for fetched in self._scenes.values() if fetched.scene is not None]

    def holds(self, scene_id: int) -> bool:
        """Whether the current batch or the one being read ahead has this scene."""
        return scene_id in self._scenes or scene_id in self._ahead_ids

    def reading_ahead(self) -> bool:
        """Whether a batch is being (or was) read ahead and not yet taken over."""
        return self._ahead is not None

    def load(self, scene_ids: Sequence[int]) -> None:
        """Replace the batch with these scenes and their covers (one request, plus one id
        listing if Stash rejects it). Raises only a lost Stash (``StashUnreachable`` or
        ``StashAuthError``), which the caller classifies as ``findScene``'s."""
        self._install(self._read_batch(scene_ids))

    def read_ahead(self, scene_ids: Sequence[int]) -> None:
        """Start reading these scenes and covers in the background (one batch at a time);
        :meth:`take` of one of them makes it the current batch."""
        ids = list(dict.fromkeys(int(i) for i in scene_ids))
        if self._ahead is not None or not ids:
            return
        if self._reader is None:
            self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scene-batch")
        self._ahead_ids = frozenset(ids)
        self._ahead = self._reader.submit(self._read_batch, ids)

    def close(self) -> None:
        """Stop reading ahead (a read in progress ends on its own, its result unused)."""
        self._closed = True
        if self._reader is not None:
            self._reader.shutdown(wait=False, cancel_futures=True)
            self._reader = None
        if self._cover_pool is not None:
            self._cover_pool.shutdown(wait=False, cancel_futures=True)
            self._cover_pool = None
        self._ahead, self._ahead_ids = None, frozenset()

    def _adopt_ahead(self) -> None:
        ahead, self._ahead, self._ahead_ids = self._ahead, None, frozenset()
        if ahead is None:
            return
        try:
            batch = ahead.result()
        except Exception as exc:  # classified when the foreground reads them again
            # Read again in the foreground, where losing Stash stops the drain as it should.
            log_debug(f"Reading the next scenes ahead failed ({type(exc).__name__}: {exc}); reading them again")
            return
        self._install(batch)

    def _install(self, batch: _Batch | None) -> None:
        self._scenes.clear()
        self._covers.clear()
        if batch is not None:
            self._scenes.update(batch.scenes)
            self._covers.update(batch.covers)

    def _read_batch(self, scene_ids: Sequence[int]) -> _Batch | None:
        """The scenes and covers of ``scene_ids``; ``None`` when each must be read alone."""
        ids = list(dict.fromkeys(int(i) for i in scene_ids))
        if not ids:
            return None
        read_at = time.time()
        found = self._read(ids)
        if found is None:
            return None  # each scene is read on its own, as before
        scenes = {scene_id: Fetched(found.get(scene_id), read_at) for scene_id in ids}
        return _Batch(scenes, self._fetch_covers(list(found.values())))

    def _read(self, ids: list[int]) -> dict[int, dict[str, Any]] | None:
        try:
            return {int(s["id"]): s for s in self.stash.find_scenes_by_id(ids)}
        except (StashUnreachable, StashAuthError):
            raise
        except StashError as exc:
            log_debug(f"Stash rejected a batch of {len(ids)} scenes ({exc}); checking which still exist")
        try:
            existing = self.stash.scene_ids_between(min(ids), max(ids))
            kept = [i for i in ids if i in existing]
            return {int(s["id"]): s for s in self.stash.find_scenes_by_id(kept)}
        except (StashUnreachable, StashAuthError):
            raise
        except StashError as exc:
            log_debug(f"Could not narrow the batch ({exc}); reading its scenes one by one")
            return None

    def _url(self, scene: dict[str, Any]) -> str | None:
        try:
            return self.cover_url(scene)
        except Exception:  # the scene's own sync meets and reports it
            return None

    def _fetch_covers(self, scenes: list[dict[str, Any]]) -> dict[str, Cover]:
        urls = list(dict.fromkeys(u for u in map(self._url, scenes) if u))
        covers: dict[str, Cover] = {}
        if not urls or self._closed:
            return covers

        def fetch(url: str) -> Cover:
            try:
                return self.stash.fetch(url)
            except StashError as exc:
                return exc  # told when its scene syncs, as before

        held = 0
        step = max(1, self.cover_workers)
        if self._cover_pool is None:
            self._cover_pool = ThreadPoolExecutor(max_workers=step, thread_name_prefix="stash-covers")
        # A few at a time, so no more than ``step`` covers past the budget are ever held.
        for start in range(0, len(urls), step):
            if held >= self.cover_budget:
                break  # the rest are fetched when their scene syncs: memory stays bounded
            chunk = urls[start:start + step]
            for url, cover in zip(chunk, self._cover_pool.map(fetch, chunk)):
                size = 0 if isinstance(cover, StashError) else len(cover[0])
                if held + size <= self.cover_budget:
                    held += size
                    covers[url] = cover
        return covers
