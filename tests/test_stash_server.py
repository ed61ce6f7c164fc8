"""The Stash emulator (sandbox/stash_server.py) over real HTTP, and its conformance to
Stash's real schema. Every query these tests send is captured and, in the last tests,
validated against both Stash's schema and our subset."""

from __future__ import annotations

import concurrent.futures
import time
from datetime import datetime, timedelta, timezone

import pytest
import requests
from freezegun import freeze_time
from graphql import build_schema

from sandbox import schema_check
from sandbox.stash_media import jpeg_size
from sandbox.stash_server import StashServer

FIND_SCENE = (
    "query FindScene($id: ID!) { findScene(id: $id) { id title code details director date "
    "rating100 organized urls updated_at studio { id name } performers { id name } tags { id name } "
    "files { id path basename } paths { screenshot } groups { group { id name } scene_index } } }"
)
FIND_SCENES = """
query FindScenes($filter: FindFilterType, $scene_filter: SceneFilterType) {
  findScenes(filter: $filter, scene_filter: $scene_filter) { count scenes { id title updated_at } }
}"""
SCENE_UPDATE = """
mutation SceneUpdate($input: SceneUpdateInput!) {
  sceneUpdate(input: $input) { id title details date rating100 updated_at studio { id } tags { id name } }
}"""
PLUGIN_CONFIG = 'query Config { configuration { general { apiKey } plugins(include: ["plexsync"]) } }'

# Queries sent by every server the fixtures made, for the conformance tests at the end.
CAPTURED: list[str] = []
T0 = datetime(2026, 1, 10, 12, 0, 0, tzinfo=timezone.utc)


@pytest.fixture
def make_stash():
    servers: list[StashServer] = []

    def make(**kwargs) -> StashServer:
        server = StashServer(**kwargs).start()
        servers.append(server)
        return server
    yield make
    for server in servers:
        server.stop()
        CAPTURED.extend(q["query"] for q in server.queries
                        if isinstance(q["query"], str) and q["status"] not in (400, 422))


@pytest.fixture
def stash(make_stash) -> StashServer:
    return make_stash()


def post(server: StashServer, query: str, variables: dict | None = None, *, apikey: bool = True,
         headers: dict | None = None, cookies: dict | None = None) -> requests.Response:
    all_headers = {"ApiKey": server.api_key} if apikey else {}
    all_headers.update(headers or {})
    return requests.post(server.graphql_url, json={"query": query, "variables": variables},
                         headers=all_headers, cookies=cookies, timeout=30)


def data(server: StashServer, query: str, variables: dict | None = None, **kwargs) -> dict:
    response = post(server, query, variables, **kwargs)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body["errors"]
    return body["data"]


def errors(server: StashServer, query: str, variables: dict | None = None) -> list[str]:
    response = post(server, query, variables)
    assert response.status_code == 200, response.text
    return [e["message"] for e in response.json()["errors"]]


def stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


# ---- reading scenes ------------------------------------------------------------------

def test_find_scene_with_the_protocol_query(stash):
    studio = stash.add_studio("Acme")
    alice, bob = stash.add_performer("Alice"), stash.add_performer("Bob")
    tag = stash.add_tag("Outdoor")
    group = stash.add_group("Trilogy")
    sid = stash.add_scene(
        title="Sunset", files=["/media/a/sunset.mp4", "/media/b/sunset copy.mkv"], studio_id=studio,
        performer_ids=[alice, bob], tag_ids=[tag], group_ids=[(group, 2)], date="2024-05-06",
        details="Long walk.", code="SC-1", director="Dee", rating100=80,
        urls=["https://example.com/s/1"], organized=True,
    )
    scene = data(stash, FIND_SCENE, {"id": sid})["findScene"]
    updated = scene.pop("updated_at")
    screenshot = scene.pop("paths")["screenshot"]
    assert scene == {
        "id": sid, "title": "Sunset", "code": "SC-1", "details": "Long walk.", "director": "Dee",
        "date": "2024-05-06", "rating100": 80, "organized": True, "urls": ["https://example.com/s/1"],
        "studio": {"id": studio, "name": "Acme"},
        "performers": [{"id": alice, "name": "Alice"}, {"id": bob, "name": "Bob"}],
        "tags": [{"id": tag, "name": "Outdoor"}],
        "files": [{"id": "1", "path": "/media/a/sunset.mp4", "basename": "sunset.mp4"},
                  {"id": "2", "path": "/media/b/sunset copy.mkv", "basename": "sunset copy.mkv"}],
        "groups": [{"group": {"id": group, "name": "Trilogy"}, "scene_index": 2}],
    }
    unix = int(datetime.fromisoformat(updated).timestamp())
    assert screenshot == f"{stash.url}/scene/{sid}/screenshot?t={unix}"
    assert updated.endswith("Z") and len(updated) == 20  # RFC3339, whole seconds, UTC server


