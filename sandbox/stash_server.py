"""A Stash emulator for PlexSync's tests: Stash's GraphQL API over real HTTP.

``POST /graphql`` runs each request through graphql-core against our subset of Stash's
schema (sandbox/stash_schema.graphql; checked against Stash's own by
sandbox/schema_check.py). ``GET /scene/{id}/screenshot`` serves a real JPEG, and
``/scene/{id}/preview`` and ``/stream`` a few mp4-typed bytes the plugin must never
upload. Authentication is Stash's: an ``ApiKey`` header (or ``apikey`` query
parameter) or a ``session`` cookie; without either, /graphql answers 401 and other
pages redirect to /login.

Run standalone with ``python -m sandbox.stash_server --scenes 500``.
"""

from __future__ import annotations

import argparse
import json
import secrets
import socket
import threading
import time
from datetime import datetime, timedelta, timezone
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterable
from urllib.parse import parse_qs, quote, urlsplit

from sandbox.stash_graphql import Executor
from sandbox.stash_media import mp4_bytes
from sandbox.stash_store import StashStore, groups_input

SESSION_COOKIE = "session"
_LOGIN_PAGE = b"<!doctype html><html><head><title>Login | Stash</title></head><body>login</body></html>"


#: What Stash serves for a studio without an image (a placeholder, not a picture of it).
_DEFAULT_STUDIO_SVG = (b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24">'
                       b'<path d="M4 4h16v16H4z"/></svg>')

