"""SQLite databases held open by their owner (IPython's history.sqlite under a running kernel).

SQLite is never pointed at the evidence: opening a live database even read-only takes locks,
may create ``-shm``/``-wal`` files, and its reads move the access time. Instead the database and
its ``-wal``/``-journal``/``-shm`` siblings are copied raw like any file (O_NOATIME, stat-checked),
the database's own state is checked unchanged after its siblings were read (retrying a few times
if a checkpoint or commit moved it), and only then SQLite opens *the copy* in a private folder:
it replays committed WAL frames (torn or uncommitted ones fail their checksums and are ignored)
or rolls back a hot journal, and the backup API writes one consistent database,
``parts/<db path>/sqlite/backup.sqlite``. The raw files stay in ``fs/`` byte for byte.

A writer holding a lock does not block this (POSIX locks are advisory and the copy ignores
them); what its transaction had not committed is simply not in the snapshot.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

from mlsleuth.collector.archive import member_name
from mlsleuth.collector.fileread import FileResult, Payload, Policy, base_row, collect_file, new_spool

from mlsleuth.artifacts import Target

SIBLING_SUFFIXES = ("-wal", "-journal", "-shm")
ATTEMPTS = 3
SNAPSHOT_PART = "sqlite/backup.sqlite"


def is_sibling(host_path: str) -> bool:
    return host_path.endswith(SIBLING_SUFFIXES)


def main_db_of(host_path: str) -> str:
    for suffix in SIBLING_SUFFIXES:
        if host_path.endswith(suffix):
            return host_path[: -len(suffix)]
    return host_path


def _siblings(target: Target) -> list[Target]:
    out = []
    for suffix in SIBLING_SUFFIXES:
        local = Path(str(target.local_path) + suffix)
        try:
            st = os.lstat(local)
        except OSError:
            continue
        out.append(replace(target, host_path=target.host_path + suffix, local_path=local,
                           rel=target.rel + suffix if target.rel else "", stat=st,
                           kind="file" if st.st_mode & 0o170000 == 0o100000 else "other"))
    return out


def _unchanged(target: Target, row: dict[str, Any]) -> bool:
    try:
        st = os.lstat(target.local_path)
    except OSError:
        return False
    return (st.st_size, st.st_mtime_ns / 1e9, st.st_ctime_ns / 1e9) == (row.get("size"), row.get("mtime"),
                                                                         row.get("ctime"))


def collect_database(target: Target, policy: Policy) -> list[FileResult]:
    """Rows for the database and each sibling; the database row gets the snapshot part."""
    results: list[FileResult] = []
    for attempt in range(1, ATTEMPTS + 1):
        for r in results:
            r.close()
        siblings = _siblings(target)
        target.stat = None  # take a fresh lstat on each attempt
        results = [collect_file(target, policy)]
        results += [collect_file(s, policy) if s.kind == "file" else _not_regular(s) for s in siblings]
        if _unchanged(target, results[0].row) or results[0].row["action"] == "failed":
            break
        results[0].log("info", "sqlite_retry", path=results[0].row["path"], attempt=attempt,
                       detail="database changed while its journal/WAL was copied")
    else:
        results[0].row.setdefault("warnings", []).append(
            f"database kept changing over {ATTEMPTS} attempts; snapshot taken from the last copy")
    _snapshot(target, results, policy)
    return results


def _not_regular(target: Target) -> FileResult:
    res = FileResult(base_row(target))
    res.row.update(action="skipped", reason="not a regular file")
    return res


def _payload(res: FileResult) -> Payload | None:
    return res.payloads[0] if res.row.get("action") == "copied" and res.payloads else None


def _snapshot(target: Target, results: list[FileResult], policy: Policy) -> None:
    main = results[0]
    row = main.row
    db = _payload(main)
    if db is None:
        row["sqlite"] = {"snapshot": None, "reason": f"database not copied ({row.get('action')})"}
        return
    work = Path(tempfile.mkdtemp(prefix="sqlite-", dir=policy.spool_dir))
    try:
        name = "db.sqlite"
        _write(db.data, work / name)
        copied_siblings = []
        for res in results[1:]:
            p = _payload(res)
            suffix = next((s for s in SIBLING_SUFFIXES if res.row["path"].endswith(s)), None)
            if p is not None and suffix and suffix != "-shm":  # -shm is rebuilt from the WAL
                _write(p.data, work / (name + suffix))
                copied_siblings.append(suffix)
        info: dict[str, Any] = {"siblings": copied_siblings}
        try:
            snapshot, info2 = _backup(work / name, work / "backup.sqlite")
            info.update(info2)
        except sqlite3.Error as exc:
            info.update(snapshot=None, error=f"{type(exc).__name__}: {exc}")
            row["sqlite"] = info
            main.log("warning", "sqlite_snapshot_failed", path=row["path"], error=str(exc))
            return
        spool = new_spool(policy.spool_dir)
        digest = hashlib.sha256()
        with open(snapshot, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
                spool.write(block)
        size = spool.tell()
        member = member_name("parts", target.host_path, SNAPSHOT_PART)
        info["snapshot"] = SNAPSHOT_PART
        row["sqlite"] = info
        row["parts"].append({"name": SNAPSHOT_PART, "member": member, "sha256": digest.hexdigest(),
                             "size": size})
        main.payloads.append(Payload(member, spool, size, digest.hexdigest()))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _write(src: IO[bytes], dest: Path) -> None:
    src.seek(0)
    with open(dest, "wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)
    src.seek(0)


def _backup(copy: Path, dest: Path) -> tuple[Path, dict[str, Any]]:
    """Open the private copy (WAL replay / journal rollback happen here) and back it up."""
    info: dict[str, Any] = {}
    if copy.stat().st_size == 0:
        info["empty"] = True
    src = sqlite3.connect(f"file:{copy}?mode=rw", uri=True, timeout=0)
    try:
        src.execute("PRAGMA trusted_schema=OFF")
        dst = sqlite3.connect(dest)
        try:
            src.backup(dst)
            check = dst.execute("PRAGMA quick_check").fetchone()
            info["quick_check"] = check[0] if check else None
            info["journal_mode"] = src.execute("PRAGMA journal_mode").fetchone()[0]
        finally:
            dst.close()
    finally:
        src.close()
    return dest, info

