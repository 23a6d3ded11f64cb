"""mlsleuth.parsers: every collected artifact becomes timestamped events.

Public API (used by the timeline stage):

* :func:`parse_input` — one input path (evidence archive, extracted collection, plain host tree,
  plaso ``json_line`` file, osquery result log, or an mlsleuth events.jsonl) -> events, streamed.
* :func:`parse_evidence` — an opened :class:`~mlsleuth.parsers.evidence.Evidence` -> events.
* :func:`open_evidence`, :func:`register`, :func:`register_analyzer` for plugins and tests.

Every event leaves here with ``host`` set. Nothing is held back: events are yielded as each file
is read, so memory does not grow with their number.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from pathlib import Path

from mlsleuth.parsers.evidence import Evidence, open_evidence, parse_tz
from mlsleuth.parsers.registry import (
    analyzers,
    get_parser,
    guarded,
    import_errors,
    register,
    register_analyzer,
)
from mlsleuth.parsers.source import ParseContext, Source
from mlsleuth.parsers.text import loads_json

from mlsleuth.events import UNKNOWN_TIME, Category, Event, TimestampQuality, parse_error

__all__ = [
    "Evidence", "ParseContext", "Source", "make_context", "open_evidence", "parse_evidence",
    "parse_input", "parse_source", "register", "register_analyzer", "sniff",
]

_ARCHIVE_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")


def sniff(path: Path) -> str:
    """What an input is: ``evidence`` | ``plaso`` | ``osquery`` | ``events`` | ``unknown``."""
    path = Path(path)
    if path.is_dir():
        return "evidence"
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 16)
    except OSError:
        return "unknown"
    if head.startswith(_ARCHIVE_MAGIC) or head[257:262] == b"ustar":
        return "evidence"
    for raw in head.splitlines()[:20]:
        raw = raw.strip()
        if not raw:
            continue
        try:
            record = loads_json(raw)
        except ValueError:
            return "unknown"  # the first non-empty line must be one JSON object
        if not isinstance(record, dict):
            return "unknown"
        return _kind_of_record(record)
    return "unknown"


def _kind_of_record(record: dict) -> str:
    if "__container_type__" in record or ("data_type" in record and "timestamp_desc" in record):
        return "plaso"
    if "hostIdentifier" in record or ("name" in record and any(
            key in record for key in ("columns", "snapshot", "diffResults"))):
        return "osquery"
    if {"timestamp", "timestamp_desc", "source", "category"} <= record.keys():
        return "events"
    return "unknown"


def make_context(evidence: Evidence | None = None, *, assume_tz: str | None = None,
                 host: str = "") -> ParseContext:
    """The context for one input: its host, and the timezone local times are read in.

    The evidence's own zone wins (host.json, /etc/timezone); ``assume_tz`` (``--tz``) fills in
    when it has none; else UTC, stated as such on every local-time event.
    """
    ctx = ParseContext(host=host, evidence=evidence)
    if evidence is not None:
        ctx.host = evidence.hostname or host
        ctx.collection_time = evidence.collection_time
        if evidence.tz is not None:
            ctx.tz, ctx.tz_name, ctx.tz_origin = evidence.tz, evidence.tz_name, evidence.tz_origin
            return ctx
    assumed = parse_tz(assume_tz) if assume_tz else None
    if assume_tz and assumed is None:
        raise ValueError(f"unknown timezone {assume_tz!r}")
    if assumed:
        ctx.tz, ctx.tz_name = assumed
        ctx.tz_origin = "--tz"
    else:
        ctx.tz, ctx.tz_name, ctx.tz_origin = UTC, "UTC", "default (no timezone known)"
    return ctx


def parse_source(src: Source, ctx: ParseContext) -> Iterator[Event]:
    """Events of one collected file through its registered parser, never raising."""
    if src.row.get("reason") == "directory":
        return
    fn = get_parser(src.parser)
    if fn is None:
        yield src.error(ctx, f"no parser registered under {src.parser!r}")
        return
    if src.action in ("skipped", "failed"):
        yield src.error(ctx, src.unavailable_reason() or src.action)
        return
    if src.is_symlink and not getattr(fn, "handles_symlinks", False):
        yield from _symlink_events(src, ctx)
        return
    yield from guarded(lambda: fn(src, ctx), source=src.parser, evidence=src.ref(), host=ctx.host,
                       user=src.user, file_path=src.host_path)


def _symlink_events(src: Source, ctx: ParseContext) -> Iterator[Event]:
    """An artifact file that is a symlink: where it points is the fact (history -> /dev/null)."""
    target = src.link_target or "?"
    when = src.mtime or src.ctime
    if target == "/dev/null" and "history" in src.parser:
        yield src.event(ctx, timestamp=when or UNKNOWN_TIME, desc="Symlink Modified",
                        category=Category.FINDING,
                        message=f"{src.host_path} is a symlink to /dev/null: shell history disabled",
                        quality=TimestampQuality.FILE_TIME if when else TimestampQuality.ESTIMATED,
                        verdict="suspicious", extra={"link_target": target, "rule": "history_disabled"})
        return
    if when is None:
        return
    yield src.event(ctx, timestamp=when, desc="Symlink Modified", category=Category.FILE,
                    message=f"{src.host_path} -> {target}", quality=TimestampQuality.FILE_TIME,
                    extra={"link_target": target})


def parse_evidence(evidence: Evidence, *, assume_tz: str | None = None,
                   ctx: ParseContext | None = None) -> Iterator[Event]:
    ctx = ctx or make_context(evidence, assume_tz=assume_tz)
    for event in _evidence_events(evidence, ctx):
        if not event.host:
            event.host = ctx.host
        yield event


def _evidence_events(evidence: Evidence, ctx: ParseContext) -> Iterator[Event]:
    for module, reason in import_errors().items():
        yield parse_error("registry", module, f"parser module failed to import: {reason}")
    for src in evidence.sources():
        yield from _drain(evidence)
        yield from parse_source(src, ctx)
    yield from _drain(evidence)
    for name, fn in analyzers():
        yield from guarded(lambda fn=fn: fn(evidence, ctx), source=name, evidence=str(evidence.origin),
                           host=ctx.host)


def _drain(evidence: Evidence) -> Iterator[Event]:
    while evidence.problems:
        yield evidence.problems.pop(0)


def parse_input(path: Path, *, assume_tz: str | None = None) -> Iterator[Event]:
    """Events of one input, whatever it is (sniffed from its content, not its name)."""
    path = Path(path)
    kind = sniff(path)
    if kind == "evidence":
        evidence = open_evidence(path)
        try:
            yield from parse_evidence(evidence, assume_tz=assume_tz)
        finally:
            evidence.close()
        return
    ctx = make_context(assume_tz=assume_tz, host="")
    if kind == "plaso":
        from mlsleuth.parsers.plaso_jsonl import parse_plaso_file

        yield from parse_plaso_file(path, ctx)
    elif kind == "osquery":
        from mlsleuth.parsers.osquery_results import parse_osquery_file

        yield from parse_osquery_file(path, ctx)
    elif kind == "events":
        from mlsleuth.parsers.events_jsonl import parse_events_file

        yield from parse_events_file(path, ctx)
    else:
        yield parse_error("input", str(path), "not an evidence archive, host tree, plaso json_line, "
                                              "osquery result log or events.jsonl",
                          host=path.stem, file_path=str(path))