def test_an_empty_scene_looks_like_stash_returns_it(stash):
    sid = stash.add_scene(files=["/media/x.mp4"])
    scene = data(stash, FIND_SCENE, {"id": sid})["findScene"]
    assert (scene["title"], scene["details"], scene["code"], scene["director"]) == ("", "", "", "")
    assert (scene["date"], scene["rating100"], scene["studio"]) == (None, None, None)
    assert (scene["performers"], scene["tags"], scene["groups"], scene["urls"]) == ([], [], [], [])


def test_unknown_scene_is_null_and_a_malformed_id_is_an_error(stash):
    assert data(stash, FIND_SCENE, {"id": "999"}) == {"findScene": None}
    assert "invalid syntax" in errors(stash, FIND_SCENE, {"id": "abc"})[0]


def test_timestamps_use_the_servers_offset(make_stash):
    server = make_stash(tz_offset_minutes=60)
    server.clock = lambda: T0
    sid = server.add_scene(title="x")
    assert data(server, FIND_SCENE, {"id": sid})["findScene"]["updated_at"] == "2026-01-10T13:00:00+01:00"


# ---- findScenes ------------------------------------------------------------------------

def _thirty_scenes(server: StashServer) -> list[str]:
    return server.add_scenes(
        {"title": f"Scene {n}", "files": [f"/m/{n}.mp4"], "updated_at": T0 + timedelta(minutes=30 - n)}
        for n in range(1, 31)
    )


def test_find_scenes_pages_sorts_and_counts(stash):
    ids = _thirty_scenes(stash)

    def listing(**find_filter) -> tuple[int, list[str]]:
        result = data(stash, FIND_SCENES, {"filter": find_filter})["findScenes"]
        return result["count"], [s["id"] for s in result["scenes"]]

    assert listing() == (30, ids[:25])  # no sort: id order; per_page defaults to 25
    assert listing(page=2) == (30, ids[25:])
    assert listing(per_page=-1) == (30, ids)
    assert listing(per_page=0) == (30, [])
    assert listing(page=0, per_page=3) == (30, ids[:3])  # pages below 1 mean page 1
    assert listing(per_page=10, page=4) == (30, [])
    assert listing(sort="id", direction="DESC", per_page=3) == (30, ids[::-1][:3])
    assert listing(sort="updated_at", direction="ASC", per_page=3) == (30, ids[::-1][:3])
    assert listing(sort="updated_at", direction="DESC", per_page=3) == (30, ids[:3])
    # titles sort naturally: "Scene 2" before "Scene 10"
    assert listing(sort="title", per_page=4) == (30, ids[:4])
    assert listing(sort="created_at", direction="DESC", per_page=-1)[1] == ids  # ties: title, id
    assert listing(q="scene 17", per_page=-1) == (1, [ids[16]])  # every word must match


def test_find_scenes_rejects_sorts_like_stash(stash):
    _thirty_scenes(stash)
    assert errors(stash, FIND_SCENES, {"filter": {"sort": "bogus"}}) == ["invalid sort: bogus"]
    message = errors(stash, FIND_SCENES, {"filter": {"sort": "random"}})[0]
    assert "not implemented by the sandbox emulator" in message


