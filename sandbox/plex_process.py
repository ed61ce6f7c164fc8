"""The Plex emulator in a process of its own, driven exactly like :class:`PlexServer`.

In a bench the plugin, Stash and Plex each need the CPU; in one Python process the two
emulators share one interpreter lock, and Stash's GraphQL then holds Plex's answers back
(Plex's latency in the figures was partly Stash's). A real Plex is a program of its own:
so is this one. Methods are called over a pipe (``multiprocessing`` manager); attributes
are read and set through it too, so ``plex.latency = 0.02`` and ``plex.max_in_flight``
read as they do on the in-process server. Return values cross the pipe pickled.
"""

from __future__ import annotations

import multiprocessing
import resource
from multiprocessing.managers import BaseManager
from types import GeneratorType
from typing import Any

from sandbox.plex_server import PlexServer


class _Served(PlexServer):
    """The emulator as the child process holds it, with attribute access for the parent."""

    def start(self) -> None:  # type: ignore[override]  # the server itself stays in the child
        super().start()

    def get_attribute(self, name: str) -> Any:
        """``getattr(self, name)`` (properties included)."""
        return getattr(self, name)

    def set_attribute(self, name: str, value: Any) -> None:
        """``setattr(self, name, value)``."""
        setattr(self, name, value)

    def cpu_seconds(self) -> float:
        """CPU time this process has used (user + system)."""
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime


class _Manager(BaseManager):
    pass


_Manager.register("Served", _Served)

#: Names that are callables of the class (sent as calls); anything else is an attribute.
_METHODS = frozenset(name for name in dir(_Served)
                     if not name.startswith("_") and callable(getattr(_Served, name, None)))


class PlexProcess:
    """A :class:`PlexServer` running in a child process; a context manager like it."""

    def __init__(self, **options: Any) -> None:
        manager = _Manager(ctx=multiprocessing.get_context("spawn"))
        manager.start()
        object.__setattr__(self, "_manager", manager)
        object.__setattr__(self, "_remote", manager.Served(**options))  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> Any:
        if name not in _METHODS:
            return self._remote.get_attribute(name)
        method = getattr(self._remote, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            # Generators do not pickle: what a caller streams crosses as a list.
            args = tuple(list(a) if isinstance(a, GeneratorType) else a for a in args)
            return method(*args, **kwargs)

        return call

    def __setattr__(self, name: str, value: Any) -> None:
        self._remote.set_attribute(name, value)

    def stop(self) -> None:
        """Stop the server and end the child process."""
        try:
            self._remote.stop()
        finally:
            self._manager.shutdown()

    def __enter__(self) -> "PlexProcess":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
