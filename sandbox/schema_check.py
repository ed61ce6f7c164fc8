"""Check GraphQL documents against Stash's real schema and our emulator's subset.

Stash's schema is test data kept outside the project, at
``<project root>/../shared/fixtures/stash-schema/`` (``schema.graphql`` plus
``types/*.graphql``). Tests call :func:`real_schema_dir` and skip with a clear reason
when it returns ``None``; everything else here raises :class:`RealSchemaMissing` then.

Typical use in an end-to-end test::

    errors = validate_against_real_schema(query)
    assert not errors, errors
"""

from __future__ import annotations

import functools
from pathlib import Path

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLSyntaxError,
    build_schema,
    is_required_argument,
    is_required_input_field,
    parse,
    specified_rules,
    validate,
)
from graphql.validation import NoDeprecatedCustomRule

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REAL_SCHEMA_DIR = PROJECT_ROOT / ".." / "shared" / "fixtures" / "stash-schema"
SUBSET_SCHEMA_PATH = Path(__file__).with_name("stash_schema.graphql")


class RealSchemaMissing(FileNotFoundError):
    """Stash's schema files are not where the project expects them."""


def real_schema_dir(schema_dir: str | Path | None = None) -> Path | None:
    """The folder holding Stash's schema, or None when it is absent."""
    folder = Path(schema_dir) if schema_dir is not None else DEFAULT_REAL_SCHEMA_DIR
    return folder.resolve() if (folder / "schema.graphql").is_file() else None


@functools.lru_cache(maxsize=4)
def _load_real(folder: Path) -> GraphQLSchema:
    files = [folder / "schema.graphql", *sorted((folder / "types").glob("*.graphql"))]
    return build_schema("\n".join(f.read_text(encoding="utf-8") for f in files))


def load_real_schema(schema_dir: str | Path | None = None) -> GraphQLSchema:
    """Stash's full schema (cached); raises RealSchemaMissing when the files are absent."""
    folder = real_schema_dir(schema_dir)
    if folder is None:
        wanted = Path(schema_dir) if schema_dir is not None else DEFAULT_REAL_SCHEMA_DIR
        raise RealSchemaMissing(f"Stash schema not found at {wanted.resolve()}")
    return _load_real(folder)


@functools.lru_cache(maxsize=1)
def load_subset_schema() -> GraphQLSchema:
    """The emulator's schema: the subset of Stash's that sandbox/stash_server.py serves."""
    return build_schema(SUBSET_SCHEMA_PATH.read_text(encoding="utf-8"))


def validation_errors(schema: GraphQLSchema, query: str, *, allow_deprecated: bool = True) -> list[str]:
    """GraphQL validation errors of `query` against `schema`, as readable strings."""
    try:
        document = parse(query)
    except GraphQLSyntaxError as exc:
        return [f"syntax error: {exc.message} at {_where(exc)}"]
    rules = list(specified_rules)
    if not allow_deprecated:
        rules.append(NoDeprecatedCustomRule)
    return [f"{err.message} at {_where(err)}" for err in validate(schema, document, rules)]


def validate_against_real_schema(
    query: str, *, allow_deprecated: bool = True, schema_dir: str | Path | None = None
) -> list[str]:
    """Errors real Stash would report for `query` (empty when valid).

    With ``allow_deprecated=False`` any use of a deprecated field, argument or enum
    value counts as an error too. Raises RealSchemaMissing when the schema is absent.
    """
    return validation_errors(load_real_schema(schema_dir), query, allow_deprecated=allow_deprecated)


def validate_against_subset_schema(query: str, *, allow_deprecated: bool = True) -> list[str]:
    """Errors our emulator would report for `query` (empty when valid)."""
    return validation_errors(load_subset_schema(), query, allow_deprecated=allow_deprecated)


def subset_incompatibilities(
    schema_dir: str | Path | None = None, *, subset: GraphQLSchema | None = None
) -> list[str]:
    """Ways our subset differs from Stash's schema; empty when it is a faithful subset.

    Every type, field, argument, input field and enum value of the subset must exist in
    Stash's schema with the same kind and exactly the same type (nullability included)
    and the same deprecation; arguments and input fields that Stash requires must be in
    the subset too. Then any query valid against the subset is valid against Stash.
    `subset` defaults to the emulator's schema.
    """
    real = load_real_schema(schema_dir)
    ours = subset if subset is not None else load_subset_schema()
    problems: list[str] = []
    for name, our_type in ours.type_map.items():
        if name.startswith("__"):
            continue
        real_type = real.type_map.get(name)
        if real_type is None:
            problems.append(f"type {name}: not in Stash's schema")
            continue
        if type(real_type) is not type(our_type):
            problems.append(f"type {name}: is {type(our_type).__name__}, Stash has {type(real_type).__name__}")
            continue
        if isinstance(our_type, (GraphQLObjectType, GraphQLInterfaceType)):
            problems += _compare_fields(name, our_type, real_type)
        elif isinstance(our_type, GraphQLInputObjectType):
            problems += _compare_input_fields(name, our_type, real_type)
        elif isinstance(our_type, GraphQLEnumType):
            missing = set(our_type.values) - set(real_type.values)
            problems += [f"enum {name}.{value}: not in Stash's schema" for value in sorted(missing)]
    for root in ("query_type", "mutation_type"):
        ours_root, real_root = getattr(ours, root), getattr(real, root)
        if ours_root is not None and (real_root is None or ours_root.name != real_root.name):
            problems.append(f"schema {root}: {ours_root.name} is not Stash's root type")
    return problems


def _compare_fields(name, ours, real) -> list[str]:
    problems = []
    for field_name, field in ours.fields.items():
        where = f"{name}.{field_name}"
        real_field = real.fields.get(field_name)
        if real_field is None:
            problems.append(f"field {where}: not in Stash's schema")
            continue
        if str(field.type) != str(real_field.type):
            problems.append(f"field {where}: type {field.type}, Stash has {real_field.type}")
        if bool(field.deprecation_reason) != bool(real_field.deprecation_reason):
            problems.append(f"field {where}: deprecation differs from Stash's")
        for arg_name, arg in field.args.items():
            real_arg = real_field.args.get(arg_name)
            if real_arg is None:
                problems.append(f"argument {where}({arg_name}): not in Stash's schema")
            elif str(arg.type) != str(real_arg.type):
                problems.append(f"argument {where}({arg_name}): type {arg.type}, Stash has {real_arg.type}")
            elif bool(arg.deprecation_reason) != bool(real_arg.deprecation_reason):
                problems.append(f"argument {where}({arg_name}): deprecation differs from Stash's")
        for arg_name, real_arg in real_field.args.items():
            if is_required_argument(real_arg) and arg_name not in field.args:
                problems.append(f"argument {where}({arg_name}): required by Stash, missing here")
    return problems


def _compare_input_fields(name, ours, real) -> list[str]:
    problems = []
    for field_name, field in ours.fields.items():
        real_field = real.fields.get(field_name)
        if real_field is None:
            problems.append(f"input field {name}.{field_name}: not in Stash's schema")
        elif str(field.type) != str(real_field.type):
            problems.append(f"input field {name}.{field_name}: type {field.type}, Stash has {real_field.type}")
    for field_name, real_field in real.fields.items():
        if is_required_input_field(real_field) and field_name not in ours.fields:
            problems.append(f"input field {name}.{field_name}: required by Stash, missing here")
    return problems


def _where(err) -> str:
    locations = getattr(err, "locations", None) or []
    return ", ".join(f"{loc.line}:{loc.column}" for loc in locations) or "?"
