"""Containers around models: zip (dispatching to torch/.keras/.npz), tar (torch legacy or generic),
single-stream compression (gzip/bz2/xz/lzma/zlib, as used by joblib), and 7z (optional py7zr).

Every expansion is bounded: per-member and per-file decompression budgets, nesting depth and
recursion detection (a member identical to an enclosing archive) come from ``Ctx``.
"""

from __future__ import annotations

import bz2
import lzma
import posixpath
import tarfile
import zlib
from typing import Any

from mlsleuth.parsers.models.context import Ctx
from mlsleuth.parsers.models.formats import keras, numpy_files, torch
from mlsleuth.parsers.models.result import Severity
from mlsleuth.parsers.models.zipread import ZipError, open_zip

MAX_MEMBER = 128 * 1024 * 1024
MAX_MEMBERS = 10_000
CHUNK = 1 << 20
SEVENZIP_MAGIC = b"7z\xbc\xaf\x27\x1c"
MODEL_EXTS = (".pt", ".pth", ".bin", ".ckpt", ".pkl", ".pickle", ".joblib", ".h5", ".hdf5", ".keras", ".pb",
              ".onnx", ".gguf", ".safetensors", ".npy", ".npz", ".py", ".ipynb", ".json", ".zip", ".tar",
              ".gz", ".7z", ".model", ".mar", ".nemo", ".dill", ".sav", ".data")


def _traversal(name: str) -> bool:
    n = name.replace("\\", "/")
    return n.startswith("/") or posixpath.normpath(n).startswith("../") or (len(n) > 1 and n[1] == ":")


# -- zip ---------------------------------------------------------------------------------------
def inspect_zip(buf: Any, ctx: Ctx) -> None:
    ctx.format = "zip"
    try:
        arc = open_zip(buf)
    except ZipError as exc:
        ctx.add("zip-malformed", Severity.MEDIUM, f"zip container unreadable: {exc}")
        return
    names = arc.names()
    if torch.is_torch_zip(arc):
        torch.inspect_torch_zip(arc, ctx)
        return
    if keras.is_keras_zip(names):
        keras.inspect_keras_zip(arc, ctx)
        torch.report_zip_problems(arc, ctx)
        return
    files = [e for e in arc.entries if not e.is_dir]
    if files and all(e.name.endswith(".npy") for e in files):
        numpy_files.inspect_npz(arc, ctx)
        return
    from mlsleuth.parsers.models.scan import inspect_member

    _generic_zip_members(arc, files, ctx, inspect_member)
    torch.report_zip_problems(arc, ctx)


def _generic_zip_members(arc: Any, files: list, ctx: Ctx, inspect_member: Any) -> None:
    for e in files[:MAX_MEMBERS]:
        if _traversal(e.name):
            ctx.add("archive-path-traversal", Severity.HIGH, f"member name {e.name!r} escapes the extraction "
                    "directory (zip slip)", e.name, [e.name])
        try:
            data = arc.read(e, limit=MAX_MEMBER)
        except ZipError as exc:
            ctx.add("archive-member-unreadable", Severity.MEDIUM, f"{e.name}: {exc}", e.name)
            continue
        if not ctx.budget.take(len(data)):
            ctx.add("analysis-limit", Severity.MEDIUM, "decompression budget for this file exhausted", e.name)
            return
        inspect_member(data, e.name, ctx)
    if len(files) > MAX_MEMBERS:
        ctx.add("analysis-limit", Severity.MEDIUM, f"only the first {MAX_MEMBERS} of {len(files)} members analysed")


# -- tar ---------------------------------------------------------------------------------------
def is_tar(head: bytes) -> bool:
    return len(head) >= 262 and head[257:262] == b"ustar"


