"""PyTorch containers: the zip format (torch.save >= 1.6, TorchScript, torch.package) and the
legacy tar format (torch <= 0.1.x). The legacy magic-number format is a pickle sequence and
lives in pickle_file.py.
"""

from __future__ import annotations

import io
import re
import struct
import tarfile
from typing import Any

from mlsleuth.parsers.models.context import Ctx
from mlsleuth.parsers.models.pickle_findings import findings_for
from mlsleuth.parsers.models.pickle_vm import GlobalRef, analyze
from mlsleuth.parsers.models.result import Severity
from mlsleuth.parsers.models.zipread import ZipArchive, ZipEntry, ZipError

MAX_CODE_BYTES = 8 * 1024 * 1024

# TorchScript source runs at load (``__setstate__``) or when called; these reach files,
# native libraries or interpreter internals.
TS_DANGEROUS = [
    (re.compile(r"\btorch\.from_file\b|\bops\.aten\.from_file\b"), Severity.HIGH,
     "torch.from_file maps/reads an arbitrary file"),
    (re.compile(r"\btorch\.(?:save|load)\b|\bops\.aten\.(?:save|load)\b"), Severity.HIGH,
     "serialization call inside TorchScript"),
    (re.compile(r"\bops\.(?!aten\b|prim\b|quantized\b|_caffe2\b)([A-Za-z_]\w*)\."), Severity.HIGH,
     "custom operator namespace (native library code)"),
    (re.compile(r"\btorch\.classes\.|__torch__\.torch\.classes\."), Severity.HIGH,
     "TorchBind custom class (native code)"),
    (re.compile(r"\bload_library\b|\bctypes\b|\bsubprocess\b|\bos\.system\b|\bpopen\b"), Severity.CRITICAL,
     "process/native-library access"),
    (re.compile(r"\bopen\s*\("), Severity.HIGH, "file access"),
]
TS_SETSTATE = re.compile(r"def\s+__setstate__\s*\(")


TORCH_RECORDS = {"version", "byteorder", ".format_version", ".storage_alignment", "serialization_id"}


_TORCH_MARKERS = ("/data.pkl", "/constants.pkl", "/bytecode.pkl", ".data/version")


def is_torch_zip(arc: ZipArchive) -> bool:
    for n in arc.namelist:
        if n == "data.pkl" or n.endswith(_TORCH_MARKERS):
            return True
    return False


_PKL = (".pkl", ".debug_pkl")
_NOT_PICKLES = ("data/", ".data/", "code/")


class _Layout:
    """One pass over the member names: what torch would unpickle or run, and the storages."""

    __slots__ = ("pickles", "code", "tops", "storages", "constants", "package")

    def __init__(self, arc: ZipArchive) -> None:
        self.pickles: list[ZipEntry] = []
        self.code: list[ZipEntry] = []
        self.tops: set[str] = set()
        self.storages: set[str] = set()
        self.constants = self.package = False
        tops = self.tops
        for i, n in enumerate(arc.namelist):
            slash = n.find("/")
            d = n.find("/data/")
            if slash > 0:
                tops.add(n[:slash])
                if d >= 0:
                    self.storages.add(n[d + 6:])
            if n.endswith(_PKL):
                self.pickles.append(arc.entry(i))
                if n.endswith("/constants.pkl") and d < 0 and slash > 0:
                    self.constants = True
                continue
            if n.endswith(".py"):
                if "/code/" in n or n.startswith("code/") or ".data/ts_code/" in n:
                    self.code.append(arc.entry(i))
            elif slash > 0 and d < 0 and n.endswith(".data/extern_modules"):
                self.package = True
            if d >= 0 or n.endswith("/"):
                continue
            tail = n[slash + 1:] if slash >= 0 else n
            if tail in TORCH_RECORDS or tail.startswith(_NOT_PICKLES):
                continue
            # torch.package loads any pickle, whatever its name: a stored member that starts like one
            e = arc.entry(i)
            if e.method == 0 and e.csize >= 8 and e.data_offset >= 0:
                head = bytes(arc.buf[e.data_offset:e.data_offset + 2])
                if head[:1] == b"\x80" and 2 <= head[1] <= 5:
                    self.pickles.append(e)


def pickle_members(arc: ZipArchive) -> list[ZipEntry]:
    """Members torch (or torch.package) unpickles: *.pkl, plus anything outside data/ that starts
    like a binary pickle (torch finds data.pkl by name, torch.package loads any pickle)."""
    return _Layout(arc).pickles


def code_members(arc: ZipArchive) -> list[ZipEntry]:
    return _Layout(arc).code


