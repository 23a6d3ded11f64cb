"""Hostile and broken input: bounded time and memory, a clear finding or error, never silently clean."""

from __future__ import annotations

import io
import os
import resource
import struct
import time
import zipfile
from pathlib import Path

import pytest
from mlsleuth.parsers.models import inspect_bytes, inspect_file, scan_paths
from model_helpers import no_markers

from mlsleuth.fixturehost.formats import pickles as P


def timed(data: bytes, name: str):
    t = time.perf_counter()
    r = inspect_bytes(data, name)
    return r, time.perf_counter() - t


def test_zip_bomb_is_flagged_without_inflating_it():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("weights.bin", b"\0" * (64 << 20))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    r, dt = timed(buf.getvalue(), "bomb.zip")
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert r.verdict == "suspicious" and any("zip bomb" in f.message for f in r.findings)
    assert grown_mb < 64 and dt < 5


def test_gzip_bomb_is_bounded():
    import gzip

    data = gzip.compress(b"\0" * (48 << 20), compresslevel=1)
    r, dt = timed(data, "x.pkl.gz")
    assert r.verdict != "clean" and dt < 20


def test_recursive_archives_stop_at_the_depth_limit():
    data = P.dumps([1], 2)
    for i in range(10):
        b = io.BytesIO()
        with zipfile.ZipFile(b, "w") as z:
            z.writestr("x.pkl" if i == 0 else f"level{i}.zip", data)
        data = b.getvalue()
    r, dt = timed(data, "nested.zip")
    assert r.verdict == "suspicious" and "archive-depth-limit" in {f.rule_id for f in r.findings} and dt < 5


def test_member_repeating_its_container_is_not_expanded():
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        z.writestr("a.txt", "x")
    blob = inner.getvalue()
    outer = io.BytesIO()
    with zipfile.ZipFile(outer, "w") as z:
        z.writestr("same.zip", blob)
        z.writestr("again/same.zip", blob)
    r = inspect_bytes(outer.getvalue(), "o.zip")
    assert r.verdict == "clean"


@pytest.mark.parametrize("payload,reason", [
    (b"\x80\x02" + b"(" * 400_000 + b".", "MARK nesting"),
    (b"\x80\x02" + b"]" * 600_000 + b".", "stack too deep"),
    (b"\x80\x02N" + b"".join(b"r" + struct.pack("<I", i) for i in range(1_100_000)) + b".", "memo limit"),
])
def test_pickle_explosions_are_bounded(payload, reason):
    r, dt = timed(payload, "x.pkl")
    assert r.verdict == "suspicious" and any(reason in f.message for f in r.findings) and dt < 30


def test_huge_length_fields():
    for data, name in [
        (struct.pack("<Q", 2**63) + b"{}", "x.safetensors"),
        (b"GGUF" + struct.pack("<IQQ", 3, 2**60, 2**60), "x.gguf"),
        (b"\x80\x04\x8d" + struct.pack("<Q", 2**62) + b"abc", "x.pkl"),
        (b"\x93NUMPY\x02\x00" + struct.pack("<I", 2**31) + b"{", "x.npy"),
        (b"PK\x05\x06" + b"\0" * 6 + b"\xff\xff" + b"\xff\xff\xff\xff" * 2 + b"\0\0", "x.zip"),
    ]:
        r, dt = timed(data, name)
        assert r.verdict in ("suspicious", "malicious"), (name, r.verdict, r.findings)
        assert dt < 2


def test_truncated_files_are_never_silently_clean(corpus):
    root, markers, samples = corpus
    for s in samples:
        if not s.benign or s.name.endswith((".md", ".py", ".json", ".ipynb")):
            continue
        data = (root / s.name).read_bytes()
        for frac in (0.4, 0.95):
            r = inspect_bytes(data[: int(len(data) * frac)], Path(s.name).name)
            assert r.verdict != "clean", (s.name, frac, r.format, [f.rule_id for f in r.findings])
    assert no_markers(markers) == []


def test_unreadable_and_special_files(tmp_path):
    fifo = tmp_path / "pipe.pt"
    os.mkfifo(fifo)
    missing = tmp_path / "missing.pt"
    results = {Path(r.path).name: r for r in scan_paths([fifo, missing])}
    assert results["pipe.pt"].verdict == "unsupported"  # listed, never opened (would block)
    assert results["missing.pt"].verdict == "error"
    locked = tmp_path / "locked.pkl"
    locked.write_bytes(P.dumps([1], 2))
    locked.chmod(0)
    try:
        r = inspect_file(locked)
        assert r.verdict in ("error", "clean")  # root can still read it
    finally:
        locked.chmod(0o644)


def test_symlinks_out_of_the_tree_are_not_followed(tmp_path):
    outside = tmp_path / "outside.pkl"
    outside.write_bytes(P.reduce_call("os", "system", ("id",), 2))
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "link.pkl").symlink_to(outside)
    (tree / "ok.pkl").write_bytes(P.dumps({"a": 1}, 2))
    (tree / "inside.pkl").symlink_to(tree / "ok.pkl")
    results = {Path(r.path).name: r for r in scan_paths([tree])}
    assert results["link.pkl"].format == "symlink" and results["link.pkl"].verdict == "unsupported"
    assert results["ok.pkl"].verdict == "clean"
    assert "inside.pkl" not in results or results["inside.pkl"].verdict == "clean"


def test_atime_untouched_when_permitted(tmp_path):
    f = tmp_path / "m.pkl"
    f.write_bytes(P.dumps({"a": 1}, 2))
    os.utime(f, (1_000_000_000, 1_000_000_000))
    inspect_file(f)
    assert f.stat().st_atime == 1_000_000_000
