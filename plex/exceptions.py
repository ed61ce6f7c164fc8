"""The errors the sync worker acts on: one small tree, one root.

Each class carries what the worker needs to decide (retry budget, whether it says
Plex itself is unhealthy), so the decision reads attributes, not an ``isinstance``
ladder. ``plex.client.translate_error`` is the one place plexapi and requests errors
become these.
"""

from __future__ import annotations

from shared import defaults


class PlexSyncError(Exception):
    """Root of every error the worker classifies."""

    #: Retries before the job goes to the dead-letter queue (0: straight there).
    max_retries: int = 0
    #: Whether the failure says Plex is unhealthy (counts toward the circuit breaker).
    trips_breaker: bool = False
    #: Whether a failed attempt uses up one of the job's retries.
    consumes_retry: bool = True
    #: The setting (PlexSyncConfig field) that overrides ``max_retries``, if any.
    budget_setting: str | None = None
    #: Whether the drain must stop at once, keeping every job (nothing a retry can fix).
    stops_drain: bool = False
    #: Whether the whole drain must hold off for ``retry_after`` seconds (not only this job).
    pauses_drain: bool = False

    def __init__(self, message: str = "", *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        #: A wait the server asked for (HTTP ``Retry-After``), in seconds.
        self.retry_after = retry_after


class TransientError(PlexSyncError):
    """A failure worth retrying with backoff (a dropped response)."""

    max_retries = defaults.MAX_RETRIES
    budget_setting = "max_retries"
    trips_breaker = True


class PlexUnreachable(TransientError):
    """Plex is down or failing: connection refused, timeout, 5xx.

    Counts toward the breaker but never uses up a job's retries: a Plex that is
    simply off must not send the whole queue to the dead-letter queue.
    """

    consumes_retry = False


class RateLimited(PlexSyncError):
    """Plex asked us to slow down (HTTP 429): the whole drain waits ``retry_after`` seconds.

    Not an outage (the breaker stays closed) and not the job's fault (no retry used).
    """

    consumes_retry = False
    pauses_drain = True

    def __init__(self, message: str = "", *, retry_after: float) -> None:
        super().__init__(message, retry_after=retry_after)


class PlexNotFound(PlexSyncError):
    """Plex has no item for the scene's files (yet: it may not have scanned them)."""

    max_retries = defaults.NOT_FOUND_MAX_RETRIES
    budget_setting = "not_found_max_retries"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message, retry_after=retry_after)


class PermanentError(PlexSyncError):
    """Retrying cannot help (ambiguous match, scene deleted, Plex rejected the edit)."""

    max_retries = 0


class ConfigurationError(PlexSyncError):
    """A setting is wrong (bad token, bad URL, no such library): stop and keep every job."""

    consumes_retry = False
    stops_drain = True

    def __init__(self, message: str = "", *, setting: str | None = None) -> None:
        super().__init__(message)
        #: The setting to fix, by the name users see in Stash.
        self.setting = setting


class StashUnavailable(PlexSyncError):
    """Stash (the source) did not answer or refused us while syncing.

    Not the scene's fault: the drain stops and keeps every job, no retry used, and the
    Plex breaker is not touched.
    """

    consumes_retry = False
    stops_drain = True


class StashRejected(PlexSyncError):
    """Stash answered a scene's query with an error: retried with the standard budget."""

    max_retries = defaults.MAX_RETRIES
    budget_setting = "max_retries"
