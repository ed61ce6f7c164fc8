"""Retry, backoff, breaker and retention policy: every tunable default, named once."""

#: Retries for an ordinary transient failure (429, a dropped response).
MAX_RETRIES = 5
#: Retries when Plex has no item for the file: Plex may simply not have scanned it yet.
NOT_FOUND_MAX_RETRIES = 12
#: A folder PlexSync asked Plex to scan is not asked again within this many seconds
#: (across drains; about the not-found retry budget's span at the backoff cap).
FOLDER_SCAN_WINDOW_SECONDS = 15 * 60.0

#: Full-jitter exponential backoff: delay ~ U[0, min(cap, base * 2**retry)].
BACKOFF_BASE_SECONDS = 5.0
BACKOFF_CAP_SECONDS = 80.0

#: Consecutive Plex outage errors that open the circuit.
BREAKER_FAILURE_THRESHOLD = 5
#: Seconds an open circuit waits before letting one probe through.
BREAKER_RECOVERY_TIMEOUT = 60.0
#: Probe successes in half-open that close the circuit.
BREAKER_SUCCESS_THRESHOLD = 1

#: Dead-letter entries older than this are purged (setting: DLQ retention).
DLQ_RETENTION_DAYS = 30
#: Automatic DLQ purge runs at most this often.
DLQ_AUTO_PURGE_INTERVAL_SECONDS = 24 * 3600

#: A hook does not ask Stash for another drain within this many seconds of the last ask.
DRAIN_REQUEST_DEBOUNCE_SECONDS = 10.0
