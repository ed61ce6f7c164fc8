"""A Plex Media Server emulator that python-plexapi drives unmodified.

It speaks PMS's HTTP API over loopback (XML shaped like the captured responses in
``../shared/fixtures/plex/``, rendered by ``sandbox/plex_xml.py``) and applies edits
the way PMS applies them: ``field.value``/``field.locked`` pairs, indexed tag lists
that replace the whole list, ``tag[].tag.tag-`` removals, ``<Field locked="1">``
locks, and a metadata refresh after which only locked fields survive. Tests seed
it through a Python API, read the resulting state back with :meth:`PlexServer.item`,
count requests, and inject faults (connection refused, 5xx/429, latency, bad token).

Run standalone: ``python -m sandbox.plex_server --items 10000``.
"""

from __future__ import annotations

import argparse
import collections
import gc
import hashlib
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterable
from urllib.parse import parse_qsl, unquote, urlsplit

from sandbox import plex_xml as px

DEFAULT_TOKEN = "sandbox-plex-token"
PMS_VERSION = "1.41.3.9314-a0bfb8370"
UNKNOWN_ROUTE = "<unknown>"
TOKEN_PARAM = "X-Plex-Token"
_clock = time.monotonic   # scan delays and request times; tests may swap it to move time

# Editable scalar fields and how PMS types them ("date" = YYYY-MM-DD).
SCALAR_FIELDS = {
    "title": str, "titleSort": str, "originalTitle": str, "summary": str, "studio": str,
    "tagline": str, "contentRating": str, "originallyAvailableAt": "date", "year": int,
    "userRating": float, "rating": float, "audienceRating": float, "editionTitle": str,
}
# Tag kinds by edit name, and the plural names item()/add_item() use.
TAG_PLURALS = {"genre": "genres", "country": "countries", "collection": "collections",
               "director": "directors", "writer": "writers", "producer": "producers",
               "actor": "actors", "label": "labels"}
_LOCKABLE = set(SCALAR_FIELDS) | set(TAG_PLURALS) | {"thumb", "art", "addedAt", "squareArt", "clearLogo", "theme"}
_TAG_EDIT = re.compile(r"^([a-zA-Z]+)\[(\d*)\]\.(tag\.tag|tagging\.text)(-?)$")
_FIELD_EDIT = re.compile(r"^([a-zA-Z]+)\.(value|locked)$")
_FILTER_PARAM = re.compile(r"^(?:[a-zA-Z]+\.)?([a-zA-Z]+)([!<>=]*)$")
_NOT_FILTERS = {"type", "sort", "limit", "push", "pop", "and", "or", "id", "force", "path"}


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


class _Image:
    """An uploaded poster or background (``rating_key`` as PMS lists it in ``/posters``)."""
    __slots__ = ("rating_key", "selected", "source", "url", "sha256", "size")

    def __init__(self, rating_key, source, url=None, sha256=None, size=None):
        self.rating_key, self.source, self.url, self.sha256, self.size = rating_key, source, url, sha256, size
        self.selected = True

    def as_dict(self) -> dict:
        return {"sha256": self.sha256, "source": self.source, "url": self.url,
                "size": self.size, "rating_key": self.rating_key}


class _Section:
    __slots__ = ("id", "title", "type", "locations", "uuid", "created_at", "updated_at",
                 "scanned_at", "keys", "unscanned", "order")

    def __init__(self, sid, title, type_, locations, now):
        self.id, self.title, self.type, self.locations = sid, title, type_, locations
        self.uuid = str(uuid.uuid4())
        self.created_at = self.updated_at = self.scanned_at = now
        self.keys: dict[int, None] = {}        # every item, insertion-ordered
        self.unscanned: dict[int, None] = {}   # items a scan has not reached yet
        self.order: list[int] | None = None   # visible keys by titleSort (cache)


