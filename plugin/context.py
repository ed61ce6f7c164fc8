"""The context every task gets: the Stash client, the settings, the data folder.

Its own module so each task module can name it without importing the task table
(``plugin/tasks.py`` imports the task modules).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stash.client import StashClient
from validation.config import PlexSyncConfig


@dataclass
class TaskContext:
    """What every task gets."""

    stash: StashClient
    settings: dict[str, Any]
    data_dir: str
    args: dict[str, Any]
    stash_dir: str | None = None
    _config: PlexSyncConfig | None = field(default=None, repr=False)

    @property
    def config(self) -> PlexSyncConfig:
        """Validated settings; raises :class:`ConfigError` naming each bad setting."""
        if self._config is None:
            self._config = PlexSyncConfig.from_stash(self.settings)
        return self._config
