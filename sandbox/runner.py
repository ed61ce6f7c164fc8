"""Run a Stash plugin exactly the way Stash runs it (interface ``raw``).

What Stash does, and so what this runner does (see ../shared/docs/stash-plugin-protocol.md):

* the plugin yml is decoded strictly (``sandbox.plugin_yml``, whose names are re-exported
  here): any unknown key, duplicate key or wrongly shaped value refuses the whole plugin;
  the plugin id is the yml file name without ``.yml``;
* ``exec`` starting with ``python``/``python3`` runs Stash's Python (here
  ``sys.executable``) with the plugin folder's *parent* appended to ``PYTHONPATH``;
  ``{pluginDir}`` is replaced in the arguments; the working directory is Stash's own,
  never the plugin folder (here a private temporary folder, ``runner.cwd``);
* one JSON document, encoded like Go's ``json.Marshal`` (map keys sorted, ``<>&`` escaped,
  no trailing newline), is written to stdin and stdin is closed;
* stderr is the log (``\\x01`` + level + ``\\x02`` + message, ``p`` = progress), stdout the
  ``{"output", "error"}`` result; a non-zero exit without an error becomes ``exit status N``;
* hooks run synchronously, one after the other, each with a fresh session cookie;
  ``runPluginTask`` requests run one at a time, like Stash's job queue.

The job queue comes in two flavours (``PluginRunner(job_queue=...)``):

* ``"sync"`` (the default, deterministic): queued tasks run on the caller's thread right
  after the hook/task that queued them has exited, and ``fire_hook``/``run_task`` return
  only when they are all done;
* ``"background"`` (Stash's real timing): a worker thread (``sandbox.job_queue``) takes the
  requests from the Stash emulator and runs them one at a time *while* later hooks keep
  firing, so ``fire_hook`` returns as soon as the hooks have exited; ``wait_for_jobs()``
  waits for the queue to drain.

Where the sandbox differs from Stash: a per-run timeout (Stash has none), progress lines
are collected for hooks too (Stash drops them), and in ``"sync"`` mode queued tasks start
only after the run that queued them has exited (Stash may start them while it is still
running; ``"background"`` mode does too).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from sandbox.job_queue import (  # noqa: F401 - JobQueueTimeout, JOB_POLL_INTERVAL: re-exported
    JOB_POLL_INTERVAL,
    Job,
    JobQueue,
    JobQueueTimeout,
)
from sandbox.plugin_yml import (  # noqa: F401 - the loader's names, re-exported from here
    CSP_KEYS,
    ERRLOG_CHAR,
    HOOK_ACTIONS,
    HOOK_KEYS,
    HOOK_OBJECTS,
    INTERFACES,
    LOG_LEVELS,
    OPERATION_KEYS,
    SETTING_KEYS,
    SETTING_TYPES,
    TOP_KEYS,
    UI_KEYS,
    Operation,
    PluginConfig,
    PluginConfigError,
    RunnerError,
    find_plugin_yml,
    load_plugin,
)

# SceneUpdateInput in Stash's schema order; Stash's Go struct marshals every field, so
# the hook's ``input`` carries null for each field the request did not send.
SCENE_UPDATE_INPUT_KEYS = (
    "clientMutationId", "id", "title", "code", "details", "director", "url", "urls", "date",
    "rating100", "o_counter", "organized", "studio_id", "gallery_ids", "performer_ids",
    "groups", "movies", "tag_ids", "cover_image", "stash_ids", "resume_time",
    "play_duration", "play_count", "primary_file_id",
)
# BulkSceneUpdateInput (a bulk edit passes this same input to every scene's hook).
BULK_SCENE_UPDATE_INPUT_KEYS = (
    "clientMutationId", "ids", "title", "code", "details", "director", "url", "urls", "date",
    "rating100", "organized", "studio_id", "gallery_ids", "performer_ids", "tag_ids",
    "group_ids", "movie_ids",
)

_LEVEL_CHAR = {**ERRLOG_CHAR, "warn": "w"}
MAX_LOG_LINE = 64 * 1024
DEFAULT_TIMEOUT = 120.0
MAX_CHAINED_TASKS = 100
JOB_QUEUES = ("sync", "background")
_GO_SIGNALS = {signal.SIGKILL: "killed", signal.SIGTERM: "terminated", signal.SIGINT: "interrupt",
               signal.SIGSEGV: "segmentation fault", signal.SIGABRT: "aborted",
               signal.SIGHUP: "hangup", signal.SIGPIPE: "broken pipe", signal.SIGQUIT: "quit",
               signal.SIGBUS: "bus error", signal.SIGFPE: "floating point exception"}


class UnsupportedPlugin(RunnerError):
    """A plugin Stash can load but this sandbox cannot run (interface ``rpc``/``js``)."""


class UnknownOperation(RunnerError, LookupError):
    """No task with that name in the plugin."""


# ---------------------------------------------------------------------------- one run


@dataclass
class RunResult:
    exit_code: int | None            # None: the process could not start
    wall_time: float                 # seconds from process start to exit (perf_counter)
    logs: list[tuple[str, str]]      # (level char t/d/i/w/e, message)
    progress: list[float]
    output: Any
    error: str | None
    stdout: str
    stderr: str
    kind: str                        # "hook" or "task"
    name: str                        # hook/task name (a queued task without one: its description)
    stdin: str = ""                  # the exact JSON document written to the plugin
    timed_out: bool = False
    followups: list[RunResult] = field(default_factory=list)   # tasks this run queued ("sync")
    # When the process started and exited (for a run that could not start: when it was
    # refused), as epoch seconds (time.time) and as time.perf_counter values.
    started_at: float = 0.0
    ended_at: float = 0.0
    started_perf: float = 0.0
    ended_perf: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None

    def messages(self, level: str | None = None) -> list[str]:
        """Log messages, all or of one level (``"e"``, ``"error"``, ``"w"``, ``"warning"``…)."""
        char = _LEVEL_CHAR.get(level, level) if level else None
        return [msg for lvl, msg in self.logs if char is None or lvl == char]


def go_json(value: Any) -> str:
    """JSON text as Go's json.Marshal writes it: compact, UTF-8, ``<>&`` and U+2028/9 escaped."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                          ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text


