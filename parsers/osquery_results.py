"""osquery result logs as osqueryd's filesystem logger writes them (``osqueryd.results.log``):

* differential lines: ``{"name", "hostIdentifier", "unixTime", "columns": {...}, "action": "added"|"removed"}``
* snapshot lines: ``{"name", "hostIdentifier", "unixTime", "snapshot": [{...}, ...], "action": "snapshot"}``
* batched differentials (``--logger_event_type=false``): ``"diffResults": {"added": [...], "removed": [...]}``

Each row is one event at ``unixTime`` (when osquery saw it), on the host ``hostIdentifier``.
Column names osquery uses across tables (pid, parent, cmdline, path, sha256, remote_address ...)
become entities; the category follows the table the query reads (named in the query name by
convention, or recognisable from its columns), including mlsleuth's own extension tables.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlsleuth.parsers.external import file_source, json_lines
from mlsleuth.parsers.registry import register
from mlsleuth.parsers.source import ParseContext, Source, sane_time
from mlsleuth.parsers.text import MAX_FIELD, clip, one_line

from mlsleuth.events import UNKNOWN_TIME, Category, Event, TimestampQuality, from_epoch

NAME_HINTS: tuple[tuple[str, Category], ...] = (
    ("ml_findings", Category.FINDING), ("ml_remote_code", Category.REMOTE_CODE), ("ml_models", Category.MODEL_DOWNLOAD),
    ("yara", Category.FINDING), ("process", Category.PROCESS), ("socket", Category.NETWORK),
    ("listening", Category.NETWORK), ("connection", Category.NETWORK), ("authorized_keys", Category.PERSISTENCE),
    ("crontab", Category.PERSISTENCE), ("systemd", Category.PERSISTENCE), ("startup", Category.PERSISTENCE),
    ("python_packages", Category.PACKAGE_INSTALL), ("deb_packages", Category.PACKAGE_INSTALL),
    ("rpm_packages", Category.PACKAGE_INSTALL), ("npm_packages", Category.PACKAGE_INSTALL),
    ("logged_in", Category.HOST), ("last", Category.HOST), ("file", Category.FILE), ("hash", Category.FILE),
)
DESC = {"added": "osquery Row Added", "removed": "osquery Row Removed", "snapshot": "osquery Snapshot Row"}


def category_of(name: str, columns: dict[str, Any]) -> Category:
    lowered = name.lower()
    for hint, category in NAME_HINTS:
        if hint in lowered:
            return category
    if "cmdline" in columns:
        return Category.PROCESS
    if "remote_address" in columns:
        return Category.NETWORK
    if "path" in columns:
        return Category.FILE
    return Category.HOST


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _when(record: dict[str, Any]) -> tuple[datetime, TimestampQuality]:
    for key in ("unixTime", "epoch"):
        value = _int(record.get(key))
        if value:
            when = from_epoch(value)
            if sane_time(when):
                return when, TimestampQuality.EXACT
    calendar = record.get("calendarTime")
    if isinstance(calendar, str):
        try:  # "Tue Nov 10 09:14:03 2026 UTC"
            parsed = datetime.strptime(calendar.replace(" UTC", ""), "%a %b %d %H:%M:%S %Y")
            return parsed.replace(tzinfo=UTC), TimestampQuality.EXACT
        except ValueError:
            pass
    return UNKNOWN_TIME, TimestampQuality.ESTIMATED


def row_event(record: dict[str, Any], columns: dict[str, Any], action: str, src: Source, ctx: ParseContext,
              loc: str) -> Event:
    name = str(record.get("name") or "")
    when, quality = _when(record)
    category = category_of(name, columns)
    remote = columns.get("remote_address")
    if remote and columns.get("remote_port") not in (None, "", "0"):
        remote = f"{remote}:{columns['remote_port']}"
    is_process = category == Category.PROCESS
    fields: dict[str, Any] = {
        "pid": _int(columns.get("pid")), "ppid": _int(columns.get("parent")),
        "cmdline": clip(str(columns["cmdline"]), MAX_FIELD) if columns.get("cmdline") else None,
        "process": str(columns.get("name")) if is_process and columns.get("name") else None,
        "file_path": str(columns.get("path")) if columns.get("path") else None,
        "sha256": str(columns.get("sha256")) if columns.get("sha256") else None,
        "remote_addr": str(remote) if remote and remote not in ("0.0.0.0", "::") else None,
        "verdict": str(columns.get("verdict")) if columns.get("verdict") else None,
        "model_repo": str(columns.get("model_repo") or columns.get("repo_id") or "") or None,
        "revision": str(columns.get("revision") or columns.get("commit") or "") or None,
    }
    if category == Category.PACKAGE_INSTALL:
        fields["package"] = str(columns.get("name") or "") or None
        fields["version"] = str(columns.get("version") or "") or None
    shown = ", ".join(f"{k}={v}" for k, v in list(columns.items())[:8])
    user = str(columns.get("username") or columns.get("user") or "")
    return Event(timestamp=when, timestamp_desc=DESC.get(action, f"osquery {action}"), source="osquery",
                 category=category, message=one_line(f"{name} ({action}): {shown}", 2000), timestamp_quality=quality,
                 host=str(record.get("hostIdentifier") or ctx.host or ""), user=user, evidence=src.ref(loc),
                 extra={"query": name, "action": action, "columns": columns,
                        "decorations": record.get("decorations") or {}},
                 **fields)


@register("osquery_results")
def parse(src: Source, ctx: ParseContext) -> Iterator[Event]:
    for number, record in json_lines(src):
        if isinstance(record, str):
            yield src.error(ctx, record, loc=f"L{number}")
            continue
        action = str(record.get("action") or "")
        if isinstance(record.get("columns"), dict):
            yield row_event(record, record["columns"], action or "added", src, ctx, f"L{number}")
        elif isinstance(record.get("snapshot"), list):
            for i, row in enumerate(record["snapshot"]):
                if isinstance(row, dict):
                    yield row_event(record, row, "snapshot", src, ctx, f"L{number}/snapshot/{i}")
        elif isinstance(record.get("diffResults"), dict):
            for kind in ("added", "removed"):
                for i, row in enumerate(record["diffResults"].get(kind) or []):
                    if isinstance(row, dict):
                        yield row_event(record, row, kind, src, ctx, f"L{number}/diffResults/{kind}/{i}")
        else:
            yield src.error(ctx, "not an osquery result line (no columns, snapshot or diffResults)",
                            loc=f"L{number}")


def parse_osquery_file(path: Path, ctx: ParseContext) -> Iterator[Event]:
    src = file_source(path, "osquery_results")
    ctx.host = ctx.host or Path(path).stem
    yield from parse(src, ctx)
