"""The settings ``plex/`` reads, as protocols: ``validation.config.PlexSyncConfig`` (a layer
above) fits them, and ``plex/`` never imports it."""

from __future__ import annotations

from typing import Protocol, Sequence

from plex.paths import PathMapping


class LibrarySettings(Protocol):
    """Which Plex libraries PlexSync works in."""

    @property
    def plex_libraries(self) -> Sequence[str]: ...


class ConnectionSettings(LibrarySettings, Protocol):
    """Where Plex is and how to reach it."""

    @property
    def plex_url(self) -> str: ...

    @property
    def verify_tls(self) -> bool: ...

    @property
    def ca_bundle(self) -> str | None: ...

    @property
    def connect_timeout(self) -> float: ...

    @property
    def read_timeout(self) -> float: ...

    def token(self) -> str:
        """The Plex token (kept out of reprs, logs and errors)."""
        ...


class MatchSettings(Protocol):
    """How Stash paths become Plex paths and how strictly files are matched."""

    @property
    def path_mappings(self) -> Sequence[PathMapping]: ...

    @property
    def path_case_insensitive(self) -> bool: ...

    @property
    def strict_matching(self) -> bool: ...
