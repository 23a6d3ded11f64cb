"""conda environments: ``conda-meta/<name>-<version>-<build>.json`` (files with their hashes in
``paths_data``, channel, URL) and ``conda-meta/history`` (when each package was linked, by which
command, from which channel)."""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from mlsleuth.parsers.packages.names import normalize, redact_text
from mlsleuth.parsers.packages.view import HostView, ReadError

from mlsleuth.events import TimestampQuality

# path types whose bytes conda writes itself at link time: no hash in the record
_GENERATED = frozenset({"pyc_file", "unix_python_entry_point", "windows_python_entry_point_script",
                        "windows_python_entry_point_exe", "linked_package_record"})
_BLOCK = re.compile(r"^==>\s*(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})\s*<==\s*$")
_LINK = re.compile(r"^([+-])(?:(?P<chan>.+)::)?(?P<dist>[^:\s]+)\s*$")


@dataclass(slots=True)
class CondaPath:
    path: str  # relative to the prefix
    path_type: str = "hardlink"
    sha256: str | None = None  # expected hash of the file as it is in the prefix, when known
    size: int | None = None
    why_unverified: str | None = None


@dataclass
class CondaPackage:
    prefix: str
    meta_path: str
    name: str = ""
    version: str = ""
    build: str = ""
    channel: str = ""
    url: str = ""
    requested_spec: str = ""
    paths: list[CondaPath] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    install_time: datetime | None = None
    install_quality: TimestampQuality = TimestampQuality.FILE_TIME
    install_evidence: str = ""
    install_cmd: str = ""
    depends: set[str] = field(default_factory=set)  # normalised names this package requires


@dataclass(slots=True)
class HistoryLink:
    when: datetime | None
    quality: TimestampQuality
    channel: str
    name: str
    version: str
    build: str
    cmd: str
    line: int


def read_conda_package(view: HostView, prefix: str, meta_path: str) -> CondaPackage:
    pkg = CondaPackage(prefix=prefix, meta_path=meta_path)
    try:
        raw = view.read(meta_path, 256 << 20)
        data = json.loads(raw)
    except ReadError as exc:
        pkg.problems.append(f"unreadable: {exc}")
        return pkg
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        pkg.problems.append(f"bad JSON: {exc}")
        return pkg
    if not isinstance(data, dict):
        pkg.problems.append("not a JSON object")
        return pkg
    for attr in ("name", "version", "build", "channel", "url", "requested_spec"):
        value = data.get(attr)
        if isinstance(value, str):
            setattr(pkg, attr, value)
    deps = data.get("depends")
    if isinstance(deps, list):
        pkg.depends = {normalize(str(x).split()[0]) for x in deps if str(x).strip()}
    if not pkg.name:
        stem = posixpath.basename(meta_path)[:-5]
        parts = stem.rsplit("-", 2)
        pkg.name = parts[0]
        pkg.problems.append("record has no name; taken from the file name")
    pd = data.get("paths_data")
    entries = pd.get("paths") if isinstance(pd, dict) else None
    if isinstance(entries, list):
        for n, item in enumerate(entries):
            if not isinstance(item, dict) or not isinstance(item.get("_path"), str):
                pkg.problems.append(f"paths_data.paths[{n}]: not a path entry")
                continue
            cp = CondaPath(path=item["_path"], path_type=str(item.get("path_type") or "hardlink"))
            size = item.get("size_in_bytes")
            if isinstance(size, int) and 0 <= size < (1 << 40):
                cp.size = size
            in_prefix = item.get("sha256_in_prefix")
            if cp.path_type in _GENERATED or cp.path_type in ("directory", "softlink"):
                cp.why_unverified = f"path_type {cp.path_type}"
            elif _is_sha256(in_prefix):
                cp.sha256 = in_prefix.lower()
            elif item.get("prefix_placeholder"):
                # conda rewrote the install prefix into this file; `sha256` is of the package's
                # copy, and older conda did not record the hash after rewriting.
                cp.why_unverified = "prefix rewritten at install and no sha256_in_prefix recorded"
                cp.size = None
            elif _is_sha256(item.get("sha256")):
                cp.sha256 = item["sha256"].lower()
            else:
                cp.why_unverified = "no hash recorded"
            pkg.paths.append(cp)
    elif isinstance(data.get("files"), list):
        pkg.problems.append("no paths_data: files checked for presence only")
        pkg.paths = [CondaPath(path=f, why_unverified="no paths_data") for f in data["files"] if isinstance(f, str)]
    else:
        pkg.problems.append("neither paths_data nor files: nothing to verify")
    return pkg


def _is_sha256(v: object) -> bool:
    return isinstance(v, str) and len(v) == 64 and all(c in "0123456789abcdefABCDEF" for c in v)


def parse_history(text: str, tz: tzinfo | None) -> list[HistoryLink]:
    """Link events of conda-meta/history. Times are local to the host; without a known zone they
    are read as UTC and marked estimated."""
    from datetime import UTC

    out: list[HistoryLink] = []
    when: datetime | None = None
    quality = TimestampQuality.EXACT if tz else TimestampQuality.ESTIMATED
    cmd = ""
    for n, line in enumerate(text.splitlines(), 1):
        line = line.rstrip("\r")
        m = _BLOCK.match(line)
        if m:
            try:
                naive = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")
                when = naive.replace(tzinfo=tz or UTC).astimezone(UTC)
            except ValueError:
                when = None
            cmd = ""
            continue
        if line.startswith("# cmd:"):
            cmd = redact_text(line[6:].strip())
            continue
        lm = _LINK.match(line)
        if lm and lm.group(1) == "+":
            parts = lm.group("dist").rsplit("-", 2)
            if len(parts) != 3:
                continue
            out.append(HistoryLink(when, quality, lm.group("chan") or "", parts[0], parts[1], parts[2], cmd, n))
    return out


def parse_history_commands(text: str, tz: tzinfo | None) -> list[tuple[datetime | None, TimestampQuality, int, str]]:
    """(time, quality, line, redacted command) of every ``# cmd:`` line."""
    from datetime import UTC

    out = []
    when: datetime | None = None
    quality = TimestampQuality.EXACT if tz else TimestampQuality.ESTIMATED
    for n, line in enumerate(text.splitlines(), 1):
        m = _BLOCK.match(line.rstrip("\r"))
        if m:
            try:
                when = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=tz or UTC).astimezone(UTC)
            except ValueError:
                when = None
        elif line.startswith("# cmd:"):
            out.append((when, quality, n, redact_text(line[6:].strip())))
    return out


def channel_of(pkg: CondaPackage) -> str:
    return pkg.channel or (pkg.url.rsplit("/", 2)[0] if pkg.url else "")
