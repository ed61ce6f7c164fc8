"""Stash's web UI, as far as UI plugins see it, on top of the Stash emulator.

What Stash does (``internal/api/routes_plugin.go``, ``resolver_model_plugin.go``,
``ui/v2.5/src/plugins.tsx``, ``pluginApi.tsx``) and so what this does:

* ``query { plugins { id enabled requires paths { javascript css } } }`` lists each
  plugin with its UI files as ``<base>/plugin/<id>/javascript`` and ``/css`` (URLs in the
  yml's ``ui:`` lists are passed through as they are);
* ``GET /plugin/<id>/javascript`` (``/css``) answers the plugin's ``ui.javascript``
  (``ui.css``) files concatenated, each followed by a newline, ``text/javascript``
  (``text/css``); these pages need the login like every other;
* ``mutation { runPluginOperation(plugin_id, args) }`` runs the plugin at once (the
  runner's :meth:`~sandbox.runner.PluginRunner.run_operation`) and answers its output, or
  its error as a GraphQL error;
* ``GET /scenes/<id>`` (and ``/``, ``/settings``) serves a page standing in for Stash's
  UI (``sandbox/ui/index.html`` and ``stash_page.js``): React 17, ReactDOM and
  react-bootstrap 1.6 from the npm registry (pinned in ``sandbox/ui/package-lock.json``,
  installed with ``npm ci``; the versions Stash's UI uses), ``window.PluginApi`` with
  Stash's patch functions, a scene page whose ``ScenePage``, ``ScenePage.Tabs`` and
  ``ScenePage.TabContent`` are patchable as in Stash's ``Scene.tsx``, and at ``/settings``
  each plugin's ``PluginSettings`` block. It loads the plugins' JavaScript and CSS the
  way Stash's ``PluginsLoader`` does, before rendering.

Approximate: the page is not Stash's UI (no Apollo client, no router, no other pages, no real settings;
``PluginApi.GQL``, ``utils`` and ``hooks`` are near-empty), and its styles are plain
Bootstrap 4 rather than Stash's dark theme.
"""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path
from typing import Any

from sandbox.runner import PluginRunner
from sandbox.stash_store import StashError

UI_DIR = Path(__file__).resolve().with_name("ui")
#: Files of npm packages the page loads, by URL under /sandbox-ui/vendor/.
VENDOR_FILES = {
    "react.js": "react/umd/react.production.min.js",
    "react-dom.js": "react-dom/umd/react-dom.production.min.js",
    "react-bootstrap.js": "react-bootstrap/dist/react-bootstrap.min.js",
    "bootstrap.css": "bootstrap/dist/css/bootstrap.min.css",
}
PAGE_FILES = {"/": "index.html", "/settings": "index.html", "/sandbox-ui/stash_page.js": "stash_page.js"}
#: Stash's route for a scene's page, which the stand-in page renders.
_SCENE_PAGE = re.compile(r"^/scenes/\d+$")


class UIMissing(RuntimeError):
    """The page's npm packages are not installed (run ``npm ci`` in sandbox/ui)."""


def vendor_missing(ui_dir: Path = UI_DIR) -> list[str]:
    """The npm files the page needs that are not installed."""
    return [rel for rel in VENDOR_FILES.values() if not (ui_dir / "node_modules" / rel).is_file()]


class StashUI:
    """Attach to a :class:`~sandbox.stash_server.StashServer` (``stash.ui = StashUI(...)``)."""

    def __init__(self, runner: PluginRunner, ui_dir: Path = UI_DIR) -> None:
        missing = vendor_missing(ui_dir)
        if missing:
            raise UIMissing(f"missing {', '.join(missing)}: run 'npm ci' in {ui_dir}")
        self.runner = runner
        self.ui_dir = ui_dir
        #: Every runPluginOperation run, oldest first (RunResult).
        self.operations: list[Any] = []

    @property
    def plugin_id(self) -> str:
        return self.runner.id

    def plugins(self, base_url: str) -> list[dict[str, Any]]:
        """The ``plugins`` query: the one plugin the runner runs, enabled."""
        config = self.runner.config

        def paths(files: tuple[str, ...], kind: str) -> list[str] | None:
            if not files:
                return None
            urls = [f for f in files if f.startswith(("http://", "https://"))]
            return urls + [f"{base_url}/plugin/{config.id}/{kind}"]

        return [{"id": config.id, "name": config.name, "description": config.description or None,
                 "url": config.url or None, "version": config.version or None, "enabled": True,
                 "requires": [], "paths": {"javascript": paths(config.ui_javascript, "javascript"),
                                           "css": paths(config.ui_css, "css")}}]

    def run_operation(self, plugin_id: str, args: dict[str, Any]) -> Any:
        """``runPluginOperation``: the plugin's output; its error raised as Stash does."""
        if plugin_id != self.plugin_id:
            raise StashError(f"plugin {plugin_id} not found")
        result = self.runner.run_operation(args)
        self.operations.append(result)
        if result.error:
            raise StashError(result.error)
        return result.output

    def serve(self, path: str) -> tuple[bytes, str] | None:
        """``(body, content type)`` for a UI path, or ``None`` (not a UI path)."""
        if path in PAGE_FILES or _SCENE_PAGE.match(path):
            name = PAGE_FILES.get(path, "index.html")
            return (self.ui_dir / name).read_bytes(), _content_type(name)
        if path.startswith("/sandbox-ui/vendor/"):
            rel = VENDOR_FILES.get(path.rsplit("/", 1)[1])
            if rel is None:
                return None
            return (self.ui_dir / "node_modules" / rel).read_bytes(), _content_type(rel)
        prefix = f"/plugin/{self.plugin_id}/"
        if path in (prefix + "javascript", prefix + "css"):
            kind = path.rsplit("/", 1)[1]
            files = self.runner.config.ui_javascript if kind == "javascript" else self.runner.config.ui_css
            body = b"".join(_read(self.runner.config.dir / f) + b"\n" for f in files
                            if not f.startswith(("http://", "https://")))
            return body, "text/javascript" if kind == "javascript" else "text/css"
        return None


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:      # Stash logs the error and serves the rest
        return b""


def _content_type(name: str) -> str:
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return f"{kind}; charset=utf-8" if kind.startswith("text/") or kind.endswith("javascript") else kind