def inspect_tar(buf: Any, ctx: Ctx) -> None:
    ctx.format = "tar"
    try:
        tar = torch.open_tar(buf)
        members = tar.getmembers()[: MAX_MEMBERS + 1]
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        ctx.add("tar-malformed", Severity.MEDIUM, f"tar archive unreadable: {exc}")
        return
    names = [m.name for m in members]
    if torch.is_legacy_tar(names):
        torch.inspect_legacy_tar(tar, ctx)
        return
    from mlsleuth.parsers.models.scan import inspect_member

    for m in members[:MAX_MEMBERS]:
        if _traversal(m.name) or (m.issym() or m.islnk()) and _traversal(m.linkname):
            ctx.add("archive-path-traversal", Severity.HIGH,
                    f"member {m.name!r} escapes the extraction directory", m.name, [m.name, m.linkname or ""])
        if not m.isfile():
            continue
        fh = tar.extractfile(m)
        if fh is None:
            continue
        data = fh.read(min(m.size, MAX_MEMBER))
        if m.size > MAX_MEMBER:
            ctx.add("analysis-limit", Severity.MEDIUM, f"{m.name}: analysed the first {MAX_MEMBER} bytes", m.name)
        inspect_member(data, m.name, ctx)
    if len(members) > MAX_MEMBERS:
        ctx.add("analysis-limit", Severity.MEDIUM, f"only the first {MAX_MEMBERS} members analysed")


# -- single-stream compression ------------------------------------------------------------------
def compression_of(head: bytes) -> str | None:
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[:3] == b"BZh" and head[3:4].isdigit():
        return "bz2"
    if head[:6] == b"\xfd7zXZ\x00":
        return "xz"
    if head[:3] == b"\x5d\x00\x00":
        return "lzma"
    if head[:2] == b"ZF":  # joblib < 0.10 zlib container: 'ZF' + 19-char hex length + zlib stream
        return "joblib-zf"
    if len(head) >= 2 and head[0] == 0x78 and head[1] in (0x01, 0x5E, 0x9C, 0xDA) \
            and (head[0] * 256 + head[1]) % 31 == 0:
        return "zlib"
    if head[:4] == b"\x04\x22\x4d\x18":
        return "lz4"
    if head[:4] == b"\x28\xb5\x2f\xfd":
        return "zstd"
    return None


def _decompressor(kind: str) -> Any:
    if kind == "gzip":
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if kind in ("zlib", "joblib-zf"):
        return zlib.decompressobj()
    if kind == "bz2":
        return bz2.BZ2Decompressor()
    if kind in ("xz", "lzma"):
        return lzma.LZMADecompressor(lzma.FORMAT_AUTO)
    if kind == "lz4":
        import lz4.frame  # optional

        return lz4.frame.LZ4FrameDecompressor()
    if kind == "zstd":
        import zstandard  # optional

        return zstandard.ZstdDecompressor().decompressobj()
    raise ValueError(kind)


def decompress_bounded(buf: Any, kind: str, limit: int) -> tuple[bytes, str | None]:
    """(data, problem). Feeds 1 MiB at a time and stops at ``limit`` output bytes."""
    dec = _decompressor(kind)
    start = 21 if kind == "joblib-zf" else 0
    out = bytearray()
    pos = start
    size = len(buf)
    try:
        while pos < size and len(out) < limit:
            chunk = bytes(buf[pos:pos + CHUNK])
            pos += len(chunk)
            room = limit - len(out)
            if kind in ("lz4", "zstd"):
                out += dec.decompress(chunk)
            else:
                out += dec.decompress(chunk, room)
                while getattr(dec, "unconsumed_tail", b"") and len(out) < limit:
                    out += dec.decompress(dec.unconsumed_tail, limit - len(out))
                if getattr(dec, "eof", False):
                    break
    except (zlib.error, OSError, EOFError, lzma.LZMAError, ValueError) as exc:
        return bytes(out), f"decompression failed after {len(out)} bytes: {exc}"
    if len(out) >= limit:
        return bytes(out[:limit]), f"decompressed size exceeds {limit} bytes (analysed the first {limit})"
    return bytes(out), None


