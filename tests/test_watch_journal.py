"""worker.watch_journal on a real file: reopening, cursors across page boundaries, scrobble
intents across a kill (a real SIGKILL too), corruption handled like the DLQ's."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap

import pytest

from plex.watch_plan import PlexPlay, WatchSnapshot
from tests.conftest import log_lines
from tests.test_sqlite_files import corrupt, corrupt_copies, recovery_marker
from worker.watch_journal import DB_FILE, HistoryCursor, ScrobbleIntent, WatchJournal, pick_scrobble_entry

ACCOUNT = 1
NOW = 1_700_000_000
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def journal(data_dir):
    j = WatchJournal(data_dir)
    yield j
    j.close()


def test_own_private_file_in_a_private_folder(tmp_path):
    folder = str(tmp_path / "data")
    WatchJournal(folder).close()
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(os.path.join(folder, DB_FILE)).st_mode) == 0o600


def test_everything_survives_reopening(data_dir):
    j = WatchJournal(data_dir)
    assert j.fresh
    j.advance_plex_cursor(ACCOUNT, HistoryCursor(NOW, frozenset({7, 8})))
    j.advance_stash_cursor(NOW - 5)
    j.start_push(ACCOUNT, NOW - 100)
    j.record_carried(ACCOUNT, 3, [PlexPlay(7, NOW), PlexPlay(8, NOW)])
    j.record_finished(ACCOUNT, 4, NOW - 9000)
    j.scrobble_sent(j.begin_scrobble(ACCOUNT, 3, NOW - 50, "101", NOW), 55)
    j.begin_scrobble(ACCOUNT, 3, NOW - 40, "101", NOW)
    j.record_snapshot(ACCOUNT, 3, WatchSnapshot((4.5, 4500), (95, 10.0), NOW - 3))
    j.close()

    j = WatchJournal(data_dir)
    try:
        assert not j.fresh
        assert j.plex_cursor(ACCOUNT) == HistoryCursor(NOW, frozenset({7, 8}))
        assert j.stash_cursor() == NOW - 5
        assert j.push_baseline(ACCOUNT) == NOW - 100
        carried = j.carried(ACCOUNT, 3)
        assert carried.from_plex == {NOW} and carried.sent_to_plex == {NOW - 50, NOW - 40}
        assert carried.own_history_ids == {55} and carried.send_after == NOW - 100
        assert j.carried(ACCOUNT, 4).from_plex == {NOW - 9000}
        assert j.snapshot(ACCOUNT, 3) == WatchSnapshot((4.5, 4500), (95, 10.0), NOW - 3)
        assert j.snapshot(ACCOUNT, 4) is None
        assert j.open_intents() == [ScrobbleIntent(3, NOW - 40, ACCOUNT, "101", NOW)]
    finally:
        j.close()


def test_accounts_are_kept_apart(journal):
    journal.advance_plex_cursor(1, HistoryCursor(NOW, frozenset({1})))
    journal.scrobble_sent(journal.begin_scrobble(1, 3, NOW - 50, "101", NOW), 55)
    journal.start_push(1, NOW)
    assert journal.plex_cursor(2) == HistoryCursor()
    assert journal.carried(2, 3).sent_to_plex == frozenset() and journal.carried(2, 3).send_after is None
    assert journal.is_own_scrobble(1, 55) and not journal.is_own_scrobble(2, 55)


def test_the_push_baseline_is_set_once(journal):
    assert journal.push_baseline(ACCOUNT) is None
    assert journal.start_push(ACCOUNT, NOW) == NOW
    assert journal.start_push(ACCOUNT, NOW + 500) == NOW


def test_cursors_never_move_back(journal):
    journal.advance_plex_cursor(ACCOUNT, HistoryCursor(NOW, frozenset({9})))
    journal.advance_plex_cursor(ACCOUNT, HistoryCursor(NOW - 10, frozenset({3})))
    assert journal.plex_cursor(ACCOUNT) == HistoryCursor(NOW, frozenset({9}))
    journal.advance_plex_cursor(ACCOUNT, HistoryCursor(NOW, frozenset({10})))  # same second: ids merge
    assert journal.plex_cursor(ACCOUNT) == HistoryCursor(NOW, frozenset({9, 10}))
    journal.advance_stash_cursor(NOW)
    journal.advance_stash_cursor(NOW - 1)
    assert journal.stash_cursor() == NOW


HISTORY = [PlexPlay(1, 100), PlexPlay(2, 100), PlexPlay(3, 100), PlexPlay(4, 101), PlexPlay(5, 101),
           PlexPlay(6, 102), PlexPlay(7, 105)]


def read_page(cursor: HistoryCursor, size: int) -> list[PlexPlay]:
    """Plex's history ``viewedAt >= cursor`` ascending, one page (as the caller will read it)."""
    since = cursor.viewed_at or 0
    return [p for p in sorted(HISTORY, key=lambda p: (p.viewed_at, p.history_id)) if p.viewed_at >= since][:size]


