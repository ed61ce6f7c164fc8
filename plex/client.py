"""The one door to Plex: python-plexapi over our own ``requests.Session`` to connect,
then PlexSync's own requests on keep-alive connections (``plex.wire``).

Every failure is translated by :func:`translate_error` — by exception class and by
the HTTP status, never by message text — into ``plex.exceptions``. Nothing above
``plex/`` sees a plexapi, requests or socket error. The connection is built lazily:
constructing ``PlexServer`` sends a request, and constructors here must not touch
the network.
"""

from __future__ import annotations

import os

# Partial objects would otherwise reload themselves with hidden requests.
os.environ.setdefault("PLEXAPI_PLEXAPI_AUTORELOAD", "false")

import http.client  # noqa: E402
import ssl  # noqa: E402
import threading  # noqa: E402
from concurrent.futures import Future, ThreadPoolExecutor  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import replace  # noqa: E402
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence, TypeVar  # noqa: E402
from urllib.parse import quote, urlsplit  # noqa: E402
from xml.etree.ElementTree import Element, ParseError, fromstring  # noqa: E402

import requests  # noqa: E402
import urllib3  # noqa: E402
from requests.adapters import DEFAULT_POOLSIZE, HTTPAdapter  # noqa: E402
from plexapi import BASE_HEADERS  # noqa: E402
from plexapi import exceptions as plex_errors  # noqa: E402
from plexapi.server import PlexServer  # noqa: E402
from plexapi.utils import cleanXMLString, joinArgs  # noqa: E402

from plex.diff import EditParams, edit_request  # noqa: E402
from plex.exceptions import (  # noqa: E402
    ConfigurationError, PermanentError, PlexNotFound, PlexSyncError, PlexUnreachable, RateLimited,
)
from plex.item_state import ListedItem, PlexItemState, Section, parse_item, parse_listing, parse_sections  # noqa: E402
from plex.media_types import EPISODE, MOVIE, MediaType  # noqa: E402
from plex.wire import PlexWire, WireResponse  # noqa: E402
from shared.defaults import DEFAULT_RETRY_AFTER_SECONDS, MAX_RETRY_AFTER_SECONDS, PLEX_PAGE_SIZE  # noqa: E402
from shared.log import create_logger  # noqa: E402

if TYPE_CHECKING:
    from plex.settings import ConnectionSettings

log_trace, log_debug, log_info, log_warn, log_error = create_logger("plex")

T = TypeVar("T")
# OpenSSL's verify codes for a certificate issued to another host name / IP address.
_NAME_MISMATCH_CODES = {62, 64}
# OpenSSL's reasons when the other side answered a TLS hello with plain HTTP.
_NOT_TLS_REASONS = {"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG", "UNKNOWN_PROTOCOL",
                    "HTTP_REQUEST"}
_insecure_told = False


