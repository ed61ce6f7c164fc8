"""The one door to Plex: python-plexapi over our own ``requests.Session``.

Every call goes through :meth:`PlexConnection._call`, which translates plexapi and
requests errors — by exception class and by the HTTP status a response hook saw,
never by message text — into ``plex.exceptions``. Nothing above ``plex/`` sees a
plexapi or requests error. The connection is built lazily: constructing
``PlexServer`` sends a request, and constructors here must not touch the network.
"""

from __future__ import annotations

import os

# Partial objects would otherwise reload themselves with hidden requests.
os.environ.setdefault("PLEXAPI_PLEXAPI_AUTORELOAD", "false")

from contextlib import contextmanager  # noqa: E402
from typing import Any, Callable, Iterator, TypeVar  # noqa: E402
from urllib.parse import quote, urlsplit  # noqa: E402
from xml.etree.ElementTree import Element  # noqa: E402

import requests  # noqa: E402
from plexapi import exceptions as plex_errors  # noqa: E402
from plexapi.server import PlexServer  # noqa: E402
from plexapi.utils import joinArgs  # noqa: E402

from plex.exceptions import (  # noqa: E402
    ConfigurationError, PermanentError, PlexNotFound, PlexSyncError, PlexUnreachable, TransientError,
)
from plex.item_state import ListedItem, PlexItemState, Section, parse_item, parse_listing, parse_sections  # noqa: E402

T = TypeVar("T")
MOVIE_TYPE = 1
PAGE_SIZE = 1000
_MAX_RETRY_AFTER = 600.0


def _retry_after(response: requests.Response | None) -> float | None:
    if response is None:
        return None
    value = response.headers.get("Retry-After", "")
    try:
        return min(float(value), _MAX_RETRY_AFTER) if value else None
    except ValueError:
        return None


def translate_error(exc: BaseException, response: requests.Response | None, where: str) -> PlexSyncError | None:
    """The ``plex.exceptions`` error for a plexapi/requests failure (``None``: not ours).

    ``response`` is the last response the session saw (for its status code);
    ``where`` names the server for messages, e.g. ``Plex at http://host:32400``.
    """
    status = response.status_code if response is not None else None
    if isinstance(exc, requests.exceptions.SSLError):
        return ConfigurationError(f"{where}: TLS certificate not trusted; set 'CA certificate file' "
                                  "or, for a self-signed certificate, tick 'Skip TLS certificate check'",
                                  setting="CA certificate file")
    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                        requests.exceptions.InvalidSchema)):
        return ConfigurationError(f"{where}: the address is not a valid URL", setting="Plex server URL")
    if isinstance(exc, requests.exceptions.Timeout):
        return PlexUnreachable(f"{where} did not answer in time")
    if isinstance(exc, requests.exceptions.ConnectionError):
        return PlexUnreachable(f"cannot connect to {where} (is Plex running, and is 'Plex server URL' right?)")
    if isinstance(exc, plex_errors.Unauthorized) or status in (401, 403):
        return ConfigurationError(f"{where} refused the token (HTTP {status or 401}); check the 'Plex token' setting",
                                  setting="Plex token")
    if isinstance(exc, plex_errors.NotFound):
        return PlexNotFound(f"{where}: not found (HTTP 404)")
    if isinstance(exc, plex_errors.BadRequest) or isinstance(exc, requests.exceptions.HTTPError):
        if status == 429:
            return TransientError(f"{where} asked us to slow down (HTTP 429)", retry_after=_retry_after(response))
        if status is not None and status >= 500:
            return PlexUnreachable(f"{where} failed (HTTP {status})", retry_after=_retry_after(response))
        return PermanentError(f"{where} rejected the request (HTTP {status})")
    if isinstance(exc, requests.exceptions.RequestException):
        return PlexUnreachable(f"{where}: {type(exc).__name__}")
    return None


