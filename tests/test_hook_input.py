"""validation/hook_input.py edge cases (finding 11): deep nesting, hook types."""

from __future__ import annotations

import pytest

from validation.hook_input import HOOK_TYPES, load_document, parse_hook_call
from validation.stash_input_errors import InputError

CONN = {"Scheme": "http", "Host": "127.0.0.1", "Port": 9999, "Dir": "/stash"}


def test_deeply_nested_stdin_is_an_input_error_not_a_recursion_error():
    raw = '{"server_connection": {}, "args": ' + "[" * 200_000 + "]" * 200_000 + "}"
    with pytest.raises(InputError, match="nested too deeply"):
        load_document(raw)


def test_a_number_too_long_to_convert_is_an_input_error_not_an_attribute_error():
    # Found by mypy: Python's int-digit limit makes json raise a plain ValueError (no .msg).
    raw = '{"server_connection": {}, "args": {"id": ' + "1" * 5000 + "}}"
    with pytest.raises(InputError, match="stdin is not JSON"):
        load_document(raw)


def test_the_accepted_hook_types_are_the_ones_plexsync_yml_declares():
    from sandbox.plugin_yml import load_plugin
    from tests.conftest import ROOT

    declared = {t for hook in load_plugin(ROOT / "plexsync.yml").hooks for t in hook.triggered_by}
    assert set(HOOK_TYPES) == declared


@pytest.mark.parametrize("hook_type", ["Performer.Update.Post", "Scene.Destroy.Post", "Tag.Create.Post",
                                       "scene.update.post", ""])
def test_other_hook_types_are_refused(hook_type):
    doc = {"server_connection": CONN, "args": {"hookContext": {"id": 1, "type": hook_type}}}
    with pytest.raises(InputError, match="Scene.Update.Post"):
        parse_hook_call(doc)


@pytest.mark.parametrize("hook_type", ["Scene.Create.Post", "Scene.Update.Post"])
def test_scene_hooks_are_accepted(hook_type):
    doc = {"server_connection": CONN, "args": {"hookContext": {"id": 1, "type": hook_type}}}
    assert parse_hook_call(doc).hook_type == hook_type
