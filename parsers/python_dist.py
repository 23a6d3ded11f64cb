"""Installed Python distributions: ``*.dist-info`` (and legacy ``*.egg-info``) folders.

One PACKAGE_INSTALL event per distribution. Install time comes from the folder's files: pip
writes ``RECORD`` last (then ``INSTALLER``, ``REQUESTED``, ``direct_url.json``), so RECORD's
mtime is when the install finished (inferred from a file time; all the files' times are kept in
``extra`` and a ctime far from the mtime, the mark of a copied or back-dated folder, is flagged).
``INSTALLER`` says which tool (pip, uv, conda, poetry), ``REQUESTED`` whether it was asked for by
name rather than pulled in as a dependency, and ``direct_url.json`` (PEP 610) whether it came
from a VCS URL, an archive URL or a local folder (editable or not) instead of an index.

The collector hands each file; the first file of a folder makes the parser read the folder.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from email.parser import HeaderParser
from email.policy import compat32
from typing import Any

from mlsleuth.parsers.registry import register
from mlsleuth.parsers.source import ContentUnavailable, ParseContext, Source
from mlsleuth.parsers.text import decode

from mlsleuth.events import UNKNOWN_TIME, Category, Event, TimestampQuality, iso
from mlsleuth.redact import redact_url

TIME_ORDER = ("RECORD", "INSTALLER", "direct_url.json", "REQUESTED", "METADATA", "PKG-INFO",
              "installed-files.txt", "SOURCES.txt")
DISAGREE_S = 86_400
_DIST_DIR = re.compile(r"^(?P<name>.+?)-(?P<version>[^-]+?)\.(?P<kind>dist-info|egg-info)$")


def dist_dir_of(host_path: str) -> str | None:
    parts = host_path.split("/")
    for i in range(len(parts) - 1, 0, -1):
        if parts[i].endswith((".dist-info", ".egg-info")):
            return "/".join(parts[:i + 1])
    return None


@register("python_dist")
def parse(src: Source, ctx: ParseContext) -> Iterator[Event]:
    folder = dist_dir_of(src.host_path)
    if folder is None:
        return
    done = ctx.scratch("python_dist.folders")
    if folder in done:
        return
    done.add(folder)
    files: dict[str, Source] = {}
    if src.evidence is not None:
        for entry in src.evidence.walk(folder):
            rel = entry.host_path[len(folder) + 1:]
            if "/" not in rel:
                files[rel] = entry
    files.setdefault(src.name, src)
    yield from dist_events(folder, files, ctx)


def _read(files: dict[str, Source], name: str, limit: int = 1 << 20) -> str | None:
    entry = files.get(name)
    if entry is None:
        return None
    try:
        return decode(entry.read_bytes(limit))
    except ContentUnavailable:
        try:
            with entry.open() as fh:  # METADATA with a huge description: headers are at the top
                return decode(fh.read(limit))
        except ContentUnavailable:
            return None


def dist_events(folder: str, files: dict[str, Source], ctx: ParseContext) -> Iterator[Event]:
    folder_name = folder.rsplit("/", 1)[-1]
    named = _DIST_DIR.match(folder_name)
    meta_text = _read(files, "METADATA") or _read(files, "PKG-INFO") or ""
    headers = HeaderParser(policy=compat32).parsestr(meta_text, headersonly=True) if meta_text else {}
    name = (headers.get("Name") if headers else None) or (named.group("name") if named else folder_name)
    version = (headers.get("Version") if headers else None) or (named.group("version") if named else None)
    installer = (_read(files, "INSTALLER") or "").strip().splitlines()[0:1]
    extra: dict[str, Any] = {
        "dist_info": folder, "format": named.group("kind") if named else "unknown",
        "installer": installer[0] if installer else None, "requested": "REQUESTED" in files,
        "site_packages": folder.rsplit("/", 1)[0],
    }
    index_url = None
    direct = _read(files, "direct_url.json")
    if direct is not None:
        index_url = _direct_url(direct, extra)
    record = files.get("RECORD")
    if record is not None and record.size is not None:
        extra["record_bytes"] = record.size
    when, which, quality = None, "", TimestampQuality.ESTIMATED
    for candidate in TIME_ORDER:
        entry = files.get(candidate)
        if entry is not None and entry.mtime is not None:
            when, which, quality = entry.mtime, candidate, TimestampQuality.FILE_TIME
            break
    times = {n: {"mtime": iso(e.mtime) if e.mtime else None, "ctime": iso(e.ctime) if e.ctime else None}
             for n, e in sorted(files.items()) if n in TIME_ORDER}
    extra["file_times"] = times
    extra["time_field"] = f"{which} mtime" if which else "none"
    anchor = files.get(which) if which else None
    if anchor is not None and anchor.ctime is not None and when is not None and \
            abs((anchor.ctime - when).total_seconds()) > DISAGREE_S:
        extra["times_disagree"] = True
    how = extra["installer"] or "an unknown installer"
    origin = f" from {index_url}" if index_url else ""
    asked = "requested" if extra["requested"] else "as a dependency"
    user = next((e.user for e in files.values() if e.user), "")
    yield Event(timestamp=when or UNKNOWN_TIME, timestamp_desc="Package Installed", source="python_dist",
                category=Category.PACKAGE_INSTALL,
                message=f"{name} {version or '?'} installed with {how} ({asked}){origin} into {extra['site_packages']}",
                timestamp_quality=quality, host=ctx.host, user=user,
                evidence=(anchor or next(iter(files.values()))).ref(), file_path=folder, package=name,
                version=version, index_url=index_url, extra=extra)


def _direct_url(text: str, extra: dict[str, Any]) -> str | None:
    try:
        data = json.loads(text)
    except ValueError as exc:
        extra["direct_url_error"] = str(exc)
        return None
    if not isinstance(data, dict):
        return None
    url = redact_url(str(data.get("url") or ""))[0] or None
    extra["direct_url"] = url
    if isinstance(data.get("vcs_info"), dict):
        vcs = data["vcs_info"]
        extra.update(origin="vcs", vcs=vcs.get("vcs"), commit=vcs.get("commit_id"),
                     requested_revision=vcs.get("requested_revision"))
    elif isinstance(data.get("archive_info"), dict):
        info = data["archive_info"]
        extra.update(origin="archive", archive_hash=info.get("hash") or info.get("hashes"))
    elif isinstance(data.get("dir_info"), dict):
        extra.update(origin="local directory", editable=bool(data["dir_info"].get("editable")))
    return url
