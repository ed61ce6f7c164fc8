"""validation/stash_input.py (pydantic) and validation/hook_input.py (stdlib): the same rules.

The hook validates stdin with the standard library for speed; tasks use pydantic.
Hypothesis generates Stash stdin documents — valid, and subtly invalid — and both
validators must accept and reject the same ones and agree on the scene id.
"""

import json
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from validation.hook_input import load_document, parse_hook_call
from validation.stash_input import parse_plugin_input, validate_plugin_input
from validation.stash_input_errors import InputError

class _Missing:
    """A field left out of the document (a stable repr: test ids must match across xdist workers)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()

VALID = {
    "server_connection": {
        "Scheme": "http", "Host": "0.0.0.0", "Port": 9999,
        "SessionCookie": {"Name": "session", "Value": "MTc2abc", "Path": "", "MaxAge": 0, "Secure": False},
        "Dir": "/root/.stash", "PluginDir": "/root/.stash/plugins/plexsync",
    },
    "args": {
        "mode": "hook",
        "hookContext": {"id": 45, "type": "Scene.Update.Post",
                        "input": {"id": "45", "title": "New title", "tag_ids": ["21"], "details": None},
                        "inputFields": ["id", "title", "tag_ids"]},
    },
}


def verdicts(document: dict[str, Any]) -> tuple[Any, Any]:
    """``(hook_result, pydantic_result)``: the scene id, or ``"rejected"``.

    Only :class:`InputError` counts as a rejection; any other exception fails the test.
    """
    try:
        hook = parse_hook_call(document).scene_id
    except InputError:
        hook = "rejected"
    try:
        parsed = validate_plugin_input(document)
    except InputError:
        full = "rejected"
    else:
        # A hook run needs a hook context; without one the task path would not be a hook.
        full = parsed.args.hookContext.id if parsed.args.hookContext is not None else "rejected"
    return hook, full


def with_value(base: dict, path: tuple[str, ...], value: Any) -> dict:
    doc = json.loads(json.dumps(base))
    target = doc
    for key in path[:-1]:
        target = target[key]
    if value is MISSING:
        target.pop(path[-1], None)
    else:
        target[path[-1]] = value
    return doc


# -- examples first: each rule, both validators ------------------------------------------------------------------

def test_the_valid_document():
    assert verdicts(VALID) == (45, 45)
    call = parse_hook_call(VALID)
    assert call.hook_type == "Scene.Update.Post"
    assert call.input_fields == ("id", "title", "tag_ids")
    assert call.stash_dir == "/root/.stash"
    plugin_input = validate_plugin_input(VALID)
    assert plugin_input.mode == "hook"
    assert plugin_input.server_connection.Port == 9999


@pytest.mark.parametrize("value, expected", [
    (45, 45), ("45", 45), (" 45 ", 45), ("0045", 45), (45.0, 45), (2**62, 2**62),
    (0, "rejected"), (-3, "rejected"), ("-3", "rejected"), ("+45", "rejected"), ("4.5", "rejected"),
    (4.5, "rejected"), ("45.0", "rejected"), ("abc", "rejected"), ("", "rejected"), (True, "rejected"),
    (False, "rejected"), (None, "rejected"), (MISSING, "rejected"), ([45], "rejected"), ({"id": 45}, "rejected"),
    ("٣", "rejected"), ("²", "rejected"), ("4_5", "rejected"), (1e300, "rejected"), (2**64, "rejected"),
    (float("nan"), "rejected"), (float("inf"), "rejected"),
], ids=repr)
def test_scene_id_rules(value, expected):
    doc = with_value(VALID, ("args", "hookContext", "id"), value)
    assert verdicts(doc) == (expected, expected)


@pytest.mark.parametrize("value, accepted", [
    (9999, True), ("9999", True), (9999.0, True), (1, True), (65535, True),
    (0, False), (65536, False), (-1, False), (9999.5, False), (True, False), ("+9999", False),
    ("٩٩", False), ("²", False), ("port", False), (None, False), (MISSING, False),
], ids=repr)
def test_port_rules(value, accepted):
    doc = with_value(VALID, ("server_connection", "Port"), value)
    expected = 45 if accepted else "rejected"
    assert verdicts(doc) == (expected, expected)


@pytest.mark.parametrize("value, accepted", [
    (["title"], True), ([], True), (None, True), (MISSING, True),
    ("title", False), ([1], False), (["title", None], False), ({"title": 1}, False),
], ids=repr)
def test_input_fields_rules(value, accepted):
    doc = with_value(VALID, ("args", "hookContext", "inputFields"), value)
    expected = 45 if accepted else "rejected"
    assert verdicts(doc) == (expected, expected)


@pytest.mark.parametrize("path, value, accepted", [
    (("server_connection", "Host"), 5, False),
    (("server_connection", "Host"), None, False),
    (("server_connection", "Host"), MISSING, True),
    (("server_connection", "Scheme"), ["http"], False),
    (("server_connection", "Dir"), None, True),
    (("server_connection", "Dir"), 7, False),
    (("server_connection", "PluginDir"), False, False),
    (("server_connection", "SessionCookie"), None, True),
    (("server_connection", "SessionCookie"), "session=abc", False),
    (("server_connection", "SessionCookie"), {"Name": 5}, False),
    (("server_connection",), [], False),
    (("server_connection",), None, False),
    (("args",), None, False),
    (("args",), [], False),
    (("args", "hookContext"), None, False),
    (("args", "hookContext"), "45", False),
    (("args", "hookContext", "type"), MISSING, False),
    (("args", "hookContext", "type"), 3, False),
    (("args", "hookContext", "input"), None, True),
    (("args", "mode"), MISSING, True),
], ids=repr)
def test_other_field_rules(path, value, accepted):
    doc = with_value(VALID, path, value)
    expected = 45 if accepted else "rejected"
    assert verdicts(doc) == (expected, expected)


@pytest.mark.parametrize("raw, reason", [
    (b"", "no input"), (b"  \n", "no input"), (b"{not json", "not JSON"), (b"[1, 2]", "JSON object"),
    (b'"text"', "JSON object"), (b'{"args": {}}', "server_connection"),
])
def test_load_document_rejections(raw, reason):
    with pytest.raises(InputError) as info:
        load_document(raw)
    assert reason in str(info.value)
    with pytest.raises(InputError):
        parse_plugin_input(raw)


def test_errors_name_the_field():
    with pytest.raises(InputError) as info:
        validate_plugin_input(with_value(VALID, ("server_connection", "Port"), "port"))
    assert "server_connection.Port" in str(info.value)
    with pytest.raises(InputError) as info:
        parse_hook_call(with_value(VALID, ("args", "hookContext", "id"), "abc"))
    assert "args.hookContext.id" in str(info.value)


def test_task_document_mode():
    task = {"server_connection": {"Port": 9999}, "args": {"mode": "status"}}
    assert validate_plugin_input(task).mode == "status"
    assert validate_plugin_input({"server_connection": {"Port": 9999}}).mode == ""
    no_mode = with_value(VALID, ("args", "mode"), MISSING)
    assert validate_plugin_input(no_mode).mode == "hook"


# -- the property ---------------------------------------------------------------------------------------------------

def _maybe(strategy):
    """The value, or the key left out."""
    return st.one_of(st.just(MISSING), strategy)


_numbers = st.one_of(
    st.integers(min_value=-5, max_value=70_000),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-10, max_value=70_000).map(float),
    st.integers(min_value=-5, max_value=70_000).map(float),
    st.booleans(),
    st.none(),
)
_number_texts = st.one_of(
    st.integers(min_value=-5, max_value=70_000).map(str),
    st.integers(min_value=0, max_value=70_000).map(lambda n: f" {n} "),
    st.integers(min_value=0, max_value=999).map(lambda n: f"+{n}"),
    st.integers(min_value=0, max_value=999).map(lambda n: f"{n}.0"),
    st.text(alphabet="0123456789٣²_-+. \t", max_size=6),
    st.sampled_from(["٣", "²", "٤٥", "+45", "4_5", " 45 ", "45.0", "-0", "0x2d", "1e3", "\u200945"]),
    st.text(max_size=5),
)
_ids = st.one_of(_numbers, _number_texts, st.lists(st.integers(), max_size=1), st.just({}))
_texts_or_junk = st.one_of(st.text(max_size=10), st.none(), st.integers(), st.booleans(),
                           st.lists(st.text(max_size=3), max_size=1))

_cookies = st.one_of(
    st.none(), st.text(max_size=5), st.integers(),
    st.fixed_dictionaries({}, optional={"Name": _texts_or_junk, "Value": _texts_or_junk,
                                        "MaxAge": st.integers(), "Path": st.text(max_size=3)}),
)

_server_connections = st.one_of(
    st.fixed_dictionaries({}, optional={
        "Scheme": st.one_of(st.sampled_from(["http", "https"]), _texts_or_junk),
        "Host": st.one_of(st.sampled_from(["0.0.0.0", "127.0.0.1", "localhost"]), _texts_or_junk),
        "Port": st.one_of(st.just(9999), _numbers, _number_texts),
        "SessionCookie": _cookies,
        "Dir": st.one_of(st.just("/root/.stash"), _texts_or_junk),
        "PluginDir": st.one_of(st.just("/root/.stash/plugins/plexsync"), _texts_or_junk),
        "Extra": _texts_or_junk,
    }),
    st.none(), st.lists(st.integers(), max_size=2), st.text(max_size=5),
)

_input_fields = st.one_of(
    st.none(),
    st.lists(st.sampled_from(["id", "title", "tag_ids", "play_count", "details"]), max_size=4),
    st.lists(_texts_or_junk, max_size=3),
    st.text(max_size=5), st.integers(), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)

_hook_contexts = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "id": st.one_of(st.integers(min_value=1, max_value=10**6), _ids),
            "type": st.one_of(st.sampled_from(["Scene.Update.Post", "Scene.Create.Post"]), _texts_or_junk),
            "input": st.one_of(st.none(), st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3)),
            "inputFields": _input_fields,
            "extra": _texts_or_junk,
        },
    ),
    st.none(), st.text(max_size=3), st.integers(),
)

_args = st.one_of(
    st.fixed_dictionaries({"hookContext": _hook_contexts}, optional={"mode": st.one_of(st.just("hook"), st.none())}),
    st.fixed_dictionaries({"mode": st.just("hook")}, optional={"hookContext": _hook_contexts, "other": st.text()}),
    st.none(), st.lists(st.integers(), max_size=1),
)

_wild_documents = st.fixed_dictionaries({"server_connection": _server_connections},
                                        optional={"args": _args, "extra": _texts_or_junk})

# Subtly invalid: the valid document with one to three fields changed or left out.
_FIELD_VALUES = {
    ("server_connection", "Port"): st.one_of(_numbers, _number_texts),
    ("server_connection", "Scheme"): _texts_or_junk,
    ("server_connection", "Host"): _texts_or_junk,
    ("server_connection", "Dir"): _texts_or_junk,
    ("server_connection", "PluginDir"): _texts_or_junk,
    ("server_connection", "SessionCookie"): _cookies,
    ("server_connection",): st.one_of(st.none(), st.text(max_size=3), st.lists(st.integers(), max_size=1)),
    ("args",): st.one_of(st.none(), st.lists(st.integers(), max_size=1), st.just({})),
    ("args", "mode"): st.one_of(st.just("hook"), st.none()),
    ("args", "hookContext"): _hook_contexts,
    ("args", "hookContext", "id"): _ids,
    ("args", "hookContext", "type"): _texts_or_junk,
    ("args", "hookContext", "inputFields"): _input_fields,
    ("args", "hookContext", "input"): st.one_of(st.none(), st.text(max_size=3), st.integers()),
}


@st.composite
def _near_valid_documents(draw):
    doc = json.loads(json.dumps(VALID))
    paths = draw(st.lists(st.sampled_from(sorted(_FIELD_VALUES)), min_size=1, max_size=3, unique=True))
    for path in sorted(paths, key=len):
        target = doc
        for key in path[:-1]:
            if not isinstance(target.get(key), dict):
                break
            target = target[key]
        else:
            if draw(st.booleans()) and len(path) > 1:
                target.pop(path[-1], None)
            else:
                target[path[-1]] = draw(_FIELD_VALUES[path])
    return doc


_documents = st.one_of(_near_valid_documents(), _wild_documents)


@given(_documents)
@settings(max_examples=800, deadline=None)
@example(VALID)
def test_property_both_validators_agree(document):
    raw = json.dumps(document)  # what Stash writes; NaN/Infinity tokens included
    loaded = load_document(raw)
    hook, full = verdicts(loaded)
    assert hook == full, f"hook_input says {hook!r}, stash_input says {full!r}"
    if hook != "rejected":
        assert isinstance(hook, int) and not isinstance(hook, bool) and 0 < hook < 2**63


@given(st.one_of(_ids, st.integers(min_value=2**62, max_value=2**64), st.integers(min_value=1)))
@settings(max_examples=400)
def test_property_scene_id_rule_agrees(value):
    hook, full = verdicts(load_document(json.dumps(with_value(VALID, ("args", "hookContext", "id"), value))))
    assert hook == full


@given(st.one_of(_numbers, _number_texts, st.integers(min_value=60_000, max_value=70_000)))
@settings(max_examples=400)
def test_property_port_rule_agrees(value):
    hook, full = verdicts(load_document(json.dumps(with_value(VALID, ("server_connection", "Port"), value))))
    assert hook == full


@given(st.binary(max_size=60) | st.text(max_size=60).map(str.encode))
def test_property_arbitrary_stdin_only_ever_raises_input_error(raw):
    try:
        document = load_document(raw)
    except InputError:
        return
    try:
        parse_hook_call(document)
    except InputError:
        pass
    try:
        validate_plugin_input(document)
    except InputError:
        pass
