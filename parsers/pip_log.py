"""pip's own log (``pip --log``, ``~/.pip/pip.log``, ``log =`` in pip.conf) and its version-check
state (``~/.cache/pip/selfcheck/*.json``).

Every log line starts with pip's timestamp, ``2026-11-10T09:14:03,250`` in the local time of the
host (pip formats ``time.localtime``), converted with the host's zone. Lines that say which index
was used, what was collected or downloaded from where, and what was installed or removed become
events; the rest is context a responder reads in the file itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from mlsleuth.parsers.registry import register
from mlsleuth.parsers.source import ParseContext, Source, sane_time
from mlsleuth.parsers.text import decode, iter_lines, loads_json, one_line

from mlsleuth.events import Category, Event, TimestampQuality
from mlsleuth.redact import redact_text, redact_url

_STAMP = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:,(\d{3}))?\s(.*)$")
_NAME_VERSION = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*?)-(?P<version>\d[^\s-]*)$")
RULES: tuple[tuple[re.Pattern[str], str, Category], ...] = (
    (re.compile(r"^Using pip (?P<pip>\S+) from (?P<where>.+)$"), "pip Started", Category.PACKAGE_INSTALL),
    (re.compile(r"^Looking in (?:indexes|links): (?P<urls>.+)$"), "Index Used", Category.CONFIG),
    (re.compile(r"^Collecting (?P<spec>\S+)"), "Package Collected", Category.PACKAGE_INSTALL),
    (re.compile(r"^(?:Downloading|Obtaining|Processing) (?P<url>\S+)"), "Package Downloaded",
     Category.PACKAGE_INSTALL),
    (re.compile(r"^Successfully installed (?P<pkgs>.+)$"), "Package Installed", Category.PACKAGE_INSTALL),
    (re.compile(r"^Successfully uninstalled (?P<pkg>\S+)"), "Package Removed", Category.PACKAGE_INSTALL),
    (re.compile(r"^Running command (?P<cmd>.+)$"), "Command Executed", Category.COMMAND),
    (re.compile(r"^(?:ERROR|WARNING): (?P<msg>.+)$"), "pip Warning", Category.PACKAGE_INSTALL),
)


@register("pip_log")
def parse(src: Source, ctx: ParseContext) -> Iterator[Event]:
    if src.name.endswith(".json") or "selfcheck" in src.host_path:
        yield from _selfcheck(src, ctx)
        return
    tz = ctx.tz_extra()
    with src.open() as fh:
        for number, raw, _ in iter_lines(fh):
            match = _STAMP.match(decode(raw))
            if not match:
                continue
            try:
                naive = datetime.fromisoformat(match.group(1)).replace(
                    microsecond=int(match.group(2) or 0) * 1000)
            except ValueError:
                continue
            when = ctx.local_to_utc(naive)
            text = match.group(3).strip()
            for pattern, desc, category in RULES:
                hit = pattern.match(text)
                if hit:
                    yield from _events(src, ctx, when, number, desc, category, hit.groupdict(), text, tz)
                    break


def _events(src: Source, ctx: ParseContext, when: datetime, number: int, desc: str, category: Category,
            groups: dict[str, str], text: str, tz: dict[str, str]) -> Iterator[Event]:
    shown = redact_text(text)[0]
    base: dict[str, Any] = {"line": number, **tz}
    loc = f"L{number}"
    if "pkgs" in groups:
        for item in groups["pkgs"].split():
            found = _NAME_VERSION.match(item)
            name, version = (found.group("name"), found.group("version")) if found else (item, None)
            yield src.event(ctx, timestamp=when, desc=desc, category=category,
                            message=f"pip installed {name} {version or ''}".rstrip(), loc=loc,
                            package=name, version=version, extra=base)
        return
    index_url = None
    if "urls" in groups:
        index_url = redact_url(groups["urls"].split(",")[0].strip())[0]
    elif "url" in groups and "://" in groups["url"]:
        index_url = redact_url(groups["url"])[0]
    package = None
    if "spec" in groups:
        package = re.split(r"[<>=!~;\[ ]", groups["spec"], maxsplit=1)[0]
    elif "pkg" in groups:
        found = _NAME_VERSION.match(groups["pkg"])
        package = found.group("name") if found else groups["pkg"]
    yield src.event(ctx, timestamp=when, desc=desc, category=category, message=f"pip: {one_line(shown, 600)}",
                    loc=loc, package=package, index_url=index_url,
                    cmdline=redact_text(groups["cmd"])[0] if "cmd" in groups else None, extra=base)


def _selfcheck(src: Source, ctx: ParseContext) -> Iterator[Event]:
    try:
        data = loads_json(src.read_bytes(1 << 20))
    except ValueError as exc:
        yield src.error(ctx, f"selfcheck state is not JSON: {exc}")
        return
    if not isinstance(data, dict):
        return
    last = data.get("last_check")
    try:
        when = datetime.fromisoformat(str(last).replace("Z", "+00:00"))
    except ValueError:
        when = None
    if when is None:
        return
    if when.tzinfo is None:
        when = ctx.local_to_utc(when)  # pip < 21 wrote naive UTC-ish strings; state the zone
    if not sane_time(when):
        return
    yield src.event(ctx, timestamp=when, desc="pip Version Check", category=Category.PACKAGE_INSTALL,
                    message=f"pip checked PyPI for a newer pip (latest {data.get('pypi_version', '?')})",
                    quality=TimestampQuality.EXACT, extra={"pypi_version": data.get("pypi_version"),
                                                           "key": data.get("key")})
