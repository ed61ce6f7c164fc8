"""A Stash scene's watch state as PlexSync reasons about it, and Stash's time text.

Pure: Stash's GraphQL answer in, plain values out. Times are int epoch seconds (UTC,
to the second), the shared vocabulary of the watch-state code: Stash stores plays to
the second, and renders them as RFC3339 (UTC for plays, the server's offset for
``updated_at``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping


@dataclass(frozen=True)
class SceneWatchState:
    """One scene's plays, resume point and rating in Stash."""

    scene_id: int
    play_history: tuple[int, ...]   # every play, oldest first (duplicates kept, as Stash keeps them)
    play_count: int
    last_played_at: int | None
    resume_time: float              # seconds; 0 when none
    play_duration: float            # seconds, summed over plays
    rating100: int | None           # 1-100, None when unrated
    updated_at: int                 # the scene's updated_at (plays and activity leave it alone)
    duration: float | None          # the first file's duration in seconds; None without a file


def to_epoch(text: str) -> int:
    """Epoch seconds of a Stash ``Time`` (RFC3339 with offset or "Z"; fractions dropped)."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:  # Stash always sends an offset; never guess the local one
        raise ValueError(f"Stash time without an offset: {text!r}")
    return int(moment.timestamp() // 1)


def to_stash_time(epoch: int) -> str:
    """Epoch seconds as the text Stash stores plays in: UTC RFC3339, to the second.

    Stash's ``last_played_at`` filter compares this text with its stored text, so a
    filter value must be in exactly this form.
    """
    return datetime.fromtimestamp(int(epoch), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_watch_state(scene: Mapping[str, Any]) -> SceneWatchState:
    """A :class:`SceneWatchState` from a scene with the fields of ``queries.WATCH_FIELDS``."""
    history = tuple(sorted(to_epoch(t) for t in scene.get("play_history") or ()))
    last = scene.get("last_played_at")
    files = scene.get("files") or []
    duration = files[0].get("duration") if files else None
    rating = scene.get("rating100")
    return SceneWatchState(
        scene_id=int(scene["id"]),
        play_history=history,
        play_count=int(scene.get("play_count") or 0),
        last_played_at=None if last is None else to_epoch(last),
        resume_time=float(scene.get("resume_time") or 0.0),
        play_duration=float(scene.get("play_duration") or 0.0),
        rating100=None if rating is None else int(rating),
        updated_at=to_epoch(scene["updated_at"]),
        duration=None if duration is None else float(duration),
    )
