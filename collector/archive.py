"""The evidence archive: a streaming ``.tar.gz`` written once, front to back, never rewritten.

Layout (docs/architecture.md): ``fs/<host path>`` copies, ``parts/<host path>/<part>`` for large
files, ``live/*.jsonl``, then ``bodyfile.txt``, ``manifest.jsonl``, ``host.json``,
``summary.json``, ``collection.log`` and ``integrity.json`` last. Dissect's acquire loader opens
it as it is (``fs/<top dir>/...`` maps to ``/<top dir>/...``).

* PAX format (long names); each member carries its source's mode, owner and mtime (whole
  seconds; the manifest has the exact times).
* Member names are valid UTF-8: a host path byte that is not UTF-8 is written ``%XX`` (the
  manifest row keeps the original bytes in ``path_b64``), so every tar and zip tool reads it.
* The archive's own SHA-256 is computed while it is written (no second read) and goes to the
  ``.sha256`` sidecar in ``sha256sum`` format.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
from pathlib import Path
from typing import IO, Any, BinaryIO

from mlsleuth.collector.resources import DiskGuard


class OutOfSpace(OSError):
    """The output file system would drop below the reserve."""


class _HashingWriter(io.RawIOBase):
    """Passes writes through to ``raw`` while hashing them."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.hash = hashlib.sha256()
        self.written = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self.raw.write(view)
        self.hash.update(view)
        self.written += view.nbytes
        return view.nbytes

    def flush(self) -> None:
        self.raw.flush()


def host_path_text(host_path: str) -> tuple[str, bool]:
    """(UTF-8 safe text, was_clean): undecodable bytes (surrogate escapes) become ``%XX``."""
    try:
        host_path.encode("utf-8")
        return host_path, True
    except UnicodeEncodeError:
        out = []
        for ch in host_path:
            code = ord(ch)
            out.append(f"%{code - 0xDC00:02X}" if 0xDC80 <= code <= 0xDCFF else ch)
        return "".join(out), False


def member_name(prefix: str, host_path: str, part: str | None = None) -> str:
    """``fs/home/a/x`` for ``/home/a/x``; ``parts/home/a/x/<part>`` with a part name."""
    text, _ = host_path_text(host_path)
    comps = [c for c in text.split("/") if c not in ("", ".", "..")]
    if part is not None:
        comps.extend(c for c in part.split("/") if c not in ("", ".", ".."))
    return prefix + "/" + "/".join(comps)


class ArchiveWriter:
    def __init__(self, path: Path, *, compresslevel: int = 6, guard: DiskGuard | None = None) -> None:
        self.path = path
        self._raw = open(path, "xb")  # never overwrite an existing archive  # noqa: SIM115
        self._hashing = _HashingWriter(self._raw)
        self._buffered = io.BufferedWriter(self._hashing, buffer_size=1 << 20)
        self._gzip = gzip.GzipFile(filename="", mode="wb", compresslevel=compresslevel, fileobj=self._buffered,
                                   mtime=0)
        # tarfile writes 512-byte headers and small members one by one; zlib is far cheaper fed
        # in large blocks, so a buffer sits between them.
        self._tar_buffer = io.BufferedWriter(_Unclosable(self._gzip), buffer_size=1 << 20)
        self.tar = tarfile.open(fileobj=self._tar_buffer, mode="w", format=tarfile.PAX_FORMAT,
                                encoding="utf-8")
        self.guard = guard
        self.meta_hashes: dict[str, str] = {}  # non-fs/, non-parts/ members -> sha256
        self.data_members = 0
        self.sha256: str | None = None

    def _check_space(self, size: int, *, use_reserve: bool = False) -> None:
        """Data members keep the reserve free; the closing metadata members are what it is for."""
        if self.guard is None:
            return
        ok = self.guard.free() >= size if use_reserve else self.guard.fits(size)
        if not ok:
            raise OutOfSpace(28, "output file system nearly full", str(self.path))

    @staticmethod
    def _info(name: str, *, size: int = 0, meta: dict[str, Any] | None = None) -> tarfile.TarInfo:
        ti = tarfile.TarInfo(name)
        ti.size = size
        if meta:
            ti.mode = int(meta.get("mode", 0o644)) & 0o7777
            ti.uid = int(meta.get("uid") or 0)
            ti.gid = int(meta.get("gid") or 0)
            # Whole seconds: a sub-second mtime (or atime/ctime) would cost every member a second
            # (PAX) header; the exact times are in the manifest row.
            mtime = meta.get("mtime")
            ti.mtime = int(mtime) if mtime is not None and mtime > 0 else 0
        else:
            import time

            ti.mode = 0o644
            ti.mtime = int(time.time())
        return ti

    def add_data(self, name: str, fileobj: IO[bytes], size: int, meta: dict[str, Any]) -> None:
        """A copied file or part under fs/ or parts/ (its hash is in the manifest)."""
        self._check_space(size)
        fileobj.seek(0)
        self.tar.addfile(self._info(name, size=size, meta=meta), fileobj)
        self.data_members += 1

    def add_symlink(self, name: str, target: str, meta: dict[str, Any]) -> None:
        ti = self._info(name, meta=meta)
        ti.type = tarfile.SYMTYPE
        ti.linkname = host_path_text(target)[0]
        self.tar.addfile(ti)
        self.data_members += 1

    def add_meta_bytes(self, name: str, data: bytes) -> str:
        """A top-level member (manifest, log, live state ...); its hash goes to integrity.json."""
        self._check_space(len(data), use_reserve=True)
        digest = hashlib.sha256(data).hexdigest()
        self.tar.addfile(self._info(name, size=len(data)), io.BytesIO(data))
        self.meta_hashes[name] = digest
        return digest

    def add_meta_file(self, name: str, path: Path) -> str:
        """Like :meth:`add_meta_bytes` from a file on disk (streamed, hashed on the way)."""
        size = os.path.getsize(path)
        self._check_space(size, use_reserve=True)
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            reader = _HashingReader(fh, digest)
            self.tar.addfile(self._info(name, size=size), reader)
        self.meta_hashes[name] = digest.hexdigest()
        return self.meta_hashes[name]

    def close(self) -> str:
        """Finish the archive; returns its SHA-256 and writes nothing else."""
        self.tar.close()
        self._tar_buffer.flush()
        self._gzip.close()
        self._buffered.flush()
        self._buffered.detach()
        self._raw.flush()
        os.fsync(self._raw.fileno())
        self._raw.close()
        self.sha256 = self._hashing.hash.hexdigest()
        return self.sha256

    def abort(self) -> None:
        try:
            self.tar.close()
        except Exception:  # the archive is being discarded; the original error matters
            pass
        try:
            self._raw.close()
        except OSError:
            pass


class _Unclosable(io.RawIOBase):
    """Lets a BufferedWriter sit on the GzipFile without closing it (the writer closes it last)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return self.inner.write(data)

    def tell(self) -> int:
        return self.inner.tell()

    def seekable(self) -> bool:
        return False


class _HashingReader:
    def __init__(self, fh: BinaryIO, digest: Any) -> None:
        self.fh = fh
        self.digest = digest

    def read(self, n: int = -1) -> bytes:
        data = self.fh.read(n)
        self.digest.update(data)
        return data


def write_sidecar(archive: Path, sha256: str) -> Path:
    """``<archive>.sha256`` in sha256sum format (``sha256sum -c`` checks it)."""
    sidecar = archive.with_name(archive.name + ".sha256")
    with open(sidecar, "x", encoding="utf-8") as fh:
        fh.write(f"{sha256}  {archive.name}\n")
    return sidecar
