"""A tolerant zip reader for model containers (torch, .keras, .npz, wrappers).

``zipfile`` refuses what attackers like to produce: bad CRCs (torch's miniz is built with
MINIZ_DISABLE_ZIP_READER_CRC32_CHECKS, so torch loads such files happily), local headers that
disagree with the central directory, missing central directories. This reader reads the
bytes anyway and records each irregularity as a problem. Only members that are asked for are
read, so cost follows the pickle members, not the tensor data; decompression is bounded.
"""

from __future__ import annotations

import bz2
import lzma
import struct
import zlib
from typing import Any

EOCD_SIG = b"PK\x05\x06"
Z64_LOCATOR_SIG = b"PK\x06\x07"
Z64_EOCD_SIG = b"PK\x06\x06"
CENTRAL_SIG = b"PK\x01\x02"
LOCAL_SIG = b"PK\x03\x04"
DESCRIPTOR_SIG = b"PK\x07\x08"

MAX_ENTRIES = 200_000
MAX_MEMBER_READ = 128 * 1024 * 1024  # decompressed bytes per member read
MAX_RATIO = 200  # compression ratio above which a member counts as a bomb
LOCAL_SCAN_LIMIT = 512 * 1024 * 1024  # bytes searched for local headers when the directory is gone

_CENTRAL = struct.Struct("<4sHHHHHHIIIHHHHHII")
# signature, flags, name/extra/comment lengths, local header offset: all a directory walk needs
_CENTRAL_HEAD = struct.Struct("<4s4xH18xHHH8xI")
_LOCAL = struct.Struct("<4sHHHHHIIIHH")
_EOCD = struct.Struct("<4sHHHHIIH")
_Z64_EOCD = struct.Struct("<4sQHHIIQQQQ")
_Z64_LOC = struct.Struct("<4sIQI")


class ZipError(Exception):
    pass


class ZipEntry:
    """One directory entry. A plain slotted class: checkpoints can have thousands of entries."""

    __slots__ = ("name", "method", "flags", "crc", "csize", "usize", "local_offset", "_data_offset",
                 "problems", "from_local_scan", "_buf", "is_dir")

    def __init__(self, name: str, method: int, flags: int, crc: int, csize: int, usize: int,
                 local_offset: int, _data_offset: int | None = None, from_local_scan: bool = False,
                 _buf: Any = None) -> None:
        self.name = name
        self.method = method
        self.flags = flags
        self.crc = crc
        self.csize = csize
        self.usize = usize
        self.local_offset = local_offset
        self._data_offset = _data_offset  # resolved from the local header on first use
        self.problems: list[str] = []
        self.from_local_scan = from_local_scan
        self._buf = _buf
        self.is_dir = name.endswith("/")

    def __repr__(self) -> str:
        return f"ZipEntry({self.name!r}, method={self.method}, csize={self.csize}, at={self.local_offset})"

    @property
    def data_offset(self) -> int:
        """Offset of the member's data; -1 without a readable local header.

        Local headers are only read for members that are looked at, so a checkpoint with
        thousands of storage records costs nothing per storage (no scattered page faults).
        """
        if self._data_offset is None:
            self._data_offset = _attach_one(self._buf, self)
        return self._data_offset

    @property
    def encrypted(self) -> bool:
        return bool(self.flags & 0x1)


