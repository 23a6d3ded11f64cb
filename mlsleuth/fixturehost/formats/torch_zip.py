"""Byte-faithful writer of torch's zip checkpoint container (``torch.save``, format >= 1.6).

torch writes the zip with miniz 3.0.2 through ``caffe2::serialize::PyTorchStreamWriter``
(``mz_zip_writer_init_v2(..., MZ_ZIP_FLAG_WRITE_ZIP64)`` then ``mz_zip_writer_add_mem_ex_v2``
per record; miniz.h defines MINIZ_NO_TIME). What that produces, and what this module writes:

* local header: version-needed 0, flags 0x0808 (data descriptor + UTF-8; 0x0800 for an empty
  record), method 0 (stored), DOS time/date 0 ("1980-00-00"), CRC and sizes 0 in the header;
  a zip64 extra (uncompressed, compressed size, offset) only when size or offset >= 4 GiB;
* then the ``FB`` extra field from ``getPadding`` (inline_container.cc): payload of ``Z``
  bytes so that record data starts on a 64-byte boundary;
* data, then a data descriptor ``PK\\x07\\x08`` + CRC + sizes (32-bit, 64-bit with zip64);
* central directory entries: version made-by 0, needed 0, same flags, CRC and sizes filled,
  no extra field except zip64;
* zip64 end-of-central-directory record (made-by 0x031E, needed 0x002D) and locator are
  ALWAYS written (zip64 mode is on from the start), then the classic EOCD;
* names are ``<archive_name>/<record>`` (``archive`` for buffers, the file's basename
  without extension for paths); order: ``data.pkl``, ``.format_version``,
  ``.storage_alignment``, ``byteorder``, ``data/<key>`` per storage, then at close
  ``version`` and ``.data/serialization_id`` (40 decimal digits).

Callers may drop optional records to mimic older torch versions.
"""

from __future__ import annotations

import binascii
import io
import os
import struct
from collections.abc import Iterable, Mapping
from pathlib import Path

ALIGNMENT = 64
_LOCAL_HEADER = struct.Struct("<IHHHHHIIIHH")  # 30 bytes
_CENTRAL_HEADER = struct.Struct("<IHHHHHHIIIHHHHHII")  # 46 bytes
_EOCD = struct.Struct("<IHHHHIIH")  # 22 bytes
_ZIP64_EOCD = struct.Struct("<IQHHIIQQQQ")  # 56 bytes
_ZIP64_LOCATOR = struct.Struct("<IIQI")  # 20 bytes
U32 = 0xFFFFFFFF

DEFAULT_SERIALIZATION_ID = "1234567890123456789012345678901234567890"


def _padding(cursor: int, name_len: int, size: int) -> bytes:
    """The FB extra field PyTorchStreamWriter::getPadding appends to the local header."""
    start = cursor + _LOCAL_HEADER.size + name_len + 4
    if size >= U32 or cursor >= U32:
        start += 4
        if size >= U32:
            start += 16
        if cursor >= U32:
            start += 8
    pad = (-start) % ALIGNMENT
    return b"FB" + struct.pack("<H", pad) + b"Z" * pad


class TorchZipWriter:
    """Write records the way PyTorchStreamWriter does; ``records`` lists what was written."""

    def __init__(self, fh, archive_name: str = "archive") -> None:
        self.fh = fh
        self.prefix = archive_name + "/"
        self.cursor = 0
        self.central: list[bytes] = []
        self.records: list[str] = []

    def write_record(self, name: str, data: bytes | int, crc: int | None = None) -> None:
        """Append one stored record. ``data`` may be an int: a sparse hole of that many zero
        bytes (multi-GB benchmark files without writing the bytes). ``crc`` overrides the
        computed CRC-32 (corrupt-archive fixtures)."""
        full = (self.prefix + name).encode("utf-8")
        size = data if isinstance(data, int) else len(data)
        real_crc = _crc_of_zeros(size) if isinstance(data, int) else binascii.crc32(data) & U32
        crc = real_crc if crc is None else crc
        offset = self.cursor
        zip64 = size >= U32 or offset >= U32
        zip64_extra = b""
        if zip64:
            payload = b""
            if size >= U32:
                payload += struct.pack("<QQ", size, size)
            if offset >= U32:
                payload += struct.pack("<Q", offset)
            zip64_extra = struct.pack("<HH", 0x0001, len(payload)) + payload
        flags = 0x0808 if size else 0x0800
        pad = _padding(offset, len(full), size)
        local = _LOCAL_HEADER.pack(0x04034B50, 0, flags, 0, 0, 0, 0, 0, 0, len(full),
                                   len(zip64_extra) + len(pad))
        self.fh.write(local + full + zip64_extra + pad)
        if isinstance(data, int):
            self.fh.seek(size, os.SEEK_CUR)
        else:
            self.fh.write(data)
        descriptor = b""
        if size:
            if zip64:
                descriptor = struct.pack("<IIQQ", 0x08074B50, crc, size, size)
            else:
                descriptor = struct.pack("<IIII", 0x08074B50, crc, size, size)
            self.fh.write(descriptor)
        self.cursor += len(local) + len(full) + len(zip64_extra) + len(pad) + size + len(descriptor)
        central = _CENTRAL_HEADER.pack(0x02014B50, 0, 0, flags, 0, 0, 0, crc, min(size, U32), min(size, U32),
                                       len(full), len(zip64_extra), 0, 0, 0, 0, min(offset, U32))
        self.central.append(central + full + zip64_extra)
        self.records.append(self.prefix + name)

    def finish(self) -> None:
        cd_offset = self.cursor
        blob = b"".join(self.central)
        self.fh.write(blob)
        self.cursor += len(blob)
        n = len(self.central)
        z64 = self.cursor
        self.fh.write(_ZIP64_EOCD.pack(0x06064B50, 44, 0x031E, 0x002D, 0, 0, n, n, len(blob), cd_offset))
        self.fh.write(_ZIP64_LOCATOR.pack(0x07064B50, 0, z64, 1))
        self.cursor += _ZIP64_EOCD.size + _ZIP64_LOCATOR.size
        self.fh.write(_EOCD.pack(0x06054B50, 0, 0, min(n, 0xFFFF), min(n, 0xFFFF), min(len(blob), U32),
                                 min(cd_offset, U32), 0))
        self.cursor += _EOCD.size
        self.fh.truncate()


