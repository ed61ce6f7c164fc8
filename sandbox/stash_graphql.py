"""GraphQL execution for the Stash emulator: our subset schema with resolvers.

graphql-core parses, validates and executes every request against
sandbox/stash_schema.graphql. Resolvers find the store in ``info.context["store"]``;
plain fields are read straight from the store's dicts by graphql-core's default
resolver, so only links (studio, tags, files, ...) cost a lookup.

Status codes follow gqlgen, Stash's GraphQL server: a body that is not JSON is 400, a
document that does not parse or validate is 422, and an error while resolving is 200
with ``errors`` beside ``data``.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from pathlib import Path

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    GraphQLSyntaxError,
    build_schema,
    execute,
    parse,
    validate,
)

from sandbox import stash_plays
from sandbox.stash_store import StashError, StashStore

SCHEMA_PATH = Path(__file__).with_name("stash_schema.graphql")
STASH_VERSION = {"version": "v0.30.1", "hash": "cf3489ef", "build_time": "2026-01-11 12:00:00"}


def _store(info) -> StashStore:
    return info.context["store"]


# ---- UI plugins (sandbox/stash_ui.py answers them; without it Stash has no plugins) -------

def _plugins(_root, info):
    ui = info.context.get("ui")
    return ui.plugins(info.context["base_url"]) if ui is not None else []


def _run_plugin_operation(_root, info, plugin_id, args=None):
    ui = info.context.get("ui")
    if ui is None:
        raise StashError(f"plugin {plugin_id} not found")
    # The executor holds the store's lock around the request; the plugin's own GraphQL
    # requests need it while it runs, so it is let go for the run (Stash serves requests
    # concurrently).
    store = _store(info)
    store.lock.release()
    try:
        return ui.run_operation(plugin_id, args or {})
    finally:
        store.lock.acquire()


# ---- Query ---------------------------------------------------------------------------

def _find_scene(_root, info, id=None):
    if id is None:
        return None
    try:
        scene_id = int(id)
    except ValueError:
        raise StashError(f'strconv.Atoi: parsing "{id}": invalid syntax') from None
    return _store(info).get_scene(scene_id)


def _find_scenes(_root, info, filter=None, scene_filter=None, scene_ids=None, ids=None):
    wanted = None
    if ids:
        try:
            wanted = [int(i) for i in ids]
        except ValueError as exc:
            raise StashError(f"converting ids: {exc}") from None
    elif scene_ids:
        wanted = list(scene_ids)
    return _store(info).find_scenes(filter, scene_filter, wanted)


def _find_entity(kind):
    def resolve(_root, info, id):
        return _store(info).entity(kind, id)
    return resolve


def _configuration(_root, info):
    store = _store(info)
    return {
        "general": {"apiKey": info.context["api_key"]},
        "plugins": lambda _info, include=None: store.plugin_settings(include),
    }


def _job_queue(_root, info):
    return _store(info).job_queue()


def _system_status(_root, info):
    return {
        "databaseSchema": 75, "databasePath": "/root/.stash/stash-go.sqlite",
        "configPath": "/root/.stash/config.yml", "appSchema": 75, "status": "OK",
        "os": "linux", "workingDir": "/root", "homeDir": "/root",
        "ffmpegPath": "/usr/bin/ffmpeg", "ffprobePath": "/usr/bin/ffprobe",
    }


# ---- Mutation --------------------------------------------------------------------------

def _scene_update(_root, info, input):
    store = _store(info)
    scene = store.update_scene(input["id"], input)
    # Stash runs the Scene.Update.Post hooks after a sceneUpdate; the runner fires them.
    store.hook_triggers.append({"type": "Scene.Update.Post", "id": int(scene["_id"]),
                                "input": dict(input), "input_fields": list(input)})
    return scene


def _atoi(id, prefix: str = "converting id: ") -> int:
    try:
        return int(id)
    except ValueError:
        raise StashError(f'{prefix}strconv.Atoi: parsing "{id}": invalid syntax') from None


def _times(store: StashStore, times) -> list[int]:
    # The Timestamp scalar, parsed as Stash's UnmarshalTimestamp does.
    return [store.epoch(t) for t in times or ()]


def _history(stamps: list[int]) -> dict:
    return {"count": len(stamps), "history": [stash_plays.utc_text(t) for t in stamps]}


# Play and activity mutations: Stash fires no plugin hook for any of them.
def _scene_add_play(_root, info, id, times=None):
    store = _store(info)
    return _history(store.add_plays(_atoi(id), _times(store, times)))


def _scene_delete_play(_root, info, id, times=None):
    store = _store(info)
    return _history(store.delete_plays(_atoi(id, ""), _times(store, times)))


def _scene_reset_play_count(_root, info, id):
    return _store(info).reset_plays(_atoi(id, ""))


def _scene_save_activity(_root, info, id, resume_time=None, playDuration=None):
    return _store(info).save_activity(_atoi(id), resume_time, playDuration)


def _scene_reset_activity(_root, info, id, reset_resume=None, reset_duration=None):
    return _store(info).reset_activity(_atoi(id), bool(reset_resume), bool(reset_duration))


def _configure_plugin(_root, info, plugin_id, input):
    if not isinstance(input, dict):
        raise StashError("input must be a map")
    return _store(info).configure_plugin(plugin_id, input)


def _run_plugin_task(_root, info, plugin_id, task_name=None, description=None, args=None, args_map=None):
    return _store(info).run_plugin_task(plugin_id, task_name, description, args, args_map)


# ---- Scene links -------------------------------------------------------------------------

def _scene_studio(scene, info):
    sid = scene["_studio"]
    return None if sid is None else _store(info).entities["studio"][sid]


def _scene_list(kind, key):
    def resolve(scene, info):
        table = _store(info).entities[kind]
        return [table[i] for i in scene[key]]
    return resolve


def _scene_groups(scene, info):
    table = _store(info).entities["group"]
    return [{"group": table[g], "scene_index": index} for g, index in scene["_groups"]]


def _scene_files(scene, info):
    files = _store(info).files
    return [files[f] for f in scene["_files"]]


def _scene_paths(scene, info):
    base, sid = info.context["base_url"], scene["id"]
    prefix = f"{base}/scene/{sid}"
    stream = f"{prefix}/stream"
    if info.context.get("stream_api_key"):
        stream += f"?apikey={info.context['stream_api_key']}"
    return {
        "screenshot": f"{prefix}/screenshot?t={scene['_updated_unix']}",
        "preview": f"{prefix}/preview",
        "stream": stream,
        "webp": f"{prefix}/webp",
        "vtt": f"{base}/scene/{sid}_thumbs.vtt",
        "sprite": f"{base}/scene/{sid}_sprite.jpg",
        "funscript": f"{prefix}/funscript",
        "interactive_heatmap": f"{prefix}/interactive_heatmap",
        "caption": f"{prefix}/caption",
    }


def _studio_image_path(studio, info):
    # Stash always gives a URL: with no image set, one marked default=true that serves a
    # placeholder SVG.
    base = f"{info.context['base_url']}/studio/{studio['id']}/image"
    image = studio.get("_image")
    return f"{base}?t={image[1]}" if image else f"{base}?t=0&default=true"


def _scene_play_history(scene, _info):
    return [stash_plays.utc_text(t) for t in stash_plays.history(scene)]


def _scene_last_played_at(scene, _info):
    newest = stash_plays.last_played(scene)
    return None if newest is None else stash_plays.utc_text(newest)


def _file_fingerprint(video_file, _info, type):
    return next((f["value"] for f in video_file["fingerprints"] if f["type"] == type), None)


@functools.lru_cache(maxsize=4)
def executable_schema(dropped: tuple[str, ...] = ()) -> GraphQLSchema:
    """Our subset schema with the emulator's resolvers attached (built once per variant).

    ``dropped``: ``"Type.field"`` names left out, as an older or newer Stash would lack
    them (introspection and validation then both lack them).
    """
    schema = build_schema(SCHEMA_PATH.read_text(encoding="utf-8"))
    resolvers = {
        "Query": {
            "findScene": _find_scene, "findScenes": _find_scenes,
            "findStudio": _find_entity("studio"), "findPerformer": _find_entity("performer"),
            "findTag": _find_entity("tag"), "findGroup": _find_entity("group"),
            "configuration": _configuration, "systemStatus": _system_status,
            "jobQueue": _job_queue, "plugins": _plugins,
            "version": lambda _root, _info: dict(STASH_VERSION),
        },
        "Mutation": {
            "sceneUpdate": _scene_update, "configurePlugin": _configure_plugin,
            "runPluginTask": _run_plugin_task, "runPluginOperation": _run_plugin_operation,
            "sceneAddPlay": _scene_add_play, "sceneDeletePlay": _scene_delete_play,
            "sceneResetPlayCount": _scene_reset_play_count,
            "sceneSaveActivity": _scene_save_activity, "sceneResetActivity": _scene_reset_activity,
        },
        "Scene": {
            "studio": _scene_studio, "performers": _scene_list("performer", "_performers"),
            "tags": _scene_list("tag", "_tags"), "groups": _scene_groups,
            "files": _scene_files, "paths": _scene_paths,
            "play_history": _scene_play_history, "last_played_at": _scene_last_played_at,
            "play_count": lambda scene, _info: len(scene["_plays"]),
        },
        "VideoFile": {"fingerprint": _file_fingerprint},
        "Studio": {"image_path": _studio_image_path},
    }
    for type_name, fields in resolvers.items():
        graphql_type = schema.get_type(type_name)
        for field_name, resolver in fields.items():
            graphql_type.fields[field_name].resolve = resolver
    for name in dropped:
        type_name, _, field_name = name.partition(".")
        graphql_type = schema.get_type(type_name)
        if graphql_type is None or field_name not in graphql_type.fields:  # type: ignore[union-attr]
            raise ValueError(f"the emulator's schema has no {name}")
        del graphql_type.fields[field_name]  # type: ignore[union-attr]
    return schema


class Executor:
    """Runs GraphQL requests against a store; parsed+validated documents are cached."""

    def __init__(self, store: StashStore, cache_size: int = 256, dropped: tuple[str, ...] = ()) -> None:
        self.store = store
        self.schema = executable_schema(tuple(sorted(dropped)))
        self._documents: OrderedDict[str, DocumentNode] = OrderedDict()
        self._cache_size = cache_size
        self._cache_lock = threading.Lock()

    def _document(self, query: str) -> DocumentNode | list[GraphQLError]:
        with self._cache_lock:
            cached = self._documents.get(query)
            if cached is not None:
                self._documents.move_to_end(query)
                return cached
        try:
            document = parse(query)
        except GraphQLSyntaxError as exc:
            return [exc]
        errors = validate(self.schema, document)
        if errors:
            return errors
        with self._cache_lock:
            self._documents[query] = document
            while len(self._documents) > self._cache_size:
                self._documents.popitem(last=False)
        return document

    def run(self, body, context: dict) -> tuple[int, dict]:
        """(HTTP status, JSON response) for a decoded request body."""
        if not isinstance(body, dict) or not isinstance(body.get("query"), str) or not body["query"].strip():
            return 422, {"errors": [{"message": "no operation provided",
                                     "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}}], "data": None}
        variables = body.get("variables")
        if variables is not None and not isinstance(variables, dict):
            return 400, {"errors": [{"message": "variables must be an object"}], "data": None}
        document = self._document(body["query"])
        if isinstance(document, list):
            code = "GRAPHQL_PARSE_FAILED" if isinstance(document[0], GraphQLSyntaxError) else "GRAPHQL_VALIDATION_FAILED"
            errors = [dict(e.formatted, extensions={"code": code}) for e in document]
            return 422, {"errors": errors, "data": None}
        with self.store.lock:
            result = execute(
                self.schema, document, variable_values=variables,
                operation_name=body.get("operationName") or None,
                context_value=dict(context, store=self.store),
                is_awaitable=_never_awaitable,  # all resolvers are synchronous
            )
        if result.data is None and result.errors and not _is_resolver_error(result.errors):
            # bad variables or operation name: a request error, not an execution error
            return 422, {"errors": [e.formatted for e in result.errors], "data": None}
        response: dict = {"data": result.data}
        if result.errors:
            response = {"errors": [e.formatted for e in result.errors], **response}
        return 200, response


def _never_awaitable(_value) -> bool:
    return False


def _is_resolver_error(errors: list[GraphQLError]) -> bool:
    return any(e.path for e in errors)
