"""packaging/yara/mlsleuth_models.yar: every rule fires on its positives and on no benign sample."""

from __future__ import annotations

import pytest
from fleet_paths import YARA_RULES

yara = pytest.importorskip("yara", reason="yara-python not installed (pip install 'mlsleuth[yara]')")


@pytest.fixture(scope="module")
def rules():
    # error_on_warning: a slow or ambiguous string would also trouble osquery's libyara.
    return yara.compile(filepath=str(YARA_RULES), error_on_warning=True)


def rule_names() -> set[str]:
    return {r.identifier for r in yara.compile(filepath=str(YARA_RULES))}


def test_each_sample_fires_exactly_its_rules(rules, model_samples):
    wrong = {}
    for s in model_samples:
        got = {m.rule for m in rules.match(str(s.path))}
        if got != s.rules:
            wrong[s.name] = {"expected": sorted(s.rules), "got": sorted(got)}
    assert not wrong


def test_every_rule_has_a_positive_and_benign_samples_exist(model_samples):
    covered = set().union(*(s.rules for s in model_samples))
    assert rule_names() == covered
    assert sum(1 for s in model_samples if not s.rules) >= 10


def test_rules_carry_metadata():
    for r in yara.compile(filepath=str(YARA_RULES)):
        assert r.meta.get("description"), r.identifier
        assert r.meta.get("severity") in {"malicious", "suspicious"}, r.identifier


def test_compressed_torch_zip_is_a_documented_blind_spot(rules, tmp_path):
    """Deflated members hide the opcode stream from byte rules; `mlsleuth scan` decompresses."""
    import os

    from fleet_samples import reduce_pickle, torch_zip

    p = tmp_path / "deflated.pt"
    p.write_bytes(torch_zip(reduce_pickle(os.system, "true", protocol=2), compress=True))
    assert not rules.match(str(p))
