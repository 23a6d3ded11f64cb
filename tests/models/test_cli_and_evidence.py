"""`mlsleuth scan` output formats and exit codes; evidence archives from `mlsleuth collect`."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

from click.testing import CliRunner
from mlsleuth.parsers.models import analysis_parts, scan_paths
from mlsleuth.parsers.models.cli import run_scan_cli
from model_helpers import no_markers

from mlsleuth.cli import main
from mlsleuth.fixturehost.formats import misc_files as M
from mlsleuth.fixturehost.formats import pickles as P
from mlsleuth.fixturehost.formats import torch_zip as Z


def _files(tmp_path: Path) -> tuple[Path, Path]:
    pk, st = P.benign_state_dict({"w": ("float32", (2, 2))})
    good = tmp_path / "good"
    good.mkdir()
    Z.write_torch_checkpoint(good / "model.pt", pk, st)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "evil.pkl").write_bytes(P.reduce_call("os", "system", (f"touch {tmp_path}/m/x",), 4))
    (tmp_path / "m").mkdir()
    return good, bad


def test_exit_codes(tmp_path):
    good, bad = _files(tmp_path)
    assert run_scan_cli([good], "json", tmp_path / "a.json") == 0
    assert run_scan_cli([good, bad], "json", tmp_path / "b.json") == 1
    assert run_scan_cli([tmp_path / "nope.pt"], "json", tmp_path / "c.json") == 2
    assert run_scan_cli([bad, tmp_path / "nope.pt"], "json", tmp_path / "d.json") == 1
    assert no_markers(tmp_path / "m") == []


def test_json_shape(tmp_path):
    good, bad = _files(tmp_path)
    out = tmp_path / "r.json"
    run_scan_cli([good, bad], "json", out)
    doc = json.loads(out.read_text())
    assert set(doc) == {"results", "summary"}
    for r in doc["results"]:
        assert set(r) == {"path", "format", "verdict", "findings"}
        for f in r["findings"]:
            assert set(f) == {"rule_id", "severity", "message", "location", "indicators"}
    paths = {r["path"]: r for r in doc["results"]}
    evil = paths[str(bad / "evil.pkl")]
    assert evil["verdict"] == "malicious" and evil["findings"][0]["severity"] == "critical"
    assert any("touch" in i for i in evil["findings"][0]["indicators"])
    assert doc["summary"]["verdicts"]["malicious"] == 1 and doc["summary"]["files"] == 2


def test_sarif(tmp_path):
    _, bad = _files(tmp_path)
    out = tmp_path / "r.sarif"
    run_scan_cli([bad], "sarif", out)
    doc = json.loads(out.read_text())
    assert doc["version"] == "2.1.0"
    run = doc["runs"][0]
    assert run["tool"]["driver"]["name"] == "mlsleuth"
    res = run["results"][0]
    assert res["level"] == "error" and res["ruleId"] == "pickle-dangerous-global"
    assert res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].endswith("evil.pkl")
    assert {r["id"] for r in run["tool"]["driver"]["rules"]} >= {"pickle-dangerous-global"}


def test_text_output_neutralises_control_characters(tmp_path):
    f = tmp_path / "x.pkl"
    f.write_bytes(P.reduce_call("os", "system", ("\x1b]0;owned\x07 id",), 4))
    res = CliRunner().invoke(main, ["scan", str(f)])
    assert res.exit_code == 1
    assert "\x1b" not in res.output and "MALICIOUS" in res.output and "\\x1b" in res.output


def test_cli_wiring(tmp_path):
    good, _ = _files(tmp_path)
    res = CliRunner().invoke(main, ["scan", "--format", "json", str(good)])
    assert res.exit_code == 0
    assert json.loads(res.output)["results"][0]["verdict"] == "clean"


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def test_evidence_archive_members_and_parts(tmp_path):
    marker = tmp_path / "markers"
    marker.mkdir()
    big = tmp_path / "big.pt"
    pk, st = P.benign_state_dict({"w": ("float32", (4, 4))})
    Z.write_torch_checkpoint(big, P.prepend_call(pk, "os", "system", (f"touch {marker}/ran",)), st)
    parts = analysis_parts(big)
    st_file = tmp_path / "w.safetensors"
    st_file.write_bytes(M.safetensors_bytes({"a": __import__("numpy").zeros(2, "float32")}))
    st_parts = analysis_parts(st_file)
    archive = tmp_path / "mlsleuth-host-20260101.tar.gz"
    rows = []
    with tarfile.open(archive, "w:gz") as tar:
        _add(tar, "host.json", b"{}")
        _add(tar, "fs/home/alice/.cache/evil.pkl", P.reduce_call("posix", "system", (f"touch {marker}/ran2",), 2))
        _add(tar, "fs/home/alice/notes.txt", b"hello\n")
        prow = {"path": "/data/models/big.pt", "action": "partial", "parts": []}
        for p in parts:
            member = f"parts/data/models/big.pt/{p.name}"
            _add(tar, member, p.read())
            prow["parts"].append({"name": p.name, "member": member})
        rows.append(prow)
        for p in st_parts:
            _add(tar, f"parts/data/models/w.safetensors/{p.name}", p.read())
        _add(tar, "manifest.jsonl", "\n".join(json.dumps(r) for r in rows).encode())
    results = {r.path: r for r in scan_paths([archive])}
    fs_evil = results[f"{archive}/fs/home/alice/.cache/evil.pkl"]
    assert fs_evil.verdict == "malicious" and fs_evil.host_path == "/home/alice/.cache/evil.pkl"
    assert results[f"{archive}/fs/home/alice/notes.txt"].verdict == "clean"
    big_res = results[f"{archive}/parts/data/models/big.pt"]
    assert big_res.verdict == "malicious" and big_res.host_path == "/data/models/big.pt"
    st_res = results[f"{archive}/parts/data/models/w.safetensors"]
    assert st_res.verdict == "clean" and st_res.format.startswith("safetensors")
    assert no_markers(marker) == []