class _Item:
    __slots__ = ("rating_key", "section_id", "guid", "scalars", "tags", "locked", "parts", "media_id",
                 "duration", "added_at", "updated_at", "visible", "files_lower", "posters", "arts",
                 "thumb_version", "art_version", "agent")


class _Edit:
    """One parsed ``PUT …/all`` edit: values, locks, replaced and removed tag lists."""

    def __init__(self):
        self.values: dict[str, object] = {}
        self.locks: dict[str, bool] = {}
        self.replace: dict[str, dict[int, str]] = {}
        self.remove: dict[str, list[str]] = {}


class _BadRequest(Exception):
    pass


def _convert(name: str, raw: str):
    """Type an edited value as PMS stores it; empty clears the field."""
    if raw == "":
        return None
    kind = int if name == "addedAt" else SCALAR_FIELDS[name]
    try:
        if kind == "date":
            return date.fromisoformat(raw).isoformat()
        return kind(raw)
    except ValueError:
        raise _BadRequest(f"bad value for {name}") from None


def _parse_edit(params: Iterable[tuple[str, str]]) -> _Edit:
    """Parse the query of an edit PUT exactly as plexapi encodes it (see module docstring)."""
    edit = _Edit()
    for key, value in params:
        m = _TAG_EDIT.match(key)
        if m:
            kind, index, part, minus = m.groups()
            if kind not in TAG_PLURALS or part != "tag.tag":
                continue                      # other tag kinds, actor roles: accepted, ignored
            if minus:
                edit.remove.setdefault(kind, []).extend(unquote(v) for v in value.split(",") if v)
            elif index == "":
                raise _BadRequest(f"unindexed tag edit {key}")
            elif value:
                edit.replace.setdefault(kind, {})[int(index)] = value
            continue
        m = _FIELD_EDIT.match(key)
        if not m:
            continue                          # type, id and unknown parameters
        name, what = m.groups()
        if what == "locked":
            if value not in ("0", "1"):
                raise _BadRequest(f"bad lock value for {name}")
            if name in _LOCKABLE:
                edit.locks[name] = value == "1"
        elif name in SCALAR_FIELDS or name == "addedAt":
            edit.values[name] = _convert(name, value)
    return edit


def _under(path: str, folder: str) -> bool:
    folder = folder.rstrip("/\\")
    return path == folder or (path.startswith(folder) and path[len(folder)] in "/\\")


