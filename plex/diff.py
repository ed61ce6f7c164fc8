"""Current Plex item vs desired metadata → the parameters of one edit: pure.

The result is the query of a single ``PUT /library/sections/{id}/all`` holding
only what differs (plus locks for fields not yet locked). Tag lists are sent
whole, as indexed lists, which Plex applies as a replacement: never a partial
list that could keep stale tags.
"""

from __future__ import annotations

from typing import Mapping
from urllib.parse import quote

from plex.item_state import PlexItemState
from worker.mapping import DesiredMetadata

EditParams = dict[str, str | int]
_ORDERED_KINDS = frozenset({"actor"})  # billing order matters; other lists are sets


def _same_scalar(name: str, current: str, wanted: str) -> bool:
    if name in ("year", "userRating"):
        try:
            return (float(current) if current else None) == (float(wanted) if wanted else None)
        except ValueError:
            return current == wanted
    return current == wanted


def _same_tags(kind: str, current: tuple[str, ...], wanted: tuple[str, ...]) -> bool:
    if kind in _ORDERED_KINDS:
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
                owned_before: Mapping[str, tuple[str, ...]] | None = None) -> EditParams:
    """Parameters for one batched edit; empty when Plex already shows ``desired``."""
    owned_before = owned_before or {}
    params: EditParams = {}
    for name, wanted in desired.scalars.items():
        if wanted is None:
            continue
        same = _same_scalar(name, current.scalars.get(name, ""), wanted)
        if not same or (lock and name not in current.locked):
            params[f"{name}.value"] = wanted
            if lock:
                params[f"{name}.locked"] = 1
    for kind in desired.tags:
        have = current.tags.get(kind, ())
        want = target_tags(kind, have, desired, owned_before)
        if not _same_tags(kind, have, want):
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
