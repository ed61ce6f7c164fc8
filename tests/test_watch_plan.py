"""plex.watch_plan: each rule by example, then a pure simulation of both sides over many
cycles (hypothesis): values converge and stay put, no play is ever added twice, no ping-pong."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from plex.ratings import plex_rating_of, same_rating, stash_rating_of
from plex.watch_plan import (
    UNCHANGED, Carried, PlexPlay, PlexWatch, StashWatch, WatchPlan, WatchSettings, WatchSnapshot,
    plan_watch,
)

BOTH = WatchSettings(pull=True, push=True, ratings=True)
NOW = 1_700_000_000


def stash_watch(plays: tuple[int, ...] = (), resume: float | None = None, rating: int | None = None,
                updated_at: int = NOW - 1000) -> StashWatch:
    return StashWatch(plays, resume, max(plays) if plays else None, rating, updated_at)


def plex_watch(view_count: int = 0, offset: int | None = None, last_viewed_at: int | None = None,
               rating: float | None = None, last_rated_at: int | None = None) -> PlexWatch:
    return PlexWatch(view_count, offset, last_viewed_at, rating, last_rated_at, 3_600_000)


def plan(stash: StashWatch | None = None, plex: PlexWatch | None = None, new: tuple[PlexPlay, ...] = (),
         carried: Carried = Carried(), snapshot: WatchSnapshot | None = None,
         settings: WatchSettings = BOTH) -> WatchPlan:
    return plan_watch(7, stash or stash_watch(), plex or plex_watch(), new, carried, snapshot, settings, NOW)


# -- plays, Plex → Stash ---------------------------------------------------------------------


def test_a_plex_play_becomes_one_stash_play_at_exactly_viewed_at():
    p = plan(plex=plex_watch(1, last_viewed_at=NOW - 50), new=(PlexPlay(11, NOW - 50),))
    assert p.stash_add_plays == (NOW - 50,)
    assert p.carried_plays == (PlexPlay(11, NOW - 50),)
    assert p.plex_scrobbles == ()  # not echoed back


def test_a_plex_play_already_in_play_history_is_not_added_but_still_carried():
    # A kill after sceneAddPlay, before the journal commit: the rerun adds nothing.
    p = plan(stash=stash_watch((NOW - 50,)), plex=plex_watch(1, last_viewed_at=NOW - 50),
             new=(PlexPlay(11, NOW - 50),))
    assert p.stash_add_plays == ()
    assert p.carried_plays == (PlexPlay(11, NOW - 50),)
    assert p.plex_scrobbles == ()


def test_two_plex_plays_in_one_second_are_one_stash_play():
    p = plan(new=(PlexPlay(11, NOW - 5), PlexPlay(12, NOW - 5), PlexPlay(13, NOW - 3)))
    assert p.stash_add_plays == (NOW - 5, NOW - 3)
    assert len(p.carried_plays) == 3


def test_history_entries_of_our_own_scrobbles_are_never_carried_back():
    p = plan(stash=stash_watch((NOW - 900,)), new=(PlexPlay(21, NOW - 10),),
             carried=Carried(sent_to_plex=frozenset({NOW - 900}), own_history_ids=frozenset({21})))
    assert p.stash_add_plays == () and p.carried_plays == () and p.plex_scrobbles == ()


def test_pull_off_adds_no_stash_play():
    p = plan(new=(PlexPlay(11, NOW - 50),), settings=replace(BOTH, pull=False))
    assert p.stash_add_plays == () and p.carried_plays == ()


def test_finished_in_plex_unplayed_in_stash_shows_as_played_once():
    p = plan(plex=plex_watch(view_count=2, last_viewed_at=NOW - 3000))
    assert p.stash_add_plays == (NOW - 3000,)
    assert p.plex_scrobbles == ()


@pytest.mark.parametrize("carried", [Carried(from_plex=frozenset({NOW - 9000})),
                                     Carried(sent_to_plex=frozenset({NOW - 9000})),
                                     Carried(own_history_ids=frozenset({4}))])
def test_finished_rule_not_when_the_journal_already_knows_plays(carried):
    # The user deleted the carried play in Stash: it is not brought back.
    assert plan(plex=plex_watch(view_count=1, last_viewed_at=NOW - 3000), carried=carried).stash_add_plays == ()


def test_finished_rule_not_when_stash_has_plays_or_history_entries_exist():
    assert plan(stash=stash_watch((NOW - 1,)), plex=plex_watch(1, last_viewed_at=NOW - 3000),
                carried=Carried(sent_to_plex=frozenset({NOW - 1}))).stash_add_plays == ()
    p = plan(plex=plex_watch(1, last_viewed_at=NOW - 3000), new=(PlexPlay(3, NOW - 3000),))
    assert p.stash_add_plays == (NOW - 3000,)  # once, from the history entry


# -- plays, Stash → Plex ---------------------------------------------------------------------


def test_each_new_stash_play_becomes_one_scrobble():
    p = plan(stash=stash_watch((NOW - 30, NOW - 20, NOW - 20)))
    assert p.plex_scrobbles == (NOW - 30, NOW - 20)


def test_stash_plays_from_plex_sent_or_before_the_baseline_are_not_sent():
    stash = stash_watch((100, 200, 300, 400, 500))
    carried = Carried(from_plex=frozenset({300}), sent_to_plex=frozenset({400}), send_after=200)
    assert plan(stash=stash, carried=carried).plex_scrobbles == (500,)
    assert plan(stash=stash, carried=carried, settings=replace(BOTH, push=False)).plex_scrobbles == ()


def test_a_play_added_from_plex_in_the_same_plan_is_not_scrobbled():
    p = plan(stash=stash_watch((NOW - 50,)), new=(PlexPlay(11, NOW - 50), PlexPlay(12, NOW - 40)))
    assert p.plex_scrobbles == ()
    assert p.stash_add_plays == (NOW - 40,)


# -- resume points ---------------------------------------------------------------------------


def test_resume_plex_newer_wins_when_both_changed():
    p = plan(stash=stash_watch(resume=10.0, updated_at=NOW - 100),
             plex=plex_watch(offset=42_000, last_viewed_at=NOW - 10),
             snapshot=WatchSnapshot(resume=(5.0, 5_000)))
    assert p.stash_resume == 42.0 and p.plex_progress_ms is UNCHANGED
    assert p.next_snapshot.resume == (42.0, 42_000)


def test_resume_stash_newer_wins_when_both_changed():
    p = plan(stash=stash_watch(resume=10.5, updated_at=NOW - 5),
             plex=plex_watch(offset=42_000, last_viewed_at=NOW - 10),
             snapshot=WatchSnapshot(resume=(5.0, 5_000)))
    assert p.plex_progress_ms == 10_500 and p.stash_resume is UNCHANGED


def test_resume_only_the_changed_side_wins_whatever_the_clocks_say():
    p = plan(stash=stash_watch(resume=5.0, updated_at=NOW), plex=plex_watch(offset=90_000, last_viewed_at=NOW - 999),
             snapshot=WatchSnapshot(resume=(5.0, 5_000)))
    assert p.stash_resume == 90.0


def test_resume_equal_to_what_we_last_wrote_is_no_change():
    p = plan(stash=stash_watch(resume=42.0), plex=plex_watch(offset=42_000, last_viewed_at=NOW),
             snapshot=WatchSnapshot(resume=(42.0, 42_000)))
    assert p.writes == 0


def test_resume_within_tolerance_is_the_same_point():
    p = plan(stash=stash_watch(resume=42.4), plex=plex_watch(offset=42_000, last_viewed_at=NOW))
    assert p.stash_resume is UNCHANGED and p.plex_progress_ms is UNCHANGED


def test_a_scrobble_is_followed_by_an_explicit_progress_write():
    # Plex's scrobble may clear the offset; our own side effect must not read as a change.
    p = plan(stash=stash_watch((NOW - 30,), resume=0.0), plex=plex_watch(offset=0),
             snapshot=WatchSnapshot(resume=(0.0, 0)))
    assert p.plex_scrobbles == (NOW - 30,) and p.plex_progress_ms == 0
    assert p.next_snapshot.resume == (0.0, 0)


def test_resume_write_off_keeps_the_snapshot_so_the_change_still_counts_later():
    snap = WatchSnapshot(resume=(5.0, 5_000))
    p = plan(plex=plex_watch(offset=90_000, last_viewed_at=NOW), stash=stash_watch(resume=5.0), snapshot=snap,
             settings=replace(BOTH, pull=False))
    assert p.writes == 0 and p.next_snapshot.resume == snap.resume
    later = plan(plex=plex_watch(offset=90_000, last_viewed_at=NOW), stash=stash_watch(resume=5.0),
                 snapshot=p.next_snapshot)
    assert later.stash_resume == 90.0


# -- ratings ---------------------------------------------------------------------------------


@pytest.mark.parametrize("rating100, plex", [(None, None), (1, 0.1), (4, 0.4), (15, 1.5), (50, 5.0), (73, 7.3),
                                             (100, 10.0)])
def test_stash_to_plex_rating_is_the_scene_syncs_scale(rating100, plex):
    # The scene sync writes rating100 / 10 too (worker/mapping): the pass must read it back
    # as the same rating, or a Stash 3 (Plex 0.3) would be "changed" and cleared later.
    from worker.mapping import desired_metadata
    from validation.config import PlexSyncConfig

    assert plex_rating_of(rating100) == plex
    written = desired_metadata({"id": "1", "rating100": rating100, "files": []},
                               PlexSyncConfig(plex_url="http://p:32400", plex_token="t" * 20)).scalars.get("userRating")
    assert same_rating(rating100, float(written) if written else None)


@pytest.mark.parametrize("plex, rating100", [(None, None), (0, None), (0.4, 4), (1, 10), (7, 70), (7.3, 73),
                                             (7.5, 75), (10, 100)])
def test_plex_to_stash_rating(plex, rating100):
    assert stash_rating_of(plex) == rating100


@pytest.mark.parametrize("plex", [None, 0, 1, 2.5, 5, 7, 9.5, 10])
def test_a_converted_rating_is_the_same_rating(plex):
    assert same_rating(stash_rating_of(plex), plex)


@pytest.mark.parametrize("r100", [None, *range(1, 101)])
def test_a_converted_stash_rating_is_the_same_rating(r100):
    assert same_rating(r100, plex_rating_of(r100))
    assert stash_rating_of(plex_rating_of(r100)) == r100


def test_a_low_stash_rating_the_scene_sync_wrote_is_never_rewritten_or_cleared():
    # Found by the watch-state bench: Stash 3 synced as Plex 0.3 was read as "unrated".
    p = plan(stash=stash_watch(rating=3, updated_at=NOW - 50), plex=plex_watch(rating=0.3, last_rated_at=NOW - 40))
    assert p.plex_rating is UNCHANGED and p.stash_rating is UNCHANGED


def test_a_rating_is_written_only_in_a_direction_that_is_on():
    pull_only = replace(BOTH, push=False)
    p = plan(stash=stash_watch(rating=90, updated_at=NOW), plex=plex_watch(rating=2, last_rated_at=NOW - 500),
             settings=pull_only)
    assert p.plex_rating is UNCHANGED and p.stash_rating is UNCHANGED
    push_only = replace(BOTH, pull=False)
    p = plan(stash=stash_watch(rating=90, updated_at=NOW - 500), plex=plex_watch(rating=2, last_rated_at=NOW),
             settings=push_only)
    assert p.plex_rating is UNCHANGED and p.stash_rating is UNCHANGED


def test_rating_newest_wins_and_its_echo_is_no_change():
    first = plan(stash=stash_watch(rating=95, updated_at=NOW - 5), plex=plex_watch(rating=4, last_rated_at=NOW - 50))
    assert first.plex_rating == 9.5 and first.stash_rating is UNCHANGED
    assert first.next_snapshot.rating == (95, 9.5)
    again = plan(stash=stash_watch(rating=95, updated_at=NOW), plex=plex_watch(rating=9.5, last_rated_at=NOW),
                 snapshot=first.next_snapshot)
    assert again.writes == 0


def test_rating_plex_newer_wins_and_stash_keeps_the_time_we_wrote_it():
    p = plan(stash=stash_watch(rating=95, updated_at=NOW - 50), plex=plex_watch(rating=6, last_rated_at=NOW - 5),
             snapshot=WatchSnapshot(rating=(80, 8.0)))
    assert p.stash_rating == 60 and p.plex_rating is UNCHANGED
    assert p.next_snapshot.rating == (60, 6) and p.next_snapshot.stash_rating_changed_at == NOW


def test_rating_only_the_changed_side_wins_and_clearing_is_a_change():
    p = plan(stash=stash_watch(rating=None, updated_at=NOW - 500), plex=plex_watch(rating=8, last_rated_at=NOW),
             snapshot=WatchSnapshot(rating=(80, 8.0)))
    assert p.plex_rating is None and p.stash_rating is UNCHANGED
    assert p.next_snapshot.stash_rating_changed_at == NOW - 500


def test_ratings_off_writes_no_rating():
    p = plan(stash=stash_watch(rating=95), plex=plex_watch(rating=2, last_rated_at=NOW),
             settings=replace(BOTH, ratings=False))
    assert p.stash_rating is UNCHANGED and p.plex_rating is UNCHANGED and p.next_snapshot.rating is None


# -- a simulation of both sides --------------------------------------------------------------


@dataclass
class ModelStash:
    """Stash as the plan sees it; sceneAddPlay appends even a time already there."""

    plays: list[int] = field(default_factory=list)
    resume: float = 0.0
    rating: int | None = None
    updated_at: int = 0

    def watch(self) -> StashWatch:
        return StashWatch(tuple(self.plays), self.resume, max(self.plays) if self.plays else None, self.rating,
                          self.updated_at)


@dataclass
class ModelPlex:
    """One Plex item for one account: a scrobble stamps now and clears the offset."""

    history: list[PlexPlay] = field(default_factory=list)
    offset: int = 0
    last_viewed_at: int | None = None
    rating: float | None = None
    last_rated_at: int | None = None
    next_id: int = 1

    def play(self, now: int) -> int:
        self.history.append(PlexPlay(self.next_id, now))
        self.next_id += 1
        self.offset, self.last_viewed_at = 0, now
        return self.next_id - 1

    def watch(self) -> PlexWatch:
        return PlexWatch(len(self.history), self.offset, self.last_viewed_at, self.rating, self.last_rated_at, None)


@dataclass
class ModelJournal:
    cursor: int = 0
    from_plex: set[int] = field(default_factory=set)
    sent: set[int] = field(default_factory=set)
    own: set[int] = field(default_factory=set)
    snapshot: WatchSnapshot | None = None
    intents: list[tuple[int, int]] = field(default_factory=list)  # (Stash time, when) before each scrobble

    def carried(self) -> Carried:
        # An open intent counts as sent: never twice.
        return Carried(frozenset(self.from_plex), frozenset(self.sent | {t for t, _ in self.intents}),
                       frozenset(self.own))

    def resolve_intents(self, plex: ModelPlex) -> None:
        """After a kill: the scrobble happened iff the item's history has an unknown entry since the intent."""
        for t, at in self.intents:
            found = [h for h in plex.history if h.viewed_at >= at and h.history_id not in self.own
                     and h.history_id > self.cursor]
            if found:
                self.own.add(min(found, key=lambda h: (h.viewed_at, h.history_id)).history_id)
                self.sent.add(t)
        self.intents.clear()