class PlexServer:
    """The emulator: state, Python API for tests, and the HTTP server serving it.

    All state sits behind one lock; request handlers run on daemon threads.
    """

    def __init__(self, token: str = DEFAULT_TOKEN, host: str = "127.0.0.1", port: int = 0,
                 name: str = "PlexSync Sandbox"):
        """Configure (not start) a server; ``port=0`` picks a free port on :meth:`start`."""
        self.token, self.host, self.port, self.name = token, host, port, name
        self._secrets = {token}   # every token ever accepted: masked in all records
        self.machine_identifier = hashlib.sha1(uuid.uuid4().bytes).hexdigest()
        self.version = PMS_VERSION
        self._lock = threading.RLock()
        self._sections: dict[int, _Section] = {}
        self._items: dict[int, _Item] = {}
        self._by_file: dict[str, int] = {}
        self._tag_ids: dict[tuple[str, str], int] = {}
        self._tag_names: dict[int, tuple[str, str]] = {}
        self._pending: list[tuple[float, int]] = []     # (visible_at, key) of scans in progress
        self._next = {"section": 1, "item": 1, "media": 1, "part": 1, "location": 1, "tag": 1}
        self._requests: list[RecordedRequest] = []
        self._scan_requests: list[str] = []
        self.server_errors: list[str] = []
        self._fail_count, self._fail_status, self._fail_forever = 0, 503, False
        self._retry_after, self._drop_count = 1, 0
        self._latency = 0.0
        self._scan_delay = 0.0
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._started_at = int(time.time())

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
    def add_section(self, title: str, locations: list[str], type: str = "movie") -> int:
        """Add a library section with its folders; returns the section id (``key``)."""
        with self._lock:
            sid = self._take("section")
            locs = [(self._take("location"), p) for p in locations]
            self._sections[sid] = _Section(sid, title, type, locs, int(time.time()))
            return sid

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
        keys = []
        now = int(time.time())
        collecting = gc.isenabled()
        gc.disable()   # a growing heap of small objects otherwise triggers GC passes over it all
        try:
            with self._lock:
                section = self._sections[section_id]
                for spec in items:
                    keys.append(self._create_item(section, dict(spec), now))
                section.order = None
        finally:
            if collecting:
                gc.enable()
        return keys

    def _create_item(self, section: _Section, spec: dict, now: int) -> int:
        files = list(spec.pop("files", None) or [spec.pop("file")])
        for path in files:
            if path in self._by_file:
                raise ValueError(f"file already in the library: {path}")
        scanned = spec.pop("scanned", True)
        it = _Item()
        it.rating_key = key = self._take("item")
        it.section_id = section.id
        it.guid = spec.pop("guid", f"local://{key}")
        size = spec.pop("size", 1_500_000_000)
        it.parts = [(self._take("part"), path, size) for path in files]
        it.media_id = self._take("media")
        it.duration = spec.pop("duration", 1_800_000 * len(files))
        it.added_at = it.updated_at = it.thumb_version = spec.pop("added_at", now)
        it.locked = set(spec.pop("locked", ()))
        it.tags = {}
        for kind, plural in TAG_PLURALS.items():
            if plural in spec:
                it.tags[kind] = list(dict.fromkeys(spec.pop(plural)))
        it.scalars = {}
        for name in list(spec):
            if name not in SCALAR_FIELDS:
                raise TypeError(f"unknown item field {name!r}")
            value = spec.pop(name)
            if value is not None:
                it.scalars[name] = _convert(name, str(value))
        it.agent = None          # seeded values, copied on first edit (see _remember_agent)
        it.posters, it.arts, it.art_version = [], [], None
        it.files_lower = "\n".join(files).lower()
        it.visible = bool(scanned)
        self._items[key] = it
        section.keys[key] = None
        if not scanned:
            section.unscanned[key] = None
        for path in files:
            self._by_file[path] = key
        return key

    def remove_item(self, rating_key: int) -> None:
        """Delete an item as if its file vanished and the library was emptied of it."""
        with self._lock:
            it = self._items.pop(rating_key)
            section = self._sections[it.section_id]
            section.keys.pop(rating_key, None)
            section.unscanned.pop(rating_key, None)
            section.order = None
            for _, path, _ in it.parts:
                self._by_file.pop(path, None)

    def _take(self, counter: str) -> int:
        value = self._next[counter]
        self._next[counter] = value + 1
        return value

    # ------------------------------------------------------------------ reading
    def item(self, rating_key: int) -> dict:
        """Current metadata of an item (KeyError if unknown): every scalar field (None when
        unset), tag lists by plural name (actor order kept), ``locked`` (set of field names),
        ``poster``/``art`` (selected upload as a dict, or None), ``files``, ``scanned``,
        ``ratingKey``, ``sectionId``, ``guid``, ``addedAt``, ``updatedAt``."""
        with self._lock:
            self._promote_pending()
            it = self._items[rating_key]
            out = {name: it.scalars.get(name) for name in SCALAR_FIELDS}
            out.update({plural: list(it.tags.get(kind, ())) for kind, plural in TAG_PLURALS.items()})
            poster = next((p for p in it.posters if p.selected), None)
            art = next((p for p in it.arts if p.selected), None)
            out.update(ratingKey=it.rating_key, sectionId=it.section_id, guid=it.guid,
                       addedAt=it.added_at, updatedAt=it.updated_at, locked=set(it.locked),
                       poster=poster.as_dict() if poster else None, art=art.as_dict() if art else None,
                       files=[p[1] for p in it.parts], scanned=it.visible)
            return out

    def find_by_file(self, path: str) -> int | None:
        """ratingKey of the item with this exact part path (scanned or not), else None."""
        with self._lock:
            return self._by_file.get(path)

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
            self._scan_delay = float(seconds)

    # ----------------------------------------------------------------- requests
    def _handle(self, method: str, target: str, headers, body: bytes):
        """Serve one request; returns (status, extra headers, payload) or None to drop it."""
        arrived = _clock()
        split = urlsplit(target)
        path = unquote(split.path)
        params = parse_qsl(split.query, keep_blank_values=True)
        token = headers.get(TOKEN_PARAM) or next((v for k, v in params if k == TOKEN_PARAM), None)
        params = [(k, v) for k, v in params if k != TOKEN_PARAM]
        with self._lock:
            latency = self._latency
        if latency:
            time.sleep(latency)
        with self._lock:
            self._promote_pending()
            route, handler, args = _match_route(method, path)
            extra: dict[str, str] = {}
            if self._drop_count:
                self._drop_count -= 1
                self._record(method, route, path, params, 0, body, arrived, token)
                return None
            if self._fail_forever or self._fail_count:
                self._fail_count = max(0, self._fail_count - 1)
                status, payload = self._fail_status, b""
                if status == 429:
                    extra["Retry-After"] = str(self._retry_after)
            elif token != self.token and route != "/identity":
                status, payload = 401, b""
            elif handler is None:
                status, payload = 404, b""
            else:
                try:
                    status, payload = 200, handler(self, *args, query=dict(params), params=params,
                                                   headers=headers, body=body)
                except _NotFound:
                    status, payload = 404, b""
                except _BadRequest:
                    status, payload = 400, b""
                except Exception as exc:  # noqa: BLE001 - a bug in the emulator must not hang clients
                    self.server_errors.append(f"{method} {route}: {exc!r}")
                    status, payload = 500, b""
            self._record(method, route, path, params, status, body, arrived, token)
        if status >= 400 and not payload:
            payload = px.error_page(status, HTTPStatus(status).phrase)
            extra["Content-Type"] = "text/html"
        return status, extra, payload or b""

    def _record(self, method, route, path, params, status, body, arrived, presented):
        secrets = self._secrets | {presented} if presented else self._secrets
        query = {k: self._scrub(v, secrets) for k, v in params}
        self._requests.append(RecordedRequest(method, route, self._scrub(path, secrets), query, status,
                                              len(body), arrived))

    def _scrub(self, text: str, secrets: Iterable[str] = ()) -> str:
        """``text`` with every token this server ever accepted (and ``secrets``) masked."""
        for secret in secrets or self._secrets:
            if secret and secret in text:
                text = text.replace(secret, "***")
        return text

    def _promote_pending(self) -> None:
        if self._pending:
            now = _clock()
            due = [k for t, k in self._pending if t <= now]
            self._pending = [(t, k) for t, k in self._pending if t > now]
            for key in due:
                self._make_visible(key)

    def _make_visible(self, key: int) -> None:
        it = self._items.get(key)
        if it is not None and not it.visible:
            it.visible = True
            section = self._sections[it.section_id]
            section.unscanned.pop(key, None)
            section.order = None

    def _tag_id(self, kind: str, name: str) -> int:
        tid = self._tag_ids.get((kind, name))
        if tid is None:
            tid = self._tag_ids[(kind, name)] = self._take("tag")
            self._tag_names[tid] = (kind, name)
        return tid

    def _section(self, sid: str) -> _Section:
        section = self._sections.get(int(sid))
        if section is None:
            raise _NotFound()
        return section

    def _visible_item(self, key: int, section: _Section | None = None) -> _Item:
        it = self._items.get(key)
        if it is None or not it.visible or (section is not None and it.section_id != section.id):
            raise _NotFound()
        return it

    def _ordered(self, section: _Section) -> list[int]:
        if section.order is None:
            items = self._items
            visible = [items[k] for k in section.keys if items[k].visible]
            visible.sort(key=lambda i: ((i.scalars.get("titleSort") or i.scalars.get("title") or "").lower(),
                                        i.rating_key))
            section.order = [i.rating_key for i in visible]
        return section.order

    def _video(self, it: _Item, full: bool, query: dict) -> str:
        return px.render_video(it, self._sections[it.section_id], full, self._tag_id,
                               _csv_set(query.get("excludeElements")), _csv_set(query.get("excludeFields")))

    # ------------------------------------------------------------------- routes
    def _root(self, **_):
        return px.render_root(self.name, self.machine_identifier, self.version, self._started_at)

    def _identity(self, **_):
        return px.render_identity(self.machine_identifier, self.version)

    def _library(self, **_):
        return px.render_library()

    def _sections_list(self, **_):
        return px.render_sections(self._sections.values())

    def _section_all(self, sid, query, params, headers, **_):
        section = self._section(sid)
        keys = self._ordered(section) if query.get("type", "1") == "1" else []
        keys = self._filter(keys, params)
        if query.get("sort"):
            keys = self._sort(keys, query["sort"])
        if query.get("limit", "").isdigit():
            keys = keys[:int(query["limit"])]
        start, size = _paging(query, headers)
        page = keys[start:] if size is None else keys[start:start + size]
        meta = px.render_meta(section.id) if query.get("includeMeta") == "1" else ""
        videos = "".join(self._video(self._items[k], False, query) for k in page)
        return px.container(px.section_attrs(section) + [
            ("size", len(page)), ("totalSize", len(keys)), ("offset", start),
            ("art", "/:/resources/movie-fanart.jpg"), ("sortAsc", 1), ("thumb", "/:/resources/movie.png"),
            ("title1", section.title), ("title2", "All Movies"), ("viewGroup", "movie"),
            ("viewMode", 131122)], meta + videos)

    def _section_collections(self, sid, query, **_):
        section = self._section(sid)
        meta = px.render_collections_meta(section.id) if query.get("includeMeta") == "1" else ""
        return px.container(px.section_attrs(section) + [("size", 0), ("totalSize", 0), ("offset", 0),
                                                          ("title1", section.title), ("title2", "Collections")], meta)

    def _filter_choices(self, sid, kind, **_):
        section = self._section(sid)
        if kind not in px.FILTER_TYPES:
            raise _NotFound()
        names: dict[str, None] = {}
        for k in self._ordered(section):
            it = self._items[k]
            if kind == "contentRating":
                names.update({it.scalars["contentRating"]: None} if it.scalars.get("contentRating") else {})
            elif kind in TAG_PLURALS:
                names.update(dict.fromkeys(it.tags.get(kind, ())))
        choices = [(name if kind == "contentRating" else self._tag_id(kind, name), name)
                   for name in sorted(names, key=str.lower)]
        return px.render_filter_choices(section, kind, choices)

    def _section_edit(self, sid, query, params, **_):
        section = self._section(sid)
        try:
            keys = [int(k) for k in query.get("id", "").split(",")]
        except ValueError:
            raise _BadRequest("edit without a valid id") from None
        items = [self._visible_item(k, section) for k in keys]
        edit = _parse_edit(params)
        now = int(time.time())
        for it in items:
            _apply_edit(it, edit, now)
        if {"title", "titleSort"} & set(edit.values):
            section.order = None
        return b""

    def _section_refresh(self, sid, query, **_):
        section = self._section(sid)
        folder = query.get("path")
        if query.get("force") == "1":
            for k in self._ordered(section):
                _agent_refresh(self._items[k], int(time.time()))
            section.order = None
        if folder is not None:
            self._scan_requests.append(self._scrub(folder))
        visible_at = _clock() + self._scan_delay
        for key in list(section.unscanned):
            files = [p for _, p, _ in self._items[key].parts]
            covered = any(_under(f, loc) for f in files for _, loc in section.locations)
            if covered and (folder is None or any(_under(f, folder) for f in files)):
                if self._scan_delay:
                    self._pending.append((visible_at, key))
                else:
                    self._make_visible(key)
        section.scanned_at = int(time.time())
        return b""

    def _cancel_refresh(self, sid, **_):
        self._section(sid)
        return b""

    def _metadata(self, keys, query, **_):
        items = [self._items[int(k)] for k in keys.split(",") if k and int(k) in self._items
                 and self._items[int(k)].visible]
        if not items:
            raise _NotFound()
        sections = {it.section_id for it in items}
        head = px.section_attrs(self._sections[items[0].section_id]) if len(sections) == 1 else []
        return px.container(head + [("size", len(items))], "".join(self._video(it, True, query) for it in items))

    def _item_refresh(self, key, **_):
        _agent_refresh(self._visible_item(int(key)), int(time.time()))
        self._sections[self._items[int(key)].section_id].order = None
        return b""

    def _images(self, key, kind, **_):
        it = self._visible_item(int(key))
        return px.render_photos(it.rating_key, it.posters if kind == "posters" else it.arts)

    def _upload(self, key, kind, query, body, **_):
        it = self._visible_item(int(key))
        if query.get("url"):
            image = _Image(query["url"], "url", url=self._scrub(query["url"]))
        elif body:
            digest = hashlib.sha256(body).hexdigest()
            image = _Image(f"upload://{kind}/{digest[:40]}", "upload", sha256=digest, size=len(body))
        else:
            raise _BadRequest("no image")
        _select(it, kind, image, int(time.time()))
        return b""

    def _choose(self, key, kind, query, **_):
        it = self._visible_item(int(key))
        images = it.posters if kind == "posters" else it.arts
        image = next((i for i in images if i.rating_key == query.get("url")), None)
        if image is None:
            raise _NotFound()
        _select(it, kind, image, int(time.time()))
        return b""

    # ------------------------------------------------------------ query helpers
    def _filter(self, keys: list[int], params: list[tuple[str, str]]) -> list[int]:
        """Apply ``file=`` (loose: case-insensitive substring of any part path, like PMS's
        undocumented parameter) and the search filters plexapi builds (``title=``, ``studio!=``,
        ``genre=<id>``, ``year>>=`` …); parameters it does not model are ignored."""
        items = self._items
        tests = []
        for name, raw in params:
            if name == "file":
                needle = raw.lower()
                keys = [k for k in keys if needle in items[k].files_lower]
            elif name not in _NOT_FILTERS and not name.startswith(("include", "exclude", "X-Plex")):
                m = _FILTER_PARAM.match(name)
                test = m and m.group(1) in px.FIELD_TYPES and self._predicate(m.group(1), m.group(2),
                                                                              raw.split(","))
                if test:
                    tests.append(test)
        for test in tests:
            keys = [k for k in keys if test(items[k])]
        return keys

    def _predicate(self, fld: str, op: str, values: list[str]):
        """One search filter: ``fld`` + operator suffix (as plexapi encodes it), OR of ``values``."""
        negate = op.startswith("!")
        if fld in TAG_PLURALS or fld == "contentRating":
            wanted = {(self._tag_names[int(v)][1] if v.isdigit() and int(v) in self._tag_names else v).lower()
                      for v in values}
            if fld == "contentRating":
                hit = lambda it: (it.scalars.get(fld) or "").lower() in wanted  # noqa: E731
            else:
                hit = lambda it: any(t.lower() in wanted for t in it.tags.get(fld, ()))  # noqa: E731
            return (lambda it: not hit(it)) if negate else hit
        if fld in _NUMBER_GETTERS:
            get = _NUMBER_GETTERS[fld]
            targets = []
            for v in values:
                try:
                    targets.append(float(v))
                except ValueError:
                    pass
            compare = {">>": float.__gt__, "<<": float.__lt__, "!": float.__ne__}.get(op, float.__eq__)
            return lambda it: get(it) is not None and any(compare(float(get(it)), t) for t in targets)
        if px.FIELD_TYPES[fld] != "string":
            return None
        wanted = [v.lower() for v in values]
        ops = {"": lambda s, w: w in s, "=": lambda s, w: s == w, "!": lambda s, w: w not in s,
               "!=": lambda s, w: s != w, "<": lambda s, w: s.startswith(w), ">": lambda s, w: s.endswith(w)}
        compare = ops.get(op, ops[""])
        text = lambda it: (it.scalars.get(fld) or "").lower()  # noqa: E731
        if negate:
            return lambda it: all(compare(text(it), w) for w in wanted)
        return lambda it: any(compare(text(it), w) for w in wanted)

    def _sort(self, keys: list[int], spec: str) -> list[int]:
        getters = {
            "titleSort": lambda i: (i.scalars.get("titleSort") or i.scalars.get("title") or "").lower(),
            "title": lambda i: (i.scalars.get("title") or "").lower(),
            "addedAt": lambda i: i.added_at, "updatedAt": lambda i: i.updated_at,
            "duration": lambda i: i.duration, "ratingKey": lambda i: i.rating_key, "id": lambda i: i.rating_key,
        }
        items = [self._items[k] for k in keys]
        for part in reversed(spec.split(",")):
            name, _, direction = part.split(".")[-1].partition(":")
            get = getters.get(name) or (lambda i, n=name: i.scalars.get(n))
            if name in getters or name in SCALAR_FIELDS:
                items.sort(key=lambda i: (get(i) is None, get(i)), reverse=direction == "desc")
        return [i.rating_key for i in items]


