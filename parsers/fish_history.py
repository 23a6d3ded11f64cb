"""fish ~/.local/share/fish/fish_history: YAML-like blocks, read line by line (not with a YAML
parser: fish's escaping is its own and a broken block must not lose the rest)::

    - cmd: pip install ./pkg
      when: 1731230000
      paths:
        - ./pkg
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mlsleuth.parsers.commands import command_event, untimed
from mlsleuth.parsers.registry import register
from mlsleuth.parsers.source import ParseContext, Source, sane_time
from mlsleuth.parsers.text import decode, iter_lines

from mlsleuth.events import Event, TimestampQuality, from_epoch


def unescape(text: str) -> str:
    """fish writes ``\\n`` for a newline and ``\\\\`` for a backslash inside ``cmd:``."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "n":
                out.append("\n")
                i += 2
                continue
            if nxt == "\\":
                out.append("\\")
                i += 2
                continue
        out.append(ch)
        i += 1
    return "".join(out)


@register("fish_history")
def parse(src: Source, ctx: ParseContext) -> Iterator[Event]:
    file_time, note = untimed(src)
    block: dict[str, Any] | None = None

    def emit() -> Iterator[Event]:
        if not block or "cmd" not in block:
            return
        when = block.get("when")
        extra: dict[str, Any] = {}
        if block.get("paths"):
            extra["paths"] = block["paths"][:100]
        if when is not None:
            yield command_event(src, ctx, command=block["cmd"], when=when, loc=f"L{block['line']}",
                                quality=TimestampQuality.EXACT, process="fish", extra=extra)
        else:
            yield command_event(src, ctx, command=block["cmd"], when=file_time,
                                loc=f"L{block['line']}", quality=TimestampQuality.FILE_TIME,
                                process="fish", extra={**extra, **note})

    with src.open() as fh:
        for number, raw, _truncated in iter_lines(fh):
            line = decode(raw)
            if line.startswith("- cmd:"):
                yield from emit()
                block = {"cmd": unescape(line[6:].lstrip(" ")), "line": number, "paths": []}
            elif block is None:
                continue
            elif line.startswith("  when:"):
                value = line[7:].strip()
                if value.isdigit() and len(value) < 13:
                    when = from_epoch(int(value))
                    block["when"] = when if sane_time(when) else None
            elif line.startswith("    - ") and "paths" in block:
                block["paths"].append(unescape(line[6:]))
        yield from emit()
