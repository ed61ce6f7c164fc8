"""Every GraphQL document PlexSync sends to Stash, in one place (tests validate each
against Stash's real schema)."""

# The fields a sync needs, and no more.
SCENE_FIELDS = """
id title code details director date rating100 organized urls updated_at
studio { id name }
performers { id name }
tags { id name }
files { id path basename size duration }
paths { screenshot }
groups { group { id name } scene_index }
"""

FIND_SCENE = "query FindScene($id: ID!) { findScene(id: $id) { " + SCENE_FIELDS + " } }"

# A studio's image, for a show filled in from it ('Fill in shows from studios').
FIND_STUDIO = "query FindStudio($id: ID!) { findStudio(id: $id) { id name image_path } }"

FIND_SCENES = (
    "query FindScenes($filter: FindFilterType, $scene_filter: SceneFilterType) {"
    " findScenes(filter: $filter, scene_filter: $scene_filter) { count scenes { " + SCENE_FIELDS + " } } }"
)

# The scenes of a drain's next jobs in one request. Stash rejects the whole request
# when one id does not exist ("scene with id N not found").
FIND_SCENES_BY_ID = (
    "query FindScenesById($ids: [ID!]) {"
    " findScenes(ids: $ids, filter: {per_page: -1}) { scenes { " + SCENE_FIELDS + " } } }"
)

# Which scene ids exist in a range (ids only): narrows a batch Stash rejected.
SCENE_IDS_BETWEEN = (
    "query SceneIdsBetween($scene_filter: SceneFilterType) {"
    " findScenes(filter: {per_page: -1, sort: \"id\"}, scene_filter: $scene_filter) { scenes { id } } }"
)

# Scenes with a file at exactly one path (Stash compares folder and name with LIKE, so
# the match ignores ASCII case: callers compare exactly).
SCENES_WITH_FILE = (
    "query ScenesWithFile($scene_filter: SceneFilterType) {"
    " findScenes(filter: {per_page: -1}, scene_filter: $scene_filter) { scenes { id files { path } } } }"
)

PLUGIN_SETTINGS = "query PluginSettings($ids: [ID!]) { configuration { plugins(include: $ids) } }"

API_KEY = "query ApiKey { configuration { general { apiKey } } }"

VERSION = "query Version { version { version } }"

RUN_PLUGIN_TASK = (
    "mutation RunPluginTask($plugin_id: ID!, $task_name: String, $args_map: Map) {"
    " runPluginTask(plugin_id: $plugin_id, task_name: $task_name, args_map: $args_map) }"
)

# Stash's job queue: the running job and those waiting their turn (READY).
JOB_QUEUE = "query JobQueue { jobQueue { id status description addTime } }"

# -- watch state (plays, resume point, rating) -------------------------------------------

# What the watch-state code needs of a scene (stash/watch_state.py parses it).
WATCH_FIELDS = """
id updated_at rating100 play_count play_history last_played_at resume_time play_duration
files { duration }
"""

# The watch state of a batch of scenes; rejected whole when one id does not exist, as
# FIND_SCENES_BY_ID is.
SCENE_WATCH_STATES = (
    "query SceneWatchStates($ids: [ID!]) {"
    " findScenes(ids: $ids, filter: {per_page: -1}) { scenes { " + WATCH_FIELDS + " } } }"
)

# Scenes played after a time, oldest last play first (Stash compares the filter value
# with its stored UTC text, so the value is sent in that form).
SCENES_PLAYED_SINCE = (
    "query ScenesPlayedSince($filter: FindFilterType, $scene_filter: SceneFilterType) {"
    " findScenes(filter: $filter, scene_filter: $scene_filter) { scenes { " + WATCH_FIELDS + " } } }"
)

# Not idempotent: every call adds its times again. Fires no plugin hook.
SCENE_ADD_PLAY = (
    "mutation SceneAddPlay($id: ID!, $times: [Timestamp!]) {"
    " sceneAddPlay(id: $id, times: $times) { count history } }"
)


def scene_add_plays_document(count: int) -> str:
    """One request adding plays to ``count`` scenes: ``sceneAddPlay`` aliased ``p0``…,
    with variables ``id0``/``times0``… (Stash runs a request's mutations in order)."""
    params = ", ".join(f"$id{i}: ID!, $times{i}: [Timestamp!]" for i in range(count))
    fields = " ".join(f"p{i}: sceneAddPlay(id: $id{i}, times: $times{i}) {{ count }}" for i in range(count))
    return f"mutation SceneAddPlays({params}) {{ {fields} }}"


# Sets the resume point only: playDuration is not sent, so Stash adds nothing to
# play_duration. Fires no plugin hook.
SCENE_SAVE_ACTIVITY = (
    "mutation SceneSaveActivity($id: ID!, $resume_time: Float) {"
    " sceneSaveActivity(id: $id, resume_time: $resume_time) }"
)

# A rating through sceneUpdate: unlike the two above, Stash fires Scene.Update.Post.
SCENE_SET_RATING = (
    "mutation SceneSetRating($input: SceneUpdateInput!) {"
    " sceneUpdate(input: $input) { id rating100 updated_at } }"
)


# -- what the compatibility check compares with the running Stash -----------------------

#: The oldest Stash these documents work with (scene groups arrived in v0.27.0); the
#: README and the manifest description say it too.
MINIMUM_STASH_VERSION = "v0.27.0"

#: Input-object fields PlexSync sends inside variables (stash/client.py builds them), which
#: no document shows: the compatibility check looks for them too.
VARIABLE_INPUT_FIELDS: dict[str, tuple[str, ...]] = {
    "FindFilterType": ("page", "per_page", "sort", "direction"),
    "SceneFilterType": ("id", "updated_at", "path", "last_played_at"),
    "IntCriterionInput": ("value", "value2", "modifier"),
    "TimestampCriterionInput": ("value", "modifier"),
    "StringCriterionInput": ("value", "modifier"),
    "SceneUpdateInput": ("id", "rating100"),
}


def documents() -> dict[str, str]:
    """Every document above by name (the batched play mutation with one scene)."""
    found = {name: value for name, value in globals().items()
             if name.isupper() and isinstance(value, str) and value.lstrip().startswith(("query", "mutation"))}
    found["scene_add_plays_document"] = scene_add_plays_document(1)
    return found
