"""Render the settings block of ``plexsync.yml`` and the README's settings table
from :data:`validation.config.SETTINGS`, so neither can drift from the model.

``python -m validation.manifest yml`` prints the yml block; ``… readme`` rewrites README.md's table;
tests fail when the committed files differ from what this renders.
"""

from __future__ import annotations

import json
import sys

from validation.config import SETTINGS


def _quote(text: str) -> str:
    # JSON strings are valid YAML double-quoted scalars.
    return json.dumps(text, ensure_ascii=False)


def settings_yaml() -> str:
    """The ``settings:`` block, in SETTINGS order."""
    lines = ["settings:"]
    for s in SETTINGS:
        lines += [f"  {s.key}:", f"    displayName: {_quote(s.display_name)}",
                  f"    description: {_quote(s.description)}", f"    type: {s.type}"]
    return "\n".join(lines) + "\n"


def settings_table() -> str:
    """A Markdown table: setting as shown in Stash, key, type, what it does."""
    rows = ["| Setting (as shown in Stash) | Key | Type | What it does, default, example |",
            "|---|---|---|---|"]
    for s in SETTINGS:
        rows.append(f"| {s.display_name} | `{s.key}` | {s.type} | {s.description.replace('|', '/')} |")
    return "\n".join(rows) + "\n"


README_START = "<!-- settings:start -->"
README_END = "<!-- settings:end -->"


def with_settings_table(readme: str) -> str:
    """``readme`` with the text between the settings markers replaced by the table."""
    head, start, rest = readme.partition(README_START)
    _old, end, tail = rest.partition(README_END)
    if not start or not end:
        raise ValueError(f"README has no {README_START} … {README_END} markers")
    return f"{head}{start}\n{settings_table()}{end}{tail}"


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "yml"
    if what == "readme":
        # Rewrite README.md in place (make docs).
        from pathlib import Path

        path = Path(__file__).resolve().parents[1] / "README.md"
        path.write_text(with_settings_table(path.read_text(encoding="utf-8")), encoding="utf-8")
    else:
        sys.stdout.write(settings_yaml() if what == "yml" else settings_table())
