"""The in-memory Plex library behind the emulator (``sandbox/plex_server.py``).

Sections and their movies, and how PMS changes them: ``field.value``/``field.locked``
pairs, indexed tag lists that replace the whole list, ``tag[].tag.tag-`` removals,
``<Field locked="1">`` locks, uploaded and chosen posters and backgrounds, scans that
bring unscanned files in (at once or after a delay, as PMS's asynchronous scanner does),
a metadata refresh after which only locked fields survive, and the search filters and
sorts plexapi sends to ``/library/sections/{id}/all``.

Nothing here speaks HTTP: :class:`PlexLibrary` is not thread-safe, and the server calls
it under its own lock. Model errors are :class:`NotFound` and :class:`BadRequest`, which
the server turns into 404 and 400.
"""

from __future__ import annotations

import gc
import hashlib
import re
import time
import uuid
from datetime import date
from typing import Callable, Iterable
from urllib.parse import unquote

# The searchable fields are those the section's Meta block advertises to plexapi.
from sandbox import plex_xml as px
from sandbox.plex_watch import DEFAULT_DEVICE_ID, History, Play, Watch, WatchBook

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


class NotFound(Exception):
    """No such section, item or image (or the item is not scanned yet): PMS answers 404."""


class BadRequest(Exception):
    """A request PMS refuses with 400 (malformed value, lock, tag index, paging)."""


class Image:
    """An uploaded poster or background (``rating_key`` as PMS lists it in ``/posters``)."""
    __slots__ = ("rating_key", "selected", "source", "url", "sha256", "size")

    def __init__(self, rating_key, source, url=None, sha256=None, size=None):
        self.rating_key, self.source, self.url, self.sha256, self.size = rating_key, source, url, sha256, size
        self.selected = True

    def as_dict(self) -> dict:
        return {"sha256": self.sha256, "source": self.source, "url": self.url,
                "size": self.size, "rating_key": self.rating_key}


#: Plex's type id of each item type (the ``type=N`` of listings and edits).
TYPE_IDS = {"movie": 1, "show": 2, "season": 3, "episode": 4}
TYPE_NAMES = {v: k for k, v in TYPE_IDS.items()}
#: The item type a section lists when no ``type=`` is given (its top level).
SECTION_TOP = {"movie": "movie", "show": "show"}
#: (agent, scanner) PMS gives a new section of each type; an "Other Videos" library is a
#: movie section with the Personal Media agent and the video-files scanner.
SECTION_DEFAULTS = {"movie": ("tv.plex.agents.movie", "Plex Movie"),
                    "show": ("tv.plex.agents.series", "Plex TV Series"),
                    "artist": ("tv.plex.agents.music", "Plex Music"),
                    "photo": ("com.plexapp.agents.none", "Plex Photo Scanner")}
OTHER_VIDEOS = ("tv.plex.agents.none", "Plex Video Files Scanner")


class Section:
    """A library section: its folders, and which of its items are visible and in what order."""
    __slots__ = ("id", "title", "type", "locations", "uuid", "created_at", "updated_at",
                 "scanned_at", "keys", "unscanned", "order", "agent", "scanner")

    def __init__(self, sid, title, type_, locations, now, agent=None, scanner=None):
        self.id, self.title, self.type, self.locations = sid, title, type_, locations
        default_agent, default_scanner = SECTION_DEFAULTS.get(type_, ("com.plexapp.agents.none", "Plex Scanner"))
        self.agent, self.scanner = agent or default_agent, scanner or default_scanner
        self.uuid = str(uuid.uuid4())
        self.created_at = self.updated_at = self.scanned_at = now
        self.keys: dict[int, None] = {}        # every item, insertion-ordered
        self.unscanned: dict[int, None] = {}   # items a scan has not reached yet
        self.order: dict[str, list[int]] | None = None   # visible keys per item type, listing order (cache)

    def stamp_scan(self) -> None:
        """A scan ended: ``scannedAt`` moves to now (epoch seconds). Always forward by at
        least one, so two scans within one second (or under a frozen test clock) differ."""
        self.scanned_at = max(int(time.time()), self.scanned_at + 1)


