"""Which GraphQL fields, arguments and types PlexSync uses, and which a Stash lacks (pure).

After a Stash upgrade renames or drops a field, every request using it fails. The
compatibility check compares what PlexSync's own documents (``stash/queries.py``) use
with the running Stash's schema, read by introspection, and names what is missing.

The documents are parsed here with a small parser for the part of GraphQL they use
(operations, variables, aliases, arguments with object and list literals, nested
selections): the product must not need graphql-core, which is a test dependency.
``tests/test_graphql_usage.py`` checks this parser against graphql-core's on every
document. Standard library only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable

_TOKEN = re.compile(r'\s+|,|#[^\n]*|"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|\.\.\.|[A-Za-z_]\w*|[{}()\[\]:$!=@]')


class GraphQLParseError(ValueError):
    """A document outside the subset this parser reads."""


@dataclass(frozen=True)
class ArgUse:
    """An argument given to a field, with the input-object fields of a literal value."""

    name: str
    object_fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class FieldUse:
    """A selected field: its arguments and its own selections."""

    name: str
    args: tuple[ArgUse, ...] = ()
    children: tuple["FieldUse", ...] = ()


@dataclass(frozen=True)
class Operation:
    """One operation: ``query`` or ``mutation``, its variables' type names, its fields."""

    kind: str
    variable_types: tuple[str, ...]
    fields: tuple[FieldUse, ...]


def _tokens(text: str) -> list[str]:
    tokens: list[str] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match:
            raise GraphQLParseError(f"unexpected {text[position:position + 10]!r}")
        token = match.group()
        position = match.end()
        if token.strip() and token != "," and not token.startswith("#"):
            tokens.append(token)
    return tokens


@dataclass
class _Parser:
    tokens: list[str]
    at: int = 0
    variable_types: list[str] = field(default_factory=list)

    def peek(self) -> str:
        return self.tokens[self.at] if self.at < len(self.tokens) else ""

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if not token or (expected is not None and token != expected):
            raise GraphQLParseError(f"expected {expected or 'more'}, found {token or 'the end'!r}")
        self.at += 1
        return token

    def name(self) -> str:
        token = self.take()
        if not re.fullmatch(r"[A-Za-z_]\w*", token):
            raise GraphQLParseError(f"expected a name, found {token!r}")
        return token

    def operation(self) -> Operation:
        kind = self.take()
        if kind not in ("query", "mutation"):
            raise GraphQLParseError(f"expected query or mutation, found {kind!r}")
        if self.peek() not in ("(", "{"):
            self.name()
        if self.peek() == "(":
            self.take("(")
            while self.peek() != ")":
                self.take("$")
                self.name()
                self.take(":")
                self.type_ref()
                if self.peek() == "=":
                    self.take("=")
                    self.value()
            self.take(")")
        fields = self.selections()
        if self.peek():
            raise GraphQLParseError(f"one operation per document, found {self.peek()!r} after it")
        return Operation(kind, tuple(dict.fromkeys(self.variable_types)), fields)

    def type_ref(self) -> None:
        if self.peek() == "[":
            self.take("[")
            self.type_ref()
            self.take("]")
        else:
            self.variable_types.append(self.name())
        if self.peek() == "!":
            self.take("!")

    def selections(self) -> tuple[FieldUse, ...]:
        self.take("{")
        fields: list[FieldUse] = []
        while self.peek() != "}":
            if self.peek() in ("...", "@"):
                raise GraphQLParseError("fragments and directives are not read by this parser")
            name = self.name()
            if self.peek() == ":":  # an alias
                self.take(":")
                name = self.name()
            args: list[ArgUse] = []
            if self.peek() == "(":
                self.take("(")
                while self.peek() != ")":
                    arg = self.name()
                    self.take(":")
                    args.append(ArgUse(arg, self.value()))
                self.take(")")
            children = self.selections() if self.peek() == "{" else ()
            fields.append(FieldUse(name, tuple(args), children))
        self.take("}")
        return tuple(fields)

    def value(self) -> tuple[str, ...]:
        """Skip a value; the field names of an object literal (nested ones are not checked)."""
        token = self.take()
        if token == "$":
            self.name()
        elif token == "[":
            while self.peek() != "]":
                self.value()
            self.take("]")
        elif token == "{":
            names: list[str] = []
            while self.peek() != "}":
                names.append(self.name())
                self.take(":")
                self.value()
            self.take("}")
            return tuple(names)
        return ()