def test_find_scenes_by_ids_ignores_the_filter(stash):
    ids = _thirty_scenes(stash)
    query = "query($ids: [ID!]) { findScenes(ids: $ids, filter: {per_page: 1}) { count scenes { id } } }"
    result = data(stash, query, {"ids": [ids[4], ids[1]]})["findScenes"]
    assert result == {"count": 2, "scenes": [{"id": ids[4]}, {"id": ids[1]}]}
    legacy = "{ findScenes(scene_ids: [3]) { count scenes { id } } }"  # deprecated form
    assert data(stash, legacy)["findScenes"] == {"count": 1, "scenes": [{"id": "3"}]}
    assert "not found" in errors(stash, query, {"ids": ["404"]})[0]


def test_updated_at_filter_compares_text_like_stash(make_stash):
    server = make_stash(tz_offset_minutes=60)
    server.clock = lambda: T0  # 13:00 local
    old = server.add_scene(title="old")
    server.clock = lambda: T0 + timedelta(hours=1)  # 14:00 local
    new = server.add_scene(title="new")

    def matching(value: str, modifier: str, value2: str | None = None) -> list[str]:
        criterion = {"value": value, "modifier": modifier, "value2": value2}
        result = data(server, FIND_SCENES, {"filter": {"per_page": -1, "sort": "updated_at"},
                                            "scene_filter": {"updated_at": criterion}})
        return [s["id"] for s in result["findScenes"]["scenes"]]

    assert matching("2026-01-10T13:00:00+01:00", "GREATER_THAN") == [new]
    assert matching("2026-01-10T13:00:00+01:00", "EQUALS") == [old]
    assert matching("2026-01-10T14:00:00+01:00", "LESS_THAN") == [old]
    assert matching("2026-01-10T12:00:00+01:00", "BETWEEN", "2026-01-10T13:30:00+01:00") == [old]
    # Text, not time: 13:00+01:00 is 12:00Z, yet as text it is "greater" than 12:30Z.
    assert matching("2026-01-10T12:30:00Z", "GREATER_THAN") == [old, new]


def test_scene_filter_criteria_and_combinators(stash):
    tag = stash.add_tag("t")
    a = stash.add_scene(title="Alpha one", rating100=90, organized=True, date="2020-01-01", tag_ids=[tag])
    b = stash.add_scene(title="Beta two", rating100=40, date="2021-06-01")
    c = stash.add_scene(title="")

    def ids(scene_filter: dict) -> list[str]:
        result = data(stash, FIND_SCENES, {"filter": {"per_page": -1}, "scene_filter": scene_filter})
        return [s["id"] for s in result["findScenes"]["scenes"]]

    assert ids({"title": {"value": "alpha", "modifier": "INCLUDES"}}) == [a]
    assert ids({"title": {"value": "", "modifier": "IS_NULL"}}) == [c]
    assert ids({"title": {"value": "^Beta", "modifier": "MATCHES_REGEX"}}) == [b]
    assert ids({"rating100": {"value": 50, "modifier": "GREATER_THAN"}}) == [a]
    assert ids({"rating100": {"value": 0, "modifier": "IS_NULL"}}) == [c]
    assert ids({"organized": True}) == [a]
    assert ids({"date": {"value": "2021-01-01", "modifier": "GREATER_THAN"}}) == [b]
    assert ids({"id": {"value": int(a), "value2": int(b), "modifier": "BETWEEN"}}) == [a, b]
    assert ids({"organized": True, "OR": {"rating100": {"value": 40, "modifier": "EQUALS"}}}) == [a, b]
    assert ids({"rating100": {"value": 0, "modifier": "NOT_NULL"},
                "NOT": {"organized": True}}) == [b]


# ---- writing scenes ---------------------------------------------------------------------

