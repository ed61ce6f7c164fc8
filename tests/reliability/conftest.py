"""Fixtures of the reliability suite; its tally lives in ``tests/reliability/tally.py``."""

from __future__ import annotations

from pathlib import Path

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


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the group marks
def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (``make test``), the whole suite runs on one worker, and the
    token audit runs last there: it reads every plugin run the suite made before it."""
    here = str(Path(__file__).parent)
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(pytest.mark.xdist_group("reliability"))
    audits = [item for item in items if item.name == "test_token_appears_nowhere"]
    items[:] = [item for item in items if item not in audits] + audits
