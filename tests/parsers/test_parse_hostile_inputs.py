"""Every parser against empty, binary-garbage and truncated input: events or parse errors, never
an exception, and every event well formed."""

import json
import os

import pytest
from parser_helpers import T0, put, run

from mlsleuth.events import Category, Event

COMMIT = "c1ce190d969af8fc385c71e0d1b5c451eaa1f503"
SAMPLES: dict[str, tuple[str, bytes]] = {
    "bash_history": ("/home/a/.bash_history", b"#1762765200\nls -la\n#1762765300\npip install x\n"),
    "zsh_history": ("/home/a/.zsh_history", b": 1762765200:0;ls\\\nmore\n: 1762765300:1;pwd\n"),
    "fish_history": ("/home/a/.local/share/fish/fish_history", b"- cmd: ls\n  when: 1762765200\n  paths:\n    - a\n"),
    "python_history": ("/home/a/.python_history", b"import os\nprint(os.getcwd())\n"),
    "notebook": ("/home/a/n.ipynb", json.dumps({"cells": [{"cell_type": "code", "execution_count": 1,
                                                           "source": "x = 1", "outputs": [], "metadata": {}}] * 3,
                                                "metadata": {}, "nbformat": 4, "nbformat_minor": 5}).encode()),
    "hf_token": ("/home/a/.cache/huggingface/stored_tokens", b"[work]\nhf_token = hf_" + b"x" * 34 + b"\n"),
    "jupyter_config": ("/home/a/.jupyter/jupyter_server_config.json", b'{"ServerApp": {"ip": "0.0.0.0"}}'),
    "jupyter_runtime": ("/home/a/.local/share/jupyter/runtime/kernel-1.json", b'{"ip": "127.0.0.1", "key": "k"}'),
    "ipython_startup": ("/home/a/.ipython/profile_default/startup/a.py", b"import os\nos.system('id')\n"),
    "python_startup_hooks": ("/usr/lib/python3/dist-packages/x.pth", b"import os; os.system('id')\n"),
    "shell_rc": ("/home/a/.bashrc", b"export HF_ENDPOINT=https://x\nalias pip=evil\n"),
    "pip_config": ("/etc/pip.conf", b"[global]\nindex-url = https://x.example/simple\n"),
    "pip_log": ("/home/a/.pip/pip.log", b"2026-11-10T10:00:00,000 Collecting torch\n"
                                        b"2026-11-10T10:00:09,000 Successfully installed torch-2.1.0\n"),
    "conda_history": ("/opt/conda/conda-meta/history", b"==> 2026-11-10 10:00:00 <==\n# cmd: conda install x\n+c::x-1-0\n"),
    "conda_meta": ("/opt/conda/conda-meta/x-1-0.json", b'{"name": "x", "version": "1", "channel": "c"}'),
    "conda_config": ("/home/a/.condarc", b"channels:\n  - https://x.example\n"),
    "netrc": ("/home/a/.netrc", b"machine a.example login u password p\n"),
    "persistence": ("/etc/cron.d/job", b"*/5 * * * * root /usr/bin/true\n"),
    "bodyfile": ("/bodyfile.txt", b"0|/x|1|r/r|0|0|1|1762765200|1762765200|1762765200|0\n" * 3),
    "live_processes": ("/live/processes.jsonl", b'{"pid": 1, "ppid": 0, "name": "init", "create_time": 1762765200}\n'),
    "live_connections": ("/live/connections.jsonl", b'{"pid": 1, "laddr": "0.0.0.0:22", "listening": true}\n'),
    "live_open_files": ("/live/open_files.jsonl", b'{"pid": 1, "path": "/x.pt", "process": "p"}\n'),
    "host_facts": ("/host.json", b'{"hostname": "h", "boot_time": 1762700000, "custody": {"start": 1762765200}}'),
    "model_files": ("/home/a/m.pkl", b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01K\x01u."),
    "torch_hub": ("/home/a/.cache/torch/hub/checkpoints/r-0123abcd.pth", b"PK\x03\x04" + b"\x00" * 40),
    "keras_home": ("/home/a/.keras/keras.json", b'{"backend": "tensorflow"}'),
    "ollama": ("/home/a/.ollama/models/manifests/registry.ollama.ai/library/m/latest",
               b'{"schemaVersion": 2, "layers": [{"mediaType": "application/vnd.ollama.image.model", '
               b'"digest": "sha256:' + b"1" * 64 + b'", "size": 1}]}'),
    "remote_code_modules": (f"/home/a/.cache/huggingface/modules/transformers_modules/o/n/{COMMIT}/m.py",
                            b"import os\nclass M: pass\n"),
    "hf_cache": ("/home/a/.cache/huggingface/hub/models--o--n/refs/main", COMMIT.encode()),
    "ipython_history": ("/home/a/.ipython/profile_default/history.sqlite", b"SQLite format 3\x00" + b"\x10\x00" + b"\x01" * 90),
    "plaso_jsonl": ("/x/plaso.jsonl", b'{"data_type": "fs:stat", "timestamp": 1762765200000000, "timestamp_desc": "x"}\n'),
    "osquery_results": ("/x/osquery.log", b'{"name": "q", "hostIdentifier": "h", "unixTime": 1762765200, '
                                          b'"columns": {"pid": "1"}, "action": "added"}\n'),
    "events_jsonl": ("/x/events.jsonl", b'{"timestamp": "2026-11-10T10:00:00+00:00", "timestamp_desc": "x", '
                                        b'"source": "s", "category": "file", "message": "m"}\n'),
}
GARBAGE = bytes(range(256)) * 7 + b"\xff\xfe\x00\n\x1b[31m\r\n" + os.urandom(512)


def check(events) -> None:
    for event in events:
        assert isinstance(event, Event) and event.host and event.timestamp.tzinfo is not None
        json.dumps(event.to_dict(), default=str)


@pytest.mark.parametrize("parser", sorted(SAMPLES))
@pytest.mark.parametrize("variant", ["empty", "garbage", "truncated", "valid"])
def test_parser_survives(tmp_path, parser, variant):
    host_path, sample = SAMPLES[parser]
    data = {"empty": b"", "garbage": GARBAGE, "truncated": sample[: max(len(sample) * 2 // 3, 1)],
            "valid": sample}[variant]
    put(tmp_path, "/etc/hostname", "hostile\n")
    put(tmp_path, host_path, data, mtime=T0)
    events = run(tmp_path, host_path, parser)
    check(events)
    if variant == "valid":
        assert [e for e in events if e.category != Category.PARSE_ERROR] or parser == "ipython_history"
