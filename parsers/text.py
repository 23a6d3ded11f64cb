"""Lenient text handling shared by the parsers: evidence bytes are never trusted to be UTF-8.

Bytes that are not valid UTF-8 are kept as ``\\xNN`` escapes (``backslashreplace``), so a
responder still sees them and no parser ever raises on an odd byte. Lines are read in bounded
pieces so a file with no newline at all cannot exhaust memory.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, BinaryIO

MAX_LINE = 1 << 20  # longer lines are cut here (and flagged) rather than held whole
MAX_MESSAGE = 4096  # the readable message stays short; the full text goes to cmdline/extra
MAX_FIELD = 32_000  # under Timesketch's 32,766-byte keyword cap

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def decode(data: bytes) -> str:
    return data.decode("utf-8", errors="backslashreplace")


def loads_json(data: bytes | str) -> Any:
    """``json.loads`` that survives bytes which are not UTF-8: they are kept inside the strings
    as ``\\xNN`` escapes (decoding them to ``\\xNN`` first would break the JSON escapes)."""
    if isinstance(data, str):
        return json.loads(data)
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        return unescape_surrogates(json.loads(data.decode("utf-8", "surrogateescape")))


def unescape_surrogates(value: Any) -> Any:
    """Undecodable bytes kept by ``surrogateescape`` as ``\\xNN`` text, at any depth."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    if isinstance(value, list):
        return [unescape_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {unescape_surrogates(k): unescape_surrogates(v) for k, v in value.items()}
    return value


def clip(text: str, limit: int = MAX_FIELD) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"…[{len(text) - limit} more chars]"


_CONTROL = {c: f"\\x{c:02x}" for c in (*range(32), 127)}
_CONTROL[ord("\n")] = " ⏎ "


def one_line(text: str, limit: int = MAX_MESSAGE) -> str:
    """A message-friendly rendering: newlines shown as ⏎, control characters escaped."""
    out = text[: limit * 2].replace("\r\n", "\n").translate(_CONTROL)
    if not out.isprintable():  # rare: other invisible characters (U+200B, bidi controls ...)
        out = "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in out)
    return clip(out, limit)


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def iter_lines(fh: BinaryIO, *, max_line: int = MAX_LINE) -> Iterator[tuple[int, bytes, bool]]:
    """Yield ``(line_number, raw_line_without_newline, truncated)`` from a binary stream.

    A line longer than ``max_line`` is cut to ``max_line`` bytes and the rest skipped, so memory
    stays bounded whatever the input.
    """
    number = 0
    while True:
        chunk = fh.readline(max_line + 1)
        if not chunk:
            return
        number += 1
        truncated = False
        if len(chunk) > max_line and not chunk.endswith(b"\n"):
            truncated = True
            chunk = chunk[:max_line]
            while True:  # drop the rest of the over-long line
                rest = fh.readline(max_line)
                if not rest or rest.endswith(b"\n"):
                    break
        if chunk.endswith(b"\n"):
            chunk = chunk[:-1]
        if chunk.endswith(b"\r"):
            chunk = chunk[:-1]
        yield number, chunk, truncated
