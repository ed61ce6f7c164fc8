"""Plex items read several per request (``worker/item_batch.py``, ``PlexConnection.load_items``).

Real parts: the Plex emulator over loopback HTTP through plexapi. Counts requests, never times;
the read-ahead's age limit runs on an injected clock.
"""

from __future__ import annotations

import pytest

from plex.client import PlexConnection
from plex.exceptions import PlexNotFound
from tests.sync_support import METADATA, MOVIES, plex_config, plex_emu  # noqa: F401  (fixture)
from worker.item_batch import ItemBatch
from worker.pool import KeyLocks


@pytest.fixture
def items(plex_emu):
    keys = [str(plex_emu.add_item(plex_emu.section_id, f"Movie {n}", [f"{MOVIES}/m{n}.mp4"])) for n in range(5)]
    plex = PlexConnection(plex_config(plex_emu))
    plex_emu.reset_requests()
    yield plex, keys
    plex.close()


def test_load_items_reads_every_named_item_in_one_request_and_leaves_out_the_gone(plex_emu, items):
    plex, keys = items
    states = plex.load_items([keys[0], "999999", keys[3]])
    assert sorted(states) == sorted([keys[0], keys[3]])
    assert states[keys[3]].scalars["title"] == "Movie 3"
    assert states[keys[0]].files == (f"{MOVIES}/m0.mp4",)
    assert states[keys[0]].section_id == str(plex_emu.section_id)
    assert plex.load_items(["999998", "999999"]) == {}
    assert plex_emu.request_counts()[METADATA] == 2


def test_expected_items_are_read_along_once_and_then_used_without_a_request(plex_emu, items):
    plex, keys = items
    now = [0.0]
    batch = ItemBatch(plex, KeyLocks(), size=3, max_age=30.0, clock=lambda: now[0])
    batch.expect(keys[1:])
    assert batch.load(keys[0]).files == (f"{MOVIES}/m0.mp4",)     # reads keys 0, 1, 2
    assert plex_emu.request_counts()[METADATA] == 1 and batch.read_along == 2
    assert batch.load(keys[1]).scalars["title"] == "Movie 1"
    assert plex_emu.request_counts()[METADATA] == 1
    batch.load(keys[1])                                          # used once: read again, alone
    assert plex_emu.request_counts()[METADATA] == 2
    # Too old to trust: read again (with what is still expected).
    now[0] = 31.0
    batch.load(keys[2])
    assert plex_emu.request_counts()[METADATA] == 3
    assert batch.expecting() == 0


def test_a_written_item_is_read_again_and_a_locked_one_is_never_read_along(plex_emu, items):
    plex, keys = items
    locks = KeyLocks()
    batch = ItemBatch(plex, locks, size=5)
    batch.expect(keys[1:3])
    with locks.hold(keys[2]):            # another thread is busy with item 2
        batch.load(keys[0])
    assert batch.read_along == 1         # item 1 only
    batch.forget(keys[1])                # written since: what was read is stale
    before = plex_emu.request_counts()[METADATA]
    batch.load(keys[1])
    assert plex_emu.request_counts()[METADATA] == before + 1


def test_an_item_plex_no_longer_has_raises_not_found_and_the_others_are_kept(plex_emu, items):
    plex, keys = items
    batch = ItemBatch(plex, KeyLocks(), size=5)
    batch.expect([keys[1]])
    with pytest.raises(PlexNotFound):
        batch.load("999999")
    count = plex_emu.request_counts()[METADATA]
    batch.load(keys[1])
    assert plex_emu.request_counts()[METADATA] == count


def test_clear_drops_what_was_read_ahead_and_named(plex_emu, items):
    """After a write outside the sync (another drain between passes, a watch-state job),
    nothing read before it is used."""
    plex, keys = items
    batch = ItemBatch(plex, KeyLocks(), size=5)
    batch.expect(keys[1:4])
    batch.load(keys[0])                  # keys 1-3 read along
    batch.clear()
    assert batch.expecting() == 0
    before = plex_emu.request_counts()[METADATA]
    batch.load(keys[1])
    assert plex_emu.request_counts()[METADATA] == before + 1