def parse_operation(document: str) -> Operation:
    """The one operation of ``document``. Raises :class:`GraphQLParseError`."""
    return _Parser(_tokens(document)).operation()


# -- the running Stash's schema (introspection) ----------------------------------------------

_TYPE_REF = "kind name ofType { kind name ofType { kind name ofType { kind name } } }"

#: The introspection query: every type's fields with their arguments and input fields.
INTROSPECTION = (
    "query PlexSyncSchema { __schema { queryType { name } mutationType { name }"
    f" types {{ name kind fields {{ name type {{ {_TYPE_REF} }} args {{ name type {{ {_TYPE_REF} }} }} }}"
    f" inputFields {{ name type {{ {_TYPE_REF} }} }} }} }} }}"
)


def _named(type_ref: Any) -> str:
    while isinstance(type_ref, dict) and type_ref.get("ofType"):
        type_ref = type_ref["ofType"]
    return str((type_ref or {}).get("name") or "")


@dataclass(frozen=True)
class Schema:
    """What of a schema the check needs: each type's fields (their type and arguments' types)."""

    query: str
    mutation: str
    fields: dict[str, dict[str, tuple[str, dict[str, str]]]]
    input_fields: dict[str, dict[str, str]]
    types: frozenset[str]


def schema_from_introspection(data: dict[str, Any]) -> Schema:
    """A :class:`Schema` from the ``data`` of :data:`INTROSPECTION`."""
    schema = data["__schema"]
    fields: dict[str, dict[str, tuple[str, dict[str, str]]]] = {}
    inputs: dict[str, dict[str, str]] = {}
    for entry in schema.get("types") or []:
        name = entry.get("name") or ""
        if entry.get("fields") is not None:
            fields[name] = {f["name"]: (_named(f.get("type")), {a["name"]: _named(a.get("type")) for a in f.get("args") or []})
                            for f in entry["fields"]}
        if entry.get("inputFields") is not None:
            inputs[name] = {f["name"]: _named(f.get("type")) for f in entry["inputFields"]}
    return Schema(query=((schema.get("queryType") or {}).get("name") or "Query"),
                  mutation=((schema.get("mutationType") or {}).get("name") or ""),
                  fields=fields, input_fields=inputs,
                  types=frozenset(str(t.get("name")) for t in schema.get("types") or []))


def _missing_in(schema: Schema, parent: str, uses: Iterable[FieldUse], found: list[str]) -> None:
    known = schema.fields.get(parent, {})
    for use in uses:
        if use.name.startswith("__"):
            continue
        if use.name not in known:
            found.append(f"{parent}.{use.name}")
            continue
        returns, args = known[use.name]
        for arg in use.args:
            if arg.name not in args:
                found.append(f"{parent}.{use.name}({arg.name}:)")
                continue
            for name in arg.object_fields:
                if name not in schema.input_fields.get(args[arg.name], {}):
                    found.append(f"{args[arg.name]}.{name}")
        _missing_in(schema, returns, use.children, found)


def missing_from_schema(operations: Iterable[Operation], schema: Schema,
                        input_fields: dict[str, tuple[str, ...]] | None = None) -> list[str]:
    """What ``operations`` use that ``schema`` lacks, as ``Type.field``,
    ``Type.field(argument:)``, ``InputType.field`` or ``type Name``; sorted, no repeats.

    ``input_fields``: input-object fields sent in variables (no document shows them).
    """
    found: list[str] = []
    for operation in operations:
        root = schema.query if operation.kind == "query" else schema.mutation
        _missing_in(schema, root, operation.fields, found)
        found.extend(f"type {name}" for name in operation.variable_types if name not in schema.types)
    for type_name, names in (input_fields or {}).items():
        if type_name not in schema.types:
            found.append(f"type {type_name}")
            continue
        found.extend(f"{type_name}.{n}" for n in names if n not in schema.input_fields.get(type_name, {}))
    return sorted(set(found))


_VERSION = re.compile(r"v?(\d+)\.(\d+)(?:\.(\d+))?")


def version_tuple(text: str | None) -> tuple[int, int, int] | None:
    """``(0, 27, 2)`` from Stash's ``v0.27.2`` (or ``v0.27.2-12-gabc``); ``None`` if unreadable."""
    match = _VERSION.match((text or "").strip())
    if not match:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def older_than(version: str | None, minimum: str) -> bool:
    """Whether Stash's ``version`` is known and older than ``minimum`` (pure)."""
    have, need = version_tuple(version), version_tuple(minimum)
    return have is not None and need is not None and have < need
