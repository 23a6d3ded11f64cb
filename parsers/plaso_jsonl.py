"""plaso's ``json_line`` output (``psort -o json_line``, ``psteal -o json_line``), so a responder
can merge the host's super-timeline with mlsleuth's view.

Each line is one plaso event: ``timestamp`` (µs since the epoch, UTC), ``timestamp_desc``,
``data_type`` (``bash:history:entry``, ``fs:stat``, ``syslog:line`` ...), ``parser``,
``message``, ``display_name``, ``pathspec`` and the event data attributes. Known data types map
to mlsleuth categories and entities (a shell command's ``command`` becomes ``cmdline`` so the
timeline's correlation sees it); every other attribute is kept in ``extra``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlsleuth.parsers.external import file_source, json_lines
from mlsleuth.parsers.registry import register
from mlsleuth.parsers.source import ParseContext, Source, sane_time
from mlsleuth.parsers.text import MAX_FIELD, clip, one_line

from mlsleuth.events import UNKNOWN_TIME, Category, Event, TimestampQuality, from_epoch_us

SKIP = {"__container_type__", "__type__", "date_time", "pathspec", "timestamp", "timestamp_desc", "message",
        "hostname", "username", "_event_values_hash", "_parser_chain", "sha256_hash"}
CATEGORY_PREFIXES: tuple[tuple[str, Category], ...] = (
    ("bash:history", Category.COMMAND), ("shell:zsh:history", Category.COMMAND),
    ("fish:history", Category.COMMAND), ("python:history", Category.COMMAND),
    ("fs:stat", Category.FILE), ("fs:", Category.FILE), ("linux:utmp", Category.HOST),
    ("syslog:cron", Category.PERSISTENCE), ("cron:", Category.PERSISTENCE), ("linux:dpkg", Category.PACKAGE_INSTALL),
    ("apt:history", Category.PACKAGE_INSTALL), ("docker:", Category.PROCESS), ("systemd:journal", Category.HOST),
    ("syslog:", Category.HOST), ("selinux:", Category.HOST), ("olecf:", Category.FILE),
)
MAX_EXTRA = 40


def category_of(data_type: str) -> Category:
    for prefix, category in CATEGORY_PREFIXES:
        if data_type.startswith(prefix):
            return category
    return Category.FILE


def location_of(record: dict[str, Any]) -> str | None:
    filename = record.get("filename")
    if isinstance(filename, str) and filename:
        return filename
    spec = record.get("pathspec")
    while isinstance(spec, dict):
        if isinstance(spec.get("location"), str):
            return spec["location"]
        spec = spec.get("parent")
    return None


def plaso_event(record: dict[str, Any], src: Source, ctx: ParseContext, number: int) -> Event:
    raw = record.get("timestamp")
    when, quality = UNKNOWN_TIME, TimestampQuality.ESTIMATED
    if isinstance(raw, int) and not isinstance(raw, bool) and raw > 0:
        candidate = from_epoch_us(raw)
        if sane_time(candidate):
            when, quality = candidate, TimestampQuality.EXACT
    data_type = str(record.get("data_type") or "")
    category = category_of(data_type)
    command = record.get("command")
    extra: dict[str, Any] = {}
    for key, value in record.items():
        if key in SKIP or len(extra) >= MAX_EXTRA:
            continue
        extra[key] = value if isinstance(value, str | int | float | bool | type(None)) else clip(str(value), 2000)
    message = str(record.get("message") or f"{data_type} {record.get('display_name', '')}")
    return Event(timestamp=when, timestamp_desc=str(record.get("timestamp_desc") or "Not a time"),
                 source="plaso", category=category, message=one_line(message, 2000), timestamp_quality=quality,
                 host=str(record.get("hostname") or ctx.host or ""), user=str(record.get("username") or ""),
                 evidence=src.ref(f"L{number}"), file_path=location_of(record),
                 sha256=record.get("sha256_hash") if isinstance(record.get("sha256_hash"), str) else None,
                 cmdline=clip(str(command), MAX_FIELD) if isinstance(command, str) else None,
                 process=data_type.split(":")[0] if category == Category.COMMAND else None,
                 pid=record.get("pid") if isinstance(record.get("pid"), int) else None, extra=extra)


@register("plaso_jsonl")
def parse(src: Source, ctx: ParseContext) -> Iterator[Event]:
    for number, record in json_lines(src):
        if isinstance(record, str):
            yield src.error(ctx, record, loc=f"L{number}")
        elif record.get("__container_type__", "event") == "event":
            yield plaso_event(record, src, ctx, number)


def parse_plaso_file(path: Path, ctx: ParseContext) -> Iterator[Event]:
    src = file_source(path, "plaso_jsonl")
    ctx.host = ctx.host or Path(path).stem
    yield from parse(src, ctx)
