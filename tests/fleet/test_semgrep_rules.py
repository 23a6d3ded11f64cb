"""packaging/semgrep/mlsleuth.yaml with the semgrep CLI: every rule fires on its positives, none on
benign code; notebooks are scanned through packaging/semgrep/notebook_to_py.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fleet_paths import PACKAGING
from semgrep_cases import write_notebooks, write_remote_code

RULES = PACKAGING / "semgrep" / "mlsleuth.yaml"
CONVERTER = PACKAGING / "semgrep" / "notebook_to_py.py"


# No version check or metrics: both reach the network, which CI and responders' boxes may lack.
SEMGREP_ENV = dict(os.environ, SEMGREP_ENABLE_VERSION_CHECK="0", SEMGREP_SEND_METRICS="off")


def _semgrep() -> tuple[str | None, str]:
    """A semgrep CLI that runs: $SEMGREP_BIN, then PATH, then beside this Python. Semgrep pins
    its own dependencies tightly (opentelemetry), so it is best installed in a venv of its own
    (pipx) and found on PATH or through SEMGREP_BIN."""
    candidates = [os.environ.get("SEMGREP_BIN"), shutil.which("semgrep"),
                  str(Path(sys.executable).with_name("semgrep"))]
    why = "semgrep CLI not installed (pipx install semgrep, or pip install 'mlsleuth[semgrep]')"
    for cand in filter(None, candidates):
        if not Path(cand).exists():
            continue
        try:
            proc = subprocess.run([cand, "--version"], capture_output=True, text=True, timeout=120, check=False,
                                  env=SEMGREP_ENV)
        except (OSError, subprocess.TimeoutExpired) as exc:
            why = f"{cand} does not run: {exc}"
            continue
        if proc.returncode == 0:
            return cand, ""
        why = f"{cand} is installed but broken: {(proc.stderr.strip().splitlines() or ['?'])[-1][:200]}"
    return None, why


SEMGREP, WHY_NO_SEMGREP = _semgrep()
needs_semgrep = pytest.mark.skipif(SEMGREP is None, reason=WHY_NO_SEMGREP)


def run_semgrep(target: Path) -> dict[Path, set[str]]:
    proc = subprocess.run(
        [SEMGREP, "scan", "--metrics=off", "--disable-version-check", "--no-git-ignore", "--json",
         "--config", str(RULES), str(target)],
        capture_output=True, text=True, env=SEMGREP_ENV, timeout=300, check=False)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert not report["errors"], report["errors"]
    hits: dict[Path, set[str]] = {}
    for r in report["results"]:
        hits.setdefault(Path(r["path"]).resolve(), set()).add(r["check_id"].rsplit(".", 1)[-1])
    return hits


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    root = tmp_path_factory.mktemp("semgrep")
    expected = write_remote_code(root / "code")
    notebooks = write_notebooks(root / "notebooks")
    out = root / "code" / "notebooks"
    proc = subprocess.run([sys.executable, str(CONVERTER), str(root / "notebooks"), "--out", str(out)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    for nb, rules in notebooks.items():
        expected[out / (nb.name + ".py")] = rules
    return expected, run_semgrep(root / "code")


@needs_semgrep
def test_each_file_fires_exactly_its_rules(scanned):
    expected, hits = scanned
    wrong = {p.name: {"expected": sorted(rules), "got": sorted(hits.get(p.resolve(), set()))}
             for p, rules in expected.items() if hits.get(p.resolve(), set()) != rules}
    assert not wrong


@needs_semgrep
def test_every_rule_has_a_positive_and_there_are_benign_files(scanned):
    import yaml

    expected, _ = scanned
    ids = {r["id"] for r in yaml.safe_load(RULES.read_text())["rules"]}
    assert ids == set().union(*expected.values())
    assert sum(1 for rules in expected.values() if not rules) >= 3


def test_converter_keeps_cells_and_turns_ipython_syntax_into_calls(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("notebook_to_py", CONVERTER)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    nbs = write_notebooks(tmp_path / "nb")
    text = mod.notebook_source(tmp_path / "nb" / "curl_pipe.ipynb")
    assert "# cell 2 (execution_count 2)" in text
    assert "get_ipython().system(" in text and "curl -fsSL" in text
    bash = mod.notebook_source(tmp_path / "nb" / "bash_revshell.ipynb")
    assert "run_cell_magic('bash'" in bash
    # the stdlib fallback (no IPython on the responder box) gives the same calls
    assert "get_ipython().system('curl" in mod._fallback_transform("!curl x | sh")
    assert mod._fallback_transform("%%bash\nid\n").startswith("get_ipython().run_cell_magic('bash', ''")
    assert "getoutput('ls')" in mod._fallback_transform("files = !ls")
    assert len(nbs) >= 5


def test_converter_reports_broken_notebooks_and_goes_on(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "broken.ipynb").write_text('{"cells": [')
    write_notebooks(src)
    proc = subprocess.run([sys.executable, str(CONVERTER), str(src), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 1
    assert "broken.ipynb" in proc.stderr
    assert (tmp_path / "out" / "curl_pipe.ipynb.py").is_file()