def sync(stash: ModelStash, plex: ModelPlex, journal: ModelJournal, cfg: WatchSettings, now: int,
         kill: str | None = None) -> WatchPlan:
    """One watch-state pass, applied as the worker will: Stash adds, scrobbles, then the rest.

    ``kill`` stops it (SIGKILL) right after Stash's adds, or right after the first scrobble,
    before the journal records what was done."""
    journal.resolve_intents(plex)
    new = tuple(p for p in plex.history if p.history_id > journal.cursor)
    p = plan_watch(1, stash.watch(), plex.watch(), new, journal.carried(), journal.snapshot, cfg, now)
    if p.stash_add_plays:
        stash.plays.extend(p.stash_add_plays)
        stash.updated_at = now
    if kill == "after_stash_adds":
        return p
    journal.from_plex |= set(p.stash_add_plays) | {c.viewed_at for c in p.carried_plays}
    journal.cursor = max([journal.cursor, *(c.history_id for c in new)])
    for t in p.plex_scrobbles:
        journal.intents.append((t, now))
        history_id = plex.play(now)
        if kill == "after_scrobble":
            return p
        journal.intents.remove((t, now))
        journal.own.add(history_id)
        journal.sent.add(t)
    if p.plex_progress_ms is not UNCHANGED:
        plex.offset, plex.last_viewed_at = p.plex_progress_ms, now
    if p.stash_resume is not UNCHANGED:
        stash.resume, stash.updated_at = p.stash_resume, now
    if p.stash_rating is not UNCHANGED:
        stash.rating, stash.updated_at = p.stash_rating, now
    if p.plex_rating is not UNCHANGED:
        plex.rating, plex.last_rated_at = p.plex_rating, now
    journal.snapshot = p.next_snapshot
    return p


