"""Hugging Face hub cache laid out as huggingface_hub writes it (blobs named by content hash,
relative snapshot symlinks, refs, .no_exist, .incomplete, .locks), checked against
huggingface_hub's own scanner, then damaged and tampered with."""

import hashlib
import os
from datetime import timedelta
from types import SimpleNamespace

import pytest
from huggingface_hub import scan_cache_dir
from mlsleuth.parsers import hf_cache
from parser_helpers import T0, errors, link, of, put, run

from mlsleuth.events import Category, TimestampQuality

HUB = "/home/alice/.cache/huggingface/hub"
COMMIT = "c1ce190d969af8fc385c71e0d1b5c451eaa1f503"
OLD = "0123456789abcdef0123456789abcdef01234567"


def git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\x00" % len(data) + data).hexdigest()


def add_file(root, repo: str, commit: str, path: str, data: bytes, *, lfs: bool, when):
    oid = hashlib.sha256(data).hexdigest() if lfs else git_oid(data)
    folder = f"{HUB}/{repo}"
    blob = f"{folder}/blobs/{oid}"
    if not (root / blob.lstrip("/")).exists():
        put(root, blob, data, mtime=when)
    depth = path.count("/")
    link(root, f"{folder}/snapshots/{commit}/{path}", "../" * (2 + depth) + f"blobs/{oid}",
         mtime=when + timedelta(milliseconds=5))
    put(root, f"{HUB}/.locks/{repo}/{oid}.lock", b"", mtime=when - timedelta(seconds=3))
    return oid


@pytest.fixture()
def cache(tmp_path):
    repo = "models--org--model"
    oids = {
        "config.json": add_file(tmp_path, repo, COMMIT, "config.json", b'{"arch": "x"}', lfs=False, when=T0),
        "model.safetensors": add_file(tmp_path, repo, COMMIT, "model.safetensors", b"\x08" * 4096, lfs=True,
                                      when=T0 + timedelta(seconds=40)),
        "1_Pooling/config.json": add_file(tmp_path, repo, COMMIT, "1_Pooling/config.json", b"{}", lfs=False,
                                          when=T0 + timedelta(seconds=41)),
    }
    # An older revision sharing one blob with the new one.
    add_file(tmp_path, repo, OLD, "config.json", b'{"arch": "x"}', lfs=False, when=T0)
    put(tmp_path, f"{HUB}/{repo}/refs/main", COMMIT, mtime=T0 + timedelta(seconds=42))
    put(tmp_path, f"{HUB}/{repo}/.no_exist/{COMMIT}/adapter_config.json", b"", mtime=T0 + timedelta(seconds=1))
    put(tmp_path, f"{HUB}/{repo}/blobs/{'ab' * 32}.incomplete", b"\x00" * 100, mtime=T0 + timedelta(minutes=5))
    put(tmp_path, f"{HUB}/datasets--org--data/refs/main", COMMIT, mtime=T0)
    add_file(tmp_path, "datasets--org--data", COMMIT, "train.csv", b"a,b\n1,2\n", lfs=True, when=T0)
    put(tmp_path, f"{HUB}/version.txt", "1", mtime=T0)
    return SimpleNamespace(root=tmp_path, oids=oids)


def test_layout_is_what_huggingface_hub_accepts(cache):
    info = scan_cache_dir(cache.root / HUB.lstrip("/"))
    assert [str(w).rsplit("/", 1)[-1] for w in info.warnings] == ["version.txt"]  # as with transformers
    assert {r.repo_id for r in info.repos} == {"org/model", "org/data"}


def test_files_revisions_refs_probes_partials_and_locks(cache):
    events = run(cache.root, f"{HUB}/models--org--model/refs/main", "hf_cache")
    assert not errors(events)
    done = of(events, "Download Completed")
    assert sorted((e.revision[:4], e.extra["repo_file"]) for e in done) == [
        ("0123", "config.json"), ("c1ce", "1_Pooling/config.json"), ("c1ce", "config.json"),
        ("c1ce", "model.safetensors")]
    weights = next(e for e in done if e.extra["repo_file"] == "model.safetensors")
    assert weights.timestamp == T0 + timedelta(seconds=40) and weights.timestamp_quality == TimestampQuality.EXACT
    assert weights.model_repo == "models/org/model" and weights.sha256 == cache.oids["model.safetensors"]
    assert weights.extra["lfs"] is True and weights.extra["refs"] == ["main"]
    assert weights.file_path == f"{HUB}/models--org--model/snapshots/{COMMIT}/model.safetensors"
    small = next(e for e in done if e.extra["repo_file"] == "config.json" and e.revision == COMMIT)
    assert small.sha256 == hashlib.sha256(b'{"arch": "x"}').hexdigest()  # content sha256, not the git oid
    assert of(events, "Ref Updated")[0].revision == COMMIT
    assert {e.revision for e in of(events, "Snapshot Created")} == {COMMIT, OLD}
    assert of(events, "Missing File Probed")[0].extra["repo_file"] == "adapter_config.json"
    assert of(events, "Partial Download Modified")[0].timestamp == T0 + timedelta(minutes=5)
    assert "accepted" in weights.extra["scanner"]
    assert not of(events, category=Category.FINDING)
    # other files of the same repo add nothing (the repo is read once per run)
    locks = run(cache.root, f"{HUB}/.locks/models--org--model/{cache.oids['config.json']}.lock", "hf_cache")
    assert [e.timestamp_desc for e in locks] == ["Download Lock Written"]