class Item:
    """One movie, show, season or episode: its parts (movies and episodes), metadata, locks,
    images and visibility (scanned or not; a show or season is visible once one of its
    episodes is). ``parent_key``: an episode's season, a season's show; ``index``: the
    episode's or season's number."""
    __slots__ = ("rating_key", "section_id", "guid", "scalars", "tags", "locked", "parts", "media_id",
                 "duration", "added_at", "updated_at", "visible", "files_lower", "posters", "arts",
                 "thumb_version", "art_version", "agent", "type", "parent_key", "index")

    def images(self, kind: str) -> list[Image]:
        """The uploaded images of ``kind`` (``"posters"`` or ``"arts"``)."""
        return self.posters if kind == "posters" else self.arts


class _Edit:
    """One parsed ``PUT …/all`` edit: values, locks, replaced and removed tag lists."""

    def __init__(self):
        self.values: dict[str, object] = {}
        self.locks: dict[str, bool] = {}
        self.replace: dict[str, dict[int, str]] = {}
        self.remove: dict[str, list[str]] = {}


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
        raise BadRequest(f"bad value for {name}") from None


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
                raise BadRequest(f"unindexed tag edit {key}")
            elif value:
                edit.replace.setdefault(kind, {})[int(index)] = value
            continue
        m = _FIELD_EDIT.match(key)
        if not m:
            continue                          # type, id and unknown parameters
        name, what = m.groups()
        if what == "locked":
            if value not in ("0", "1"):
                raise BadRequest(f"bad lock value for {name}")
            if name in _LOCKABLE:
                edit.locks[name] = value == "1"
        elif name in SCALAR_FIELDS or name == "addedAt":
            edit.values[name] = _convert(name, value)
    return edit


def _under(path: str, folder: str) -> bool:
    folder = folder.rstrip("/\\")
    return path == folder or (path.startswith(folder) and path[len(folder)] in "/\\")


