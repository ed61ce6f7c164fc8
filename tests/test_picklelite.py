"""shared.picklelite: the hook's pickles read back by pickle as equal values."""

import math
import pickle
import sys

import pytest

from shared.picklelite import dumps

VALUES = [
    None, True, False, 0, 1, 255, 256, -1, 2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 2**63 - 1, -(2**63), 10**300,
    -(10**300), 0.0, -0.0, 1.5, 1e-310, 1e300, 1 / 3, "", "title", 'a "b" \\ \n é 🎬 \x00', "\ud800 lone surrogate",
    [], {}, [1, "a", None, [2.5, {"x": [True]}]],
    {"kind": "push_scene", "scene_id": 5, "update_type": "Scene.Update.Post",
     "data": {"input_fields": ["id", "title"]}, "enqueued_at": 1733200000.123456, "job_key": "scene_5"},
    {1: "int key", "nested": {"deep": {"deeper": [{}]}}},
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: repr(v)[:30])
def test_reads_back_equal_and_of_the_same_types(value):
    data = dumps(value, 4)
    assert data[:2] == b"\x80\x04"
    back = pickle.loads(data)
    assert back == value and repr(back) == repr(value)   # repr: -0.0 and float/int kept apart


def test_special_floats():
    assert math.isnan(pickle.loads(dumps(float("nan"), 4)))
    assert pickle.loads(dumps([float("inf"), float("-inf")], 4)) == [float("inf"), float("-inf")]


@pytest.mark.parametrize("value", [(1, 2), {1, 2}, b"bytes", 10**1000, ValueError("x")],
                         ids=lambda v: type(v).__name__)
def test_anything_else_is_pickles_own(value):
    if isinstance(value, ValueError):
        assert type(pickle.loads(dumps(value, 4))) is ValueError
    else:
        assert dumps(value, 4) == pickle.dumps(value, protocol=4)
        assert pickle.loads(dumps(value, 4)) == value


def test_cycles_and_deep_nesting_go_to_pickle():
    cyclic: list = []
    cyclic.append(cyclic)
    back = pickle.loads(dumps(cyclic, 4))
    assert back[0] is back
    deep: list = []
    for _ in range(200):
        deep = [deep]
    assert pickle.loads(dumps(deep, 4)) == deep


def test_the_hook_job_without_the_pickle_module(run_python):
    code = ("import sys\nfrom shared.picklelite import dumps\nsys.stdout.buffer.write(dumps({'a': [1, 'b']}, 4))\n"
            "sys.stderr.write(','.join(m for m in ('_pickle', 'pickle', 'copyreg') if m in sys.modules))")
    run = run_python(code)
    assert pickle.loads(run.stdout) == {"a": [1, "b"]} and run.stderr == b"", run.stderr
