"""Jobs: plain picklable dicts, so any release can read what an older one queued.

This module owns the job: its kind, its key (kind + subject), when it is due, and its
retry bookkeeping. Adding a kind is a constant and an entry in :data:`KINDS` here, a
builder calling :func:`new_job`, and a handler in the drain's handler table
(``plugin/process.py``). Standard library only: the hook builds jobs.
"""

from __future__ import annotations

import time
# Hook path: typing and dataclasses cost ~18 ms to import, so names used only in
# annotations are imported for type checkers alone.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: Push a scene's metadata from Stash to its Plex item.
PUSH_SCENE = "push_scene"
#: One watch-state pass (plays, resume points, ratings between Plex and Stash; issue 11).
SYNC_WATCH_STATE = "sync_watch_state"
#: Fill in a TV show from the studio of its episodes' scenes (issue 12): key ``show_<ratingKey>``.
FILL_SHOW = "fill_show"
#: The subject of the one watch-state job: its key is ``watch_state``.
WATCH_STATE_SUBJECT = "state"

#: Retry bookkeeping a job gains when it fails; cleared when the DLQ requeues it.
RETRY_FIELDS = ("retry_count", "next_retry_at", "last_error_type", "outage_count")


class JobKind:
    """What the queue needs to know about one kind of job."""

    __slots__ = ("name", "key_prefix", "coalesces")

    def __init__(self, name: str, key_prefix: str, *, coalesces: bool = True) -> None:
        self.name = name
        #: Keys are ``<key_prefix>_<subject>``; unique per kind, so kinds never share a key.
        self.key_prefix = key_prefix
        #: A run reads its subject fresh, so it covers every job of its key queued before it began.
        self.coalesces = coalesces

    def __repr__(self) -> str:
        return f"JobKind({self.name!r}, {self.key_prefix!r}, coalesces={self.coalesces})"


#: Every kind this release can run. push_scene's prefix stays "scene": keys already on disk.
KINDS: dict[str, JobKind] = {
    PUSH_SCENE: JobKind(PUSH_SCENE, "scene"),
    # A pass reads everything fresh, so it covers every pass queued before it began.
    SYNC_WATCH_STATE: JobKind(SYNC_WATCH_STATE, "watch"),
    # A run reads the show's episodes and scenes fresh, so it covers every earlier job of the show.
    FILL_SHOW: JobKind(FILL_SHOW, "show"),
}


def kind_of(job: dict[str, Any]) -> str:
    """The job's kind; jobs queued before kinds existed have none and are scene pushes."""
    return str(job.get("kind") or PUSH_SCENE)


def job_key(scene_id: int, kind: str = PUSH_SCENE) -> str:
    """The identity of the work: one kind of work on one scene, whatever triggered it."""
    return _key(kind, scene_id)


def key_of(job: dict[str, Any]) -> str:
    """The key of a queued job (older jobs may lack the stored one)."""
    return str(job.get("job_key") or _key(kind_of(job), job.get("scene_id")))


def _key(kind: str, subject: object) -> str:
    spec = KINDS.get(kind)
    return f"{spec.key_prefix if spec else kind}_{subject}"


def coalesces(job: dict[str, Any]) -> bool:
    """Whether a later run of the same key and kind makes this job redundant."""
    spec = KINDS.get(kind_of(job))
    return bool(spec and spec.coalesces)


def new_job(scene_id: int, update_type: str, data: dict[str, Any] | None = None, *,
            kind: str = PUSH_SCENE) -> dict[str, Any]:
    """A fresh job of ``kind`` for ``scene_id``; ``update_type`` says what asked for it
    (hook type, reconcile…). Without ``kind``, a scene push (the hook's job)."""
    if kind not in KINDS:
        raise ValueError(f"unknown job kind {kind!r}")
    return {
        "kind": kind,
        "scene_id": int(scene_id),
        "update_type": update_type,
        "data": dict(data or {}),
        "enqueued_at": time.time(),
        "job_key": job_key(scene_id, kind),
    }


def watch_state_job(update_type: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    """A watch-state pass; ``update_type`` says what asked for it (schedule, task). It
    has no scene: its key is ``watch_state`` whatever asked."""
    return {
        "kind": SYNC_WATCH_STATE,
        "scene_id": None,
        "update_type": update_type,
        "data": dict(data or {}),
        "enqueued_at": time.time(),
        "job_key": _key(SYNC_WATCH_STATE, WATCH_STATE_SUBJECT),
    }


def fill_show_job(section_id: str, show_key: str, update_type: str = "episode_written") -> dict[str, Any]:
    """Fill in show ``show_key`` of section ``section_id`` from its studio; no scene of its own."""
    return {
        "kind": FILL_SHOW,
        "scene_id": None,
        "update_type": update_type,
        "data": {"section": str(section_id), "show": str(show_key)},
        "enqueued_at": time.time(),
        "job_key": _key(FILL_SHOW, show_key),
    }


def due_at(job: dict[str, Any]) -> float:
    """When the job may run (epoch seconds); 0 for a job that never failed."""
    return float(job.get("next_retry_at") or 0)


def is_due(job: dict[str, Any], now: float) -> bool:
    """Whether the job may run at ``now``."""
    return due_at(job) <= now


def describe(job: dict[str, Any]) -> str:
    """How log lines name the job: "Scene 3", with the kind when it is not a push."""
    kind = kind_of(job)
    if kind == SYNC_WATCH_STATE:
        return "Watch-state pass"
    if kind == FILL_SHOW:
        return f"Show {(job.get('data') or {}).get('show')}"
    return f"Scene {job.get('scene_id')}" + ("" if kind == PUSH_SCENE else f" ({kind})")


def without_retry_state(job: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``job`` with its retry bookkeeping cleared."""
    return {k: v for k, v in job.items() if k not in RETRY_FIELDS}
