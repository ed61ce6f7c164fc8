"""At least 100 malformed inputs, on stdin and in the settings: each gets one clear error
in ``error``, stdout exactly one plugin JSON, a non-zero exit (so Stash shows the error),
no traceback, and the queue untouched (the jobs queued before are all still there).

Stdin: a hand-picked list (not JSON, wrong types, deep nesting, huge strings, no
server_connection, unknown modes, hook types this plugin does not handle, bad scene ids)
plus documents generated with hypothesis from a valid hook input by breaking one field.
Settings: every setting of plexsync.yml with a value of the wrong type, plus wrong values,
each tried with *Process queue*; the error must name the setting as Stash shows it.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.reliability.conftest import tally
from tests.reliability.support import assert_plugin_answer, enqueue_scenes, finish, make_box, spawn

pytestmark = pytest.mark.slow

QUEUED = 3


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    box = make_box(tmp_path_factory.mktemp("malformed"), 10)
    enqueue_scenes(box, box.world.scenes[:QUEUED])
    yield box
    box.close()


def queue_snapshot(box) -> list[tuple]:
    return sorted((j["scene_id"], j.get("enqueued_at")) for j in box.pending())


def valid_hook(box, **context) -> dict:
    ctx = {"id": int(box.world.scenes[5].stash_id), "type": "Scene.Update.Post",
           "input": {"id": box.world.scenes[5].stash_id, "title": "x"}, "inputFields": ["id", "title"]}
    ctx.update(context)
    return {"server_connection": box.runner.server_connection(),
            "args": {"mode": "hook", "hookContext": ctx}}


def check_rejected(box, stdin: str | bytes, label: str) -> None:
    """Run the plugin on ``stdin`` as a hook; it must refuse it cleanly and keep the queue."""
    before = queue_snapshot(box)
    result = finish(spawn(box.runner, None, stdin, hook=True), label, timeout=60)
    ok = False
    try:
        assert_plugin_answer(result)
        assert result.error, f"{label}: accepted ({result.output!r})"
        assert result.exit_code != 0, f"{label}: exit 0"
        assert queue_snapshot(box) == before, f"{label}: the queue changed"
        ok = True
    finally:
        tally("malformed", tried=1, survived=int(ok), lost=len(set(before) - set(queue_snapshot(box))),
              failed=None if ok else label)


def hand_picked(box) -> list[tuple[str, str]]:
    good = valid_hook(box)
    conn = good["server_connection"]
    ctx = good["args"]["hookContext"]

    def doc(**top) -> str:
        return json.dumps({**good, **top})

    def hook(**changes) -> str:
        return json.dumps({"server_connection": conn, "args": {"mode": "hook", "hookContext": {**ctx, **changes}}})

    cases = [
        ("empty stdin", ""), ("whitespace", "  \n "), ("not JSON", "not json"), ("cut JSON", doc()[:40]),
        ("null", "null"), ("a list", "[]"), ("a number", "123"), ("a string", '"hello"'), ("true", "true"),
        ("NaN", '{"server_connection": NaN}'), ("invalid UTF-8", b"\xff\xfe{}"),
        ("deep list nesting", "[" * 200_000 + "]" * 200_000),
        ("deep object nesting", '{"a":' * 100_000 + "1" + "}" * 100_000),
        ("deep nesting in args", json.dumps({"server_connection": conn})[:-1] + ', "args": '
         + '{"a":' * 100_000 + "1" + "}" * 100_000 + "}"),
        ("huge unknown mode", doc(args={"mode": "m" * 5_000_000})),
        ("no server_connection", json.dumps({"args": good["args"]})),
        ("server_connection null", doc(server_connection=None)),
        ("server_connection a string", doc(server_connection="http://localhost:9999")),
        ("server_connection a list", doc(server_connection=[conn])),
        ("args a list", doc(args=[1, 2])), ("args a string", doc(args="hook")), ("args null + no hook", doc(args=None)),
        ("unknown mode", doc(args={"mode": "explode"})), ("mode a number", doc(args={"mode": 7})),
        ("mode a list", doc(args={"mode": ["hook"]})),
        ("hookContext a list", doc(args={"mode": "hook", "hookContext": [ctx]})),
        ("hookContext a string", doc(args={"mode": "hook", "hookContext": "Scene.Update.Post"})),
        ("hook type Performer", hook(type="Performer.Update.Post", id=1)),
        ("hook type Gallery", hook(type="Gallery.Update.Post")),
        ("hook type Scene.Destroy", hook(type="Scene.Destroy.Post")),
        ("hook type unknown", hook(type="Scene.Explode.Post")), ("hook type empty", hook(type="")),
        ("hook type a number", hook(type=5)), ("hook type null", hook(type=None)),
        ("scene id text", hook(id="abc")), ("scene id negative", hook(id=-4)), ("scene id zero", hook(id=0)),
        ("scene id fraction", hook(id=1.5)), ("scene id bool", hook(id=True)), ("scene id null", hook(id=None)),
        ("scene id huge", hook(id=10 ** 30)), ("scene id a list", hook(id=[1])),
        ("hook without id", json.dumps({"server_connection": conn, "args": {"mode": "hook", "hookContext": {
            k: v for k, v in ctx.items() if k != "id"}}})),
    ]
    return cases


def test_hand_picked_stdin_is_refused_cleanly(box):
    cases = hand_picked(box)
    with ThreadPoolExecutor(max_workers=3) as pool:
        outcomes = list(pool.map(lambda c: _try(box, *c), cases))
    failed = [o for o in outcomes if o]
    assert not failed, "\n".join(failed)


def _try(box, label: str, stdin: str | bytes) -> str:
    try:
        check_rejected(box, stdin, label)
        return ""
    except AssertionError as exc:
        return f"{label}: {str(exc).splitlines()[0][:200]}"


#: One field of a valid hook input broken: (where, a value that is surely wrong there).
_not_int = st.one_of(st.text(alphabet="abcxyz -_.!", max_size=20), st.floats(allow_nan=True).filter(
    lambda f: f != int(f) if f == f and abs(f) != float("inf") else True), st.none(), st.booleans(),
    st.lists(st.integers(), max_size=3), st.integers(max_value=0))
_broken = st.one_of(
    st.tuples(st.just("id"), _not_int),
    st.tuples(st.just("type"), st.one_of(st.text(max_size=40).filter(
        lambda t: t not in ("Scene.Update.Post", "Scene.Create.Post")), st.integers(), st.none())),
    # An empty mode beside a hookContext is read as the hook it is (Stash always sends one).
    st.tuples(st.just("mode"), st.text(min_size=1, max_size=30).filter(lambda t: t != "hook")),
    st.tuples(st.just("hookContext"), st.one_of(st.text(max_size=10), st.integers(), st.lists(st.none(), max_size=2))),
    st.tuples(st.just("server_connection"), st.one_of(st.text(max_size=10), st.integers(), st.none(),
                                                      st.lists(st.integers(), max_size=2))),
)


def test_generated_broken_hook_inputs_are_refused_cleanly(box):
    failed: list[str] = []

    @settings(max_examples=50, derandomize=True, deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(_broken)
    def one(broken):
        where, value = broken
        doc = valid_hook(box)
        if where in ("id", "type"):
            doc["args"]["hookContext"][where] = value
        elif where in ("mode", "hookContext"):
            doc["args"][where] = value
        else:
            doc[where] = value
        # Every example is tried and tallied; the failures are reported together.
        failed.append(_try(box, f"{where}={value!r}"[:80], json.dumps(doc)))

    one()
    failed = [f for f in failed if f]
    assert not failed, f"{len(failed)} broken inputs not refused cleanly:\n" + "\n".join(failed)


def _bad_settings(box) -> list[tuple[str, object]]:
    # Not "yes"/"1"/"on": pydantic reads those as a tick, as a user would mean them.
    wrong_type = {"STRING": 12345, "BOOLEAN": "maybe", "NUMBER": "many"}
    cases = [(key, wrong_type[meta["type"]]) for key, meta in box.runner.config.settings.items()
             if key != "data_dir"]     # the sandbox sets PLEXSYNC_DATA_DIR, which wins over it
    cases += [("plex_url", "not a url"), ("plex_url", "ftp://127.0.0.1:1"), ("plex_url", "http://"),
              ("plex_url", ""), ("plex_token", ""), ("plex_token", "   "),
              ("path_mappings", "no arrow here"), ("path_mappings", "=> /only/target"),
              ("max_tags", -5), ("connect_timeout", 0), ("read_timeout", -1),
              ("max_retries", -1), ("not_found_max_retries", -3), ("dlq_retention_days", 0),
              ("dlq_retention_days", 1000), ("reconcile_interval", "sometimes"),
              ("ca_bundle", "/nonexistent/plex-ca.pem")]
    return cases


def test_every_bad_setting_stops_the_drain_naming_it(box):
    failed = []
    for key, value in _bad_settings(box):
        display = box.runner.config.settings[key]["displayName"]
        label = f"setting {key}={value!r}"
        good = box.settings[key] if key in box.settings else None
        before, dead = queue_snapshot(box), len(box.dead_letters())
        box.configure(**{key: value})
        ok = False
        try:
            result = box.runner.run_task("Process queue", {"linger": "0", "max_wait": "0"})
            assert_plugin_answer(result)
            assert result.error and display in result.error, \
                f"error does not name '{display}': {result.error!r} / {result.output!r}"
            assert queue_snapshot(box) == before, "the queue changed"
            ok = True
        except AssertionError as exc:
            failed.append(f"{label}: {str(exc).splitlines()[0][:160]}")
        finally:
            box.configure(**{key: good})
            # Lost: dead-lettered (jobs a wrongly accepted setting synced are not lost).
            tally("malformed", tried=1, survived=int(ok), lost=len(box.dead_letters()) - dead,
                  failed=None if ok else label)
            if queue_snapshot(box) != before:       # keep the next case's premise
                enqueue_scenes(box, box.world.scenes[:QUEUED])
    assert not failed, f"{len(failed)} bad settings not refused cleanly:\n" + "\n".join(failed)
