"""mlsleuth.redact: secrets go, their presence and a stable fingerprint stay."""

from __future__ import annotations

import hashlib
import json

import pytest

from mlsleuth.redact import (
    fingerprint,
    is_fingerprint,
    redact_argv,
    redact_bytes,
    redact_env,
    redact_json,
    redact_jupyter_config,
    redact_netrc,
    redact_text,
    redact_url,
)

# Built from pieces so no file in the repository holds a token-shaped string.
HF = "hf_" + "qZ3vT8kLm2Xw9RbN4cYp7JdF6sHa1GeUo"
GH = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"


def test_fingerprint_format_and_stability() -> None:
    fp = fingerprint(HF)
    assert fp == "REDACTED:sha256:" + hashlib.sha256(HF.encode()).hexdigest()[:12]
    assert is_fingerprint(fp) and fingerprint(HF.encode()) == fp
    assert not is_fingerprint(HF)


def test_url_password_replaced_user_and_host_kept() -> None:
    clean, found = redact_url("https://deploy:S3cr3tPass@pypi.corp.example/simple/")
    assert "S3cr3tPass" not in clean
    assert clean == f"https://deploy:{fingerprint('S3cr3tPass')}@pypi.corp.example/simple/"
    assert [r.kind for r in found] == ["url_password"]


def test_url_token_as_user_name_is_redacted_plain_user_is_not() -> None:
    clean, found = redact_url(f"https://{GH}@github.com/org/repo.git")
    assert GH not in clean and found
    assert redact_url("ssh://git@github.com/org/repo.git") == ("ssh://git@github.com/org/repo.git", [])


def test_conda_channel_token() -> None:
    clean, found = redact_url("https://conda.anaconda.org/t/abcd-1234-efgh/private/linux-64")
    assert "abcd-1234-efgh" not in clean and "/private/linux-64" in clean and found


@pytest.mark.parametrize("line,secret", [
    (f"huggingface-cli login --token {HF}", HF),
    (f"export HF_TOKEN={HF}", HF),
    ("export OPENAI_API_KEY=sk-" + "proj-abcdefghijklmnopqrstuv", "sk-proj-abcdefghijklmnopqrstuv"),
    ("pip install -i https://u:hunter2hunter@idx.example/simple torch", "hunter2hunter"),
    ('curl -H "Authorization: Bearer abcdef0123456789" https://x', "abcdef0123456789"),
    ("mysql --password=Sup3rS3cret db", "Sup3rS3cret"),
    (f"git clone https://{GH}@github.com/o/r", GH),
])
def test_text_redaction_removes_secret(line: str, secret: str) -> None:
    clean, found = redact_text(line)
    assert secret not in clean
    assert found and all(is_fingerprint(r.fingerprint) for r in found)
    assert fingerprint(secret) in clean


def test_text_redaction_leaves_ordinary_code_alone() -> None:
    code = ('tok = AutoTokenizer.from_pretrained("org/model")\n'
            'tok.pad_token = tok.eos_token\nmax_token = 4096\n'
            "url = 'https://huggingface.co/org/model/resolve/main/config.json'\n")
    assert redact_text(code) == (code, [])


def test_redaction_is_idempotent() -> None:
    once, _ = redact_text(f"export HF_TOKEN={HF}; pip -i https://a:b12345@h/s")
    twice, found = redact_text(once)
    assert twice == once and found == []


def test_key_value_configs() -> None:
    text = "[pypi]\nusername = __token__\npassword = pypi-AgEIcHlwaS5vcmcABCDEF\n"
    clean, found = redact_text(text, key_values=True)
    assert "AgEIcHlwaS5vcmc" not in clean and "username = __token__" in clean and found


def test_json_kernel_key() -> None:
    doc = {"shell_port": 1, "key": "6ff2f2ce-7759-4344-abfc-b909af3ba7e4", "signature_scheme": "hmac-sha256"}
    clean, found = redact_json(json.dumps(doc))
    out = json.loads(clean)
    assert out["key"] == fingerprint(doc["key"]) and out["shell_port"] == 1
    assert found[0].where == "key"


def test_json_that_is_not_json_still_loses_secrets() -> None:
    clean, found = redact_json('{"token": "abcdef123456", truncated')
    assert "abcdef123456" not in clean and found


def test_jupyter_py_config() -> None:
    text = "c.ServerApp.token = 'abc123def456'\nc.ServerApp.ip = '0.0.0.0'\nc.NotebookApp.password = u'argon2:$x$y'\n"
    clean, found = redact_jupyter_config(text)
    assert "abc123def456" not in clean and "argon2:$x$y" not in clean and "0.0.0.0" in clean
    assert len(found) == 2


def test_netrc_keeps_machine_and_login() -> None:
    clean, found = redact_netrc("machine pypi.corp login bob password hunter22\n")
    assert clean == f"machine pypi.corp login bob password {fingerprint('hunter22')}\n" and found


def test_env_allowlist() -> None:
    env = {"HF_HOME": "/data/hf", "HF_TOKEN": HF, "CUDA_VISIBLE_DEVICES": "0", "AWS_SECRET_ACCESS_KEY": "x" * 40,
           "PIP_INDEX_URL": "https://u:pw123456@idx/simple", "JUPYTER_TOKEN": "abc", "EDITOR": "vim"}
    clean, found = redact_env(env)
    assert clean["HF_HOME"] == "/data/hf" and clean["CUDA_VISIBLE_DEVICES"] == "0"
    assert clean["HF_TOKEN"] == fingerprint(HF)
    assert clean["JUPYTER_TOKEN"] == fingerprint("abc")
    assert clean["PIP_INDEX_URL"].startswith("https://u:REDACTED:sha256:") and clean["PIP_INDEX_URL"].endswith("@idx/simple")
    assert clean["EDITOR"] == fingerprint("vim")  # not allow-listed: value hidden, presence kept
    kinds = {(r.kind, r.where) for r in found}
    assert ("environment_secret", "HF_TOKEN") in kinds and ("environment_secret", "AWS_SECRET_ACCESS_KEY") in kinds


def test_argv_two_argument_flags() -> None:
    argv, found = redact_argv(["huggingface-cli", "login", "--token", "not-a-known-format-123"])
    assert argv[-1] == fingerprint("not-a-known-format-123") and found


def test_bytes_roundtrip_keeps_non_utf8() -> None:
    data = b"caf\xe9 \xff\xfe export HF_TOKEN=" + HF.encode() + b"\n"
    clean, found = redact_bytes(data, "text")
    assert HF.encode() not in clean and clean.startswith(b"caf\xe9 \xff\xfe") and found
    assert redact_bytes(b"\x00\x01binary\xff", "text") == (b"\x00\x01binary\xff", [])


def test_private_key_block() -> None:
    pem = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
    clean, found = redact_text("before\n" + pem + "after\n")
    assert "b3BlbnNzaC1rZXktdjEAAAAA" not in clean and clean.startswith("before\n") and clean.endswith("after\n")
    assert found[0].kind == "private_key"


def test_unknown_handler_is_refused() -> None:
    with pytest.raises(ValueError):
        redact_bytes(b"x", "nope")
