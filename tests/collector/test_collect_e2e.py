"""End to end on the fixture host: every artifact class lands in the manifest with the right action,
planted secrets appear nowhere, a tampered blob is reported, verify catches any one-byte change,
and collecting leaves the source's times alone."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import tarfile
from pathlib import Path

import pytest
from collector_helpers import Archive, write
from mlsleuth.collector.collect import collect
from mlsleuth.collector.verify import verify

from mlsleuth.fixturehost import build_host
from mlsleuth.fixturehost.payloads import malicious_checkpoint, safetensors_bytes
from mlsleuth.redact import fingerprint

MAX_COPY = 64 * 1024
# Secrets this test adds on top of the fixture host's own.
NETRC_PW = "NetrcPw-7781"
JUPYTER_TOKEN = "c0ffee1234abcd5678"
CONDA_TOKEN = "ab-1234-cdef-5678"
OLLAMA_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU\n-----END OPENSSH PRIVATE KEY-----\n"


def _big(seed: int, size: int = 3 * MAX_COPY) -> bytes:
    out = bytearray()
    block = hashlib.sha256(str(seed).encode()).digest()
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:size])


def add_artifacts(root: Path) -> dict[str, tuple[str, set[str]]]:
    """Files for the artifact classes the fixture host does not plant; host path -> (artifact, actions)."""
    blob = b'{"schemaVersion":2,"layers":[]}'
    blob_sha = hashlib.sha256(blob).hexdigest()
    big_pth = malicious_checkpoint()
    big_pth += b"\0" * max(0, 3 * MAX_COPY - len(big_pth))  # keep the zip readable: pad after EOCD
    files = {
        "/home/alice/.cache/torch/hub/pytorch_vision_main/hubconf.py": ("dependencies = ['torch']\n",
                                                                        "remote_code_modules", {"copied"}),
        "/home/alice/.cache/torch/hub/trusted_list": ("pytorch_vision\n", "torch_hub", {"copied"}),
        "/home/alice/.cache/torch/hub/checkpoints/resnet18.pth": (_big(1), "torch_hub", {"hashed", "partial"}),
        "/home/alice/.keras/keras.json": ('{"backend": "tensorflow"}', "keras_home", {"copied"}),
        "/home/alice/.keras/models/big.h5": (_big(2), "keras_home", {"hashed", "partial"}),
        "/home/alice/.ollama/models/manifests/registry.ollama.ai/library/llama3/latest": (
            '{"layers":[]}', "ollama", {"copied"}),
        f"/home/alice/.ollama/models/blobs/sha256-{blob_sha}": (blob, "ollama", {"copied"}),
        "/home/alice/.ollama/id_ed25519": (OLLAMA_KEY, "ollama", {"redacted"}),
        "/home/alice/work/clf.pkl": (b"\x80\x04N.", "model_files", {"copied"}),
        "/home/alice/work/weights.safetensors": (safetensors_bytes({"w": (64, 256)}), "model_files",
                                                 {"hashed", "partial"}),
        "/home/alice/work/evil_big.pt": (big_pth, "model_files", {"hashed", "partial"}),
        "/tmp/tfhub_modules/abc123/saved_model.pb": (b"\x08\x01", "model_files", {"copied"}),
        "/home/alice/.netrc": (f"machine pypi.corp.example login alice password {NETRC_PW}\n", "netrc", {"redacted"}),
        "/opt/conda/conda-meta/history": ("==> 2024-05-01 10:00:00 <==\n# cmd: conda install numpy\n+defaults::numpy-1.26\n",
                                          "conda_history", {"copied"}),
        "/opt/conda/conda-meta/numpy-1.26.4-py311.json": ('{"name": "numpy"}', "conda_meta", {"copied"}),
        "/opt/conda/lib/python3.11/site-packages/numpy-1.26.4.dist-info/METADATA": ("Name: numpy\n", "python_dist",
                                                                                     {"copied"}),
        "/opt/conda/.condarc": (f"channels:\n  - https://conda.anaconda.org/t/{CONDA_TOKEN}/private\n",
                                "conda_config", {"redacted"}),
        "/home/alice/.cache/pip/log/debug.log": ("2024-05-01T10:00:00,000 Collecting torch\n", "pip_log", {"copied"}),
        "/home/alice/.ipython/profile_default/startup/00-hook.py": ("import os\n", "ipython_startup", {"copied"}),
        "/home/alice/.jupyter/jupyter_server_config.py": (f"c.ServerApp.token = '{JUPYTER_TOKEN}'\nc.ServerApp.ip = '0.0.0.0'\n",
                                                          "jupyter_config", {"redacted"}),
        "/home/alice/.cache/huggingface/xet/chunk-cache/ab/abcdef": (b"chunk", "hf_xet_cache", {"copied"}),
        "/usr/local/lib/python3.11/site-packages/zz_evil.pth": ("import os; os.system('id')\n",
                                                                "python_startup_hooks", {"copied"}),
        "/usr/local/lib/python3.11/site-packages/six.py": ("# six\n", "python_package_files", {"hashed"}),
        "/var/lib/mlsleuth/journal/journal-000001.jsonl": ('{"event": "open"}\n', "watch_journal", {"copied"}),
        "/home/alice/.config/autostart/agent.desktop": ("[Desktop Entry]\nExec=/tmp/x\n", "persistence", {"copied"}),
    }
    out = {}
    for path, (data, artifact, actions) in files.items():
        write(root, path, data)
        out[path] = (artifact, actions)
    return out


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("e2e")
    root = base / "host"
    planted = build_host(root, "rich")
    expected = add_artifacts(root)
    # Tamper with two cached blobs after "download": one LFS (sha256 name), one git blob (sha1 name).
    files = [f for repo in planted.repos for f in repo.files]
    tampered = [next(f for f in files if f.lfs).blob, next(f for f in files if not f.lfs).blob]
    for blob in tampered:
        local = planted.local(blob)
        mtime = local.stat().st_mtime_ns
        with open(local, "ab") as fh:
            fh.write(b"#")
        os.utime(local, ns=(mtime, mtime))  # attackers restore times; the content still lies
    assert len(tampered) == 2
    # Old access times (older than mtime) so that any read without O_NOATIME would move them.
    before = _set_old_atimes_and_snapshot(root)
    result = collect(root, base / "evidence.tar.gz", live=False, max_copy_size=MAX_COPY, case="CASE-7",
                     examiner="tester", evidence_id="EV-1", workers=2)
    after = _snapshot(root)
    return {"root": root, "planted": planted, "expected": expected, "tampered": tampered, "result": result,
            "archive": Archive(result.archive), "before": before, "after": after, "base": base}


def _snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            if not stat.S_ISLNK(st.st_mode):  # readlink(2) may touch a link's atime: see docs
                out[p] = (st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns)
    return out


def _set_old_atimes_and_snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            if not stat.S_ISLNK(st.st_mode):
                os.utime(p, ns=(st.st_mtime_ns - 86_400 * 10**9 * 3, st.st_mtime_ns), follow_symlinks=False)
    return _snapshot(root)


def test_every_artifact_class_has_rows_with_the_right_action(collected) -> None:
    a: Archive = collected["archive"]
    for path, (artifact, actions) in collected["expected"].items():
        row = a.row(path)
        assert row["artifact"] == artifact, path
        assert row["action"] in actions, (path, row["action"], row.get("reason"))
        if row["action"] == "hashed" and artifact != "python_package_files":
            assert row["sha256"] and row["reason"], row
    planted = collected["planted"]
    for h in planted.histories:
        assert a.row(h.path)["action"] in ("copied", "redacted"), h.path
    for nb in planted.notebooks:
        assert a.row(nb)["artifact"] == "notebook"
    for repo in planted.repos:
        for f in repo.files:
            assert a.row(f.snapshot)["action"] == "symlink"
            assert a.row(f.snapshot)["link_target"] == f.link_target
            assert a.row(f.blob)["action"] in ("copied", "hashed", "partial")
        for p in repo.no_exist + repo.incomplete + repo.locks:
            assert a.row(p)["artifact"] == "hf_cache"
    for dist in planted.distributions:
        assert a.row(dist.dist_info + "/METADATA")["artifact"] == "python_dist"
    for p in planted.persistence:
        assert a.row(p)["artifact"] == "persistence"
    for p in planted.remote_code:
        assert a.row(p)["artifact"] == "remote_code_modules"
    summary = a.summary["artifacts"]
    for name in ("hf_cache", "notebook", "ipython_history", "bash_history", "zsh_history", "fish_history",
                 "python_history", "python_dist", "pip_config", "jupyter_runtime", "hf_token"):
        assert summary[name]["missing"] == 0, name


def test_copied_members_are_byte_for_byte(collected) -> None:
    a: Archive = collected["archive"]
    root: Path = collected["root"]
    for row in a.rows:
        if row["action"] == "copied":
            data = a.data[row["member"]]
            assert hashlib.sha256(data).hexdigest() == row["sha256"]
            assert data == (root / row["path"].lstrip("/")).read_bytes()


def test_planted_secrets_appear_nowhere(collected) -> None:
    a: Archive = collected["archive"]
    blob = a.all_bytes()
    secrets = [s.value for s in collected["planted"].secrets] + [NETRC_PW, JUPYTER_TOKEN, CONDA_TOKEN,
                                                                  "b3BlbnNzaC1rZXktdjEAAAAABG5vbmU"]
    assert collected["planted"].secrets
    for secret in secrets:
        assert secret.encode() not in blob, secret
    # ... but their presence and fingerprints are there
    for s in collected["planted"].secrets:
        row = a.row(s.path)
        assert row["action"] == "redacted" and row["sha256"] is None
        assert fingerprint(s.value) in {r["fingerprint"] for r in row["secrets"]}
        assert hashlib.sha256(a.data[row["member"]]).hexdigest() == row["member_sha256"]
    token_row = a.row("/home/alice/.cache/huggingface/token")
    assert a.data[token_row["member"]].strip() == fingerprint(collected["planted"].secrets[1].value).encode()


def test_pip_conf_keeps_index_host_and_user(collected) -> None:
    a: Archive = collected["archive"]
    row = a.row("/etc/pip.conf")
    text = a.data[row["member"]].decode()
    assert "REDACTED:sha256:" in text and "@" in text and "S3cr3tPass" not in text


def test_tampered_blobs_are_reported(collected) -> None:
    a: Archive = collected["archive"]
    for path in collected["tampered"]:
        row = a.row(path)
        assert row["tampered"] is True and row["content_check"]["ok"] is False
        assert row["content_check"]["expected"] == path.rsplit("/", 1)[1]
    schemes = {a.row(p)["content_check"]["scheme"] for p in collected["tampered"]}
    assert schemes == {"sha256", "git-blob-sha1"}
    logged = {e["path"] for e in a.events("content_mismatch")}
    assert logged == set(collected["tampered"])
    assert {t["path"] for t in a.summary["tampered"]} == set(collected["tampered"])
    # untampered blobs pass
    ok = [r for r in a.rows if r.get("content_check") and r["path"] not in collected["tampered"]]
    assert ok and all(r["content_check"]["ok"] for r in ok)


def test_source_times_unchanged(collected) -> None:
    before, after = collected["before"], collected["after"]
    changed = {p: (before[p], after.get(p)) for p in before if before[p] != after.get(p)}
    assert not changed


def test_custody_and_host_facts(collected) -> None:
    a: Archive = collected["archive"]
    custody = a.host["custody"]
    assert (custody["case"], custody["examiner"], custody["evidence_id"]) == ("CASE-7", "tester", "EV-1")
    assert custody["start"] <= custody["end"] and custody["tool_version"]
    assert a.host["live"] is False and a.host["hostname"] == collected["planted"].hostname
    assert a.host["timezone"] == collected["planted"].timezone
    assert {u["name"] for u in a.host["users"]} >= {u.name for u in collected["planted"].users}


def test_bodyfile_lists_every_row_and_directories(collected) -> None:
    a: Archive = collected["archive"]
    lines = a.data["bodyfile.txt"].decode().splitlines()
    names = set()
    for line in lines:
        fields = line.split("|")
        assert fields[0] == "0" and len(fields) >= 11
        name = "|".join(fields[1:-9]).split(" -> ")[0]
        names.add(name)
        assert fields[-8][1] == "/"  # TSK mode like r/rrw-r--r--
    assert {r["path"] for r in a.rows if r.get("mode") is not None} <= names
    assert "/home/alice/.cache/huggingface/hub" in names  # directories too


def test_sidecar_and_integrity(collected) -> None:
    result = collected["result"]
    data = result.archive.read_bytes()
    assert hashlib.sha256(data).hexdigest() == result.sha256
    assert result.sidecar.read_text() == f"{result.sha256}  {result.archive.name}\n"
    a: Archive = collected["archive"]
    integrity = json.loads(a.data["integrity.json"])
    for name, sha in integrity["members"].items():
        assert hashlib.sha256(a.data[name]).hexdigest() == sha
    assert list(a.members)[-1] == "integrity.json"


def test_verify_intact(collected) -> None:
    report = verify(collected["result"].archive)
    assert report.code == 0, report.problems
    assert report.sidecar == "ok" and report.manifest_rows == len(collected["archive"].rows)


def _repack(src: Path, dest: Path, *, change: str | None = None, drop: str | None = None,
            add: tuple[str, bytes] | None = None) -> None:
    with tarfile.open(src, "r:gz") as tin, tarfile.open(dest, "w:gz", format=tarfile.PAX_FORMAT) as tout:
        for ti in tin:
            if ti.name == drop:
                continue
            data = tin.extractfile(ti).read() if ti.isfile() else None
            if ti.name == change and data is not None:
                data = bytearray(data)
                i = len(data) // 2
                data[i] ^= 0x01
                data = bytes(data)
            tout.addfile(ti, io.BytesIO(data) if data is not None else None)
        if add:
            ti = tarfile.TarInfo(add[0])
            ti.size = len(add[1])
            tout.addfile(ti, io.BytesIO(add[1]))
    sha = hashlib.sha256(dest.read_bytes()).hexdigest()
    dest.with_name(dest.name + ".sha256").write_text(f"{sha}  {dest.name}\n")  # a forger updates the sidecar


def test_verify_names_any_one_byte_change(collected, tmp_path: Path) -> None:
    a: Archive = collected["archive"]
    src = collected["result"].archive
    copied = next(r["member"] for r in a.rows if r["action"] == "copied" and r["size"])
    redacted = next(r["member"] for r in a.rows if r["action"] == "redacted")
    candidates = [copied, redacted, "manifest.jsonl", "host.json", "collection.log", "summary.json",
                  "bodyfile.txt"]
    parts = [p["member"] for r in a.rows for p in r["parts"]]
    candidates += parts[:1]
    for i, member in enumerate(candidates):
        dest = tmp_path / f"changed-{i}.tar.gz"
        _repack(src, dest, change=member)
        report = verify(dest)
        assert report.code == 1, member
        assert member in {p.member for p in report.problems}, (member, report.problems)


def test_verify_missing_extra_and_symlink(collected, tmp_path: Path) -> None:
    a: Archive = collected["archive"]
    src = collected["result"].archive
    member = next(r["member"] for r in a.rows if r["action"] == "copied")
    _repack(src, tmp_path / "missing.tar.gz", drop=member)
    r = verify(tmp_path / "missing.tar.gz")
    assert r.code == 1 and ("missing_member", member) in {(p.kind, p.member) for p in r.problems}
    _repack(src, tmp_path / "extra.tar.gz", add=("fs/etc/evil", b"planted later"))
    r = verify(tmp_path / "extra.tar.gz")
    assert r.code == 1 and ("extra_member", "fs/etc/evil") in {(p.kind, p.member) for p in r.problems}


def test_verify_sidecar_mismatch_and_unreadable(collected, tmp_path: Path) -> None:
    src = collected["result"].archive
    data = bytearray(src.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad = tmp_path / "flipped.tar.gz"
    bad.write_bytes(bytes(data))
    bad.with_name(bad.name + ".sha256").write_text(src.with_name(src.name + ".sha256").read_text())
    r = verify(bad)
    assert r.sidecar == "mismatch" and r.code in (1, 2)
    assert "sidecar_mismatch" in {p.kind for p in r.problems}
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not an archive at all")
    assert verify(junk).code == 2


def test_cli_collect_and_verify(collected, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from mlsleuth.cli import main

    runner = CliRunner()
    out = tmp_path / "cli.tar.gz"
    res = runner.invoke(main, ["collect", "--root", str(collected["root"]), "-o", str(out), "--no-live",
                               "--no-nice", "-q", "--json", "--max-copy-size", "64KiB"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert runner.invoke(main, ["verify", str(out)]).exit_code == 0
    res = runner.invoke(main, ["verify", "--json", str(out)])
    assert json.loads(res.stdout)["status"] == "intact"
    # an existing archive is never overwritten
    res = runner.invoke(main, ["collect", "--root", str(collected["root"]), "-o", str(out), "-q"])
    assert res.exit_code == 2


@pytest.mark.slow
def test_dissect_opens_the_archive(collected) -> None:
    target_mod = pytest.importorskip("dissect.target")
    t = target_mod.Target.open(collected["result"].archive)
    data = t.fs.path("/home/alice/.bash_history").read_bytes()
    assert data == (collected["root"] / "home/alice/.bash_history").read_bytes()
