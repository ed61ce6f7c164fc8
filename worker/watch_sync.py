"""One watch-state pass (issue 11): plays, resume points and ratings between one Plex
account and Stash. The imperative shell only: every decision is ``plex.watch_plan``'s.

A pass, in order:

1. resolve 'Plex account for plays'; Stash → Plex writes act as the token's own account,
   so another account with 'Send Stash plays to Plex' on is a settings error;
2. settle scrobble intents a killed pass left open (from the items' Plex history);
3. **pull**: Plex history since the journal's cursor, page by page: each page's items are
   mapped to scenes through the sync state (``scenes``: rating key → scene; an item no
   scene was synced to is counted as unmatched, never guessed), both sides' watch state
   read in batches, each scene planned and written, then the cursor advanced;
4. **push**: scenes played in Stash since the Stash cursor, the same way;
5. **sweep**: every other matched scene, for resume points and ratings changed without a
   new play. Stash's ``sceneSaveActivity`` leaves ``updated_at`` alone, so no Stash query
   finds a moved resume point: the sweep reads both sides of every matched scene in
   batches (⌈matched / batch⌉ Stash queries and Plex requests) and the three-way
   comparison with the journal's snapshot finds what changed;
6. settle the intents of this pass's scrobbles, so their history entries are known as
   ours before the next pull.

A Stash write Stash rejects for one scene is counted and reported, and the cursor that
led to it is not advanced (the play is tried again next pass; the others are no-ops
then). Plex or Stash unreachable, or a bad setting, raises (the drain's retry, breaker
and stop). The dry run plans against a throwaway copy of the journal and writes nothing.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Iterator, Sequence

from plex import watch_io
from plex.client import PlexConnection
from plex.exceptions import ConfigurationError, StashUnavailable
from plex.watch_plan import UNCHANGED, PlexPlay, PlexWatch, StashWatch, WatchPlan, WatchSettings, plan_watch
from shared.defaults import (PLEX_WATCH_BATCH, SCENE_BATCH_SIZE, STASH_PLAY_WRITE_BATCH,
                             WATCH_INTENT_CLOCK_SLACK_SECONDS, WATCH_PROGRESS_MAX_FRACTION)
from shared.log import create_logger
from stash.client import StashAuthError, StashClient, StashError, StashUnreachable
from stash.watch_state import SceneWatchState
from worker.sync_state import SyncState
from worker.watch_journal import DB_FILE, ScrobbleIntent, WatchJournal

log_trace, log_debug, log_info, log_warn, log_error = create_logger("watch")

PULL_SETTING = "Bring Plex plays into Stash"
PUSH_SETTING = "Send Stash plays to Plex"
ACCOUNT_SETTING = watch_io.ACCOUNT_SETTING

ProgressFn = Callable[[str], None]


@dataclass
class WatchSummary:
    """What one pass did (or, dry run, would do)."""

    plays_into_stash: int = 0
    plays_to_plex: int = 0
    resume_points: int = 0
    ratings: int = 0
    unmatched: int = 0
    rejected: int = 0
    scenes: int = 0
    account: str = ""
    dry_run: bool = False
    off: bool = False
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        """The one summary line users read."""
        if self.off:
            return (f"Watch state: nothing to do: tick '{PULL_SETTING}' and/or '{PUSH_SETTING}' in PlexSync's "
                    "settings")
        head = "Watch state (dry run, nothing written): would write " if self.dry_run else "Watch state: "
        text = (f"{head}{self.plays_into_stash} plays into Stash, {self.plays_to_plex} plays to Plex, "
                f"{self.resume_points} resume points, {self.ratings} ratings, "
                f"{self.unmatched} unmatched Plex items")
        if self.rejected:
            text += f"; {self.rejected} scene(s) Stash refused (tried again next pass)"
        return text

    def as_dict(self) -> dict[str, Any]:
        """The task's output."""
        return {"plays_into_stash": self.plays_into_stash, "plays_to_plex": self.plays_to_plex,
                "resume_points": self.resume_points, "ratings": self.ratings, "unmatched": self.unmatched,
                "rejected": self.rejected, "scenes": self.scenes, "account": self.account,
                "dry_run": self.dry_run, "off": self.off, "summary": self.line(), "problems": list(self.problems)}


