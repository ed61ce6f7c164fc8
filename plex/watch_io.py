"""Plex-side watch-state I/O: play history, accounts, per-item watch state, and the writes.

Thin and decision-free: each function is one or a few requests through
:class:`plex.client.PlexConnection` (its session, token header, TLS, timeouts and error
translation into ``plex.exceptions``) and a parse of the answer. What to write, and when,
is decided elsewhere (``plex/watch_plan.py``).

Vocabulary: a play is a history row, identified by its id (from ``historyKey``) and
``viewedAt`` (epoch seconds); ratings are Plex's ``userRating`` 0–10; offsets are ms.
Reads and writes act as the token's account (account 1 on a server the token owns);
the history can be read for any account the token may see.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator
from urllib.parse import quote
from xml.etree.ElementTree import Element

from plex.client import PlexConnection
from plex.exceptions import ConfigurationError, PlexNotFound
from plex.watch_plan import PlexPlay
from shared.defaults import PLEX_HISTORY_PAGE_SIZE, PLEX_WATCH_BATCH

#: The setting that names whose plays are read, as users see it in Stash.
ACCOUNT_SETTING = "Plex account for plays"
#: The account a server owner's token acts as.
OWNER_ACCOUNT_ID = 1
_LIBRARY = "com.plexapp.plugins.library"
# Everything but the item's own attributes: watch-state reads need no tags, media or locks.
_SLIM = ("?excludeElements=Media,Genre,Country,Collection,Director,Writer,Producer,Role,Label,Field,Guid"
         "&excludeFields=summary,tagline")


@dataclass(frozen=True)
class HistoryEntry:
    """One row of Plex's play history."""

    history_id: int
    rating_key: str
    viewed_at: int          # epoch seconds
    account_id: int
    section_id: int

    @property
    def play(self) -> PlexPlay:
        """The entry as the watch-state plan counts a Plex play."""
        return PlexPlay(self.history_id, self.viewed_at)


@dataclass(frozen=True)
class PlexAccount:
    """A system account of the Plex server."""

    id: int
    name: str


@dataclass(frozen=True)
class PlexWatch:
    """The token account's watch state of one item (``None``: Plex shows none)."""

    rating_key: str
    view_count: int
    view_offset: int                # ms; 0 when there is no resume point
    last_viewed_at: int | None      # epoch seconds
    user_rating: float | None       # 0–10
    last_rated_at: int | None       # epoch seconds
    duration: int | None            # ms


def _int(value: str | None) -> int | None:
    number = _float(value)
    return None if number is None else int(number)


