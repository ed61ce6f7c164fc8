"""Does the running Stash and Plex still offer what PlexSync uses?

Stash upgrades rename or drop GraphQL fields, and then every sync fails in a way
nobody connects to the upgrade. *Status* runs this check every time; a drain runs it
once a day (``COMPATIBILITY_CHECK_EVERY_SECONDS`` after the folder's first drain, its
time kept in ``compatibility.json``) and logs what it finds in that one run. It asks Stash for its
version and its schema (introspection) and compares the schema with the fields,
arguments and types PlexSync's own documents use (``stash/graphql_usage.py``), and
asks Plex for its version and whether every library in *Plex libraries* exists.
"""

from __future__ import annotations

import os
import time
from typing import Any

from plugin.context import TaskContext
from shared.defaults import COMPATIBILITY_CHECK_EVERY_SECONDS
from shared.jsonfile import CorruptStateError, read_json, write_json_atomic
from shared.log import create_logger
from stash import queries
from stash.client import StashClient, StashError
from stash.graphql_usage import (
    INTROSPECTION,
    GraphQLParseError,
    missing_from_schema,
    older_than,
    parse_operation,
    schema_from_introspection,
)
from validation.config import ConfigError, PlexSyncConfig

log_trace, log_debug, log_info, log_warn, log_error = create_logger("compatibility")

STATE_FILE = "compatibility.json"


def missing_libraries(configured: tuple[str, ...], available: list[str]) -> list[str]:
    """The configured library names Plex no longer has (pure; Plex compares names ignoring case)."""
    have = {name.casefold() for name in available}
    return [name for name in configured if name.casefold() not in have]


def check_stash(stash: StashClient) -> dict[str, Any]:
    """Stash's version and what of PlexSync's usage its schema lacks; ``problems`` lists
    the lines to warn about."""
    result: dict[str, Any] = {"version": None, "missing": [], "problems": []}
    try:
        version = (stash.execute(queries.VERSION).get("version") or {}).get("version")
    except StashError as exc:
        result["problems"].append(f"Stash did not tell its version: {exc}")
        version = None
    result["version"] = version
    if older_than(version, queries.MINIMUM_STASH_VERSION):
        result["problems"].append(f"Stash {version} is older than {queries.MINIMUM_STASH_VERSION}, the oldest "
                                  "PlexSync works with: update Stash")
    try:
        schema = schema_from_introspection(stash.execute(INTROSPECTION))
        operations = [parse_operation(doc) for doc in queries.documents().values()]
    except (StashError, GraphQLParseError, KeyError, TypeError) as exc:
        result["problems"].append(f"Could not compare Stash's schema with what PlexSync uses: {exc}")
        return result
    missing = missing_from_schema(operations, schema, queries.VARIABLE_INPUT_FIELDS)
    result["missing"] = missing
    if missing:
        result["problems"].append(
            f"Stash {version or '(version unknown)'} lacks what PlexSync uses: {', '.join(missing)}. "
            "The syncs that need them will fail until PlexSync is updated for this Stash "
            f"(or Stash is updated, if older than {queries.MINIMUM_STASH_VERSION})")
    return result


def check_plex(config: PlexSyncConfig) -> dict[str, Any]:
    """Plex's version and the libraries in *Plex libraries* it no longer has."""
    from plex.client import PlexConnection
    from plex.exceptions import PlexSyncError

    plex = PlexConnection(config)
    try:
        version = plex.server().version
        titles = [section.title for section in plex.all_sections()]
    except PlexSyncError as exc:
        return {"version": None, "missing_libraries": [], "problems": [f"Plex could not be checked: {exc}"]}
    finally:
        plex.close()
    missing = missing_libraries(tuple(config.plex_libraries), titles)
    problems = []
    if missing:
        problems.append(f"Plex has no library named {', '.join(missing)} any more (available: "
                        f"{', '.join(titles) or 'none'}): fix 'Plex libraries'")
    return {"version": version, "missing_libraries": missing, "problems": problems}


def check(ctx: TaskContext, *, ask_plex: bool = True, plex_version: str | None = None) -> dict[str, Any]:
    """Both checks, each problem logged as a warning, or one line saying all is well.

    ``ask_plex=False``: Status has just asked Plex for its version and libraries itself.
    """
    stash = check_stash(ctx.stash)
    result: dict[str, Any] = {"stash": stash}
    problems = list(stash["problems"])
    if ask_plex:
        try:
            config = ctx.config
        except ConfigError:
            config = None
        if config is not None:
            plex = check_plex(config)
            result["plex"] = plex
            problems += plex["problems"]
            plex_version = plex["version"]
    for line in problems:
        log_warn(f"Compatibility: {line}")
    result["problems"] = problems
    if not problems:
        log_info(f"Compatibility: Stash {stash['version'] or '(version unknown)'} has every field PlexSync uses"
                 f"{f'; Plex {plex_version}' if plex_version else ''}")
    return result


def maybe_check(ctx: TaskContext, now: float | None = None) -> dict[str, Any] | None:
    """The daily check for a drain: runs (and logs) when the last one is a day old; else ``None``."""
    now = time.time() if now is None else now
    path = os.path.join(ctx.data_dir, STATE_FILE)
    try:
        state = read_json(path) or {}
    except CorruptStateError:
        state = {}
    last = state.get("checked_at") if isinstance(state, dict) else None
    due = isinstance(last, (int, float)) and not 0 <= now - last < COMPATIBILITY_CHECK_EVERY_SECONDS
    if isinstance(last, (int, float)) and not due:
        return None
    try:
        write_json_atomic(path, {"checked_at": now})  # first: a failing check is not repeated every drain
    except OSError as exc:
        log_debug(f"Could not record the compatibility check in {path}: {exc}")
    # A data folder's first drain only starts the clock: the user has just run Status,
    # which checks every time, and a new install's first sync stays lean.
    return check(ctx) if due else None
