"""worker/show_fill.py: what a TV show takes from the studio of its episodes' scenes (pure),
and the Stash query it sends, checked against Stash's real schema."""

from __future__ import annotations

import pytest

from sandbox import schema_check
from stash import queries
from worker.show_fill import show_metadata


def scene(studio: str | None, *tags: str) -> dict:
    return {"studio": {"id": studio, "name": f"Studio {studio}"} if studio else None,
            "tags": [{"name": t} for t in tags]}


def test_one_studio_gives_its_name_and_the_union_of_tags():
    desired, why = show_metadata([scene("1", "Beach", "POV"), scene("1", "pov", "Night"), scene("1")])
    assert why == "" and desired is not None
    assert dict(desired.scalars) == {"studio": "Studio 1"}
    assert desired.tags["genre"] == ("Beach", "POV", "Night")     # first spelling, in order
    assert desired.shared_kinds == frozenset()


def test_excluded_tags_stay_out():
    desired, _ = show_metadata([scene("1", "Beach", "_todo")], tag_exclude=("_*",))
    assert desired is not None and desired.tags["genre"] == ("Beach",)


@pytest.mark.parametrize("scenes", [[], [scene("1"), scene("2")], [scene("1"), scene(None)]])
def test_no_fill_unless_every_scene_is_of_one_studio(scenes):
    desired, why = show_metadata(scenes)
    assert desired is None and why


def test_the_studio_query_is_valid_against_stashs_real_schema():
    if schema_check.real_schema_dir() is None:
        pytest.skip("Stash's real schema is not available (../shared/fixtures/stash-schema)")
    assert not schema_check.validate_against_real_schema(queries.FIND_STUDIO)