class ZipArchive:
    """A parsed zip directory. Entries are built on demand (``entry(i)``, ``entries``): a torch
    checkpoint has one entry per tensor storage, and inspecting it needs only their names."""

    __slots__ = ("buf", "namelist", "problems", "central_found", "_entries", "_cd", "_recs", "_made")

    def __init__(self, buf: Any, entries: list[ZipEntry] | None = None, problems: list[str] | None = None,
                 central_found: bool = True, *, names: list[str] | None = None, cd: bytes = b"",
                 recs: list[int] | None = None) -> None:
        self.buf = buf
        self.problems: list[str] = [] if problems is None else problems
        self.central_found = central_found
        self._entries = entries
        if entries is not None:
            names = [e.name for e in entries]
        self.namelist: list[str] = names or []  # read-only: entry i is named namelist[i]
        self._cd = cd  # the central directory bytes, and where each record starts in it
        self._recs = recs or []
        self._made: dict[int, ZipEntry] = {}

    @property
    def entries(self) -> list[ZipEntry]:
        if self._entries is None:
            self._entries = [self.entry(i) for i in range(len(self.namelist))]
        return self._entries

    def entry(self, i: int) -> ZipEntry:
        if self._entries is not None:
            return self._entries[i]
        e = self._made.get(i)
        if e is None:
            e = self._made[i] = _central_entry(self._cd, self._recs[i], self.namelist[i], self.buf)
        return e

    def names(self) -> list[str]:
        return list(self.namelist)

    def get(self, name: str) -> ZipEntry | None:
        try:
            return self.entry(self.namelist.index(name))
        except ValueError:
            return None

    def read(self, entry: ZipEntry, limit: int = MAX_MEMBER_READ, check_crc: bool = True) -> bytes:
        """Member content (bounded). Problems (bad CRC, truncation, bombs) go to entry.problems."""
        if entry.data_offset < 0:
            raise ZipError(f"{entry.name}: no readable local header")
        if entry.encrypted and entry.method != 0:
            raise ZipError(f"{entry.name}: encrypted member")
        start = entry.data_offset
        avail = len(self.buf) - start
        csize = entry.csize
        if csize < 0 or csize > avail:
            entry.problems.append(f"compressed size {csize} runs past the end of the file ({avail} left)")
            csize = max(avail, 0)
        if entry.method != 0 and entry.usize > MAX_RATIO * max(csize, 1) and entry.usize > (16 << 20):
            entry.problems.append(f"declared size {entry.usize} is {entry.usize // max(csize, 1)}x its compressed "
                                  f"size {csize} (zip bomb pattern); analysed the first MiB only")
            limit = min(limit, 1 << 20)
        raw = self.buf[start:start + min(csize, limit if entry.method == 0 else csize)]
        if entry.method == 0:
            data = bytes(raw)
            if len(data) < entry.usize and entry.usize <= limit:
                entry.problems.append("stored member shorter than its declared size")
        elif entry.method == 8:
            data = _bounded(zlib.decompressobj(-15), raw, limit, entry)
        elif entry.method == 12:
            data = _bounded(bz2.BZ2Decompressor(), raw, limit, entry)
        elif entry.method == 14:
            data = _bounded_lzma(raw, limit, entry)
        else:
            raise ZipError(f"{entry.name}: unsupported compression method {entry.method}")
        if entry.method != 0 and entry.csize and len(data) > MAX_RATIO * entry.csize and len(data) > (1 << 20):
            entry.problems.append(f"compression ratio {len(data) // max(entry.csize, 1)}:1 (zip bomb pattern)")
        if check_crc and len(data) == entry.usize and not entry.from_local_scan:
            actual = zlib.crc32(data) & 0xFFFFFFFF
            if actual != entry.crc:
                entry.problems.append(f"CRC-32 mismatch (directory {entry.crc:08x}, data {actual:08x}); read anyway")
        return data


def _bounded(dec: Any, raw: Any, limit: int, entry: ZipEntry) -> bytes:
    try:
        data = dec.decompress(bytes(raw), max_length=limit)
    except (zlib.error, OSError, EOFError, ValueError) as exc:
        entry.problems.append(f"decompression failed: {exc}")
        return b""
    if len(data) >= limit:
        entry.problems.append(f"decompressed content exceeds {limit} bytes; analysed the first {limit}")
    return data


def _bounded_lzma(raw: Any, limit: int, entry: ZipEntry) -> bytes:
    # zip's LZMA method: 2-byte version, 2-byte props size, props, then raw LZMA1 data
    data = bytes(raw)
    try:
        psize = struct.unpack_from("<H", data, 2)[0]
        props = data[4:4 + psize]
        filt = lzma._decode_filter_properties(lzma.FILTER_LZMA1, props)  # noqa: SLF001 - stdlib helper
        dec = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[filt])
        out = dec.decompress(data[4 + psize:], max_length=limit)
    except (lzma.LZMAError, struct.error, ValueError) as exc:
        entry.problems.append(f"decompression failed: {exc}")
        return b""
    return out


def _find_eocd(buf: Any) -> int:
    size = len(buf)
    lo = max(0, size - (22 + 65535))
    pos = buf.rfind(EOCD_SIG, lo)
    # The comment length must reach the end; otherwise it may be a signature inside data.
    while pos >= 0:
        if pos + 22 <= size:
            (clen,) = struct.unpack_from("<H", buf, pos + 20)
            if pos + 22 + clen <= size:
                return pos
        pos = buf.rfind(EOCD_SIG, lo, pos)
    return -1