class _NotFound(Exception):
    pass


def _remember_agent(it: _Item) -> None:
    """Keep the seeded ("agent") values before the first edit, for a later refresh."""
    if it.agent is None:
        it.agent = (dict(it.scalars), {k: list(v) for k, v in it.tags.items()})


def _apply_edit(it: _Item, edit: _Edit, now: int) -> None:
    """Apply an edit as PMS does: values set, indexed lists replace, ``-`` lists remove, locks."""
    _remember_agent(it)
    for name, value in edit.values.items():
        if name == "addedAt":
            it.added_at = value if value is not None else it.added_at
        elif value is None:
            it.scalars.pop(name, None)
        else:
            it.scalars[name] = value
    for kind, by_index in edit.replace.items():
        it.tags[kind] = list(dict.fromkeys(by_index[i] for i in sorted(by_index)))
    for kind, names in edit.remove.items():
        drop = set(names)
        it.tags[kind] = [t for t in it.tags.get(kind, ()) if t not in drop]
    for name, locked in edit.locks.items():
        (it.locked.add if locked else it.locked.discard)(name)
    it.updated_at = now


def _agent_refresh(it: _Item, now: int) -> None:
    """Re-run the "agent": every unlocked field, tag list and image returns to its seeded value."""
    _remember_agent(it)
    scalars, tags = it.agent
    for name in SCALAR_FIELDS:
        if name not in it.locked:
            if name in scalars:
                it.scalars[name] = scalars[name]
            else:
                it.scalars.pop(name, None)
    for kind in TAG_PLURALS:
        if kind not in it.locked:
            it.tags[kind] = list(tags.get(kind, ()))
    for kind, lock in (("posters", "thumb"), ("arts", "art")):
        if lock not in it.locked:
            for image in getattr(it, kind):
                image.selected = False
            _bump_image(it, kind, now, cleared=True)
    it.updated_at = now


