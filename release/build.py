"""Build the Stash plugin source: ``dist/plexsync.zip`` and ``dist/index.yml``.

    python -m release.build [--out DIR] [--date "YYYY-MM-DD HH:MM:SS"]     (make package)

Stash installs a plugin from a *plugin source*, a URL serving an ``index.yml`` that
lists packages (Stash's ``pkg/pkg``: ``id``, ``name``, ``version``, ``date``, ``path``,
``sha256``, ``requires``, optional ``metadata``). On install it checks the zip's
sha256, unpacks the zip into ``<plugins>/<id>/`` and remembers the files; an update
deletes those files and unpacks the new zip. So the zip holds the plugin folder's
contents (no top-level folder): only what runs inside Stash, never tests, sandbox,
bench or a virtualenv.

The zip is reproducible: entries sorted, fixed timestamps and permissions, so the
same sources give the same sha256 (with the same zlib). The index's ``date`` is the
build time (or ``$SOURCE_DATE_EPOCH`` / ``--date``): Stash offers an update when a
source lists a *later date* than the installed one, whatever the version says.

``requires`` lists ids of packages from the *same* source that Stash's UI selects
together with this one; ids it does not find there are silently skipped. PythonDepManager
lives in the CommunityScripts source, not ours, so listing it would do nothing: it
stays ``[]`` and the README tells users to install PythonDepManager (or to pip-install
requirements.txt). The ``# requires: PythonDepManager`` comment in plexsync.yml is the
community's convention, read by the CommunityScripts index builder, not by Stash.
Standard library only.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_ID = "plexsync"
ZIP_NAME = f"{PLUGIN_ID}.zip"
INDEX_NAME = "index.yml"

#: Files at the top of the plugin folder (missing one is an error).
REQUIRED_FILES = (f"{PLUGIN_ID}.yml", f"{PLUGIN_ID}.py", "requirements.txt")
#: Included when present.
OPTIONAL_FILES = ("README.md", "LICENSE")
#: The scene page's Plex tab: what plexsync.yml's ``ui:`` block names (missing one is an error).
UI_FILES = ("ui/plexsync.js", "ui/plexsync.css")
#: The Python packages plexsync.py imports at run time.
PACKAGES = ("plugin", "worker", "plex", "stash", "validation", "shared", "reconciliation")

#: The earliest time a zip entry can carry; every entry gets it.
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
#: rw-r--r-- regular file, as Unix zip tools write it; Stash creates each file with
#: the entry's mode, so a zero mode would leave files Stash itself cannot read.
FILE_MODE = 0o100644
_UNIX = 3
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
_SKIPPED_SUFFIXES = (".pyc", ".pyo", ".swp", ".orig", ".rej", "~")


class BuildError(Exception):
    """The sources cannot be packaged."""


@dataclass(frozen=True)
class Built:
    """What a build produced."""

    zip_path: Path
    index_path: Path
    sha256: str
    version: str
    date: str
    files: tuple[str, ...]


def plugin_files(root: Path = ROOT) -> list[tuple[str, Path]]:
    """``(name in the zip, source path)`` for every file the plugin needs, sorted by name."""
    files: dict[str, Path] = {}
    for name in REQUIRED_FILES:
        if not (root / name).is_file():
            raise BuildError(f"{root / name} is missing")
        files[name] = root / name
    for name in OPTIONAL_FILES:
        if (root / name).is_file():
            files[name] = root / name
    for package in PACKAGES:
        folder = root / package
        if not (folder / "__init__.py").is_file():
            raise BuildError(f"{folder} is not a Python package (no __init__.py)")
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and not d.startswith("."))
            for filename in filenames:
                if filename.startswith(".") or filename.endswith(_SKIPPED_SUFFIXES):
                    continue
                path = Path(dirpath) / filename
                files[path.relative_to(root).as_posix()] = path
    for name in UI_FILES:
        if not (root / name).is_file():
            raise BuildError(f"{root / name} is missing")
        files[name] = root / name
    return sorted(files.items())


def build_zip(files: list[tuple[str, Path]]) -> bytes:
    """The zip's bytes: entries in the given order, fixed time and mode, deflated."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, path in files:
            info = zipfile.ZipInfo(name, date_time=ZIP_TIMESTAMP)
            info.create_system = _UNIX
            info.external_attr = FILE_MODE << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes(), compresslevel=9)
    return buffer.getvalue()


