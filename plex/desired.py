"""What a Plex item should show, and the fingerprint of it a sync stores: pure.

:class:`DesiredMetadata` sits beside the diff that reads it; building one from a
Stash scene (which needs the settings) stays in :mod:`worker.mapping`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Mapping, Optional

from plex.media_types import FIELD_LABELS, MediaType


@dataclass(frozen=True)
class DesiredMetadata:
    """What a Plex item should show. ``None`` for a scalar means: leave Plex's value."""

    scalars: Mapping[str, str | None]
    tags: Mapping[str, tuple[str, ...]]
    poster_url: str | None = None
    #: Tag kinds where Plex may hold entries we don't own (collections users made in
    #: Plex): only entries we added are removed.
    shared_kinds: frozenset[str] = field(default_factory=lambda: frozenset({"collection"}))

    def fingerprint(self, extra: str = "") -> str:
        """A stable hash of everything we would write (plus ``extra``, e.g. the poster's hash)."""
        payload = json.dumps({"s": dict(sorted(self.scalars.items())), "t": {k: list(v) for k, v in sorted(self.tags.items())},
                              "x": extra}, ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


def sync_fingerprint(desired: DesiredMetadata, poster_sha: Optional[str], lock_fields: bool) -> str:
    """The fingerprint a sync stores for ``desired`` and a reconcile compares against:
    the metadata, the poster's hash and the lock setting (each changes what is written)."""
    return desired.fingerprint(extra=f"{poster_sha}|lock={lock_fields}")


#: Fields an item may lack without it being worth a word: Plex derives an episode's year from its date.
_DERIVED = frozenset({"year"})


def fit_to_media(desired: DesiredMetadata, media: MediaType) -> tuple[DesiredMetadata, tuple[str, ...]]:
    """``desired`` with only the fields an item of ``media`` has, and the labels of the
    fields left out that had something to say (e.g. studio and genres on an episode), so
    the caller can tell the user once. A movie keeps everything."""
    scalars = {k: v for k, v in desired.scalars.items() if k in media.scalars}
    tags = {k: v for k, v in desired.tags.items() if k in media.tags}
    dropped = [k for k, v in desired.scalars.items() if k not in scalars and k not in _DERIVED and v]
    dropped += [k for k, v in desired.tags.items() if k not in tags and v]
    if len(scalars) == len(desired.scalars) and len(tags) == len(desired.tags):
        return desired, ()
    return replace(desired, scalars=scalars, tags=tags), tuple(FIELD_LABELS.get(k, k) for k in dropped)
