"""Reading one installed distribution (``*.dist-info``, ``*.egg-info`` directory or file) from a
host view: name, version, installer, REQUESTED, direct_url.json (PEP 610), dependencies, RECORD
or installed-files.txt, and when it was installed. Every problem is recorded on the Dist."""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.parser import HeaderParser
from email.policy import compat32
from typing import Any

from mlsleuth.parsers.packages.names import normalize, redact_url
from mlsleuth.parsers.packages.record import Record, parse_record
from mlsleuth.parsers.packages.view import MISSING, HostView, ReadError

from mlsleuth.events import TimestampQuality, from_epoch

METADATA_LIMIT = 1 << 20  # headers sit at the top; a long description after them is not needed
_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclass
class Dist:
    env: str
    path: str  # the dist-info / egg-info path on the host
    kind: str  # dist-info | egg-info | egg-info-file
    name: str = ""
    version: str = ""
    installer: str | None = None
    requested: bool | None = None  # None: the format has no REQUESTED marker
    direct_url: dict[str, Any] | None = None
    requires: set[str] = field(default_factory=set)  # normalised names
    record: Record | None = None
    installed_files: list[str] | None = None  # egg-info installed-files.txt (relative to path)
    top_level: list[str] = field(default_factory=list)
    install_time: datetime | None = None
    install_time_source: str = ""
    problems: list[str] = field(default_factory=list)
    conda: Any = None  # CondaPackage owning this distribution, if any

    @property
    def key(self) -> str:
        return normalize(self.name)

    @property
    def editable(self) -> bool:
        d = self.direct_url or {}
        return bool(isinstance(d.get("dir_info"), dict) and d["dir_info"].get("editable"))

    @property
    def install_quality(self) -> TimestampQuality:
        return TimestampQuality.EXACT if self.install_time_source == "conda-meta/history" \
            else TimestampQuality.FILE_TIME

    def source(self) -> str:
        """One line naming where the distribution came from, as far as its own files say."""
        d = self.direct_url
        if d:
            url = redact_url(str(d.get("url", "")))[0]
            if isinstance(d.get("vcs_info"), dict):
                v = d["vcs_info"]
                return f"{v.get('vcs', 'vcs')}+{url}@{v.get('commit_id', '?')}"
            if isinstance(d.get("dir_info"), dict):
                return ("editable " if d["dir_info"].get("editable") else "local dir ") + url
            if isinstance(d.get("archive_info"), dict):
                return f"archive {url}"
            return url
        if self.conda is not None:
            return f"conda {self.conda.channel or '?'}"
        return "index"


def _split_dirname(base: str) -> tuple[str, str]:
    stem = base.rsplit(".", 1)[0]
    if stem.endswith(".dist"):
        stem = stem[:-5]
    parts = stem.split("-")
    return parts[0], parts[1] if len(parts) > 1 else ""


def _read_small(view: HostView, path: str, limit: int, dist: Dist, what: str,
                missing_ok: bool = True) -> bytes | None:
    try:
        return view.read(path, limit)
    except ReadError as exc:
        if str(exc) in ("missing", "not in the archive") and missing_ok:
            return None
        dist.problems.append(f"{what}: {exc}")
        return None


def _parse_headers(raw: bytes, dist: Dist, what: str) -> Any:
    text = raw[:METADATA_LIMIT].decode("utf-8", errors="replace")
    try:
        return HeaderParser(policy=compat32).parsestr(text, headersonly=True)
    except Exception as exc:  # email's parser signals malformed input in many ways
        dist.problems.append(f"{what}: unparsable headers ({exc})")
        return None


def _req_names(lines: list[str]) -> set[str]:
    out = set()
    for line in lines:
        m = _REQ_NAME.match(line)
        if m:
            out.add(normalize(m.group(1)))
    return out


