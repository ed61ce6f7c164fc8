"""shared/jsonlite.py: json.loads/json.dumps results and errors, without importing json;
and the hook's path, which it serves, importing none of the heavy standard modules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shared.jsonlite import dumps_simple, loads

GOOD = ['{"a": [1, 2.5, -3e2, true, false, null, "x\\u00e9\\n"]}', " [1] \n", '"\\ud800"', "NaN", "[Infinity, -Infinity]",
        '{"a": 1, "a": 2}', "0", '{"nested": {"deep": [[[[]]]]}}', b'{"k": "\xc3\xa9 \xf0\x9f\x8e\xac"}', "\t{}\r\n", b"\xef\xbb\xbf{}"]
BAD = ["", " ", "{", "[1] x", b"\xff{}", "\ufeff{}", '{"a" 1}', "[1,]", "{'a': 1}", "\u3000{}",
       "[" * 200_000 + "]" * 200_000]


@pytest.mark.parametrize("text", GOOD)
def test_the_same_values_as_json(text: str | bytes) -> None:
    assert repr(loads(text)) == repr(json.loads(text))


def _outcome(fn: Any, text: str | bytes) -> tuple[type, str]:
    try:
        fn(text)
    except BaseException as exc:  # noqa: BLE001 - comparing what each raises
        return type(exc), str(exc)
    raise AssertionError(f"{text[:20]!r} parsed")


@pytest.mark.parametrize("text", BAD, ids=lambda t: repr(t[:12]))
def test_the_same_errors_as_json(text: str | bytes) -> None:
    assert _outcome(loads, text) == _outcome(json.loads, text)


@pytest.mark.parametrize("value", [{"output": "queued", "error": None}, {"output": None, "error": 'a "b" \\ \n é 🎬 \x00'},
                                   {"output": {"x": 1}, "error": None}])
def test_the_hooks_answer_is_what_json_dumps_writes(value: dict[str, Any]) -> None:
    assert dumps_simple(value) == json.dumps(value, ensure_ascii=False)


# sqlite3 (the package, not the C module the hook uses) brings datetime: ~4 ms.
HEAVY = ("json", "re", "enum", "socket", "pickle", "typing", "dataclasses", "stash.client", "sqlite3", "datetime",
         "_pickle", "copyreg")
PROBE = """
import sys
heavy, sys.argv = sys.argv[1:], ["plexsync.py"]
import plexsync
plexsync.main()
sys.stderr.write("\\nLOADED " + ",".join(m for m in heavy if m in sys.modules) + "\\n")
"""


def test_a_steady_state_hook_imports_none_of_the_heavy_modules(run_python: Any, tmp_path: Path) -> None:
    from shared.datadir import default_data_dir, ensure_private_dir
    from shared.hook_settings import save_hook_settings
    from worker.queue import pending_jobs
    from worker.trigger import mark_drain_requested

    stash_dir = str(tmp_path / "stash")
    data_dir = ensure_private_dir(default_data_dir(stash_dir))
    save_hook_settings(stash_dir, {"plex_token": "x" * 20}, data_dir)
    mark_drain_requested(data_dir)     # a drain is pending: this hook of the burst asks Stash nothing
    document = {"server_connection": {"Scheme": "http", "Host": "127.0.0.1", "Port": 9, "Dir": stash_dir,
                                      "SessionCookie": {"Name": "session", "Value": "v"}},
                "args": {"mode": "hook", "hookContext": {"id": 5, "type": "Scene.Update.Post",
                                                         "input": {"title": "t"}, "inputFields": ["id", "title"]}}}
    run = run_python(PROBE, *HEAVY, input=json.dumps(document).encode())
    assert json.loads(run.stdout) == {"output": "queued", "error": None}, run.stderr
    assert [j["scene_id"] for j in pending_jobs(data_dir)] == [5]
    loaded = run.stderr.decode().rsplit("LOADED ", 1)[1].strip()
    assert loaded == "", f"the hook imported {loaded}"
