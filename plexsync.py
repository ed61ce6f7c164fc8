"""PlexSync: the program Stash runs for every hook and task.

Reads one JSON document from stdin, writes one ``{"output", "error"}`` JSON to
stdout, logs to stderr in Stash's protocol. Hooks take a standard-library-only
path; everything heavy (pydantic, plexapi, persist-queue) loads only for tasks,
after a check that says what to install when one is missing.

Given command-line arguments (``python plexsync.py status``…), it is the command
line instead (``plugin/cli.py``): Stash never passes any.
"""

from __future__ import annotations

import os
import sys

# Run as a script, Python puts this file's folder first on sys.path, so our
# packages win over same-named folders of other plugins that Stash adds via
# PYTHONPATH (the plugins folder).

try:
    import fcntl  # noqa: F401  (the hook and tasks import it anyway: no cost here)
except ImportError:  # Windows: PlexSync's file locks on msvcrt instead
    from shared import fcntl_compat

    fcntl_compat.install()

#: Set once a hook has answered: the process may then end without tearing down.
_hook_answered = False


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    global _hook_answered
    os.umask(0o077)  # every file we create (queue, DLQ, state) is private
    argv = sys.argv[1:] if argv is None else argv
    if argv:
        from plugin.cli import main as cli_main

        return cli_main(argv)

    from plugin.protocol import respond
    from shared.log import create_logger
    from validation.hook_input import load_document
    from validation.stash_input_errors import InputError

    log_error = create_logger("plexsync")[4]
    try:
        raw = sys.stdin.buffer.read()
        document = load_document(raw)
    except InputError as exc:
        log_error(f"PlexSync: {exc}")
        return respond(error=str(exc))

    # Packages a task installed into the private folder serve every later run (one isdir).
    from shared.python_packages import packages_dir, use_private_packages

    connection = document.get("server_connection")
    stash_dir = connection.get("Dir") if isinstance(connection, dict) else None
    packages_folder = packages_dir(stash_dir if isinstance(stash_dir, str) and stash_dir else None)
    use_private_packages(packages_folder)

    given = document.get("args")
    args = given if isinstance(given, dict) else {}
    mode = args.get("mode") or ("hook" if "hookContext" in args else "")
    if mode == "hook":
        from plugin.hook import handle_hook

        code = handle_hook(document)
        _hook_answered = True
        return code

    from plugin.deps import dependency_problem, import_error_problem

    problem = dependency_problem(packages_folder=packages_folder,
                                 install_allowed=lambda: _install_allowed(connection))
    if problem is None:
        try:
            from plugin.tasks import handle_task

            return handle_task(document)
        except ModuleNotFoundError as exc:
            problem = import_error_problem(exc)
        except Exception as exc:  # outside the task's own choke point: still one plugin JSON
            from plugin.protocol import describe_unexpected

            problem = describe_unexpected(exc)
    log_error(problem)
    return respond(error=problem)


def _install_allowed(connection: object) -> bool:
    """Whether *Don't install Python packages* is unticked (asked of Stash only when a
    package is missing; when Stash cannot say, the default — install — holds)."""
    from plugin.deps import NO_INSTALL_KEY
    from stash.client import StashClient, StashConnection, StashError

    if not isinstance(connection, dict):
        return True
    try:
        settings = StashClient(StashConnection.from_server_connection(connection)).plugin_settings()
    except (StashError, ValueError):
        return True
    value = settings.get(NO_INSTALL_KEY)
    ticked = value is True or (isinstance(value, str) and value.strip().lower() in ("true", "1", "yes"))
    return not ticked


def exit_process(code: int) -> None:
    """End the process with ``code``. After a hook, skip the interpreter's teardown.

    Stash's save waits until the hook process has exited, and tearing the interpreter
    down (module cleanup, garbage collection) adds ~7 ms to a ~45 ms hook while freeing
    nothing the OS does not: the queue's connection is closed (its insert committed
    and synced) before the hook answers, and nothing on the hook path registers
    ``atexit`` work. Tasks exit normally (threads, logging and library cleanup).
    """
    if _hook_answered:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except OSError:  # Stash stopped reading: nothing left to tell it
            pass
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    exit_process(main())
