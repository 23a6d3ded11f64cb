"""Read what SQLite can still read from a corrupt or half-written database, without writing.

The database is opened read-only and ``immutable`` (no journal, WAL or lock files are created
next to evidence). Rows are read in rowid order; when a damaged page stops the cursor, reading
resumes after the last good rowid, skipping ahead in growing steps past the damage, so rows on
later intact pages are still recovered. Every gap is reported.
"""

from __future__ import annotations

import shutil
import sqlite3
import struct
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

MAX_RESUMES = 64


@dataclass
class Salvage:
    problems: list[str] = field(default_factory=list)
    rows_recovered: int = 0


def connect_readonly(path: Path, *, private_copy: bool = False) -> sqlite3.Connection:
    """Evidence in place is opened read-only and ``immutable`` (no journal, WAL, lock or -shm
    file is touched). A private copy (ours, in a temporary folder) is opened normally so SQLite
    can replay its WAL or roll back its hot journal, which needs write access to the copy."""
    uri = path.resolve().as_uri() + ("" if private_copy else "?mode=ro&immutable=1")
    db = sqlite3.connect(uri, uri=True, detect_types=0, check_same_thread=False)
    db.text_factory = lambda b: b.decode("utf-8", errors="backslashreplace")
    return db


HEADER = b"SQLite format 3\x00"


@contextmanager
def open_database(path: Path, siblings: Mapping[str, Callable[[], BinaryIO]] | None = None,
                  *, open_main: Callable[[], BinaryIO] | None = None) -> Iterator[tuple[sqlite3.Connection, str]]:
    """A connection to what can be read of a database, and how it was read.

    * no siblings and readable: the file itself, read-only and immutable;
    * ``-wal``/``-journal`` siblings given: a private copy with them, so SQLite replays the
      committed WAL frames or rolls the hot journal back (``"wal-replayed copy"``);
    * unreadable because the file is shorter than its header says (a half-written or truncated
      database): a private copy whose header page count is set to the pages really present
      (``"header-repaired copy"``), after which the intact pages read normally.

    Raises sqlite3.DatabaseError when none of that gives a readable schema.
    """
    if not siblings:
        try:
            db = connect_readonly(path)
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError:
            pass
        else:
            try:
                yield db, ""
            finally:
                db.close()
            return
    with tempfile.TemporaryDirectory(prefix="mlsleuth-sqlite-") as tmp:
        copy = Path(tmp) / "db.sqlite"
        with (open_main() if open_main else open(path, "rb")) as src, open(copy, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        note = "wal-replayed copy"
        for suffix, opener in (siblings or {}).items():
            with opener() as src, open(str(copy) + suffix, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
        if not siblings:
            _repair_header(copy)
            note = "header-repaired copy"
        db = connect_readonly(copy, private_copy=True)
        try:
            try:
                db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            except sqlite3.DatabaseError:
                if not siblings:
                    raise
                db.close()  # the siblings did not help: fall back to the repaired main file
                for suffix in siblings:
                    Path(str(copy) + suffix).unlink(missing_ok=True)
                _repair_header(copy)
                note = "header-repaired copy"
                db = connect_readonly(copy, private_copy=True)
                db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            yield db, note
        finally:
            db.close()


def _repair_header(copy: Path) -> None:
    """Make the header's page count match the pages present (bytes 28-31, big-endian)."""
    with open(copy, "r+b") as fh:
        header = fh.read(100)
        if len(header) < 100 or not header.startswith(HEADER):
            return
        page_size = struct.unpack(">H", header[16:18])[0]
        page_size = 65536 if page_size == 1 else page_size
        if page_size < 512 or page_size & (page_size - 1):
            return
        fh.seek(0, 2)
        pages = fh.tell() // page_size
        if pages == 0:
            return
        fh.truncate(pages * page_size)
        fh.seek(28)
        fh.write(struct.pack(">I", pages))


def table_columns(db: sqlite3.Connection, table: str) -> list[str]:
    try:
        return [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
    except sqlite3.DatabaseError:
        return []


def iter_rows(db: sqlite3.Connection, table: str, columns: list[str], report: Salvage,
              *, batch: int = 2000) -> Iterator[tuple[Any, ...]]:
    """``(rowid, *columns)`` of every readable row of ``table`` in rowid order."""
    wanted = ", ".join(f'"{c}"' for c in columns)
    query = f'SELECT rowid, {wanted} FROM "{table}" WHERE rowid > ? ORDER BY rowid LIMIT {batch}'
    last = -(1 << 63)
    step = 1
    resumes = 0
    while True:
        try:
            rows = db.execute(query, (last,)).fetchall()
        except sqlite3.DatabaseError as exc:
            rows = _rows_one_by_one(db, query, last)
            if not rows:
                resumes += 1
                if resumes > MAX_RESUMES:
                    report.problems.append(f"{table}: gave up after rowid {last}: {exc}")
                    return
                report.problems.append(f"{table}: unreadable after rowid {last}: {exc}")
                last = max(last, 0) + step  # jump over the damaged range, farther each time
                step *= 4
                continue
        if not rows:
            return
        for row in rows:
            report.rows_recovered += 1
            yield row
        last = rows[-1][0]
        step = 1


def _rows_one_by_one(db: sqlite3.Connection, query: str, last: int) -> list[tuple[Any, ...]]:
    """The rows a failed batch still yields before the damaged page."""
    out: list[tuple[Any, ...]] = []
    try:
        for row in db.execute(query, (last,)):
            out.append(row)
    except sqlite3.DatabaseError:
        pass
    return out
