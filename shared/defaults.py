"""Every tunable default, named once with one sentence each.

Standard library only and free of imports: the hook path reads it, and every layer
(``shared`` is the lowest) may import it. Settings a user can change in Stash start
from the values here; the rest are fixed policy.
"""

# -- retries and backoff -------------------------------------------------------------------

#: Retries for an ordinary transient failure (429, a dropped response).
MAX_RETRIES = 5
#: Retries when Plex has no item for the file: Plex may simply not have scanned it yet.
NOT_FOUND_MAX_RETRIES = 12
#: Full-jitter exponential backoff: delay ~ U[0, min(cap, base * 2**retry)]; this is the base.
BACKOFF_BASE_SECONDS = 5.0
#: The backoff's cap (see BACKOFF_BASE_SECONDS).
BACKOFF_CAP_SECONDS = 80.0

# -- circuit breaker -----------------------------------------------------------------------

#: Consecutive Plex outage errors that open the circuit.
BREAKER_FAILURE_THRESHOLD = 5
#: Seconds an open circuit waits before letting one probe through.
BREAKER_RECOVERY_TIMEOUT = 60.0
#: Probe successes in half-open that close the circuit.
BREAKER_SUCCESS_THRESHOLD = 1

# -- dead-letter queue ---------------------------------------------------------------------

#: Dead-letter entries older than this are purged (setting: DLQ retention).
DLQ_RETENTION_DAYS = 30
#: Automatic DLQ purge runs at most this often.
DLQ_AUTO_PURGE_INTERVAL_SECONDS = 24 * 3600

# -- the drain -----------------------------------------------------------------------------

#: A drain that keeps finding new work (another hook between passes) stops after this
#: many passes; the next hook or task carries on.
MAX_PASSES = 10
#: Passes that ended because Plex asked us to slow down (HTTP 429) do not count toward
#: MAX_PASSES (a burst of 429s is one per pass); this bounds them instead.
MAX_PAUSED_PASSES = 60
#: When only jobs waiting to retry remain and the next is due this soon (Plex is
#: scanning a new file, a 429 asked us to wait), the drain waits for it rather than
#: leaving it for the next save — but only while no other job waits in Stash's queue.
MAX_WAIT_FOR_RETRY_SECONDS = 60.0
#: Keep polling an empty queue this long: hooks of a bulk edit keep adding jobs.
LINGER_SECONDS = 2.0
#: How often a waiting or lingering drain asks Stash whether another job waits.
HANDOVER_POLL_SECONDS = 1.0
#: A drain request older than this is assumed lost (Stash dropped or never ran it).
PENDING_STALE_SECONDS = 600.0
#: A kill loses at most this many statistics changes…
SAVE_EVERY_CHANGES = 50
#: …or this many seconds of them (each save is one small fsynced file).
SAVE_INTERVAL_SECONDS = 1.0
#: Seconds a SQLite connection waits for another process's write lock.
SQLITE_LOCK_TIMEOUT_SECONDS = 30.0

# -- writing to Plex -----------------------------------------------------------------------

