"""PlexSync's settings: defined, defaulted and validated in this one place.

Stash stores plugin settings without defaults (an unset setting is simply absent)
and shows an unset BOOLEAN as an unticked box. So every BOOLEAN setting in Stash is
phrased so that *unticked is the default*: a default-on behaviour such as
``verify_tls`` appears in Stash as the opt-out ``skip_tls_verify``. The model keeps
positive names; :data:`SETTINGS` maps between the two and carries the display names
and descriptions that ``plexsync.yml`` and the README show.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from plex.paths import PathMapping
from shared import defaults
from shared.log import create_logger, register_secret

log_trace, log_debug, log_info, log_warn, log_error = create_logger("config")

PLUGIN_ID = "plexsync"
ReconcileInterval = Literal["off", "hourly", "daily", "weekly"]
WatchInterval = Literal["off", "15min", "hourly", "daily"]


class ConfigError(ValueError):
    """Settings that cannot be used; the message names each setting as Stash shows it."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("PlexSync settings need fixing: " + "; ".join(problems))


# The text forms pydantic itself accepts for a bool.
_BOOL_WORDS = {"true": True, "1": True, "yes": True, "on": True, "t": True, "y": True,
               "false": False, "0": False, "no": False, "off": False, "f": False, "n": False}


@dataclass(frozen=True)
class Setting:
    """How one config field appears in Stash's plugin settings."""

    field: str
    key: str
    display_name: str
    type: Literal["STRING", "NUMBER", "BOOLEAN"]
    description: str
    #: The Stash BOOLEAN is the negation of the field (unticked = default on).
    inverted: bool = False

    def to_field_value(self, raw: Any) -> Any:
        """Turn the value Stash sent into the model's value (inverting opt-outs)."""
        if self.inverted and isinstance(raw, str):
            # A setting written through the API may arrive as text; "true" for an
            # opt-out must still mean "opt out", not pass uninverted to the model.
            raw = _BOOL_WORDS.get(raw.strip().lower(), raw)
        if self.inverted and isinstance(raw, bool):
            return not raw
        return raw

    def to_stash_value(self, value: Any) -> Any:
        """The model's value as the Stash setting shows it (opt-outs inverted back)."""
        if self.inverted and isinstance(value, bool):
            return not value
        return value


def _toggle(what: str, field: str) -> Setting:
    return Setting(
        field, f"skip_{field.removeprefix('sync_')}", f"Don't sync {what}", "BOOLEAN",
        f"Tick to leave the Plex {what} alone. Default: unticked (synced).", inverted=True,
    )


