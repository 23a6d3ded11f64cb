"""NumPy ``.npy`` (object arrays carry a pickle) and ``.npz`` (a zip of .npy members)."""

from __future__ import annotations

import ast
import struct
from typing import Any

from mlsleuth.parsers.models.context import Ctx
from mlsleuth.parsers.models.pickle_findings import findings_for
from mlsleuth.parsers.models.pickle_vm import analyze
from mlsleuth.parsers.models.result import Severity
from mlsleuth.parsers.models.zipread import ZipArchive, ZipError

MAGIC = b"\x93NUMPY"
MAX_HEADER = 1 << 20
_ITEMSIZE_DEFAULT = {"b": 1, "?": 1}


def detect(head: bytes, ctx: Ctx) -> bool:
    return head.startswith(MAGIC)


def parse_header(buf: Any) -> tuple[dict, int]:
    """(header dict, data offset). Raises ValueError on a malformed header."""
    if len(buf) < 10 or bytes(buf[:6]) != MAGIC:
        raise ValueError("not an .npy file")
    major = buf[6]
    if major == 1:
        (hlen,) = struct.unpack_from("<H", buf, 8)
        start = 10
    elif major in (2, 3):
        if len(buf) < 12:
            raise ValueError("truncated header")
        (hlen,) = struct.unpack_from("<I", buf, 8)
        start = 12
    else:
        raise ValueError(f"unknown .npy format version {major}")
    if hlen > MAX_HEADER or start + hlen > len(buf):
        raise ValueError(f"header length {hlen} exceeds the file")
    text = bytes(buf[start:start + hlen]).decode("utf-8" if major == 3 else "latin-1")
    # numpy itself parses this with ast.literal_eval: literals only, nothing is executed
    header = ast.literal_eval(text.strip())  # static-ok: literals only
    if not isinstance(header, dict) or not {"descr", "fortran_order", "shape"} <= header.keys():
        raise ValueError("header is not a dict with descr/fortran_order/shape")
    return header, start + hlen


def _has_object(descr: Any) -> bool:
    if isinstance(descr, str):
        return descr.lstrip("<>|=").startswith("O")
    if isinstance(descr, list | tuple):
        return any(_has_object(x) for x in descr)
    return False


def _itemsize(descr: Any) -> int | None:
    if isinstance(descr, str):
        spec = descr.lstrip("<>|=")
        digits = "".join(ch for ch in spec if ch.isdigit())
        if digits:
            return int(digits) * (4 if spec[:1] == "U" else 1)
        return _ITEMSIZE_DEFAULT.get(spec[:1])
    return None


def inspect(buf: Any, ctx: Ctx, location: str = "") -> None:
    ctx.format = "npy"
    try:
        header, data_off = parse_header(buf)
    except (ValueError, SyntaxError, struct.error, MemoryError, RecursionError) as exc:
        ctx.add("npy-malformed", Severity.MEDIUM, f".npy header unreadable: {exc}", location)
        return
    shape = header.get("shape")
    descr = header.get("descr")
    if not isinstance(shape, tuple) or not all(isinstance(d, int) and d >= 0 for d in shape):
        ctx.add("npy-malformed", Severity.MEDIUM, f"invalid shape {shape!r}", location)
        return
    if _has_object(descr):
        ctx.format = "npy (object)"
        ctx.add("npy-object-array", Severity.LOW,
                "object array: numpy.load(allow_pickle=True) unpickles the data that follows", location)
        analysis = analyze(buf, data_off, len(buf), multi=False)
        ctx.extend(findings_for(analysis, f"{location}data" if location else "data", base=data_off))
        return
    count = 1
    for d in shape:
        count *= d
    size = _itemsize(descr)
    if size is not None:
        expected = count * size
        actual = len(buf) - data_off
        if actual < expected:
            ctx.add("npy-truncated", Severity.MEDIUM,
                    f"data is {actual} bytes, shape {shape} x {size} needs {expected}", location)
        elif actual > expected:
            ctx.add("npy-trailing-data", Severity.LOW, f"{actual - expected} bytes after the array data",
                    location)


def inspect_npz(arc: ZipArchive, ctx: Ctx) -> None:
    ctx.format = "npz"
    from mlsleuth.parsers.models.scan import inspect_member

    for e in arc.entries:
        if e.is_dir:
            continue
        try:
            data = arc.read(e, limit=1 << 30)
        except ZipError as exc:
            ctx.add("npz-member-unreadable", Severity.MEDIUM, f"{e.name}: {exc}", e.name)
            continue
        for p in e.problems:
            ctx.add("zip-member-irregular", Severity.MEDIUM, f"{e.name}: {p}", e.name)
        if not ctx.budget.take(len(data)):
            ctx.add("analysis-limit", Severity.MEDIUM, "decompression budget exhausted", e.name)
            return
        if bytes(data[:6]) == MAGIC:
            inspect(data, ctx, location=f"{e.name}:")
            ctx.format = "npz"
        else:
            inspect_member(data, e.name, ctx)