def test_scene_update_changes_sent_fields_and_bumps_updated_at(stash):
    studio, tag1, tag2 = stash.add_studio("S"), stash.add_tag("one"), stash.add_tag("two")
    stash.clock = lambda: T0
    sid = stash.add_scene(title="Before", details="keep me", studio_id=studio, tag_ids=[tag1])
    stash.clock = lambda: T0 + timedelta(minutes=5)
    scene = data(stash, SCENE_UPDATE, {"input": {"id": sid, "title": "After", "tag_ids": [tag2, tag1],
                                                 "studio_id": None, "date": "2025-02-03"}})["sceneUpdate"]
    assert scene == {
        "id": sid, "title": "After", "details": "keep me", "date": "2025-02-03", "rating100": None,
        "updated_at": stamp(T0 + timedelta(minutes=5)), "studio": None,
        "tags": [{"id": tag2, "name": "two"}, {"id": tag1, "name": "one"}],
    }
    assert "tag with id 99 not found" in errors(stash, SCENE_UPDATE, {"input": {"id": sid, "tag_ids": ["99"]}})[0]
    assert "invalid date" in errors(stash, SCENE_UPDATE, {"input": {"id": sid, "date": "03/02/2025"}})[0]
    assert stash.scene(sid)["title"] == "After"  # failed updates changed nothing
    assert "not found" in errors(stash, SCENE_UPDATE, {"input": {"id": "404"}})[0]


def test_python_updates_follow_the_clock_and_freezegun(stash):
    sid = stash.add_scene(title="a")
    with freeze_time("2026-03-01 12:00:00"):
        stash.update_scene(sid, title="b", rating100=20)
        assert data(stash, FIND_SCENE, {"id": sid})["findScene"]["updated_at"] == "2026-03-01T12:00:00Z"
    view = stash.scene(sid)
    assert (view["title"], view["rating100"], view["updated_at"]) == ("b", 20, "2026-03-01T12:00:00Z")


def test_renames_show_everywhere_without_bumping_updated_at(stash):
    studio, performer = stash.add_studio("Old studio"), stash.add_performer("Old performer")
    tag, group = stash.add_tag("old tag"), stash.add_group("Old group")
    stash.clock = lambda: T0
    sid = stash.add_scene(title="s", studio_id=studio, performer_ids=[performer], tag_ids=[tag],
                          group_ids=[group])
    stash.clock = lambda: T0 + timedelta(hours=1)
    stash.rename_studio(studio, "New studio")
    stash.rename_performer(performer, "New performer")
    stash.rename_tag(tag, "new tag")
    stash.rename_group(group, "New group")
    scene = data(stash, FIND_SCENE, {"id": sid})["findScene"]
    assert scene["updated_at"] == stamp(T0)
    assert scene["studio"]["name"] == "New studio"
    assert [p["name"] for p in scene["performers"]] == ["New performer"]
    assert [t["name"] for t in scene["tags"]] == ["new tag"]
    assert scene["groups"][0]["group"]["name"] == "New group"
    newer = {"updated_at": {"value": stamp(T0), "modifier": "GREATER_THAN"}}
    assert data(stash, FIND_SCENES, {"scene_filter": newer})["findScenes"]["count"] == 0


def test_deleted_scenes_disappear(stash):
    keep, gone = stash.add_scene(title="keep"), stash.add_scene(title="gone")
    stash.delete_scene(gone)
    assert data(stash, FIND_SCENE, {"id": gone}) == {"findScene": None}
    assert [s["id"] for s in data(stash, FIND_SCENES)["findScenes"]["scenes"]] == [keep]


# ---- plugin settings and tasks ------------------------------------------------------------