def read_dist(view: HostView, env: str, name: str) -> Dist:
    path = posixpath.join(env, name)
    node = view.node(path)
    kind = "egg-info-file" if node.kind == "file" else "dist-info" if name.endswith(".dist-info") else "egg-info"
    dist = Dist(env=env, path=path, kind=kind)
    dist.name, dist.version = _split_dirname(name)
    meta_path = path if kind == "egg-info-file" else posixpath.join(path, "METADATA" if kind == "dist-info" else "PKG-INFO")
    raw = _read_small(view, meta_path, 64 << 20, dist, posixpath.basename(meta_path), missing_ok=False)
    headers = _parse_headers(raw, dist, posixpath.basename(meta_path)) if raw is not None else None
    if headers is not None:
        mname, mversion = headers.get("Name"), headers.get("Version")
        if isinstance(mname, str) and mname.strip():
            dist.name = mname.strip()
        else:
            dist.problems.append("METADATA has no Name; taken from the folder name")
        if isinstance(mversion, str) and mversion.strip():
            dist.version = mversion.strip()
        else:
            dist.problems.append("METADATA has no Version; taken from the folder name")
        dist.requires = _req_names([str(v) for v in headers.get_all("Requires-Dist") or []])
    if kind == "dist-info":
        _read_dist_info_extras(view, dist)
    elif kind == "egg-info":
        _read_egg_info_extras(view, dist)
    _set_install_time(view, dist)
    return dist


def _read_dist_info_extras(view: HostView, dist: Dist) -> None:
    p = dist.path
    installer = _read_small(view, posixpath.join(p, "INSTALLER"), 4096, dist, "INSTALLER")
    if installer is not None:
        dist.installer = installer.decode("utf-8", "replace").strip().splitlines()[0][:64] if installer.strip() else ""
    dist.requested = view.node(posixpath.join(p, "REQUESTED")).kind != MISSING
    du = _read_small(view, posixpath.join(p, "direct_url.json"), 1 << 20, dist, "direct_url.json")
    if du is not None:
        try:
            value = json.loads(du)
            if isinstance(value, dict) and isinstance(value.get("url"), str):
                dist.direct_url = value
            else:
                dist.problems.append("direct_url.json: no url (not PEP 610)")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            dist.problems.append(f"direct_url.json: bad JSON ({exc})")
    top = _read_small(view, posixpath.join(p, "top_level.txt"), 1 << 20, dist, "top_level.txt")
    if top is not None:
        dist.top_level = [t.strip() for t in top.decode("utf-8", "replace").splitlines() if t.strip()]
    rec = _read_small(view, posixpath.join(p, "RECORD"), 256 << 20, dist, "RECORD")
    if rec is None:
        if not any(x.startswith("RECORD") for x in dist.problems):
            dist.problems.append("RECORD: missing (files cannot be verified)")
    else:
        dist.record = parse_record(rec)
        dist.problems.extend(f"RECORD {msg}" for msg in dist.record.problems)


def _read_egg_info_extras(view: HostView, dist: Dist) -> None:
    p = dist.path
    files = _read_small(view, posixpath.join(p, "installed-files.txt"), 64 << 20, dist, "installed-files.txt")
    if files is not None:
        dist.installed_files = [ln.strip() for ln in files.decode("utf-8", "replace").splitlines() if ln.strip()]
    top = _read_small(view, posixpath.join(p, "top_level.txt"), 1 << 20, dist, "top_level.txt")
    if top is not None:
        dist.top_level = [t.strip() for t in top.decode("utf-8", "replace").splitlines() if t.strip()]
    req = _read_small(view, posixpath.join(p, "requires.txt"), 1 << 20, dist, "requires.txt")
    if req is not None:
        lines = [ln for ln in req.decode("utf-8", "replace").splitlines() if not ln.startswith("[")]
        dist.requires |= _req_names(lines)


def _set_install_time(view: HostView, dist: Dist) -> None:
    # pip writes RECORD last, after every file of the distribution; its mtime is the end of the
    # install. INSTALLER / METADATA / the folder itself stand in when RECORD is gone.
    candidates = [("RECORD", posixpath.join(dist.path, "RECORD")),
                  ("INSTALLER", posixpath.join(dist.path, "INSTALLER")),
                  ("METADATA", posixpath.join(dist.path, "METADATA")),
                  ("PKG-INFO", posixpath.join(dist.path, "PKG-INFO")),
                  ("folder", dist.path)]
    for label, path in candidates:
        node = view.node(path)
        if node.mtime is not None:
            try:
                dist.install_time = from_epoch(node.mtime)
            except (ValueError, OverflowError):
                continue
            dist.install_time_source = f"{label} mtime"
            return


def list_dist_names(view: HostView, env: str) -> list[str]:
    return sorted(n for n in view.children(env) or [] if n.endswith(".dist-info") or n.endswith(".egg-info"))