def report_zip_problems(arc: ZipArchive, ctx: Ctx, entries: list[ZipEntry] | None = None) -> None:
    for p in arc.problems:
        ctx.add("zip-structure", Severity.MEDIUM if "central" in p or "truncated" in p else Severity.LOW,
                f"zip container: {p}")
    for e in entries if entries is not None else arc.entries:
        for p in e.problems:
            sev = Severity.MEDIUM
            if "recovered from its local header" in p:
                sev = Severity.LOW
            ctx.add("zip-member-irregular", sev, f"{e.name}: {p}", e.name)


def inspect_torch_zip(arc: ZipArchive, ctx: Ctx) -> None:
    layout = _Layout(arc)
    pkl, code, tops, storages = layout.pickles, layout.code, layout.tops, layout.storages
    constants, package = layout.constants, layout.package
    if code or constants:
        ctx.format = "torchscript"
    elif package:
        ctx.format = "torch.package"
    else:
        ctx.format = "pytorch-zip"
    if len(tops) > 1:
        ctx.add("torch-zip-layout", Severity.LOW,
                f"several top-level folders ({', '.join(sorted(tops)[:5])}); torch expects one archive name")
    if not pkl:
        ctx.add("torch-zip-no-pickle", Severity.MEDIUM, "torch zip without a readable pickle member")
    for e in pkl:
        try:
            data_end = _pickle_extent(arc, e)
        except ZipError as exc:
            ctx.add("torch-member-unreadable", Severity.MEDIUM, f"{e.name}: {exc}", e.name)
            continue
        buf, start, end = data_end
        analysis = analyze(buf, start, end, multi=True)
        ctx.extend(findings_for(analysis, e.name, base=start))
        _check_crc_of_pickle(arc, e, buf, start, end)
        if e.name.endswith("data.pkl") and storages:
            missing = _missing_storages(analysis, storages)
            if missing:
                ctx.add("torch-storage-missing", Severity.LOW,
                        f"data.pkl references storages absent from the archive: {', '.join(missing[:5])}",
                        e.name)
    if code:
        inspect_torchscript_code(arc, code, ctx)
    report_zip_problems(arc, ctx, pkl + code)


def _pickle_extent(arc: ZipArchive, e: ZipEntry) -> tuple[Any, int, int]:
    """Where to read the pickle: in place for stored members (no copy), else decompressed."""
    if e.method == 0 and e.data_offset >= 0:
        start = e.data_offset
        end = min(len(arc.buf), start + e.csize) if e.csize > 0 else len(arc.buf)
        if e.csize <= 0 or e.from_local_scan:
            end = len(arc.buf)  # unknown size: a pickle ends at its own STOP
        return arc.buf, start, end
    data = arc.read(e, check_crc=False)
    return data, 0, len(data)


def _check_crc_of_pickle(arc: ZipArchive, e: ZipEntry, buf: Any, start: int, end: int) -> None:
    if e.method != 0 or e.from_local_scan or e.usize != end - start:
        return
    import zlib

    actual = zlib.crc32(buf[start:end]) & 0xFFFFFFFF
    if actual != e.crc:
        e.problems.append(f"CRC-32 mismatch (directory {e.crc:08x}, data {actual:08x}): modified after "
                          "writing; torch does not verify CRCs, so it loads anyway")


def _missing_storages(analysis: Any, storages: set[str]) -> list[str]:
    missing: list[str] = []
    for pid in analysis.pids:
        if isinstance(pid, tuple) and len(pid) >= 3:
            key = pid[2]
            if isinstance(key, str) and key not in storages and key not in missing:
                missing.append(key)
    return missing


def inspect_torchscript_code(arc: ZipArchive, entries: list[ZipEntry], ctx: Ctx) -> None:
    classes: list[str] = []
    setstate_in: list[str] = []
    for e in entries:
        try:
            data = arc.read(e, limit=MAX_CODE_BYTES)
        except ZipError as exc:
            ctx.add("torchscript-unreadable", Severity.MEDIUM, f"{e.name}: {exc}", e.name)
            continue
        text = data.decode("utf-8", "replace")
        classes.extend(re.findall(r"^class\s+(\w+)", text, re.M)[:20])
        if TS_SETSTATE.search(text):
            setstate_in.append(e.name)
        for rx, sev, why in TS_DANGEROUS:
            hits = [m.group(0) for m in rx.finditer(text)][:5]
            if hits:
                lines = [ln.strip() for ln in text.splitlines() if rx.search(ln)][:5]
                ctx.add("torchscript-dangerous-op", sev, f"TorchScript code {e.name}: {why}", e.name,
                        lines + hits)
    ctx.add("torchscript-archive", Severity.LOW,
            f"TorchScript program ({len(entries)} code entries): torch.load before 2.6 runs it even with "
            "weights_only=True (CVE-2025-32434)", "", classes[:10])
    if setstate_in:
        ctx.add("torchscript-setstate", Severity.LOW,
                "TorchScript __setstate__ runs during load", setstate_in[0], setstate_in[:5])