def test_plugin_settings_round_trip_and_unset_ones_stay_absent(stash):
    assert data(stash, PLUGIN_CONFIG)["configuration"] == {"general": {"apiKey": stash.api_key},
                                                           "plugins": {}}
    settings = {"plex_url": "http://plex:32400", "dry_run": True, "batch_size": 50}
    mutation = "mutation($input: Map!) { configurePlugin(plugin_id: \"plexsync\", input: $input) }"
    assert data(stash, mutation, {"input": settings}) == {"configurePlugin": settings}
    assert data(stash, PLUGIN_CONFIG)["configuration"]["plugins"] == {"plexsync": settings}
    assert stash.plugin_settings("plexsync") == settings
    assert "plex_token" not in stash.plugin_settings("plexsync")
    stash.set_plugin_settings("plexsync", {"plex_token": "t"})  # replaces, like Stash's UI
    assert data(stash, PLUGIN_CONFIG)["configuration"]["plugins"] == {"plexsync": {"plex_token": "t"}}
    stash.set_plugin_settings("other", {"x": 1})
    everything = data(stash, "{ configuration { plugins } }")["configuration"]["plugins"]
    assert everything == {"plexsync": {"plex_token": "t"}, "other": {"x": 1}}


def test_run_plugin_task_is_recorded_in_both_argument_forms(stash):
    new_form = ('mutation { runPluginTask(plugin_id: "plexsync", task_name: "Drain queue", '
                'args_map: {mode: "drain", limit: 5}) }')
    old_form = ('mutation { runPluginTask(plugin_id: "plexsync", description: "Sync", '
                'args: [{key: "mode", value: {str: "sync"}}, {key: "ids", value: {a: [{i: 1}, {i: 2}]}}]) }')
    assert data(stash, new_form) == {"runPluginTask": "1"}
    assert data(stash, old_form) == {"runPluginTask": "2"}
    assert stash.take_plugin_task_requests() == [
        {"plugin_id": "plexsync", "task_name": "Drain queue", "description": None,
         "args_map": {"mode": "drain", "limit": 5}},
        {"plugin_id": "plexsync", "task_name": None, "description": "Sync",
         "args_map": {"mode": "sync", "ids": [1, 2]}},
    ]
    assert stash.take_plugin_task_requests() == []


def test_job_queue_lists_queued_jobs_ready_and_the_running_one_running(stash):
    from stash import queries

    def statuses():
        return [(j["description"], j["status"]) for j in data(stash, queries.JOB_QUEUE)["jobQueue"]]

    assert statuses() == []
    first = data(stash, 'mutation { runPluginTask(plugin_id: "plexsync", task_name: "Process queue") }')
    data(stash, 'mutation { runPluginTask(plugin_id: "plexsync", task_name: "Status") }')
    assert statuses() == [("Running plugin task: Process queue", "READY"),
                          ("Running plugin task: Status", "READY")]
    taken = stash.take_plugin_task_requests(as_job_manager=True)   # the runner's side
    assert [r["job_id"] for r in taken][0] == first["runPluginTask"]
    stash.start_job(taken[0]["job_id"])
    assert statuses() == [("Running plugin task: Process queue", "RUNNING"),
                          ("Running plugin task: Status", "READY")]
    stash.end_job(taken[0]["job_id"])                               # finished jobs leave the queue
    assert statuses() == [("Running plugin task: Status", "READY")]
    [job] = data(stash, queries.JOB_QUEUE)["jobQueue"]
    assert job["addTime"] and job["id"] == taken[1]["job_id"]
    # A test taking the requests itself takes their jobs out of the queue.
    data(stash, 'mutation { runPluginTask(plugin_id: "plexsync", task_name: "Status") }')
    stash.take_plugin_task_requests()
    assert statuses() == [("Running plugin task: Status", "READY")]


def test_version_and_system_status(stash):
    result = data(stash, "{ version { version hash build_time } systemStatus { status appSchema os } }")
    assert result["version"]["version"].startswith("v0.30")
    assert result["systemStatus"]["status"] == "OK"


# ---- authentication -----------------------------------------------------------------------

def test_cookie_and_api_key_authenticate_and_nothing_is_refused(stash):
    stash.add_scene(title="a")
    refused = post(stash, PLUGIN_CONFIG, apikey=False)
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == "FormBased"
    cookie = {"session": stash.new_session()}
    assert data(stash, PLUGIN_CONFIG, apikey=False, cookies=cookie)["configuration"]["general"]["apiKey"]
    assert data(stash, PLUGIN_CONFIG)
    by_param = requests.post(f"{stash.graphql_url}?apikey={stash.api_key}", json={"query": PLUGIN_CONFIG})
    assert by_param.status_code == 200
    wrong_key = post(stash, PLUGIN_CONFIG, apikey=False, headers={"ApiKey": "nope"}, cookies=cookie)
    assert wrong_key.status_code == 401  # a wrong key is refused even beside a valid cookie
    assert [q["auth"] for q in stash.queries] == [None, "cookie", "apikey", "apikey", None]
    assert [q["status"] for q in stash.queries] == [401, 200, 200, 200, 401]


