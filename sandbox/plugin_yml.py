"""Load a Stash plugin's yml as strictly as Stash does (``pkg/plugin/config.go``).

* the yml is decoded strictly: any unknown key, duplicate key or wrongly shaped value
  refuses the whole plugin (PluginConfigError, naming the file and the key);
* every scalar stays text, as when yaml.v2 decodes into Stash's string fields;
* the plugin id is the yml file name without ``.yml``, not its ``name:``;
* what Stash accepts silently but is surely a mistake (a trigger Stash never fires, an
  unknown errLog level, a setting type that isn't one) is kept in ``PluginConfig.warnings``.

See ../shared/docs/stash-plugin-protocol.md. ``sandbox.runner`` re-exports all of this.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# The keys Stash's strict decoding accepts: the same sets as ../shared/tools/check_plugin_yml.py.
TOP_KEYS = frozenset({"name", "description", "version", "url", "exec", "interface", "errLog",
                      "settings", "hooks", "tasks", "ui"})
SETTING_KEYS = frozenset({"displayName", "description", "type"})
SETTING_TYPES = frozenset({"STRING", "NUMBER", "BOOLEAN"})
OPERATION_KEYS = frozenset({"name", "description", "execArgs", "defaultArgs"})
HOOK_KEYS = OPERATION_KEYS | {"triggeredBy"}
UI_KEYS = frozenset({"javascript", "css", "requires", "assets", "csp"})
CSP_KEYS = frozenset({"script-src", "style-src", "connect-src"})
INTERFACES = frozenset({"raw", "rpc", "js"})
HOOK_OBJECTS = frozenset({"Scene", "SceneMarker", "Image", "Gallery", "GalleryChapter", "Group",
                          "Movie", "Performer", "Studio", "Tag"})
HOOK_ACTIONS = frozenset({"Create", "Update", "Destroy", "Merge"})

LOG_LEVELS = {"t": "trace", "d": "debug", "i": "info", "w": "warning", "e": "error"}
# errLog names → the level char given to unprefixed stderr lines ("" drops them, "p" = progress)
ERRLOG_CHAR = {**{name: char for char, name in LOG_LEVELS.items()}, "progress": "p", "none": ""}


class RunnerError(Exception):
    """Root of the sandbox runner's errors (defined here so that PluginConfigError is one)."""


class PluginConfigError(RunnerError, ValueError):
    """The plugin yml is one Stash would refuse to load."""


# ---------------------------------------------------------------------------- the yml


@dataclass(frozen=True)
class Operation:
    """A task, or a hook (which also has ``triggered_by``)."""

    name: str
    description: str = ""
    exec_args: tuple[str, ...] = ()
    default_args: dict[str, str] = field(default_factory=dict)
    triggered_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class PluginConfig:
    id: str
    path: Path
    name: str
    exec: tuple[str, ...]
    interface: str = "raw"
    err_log: str = ""
    description: str = ""
    version: str = ""
    url: str = ""
    settings: dict[str, dict[str, str]] = field(default_factory=dict)
    hooks: tuple[Operation, ...] = ()
    tasks: tuple[Operation, ...] = ()
    warnings: tuple[str, ...] = ()   # what Stash accepts silently but is surely a mistake
    ui_javascript: tuple[str, ...] = ()   # ``ui.javascript``: files (relative to the yml) and URLs
    ui_css: tuple[str, ...] = ()          # ``ui.css``: likewise

    @property
    def dir(self) -> Path:
        return self.path.parent

    def task(self, name: str) -> Operation | None:
        return next((t for t in self.tasks if t.name == name), None)

    def hooks_for(self, trigger: str) -> list[Operation]:
        return [h for h in self.hooks if trigger in h.triggered_by]