@pytest.mark.parametrize("page_size", [1, 2, 3, 4])
def test_a_page_boundary_inside_one_second_neither_skips_nor_repeats(data_dir, page_size):
    processed: list[int] = []
    for _ in range(20):
        j = WatchJournal(data_dir)  # every page in a new process, as separate passes would be
        try:
            cursor = j.plex_cursor(ACCOUNT)
            new = [p for p in read_page(cursor, page_size + len(cursor.ids_at)) if cursor.is_new(p)][:page_size]
            if not new:
                break
            processed.extend(p.history_id for p in new)
            j.record_carried(ACCOUNT, 3, new)
            j.advance_plex_cursor(ACCOUNT, cursor.after(new))
        finally:
            j.close()
    assert processed == [p.history_id for p in HISTORY]


def test_a_kill_between_carrying_and_advancing_the_cursor_repeats_nothing(data_dir):
    j = WatchJournal(data_dir)
    page = HISTORY[:3]
    j.record_carried(ACCOUNT, 3, page)
    j.close()  # killed before advance_plex_cursor: the rerun reads the same page
    j = WatchJournal(data_dir)
    try:
        assert j.plex_cursor(ACCOUNT) == HistoryCursor()
        j.record_carried(ACCOUNT, 3, page)
        j.advance_plex_cursor(ACCOUNT, j.plex_cursor(ACCOUNT).after(page))
        rows = j._conn.execute("SELECT COUNT(*) FROM from_plex").fetchone()[0]
        assert rows == 3
        assert j.plex_cursor(ACCOUNT) == HistoryCursor(100, frozenset({1, 2, 3}))
    finally:
        j.close()


def test_an_open_intent_counts_as_sent(journal):
    journal.begin_scrobble(ACCOUNT, 3, NOW - 50, "101", NOW)
    assert NOW - 50 in journal.carried(ACCOUNT, 3).sent_to_plex


def test_kill_after_plex_scrobbled_resolves_as_sent_and_the_entry_as_ours(data_dir):
    j = WatchJournal(data_dir)
    j.record_carried(ACCOUNT, 3, [PlexPlay(40, NOW - 30)])  # a user's Plex play, already carried
    j.begin_scrobble(ACCOUNT, 3, NOW - 50, "101", NOW)
    j.close()  # SIGKILL here: Plex made entry 41 at NOW + 1, the journal never heard
    j = WatchJournal(data_dir)
    try:
        [intent] = j.open_intents(ACCOUNT)
        assert j.resolve_intent(intent, [PlexPlay(40, NOW - 30), PlexPlay(41, NOW + 1)]) is True
        carried = j.carried(ACCOUNT, 3)
        assert carried.sent_to_plex == {NOW - 50} and carried.own_history_ids == {41}
        assert j.open_intents() == []
    finally:
        j.close()