def test_expired_sessions_get_401_but_the_api_key_still_works(stash):
    cookie = {"session": stash.new_session()}
    assert post(stash, PLUGIN_CONFIG, apikey=False, cookies=cookie).status_code == 200
    stash.expire_sessions()
    assert post(stash, PLUGIN_CONFIG, apikey=False, cookies=cookie).status_code == 401
    assert post(stash, PLUGIN_CONFIG, apikey=True, cookies=cookie).status_code == 200


def test_auth_can_be_switched_off(stash):
    stash.auth_required = False
    assert post(stash, PLUGIN_CONFIG, apikey=False).status_code == 200
    assert stash.queries[-1]["auth"] is None


def test_reset_queries(stash):
    data(stash, PLUGIN_CONFIG)
    stash.reset_queries()
    assert stash.queries == []


# ---- media -----------------------------------------------------------------------------------

def test_screenshot_is_a_real_jpeg_that_changes_with_the_cover(stash):
    stash.clock = lambda: T0
    sid, other = stash.add_scene(title="a"), stash.add_scene(title="b")
    url = data(stash, FIND_SCENE, {"id": sid})["findScene"]["paths"]["screenshot"]
    headers = {"ApiKey": stash.api_key}
    first = requests.get(url, headers=headers)
    assert first.status_code == 200 and first.headers["Content-Type"] == "image/jpeg"
    assert first.content[:2] == b"\xff\xd8" and first.content[-2:] == b"\xff\xd9"
    assert jpeg_size(first.content) == (160, 90)
    assert requests.get(f"{stash.url}/scene/{other}/screenshot", headers=headers).content != first.content
    assert requests.get(url, headers=headers).content == first.content  # stable until changed

    stash.clock = lambda: T0 + timedelta(minutes=1)
    stash.set_cover(sid)
    new_url = data(stash, FIND_SCENE, {"id": sid})["findScene"]["paths"]["screenshot"]
    assert new_url != url and new_url.endswith(f"?t={int((T0 + timedelta(minutes=1)).timestamp())}")
    second = requests.get(new_url, headers=headers).content
    assert second != first.content and jpeg_size(second) == (160, 90)
    assert stash.scene(sid)["cover_version"] == 1

    stash.set_cover(sid, b"\xff\xd8custom\xff\xd9")
    assert requests.get(new_url, headers=headers).content == b"\xff\xd8custom\xff\xd9"


def test_media_needs_auth_like_stash(stash):
    sid = stash.add_scene(title="a")
    anonymous = requests.get(f"{stash.url}/scene/{sid}/screenshot?t=1", allow_redirects=False)
    assert anonymous.status_code == 302
    assert anonymous.headers["Location"] == "/login?returnURL=%2Fscene%2F1%2Fscreenshot%3Ft%3D1"
    followed = requests.get(f"{stash.url}/scene/{sid}/screenshot")
    assert followed.status_code == 200 and followed.headers["Content-Type"].startswith("text/html")
    cookie = {"session": stash.new_session()}
    assert requests.get(f"{stash.url}/scene/{sid}/screenshot", cookies=cookie).status_code == 200
    assert requests.get(f"{stash.url}/scene/999/screenshot", cookies=cookie).status_code == 404


