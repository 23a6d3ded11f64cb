"""RECORD files (the wheel spec's installed-file list): ``path,algo=<urlsafe-b64 nopad>,size``.

Parsing is tolerant and says what it tolerated: bad CSV, missing or extra columns, unknown hash
algorithms, undecodable digests and absurd sizes become per-row problems, never an exception.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import io
import posixpath
import re
from dataclasses import dataclass, field

# Hash algorithms the wheel spec allows in RECORD (md5 and sha1 are refused by installers).
ALLOWED_ALGOS = frozenset({"sha256", "sha384", "sha512", "sha224", "sha3_256", "sha3_384", "sha3_512",
                           "blake2b", "blake2s"})
DIGEST_SIZE = {a: hashlib.new(a).digest_size for a in ALLOWED_ALGOS}
MAX_ROWS = 1_000_000
_HEX = re.compile(r"[0-9a-fA-F]+")
MAX_SIZE = 1 << 40  # no single installed file is a terabyte; a bigger size is a forged row


@dataclass(slots=True)
class RecordEntry:
    path: str  # as written in RECORD (relative to the environment, may start with ../)
    algo: str | None = None
    digest: str | None = None  # hex
    size: int | None = None
    row: int = 0


@dataclass
class Record:
    entries: list[RecordEntry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def b64_to_hex(value: str) -> str:
    """Decode a RECORD digest (urlsafe base64 without padding) to hex; ValueError if invalid."""
    value = value.strip()
    padded = value + "=" * (-len(value) % 4)
    try:
        raw = base64.b64decode(padded, altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"digest is not urlsafe base64: {exc}") from exc
    return raw.hex()


def parse_record(data: bytes) -> Record:
    rec = Record()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        rec.problems.append(f"not UTF-8 at byte {exc.start}; read with replacement characters")
        text = data.decode("utf-8", errors="replace")
    if "\0" in text:
        rec.problems.append("contains NUL bytes; they were dropped")
        text = text.replace("\0", "")
    reader = csv.reader(io.StringIO(text, newline=""))
    n = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            rec.problems.append(f"row {reader.line_num}: bad CSV ({exc}); rest of RECORD not read")
            break
        n += 1
        if n > MAX_ROWS:
            rec.problems.append(f"more than {MAX_ROWS} rows; the rest was not read")
            break
        if not row or not row[0].strip():
            continue
        if any("\n" in cell or "\r" in cell for cell in row):
            rec.problems.append(f"row {reader.line_num}: bad CSV (a quote left open swallowed the "
                                "following lines); rows dropped")
            continue
        if len(row) != 3:
            rec.problems.append(f"row {reader.line_num}: {len(row)} columns instead of 3")
        entry = RecordEntry(path=row[0], row=reader.line_num)
        hash_field = row[1].strip() if len(row) > 1 else ""
        size_field = row[2].strip() if len(row) > 2 else ""
        if hash_field:
            algo, sep, value = hash_field.partition("=")
            algo = algo.strip().lower().replace("-", "_")
            if not sep or algo not in ALLOWED_ALGOS:
                rec.problems.append(f"row {reader.line_num}: hash {hash_field[:40]!r} not an allowed algorithm")
            else:
                try:
                    if len(value) == DIGEST_SIZE[algo] * 2 and _HEX.fullmatch(value):
                        digest = value.lower()  # Debian's dh_python writes hex digests
                    else:
                        digest = b64_to_hex(value)
                    if len(digest) != DIGEST_SIZE[algo] * 2:
                        raise ValueError(f"{len(digest) // 2} bytes, {algo} has {DIGEST_SIZE[algo]}")
                    entry.algo, entry.digest = algo, digest
                except ValueError as exc:
                    rec.problems.append(f"row {reader.line_num}: {exc}")
        if size_field:
            try:
                size = int(size_field)
            except ValueError:
                rec.problems.append(f"row {reader.line_num}: size {size_field[:40]!r} is not a number")
            else:
                if 0 <= size <= MAX_SIZE:
                    entry.size = size
                else:
                    rec.problems.append(f"row {reader.line_num}: absurd size {size}")
        rec.entries.append(entry)
    return rec


def host_path(env: str, entry_path: str) -> str | None:
    """Where a RECORD path points on the host: relative to the environment, or absolute (old
    installs wrote data files with absolute paths). None for paths that cannot be placed."""
    p = entry_path.replace("\\", "/")
    if not p or "\0" in p:
        return None
    if p.startswith("/"):
        return posixpath.normpath(p)
    return posixpath.normpath(posixpath.join(env, p))
