"""osqueryd result logs (filesystem logger) from several hosts feed the timeline with host names.

The lines are what osqueryd writes for the pack's queries (``pack_<pack>_<query>`` names,
differential ``columns``/``action`` lines and ``snapshot`` lines) and for the extension's
ml_models table; they go through ``mlsleuth.parsers.parse_input`` like any timeline input.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

parsers = pytest.importorskip("mlsleuth.parsers")
if not hasattr(parsers, "parse_input"):
    pytest.skip("mlsleuth.parsers.parse_input not available", allow_module_level=True)

SHA_EVIL = "07a564a7d0" + "0" * 54
SHA_BERT = "d73df6709f" + "1" * 54
PACK = "pack_mlsleuth-ml-hunt_"


def _line(host: str, name: str, when: datetime, **body) -> str:
    record = {"name": name, "hostIdentifier": host,
              "calendarTime": when.strftime("%a %b %d %H:%M:%S %Y UTC"), "unixTime": int(when.timestamp()),
              "epoch": 0, "counter": 0, "numerics": False,
              "decorations": {"host_uuid": f"uuid-{host}", "username": "root"}, **body}
    return json.dumps(record)


def hash_row(user: str, path: str, sha: str, cache: str = "huggingface") -> dict:
    return {"cache": cache, "username": user, "path": path, "size": "2048", "mtime": "1794302049", "sha256": sha}


@pytest.fixture()
def logs(tmp_path):
    t1 = datetime(2026, 11, 10, 9, 15, tzinfo=UTC)
    t2 = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
    evil = "/home/{u}/.cache/huggingface/hub/models--meta-1lama--Llama-3.2-1B-Instruct/blobs/" + SHA_EVIL
    files = {}
    files["ml-ws-01"] = [
        _line("ml-ws-01", PACK + "hf_cache_snapshots", t1, action="added", columns={
            "username": "alice", "model_repo": "models/meta-1lama/Llama-3.2-1B-Instruct",
            "revision": "c1ce190d" + "0" * 32, "repo_file": "pytorch_model.bin", "blob_id": SHA_EVIL,
            "size": "2048", "mtime": "1794302049",
            "path": "/home/alice/.cache/huggingface/hub/models--meta-1lama--Llama-3.2-1B-Instruct/snapshots/x/pytorch_model.bin"}),
        _line("ml-ws-01", PACK + "model_file_hashes", t2, action="snapshot", snapshot=[
            hash_row("alice", evil.format(u="alice"), SHA_EVIL),
            hash_row("alice", "/home/alice/.cache/huggingface/hub/models--google-bert--bert-base-uncased/blobs/" + SHA_BERT,
                     SHA_BERT)]),
    ]
    files["gpu-node-07"] = [
        _line("gpu-node-07", PACK + "model_file_hashes", t2, action="snapshot",
              snapshot=[hash_row("svc-train", evil.format(u="svc-train"), SHA_EVIL)]),
        _line("gpu-node-07", "ml_findings", t2, action="added", columns={
            "path": evil.format(u="svc-train"), "user": "svc-train", "table_name": "ml_models",
            "model_repo": "models/meta-1lama/Llama-3.2-1B-Instruct", "revision": "c1ce190d" + "0" * 32,
            "sha256": SHA_EVIL, "verdict": "malicious", "rule": "pickle-dangerous-global", "severity": "critical",
            "detail": "imports posix.system"}),
    ]
    files["laptop-22"] = [
        _line("laptop-22", PACK + "model_loading_processes", t1, action="added", columns={
            "pid": "2501", "parent": "2400", "uid": "1000", "name": "huggingface-cli", "path": "/usr/bin/huggingface-cli",
            "cmdline": "huggingface-cli download meta-1lama/Llama-3.2-1B-Instruct", "cwd": "/home/dave",
            "start_time": "1794302043"}),
        _line("laptop-22", PACK + "model_file_hashes", t2, action="snapshot",
              snapshot=[hash_row("dave", "/home/dave/.cache/huggingface/hub/models--google-bert--bert-base-uncased/blobs/"
                                 + SHA_BERT, SHA_BERT)]),
    ]
    paths = []
    for host, lines in files.items():
        p = tmp_path / f"{host}.osqueryd.results.log"
        p.write_text("\n".join(lines) + "\n")
        paths.append(p)
    return paths


def test_result_logs_from_three_hosts_become_events_with_host_names(logs):
    from mlsleuth.parsers import parse_input

    events = [e for p in logs for e in parse_input(p)]
    assert {e.host for e in events} == {"ml-ws-01", "gpu-node-07", "laptop-22"}
    assert not [e for e in events if str(e.category) == "parse_error"]
    hosts_by_hash: dict[str, set[str]] = {}
    for e in events:
        if e.sha256:
            hosts_by_hash.setdefault(e.sha256, set()).add(e.host)
    # the pivot docs/fleet.md ends on: which hosts hold the same model hash
    assert hosts_by_hash[SHA_EVIL] == {"ml-ws-01", "gpu-node-07"}
    assert hosts_by_hash[SHA_BERT] == {"ml-ws-01", "laptop-22"}
    snap = next(e for e in events if e.host == "ml-ws-01" and e.extra.get("query", "").endswith("hf_cache_snapshots"))
    assert snap.model_repo == "models/meta-1lama/Llama-3.2-1B-Instruct" and snap.revision.startswith("c1ce190d")
    assert snap.timestamp == datetime(2026, 11, 10, 9, 15, tzinfo=UTC)
    finding = next(e for e in events if e.extra.get("query") == "ml_findings")
    assert finding.verdict == "malicious" and finding.sha256 == SHA_EVIL
    proc = next(e for e in events if e.host == "laptop-22" and e.pid == 2501)
    assert "meta-1lama" in proc.cmdline and str(proc.category) == "process"


def test_truncated_result_line_is_an_error_event_and_the_rest_is_read(logs):
    from mlsleuth.parsers import parse_input

    p = logs[0]
    p.write_text(p.read_text() + '{"name": "pack_mlsleuth-ml-hunt_hf_cache_blobs", "hostIdentifier": "ml-ws-01", "colu\n')
    events = list(parse_input(p))
    assert sum(1 for e in events if str(e.category) == "parse_error") == 1
    assert sum(1 for e in events if e.sha256 == SHA_EVIL) == 1
