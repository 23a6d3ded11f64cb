"""Hit rate of the YARA and Semgrep rules on the project's model corpus
(mlsleuth.fixturehost.formats.corpus): no benign sample may be hit; the detection counts are
the floor docs/rules.md reports (a rule change that loses detections fails here).

    pytest tests/fleet/test_rule_hit_rate.py -q -s    # prints the table for docs/rules.md
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from fleet_paths import PACKAGING, YARA_RULES
from test_semgrep_rules import SEMGREP, WHY_NO_SEMGREP, run_semgrep

corpus_mod = pytest.importorskip("mlsleuth.fixturehost.formats.corpus", reason="model corpus not available")

CODE_SUFFIXES = (".py", ".ipynb")
# Detections on the corpus when docs/rules.md was written (model files for YARA, code for Semgrep).
YARA_FLOOR = 60
SEMGREP_FLOOR = 6


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    base = tmp_path_factory.mktemp("corpus")
    samples = corpus_mod.build_corpus(base / "c", base / "markers")
    yield base / "c", [s for s in samples if (base / "c" / s.name).is_file()]
    assert not any((base / "markers").glob("*")) if (base / "markers").exists() else True


def _table(counts: Counter, title: str) -> str:
    lines = [title]
    for expect in ("malicious", "suspicious", "flagged", "clean"):
        hit, total = counts[(expect, True)], counts[(expect, True)] + counts[(expect, False)]
        if total:
            lines.append(f"  {expect:<10} {hit:>3}/{total:<3} hit")
    return "\n".join(lines)


def test_yara_hit_rate_on_model_corpus(corpus):
    yara = pytest.importorskip("yara", reason="yara-python not installed")
    root, samples = corpus
    rules = yara.compile(filepath=str(YARA_RULES))
    counts: Counter = Counter()
    false_positives = []
    for s in samples:
        if s.name.endswith(CODE_SUFFIXES) or s.name.startswith("remote/"):
            continue
        hit = bool(rules.match(str(root / s.name)))
        counts[(s.expect, hit)] += 1
        if hit and s.benign:
            false_positives.append(s.name)
    print("\n" + _table(counts, "YARA on model files"))
    assert not false_positives
    assert sum(v for (e, h), v in counts.items() if h and e != "clean") >= YARA_FLOOR


@pytest.mark.skipif(SEMGREP is None, reason=WHY_NO_SEMGREP)
def test_semgrep_hit_rate_on_code_corpus(corpus, tmp_path):
    root, samples = corpus
    code = [s for s in samples if s.name.endswith(CODE_SUFFIXES)]
    target = tmp_path / "code"
    target.mkdir()
    expected = {}
    for s in code:
        src = root / s.name
        if s.name.endswith(".ipynb"):
            out = target / (s.name.replace("/", "__") + ".py")
            subprocess.run([sys.executable, str(PACKAGING / "semgrep" / "notebook_to_py.py"), str(src), "--out",
                            str(target)], check=True, capture_output=True)
            out = target / (Path(s.name).name + ".py")
        else:
            out = target / s.name.replace("/", "__")
            out.write_bytes(src.read_bytes())
        expected[out.resolve()] = s
    hits = run_semgrep(target)
    counts: Counter = Counter()
    false_positives = []
    for path, s in expected.items():
        hit = bool(hits.get(path))
        counts[(s.expect, hit)] += 1
        if hit and s.benign:
            false_positives.append(s.name)
    print("\n" + _table(counts, "Semgrep on remote code and notebooks"))
    assert not false_positives
    assert sum(v for (e, h), v in counts.items() if h and e != "clean") >= SEMGREP_FLOOR
