"""Plain pickle files, joblib dumps, and torch's legacy magic-number format (torch < 1.6)."""

from __future__ import annotations

import struct
from typing import Any

from mlsleuth.parsers.models.context import Ctx
from mlsleuth.parsers.models.pickle_findings import findings_for
from mlsleuth.parsers.models.pickle_vm import (
    GlobalRef,
    ListVal,
    PersRef,
    PickleAnalysis,
    analyze,
    is_probably_pickle,
)
from mlsleuth.parsers.models.result import Severity

# torch.serialization.MAGIC_NUMBER: the first pickle of a legacy torch.save file
TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
TORCH_LEGACY_PICKLES = 5  # magic, protocol version, sys_info, the object, storage keys


def detect(head: bytes, ctx: Ctx) -> bool:
    return is_probably_pickle(head[:4096])


def inspect(buf: Any, ctx: Ctx) -> None:
    first = analyze(buf, 0, len(buf), multi=False)
    if first.streams and first.result == TORCH_LEGACY_MAGIC:
        ctx.format = "pytorch-legacy"
        _inspect_legacy(buf, first, ctx)
        return
    if first.streams and first.end < len(buf):
        more = analyze(buf, first.end, len(buf), multi=True, max_streams=63)
        _merge(first, more)
    ctx.format = _pickle_format_name(first)
    ctx.extend(findings_for(first, ""))
    if first.streams > 1:
        ctx.add("pickle-multiple-streams", Severity.LOW,
                 f"{first.streams} pickles in one file: loaders that read repeatedly run all of them")


def _inspect_legacy(buf: Any, first: PickleAnalysis, ctx: Ctx) -> None:
    """magic, protocol version, sys_info, object, storage keys; then per key int64 count + data."""
    ctx.extend(findings_for(first, "pickle#1", trailing_ok=True))
    streams = [first]
    pos = first.end
    for i in range(2, TORCH_LEGACY_PICKLES + 1):
        a = analyze(buf, pos, len(buf), multi=False)
        ctx.extend(findings_for(a, f"pickle#{i}", trailing_ok=True))
        if not a.streams:
            ctx.add("pytorch-legacy-incomplete", Severity.MEDIUM,
                    f"legacy torch file stops inside header pickle {i} of {TORCH_LEGACY_PICKLES}")
            return
        streams.append(a)
        pos = a.end
    sizes = _legacy_storage_sizes(streams[3])
    keys = streams[4].result
    if not isinstance(keys, ListVal):
        return
    if keys.count > len(keys.items):
        return  # more keys than kept for display: skip the data walk rather than guess
    for key in keys.items:
        if key not in sizes:
            continue
        elsize, numel = sizes[key]
        if pos + 8 > len(buf):
            ctx.add("pytorch-legacy-truncated", Severity.MEDIUM, f"storage {key}: file ends before its data")
            return
        (n,) = struct.unpack_from("<q", buf, pos)
        if n != numel:
            ctx.add("pytorch-legacy-mismatch", Severity.LOW, f"storage {key}: {n} elements, object says {numel}")
        pos += 8 + max(n, 0) * elsize
        if pos > len(buf):
            ctx.add("pytorch-legacy-truncated", Severity.MEDIUM,
                    f"storage {key}: data runs {pos - len(buf)} bytes past the end (truncated file)")
            return
    if pos < len(buf):
        ctx.add("pytorch-legacy-trailing", Severity.LOW, f"{len(buf) - pos} bytes after the last storage")


_ELSIZE = {"DoubleStorage": 8, "FloatStorage": 4, "HalfStorage": 2, "LongStorage": 8, "IntStorage": 4,
           "ShortStorage": 2, "CharStorage": 1, "ByteStorage": 1, "BoolStorage": 1, "BFloat16Storage": 2,
           "ComplexDoubleStorage": 16, "ComplexFloatStorage": 8}


def _legacy_storage_sizes(main: PickleAnalysis) -> dict[str, tuple[int, int]]:
    """key -> (element size, numel) from ('storage', Type, key, location, numel, view) ids."""
    out: dict[str, tuple[int, int]] = {}
    for call in main.calls:
        args = call.args if isinstance(call.args, tuple) else ()
        for a in args:
            pid = a.pid if isinstance(a, PersRef) else None
            if isinstance(pid, tuple) and len(pid) >= 5 and isinstance(pid[1], GlobalRef):
                size = _ELSIZE.get(pid[1].name)
                if size and isinstance(pid[2], str) and isinstance(pid[4], int):
                    out[pid[2]] = (size, pid[4])
    return out


def _merge(into: PickleAnalysis, more: PickleAnalysis) -> None:
    if not more.streams and not more.globals:
        return  # trailing non-pickle bytes: reported by findings_for as trailing data
    into.globals += more.globals
    into.calls += more.calls
    into.builds += more.builds
    into.errors += more.errors
    into.nested += more.nested
    into.extensions += more.extensions
    into.limits += more.limits
    into.streams += more.streams
    into.end = more.end
    into.trailing = more.trailing
    into.joblib_arrays += more.joblib_arrays


def _pickle_format_name(analysis: PickleAnalysis) -> str:
    if analysis.joblib_arrays or any(g.module.startswith("joblib") for g in analysis.globals):
        return "joblib"
    if any(g.module.startswith("sklearn") for g in analysis.globals):
        return "pickle (scikit-learn)"
    if any(g.module.startswith("torch") for g in analysis.globals):
        return "pickle (torch)"
    return "pickle"