def test_preview_and_stream_are_mp4_not_images(stash):
    sid = stash.add_scene(title="a")
    paths = data(stash, f'{{ findScene(id: "{sid}") {{ paths {{ preview stream }} }} }}')["findScene"]["paths"]
    assert paths["preview"] == f"{stash.url}/scene/{sid}/preview"
    assert paths["stream"] == f"{stash.url}/scene/{sid}/stream?apikey={stash.api_key}"
    preview = requests.get(paths["preview"], headers={"ApiKey": stash.api_key})
    assert preview.headers["Content-Type"] == "video/mp4" and preview.content[4:8] == b"ftyp"


# ---- HTTP behaviour ----------------------------------------------------------------------------

def test_bad_requests_get_gqlgen_statuses(stash):
    invalid = post(stash, "{ findScene(id: 1) { nope } }")
    assert invalid.status_code == 422
    assert invalid.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert post(stash, "{ findScene(").status_code == 422
    not_json = requests.post(stash.graphql_url, data=b"{", headers={"ApiKey": stash.api_key})
    assert not_json.status_code == 400


def test_set_down_refuses_connections_then_comes_back_on_the_same_port(stash):
    session = requests.Session()
    session.headers["ApiKey"] = stash.api_key
    port = stash.port
    assert session.post(stash.graphql_url, json={"query": PLUGIN_CONFIG}).status_code == 200
    stash.set_down(True)
    with pytest.raises(requests.ConnectionError):
        session.post(stash.graphql_url, json={"query": PLUGIN_CONFIG}, timeout=5)
    stash.set_down(False)
    assert stash.port == port
    assert session.post(stash.graphql_url, json={"query": PLUGIN_CONFIG}).status_code == 200


def test_concurrent_requests(stash):
    tag = stash.add_tag("t")
    ids = stash.add_scenes({"title": f"s{n}"} for n in range(50))

    def work(sid: str) -> str:
        data(stash, SCENE_UPDATE, {"input": {"id": sid, "tag_ids": [tag]}})
        return data(stash, FIND_SCENE, {"id": sid})["findScene"]["tags"][0]["name"]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert list(pool.map(work, ids)) == ["t"] * 50


# ---- scale -------------------------------------------------------------------------------------

def test_100k_scenes_add_and_page(stash):
    studio, tag = stash.add_studio("Big"), stash.add_tag("bulk")
    started = time.perf_counter()
    ids = stash.add_scenes(
        {"title": f"Scene {n}", "files": [f"/big/{n:06d}.mp4"], "studio_id": studio, "tag_ids": [tag]}
        for n in range(100_000)
    )
    add_seconds = time.perf_counter() - started
    assert len(ids) == 100_000

    session = requests.Session()
    session.headers["ApiKey"] = stash.api_key
    page_query = ("query($page: Int!) { findScenes(filter: {page: $page, per_page: 1000, sort: \"updated_at\", "
                  "direction: ASC}) { count scenes { id updated_at } } }")
    started = time.perf_counter()
    seen: list[str] = []
    page = 1
    while True:
        result = session.post(stash.graphql_url, json={"query": page_query, "variables": {"page": page}})
        scenes = result.json()["data"]["findScenes"]["scenes"]
        seen += [s["id"] for s in scenes]
        if len(scenes) < 1000:
            break
        page += 1
    listing_seconds = time.perf_counter() - started
    assert len(seen) == 100_000 and len(set(seen)) == 100_000

    full_query = FIND_SCENE.replace("query FindScene($id: ID!) { findScene(id: $id)",
                                    "query Page { findScenes(filter: {page: 7, per_page: 1000, "
                                    "sort: \"updated_at\"}) { scenes") + " }"
    started = time.perf_counter()
    full = session.post(stash.graphql_url, json={"query": full_query}).json()["data"]["findScenes"]["scenes"]
    full_page_seconds = time.perf_counter() - started
    assert len(full) == 1000 and full[0]["studio"]["name"] == "Big"

    stash.clock = lambda: datetime.now(timezone.utc) + timedelta(minutes=5)
    for sid in ids[:10]:
        stash.update_scene(sid, details="changed")
    since = {"updated_at": {"value": stash.scene(ids[-1])["updated_at"], "modifier": "GREATER_THAN"}}
    started = time.perf_counter()
    changed = data(stash, FIND_SCENES, {"filter": {"per_page": 1000, "sort": "updated_at"},
                                        "scene_filter": since})["findScenes"]
    incremental_seconds = time.perf_counter() - started
    assert changed["count"] == 10

    print(f"\n100k scenes: add {add_seconds:.2f}s; 100 pages of 1000 (id, updated_at) {listing_seconds:.2f}s; "
          f"one full FindScene-shaped page {full_page_seconds:.3f}s; incremental filter {incremental_seconds:.3f}s")


