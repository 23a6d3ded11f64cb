"""Live state through psutil, against a real child process holding secrets, model files and a socket."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from collector_helpers import Archive
from mlsleuth.collector import live
from mlsleuth.collector.collect import collect

from mlsleuth.redact import fingerprint

API_KEY = "sk-" + "live" + "Zz9" * 8
HF_SECRET = "hf_" + "LiveTok3n" * 4
ARG_SECRET = "argv-secret-778899"

CHILD = textwrap.dedent("""
    import mmap, socket, sys, time
    held = open(sys.argv[1], "rb")              # a model file held open through an fd
    mfh = open(sys.argv[2], "rb")
    mapped = mmap.mmap(mfh.fileno(), 0, access=mmap.ACCESS_READ)
    mfh.close()                                 # safetensors-style: mapped, fd closed
    srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
    print(srv.getsockname()[1], flush=True)
    time.sleep(60)
""")


@pytest.fixture
def child(tmp_path: Path):
    model = tmp_path / "model.safetensors"
    model.write_bytes(b"\0" * 4096)
    gguf = tmp_path / "llm.gguf"
    gguf.write_bytes(b"GGUF" + b"\0" * 8188)
    env = dict(os.environ, OPENAI_API_KEY=API_KEY, HF_TOKEN=HF_SECRET, HF_HOME=str(tmp_path / "hfhome"),
               CUDA_VISIBLE_DEVICES="0")
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(model), str(gguf), "--token", ARG_SECRET],
                            env=env, stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        yield proc, port, model, gguf, tmp_path
    finally:
        proc.kill()
        proc.wait()


def test_gather_processes_files_and_sockets(child) -> None:
    proc, port, model, gguf, tmp = child
    state = live.gather({"HF_HOME"})
    row = next(p for p in state.processes if p["pid"] == proc.pid)
    env = row["environ"]
    assert env["HF_HOME"] == str(tmp / "hfhome") and env["CUDA_VISIBLE_DEVICES"] == "0"
    assert env["OPENAI_API_KEY"] == fingerprint(API_KEY) and env["HF_TOKEN"] == fingerprint(HF_SECRET)
    assert ARG_SECRET not in row["cmdline"] and fingerprint(ARG_SECRET) in row["cmdline"]
    assert {s["where"] for s in row["secrets"]} >= {"OPENAI_API_KEY", "HF_TOKEN"}
    assert row["ppid"] == os.getpid() and row["exe"] and row["create_time"] > 0
    assert str(tmp / "hfhome") in state.env_values["HF_HOME"]
    files = {(f["pid"], f["path"], f["via"]) for f in state.open_files}
    assert (proc.pid, str(model), "fd") in files
    assert {(proc.pid, str(gguf), "fd"), (proc.pid, str(gguf), "mmap")} & files  # Python's mmap keeps a dup fd
    listening = [c for c in state.connections if c["pid"] == proc.pid and c["listening"]]
    assert listening and listening[0]["laddr"] == f"127.0.0.1:{port}" and listening[0]["status"] == "LISTEN"
    text = b"".join(state.members().values())
    for secret in (API_KEY, HF_SECRET, ARG_SECRET):
        assert secret.encode() not in text
    assert any(p["collector"] for p in state.processes)


def test_live_collection_of_slash_keeps_secrets_out(child, tmp_path: Path) -> None:
    proc, port, model, gguf, tmp = child
    out = tmp_path / "live-out"
    out.mkdir()
    result = collect("/", out / "live.tar.gz", artifacts=["hf_token", "netrc"], workers=1)
    a = Archive(result.archive)
    assert result.live and a.host["live"] is True and a.host["boot_time"] and a.host["kernel"]
    for name in ("live/processes.jsonl", "live/connections.jsonl", "live/open_files.jsonl", "live/users.jsonl"):
        assert name in a.members
    procs = [json.loads(line) for line in a.data["live/processes.jsonl"].splitlines()]
    assert any(p["pid"] == proc.pid for p in procs)
    blob = a.all_bytes()
    for secret in (API_KEY, HF_SECRET, ARG_SECRET):
        assert secret.encode() not in blob
    # the child's HF_HOME became a location to search (its token file would have been found)
    walk_done = a.events("walk_done")[0]
    assert str(tmp / "hfhome") in walk_done["env_overrides"]["HF_HOME"]


def test_no_live_and_tree_roots_never_gather(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    (tmp_path / "o").mkdir()
    result = collect(root, tmp_path / "o" / "a.tar.gz", live=True, artifacts=["netrc"])
    a = Archive(result.archive)
    assert result.live is False and not any(n.startswith("live/") for n in a.members)


def test_mapped_files_are_seen_without_an_fd(tmp_path: Path) -> None:
    import mmap

    path = tmp_path / "weights.gguf"
    path.write_bytes(b"GGUF" + b"\0" * 4092)
    with open(path, "rb") as fh:
        mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        assert str(path) in live._mapped_paths(os.getpid())
    finally:
        mapped.close()


def test_model_or_cache_paths() -> None:
    assert live.is_model_or_cache("/home/a/x/model.safetensors")
    assert live.is_model_or_cache("/home/a/.cache/huggingface/hub/models--o--m/blobs/abc (deleted)")
    assert not live.is_model_or_cache("/usr/lib/x86_64-linux-gnu/libc.so.6")


def test_socket_helper_formats_ipv6() -> None:
    class A:
        ip, port = "::1", 8888

    assert live._addr(A()) == "[::1]:8888" and live._addr(None) is None
    assert socket  # imported for the fixture's child
