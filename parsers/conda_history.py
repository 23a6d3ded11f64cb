"""``conda-meta/history``: one block per conda transaction::

    ==> 2026-11-10 09:14:03 <==
    # cmd: /opt/conda/bin/conda install -c pytorch pytorch
    # conda version: 24.1.2
    +pytorch::pytorch-2.2.0-py3.11_cuda12.1_0
    -defaults::openssl-3.0.12-h7f8727e_0
    # update specs: ['pytorch']

The block time is local time of the host (conda writes ``time.strftime``). Each block is a
COMMAND event (the command line) and each ``+``/``-`` line a package install/removal.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from mlsleuth.parsers.commands import command_event
from mlsleuth.parsers.registry import register
from mlsleuth.parsers.source import ParseContext, Source
from mlsleuth.parsers.text import decode, iter_lines

from mlsleuth.events import Category, Event, TimestampQuality
from mlsleuth.redact import redact_text

_HEADER = re.compile(r"^==>\s*(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})\s*<==\s*$")


def split_dist(spec: str) -> dict[str, str]:
    """``pytorch::pytorch-2.2.0-py3.11_0`` -> channel, name, version, build."""
    channel, _, dist = spec.rpartition("::")
    pieces = dist.rsplit("-", 2)
    if len(pieces) == 3:
        name, version, build = pieces
    else:
        name, version, build = dist, "", ""
    return {"channel": channel, "name": name, "version": version, "build": build}


@register("conda_history")
def parse(src: Source, ctx: ParseContext) -> Iterator[Event]:
    tz = ctx.tz_extra()
    block: dict[str, Any] | None = None

    def emit() -> Iterator[Event]:
        if block is None:
            return
        when, line = block["when"], block["line"]
        extra = {**tz, "conda_version": block.get("conda_version"), "specs": block.get("specs"),
                 "added": len(block["plus"]), "removed": len(block["minus"])}
        command = block.get("cmd") or "(no # cmd line)"
        yield command_event(src, ctx, command=command, when=when, quality=TimestampQuality.EXACT,
                            loc=f"L{line}", process="conda", desc="Conda Transaction", extra=extra)
        for sign, number, spec in block["plus"] + block["minus"]:
            dist = split_dist(spec)
            verb = "installed" if sign == "+" else "removed"
            yield src.event(ctx, timestamp=when, desc="Package Installed" if sign == "+" else "Package Removed",
                            category=Category.PACKAGE_INSTALL,
                            message=f"conda {verb} {dist['name']} {dist['version']} ({dist['channel'] or 'channel ?'})",
                            loc=f"L{number}", package=dist["name"], version=dist["version"] or None,
                            extra={**tz, "channel": dist["channel"], "build": dist["build"], "transaction_line": line})

    with src.open() as fh:
        for number, raw, _ in iter_lines(fh):
            line = decode(raw).rstrip()
            header = _HEADER.match(line)
            if header:
                yield from emit()
                block = None
                try:
                    when = ctx.local_to_utc(datetime.strptime(header.group(1), "%Y-%m-%d %H:%M:%S"))
                except ValueError:
                    yield src.error(ctx, f"bad block time {header.group(1)!r}", loc=f"L{number}")
                    continue
                block = {"when": when, "line": number, "plus": [], "minus": []}
            elif block is None:
                continue
            elif line.startswith("# cmd:"):
                block["cmd"] = redact_text(line[6:].strip())[0]
            elif line.startswith("# conda version:"):
                block["conda_version"] = line.split(":", 1)[1].strip()
            elif line.startswith(("# update specs:", "# remove specs:", "# neutered specs:")):
                block["specs"] = line.split(":", 1)[1].strip()[:2000]
            elif line.startswith("+") and len(line) > 1:
                block["plus"].append(("+", number, line[1:]))
            elif line.startswith("-") and len(line) > 1:
                block["minus"].append(("-", number, line[1:]))
        yield from emit()
