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
same sources give the same sha256 (with the same zlib). The index too: its ``date`` is
the commit time of ``HEAD`` (``--date`` or ``$SOURCE_DATE_EPOCH`` win; the build time
only outside a git checkout) and its ``version`` is plexsync.yml's ``version`` plus
``+g<short commit>`` (``.dirty`` when packaged files differ from that commit). So
``make package`` twice from one commit gives byte-identical files, and Stash, which
offers an update when a source lists a *later date* than the installed one (whatever
the version says), offers one exactly when a newer commit is published.

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
import subprocess
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
OPTIONAL_FILES = ("LICENSE",)
#: The user's guide: ``release/USER_README.md`` with its ``<!-- include: NAME -->`` lines
#: filled in from the repository README (one source for install steps, settings, tasks
#: and the error table), as ``README.md`` in the zip.
USER_README_TEMPLATE = Path("release") / "USER_README.md"
USER_README_NAME = "README.md"
_INCLUDE = re.compile(r"^<!-- include: ([a-z-]+) -->$", re.MULTILINE)
_MARKER = re.compile(r"^<!-- (user:[a-z-]+|settings):(start|end) -->\n", re.MULTILINE)
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


def _section(readme: str, name: str) -> str:
    """The text between ``<!-- user:NAME:start -->`` and its end marker (``settings``: the
    settings table's markers)."""
    tag = "settings" if name == "settings" else f"user:{name}"
    start, end = f"<!-- {tag}:start -->", f"<!-- {tag}:end -->"
    if start not in readme or end not in readme:
        raise BuildError(f"README.md has no {start} … {end} section for the user's README")
    return readme.split(start, 1)[1].split(end, 1)[0].strip("\n")


def user_readme(template: str, readme: str) -> str:
    """The user's README (pure): each include line replaced by that README section,
    without the section markers."""
    text = _INCLUDE.sub(lambda m: _section(readme, m.group(1)), template)
    return _MARKER.sub("", text)


def build_zip(files: list[tuple[str, Path | bytes]]) -> bytes:
    """The zip's bytes: entries in the given order, fixed time and mode, deflated."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, source in files:
            info = zipfile.ZipInfo(name, date_time=ZIP_TIMESTAMP)
            info.create_system = _UNIX
            info.external_attr = FILE_MODE << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            data = source if isinstance(source, bytes) else source.read_bytes()
            archive.writestr(info, data, compresslevel=9)
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


@dataclass(frozen=True)
class Commit:
    """The commit the sources come from."""

    epoch: int      # committer time, seconds
    short: str      # abbreviated hash
    dirty: bool     # a packaged file differs from it


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def head_commit(root: Path = ROOT, paths: tuple[str, ...] = ()) -> Commit | None:
    """``HEAD``'s time and short hash, and whether ``paths`` differ from it; ``None``
    outside a git checkout (or without git)."""
    line = _git(root, "log", "-1", "--format=%ct %h")
    if not line:
        return None
    epoch, short = line.split()
    status = _git(root, "status", "--porcelain", "--untracked-files=normal", "--", *paths) if paths else ""
    return Commit(int(epoch), short, bool(status))


def package_version(manifest_version: str, commit: Commit | None) -> str:
    """The index's version (pure): the manifest's, plus the commit it was built from."""
    if commit is None:
        return manifest_version
    return f"{manifest_version}+g{commit.short}{'.dirty' if commit.dirty else ''}"


def build_date(explicit: str | None = None, environ: dict[str, str] | None = None,
               commit_epoch: int | None = None) -> str:
    """The index date (UTC): ``explicit``, else ``$SOURCE_DATE_EPOCH``, else the commit's
    time, else now."""
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
    elif commit_epoch is not None:
        seconds = commit_epoch
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
    runtime = plugin_files(root)
    for source in (root / USER_README_TEMPLATE, root / "README.md"):
        if not source.is_file():
            raise BuildError(f"{source} is missing (the user's README is made from it)")
    guide = user_readme((root / USER_README_TEMPLATE).read_text(encoding="utf-8"),
                        (root / "README.md").read_text(encoding="utf-8"))
    entries: list[tuple[str, Path | bytes]] = [*runtime, (USER_README_NAME, guide.encode("utf-8"))]
    files = sorted(entries, key=lambda entry: entry[0])
    data = build_zip(files)
    sha256 = hashlib.sha256(data).hexdigest()
    fields = manifest_fields((root / f"{PLUGIN_ID}.yml").read_text(encoding="utf-8"))
    sources = (*dict.fromkeys(name.split("/", 1)[0] for name, _ in files), USER_README_TEMPLATE.as_posix())
    commit = head_commit(root, sources)
    when = build_date(date, commit_epoch=commit.epoch if commit else None)
    version = package_version(fields["version"], commit)
    out_dir.mkdir(parents=True, exist_ok=True)
    zip_path, index_path = out_dir / ZIP_NAME, out_dir / INDEX_NAME
    _write(zip_path, data)
    _write(index_path, index_yaml(name=fields["name"], version=version, date=when, sha256=sha256,
                                  description=fields.get("description", "")).encode("utf-8"))
    return Built(zip_path, index_path, sha256, version, when, tuple(name for name, _ in files))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m release.build", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "dist"), help="output folder (default: dist/)")
    parser.add_argument("--date", help="the index date, YYYY-MM-DD HH:MM:SS in UTC (default: "
                                       "$SOURCE_DATE_EPOCH, else HEAD's commit time)")
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