def _zip64_extra(extra: bytes, usize: int, csize: int, offset: int) -> tuple[int, int, int]:
    i = 0
    while i + 4 <= len(extra):
        hid, hlen = struct.unpack_from("<HH", extra, i)
        body = extra[i + 4:i + 4 + hlen]
        if hid == 0x0001:
            j = 0
            if usize == 0xFFFFFFFF and j + 8 <= len(body):
                usize = struct.unpack_from("<Q", body, j)[0]
                j += 8
            if csize == 0xFFFFFFFF and j + 8 <= len(body):
                csize = struct.unpack_from("<Q", body, j)[0]
                j += 8
            if offset == 0xFFFFFFFF and j + 8 <= len(body):
                offset = struct.unpack_from("<Q", body, j)[0]
            break
        i += 4 + hlen
    return usize, csize, offset


def _decode_name(raw: bytes, flags: int) -> str:
    if flags & 0x800:
        return raw.decode("utf-8", "replace")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp437")


def open_zip(buf: Any) -> ZipArchive:
    """Parse the directory (or, failing that, scan local headers). Raises ZipError if neither works."""
    problems: list[str] = []
    eocd = _find_eocd(buf)
    arc: ZipArchive | None = None
    if eocd >= 0:
        try:
            arc = _read_central(buf, eocd, problems)
        except (struct.error, ZipError) as exc:
            problems.append(f"central directory unreadable: {exc}")
    else:
        problems.append("no end-of-central-directory record (truncated or damaged archive)")
    if arc is None:
        entries = _scan_local(buf, problems)
        if not entries:
            raise ZipError("; ".join(problems) or "no zip entries")
        return ZipArchive(buf, entries, problems, False)
    return arc


def _read_central(buf: Any, eocd: int, problems: list[str]) -> ZipArchive | None:
    """Names (and where each record is) of every entry; the rest of a record is read when the
    entry is asked for. None when the directory holds no entry."""
    _, disk, _, n_disk, n_total, cd_size, cd_offset, _ = _EOCD.unpack_from(buf, eocd)
    loc = eocd - _Z64_LOC.size
    if loc >= 0 and buf[loc:loc + 4] == Z64_LOCATOR_SIG:
        _, _, z64_off, _ = _Z64_LOC.unpack_from(buf, loc)
        if 0 <= z64_off < len(buf) - _Z64_EOCD.size and buf[z64_off:z64_off + 4] == Z64_EOCD_SIG:
            (_, _, _, _, _, _, n_disk64, n_total, cd_size, cd_offset) = _Z64_EOCD.unpack_from(buf, z64_off)
        else:
            problems.append("zip64 locator points to no zip64 end record")
    if n_total > MAX_ENTRIES:
        problems.append(f"{n_total} entries declared; reading the first {MAX_ENTRIES}")
        n_total = MAX_ENTRIES
    if cd_offset + cd_size > eocd or cd_offset >= len(buf):
        # Data prepended (self-extracting style) or a wrong offset: try from the real location.
        guess = eocd - cd_size
        if 0 <= guess < len(buf) and buf[guess:guess + 4] == CENTRAL_SIG:
            problems.append(f"central directory offset {cd_offset} is wrong; found it at {guess}")
            cd_offset = guess
        else:
            raise ZipError(f"central directory offset {cd_offset} outside the file")
    names: list[str] = []
    recs: list[int] = []
    locals_: list[int] = []
    head = _CENTRAL_HEAD.unpack_from
    # One bytes copy of the directory: slicing it is cheaper than slicing an mmap per field.
    cd = bytes(buf[cd_offset:eocd])
    rel = 0
    for _ in range(n_total):
        try:
            sig, flags, nlen, elen, clen, local = head(cd, rel)
        except struct.error:
            if cd[rel:rel + 4] == CENTRAL_SIG:
                raise  # a record cut short: the directory is damaged
            sig = b""
        if sig != CENTRAL_SIG:
            problems.append(f"central directory ends early at entry {len(names)} of {n_total}")
            break
        raw = cd[rel + 46:rel + 46 + nlen]
        try:
            names.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            names.append(_decode_name(raw, flags))
        recs.append(rel)
        locals_.append(local)
        rel += 46 + nlen + elen + clen
    if not names:
        return None
    arc = ZipArchive(buf, None, problems, True, names=names, cd=cd, recs=recs)
    if 0xFFFFFFFF in locals_ or len(set(locals_)) != len(locals_):
        _mark_overlaps(arc.entries)  # zip64 offsets (in the extra field) or shared local headers
    return arc


