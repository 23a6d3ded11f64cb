"""The journal: sequence across restarts, rotation, no torn line on a full disk or on SIGTERM."""

from __future__ import annotations

import errno
import json
import os
import resource
import signal
import threading
import time
from pathlib import Path

import pytest
from mlsleuth.collector.watch import journal as journal_mod
from mlsleuth.collector.watch.journal import Journal, JournalFull, journal_files
from watch_helpers import read_journal, start_agent, stop_agent, wait_for


def _open(directory: Path, **kw) -> Journal:
    j = Journal(directory, {"host": "h"}, fsync_interval=0.01, **kw)
    j.open()
    return j


def test_restart_resumes_the_sequence_in_the_same_file(tmp_path: Path):
    j = _open(tmp_path)
    j.write("START")
    j.write("CREATE", {"path": "/a"})
    j.close()
    j = _open(tmp_path)
    assert j.resumed_from == 3
    seq = j.write("START")
    j.close()
    assert seq == 4
    assert len(journal_files(tmp_path)) == 1
    assert [r["seq"] for r in read_journal(tmp_path)] == [1, 2, 3, 4]


def test_restart_after_a_torn_line_starts_a_new_file_and_keeps_the_old_one(tmp_path: Path):
    j = _open(tmp_path)
    j.write("CREATE", {"path": "/a"})
    j.close()
    first = journal_files(tmp_path)[0]
    with open(first, "ab") as fh:
        fh.write(b'{"seq":3,"time":"2026-')  # killed -9 mid-write
    before = first.read_bytes()
    j = _open(tmp_path)
    j.write("START")
    j.close()
    files = journal_files(tmp_path)
    assert len(files) == 2 and first.read_bytes() == before
    assert files[1].name == "journal-000000000003.jsonl"
    assert json.loads(files[1].read_text().splitlines()[0])["previous"] == first.name


def test_times_never_run_backwards_and_are_utc(tmp_path: Path):
    j = _open(tmp_path)
    now = time.time_ns()
    j.write("A", when_ns=now)
    j.write("B", when_ns=now - 5_000_000)  # a hasher line written between two kernel events
    j.write("C", when_ns=now)
    j.close()
    times = [r["time"] for r in read_journal(tmp_path)][1:]
    assert times == sorted(times) and len(set(times)) == 3
    assert all(t.endswith("+00:00") for t in times)


def test_rotation_by_size_with_headers_and_retention(tmp_path: Path):
    j = _open(tmp_path, rotate_bytes=400, keep=3)
    for i in range(40):
        j.write("CREATE", {"path": f"/data/{i:04d}"})
    j.close()
    files = journal_files(tmp_path)
    assert len(files) == 3
    for f in files:
        lines = [json.loads(line) for line in f.read_text().splitlines()]
        assert lines[0]["event"] == "JOURNAL" and lines[0]["host"] == "h"
        assert f.name == f"journal-{lines[0]['seq']:012d}.jsonl"
        assert f.stat().st_size < 400 + 200
    seqs = [r["seq"] for r in read_journal(tmp_path)]
    assert seqs == list(range(seqs[0], seqs[-1] + 1))


def test_a_short_write_is_cut_back_and_the_journal_stops(tmp_path: Path, monkeypatch):
    j = _open(tmp_path)
    j.write("CREATE", {"path": "/ok"})
    good = j.path.read_bytes()
    real_write = os.write
    calls = []

    def full_disk(fd, data):
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, bytes(data[:7]))  # the disk took 7 bytes
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(journal_mod.os, "write", full_disk)
    with pytest.raises(JournalFull, match="intact up to seq 2"):
        j.write("CREATE", {"path": "/lost"})
    monkeypatch.setattr(journal_mod.os, "write", real_write)
    with pytest.raises(JournalFull):
        j.write("CREATE", {"path": "/after"})  # stays stopped
    j.close()
    assert j.path.read_bytes() == good


def _limit_fsize(limit: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


@pytest.mark.slow
def test_agent_stops_with_a_clear_error_when_the_journal_cannot_grow(tmp_path: Path):
    """A real kernel refusal (RLIMIT_FSIZE: EFBIG after a short write), as a full disk would."""
    root, journal = tmp_path / "root", tmp_path / "journal"
    (root / "data").mkdir(parents=True)
    proc = start_agent(journal, root, root / "data", preexec_fn=_limit_fsize(6000))
    for i in range(200):
        (root / "data" / f"file-{i:04d}.txt").write_text("x")
    try:
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = proc.stderr.read()
    assert proc.returncode == 2
    assert "journal write failed" in err and "intact up to seq" in err
    data = journal_files(journal)[-1].read_bytes()
    assert data.endswith(b"\n") and len(data) <= 6000
    seqs = [json.loads(line)["seq"] for line in data.splitlines()]
    assert seqs == list(range(1, len(seqs) + 1))


@pytest.mark.slow
def test_sigterm_during_a_burst_leaves_no_torn_line(tmp_path: Path):
    root, journal = tmp_path / "root", tmp_path / "journal"
    (root / "data").mkdir(parents=True)
    proc = start_agent(journal, root, root / "data")
    stop = threading.Event()

    def burst() -> None:
        i = 0
        while not stop.is_set():
            (root / "data" / f"d{i // 50}").mkdir(exist_ok=True)
            (root / "data" / f"d{i // 50}" / f"f{i}").write_text("x")
            i += 1

    writer = threading.Thread(target=burst)
    writer.start()
    try:
        wait_for(journal, lambda r: r["seq"] > 300, proc=proc)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        stop.set()
        writer.join()
    assert proc.returncode == 0, proc.stderr.read()
    data = b"".join(p.read_bytes() for p in journal_files(journal))
    assert data.endswith(b"\n")
    records = [json.loads(line) for line in data.splitlines()]
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    assert records[-1]["event"] == "STOP" and records[-1]["reason"] == "SIGTERM"
    # and a restart continues where it stopped
    proc = start_agent(journal, root, root / "data")
    code, err = stop_agent(proc)
    assert code == 0, err
    again = read_journal(journal)
    assert [r["seq"] for r in again] == list(range(1, len(again) + 1))
    assert next(r for r in again if r["event"] == "START" and r["resumed_from"])["resumed_from"] == len(records)


def test_an_oversized_record_is_cut_to_its_identity(tmp_path: Path):
    j = _open(tmp_path)
    j.write("HASH", {"path": "/m.pkl", "sha256": "a" * 64, "verdict": "malicious",
                     "findings": [{"message": "x" * 1000}] * 1000})
    j.close()
    line = read_journal(tmp_path)[-1]
    assert line["verdict"] == "malicious" and line["path"] == "/m.pkl" and line["truncated_bytes"] > 10**6
    assert "findings" not in line
