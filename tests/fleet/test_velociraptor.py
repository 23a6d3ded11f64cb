"""packaging/velociraptor artifacts: Velociraptor's artifact conventions, and the exact mlsleuth
command lines their VQL builds, run for real against the fixture host (Velociraptor itself is not
run here: docs/fleet.md says so)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from fleet_paths import PACKAGING

ARTIFACTS = sorted((PACKAGING / "velociraptor").glob("*.yaml"))
NAME = re.compile(r"^(Linux|Windows|Generic|Server|MacOS|Custom)(\.[A-Z][A-Za-z0-9]*)+$")
PARAM_TYPES = {"string", "int", "int64", "bool", "csv", "json", "json_array", "choices", "timestamp", "regex",
               "yara", "upload", "upload_file", "artifactset", "hidden", "server_metadata", "redacted",
               "multichoice", "float", "starlark", "xml", "yaml"}
KNOWN_KEYS = {"name", "author", "description", "type", "required_permissions", "implied_permissions",
              "precondition", "tools", "parameters", "sources", "reference", "resources", "export", "imports",
              "column_types", "aliases"}


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def vql(art: dict) -> str:
    return "\n".join(s["query"] for s in art["sources"])


def test_two_artifacts_exist():
    assert {p.stem for p in ARTIFACTS} == {"Linux.MLSleuth.Collect", "Linux.MLSleuth.ScanCaches"}


@pytest.mark.parametrize("path", ARTIFACTS, ids=lambda p: p.stem)
def test_artifact_follows_velociraptor_conventions(path):
    art = load(path)
    assert set(art) <= KNOWN_KEYS, set(art) - KNOWN_KEYS
    assert art["name"] == path.stem and NAME.match(art["name"])
    assert art["type"] == "CLIENT" and len(art["description"].strip()) > 80
    assert "linux" in art["precondition"]
    names = set()
    for p in art["parameters"]:
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]*", p["name"]) and p.get("description"), p
        assert p.get("type", "string") in PARAM_TYPES
        if p.get("type") == "bool":
            assert p["default"] in ("Y", "N")
        if p.get("type") == "int":
            assert str(p["default"]).isdigit()
        names.add(p["name"])
    text = vql(art)
    for n in names:
        assert re.search(rf"\b{n}\b", text), f"parameter {n} unused"
    tools = {t["name"] for t in art["tools"]}
    assert set(re.findall(r'FetchBinary\(ToolName="([^"]+)"', text)) == tools
    if "execve(" in text:
        assert "EXECVE" in art["required_permissions"]
    for s in art["sources"]:
        q = s["query"]
        assert not q.rstrip().endswith(";"), "VQL has no statement terminators"
        for o, c in ("()", "[]", "{}"):
            assert q.count(o) == q.count(c), f"unbalanced {o}{c}"
        assert re.search(r"^\s*SELECT\b", q, re.MULTILINE), "a source must end in a SELECT"
        for line in q.splitlines():
            if line.strip().startswith("LET "):
                assert re.match(r"\s*LET [A-Za-z]\w* (<?=)", line), line


def argv_of(art: dict, values: dict[str, str]) -> list[str]:
    """The execve argv the VQL builds, with VQL names replaced by the given values."""
    m = re.search(r"execve\(argv=\[(.*?)\]", vql(art), re.DOTALL)
    out: list[str] = []
    for tok in re.findall(r'"[^"]*"|str\(str=\w+\)|\w+', m.group(1)):
        if tok.startswith('"'):
            out.append(tok[1:-1])
        else:
            name = re.sub(r"^str\(str=(\w+)\)$", r"\1", tok)
            value = values[name]
            out.extend(value if isinstance(value, list) else [str(value)])
    return out


def cli_options(command: str) -> set[str]:
    from mlsleuth.cli import main

    return {opt for p in main.commands[command].params for opt in getattr(p, "opts", [])}


@pytest.mark.parametrize("path", ARTIFACTS, ids=lambda p: p.stem)
def test_vql_uses_only_real_mlsleuth_options(path):
    art = load(path)
    params = {p["name"]: p.get("default", "") for p in art["parameters"]}
    argv = argv_of(art, {**params, "OSPath": "BIN", "Bin": "BIN", "ArchivePath": "A", "LiveFlag": "--no-live"})
    command = argv[1]
    assert argv[0] == "BIN" and command in ("collect", "scan")
    used = {a for a in argv if a.startswith("--")}
    assert used <= cli_options(command), used - cli_options(command)


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    from mlsleuth.fixturehost import build_host

    root = tmp_path_factory.mktemp("vr") / "host"
    return root, build_host(root, "basic")


MLSLEUTH = [sys.executable, "-m", "mlsleuth"]


def test_collect_command_line_writes_the_archives_it_uploads(host, tmp_path):
    root, _ = host
    art = load(PACKAGING / "velociraptor" / "Linux.MLSleuth.Collect.yaml")
    params = {p["name"]: p.get("default", "") for p in art["parameters"]}
    archive = tmp_path / "mlsleuth-test.tar.gz"
    argv = argv_of(art, {**params, "OSPath": MLSLEUTH, "Root": str(root), "ArchivePath": str(archive),
                         "Case": "IR-42", "LiveFlag": "--no-live"})
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)  # parse_json(data=Stdout) AS Summary
    assert summary["archive"] == str(archive)
    # what the VQL uploads: ArchivePath and ArchivePath + ".sha256"
    assert archive.is_file() and Path(str(archive) + ".sha256").is_file()


def test_scan_output_has_the_fields_the_vql_reads(host):
    root, planted = host
    art = load(PACKAGING / "velociraptor" / "Linux.MLSleuth.ScanCaches.yaml")
    cache = root / "home/alice/.cache/huggingface/hub"
    argv = argv_of(art, {"Bin": MLSLEUTH, "OSPath": str(cache)})
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert proc.returncode in (0, 1), proc.stderr  # 1: something flagged
    results = json.loads(proc.stdout)["results"]  # parse_json(data=Stdout).results
    rows = [{"Path": r["path"], "Format": r["format"], "Verdict": r["verdict"],
             "Rules": [f["rule_id"] for f in r["findings"]], "Severities": [f["severity"] for f in r["findings"]],
             "Messages": [f["message"] for f in r["findings"]]} for r in results]
    flagged = [r for r in rows if re.match(r"^(malicious|suspicious|unsupported)$", r["Verdict"])]
    evil = next(f.blob for r in planted.repos for f in r.files if f.path == "pytorch_model.bin")
    assert any(r["Path"].endswith(evil) and r["Verdict"] == "malicious" for r in flagged)
    assert not any("bert-base-uncased" in r["Path"] and r["Verdict"] == "malicious" for r in rows)


def test_default_cache_globs_cover_the_caches_the_collector_knows():
    art = load(PACKAGING / "velociraptor" / "Linux.MLSleuth.ScanCaches.yaml")
    default = next(p["default"] for p in art["parameters"] if p["name"] == "CacheGlobs")
    lines = default.strip().splitlines()
    assert lines[0] == "Glob"
    for needle in (".cache/huggingface/hub", ".cache/huggingface/modules", ".cache/torch/hub", ".keras/models",
                   ".ollama/models/blobs"):
        assert any(needle in g for g in lines[1:]), needle