def test_startup_is_quick():
    started = time.perf_counter()
    with StashServer() as server:
        assert requests.get(f"{server.url}/login").status_code == 200
    print(f"\nstart + first request + stop: {time.perf_counter() - started:.3f}s")


# ---- conformance (keep these last: they check what the tests above sent) ------------------------

requires_real_schema = pytest.mark.skipif(
    schema_check.real_schema_dir() is None,
    reason=f"Stash's schema is absent ({schema_check.DEFAULT_REAL_SCHEMA_DIR.resolve()}); "
           "conformance against real Stash cannot be checked",
)


@requires_real_schema
def test_our_subset_schema_matches_stashs():
    assert schema_check.subset_incompatibilities() == []


@requires_real_schema
def test_the_subset_check_notices_differences():
    bad = build_schema("""
        type Scene { id: ID! title: String! made_up: Int }
        input FindFilterType { page: Int }
        type Query { findScene(id: ID!): Scene findScenes(filter: FindFilterType): Scene }
    """)
    problems = schema_check.subset_incompatibilities(subset=bad)
    assert "field Scene.title: type String!, Stash has String" in problems
    assert "field Scene.made_up: not in Stash's schema" in problems
    assert "argument Query.findScene(id): type ID!, Stash has ID" in problems
    assert any(p.startswith("field Query.findScenes: type Scene") for p in problems)


@requires_real_schema
def test_real_schema_validation_reports_errors():
    assert schema_check.validate_against_real_schema(FIND_SCENE) == []
    assert schema_check.validate_against_real_schema("{ findScene(id: 1) { nope } }")
    assert schema_check.validate_against_real_schema("{ findScene(")[0].startswith("syntax error")
    deprecated = "{ findScenes(scene_ids: [1]) { count } }"
    assert schema_check.validate_against_real_schema(deprecated) == []
    assert schema_check.validate_against_real_schema(deprecated, allow_deprecated=False)


@requires_real_schema
def test_every_query_sent_in_this_module_is_valid_for_real_stash_and_our_subset():
    if not CAPTURED:
        pytest.skip("no queries captured: run the whole module")
    assert len(CAPTURED) > 50
    for query in dict.fromkeys(CAPTURED):
        assert schema_check.validate_against_real_schema(query) == [], query
        assert schema_check.validate_against_subset_schema(query) == [], query


def test_path_filter_finds_scenes_by_any_file_and_the_query_is_valid(stash):
    """StashClient.scenes_with_file: Stash's ``path`` criterion (EQUALS ignores ASCII case,
    as Stash's SQL LIKE does); the document is checked against Stash's real schema."""
    from stash.client import StashClient, StashConnection
    from stash.queries import SCENES_WITH_FILE

    one = stash.add_scene(files=["/v/A/x.mp4", "/v/B/y.mp4"])
    stash.add_scene(files=["/v/C/x.mp4"])
    client = StashClient(StashConnection(host=stash.host, port=stash.port, api_key=stash.api_key), timeout=5.0)
    assert [s["id"] for s in client.scenes_with_file("/v/B/y.mp4")] == [str(one)]
    assert [s["id"] for s in client.scenes_with_file("/V/b/Y.mp4")] == [str(one)]
    assert client.scenes_with_file("/v/x.mp4") == []
    assert schema_check.validate_against_subset_schema(SCENES_WITH_FILE) == []
    if schema_check.real_schema_dir() is not None:
        assert schema_check.validate_against_real_schema(SCENES_WITH_FILE, allow_deprecated=False) == []
