"""stash/graphql_usage.py: PlexSync's own parser of its documents, and the schema check.

The parser is checked against graphql-core's on every document PlexSync sends; the
check against Stash's real schema (introspected with graphql-core) finds nothing
missing, and against schemas with a field, an argument, an input field or a type taken
out, names exactly that.
"""

from __future__ import annotations

import pytest
from graphql import (
    FieldNode,
    ObjectValueNode,
    OperationDefinitionNode,
    build_schema,
    introspection_from_schema,
    parse,
    print_schema,
)

from sandbox.schema_check import load_real_schema, load_subset_schema, real_schema_dir
from stash import queries
from stash.graphql_usage import (
    INTROSPECTION,
    ArgUse,
    FieldUse,
    GraphQLParseError,
    missing_from_schema,
    older_than,
    parse_operation,
    schema_from_introspection,
    version_tuple,
)
from plugin.compatibility import missing_libraries


def _reference(nodes) -> tuple[FieldUse, ...]:
    """The same tree from graphql-core's AST."""
    out = []
    for node in nodes:
        assert isinstance(node, FieldNode)
        args = tuple(ArgUse(a.name.value, tuple(f.name.value for f in a.value.fields)
                            if isinstance(a.value, ObjectValueNode) else ()) for a in node.arguments or ())
        children = _reference(node.selection_set.selections) if node.selection_set else ()
        out.append(FieldUse(node.name.value, args, children))
    return tuple(out)


def operations():
    return [parse_operation(doc) for doc in queries.documents().values()]


@pytest.mark.parametrize("name", sorted(queries.documents()))
def test_the_parser_reads_each_document_as_graphql_core_does(name):
    document = queries.documents()[name]
    ours = parse_operation(document)
    (definition,) = parse(document).definitions
    assert isinstance(definition, OperationDefinitionNode)
    assert ours.kind == definition.operation.value
    assert ours.fields == _reference(definition.selection_set.selections)


def test_every_document_is_found():
    names = set(queries.documents())
    assert {"FIND_SCENE", "SCENE_WATCH_STATES", "SCENE_SAVE_ACTIVITY", "VERSION", "scene_add_plays_document"} <= names
    assert len(names) >= 15


def test_the_parser_refuses_what_it_does_not_read():
    with pytest.raises(GraphQLParseError):
        parse_operation("query { findScene(id: 1) { ...F } }")
    with pytest.raises(GraphQLParseError):
        parse_operation("subscription { x }")
    with pytest.raises(GraphQLParseError):
        parse_operation("query { x } query { y }")


def schema_without(base, *removals: str):
    """``base`` with ``Type.field`` fields, ``Type.field(arg)`` arguments or ``Type`` types removed."""
    sdl = print_schema(base)
    schema = build_schema(sdl)
    for removal in removals:
        type_name, _, rest = removal.partition(".")
        graphql_type = schema.get_type(type_name)
        field, _, arg = rest.partition("(")
        if arg:
            del graphql_type.fields[field].args[arg.rstrip(")")]
        else:
            del graphql_type.fields[field]
    return schema_from_introspection(introspection_from_schema(schema))


@pytest.mark.skipif(real_schema_dir() is None, reason="Stash's schema fixture (../shared/fixtures/stash-schema) is absent")
def test_stashs_real_schema_has_everything_plexsync_uses():
    schema = schema_from_introspection(introspection_from_schema(load_real_schema()))
    assert missing_from_schema(operations(), schema, queries.VARIABLE_INPUT_FIELDS) == []


def test_the_emulators_schema_has_everything_plexsync_uses():
    schema = schema_from_introspection(introspection_from_schema(load_subset_schema()))
    assert missing_from_schema(operations(), schema, queries.VARIABLE_INPUT_FIELDS) == []


@pytest.mark.parametrize("removed, named", [
    (["Scene.resume_time"], ["Scene.resume_time"]),
    (["Scene.play_history", "Version.version"], ["Scene.play_history", "Version.version"]),
    (["Query.findScenes(ids)"], ["Query.findScenes(ids:)"]),
    (["FindFilterType.per_page"], ["FindFilterType.per_page"]),
    (["SceneFilterType.last_played_at"], ["SceneFilterType.last_played_at"]),
    (["Mutation.sceneSaveActivity"], ["Mutation.sceneSaveActivity"]),
])
def test_what_a_schema_lacks_is_named(removed, named):
    schema = schema_without(load_subset_schema(), *removed)
    assert missing_from_schema(operations(), schema, queries.VARIABLE_INPUT_FIELDS) == named


def test_a_missing_type_is_named():
    schema = schema_from_introspection(introspection_from_schema(load_subset_schema()))
    schema = type(schema)(schema.query, schema.mutation, schema.fields, schema.input_fields,
                          schema.types - {"Timestamp"})
    assert missing_from_schema(operations(), schema) == ["type Timestamp"]


def test_the_introspection_query_is_valid_graphql():
    from graphql import validate

    assert validate(load_subset_schema(), parse(INTROSPECTION)) == []


def test_versions():
    assert version_tuple("v0.27.2") == (0, 27, 2)
    assert version_tuple("v0.30.1-12-gabcdef") == (0, 30, 1)
    assert version_tuple("0.28") == (0, 28, 0)
    assert version_tuple("develop") is None and version_tuple(None) is None
    assert older_than("v0.26.2", "v0.27.0") and not older_than("v0.27.0", "v0.27.0")
    assert not older_than("develop", "v0.27.0")  # unknown: no claim


def test_missing_libraries_ignore_case():
    assert missing_libraries(("Movies", "stash", "Gone"), ["movies", "Stash", "TV"]) == ["Gone"]
    assert missing_libraries((), ["Movies"]) == []
