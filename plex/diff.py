"""Current Plex item vs desired metadata → the one edit request: pure.

The only place a Plex edit is assembled. :func:`edit_params` diffs the item's
fields; :func:`edit_request` adds the item's type and id and the poster lock,
giving the full query of a single ``PUT /library/sections/{id}/all`` holding
only what differs (plus locks for fields not yet locked). Tag lists are sent
whole, as indexed lists, which Plex applies as a replacement: never a partial
list that could keep stale tags. Field names come from :mod:`plex.media_types`.
"""

from __future__ import annotations

from typing import Mapping
from urllib.parse import quote

from plex.desired import DesiredMetadata
from plex.item_state import PlexItemState
from plex.media_types import MOVIE, POSTER_FIELD, MediaType

EditParams = dict[str, str | int]
#: Keys of an edit request that address the item rather than change it.
_ADDRESS_KEYS = ("type", "id")


def _same_scalar(media: MediaType, name: str, current: str, wanted: str) -> bool:
    if name in media.numeric:
        try:
            return (float(current) if current else None) == (float(wanted) if wanted else None)
        except ValueError:
            return current == wanted
    return current == wanted


def _same_tags(media: MediaType, kind: str, current: tuple[str, ...], wanted: tuple[str, ...]) -> bool:
    if kind in media.ordered_tags:
        return list(current) == list(wanted)
    return sorted(current) == sorted(wanted)


def target_tags(kind: str, current: tuple[str, ...], desired: DesiredMetadata,
                owned_before: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
    """The list ``kind`` should hold: the desired one, plus — for kinds shared with
    Plex users (collections) — the entries we never wrote ourselves."""
    wanted = desired.tags[kind]
    if kind not in desired.shared_kinds:
        return wanted
    ours = set(owned_before.get(kind, ())) | set(wanted)
    foreign = tuple(t for t in current if t not in ours)
    return wanted + foreign


def edit_params(current: PlexItemState, desired: DesiredMetadata, *, lock: bool,
                owned_before: Mapping[str, tuple[str, ...]] | None = None, media: MediaType = MOVIE) -> EditParams:
    """The item's fields to change (and lock) in one batched edit; empty when Plex
    already shows ``desired``. :func:`edit_request` turns them into the request."""
    owned_before = owned_before or {}
    params: EditParams = {}
    for name, wanted in desired.scalars.items():
        if wanted is None:
            continue
        same = _same_scalar(media, name, current.scalars.get(name, ""), wanted)
        if not same or (lock and name not in current.locked):
            params[f"{name}.value"] = wanted
            if lock:
                params[f"{name}.locked"] = 1
    for kind in desired.tags:
        have = current.tags.get(kind, ())
        want = target_tags(kind, have, desired, owned_before)
        if not _same_tags(media, kind, have, want):
            if want:
                for index, name in enumerate(want):
                    params[f"{kind}[{index}].tag.tag"] = name
            else:
                # An empty indexed list means nothing to Plex: remove by name.
                params[f"{kind}[].tag.tag-"] = ",".join(quote(name, safe="") for name in have)
            if lock:
                params[f"{kind}.locked"] = 1
        elif lock and kind not in current.locked:
            params[f"{kind}.locked"] = 1
    return params


def edit_request(media: MediaType, rating_key: str, changes: EditParams, *, lock: bool,
                 poster_uploaded: bool = False) -> EditParams:
    """The full query of one edit of item ``rating_key``: its type and id, ``changes``
    (from :func:`edit_params`), and the poster's lock when a new poster was uploaded
    with 'Lock fields' on. Empty when there is nothing to send."""
    params: EditParams = dict(changes)
    if poster_uploaded and lock:
        # Else Plex's agent may put its own poster back at the next refresh.
        params[f"{POSTER_FIELD}.locked"] = 1
    if not params:
        return {}
    return {"type": media.type_id, "id": rating_key, **params}


def request_changes(request: EditParams) -> EditParams:
    """The item's fields an :func:`edit_request` changes or locks (without type and id)."""
    return {key: value for key, value in request.items() if key not in _ADDRESS_KEYS}