def _gf2_times(mat: list[int], vec: int) -> int:
    out = 0
    i = 0
    while vec:
        if vec & 1:
            out ^= mat[i]
        vec >>= 1
        i += 1
    return out


def _gf2_square(mat: list[int]) -> list[int]:
    return [_gf2_times(mat, mat[n]) for n in range(32)]


def _crc_of_zeros(n: int) -> int:
    """CRC-32 of n zero bytes in O(log n) (zlib's crc32_combine operator squaring), so a
    multi-GB sparse storage costs nothing to describe."""
    odd = [0xEDB88320] + [1 << i for i in range(31)]  # operator for one zero bit
    even = _gf2_square(odd)  # two zero bits
    odd = _gf2_square(even)  # four zero bits
    crc = 0xFFFFFFFF
    while n:
        even = _gf2_square(odd)  # next power of two of zero bytes
        if n & 1:
            crc = _gf2_times(even, crc)
        n >>= 1
        if not n:
            break
        odd = _gf2_square(even)
        if n & 1:
            crc = _gf2_times(odd, crc)
        n >>= 1
    return crc ^ 0xFFFFFFFF


def write_torch_checkpoint(
    path: Path | str,
    pickle_bytes: bytes,
    storages: Mapping[str, bytes | int],
    archive_name: str = "archive",
    **options,
) -> list[str]:
    """Write a torch.save-style zip; returns the member names in write order.

    ``storages`` values may be ints: that many zero bytes left as a sparse hole (benchmarks).
    Options (keyword): ``format_version`` ("1"), ``storage_alignment`` ("64"), ``byteorder``
    ("little"), ``version`` ("3\\n"), ``serialization_id`` (None drops a record, mimicking
    older torch), ``extra_records`` [(name, bytes)] written after the storages (e.g.
    ``code/__torch__/...py`` for TorchScript-like archives), ``pickle_name`` ("data.pkl").
    """
    with open(path, "wb") as fh:
        return _write(fh, pickle_bytes, storages, archive_name, **options)


def torch_checkpoint_bytes(pickle_bytes: bytes, storages: Mapping[str, bytes],
                           archive_name: str = "archive", **options) -> bytes:
    """Same as :func:`write_torch_checkpoint`, in memory."""
    buf = io.BytesIO()
    _write(buf, pickle_bytes, storages, archive_name, **options)
    return buf.getvalue()


def _write(
    fh,
    pickle_bytes: bytes,
    storages: Mapping[str, bytes | int],
    archive_name: str,
    *,
    format_version: str | None = "1",
    storage_alignment: str | None = "64",
    byteorder: str | None = "little",
    version: str = "3\n",
    serialization_id: str | None = DEFAULT_SERIALIZATION_ID,
    extra_records: Iterable[tuple[str, bytes]] = (),
    pickle_name: str = "data.pkl",
) -> list[str]:
    w = TorchZipWriter(fh, archive_name)
    w.write_record(pickle_name, pickle_bytes)
    if format_version is not None:
        w.write_record(".format_version", format_version.encode())
    if storage_alignment is not None:
        w.write_record(".storage_alignment", storage_alignment.encode())
    if byteorder is not None:
        w.write_record("byteorder", byteorder.encode())
    for key, data in storages.items():
        w.write_record(f"data/{key}", data)
    for name, data in extra_records:
        w.write_record(name, data)
    w.write_record("version", version.encode())
    if serialization_id is not None:
        w.write_record(".data/serialization_id", serialization_id.encode())
    w.finish()
    return w.records