SETTINGS: tuple[Setting, ...] = (
    Setting("plex_url", "plex_url", "Plex server URL", "STRING",
            "Address of your Plex Media Server, http or https. Required. Example: http://192.168.1.10:32400"),
    Setting("plex_token", "plex_token", "Plex token", "STRING",
            "Your X-Plex-Token (Plex Web: Get Info → View XML, the token at the end of the URL). "
            "Required. Never logged. Example: AbCdEfGh1234567890xy"),
    Setting("plex_libraries", "plex_libraries", "Plex libraries", "STRING",
            "Plex libraries to sync into, by name, separated by commas: Movies, Other Videos or TV Shows "
            "libraries (in TV Shows, scenes are episodes). Default: empty (every Movies and Other Videos "
            "library; name a TV Shows library to use it). Example: Movies, Stash Scenes"),
    Setting("path_mappings", "path_mappings", "Path mappings", "STRING",
            "How a Stash file path becomes the Plex path of the same file: 'stash prefix => plex prefix', "
            "several separated by ';'; the longest matching prefix wins. Default: empty (same paths). "
            "Example: /data/stash => /media/videos; D:\\Videos => /mnt/videos"),
    Setting("path_case_insensitive", "path_case_insensitive", "Ignore case in paths", "BOOLEAN",
            "Tick when Plex and Stash see the same files with different letter case (Windows, some NAS shares). "
            "Default: unticked (exact case)."),
    _toggle("title", "sync_title"),
    _toggle("summary (details)", "sync_summary"),
    _toggle("studio", "sync_studio"),
    _toggle("release date and year", "sync_date"),
    _toggle("rating", "sync_rating"),
    _toggle("genres (tags)", "sync_tags"),
    _toggle("actors (performers)", "sync_performers"),
    _toggle("director", "sync_director"),
    _toggle("collections (studio and groups)", "sync_collections"),
    _toggle("poster (scene cover)", "sync_poster"),
    Setting("sync_tagline", "sync_tagline", "Studio code as tagline", "BOOLEAN",
            "Tick to write the scene's studio code (e.g. ABC-123) into Plex's tagline. Default: unticked."),
    Setting("sync_show_fields", "sync_show_fields", "Fill in shows from studios", "BOOLEAN",
            "TV Shows libraries: tick to give a show whose episodes are all Stash scenes of one studio that "
            "studio's name, genres from its scenes' tags and the studio's image as poster. Default: unticked."),
    Setting("sync_title_sort", "sync_title_sort", "Sort by the exact title", "BOOLEAN",
            "Tick to set Plex's sort title to the Stash title, so Plex does not drop a leading 'The' or 'A'. "
            "Default: unticked."),
    Setting("tag_exclude", "tag_exclude", "Tags to leave out", "STRING",
            "Stash tags never sent to Plex, separated by ';'. End a name with * to exclude every tag "
            "starting with it. Default: empty. Example: Favorite; _*; Todo"),
    Setting("max_tags", "max_tags", "Maximum genres per item", "NUMBER",
            "At most this many tags become Plex genres (in Stash's order). Default: 0 (no limit). Example: 30"),
    Setting("lock_fields", "dont_lock_fields", "Leave synced fields unlocked", "BOOLEAN",
            "Synced fields are locked in Plex so its agents don't overwrite them on refresh. Tick to leave them "
            "unlocked. Default: unticked (locked).", inverted=True),
    Setting("strict_matching", "loose_matching", "Guess among same-named files", "BOOLEAN",
            "When no exact path matches and several Plex files share the scene's file name, pick the one whose "
            "folders match best instead of failing the job. Default: unticked (never guess).", inverted=True),
    Setting("trigger_plex_scan", "no_plex_scan", "Don't ask Plex to scan", "BOOLEAN",
            "When Plex doesn't have a scene's file yet, PlexSync asks Plex to scan that folder once. Tick to "
            "never ask. Default: unticked (ask).", inverted=True),
    Setting("verify_tls", "skip_tls_verify", "Skip TLS certificate check (insecure)", "BOOLEAN",
            "Tick only for an https Plex URL with a self-signed certificate you cannot add as a CA file. "
            "Default: unticked (certificates verified).", inverted=True),
    Setting("ca_bundle", "ca_bundle", "CA certificate file", "STRING",
            "Path to a PEM file to trust for an https Plex URL. Default: empty (system certificates). "
            "Example: /config/plex-ca.pem"),
    Setting("connect_timeout", "connect_timeout", "Connect timeout (seconds)", "NUMBER",
            "How long to wait for Plex to accept a connection. Default: 5. Example: 10"),
    Setting("read_timeout", "read_timeout", "Read timeout (seconds)", "NUMBER",
            "How long to wait for Plex to answer a request. Default: 30. Example: 60"),
    Setting("parallel_plex_requests", "parallel_plex_requests", "Parallel Plex requests", "NUMBER",
            f"How many Plex requests (item loads, edits, poster uploads) a sync keeps in flight at once, "
            f"1 to {defaults.MAX_PARALLEL_PLEX_REQUESTS}; never two for the same item. 1 syncs strictly one "
            f"scene after another. Default: {defaults.PARALLEL_PLEX_REQUESTS}. Example: 2 for a busy NAS"),
    Setting("max_retries", "max_retries", "Retries on errors", "NUMBER",
            f"Retries (with growing waits) before a failing sync goes to the dead-letter queue. "
            f"Default: {defaults.MAX_RETRIES}. Example: 8"),
    Setting("not_found_max_retries", "not_found_max_retries", "Retries when Plex lacks the file", "NUMBER",
            f"Retries while Plex has no item for the file (it may not have scanned it yet). "
            f"Default: {defaults.NOT_FOUND_MAX_RETRIES}. Example: 20"),
    Setting("dlq_retention_days", "dlq_retention_days", "Dead-letter retention (days)", "NUMBER",
            f"Failed syncs older than this are purged from the dead-letter queue, 1 to 365. "
            f"Default: {defaults.DLQ_RETENTION_DAYS}. Example: 90"),
    Setting("reconcile_interval", "reconcile_interval", "Automatic reconcile", "STRING",
            "How often to compare all of Stash with Plex and fix what drifted: off, hourly, daily or weekly. "
            "Default: off. Example: daily"),
    Setting("watch_pull", "watch_pull", "Bring Plex plays into Stash", "BOOLEAN",
            "Tick to copy the plays, resume points and ratings of 'Plex account for plays' into the matching "
            "Stash scenes (each Plex play becomes one Stash play at Plex's time, never twice). "
            "Default: unticked."),
    Setting("watch_push", "watch_push", "Send Stash plays to Plex", "BOOLEAN",
            "Tick to mark each new Stash play, resume point and rating on the matching Plex item. Plex stamps "
            "a play with the time it is sent, and writes only as the token's own account. Default: unticked."),
    Setting("watch_account", "watch_account", "Plex account for plays", "STRING",
            "Whose Plex plays are brought into Stash: a Plex user's name or id (a managed or home user). "
            "Default: empty (the Plex token's own account). Must be empty or the token's own account while "
            "'Send Stash plays to Plex' is ticked. Example: Alice"),
    Setting("watch_interval", "watch_interval", "Watch-state check interval", "STRING",
            "How often to compare plays, resume points and ratings between Plex and Stash: off, 15min, "
            "hourly or daily (also after each queue drain when due). Default: off. Example: hourly"),
    Setting("watch_ratings", "watch_no_ratings", "Leave ratings out of watch state", "BOOLEAN",
            "Tick to keep ratings out of the watch-state sync (the newest rating otherwise wins both ways). "
            "Default: unticked (ratings follow).", inverted=True),
    Setting("data_dir", "data_dir", "Data folder", "STRING",
            "Where the queue, dead-letter queue and state live. Default: empty (a 'plexsync' folder in Stash's "
            "config folder, which survives plugin updates). Example: /config/plexsync-data"),
    Setting("debug_logging", "debug_logging", "Debug logging", "BOOLEAN",
            "Tick to log every step at debug level. Default: unticked."),
    Setting("install_packages", "no_package_install", "Don't install Python packages", "BOOLEAN",
            "When Stash's Python lacks a package PlexSync needs, a task installs the pinned ones into "
            "'python-packages' in PlexSync's default data folder (in Stash's config folder), never into Stash's "
            "Python. Tick to install them yourself instead. Default: unticked (installed for you).", inverted=True),
)

