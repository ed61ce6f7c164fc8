"""Quick reads from Plex without plexapi: the server's identity and one item's facts.

The panel in Stash's UI asks these on every scene page, through ``runPluginOperation``;
plexapi alone costs ~150 ms to import, more than the request itself. The token goes in
the ``X-Plex-Token`` header, never in a URL. Failures are classified by
``plex.client.translate_error`` (the one choke point), imported only when a request
failed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit
from xml.etree import ElementTree

import requests

from plex.settings import ConnectionSettings

#: Plex Web, hosted by plex.tv: opens an item of any server this browser's account can reach.
PLEX_WEB_APP = "https://app.plex.tv/desktop"


@dataclass(frozen=True)
class ServerIdentity:
    """Who answered at 'Plex server URL'."""

    name: str
    version: str
    machine_identifier: str
    latency_ms: float


@dataclass(frozen=True)
class ItemFacts:
    """What the scene panel shows of one Plex item."""

    rating_key: str
    title: str
    library: str
    library_id: str
    files: tuple[str, ...]
    view_count: int
    view_offset_ms: int | None
    duration_ms: int | None

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON for the plugin's answer."""
        return {"rating_key": self.rating_key, "title": self.title, "library": self.library,
                "library_id": self.library_id, "files": list(self.files), "view_count": self.view_count,
                "view_offset_ms": self.view_offset_ms, "duration_ms": self.duration_ms}


def item_web_url(machine_identifier: str, rating_key: str) -> str:
    """The item in Plex Web (no token: the browser's own Plex sign-in opens it)."""
    key = quote(f"/library/metadata/{rating_key}", safe="")
    return f"{PLEX_WEB_APP}#!/server/{quote(machine_identifier, safe='')}/details?key={key}"


def _int(value: str | None) -> int | None:
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def parse_item(root: ElementTree.Element) -> ItemFacts | None:
    """The first item of a ``/library/metadata/<key>`` answer, or ``None`` (empty container)."""
    item = next((child for child in root if child.get("ratingKey")), None)
    if item is None:
        return None
    files = tuple(part.get("file", "") for part in item.iter("Part") if part.get("file"))
    return ItemFacts(rating_key=str(item.get("ratingKey")), title=item.get("title", ""),
                     library=item.get("librarySectionTitle") or root.get("librarySectionTitle") or "",
                     library_id=item.get("librarySectionID") or root.get("librarySectionID") or "",
                     files=files, view_count=_int(item.get("viewCount")) or 0,
                     view_offset_ms=_int(item.get("viewOffset")), duration_ms=_int(item.get("duration")))


class PlexProbe:
    """A few GET requests to Plex over one pooled session."""

    def __init__(self, config: ConnectionSettings, session: requests.Session | None = None) -> None:
        self.config = config
        self._session = session or requests.Session()
        # As plex.client: the environment is not consulted per request, TLS verified by default.
        self._session.trust_env = False
        self._session.proxies.update(requests.utils.get_environ_proxies(config.plex_url))
        self._session.verify = config.ca_bundle or config.verify_tls
        self._session.headers.update({"Accept": "application/xml", "X-Plex-Token": config.token(),
                                      "X-Plex-Product": "PlexSync"})
        parts = urlsplit(config.plex_url)
        self.where = f"Plex at {parts.scheme}://{parts.netloc}"
        self._base = config.plex_url.rstrip("/")
        #: Requests sent (tests count them).
        self.request_count = 0

    def _get(self, path: str, *, missing_ok: bool = False) -> ElementTree.Element | None:
        response: requests.Response | None = None
        try:
            self.request_count += 1
            response = self._session.get(self._base + path, timeout=(self.config.connect_timeout,
                                                                    self.config.read_timeout))
            if missing_ok and response.status_code == 404:
                return None
            response.raise_for_status()
            return ElementTree.fromstring(response.content)
        except Exception as exc:
            from plex.client import translate_error  # plexapi loads only when something failed

            error = translate_error(exc, response, self.where)
            if error is None:
                raise
            raise error from None

    def identity(self) -> ServerIdentity:
        """``GET /``: name, version and machine identifier; raises ``plex.exceptions`` errors."""
        started = time.perf_counter()
        root = self._get("/")
        latency_ms = round((time.perf_counter() - started) * 1000, 1)
        assert root is not None
        machine = root.get("machineIdentifier") or ""
        if not machine:
            from plex.exceptions import ConfigurationError

            raise ConfigurationError(f"{self.where} answered, but it is not a Plex Media Server; check "
                                     "'Plex server URL'", setting="Plex server URL")
        return ServerIdentity(name=root.get("friendlyName", ""), version=root.get("version", ""),
                              machine_identifier=machine, latency_ms=latency_ms)

    def item(self, rating_key: str) -> ItemFacts | None:
        """One item by its rating key, or ``None`` when Plex no longer has it."""
        root = self._get(f"/library/metadata/{quote(str(rating_key), safe='')}", missing_ok=True)
        return parse_item(root) if root is not None else None

    def close(self) -> None:
        """Close pooled connections."""
        self._session.close()