def check_account(account: watch_io.PlexAccount, push: bool) -> None:
    """Stash → Plex writes act as the token's own account: never for another. Pure."""
    if push and account.id != watch_io.OWNER_ACCOUNT_ID:
        raise ConfigurationError(
            f"'{ACCOUNT_SETTING}' is {account.name or account.id!s}, not the Plex token's own account, but "
            f"'{PUSH_SETTING}' is ticked: Plex records plays only as the token's account. Empty "
            f"'{ACCOUNT_SETTING}' or untick '{PUSH_SETTING}'", setting=ACCOUNT_SETTING)


def stash_watch(state: SceneWatchState) -> StashWatch:
    """Stash's side for the plan. Pure."""
    return StashWatch(play_history=state.play_history, resume_time=state.resume_time or None,
                      last_played_at=state.last_played_at, rating100=state.rating100, updated_at=state.updated_at)


def plex_watch(watch: watch_io.PlexWatch | None, own: bool) -> PlexWatch:
    """Plex's side for the plan. Plex serves an item's count, offset and rating only for
    the token's own account: for another account (or an item Plex lacks) they are blank,
    so only its history plays come over. Pure."""
    if watch is None or not own:
        return PlexWatch(0, None, None, None, None)
    return PlexWatch(view_count=watch.view_count, view_offset_ms=watch.view_offset or None,
                     last_viewed_at=watch.last_viewed_at, user_rating=watch.user_rating,
                     last_rated_at=watch.last_rated_at, duration_ms=watch.duration)