SETTING_BY_FIELD = {s.field: s for s in SETTINGS}
SETTING_BY_KEY = {s.key: s for s in SETTINGS}

_SPLIT_SEMICOLON = re.compile(r"[;\n]")


def _split(value: Any, separator: str | re.Pattern[str]) -> Any:
    if not isinstance(value, str):
        return value
    parts = separator.split(value) if isinstance(separator, re.Pattern) else value.split(separator)
    return tuple(p.strip() for p in parts if p.strip())


class PlexSyncConfig(BaseModel):
    """Validated, defaulted PlexSync settings. Immutable."""

    # hide_input_in_errors: a rejected token (or a URL carrying one) must not be
    # echoed by pydantic's own error text.
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    plex_url: str
    plex_token: SecretStr
    plex_libraries: tuple[str, ...] = ()
    path_mappings: tuple[PathMapping, ...] = ()
    path_case_insensitive: bool = False

    sync_title: bool = True
    sync_summary: bool = True
    sync_studio: bool = True
    sync_date: bool = True
    sync_rating: bool = True
    sync_tags: bool = True
    sync_performers: bool = True
    sync_director: bool = True
    sync_collections: bool = True
    sync_poster: bool = True
    sync_tagline: bool = False
    sync_show_fields: bool = False
    sync_title_sort: bool = False
    tag_exclude: tuple[str, ...] = ()
    max_tags: int = Field(default=0, ge=0, le=10_000)

    lock_fields: bool = True
    strict_matching: bool = True
    trigger_plex_scan: bool = True

    verify_tls: bool = True
    ca_bundle: str | None = None
    connect_timeout: float = Field(default=5.0, gt=0, le=300)
    read_timeout: float = Field(default=30.0, gt=0, le=600)
    parallel_plex_requests: int = Field(default=defaults.PARALLEL_PLEX_REQUESTS, ge=1,
                                        le=defaults.MAX_PARALLEL_PLEX_REQUESTS)

    max_retries: int = Field(default=defaults.MAX_RETRIES, ge=0, le=50)
    not_found_max_retries: int = Field(default=defaults.NOT_FOUND_MAX_RETRIES, ge=0, le=100)
    dlq_retention_days: int = Field(default=defaults.DLQ_RETENTION_DAYS, ge=1, le=365)
    reconcile_interval: ReconcileInterval = "off"
    watch_pull: bool = False
    watch_push: bool = False
    watch_account: str | None = None
    watch_interval: WatchInterval = "off"
    watch_ratings: bool = True
    data_dir: str | None = None
    debug_logging: bool = False
    install_packages: bool = True

    @field_validator("plex_url", mode="before")
    @classmethod
    def _check_url(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        url = value.strip().rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("expected an http:// or https:// address such as http://192.168.1.10:32400")
        if "token" in parts.query.lower():
            raise ValueError("put the token in the 'Plex token' setting, not in the URL")
        if parts.query or parts.fragment:
            raise ValueError("expected just the server address, without ?query or #fragment")
        try:
            parts.port
        except ValueError as exc:
            raise ValueError(f"the port is not a number between 1 and 65535 ({exc})") from None
        return url

    @field_validator("plex_token", mode="before")
    @classmethod
    def _check_token(cls, value: Any) -> Any:
        secret = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(secret, str):
            secret = secret.strip()
            # Never echo the value: pydantic would put it in the error message.
            if len(secret) < 8 or any(ch.isspace() for ch in secret):
                raise ValueError("expected the X-Plex-Token: 8 or more characters without spaces")
        return secret

    @field_validator("plex_libraries", mode="before")
    @classmethod
    def _split_libraries(cls, value: Any) -> Any:
        return _split(value, ",")

    @field_validator("tag_exclude", mode="before")
    @classmethod
    def _split_tags(cls, value: Any) -> Any:
        return _split(value, _SPLIT_SEMICOLON)

    @field_validator("path_mappings", mode="before")
    @classmethod
    def _parse_mappings(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        return parse_path_mappings(value)

    @field_validator("ca_bundle", "data_dir", "watch_account", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        if isinstance(value, str):
            return value.strip() or None
        return value

    @field_validator("ca_bundle")
    @classmethod
    def _check_ca_file(cls, value: str | None) -> str | None:
        # Checked here, once: otherwise requests fails every request with an OSError.
        if value is not None and not os.path.isfile(os.path.expanduser(value)):
            raise ValueError(f"no file at {value} (give the path of a PEM certificate file, as the "
                             "Stash server sees it)")
        return os.path.expanduser(value) if value is not None else None

    @field_validator("reconcile_interval", mode="before")
    @classmethod
    def _lower_interval(cls, value: Any) -> Any:
        if isinstance(value, str):
            return value.strip().lower() or "off"
        return value

    @field_validator("watch_interval", mode="before")
    @classmethod
    def _watch_interval(cls, value: Any) -> Any:
        if isinstance(value, str):
            # "15 min", "15 minutes" and "15m" all read as 15min (the description shows "15min").
            text = re.sub(r"\s+", "", value.strip().lower()) or "off"
            return "15min" if text in ("15m", "15min", "15mins", "15minutes") else text
        return value

    def token(self) -> str:
        """The Plex token, for the one place that sends it (the Plex session header)."""
        return self.plex_token.get_secret_value()

    def log_config(self) -> None:
        """Log the effective configuration, one setting per line, token masked."""
        log_info("PlexSync configuration:")
        for setting in SETTINGS:
            value = setting.to_stash_value(getattr(self, setting.field))
            if setting.field == "plex_token":
                shown = f"**** ({len(self.token())} characters)"
            elif setting.field == "path_mappings":
                shown = "; ".join(f"{m.stash_prefix} => {m.plex_prefix}" for m in value) or "(none)"
            elif isinstance(value, tuple):
                shown = ", ".join(value) or "(none)"
            elif value is None:
                shown = "(default)"
            elif isinstance(value, bool):
                shown = "ticked" if value else "unticked"
            else:
                shown = str(value)
            log_info(f"  {setting.display_name} [{setting.key}]: {shown}")

    @classmethod
    def from_stash(cls, settings: dict[str, Any] | None, **overrides: Any) -> "PlexSyncConfig":
        """Build from Stash's ``configuration.plugins.plexsync`` map.

        Absent keys mean defaults. Raises :class:`ConfigError` naming every bad
        setting by its display name.
        """
        values: dict[str, Any] = {}
        problems: list[str] = []
        for key, raw in (settings or {}).items():
            setting = SETTING_BY_KEY.get(key)
            if setting is None:
                continue  # a setting from an older or newer release: ignore, don't fail
            if raw is None or (isinstance(raw, str) and not raw.strip() and setting.type != "STRING"):
                continue
            if setting.type == "NUMBER" and isinstance(raw, float) and raw.is_integer():
                raw = int(raw)
            values[setting.field] = setting.to_field_value(raw)
        values.update(overrides)
        token = values.get("plex_token")
        if isinstance(token, str):
            register_secret(token.strip())
        missing = []
        for required in ("plex_url", "plex_token"):
            if not values.get(required):
                setting = SETTING_BY_FIELD[required]
                problems.append(f"'{setting.display_name}' is not set ({setting.description})")
                values.pop(required, None)
                missing.append(required)
        try:
            config = cls(**values)
        except ValidationError as exc:
            # Name every other bad setting too, not only the missing ones.
            problems += describe_validation_error(exc, skip_fields=missing)
            raise ConfigError(problems) from None
        return config


def describe_validation_error(exc: ValidationError, skip_fields: list[str] | tuple[str, ...] = ()) -> list[str]:
    """One line per bad setting, by display name, without echoing secret values."""
    problems = []
    for err in exc.errors(include_input=False, include_url=False):
        field = str(err["loc"][0]) if err["loc"] else ""
        if field in skip_fields:
            continue
        setting = SETTING_BY_FIELD.get(field)
        name = setting.display_name if setting else field
        message = err["msg"].removeprefix("Value error, ")
        problems.append(f"'{name}': {message}")
    return problems


def parse_path_mappings(text: str) -> tuple[PathMapping, ...]:
    """Parse ``'a => b; c => d'`` into ordered :class:`PathMapping` rules."""
    mappings = []
    for chunk in _SPLIT_SEMICOLON.split(text):
        chunk = chunk.strip()
        if not chunk:
            continue
        if "=>" not in chunk:
            raise ValueError(f"'{chunk}' is not 'stash prefix => plex prefix'")
        stash_prefix, plex_prefix = (part.strip() for part in chunk.split("=>", 1))
        if not stash_prefix or not plex_prefix:
            raise ValueError(f"'{chunk}' needs a prefix on both sides of '=>'")
        mappings.append(PathMapping(stash_prefix, plex_prefix))
    return tuple(mappings)
