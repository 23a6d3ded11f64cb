"""Bad input on the host: each case is recorded in the manifest and log, and the collection completes
with an archive that verifies."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest
from collector_helpers import Archive, passwd, run_collect, write
from mlsleuth.collector import fileread
from mlsleuth.collector.verify import verify

HISTORY_SCHEMA = """
CREATE TABLE sessions (session integer primary key autoincrement, start timestamp, end timestamp,
                       num_cmds integer, remark text);
CREATE TABLE history (session integer, line integer, source text, source_raw text,
                      PRIMARY KEY (session, line));
CREATE TABLE output_history (session integer, line integer, output text, PRIMARY KEY (session, line));
"""


def _ok(archive: Path) -> None:
    report = verify(archive)
    assert report.code == 0, report.problems


def test_symlink_loops_and_dangling_links(host: Path, out: Path) -> None:
    hub = host / "home/alice/.cache/huggingface/hub"
    (hub / "models--o--m/snapshots/abc").mkdir(parents=True)
    os.symlink("loop-b", hub / "loop-a")
    os.symlink("loop-a", hub / "loop-b")
    os.symlink("../../blobs/" + "f" * 64, hub / "models--o--m/snapshots/abc/model.safetensors")  # dangling
    os.symlink(".keras", host / "home/alice/.keras")  # the location root itself loops
    os.symlink("/gone/ollama", host / "home/alice/.ollama")  # a cache that was moved away
    os.symlink("/", hub / "models--o--m/rootlink")  # never walked into
    result, a = run_collect(host, out)
    assert a.row("/home/alice/.cache/huggingface/hub/loop-a")["action"] == "symlink"
    dangling = a.row("/home/alice/.cache/huggingface/hub/models--o--m/snapshots/abc/model.safetensors")
    assert dangling["action"] == "symlink" and dangling["link_target"].endswith("f" * 64)
    assert a.events("symlink_loop")
    assert a.row("/home/alice/.ollama")["link_target"] == "/gone/ollama"
    assert not any(r["path"].startswith("/home/alice/.cache/huggingface/hub/models--o--m/rootlink/") for r in a.rows)
    _ok(result.archive)


def test_fifo_socket_and_device_are_never_opened(host: Path, out: Path) -> None:
    os.mkfifo(host / "home/alice/.bash_history")  # a reader would block forever
    nb = host / "home/alice/nb"
    nb.mkdir()
    os.mkfifo(nb / "trap.ipynb")
    if os.geteuid() == 0:
        os.mknod(host / "home/alice/.python_history", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    result, a = run_collect(host, out)
    row = a.row("/home/alice/.bash_history")
    assert row["action"] == "skipped" and "fifo" in row["reason"]
    assert a.row("/home/alice/nb/trap.ipynb")["action"] == "skipped"
    if os.geteuid() == 0:
        assert "chardev" in a.row("/home/alice/.python_history")["reason"]
    _ok(result.archive)


def test_non_utf8_names(host: Path, out: Path) -> None:
    nb = os.fsencode(host / "home/alice/nb")
    os.makedirs(nb)
    name = nb + b"/caf\xe9-\xff.ipynb"
    with open(name, "wb") as fh:
        fh.write(b'{"cells": []}')
    os.symlink(b"target-\xfe", nb + b"/link\xfe.pt")
    result, a = run_collect(host, out)
    row = a.row("/home/alice/nb/caf%E9-%FF.ipynb")
    assert row["action"] == "copied" and row["member"] == "fs/home/alice/nb/caf%E9-%FF.ipynb"
    import base64

    assert base64.b64decode(row["path_b64"]) == b"/home/alice/nb/caf\xe9-\xff.ipynb"
    assert a.data[row["member"]] == b'{"cells": []}'
    link = a.row("/home/alice/nb/link%FE.pt")
    assert link["link_target"] == "target-%FE" and base64.b64decode(link["link_target_b64"]) == b"target-\xfe"
    a.data["manifest.jsonl"].decode("utf-8")  # strictly valid UTF-8
    _ok(result.archive)


def test_sparse_file_hashed_in_full(host: Path, out: Path) -> None:
    path = host / "home/alice/huge.bin"
    with open(path, "wb") as fh:
        fh.truncate(32 << 20)
        fh.seek(16 << 20)
        fh.write(b"data in the middle")
    result, a = run_collect(host, out, max_copy_size="1MiB")
    row = a.row("/home/alice/huge.bin")
    import hashlib

    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    assert row["action"] in ("hashed", "partial") and row["sha256"] == expected
    assert row.get("sparse") is True and row["allocated"] < row["size"]
    _ok(result.archive)


def test_many_small_files(host: Path, out: Path) -> None:
    base = host / "home/alice/.cache/huggingface/hub/datasets--o--many/blobs"
    base.mkdir(parents=True)
    for i in range(2000):  # tests/bench/bench_collect.py scales this up
        (base / f"{i:05d}.json").write_bytes(b"%d" % i)
    result, a = run_collect(host, out)
    rows = a.by_artifact("hf_cache")
    assert len(rows) == 2000 and all(r["action"] == "copied" for r in rows)
    assert a.summary["artifacts"]["hf_cache"]["collected"] == 2000
    _ok(result.archive)


def test_zero_byte_history_sqlite(host: Path, out: Path) -> None:
    write(host, "/home/alice/.ipython/profile_default/history.sqlite", b"")
    result, a = run_collect(host, out)
    row = a.row("/home/alice/.ipython/profile_default/history.sqlite")
    assert row["action"] == "copied" and row["size"] == 0
    assert row["sqlite"].get("empty") is True
    _ok(result.archive)


def test_corrupt_sqlite_is_logged(host: Path, out: Path) -> None:
    write(host, "/home/alice/.ipython/profile_default/history.sqlite", b"SQLite format 3\0" + b"\xff" * 5000)
    result, a = run_collect(host, out)
    row = a.row("/home/alice/.ipython/profile_default/history.sqlite")
    assert row["action"] == "copied" and row["sqlite"]["snapshot"] is None and row["sqlite"]["error"]
    assert a.events("sqlite_snapshot_failed")
    _ok(result.archive)


def test_locked_wal_database_is_copied_consistently(host: Path, out: Path) -> None:
    db = host / "home/alice/.ipython/profile_default/history.sqlite"
    db.parent.mkdir(parents=True)
    writer = sqlite3.connect(db, isolation_level=None)
    writer.executescript(HISTORY_SCHEMA)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")  # committed rows stay in the -wal only
    writer.execute("INSERT INTO sessions (start) VALUES ('2024-05-01 10:00:00')")
    for i in range(1, 4):
        writer.execute("INSERT INTO history VALUES (1, ?, ?, ?)", (i, f"cmd{i}", f"cmd{i}"))
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # the write lock, held through the whole collection
    holder.execute("INSERT INTO history VALUES (1, 99, 'uncommitted', 'uncommitted')")
    wal = Path(str(db) + "-wal")
    assert wal.stat().st_size > 0
    before = {p: os.stat(p).st_mtime_ns for p in (db, wal)}
    try:
        result, a = run_collect(host, out)
    finally:
        holder.rollback()
    row = a.row(str(db.relative_to(host)).join(["/", ""]))
    assert row["action"] == "copied"
    assert a.row("/" + str(wal.relative_to(host)))["action"] == "copied"
    assert row["sqlite"]["snapshot"] == "sqlite/backup.sqlite" and "-wal" in row["sqlite"]["siblings"]
    assert row["sqlite"]["quick_check"] == "ok"
    part = row["parts"][0]
    snap = Path(tempfile.mkdtemp()) / "snap.sqlite"
    snap.write_bytes(a.data[part["member"]])
    rows = sqlite3.connect(snap).execute("SELECT source FROM history ORDER BY line").fetchall()
    assert rows == [("cmd1",), ("cmd2",), ("cmd3",)]
    # the evidence database was never touched by SQLite: WAL still there, times unchanged
    assert wal.exists() and {p: os.stat(p).st_mtime_ns for p in (db, wal)} == before
    writer.close()
    holder.close()
    _ok(result.archive)


def test_vanishing_file(host: Path, out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    victim = write(host, "/home/alice/.python_history", "print(1)\n")
    real = fileread.open_noatime

    def vanish_then_open(path, flags, dir_fd=None):
        if Path(path) == victim and victim.exists():
            victim.unlink()
        return real(path, flags, dir_fd)

    monkeypatch.setattr(fileread, "open_noatime", vanish_then_open)
    result, a = run_collect(host, out)
    row = a.row("/home/alice/.python_history")
    assert row["action"] == "failed" and "vanished" in row["error"] and row["sha256"] is None
    assert a.events("file_failed")
    _ok(result.archive)


@pytest.mark.parametrize("change", ["grow", "rewrite"])
def test_file_changing_while_read(host: Path, out: Path, monkeypatch: pytest.MonkeyPatch, change: str) -> None:
    victim = write(host, "/home/alice/.bash_history", "ls\n" * 1000)
    real = fileread._read_whole

    def writer_meanwhile(fd, expected, sinks, spool, deadline):
        n = real(fd, expected, sinks, spool, deadline) if change == "rewrite" else None
        if change == "grow":
            with open(victim, "ab") as fh:  # a shell appending while we read
                fh.write(b"rm -rf /tmp/x\n")
            return real(fd, expected, sinks, spool, deadline)
        with open(victim, "r+b") as fh:  # same size, new content and mtime
            fh.write(b"XX")
        os.utime(victim, ns=(0, 10**18))
        return n

    monkeypatch.setattr(fileread, "_read_whole", writer_meanwhile)
    result, a = run_collect(host, out)
    row = a.row("/home/alice/.bash_history")
    assert row["action"] == "failed" and "changed while read" in row["error"] and row["sha256"] is None
    assert a.events("changed_while_read")
    assert row["member"] is None and not any(n.startswith("fs/home/alice/.bash_history") for n in a.members)
    _ok(result.archive)


def test_time_limit_stops_cleanly(host: Path, out: Path) -> None:
    base = host / "home/alice/nb"
    base.mkdir()
    for i in range(200):
        (base / f"n{i}.ipynb").write_text("{}")
    result, a = run_collect(host, out, time_limit=1e-9)
    assert result.stopped == "time limit" and a.summary["stopped"] == "time limit"
    assert a.events("time_limit_reached")
    assert len(a.by_artifact("notebook")) < 200
    _ok(result.archive)


def test_output_disk_full_stops_cleanly(host: Path, out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = host / "home/alice/nb"
    base.mkdir()
    for i in range(50):
        (base / f"n{i:02d}.ipynb").write_text("{}" * 100)
    from mlsleuth.collector import resources

    calls = {"n": 0}

    def fits(self, need):
        calls["n"] += 1
        return calls["n"] < 20

    monkeypatch.setattr(resources.DiskGuard, "fits", fits)
    result, a = run_collect(host, out)
    assert result.stopped == "output disk full"
    assert a.events("output_disk_full")
    for r in a.rows:  # a row never points at a member that is not there
        if r.get("member"):
            assert r["member"] in a.members
    _ok(result.archive)


def test_worker_crash_is_recorded(host: Path, out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(host, "/home/alice/.python_history", "x\n")
    from mlsleuth.collector import collect as collect_mod

    def boom(target, policy):
        raise RuntimeError("bug")

    monkeypatch.setattr(collect_mod, "collect_file", boom)
    result, a = run_collect(host, out)
    row = a.row("/home/alice/.python_history")
    assert row["action"] == "failed" and "internal error" in row["error"]
    _ok(result.archive)


def _setpriv() -> str | None:
    return shutil.which("setpriv")


@pytest.mark.skipif(os.geteuid() != 0 or _setpriv() is None, reason="needs root to drop to an unprivileged user")
def test_unprivileged_run_collects_what_it_can(tmp_path: Path) -> None:
    """A real unprivileged process (setpriv to nobody), not a simulation: unreadable files and
    directories are listed as failed, readable ones collected, and the archive verifies."""
    base = Path(tempfile.mkdtemp(prefix="mlsleuth-unpriv-", dir="/tmp"))
    try:
        os.chmod(base, 0o755)
        root = base / "host"
        passwd(root, ("alice", 1000))
        write(root, "/home/alice/.bash_history", "ls\n", mode=0o644)
        write(root, "/home/alice/.python_history", "secret\n", mode=0o600)  # root-owned, unreadable
        write(root, "/home/alice/.ipython/profile_default/startup/00.py", "x=1\n", mode=0o644)
        os.chmod(root / "home/alice/.ipython/profile_default/startup", 0o700)  # unreadable dir
        for d in (root, root / "home", root / "home/alice", root / "etc"):
            os.chmod(d, 0o755)
        outdir = base / "out"
        outdir.mkdir()
        os.chown(outdir, 65534, 65534)
        script = ("import json,sys; from mlsleuth.collector.collect import collect; "
                  f"r = collect({str(root)!r}, {str(outdir / 'e.tar.gz')!r}, live=False); "
                  "print(json.dumps(r.to_dict()))")
        proc = subprocess.run([_setpriv(), "--reuid=65534", "--regid=65534", "--clear-groups",
                               sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                              cwd="/tmp")
        if proc.returncode != 0 and "Permission denied" in proc.stderr and "mlsleuth" in proc.stderr:
            pytest.skip(f"the project tree is not readable by nobody: {proc.stderr[-300:]}")
        assert proc.returncode == 0, proc.stderr
        a = Archive(outdir / "e.tar.gz")
        assert a.row("/home/alice/.bash_history")["action"] == "copied"
        denied = a.row("/home/alice/.python_history")
        assert denied["action"] == "failed" and denied["error"] == "permission denied"
        d = a.row("/home/alice/.ipython/profile_default/startup")
        assert d["action"] == "failed" and d["type"] == "dir"
        assert a.host["collector"]["euid"] == 65534
        # O_NOATIME needs ownership: the copy records that the kernel refused it
        assert a.row("/home/alice/.bash_history").get("noatime") is False
        _ok(outdir / "e.tar.gz")
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_output_inside_the_root_is_not_collected(host: Path) -> None:
    outdir = host / "home/alice/evidence"
    outdir.mkdir()
    write(host, "/home/alice/evidence/old.ipynb", "{}")  # real evidence stays collectable
    result, a = run_collect(host, outdir)
    assert not any(".work-" in r["path"] or r["path"].endswith(".partial") for r in a.rows)
    assert a.row("/home/alice/evidence/old.ipynb")["action"] == "copied"


def test_manifest_rows_are_json_with_contract_fields(host: Path, out: Path) -> None:
    write(host, "/home/alice/.bash_history", "ls\n")
    result, a = run_collect(host, out)
    required = {"path", "artifact", "user", "action", "member", "size", "mode", "uid", "gid", "inode", "atime",
                "mtime", "ctime", "btime", "sha256", "parts", "link_target", "reason", "error"}
    for line in a.data["manifest.jsonl"].splitlines():
        assert required <= set(json.loads(line))


def test_concurrent_reads_do_not_interfere(host: Path, out: Path) -> None:
    # Two collections of one tree at once (two examiners): both archives verify.
    for i in range(100):
        write(host, f"/home/alice/nb/{i}.ipynb", "{}" * i)
    results = []

    def go(name: str) -> None:
        results.append(run_collect(host, out, name=name)[0])

    threads = [threading.Thread(target=go, args=(f"e{i}.tar.gz",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2
    for r in results:
        _ok(r.archive)