class PlexLibrary:
    """Sections and items, and every change PMS makes to them.

    Not thread-safe: :class:`~sandbox.plex_server.PlexServer` holds its lock around every
    call. Times that tests move (scan completion) are passed in as ``now``; the server
    reads them from its swappable clock.
    """

    def __init__(self) -> None:
        self.sections: dict[int, Section] = {}
        self.items: dict[int, Item] = {}
        self._by_file: dict[str, int] = {}
        self._tag_ids: dict[tuple[str, str], int] = {}
        self._tag_names: dict[int, tuple[str, str]] = {}
        self._pending: list[tuple[float, int]] = []     # (visible_at, key) of scans in progress
        self._finishing: list[tuple[float, int]] = []   # (finished_at, section id) of scans in progress
        self._parents: dict[tuple, int] = {}    # (section, show title) / (show key, season) -> key
        self._episodes: dict[int, int] = {}     # season key -> episodes filed in it (the next number)
        self._next = {"section": 1, "item": 1, "media": 1, "part": 1, "location": 1, "tag": 1}
        self.scan_delay = 0.0     # seconds from a scan request until its items are visible
        self.history = History()
        self.watch = WatchBook(self.history)

    # ------------------------------------------------------------------ seeding
    def add_section(self, title: str, locations: list[str], type: str = "movie", agent: str | None = None,
                    scanner: str | None = None) -> int:
        """Add a section with its folders (agent and scanner default to PMS's for ``type``);
        returns the section id (``key``)."""
        sid = self._take("section")
        locs = [(self._take("location"), p) for p in locations]
        self.sections[sid] = Section(sid, title, type, locs, int(time.time()), agent, scanner)
        return sid

    def add_items(self, section_id: int, items: Iterable[dict]) -> list[int]:
        """Add movies (dicts as :meth:`PlexServer.add_items <sandbox.plex_server.PlexServer.add_items>`
        takes them); returns their ratingKeys."""
        keys = []
        now = int(time.time())
        collecting = gc.isenabled()
        gc.disable()   # a growing heap of small objects otherwise triggers GC passes over it all
        try:
            section = self.sections[section_id]
            for spec in items:
                keys.append(self._create_item(section, dict(spec), now))
            section.order = None
        finally:
            if collecting:
                gc.enable()
        return keys

    def _new_item(self, section: Section, type_: str, title: str, now: int, parent: int | None = None,
                  index: int | None = None) -> Item:
        """A bare item (no parts) of ``type_``: a show or season the scanner made for an episode."""
        it = Item()
        it.rating_key = key = self._take("item")
        it.section_id, it.type, it.parent_key, it.index = section.id, type_, parent, index
        it.guid = f"local://{key}"
        it.parts, it.media_id, it.duration = [], None, 0
        it.added_at = it.updated_at = it.thumb_version = now
        it.locked, it.tags, it.scalars = set(), {}, {"title": title}
        it.agent, it.posters, it.arts, it.art_version = None, [], [], None
        it.files_lower, it.visible = "", False
        self.items[key] = it
        section.keys[key] = None
        return it

    def _parent_for(self, section: Section, show: str, season: int, now: int) -> int:
        """The season ``season`` of show ``show`` in ``section``, made (with its show) when new."""
        show_key = self._parents.get((section.id, show))
        if show_key is None:
            show_key = self._parents[(section.id, show)] = self._new_item(section, "show", show, now).rating_key
        season_key = self._parents.get((show_key, season))
        if season_key is None:
            made = self._new_item(section, "season", f"Season {season}", now, show_key, season)
            season_key = self._parents[(show_key, season)] = made.rating_key
        return season_key

    def children(self, key: int) -> list[int]:
        """Visible seasons of a show or episodes of a season, by index."""
        kids = [it for it in self.items.values() if it.parent_key == key and it.visible]
        return [it.rating_key for it in sorted(kids, key=lambda i: (i.index or 0, i.rating_key))]

    def leaves(self, key: int) -> list[int]:
        """Every visible episode of a show (by season and episode), or of a season."""
        it = self.items[key]
        if it.type == "season":
            return self.children(key)
        return [e for s in self.children(key) for e in self.children(s)]

    def _create_item(self, section: Section, spec: dict, now: int) -> int:
        files = list(spec.pop("files", None) or [spec.pop("file")])
        for path in files:
            if path in self._by_file:
                raise ValueError(f"file already in the library: {path}")
        scanned = spec.pop("scanned", True)
        parent = index = None
        if section.type == "show":
            # The scanner files an episode under its show and season, made on first sight.
            parent = self._parent_for(section, str(spec.pop("show")), int(spec.pop("season", 1)), now)
            self._episodes[parent] = self._episodes.get(parent, 0) + 1
            index = spec.pop("index", None)
            if index is None:
                index = self._episodes[parent]
        it = Item()
        it.rating_key = key = self._take("item")
        it.type = "episode" if section.type == "show" else "movie"
        it.parent_key, it.index = parent, index
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
        self.items[key] = it
        section.keys[key] = None
        if not scanned:
            section.unscanned[key] = None
        elif parent is not None:
            self._show_parents(it)
        for path in files:
            self._by_file[path] = key
        return key

    def _show_parents(self, it: Item) -> None:
        """An episode became visible: so do its season and show."""
        key = it.parent_key
        while key is not None:
            self.items[key].visible = True
            key = self.items[key].parent_key

    def remove_item(self, rating_key: int) -> None:
        """Delete an item as if its file vanished and the library was emptied of it (an
        episode's empty season and show stay, as until PMS's next "empty trash")."""
        it = self.items.pop(rating_key)
        section = self.sections[it.section_id]
        section.keys.pop(rating_key, None)
        section.unscanned.pop(rating_key, None)
        section.order = None
        for _, path, _ in it.parts:
            self._by_file.pop(path, None)
        self.watch.forget_item(rating_key)

    def _take(self, counter: str) -> int:
        value = self._next[counter]
        self._next[counter] = value + 1
        return value

    # ------------------------------------------------------------------ reading
    def snapshot(self, rating_key: int) -> dict:
        """What :meth:`PlexServer.item <sandbox.plex_server.PlexServer.item>` returns (KeyError
        if unknown); scans due by now should be promoted first."""
        it = self.items[rating_key]
        out = {name: it.scalars.get(name) for name in SCALAR_FIELDS}
        out.update({plural: list(it.tags.get(kind, ())) for kind, plural in TAG_PLURALS.items()})
        poster = next((p for p in it.posters if p.selected), None)
        art = next((p for p in it.arts if p.selected), None)
        out.update(ratingKey=it.rating_key, sectionId=it.section_id, guid=it.guid,
                   addedAt=it.added_at, updatedAt=it.updated_at, locked=set(it.locked),
                   poster=poster.as_dict() if poster else None, art=art.as_dict() if art else None,
                   files=[p[1] for p in it.parts], scanned=it.visible, type=it.type,
                   parentKey=it.parent_key, index=it.index)
        return out

    def find_by_file(self, path: str) -> int | None:
        """ratingKey of the item with this exact part path (scanned or not), else None."""
        return self._by_file.get(path)

    def section(self, sid: str | int) -> Section:
        """The section with id ``sid``; NotFound if there is none."""
        section = self.sections.get(int(sid))
        if section is None:
            raise NotFound()
        return section

    def visible_item(self, key: int, section: Section | None = None) -> Item:
        """A scanned item (of ``section``, if given); NotFound otherwise, as PMS hides the rest."""
        it = self.items.get(key)
        if it is None or not it.visible or (section is not None and it.section_id != section.id):
            raise NotFound()
        return it

    def visible_items(self, keys: Iterable[int]) -> list[Item]:
        """The scanned items among ``keys``, unknown ones skipped (as ``/library/metadata/1,2``)."""
        items = self.items
        return [items[k] for k in keys if k in items and items[k].visible]

    def ordered(self, section: Section, type_: str | None = None) -> list[int]:
        """The section's visible keys of item type ``type_`` (default: the section's top
        level) in listing order, cached until a change: by titleSort, then ratingKey;
        episodes by show, season and episode number, as PMS lists ``type=4``."""
        type_ = type_ or SECTION_TOP.get(section.type, "movie")
        if section.order is None:
            section.order = {}
        if type_ not in section.order:
            items = self.items
            visible = [items[k] for k in section.keys if items[k].visible and items[k].type == type_]
            sort_title = lambda i: (i.scalars.get("titleSort") or i.scalars.get("title") or "").lower()  # noqa: E731
            if type_ == "episode":
                visible.sort(key=lambda i: (sort_title(items[items[i.parent_key].parent_key]),
                                            items[i.parent_key].index or 0, i.index or 0, i.rating_key))
            elif type_ == "season":
                visible.sort(key=lambda i: (sort_title(items[i.parent_key]), i.index or 0, i.rating_key))
            else:
                visible.sort(key=lambda i: (sort_title(i), i.rating_key))
            section.order[type_] = [i.rating_key for i in visible]
        return section.order[type_]

    def tag_id(self, kind: str, name: str) -> int:
        """The id PMS gives tag ``name`` of ``kind``, assigned on first sight and kept."""
        tid = self._tag_ids.get((kind, name))
        if tid is None:
            tid = self._tag_ids[(kind, name)] = self._take("tag")
            self._tag_names[tid] = (kind, name)
        return tid

    # ------------------------------------------------------------ watch state
    def watch_state(self, it: Item, account_id: int) -> Watch:
        """What ``account_id`` has watched and rated of ``it`` (account 1's rating is the
        item's ``userRating`` field, which metadata edits also set)."""
        return self.watch.get(it.rating_key, account_id, it.scalars.get("userRating"))

    def scrobble(self, key: int, account_id: int, now: int, device_id: int = DEFAULT_DEVICE_ID) -> Play:
        """``/:/scrobble``: a play of a visible item by ``account_id`` at ``now``."""
        it = self.visible_item(key)
        return self.watch.scrobble(key, account_id, it.section_id, now, device_id)

    def unscrobble(self, key: int, account_id: int) -> None:
        """``/:/unscrobble``: the account's play count and resume offset cleared."""
        self.visible_item(key)
        self.watch.unscrobble(key, account_id)

    def rate(self, key: int, account_id: int, rating: float | None, now: int) -> None:
        """``/:/rate``: the account's rating (None clears it), rated now."""
        it = self.visible_item(key)
        if rating is not None and not 0 <= rating <= 10:
            raise BadRequest("rating out of range")
        self.watch.rate(key, account_id, rating, now)
        if account_id == 1:
            if rating is None:
                it.scalars.pop("userRating", None)
            else:
                it.scalars["userRating"] = float(rating)

    def progress(self, key: int, account_id: int, offset_ms: int, duration_ms: int | None, now: int,
                 device_id: int = DEFAULT_DEVICE_ID) -> Play | None:
        """``/:/progress`` and ``/:/timeline``: a reported offset (a play near the end)."""
        it = self.visible_item(key)
        return self.watch.progress(key, account_id, it.section_id, offset_ms, duration_ms or it.duration, now,
                                   device_id)

    def add_plays(self, rows: Iterable[tuple[int, int, int, int]]) -> list[int]:
        """Seed history rows ``(rating_key, account_id, viewed_at, device_id)`` of known
        items in one go; the item's watch state follows (count, last viewed)."""
        items = self.items
        full = [(key, account_id, int(viewed_at), items[key].section_id, device_id)
                for key, account_id, viewed_at, device_id in rows]
        ids = self.history.add_many(full)
        latest: dict[tuple[int, int], list[int]] = {}
        for key, account_id, viewed_at, _section, _device in full:
            seen = latest.get((key, account_id))
            if seen is None:
                latest[(key, account_id)] = [1, viewed_at]
            else:
                seen[0] += 1
                seen[1] = max(seen[1], viewed_at)
        for (key, account_id), (count, last) in latest.items():
            state = self.watch.state_for(key, account_id)
            state.view_count += count
            state.last_viewed_at = max(state.last_viewed_at or 0, last)
        return ids

    # -------------------------------------------------------------------- scans
    def promote_pending(self, now: float) -> None:
        """Make visible what scans in progress have brought in by ``now`` (server clock)."""
        if self._pending:
            due = [k for t, k in self._pending if t <= now]
            self._pending = [(t, k) for t, k in self._pending if t > now]
            for key in due:
                self._make_visible(key)
        if self._finishing:
            # Plex stamps a section's scannedAt when a scan ends, not when it is asked for.
            for _t, section_id in [f for f in self._finishing if f[0] <= now]:
                section = self.sections.get(section_id)
                if section is not None:
                    section.stamp_scan()
            self._finishing = [f for f in self._finishing if f[0] > now]

    def _make_visible(self, key: int) -> None:
        it = self.items.get(key)
        if it is not None and not it.visible:
            it.visible = True
            self._show_parents(it)
            section = self.sections[it.section_id]
            section.unscanned.pop(key, None)
            section.order = None

    def scan(self, section: Section, folder: str | None, now: float) -> None:
        """Scan the section, or only ``folder`` in it: unscanned files under its locations
        appear, at once or ``scan_delay`` seconds after ``now``."""
        visible_at = now + self.scan_delay
        for key in list(section.unscanned):
            files = [p for _, p, _ in self.items[key].parts]
            covered = any(_under(f, loc) for f in files for _, loc in section.locations)
            if covered and (folder is None or any(_under(f, folder) for f in files)):
                if self.scan_delay:
                    self._pending.append((visible_at, key))
                else:
                    self._make_visible(key)
        if self.scan_delay:
            self._finishing.append((visible_at, section.id))
        else:
            section.stamp_scan()

    # -------------------------------------------------------------------- edits
    def edit(self, section: Section, keys: list[int], params: Iterable[tuple[str, str]]) -> None:
        """Apply one ``PUT /library/sections/{id}/all`` edit to every item of ``keys``."""
        params = list(params)
        items = [self.visible_item(k, section) for k in keys]
        edit = _parse_edit(params)
        now = int(time.time())
        wanted = dict(params).get("type")
        for it in items:
            # PMS edits the items of the type the request names: an edit of another type
            # (type=1 for an episode) changes nothing (approximation: PMS's exact answer is not modelled).
            if wanted is None or wanted == str(TYPE_IDS[it.type]):
                _apply_edit(it, edit, now)
        if {"title", "titleSort"} & set(edit.values):
            section.order = None

    def refresh_section(self, section: Section) -> None:
        """A forced refresh: the agent runs again on every visible item of the section."""
        for k in self.ordered(section):
            _agent_refresh(self.items[k], int(time.time()))
        section.order = None

    def refresh_item(self, key: int) -> None:
        """``PUT /library/metadata/{key}/refresh``: the agent runs again on one item."""
        _agent_refresh(self.visible_item(key), int(time.time()))
        self.sections[self.items[key].section_id].order = None

    def upload(self, key: int, kind: str, body: bytes, url: str | None, shown_url: str | None) -> None:
        """Add a poster or background from ``url`` or from the uploaded ``body``, and select it.

        ``shown_url`` is the URL as the image records it (the server masks tokens in it).
        """
        it = self.visible_item(key)
        if url:
            image = Image(url, "url", url=shown_url)
        elif body:
            digest = hashlib.sha256(body).hexdigest()
            image = Image(f"upload://{kind}/{digest[:40]}", "upload", sha256=digest, size=len(body))
        else:
            raise BadRequest("no image")
        _select(it, kind, image, int(time.time()))

    def choose(self, key: int, kind: str, image_key: str | None) -> None:
        """Select an image already uploaded, by the ratingKey ``/posters`` lists."""
        it = self.visible_item(key)
        image = next((i for i in it.images(kind) if i.rating_key == image_key), None)
        if image is None:
            raise NotFound()
        _select(it, kind, image, int(time.time()))

    # ------------------------------------------------------------------- search
    def search(self, section: Section, query: dict, params: list[tuple[str, str]]) -> list[int]:
        """Keys ``/library/sections/{id}/all`` lists (before paging): items of the ``type``
        asked (default: the section's top level — movies, or shows), filtered, sorted and
        limited as the query asks."""
        top = TYPE_IDS[SECTION_TOP.get(section.type, "movie")]
        wanted = TYPE_NAMES.get(int(query["type"])) if query.get("type", "").isdigit() else TYPE_NAMES[top]
        keys = self.ordered(section, wanted) if wanted else []
        keys = self.filter(keys, params)
        if query.get("sort"):
            keys = self.sort(keys, query["sort"])
        if query.get("limit", "").isdigit():
            keys = keys[:int(query["limit"])]
        return keys

    def filter_choices(self, section: Section, kind: str) -> list[tuple[object, str]]:
        """(key, title) of each value of ``kind`` in the section's visible items, by title;
        the key is the tag id, or the value itself for contentRating."""
        names: dict[str, None] = {}
        for k in self.ordered(section):
            it = self.items[k]
            if kind == "contentRating":
                names.update({it.scalars["contentRating"]: None} if it.scalars.get("contentRating") else {})
            elif kind in TAG_PLURALS:
                names.update(dict.fromkeys(it.tags.get(kind, ())))
        return [(name if kind == "contentRating" else self.tag_id(kind, name), name)
                for name in sorted(names, key=str.lower)]

    def filter(self, keys: list[int], params: list[tuple[str, str]]) -> list[int]:
        """Apply ``file=`` (loose: case-insensitive substring of any part path, like PMS's
        undocumented parameter) and the search filters plexapi builds (``title=``, ``studio!=``,
        ``genre=<id>``, ``year>>=`` …); parameters it does not model are ignored."""
        items = self.items
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

    def _predicate(self, fld: str, op: str, values: list[str]) -> Callable[[Item], bool] | None:
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

    def sort(self, keys: list[int], spec: str) -> list[int]:
        """Order ``keys`` by a plexapi sort (``titleSort``, ``addedAt:desc``, ``a,b`` …);
        unknown fields leave the order alone, unset values sort last."""
        getters = {
            "titleSort": lambda i: (i.scalars.get("titleSort") or i.scalars.get("title") or "").lower(),
            "title": lambda i: (i.scalars.get("title") or "").lower(),
            "addedAt": lambda i: i.added_at, "updatedAt": lambda i: i.updated_at,
            "duration": lambda i: i.duration, "ratingKey": lambda i: i.rating_key, "id": lambda i: i.rating_key,
        }
        items = [self.items[k] for k in keys]
        for part in reversed(spec.split(",")):
            name, _, direction = part.split(".")[-1].partition(":")
            get = getters.get(name) or (lambda i, n=name: i.scalars.get(n))
            if name in getters or name in SCALAR_FIELDS:
                items.sort(key=lambda i: (get(i) is None, get(i)), reverse=direction == "desc")
        return [i.rating_key for i in items]


