"""Hashing and verdicts off the event thread: safe reads, inspector results of any shape, degradation."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from mlsleuth.collector.watch import verdicts as verdicts_mod
from mlsleuth.collector.watch.locations import classify
from mlsleuth.collector.watch.verdicts import sha256_file, summarize, verdict_of


def test_without_the_inspector_the_verdict_says_so(monkeypatch, tmp_path: Path):
    monkeypatch.setattr(verdicts_mod, "_inspect", None)
    assert verdict_of(str(tmp_path)) == {"verdict": "unsupported", "verdict_detail": "inspector unavailable"}


def test_a_failing_inspector_gives_an_error_verdict(monkeypatch, tmp_path: Path):
    def boom(path):
        raise MemoryError("zip bomb")

    monkeypatch.setattr(verdicts_mod, "_inspect", boom)
    out = verdict_of(str(tmp_path))
    assert out["verdict"] == "error" and "zip bomb" in out["verdict_detail"]


def test_inspector_results_are_summarised_and_bounded():
    from mlsleuth.parsers.models.result import Finding, ScanResult, Severity

    result = ScanResult(path="x", format="pickle", verdict="malicious", findings=[
        Finding("pickle.call", Severity.CRITICAL, "posix.system('touch x')" + "A" * 5000, "offset 3",
                ["touch x"]) for _ in range(25)])
    out = summarize(result)
    assert out["verdict"] == "malicious" and out["format"] == "pickle"
    assert len(out["findings"]) == 20 and out["findings_omitted"] == 5
    assert out["findings"][0]["severity"] == "critical" and len(out["findings"][0]["message"]) < 2100
    assert summarize({"verdict": "CLEAN", "findings": []})["verdict"] == "clean"


def test_hashing_reads_regular_files_only(tmp_path: Path):
    f = tmp_path / "m.bin"
    f.write_bytes(b"abc" * 1000)
    assert sha256_file(str(f)) == (hashlib.sha256(b"abc" * 1000).hexdigest(), 3000, False)
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(OSError):
        sha256_file(str(tmp_path / "fifo"))  # refused, never blocks
    (tmp_path / "link").symlink_to(f)
    with pytest.raises(OSError):
        sha256_file(str(tmp_path / "link"))


@pytest.mark.parametrize(("path", "category", "hash_kind"), [
    ("/home/a/.cache/huggingface/hub/models--o--n/blobs/" + "a" * 64, "model_download", "model"),
    ("/home/a/.cache/huggingface/hub/models--o--n/blobs/" + "a" * 64 + ".incomplete", "model_download", None),
    ("/home/a/.cache/huggingface/hub/datasets--o--n/snapshots/abc/data.parquet", "model_download", None),
    ("/home/a/.cache/huggingface/modules/transformers_modules/o/n/" + "b" * 40 + "/m.py", "remote_code",
     "code"),
    ("/root/.cache/torch/hub/evil_repo_main/hubconf.py", "remote_code", "code"),
    ("/root/.cache/torch/hub/checkpoints/resnet.pth", "model_download", "model"),
    ("/home/a/.ollama/models/blobs/sha256-" + "c" * 64, "model_download", "model"),
    ("/home/a/.ssh/authorized_keys", "persistence", "persistence"),
    ("/home/a/.bashrc", "persistence", "persistence"),
    ("/home/a/.ipython/profile_default/startup/00.py", "persistence", "persistence"),
    ("/var/spool/cron/crontabs/root", "persistence", "persistence"),
    ("/usr/lib/python3/dist-packages/pkg/weights.pkl", "file", "model"),
    ("/usr/lib/python3/dist-packages/pkg/.bashrc", "file", None),
])
def test_classification(path: str, category: str, hash_kind: str | None):
    info = classify(path)
    assert (info.category, info.hash_kind) == (category, hash_kind)


def test_a_file_that_crashes_or_hangs_the_inspector_is_flagged_and_work_goes_on(tmp_path: Path, monkeypatch):
    import signal
    import time

    from mlsleuth.collector.watch import isolate
    from mlsleuth.collector.watch.hasher import Alerts, Hasher, Job
    from mlsleuth.collector.watch.journal import Journal
    from watch_helpers import read_journal

    def stub(path):  # runs in the inspection child, like the real inspector
        data = Path(path).read_bytes()
        if b"CRASH" in data:
            os.kill(os.getpid(), signal.SIGSEGV)
        if b"HANG" in data:
            time.sleep(60)
        return {"verdict": "clean", "format": "pickle", "findings": []}

    monkeypatch.setattr(verdicts_mod, "_inspect", stub)
    monkeypatch.setattr(isolate, "JOB_TIMEOUT_BASE", 1.0)
    journal = Journal(tmp_path / "j", {"host": "t"}, fsync_interval=0.05)
    journal.open()
    hasher = Hasher(journal, Alerts(journal, None), 10)
    hasher.start()
    for i, content in enumerate((b"CRASH", b"HANG", b"fine")):
        (tmp_path / f"{i}.pkl").write_bytes(content)
        hasher.submit(Job(str(tmp_path / f"{i}.pkl"), f"/m/{i}.pkl", "model", i + 1))
    hasher.stop(30)
    journal.close()
    lines = read_journal(tmp_path / "j")
    hashed = {r["path"]: r for r in lines if r["event"] == "HASH"}
    assert hashed["/m/0.pkl"]["verdict"] == "suspicious" and "SIGSEGV" in hashed["/m/0.pkl"]["verdict_detail"]
    assert hashed["/m/0.pkl"]["sha256"] == hashlib.sha256(b"CRASH").hexdigest()
    assert hashed["/m/1.pkl"]["verdict"] == "suspicious" and "timed out" in hashed["/m/1.pkl"]["verdict_detail"]
    assert hashed["/m/2.pkl"]["verdict"] == "clean"  # a fresh child took over
    assert {r["path"] for r in lines if r["event"] == "ALERT"} == {"/m/0.pkl", "/m/1.pkl"}
