"""Stdin of a hook run, validated with the standard library only.

A hook blocks the user's save in Stash, and importing pydantic costs more than the
hook's whole budget, so this mirrors the rules of ``validation.stash_input`` for
the fields a hook uses. ``tests/test_stash_input.py`` checks both accept and reject
the same documents.
"""

from __future__ import annotations

# Hook path: typing and dataclasses cost ~18 ms to import, so names used only in
# annotations are imported for type checkers alone.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

from shared import jsonlite
from validation.stash_input_errors import InputError


class HookCall:
    """A validated hook invocation: scene id, hook type, the input fields sent (or
    ``None``), the raw server_connection, and Stash's config folder (or ``None``).

    A plain class, not a namedtuple: ``collections`` costs the hook ~2 ms to import."""

    __slots__ = ("scene_id", "hook_type", "input_fields", "server_connection", "stash_dir")

    def __init__(self, scene_id: int, hook_type: str, input_fields: tuple[str, ...] | None,
                 server_connection: dict[str, Any], stash_dir: str | None) -> None:
        self.scene_id = scene_id
        self.hook_type = hook_type
        self.input_fields = input_fields
        self.server_connection = server_connection
        self.stash_dir = stash_dir

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HookCall) and all(
            getattr(self, name) == getattr(other, name) for name in self.__slots__)

    def __repr__(self) -> str:
        return "HookCall(" + ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__) + ")"


#: The hooks plexsync.yml declares (its ``triggeredBy``; tests/test_hook_input.py keeps
#: them equal): the only ones PlexSync acts on.
HOOK_TYPES = ("Scene.Create.Post", "Scene.Update.Post")

#: Largest scene id: Stash's ids are 64-bit, and our SQLite columns are too.
MAX_ID = 2**63 - 1


def whole_number(value: Any) -> int | None:
    """``value`` as an int if it is a whole number (JSON number or ASCII digits), else ``None``.

    The one rule both validators use for ids and ports: ``True``, ``4.5``, ``"+4"``,
    ``"4.0"`` and non-ASCII digits (``"٣"``, ``"²"``) are not whole numbers.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit():
            return int(text)
    return None


def _check_server_connection(conn: dict[str, Any]) -> None:
    # The same field types validation.stash_input.ServerConnection enforces.
    for key in ("Scheme", "Host"):
        if key in conn and not isinstance(conn[key], str):
            raise InputError(f"invalid server_connection.{key}: expected text")
    for key in ("Dir", "PluginDir"):
        if conn.get(key) is not None and not isinstance(conn[key], str):
            raise InputError(f"invalid server_connection.{key}: expected a folder path")
    cookie = conn.get("SessionCookie")
    if cookie is not None:
        if not isinstance(cookie, dict):
            raise InputError("invalid server_connection.SessionCookie: expected an object")
        for key in ("Name", "Value"):
            if key in cookie and not isinstance(cookie[key], str):
                raise InputError(f"invalid server_connection.SessionCookie.{key}: expected text")


def load_document(raw: str | bytes) -> dict[str, Any]:
    """Parse stdin into a JSON object with a ``server_connection``; raises :class:`InputError`."""
    if not raw or not raw.strip():
        raise InputError("no input on stdin: PlexSync must be started by Stash")
    try:
        document = jsonlite.loads(raw)   # json.loads without importing json (hook path)
    except RecursionError:
        # Python's parser recurses per level: deep enough, it runs out of stack.
        raise InputError("stdin is not a Stash plugin input: nested too deeply") from None
    except UnicodeDecodeError as exc:  # a ValueError without .msg / .lineno
        raise InputError(f"stdin is not JSON (not UTF-8 text: {exc.reason} at byte {exc.start})") from None
    except ValueError as exc:
        # json.JSONDecodeError carries a position (checked by its attributes: the hook
        # path does not import json); any other refusal (a number too long) has none.
        lineno, colno = getattr(exc, "lineno", None), getattr(exc, "colno", None)
        if lineno is not None and colno is not None:
            raise InputError(f"stdin is not JSON ({getattr(exc, 'msg', exc)} at line {lineno} column {colno})") from None
        raise InputError(f"stdin is not JSON ({exc})") from None
    if not isinstance(document, dict):
        raise InputError("stdin must be a JSON object")
    if "server_connection" not in document:
        raise InputError("stdin has no server_connection: PlexSync must be started by Stash")
    return document


def parse_hook_call(document: dict[str, Any]) -> HookCall:
    """Validate a hook invocation; raises :class:`InputError` with a readable reason."""
    conn = document.get("server_connection")
    if not isinstance(conn, dict):
        raise InputError("invalid server_connection: Input should be a valid dictionary or instance of ServerConnection")
    port = whole_number(conn.get("Port"))
    if port is None or not 1 <= port <= 65535:
        raise InputError("invalid server_connection.Port: expected a port number")
    _check_server_connection(conn)
    args = document.get("args") or {}
    if not isinstance(args, dict):
        raise InputError("invalid args: expected an object")
    ctx = args.get("hookContext")
    if not isinstance(ctx, dict):
        raise InputError("invalid args.hookContext: a hook run needs a hookContext")
    if "id" not in ctx or ctx["id"] is None:
        raise InputError("invalid args.hookContext.id: the hook carries no scene id")
    scene_id = whole_number(ctx["id"])
    if scene_id is None or not 0 < scene_id <= MAX_ID:
        raise InputError("invalid args.hookContext.id: the scene id must be a whole number")
    hook_type = ctx.get("type")
    if not isinstance(hook_type, str):
        raise InputError("invalid args.hookContext.type: expected the hook type, e.g. Scene.Update.Post")
    if hook_type not in HOOK_TYPES:
        # Stash fires only the hooks plexsync.yml declares; another type's id is not a scene id.
        raise InputError(f"invalid args.hookContext.type: PlexSync handles only {' and '.join(HOOK_TYPES)}, "
                         f"not {hook_type[:80]!r}; nothing was queued")
    fields = ctx.get("inputFields")
    if fields is not None and not (isinstance(fields, list) and all(isinstance(f, str) for f in fields)):
        raise InputError("invalid args.hookContext.inputFields: expected a list of field names")
    stash_dir = conn.get("Dir")
    return HookCall(
        scene_id=scene_id,
        hook_type=hook_type,
        input_fields=tuple(fields) if fields is not None else None,
        server_connection=conn,
        stash_dir=stash_dir if isinstance(stash_dir, str) and stash_dir else None,
    )
