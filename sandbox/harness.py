"""A whole sandbox in one object: local Plex and Stash, a generated library, the
plugin configured, and a Stash-faithful runner — for ``make demo``, ``bench/`` and
end-to-end tests.

    with Sandbox(scenes=300, unscanned_fraction=0.05) as sb:
        sb.edit(sb.world.scenes[0], title="New title")   # save in Stash, hooks fire
        sb.runner.wait_for_jobs()                          # Stash's job queue drains
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from sandbox.library import SceneSpec, World, generate
from sandbox.plex_process import PlexProcess
from sandbox.plex_server import PlexServer
from sandbox.runner import PluginRunner
from sandbox.stash_server import StashServer

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PLUGIN_ID = "plexsync"


class Sandbox:
    """Emulators + world + configured plugin + runner; a context manager."""

    def __init__(self, *, scenes: int = 300, seed: int = 1, settings: dict[str, Any] | None = None,
                 job_queue: str = "background", world: World | None = None, layout: str = "movies",
                 library: str = "Movies", plex_process: bool = False, **world_options: Any) -> None:
        self.world = world or generate(seed=seed, scenes=scenes, **world_options)
        #: How the world is filed in Plex (``World.load_into``'s layouts) and the library's name.
        self.layout, self.library = layout, library
        self.extra_settings = dict(settings or {})
        self.job_queue = job_queue
        #: ``plex_process``: the Plex emulator runs in a process of its own (benches).
        self.plex: Any = PlexProcess() if plex_process else PlexServer()
        self.stash = StashServer()
        self.root = Path(tempfile.mkdtemp(prefix="plexsync-sandbox-"))
        #: Stash's config folder; the plugin's data lives in ``<it>/plexsync`` by default.
        self.stash_dir = self.root / "stash"
        self.runner: PluginRunner | None = None

    @property
    def data_dir(self) -> Path:
        """The plugin's data folder."""
        return self.stash_dir / "plexsync"

    def settings(self) -> dict[str, Any]:
        """The plugin settings as stored in Stash."""
        return {"plex_url": self.plex.url, "plex_token": self.plex.token,
                "path_mappings": self.world.mapping_setting, **self.extra_settings}

    def start(self) -> "Sandbox":
        """Start both servers, load the world, configure the plugin."""
        self.plex.start()
        self.stash.start()
        self.world.load_into(self.stash, self.plex, section_title=self.library, layout=self.layout)
        self.stash.set_plugin_settings(PLUGIN_ID, self.settings())
        self.stash_dir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k != "PLEXSYNC_DATA_DIR"}
        self.runner = PluginRunner(PROJECT_ROOT, self.stash, self.stash_dir, env=env, job_queue=self.job_queue)
        return self

    def stop(self) -> None:
        """Stop everything and delete the temporary folders."""
        if self.runner is not None:
            self.runner.close()
        self.stash.stop()
        self.plex.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "Sandbox":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what a user does ----------------------------------------------------------------

    def configure(self, **changes: Any) -> None:
        """Change plugin settings as saving them in Stash's UI does (``None`` unsets one)."""
        for key, value in changes.items():
            if value is None:
                self.extra_settings.pop(key, None)
            else:
                self.extra_settings[key] = value
        self.stash.set_plugin_settings(PLUGIN_ID, self.settings())

    def edit(self, scene: SceneSpec, **fields: Any) -> list[Any]:
        """Save ``fields`` (SceneUpdateInput names) on a scene in Stash; its hooks fire."""
        assert self.runner is not None
        self.stash.update_scene(scene.stash_id, **fields)
        return self.runner.fire_hook("Scene.Update.Post", int(scene.stash_id), input=dict(fields),
                                     input_fields=list(fields))

    def queue_everything(self) -> None:
        """Queue a sync of every scene (what a full reconcile does on a fresh install)."""
        from worker.jobs import new_job
        from worker.queue import enqueue

        self.data_dir.mkdir(parents=True, exist_ok=True)
        for scene in self.world.scenes:
            enqueue(str(self.data_dir), new_job(int(scene.stash_id), "full_sync"))

    def plex_item(self, scene: SceneSpec) -> dict[str, Any]:
        """The scene's Plex item as the emulator holds it now."""
        return self.plex.item(scene.plex_key)
