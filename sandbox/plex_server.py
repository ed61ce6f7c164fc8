"""A Plex Media Server emulator that python-plexapi drives unmodified.

It speaks PMS's HTTP API over loopback (XML shaped like the captured responses in
``../shared/fixtures/plex/``, rendered by ``sandbox/plex_xml.py``) in front of the
in-memory library of ``sandbox/plex_library.py``, which applies edits, locks, tag lists,
posters, scans and refreshes the way PMS does. This module is the HTTP side: routing,
the token check, fault injection and the request log. Tests seed it through a Python
API, read the resulting state back with :meth:`PlexServer.item`, count requests, and
inject faults (connection refused, 5xx/429, latency, bad token).

Run standalone: ``python -m sandbox.plex_server --items 10000``.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterable
from urllib.parse import parse_qsl, unquote, urlsplit

from sandbox import plex_xml as px
from sandbox.plex_library import (  # noqa: F401 - SCALAR_FIELDS, TAG_PLURALS: re-exported from here
    SCALAR_FIELDS,
    TAG_PLURALS,
    BadRequest,
    Item,
    NotFound,
    PlexLibrary,
    generate_items,
)
from sandbox.plex_watch import DEFAULT_DEVICE_ID

DEFAULT_TOKEN = "sandbox-plex-token"
#: The server owner's account: the one the server's own token presents (as on a real PMS).
OWNER_ACCOUNT_ID = 1
OWNER_ACCOUNT_NAME = "admin"
PMS_VERSION = "1.41.3.9314-a0bfb8370"
UNKNOWN_ROUTE = "<unknown>"
#: A poster upload: the request ``upload_latency`` applies to.
UPLOAD_ROUTE = ("POST", "/library/metadata/{key}/posters")
TOKEN_PARAM = "X-Plex-Token"
# Scan delays and request times; tests may swap it to move time. The library gets its
# readings passed in, so swapping it here moves scans too.
_clock = time.monotonic


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the emulator saw it; the token is never kept (not even inside values)."""
    method: str
    route: str               # template such as "/library/metadata/{key}", or UNKNOWN_ROUTE
    path: str                # URL path, decoded
    query: dict              # query parameters (last value wins), X-Plex-Token removed
    status: int              # 0 when the connection was dropped without an answer
    body_size: int = 0
    at: float = field(default=0.0, compare=False)   # time.monotonic() on arrival
    delay: float = field(default=0.0, compare=False)  # seconds the emulator held the answer back