class _StrictLoader(yaml.BaseLoader):
    """Every scalar stays text, as when yaml.v2 decodes into Stash's string fields;
    a repeated key is an error, as in yaml.v2's strict mode."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise PluginConfigError(f"line {key_node.start_mark.line + 1}: key {key!r} "
                                        "already set in map (Stash's strict decoding refuses it)")
            seen.add(key)
        return super().construct_mapping(node, deep=True)


def _kind(value: Any) -> str:
    return "a mapping" if isinstance(value, dict) else "a list" if isinstance(value, list) else "text"


def _text(value: Any, where: str) -> str:
    if isinstance(value, (dict, list)):
        raise PluginConfigError(f"{where}: expected text, got {_kind(value)}")
    return value


def _items(value: Any, where: str) -> list:
    if value == "":          # null or empty: Go leaves the slice nil
        return []
    if not isinstance(value, list):
        raise PluginConfigError(f"{where}: expected a list, got {_kind(value)}")
    return value


def _mapping(value: Any, where: str, allowed: frozenset | None = None) -> dict:
    if value == "":
        return {}
    if not isinstance(value, dict):
        raise PluginConfigError(f"{where}: expected a mapping, got {_kind(value)}")
    if allowed is not None:
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise PluginConfigError(f"{where}: unknown key {unknown[0]!r}; Stash refuses to load the "
                                    f"plugin (allowed: {', '.join(sorted(allowed))})")
    return value


def _operation(raw: Any, where: str, allowed: frozenset, warnings: list[str]) -> Operation:
    op = _mapping(raw, where, allowed)
    default_args = {_text(k, f"{where}.defaultArgs"): _text(v, f"{where}.defaultArgs.{k}")
                    for k, v in _mapping(op.get("defaultArgs", ""), f"{where}.defaultArgs").items()}
    triggers = tuple(_text(t, f"{where}.triggeredBy")
                     for t in _items(op.get("triggeredBy", ""), f"{where}.triggeredBy"))
    for trigger in triggers:
        parts = trigger.split(".")
        if (len(parts) != 3 or parts[0] not in HOOK_OBJECTS or parts[1] not in HOOK_ACTIONS
                or parts[2] != "Post"):
            warnings.append(f"{where}: trigger {trigger!r} is not one Stash fires; it never runs")
    return Operation(
        name=_text(op.get("name", ""), f"{where}.name"),
        description=_text(op.get("description", ""), f"{where}.description"),
        exec_args=tuple(_text(a, f"{where}.execArgs")
                        for a in _items(op.get("execArgs", ""), f"{where}.execArgs")),
        default_args=default_args,
        triggered_by=triggers,
    )


def find_plugin_yml(plugin: str | Path) -> Path:
    """The plugin's yml: ``plugin`` itself, or the one ``*.yml`` in the folder ``plugin``."""
    path = Path(plugin)
    if path.is_file():
        if path.suffix != ".yml":
            raise PluginConfigError(f"{path}: Stash loads plugins only from *.yml files")
        return path
    found = sorted(path.glob("*.yml"))
    if len(found) != 1:
        raise PluginConfigError(f"{path}: expected exactly one .yml file in the plugin folder, "
                                f"found {len(found)}; pass the yml's path instead")
    return found[0]


def load_plugin(plugin: str | Path) -> PluginConfig:
    """Load a plugin yml as strictly as Stash does; raise PluginConfigError where Stash refuses."""
    path = find_plugin_yml(plugin).resolve()
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        raise PluginConfigError(f"{path.name}: not valid YAML: {exc}") from exc
    except PluginConfigError as exc:
        raise PluginConfigError(f"{path.name}: {exc}") from exc
    try:
        return _plugin_config(path, doc)
    except PluginConfigError as exc:
        raise PluginConfigError(f"{path.name}: {exc}") from exc


def _plugin_config(path: Path, doc: Any) -> PluginConfig:
    doc = _mapping("" if doc is None else doc, "top level", TOP_KEYS)
    warnings: list[str] = []
    interface = _text(doc.get("interface", ""), "interface") or "raw"
    if interface not in INTERFACES:
        raise PluginConfigError(f"invalid interface type {interface!r} "
                                f"(Stash accepts {', '.join(sorted(INTERFACES))})")
    err_log = _text(doc.get("errLog", ""), "errLog")
    if err_log and err_log not in ERRLOG_CHAR:
        warnings.append(f"errLog {err_log!r} is not a level; Stash falls back to error")
    settings: dict[str, dict[str, str]] = {}
    for key, raw in _mapping(doc.get("settings", ""), "settings").items():
        setting = {k: _text(v, f"settings.{key}.{k}")
                   for k, v in _mapping(raw, f"settings.{key}", SETTING_KEYS).items()}
        if setting.get("type", "STRING") not in SETTING_TYPES:
            warnings.append(f"settings.{key}: type {setting['type']!r} is not one of "
                            f"{', '.join(sorted(SETTING_TYPES))}")
        settings[_text(key, "settings")] = setting
    ui = _mapping(doc.get("ui", ""), "ui", UI_KEYS)
    _mapping(ui.get("csp", ""), "ui.csp", CSP_KEYS)
    name = _text(doc.get("name", ""), "name")
    if not name:
        warnings.append("no 'name': Stash shows the plugin id instead")
    return PluginConfig(
        id=path.name[: path.name.rindex(".")],
        path=path,
        name=name or path.stem,
        exec=tuple(_text(w, "exec") for w in _items(doc.get("exec", ""), "exec")),
        interface=interface,
        err_log=err_log,
        description=_text(doc.get("description", ""), "description"),
        version=_text(doc.get("version", ""), "version"),
        url=_text(doc.get("url", ""), "url"),
        settings=settings,
        hooks=tuple(_operation(h, f"hooks[{i}]", HOOK_KEYS, warnings)
                    for i, h in enumerate(_items(doc.get("hooks", ""), "hooks"))),
        tasks=tuple(_operation(t, f"tasks[{i}]", OPERATION_KEYS, warnings)
                    for i, t in enumerate(_items(doc.get("tasks", ""), "tasks"))),
        warnings=tuple(warnings),
        ui_javascript=tuple(_text(v, "ui.javascript") for v in _items(ui.get("javascript", ""), "ui.javascript")),
        ui_css=tuple(_text(v, "ui.css") for v in _items(ui.get("css", ""), "ui.css")),
    )