def test_kill_before_plex_scrobbled_drops_the_intent_so_the_play_is_sent_again(data_dir):
    j = WatchJournal(data_dir)
    j.scrobble_sent(j.begin_scrobble(ACCOUNT, 3, NOW - 900, "101", NOW - 60), 30)
    j.record_carried(ACCOUNT, 3, [PlexPlay(31, NOW - 20)])
    j.begin_scrobble(ACCOUNT, 3, NOW - 50, "101", NOW)
    j.close()  # SIGKILL before Plex's write
    j = WatchJournal(data_dir)
    try:
        [intent] = j.open_intents()
        # Our older scrobble's entry (30) and a carried play (31), both within the clock
        # slack, are known: neither is taken for this one.
        assert j.resolve_intent(intent, [PlexPlay(30, NOW - 60), PlexPlay(31, NOW - 20)]) is False
        assert j.carried(ACCOUNT, 3).sent_to_plex == {NOW - 900}
        assert j.open_intents() == []
    finally:
        j.close()


def test_pick_scrobble_entry_allows_for_plex_clock_skew_only_within_the_slack():
    from shared.defaults import WATCH_INTENT_CLOCK_SLACK_SECONDS as slack

    intent = ScrobbleIntent(3, NOW - 50, ACCOUNT, "101", NOW)
    assert pick_scrobble_entry(intent, [PlexPlay(9, NOW - slack - 1)]) is None
    assert pick_scrobble_entry(intent, [PlexPlay(9, NOW - 5)]) == PlexPlay(9, NOW - 5)
    assert pick_scrobble_entry(intent, [PlexPlay(9, NOW + 90), PlexPlay(10, NOW + 1)]) == PlexPlay(10, NOW + 1)


_KILLED_WRITER = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, sys.argv[2])
    from worker.watch_journal import WatchJournal
    j = WatchJournal(sys.argv[1])
    intent = j.begin_scrobble(1, 3, 1000, "101", 2000)
    # Halfway through scrobble_sent's transaction: the row is written, the intent not yet gone.
    j._conn.execute("BEGIN IMMEDIATE")
    j._conn.execute("INSERT INTO to_plex VALUES (3, 1000, 1, '101', 77, 2001.0)")
    print("written", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
""")


def test_a_real_sigkill_mid_transaction_loses_nothing_and_repeats_nothing(data_dir):
    proc = subprocess.run([sys.executable, "-c", _KILLED_WRITER, data_dir, ROOT], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL and "written" in proc.stdout, proc.stderr
    j = WatchJournal(data_dir)
    try:
        # The half-done record is gone, the intent stands: counted as sent, settled later.
        assert j.open_intents() == [ScrobbleIntent(3, 1000, 1, "101", 2000)]
        assert j._conn.execute("SELECT COUNT(*) FROM to_plex").fetchone()[0] == 0
        assert j.carried(1, 3).sent_to_plex == {1000}
        assert j.resolve_intent(j.open_intents()[0], [PlexPlay(77, 2001)])
        assert j.carried(1, 3).own_history_ids == {77} and j.open_intents() == []
    finally:
        j.close()


@pytest.mark.parametrize("mode", ["garbage", "half"])
def test_a_corrupt_journal_is_kept_aside_named_and_not_read_as_empty_silently(data_dir, mode, capsys):
    j = WatchJournal(data_dir)
    for i in range(300):
        j.record_carried(ACCOUNT, i, [PlexPlay(i + 1, NOW + i)])
        j.record_snapshot(ACCOUNT, i, WatchSnapshot((1.0, 1000), (50, 5.0), NOW))
    j.close()
    corrupt(os.path.join(data_dir, DB_FILE), mode)
    capsys.readouterr()

    j = WatchJournal(data_dir)
    try:
        assert j.fresh, "the caller must know the journal starts over (push baseline, full pull)"
        assert j.carried(ACCOUNT, 1).from_plex == frozenset()
        j.record_carried(ACCOUNT, 1, [PlexPlay(2, NOW + 1)])
        assert j.carried(ACCOUNT, 1).from_plex == {NOW + 1}
    finally:
        j.close()
    [moved] = corrupt_copies(data_dir, DB_FILE)
    errors = [m for level, m in log_lines(capsys.readouterr().err) if level == "e"]
    assert len(errors) == 1 and moved in errors[0] and "watch-state journal" in errors[0], errors
    assert recovery_marker(data_dir)
    assert stat.S_IMODE(os.stat(os.path.join(data_dir, DB_FILE)).st_mode) == 0o600
