"""Safe extraction of an evidence archive (.tar.gz) into a private working folder.

The archive is evidence, so it is treated as hostile: member names must be relative and free of
``..``; a member is never written through a symlink (parents are created as real folders and
checked with ``lstat``); symlink members are recreated verbatim as symlinks (their targets are
recorded, never followed); devices and FIFOs are not created; hard links become copies only of
members already extracted; and the total number of bytes and members written is bounded, so a
gzip bomb or a forged 2^63-byte size header stops with an error instead of filling the disk.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from mlsleuth.parsers.source import open_regular

CHUNK = 1 << 20


@dataclass
class ExtractLimits:
    max_bytes: int = int(os.environ.get("MLSLEUTH_MAX_EXTRACT_BYTES", 32 << 30))
    max_members: int = int(os.environ.get("MLSLEUTH_MAX_EXTRACT_MEMBERS", 20_000_000))


@dataclass
class ExtractReport:
    members: int = 0
    bytes: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)  # (member, reason)
    complete: bool = True


def safe_member_name(name: str) -> PurePosixPath | None:
    """The member's relative path, or None when it is absolute, has `..`, or is empty/odd."""
    if not name or "\x00" in name or name.startswith("/"):
        return None
    parts = [p for p in PurePosixPath(name).parts if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts):
        return None
    return PurePosixPath(*parts)


def _real_parent(root: Path, rel: PurePosixPath) -> Path | None:
    """Create rel's parent folders under root; None when one of them is not a real folder."""
    current = root
    for part in rel.parts[:-1]:
        current = current / part
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            os.mkdir(current, 0o700)
            continue
        if not stat.S_ISDIR(st.st_mode):
            return None
    return current


def _iter_members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    while True:
        member = tar.next()
        if member is None:
            return
        # TarFile remembers every member it has read; forget them so memory stays flat.
        tar.members = []
        yield member


def extract(archive: Path, dest: Path, limits: ExtractLimits | None = None) -> ExtractReport:
    limits = limits or ExtractLimits()
    report = ExtractReport()
    dest.mkdir(parents=True, exist_ok=True)
    try:
        tar = tarfile.open(archive, "r|*")  # stream mode: one pass, no seeking
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        report.complete = False
        report.errors.append(("", f"not a readable tar archive: {exc}"))
        return report
    try:
        for member in _iter_members(tar):
            report.members += 1
            if report.members > limits.max_members:
                report.complete = False
                report.errors.append((member.name, f"more than {limits.max_members} members: stopped"))
                break
            reason = _extract_one(tar, member, dest, limits, report)
            if reason:
                report.errors.append((member.name, reason))
            if report.bytes > limits.max_bytes:
                report.complete = False
                report.errors.append((member.name, f"more than {limits.max_bytes} bytes: stopped"))
                break
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        report.complete = False
        report.errors.append(("", f"archive truncated or corrupt after {report.members} members: "
                                  f"{type(exc).__name__}: {exc}"))
    finally:
        try:
            tar.close()
        except Exception:  # closing a corrupt stream may raise again; the error is recorded
            pass
    return report


def _extract_one(tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path, limits: ExtractLimits,
                 report: ExtractReport) -> str | None:
    rel = safe_member_name(member.name)
    if rel is None:
        return "unsafe member name (absolute, '..' or empty): not extracted"
    if member.isdir():
        parent = _real_parent(dest, rel / "x")
        if parent is None:
            return "a parent folder is a symlink or file: not extracted"
        return None
    parent = _real_parent(dest, rel)
    if parent is None:
        return "a parent folder is a symlink or file: not extracted"
    target = parent / rel.name
    if os.path.lexists(target):
        return "duplicate member: the first copy is kept"
    if member.issym():
        os.symlink(member.linkname, target)
        return None
    if member.islnk():
        return _copy_hardlink(dest, member, target, limits, report)
    if not member.isreg():
        return "device, FIFO or other special member: not created"
    if member.size < 0 or report.bytes + member.size > limits.max_bytes:
        report.bytes += max(member.size, 0)
        return f"member of {member.size} bytes exceeds the extraction budget: not extracted"
    src = tar.extractfile(member)
    if src is None:
        return "no data: not extracted"
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "wb") as out:
        while True:
            chunk = src.read(CHUNK)
            if not chunk:
                break
            report.bytes += len(chunk)
            if report.bytes > limits.max_bytes:
                return "extraction budget exhausted inside this member: kept truncated"
            out.write(chunk)
    if 0 < member.mtime < 1 << 40:
        os.utime(target, (member.mtime, member.mtime), follow_symlinks=False)
    return None


def _copy_hardlink(dest: Path, member: tarfile.TarInfo, target: Path, limits: ExtractLimits,
                   report: ExtractReport) -> str | None:
    rel = safe_member_name(member.linkname)
    if rel is None:
        return "hard link to an unsafe name: not extracted"
    source = dest / rel
    try:
        with open_regular(source) as src, open(target, "xb") as out:
            size = os.fstat(src.fileno()).st_size
            if report.bytes + size > limits.max_bytes:
                return "hard link exceeds the extraction budget: not extracted"
            report.bytes += size
            shutil.copyfileobj(src, out, CHUNK)
    except Exception as exc:  # OSError or ContentUnavailable (a symlink/special file)
        return f"hard link to {member.linkname!r} not resolvable inside the archive: {exc}"
    return None
