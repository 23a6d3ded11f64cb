"""Helpers for the parser tests: lay files out under a fake host root with chosen times, read
them back through the same Evidence the product uses, and run one parser on them."""

from __future__ import annotations

import io
import json
import os
import tarfile
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlsleuth.parsers import make_context, parse_source
from mlsleuth.parsers.evidence import TreeEvidence, stat_row
from mlsleuth.parsers.source import ParseContext, Source

from mlsleuth.events import Category, Event

T0 = datetime(2026, 11, 10, 9, 0, 0, tzinfo=UTC)


def put(root: Path, host_path: str, data: bytes | str, *, mtime: datetime | float | None = None) -> Path:
    local = root / host_path.lstrip("/")
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_bytes(data.encode() if isinstance(data, str) else data)
    if mtime is not None:
        stamp = mtime.timestamp() if isinstance(mtime, datetime) else mtime
        os.utime(local, (stamp, stamp))
    return local


def link(root: Path, host_path: str, target: str, *, mtime: datetime | None = None) -> Path:
    local = root / host_path.lstrip("/")
    local.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, local)
    if mtime is not None:
        os.utime(local, (mtime.timestamp(), mtime.timestamp()), follow_symlinks=False)
    return local


def source(root: Path, host_path: str, parser: str, *, evidence: TreeEvidence | None = None) -> Source:
    evidence = evidence or TreeEvidence(root)
    src = evidence.entry(host_path)
    assert src is not None, host_path
    src.parser = src.artifact = parser
    return src


def run(root: Path, host_path: str, parser: str, *, tz: str | None = None,
        ctx: ParseContext | None = None) -> list[Event]:
    evidence = TreeEvidence(root)
    ctx = ctx or make_context(evidence, assume_tz=tz)
    return list(parse_source(source(root, host_path, parser, evidence=evidence), ctx))


def of(events: Iterable[Event], desc: str | None = None, category: Category | str | None = None) -> list[Event]:
    return [e for e in events if (desc is None or e.timestamp_desc == desc)
            and (category is None or e.category == category)]


def errors(events: Iterable[Event]) -> list[Event]:
    return [e for e in events if e.category == Category.PARSE_ERROR]


def write_archive(tree: Path, archive: Path, *, host: dict[str, Any] | None = None,
                  artifacts: dict[str, str] | None = None, hashed: Iterable[str] = (),
                  extra_members: dict[str, bytes] | None = None) -> Path:
    """An evidence archive as the contract in docs/architecture.md lays it out, from a tree.

    ``artifacts``: host path prefix -> artifact name; ``hashed``: host paths kept as hash only.
    """
    import hashlib

    hashed = set(hashed)
    rows = []
    with tarfile.open(archive, "w:gz") as tar:
        for local in sorted(tree.rglob("*")):
            if local.is_dir() and not local.is_symlink():
                continue
            host_path = "/" + local.relative_to(tree).as_posix()
            artifact = next((a for p, a in (artifacts or {}).items() if host_path.startswith(p)), None)
            if artifact is None:
                continue
            row = stat_row(host_path, local, artifact=artifact, user=host_path.split("/")[2]
                           if host_path.startswith("/home/") else "")
            member = "fs" + host_path
            if row["action"] == "symlink":
                info = tarfile.TarInfo(member)
                info.type, info.linkname = tarfile.SYMTYPE, row["link_target"]
                tar.addfile(info)
            elif host_path in hashed:
                row["action"] = "hashed"
                row["sha256"] = hashlib.sha256(local.read_bytes()).hexdigest()
                member = None
            else:
                row["sha256"] = hashlib.sha256(local.read_bytes()).hexdigest()
                tar.add(local, member, recursive=False)
            row["member"] = member
            rows.append(row)
        members = {"manifest.jsonl": "".join(json.dumps(r) + "\n" for r in rows).encode(),
                   "host.json": json.dumps(host or {"hostname": "lab-01", "timezone": "UTC"}).encode()}
        members.update(extra_members or {})
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return archive