class PlexServer:
    """The emulator: the library, a Python API for tests, and the HTTP server serving it.

    All state, the library included, sits behind one lock; request handlers run on
    daemon threads.
    """

    def __init__(self, token: str = DEFAULT_TOKEN, host: str = "127.0.0.1", port: int = 0,
                 name: str = "PlexSync Sandbox", *, latency: float = 0.0, upload_latency: float | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        """Configure (not start) a server; ``port=0`` picks a free port on :meth:`start`.

        ``latency``: seconds from a request's arrival to its answer (a slow PMS or network,
        for benchmarks); ``upload_latency``: the same for a poster upload (default:
        ``latency``). The emulator's own work on the request counts in it, as a real PMS's
        does: the answer waits for whatever is left after that work, and leaves at once
        when the work took longer. Both are approximations: a fixed time per request,
        whatever its size, however many run at once. ``sleep`` is how what is left is
        spent (tests pass a recorder).
        """
        self.token, self.host, self.port, self.name = token, host, port, name
        self._secrets = {token}   # every token ever accepted: masked in all records
        self.machine_identifier = hashlib.sha1(uuid.uuid4().bytes).hexdigest()
        self.version = PMS_VERSION
        self._lock = threading.RLock()
        self._lib = PlexLibrary()      # not "_library": that name is the /library route
        self._requests: list[RecordedRequest] = []
        self._scan_requests: list[str] = []
        self.server_errors: list[str] = []
        self._fail_count, self._fail_status, self._fail_forever = 0, 503, False
        self._retry_after, self._drop_count = 1, 0
        self._latency = 0.0   # injected by set_latency (a fault), on top of the knobs below
        self.latency = float(latency)
        self.upload_latency = self.latency if upload_latency is None else float(upload_latency)
        self._sleep = sleep
        # Requests whose URL (path or query string) carried a token: a client should send
        # it only as a header, since URLs end up in proxy and server logs.
        self._token_urls = 0
        # Concurrency as the server sees it (a measurement for tests, not PMS behaviour):
        # requests being served now, overall and per item, and the most seen at once.
        self._in_flight = 0
        self._in_flight_items: collections.Counter = collections.Counter()
        self.max_in_flight = 0
        self.max_in_flight_per_item: dict[str, int] = {}
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._started_at = int(time.time())
        # System accounts: id -> (name, token or None). Account 1's token is self.token.
        self._accounts: dict[int, tuple[str, str | None]] = {OWNER_ACCOUNT_ID: (OWNER_ACCOUNT_NAME, None)}
        # Client identifiers (X-Plex-Client-Identifier) -> the device id history rows carry.
        self._devices: dict[str, int] = {}

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> "PlexServer":
        """Bind and serve in a background thread; returns self. ``url`` is valid afterwards."""
        if self._httpd is None:
            self._httpd = _HTTPServer((self.host, self.port), self)
            self.port = self._httpd.server_address[1]
            self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                            name=f"plex-emulator-{self.port}", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the listening socket and every open connection."""
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
            httpd.close_connections()
            self._thread.join(timeout=5)

    def __enter__(self) -> "PlexServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:41234`` (the port stays the same across set_down)."""
        return f"http://{self.host}:{self.port}"

    # ------------------------------------------------------------------ seeding
    def add_section(self, title: str, locations: list[str], type: str = "movie", agent: str | None = None,
                    scanner: str | None = None) -> int:
        """Add a library section with its folders; returns the section id (``key``).

        ``type``: ``movie`` (Movies, or Other Videos with ``agent, scanner =
        plex_library.OTHER_VIDEOS``), ``show`` (TV Shows: items take ``show``, ``season``
        and optionally ``index``), ``artist`` or ``photo``; agent and scanner default to
        what PMS gives a new library of that type."""
        with self._lock:
            return self._lib.add_section(title, locations, type, agent, scanner)

    def add_item(self, section_id: int, title: str, files: list[str], scanned: bool = True, **fields) -> int:
        """Add a movie whose parts are ``files``; returns its ratingKey.

        ``fields``: any of SCALAR_FIELDS (``summary``, ``studio``, ``year``, …), tag lists by
        plural name (``genres``, ``actors``, ``collections``, ``labels``, ``directors``,
        ``writers``, ``countries``, ``producers``), ``guid``, ``duration`` (ms),
        ``size`` (bytes per part), ``added_at`` (epoch), ``locked`` (field names).
        These values are also what the "agent" restores on refresh for unlocked fields.
        ``scanned=False`` keeps the item invisible until a scan covers its folder.
        """
        return self.add_items(section_id, [dict(fields, title=title, files=files, scanned=scanned)])[0]

    def add_items(self, section_id: int, items: Iterable[dict]) -> list[int]:
        """Bulk :meth:`add_item` (dicts with ``title``, ``files``, optional ``scanned`` and fields)."""
        with self._lock:
            return self._lib.add_items(section_id, items)

    def remove_item(self, rating_key: int) -> None:
        """Delete an item as if its file vanished and the library was emptied of it."""
        with self._lock:
            self._lib.remove_item(rating_key)

    def add_account(self, account_id: int, name: str, token: str | None = None) -> None:
        """Add a system account (a managed or shared user); with ``token``, requests that
        present it act as this account. Account 1 is the owner (the server's token)."""
        if account_id in (0, OWNER_ACCOUNT_ID):
            raise ValueError("accounts 0 and 1 are the server's own")
        with self._lock:
            self._accounts[int(account_id)] = (name, token)
            if token:
                self._secrets.add(token)

    def add_play(self, rating_key: int, account_id: int = OWNER_ACCOUNT_ID, viewed_at: int | None = None,
                 device_id: int = DEFAULT_DEVICE_ID) -> int:
        """Seed one play (a history row; the account's play count and last viewed follow);
        returns its history id. ``viewed_at`` defaults to now."""
        at = int(time.time()) if viewed_at is None else int(viewed_at)
        return self.add_plays([(rating_key, account_id, at, device_id)])[0]

    def add_plays(self, plays: Iterable[tuple]) -> list[int]:
        """Seed many plays ``(rating_key, account_id, viewed_at[, device_id])`` at once
        (100,000 in well under a second); returns their history ids, in order."""
        rows = [(int(p[0]), int(p[1]), int(p[2]), int(p[3]) if len(p) > 3 else DEFAULT_DEVICE_ID) for p in plays]
        with self._lock:
            return self._lib.add_plays(rows)

    def watch(self, rating_key: int, account_id: int = OWNER_ACCOUNT_ID) -> dict:
        """An account's watch state of an item (KeyError if unknown): ``viewCount``,
        ``viewOffset`` (ms), ``lastViewedAt``, ``userRating``, ``lastRatedAt``."""
        with self._lock:
            w = self._lib.watch_state(self._lib.items[rating_key], account_id)
            return {"viewCount": w.view_count, "viewOffset": w.view_offset, "lastViewedAt": w.last_viewed_at,
                    "userRating": w.user_rating, "lastRatedAt": w.last_rated_at}

    def history(self, account_id: int | None = None) -> list[dict]:
        """Every history row (of one account, if given), oldest first."""
        with self._lock:
            plays, _ = self._lib.history.query(account=account_id)
            return [p._asdict() for p in plays]

    # ------------------------------------------------------------------ reading
    def item(self, rating_key: int) -> dict:
        """Current metadata of an item (KeyError if unknown): every scalar field (None when
        unset), tag lists by plural name (actor order kept), ``locked`` (set of field names),
        ``poster``/``art`` (selected upload as a dict, or None), ``files``, ``scanned``,
        ``ratingKey``, ``sectionId``, ``guid``, ``addedAt``, ``updatedAt``."""
        with self._lock:
            self._lib.promote_pending(_clock())
            return self._lib.snapshot(rating_key)

    def find_by_file(self, path: str) -> int | None:
        """ratingKey of the item with this exact part path (scanned or not), else None."""
        with self._lock:
            return self._lib.find_by_file(path)


    @property
    def requests(self) -> list[RecordedRequest]:
        """Snapshot of every request received (faulted ones included), oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def scan_requests(self) -> list[str]:
        """Folder paths of the partial scans (``…/refresh?path=``) requested so far."""
        with self._lock:
            return list(self._scan_requests)

    def request_counts(self) -> collections.Counter:
        """Counter of recorded requests keyed by ``(method, route)``."""
        with self._lock:
            return collections.Counter((r.method, r.route) for r in self._requests)

    @property
    def token_urls(self) -> int:
        """How many requests carried a token in their URL (query string or path), known
        tokens and the one presented alike; a careful client sends it only as a header."""
        with self._lock:
            return self._token_urls

    def reset_requests(self) -> None:
        """Forget recorded requests and scan requests."""
        with self._lock:
            self._requests.clear()
            self._scan_requests.clear()

    # ---------------------------------------------------------- fault injection
    def set_down(self, down: bool) -> None:
        """Down: close the listening socket and open connections (clients get connection
        refused). Up: listen again on the same port."""
        if down:
            self.stop()
        else:
            self.start()

    def fail_next(self, n: int, status: int = 503, retry_after: int = 1) -> None:
        """Answer the next ``n`` requests with ``status`` (429 carries ``Retry-After``)."""
        HTTPStatus(status)
        with self._lock:
            self._fail_count, self._fail_status, self._retry_after = n, status, retry_after

    def fail_until_cleared(self, status: int = 503, retry_after: int = 1) -> None:
        """Answer every request with ``status`` until :meth:`clear_faults`."""
        HTTPStatus(status)
        with self._lock:
            self._fail_forever, self._fail_status, self._retry_after = True, status, retry_after

    def drop_next(self, n: int) -> None:
        """Close the connection without answering the next ``n`` requests (ConnectionError)."""
        with self._lock:
            self._drop_count = n

    def clear_faults(self) -> None:
        """Stop failing, dropping and delaying (does not bring a downed server up)."""
        with self._lock:
            self._fail_count, self._fail_forever, self._drop_count, self._latency = 0, False, 0, 0.0

    def set_latency(self, seconds: float) -> None:
        """Delay every response by ``seconds`` (the request is still processed)."""
        with self._lock:
            self._latency = float(seconds)

    def set_token(self, token: str) -> None:
        """Change the token the server accepts (clients holding the old one get 401)."""
        with self._lock:
            self.token = token
            self._secrets.add(token)

    def set_scan_delay(self, seconds: float) -> None:
        """Make scans asynchronous like PMS: scanned items appear ``seconds`` after the request."""
        with self._lock:
            self._lib.scan_delay = float(seconds)

    # ----------------------------------------------------------------- requests
    def reset_concurrency(self) -> None:
        """Forget the most requests seen at once (overall and per item)."""
        with self._lock:
            self.max_in_flight = 0
            self.max_in_flight_per_item = {}

    def _handle(self, method: str, target: str, headers, body: bytes):
        """Serve one request, counting it as in flight (overall and per item it names)
        from arrival to answer, the injected latency included."""
        split = urlsplit(target)
        path = unquote(split.path)
        items = _items_of(method, path, dict(parse_qsl(split.query, keep_blank_values=True)))
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            for key in items:
                self._in_flight_items[key] += 1
                self.max_in_flight_per_item[key] = max(self.max_in_flight_per_item.get(key, 0),
                                                       self._in_flight_items[key])
        try:
            return self._serve(method, target, headers, body)
        finally:
            with self._lock:
                self._in_flight -= 1
                for key in items:
                    self._in_flight_items[key] -= 1
                    if not self._in_flight_items[key]:
                        del self._in_flight_items[key]

    def _serve(self, method: str, target: str, headers, body: bytes):
        """Serve one request; returns (status, extra headers, payload) or None to drop it."""
        arrived = _clock()
        split = urlsplit(target)
        path = unquote(split.path)
        params = parse_qsl(split.query, keep_blank_values=True)
        token = headers.get(TOKEN_PARAM) or next((v for k, v in params if k == TOKEN_PARAM), None)
        with self._lock:
            if any(secret and secret in unquote(target) for secret in self._secrets | {token}):
                self._token_urls += 1
        params = [(k, v) for k, v in params if k != TOKEN_PARAM]
        route, handler, args = _match_route(method, path)
        with self._lock:
            base = self.upload_latency if (method, route) == UPLOAD_ROUTE else self.latency
            latency = base + self._latency
            dropped = self._drop_count > 0
            if dropped:
                self._drop_count -= 1
                self._record(method, route, path, params, 0, body, arrived, token, latency)
        if dropped:
            self._wait_out(arrived, latency)
            return None
        with self._lock:
            self._lib.promote_pending(_clock())
            extra: dict[str, str] = {}
            if self._fail_forever or self._fail_count:
                self._fail_count = max(0, self._fail_count - 1)
                status, payload = self._fail_status, b""
                if status == 429:
                    extra["Retry-After"] = str(self._retry_after)
            elif (account := self._account_of(token)) is None and route != "/identity":
                status, payload = 401, b""
            elif handler is None:
                status, payload = 404, b""
            else:
                try:
                    status, payload = 200, handler(self, *args, query=dict(params), params=params,
                                                   headers=headers, body=body, account=account)
                except NotFound:
                    status, payload = 404, b""
                except BadRequest:
                    status, payload = 400, b""
                except Exception as exc:  # noqa: BLE001 - a bug in the emulator must not hang clients
                    self.server_errors.append(f"{method} {route}: {exc!r}")
                    status, payload = 500, b""
            self._record(method, route, path, params, status, body, arrived, token, latency)
        if status >= 400 and not payload:
            payload = px.error_page(status, HTTPStatus(status).phrase)
            extra["Content-Type"] = "text/html"
        self._wait_out(arrived, latency)
        return status, extra, payload or b""

    def _wait_out(self, arrived: float, latency: float) -> None:
        """Hold the answer until ``latency`` after the request arrived (its work included);
        ``sleep`` is called for every request with a latency, with 0 when nothing is left."""
        if latency:
            self._sleep(max(0.0, arrived + latency - _clock()))

    def _record(self, method, route, path, params, status, body, arrived, presented, delay=0.0):
        secrets = self._secrets | {presented} if presented else self._secrets
        query = {k: self._scrub(v, secrets) for k, v in params}
        self._requests.append(RecordedRequest(method, route, self._scrub(path, secrets), query, status,
                                              len(body), arrived, delay))

    def _scrub(self, text: str, secrets: Iterable[str] = ()) -> str:
        """``text`` with every token this server ever accepted (and ``secrets``) masked."""
        for secret in secrets or self._secrets:
            if secret and secret in text:
                text = text.replace(secret, "***")
        return text

    def _account_of(self, token: str | None) -> int | None:
        """The account a presented token acts as (the server's own token: the owner)."""
        if not token:
            return None
        if token == self.token:
            return OWNER_ACCOUNT_ID
        return next((aid for aid, (_, t) in self._accounts.items() if t and t == token), None)

    def _device_of(self, headers) -> int:
        """The device id of the requesting client, one per X-Plex-Client-Identifier."""
        client = headers.get("X-Plex-Client-Identifier") or ""
        if client not in self._devices:
            self._devices[client] = len(self._devices) + DEFAULT_DEVICE_ID + 1
        return self._devices[client]

    def _video(self, it: Item, full: bool, query: dict, account: int = OWNER_ACCOUNT_ID) -> str:
        """An item as PMS renders it: a movie or episode ``<Video>``, a show or season ``<Directory>``."""
        lib = self._lib
        section = lib.sections[it.section_id]
        if it.type in ("show", "season"):
            parents = lib.items[it.parent_key] if it.type == "season" else None
            return px.render_directory(it, section, full, lib.tag_id, parents, len(lib.leaves(it.rating_key)),
                                       len(lib.children(it.rating_key)))
        parents = None
        if it.type == "episode":
            season = lib.items[it.parent_key]
            parents = (season, lib.items[season.parent_key])
        return px.render_video(it, section, full, lib.tag_id,
                               _csv_set(query.get("excludeElements")), _csv_set(query.get("excludeFields")),
                               watch=lib.watch_state(it, account), parents=parents)

    # ------------------------------------------------------------------- routes
    def _root(self, **_):
        return px.render_root(self.name, self.machine_identifier, self.version, self._started_at)

    def _identity(self, **_):
        return px.render_identity(self.machine_identifier, self.version)

    def _library(self, **_):
        return px.render_library()

    def _sections_list(self, **_):
        return px.render_sections(self._lib.sections.values())

    def _section_all(self, sid, query, params, headers, account, **_):
        section = self._lib.section(sid)
        keys = self._lib.search(section, query, params)
        start, size = _paging(query, headers)
        page = keys[start:] if size is None else keys[start:start + size]
        meta = px.render_meta(section.id) if query.get("includeMeta") == "1" else ""
        videos = "".join(self._video(self._lib.items[k], False, query, account) for k in page)
        group = self._lib.items[page[0]].type if page else ("show" if section.type == "show" else "movie")
        art = "show" if section.type == "show" else "movie"
        return px.container(px.section_attrs(section) + [
            ("size", len(page)), ("totalSize", len(keys)), ("offset", start),
            ("art", f"/:/resources/{art}-fanart.jpg"), ("sortAsc", 1), ("thumb", f"/:/resources/{art}.png"),
            ("title1", section.title), ("title2", f"All {group.capitalize()}s"), ("viewGroup", group),
            ("viewMode", 131122)], meta + videos)

    def _children(self, key, query, headers, account, leaves=False, **_):
        """``/library/metadata/{key}/children`` (a show's seasons, a season's episodes) and
        ``/allLeaves`` (every episode of a show or season)."""
        parent = self._lib.visible_item(int(key))
        if parent.type not in ("show", "season"):
            raise NotFound()
        keys = self._lib.leaves(parent.rating_key) if leaves else self._lib.children(parent.rating_key)
        start, size = _paging(query, headers)
        page = keys[start:] if size is None else keys[start:start + size]
        body = "".join(self._video(self._lib.items[k], False, query, account) for k in page)
        section = self._lib.sections[parent.section_id]
        return px.container(px.section_attrs(section) + [
            ("size", len(page)), ("totalSize", len(keys)), ("offset", start), ("key", parent.rating_key),
            ("title1", section.title), ("title2", parent.scalars.get("title")),
            ("viewGroup", "episode" if leaves or parent.type == "season" else "season")], body)

    def _section_collections(self, sid, query, **_):
        section = self._lib.section(sid)
        meta = px.render_collections_meta(section.id) if query.get("includeMeta") == "1" else ""
        return px.container(px.section_attrs(section) + [("size", 0), ("totalSize", 0), ("offset", 0),
                                                          ("title1", section.title), ("title2", "Collections")], meta)

    def _filter_choices(self, sid, kind, **_):
        section = self._lib.section(sid)
        if kind not in px.FILTER_TYPES:
            raise NotFound()
        return px.render_filter_choices(section, kind, self._lib.filter_choices(section, kind))

    def _section_edit(self, sid, query, params, **_):
        section = self._lib.section(sid)
        try:
            keys = [int(k) for k in query.get("id", "").split(",")]
        except ValueError:
            raise BadRequest("edit without a valid id") from None
        self._lib.edit(section, keys, params)
        return b""

    def _section_refresh(self, sid, query, **_):
        section = self._lib.section(sid)
        folder = query.get("path")
        if query.get("force") == "1":
            self._lib.refresh_section(section)
        if folder is not None:
            self._scan_requests.append(self._scrub(folder))
        self._lib.scan(section, folder, _clock())
        return b""

    def _cancel_refresh(self, sid, **_):
        self._lib.section(sid)
        return b""

    def _metadata(self, keys, query, account, **_):
        items = self._lib.visible_items(int(k) for k in keys.split(",") if k)
        if not items:
            raise NotFound()
        sections = {it.section_id for it in items}
        head = px.section_attrs(self._lib.sections[items[0].section_id]) if len(sections) == 1 else []
        return px.container(head + [("size", len(items))],
                            "".join(self._video(it, True, query, account) for it in items))

    # ------------------------------------------------------------ watch state
    def _accounts_list(self, **_):
        rows = [(0, "")] + sorted((aid, name) for aid, (name, _t) in self._accounts.items())
        return px.render_accounts(rows)

    def _history(self, query, params, headers, account, **_):
        filters: dict[str, int | None] = {"account": None, "section": None, "item": None,
                                          "since": None, "before": None}
        names = {"accountID": "account", "librarySectionID": "section", "metadataItemID": "item",
                 "viewedAt>": "since", "viewedAt>=": "since", "viewedAt<": "before"}
        for name, raw in params:
            if name in names:
                try:
                    filters[names[name]] = int(raw)
                except ValueError:
                    raise BadRequest(f"bad {name}") from None
        if account != OWNER_ACCOUNT_ID:
            filters["account"] = account   # approximation: a non-owner sees only its own plays
        sort = query.get("sort", "viewedAt:desc")
        if sort not in ("viewedAt", "viewedAt:asc", "viewedAt:desc"):
            raise BadRequest("unsupported history sort")
        start, size = _paging(query, headers)
        plays, total = self._lib.history.query(descending=sort.endswith(":desc"), start=start, size=size,
                                               **filters)
        body = px.render_history(plays, self._lib.items)
        return px.container([("size", len(plays)), ("totalSize", total), ("offset", start)], body)

    def _history_delete(self, play_id, account, **_):
        play = self._lib.history.plays.get(int(play_id))
        if play is None or (account != OWNER_ACCOUNT_ID and play.account_id != account):
            raise NotFound()
        self._lib.history.delete(int(play_id))
        return b""

    def _scrobble(self, query, headers, account, **_):
        self._lib.scrobble(_rating_key(query, "key"), account, int(time.time()), self._device_of(headers))
        return b""

    def _unscrobble(self, query, account, **_):
        self._lib.unscrobble(_rating_key(query, "key"), account)
        return b""

    def _rate(self, query, account, **_):
        try:
            rating = float(query.get("rating", ""))
        except ValueError:
            raise BadRequest("bad rating") from None
        self._lib.rate(_rating_key(query, "key"), account, None if rating == -1 else rating, int(time.time()))
        return b""

    def _progress(self, query, headers, account, **_):
        self._lib.progress(_rating_key(query, "key"), account, _int(query, "time"), None, int(time.time()),
                           self._device_of(headers))
        return b""

    def _timeline(self, query, headers, account, **_):
        duration = _int(query, "duration") if query.get("duration") else None
        self._lib.progress(_rating_key(query, "ratingKey"), account, _int(query, "time"), duration,
                           int(time.time()), self._device_of(headers))
        return b""

    def _item_refresh(self, key, **_):
        self._lib.refresh_item(int(key))
        return b""

    def _images(self, key, kind, **_):
        it = self._lib.visible_item(int(key))
        return px.render_photos(it.rating_key, it.images(kind))

    def _upload(self, key, kind, query, body, **_):
        url = query.get("url")
        self._lib.upload(int(key), kind, body, url, self._scrub(url) if url else None)
        return b""

    def _choose(self, key, kind, query, **_):
        self._lib.choose(int(key), kind, query.get("url"))
        return b""


def _csv_set(value: str | None) -> frozenset:
    return frozenset(v for v in (value or "").split(",") if v)


def _int(query: dict, name: str) -> int:
    try:
        return int(float(query[name]))
    except (KeyError, ValueError):
        raise BadRequest(f"bad or missing {name}") from None


def _rating_key(query: dict, name: str) -> int:
    """The item a ``/:/…`` write names (a ratingKey that is not a number: no such item)."""
    if name not in query:
        raise BadRequest(f"missing {name}")
    if not query[name].isdigit():
        raise NotFound()
    return int(query[name])


def _paging(query: dict, headers) -> tuple[int, int | None]:
    start = query.get("X-Plex-Container-Start", headers.get("X-Plex-Container-Start")) or "0"
    size = query.get("X-Plex-Container-Size", headers.get("X-Plex-Container-Size"))
    try:
        return max(0, int(start)), (None if size in (None, "") else max(0, int(size)))
    except ValueError:
        raise BadRequest("bad paging") from None


# (method, template, handler, fixed keyword arguments); first match wins.
_ROUTES = [
    ("GET", "/", PlexServer._root, {}),
    ("GET", "/identity", PlexServer._identity, {}),
    ("GET", "/library", PlexServer._library, {}),
    ("GET", "/library/sections", PlexServer._sections_list, {}),
    ("GET", "/library/sections/{id}/all", PlexServer._section_all, {}),
    ("PUT", "/library/sections/{id}/all", PlexServer._section_edit, {}),
    ("GET", "/library/sections/{id}/collections", PlexServer._section_collections, {}),
    ("GET", "/library/sections/{id}/refresh", PlexServer._section_refresh, {}),
    ("DELETE", "/library/sections/{id}/refresh", PlexServer._cancel_refresh, {}),
    ("GET", "/library/sections/{id}/{filter}", PlexServer._filter_choices, {}),
    ("GET", "/library/metadata/{key}", PlexServer._metadata, {}),
    ("GET", "/library/metadata/{id}/children", PlexServer._children, {}),
    ("GET", "/library/metadata/{id}/allLeaves", PlexServer._children, {"leaves": True}),
    ("PUT", "/library/metadata/{key}/refresh", PlexServer._item_refresh, {}),
    ("GET", "/library/metadata/{key}/posters", PlexServer._images, {"kind": "posters"}),
    ("POST", "/library/metadata/{key}/posters", PlexServer._upload, {"kind": "posters"}),
    ("PUT", "/library/metadata/{key}/poster", PlexServer._choose, {"kind": "posters"}),
    ("GET", "/library/metadata/{key}/arts", PlexServer._images, {"kind": "arts"}),
    ("POST", "/library/metadata/{key}/arts", PlexServer._upload, {"kind": "arts"}),
    ("PUT", "/library/metadata/{key}/art", PlexServer._choose, {"kind": "arts"}),
    ("GET", "/accounts", PlexServer._accounts_list, {}),
    ("GET", "/status/sessions/history/all", PlexServer._history, {}),
    ("DELETE", "/status/sessions/history/{id}", PlexServer._history_delete, {}),
    ("GET", "/:/scrobble", PlexServer._scrobble, {}),
    ("GET", "/:/unscrobble", PlexServer._unscrobble, {}),
    ("GET", "/:/rate", PlexServer._rate, {}),
    ("PUT", "/:/rate", PlexServer._rate, {}),
    ("GET", "/:/progress", PlexServer._progress, {}),
    ("GET", "/:/timeline", PlexServer._timeline, {}),
]
_PLACEHOLDERS = {"{id}": r"(\d+)", "{key}": r"(\d+(?:,\d+)*)", "{filter}": r"([A-Za-z]+)"}


def _compile(template: str) -> re.Pattern:
    pattern = re.escape(template)
    for placeholder, regex in _PLACEHOLDERS.items():
        pattern = pattern.replace(re.escape(placeholder), regex)
    return re.compile(f"^{pattern}$")


_COMPILED = [(m, t, _compile(t), h, kw) for m, t, h, kw in _ROUTES]


def _items_of(method: str, path: str, query: dict) -> list[str]:
    """The rating keys a request reads or writes: ``/library/metadata/{key}…``, the
    ``id`` list of a section edit (``PUT /library/sections/{id}/all?id=…``) and the item of
    a watch-state write (``/:/scrobble?key=…``, ``/:/timeline?ratingKey=…``)."""
    if path.startswith("/:/"):
        key = query.get("ratingKey") if path.rstrip("/") == "/:/timeline" else query.get("key")
        return [key] if key else []
    parts = path.strip("/").split("/")
    if len(parts) >= 3 and parts[:2] == ["library", "metadata"]:
        return [k for k in parts[2].split(",") if k]   # /library/metadata/1,2,3 reads three
    if method == "PUT" and len(parts) == 4 and parts[:2] == ["library", "sections"] and parts[3] == "all":
        return [k for k in query.get("id", "").split(",") if k]
    return []


def _match_route(method: str, path: str):
    """(route template, bound handler or None, positional args); templates only for known routes."""
    path = path.rstrip("/") or "/"
    for m, template, regex, handler, kwargs in _COMPILED:
        match = regex.match(path)
        if match and m == method:
            def call(server, *args, _h=handler, _kw=kwargs, **kw):
                return _h(server, *args, **_kw, **kw)
            return template, call, match.groups()
    return UNKNOWN_ROUTE, None, ()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, plex: PlexServer):
        self.plex = plex
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request, client_address):
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self.connections_lock:
            sockets = list(self.connections)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address):
        pass   # a client that hung up mid-response (timeouts) is not an emulator error


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "PlexMediaServer"
    sys_version = ""
    timeout = 120
    disable_nagle_algorithm = True   # headers and body go out in two writes

    def _serve(self):
        length = int(self.headers.get("Content-Length") or 0)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = self._read_chunked()
        else:
            body = self.rfile.read(length) if length else b""
        result = self.server.plex._handle(self.command, self.path, self.headers, body)
        if result is None:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        status, extra, payload = result
        try:
            self.send_response(status)
            self.send_header("Content-Type", extra.pop("Content-Type", px.CONTENT_TYPE))
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("X-Plex-Protocol", "1.0")
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            self.close_connection = True

    def _read_chunked(self) -> bytes:
        chunks = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                self.rfile.readline()
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    do_GET = do_PUT = do_POST = do_DELETE = _serve

    def log_message(self, format, *args):
        pass   # request lines may carry a token in the query string: never log them


def main(argv: list[str] | None = None) -> None:
    """Command line: serve a "Movies" section of generated items until Ctrl-C."""
    parser = argparse.ArgumentParser(description="Plex Media Server emulator for PlexSync tests")
    parser.add_argument("--items", type=int, default=100, help="number of generated movies")
    parser.add_argument("--port", type=int, default=32400)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay before every answer (approximate)")
    parser.add_argument("--upload-latency-ms", type=float, default=None,
                        help="delay before a poster upload's answer instead (default: --latency-ms)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    upload = None if args.upload_latency_ms is None else args.upload_latency_ms / 1000
    server = PlexServer(token=args.token, host=args.host, port=args.port, latency=args.latency_ms / 1000,
                        upload_latency=upload)
    section = server.add_section("Movies", ["/media/movies"])
    server.add_items(section, generate_items(args.items))
    server.start()
    print(f"Plex emulator: {server.url}  token: {server.token}  items: {args.items}  "
          f"ready in {time.perf_counter() - started:.2f}s (Ctrl-C to stop)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
