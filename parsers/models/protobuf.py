"""A minimal, bounded protobuf wire-format reader (no schema, no generated code).

Enough for ONNX ModelProto and TensorFlow SavedModel/keras_metadata.pb: iterate the fields of
a message, descend into the fields known to be messages, never copy large payloads.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from typing import Any

VARINT, I64, LEN, SGROUP, EGROUP, I32 = 0, 1, 2, 3, 4, 5


class ProtoError(ValueError):
    pass


def read_varint(buf: Any, pos: int, end: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= end:
            raise ProtoError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ProtoError("varint too long")


def fields(buf: Any, start: int = 0, end: int | None = None) -> Iterator[tuple[int, int, Any, int, int]]:
    """Yield (field number, wire type, value, payload start, payload end) for one message.

    For LEN fields the value is None and (start, end) delimit the payload; for scalar
    fields the value is the integer.
    """
    if end is None:
        end = len(buf)
    pos = start
    while pos < end:
        key, pos = read_varint(buf, pos, end)
        num, wt = key >> 3, key & 7
        if num == 0:
            raise ProtoError("field number 0")
        if wt == VARINT:
            val, pos = read_varint(buf, pos, end)
            yield num, wt, val, pos, pos
        elif wt == LEN:
            n, pos = read_varint(buf, pos, end)
            if n > end - pos:
                raise ProtoError(f"length {n} of field {num} runs past the end")
            yield num, wt, None, pos, pos + n
            pos += n
        elif wt == I64:
            if pos + 8 > end:
                raise ProtoError("truncated fixed64")
            yield num, wt, int.from_bytes(buf[pos:pos + 8], "little"), pos, pos + 8
            pos += 8
        elif wt == I32:
            if pos + 4 > end:
                raise ProtoError("truncated fixed32")
            yield num, wt, int.from_bytes(buf[pos:pos + 4], "little"), pos, pos + 4
            pos += 4
        else:
            raise ProtoError(f"unsupported wire type {wt}")


def text(buf: Any, start: int, end: int, limit: int = 1 << 20) -> str:
    return bytes(buf[start:min(end, start + limit)]).decode("utf-8", "replace")


def strings(buf: Any, start: int = 0, end: int | None = None, depth: int = 0, budget: list[int] | None = None,
            min_len: int = 1) -> Iterator[str]:
    """Every LEN payload that decodes as text, descending into payloads that parse as messages.

    Schema-less: used to find op names and JSON metadata in TF protobufs.
    """
    if end is None:
        end = len(buf)
    if budget is None:
        budget = [200_000]
    if depth > 24:
        return
    try:
        for _num, wt, _val, s, e in fields(buf, start, end):
            if wt != LEN:
                continue
            budget[0] -= 1
            if budget[0] <= 0:
                return
            chunk = bytes(buf[s:min(e, s + 256)])
            if e - s >= min_len and _printable(chunk):
                yield text(buf, s, e)
                continue
            if e - s >= 2:
                yield from strings(buf, s, e, depth + 1, budget, min_len)
    except ProtoError:
        return


def _printable(chunk: bytes) -> bool:
    if not chunk:
        return False
    try:
        s = codecs.getincrementaldecoder("utf-8")().decode(chunk, final=False)
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch in "\n\r\t" for ch in s)
