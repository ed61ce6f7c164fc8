"""Play history and activity of the Stash emulator's scenes, Stash's way.

Facts from Stash's source (v0.30, pkg/sqlite/table.go ``viewHistoryTable``,
pkg/sqlite/scene.go ``SaveActivity``/``ResetActivity``, internal/api/timestamp.go):

- Plays live in their own table (``scenes_view_dates``), stored as UTC RFC3339 text to
  the second. ``play_count`` is their number, ``last_played_at`` the newest,
  ``play_history`` all of them, newest first, rendered in UTC ("...Z").
- ``sceneAddPlay`` inserts one row per time (now when none are given): not idempotent.
  ``sceneDeletePlay`` removes one row per given time that matches exactly, or the newest
  when none are given. ``sceneResetPlayCount`` removes all.
- ``sceneSaveActivity`` sets ``resume_time`` when given and adds ``playDuration`` to
  ``play_duration`` when given (nothing for null). ``sceneResetActivity`` zeroes either.
- None of them touches the scene's ``updated_at`` and none fires a plugin hook.
- The ``Timestamp`` input scalar takes RFC3339, ``2006-01-02``, ``2006-01-02 15:04:05``
  (both UTC) or ``<`` / ``>`` followed by a Go duration (now minus / plus it).

The functions here change one scene record (a plain dict, see stash_store.py) and hold
no lock; the store calls them under its own.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

# Go's time.ParseDuration units, in seconds.
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
# What an unplayed scene's last_played_at compares as in Stash's filter:
# IFNULL(last_played_at, datetime(0)) in SQLite.
NEVER_PLAYED_TEXT = "-4713-11-24 12:00:00"


class TimestampError(ValueError):
    """A ``Timestamp`` input Stash cannot parse; the message is Stash's wording."""


def utc_text(epoch: int) -> str:
    """How Stash stores and renders a play time: UTC RFC3339, to the second."""
    return datetime.fromtimestamp(int(epoch), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(value: object, now: datetime) -> int:
    """A ``Timestamp`` input as Stash reads it, in epoch seconds (fractions dropped, as
    Stash's RFC3339 storage drops them)."""
    if not isinstance(value, str):
        raise TimestampError("cannot parse Timestamp: not a string")
    if not value:
        raise TimestampError("cannot parse Timestamp: empty string")
    if value[0] in "<>":
        seconds = _go_duration(value[1:])
        if seconds is None:
            raise TimestampError(f"cannot parse Timestamp: cannot parse {value[0]}-duration: "
                                 f'time: invalid duration "{value[1:]}"')
        moment = now + timedelta(seconds=seconds if value[0] == ">" else -seconds)
        return int(moment.timestamp() // 1)
    if _RFC3339.match(value):
        return int(datetime.fromisoformat(value).timestamp() // 1)
    for fmt in ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S"):
        try:
            return int(datetime.strptime(value, fmt).replace(tzinfo=timezone.utc).timestamp())
        except ValueError:
            pass
    raise TimestampError(f"ParseDateStringAsTime failed: dateString <{value}>")


def _go_duration(text: str) -> float | None:
    """Seconds of a Go duration ("1h30m", "90s", "-5m"), or None when it is not one."""
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    if body == "0":
        return 0.0
    pos, total = 0, 0.0
    while pos < len(body):
        match = _DURATION_PART.match(body, pos)
        if match is None:
            return None
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    return sign * total if body else None


def new_activity() -> dict:
    """A fresh scene's play fields (Stash's columns default to 0, the history to empty)."""
    return {"resume_time": 0.0, "play_duration": 0.0, "_plays": []}


def add_plays(scene: dict, times: list[int]) -> None:
    """Append plays (epoch seconds); duplicates are kept, as Stash keeps them."""
    scene["_plays"].extend(int(t) for t in times)


def delete_plays(scene: dict, times: list[int] | None) -> None:
    """Remove one play per given time that matches exactly; none given: the newest."""
    plays: list[int] = scene["_plays"]
    if not times:
        if plays:
            plays.remove(max(plays))
        return
    for t in times:
        if int(t) in plays:
            plays.remove(int(t))


def history(scene: dict) -> list[int]:
    """The scene's plays, newest first (Stash orders by view_date DESC)."""
    return sorted(scene["_plays"], reverse=True)


def last_played(scene: dict) -> int | None:
    """The newest play, or None when never played."""
    return max(scene["_plays"]) if scene["_plays"] else None


def last_played_text(scene: dict) -> str:
    """last_played_at as Stash's filter compares it (text; unplayed: SQLite's datetime(0))."""
    newest = last_played(scene)
    return NEVER_PLAYED_TEXT if newest is None else utc_text(newest)


def save_activity(scene: dict, resume_time: float | None, play_duration: float | None) -> None:
    """sceneSaveActivity: set the resume point if given, add to the play duration if given."""
    if resume_time is not None:
        scene["resume_time"] = float(resume_time)
    if play_duration is not None:
        scene["play_duration"] = float(scene["play_duration"]) + float(play_duration)


def reset_activity(scene: dict, reset_resume: bool, reset_duration: bool) -> None:
    """sceneResetActivity: zero the resume point and/or the play duration."""
    if reset_resume:
        scene["resume_time"] = 0.0
    if reset_duration:
        scene["play_duration"] = 0.0