class PlexStatusError(Exception):
    """An answer from Plex with a status that is not success (on PlexSync's own requests)."""

    def __init__(self, status: int, retry_after: str | None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after


def _retry_after(value: str | None) -> float | None:
    try:
        return min(float(value), MAX_RETRY_AFTER_SECONDS) if value else None
    except ValueError:
        return None


def status_error(status: int | None, retry_after: str | None, where: str) -> PlexSyncError:
    """The ``plex.exceptions`` error for an answer with HTTP ``status`` (``None``: unknown)."""
    if status in (401, 403):
        return ConfigurationError(f"{where} refused the token (HTTP {status}); check the 'Plex token' setting",
                                  setting="Plex token")
    if status == 404:
        return PlexNotFound(f"{where}: not found (HTTP 404)")
    if status == 429:
        return RateLimited(f"{where} asked us to slow down (HTTP 429)",
                           retry_after=_retry_after(retry_after) or DEFAULT_RETRY_AFTER_SECONDS)
    if status is not None and status >= 500:
        return PlexUnreachable(f"{where} failed (HTTP {status})", retry_after=_retry_after(retry_after))
    return PermanentError(f"{where} rejected the request (HTTP {status})")


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception it wraps (cause, context, urllib3's ``reason``, args)."""
    seen: set[int] = set()
    stack: list[Any] = [exc]
    while stack:
        current = stack.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack += [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]


def tls_error(exc: BaseException, where: str) -> ConfigurationError:
    """Advice that fits the TLS failure, chosen by the ``ssl`` exception inside it."""
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            if cause.verify_code in _NAME_MISMATCH_CODES:
                return ConfigurationError(f"{where}: the TLS certificate is issued to another name "
                                          f"({cause.verify_message}); use the host name the certificate names "
                                          "in 'Plex server URL'", setting="Plex server URL")
            return ConfigurationError(f"{where}: TLS certificate not trusted ({cause.verify_message}); set "
                                      "'CA certificate file' to the certificate (PEM) that signed it or, for a "
                                      "self-signed certificate, tick 'Skip TLS certificate check'",
                                      setting="CA certificate file")
        if isinstance(cause, ssl.SSLError) and getattr(cause, "reason", None) in _NOT_TLS_REASONS:
            return ConfigurationError(f"{where}: the server does not speak https at this address; use http:// "
                                      "in 'Plex server URL'", setting="Plex server URL")
        if isinstance(cause, ssl.SSLError) and getattr(cause, "library", None) in ("X509", "PEM"):
            return ConfigurationError(f"{where}: the CA certificate file is not a PEM certificate",
                                      setting="CA certificate file")
    return ConfigurationError(f"{where}: the TLS connection failed; check that 'Plex server URL' is Plex's "
                              "https address", setting="Plex server URL")


def translate_error(exc: BaseException, response: requests.Response | None, where: str) -> PlexSyncError | None:
    """The ``plex.exceptions`` error for a plexapi/requests failure (``None``: not ours).

    ``response`` is the last response the session saw (for its status code);
    ``where`` names the server for messages, e.g. ``Plex at http://host:32400``.
    """
    status = response.status_code if response is not None else None
    retry_after = response.headers.get("Retry-After") if response is not None else None
    if isinstance(exc, PlexStatusError):
        return status_error(exc.status, exc.retry_after, where)
    if isinstance(exc, (requests.exceptions.SSLError, ssl.SSLError)):
        return tls_error(exc, where)
    if isinstance(exc, ParseError):
        return ConfigurationError(f"{where} answered, but it is not a Plex Media Server; check 'Plex server URL'",
                                  setting="Plex server URL")
    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                        requests.exceptions.InvalidSchema)):
        return ConfigurationError(f"{where}: the address is not a valid URL", setting="Plex server URL")
    if isinstance(exc, (requests.exceptions.Timeout, TimeoutError)):
        return PlexUnreachable(f"{where} did not answer in time")
    if isinstance(exc, (requests.exceptions.ConnectionError, ConnectionError, http.client.HTTPException)):
        return PlexUnreachable(f"cannot connect to {where} (is Plex running, and is 'Plex server URL' right?)")
    if isinstance(exc, plex_errors.Unauthorized):
        return status_error(status if status in (401, 403) else 401, retry_after, where)
    if isinstance(exc, plex_errors.NotFound):
        return status_error(404, retry_after, where)
    if isinstance(exc, (plex_errors.BadRequest, requests.exceptions.HTTPError)) or status in (401, 403):
        return status_error(status, retry_after, where)
    if isinstance(exc, requests.exceptions.RequestException):
        return PlexUnreachable(f"{where}: {type(exc).__name__}")
    if isinstance(exc, FileNotFoundError) or (isinstance(exc, OSError) and exc.errno is None):
        # Loading the CA certificates (a missing file): requests raises a bare OSError.
        return ConfigurationError(f"{where}: cannot load the TLS CA certificates ({exc})",
                                  setting="CA certificate file")
    if isinstance(exc, OSError):
        return PlexUnreachable(f"cannot connect to {where} (is Plex running, and is 'Plex server URL' right?)")
    return None


