"""GGUF: a bounded, byte-faithful header/metadata reader and the chat-template check.

Own reader rather than ``gguf.GGUFReader`` because the latter maps the whole file and trusts
counts and lengths; here every count/length is checked against the bytes left before any
allocation (the llama.cpp/ggml parser overflows, TALOS-2024-1912..1916, came from exactly
those fields). Layout per ggml/docs/gguf.md: magic, u32 version, tensor count and KV count
(u32 in v1, u64 since v2), KV pairs, tensor infos, aligned tensor data.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from mlsleuth.parsers.models.context import Ctx
from mlsleuth.parsers.models.jinja_check import check_template
from mlsleuth.parsers.models.result import Severity

MAGIC = b"GGUF"
T_U8, T_I8, T_U16, T_I16, T_U32, T_I32, T_F32, T_BOOL, T_STR, T_ARR, T_U64, T_I64, T_F64 = range(13)
_SCALAR = {T_U8: "<B", T_I8: "<b", T_U16: "<H", T_I16: "<h", T_U32: "<I", T_I32: "<i", T_F32: "<f",
           T_BOOL: "<?", T_U64: "<Q", T_I64: "<q", T_F64: "<d"}
_SCALAR_SIZE = {k: struct.calcsize(v) for k, v in _SCALAR.items()}
MAX_KV = 1_000_000
MAX_TENSORS = 10_000_000
MAX_DIMS = 4  # GGML_MAX_DIMS
MAX_KEEP_ARRAY = 16
# ggml type -> (block size, bytes per block) for the size check (subset of ggml_type_traits)
GGML_TYPES = {0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34),
              9: (32, 36), 10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210),
              15: (256, 292), 16: (256, 66), 17: (256, 74), 18: (256, 98), 19: (256, 50), 20: (32, 18),
              21: (256, 110), 22: (256, 82), 23: (256, 136), 24: (1, 1), 25: (1, 2), 26: (1, 4),
              27: (1, 8), 28: (1, 8), 29: (256, 56), 30: (1, 2), 34: (256, 54), 35: (256, 66),
              39: (32, 17)}


class GGUFError(ValueError):
    pass


@dataclass
class GGUFHeader:
    version: int
    n_tensors: int
    n_kv: int
    kv: dict[str, Any] = field(default_factory=dict)
    types: dict[str, int] = field(default_factory=dict)
    tensors: list[tuple[str, list[int], int, int]] = field(default_factory=list)
    end_of_kv: int = 0
    end_of_infos: int = 0
    error: str | None = None


class _Reader:
    def __init__(self, buf: Any) -> None:
        self.buf = buf
        self.pos = 0
        self.size = len(buf)

    def need(self, n: int, what: str) -> None:
        if n < 0 or self.pos + n > self.size:
            raise GGUFError(f"{what}: needs {n} bytes at offset {self.pos}, {self.size - self.pos} left")

    def scalar(self, t: int) -> Any:
        fmt = _SCALAR[t]
        n = _SCALAR_SIZE[t]
        self.need(n, "value")
        (v,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += n
        return v

    def u32(self) -> int:
        return self.scalar(T_U32)

    def u64(self) -> int:
        return self.scalar(T_U64)

    def string(self, v1: bool, keep: int = 1 << 24) -> str:
        n = self.u32() if v1 else self.u64()
        self.need(n, "string")
        raw = bytes(self.buf[self.pos:self.pos + min(n, keep)])
        self.pos += n
        return raw.decode("utf-8", "replace")

    def value(self, t: int, v1: bool, depth: int = 0) -> Any:
        if t in _SCALAR:
            return self.scalar(t)
        if t == T_STR:
            return self.string(v1)
        if t == T_ARR:
            if depth > 2:
                raise GGUFError("arrays nested too deep")
            et = self.u32()
            n = self.u32() if v1 else self.u64()
            if et in _SCALAR:
                self.need(n * _SCALAR_SIZE[et], f"array of {n}")
                keep = [struct.unpack_from(_SCALAR[et], self.buf, self.pos + i * _SCALAR_SIZE[et])[0]
                        for i in range(min(n, MAX_KEEP_ARRAY))]
                self.pos += n * _SCALAR_SIZE[et]
                return _Arr(et, n, keep)
            if et in (T_STR, T_ARR):
                # every element needs at least its length field: bound n before looping
                self.need(n * (4 if v1 else 8) if et == T_STR else n * 12, f"array of {n}")
                keep = []
                for i in range(n):
                    v = self.value(et, v1, depth + 1)
                    if i < MAX_KEEP_ARRAY or (et == T_STR and isinstance(v, str) and len(keep) < 64
                                              and _looks_like_template(v)):
                        keep.append(v)
                return _Arr(et, n, keep)
            raise GGUFError(f"unknown array element type {et}")
        raise GGUFError(f"unknown value type {t}")


@dataclass
class _Arr:
    etype: int
    count: int
    items: list


def _looks_like_template(v: str) -> bool:
    return "{%" in v or "{{" in v


def read_header(buf: Any, with_tensors: bool = True) -> GGUFHeader:
    r = _Reader(buf)
    r.need(4, "magic")
    if bytes(buf[:4]) != MAGIC:
        raise GGUFError("not a GGUF file")
    r.pos = 4
    version = r.u32()
    if version not in (1, 2, 3):
        raise GGUFError(f"unsupported GGUF version {version}")
    v1 = version == 1
    n_tensors = r.u32() if v1 else r.u64()
    n_kv = r.u32() if v1 else r.u64()
    hdr = GGUFHeader(version, n_tensors, n_kv)
    if n_kv > MAX_KV or n_kv * 12 > r.size:
        hdr.error = f"metadata count {n_kv} cannot fit in {r.size} bytes"
        return hdr
    if n_tensors > MAX_TENSORS or n_tensors * 24 > r.size:
        hdr.error = f"tensor count {n_tensors} cannot fit in {r.size} bytes"
        return hdr
    try:
        for _ in range(n_kv):
            key = r.string(v1, keep=4096)
            t = r.u32()
            hdr.kv[key] = r.value(t, v1)
            hdr.types[key] = t
        hdr.end_of_kv = r.pos
        if with_tensors:
            for _ in range(n_tensors):
                name = r.string(v1, keep=1024)
                nd = r.u32()
                if nd > MAX_DIMS:
                    raise GGUFError(f"tensor {name!r} has {nd} dimensions (max {MAX_DIMS})")
                dims = [r.u32() if v1 else r.u64() for _ in range(nd)]
                ttype = r.u32()
                off = r.u64()
                hdr.tensors.append((name, dims, ttype, off))
            hdr.end_of_infos = r.pos
    except GGUFError as exc:
        hdr.error = str(exc)
        if not hdr.end_of_kv:
            hdr.end_of_kv = r.pos
    return hdr


def detect(head: bytes, ctx: Ctx) -> bool:
    return head[:4] == MAGIC


def template_sources(hdr: GGUFHeader) -> list[tuple[str, str]]:
    out = []
    for key, val in hdr.kv.items():
        if key.startswith("tokenizer.chat_template"):
            if isinstance(val, str):
                out.append((key, val))
            elif isinstance(val, _Arr):
                out.extend((f"{key}[{i}]", v) for i, v in enumerate(val.items) if isinstance(v, str))
    return out


def inspect(buf: Any, ctx: Ctx, partial: bool = False) -> None:
    """``partial``: only the header part is available (collector), skip tensor-data checks."""
    ctx.format = "gguf"
    try:
        hdr = read_header(buf)
    except GGUFError as exc:
        ctx.add("gguf-malformed", Severity.MEDIUM, f"GGUF header unreadable: {exc}")
        return
    if hdr.error:
        if partial and hdr.end_of_kv and "tensor" in hdr.error:
            ctx.add("gguf-partial", Severity.INFO, f"header part ends in the tensor table: {hdr.error}")
        else:
            ctx.add("gguf-malformed", Severity.MEDIUM,
                    f"GGUF v{hdr.version} header malformed: {hdr.error} (ggml parser overflow pattern, "
                    "TALOS-2024-1912..1916)")
    for key, src in template_sources(hdr):
        check_template(src, ctx, key)
    arch = hdr.kv.get("general.architecture")
    name = hdr.kv.get("general.name")
    ctx.add("gguf-info", Severity.INFO,
            f"GGUF v{hdr.version}: {hdr.n_tensors} tensors, {hdr.n_kv} metadata keys"
            + (f", architecture {arch}" if isinstance(arch, str) else ""), "",
            [str(name)] if isinstance(name, str) else [])
    if not partial and not hdr.error:
        _check_tensors(hdr, len(buf), ctx)


def _check_tensors(hdr: GGUFHeader, size: int, ctx: Ctx) -> None:
    align = hdr.kv.get("general.alignment", 32)
    if not isinstance(align, int) or align <= 0 or align & (align - 1):
        ctx.add("gguf-malformed", Severity.MEDIUM, f"general.alignment {align!r} is not a power of two")
        return
    data_start = (hdr.end_of_infos + align - 1) // align * align
    spans = []
    problems = []
    for name, dims, ttype, off in hdr.tensors:
        n = 1
        for d in dims:
            n *= d
        traits = GGML_TYPES.get(ttype)
        if traits is None:
            continue
        block, nbytes = traits
        if n % block:
            problems.append(f"{name}: {n} elements not a multiple of block size {block}")
            continue
        length = n // block * nbytes
        if off % align:
            problems.append(f"{name}: offset {off} not aligned to {align}")
        if data_start + off + length > size:
            problems.append(f"{name}: data [{off}, {off + length}) runs past the end of the file")
        spans.append((off, off + length, name))
    spans.sort()
    end = 0
    for s, e, name in spans:
        if s < end:
            problems.append(f"{name}: overlaps the previous tensor")
        end = max(end, e)
    for p in problems[:10]:
        ctx.add("gguf-malformed", Severity.MEDIUM, p)
