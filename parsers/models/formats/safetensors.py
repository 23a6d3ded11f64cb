"""safetensors: validate the header the way the safetensors library does, and say why not.

Layout: u64 little-endian header length N, N bytes of JSON, then the data region. Every
tensor's ``data_offsets`` are relative to the data region; the library requires them to be
contiguous, in bounds and to match dtype x shape, and the data region to end at EOF.
"""

from __future__ import annotations

import json
import struct
from typing import Any

from mlsleuth.parsers.models.context import Ctx
from mlsleuth.parsers.models.result import Severity

MAX_HEADER = 100_000_000  # safetensors' own limit
DTYPE_BITS = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "I16": 16, "U16": 16,
    "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32, "F64": 64, "I64": 64, "U64": 64,
    "C64": 64, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
}


def is_structural(head: bytes, size: int) -> bool:
    """A header length that fits the file followed by a JSON object: a safetensors file even when
    its first byte is 0x80 (a header of 128 + 256k bytes), which would also read as pickle PROTO.
    Such a file cannot be a working pickle: the length's high bytes are not opcodes a pickle needs
    to reach a call before the `{`."""
    if len(head) < 9 or head[8:9] != b"{":
        return False
    (n,) = struct.unpack_from("<Q", head, 0)
    return 2 <= n <= size - 8


def detect(head: bytes, ctx: Ctx) -> bool:
    if len(head) >= 9:
        (n,) = struct.unpack_from("<Q", head, 0)
        if 2 <= n and head[8:9] == b"{":
            return True
    return ctx.ext == ".safetensors"


def inspect(buf: Any, ctx: Ctx) -> None:
    ctx.format = "safetensors"
    size = len(buf)
    if size < 8:
        ctx.add("safetensors-malformed", Severity.MEDIUM, f"file of {size} bytes has no header length")
        return
    (n,) = struct.unpack_from("<Q", buf, 0)
    if n > MAX_HEADER:
        ctx.add("safetensors-malformed", Severity.MEDIUM,
                f"header length {n} exceeds the 100 MB limit (file is {size} bytes): parsers that trust "
                "it allocate or read out of bounds")
        return
    if 8 + n > size:
        ctx.add("safetensors-malformed", Severity.MEDIUM, f"header length {n} runs past the end of the file "
                f"({size} bytes)")
        return
    check_header(bytes(buf[8:8 + n]), ctx, data_len=size - 8 - n)


def check_header(raw: bytes, ctx: Ctx, data_len: int | None) -> None:
    """Validate header JSON; ``data_len`` None when only the header is available (collector part)."""
    if not raw.lstrip().startswith(b"{"):
        ctx.add("safetensors-malformed", Severity.MEDIUM, "header does not start with '{'")
        return
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        ctx.add("safetensors-malformed", Severity.MEDIUM, f"header is not valid JSON: {str(exc)[:200]}")
        return
    if not isinstance(header, dict):
        ctx.add("safetensors-malformed", Severity.MEDIUM, "header is not a JSON object")
        return
    meta = header.pop("__metadata__", None)
    if meta is not None:
        if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
            ctx.add("safetensors-malformed", Severity.MEDIUM, "__metadata__ must map strings to strings")
        else:
            ctx.add("safetensors-metadata", Severity.INFO, f"metadata keys: {', '.join(sorted(meta)[:30])}",
                    "__metadata__", [f"{k}={str(v)[:120]}" for k, v in sorted(meta.items())[:20]])
    spans: list[tuple[int, int, str]] = []
    problems: list[str] = []
    for name, info in header.items():
        if len(problems) > 20:
            break
        if not isinstance(info, dict):
            problems.append(f"{name}: entry is not an object")
            continue
        dtype = info.get("dtype")
        shape = info.get("shape")
        offs = info.get("data_offsets")
        if dtype not in DTYPE_BITS:
            problems.append(f"{name}: unknown dtype {dtype!r}")
            continue
        if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                                  for d in shape):
            problems.append(f"{name}: invalid shape {shape!r}")
            continue
        if (not isinstance(offs, list) or len(offs) != 2
                or not all(isinstance(o, int) and not isinstance(o, bool) for o in offs)):
            problems.append(f"{name}: invalid data_offsets {offs!r}")
            continue
        begin, end = offs
        if begin < 0 or end < begin:
            problems.append(f"{name}: data_offsets {offs} are reversed or negative")
            continue
        if data_len is not None and end > data_len:
            problems.append(f"{name}: data_offsets {offs} beyond the data region ({data_len} bytes)")
        count = 1
        for d in shape:
            count *= d
        nbits = count * DTYPE_BITS[dtype]
        if nbits % 8 or nbits // 8 != end - begin:
            problems.append(f"{name}: {dtype}{shape} needs {nbits / 8:g} bytes, offsets give {end - begin}")
        spans.append((begin, end, name))
    spans.sort()
    pos = 0
    for begin, end, name in spans:
        if begin < pos:
            problems.append(f"{name}: overlaps the previous tensor (starts at {begin}, previous ends at {pos})")
        elif begin > pos:
            problems.append(f"{name}: {begin - pos} unaccounted bytes before it (hidden data?)")
        pos = max(pos, end)
    if data_len is not None and pos < data_len:
        problems.append(f"{data_len - pos} bytes after the last tensor are not described by the header")
    for p in problems[:20]:
        ctx.add("safetensors-malformed", Severity.MEDIUM, p)