class WatchPass:
    """One pass; construct, then :meth:`run`."""

    def __init__(self, config: Any, stash: StashClient, plex: PlexConnection, data_dir: str, *,
                 dry_run: bool = False, progress: ProgressFn | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.stash = stash
        self.plex = plex
        self.data_dir = data_dir
        self.dry_run = dry_run
        self.progress = progress or (lambda _text: None)
        self.clock = clock
        self.settings = WatchSettings(pull=bool(config.watch_pull), push=bool(config.watch_push),
                                      ratings=bool(config.watch_ratings))
        self.summary = WatchSummary(dry_run=dry_run)
        self._done: set[int] = set()
        self._scratch: str | None = None

    # -- the pass ----------------------------------------------------------------------

    def run(self) -> WatchSummary:
        """Run the pass; returns its summary. Raises ``plex.exceptions`` errors."""
        if not (self.settings.pull or self.settings.push):
            self.summary.off = True
            return self.summary
        account = watch_io.resolve_account(self.plex, self.config.watch_account)
        check_account(account, self.settings.push)
        self.account = account
        self.own = account.id == watch_io.OWNER_ACCOUNT_ID
        self.summary.account = account.name or str(account.id)
        journal = self._open_journal()
        state = SyncState(self.data_dir)
        try:
            self.journal, self.state = journal, state
            now = int(self.clock())
            if self.settings.push:
                # Stash plays from before the push was turned on (or before a fresh journal)
                # are history, not news: never scrobbled.
                self.baseline: int | None = journal.start_push(account.id, now)
            else:
                self.baseline = journal.push_baseline(account.id)
            self._settle_intents()
            if self.settings.pull:
                self._pull()
            if self.settings.push:
                self._push()
            self._sweep()
            self._settle_intents()
        finally:
            state.close()
            journal.close()
            if self._scratch:
                shutil.rmtree(self._scratch, ignore_errors=True)
        return self.summary

    def _open_journal(self) -> WatchJournal:
        if not self.dry_run:
            return WatchJournal(self.data_dir)
        # The dry run plans on a copy: cursors move inside the pass as in a real one,
        # the real journal is untouched (not even created).
        self._scratch = tempfile.mkdtemp(prefix="plexsync-watch-dry-")
        os.chmod(self._scratch, 0o700)
        source = os.path.join(self.data_dir, DB_FILE)
        if os.path.exists(source):
            src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
            dst = sqlite3.connect(os.path.join(self._scratch, DB_FILE))
            try:
                src.backup(dst)
            finally:
                src.close()
                dst.close()
        return WatchJournal(self._scratch)

    def _pull(self) -> None:
        account_id = self.account.id
        cursor = self.journal.plex_cursor(account_id)
        since = cursor.viewed_at or 0
        hold = False        # a refused scene: the cursor stays so its play is tried again
        pages = 0
        for page in watch_io.iter_history_pages(self.plex, account_id, since):
            pages += 1
            self.progress(f"Plex history page {pages}")
            new = [p for p in page if cursor.is_new(p.play)]
            by_scene: dict[int, list[PlexPlay]] = {}
            keys: dict[int, str] = {}
            unmatched: set[str] = set()
            for play in new:
                scene_id = self.state.owner(play.rating_key)
                if scene_id is None:
                    if not self.journal.is_own_scrobble(account_id, play.history_id):
                        unmatched.add(play.rating_key)
                    continue
                by_scene.setdefault(scene_id, []).append(play.play)
                keys[scene_id] = play.rating_key
            self.summary.unmatched += len(unmatched)
            if unmatched:
                log_debug(f"Plex items played but synced to no scene: {', '.join(sorted(unmatched))}")
            if not self._plan_scenes(keys, by_scene):
                hold = True
            cursor = cursor.after(p.play for p in page)
            if not hold:
                self.journal.advance_plex_cursor(account_id, cursor)

    def _push(self) -> None:
        since = self.journal.stash_cursor()
        if since is None:
            since = self.baseline or 0
        hold = False
        for chunk in _chunks(self.stash.scenes_played_since(since), SCENE_BATCH_SIZE):
            self.progress("Stash plays")
            keys = self._matched(s.scene_id for s in chunk)
            if not self._plan_scenes(keys, {}, {s.scene_id: s for s in chunk}):
                hold = True
            newest = max((s.last_played_at for s in chunk if s.last_played_at is not None), default=None)
            if newest is not None and not hold:
                self.journal.advance_stash_cursor(newest)

    def _sweep(self) -> None:
        keys = {r.scene_id: r.rating_key for r in self.state.all() if r.scene_id not in self._done}
        ids = sorted(keys)
        for at in range(0, len(ids), SCENE_BATCH_SIZE):
            self.progress(f"Resume points and ratings: {at}/{len(ids)} scenes")
            self._plan_scenes({i: keys[i] for i in ids[at:at + SCENE_BATCH_SIZE]}, {})

    def _matched(self, scene_ids: Iterable[int]) -> dict[int, str]:
        out = {}
        for scene_id in scene_ids:
            record = self.state.get(scene_id)
            if record is not None and record.rating_key:
                out[scene_id] = record.rating_key
        return out

    # -- one batch of scenes -------------------------------------------------------------

    def _plan_scenes(self, keys: dict[int, str], new_plays: dict[int, list[PlexPlay]],
                     stash_states: dict[int, SceneWatchState] | None = None) -> bool:
        """Plan and write every scene of ``keys`` (scene → Plex rating key); ``False``
        when Stash refused one (the caller holds its cursor)."""
        if not keys:
            return True
        stash_states = dict(stash_states or {})
        missing = [i for i in keys if i not in stash_states]
        if missing:
            stash_states.update(self._stash_states(missing))
        plex_states = watch_io.watch_states(self.plex, list(keys.values()), PLEX_WATCH_BATCH)
        planned: list[tuple[WatchPlan, str, watch_io.PlexWatch, SceneWatchState, int]] = []
        for scene_id, rating_key in keys.items():
            stash_state = stash_states.get(scene_id)
            plex_state = plex_states.get(rating_key)
            if stash_state is None or plex_state is None:
                # The scene or the item is gone: nothing to write to (its history plays
                # are not carried later; a play Plex still counts comes over as "finished").
                log_debug(f"Scene {scene_id}: {'not in Stash' if stash_state is None else 'its Plex item is gone'}")
                continue
            now = int(self.clock())
            plan = plan_watch(scene_id, stash_watch(stash_state), plex_watch(plex_state, self.own),
                              tuple(new_plays.get(scene_id, ())),
                              self.journal.carried(self.account.id, scene_id),
                              self.journal.snapshot(self.account.id, scene_id), self.settings, now)
            self._done.add(scene_id)
            self.summary.scenes += 1
            planned.append((plan, rating_key, plex_state, stash_state, now))
        # New Stash plays first, many scenes per request; a kill before the journal records
        # them is safe: the next pass finds them in play_history and adds nothing twice.
        refused = self._add_plays([entry[0] for entry in planned])
        whole = not refused
        for plan, rating_key, plex_state, stash_state, now in planned:
            if plan.scene_id in refused:
                continue
            try:
                self._apply(plan, rating_key, plex_state, stash_state, now)
            except (StashUnreachable, StashAuthError) as exc:
                raise StashUnavailable(f"PlexSync lost Stash during the watch-state pass: {exc}") from None
            except StashError as exc:
                self.summary.rejected += 1
                self.summary.problems.append(f"Scene {scene_id}: {exc}")
                log_warn(f"Scene {scene_id}: Stash refused a watch-state write ({exc}); tried again next pass")
                whole = False
        return whole

    def _add_plays(self, plans: Sequence[WatchPlan]) -> set[int]:
        """Add the plans' new Stash plays, :data:`STASH_PLAY_WRITE_BATCH` scenes per
        request; returns the scenes Stash refused (their cursor is held)."""
        wanted = {plan.scene_id: plan.stash_add_plays for plan in plans if plan.stash_add_plays}
        refused: set[int] = set()
        ids = list(wanted)
        for at in range(0, len(ids) if not self.dry_run else 0, STASH_PLAY_WRITE_BATCH):
            chunk = {scene_id: wanted[scene_id] for scene_id in ids[at:at + STASH_PLAY_WRITE_BATCH]}
            try:
                self.stash.add_plays_many(chunk)
            except (StashUnreachable, StashAuthError) as exc:
                raise StashUnavailable(f"PlexSync lost Stash during the watch-state pass: {exc}") from None
            except StashError as exc:
                log_debug(f"Stash refused {len(chunk)} scenes' plays in one request ({exc}); one by one")
                refused |= self._add_plays_one_by_one(chunk)
        self.summary.plays_into_stash += sum(len(times) for scene_id, times in wanted.items()
                                             if scene_id not in refused)
        return refused

    def _add_plays_one_by_one(self, chunk: dict[int, tuple[int, ...]]) -> set[int]:
        """A refused request may have added some plays before the refusal: read each
        scene's history again and add only what is missing, a scene at a time, so one
        bad scene holds back only itself."""
        states = self._stash_states(list(chunk))
        refused: set[int] = set()
        for scene_id, times in chunk.items():
            state = states.get(scene_id)
            have = set(state.play_history) if state is not None else set()
            missing = [t for t in times if t not in have]
            try:
                if state is None:
                    raise StashError(f"scene {scene_id} is no longer in Stash")
                if missing:
                    self.stash.add_plays(scene_id, missing)
            except (StashUnreachable, StashAuthError) as exc:
                raise StashUnavailable(f"PlexSync lost Stash during the watch-state pass: {exc}") from None
            except StashError as exc:
                refused.add(scene_id)
                self.summary.rejected += 1
                self.summary.problems.append(f"Scene {scene_id}: {exc}")
                log_warn(f"Scene {scene_id}: Stash refused its Plex plays ({exc}); tried again next pass")
        return refused

    def _stash_states(self, scene_ids: Sequence[int]) -> dict[int, SceneWatchState]:
        try:
            return self.stash.scene_watch_states(scene_ids)
        except (StashUnreachable, StashAuthError) as exc:
            raise StashUnavailable(f"PlexSync lost Stash during the watch-state pass: {exc}") from None

    def _apply(self, plan: WatchPlan, rating_key: str, plex_state: watch_io.PlexWatch,
               stash_state: SceneWatchState, now: int) -> None:
        """Make the plan's writes in its order, journal each, keep the snapshot last."""
        account_id, scene_id, summary = self.account.id, plan.scene_id, self.summary
        carried_times = {p.viewed_at for p in plan.carried_plays}
        # plan.stash_add_plays are in Stash already (_add_plays, before the plans are applied).
        if plan.carried_plays:
            self.journal.record_carried(account_id, scene_id, plan.carried_plays)
        for played_at in plan.stash_add_plays:
            if played_at not in carried_times:      # finished in Plex without a history entry
                self.journal.record_finished(account_id, scene_id, played_at)
        for played_at in plan.plex_scrobbles:
            summary.plays_to_plex += 1
            intent = self.journal.begin_scrobble(account_id, scene_id, played_at, rating_key, now)
            if self.dry_run:
                self.journal.scrobble_sent(intent, None)
                continue
            watch_io.scrobble(self.plex, rating_key)
            # Left open on purpose: the pass's last step reads the item's history and
            # records which entry this scrobble made, so it is never pulled back.
        snapshot = plan.next_snapshot
        if plan.plex_progress_ms is not UNCHANGED:
            offset = int(plan.plex_progress_ms or 0)
            duration = plex_state.duration or int((stash_state.duration or 0) * 1000)
            if 0 < offset < duration * WATCH_PROGRESS_MAX_FRACTION:
                summary.resume_points += 1
                if not self.dry_run:
                    watch_io.set_progress(self.plex, rating_key, offset, duration)
            elif snapshot.resume is not None:
                # Plex ignores an offset of 0 (and one without a duration), and one near the
                # end would be a play: keep Plex's actual value in the snapshot so it does
                # not read as a change in Plex.
                snapshot = replace(snapshot, resume=(snapshot.resume[0], 0 if plan.plex_scrobbles
                                                     else int(plex_state.view_offset or 0)))
        if plan.stash_resume is not UNCHANGED:
            summary.resume_points += 1
            if not self.dry_run:
                self.stash.save_activity(scene_id, float(plan.stash_resume or 0.0))
        if plan.stash_rating is not UNCHANGED:
            summary.ratings += 1
            if not self.dry_run:
                # A sceneUpdate: Stash fires Scene.Update.Post, our hook queues a push
                # of the scene, which finds Plex's item already at this rating.
                self.stash.set_rating(scene_id, plan.stash_rating)
        if plan.plex_rating is not UNCHANGED:
            summary.ratings += 1
            if not self.dry_run:
                watch_io.rate(self.plex, rating_key, plan.plex_rating)
        self.journal.record_snapshot(account_id, scene_id, snapshot)

    # -- scrobble intents ----------------------------------------------------------------

    def _settle_intents(self) -> None:
        """Resolve open intents from the Plex history of their account since the oldest."""
        intents = self.journal.open_intents(self.account.id)
        if not intents or self.dry_run:
            return
        since = min(i.started_at for i in intents) - WATCH_INTENT_CLOCK_SLACK_SECONDS
        by_item: dict[str, list[PlexPlay]] = {}
        for play in watch_io.iter_history(self.plex, self.account.id, since):
            by_item.setdefault(play.rating_key, []).append(play.play)
        for intent in intents:
            self._resolve(intent, by_item.get(intent.rating_key, []))

    def _resolve(self, intent: ScrobbleIntent, history: list[PlexPlay]) -> None:
        if not self.journal.resolve_intent(intent, history):
            log_info(f"Scene {intent.scene_id}: a play sent to Plex by an interrupted pass never arrived; "
                     "it is sent again")


def _chunks(items: Iterable[SceneWatchState], size: int) -> Iterator[list[SceneWatchState]]:
    chunk: list[SceneWatchState] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def run_watch_pass(config: Any, stash: StashClient, data_dir: str, *, dry_run: bool = False,
                   progress: ProgressFn | None = None, plex: PlexConnection | None = None) -> WatchSummary:
    """One watch-state pass with its own Plex connection (unless given); logs the summary line."""
    own = plex is None
    connection = plex or PlexConnection(config)
    try:
        summary = WatchPass(config, stash, connection, data_dir, dry_run=dry_run, progress=progress).run()
    finally:
        if own:
            connection.close()
    log_info(summary.line())
    return summary



class WatchStateHandler:
    """The drain's handler of ``sync_watch_state`` jobs: one pass per job (the job's
    errors classified by the drain like a scene push's: retry, breaker, stop)."""

    def __init__(self, config: Any, stash: StashClient, data_dir: str,
                 plex_factory: Callable[[], PlexConnection] | None = None) -> None:
        self.config = config
        self.stash = stash
        self.data_dir = data_dir
        self.plex_factory = plex_factory
        #: The summary of the last pass run, for the task that asked for it.
        self.last: WatchSummary | None = None

    def __call__(self, job: dict[str, Any]) -> str:
        plex = self.plex_factory() if self.plex_factory else None
        try:
            self.last = run_watch_pass(self.config, self.stash, self.data_dir, plex=plex,
                                       progress=lambda text: log_debug(f"Watch state: {text}"))
        finally:
            if plex is not None:
                plex.close()
        return "watch state"
