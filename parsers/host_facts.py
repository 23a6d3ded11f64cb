"""Host facts of an evidence archive: ``host.json`` (boot time, collection start/end, OS,
timezone) and ``live/users.jsonl`` (sessions of logged-in users)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mlsleuth.parsers.evidence import parse_time
from mlsleuth.parsers.live import rows
from mlsleuth.parsers.registry import register
from mlsleuth.parsers.source import ParseContext, Source
from mlsleuth.parsers.text import loads_json

from mlsleuth.events import Category, Event

FACT_KEYS = ("hostname", "os", "kernel", "timezone", "root", "live", "machine", "platform", "tool_version")


@register("host_facts")
def parse(src: Source, ctx: ParseContext) -> Iterator[Event]:
    if src.evidence_name.endswith("users.jsonl"):
        yield from _users(src, ctx)
        return
    try:
        host = loads_json(src.read_bytes(16 << 20))
    except ValueError as exc:
        yield src.error(ctx, f"host.json is not JSON: {exc}")
        return
    if not isinstance(host, dict):
        return
    facts = {k: host[k] for k in FACT_KEYS if k in host}
    facts["assumed_tz"] = ctx.tz_name
    custody: dict[str, Any] = host.get("custody") if isinstance(host.get("custody"), dict) else {}
    boot = parse_time(host.get("boot_time", host.get("boot")))
    if boot is not None:
        yield src.event(ctx, timestamp=boot, desc="System Booted", category=Category.HOST,
                        message=f"{ctx.host} booted ({host.get('os', '?')}, kernel {host.get('kernel', '?')})",
                        file_path=None, extra=facts)
    for key, desc in (("start", "Collection Started"), ("end", "Collection Finished")):
        when = parse_time(custody.get(key))
        if when is None:
            continue
        details = {k: custody.get(k) for k in ("case", "examiner", "evidence_id", "tool_version") if custody.get(k)}
        yield src.event(ctx, timestamp=when, desc=desc, category=Category.HOST,
                        message=f"mlsleuth collection of {ctx.host} {desc.split()[1].lower()}"
                                + (f" (case {details['case']})" if details.get("case") else ""),
                        file_path=None, extra={**details, **facts})


def _users(src: Source, ctx: ParseContext) -> Iterator[Event]:
    for number, row in rows(src, ctx):
        if "__error__" in row:
            yield src.error(ctx, row["__error__"], loc=f"L{number}")
            continue
        when = parse_time(row.get("started"))
        if when is None:
            continue
        remote = row.get("host") or None
        yield src.event(ctx, timestamp=when, desc="User Logged In", category=Category.HOST,
                        message=f"{row.get('name')} logged in on {row.get('terminal') or '?'}"
                                + (f" from {remote}" if remote else ""),
                        loc=f"L{number}", file_path=None, user=str(row.get("name") or ""),
                        pid=row.get("pid") if isinstance(row.get("pid"), int) else None,
                        remote_addr=str(remote) if remote else None,
                        extra={"terminal": row.get("terminal")})