# -- legacy tar (torch <= 0.1.x: members sys_info, pickle, tensors, storages) ---------------

LEGACY_TAR_MEMBERS = {"sys_info", "pickle", "tensors", "storages"}
_ELEMENT_SIZES = {
    "DoubleStorage": 8, "FloatStorage": 4, "HalfStorage": 2, "LongStorage": 8, "IntStorage": 4,
    "ShortStorage": 2, "CharStorage": 1, "ByteStorage": 1, "BoolStorage": 1, "BFloat16Storage": 2,
    "ComplexDoubleStorage": 16, "ComplexFloatStorage": 8,
}
MAX_LEGACY_MEMBER = 64 * 1024 * 1024


def is_legacy_tar(names: list[str]) -> bool:
    return "pickle" in names and ("storages" in names or "sys_info" in names)


def inspect_legacy_tar(tar: tarfile.TarFile, ctx: Ctx) -> None:
    ctx.format = "pytorch-legacy-tar"
    for name in ("sys_info", "pickle"):
        data = _tar_member(tar, name, ctx)
        if data is not None:
            ctx.extend(findings_for(analyze(data, multi=False), name))
    for name in ("storages", "tensors"):
        info = _tar_info(tar, name)
        if info is None:
            continue
        data = _tar_member(tar, name, ctx, limit=None)
        if data is None:
            continue
        for label, analysis in walk_legacy_member(name, data):
            ctx.extend(findings_for(analysis, label, trailing_ok=True))


def walk_legacy_member(name: str, data: Any) -> list[tuple[str, Any]]:
    """The pickles torch.load reads from a legacy 'storages' or 'tensors' member, in order."""
    out: list[tuple[str, Any]] = []
    first = analyze(data, 0, len(data), multi=False)
    out.append((f"{name}@0", first))
    count = first.result if isinstance(first.result, int) and first.streams else 0
    pos = first.end
    for i in range(min(count, 100_000)):
        a = analyze(data, pos, len(data), multi=False)
        out.append((f"{name}@{pos}", a))
        if not a.streams:
            break
        pos = a.end
        try:
            if name == "storages":
                storage_type = a.result[2] if isinstance(a.result, tuple) and len(a.result) >= 3 else None
                elsize = _ELEMENT_SIZES.get(storage_type.name) if isinstance(storage_type, GlobalRef) else None
                if elsize is None:
                    break
                (numel,) = struct.unpack_from("<q", data, pos)
                pos += 8 + numel * elsize
            else:
                (ndim,) = struct.unpack_from("<i", data, pos)
                pos += 8 + 16 * ndim + 8
        except struct.error:
            break
        if pos > len(data) or i == count - 1:
            break
    if name == "storages" and pos < len(data):
        tail = analyze(data, pos, len(data), multi=False)
        out.append((f"{name}@{pos}", tail))
    return out


def _tar_info(tar: tarfile.TarFile, name: str) -> tarfile.TarInfo | None:
    try:
        return tar.getmember(name)
    except KeyError:
        return None


def _tar_member(tar: tarfile.TarFile, name: str, ctx: Ctx, limit: int | None = MAX_LEGACY_MEMBER) -> Any:
    info = _tar_info(tar, name)
    if info is None or not info.isfile():
        return None
    size = info.size if limit is None else min(info.size, limit)
    fh = tar.extractfile(info)
    if fh is None:
        return None
    data = fh.read(size)
    if len(data) < info.size and limit is not None and info.size > limit:
        ctx.add("analysis-limit", Severity.MEDIUM, f"legacy member {name} analysed up to {limit} bytes", name)
    return data


def open_tar(buf: Any) -> tarfile.TarFile:
    return tarfile.open(fileobj=io.BytesIO(buf) if isinstance(buf, bytes) else _BufIO(buf), mode="r:")


class _BufIO(io.RawIOBase):
    """A seekable read-only file over a bytes-like/mmap without copying it."""

    def __init__(self, buf: Any) -> None:
        self.buf = buf
        self.pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == 0:
            self.pos = offset
        elif whence == 1:
            self.pos += offset
        else:
            self.pos = len(self.buf) + offset
        return self.pos

    def tell(self) -> int:
        return self.pos

    def readinto(self, b: Any) -> int:
        chunk = self.buf[self.pos:self.pos + len(b)]
        n = len(chunk)
        b[:n] = chunk
        self.pos += n
        return n