KILLS = st.sampled_from([None, None, None, "after_stash_adds", "after_scrobble"])
EDITS = st.one_of(
    st.tuples(st.just("stash_play")),
    st.tuples(st.just("stash_resume"), st.floats(0, 7200, allow_nan=False).map(lambda x: round(x, 3))),
    st.tuples(st.just("stash_rating"), st.one_of(st.none(), st.integers(1, 100))),
    st.tuples(st.just("stash_edit")),
    st.tuples(st.just("plex_play")),
    st.tuples(st.just("plex_progress"), st.integers(0, 7_200_000)),
    st.tuples(st.just("plex_rating"), st.one_of(st.none(), st.integers(1, 10).map(float))),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cycles=st.lists(st.tuples(st.lists(EDITS, max_size=4), st.integers(1, 4000), KILLS), min_size=20, max_size=40),
       cfg=st.builds(WatchSettings, st.booleans(), st.booleans(), st.booleans()))
def test_both_sides_converge_with_no_double_play_and_no_ping_pong(cycles, cfg):
    stash, plex, journal = ModelStash(updated_at=NOW), ModelPlex(), ModelJournal()
    now = NOW
    user_stash_plays: list[int] = []
    user_plex_plays: list[int] = []
    for edits, gap, kill in cycles:
        for edit in edits:
            now += 1  # user actions are seconds apart
            kind = edit[0]
            if kind == "stash_play":
                stash.plays.append(now)
                stash.updated_at = now
                user_stash_plays.append(now)
            elif kind == "stash_resume":
                stash.resume, stash.updated_at = edit[1], now
            elif kind == "stash_rating":
                stash.rating, stash.updated_at = edit[1], now
            elif kind == "stash_edit":
                stash.updated_at = now
            elif kind == "plex_play":
                plex.play(now)
                user_plex_plays.append(now)
            elif kind == "plex_progress":
                plex.offset, plex.last_viewed_at = edit[1], now
            else:
                plex.rating, plex.last_rated_at = edit[1], now
        now += gap
        sync(stash, plex, journal, cfg, now, kill)
        # No play ever added twice, in either direction.
        assert len(stash.plays) == len(set(stash.plays))
        expected_stash = set(user_stash_plays) | (set(user_plex_plays) if cfg.pull else set())
        if kill is None:
            assert sorted(stash.plays) == sorted(expected_stash)
        else:  # a killed pass may leave work for the next; it never does anything twice
            assert set(stash.plays) <= expected_stash
        ours = [h for h in plex.history if h.viewed_at not in user_plex_plays]
        assert len(ours) <= (len(user_stash_plays) if cfg.push else 0)
        if kill is None:
            assert len(ours) == (len(user_stash_plays) if cfg.push else 0)

    # Quiet: one pass settles whatever the last edits left, then nothing moves, ever.
    now += 60
    sync(stash, plex, journal, cfg, now)
    for _ in range(10):
        now += 60
        assert sync(stash, plex, journal, cfg, now).writes == 0
    if cfg.pull and cfg.push:
        assert abs(round(stash.resume * 1000) - plex.offset) < 1000
    if cfg.ratings and cfg.pull and cfg.push:  # one way only, the other side may keep its own
        assert same_rating(stash.rating, plex.rating)