class PlexConnection:
    """A lazily connected Plex server with the calls PlexSync makes."""

    def __init__(self, config: ConnectionSettings, session_factory: Callable[[], requests.Session] = requests.Session,
                 *, pool_size: int = 1) -> None:
        self.config = config
        self._session_factory = session_factory
        #: Threads that may send requests at once (the drain's Plex pool): the connection
        #: pool keeps that many connections open instead of reconnecting.
        self.pool_size = max(1, int(pool_size))
        self._server: PlexServer | None = None
        self._session: requests.Session | None = None
        self._wire: PlexWire | None = None
        self._reader: ThreadPoolExecutor | None = None
        # Each thread translates the errors of its own request: the response a hook saw
        # is kept per thread, so a 429 answering one request never colours another's error.
        self._local = threading.local()
        self._connect_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._sections: list[Section] | None = None
        parts = urlsplit(config.plex_url)
        self.where = f"Plex at {parts.scheme}://{parts.netloc}"
        #: Requests sent, by (method, path without query): for tests and benches.
        self.request_count = 0

    # -- plumbing --------------------------------------------------------------------

    @property
    def _last_response(self) -> requests.Response | None:
        return getattr(self._local, "response", None)

    @_last_response.setter
    def _last_response(self, response: requests.Response | None) -> None:
        self._local.response = response

    def _make_session(self) -> requests.Session:
        session = self._session_factory()
        # The environment is read once, here. With trust_env, requests reads the proxy and
        # CA-bundle variables and ~/.netrc again on every request (~10 % of a bulk drain's
        # time), and lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override the session's verify,
        # which silently ignored 'CA certificate file' and 'Skip TLS certificate check'.
        session.trust_env = False
        session.proxies.update(requests.utils.get_environ_proxies(self.config.plex_url))
        session.verify = self.config.ca_bundle or (_environment_ca_bundle() if self.config.verify_tls else False)
        if session.verify is False:
            _tell_insecure_once(self.config.plex_url.startswith("https:"))
        session.headers["Accept"] = "application/xml"
        if self.pool_size > DEFAULT_POOLSIZE:
            for prefix in ("http://", "https://"):
                session.mount(prefix, HTTPAdapter(pool_maxsize=self.pool_size))

        def remember(response: requests.Response, *args: Any, **kwargs: Any) -> None:
            self._last_response = response
            with self._count_lock:
                self.request_count += 1

        session.hooks["response"].append(remember)
        return session

    @contextmanager
    def _translated(self, connecting: bool = False) -> Iterator[None]:
        self._last_response = None
        try:
            yield
        except PlexSyncError:
            raise
        except Exception as exc:
            error = translate_error(exc, self._last_response, self.where)
            if error is None:
                raise
            if connecting and isinstance(error, (PlexNotFound, PermanentError)):
                error = self._not_plex(f"answered HTTP {getattr(self._last_response, 'status_code', '?')}")
            raise error from None

    def _not_plex(self, what: str) -> ConfigurationError:
        path = urlsplit(self.config.plex_url).path
        hint = (f" (use just the server's address, without the path {path})" if path.strip("/") else "")
        return ConfigurationError(f"{self.where} {what}: it is not a Plex Media Server; check 'Plex server URL'"
                                  f"{hint}", setting="Plex server URL")

    def server(self) -> PlexServer:
        """The connected ``PlexServer`` (one ``GET /`` the first time, whichever thread asks)."""
        if self._server is not None:
            return self._server
        with self._connect_lock:
            return self._connect()

    def _connect(self) -> PlexServer:
        if self._server is None:
            if self._session is None:
                self._session = self._make_session()
            timeout = (self.config.connect_timeout, self.config.read_timeout)
            with self._translated(connecting=True):
                server = PlexServer(self.config.plex_url, self.config.token(), session=self._session,
                                    timeout=timeout)
            if not server.machineIdentifier:
                raise self._not_plex("answered XML without a server identity")
            self._wire = self._make_wire(self._session)
            self._server = server
        return self._server

    def _make_wire(self, session: requests.Session) -> PlexWire | None:
        """Our own connections for :meth:`query`, trusting what the session trusts; none
        when a proxy applies (requests speaks to proxies, the wire does not)."""
        if requests.utils.select_proxy(self.config.plex_url, session.proxies):
            return None
        headers = {**BASE_HEADERS, "Accept": "application/xml", "X-Plex-Token": self.config.token()}
        with self._translated():
            return PlexWire(self.config.plex_url, headers, verify=True if session.verify is None else session.verify,
                            timeout=(self.config.connect_timeout, self.config.read_timeout))

    def query(self, path: str, method: str = "GET", *, headers: dict[str, str] | None = None,
              data: bytes | None = None) -> Element | None:
        """One request to Plex; returns the parsed XML (``None`` for an empty body)."""
        server = self.server()
        wire = self._wire
        if wire is not None:
            with self._translated():
                answer = wire.request(method, path, body=data, headers=headers)
                with self._count_lock:
                    self.request_count += 1
                if 200 <= answer.status < 300:
                    return _parse_xml(answer)
                if not 300 <= answer.status < 400:
                    raise PlexStatusError(answer.status, answer.retry_after)
            # A redirect (a proxy in front of Plex): requests follows it, from now on.
            self._wire = None
            wire.close()
        assert self._session is not None
        verb = getattr(self._session, method.lower())
        with self._translated():
            return server.query(path, method=verb, headers=headers, data=data)

    def close(self) -> None:
        """Close pooled connections."""
        if self._reader is not None:
            self._reader.shutdown(wait=True, cancel_futures=True)
            self._reader = None
        if self._wire is not None:
            self._wire.close()
        if self._session is not None:
            self._session.close()

    # -- libraries -------------------------------------------------------------------

    def all_sections(self) -> list[Section]:
        """Every library section of the server."""
        container = self.query("/library/sections")
        if container is None:  # Plex always lists its sections: an empty answer is someone else
            raise self._not_plex("answered the library list with an empty body")
        return parse_sections(container)

    def sections(self) -> list[Section]:
        """The sections to sync into: those named in 'Plex libraries' (Movies, Other Videos or
        TV Shows), else every movie-type library (Movies and Other Videos)."""
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
                unsupported = [s for s in chosen if s.media is None]
                if unsupported:
                    what = ", ".join(f"'{s.title}' is a {s.kind} library" for s in unsupported)
                    raise ConfigurationError(f"{what}: PlexSync syncs scenes into Movies, Other Videos and TV Shows "
                                             "libraries only; check 'Plex libraries'", setting="Plex libraries")
            else:
                chosen = [s for s in every if s.type == MOVIE.section_type]
                if not chosen:
                    raise ConfigurationError(f"{self.where} has no Movies or Other Videos library; name the "
                                             "libraries to sync into (a TV Shows library too) in 'Plex libraries'",
                                             setting="Plex libraries")
            self._sections = chosen
        return self._sections

    def list_section(self, section_id: str, page_size: int = PLEX_PAGE_SIZE,
                     media: MediaType = MOVIE) -> Iterator[ListedItem]:
        """Every item of type ``media`` in a section, page by page.

        The next page is asked for before this one is parsed and handed out, so Plex
        renders it while we read (one page ahead at most: memory stays one page)."""

        def page(start: int) -> Element | None:
            headers = {"X-Plex-Container-Start": str(start), "X-Plex-Container-Size": str(page_size)}
            return self.query(f"/library/sections/{section_id}/all?type={media.listing_type}", headers=headers)

        start, container = 0, page(0)
        ahead: Future[Element | None] | None = None
        try:
            while container is not None:
                size = sum(1 for _ in container.iter(media.element))
                total = int(container.get("totalSize") or container.get("size") or 0)
                ahead = self._page_reader().submit(page, start + size) if size and start + size < total else None
                yield from parse_listing(container, section_id, media)
                start += size
                container = ahead.result() if ahead is not None else None
                ahead = None
        finally:
            if ahead is not None:   # the caller stopped early: the page is not wanted
                ahead.cancel()

    def _page_reader(self) -> ThreadPoolExecutor:
        """The one thread that reads listing pages ahead (and keeps its connection)."""
        with self._connect_lock:
            if self._reader is None:
                self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="plex-listing")
            return self._reader

    def find_by_file(self, section_id: str, path: str, media: MediaType = MOVIE) -> list[ListedItem]:
        """Items whose file path contains ``path`` (Plex's match is loose: callers check exactly)."""
        container = self.query(f"/library/sections/{section_id}/all?type={media.listing_type}"
                               f"&file={quote(path, safe='')}")
        return parse_listing(container, section_id, media) if container is not None else []

    def show_episodes(self, show_key: str, page_size: int = PLEX_PAGE_SIZE) -> list[ListedItem]:
        """Every episode of a TV show (``/allLeaves``), page by page."""
        items: list[ListedItem] = []
        while True:
            headers = {"X-Plex-Container-Start": str(len(items)), "X-Plex-Container-Size": str(page_size)}
            container = self.query(f"/library/metadata/{show_key}/allLeaves", headers=headers)
            if container is None:
                return items
            page = parse_listing(container, container.get("librarySectionID", ""), EPISODE)
            items += page
            if not page or len(items) >= int(container.get("totalSize") or container.get("size") or 0):
                return items

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

    def load_items(self, rating_keys: Sequence[str]) -> dict[str, PlexItemState]:
        """Several full items in one request (``/library/metadata/1,2,3``, as plexapi's
        ``fetchItems`` asks): rating key → item; keys Plex no longer has are absent."""
        if not rating_keys:
            return {}
        try:
            container = self.query(f"/library/metadata/{','.join(rating_keys)}")
        except PlexNotFound:
            return {}  # Plex answers 404 only when it has none of them
        if container is None:
            return {}
        states = {}
        for element in container:
            if element.tag in ("Video", "Directory") and element.get("ratingKey"):
                state = parse_item(element)   # with the fields of the item's own type
                if not state.section_id:
                    state = replace(state, section_id=container.get("librarySectionID", ""))
                states[state.rating_key] = state
        return states

    def send_edit(self, section_id: str, request: EditParams) -> None:
        """Send one batched edit built by :func:`plex.diff.edit_request`, exactly the
        request plexapi's ``saveEdits`` sends."""
        self.query(f"/library/sections/{section_id}/all{joinArgs(request)}", method="PUT")

    def edit(self, section_id: str, rating_key: str, params: EditParams, media: MediaType = MOVIE) -> None:
        """Change an item's fields with raw edit parameters (tools, tests)."""
        self.send_edit(section_id, edit_request(media, rating_key, params, lock=False))

    def upload_poster(self, rating_key: str, image: bytes) -> None:
        """Upload a poster as the request body (Plex cannot fetch Stash's authenticated URL)."""
        self.query(f"/library/metadata/{rating_key}/posters", method="POST", data=image)


def _parse_xml(answer: WireResponse) -> Element | None:
    """The answer's XML, as plexapi parses it: ``None`` for an empty body; stray
    control characters cleaned out when the first parse fails."""
    if not answer.body.strip():
        return None
    try:
        return fromstring(answer.body)
    except ParseError:
        cleaned = cleanXMLString(answer.body.decode("utf-8", "replace")).encode("utf-8")
        return fromstring(cleaned) if cleaned.strip() else None


def _environment_ca_bundle() -> str | bool:
    """The CA bundle requests would take from the environment when no setting names one
    (``REQUESTS_CA_BUNDLE``, then ``CURL_CA_BUNDLE``), else ``True``: the default bundle."""
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True


def _tell_insecure_once(https: bool) -> None:
    """One warning line per run instead of urllib3's warning on every request (which
    reaches stderr without Stash's log prefix, so Stash logs each as an error)."""
    global _insecure_told
    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    if https and not _insecure_told:
        _insecure_told = True
        log_warn("'Skip TLS certificate check' is ticked: the connection to Plex is encrypted, "
                 "but the server's certificate is not checked")
