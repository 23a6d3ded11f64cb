"""~/.python_history (readline of the plain ``python`` REPL): one statement per line, no times.

libedit-built Pythons (macOS) write a ``_HiStOrY_V2_`` header and escape characters as ``\\ooo``
octal; both layouts are read. Every line gets the file's mtime, marked as inferred.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from mlsleuth.parsers.commands import command_event, untimed
from mlsleuth.parsers.registry import register
from mlsleuth.parsers.source import ParseContext, Source
from mlsleuth.parsers.text import decode, iter_lines

from mlsleuth.events import Event, TimestampQuality

_LIBEDIT_HEADER = b"_HiStOrY_V2_"
_OCTAL = re.compile(r"\\([0-7]{3})")


@register("python_history")
def parse(src: Source, ctx: ParseContext) -> Iterator[Event]:
    file_time, note = untimed(src)
    libedit = False
    with src.open() as fh:
        for number, raw, _truncated in iter_lines(fh):
            if number == 1 and raw.startswith(_LIBEDIT_HEADER):
                libedit = True
                continue
            text = decode(raw)
            if libedit:
                text = _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), text)
            if not text.strip():
                continue
            yield command_event(src, ctx, command=text, when=file_time, loc=f"L{number}",
                                quality=TimestampQuality.FILE_TIME, process="python", extra=note)