class StashServer:
    """In-process Stash emulator. Use as a context manager or call start()/stop().

    Attributes for tests: ``queries`` (every /graphql request, oldest first, as
    ``{"query", "variables", "operationName", "auth", "status"}`` with auth one of
    "apikey", "cookie" or None), ``auth_required`` (default True, as for a Stash with
    credentials) and ``clock`` (callable returning the current datetime; default
    ``datetime.now(tz)`` so freezegun moves it; every updated_at comes from it).
    """

    def __init__(self, api_key: str = "sandbox-stash-api-key", host: str = "127.0.0.1",
                 port: int = 0, tz_offset_minutes: int = 0) -> None:
        """Configure, without binding a socket; tz_offset_minutes is the server's local offset."""
        self.api_key = api_key
        self.host = host
        self._requested_port = port
        self.tz = timezone(timedelta(minutes=tz_offset_minutes))
        self.clock: Callable[[], datetime] = lambda: datetime.now(self.tz)
        self.auth_required = True
        self.queries: list[dict] = []
        self.store = StashStore(lambda: self.clock(), self.tz)
        self.executor = Executor(self.store)
        self._sessions: set[str] = set()
        self._lock = threading.Lock()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None
        self._down = False
        #: Stash's web UI for UI plugins (``sandbox.stash_ui.StashUI``), when a test attaches one.
        self.ui = None

    def drop_schema_fields(self, *names: str) -> None:
        """Serve a schema without ``"Type.field"`` names (a Stash that renamed or dropped
        them), for the compatibility check's tests; introspection shows the same."""
        self.executor = Executor(self.store, dropped=names)

    # ---- lifecycle ---------------------------------------------------------------------
    def start(self) -> "StashServer":
        """Bind and serve in a daemon thread; returns self."""
        if self._httpd is None:
            self._bind(self._requested_port)
        return self

    def stop(self) -> None:
        """Stop serving and drop open connections. Safe to call twice."""
        self._unbind()
        self._down = False

    def __enter__(self) -> "StashServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _bind(self, port: int) -> None:
        httpd = _HTTPServer((self.host, port), _Handler)
        httpd.stash = self
        self._httpd = httpd
        self._port = httpd.server_address[1]
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"stash-emulator:{self._port}", daemon=True)
        self._thread.start()

    def _unbind(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        httpd.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def set_down(self, down: bool) -> None:
        """True: close the listening socket and open connections, so connecting is
        refused; False: listen again on the same port."""
        if down and not self._down and self._httpd is not None:
            self._unbind()
            self._down = True
        elif not down and self._down:
            self._down = False
            self._bind(self.port)

    @property
    def port(self) -> int:
        """The bound port (after start())."""
        if self._port is None:
            raise RuntimeError("StashServer not started")
        return self._port

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:9999."""
        return f"http://{self.host}:{self.port}"

    @property
    def graphql_url(self) -> str:
        """The GraphQL endpoint, url + "/graphql"."""
        return f"{self.url}/graphql"

    # ---- sessions -------------------------------------------------------------------
    def new_session(self) -> str:
        """Issue a valid value for the "session" cookie (what Stash hands a plugin)."""
        value = secrets.token_urlsafe(32)
        with self._lock:
            self._sessions.add(value)
        return value

    def expire_sessions(self) -> None:
        """Invalidate every issued session cookie (Stash's max_session_age passed)."""
        with self._lock:
            self._sessions.clear()

    def authenticate(self, headers, query: dict[str, list[str]]) -> tuple[str | None, bool]:
        """(how the request authenticated, whether it is allowed), Stash's rules:
        an API key, when sent, must be right (a wrong one is refused even with a valid
        cookie); otherwise a valid session cookie; otherwise refused if auth is required."""
        api_key = headers.get("ApiKey") or (query.get("apikey") or [""])[0]
        if api_key:
            if api_key == self.api_key:
                return "apikey", True
            return None, not self.auth_required
        cookie_value = _cookie(headers.get("Cookie"), SESSION_COOKIE)
        with self._lock:
            if cookie_value is not None and cookie_value in self._sessions:
                return "cookie", True
        return None, not self.auth_required

    # ---- library ------------------------------------------------------------------------
    def add_studio(self, name: str, code: str | None = None) -> str:
        """Create a studio; returns its id ("1", "2", ...). `code` is kept but not exposed:
        Stash's Studio type has no such field."""
        return self.store.add_entity("studio", name, _code=code)

    def set_studio_image(self, studio_id: str, image: bytes | None) -> None:
        """Give a studio an image (JPEG bytes), served at ``/studio/{id}/image``; ``None``
        removes it (Stash then serves its placeholder SVG there)."""
        with self.store.lock:
            record = self.store.entities["studio"][int(studio_id)]
            version = (record.get("_image") or (None, 0))[1] + 1
            record["_image"] = (image, version) if image is not None else None

    def add_performer(self, name: str) -> str:
        """Create a performer; returns its id."""
        return self.store.add_entity("performer", name, disambiguation=None)

    def add_tag(self, name: str) -> str:
        """Create a tag; returns its id."""
        return self.store.add_entity("tag", name)

    def add_group(self, name: str) -> str:
        """Create a group (formerly "movie"); returns its id."""
        return self.store.add_entity("group", name)

    def add_scene(self, *, title: str = "", files: Iterable = (), studio_id=None, performer_ids=(),
                  tag_ids=(), group_ids=(), date: str | None = None, details: str = "", code: str = "",
                  director: str = "", rating100: int | None = None, urls=(), organized: bool = False,
                  created_at=None, updated_at=None) -> str:
        """Create a scene; returns its id. `files` are paths (or dicts with "path" and
        optionally size, duration, ...); `group_ids` items are ids or (id, scene_index).
        created_at/updated_at (datetime or Stash time text) default to the clock."""
        if isinstance(files, str):
            raise TypeError("files must be a list of paths, not one string")
        spec = dict(title=title, files=list(files), studio_id=studio_id, performer_ids=list(performer_ids),
                    tag_ids=list(tag_ids), group_ids=list(group_ids), date=date, details=details, code=code,
                    director=director, rating100=rating100, urls=list(urls), organized=organized,
                    created_at=created_at, updated_at=updated_at)
        return self.store.add_scenes([spec])[0]

    def add_scenes(self, scenes: Iterable[dict]) -> list[str]:
        """Bulk add_scene: each dict takes add_scene's keyword names; returns the ids."""
        return self.store.add_scenes(scenes)

    def update_scene(self, scene_id, **fields) -> None:
        """Change a scene as sceneUpdate would (bumping updated_at). Takes add_scene's
        names (group_ids included) plus cover_image."""
        if "group_ids" in fields:
            fields["groups"] = groups_input(fields.pop("group_ids") or ())
        self.store.update_scene(scene_id, fields)

    def set_cover(self, scene_id, data: bytes | None = None) -> None:
        """Give the scene a new cover (new JPEG bytes, or `data`) and bump updated_at."""
        self.store.set_cover(scene_id, data)

    def delete_scene(self, scene_id) -> None:
        """Delete a scene and its files."""
        self.store.delete_scene(scene_id)

    def rename_tag(self, tag_id, name: str) -> None:
        """Rename a tag; scenes show the new name, their updated_at does not move."""
        self.store.rename_entity("tag", tag_id, name)

    def rename_performer(self, performer_id, name: str) -> None:
        """Rename a performer; scenes' updated_at does not move."""
        self.store.rename_entity("performer", performer_id, name)

    def rename_studio(self, studio_id, name: str) -> None:
        """Rename a studio; scenes' updated_at does not move."""
        self.store.rename_entity("studio", studio_id, name)

    def rename_group(self, group_id, name: str) -> None:
        """Rename a group; scenes' updated_at does not move."""
        self.store.rename_entity("group", group_id, name)

    def add_plays(self, scene_id, times: Iterable | None = None) -> list[int]:
        """Record plays as sceneAddPlay does (no updated_at change, no hook), cheaply for
        tests and benches. `times`: epoch seconds, datetimes or Stash time text; none
        means one play now (the clock). Returns the history, newest first, in epoch seconds."""
        return self.store.add_plays(scene_id, list(times) if times is not None else None)

    def save_activity(self, scene_id, resume_time: float | None = None,
                      play_duration: float | None = None) -> None:
        """As sceneSaveActivity: set the resume point, add to the play duration."""
        self.store.save_activity(scene_id, resume_time, play_duration)

    def take_hook_triggers(self) -> list[dict]:
        """The plugin hooks real Stash would have fired for the GraphQL mutations served
        since the last call, oldest first, as {"type", "id", "input", "input_fields"}
        (only sceneUpdate's Scene.Update.Post: play and activity mutations fire none);
        clears them. The emulator fires no hook itself: a test or the runner does."""
        with self.store.lock:
            taken, self.store.hook_triggers = self.store.hook_triggers, []
            return taken

    def scene(self, scene_id) -> dict:
        """A resolved copy of a scene: GraphQL field names, links as {id, name}, play
        fields as Stash renders them, plus cover_version. Raises ValueError for an unknown id."""
        return self.store.scene_view(scene_id)

    def scene_ids(self) -> list[str]:
        """Ids of all scenes, in id order."""
        with self.store.lock:
            return [s["id"] for s in self.store.scenes.values()]

    # ---- plugins -------------------------------------------------------------------------
    def set_plugin_settings(self, plugin_id: str, settings: dict) -> None:
        """Replace a plugin's settings, as saving them in Stash's UI does; {} unsets all."""
        self.store.configure_plugin(plugin_id, settings)

    def plugin_settings(self, plugin_id: str) -> dict:
        """A copy of a plugin's settings ({} when none are set)."""
        return self.store.plugin_settings([plugin_id]).get(plugin_id, {})

    def take_plugin_task_requests(self, *, as_job_manager: bool = False) -> list[dict]:
        """runPluginTask calls so far, as {"plugin_id", "task_name", "description",
        "args_map"} (the deprecated `args` list converted to a map); clears them.

        Each call queued a job (READY in ``jobQueue``). A test taking the requests takes
        those jobs out of Stash's queue too; the runner, playing Stash's job manager
        (``as_job_manager``), gets each request's ``job_id`` and reports the job's start
        and end (``start_job``/``end_job``), so ``jobQueue`` shows it RUNNING, then gone.
        """
        taken = self.store.take_task_requests()
        if as_job_manager:
            return taken
        for request in taken:
            self.store.end_job(request.pop("job_id", None))
        return taken

    def add_job(self, description: str) -> str:
        """Queue a job that is not a runPluginTask (a task started from Stash's task menu)."""
        return self.store.add_job(description)

    def start_job(self, job_id: str | None) -> None:
        """The job manager started the job: ``jobQueue`` shows it RUNNING."""
        self.store.start_job(job_id)

    def end_job(self, job_id: str | None) -> None:
        """The job ended: it leaves ``jobQueue``."""
        self.store.end_job(job_id)

    def job_queue(self) -> list[dict]:
        """What ``jobQueue`` answers now."""
        return self.store.job_queue()

    # ---- request log ------------------------------------------------------------------------
    def reset_queries(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self.queries.clear()

    def _record(self, body, auth: str | None, status: int, session: str | None = None) -> None:
        body = body if isinstance(body, dict) else {}
        with self._lock:
            # ``session``: the cookie's value, so a test can tell one plugin run's requests
            # from another's (the runner hands every run a fresh session).
            self.queries.append({"query": body.get("query"), "variables": body.get("variables"),
                                 "operationName": body.get("operationName"), "auth": auth, "status": status,
                                 "session": session})


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    stash: StashServer

    def __init__(self, *args, **kwargs) -> None:
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def track(self, conn: socket.socket, add: bool) -> None:
        with self._conn_lock:
            (self._connections.add if add else self._connections.discard)(conn)

    def close_connections(self) -> None:
        with self._conn_lock:
            conns, self._connections = list(self._connections), set()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer
    server_version = "stash-sandbox"

    def setup(self) -> None:
        super().setup()
        # headers and body go out in separate writes: without this, Nagle's algorithm
        # and the client's delayed ACK add ~40 ms to every keep-alive response
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format, *args) -> None:  # noqa: A002 - stdlib signature
        pass

    # ---- routing ------------------------------------------------------------------------
    def do_POST(self) -> None:
        stash = self.server.stash
        parts = urlsplit(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if parts.path != "/graphql":
            return self._send(404, b"404 page not found\n", "text/plain; charset=utf-8")
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
        auth, allowed = stash.authenticate(self.headers, parse_qs(parts.query))
        session = _cookie(self.headers.get("Cookie"), SESSION_COOKIE)
        if not allowed:
            stash._record(body, auth, 401, session)
            return self._send(401, b"", "text/plain; charset=utf-8", {"WWW-Authenticate": "FormBased"})
        if body is None:
            stash._record(body, auth, 400, session)
            return self._send_json(400, {"errors": [{"message": "json request body could not be decoded"}],
                                         "data": None})
        host = self.headers.get("Host") or f"{stash.host}:{stash.port}"
        context = {"base_url": f"http://{host}", "api_key": stash.api_key,
                   "stream_api_key": stash.api_key if stash.auth_required else "", "ui": stash.ui}
        status, response = stash.executor.run(body, context)
        stash._record(body, auth, status, session)
        self._send_json(status, response)

    def do_GET(self) -> None:
        stash = self.server.stash
        parts = urlsplit(self.path)
        segments = parts.path.strip("/").split("/")
        if parts.path.startswith("/login"):
            return self._send(200, _LOGIN_PAGE, "text/html; charset=utf-8")
        auth, allowed = stash.authenticate(self.headers, parse_qs(parts.query))
        if not allowed:
            if parts.path == "/graphql" or "." in segments[-1]:
                return self._send(401, b"", "text/plain; charset=utf-8", {"WWW-Authenticate": "FormBased"})
            return_url = parts.path + (f"?{parts.query}" if parts.query else "")
            return self._send(302, b"", "text/html; charset=utf-8",
                              {"Location": f"/login?returnURL={quote(return_url, safe='')}"})
        if len(segments) == 3 and segments[0] == "studio" and segments[2] == "image":
            with stash.store.lock:
                record = stash.store.entity("studio", segments[1])
                image = record.get("_image") if record is not None else None
            if record is not None:
                if image:
                    return self._send(200, image[0], "image/jpeg")
                return self._send(200, _DEFAULT_STUDIO_SVG, "image/svg+xml")
        served = stash.ui.serve(parts.path) if stash.ui is not None else None
        if served is not None:
            return self._send(200, served[0], served[1])
        if len(segments) == 3 and segments[0] == "scene":
            with stash.store.lock:
                exists = stash.store.get_scene(segments[1]) is not None
            if exists and segments[2] == "screenshot":
                return self._send(200, stash.store.screenshot(segments[1]), "image/jpeg")
            if exists and segments[2] in ("preview", "stream"):
                return self._send(200, mp4_bytes(f"{segments[1]}-{segments[2]}"), "video/mp4")
        self._send(404, b"404 page not found\n", "text/plain; charset=utf-8")

    # ---- responses ----------------------------------------------------------------------
    def _send_json(self, status: int, payload: dict) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _send(self, status: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


def _cookie(header: str | None, name: str) -> str | None:
    if not header:
        return None
    jar = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:
        return None
    return jar[name].value if name in jar else None


# ---- standalone -------------------------------------------------------------------------

#: The standalone emulators pair up: ``--scenes N`` here and ``python -m sandbox.plex_server
#: --items N`` hold the same N files, Stash under /data/movies and Plex under /media/movies.
STANDALONE_MAPPING = "/data/movies => /media/movies"

def demo_scenes(count: int, server: StashServer) -> list[str]:
    """Fill `server` with `count` simple scenes (a few studios, performers, tags, groups)."""
    studios = [server.add_studio(f"Studio {i}") for i in range(1, 11)]
    performers = [server.add_performer(f"Performer {i}") for i in range(1, 51)]
    tags = [server.add_tag(f"Tag {i}") for i in range(1, 31)]
    groups = [server.add_group(f"Group {i}") for i in range(1, 6)]
    specs = (
        {
            "title": f"Scene {n}" if n % 7 else "",
            "files": [f"/data/movies/Movie {n:06d}/movie-{n:06d}.mkv"],  # the Plex emulator's item n
            "studio_id": studios[n % len(studios)] if n % 5 else None,
            "performer_ids": [performers[n % 50], performers[(n * 7) % 50]] if n % 3 else [],
            "tag_ids": [tags[n % 30], tags[(n * 11) % 30]],
            "group_ids": [(groups[n % 5], n % 12 + 1)] if n % 9 == 0 else [],
            "date": f"20{n % 25:02d}-{n % 12 + 1:02d}-{n % 28 + 1:02d}" if n % 4 else None,
            "details": f"Details of scene {n}." if n % 2 else "",
            "rating100": (n * 13) % 101 if n % 6 else None,
            "organized": n % 10 == 0,
        }
        for n in range(1, count + 1)
    )
    return server.add_scenes(specs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the sandbox Stash GraphQL emulator.")
    parser.add_argument("--scenes", type=int, default=100, help="number of generated scenes")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", default="sandbox-stash-api-key")
    parser.add_argument("--tz-offset-minutes", type=int, default=0)
    parser.add_argument("--no-auth", action="store_true", help="accept requests without credentials")
    args = parser.parse_args(argv)
    server = StashServer(api_key=args.api_key, host=args.host, port=args.port,
                         tz_offset_minutes=args.tz_offset_minutes)
    server.auth_required = not args.no_auth
    started = time.perf_counter()
    demo_scenes(args.scenes, server)
    server.start()
    print(f"Stash emulator: {server.url}  (GraphQL {server.graphql_url})", flush=True)
    print(f"API key: {server.api_key}", flush=True)
    print(f"session cookie: {SESSION_COOKIE}={server.new_session()}", flush=True)
    print(f"{args.scenes} scenes ready in {time.perf_counter() - started:.2f}s; Ctrl-C to stop", flush=True)
    print(f"pairs with `python -m sandbox.plex_server --items {args.scenes}`: set the plugin's "
          f"'Path mappings' to '{STANDALONE_MAPPING}'", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
