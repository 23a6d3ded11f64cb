"""The event schema: the one contract between collector, parsers and timelines.

Every fact mlsleuth reports is an :class:`Event`: a UTC time, what that time means
(``timestamp_desc``), how sure we are of it (``timestamp_quality``), where the fact was read
(``evidence``) and a few typed entities the timeline correlates on. docs/events.md documents it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import IO, Any

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Stands in for facts that have no time of their own (a static verdict of a file with no
# readable times); sorted first and marked estimated so nobody takes it for a real time.
UNKNOWN_TIME = EPOCH


class TimestampQuality(StrEnum):
    EXACT = "exact"  # the artifact recorded this very time (bash #epoch, HF blob mtime, psutil)
    FILE_TIME = "inferred-from-file-time"  # taken from a file's MAC times, not from the record
    ESTIMATED = "estimated"  # placed between known bounds (an IPython line inside its session)


class Category(StrEnum):
    """What kind of fact an event is; the timeline correlates on this, never on `source` names."""

    MODEL_DOWNLOAD = "model_download"  # a model/dataset file or revision materialised on the host
    REMOTE_CODE = "remote_code"  # code from a repo materialised (transformers_modules, hubconf.py)
    PACKAGE_INSTALL = "package_install"  # a distribution installed/removed (dist-info, conda, pip log)
    COMMAND = "command"  # code or a command a person ran (shell, IPython, notebook cell)
    PROCESS = "process"  # a process started (live state, osquery)
    NETWORK = "network"  # a connection or listening socket
    PERSISTENCE = "persistence"  # a write to a location that runs code later
    FILE = "file"  # plain file system activity (bodyfile MACB, watch journal)
    CONFIG = "config"  # a setting in force (pip.conf index, jupyter config, HF token presence)
    FINDING = "finding"  # a verdict or detection (static model verdict, tampered blob)
    HOST = "host"  # host facts (boot time, collection start/end)
    PARSE_ERROR = "parse_error"  # an artifact that could not be (fully) read


# Entity fields the timeline correlates on; all optional, all plain scalars.
ENTITY_FIELDS: tuple[str, ...] = (
    "model_repo", "revision", "file_path", "sha256", "pid", "ppid", "process", "cmdline",
    "package", "version", "index_url", "remote_addr", "verdict",
)


def utc(dt: datetime) -> datetime:
    """Return ``dt`` in UTC; a naive datetime is refused (its zone would be a guess)."""
    if dt.tzinfo is None:
        raise ValueError(f"naive datetime {dt!r}: say which timezone it is in")
    return dt.astimezone(UTC)


def from_epoch(seconds: float) -> datetime:
    """UTC datetime from POSIX seconds, exact to the microsecond (no float drift)."""
    if not math.isfinite(seconds):
        raise ValueError(f"not a time: {seconds!r}")
    return EPOCH + timedelta(microseconds=round(seconds * 1_000_000))


def from_epoch_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=int(us))


def to_epoch_us(dt: datetime) -> int:
    delta = utc(dt) - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def iso(dt: datetime) -> str:
    """ISO 8601 with microseconds and an explicit +00:00, as Timesketch wants it."""
    return utc(dt).isoformat(timespec="microseconds")


@dataclass(slots=True)
class Event:
    timestamp: datetime
    timestamp_desc: str  # what the time means: "Blob Modified", "Command Executed", ...
    source: str  # artifact/parser that produced it: "hf_cache", "bash_history", ...
    category: Category
    message: str
    timestamp_quality: TimestampQuality = TimestampQuality.EXACT
    host: str = ""
    user: str = ""
    evidence: str = ""  # archive member (or file) + "#" + line/row/JSON path where it was read
    model_repo: str | None = None  # "models/org/name", "datasets/org/name", "spaces/org/name"
    revision: str | None = None
    file_path: str | None = None  # path as it was on the host
    sha256: str | None = None
    pid: int | None = None
    ppid: int | None = None
    process: str | None = None
    cmdline: str | None = None
    package: str | None = None
    version: str | None = None
    index_url: str | None = None
    remote_addr: str | None = None
    verdict: str | None = None  # malicious / suspicious / clean / unsupported / error
    extra: dict[str, Any] = field(default_factory=dict)  # JSON-serialisable details

    def __post_init__(self) -> None:
        self.timestamp = utc(self.timestamp)
        self.category = Category(self.category)
        self.timestamp_quality = TimestampQuality(self.timestamp_quality)

    # -- serialisation (events.jsonl between stages) -------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["timestamp"] = iso(self.timestamp)
        d["category"] = str(self.category)
        d["timestamp_quality"] = str(self.timestamp_quality)
        return {k: v for k, v in d.items() if v is not None and v != {} and v != ""
                or k in _ALWAYS}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Event:
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in d.items() if k in known}
        kwargs["timestamp"] = datetime.fromisoformat(d["timestamp"])
        return cls(**kwargs)

    # -- Timesketch ----------------------------------------------------------------------------
    def to_timesketch(self) -> dict[str, Any]:
        """Flat row with Timesketch's required columns; extras become ``x_<key>`` attributes."""
        row: dict[str, Any] = {
            "message": self.message,
            "datetime": iso(self.timestamp),
            "timestamp": to_epoch_us(self.timestamp),
            "timestamp_desc": self.timestamp_desc,
            "timestamp_quality": str(self.timestamp_quality),
            "source": self.source,
            "category": str(self.category),
            "host": self.host,
            "user": self.user,
            "evidence": self.evidence,
        }
        for name in ENTITY_FIELDS:
            value = getattr(self, name)
            if value is not None:
                row[name] = value
        for key, value in self.extra.items():
            row[f"x_{key}"] = value
        return row

    @classmethod
    def from_timesketch(cls, row: dict[str, Any]) -> Event:
        extra = {k[2:]: v for k, v in row.items() if k.startswith("x_")}
        base = {k: v for k, v in row.items() if not k.startswith("x_")}
        # `timestamp` (µs) is authoritative; `datetime` is its rendering.
        return cls(
            timestamp=from_epoch_us(base["timestamp"]),
            timestamp_desc=base["timestamp_desc"],
            source=base.get("source", "timesketch"),
            category=Category(base.get("category", Category.FILE)),
            message=base["message"],
            timestamp_quality=TimestampQuality(base.get("timestamp_quality", "exact")),
            host=base.get("host", ""),
            user=base.get("user", ""),
            evidence=base.get("evidence", ""),
            extra=extra,
            **{name: base[name] for name in ENTITY_FIELDS if name in base},
        )


_ALWAYS = {"timestamp", "timestamp_desc", "source", "category", "message", "timestamp_quality"}


def parse_error(source: str, evidence: str, reason: str, *, host: str = "", user: str = "",
                when: datetime | None = None, file_path: str | None = None) -> Event:
    """The event every parser emits instead of crashing on bad input."""
    return Event(
        timestamp=when or UNKNOWN_TIME,
        timestamp_desc="Parse Error",
        source=source,
        category=Category.PARSE_ERROR,
        message=f"{source}: could not fully parse {file_path or evidence}: {reason}",
        timestamp_quality=TimestampQuality.EXACT if when else TimestampQuality.ESTIMATED,
        host=host,
        user=user,
        evidence=evidence,
        file_path=file_path,
        extra={"error": reason},
    )


def write_jsonl(events: Iterable[Event], fh: IO[str]) -> int:
    n = 0
    for ev in events:
        fh.write(json.dumps(ev.to_dict(), ensure_ascii=False, default=str))
        fh.write("\n")
        n += 1
    return n


def read_jsonl(fh: IO[str]) -> Iterator[Event]:
    for line in fh:
        line = line.strip()
        if line:
            yield Event.from_dict(json.loads(line))
