"""Fixtures of the reliability suite; its tally lives in ``tests/reliability/tally.py``."""

from __future__ import annotations

import pytest

from tests.reliability.tally import tally  # noqa: F401  (the families import it from here)


@pytest.fixture
def box_factory(tmp_path):
    """``box_factory(scenes, **settings)`` → a Box; every box is closed (and audited) after."""
    from tests.reliability.support import make_box

    boxes = []

    def _make(scenes: int, **kwargs):
        box = make_box(tmp_path / f"box{len(boxes)}", scenes, **kwargs)
        boxes.append(box)
        return box

    yield _make
    for box in boxes:
        box.close()


def pytest_collection_modifyitems(config, items):
    """The token audit runs last: it reads every plugin run the suite made before it
    (under xdist each module's ``xdist_group`` mark keeps the suite on one worker)."""
    audits = [item for item in items if item.name == "test_token_appears_nowhere"]
    items[:] = [item for item in items if item not in audits] + audits