def _select(it: _Item, kind: str, image: _Image, now: int) -> None:
    images = it.posters if kind == "posters" else it.arts
    for other in images:
        other.selected = False
    image.selected = True
    if image not in images:
        images.append(image)
    _bump_image(it, kind, now)
    it.updated_at = now


def _bump_image(it: _Item, kind: str, now: int, cleared: bool = False) -> None:
    if kind == "posters":
        it.thumb_version = max(now, it.thumb_version + 1)
    else:
        it.art_version = None if cleared else max(now, (it.art_version or 0) + 1)


def _epoch(day: str | None) -> int | None:
    return int(time.mktime(date.fromisoformat(day).timetuple())) if day else None


# Numeric search fields (dates compare as epoch seconds, as plexapi sends them).
_NUMBER_GETTERS = {
    "year": lambda it: it.scalars.get("year"),
    "userRating": lambda it: it.scalars.get("userRating"),
    "duration": lambda it: it.duration,
    "addedAt": lambda it: it.added_at,
    "originallyAvailableAt": lambda it: _epoch(it.scalars.get("originallyAvailableAt")),
}


def _csv_set(value: str | None) -> frozenset:
    return frozenset(v for v in (value or "").split(",") if v)


def _paging(query: dict, headers) -> tuple[int, int | None]:
    start = query.get("X-Plex-Container-Start", headers.get("X-Plex-Container-Start")) or "0"
    size = query.get("X-Plex-Container-Size", headers.get("X-Plex-Container-Size"))
    try:
        return max(0, int(start)), (None if size in (None, "") else max(0, int(size)))
    except ValueError:
        raise _BadRequest("bad paging") from None


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
    ("PUT", "/library/metadata/{key}/refresh", PlexServer._item_refresh, {}),
    ("GET", "/library/metadata/{key}/posters", PlexServer._images, {"kind": "posters"}),
    ("POST", "/library/metadata/{key}/posters", PlexServer._upload, {"kind": "posters"}),
    ("PUT", "/library/metadata/{key}/poster", PlexServer._choose, {"kind": "posters"}),
    ("GET", "/library/metadata/{key}/arts", PlexServer._images, {"kind": "arts"}),
    ("POST", "/library/metadata/{key}/arts", PlexServer._upload, {"kind": "arts"}),
    ("PUT", "/library/metadata/{key}/art", PlexServer._choose, {"kind": "arts"}),
]
_PLACEHOLDERS = {"{id}": r"(\d+)", "{key}": r"(\d+(?:,\d+)*)", "{filter}": r"([A-Za-z]+)"}