def test_events_do_not_depend_on_the_scanner(cache, monkeypatch):
    def key(events):
        return sorted((e.timestamp_desc, e.file_path, e.timestamp, e.sha256) for e in events)

    with_scanner = run(cache.root, f"{HUB}/models--org--model/refs/main", "hf_cache")
    monkeypatch.setattr(hf_cache, "SCANNER_MAX_FILES", 0)
    without = run(cache.root, f"{HUB}/models--org--model/refs/main", "hf_cache")
    assert "not used" in of(without, "Download Completed")[0].extra["scanner"]
    assert key(with_scanner) == key(without)


def test_tampered_lfs_and_git_blobs_are_findings(cache):
    folder = cache.root / HUB.lstrip("/") / "models--org--model" / "blobs"
    (folder / cache.oids["model.safetensors"]).write_bytes(b"\x09" * 4096)
    (folder / cache.oids["config.json"]).write_bytes(b'{"arch": "evil"}')
    events = run(cache.root, f"{HUB}/models--org--model/refs/main", "hf_cache")
    tampered = of(events, "Tampered Blob")
    assert sorted(e.extra["hash_kind"] for e in tampered) == ["git blob sha1", "sha256"]
    assert all(e.category == Category.FINDING and e.model_repo == "models/org/model" for e in tampered)


def test_dangling_link_is_handled_where_the_scanner_gives_up(cache):
    os.unlink(cache.root / HUB.lstrip("/") / "models--org--model" / "blobs" / cache.oids["model.safetensors"])
    info = scan_cache_dir(cache.root / HUB.lstrip("/"))
    assert any("Blob missing" in str(w) for w in info.warnings), "huggingface_hub rejects the repo"
    events = run(cache.root, f"{HUB}/models--org--model/refs/main", "hf_cache")
    assert len(of(events, "Download Completed")) == 3
    dangling = of(events, "Snapshot Link Created")
    assert len(dangling) == 1 and dangling[0].extra["dangling"] is True
    assert dangling[0].sha256 == cache.oids["model.safetensors"]


def test_symlink_out_of_the_cache_is_never_followed(cache, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside") / "secret"
    outside.write_text("do not read")
    link(cache.root, f"{HUB}/models--org--model/snapshots/{COMMIT}/leak.txt", str(outside), mtime=T0)
    events = run(cache.root, f"{HUB}/models--org--model/refs/main", "hf_cache")
    leak = next(e for e in events if e.file_path and e.file_path.endswith("leak.txt"))
    assert "outside" in leak.message and leak.extra["dangling"] is True
    assert "not used" in leak.extra["scanner"]
    assert "do not read" not in repr([e.to_dict() for e in events])


def test_snapshot_file_replaced_by_a_regular_file(cache):
    snap = cache.root / HUB.lstrip("/") / "models--org--model" / "snapshots" / COMMIT / "config.json"
    snap.unlink()
    snap.write_text('{"arch": "swapped"}')
    events = run(cache.root, f"{HUB}/models--org--model/refs/main", "hf_cache")
    finding = of(events, "Snapshot File Modified")[0]
    assert finding.category == Category.FINDING and finding.verdict == "suspicious"


def test_bad_ref_is_reported_and_the_rest_still_read(cache):
    put(cache.root, f"{HUB}/models--org--model/refs/pr/1", b"\xff\xfenot a commit", mtime=T0)
    events = run(cache.root, f"{HUB}/models--org--model/refs/main", "hf_cache")
    assert "refs" in errors(events)[0].message or "ref" in errors(events)[0].message
    assert len(of(events, "Download Completed")) == 4


def test_dataset_repo_type(cache):
    events = run(cache.root, f"{HUB}/datasets--org--data/refs/main", "hf_cache")
    assert {e.model_repo for e in of(events, "Download Completed")} == {"datasets/org/data"}


def test_repo_folder_names():
    assert hf_cache.split_repo_folder("models--gpt2") == ("models", "gpt2")
    assert hf_cache.split_repo_folder("spaces--a--b--c") == ("spaces", "a/b/c")
    assert hf_cache.split_repo_folder("other--a") is None
    assert hf_cache.locate("/h/hub/models--a--b/blobs/x") == ("/h/hub", "models--a--b", "blobs/x")


def test_reading_the_cache_never_opens_a_socket(cache, monkeypatch):
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError("network access while reading an HF cache")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    events = run(cache.root, f"{HUB}/models--org--model/refs/main", "hf_cache")
    assert not errors(events)
    assert "accepted" in of(events, "Download Completed")[0].extra["scanner"]
