"""What Stash writes to a plugin's stdin, validated with pydantic (task path).

The hook path validates the same document with ``validation.hook_input`` (standard
library only, for speed); ``tests/test_stash_input.py`` proves the two agree.
"""

from __future__ import annotations

from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from validation.hook_input import HOOK_TYPES, MAX_ID, load_document, whole_number
from validation.stash_input_errors import InputError


class StashSessionCookie(BaseModel):
    """The session cookie Stash hands the plugin (Go's http.Cookie, many fields)."""

    model_config = ConfigDict(extra="allow")
    Name: str = "session"
    Value: str = ""


class ServerConnection(BaseModel):
    """How to reach Stash, and its folders."""

    model_config = ConfigDict(extra="allow")
    Scheme: str = "http"
    Host: str = "127.0.0.1"
    Port: int = Field(ge=1, le=65535)
    SessionCookie: Optional[StashSessionCookie] = None
    Dir: Optional[str] = None
    PluginDir: Optional[str] = None

    @field_validator("Port", mode="before")
    @classmethod
    def _numeric_port(cls, value: Any) -> Any:
        # The hook's rule (validation.hook_input.whole_number): no True, no "+9999".
        number = whole_number(value)
        if number is None:
            raise ValueError("expected a port number")
        return number


class HookContext(BaseModel):
    """Which object changed and which input fields the user sent."""

    model_config = ConfigDict(extra="allow")
    id: int = Field(gt=0, le=MAX_ID)
    type: str
    input: Optional[Any] = None
    inputFields: Optional[list[str]] = None

    @field_validator("id", mode="before")
    @classmethod
    def _numeric_id(cls, value: Any) -> Any:
        # Stash sends a JSON number; "45" is tolerated, 4.5 / True / "abc" / "٣" are
        # not: the hook's rule (validation.hook_input.whole_number), shared.
        number = whole_number(value)
        if number is None:
            raise ValueError("the scene id must be a whole number")
        return number

    @field_validator("type")
    @classmethod
    def _scene_hook(cls, value: str) -> str:
        # The hook's rule (validation.hook_input.HOOK_TYPES): only what plexsync.yml declares.
        if value not in HOOK_TYPES:
            raise ValueError(f"PlexSync handles only {' and '.join(HOOK_TYPES)}, not {value[:80]!r}; "
                             "nothing was queued")
        return value


class PluginArgs(BaseModel):
    """``args``: the task's or hook's defaultArgs plus the caller's."""

    model_config = ConfigDict(extra="allow")
    mode: Optional[str] = None
    hookContext: Optional[HookContext] = None


class PluginInput(BaseModel):
    """The whole stdin document."""

    model_config = ConfigDict(extra="allow")
    server_connection: ServerConnection
    args: PluginArgs = Field(default_factory=PluginArgs)

    @property
    def mode(self) -> str:
        """What to do: the ``mode`` argument, or ``hook`` when a hook context came."""
        return self.args.mode or ("hook" if self.args.hookContext else "")


def parse_plugin_input(raw: str | bytes) -> PluginInput:
    """Validate stdin; raises :class:`InputError` with a readable reason."""
    return validate_plugin_input(load_document(raw))


def validate_plugin_input(document: dict[str, Any]) -> PluginInput:
    """Validate an already-parsed stdin document; raises :class:`InputError`."""
    try:
        return PluginInput.model_validate(document)
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InputError(f"invalid {where}: {first['msg'].removeprefix('Value error, ')}") from None