def _compile(template: str) -> re.Pattern:
    pattern = re.escape(template)
    for placeholder, regex in _PLACEHOLDERS.items():
        pattern = pattern.replace(re.escape(placeholder), regex)
    return re.compile(f"^{pattern}$")


_COMPILED = [(m, t, _compile(t), h, kw) for m, t, h, kw in _ROUTES]


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


def generate_items(count: int, folder: str = "/media/movies") -> list[dict]:
    """``count`` plausible movies for :meth:`PlexServer.add_items` (one file each)."""
    studios = ("Studio A", "Studio B", "Studio C", None)
    genres = ("Drama", "Comedy", "Action", "Documentary", "Sci-Fi")
    return [{"title": f"Movie {i:06d}", "files": [f"{folder}/Movie {i:06d}/movie-{i:06d}.mkv"],
             "year": 1990 + i % 35, "studio": studios[i % 4], "summary": f"Generated movie number {i}.",
             "genres": [genres[i % 5], genres[(i + 2) % 5]], "actors": [f"Actor {i % 97}", f"Actor {i % 89}"]}
            for i in range(1, count + 1)]


def main(argv: list[str] | None = None) -> None:
    """Command line: serve a "Movies" section of generated items until Ctrl-C."""
    parser = argparse.ArgumentParser(description="Plex Media Server emulator for PlexSync tests")
    parser.add_argument("--items", type=int, default=100, help="number of generated movies")
    parser.add_argument("--port", type=int, default=32400)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    server = PlexServer(token=args.token, host=args.host, port=args.port)
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
