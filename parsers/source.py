"""What a parser is handed: one collected file (:class:`Source`) and the run's :class:`ParseContext`.

A Source is the same whether it came from an evidence archive (manifest row + extracted member)
or from a plain host tree (a row made from ``lstat``), so parsers never care which.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from mlsleuth.events import Category, Event, TimestampQuality, from_epoch, parse_error

if TYPE_CHECKING:
    from mlsleuth.parsers.evidence import Evidence

class ContentUnavailable(Exception):
    """The file's bytes are not in the evidence (hashed only, skipped, failed) or not a regular file."""


def open_regular(path: Path) -> BinaryIO:
    """Open ``path`` read-only without following a final symlink (O_NOATIME where permitted, as
    the collector does), refusing FIFOs and devices: O_NONBLOCK makes a FIFO swapped in after a
    stat fail fast instead of hanging, and fstat refuses it."""
    from mlsleuth.artifacts.fsutil import open_noatime

    try:
        fd, _ = open_noatime(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # the final component is a symlink
            raise ContentUnavailable(f"{Path(path).name} is a symlink") from exc
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise ContentUnavailable("not a regular file")
    return os.fdopen(fd, "rb")


def _time(row: dict[str, Any], key: str) -> datetime | None:
    value = row.get(key)
    if value is None or isinstance(value, bool):
        return None
    try:
        seconds = float(value)
        return from_epoch(seconds) if seconds > 0 else None
    except (TypeError, ValueError, OverflowError):
        return None


@dataclass(slots=True)
class Source:
    """One collected file (or symlink, or a file that was seen but not copied)."""

    artifact: str
    parser: str
    host_path: str  # the path as it was on the host
    user: str
    local_path: Path | None  # where its bytes can be read now; None when not collected whole
    row: dict[str, Any]  # manifest row, or one made from lstat for a plain tree
    evidence_name: str  # archive member (or host path for a tree); prefix of every `evidence`
    evidence: Evidence | None = None  # for parsers that need a neighbouring file

    # -- metadata ------------------------------------------------------------------------------
    @property
    def action(self) -> str:
        return str(self.row.get("action") or "copied")

    @property
    def size(self) -> int | None:
        size = self.row.get("size")
        return int(size) if isinstance(size, int | float) and not isinstance(size, bool) else None

    @property
    def sha256(self) -> str | None:
        value = self.row.get("sha256")
        return value.lower() if isinstance(value, str) and len(value) == 64 else None

    @property
    def link_target(self) -> str | None:
        target = self.row.get("link_target")
        return target if isinstance(target, str) else None

    @property
    def is_symlink(self) -> bool:
        return self.action == "symlink" or self.link_target is not None

    @property
    def mtime(self) -> datetime | None:
        return _time(self.row, "mtime")

    @property
    def atime(self) -> datetime | None:
        return _time(self.row, "atime")

    @property
    def ctime(self) -> datetime | None:
        return _time(self.row, "ctime")

    @property
    def btime(self) -> datetime | None:
        return _time(self.row, "btime")

    @property
    def name(self) -> str:
        return self.host_path.rstrip("/").rsplit("/", 1)[-1]

    @property
    def parts(self) -> dict[str, Path]:
        """Analysable parts of a large file kept by the collector (name -> local path)."""
        found: dict[str, Path] = {}
        evidence = self.evidence
        for part in self.row.get("parts") or ():
            if not isinstance(part, dict) or not isinstance(part.get("name"), str):
                continue
            local = evidence.member_path(part.get("member", "")) if evidence is not None else None
            if local is not None:
                found[part["name"]] = local
        return found

    # -- content -------------------------------------------------------------------------------
    def unavailable_reason(self) -> str | None:
        if self.local_path is not None:
            return None
        action = self.action
        if action in ("hashed", "partial"):
            return f"content not collected ({action}: larger than the copy limit)"
        if action == "symlink":
            return f"symlink to {self.link_target!r}"
        detail = self.row.get("reason") or self.row.get("error") or "no reason recorded"
        return f"content not collected ({action}: {detail})"

    def open(self) -> BinaryIO:
        reason = self.unavailable_reason()
        if reason or self.local_path is None:
            raise ContentUnavailable(reason or "no local copy")
        return open_regular(self.local_path)

    def read_bytes(self, limit: int) -> bytes:
        """At most ``limit`` bytes; raise ContentUnavailable when longer (no silent truncation)."""
        with self.open() as fh:
            data = fh.read(limit + 1)
        if len(data) > limit:
            raise ContentUnavailable(f"larger than {limit} bytes")
        return data

    def content_sha256(self) -> str | None:
        """The collector's hash, or (plain trees) one computed now from the local copy."""
        if self.sha256 or self.local_path is None:
            return self.sha256
        try:
            fh = self.open()
        except (ContentUnavailable, OSError):
            return None
        digest = hashlib.sha256()
        with fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
        self.row["sha256"] = digest.hexdigest()
        return self.row["sha256"]

    # -- events --------------------------------------------------------------------------------
    def ref(self, loc: str | None = None) -> str:
        return f"{self.evidence_name}#{loc}" if loc else self.evidence_name

    def event(self, ctx: ParseContext, *, timestamp: datetime, desc: str, category: Category,
              message: str, quality: TimestampQuality = TimestampQuality.EXACT,
              loc: str | None = None, **fields: Any) -> Event:
        fields.setdefault("file_path", self.host_path)
        fields.setdefault("user", self.user)
        return Event(timestamp=timestamp, timestamp_desc=desc, source=self.parser, category=category,
                     message=message, timestamp_quality=quality, host=ctx.host,
                     evidence=self.ref(loc), **fields)

    def error(self, ctx: ParseContext, reason: str, loc: str | None = None) -> Event:
        return parse_error(self.parser or self.artifact, self.ref(loc), reason, host=ctx.host,
                           user=self.user, when=self.mtime, file_path=self.host_path)


@dataclass(slots=True)
class ParseContext:
    """Run-wide facts: whose host this is, which timezone local times are in, shared state."""

    host: str = ""
    tz: tzinfo = UTC
    tz_name: str = "UTC"
    tz_origin: str = "default"  # host.json | etc/timezone | etc/localtime | --tz | default
    evidence: Evidence | None = None
    collection_time: datetime | None = None
    # Per-parser scratch space (e.g. which HF cache folders were already walked in this run).
    state: dict[str, Any] = field(default_factory=dict)

    def local_to_utc(self, naive: datetime) -> datetime:
        """A naive local time of this host as UTC (the earlier of two ambiguous readings)."""
        if naive.tzinfo is not None:
            return naive.astimezone(UTC)
        return naive.replace(tzinfo=self.tz, fold=0).astimezone(UTC)

    def tz_extra(self) -> dict[str, str]:
        """Stated on every event whose time was local on the host."""
        return {"assumed_tz": self.tz_name, "tz_source": self.tz_origin}

    def scratch(self, key: str, factory: Any = set) -> Any:
        if key not in self.state:
            self.state[key] = factory()
        return self.state[key]


_SANE_FIRST = datetime(1980, 1, 1, tzinfo=UTC)
_SANE_LAST = datetime(2100, 1, 1, tzinfo=UTC)


def sane_time(dt: datetime) -> bool:
    """Sanity bound for times read from evidence (1980 .. 2100): outside it is a parse artefact."""
    return _SANE_FIRST <= dt <= _SANE_LAST
