"""Stash's GraphQL API, as the plugin reaches it from ``server_connection``.

Standard library only (see ``stash.transport``): the hook uses this too.
"""

from __future__ import annotations

import json
from collections import namedtuple

# Hook path: typing and dataclasses cost ~18 ms to import, so names used only in
# annotations are imported for type checkers alone.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Iterator, Mapping, Sequence

    from stash.watch_state import SceneWatchState

from shared.log import create_logger
from stash import queries
from stash.transport import Response, TransportError, request

PLUGIN_ID = "plexsync"
log_warn = create_logger("stash")[3]


class StashError(Exception):
    """Stash answered with an error."""


class StashUnreachable(StashError):
    """Stash did not answer at all."""


class StashAuthError(StashError):
    """Stash refused our session cookie / API key (HTTP 401)."""


# A plain namedtuple, not typing.NamedTuple: the hook must not import typing. The field
# list is a literal so type checkers see the fields.
class StashConnection(namedtuple("StashConnection",
                                 ["scheme", "host", "port", "cookie_name", "cookie_value", "api_key"],
                                 defaults=("http", "127.0.0.1", 9999, "session", None, None))):
    """Where Stash is and how to prove who we are."""

    __slots__ = ()

    @classmethod
    def from_server_connection(cls, conn: Mapping[str, Any]) -> "StashConnection":
        """From the ``server_connection`` Stash writes to stdin (``0.0.0.0`` → loopback)."""
        host = str(conn.get("Host") or "127.0.0.1")
        if host in ("0.0.0.0", "", "::", "[::]"):
            host = "127.0.0.1"
        cookie = conn.get("SessionCookie") or {}
        return cls(
            scheme=str(conn.get("Scheme") or "http").lower(),
            host=host,
            port=int(conn.get("Port") or 9999),
            cookie_name=str(cookie.get("Name") or "session"),
            cookie_value=cookie.get("Value") or None,
        )

    @property
    def base_url(self) -> str:
        """``scheme://host:port``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def headers(self) -> dict[str, str]:
        """Authentication headers: the session cookie and, once known, the API key."""
        headers = {}
        if self.cookie_value:
            headers["Cookie"] = f"{self.cookie_name}={self.cookie_value}"
        if self.api_key:
            headers["ApiKey"] = self.api_key
        return headers


class StashClient:
    """GraphQL calls PlexSync makes, each one request."""

    def __init__(self, connection: StashConnection, timeout: float = 30.0,
                 send: Callable[..., Response] = request) -> None:
        self.connection = connection
        self.timeout = timeout
        #: How requests go out: a connection each (``stash.transport.request``, the hook's
        #: way) or kept connections (:meth:`keep_alive`, for tasks).
        self._send = send

    def keep_alive(self) -> "StashClient":
        """The same client on kept connections (``stash.session``): for tasks that send
        many requests (a drain fetches a cover per scene)."""
        from stash.session import StashSession

        return StashClient(self.connection, self.timeout, StashSession().request)

    def execute(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Run ``query``; return its ``data``. Raises a :class:`StashError` subclass."""
        body = json.dumps({"query": query, "variables": dict(variables or {})}).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json", **self.connection.headers()}
        conn = self.connection
        try:
            resp = self._send("POST", conn.scheme, conn.host, conn.port, "/graphql",
                              headers=headers, body=body, timeout=self.timeout)
        except TransportError as exc:
            raise StashUnreachable(f"Stash is not reachable at {conn.base_url}: {exc}") from None
        if resp.status in (401, 403):
            raise StashAuthError(f"Stash refused the plugin's credentials (HTTP {resp.status}); "
                                 "the session may have expired")
        try:
            payload = json.loads(resp.body)
        except ValueError:
            raise StashError(f"Stash answered HTTP {resp.status} with something that is not JSON") from None
        if payload.get("errors"):
            messages = "; ".join(str(e.get("message", e)) for e in payload["errors"])
            raise StashError(f"Stash rejected the request: {messages}")
        if resp.status >= 400 or not isinstance(payload.get("data"), dict):
            raise StashError(f"Stash answered HTTP {resp.status} without data")
        return payload["data"]

    def fetch(self, url: str) -> tuple[bytes, str]:
        """GET a Stash URL (a screenshot) with our credentials; returns (body, content type)."""
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        # Stash builds URLs from the request's host; reach it the way we reach the API.
        conn = self.connection
        try:
            resp = self._send("GET", conn.scheme, conn.host, conn.port, path or "/",
                              headers=conn.headers(), timeout=self.timeout)
        except TransportError as exc:
            raise StashUnreachable(f"Stash is not reachable at {conn.base_url}: {exc}") from None
        if resp.status in (401, 403):
            raise StashAuthError(f"Stash refused the plugin's credentials (HTTP {resp.status})")
        if resp.status != 200:
            raise StashError(f"Stash answered HTTP {resp.status} for {parts.path}")
        return resp.body, resp.headers.get("content-type", "")

    # -- the calls -----------------------------------------------------------------

    def plugin_settings(self, plugin_id: str = PLUGIN_ID) -> dict[str, Any]:
        """The plugin's settings map (unset settings are absent)."""
        data = self.execute(queries.PLUGIN_SETTINGS, {"ids": [plugin_id]})
        configuration = data.get("configuration")
        plugins = configuration.get("plugins") if isinstance(configuration, dict) else configuration
        if plugins is None:
            plugins = {}  # nothing configured at all
        settings = plugins.get(plugin_id) if isinstance(plugins, dict) else plugins
        if settings is None:
            return {}  # no setting saved yet: Stash leaves the plugin out
        if not isinstance(settings, dict):
            # Not what Stash's schema promises (a map of maps): run on defaults, keep queueing.
            log_warn(f"Stash's configuration.plugins for '{plugin_id}' is not a map "
                     f"({type(settings).__name__}); using no settings")
            return {}
        return dict(settings)

    def with_api_key(self) -> "StashClient":
        """A client that also sends Stash's API key, so long tasks outlive the session cookie."""
        data = self.execute(queries.API_KEY)
        key = ((data.get("configuration") or {}).get("general") or {}).get("apiKey") or None
        return StashClient(self.connection._replace(api_key=key), self.timeout, self._send) if key else self

    def find_scene(self, scene_id: int | str) -> dict[str, Any] | None:
        """One scene with the fields a sync needs, or ``None`` if it does not exist."""
        return self.execute(queries.FIND_SCENE, {"id": str(scene_id)}).get("findScene")

    def find_studio(self, studio_id: int | str) -> dict[str, Any] | None:
        """A studio's id, name and image URL, or ``None`` if it does not exist."""
        return self.execute(queries.FIND_STUDIO, {"id": str(studio_id)}).get("findStudio")

    def find_scenes_by_id(self, scene_ids: Sequence[int]) -> list[dict[str, Any]]:
        """The scenes with these ids, with the fields a sync needs, in one request.

        Stash rejects the whole request (a :class:`StashError`) when one id does not exist.
        """
        if not scene_ids:
            return []
        data = self.execute(queries.FIND_SCENES_BY_ID, {"ids": [str(i) for i in scene_ids]})
        return list(data["findScenes"]["scenes"])

    def scene_ids_between(self, low: int, high: int) -> set[int]:
        """The ids of the scenes that exist from ``low`` to ``high`` (inclusive), in one request."""
        variables = {"scene_filter": {"id": {"value": int(low), "value2": int(high), "modifier": "BETWEEN"}}}
        return {int(s["id"]) for s in self.execute(queries.SCENE_IDS_BETWEEN, variables)["findScenes"]["scenes"]}

    def find_scenes(self, page: int = 1, per_page: int = 1000, *, updated_after: str | None = None,
                    sort: str = "updated_at", direction: str = "ASC") -> tuple[int, list[dict[str, Any]]]:
        """One page of scenes; returns (total count, scenes)."""
        variables: dict[str, Any] = {"filter": {"page": page, "per_page": per_page, "sort": sort, "direction": direction}}
        if updated_after:
            variables["scene_filter"] = {"updated_at": {"value": updated_after, "modifier": "GREATER_THAN"}}
        result = self.execute(queries.FIND_SCENES, variables)["findScenes"]
        return int(result["count"]), list(result["scenes"])

    def scenes_with_file(self, path: str) -> list[dict[str, Any]]:
        """Scenes having a file at ``path`` (ids and file paths only)."""
        variables = {"scene_filter": {"path": {"value": path, "modifier": "EQUALS"}}}
        return list(self.execute(queries.SCENES_WITH_FILE, variables)["findScenes"]["scenes"])

    def scene_pages(self, per_page: int = 1000, *,
                    updated_after: str | None = None) -> Iterator[tuple[int, list[dict[str, Any]]]]:
        """Every scene (updated after a time, if given) as pages sorted by id: (total count, scenes)."""
        page = 1
        while True:
            count, scenes = self.find_scenes(page, per_page, updated_after=updated_after, sort="id")
            yield count, scenes
            if not scenes or page * per_page >= count:
                return
            page += 1

    def iter_scenes(self, per_page: int = 1000, *, updated_after: str | None = None) -> Iterator[dict[str, Any]]:
        """Every scene (updated after a time, if given), page by page, sorted by id."""
        for _count, scenes in self.scene_pages(per_page, updated_after=updated_after):
            yield from scenes

    def job_queue(self) -> list[dict[str, Any]]:
        """The jobs in Stash's job queue (``id``, ``status``, ``description``, ``addTime``)."""
        return list(self.execute(queries.JOB_QUEUE).get("jobQueue") or [])

    def run_plugin_task(self, task_name: str, args: Mapping[str, Any] | None = None,
                        plugin_id: str = PLUGIN_ID) -> str:
        """Ask Stash to queue one of our tasks as a job; returns Stash's job id."""
        data = self.execute(queries.RUN_PLUGIN_TASK,
                            {"plugin_id": plugin_id, "task_name": task_name, "args_map": dict(args or {})})
        return str(data.get("runPluginTask"))

    # -- watch state ---------------------------------------------------------------------
    # stash.watch_state (dataclasses, datetime) is imported inside these methods: the
    # hook imports this module and must stay cheap.

    def scene_watch_states(self, scene_ids: Sequence[int],
                           batch_size: int | None = None) -> dict[int, SceneWatchState]:
        """The watch state of these scenes, one ``findScenes(ids:)`` per batch (default
        ``SCENE_BATCH_SIZE``). Scenes Stash no longer has are absent from the answer.

        Stash rejects a whole batch when one id does not exist; such a batch is narrowed
        with one id listing and read again. Raises :class:`StashError` subclasses.
        """
        from shared.defaults import SCENE_BATCH_SIZE
        from stash.watch_state import parse_watch_state

        size = max(1, batch_size or SCENE_BATCH_SIZE)
        ids = list(dict.fromkeys(int(i) for i in scene_ids))
        out: dict[int, SceneWatchState] = {}
        for start in range(0, len(ids), size):
            for scene in self._watch_batch(ids[start:start + size]):
                state = parse_watch_state(scene)
                out[state.scene_id] = state
        return out

    def _watch_batch(self, ids: list[int]) -> list[dict[str, Any]]:
        def read(batch: list[int]) -> list[dict[str, Any]]:
            if not batch:
                return []
            data = self.execute(queries.SCENE_WATCH_STATES, {"ids": [str(i) for i in batch]})
            return list(data["findScenes"]["scenes"])
        try:
            return read(ids)
        except (StashUnreachable, StashAuthError):
            raise
        except StashError:
            existing = self.scene_ids_between(min(ids), max(ids))
            return read([i for i in ids if i in existing])

    def scenes_played_since(self, since: int, page_size: int | None = None) -> Iterator[SceneWatchState]:
        """Watch states of the scenes last played after ``since`` (epoch seconds), oldest
        last play first, one page (default ``STASH_PAGE_SIZE``) in memory at a time.

        Pages follow the last play time (keyset), not page numbers: a scene played
        during the pass moves to the end and may come twice, but none is skipped. A
        scene appears with its state when its page was read.
        """
        from shared.defaults import STASH_PAGE_SIZE
        from stash.watch_state import parse_watch_state, to_stash_time

        size = max(1, page_size or STASH_PAGE_SIZE)
        after = int(since)          # only plays later than this second are left to read
        at_bound: set[int] = set()  # scenes already given whose last play is exactly `after`
        page = 1                    # > 1 only while more than a page share one second
        while True:
            bound = after if not at_bound else after - 1  # text "> after - 1" is ">= after"
            variables = {
                "filter": {"page": page, "per_page": size, "sort": "last_played_at", "direction": "ASC"},
                "scene_filter": {"last_played_at": {"value": to_stash_time(bound), "modifier": "GREATER_THAN"}},
            }
            scenes = self.execute(queries.SCENES_PLAYED_SINCE, variables)["findScenes"]["scenes"]
            states = [parse_watch_state(s) for s in scenes]
            for state in states:
                if state.scene_id not in at_bound or state.last_played_at != after:
                    yield state
            if len(scenes) < size:
                return
            newest = max((s.last_played_at for s in states if s.last_played_at is not None), default=after)
            if newest > after:
                after, page = newest, 1
                at_bound = {s.scene_id for s in states if s.last_played_at == newest}
            else:
                # A whole page of one second: step through that second by page number (a
                # scene of that second played again meanwhile could shift one past us).
                at_bound.update(s.scene_id for s in states)
                page += 1

    def add_plays(self, scene_id: int, times: Sequence[int]) -> list[int]:
        """Add one Stash play per time (epoch seconds; past times are kept as given).

        Not idempotent: Stash adds the same time again on every call, so callers check
        ``play_history`` first. Fires no plugin hook. Returns the scene's play history
        after the call, oldest first. Raises ``ValueError`` for no times, since Stash
        would record a play *now* instead.
        """
        from stash.watch_state import to_epoch, to_stash_time

        if not times:
            raise ValueError("add_plays needs at least one time: Stash would record a play now")
        variables = {"id": str(int(scene_id)), "times": [to_stash_time(t) for t in times]}
        result = self.execute(queries.SCENE_ADD_PLAY, variables)["sceneAddPlay"]
        return sorted(to_epoch(t) for t in result["history"])

    def add_plays_many(self, plays: Mapping[int, Sequence[int]]) -> None:
        """:meth:`add_plays` for many scenes in one request (a first pull of a long Plex
        history would otherwise cost a request per scene per page).

        Not idempotent, and a rejected request may have added some plays before the
        rejection: callers read ``play_history`` again before trying anything twice.
        """
        from stash.watch_state import to_stash_time

        entries = [(int(scene_id), list(times)) for scene_id, times in plays.items() if times]
        if not entries:
            return
        variables: dict[str, Any] = {}
        for i, (scene_id, times) in enumerate(entries):
            variables[f"id{i}"] = str(scene_id)
            variables[f"times{i}"] = [to_stash_time(t) for t in times]
        self.execute(queries.scene_add_plays_document(len(entries)), variables)

    def save_activity(self, scene_id: int, resume_time: float) -> bool:
        """Set the scene's resume point (seconds). The play duration is left as it is
        (``playDuration`` is not sent; Stash adds nothing then). Fires no plugin hook."""
        variables = {"id": str(int(scene_id)), "resume_time": float(resume_time)}
        return bool(self.execute(queries.SCENE_SAVE_ACTIVITY, variables)["sceneSaveActivity"])

    def set_rating(self, scene_id: int, rating100: int | None) -> int:
        """Set (1-100) or clear (``None``) the scene's rating; returns its new
        ``updated_at`` in epoch seconds.

        This is a ``sceneUpdate``: Stash bumps ``updated_at`` and fires the
        ``Scene.Update.Post`` hook (ours included) for it, unlike plays and activity.
        """
        from stash.watch_state import to_epoch

        if rating100 is not None and (isinstance(rating100, bool) or not 1 <= int(rating100) <= 100):
            raise ValueError(f"a Stash rating is 1-100 or none, not {rating100!r}")
        value = None if rating100 is None else int(rating100)
        data = self.execute(queries.SCENE_SET_RATING, {"input": {"id": str(int(scene_id)), "rating100": value}})
        scene = data.get("sceneUpdate")
        if not isinstance(scene, dict):
            raise StashError(f"Stash did not return scene {scene_id} after setting its rating")
        return to_epoch(scene["updated_at"])
