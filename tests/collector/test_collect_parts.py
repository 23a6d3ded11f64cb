"""Large files: hashed, with the analysable parts the model inspector extracts kept under parts/."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest
from collector_helpers import run_collect, write
from mlsleuth.collector import parts
from mlsleuth.collector.verify import verify

from mlsleuth.fixturehost.payloads import malicious_checkpoint, safetensors_bytes

LIMIT = 4096


def _model(host: Path, name: str, data: bytes) -> str:
    path = f"/home/alice/models/{name}"
    write(host, path, data)
    return path


def test_no_extractor_means_hash_only(host: Path, out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _model(host, "big.pt", os.urandom(LIMIT * 4))
    monkeypatch.setattr(parts, "_extractor", lambda: None)
    _, a = run_collect(host, out, max_copy_size=LIMIT)
    row = a.row(path)
    assert row["action"] == "hashed" and "no part extractor" in row["reason"] and row["member"] is None
    assert row["sha256"] == hashlib.sha256((host / path.lstrip("/")).read_bytes()).hexdigest()


def test_file_object_extractor(host: Path, out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = os.urandom(LIMIT * 4)
    path = _model(host, "big.bin", data)
    seen = {}

    def fake(fh: io.BufferedReader):
        seen["pos"] = fh.tell()
        return [("archive/data.pkl", fh.read(100)), ("header.json", b"{}")]

    monkeypatch.setattr(parts, "_extractor", lambda: fake)
    result, a = run_collect(host, out, max_copy_size=LIMIT)
    row = a.row(path)
    assert row["action"] == "partial" and seen["pos"] == 0
    names = {p["name"]: p for p in row["parts"]}
    assert set(names) == {"archive/data.pkl", "header.json"}
    member = names["archive/data.pkl"]["member"]
    assert member == "parts/home/alice/models/big.bin/archive/data.pkl"
    assert a.data[member] == data[:100] and names["archive/data.pkl"]["sha256"] == hashlib.sha256(data[:100]).hexdigest()
    assert verify(result.archive).code == 0


def test_extractor_failure_keeps_the_hash(host: Path, out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _model(host, "bad.h5", os.urandom(LIMIT * 2))

    def broken(path: Path):
        raise ValueError("malformed")

    monkeypatch.setattr(parts, "_extractor", lambda: broken)
    _, a = run_collect(host, out, max_copy_size=LIMIT)
    row = a.row(path)
    assert row["action"] == "hashed" and "part extraction failed" in row["reason"] and row["sha256"]
    assert a.events("part_extraction_failed")


def test_oversized_part_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(parts, "PART_MAX", 10)
    assert parts._spool(b"x" * 11, tmp_path) is None
    assert parts._spool(b"x" * 10, tmp_path).size == 10


def test_real_extractor_keeps_torch_pickle_and_safetensors_header(host: Path, out: Path) -> None:
    if parts._extractor() is None:
        pytest.skip("mlsleuth.parsers.models.analysis_parts not available")
    ckpt = malicious_checkpoint()
    pt = _model(host, "pytorch_model.bin", ckpt)
    st_data = safetensors_bytes({"w": (64, 64)})
    st = _model(host, "model.safetensors", st_data)
    result, a = run_collect(host, out, max_copy_size=1024)
    row = a.row(pt)
    assert row["action"] == "partial", row
    pkl = [p for p in row["parts"] if p["name"].endswith("data.pkl")]
    assert pkl and b"posix" in a.data[pkl[0]["member"]]
    hdr = a.row(st)
    assert hdr["action"] == "partial" and any(p["name"] == "header.json" for p in hdr["parts"])
    assert verify(result.archive).code == 0
