"""Open what the parsers read: a `mlsleuth collect` archive or a plain host tree (dead-box root).

Both give the same interface, :class:`Evidence`: host facts, the collected files as
:class:`~mlsleuth.parsers.source.Source` objects (artifact, parser, host path, user, local copy,
manifest row), and look-ups of neighbouring files by host path for parsers that need them (an HF
snapshot link and its blob, a notebook and its checkpoint).

Archives are extracted once into a private temporary folder (see ``extract.py`` for the safety
rules) and removed on :meth:`Evidence.close`. The manifest is indexed in an on-disk SQLite table
so memory stays flat however many files the collection holds.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mlsleuth.parsers.extract import ExtractLimits, extract, safe_member_name
from mlsleuth.parsers.source import ContentUnavailable, Source, open_regular
from mlsleuth.parsers.text import decode, iter_lines, loads_json

from mlsleuth.events import Event, from_epoch, parse_error

MAX_HOST_JSON = 16 << 20
# Top-level archive members that are not under fs/ but still hold evidence, and their parsers.
SPECIAL_MEMBERS: dict[str, str] = {
    "host.json": "host_facts",
    "live/users.jsonl": "host_facts",
    "live/processes.jsonl": "live_processes",
    "live/connections.jsonl": "live_connections",
    "live/open_files.jsonl": "live_open_files",
    "bodyfile.txt": "bodyfile",
}
# Manifest actions whose member (if any) is not the file's content.
NO_CONTENT = frozenset({"symlink", "hashed", "partial", "skipped", "failed"})


# -- time zones -------------------------------------------------------------------------------
def parse_tz(value: Any) -> tuple[tzinfo, str] | None:
    """A tzinfo from what host.json or /etc/timezone say: IANA name, ``UTC``, ``+01:00`` or a dict."""
    if isinstance(value, dict):
        for key in ("name", "iana", "zone", "key", "tz"):
            found = parse_tz(value.get(key))
            if found:
                return found
        offset = value.get("utc_offset", value.get("offset"))
        if isinstance(offset, int | float) and not isinstance(offset, bool) and abs(offset) < 86400:
            return timezone(timedelta(seconds=offset)), f"UTC{offset / 3600:+g}"
        return parse_tz(offset) if isinstance(offset, str) else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text:
        return None
    if text.upper() in ("UTC", "Z", "GMT", "ETC/UTC", "UNIVERSAL", "ZULU"):
        return UTC, "UTC"
    sign = text[0]
    if sign in "+-" and len(text) in (3, 5, 6):
        digits = text[1:].replace(":", "")
        if digits.isdigit():
            hours, minutes = int(digits[:2]), int(digits[2:] or 0)
            delta = timedelta(hours=hours, minutes=minutes) * (1 if sign == "+" else -1)
            if abs(delta) < timedelta(hours=24):
                return timezone(delta), f"UTC{text}"
    try:
        return ZoneInfo(text), text
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


# -- paths inside a root ------------------------------------------------------------------------
def resolve_in_root(root: Path, host_path: str, *, follow_final: bool = False) -> Path | None:
    """Local path of ``host_path`` under ``root``, following symlinks as the host would (absolute
    targets are taken relative to ``root``) but never leaving it (the collector's own
    :class:`~mlsleuth.artifacts.fsutil.Confined`). The final component is left as it is unless
    ``follow_final``; None on a symlink loop."""
    from mlsleuth.artifacts.fsutil import Confined, LinkLoop

    confined = Confined(root)
    parent, _, name = host_path.rstrip("/").rpartition("/")
    try:
        if follow_final or name in ("", ".", ".."):
            resolved = confined.resolve(host_path)[0]
        else:
            resolved = confined.resolve(parent or "/")[0].rstrip("/") + "/" + name
    except LinkLoop:
        return None
    return confined.local(resolved)


def stat_row(host_path: str, local: Path, *, artifact: str = "", user: str = "",
             with_times: bool = True, st: os.stat_result | None = None) -> dict[str, Any]:
    """A manifest-like row made from ``lstat`` (for plain trees and archive side members);
    ``st``: an lstat result already at hand (the resolver's)."""
    row: dict[str, Any] = {"path": host_path, "artifact": artifact, "user": user}
    if st is None:
        try:
            st = os.lstat(local)
        except OSError as exc:
            row.update(action="failed", error=f"{type(exc).__name__}: {exc.strerror or exc}")
            return row
    row.update(size=st.st_size, mode=st.st_mode, uid=st.st_uid, gid=st.st_gid, inode=st.st_ino)
    if with_times:
        row.update(atime=st.st_atime_ns / 1e9, mtime=st.st_mtime_ns / 1e9, ctime=st.st_ctime_ns / 1e9,
                   btime=getattr(st, "st_birthtime", None))
    if stat.S_ISLNK(st.st_mode):
        row.update(action="symlink", link_target=os.readlink(local))
    elif stat.S_ISREG(st.st_mode):
        row["action"] = "copied"
    elif stat.S_ISDIR(st.st_mode):
        row.update(action="skipped", reason="directory")
    else:
        row.update(action="skipped", reason="fifo, socket or device: not opened")
    return row


def _read_json_file(path: Path) -> Any:
    with open_regular(path) as fh:
        data = fh.read(MAX_HOST_JSON + 1)
    if len(data) > MAX_HOST_JSON:
        raise ValueError("larger than 16 MiB")
    return loads_json(data)


# -- the artifact definitions (mlsleuth/artifacts, shared with the collector) -------------------
def artifact_parsers() -> dict[str, str | None]:
    """artifact name -> parser name (None: collected for hashes/bodyfile only, not parsed)."""
    try:
        from mlsleuth.artifacts import load_definitions

        return {d.name: d.parser for d in load_definitions()}
    except Exception:  # definitions broken or absent: fall back to parser = artifact name
        return {}


def _resolve_tree(root: Path) -> Iterator[Any]:
    """Every file and symlink a collection of ``root`` would take (``Target``: artifact, host
    path, user, local path, lstat, error): the collector's own resolver, so a tree reads as
    collected."""
    from mlsleuth.artifacts import resolve

    yield from resolve(root)


# -- Evidence -----------------------------------------------------------------------------------
class Evidence:
    """Common interface of an archive and a plain tree."""

    kind = "evidence"

    def __init__(self, origin: Path) -> None:
        self.origin = origin
        self.host: dict[str, Any] = {}
        self.hostname = ""
        self.tz: tzinfo | None = None
        self.tz_name = ""
        self.tz_origin = ""
        self.collection_time: datetime | None = None
        self.problems: list[Event] = []  # reading the container itself went wrong somewhere

    # to be provided by subclasses
    def sources(self) -> Iterator[Source]:
        raise NotImplementedError

    def entry(self, host_path: str) -> Source | None:
        raise NotImplementedError

    def walk(self, host_dir: str) -> Iterator[Source]:
        raise NotImplementedError

    def member_path(self, member: str) -> Path | None:
        return None

    def local_dir(self, host_dir: str) -> Path | None:
        """The local folder holding a host folder's collected files, if it is a real folder."""
        return None

    def close(self) -> None:
        pass

    def __enter__(self) -> Evidence:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # shared helpers
    def _set_host(self, host: dict[str, Any]) -> None:
        self.host = host
        name = host.get("hostname") or host.get("host") or host.get("name")
        if isinstance(name, str) and name.strip():
            self.hostname = name.strip()
        tz = parse_tz(host.get("timezone", host.get("tz")))
        if tz:
            self.tz, self.tz_name = tz
            self.tz_origin = "host.json"
        custody = host.get("custody") if isinstance(host.get("custody"), dict) else {}
        self.collection_time = parse_time(custody.get("start")) or parse_time(host.get("collection_start"))

    def _problem(self, member: str, reason: str) -> None:
        self.problems.append(parse_error("evidence", member or str(self.origin), reason,
                                         host=self.hostname))


def parse_time(value: Any) -> datetime | None:
    """UTC time from POSIX seconds or ISO 8601 (naive ISO is UTC: host.json writes UTC)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        try:
            return from_epoch(float(value))
        except (ValueError, OverflowError):
            return None
    if isinstance(value, str) and value:
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return dt.astimezone(UTC) if dt.tzinfo else dt.replace(tzinfo=UTC)
    return None


class TreeEvidence(Evidence):
    """A host's root folder (a mounted image or a copied host)."""

    kind = "tree"

    def __init__(self, root: Path, *, host: dict[str, Any] | None = None) -> None:
        super().__init__(root)
        self.root = root
        if host:
            self._set_host(host)
        if not self.hostname:
            self.hostname = self._first_line("/etc/hostname") or root.resolve().name or "unknown-host"
        if self.tz is None:
            self._tz_from_etc()

    def _first_line(self, host_path: str) -> str:
        local = resolve_in_root(self.root, host_path, follow_final=True)
        if local is None:
            return ""
        try:
            with open_regular(local) as fh:
                data = fh.read(4096)
        except (OSError, ContentUnavailable):
            return ""
        for line in decode(data).splitlines():
            if line.strip() and not line.startswith("#"):
                return line.strip()
        return ""

    def _tz_from_etc(self) -> None:
        found = parse_tz(self._first_line("/etc/timezone"))
        if found:
            self.tz, self.tz_name = found
            self.tz_origin = "etc/timezone"
            return
        localtime = self.root / "etc/localtime"
        try:
            target = os.readlink(localtime)
        except OSError:
            target = ""
        if "zoneinfo/" in target:
            found = parse_tz(target.split("zoneinfo/", 1)[1])
            if found:
                self.tz, self.tz_name = found
                self.tz_origin = "etc/localtime"
                return
        local = resolve_in_root(self.root, "/etc/localtime", follow_final=True)
        if local is not None:
            try:
                with open_regular(local) as fh:
                    self.tz = ZoneInfo.from_file(fh, key="etc/localtime")
                self.tz_name, self.tz_origin = "etc/localtime (TZif)", "etc/localtime"
            except (OSError, ValueError, ContentUnavailable):
                pass

    def _source(self, artifact: str, parser: str, host_path: str, user: str, local: Path,
                st: os.stat_result | None = None) -> Source:
        row = stat_row(host_path, local, artifact=artifact, user=user, st=st)
        content = local if row.get("action") == "copied" else None
        return Source(artifact=artifact, parser=parser, host_path=host_path, user=user,
                      local_path=content, row=row, evidence_name=host_path, evidence=self)

    def sources(self) -> Iterator[Source]:
        found = 0
        try:
            for target in _resolve_tree(self.root):
                found += 1
                if target.artifact.parser is None:
                    continue  # collected for hashes and the bodyfile only
                src = self._source(target.artifact.name, target.artifact.parser, target.host_path,
                                   target.user or "", Path(target.local_path), target.stat)
                if target.error:
                    src.row.update(action="failed", error=target.error)
                    src.local_path = None
                yield src
        except ImportError as exc:
            self._problem(str(self.root), f"artifact resolver unavailable: {exc}")
            return
        if not found:
            self._problem(str(self.root), "no artifact found under this folder: give the host's root "
                                          "(the folder holding etc/ and home/) or a collection")

    def entry(self, host_path: str) -> Source | None:
        local = resolve_in_root(self.root, host_path)
        if local is None or not os.path.lexists(local):
            return None
        return self._source("", "", host_path, _owner_hint(host_path), local)

    def local_dir(self, host_dir: str) -> Path | None:
        local = resolve_in_root(self.root, host_dir, follow_final=True)
        return local if local is not None and local.is_dir() and not local.is_symlink() else None

    def walk(self, host_dir: str) -> Iterator[Source]:
        local = self.local_dir(host_dir)
        if local is None:
            return
        base = host_dir.rstrip("/")
        stack: list[tuple[Path, str]] = [(local, base)]
        while stack:
            folder, host_folder = stack.pop()
            try:
                entries = sorted(os.scandir(folder), key=lambda e: e.name)
            except OSError:
                continue
            for entry in entries:
                host_path = f"{host_folder}/{entry.name}"
                if entry.is_dir(follow_symlinks=False):
                    stack.append((Path(entry.path), host_path))
                else:
                    yield self._source("", "", host_path, _owner_hint(host_path), Path(entry.path))


def _owner_hint(host_path: str) -> str:
    parts = host_path.split("/")
    if len(parts) > 2 and parts[1] == "home":
        return parts[2]
    if len(parts) > 1 and parts[1] == "root":
        return "root"
    return ""


class ArchiveEvidence(Evidence):
    """A collection laid out as the archive holds it (fs/, parts/, live/, manifest.jsonl, ...)."""

    kind = "archive"

    def __init__(self, root: Path, origin: Path, *, workdir: Path | None = None) -> None:
        super().__init__(origin)
        self.root = root
        self._owned_dir = workdir
        self._index_dir = Path(tempfile.mkdtemp(prefix="mlsleuth-index-"))
        self._db: sqlite3.Connection | None = None
        self._manifest = root / "manifest.jsonl"
        self._mapping = artifact_parsers()
        self._tree: TreeEvidence | None = None
        host_json = root / "host.json"
        if os.path.lexists(host_json):
            try:
                host = _read_json_file(host_json)
                self._set_host(host if isinstance(host, dict) else {})
            except (OSError, ValueError, ContentUnavailable) as exc:
                self._problem("host.json", f"unreadable: {exc}")
        if not os.path.lexists(self._manifest):
            self._problem("manifest.jsonl", "missing (archive truncated?): files are resolved "
                                            "from fs/ with the artifact definitions instead")
            self._tree = TreeEvidence(root / "fs", host=self.host)
            self.hostname = self.hostname or self._tree.hostname
            if self.tz is None:
                self.tz, self.tz_name, self.tz_origin = (
                    self._tree.tz, self._tree.tz_name, self._tree.tz_origin)
        if not self.hostname:
            self.hostname = origin.name.split(".")[0] or "unknown-host"

    # -- manifest --------------------------------------------------------------------------------
    def _rows(self, *, report: bool = True) -> Iterator[tuple[int, int, dict[str, Any]]]:
        """(line number, byte offset, row) of every readable manifest row; bad rows are reported
        as problems (once: the index build reads quietly)."""
        try:
            fh = open_regular(self._manifest)
        except (OSError, ContentUnavailable) as exc:
            if report:
                self._problem("manifest.jsonl", f"unreadable: {exc}")
            return
        with fh:
            offset = 0
            for number, raw, truncated in iter_lines(fh):
                start = offset
                offset = fh.tell()
                if not raw.strip():
                    continue
                try:
                    row = loads_json(raw)
                except ValueError as exc:
                    if report:
                        reason = "line too long" if truncated else f"not JSON: {exc}"
                        self._problem(f"manifest.jsonl#L{number}", reason)
                    continue
                if not isinstance(row, dict) or not isinstance(row.get("path"), str):
                    if report:
                        self._problem(f"manifest.jsonl#L{number}", "row without a path")
                    continue
                yield number, start, row

    def _index(self) -> sqlite3.Connection:
        if self._db is None:
            db = sqlite3.connect(self._index_dir / "manifest-index.sqlite")
            db.execute("CREATE TABLE rows (path TEXT, line INTEGER, offset INTEGER)")
            batch: list[tuple[str, int, int]] = []
            for number, offset, row in self._rows(report=False):
                batch.append((row["path"], number, offset))
                if len(batch) >= 50_000:
                    db.executemany("INSERT INTO rows VALUES (?, ?, ?)", batch)
                    batch.clear()
            db.executemany("INSERT INTO rows VALUES (?, ?, ?)", batch)
            db.execute("CREATE INDEX rows_path ON rows (path)")
            db.commit()
            self._db = db
        return self._db

    def _row_at(self, offset: int) -> dict[str, Any] | None:
        with open_regular(self._manifest) as fh:
            fh.seek(offset)
            raw = fh.readline(1 << 24)
        try:
            row = loads_json(raw)
        except ValueError:
            return None
        return row if isinstance(row, dict) else None

    def member_path(self, member: str) -> Path | None:
        rel = safe_member_name(member or "")
        if rel is None:
            return None
        local = self.root / rel
        try:
            st = os.lstat(local)
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        real_root = os.path.realpath(self.root)
        if not os.path.realpath(local).startswith(real_root + os.sep):
            return None  # a folder on the way is a symlink (only in a tree we did not extract)
        return local

    def _source(self, row: dict[str, Any], line: int) -> Source:
        artifact = str(row.get("artifact") or "")
        parser = self._mapping.get(artifact, artifact) or ""
        member = row.get("member") if isinstance(row.get("member"), str) else ""
        action = row.get("action") or "copied"
        # copied and redacted rows carry their bytes in `member`; a symlink's member is the link
        local = self.member_path(member) if member and action not in NO_CONTENT else None
        if member and action not in NO_CONTENT and local is None:
            row = dict(row, action="failed", error=f"member {member!r} missing from the archive")
        return Source(artifact=artifact, parser=parser, host_path=row["path"],
                      user=str(row.get("user") or ""), local_path=local, row=row,
                      evidence_name=member or f"manifest.jsonl#L{line}", evidence=self)

    def sources(self) -> Iterator[Source]:
        if self._tree is not None:
            yield from self._tree.sources()
            self.problems.extend(self._tree.problems)
            self._tree.problems.clear()
        else:
            seen_members: set[str] = set()
            for line, _offset, row in self._rows():
                member = row.get("member")
                if isinstance(member, str) and member in SPECIAL_MEMBERS:
                    seen_members.add(member)
                if self._mapping.get(str(row.get("artifact") or ""), "") is None:
                    continue  # an artifact collected for hashes and the bodyfile only
                yield self._source(row, line)
        for member, parser in SPECIAL_MEMBERS.items():
            if self._tree is None and member in seen_members:
                continue
            local = self.member_path(member)
            if local is None:
                continue
            row = stat_row("", local, artifact=parser, with_times=False)
            yield Source(artifact=parser, parser=parser, host_path="", user="", local_path=local,
                         row=row, evidence_name=member, evidence=self)

    def entry(self, host_path: str) -> Source | None:
        if self._tree is not None:
            return self._tree.entry(host_path)
        db = self._index()
        hit = db.execute("SELECT line, offset FROM rows WHERE path = ? ORDER BY line LIMIT 1",
                         (host_path,)).fetchone()
        if hit is None:
            return None
        row = self._row_at(hit[1])
        return self._source(row, hit[0]) if row else None

    def local_dir(self, host_dir: str) -> Path | None:
        if self._tree is not None:
            return self._tree.local_dir(host_dir)
        rel = safe_member_name("fs/" + host_dir.strip("/"))
        if rel is None:
            return None
        local = self.root / rel
        real_root = os.path.realpath(self.root)
        if not local.is_dir() or not os.path.realpath(local).startswith(real_root + os.sep):
            return None
        return local

    def walk(self, host_dir: str) -> Iterator[Source]:
        if self._tree is not None:
            yield from self._tree.walk(host_dir)
            return
        base = host_dir.rstrip("/") + "/"
        upper = base[:-1] + chr(ord("/") + 1)
        db = self._index()
        cursor = db.execute("SELECT line, offset FROM rows WHERE path >= ? AND path < ? ORDER BY path",
                            (base, upper))
        for line, offset in cursor:
            row = self._row_at(offset)
            if row:
                yield self._source(row, line)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        shutil.rmtree(self._index_dir, ignore_errors=True)
        if self._owned_dir is not None:
            shutil.rmtree(self._owned_dir, ignore_errors=True)
            self._owned_dir = None


def is_collection_dir(path: Path) -> bool:
    return path.is_dir() and ((path / "manifest.jsonl").is_file() or (
        (path / "fs").is_dir() and (path / "host.json").is_file()))


def open_evidence(path: Path, *, limits: ExtractLimits | None = None) -> Evidence:
    """An archive (.tar.gz, extracted safely into a temporary folder), an extracted collection
    folder, or a plain host tree."""
    path = Path(path)
    if path.is_dir():
        if is_collection_dir(path):
            return ArchiveEvidence(path, path)
        return TreeEvidence(path)
    workdir = Path(tempfile.mkdtemp(prefix="mlsleuth-evidence-"))
    report = extract(path, workdir, limits)
    root = workdir
    if not (workdir / "manifest.jsonl").exists():
        # Tolerate one wrapping folder (an archive re-packed by hand).
        subdirs = [p for p in workdir.iterdir() if p.is_dir() and not p.is_symlink()]
        if len(subdirs) == 1 and is_collection_dir(subdirs[0]):
            root = subdirs[0]
    evidence = ArchiveEvidence(root, path, workdir=workdir)
    for member, reason in report.errors:
        evidence._problem(member or path.name, reason)
    return evidence
