"""Reading one evidence file soundly: the work each hashing worker does.

For every regular file: the walk's lstat is the "before" state; the file is opened with
O_NOATIME|O_NOFOLLOW|O_NONBLOCK, checked to be the very inode the walk saw, read once in fixed
chunks (SHA-256, plus the git blob SHA-1 when the name says so) into a spool (memory up to
``SPOOL_MEMORY``, then a temporary file in the output's work folder, never next to the
evidence), and stat'ed again. A file that changed, grew or shrank while read is ``failed`` - a
hash is only ever the hash of one whole, unchanged read.

Large files (above the artifact's copy limit) are hashed and, for ``large: partial``, their
analysable parts are extracted by :mod:`mlsleuth.collector.parts`. Copies of files with a
``secrets`` rule are redacted (:mod:`mlsleuth.redact`) unless secrets were asked for.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import os
import re
import stat as statmod
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from mlsleuth.collector import fsmeta
from mlsleuth.collector.archive import host_path_text, member_name

from mlsleuth.artifacts import Target
from mlsleuth.artifacts.fsutil import O_NONBLOCK, error_text, open_noatime

CHUNK = 1 << 20
SPOOL_MEMORY = 1 << 20  # per file; larger copies spill to a temporary file
REDACT_BLOCK = 1 << 20  # text handlers redact line-aligned blocks of about this size
WHOLE_DOCUMENT_MAX = 16 << 20  # JSON/netrc/whole-file handlers need the whole text
MAX_CARRY = 16 * REDACT_BLOCK  # longest line (or PEM block) redacted as one piece

_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX40 = re.compile(r"[0-9a-f]{40}")
_OLLAMA = re.compile(r"sha256[-:]([0-9a-f]{64})")


class Stop(Exception):
    """Raised inside a read when the collection's deadline passed."""


@dataclass(slots=True)
class Policy:
    """How one file is to be handled (resolved from its artifact and the run's options)."""

    copy_max: int
    large: str  # hash | partial | skip
    secret_handler: str | None
    content_check: bool
    spool_dir: Path
    deadline: float | None = None
    fits: Any = None  # callable(bytes) -> bool: room on the output file system


@dataclass(slots=True)
class Payload:
    """Bytes for one archive member (a copy, a redacted copy, or a part)."""

    member: str
    data: IO[bytes]
    size: int
    sha256: str


@dataclass(slots=True)
class FileResult:
    row: dict[str, Any]
    payloads: list[Payload] = field(default_factory=list)
    logs: list[dict[str, Any]] = field(default_factory=list)
    bytes_read: int = 0

    def log(self, level: str, event: str, **fields: Any) -> None:
        self.logs.append({"level": level, "event": event, **fields})

    def close(self) -> None:
        for p in self.payloads:
            p.data.close()


def new_spool(spool_dir: Path) -> IO[bytes]:
    return tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY, dir=spool_dir)  # noqa: SIM115


def content_name_check(host_path: str) -> tuple[str, str] | None:
    """(scheme, expected hex) when a file is named after its content hash.

    Hugging Face ``blobs/<sha256>`` (LFS) and ``blobs/<sha1>`` (git blob), Ollama
    ``blobs/sha256-<hex>``. Partial downloads (``.incomplete``) are not checked.
    """
    parent, _, name = host_path.rpartition("/")
    if not parent.endswith("/blobs"):
        return None
    if _HEX64.fullmatch(name):
        return "sha256", name
    if _HEX40.fullmatch(name):
        return "git-blob-sha1", name
    m = _OLLAMA.fullmatch(name)
    if m:
        return "sha256", m.group(1)
    return None


def _read_whole(fd: int, expected: int, sinks: list[Any], spool: IO[bytes] | None,
                deadline: float | None) -> int:
    """Read exactly ``expected`` bytes (or report more/less). Returns bytes read; raises
    ``ChangedWhileRead`` when the size did not hold."""
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    total = 0
    with os.fdopen(os.dup(fd), "rb", buffering=0) as fh:
        while total < expected:
            if deadline is not None and time.monotonic() > deadline:
                raise Stop()
            n = fh.readinto(view[:min(CHUNK, expected - total)])
            if not n:
                raise ChangedWhileRead(f"shrank while read: {total} of {expected} bytes")
            chunk = view[:n]
            for s in sinks:
                s.update(chunk)
            if spool is not None:
                spool.write(chunk)
            total += n
        if fh.readinto(view[:1]):
            raise ChangedWhileRead(f"grew while read: more than {expected} bytes")
    return total