def _go_map(value: Any) -> Any:
    """Caller-supplied maps are Go maps, which json.Marshal writes with sorted keys."""
    if isinstance(value, dict):
        return {k: _go_map(value[k]) for k in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [_go_map(v) for v in value]
    return value


def parse_stderr(data: bytes, err_log: str = "") -> tuple[list[tuple[str, str]], list[float]]:
    """Split stderr into (level, message) log entries and progress values, as Stash does."""
    default = ERRLOG_CHAR.get(err_log, "e")
    logs: list[tuple[str, str]] = []
    progress: list[float] = []
    lines = data.split(b"\n")
    terminated = len(lines) - 1      # the last piece is what follows the last newline
    for index, raw in enumerate(lines):
        if index < terminated and raw.endswith(b"\r"):   # Go's ReadLine drops "\r\n" too
            raw = raw[:-1]
        if len(raw) > MAX_LOG_LINE:
            raw = raw[:MAX_LOG_LINE] + b" [truncated]"
        if not raw:
            continue
        line = raw.decode("utf-8", errors="replace")
        level, message = default, line
        if len(raw) >= 4 and raw[0] == 1 and raw[2] == 2 and chr(raw[1]) in "tdiwep":
            level, message = chr(raw[1]), line[3:].strip()
        if level == "p":
            try:
                progress.append(float(message))
            except ValueError:
                logs.append(("e", f"Error parsing progress value '{message}': strconv.ParseFloat: "
                                  f"parsing {json.dumps(message)}: invalid syntax"))
        elif level:
            logs.append((level, message))
    return logs, progress


def parse_stdout(text: str) -> tuple[Any, str | None]:
    """(output, error) as Stash decodes stdout into its PluginOutput struct."""
    try:
        doc = json.loads(text)
    except ValueError:
        return text, None            # not JSON: the whole stdout is the output (even "")
    if doc is None:
        return None, None
    if not isinstance(doc, dict):
        return text, None
    output, error = None, None
    for key, value in doc.items():   # Go matches field names case-insensitively
        if key.lower() == "output":
            output = value
        elif key.lower() == "error":
            if value is not None and not isinstance(value, str):
                return text, None
            error = value
    return output, error


def exit_error(returncode: int) -> str:
    """Go's exec.ExitError text."""
    if returncode >= 0:
        return f"exit status {returncode}"
    signum = -returncode
    try:
        name = _GO_SIGNALS.get(signal.Signals(signum))
    except ValueError:
        name = None
    return f"signal: {name or f'signal {signum}'}"


# ---------------------------------------------------------------------------- the runner


class PluginRunner:
    """Runs one plugin's hooks and tasks against a Stash emulator, as Stash would.

    ``env`` adds to (or overrides) the inherited environment of every run, e.g.
    ``{"PLEXSYNC_DATA_DIR": str(tmp_path / "data")}``; it can be changed between runs
    through ``runner.env``.

    ``job_queue`` chooses when ``runPluginTask`` jobs run: ``"sync"`` (default) on the
    caller's thread before ``fire_hook``/``run_task`` return; ``"background"`` on a worker
    thread, one at a time, concurrently with later hooks, as in Stash (see the module doc).
    The worker looks at Stash's queue every ``poll_interval`` seconds and right after each
    run. Use the runner as a context manager, or call ``close()``, to stop the worker.
    """

    def __init__(self, plugin_dir: str | Path, stash: Any | None, stash_dir: str | Path,
                 env: dict[str, str] | None = None, *, timeout: float | None = DEFAULT_TIMEOUT,
                 host: str = "0.0.0.0", python: str | None = None,
                 cwd: str | Path | None = None, max_chained: int = MAX_CHAINED_TASKS,
                 job_queue: str = "sync", poll_interval: float = JOB_POLL_INTERVAL):
        if job_queue not in JOB_QUEUES:
            raise ValueError(f"job_queue must be one of {', '.join(map(repr, JOB_QUEUES))}, "
                             f"not {job_queue!r}")
        self.config = load_plugin(plugin_dir)
        if self.config.interface != "raw":
            raise UnsupportedPlugin(f"plugin {self.config.id!r} uses interface "
                                    f"{self.config.interface!r}; the sandbox runs only 'raw'")
        self.stash = stash
        self.stash_dir = Path(stash_dir).resolve()
        self.env = dict(env or {})
        self.timeout = timeout
        self.host = host
        self.python = python or sys.executable
        self.max_chained = max_chained
        self.job_queue = job_queue
        self.poll_interval = poll_interval
        if cwd is None:
            self._cwd_holder = tempfile.TemporaryDirectory(prefix="stash-cwd-")
            cwd = self._cwd_holder.name
        self.cwd = Path(cwd).resolve()
        if self.cwd == self.config.dir:
            raise RunnerError("Stash never starts a plugin in its own folder; choose another cwd")
        # Jobs that ran, in the order they finished. In "background" mode the job queue's
        # worker appends to it (under the queue's lock): read it after wait_for_jobs(), or
        # take a copy.
        self.task_runs: list[RunResult] = []
        # "sync" mode: hooks Stash fired for the plugin's own mutations, in order
        self.hook_runs: list[RunResult] = []
        # "sync" mode: requests Stash holds, with the run that queued them
        self._queue: deque[tuple[dict, RunResult | None]] = deque()
        self._reported = 0            # "sync" mode: task_runs already returned by wait_for_jobs
        self._closed = False
        self._background: JobQueue | None = None
        if job_queue == "background":
            self._background = JobQueue(
                self._run_job, self._refuse_job,
                self._take_plugin_task_requests, self.task_runs,
                owner=f"the runner of plugin {self.id!r}", thread_name=f"stash-jobs-{self.id}",
                max_chained=max_chained, poll_interval=poll_interval)

    @property
    def id(self) -> str:
        return self.config.id

    # The worker thread and whether a job is running, for tests that watch the queue.
    @property
    def _worker(self) -> threading.Thread | None:
        return self._background.worker if self._background is not None else None

    @property
    def _job_running(self) -> bool:
        return self._background is not None and self._background.running

    # -- what Stash builds

    def command(self, operation: Operation | None) -> list[str]:
        words = list(self.config.exec) + list(operation.exec_args if operation else ())
        if not words:
            raise RunnerError(f"plugin {self.id!r}: empty exec value")
        plugin_dir = str(self.config.dir)
        words[1:] = [w.replace("{pluginDir}", plugin_dir) for w in words[1:]]
        if words[0] in ("python", "python3"):
            words[0] = self.python
        elif shutil.which(words[0]) is None:
            words[0] = os.path.join(plugin_dir, words[0])
        return words

    def environment(self) -> dict[str, str]:
        env = {**os.environ, **self.env}
        if self.config.exec and self.config.exec[0] in ("python", "python3"):
            parent = str(self.config.dir.parent)
            current = env.get("PYTHONPATH")
            env["PYTHONPATH"] = parent if current is None else f"{current}{os.pathsep}{parent}"
        return env

    def server_connection(self) -> dict[str, Any]:
        if self.stash is not None:
            port, session = self.stash.port, self.stash.new_session()
        else:
            port, session = 9999, "sandbox-without-stash"
        return {
            "Scheme": "http", "Host": self.host, "Port": port,
            "SessionCookie": {
                "Name": "session", "Value": session, "Path": "", "Domain": "",
                "Expires": "0001-01-01T00:00:00Z", "RawExpires": "", "MaxAge": 0,
                "Secure": False, "HttpOnly": False, "SameSite": 0, "Raw": "", "Unparsed": None,
            },
            "Dir": str(self.stash_dir), "PluginDir": str(self.config.dir),
        }

    def plugin_input(self, operation: Operation | None, args: dict | None,
                     hook_context: dict | None = None) -> dict[str, Any]:
        merged = _go_map(dict(args or {}))
        for key, value in (operation.default_args if operation else {}).items():
            merged.setdefault(key, value)          # the caller's value wins, even a null
        if hook_context is not None:
            merged["hookContext"] = hook_context
        return {"server_connection": self.server_connection(),
                "args": {k: merged[k] for k in sorted(merged)}}

    @staticmethod
    def hook_context(hook_type: str, scene_id: int, input: dict | None = None,
                     input_fields: list[str] | None = None) -> dict[str, Any]:
        """The ``hookContext`` Stash adds to a hook's args.

        For ``Scene.Update.Post`` with an ``input`` of only the fields sent, the input is filled
        like Stash's Go struct: every SceneUpdateInput field (BulkSceneUpdateInput when the
        input has ``ids``) present, null unless sent, ``id`` as text; ``inputFields`` defaults
        to the keys sent. Other inputs (None for a scan's create) pass as given.
        """
        full = input
        if input is not None and hook_type == "Scene.Update.Post":
            bulk = "ids" in input
            sent = dict(input) if bulk or "id" in input else {"id": str(scene_id), **input}
            if input_fields is None:
                input_fields = list(sent)
            keys = BULK_SCENE_UPDATE_INPUT_KEYS if bulk else SCENE_UPDATE_INPUT_KEYS
            full = {key: sent.get(key) for key in keys}
            full.update((k, v) for k, v in sent.items() if k not in full)
        context: dict[str, Any] = {"id": int(scene_id), "type": hook_type, "input": full}
        if input_fields:                         # Go: `inputFields,omitempty`
            context["inputFields"] = list(input_fields)
        if not context["id"]:                    # Go: `id,omitempty`
            del context["id"]
        return context

    # -- running

    def fire_hook(self, hook_type: str, scene_id: int, input: dict | None = None,
                  input_fields: list[str] | None = None) -> list[RunResult]:
        """Run every hook of the plugin triggered by ``hook_type``, one after the other
        (Stash's Save returns only when all have exited).

        "sync": then run the tasks they queued (listed in each hook's ``followups``).
        "background": return at once; the queued tasks run in the job queue (see
        ``wait_for_jobs``) and ``followups`` stays empty, since with hooks and jobs running
        side by side it can't be told which run queued a job. Safe to call from several
        threads at once, as Stash's parallel requests and scan workers do.
        """
        self._check_open()
        context = self.hook_context(hook_type, scene_id, input, input_fields)
        results = []
        for hook in self.config.hooks_for(hook_type):
            with self._hook_running():
                result = self._run("hook", hook.name, hook, self.plugin_input(hook, None, context))
            results.append(result)
            if result.exit_code is None:        # Stash stops at a hook that cannot start
                break
        if self.job_queue == "sync":
            self.run_queued_tasks()
        return results

    def run_task(self, name: str, args: dict | None = None) -> RunResult:
        """Run the task ``name`` (as from Settings → Tasks), then the tasks it queued.

        "background": the task is a job like the others; it waits for its turn, this call
        returns when it has exited, and the tasks it queued are left to the job queue.
        """
        task = self.config.task(name)
        if task is None:
            known = ", ".join(repr(t.name) for t in self.config.tasks) or "none"
            raise UnknownOperation(f"no task with name {name!r} in plugin {self.config.name!r} "
                                   f"(tasks: {known})")
        self._check_open()
        job_id = self._add_stash_job(task.name)
        if self.job_queue == "sync":
            with self._stash_job(job_id):
                result = self._run("task", task.name, task, self.plugin_input(task, args))
            self.run_queued_tasks()
            return result
        return self._background.run(Job(depth=0, task=task, args=args, stash_job_id=job_id))

    def run_operation(self, args: dict | None = None) -> RunResult:
        """``runPluginOperation(plugin_id, args)``: run the plugin at once, outside the job
        queue, with exactly ``args`` (Stash merges no task's defaultArgs: there is no task)
        and the plugin's bare ``exec``; returns when it has exited (Stash's mutation answers
        its ``output``, or its ``error`` as a GraphQL error). "sync": then runs the tasks it
        queued; "background": leaves them to the job queue. Safe from several threads at
        once in "background" mode (Stash serves each UI request on its own goroutine)."""
        self._check_open()
        result = self._run("operation", "runPluginOperation", None, self.plugin_input(None, args))
        if self.job_queue == "sync":
            self.run_queued_tasks()
        return result

    def run_queued_tasks(self) -> list[RunResult]:
        """Run the ``runPluginTask`` jobs Stash has queued, one at a time, until none remain.

        "background": the worker runs them; this is ``wait_for_jobs()``.
        """
        if self.job_queue == "background":
            return self.wait_for_jobs()
        self._collect_requests(None)
        done: list[RunResult] = []
        while self._queue:
            if len(done) >= self.max_chained:
                for request, _parent in self._queue:
                    self.stash.end_job(request.get("job_id"))
                self._queue.clear()
                raise RunnerError(f"more than {self.max_chained} chained plugin tasks: "
                                  "a task keeps queueing tasks")
            request, parent = self._queue.popleft()
            with self._stash_job(request.get("job_id")):
                result = self._run_request(request)
            self.task_runs.append(result)
            done.append(result)
            if parent is not None:
                parent.followups.append(result)
        return done

    def wait_for_jobs(self, timeout: float = 60) -> list[RunResult]:
        """Wait until Stash holds no ``runPluginTask`` request and no job is queued or
        running; return the jobs finished since the previous wait, in the order they ended.

        Raises JobQueueTimeout if the queue is still busy after ``timeout`` seconds, and,
        once, the RunnerError of what went wrong in the queue meanwhile (a chain of more
        than ``max_chained`` tasks queueing tasks, whose next link was dropped, or a failure
        of the sandbox itself); the jobs are then returned by the next wait.
        In "sync" mode jobs have already run: this runs any stray request and returns.
        """
        if self._background is not None:
            return self._background.wait(timeout)
        self._check_open()
        self.run_queued_tasks()
        finished = self.task_runs[self._reported:]
        self._reported = len(self.task_runs)
        return finished

    def close(self) -> None:
        """Stop the background job queue and remove the private working folder.

        The job running (if any) is left to finish (bounded by ``timeout``); jobs still
        queued are dropped, and a ``run_task`` waiting for one gets a result saying so.
        Idempotent; the runner runs nothing afterwards.
        """
        if self._background is not None:
            self._background.close()
        self._closed = True
        holder = getattr(self, "_cwd_holder", None)
        if holder is not None:
            holder.cleanup()

    def __enter__(self) -> PluginRunner:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._background is not None:
            self._background.check_open()      # closed with the runner, or when its worker died
        if self._closed:
            raise RunnerError(f"the runner of plugin {self.id!r} is closed")

    def _hook_running(self) -> AbstractContextManager[None]:
        """The job queue counts running hooks: jobs queued meanwhile start a new chain."""
        return self._background.hook_running() if self._background is not None else nullcontext()

    # -- what the background job queue calls back

    def _take_plugin_task_requests(self) -> list[dict]:
        """The runPluginTask requests Stash holds, handed over (none without a Stash)."""
        if self.stash is None:
            return []
        return self.stash.take_plugin_task_requests(as_job_manager=True)

    def _run_job(self, job: Job) -> RunResult:
        with self._stash_job(job.stash_job_id):
            if job.request is not None:
                return self._run_request(job.request)
            return self._run("task", job.task.name, job.task, self.plugin_input(job.task, job.args))

    def _refuse_job(self, job: Job, reason: str) -> RunResult:
        if self.stash is not None:
            self.stash.end_job(job.stash_job_id)
        return _not_started("task", job.name, reason)

    # -- Stash's jobQueue: a job is READY once queued, RUNNING while it runs, then gone

    def _add_stash_job(self, task_name: str) -> str | None:
        """A task started from the task menu is a job in Stash's queue too."""
        if self.stash is None:
            return None
        return self.stash.add_job(f"Running plugin task: {task_name}")

    @contextmanager
    def _stash_job(self, job_id: str | None) -> Iterator[None]:
        if self.stash is None or job_id is None:
            yield
            return
        self.stash.start_job(job_id)
        try:
            yield
        finally:
            self.stash.end_job(job_id)

    # -- one process

    def _run_request(self, request: dict) -> RunResult:
        task_name = request.get("task_name")
        display = request.get("description") or task_name or request.get("plugin_id") or ""
        if request.get("plugin_id") != self.id:
            return _not_started("task", display, f"no plugin with ID {request.get('plugin_id')}")
        operation = None
        if task_name is not None:                # without a task name Stash runs the bare exec
            operation = self.config.task(task_name)
            if operation is None:
                return _not_started("task", display, f"no task with name {task_name} "
                                                     f"in plugin {self.config.name}")
        args = request.get("args_map") or {}
        return self._run("task", task_name or display, operation,
                         self.plugin_input(operation, args))

    def _collect_requests(self, parent: RunResult | None) -> None:
        if self.stash is None:
            return
        if self.job_queue == "sync":
            self._fire_stash_hooks(parent)
        for request in self.stash.take_plugin_task_requests(as_job_manager=True):
            self._queue.append((request, parent))

    def _fire_stash_hooks(self, parent: RunResult | None) -> None:
        """Run the hooks real Stash fires for the mutations a run sent (a plugin's own
        ``sceneUpdate`` fires its own Scene.Update.Post hook). Stash runs them during the
        mutation; "sync" mode runs them right after the run that sent it, before the
        tasks it queued (listed in the run's ``followups``). "background" mode leaves
        them to the test (``stash.take_hook_triggers()``)."""
        take = getattr(self.stash, "take_hook_triggers", None)
        if take is None:
            return
        for trigger in take():
            context = self.hook_context(trigger["type"], trigger["id"], trigger.get("input"),
                                        trigger.get("input_fields"))
            for hook in self.config.hooks_for(trigger["type"]):
                result = self._run("hook", hook.name, hook, self.plugin_input(hook, None, context))
                self.hook_runs.append(result)
                if parent is not None:
                    parent.followups.append(result)

    def _run(self, kind: str, name: str, operation: Operation | None,
             plugin_input: dict) -> RunResult:
        stdin = go_json(plugin_input)
        try:
            command = self.command(operation)
        except RunnerError as exc:
            return _not_started(kind, name, str(exc), stdin)
        started_at, started = time.time(), time.perf_counter()
        try:
            proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, cwd=self.cwd, env=self.environment())
        except OSError as exc:
            return _not_started(kind, name, f"error running plugin: {exc}", stdin)
        timed_out = False
        try:
            out, err = proc.communicate(stdin.encode("utf-8"), timeout=self.timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            proc.kill()                          # Stash cancels with SIGKILL, no grace
            try:
                out, err = proc.communicate(timeout=5)
            except subprocess.TimeoutExpired:    # a child still holds the pipes open
                for pipe in (proc.stdout, proc.stderr):
                    pipe.close()
                proc.wait()
                out, err = b"", b""
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        ended_at, ended = time.time(), time.perf_counter()
        stdout = out.decode("utf-8", errors="replace")
        output, error = parse_stdout(stdout)
        if error is None and proc.returncode != 0:
            error = exit_error(proc.returncode)
        if timed_out:
            error = (f"timed out after {self.timeout:g} s: killed by the sandbox "
                     "(Stash has no timeout and would still be waiting)")
        logs, progress = parse_stderr(err, self.config.err_log)
        result = RunResult(exit_code=proc.returncode, wall_time=ended - started, logs=logs,
                           progress=progress, output=output, error=error, stdout=stdout,
                           stderr=err.decode("utf-8", errors="replace"), kind=kind, name=name,
                           stdin=stdin, timed_out=timed_out, started_at=started_at,
                           ended_at=ended_at, started_perf=started, ended_perf=ended)
        if self.job_queue == "sync":
            self._collect_requests(result)
        else:
            self._background.wake()              # it may have queued a job: look now
        return result


def _not_started(kind: str, name: str, error: str, stdin: str = "") -> RunResult:
    now, perf = time.time(), time.perf_counter()
    return RunResult(exit_code=None, wall_time=0.0, logs=[], progress=[], output=None,
                     error=error, stdout="", stderr="", kind=kind, name=name, stdin=stdin,
                     started_at=now, ended_at=now, started_perf=perf, ended_perf=perf)