def inspect_compressed(buf: Any, kind: str, ctx: Ctx) -> None:
    from mlsleuth.parsers.models.scan import inspect_member

    ctx.format = kind
    limit = min(MAX_MEMBER, ctx.budget.remaining)
    try:
        data, problem = decompress_bounded(buf, kind, limit)
    except ImportError:
        ctx.unsupported = True
        ctx.add("archive-unsupported", Severity.LOW, f"{kind} stream: decompressor not installed; not analysed")
        return
    if problem:
        ratio = len(data) // max(len(buf), 1)
        sev = Severity.MEDIUM
        if "exceeds" in problem and ratio > 100:
            problem += f"; ratio {ratio}:1 (decompression bomb pattern)"
        ctx.add("compressed-stream", sev, f"{kind}: {problem}")
    elif len(data) > (16 << 20) and len(data) > 200 * max(len(buf), 1):
        ctx.add("compressed-stream", Severity.MEDIUM,
                f"{kind}: {len(buf)} bytes expand to {len(data)} (ratio {len(data) // max(len(buf), 1)}:1, "
                "decompression bomb pattern)")
    ctx.budget.take(len(data))
    inner = ctx.name
    for ext in (".gz", ".bz2", ".xz", ".lzma", ".z", ".zst", ".lz4"):
        if inner.lower().endswith(ext):
            inner = inner[: -len(ext)]
    child = inspect_member(data, inner or "content", ctx)
    if child is not None and child.format:
        ctx.format = f"{child.format} ({kind})"
        ctx.unsupported = ctx.unsupported or child.unsupported  # the stream IS the file


# -- 7z ----------------------------------------------------------------------------------------
def inspect_7z(buf: Any, ctx: Ctx) -> None:
    ctx.format = "7z"
    try:
        import py7zr  # optional extra "archives"
    except ImportError:
        ctx.unsupported = True
        ctx.add("archive-unsupported", Severity.LOW,
                "7z wrapper: py7zr is not installed (pip install 'mlsleuth[archives]'); content NOT analysed")
        return
    import io

    from mlsleuth.parsers.models.scan import inspect_member

    try:
        with py7zr.SevenZipFile(io.BytesIO(bytes(buf)), mode="r") as z:
            infos = [i for i in z.list() if not i.is_directory][:MAX_MEMBERS]
            total = sum(i.uncompressed for i in infos)
            if total > ctx.budget.remaining:
                ctx.add("analysis-limit", Severity.MEDIUM,
                        f"7z content of {total} bytes exceeds the decompression budget; not expanded")
                return
            names = [i.filename for i in infos if i.uncompressed <= MAX_MEMBER]
            for i in infos:
                if i.uncompressed > MAX_MEMBER:
                    ctx.add("analysis-limit", Severity.MEDIUM, f"{i.filename}: larger than {MAX_MEMBER}", i.filename)
            data = _7z_read(z, names)
    except Exception as exc:  # noqa: BLE001 - py7zr raises many types on damaged archives
        ctx.add("archive-malformed", Severity.MEDIUM, f"7z archive unreadable: {type(exc).__name__}: {exc}")
        return
    ctx.budget.take(sum(len(v) for v in data.values()))
    for name, content in data.items():
        if _traversal(name):
            ctx.add("archive-path-traversal", Severity.HIGH, f"member {name!r} escapes the extraction directory",
                    name, [name])
        inspect_member(content, name, ctx)


def _7z_read(z: Any, names: list[str]) -> dict[str, bytes]:
    if hasattr(z, "read"):
        got = z.read(names) or {}
        return {k: v.read() for k, v in got.items()}
    import tempfile

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        z.extract(path=tmp, targets=names)
        from pathlib import Path

        for n in names:
            p = Path(tmp) / n
            if p.is_file():
                out[n] = p.read_bytes()
    return out
