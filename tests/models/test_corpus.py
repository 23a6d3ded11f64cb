"""The corpus contract: every malicious sample flagged, no benign one flagged, nothing ever runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlsleuth.parsers.models import analysis_parts, inspect_file, inspect_parts, scan_paths
from mlsleuth.parsers.models.result import FLAGGED as FLAGGED_VERDICTS
from model_helpers import no_markers

from mlsleuth.fixturehost.formats.corpus import CLEAN, FLAGGED, MALICIOUS, SUSPICIOUS


def _ids(samples):
    return [s.name for s in samples]


def test_corpus_is_broad(corpus):
    _, _, samples = corpus
    formats = {s.name.split("/")[0] for s in samples}
    assert {"pickle", "torch", "joblib", "numpy", "keras", "gguf", "safetensors", "onnx", "remote",
            "benign", "hf"} <= formats
    bad = [s for s in samples if not s.benign]
    assert len(bad) >= 60
    assert all(s.source and s.technique for s in samples)
    cves = {c for s in bad for c in s.source.replace(",", " ").replace(";", " ").split() if c.startswith("CVE-")}
    for needed in ("CVE-2025-32434", "CVE-2024-3660", "CVE-2025-1550", "CVE-2024-34359", "CVE-2025-1716"):
        assert needed in cves, needed
    assert any("nullifAI" in s.source for s in bad)


def test_every_sample_classified(corpus):
    root, markers, samples = corpus
    wrong = []
    for s in samples:
        r = inspect_file(root / s.name)
        if s.expect == CLEAN:
            ok = r.verdict == "clean"
        elif s.expect == FLAGGED:
            ok = r.verdict in FLAGGED_VERDICTS
        elif s.expect == SUSPICIOUS:
            ok = r.verdict in ("suspicious", "malicious")
        else:
            assert s.expect == MALICIOUS
            ok = r.verdict == "malicious"
        if not ok:
            wrong.append((s.name, s.expect, r.verdict, [f.rule_id for f in r.findings]))
    assert not wrong
    assert no_markers(markers) == []


def test_malicious_findings_carry_indicators(corpus):
    root, _, samples = corpus
    for s in samples:
        if s.expect != MALICIOUS or not s.name.startswith(("pickle/os_system", "torch/injected", "joblib/")):
            continue
        r = inspect_file(root / s.name)
        inds = [i for f in r.findings for i in f.indicators]
        assert any(".marker" in i for i in inds), (s.name, inds)


def test_directory_scan_matches_per_file(corpus):
    root, markers, samples = corpus
    by_path = {r.path: r for r in scan_paths([root])}
    for s in samples:
        assert str(root / s.name) in by_path, s.name
    assert no_markers(markers) == []


def test_collector_parts_path_keeps_verdicts(corpus):
    """analysis_parts + inspect_parts (what the collector keeps for large files) flags the same."""
    root, markers, samples = corpus
    checked = 0
    for s in samples:
        path = root / s.name
        parts = analysis_parts(path)
        if not parts:
            continue
        data = {p.name: p.read() for p in parts}
        r = inspect_parts(data, f"{path}#parts")
        checked += 1
        if s.benign:
            assert r.verdict == "clean", (s.name, [f.message for f in r.findings])
        elif s.name.startswith(("torch/injected", "torch/model.", "torch/legacy", "gguf/ssti", "keras/",
                                "torch/torchscript")) and not s.name.endswith(".pb"):
            assert r.verdict in FLAGGED_VERDICTS, (s.name, r.verdict, list(data))
    assert checked > 30
    assert no_markers(markers) == []


def test_parts_are_small_pieces(corpus):
    root, _, _ = corpus
    parts = analysis_parts(root / "benign/torch/linear_state_dict.pt")
    assert [p.name for p in parts] == ["archive/data.pkl"]
    assert parts[0].read()[:2] == b"\x80\x02"
    st = analysis_parts(root / "benign/safetensors/model.safetensors")
    assert st[0].name == "header.json" and json.loads(st[0].read())["__metadata__"] == {"format": "pt"}
    gg = analysis_parts(root / "benign/gguf/tiny-chatml.gguf")
    assert gg[0].name == "gguf-header.bin" and gg[0].size < (root / "benign/gguf/tiny-chatml.gguf").stat().st_size
    h5 = analysis_parts(root / "benign/keras/dense.h5")
    assert [p.name for p in h5] == ["model_config.json", "training_config.json"]
    assert json.loads(h5[0].read())["class_name"] == "Sequential"
    ks = analysis_parts(root / "benign/keras/dense.keras")
    assert sorted(p.name for p in ks) == ["config.json", "metadata.json"]
    ts = analysis_parts(root / "torch/torchscript_from_file.pt")
    assert "archive/code/__torch__.py" in [p.name for p in ts]


@pytest.mark.parametrize("name", ["torch/injected_state_dict.pt", "benign/torch/adam_optimizer.pt"])
def test_inspect_file_display_path(corpus, name):
    root, _, _ = corpus
    r = inspect_file(root / name, display_path="/home/alice/x.pt")
    assert r.path == "/home/alice/x.pt"
    assert set(r.to_dict()) == {"path", "format", "verdict", "findings"}
    json.dumps(r.to_dict())


def test_samples_exist(corpus):
    root, _, samples = corpus
    assert all((root / s.name).is_file() for s in samples), [s.name for s in samples if not (root / s.name).is_file()]
    assert len({s.name for s in samples}) == len(samples)
    assert all(Path(s.name).parts[0] != "_markers" for s in samples)
