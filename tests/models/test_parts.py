"""analysis_parts: what the collector keeps from large files, and that its cost follows the pickle."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from mlsleuth.parsers.models import analysis_parts, inspect_file, inspect_parts

from mlsleuth.fixturehost.formats import misc_files as M
from mlsleuth.fixturehost.formats import pickles as P
from mlsleuth.fixturehost.formats import torch_legacy as L
from mlsleuth.fixturehost.formats import torch_zip as Z


def _sparse_checkpoint(path: Path, size: int, evil: bool = False) -> Path:
    pk, _ = P.benign_state_dict({"embed.weight": P.TensorSpec("float32", (size // 4,))})
    if evil:
        pk = P.prepend_call(pk, "os", "system", ("id",))
    Z.write_torch_checkpoint(path, pk, {"0": size})
    return path


def test_multi_gb_checkpoint_costs_what_its_pickle_costs(tmp_path):
    big = _sparse_checkpoint(tmp_path / "big.pt", 3 << 30, evil=True)
    tiny = _sparse_checkpoint(tmp_path / "tiny.pt", 4096, evil=True)
    assert big.stat().st_size > 3 << 30
    timings = {}
    for p in (tiny, big, tiny, big):
        t = time.process_time()
        r = inspect_file(p)
        parts = analysis_parts(p)
        timings.setdefault(p.name, []).append(time.process_time() - t)
        assert r.verdict == "malicious"
        assert [x.name for x in parts] == ["archive/data.pkl"] and parts[0].size < 2000
    assert min(timings["big.pt"]) < 20 * max(min(timings["tiny.pt"]), 1e-3)
    data = {p.name: p.read() for p in analysis_parts(big)}
    assert inspect_parts(data, "big.pt#parts").verdict == "malicious"


def test_parts_of_every_large_format(tmp_path):
    st = tmp_path / "w.safetensors"
    st.write_bytes(M.safetensors_bytes({"a": np.zeros((64, 64), "float32")}))
    [p] = analysis_parts(st)
    assert p.name == "header.json" and p.offset == 8 and p.size < 200
    legacy = tmp_path / "legacy.pt"
    main, storages = L.legacy_state_dict({"w": P.TensorSpec("float32", (1000,))})
    legacy.write_bytes(L.legacy_magic_bytes(main, storages))
    [p] = analysis_parts(legacy)
    assert p.name == "pickle" and p.size < 1000 and p.read().startswith(b"\x80\x02")
    tar = tmp_path / "legacy.tar"
    tar.write_bytes(L.legacy_tar_bytes(P.reduce_call("os", "system", ("id",), 2),
                                       {"0": ("FloatStorage", b"\0" * 4096)}))
    parts = {p.name: p.read() for p in analysis_parts(tar)}
    assert set(parts) == {"sys_info", "pickle", "storages.pickles", "tensors"}
    assert len(parts["storages.pickles"]) < 200  # header pickles only, not the 4 KiB of data
    assert inspect_parts(parts, "legacy.tar#parts").verdict == "malicious"
    npy = tmp_path / "a.npy"
    np.save(npy, np.zeros((100, 100)))
    [p] = analysis_parts(npy)
    assert p.name == "npy-header" and p.size == 128
    assert analysis_parts(tmp_path / "a.npy")[0].read().startswith(b"\x93NUMPY")


def test_unknown_files_have_no_parts(tmp_path):
    f = tmp_path / "x.bin"
    f.write_bytes(bytes(range(256)))
    assert analysis_parts(f) == []
