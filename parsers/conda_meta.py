"""``conda-meta/<name>-<version>-<build>.json``: one record per package linked into a conda
environment (name, version, channel, the URL it came from, the spec that asked for it). The
record is written when the package is linked, so its mtime is the install time (inferred);
``timestamp`` inside is the package's build time, not the install."""

from __future__ import annotations

from collections.abc import Iterator

from mlsleuth.parsers.filetimes import best_file_time
from mlsleuth.parsers.registry import register
from mlsleuth.parsers.source import ParseContext, Source
from mlsleuth.parsers.text import loads_json

from mlsleuth.events import UNKNOWN_TIME, Category, Event, TimestampQuality
from mlsleuth.redact import redact_url

MAX_RECORD = 64 << 20


@register("conda_meta")
def parse(src: Source, ctx: ParseContext) -> Iterator[Event]:
    if src.name == "history":
        from mlsleuth.parsers.conda_history import parse as parse_history

        yield from parse_history(src, ctx)
        return
    if not src.name.endswith(".json"):
        return
    try:
        record = loads_json(src.read_bytes(MAX_RECORD))
    except ValueError as exc:
        yield src.error(ctx, f"not JSON: {exc}")
        return
    if not isinstance(record, dict) or not record.get("name"):
        yield src.error(ctx, "not a conda package record (no name)")
        return
    when, which = best_file_time(src)
    url = record.get("url")
    index_url = redact_url(url)[0] if isinstance(url, str) else None
    files = record.get("files")
    extra = {"channel": record.get("channel"), "build": record.get("build"), "fn": record.get("fn"),
             "requested_spec": record.get("requested_spec"), "files": len(files) if isinstance(files, list) else None,
             "build_timestamp_ms": record.get("timestamp"), "time_field": which,
             "env": src.host_path.rsplit("/conda-meta/", 1)[0]}
    link = record.get("link")
    if isinstance(link, dict):
        extra["link_source"] = link.get("source")
    yield src.event(ctx, timestamp=when or UNKNOWN_TIME, desc="Package Installed", category=Category.PACKAGE_INSTALL,
                    message=f"conda package {record['name']} {record.get('version', '')} linked into "
                            f"{extra['env']} from {record.get('channel') or '?'}",
                    quality=TimestampQuality.FILE_TIME if when else TimestampQuality.ESTIMATED,
                    package=str(record["name"]), version=str(record.get("version") or "") or None,
                    index_url=index_url, extra=extra)