@settings(max_examples=60, deadline=None)
@given(cycles=st.lists(st.lists(EDITS, min_size=1, max_size=3), min_size=20, max_size=30))
def test_each_edit_is_written_at_most_once_then_never_again(cycles):
    """No ping-pong, counted: after each cycle of edits the next pass writes, the one after none."""
    stash, plex, journal = ModelStash(updated_at=NOW), ModelPlex(), ModelJournal()
    now = NOW
    for edits in cycles:
        for edit in edits:
            now += 1
            kind = edit[0]
            if kind == "stash_play":
                stash.plays.append(now)
                stash.updated_at = now
            elif kind == "stash_resume":
                stash.resume, stash.updated_at = edit[1], now
            elif kind == "stash_rating":
                stash.rating, stash.updated_at = edit[1], now
            elif kind == "stash_edit":
                stash.updated_at = now
            elif kind == "plex_play":
                plex.play(now)
            elif kind == "plex_progress":
                plex.offset, plex.last_viewed_at = edit[1], now
            else:
                plex.rating, plex.last_rated_at = edit[1], now
        now += 30
        sync(stash, plex, journal, BOTH, now)
        now += 30
        assert sync(stash, plex, journal, BOTH, now).writes == 0
        assert abs(round(stash.resume * 1000) - plex.offset) < 1000
        assert same_rating(stash.rating, plex.rating)
