"""zsh history: extended (``: <epoch>:<duration>;<command>``, exact) or plain (file mtime).

zsh writes a newline inside a command as a backslash at the end of the line, and stores bytes
"metafied" (0x83 followed by the byte XOR 0x20); both are undone before decoding.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from mlsleuth.parsers.commands import command_event, untimed
from mlsleuth.parsers.registry import register
from mlsleuth.parsers.source import ParseContext, Source, sane_time
from mlsleuth.parsers.text import decode, iter_lines

from mlsleuth.events import Event, TimestampQuality, from_epoch

_EXTENDED = re.compile(rb"^: *(\d{1,12}):(\d+);(.*)$", re.DOTALL)
META = 0x83


def unmetafy(raw: bytes) -> bytes:
    if META not in raw:
        return raw
    out = bytearray()
    it = iter(raw)
    for byte in it:
        if byte == META:
            nxt = next(it, None)
            if nxt is None:
                break
            out.append(nxt ^ 0x20)
        else:
            out.append(byte)
    return bytes(out)


@register("zsh_history")
def parse(src: Source, ctx: ParseContext) -> Iterator[Event]:
    file_time, note = untimed(src)
    parts: list[bytes] = []
    start_line = 0
    long_lines = 0
    with src.open() as fh:
        for number, raw, truncated in iter_lines(fh):
            long_lines += truncated
            if not parts:
                start_line = number
            if raw.endswith(b"\\") and not raw.endswith(b"\\\\"):
                parts.append(raw[:-1])  # the command goes on on the next line
                continue
            parts.append(raw)
            yield from _entry(src, ctx, b"\n".join(parts), start_line, file_time, note)
            parts = []
        if parts:
            yield from _entry(src, ctx, b"\n".join(parts), start_line, file_time, note)
    if long_lines:
        yield src.error(ctx, f"{long_lines} over-long line(s) cut at 1 MiB")


def _entry(src: Source, ctx: ParseContext, raw: bytes, line: int, file_time, note) -> Iterator[Event]:
    raw = unmetafy(raw)
    match = _EXTENDED.match(raw)
    if match:
        command = decode(match.group(3))
        when = from_epoch(int(match.group(1))) if int(match.group(1)) < 1 << 34 else None
        if when is not None and sane_time(when):
            yield command_event(src, ctx, command=command, when=when, loc=f"L{line}",
                                quality=TimestampQuality.EXACT, process="zsh",
                                extra={"duration_s": int(match.group(2))})
            return
        yield src.error(ctx, f"implausible time {match.group(1).decode()}", loc=f"L{line}")
    else:
        command = decode(raw)
    if command.strip():
        yield command_event(src, ctx, command=command, when=file_time, loc=f"L{line}",
                            quality=TimestampQuality.FILE_TIME, process="zsh", extra=note)