def manifest_fields(yml_text: str) -> dict[str, str]:
    """``name``, ``version`` and ``description`` from the plugin yml's top level."""
    fields: dict[str, str] = {}
    for line in yml_text.splitlines():
        match = re.match(r"^(name|version|description):[ \t]*(.*?)[ \t]*$", line)
        if not match:
            continue
        key, value = match.groups()
        if value.startswith('"'):
            value = json.loads(value)
        elif value.startswith("'") and value.endswith("'") and len(value) >= 2:
            value = value[1:-1].replace("''", "'")
        else:
            value = value.split(" #", 1)[0].strip()
        fields.setdefault(key, value)
    for key in ("name", "version"):
        if not fields.get(key):
            raise BuildError(f"{PLUGIN_ID}.yml has no top-level '{key}'")
    return fields


def build_date(explicit: str | None = None, environ: dict[str, str] | None = None) -> str:
    """The index date (UTC): ``explicit``, else ``$SOURCE_DATE_EPOCH``, else now."""
    env = os.environ if environ is None else environ
    if explicit:
        try:
            time.strptime(explicit, DATE_FORMAT)
        except ValueError:
            raise BuildError(f"--date {explicit!r}: expected YYYY-MM-DD HH:MM:SS (UTC)") from None
        return explicit
    epoch = (env.get("SOURCE_DATE_EPOCH") or "").strip()
    if epoch:
        try:
            seconds = int(epoch)
        except ValueError:
            raise BuildError(f"SOURCE_DATE_EPOCH={epoch!r} is not a number of seconds") from None
    else:
        seconds = int(time.time())
    return time.strftime(DATE_FORMAT, time.gmtime(seconds))


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a valid YAML scalar


def index_yaml(*, name: str, version: str, date: str, sha256: str, description: str = "",
               requires: tuple[str, ...] = ()) -> str:
    """The plugin source's index: a YAML list with this one package."""
    lines = [
        "# PlexSync plugin source for Stash: add the URL of this file in Stash under",
        "# Settings > Plugins > Available Plugins > Add Source; plexsync.zip sits beside it.",
        f"- id: {PLUGIN_ID}",
        f"  name: {_q(name)}",
    ]
    if description:
        lines += ["  metadata:", f"    description: {_q(description)}"]
    lines += [
        f"  version: {_q(version)}",
        f"  date: {_q(date)}",
        f"  path: {ZIP_NAME}",
        f"  sha256: {sha256}",
        f"  requires: [{', '.join(_q(r) for r in requires)}]",
    ]
    return "\n".join(lines) + "\n"


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def build(out_dir: Path, *, root: Path = ROOT, date: str | None = None) -> Built:
    """Write ``plexsync.zip`` and ``index.yml`` into ``out_dir``."""
    files = plugin_files(root)
    data = build_zip(files)
    sha256 = hashlib.sha256(data).hexdigest()
    fields = manifest_fields((root / f"{PLUGIN_ID}.yml").read_text(encoding="utf-8"))
    when = build_date(date)
    out_dir.mkdir(parents=True, exist_ok=True)
    zip_path, index_path = out_dir / ZIP_NAME, out_dir / INDEX_NAME
    _write(zip_path, data)
    _write(index_path, index_yaml(name=fields["name"], version=fields["version"], date=when, sha256=sha256,
                                  description=fields.get("description", "")).encode("utf-8"))
    return Built(zip_path, index_path, sha256, fields["version"], when, tuple(name for name, _ in files))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m release.build", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "dist"), help="output folder (default: dist/)")
    parser.add_argument("--date", help="the index date, YYYY-MM-DD HH:MM:SS in UTC (default: "
                                       "$SOURCE_DATE_EPOCH, else now)")
    args = parser.parse_args(argv)
    try:
        built = build(Path(args.out), date=args.date)
    except (BuildError, OSError) as exc:
        print(f"release.build: {exc}", file=sys.stderr)
        return 1
    print(f"{built.zip_path}: {len(built.files)} files, sha256 {built.sha256}")
    print(f"{built.index_path}: {PLUGIN_ID} {built.version}, {built.date} UTC")
    return 0


if __name__ == "__main__":
    sys.exit(main())