def _mark_overlaps(entries: list[ZipEntry]) -> None:
    seen_offsets: dict[int, str] = {}
    for e in entries:
        if e.local_offset in seen_offsets and not e.from_local_scan:
            e.problems.append(f"shares its local header with {seen_offsets[e.local_offset]} (overlapping entries)")
        seen_offsets.setdefault(e.local_offset, e.name)


def _central_entry(cd: bytes, rel: int, name: str, buf: Any) -> ZipEntry:
    (_, _, _, flags, method, _, _, crc, csize, usize, nlen, elen, clen, _, _, _, local) = _CENTRAL.unpack_from(cd, rel)
    if elen and 0xFFFFFFFF in (usize, csize, local):
        usize, csize, local = _zip64_extra(cd[rel + 46 + nlen:rel + 46 + nlen + elen], usize, csize, local)
    return ZipEntry(name, method, flags, crc, csize, usize, local, None, False, buf)


def _attach_one(buf: Any, e: ZipEntry) -> int:
    size = len(buf)
    lo = e.local_offset
    if lo < 0 or lo + _LOCAL.size > size or buf[lo:lo + 4] != LOCAL_SIG:
        e.problems.append(f"no local header at offset {lo}")
        return -1
    (_, _, lflags, lmethod, _, _, lcrc, lcsize, lusize, nlen, elen) = _LOCAL.unpack_from(buf, lo)
    lname = _decode_name(bytes(buf[lo + 30:lo + 30 + nlen]), lflags)
    if lname != e.name:
        e.problems.append(f"local header names {lname!r}, central directory {e.name!r}")
    if lmethod != e.method:
        e.problems.append(f"local header method {lmethod} differs from directory method {e.method}")
    if not (lflags & 0x8) and lcsize not in (0, 0xFFFFFFFF) and lcsize != e.csize:
        e.problems.append(f"local header size {lcsize} differs from directory size {e.csize}")
    if not (lflags & 0x8) and lcrc not in (0,) and lcrc != e.crc:
        e.problems.append("local header CRC differs from directory CRC")
    if (lflags | e.flags) & 0x41:
        e.problems.append(f"encryption flag bits set (local {lflags:#06x}, directory {e.flags:#06x}) on a "
                          "member read as plain data: scanners refuse it, miniz/torch do not check")
    return lo + 30 + nlen + elen


def _scan_local(buf: Any, problems: list[str]) -> list[ZipEntry]:
    """Recover entries from local headers when there is no usable central directory."""
    entries: list[ZipEntry] = []
    size = len(buf)
    limit = min(size, LOCAL_SCAN_LIMIT)
    if size > LOCAL_SCAN_LIMIT:
        problems.append(f"local header scan limited to the first {LOCAL_SCAN_LIMIT} bytes")
    pos = buf.find(LOCAL_SIG, 0, limit)
    while 0 <= pos and len(entries) < MAX_ENTRIES:
        if pos + 30 > size:
            break
        (_, _, flags, method, _, _, crc, csize, usize, nlen, elen) = _LOCAL.unpack_from(buf, pos)
        name = _decode_name(bytes(buf[pos + 30:pos + 30 + nlen]), flags)
        data = pos + 30 + nlen + elen
        extra = bytes(buf[pos + 30 + nlen:data])
        usize, csize, _ = _zip64_extra(extra, usize, csize, 0)
        nxt = buf.find(LOCAL_SIG, data, limit)
        if flags & 0x8 or csize == 0:
            # size unknown (data descriptor): up to the next header or descriptor
            desc = buf.find(DESCRIPTOR_SIG, data, nxt if nxt >= 0 else limit)
            stop = desc if desc >= 0 else (nxt if nxt >= 0 else size)
            csize = stop - data
            if method == 0:
                usize = csize
        e = ZipEntry(name, method, flags, crc, csize, usize, pos, data, from_local_scan=True, _buf=buf)
        e.problems.append("recovered from its local header (no central directory)")
        entries.append(e)
        pos = nxt
    return entries


def is_zip(head: bytes) -> bool:
    return head[:4] in (LOCAL_SIG, b"PK\x05\x06") or head[:4] == b"PK\x07\x08"
