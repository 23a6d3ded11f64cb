"""Issue 2's end-to-end promise: `mlsleuth demo` builds the synthetic host, collects it, builds the
timeline, and the spreadsheet's Findings sheet shows the planted chain, step by step."""

from __future__ import annotations

import json

import openpyxl
import pytest
from click.testing import CliRunner

from mlsleuth.cli import main
from mlsleuth.fixturehost import build_host

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    res = CliRunner().invoke(main, ["demo", "--output", str(out)], prog_name="mlsleuth")
    assert res.exit_code == 0, res.output
    return out, res.output


def planted_chain(tmp_path_factory):
    return build_host(tmp_path_factory.mktemp("planted") / "h", "basic").to_dict()["chains"]


def test_demo_leaves_host_archive_and_every_timeline_output(demo):
    out, text = demo
    assert (out / "host" / "etc" / "hostname").is_file()
    archives = list(out.glob("*.tar.gz"))
    assert len(archives) == 1 and archives[0].with_name(archives[0].name + ".sha256").is_file()
    for name in ("timeline.csv", "timeline.xlsx", "timesketch.jsonl", "findings.json"):
        assert (out / "timeline" / name).stat().st_size > 0, name
    assert str(out / "timeline" / "timeline.xlsx") in text


def test_findings_sheet_shows_the_planted_chain(demo, tmp_path_factory):
    out, _ = demo
    (chain,) = planted_chain(tmp_path_factory)
    essential = [s for s in chain["steps"] if s.get("essential", True)]
    ws = openpyxl.load_workbook(out / "timeline" / "timeline.xlsx", read_only=True)["Findings"]
    rows = list(ws.iter_rows(values_only=True))
    header = rows[0]
    col = {name: header.index(name) for name in ("chain_or_rule", "kind", "path", "time")}
    chain_rows = [r for r in rows[1:] if str(r[col["chain_or_rule"]]).startswith("chain-")]
    paths = [r[col["path"]] for r in chain_rows]
    for step in essential:
        assert step["path"] in paths, (step, paths)
    # steps appear in time order: download, then the notebook load, then the authorized_keys write
    times = [r[col["time"]] for r in chain_rows]
    assert times == sorted(times)
    kinds = [r[col["kind"]] for r in chain_rows]
    assert kinds.index("load") < kinds.index("persistence")


def test_findings_json_links_exactly_one_chain_and_no_decoy(demo, tmp_path_factory):
    out, _ = demo
    findings = json.loads((out / "timeline" / "findings.json").read_text())
    assert len(findings["chains"]) == 1
    build = build_host(tmp_path_factory.mktemp("decoys") / "h", "basic").to_dict()
    step_paths = {s["path"] for s in findings["chains"][0]["steps"]}
    assert build["decoys"]
    for decoy in build["decoys"]:
        assert not step_paths & set(decoy["paths"]), decoy
