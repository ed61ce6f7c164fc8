"""One scene against what PlexSync last wrote and what Plex's listing shows: pure.

A reconcile must decide for 100,000 scenes without one Plex request each, from:

* the fingerprint :class:`worker.sync.SceneSync` stored at the last successful sync
  (:class:`worker.sync_state.SyncRecord`) against the fingerprint of the metadata
  the scene wants now: a renamed tag or an edit in Stash changes it;
* the scalar fields a section listing carries (title, summary, studio, dates,
  rating, tagline) against the desired ones: an edit made in Plex shows there.
  Tag lists are truncated in listings and locks absent, so those are left to the
  fingerprint.

Listings are kept in memory as :class:`ListingDigest` values: per-field hashes of
the listed scalars, about 100 bytes an item, so 100,000 items cost a few
megabytes instead of the texts themselves.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

from plex.desired import DesiredMetadata, fit_to_media, sync_fingerprint
from plex.media_types import MOVIE, MediaType
from plex.path_index import IndexedPart
from worker.sync_state import SyncRecord

# Why a scene is enqueued (the job's ``data["reason"]``).
NEVER_SYNCED = "never_synced"
CHANGED_IN_STASH = "changed_in_stash"
DRIFTED_IN_PLEX = "drifted_in_plex"
MOVED_IN_PLEX = "moved_in_plex"
MISSING_IN_PLEX = "missing_in_plex"
REASONS = (NEVER_SYNCED, CHANGED_IN_STASH, DRIFTED_IN_PLEX, MOVED_IN_PLEX, MISSING_IN_PLEX)

#: Prefix a reconcile puts on a record's fingerprint when Plex no longer shows what
#: was written: the next sync then diffs against Plex instead of skipping the
#: scene as unchanged, keeping the record's poster hash and owned collections.
DRIFT_MARK = "plex-drift:"

#: The listed fields compared: the movie entry's scalars (what the sync writes; an
#: episode's are a subset, and :func:`judge` compares only those an item has).
SCALARS = MOVIE.scalars
_NUMERIC = MOVIE.numeric
_POSITION = {name: i for i, name in enumerate(SCALARS)}
_PACK = struct.Struct(f"<{len(SCALARS)}q")

ListingDigest = bytes


def _normal(name: str, value: str) -> str:
    """The form two values of ``name`` are compared in (numbers as numbers, as plex.diff does)."""
    if name in _NUMERIC and value:
        try:
            return repr(float(value))
        except ValueError:
            return value
    return value


def _hash(name: str, value: str) -> int:
    # hash() is salted per process; digests are only compared within one run.
    return hash(_normal(name, value or ""))


def listing_digest(scalars: Mapping[str, str]) -> ListingDigest:
    """A compact stand-in for an item's listed scalar fields."""
    return _PACK.pack(*(_hash(name, scalars.get(name, "")) for name in SCALARS))


def drifted_fields(desired: DesiredMetadata, digest: ListingDigest) -> list[str]:
    """Desired scalar fields the listed item does not show (``None`` = leave Plex's value)."""
    listed = _PACK.unpack(digest)
    return [name for name, wanted in desired.scalars.items()
            if wanted is not None and name in _POSITION and listed[_POSITION[name]] != _hash(name, wanted)]


def fingerprint_matches(desired: DesiredMetadata, record: SyncRecord, lock_fields: bool) -> bool:
    """Whether the last sync wrote what ``desired`` asks for.

    Covers arrive by hook (a new cover bumps the scene), so the stored poster hash
    stands for the poster. A sync whose cover could not be fetched stored a
    fingerprint without it; that counts as in step too, or the scene would be
    enqueued again on every reconcile while the sync keeps finding it unchanged.
    """
    if record.fingerprint.startswith(DRIFT_MARK):
        return False
    poster = record.poster_sha if desired.poster_url else None
    if record.fingerprint == sync_fingerprint(desired, poster, lock_fields):
        return True
    return poster is not None and record.fingerprint == sync_fingerprint(desired, None, lock_fields)


@dataclass(frozen=True)
class Verdict:
    """Why a scene differs (``reason`` ``None``: in sync) and a short detail for the log."""

    reason: Optional[str]
    detail: str = ""


IN_SYNC = Verdict(None)


def judge(desired: DesiredMetadata, record: Optional[SyncRecord], rating_key: str,
          digest: Optional[ListingDigest], lock_fields: bool, media: MediaType = MOVIE) -> Verdict:
    """Compare one matched scene: the record first (cheap), then the listing — only the
    fields an item of ``media`` has (an episode never shows a studio: that is no drift)."""
    if record is None:
        return Verdict(NEVER_SYNCED)
    if record.rating_key != rating_key:
        return Verdict(MOVED_IN_PLEX, f"Plex item {record.rating_key} → {rating_key}")
    if record.fingerprint.startswith(DRIFT_MARK):
        return Verdict(DRIFTED_IN_PLEX, "not yet rewritten")
    if not fingerprint_matches(desired, record, lock_fields):
        return Verdict(CHANGED_IN_STASH)
    if digest is not None:
        fields = drifted_fields(fit_to_media(desired, media)[0], digest)
        if fields:
            return Verdict(DRIFTED_IN_PLEX, ", ".join(fields))
    return IN_SYNC