#: When this many jobs wait, list each section once instead of one look-up per scene.
BULK_INDEX_THRESHOLD = 50
#: A drain reads the scenes of its next this many jobs from Stash in one findScenes query.
SCENE_BATCH_SIZE = 100
#: glibc malloc arenas a drain's threads share (see shared/memory.py): fewer, less memory held.
MALLOC_ARENAS = 2
#: Plex items read in one request for the drain's next first-time syncs (one GET instead of this many).
ITEM_BATCH_SIZE = 50
#: An item read ahead is used only this many seconds later; older, it is read again.
ITEM_BATCH_MAX_AGE_SECONDS = 30.0
#: Covers of a batch fetched from Stash at once (local HTTP; bounded so Stash is not flooded).
COVER_FETCH_WORKERS = 4
#: Plex requests (item loads, edits, poster uploads) a drain keeps in flight at once ('Parallel Plex requests').
PARALLEL_PLEX_REQUESTS = 4
#: The most 'Parallel Plex requests' accepts: more only queues inside a home Plex server.
MAX_PARALLEL_PLEX_REQUESTS = 16
#: Cover bytes one batch may hold in memory; covers past it are fetched when their scene syncs.
COVER_BATCH_MAX_BYTES = 64 * 1024 * 1024
#: A Stash cover larger than this is not uploaded to Plex.
MAX_POSTER_BYTES = 20 * 1024 * 1024
#: Seconds between two readings of the sections' ``scannedAt`` within one drain.
SCAN_STAMP_MAX_AGE = 5.0
#: A folder PlexSync asked Plex to scan is not asked again within this many seconds
#: (across drains; about the not-found retry budget's span at the backoff cap).
FOLDER_SCAN_WINDOW_SECONDS = 15 * 60.0
#: Items per page when listing a Plex library section.
PLEX_PAGE_SIZE = 1000
#: Plays per page when reading Plex's play history (a cursor can be saved after each page).
PLEX_HISTORY_PAGE_SIZE = 200
#: Items per ``/library/metadata/<k1>,<k2>,…`` request when reading watch state (keeps URLs short).
PLEX_WATCH_BATCH = 100
#: Scenes whose new plays go to Stash in one request (aliased sceneAddPlay mutations).
STASH_PLAY_WRITE_BATCH = 50
#: A Retry-After from Plex longer than this is cut to it.
MAX_RETRY_AFTER_SECONDS = 600.0
#: A 429 without a usable Retry-After: wait this long.
DEFAULT_RETRY_AFTER_SECONDS = 5.0
#: Stash and Plex measure a file's duration separately (ffprobe vs Plex's scanner):
#: durations this close (ms) count as the same.
DURATION_TOLERANCE_MS = 2000

# -- reconcile -----------------------------------------------------------------------------

#: Scenes per page when reading Stash.
STASH_PAGE_SIZE = 1000
#: More folders to scan than this: scan the library folders that hold them instead.
MAX_SCAN_FOLDERS = 50
#: Jobs written to the queue per transaction.
ENQUEUE_BATCH = 1000
#: Stash pages read ahead (each ~1,000 scenes, a few MB).
PREFETCH_PAGES = 3
#: Plex listing: items handed over per batch…
LISTING_BATCH = 500
#: …and batches read ahead (~2 pages).
LISTING_AHEAD = 4
#: Progress is reported after every this many scenes (a page is 1,000).
PROGRESS_EVERY = 20
#: A full reconcile runs at least this often whenever the schedule is on.
FULL_RECONCILE_EVERY = 7 * 86400.0

# -- the hook ------------------------------------------------------------------------------

#: The hook trusts the settings snapshot the tasks leave for it this long; older, it asks
#: Stash once (and rewrites it), so a changed setting reaches hooks within this bound even
#: when no task runs.
HOOK_SETTINGS_MAX_AGE_SECONDS = 900.0
#: Data folders hooks were told to use before the 'Data folder' setting changed, kept so
#: every drain can adopt jobs a hook queued there from a snapshot not yet refreshed.
HOOK_SETTINGS_FORMER_FOLDERS = 4

# -- watch state (plays, resume points, ratings) ----------------------------------------------

#: Resume points (Stash seconds vs Plex ms) closer than this count as the same point.
WATCH_RESUME_TOLERANCE_MS = 1000
#: An open scrobble intent is matched to a Plex history entry stamped up to this many
#: seconds before the intent (Plex stamps viewedAt with its own clock).
WATCH_INTENT_CLOCK_SLACK_SECONDS = 120

#: A resume point at or past this fraction of the item is not sent to Plex: Plex would
#: count it as a play (a history entry nobody made).
WATCH_PROGRESS_MAX_FRACTION = 0.9

# -- installing the plugin's Python packages ---------------------------------------------------

#: A task that installs PlexSync's missing Python packages (pip into the private folder)
#: gives up after this many seconds, leaving no half-installed folder behind.
PACKAGE_INSTALL_TIMEOUT_SECONDS = 300.0
#: The compatibility check (Stash's schema and version, Plex's version and libraries) runs
#: in a drain at most this often; Status runs it every time.
COMPATIBILITY_CHECK_EVERY_SECONDS = 86400.0

# -- the panel in Stash's UI (ui/plexsync.js, plugin/ui_operations.py) --------------------------

#: 'Sync now' on a scene page drains the queue right away (the UI waits for it) only when at
#: most this many other jobs are ready before the scene's; with more, it queues the scene and
#: asks Stash to run 'Process queue' in the background instead of holding the page.
UI_SYNC_NOW_MAX_AHEAD = 10