class PlexConnection:
    """A lazily connected Plex server with the calls PlexSync makes."""

    def __init__(self, config: Any, session_factory: Callable[[], requests.Session] = requests.Session) -> None:
        self.config = config
        self._session_factory = session_factory
        self._server: PlexServer | None = None
        self._session: requests.Session | None = None
        self._last_response: requests.Response | None = None
        self._sections: list[Section] | None = None
        parts = urlsplit(config.plex_url)
        self.where = f"Plex at {parts.scheme}://{parts.netloc}"
        #: Requests sent, by (method, path without query): for tests and benches.
        self.request_count = 0

    # -- plumbing --------------------------------------------------------------------

    def _make_session(self) -> requests.Session:
        session = self._session_factory()
        session.verify = self.config.ca_bundle or self.config.verify_tls
        session.headers["Accept"] = "application/xml"

        def remember(response: requests.Response, *args: Any, **kwargs: Any) -> None:
            self._last_response = response
            self.request_count += 1

        session.hooks["response"].append(remember)
        return session

    @contextmanager
    def _translated(self) -> Iterator[None]:
        self._last_response = None
        try:
            yield
        except PlexSyncError:
            raise
        except Exception as exc:
            error = translate_error(exc, self._last_response, self.where)
            if error is None:
                raise
            raise error from None

    def server(self) -> PlexServer:
        """The connected ``PlexServer`` (one ``GET /`` the first time)."""
        if self._server is None:
            if self._session is None:
                self._session = self._make_session()
            timeout = (self.config.connect_timeout, self.config.read_timeout)
            with self._translated():
                self._server = PlexServer(self.config.plex_url, self.config.token(), session=self._session,
                                          timeout=timeout)  # type: ignore[arg-type]
        return self._server

    def query(self, path: str, method: str = "GET", **kwargs: Any) -> Element | None:
        """One request to Plex; returns the parsed XML (``None`` for an empty body)."""
        server = self.server()
        assert self._session is not None
        verb = getattr(self._session, method.lower())
        with self._translated():
            return server.query(path, method=verb, **kwargs)

    def close(self) -> None:
        """Close pooled connections."""
        if self._session is not None:
            self._session.close()

    # -- libraries -------------------------------------------------------------------

    def all_sections(self) -> list[Section]:
        """Every library section of the server."""
        return parse_sections(self.query("/library/sections"))

    def sections(self) -> list[Section]:
        """The sections to sync into: those named in 'Plex libraries', else every movie library."""
        if self._sections is None:
            every = self.all_sections()
            names = tuple(self.config.plex_libraries)
            if names:
                by_title = {s.title.casefold(): s for s in every}
                missing = [n for n in names if n.casefold() not in by_title]
                if missing:
                    available = ", ".join(s.title for s in every) or "none"
                    raise ConfigurationError(f"{self.where} has no library named {', '.join(missing)} "
                                             f"(available: {available}); check 'Plex libraries'",
                                             setting="Plex libraries")
                chosen = [by_title[n.casefold()] for n in names]
            else:
                chosen = [s for s in every if s.type == "movie"]
                if not chosen:
                    raise ConfigurationError(f"{self.where} has no movie library; name one in 'Plex libraries'",
                                             setting="Plex libraries")
            self._sections = chosen
        return self._sections

    def list_section(self, section_id: str, page_size: int = PAGE_SIZE) -> Iterator[ListedItem]:
        """Every movie of a section, page by page."""
        start = 0
        while True:
            headers = {"X-Plex-Container-Start": str(start), "X-Plex-Container-Size": str(page_size)}
            container = self.query(f"/library/sections/{section_id}/all?type={MOVIE_TYPE}", headers=headers)
            if container is None:
                return
            items = parse_listing(container, section_id)
            yield from items
            start += len(items)
            total = int(container.get("totalSize") or container.get("size") or 0)
            if not items or start >= total:
                return

    def find_by_file(self, section_id: str, path: str) -> list[ListedItem]:
        """Items whose file path contains ``path`` (Plex's match is loose: callers check exactly)."""
        container = self.query(f"/library/sections/{section_id}/all?type={MOVIE_TYPE}&file={quote(path, safe='')}")
        return parse_listing(container, section_id) if container is not None else []

    def scan(self, section_id: str, folder: str) -> None:
        """Ask Plex to scan one folder of a section (a partial scan)."""
        self.query(f"/library/sections/{section_id}/refresh?path={quote(folder, safe='')}")

    # -- items -----------------------------------------------------------------------

    def load_item(self, rating_key: str) -> PlexItemState:
        """The full item (every tag, the field locks)."""
        container = self.query(f"/library/metadata/{rating_key}")
        if container is None:
            raise PlexNotFound(f"{self.where}: item {rating_key} is gone")
        return parse_item(container)

    def edit(self, section_id: str, rating_key: str, params: dict[str, Any]) -> None:
        """One batched edit, exactly the request plexapi's ``saveEdits`` sends."""
        args = {"type": MOVIE_TYPE, "id": rating_key, **params}
        self.query(f"/library/sections/{section_id}/all{joinArgs(args)}", method="PUT")

    def upload_poster(self, rating_key: str, image: bytes) -> None:
        """Upload a poster as the request body (Plex cannot fetch Stash's authenticated URL)."""
        self.query(f"/library/metadata/{rating_key}/posters", method="POST", data=image)