def _float(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def parse_play(row: Element) -> HistoryEntry | None:
    """A history row, or ``None`` when it lacks an id, item or time (nothing to act on)."""
    history_id = _int((row.get("historyKey") or "").rstrip("/").rpartition("/")[2])
    viewed_at = _int(row.get("viewedAt"))
    rating_key = row.get("ratingKey") or ""
    if history_id is None or viewed_at is None or not rating_key:
        return None
    return HistoryEntry(history_id, rating_key, viewed_at, _int(row.get("accountID")) or 0,
                    _int(row.get("librarySectionID")) or 0)


def parse_watch(video: Element) -> PlexWatch:
    """The watch attributes of one ``<Video>`` (absent attributes: unset)."""
    return PlexWatch(rating_key=video.get("ratingKey") or "",
                     view_count=_int(video.get("viewCount")) or 0,
                     view_offset=_int(video.get("viewOffset")) or 0,
                     last_viewed_at=_int(video.get("lastViewedAt")),
                     user_rating=_float(video.get("userRating")),
                     last_rated_at=_int(video.get("lastRatedAt")),
                     duration=_int(video.get("duration")))


def iter_history_pages(server: PlexConnection, account_id: int, since: int,
                       page_size: int = PLEX_HISTORY_PAGE_SIZE) -> Iterator[list[HistoryEntry]]:
    """``account_id``'s plays with ``viewedAt >= since``, oldest first, one page per request.

    Plex's ``viewedAt>`` filter is asked for one second earlier and the rows before
    ``since`` dropped here, so plays at exactly ``since`` come back however the server
    reads the operator; callers skip ids they already have. Pages are by offset: a page
    may be empty of usable rows and is still yielded, so a cursor can follow every page.
    """
    path = (f"/status/sessions/history/all?accountID={int(account_id)}&sort=viewedAt:asc"
            f"&viewedAt>={int(since) - 1}")
    start = 0
    while True:
        headers = {"X-Plex-Container-Start": str(start), "X-Plex-Container-Size": str(page_size)}
        container = server.query(path, headers=headers)
        if container is None:
            return
        rows = list(container)
        plays = [play for play in map(parse_play, rows) if play is not None and play.viewed_at >= since]
        if rows:
            yield plays
        start += len(rows)
        total = _int(container.get("totalSize") or container.get("size")) or 0
        if not rows or start >= total:
            return


def iter_history(server: PlexConnection, account_id: int, since: int,
                 page_size: int = PLEX_HISTORY_PAGE_SIZE) -> Iterator[HistoryEntry]:
    """Every play of :func:`iter_history_pages`, one at a time (a page held at once)."""
    for page in iter_history_pages(server, account_id, since, page_size):
        yield from page


def list_accounts(server: PlexConnection) -> list[PlexAccount]:
    """The server's named system accounts (PMS's own nameless account 0 left out)."""
    container = server.query("/accounts")
    accounts = []
    for row in container if container is not None else ():
        account_id = _int(row.get("id"))
        if account_id is not None and account_id != 0:
            accounts.append(PlexAccount(account_id, row.get("name") or ""))
    return accounts


def resolve_account(server: PlexConnection, wanted: str | None) -> PlexAccount:
    """The account named by the 'Plex account for plays' setting: empty → the token's own
    (the owner, 1); otherwise a name (any case) or an id. Unknown → ConfigurationError
    listing the accounts the token can see."""
    accounts = list_accounts(server)
    text = (wanted or "").strip()
    if not text:
        return next((a for a in accounts if a.id == OWNER_ACCOUNT_ID), PlexAccount(OWNER_ACCOUNT_ID, ""))
    for account in accounts:
        if account.name.casefold() == text.casefold() or (text.isdigit() and account.id == int(text)):
            return account
    seen = ", ".join(f"{a.name or '(no name)'} ({a.id})" for a in accounts) or "none"
    raise ConfigurationError(f"{server.where} has no account {text!r} (accounts: {seen}); check "
                             f"'{ACCOUNT_SETTING}'", setting=ACCOUNT_SETTING)


def watch_states(server: PlexConnection, rating_keys: Iterable[str],
                 batch: int = PLEX_WATCH_BATCH) -> dict[str, PlexWatch]:
    """The token account's watch state of each item, ``batch`` items per request; items
    Plex does not have are left out of the answer."""
    keys = list(dict.fromkeys(str(k) for k in rating_keys))
    found: dict[str, PlexWatch] = {}
    for at in range(0, len(keys), batch):
        chunk = keys[at:at + batch]
        try:
            container = server.query(f"/library/metadata/{','.join(quote(k, safe='') for k in chunk)}{_SLIM}")
        except PlexNotFound:
            continue        # Plex answers 404 when none of the batch exists
        for video in container if container is not None else ():
            watch = parse_watch(video)
            if watch.rating_key in chunk:
                found[watch.rating_key] = watch
    return found


def scrobble(server: PlexConnection, rating_key: str) -> None:
    """Mark the item played by the token's account (one more play, a history row at now)."""
    server.query(f"/:/scrobble?key={quote(str(rating_key), safe='')}&identifier={_LIBRARY}")


def unscrobble(server: PlexConnection, rating_key: str) -> None:
    """Mark the item unplayed (play count and resume offset cleared; history stays)."""
    server.query(f"/:/unscrobble?key={quote(str(rating_key), safe='')}&identifier={_LIBRARY}")


def rate(server: PlexConnection, rating_key: str, rating: float | None) -> None:
    """Set the token account's rating, 0–10, or clear it (``None``), as plexapi's ``rate``."""
    if rating is not None and not 0 <= rating <= 10:
        raise ValueError(f"a Plex rating is 0 to 10, not {rating}")
    value = -1 if rating is None else f"{rating:g}"
    server.query(f"/:/rate?key={quote(str(rating_key), safe='')}&identifier={_LIBRARY}&rating={value}",
                 method="PUT")


def set_progress(server: PlexConnection, rating_key: str, offset_ms: int, duration_ms: int) -> None:
    """Report a resume point through ``/:/timeline`` (state stopped), as plexapi's
    ``updateTimeline``. Plex ignores an offset of 0, and one near the end counts as a play."""
    key = quote(str(rating_key), safe="")
    server.query(f"/:/timeline?ratingKey={key}&key=/library/metadata/{key}&identifier={_LIBRARY}"
                 f"&time={int(offset_ms)}&state=stopped&duration={int(duration_ms)}")