def _remember_agent(it: Item) -> None:
    """Keep the seeded ("agent") values before the first edit, for a later refresh."""
    if it.agent is None:
        it.agent = (dict(it.scalars), {k: list(v) for k, v in it.tags.items()})


def _apply_edit(it: Item, edit: _Edit, now: int) -> None:
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


def _agent_refresh(it: Item, now: int) -> None:
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


def _select(it: Item, kind: str, image: Image, now: int) -> None:
    images = it.images(kind)
    for other in images:
        other.selected = False
    image.selected = True
    if image not in images:
        images.append(image)
    _bump_image(it, kind, now)
    it.updated_at = now


def _bump_image(it: Item, kind: str, now: int, cleared: bool = False) -> None:
    # The version is in the thumb/art URL, so clients see a new image as a new URL.
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


def generate_items(count: int, folder: str = "/media/movies") -> list[dict]:
    """``count`` plausible movies for :meth:`PlexServer.add_items` (one file each)."""
    studios = ("Studio A", "Studio B", "Studio C", None)
    genres = ("Drama", "Comedy", "Action", "Documentary", "Sci-Fi")
    return [{"title": f"Movie {i:06d}", "files": [f"{folder}/Movie {i:06d}/movie-{i:06d}.mkv"],
             "year": 1990 + i % 35, "studio": studios[i % 4], "summary": f"Generated movie number {i}.",
             "genres": [genres[i % 5], genres[(i + 2) % 5]], "actors": [f"Actor {i % 97}", f"Actor {i % 89}"]}
            for i in range(1, count + 1)]
