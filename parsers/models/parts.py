"""Which pieces of a large model file static analysis needs (the collector keeps only these).

The cost of finding the parts follows the size of what is analysed, not of the file: a torch
zip is located through its end-of-central-directory record and only pickle/code members are
returned; safetensors and GGUF headers are bounded by their own length fields.
Formats without a compact analysable part (ONNX with inline initializers, joblib with inline
arrays, unknown binaries) return an empty list: the collector then hashes the file only.
"""

from __future__ import annotations

import struct
from pathlib import Path

from mlsleuth.parsers.models import blob
from mlsleuth.parsers.models.formats import gguf, keras, numpy_files, torch
from mlsleuth.parsers.models.formats.pickle_file import TORCH_LEGACY_MAGIC, TORCH_LEGACY_PICKLES
from mlsleuth.parsers.models.pickle_vm import analyze
from mlsleuth.parsers.models.result import Part
from mlsleuth.parsers.models.zipread import ZipArchive, ZipEntry, ZipError, open_zip

MAX_PART = 256 * 1024 * 1024


def analysis_parts(path: Path) -> list[Part]:
    path = Path(path)
    buf = blob.load(path)
    try:
        return _parts(path, buf)
    finally:
        if hasattr(buf, "close"):
            buf.close()


def _parts(path: Path, buf) -> list[Part]:
    head = bytes(buf[:4096])
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        try:
            arc = open_zip(buf)
        except ZipError:
            return []
        return _zip_parts(path, arc)
    if head[:4] == gguf.MAGIC:
        hdr = gguf.read_header(buf)
        end = hdr.end_of_infos or hdr.end_of_kv or min(len(buf), 1 << 20)
        return [Part("gguf-header.bin", path, 0, min(end, MAX_PART))]
    if head.startswith(keras.HDF5_MAGIC):
        return _h5_parts(path)
    if head.startswith(numpy_files.MAGIC):
        try:
            header, data_off = numpy_files.parse_header(buf)
        except Exception:  # noqa: BLE001 - damaged header: keep the first bytes for the examiner
            return [Part("npy-header", path, 0, min(len(buf), 4096))]
        if numpy_files._has_object(header.get("descr")):
            return [Part("object-array.npy", path, 0, min(len(buf), MAX_PART))]
        return [Part("npy-header", path, 0, data_off)]
    if len(head) >= 9 and head[8:9] == b"{":
        (n,) = struct.unpack_from("<Q", head, 0)
        if n <= len(buf) - 8 and n <= MAX_PART:
            return [Part("header.json", path, 8, n)]
        return [Part("header-prefix.bin", path, 0, min(len(buf), 4096))]
    if head[:1] == b"\x80":
        first = analyze(buf, 0, len(buf), multi=False, joblib=False)
        if first.streams and first.result == TORCH_LEGACY_MAGIC:
            rest = analyze(buf, first.end, len(buf), multi=True, max_streams=TORCH_LEGACY_PICKLES - 1,
                           joblib=False)
            return [Part("pickle", path, 0, min(rest.end or first.end, MAX_PART))]
        end = first.end if first.streams else len(buf)
        return [Part("pickle", path, 0, min(end, MAX_PART))]
    if len(head) > 262 and head[257:262] == b"ustar":
        return _legacy_tar_parts(path, buf)
    return []


def _zip_parts(path: Path, arc: ZipArchive) -> list[Part]:
    if torch.is_torch_zip(arc):
        wanted = torch.pickle_members(arc) + torch.code_members(arc)
        return [_member_part(path, arc, e) for e in wanted]
    if keras.is_keras_zip(arc.names()):
        return [_member_part(path, arc, e) for e in arc.entries if e.name in ("config.json", "metadata.json")]
    return []


def _member_part(path: Path, arc: ZipArchive, e: ZipEntry) -> Part:
    if e.method == 0 and e.data_offset >= 0 and 0 < e.csize <= MAX_PART:
        return Part(e.name, path, e.data_offset, e.csize)
    if e.method == 0 and e.data_offset >= 0 and e.csize <= 0:
        # size unknown (recovered entry): a pickle ends at its own STOP
        a = analyze(arc.buf, e.data_offset, len(arc.buf), multi=False, joblib=False)
        return Part(e.name, path, e.data_offset, max(a.end - e.data_offset, 0))

    def read(entry: ZipEntry = e) -> bytes:
        b = blob.load(path)
        try:
            return open_zip(b).read(entry, limit=MAX_PART, check_crc=False)
        finally:
            if hasattr(b, "close"):
                b.close()

    return Part(e.name, path, None, e.usize, reader=read)


def _h5_parts(path: Path) -> list[Part]:
    try:
        attrs = keras.h5_config_attrs(str(path))
    except Exception:  # noqa: BLE001 - damaged HDF5 or no h5py: nothing compact to keep
        return []
    out = []
    for name in keras.H5_CONFIG_ATTRS:
        if name in attrs:
            value = attrs[name]
            out.append(Part(f"{name}.json", path, None, len(value), reader=lambda v=value: v))
    return out


def _legacy_tar_parts(path: Path, buf) -> list[Part]:
    try:
        tar = torch.open_tar(buf)
        names = tar.getnames()
    except Exception:  # noqa: BLE001
        return []
    if not torch.is_legacy_tar(names):
        return []
    out = []
    for name in ("sys_info", "pickle"):
        try:
            info = tar.getmember(name)
        except KeyError:
            continue
        out.append(Part(name, path, info.offset_data, min(info.size, MAX_PART)))
    for name in ("storages", "tensors"):
        try:
            info = tar.getmember(name)
        except KeyError:
            continue

        def read(info=info, name=name) -> bytes:
            # header pickles only, concatenated as they sit in the member (raw tensor data dropped)
            data = blob.read_range(path, info.offset_data, info.size)
            return b"".join(bytes(data[s:e]) for s, e in _pickle_spans(name, data))

        out.append(Part(f"{name}.pickles" if name == "storages" else name, path, None, None, reader=read))
    return out


def _pickle_spans(name: str, data: bytes) -> list[tuple[int, int]]:
    spans = []
    for label, a in torch.walk_legacy_member(name, data):
        start = int(label.rsplit("@", 1)[1])
        if a.streams:
            spans.append((start, a.end))
    return spans