class ChangedWhileRead(Exception):
    pass


def base_row(target: Target) -> dict[str, Any]:
    text, clean = host_path_text(target.host_path)
    row: dict[str, Any] = {"path": text, "artifact": target.artifact.name, "user": target.user,
                           "type": target.kind, "action": None, "member": None}
    if not clean:
        row["path_b64"] = b64(os.fsencode(target.host_path))
    row.update({"size": None, "mode": None, "uid": None, "gid": None, "inode": None, "atime": None,
                "mtime": None, "ctime": None, "btime": None, "sha256": None, "parts": [],
                "link_target": None, "reason": None, "error": None})
    if target.via and target.via != "default":
        row["via"] = target.via
    return row


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def collect_file(target: Target, policy: Policy) -> FileResult:
    """Hash (and copy, redact, extract parts of) one regular file. Never raises for file trouble."""
    res = FileResult(base_row(target))
    row = res.row
    local = target.local_path
    st0 = target.stat
    if st0 is None:
        try:
            st0 = os.lstat(local)
        except OSError as exc:
            row.update(action="failed", error=f"vanished before read: {error_text(exc)}")
            return res
    row.update(fsmeta.stat_fields(st0, fsmeta.btime(local)))
    if fsmeta.is_sparse(st0):
        row["sparse"] = True
        row["allocated"] = st0.st_blocks * 512
    size = st0.st_size
    large = size > policy.copy_max
    if large and policy.large == "skip":
        row.update(action="skipped", reason=f"larger than the copy limit ({policy.copy_max} bytes)")
        return res
    if not large and policy.fits is not None and not policy.fits(size):
        row.update(action="skipped", reason="output disk nearly full")
        return res
    try:
        fd, noatime = open_noatime(local, os.O_RDONLY | O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            row.update(action="failed", error="vanished before read")
        elif exc.errno == errno.ELOOP:
            row.update(action="failed", error="replaced by a symlink before read (not followed)")
        else:
            row.update(action="failed", error=error_text(exc))
        return res
    spool: IO[bytes] | None = None
    try:
        if not noatime:
            row["noatime"] = False  # the kernel refused O_NOATIME: the access time may have moved
        st1 = os.fstat(fd)
        if not statmod.S_ISREG(st1.st_mode):
            row.update(action="skipped", reason="no longer a regular file")
            return res
        if (st1.st_dev, st1.st_ino) != (st0.st_dev, st0.st_ino):
            row.update(action="failed", error="replaced between listing and read")
            return res
        row.update(fsmeta.stat_fields(st1, row.get("btime")))
        size = st1.st_size
        large = size > policy.copy_max
        check = content_name_check(target.host_path) if policy.content_check else None
        digest = hashlib.sha256()
        sinks: list[Any] = [digest]
        git = None
        if check and check[0] == "git-blob-sha1":
            git = hashlib.sha1(b"blob %d\0" % size, usedforsecurity=False)
            sinks.append(git)
        if not large:
            spool = new_spool(policy.spool_dir)
        try:
            res.bytes_read = _read_whole(fd, size, sinks, spool, policy.deadline)
        except Stop:
            row.update(action="skipped", reason="time limit reached during read")
            return res
        except ChangedWhileRead as exc:
            row.update(action="failed", error=f"changed while read: {exc}")
            res.log("warning", "changed_while_read", path=row["path"], detail=str(exc))
            return res
        st2 = os.fstat(fd)
        if not fsmeta.same_content_state(st1, st2):
            row.update(action="failed", error="changed while read (size, mtime or ctime moved)")
            res.log("warning", "changed_while_read", path=row["path"])
            return res
        if st2.st_nlink == 0:
            row.setdefault("warnings", []).append("deleted while read (content is as read)")
        sha = digest.hexdigest()
        row["sha256"] = sha
        if check:
            scheme, expected = check
            actual = git.hexdigest() if git is not None else sha
            row["content_check"] = {"scheme": scheme, "expected": expected, "actual": actual,
                                    "ok": actual == expected}
            if actual != expected:
                row["tampered"] = True
                res.log("warning", "content_mismatch", path=row["path"], scheme=scheme,
                        expected=expected, actual=actual,
                        detail="blob content does not match the hash it is named after")
        if not large:
            assert spool is not None
            payload_spool, redactions = _maybe_redact(spool, size, policy)
            if redactions is None:
                row.update(action="copied", member=member_name("fs", target.host_path))
                res.payloads.append(Payload(row["member"], spool, size, sha))
            else:
                spool.close()
                red_size = _size_of(payload_spool)
                red_sha = _sha_of(payload_spool)
                # The source hash would let anyone confirm a guessed secret offline just as
                # well as the fingerprint; the copy's own hash is what verify needs.
                row.update(action="redacted", member=member_name("fs", target.host_path),
                           sha256=None, member_sha256=red_sha, member_size=red_size,
                           secrets=[r.to_dict() for r in redactions])
                res.payloads.append(Payload(row["member"], payload_spool, red_size, red_sha))
            spool = None
            return res
        row["action"] = "hashed"
        row["reason"] = (f"larger than the copy limit ({policy.copy_max} bytes)" if policy.copy_max
                         else "hash only (artifact policy)")
        if policy.large == "partial":
            _add_parts(target, fd, st1, policy, res)
        return res
    except OSError as exc:
        row.update(action="failed", error=error_text(exc))
        return res
    finally:
        if spool is not None:
            spool.close()
        os.close(fd)


def _size_of(fh: IO[bytes]) -> int:
    fh.seek(0, os.SEEK_END)
    return fh.tell()


def _sha_of(fh: IO[bytes]) -> str:
    fh.seek(0)
    digest = hashlib.sha256()
    while True:
        block = fh.read(CHUNK)
        if not block:
            return digest.hexdigest()
        digest.update(block)


def _maybe_redact(spool: IO[bytes], size: int, policy: Policy) -> tuple[IO[bytes], list[Any] | None]:
    """(spool to store, redactions or None when nothing was redacted)."""
    from mlsleuth.redact import redact_bytes

    handler = policy.secret_handler
    if handler is None or size == 0:
        return spool, None
    if handler not in ("text", "ini") and size > WHOLE_DOCUMENT_MAX:
        handler = "ini"  # too big to hold whole: still take out every recognisable secret
    spool.seek(0)
    out = new_spool(policy.spool_dir)
    found = []
    if handler in ("text", "ini"):
        carry = b""
        while True:
            block = spool.read(REDACT_BLOCK)
            data = carry + block
            cut = len(data)
            if block:
                cut = data.rfind(b"\n") + 1
                # Hold back a PEM block that begins here but ends in a later block.
                begin = data.rfind(b"-----BEGIN ", 0, cut) if cut else -1
                if begin >= 0 and data.find(b"-----END ", begin) < 0:
                    cut = begin
                if cut == 0:
                    if len(data) < MAX_CARRY:
                        carry = data
                        continue
                    cut = len(data)  # one enormous line: redact it as it is
            piece, carry = data[:cut], data[cut:]
            if piece:
                clean, more = redact_bytes(piece, handler)
                out.write(clean)
                found.extend(more)
            if not block:
                break
    else:
        clean, more = redact_bytes(spool.read(), handler)
        out.write(clean)
        found.extend(more)
    if not found:
        out.close()
        return spool, None
    return out, found


def _add_parts(target: Target, fd: int, st1: os.stat_result, policy: Policy, res: FileResult) -> None:
    """Attach the analysable parts of a large file (see mlsleuth.collector.parts)."""
    from mlsleuth.collector import parts as partsmod

    row = res.row
    try:
        extracted, why = partsmod.extract(target.local_path, fd, policy.spool_dir)
    except Exception as exc:  # an extractor bug must not cost the file its row
        row["reason"] = f"part extraction failed: {type(exc).__name__}: {exc}"
        res.log("warning", "part_extraction_failed", path=row["path"], error=str(exc))
        return
    try:
        st2 = os.fstat(fd)
    except OSError as exc:
        for p in extracted:
            p.data.close()
        row.update(action="failed", error=error_text(exc))
        return
    if not fsmeta.same_content_state(st1, st2):
        for p in extracted:
            p.data.close()
        row.update(action="failed", sha256=None, error="changed while its parts were extracted")
        return
    if not extracted:
        row["reason"] = f"larger than the copy limit ({policy.copy_max} bytes); {why}"
        return
    row["action"] = "partial"
    for p in extracted:
        m = member_name("parts", target.host_path, p.name)
        row["parts"].append({"name": p.name, "member": m, "sha256": p.sha256, "size": p.size})
        res.payloads.append(Payload(m, p.data, p.size, p.sha256))
