"""The package layers hold: no upward import and no import circle between product modules.

``shared`` ← ``stash`` ← ``plex`` ← ``validation`` ← ``worker`` ← ``reconciliation`` ←
``plugin``: a package imports only itself and those to its left. Every import counts,
including those inside functions and under ``TYPE_CHECKING``: each is a dependency a
reader (and a type checker) must follow.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS: tuple[str, ...] = ("shared", "stash", "plex", "validation", "worker", "reconciliation", "plugin")
#: Top-level product files outside the packages, with the layer they belong to.
ENTRY_FILES: dict[str, str] = {"plexsync.py": "plugin"}

#: Known upward edges tolerated until the branch that owns them is merged, as
#: (importing module, imported module). Keep empty once the layers hold.
@dataclass(frozen=True)
class Import:
    """One import statement's target, resolved to a product module name."""

    source: str  # importing module, e.g. "plex.diff"
    target: str  # imported module, e.g. "worker.mapping"
    where: str  # "plex/diff.py:12"
    text: str  # the statement as written


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _product_files() -> list[Path]:
    files = [p for layer in LAYERS for p in sorted((ROOT / layer).rglob("*.py"))]
    return files + [ROOT / name for name in ENTRY_FILES]


def _known_modules(files: list[Path]) -> set[str]:
    return {_module_name(p) for p in files}


def _resolve(name: str, known: set[str]) -> str | None:
    """The product module ``name`` refers to (its longest known prefix), else None."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in known:
            return candidate
    return None


def _imports(path: Path, known: set[str]) -> list[Import]:
    source = _module_name(path)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = source if path.name == "__init__.py" else source.rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".") if package else []
                anchor = anchor[: len(anchor) - (node.level - 1)] if node.level > 1 else anchor
                base = ".".join(anchor + ([base] if base else []))
            # "from pkg import mod" imports the submodule pkg.mod when it exists.
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        where = f"{path.relative_to(ROOT)}:{node.lineno}"
        text = ast.get_source_segment(path.read_text(encoding="utf-8"), node) or ast.dump(node)
        for name in names:
            target = _resolve(name, known)
            if target is not None and target != source:
                found.append(Import(source, target, where, text.strip()))
    return found


def _layer(module: str) -> str:
    top = module.split(".")[0]
    return ENTRY_FILES.get(f"{top}.py", top)


def _all_imports() -> list[Import]:
    files = _product_files()
    known = _known_modules(files)
    return [imp for path in files for imp in _imports(path, known)]


def upward_imports(imports: list[Import]) -> list[Import]:
    """Imports whose target sits in a layer to the right of the importer's."""
    return [
        imp for imp in imports
        if LAYERS.index(_layer(imp.target)) > LAYERS.index(_layer(imp.source))
    ]


def import_cycles(imports: list[Import]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    graph: dict[str, set[str]] = {}
    for imp in imports:
        graph.setdefault(imp.source, set()).add(imp.target)
        graph.setdefault(imp.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_no_upward_imports() -> None:
    bad = upward_imports(_all_imports())
    assert not bad, "upward imports (a package imports only itself and those to its left):\n" + "\n".join(
        f"  {imp.where}: {imp.text}  ({_layer(imp.source)} → {_layer(imp.target)})" for imp in bad
    )


def test_no_import_cycles() -> None:
    imports = _all_imports()
    cycles = import_cycles(imports)
    lines: list[str] = []
    for group in cycles:
        members = set(group)
        lines.append("  circle: " + " ↔ ".join(group))
        lines += [f"    {imp.where}: {imp.text}  (→ {imp.target})" for imp in imports if imp.source in members and imp.target in members]
    assert not cycles, "import circles between product modules:\n" + "\n".join(lines)


# The checker itself: each rule must catch a planted violation.
def _write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_checker_sees_function_level_and_type_checking_imports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", tmp_path)
    a = _write(tmp_path, "shared/a.py", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from worker import b\n")
    b = _write(tmp_path, "worker/b.py", "def f():\n    from shared.a import x\n")
    known = {"shared.a", "worker.b"}
    imports = _imports(a, known) + _imports(b, known)
    assert [(i.source, i.target) for i in upward_imports(imports)] == [("shared.a", "worker.b")]
    assert upward_imports(imports)[0].where == "shared/a.py:3"
    assert import_cycles(imports) == [["shared.a", "worker.b"]]


def test_checker_resolves_relative_imports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", tmp_path)
    a = _write(tmp_path, "plugin/a.py", "from . import b\n")
    b = _write(tmp_path, "plugin/b.py", "from .a import thing\n")
    known = {"plugin", "plugin.a", "plugin.b"}
    imports = _imports(a, known) + _imports(b, known)
    assert import_cycles(imports) == [["plugin.a", "plugin.b"]]
