"""The command line: the task menu's operations outside Stash, for debugging and scripting.

``python plexsync.py [options] COMMAND``; see :func:`build_parser` or ``--help``.
It builds the same :class:`plugin.tasks.TaskContext` as a task run by Stash (through
:func:`plugin.tasks.make_context`) and runs the same task table, so a command does
exactly what the task of the same name does. Settings come from Stash (its URL and
API key) or from a settings file using the keys of Stash's settings. Output is plain
text (``shared.log`` terminal mode): information on stdout, warnings and errors on
stderr, a progress bar on stderr when it is a terminal. Exit codes: 0 done,
1 failed (see :func:`failed`), 2 wrong usage.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from shared.log import LogFn
    from stash.client import StashClient

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2
STASH_URL_ENV = "STASH_URL"
STASH_API_KEY_ENV = "STASH_API_KEY"
DEFAULT_STASH_URL = "http://localhost:9999"
#: Stash's config folder when it runs as the same user on this machine.
DEFAULT_STASH_DIR = "~/.stash"
RECONCILE_SCOPES = ("changed", "all", "missing")
NOT_FOUND_ERROR = "PlexNotFound"
_BOOL_WORDS = {"true": True, "yes": True, "on": True, "1": True,
               "false": False, "no": False, "off": False, "0": False}

EPILOG = f"""\
Settings come from Stash (--stash-url / ${STASH_URL_ENV}, default {DEFAULT_STASH_URL};
--api-key / ${STASH_API_KEY_ENV}: Stash's Settings > Security > API Key) or, with
--settings FILE, from a file with the keys of PlexSync's Stash settings: a JSON object,
or 'key = value' lines ('#' starts a comment line). Stash is still used to read scenes
(process, reconcile). The data folder is --data-dir, else $PLEXSYNC_DATA_DIR, else the
'Data folder' setting, else {DEFAULT_STASH_DIR}/plexsync.

exit codes: 0 done; 1 failed (status: PlexSync cannot work; process: the queue could
not be processed; reconcile: stopped); 2 wrong usage.

examples:
  plexsync.py --api-key KEY status
  plexsync.py process --dry-run
  plexsync.py reconcile missing --dry-run
  plexsync.py watch-state --dry-run
  plexsync.py --settings plexsync.conf dlq show --limit 50
  plexsync.py dlq retry --not-found
"""


class UsageError(Exception):
    """The command line or the settings file is wrong (exit code 2)."""


# ---------------------------------------------------------------------------- arguments


def _common_options() -> argparse.ArgumentParser:
    """Options accepted before or after the command (SUPPRESS: absent unless given)."""
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("where settings and data come from")
    group.add_argument("--stash-url", metavar="URL", default=argparse.SUPPRESS,
                       help=f"Stash's address (default: ${STASH_URL_ENV} or {DEFAULT_STASH_URL})")
    group.add_argument("--api-key", metavar="KEY", default=argparse.SUPPRESS,
                       help=f"Stash's API key (default: ${STASH_API_KEY_ENV}); needed when Stash has a login")
    group.add_argument("--settings", metavar="FILE", default=argparse.SUPPRESS,
                       help="read PlexSync's settings from FILE instead of Stash")
    group.add_argument("--data-dir", metavar="DIR", default=argparse.SUPPRESS,
                       help="PlexSync's data folder (queue, dead-letter queue, state)")
    out = common.add_argument_group("output")
    out.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                     help="print the result as JSON on stdout (messages go to stderr)")
    out.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                     help="also show debug messages")
    return common


def build_parser() -> argparse.ArgumentParser:
    """The ``plexsync.py`` argument parser."""
    common = _common_options()
    parser = argparse.ArgumentParser(
        prog="plexsync.py", parents=[common], epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="PlexSync from the command line: the operations of its Stash tasks.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help_text: str, **kwargs: Any) -> argparse.ArgumentParser:
        return commands.add_parser(name, parents=[common], help=help_text, description=help_text, **kwargs)

    command("status", "Plex reachable? Queue, dead-letter queue, circuit breaker, last sync and reconcile")

    process = command("process", "sync every queued scene to Plex now")
    process.add_argument("--dry-run", action="store_true",
                         help="show what each queued scene would change in Plex; write nothing, keep the queue")
    process.add_argument("--max-wait", type=float, metavar="SECONDS",
                         help="wait at most this long for jobs due to retry soon (default 60)")

    reconcile = command("reconcile", "compare Stash with Plex and queue the scenes that differ")
    reconcile.add_argument("scope", nargs="?", choices=RECONCILE_SCOPES, default="changed",
                           help="changed: scenes updated since the last reconcile (default); all: every "
                                "scene; missing: scenes whose files Plex lacks")
    reconcile.add_argument("--dry-run", action="store_true", help="report what differs; queue nothing")

    watch = command("watch-state", "plays, resume points and ratings between Plex and Stash, now")
    watch.add_argument("--dry-run", action="store_true", help="report what it would write; write nothing")

    dlq = command("dlq", "the dead-letter queue: scenes that could not be synced")
    actions = dlq.add_subparsers(dest="action", metavar="ACTION", required=True)

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        return actions.add_parser(name, parents=[common], help=help_text, description=help_text)

    show = action("show", "counts by error type and the newest entries")
    show.add_argument("--limit", type=_positive_int, metavar="N", help="show the newest N entries (default 25)")
    retry = action("retry", "put failed scenes back into the queue")
    which = retry.add_mutually_exclusive_group()
    which.add_argument("--error-type", metavar="TYPE", help="only entries of this error type (see 'dlq show')")
    which.add_argument("--not-found", action="store_true",
                       help=f"only scenes Plex had no file for ({NOT_FOUND_ERROR})")
    purge = action("purge", "delete entries older than the retention")
    purge.add_argument("--days", type=_non_negative_float, metavar="N",
                       help="older than N days (default: the 'Dead-letter retention (days)' setting)")
    action("clear", "delete every entry")

    command("reset-breaker", "forget recent Plex failures and try Plex again on the next sync")
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("expected 1 or more")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, not {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError("expected 0 or more")
    return value


def task_call(ns: argparse.Namespace) -> tuple[str, dict[str, str]]:
    """The task ``mode`` and ``args`` (strings, as Stash passes them) for parsed arguments."""
    if ns.command == "status":
        return "status", {}
    if ns.command == "reset-breaker":
        return "reset_breaker", {}
    if ns.command == "process":
        if ns.dry_run:
            return "process_dry_run", {}
        # No hooks to wait for on the command line: don't linger on an empty queue.
        args = {"linger": "0"}
        if ns.max_wait is not None:
            args["max_wait"] = f"{max(ns.max_wait, 0.0):g}"
        return "process", args
    if ns.command == "reconcile":
        args = {"scope": ns.scope}
        if ns.dry_run:
            args["dry_run"] = "true"
        return "reconcile", args
    if ns.command == "watch-state":
        return ("watch_state_dry_run", {}) if ns.dry_run else ("watch_state", {"linger": "0"})
    if ns.action == "show":
        return "dlq_show", {} if ns.limit is None else {"limit": str(ns.limit)}
    if ns.action == "retry":
        error_type = NOT_FOUND_ERROR if ns.not_found else (ns.error_type or "").strip()
        return "dlq_retry", {"error_type": error_type} if error_type else {}
    if ns.action == "purge":
        return "dlq_purge", {} if ns.days is None else {"days": f"{ns.days:g}"}
    return "dlq_clear", {}


# ---------------------------------------------------------------------------- settings


def parse_stash_url(url: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of Stash's address; a missing scheme means http."""
    text = url.strip()
    if "://" not in text:
        text = f"http://{text}"
    parts = urlsplit(text)
    path = parts.path.rstrip("/")
    if path.endswith("/graphql"):
        path = path[: -len("/graphql")]
    if parts.scheme not in ("http", "https") or not parts.hostname or path or parts.query:
        raise UsageError(f"--stash-url {url!r}: expected Stash's address, e.g. {DEFAULT_STASH_URL}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UsageError(f"--stash-url {url!r}: the port is not a number between 1 and 65535") from None
    return parts.scheme, parts.hostname, port


def _typed(key: str, value: str, where: str) -> Any:
    """A ``key = value`` text value as Stash would store it (BOOLEAN → bool, NUMBER → number)."""
    from validation.config import SETTING_BY_KEY

    setting = SETTING_BY_KEY.get(key)
    if setting is None or setting.type == "STRING" or value == "":
        return value
    if setting.type == "BOOLEAN":
        word = _BOOL_WORDS.get(value.lower())
        if word is None:
            raise UsageError(f"{where}: '{key}' is a tick box: write true or false, not {value!r}")
        return word
    try:
        number = float(value)
    except ValueError:
        raise UsageError(f"{where}: '{key}' takes a number, not {value!r}") from None
    return int(number) if number.is_integer() else number


def read_settings_file(path: str) -> dict[str, Any]:
    """PlexSync's settings from a JSON object or ``key = value`` lines; raises :class:`UsageError`."""
    from shared.log import create_logger
    from validation.config import SETTING_BY_KEY

    try:
        text = Path(path).expanduser().read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise UsageError(f"cannot read the settings file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"the settings file {path} is not UTF-8 text") from None
    settings: dict[str, Any] = {}
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise UsageError(f"the settings file {path} is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise UsageError(f"the settings file {path} must hold a JSON object of settings")
        settings = data
    else:
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            key, sep, value = line.partition("=")
            key, value = key.strip(), value.strip()
            if not sep or not key:
                raise UsageError(f"{path}:{number}: expected 'key = value', not {line!r}")
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            settings[key] = _typed(key, value, f"{path}:{number}")
    unknown = sorted(k for k in settings if k not in SETTING_BY_KEY)
    if unknown:
        create_logger("cli")[3](f"{path}: ignoring unknown setting(s) {', '.join(unknown)} "
                                f"(known: {', '.join(SETTING_BY_KEY)})")
    return settings


def _stash_client(ns: argparse.Namespace) -> StashClient:
    from shared.log import register_secret
    from stash.client import StashClient, StashConnection

    url = getattr(ns, "stash_url", None) or os.environ.get(STASH_URL_ENV) or DEFAULT_STASH_URL
    scheme, host, port = parse_stash_url(url)
    api_key = (getattr(ns, "api_key", None) or os.environ.get(STASH_API_KEY_ENV) or "").strip() or None
    register_secret(api_key)
    return StashClient(StashConnection(scheme=scheme, host=host, port=port, api_key=api_key))


def _settings_from_stash(stash: StashClient) -> dict[str, Any]:
    """PlexSync's settings as stored in Stash; raises ``TaskError`` (logged) if Stash says no."""
    from plugin.protocol import TaskError
    from shared.log import create_logger
    from stash.client import StashAuthError, StashError, StashUnreachable

    log_error = create_logger("cli")[4]
    where = stash.connection.base_url
    try:
        return stash.plugin_settings()
    except StashAuthError:
        message = (f"Stash at {where} refused the request: pass its API key with --api-key or "
                   f"${STASH_API_KEY_ENV} (Stash: Settings > Security > API Key)")
    except StashUnreachable as exc:
        message = f"{exc}: pass Stash's address with --stash-url or ${STASH_URL_ENV}, or use --settings FILE"
    except StashError as exc:
        message = f"cannot read PlexSync's settings from Stash at {where}: {exc}"
    log_error(message)
    raise TaskError(message)


# ---------------------------------------------------------------------------- running


#: How a drain that did its work ends (see worker/processor.py); anything else is exit code 1.
DRAIN_DONE = ("queue empty", "only jobs waiting to retry remain")


def failed(mode: str, output: Any) -> bool:
    """Whether a task that returned ``output`` failed, for the exit code.

    Any task: an ``error`` in its output (reconcile stopped). ``status``: PlexSync cannot
    work (bad settings, Plex unusable). ``process``: the drain stopped before the queue
    was done (a setting to fix, Plex down, cancelled).
    """
    if not isinstance(output, dict):
        return False
    if output.get("error"):
        return True
    if mode == "status":
        plex = output.get("plex")
        return bool(output.get("config_error")) or (isinstance(plex, dict) and not plex.get("reachable", True))
    if mode in ("process", "watch_state") and "stopped" in output:
        return output["stopped"] not in DRAIN_DONE
    return False


def _use_private_packages(ns: argparse.Namespace) -> None:
    """The packages a task installed for Stash serve the command line too: in the
    ``--data-dir`` folder's ``python-packages``, else where Stash's runs put them."""
    from shared.python_packages import FOLDER_NAME, packages_dir, use_private_packages

    given = getattr(ns, "data_dir", None)
    if given and use_private_packages(os.path.join(os.path.abspath(os.path.expanduser(given)), FOLDER_NAME)):
        return
    use_private_packages(packages_dir(os.path.expanduser(DEFAULT_STASH_DIR)))


def run(ns: argparse.Namespace) -> int:
    """Run the parsed command; returns the exit code."""
    from plugin.deps import dependency_problem, import_error_problem
    from shared.log import create_logger, route_warnings

    log_warn, log_error = create_logger("cli")[3:]
    route_warnings()
    _use_private_packages(ns)
    problem = dependency_problem(in_stash=False)
    if problem:
        log_error(problem)
        return EXIT_ERROR
    try:
        return _run_task(ns, log_warn, log_error)
    except ModuleNotFoundError as exc:  # a dependency of a dependency
        log_error(import_error_problem(exc, in_stash=False))
        return EXIT_ERROR
    except Exception as exc:  # outside any task (settings, data folder): still one short line
        from plugin.protocol import describe_unexpected

        log_error(describe_unexpected(exc))
        return EXIT_ERROR


def _run_task(ns: argparse.Namespace, log_warn: LogFn, log_error: LogFn) -> int:
    from plugin.protocol import TaskError
    from plugin.tasks import READ_ONLY_TASKS, make_context, run_task, task_table
    from shared.datadir import resolve_data_dir
    from shared.log import redact

    mode, args = task_call(ns)
    tasks = task_table()
    if mode not in tasks:
        log_error(f"this PlexSync has no '{ns.command}' operation")
        return EXIT_ERROR
    try:
        stash = _stash_client(ns)
        settings_file = getattr(ns, "settings", None)
        settings = read_settings_file(settings_file) if settings_file else _settings_from_stash(stash)
        if getattr(ns, "debug", False):
            settings = {**settings, "debug_logging": True}
        stash_dir = os.path.expanduser(DEFAULT_STASH_DIR)
        data_dir = getattr(ns, "data_dir", None) or resolve_data_dir(stash_dir, settings.get("data_dir"))
        data_dir = os.path.abspath(os.path.expanduser(data_dir))
        existed = os.path.isdir(data_dir)
        context = make_context(stash, settings, args, stash_dir=stash_dir, data_dir=data_dir,
                               create=mode not in READ_ONLY_TASKS)
        if not existed and os.path.isdir(context.data_dir):
            log_warn(f"The data folder {context.data_dir} did not exist and was created empty. If PlexSync runs "
                     "in a Stash elsewhere (Docker, another user), pass its folder with --data-dir.")
        output = run_task(tasks[mode], context)
    except UsageError as exc:
        log_error(str(exc))
        return EXIT_USAGE
    except TaskError as exc:
        if exc.output is not None and getattr(ns, "json", False):
            sys.stdout.write(redact(json.dumps(exc.output, ensure_ascii=False, indent=2, default=str)) + "\n")
            sys.stdout.flush()
        return EXIT_ERROR
    if getattr(ns, "json", False):
        sys.stdout.write(redact(json.dumps(output, ensure_ascii=False, indent=2, default=str)) + "\n")
        sys.stdout.flush()
    return EXIT_ERROR if failed(mode, output) else EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """``plexsync.py`` with arguments; returns the exit code (0 done, 1 failed, 2 wrong usage)."""
    from shared.log import end_progress, set_output_mode

    parser = build_parser()
    try:
        ns = parser.parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    set_output_mode("terminal", info_to_stdout=not getattr(ns, "json", False))
    try:
        return run(ns)
    except KeyboardInterrupt:
        end_progress()
        sys.stderr.write("interrupted\n")
        return 130
    finally:
        end_progress()
