"""Keras / TensorFlow: HDF5 (.h5), .keras zips, SavedModel protobufs.

What runs code when a Keras model loads: Lambda layers (marshalled Python bytecode, CVE-2024-3660
for Keras < 2.13 without safe_mode), module/class references resolved by the deserializer
(CVE-2025-1550: config.json naming arbitrary modules), custom objects, TFSMLayer (loads another
SavedModel) and TorchModuleWrapper (torch.load of an embedded module). The config JSON is walked
at every nesting depth (nested Functional/Sequential models, wrappers like TimeDistributed).
Lambda bytecode is decoded with marshal.loads and listed with dis: static, never executed.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from mlsleuth.parsers.models.context import Ctx
from mlsleuth.parsers.models.pickle_policy import policy
from mlsleuth.parsers.models.protobuf import strings
from mlsleuth.parsers.models.result import Severity

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
KERAS_MODULE_PREFIXES = ("keras", "tf_keras", "tensorflow", "keras_hub", "keras_nlp", "keras_cv",
                         "keras_core", "tensorflow_hub", "tensorflow_text", "numpy")
CODE_NAMES = {  # names in Lambda bytecode and what they mean
    "system": Severity.CRITICAL, "popen": Severity.CRITICAL, "Popen": Severity.CRITICAL,
    "subprocess": Severity.CRITICAL, "exec": Severity.CRITICAL, "eval": Severity.CRITICAL,
    "__import__": Severity.CRITICAL, "compile": Severity.HIGH, "os": Severity.HIGH, "socket": Severity.CRITICAL,
    "check_output": Severity.CRITICAL, "run": Severity.MEDIUM, "spawn": Severity.CRITICAL,
    "execv": Severity.CRITICAL, "execve": Severity.CRITICAL, "open": Severity.HIGH, "urlopen": Severity.HIGH,
    "urlretrieve": Severity.HIGH, "requests": Severity.HIGH, "urllib": Severity.HIGH, "shutil": Severity.HIGH,
    "remove": Severity.HIGH, "unlink": Severity.HIGH, "rmtree": Severity.HIGH, "getattr": Severity.HIGH,
    "builtins": Severity.HIGH, "__builtins__": Severity.HIGH, "marshal": Severity.HIGH, "pickle": Severity.HIGH,
    "loads": Severity.HIGH, "b64decode": Severity.HIGH, "ctypes": Severity.CRITICAL, "pty": Severity.CRITICAL,
    "environ": Severity.MEDIUM, "write": Severity.MEDIUM, "importlib": Severity.CRITICAL,
}
RISKY_CLASSES = {
    "TFSMLayer": (Severity.HIGH, "TFSMLayer loads and runs another SavedModel from a path"),
    "TorchModuleWrapper": (Severity.HIGH, "TorchModuleWrapper unpickles a torch module (torch.load)"),
    "JaxLayer": (Severity.MEDIUM, "JaxLayer calls arbitrary functions"),
    "FlaxLayer": (Severity.MEDIUM, "FlaxLayer calls arbitrary modules"),
}
TF_FILE_OPS = {
    "ReadFile": Severity.HIGH, "WriteFile": Severity.HIGH, "MatchingFiles": Severity.MEDIUM,
    "PyFunc": Severity.CRITICAL, "PyFuncStateless": Severity.CRITICAL, "EagerPyFunc": Severity.CRITICAL,
    "ImmutableConst": Severity.MEDIUM, "DeleteFile": Severity.HIGH, "PrintV2": Severity.LOW,
    "LoadLibrary": Severity.CRITICAL, "WholeFileReader": Severity.HIGH, "WholeFileReaderV2": Severity.HIGH,
    "FixedLengthRecordReaderV2": Severity.MEDIUM, "TextLineReaderV2": Severity.MEDIUM,
    "ExperimentalSaveDataset": Severity.MEDIUM, "SaveDatasetV2": Severity.MEDIUM,
    "DebugIdentityV2": Severity.LOW, "Socket": Severity.CRITICAL,
}
MAX_CODE_B64 = 4 * 1024 * 1024
# Functions inside Keras itself that a config can call to escape safe_mode or touch files
# (CVE-2025-8747 get_file, CVE-2025-9906 enable_unsafe_deserialization / set_global_attribute,
# load_model with safe_mode=False).
KERAS_GADGETS = {"load_model": Severity.CRITICAL, "enable_unsafe_deserialization": Severity.CRITICAL,
                 "set_global_attribute": Severity.CRITICAL, "get_file": Severity.HIGH,
                 "load_weights": Severity.HIGH, "import_module": Severity.CRITICAL,
                 "register_keras_serializable": Severity.MEDIUM, "deserialize_keras_object": Severity.HIGH,
                 "exec": Severity.CRITICAL, "eval": Severity.CRITICAL, "save_model": Severity.HIGH,
                 "copy": Severity.HIGH, "rmtree": Severity.HIGH, "makedirs": Severity.MEDIUM,
                 "File": Severity.MEDIUM, "GFile": Severity.HIGH}


# -- config walking --------------------------------------------------------------------------
class ConfigWalker:
    def __init__(self, ctx: Ctx, location: str) -> None:
        self.ctx = ctx
        self.location = location
        self.layers = 0
        self.classes: set[str] = set()

    def walk(self, node: Any, path: str = "", depth: int = 0) -> None:
        if depth > 200:
            self.ctx.add("keras-config-depth", Severity.MEDIUM, "config nested deeper than 200 levels",
                         self.location)
            return
        if isinstance(node, dict):
            cls = node.get("class_name")
            if isinstance(cls, str):
                self.layer(node, cls, path, depth)
            for key, value in node.items():
                if isinstance(value, dict | list):
                    self.walk(value, f"{path}/{key}", depth + 1)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                if isinstance(value, dict | list):
                    self.walk(value, f"{path}[{i}]", depth + 1)

    def layer(self, node: dict, cls: str, path: str, depth: int) -> None:
        self.layers += 1
        self.classes.add(cls)
        cfg = node.get("config") if isinstance(node.get("config"), dict) else {}
        name = cfg.get("name") if isinstance(cfg, dict) else None
        where = f"{self.location}{path}" + (f" ({name})" if isinstance(name, str) else "")
        module = node.get("module")
        if cls == "Lambda":
            self.lambda_layer(cfg, where, depth)
        if cls == "__lambda__":
            return  # handled by the enclosing Lambda
        if cls in RISKY_CLASSES:
            sev, why = RISKY_CLASSES[cls]
            inds = [str(cfg.get(k)) for k in ("filepath", "module", "call_endpoint") if cfg.get(k)]
            self.ctx.add("keras-risky-layer", sev, f"{cls} layer at depth {depth}: {why}", where, inds)
        if isinstance(module, str) and module and not module.startswith(KERAS_MODULE_PREFIXES):
            self.module_ref(module, cls, node, where)
        if cls == "function" and isinstance(node.get("config"), str):
            # Keras 3 serialized function: {"module": m, "class_name": "function", "config": "name"}
            self.function_ref(module if isinstance(module, str) else "", node["config"], where)
        registered = node.get("registered_name")
        if isinstance(registered, str) and registered not in (cls, "function") and ">" in registered:
            self.ctx.add("keras-custom-object", Severity.MEDIUM,
                         f"custom object {registered!r}: loading imports and runs its registered code",
                         where, [registered])

    def module_ref(self, module: str, cls: str, node: dict, where: str) -> None:
        j = policy().judge(module, cls)
        if j.allowed:
            return
        sev = j.severity if j.rule != "default" else Severity.MEDIUM
        self.ctx.add("keras-module-reference", max(sev or Severity.MEDIUM, Severity.MEDIUM),
                     f"config resolves {module}.{cls} ({j.reason}): Keras imports the module named in the "
                     "config (CVE-2025-1550 family)", where, [f"{module}.{cls}"])

    def function_ref(self, module: str, name: str, where: str) -> None:
        short = name.rsplit(".", 1)[-1]
        if short in KERAS_GADGETS and (module.startswith(KERAS_MODULE_PREFIXES) or not module):
            self.ctx.add("keras-gadget-function", KERAS_GADGETS[short],
                         f"config calls {module}.{name}: a Keras-internal gadget (safe_mode bypass, "
                         "CVE-2025-8747 / CVE-2025-9906 family)", where, [f"{module}.{name}"])
            return
        if module.startswith(KERAS_MODULE_PREFIXES):
            return
        j = policy().judge(module or "builtins", name)
        if j.allowed:
            return
        sev = j.severity if j.rule != "default" else Severity.MEDIUM
        self.ctx.add("keras-function-reference", max(sev or Severity.MEDIUM, Severity.MEDIUM),
                     f"config references function {j.qualname} ({j.reason})", where, [j.qualname])

    def lambda_layer(self, cfg: dict, where: str, depth: int) -> None:
        fn = cfg.get("function")
        ftype = cfg.get("function_type")
        code_b64: str | None = None
        if isinstance(fn, list) and fn and isinstance(fn[0], str):  # Keras 2: [code, defaults, closure]
            code_b64 = fn[0]
        elif isinstance(fn, dict):  # Keras 3: {"class_name": "__lambda__", "config": {"code": ...}}
            inner = fn.get("config")
            if isinstance(inner, dict) and isinstance(inner.get("code"), str):
                code_b64 = inner["code"]
            elif isinstance(inner, str):
                args = cfg.get("arguments")
                self.ctx.add("keras-lambda-function", Severity.MEDIUM,
                             f"Lambda layer calls {fn.get('module')}.{inner} with config-chosen arguments",
                             where, [json.dumps(args)[:300]] if args else [])
                return  # the function dict itself is judged by layer() (class_name "function")
        elif isinstance(fn, str) and ftype != "lambda":
            module = cfg.get("module") if isinstance(cfg.get("module"), str) else ""
            self.function_ref(module, fn, where)
            return
        elif isinstance(fn, str):
            code_b64 = fn
        if code_b64 is None:
            self.ctx.add("keras-lambda", Severity.MEDIUM, f"Lambda layer at depth {depth} without decodable code",
                         where)
            return
        names, listing, error = decode_lambda(code_b64)
        worst = max((CODE_NAMES[n] for n in names if n in CODE_NAMES), default=None)
        sev = Severity.MEDIUM if worst is None or worst < Severity.MEDIUM else worst
        msg = (f"Lambda layer at depth {depth} runs marshalled Python bytecode on load "
               f"(CVE-2024-3660 without safe_mode)")
        if names:
            msg += f"; references: {', '.join(names[:20])}"
        if error:
            msg += f"; {error}"
        self.ctx.add("keras-lambda", sev, msg, where, listing[:15])


def decode_lambda(code_b64: str) -> tuple[list[str], list[str], str | None]:
    """(names referenced, disassembly/constant lines, error). Never executes the code."""
    if len(code_b64) > MAX_CODE_B64:
        return [], [], "bytecode too large to decode"
    try:
        raw = base64.b64decode(code_b64.encode("ascii"), validate=False)
    except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
        return [], [], f"not base64: {exc}"
    try:
        import marshal

        code = marshal.loads(raw)  # static-ok: builds a code object for dis; nothing runs it
        if not hasattr(code, "co_names"):
            raise ValueError(f"marshalled {type(code).__name__}, not code")
    except Exception as exc:  # noqa: BLE001 - other Python versions' code objects fail in many ways
        names = marshal_strings(raw)
        return names, [f"strings: {', '.join(names[:30])}"], (
            f"bytecode from another Python version ({type(exc).__name__}); names recovered from raw marshal data")
    names: list[str] = []
    listing: list[str] = []
    _walk_code(code, names, listing, 0)
    return names, listing, None


def _walk_code(code: Any, names: list[str], listing: list[str], depth: int) -> None:
    if depth > 8:
        return
    import dis

    for n in getattr(code, "co_names", ()):
        if isinstance(n, str) and n not in names:
            names.append(n)
    try:
        for ins in dis.get_instructions(code):
            if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME", "LOAD_ATTR", "LOAD_METHOD", "IMPORT_NAME",
                              "IMPORT_FROM", "CALL", "CALL_FUNCTION", "PRECALL", "LOAD_CONST"):
                if ins.opname == "LOAD_CONST" and not isinstance(ins.argval, str | bytes | int):
                    continue
                if len(listing) < 60 and ins.opname not in ("CALL", "PRECALL", "CALL_FUNCTION"):
                    listing.append(f"{ins.opname} {ins.argrepr}"[:200])
    except Exception as exc:  # noqa: BLE001 - malformed bytecode
        listing.append(f"disassembly failed: {type(exc).__name__}")
    for const in getattr(code, "co_consts", ()):
        if hasattr(const, "co_code"):
            _walk_code(const, names, listing, depth + 1)
        elif isinstance(const, str) and len(listing) < 60 and len(const) > 3:
            listing.append(f"const {const[:150]!r}")


_MARSHAL_STR_TYPES = {ord("z"), ord("Z"), ord("a"), ord("A"), ord("u"), ord("t"), ord("s")}


def marshal_strings(raw: bytes) -> list[str]:
    """Identifier-like strings in marshal data of any Python version (fallback path)."""
    out: list[str] = []
    i = 0
    n = len(raw)
    while i < n and len(out) < 200:
        t = raw[i] & 0x7F
        if t in (ord("z"), ord("Z")) and i + 1 < n:
            ln = raw[i + 1]
            s = raw[i + 2:i + 2 + ln]
            i += 2
        elif t in _MARSHAL_STR_TYPES and i + 5 <= n:
            ln = int.from_bytes(raw[i + 1:i + 5], "little")
            if ln > 4096:
                i += 1
                continue
            s = raw[i + 5:i + 5 + ln]
            i += 5
        else:
            i += 1
            continue
        try:
            text = s.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if text and text.isprintable() and text not in out and len(text) == len(s):
            out.append(text)
            i += len(s)
    return out


def check_config_json(raw: bytes | str, ctx: Ctx, location: str) -> None:
    try:
        cfg = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        ctx.add("keras-config-malformed", Severity.MEDIUM, f"{location} is not valid JSON: {str(exc)[:200]}",
                location)
        return
    walker = ConfigWalker(ctx, location)
    walker.walk(cfg)


# -- HDF5 --------------------------------------------------------------------------------------
def detect_h5(head: bytes, ctx: Ctx) -> bool:
    return head.startswith(HDF5_MAGIC)


H5_CONFIG_ATTRS = ("model_config", "training_config")


def h5_config_attrs(source: Any) -> dict[str, bytes]:
    """Keras' JSON attributes of an HDF5 file (path or file-like), read with h5py."""
    import h5py

    out: dict[str, bytes] = {}
    with h5py.File(source, "r") as f:
        for name in H5_CONFIG_ATTRS + ("keras_version", "backend"):
            if name in f.attrs:
                val = f.attrs[name]
                if isinstance(val, bytes):
                    out[name] = val
                elif isinstance(val, str):
                    out[name] = val.encode("utf-8")
                else:
                    out[name] = str(val).encode("utf-8")
    return out


def inspect_h5(buf: Any, ctx: Ctx) -> None:
    ctx.format = "hdf5"
    import io

    try:
        source: Any = str(ctx.path) if ctx.path is not None else io.BytesIO(bytes(buf))
        attrs = h5_config_attrs(source)
    except ImportError:
        ctx.unsupported = True
        ctx.add("hdf5-unsupported", Severity.LOW, "h5py is not installed: HDF5 attributes not read")
        return
    except Exception as exc:  # noqa: BLE001 - h5py raises many types on damaged files
        ctx.add("hdf5-malformed", Severity.MEDIUM, f"HDF5 file unreadable: {type(exc).__name__}: {exc}")
        return
    if "model_config" in attrs:
        ctx.format = "keras-h5"
        check_config_json(attrs["model_config"], ctx, "model_config")
    if "training_config" in attrs:
        check_config_json(attrs["training_config"], ctx, "training_config")


# -- .keras zip --------------------------------------------------------------------------------
def is_keras_zip(names: list[str]) -> bool:
    return "config.json" in names and ("metadata.json" in names or "model.weights.h5" in names)


def inspect_keras_zip(arc: Any, ctx: Ctx) -> None:
    from mlsleuth.parsers.models.scan import inspect_member

    ctx.format = "keras"
    for e in arc.entries:
        if e.name in ("config.json", "metadata.json"):
            try:
                data = arc.read(e, limit=64 * 1024 * 1024)
            except Exception as exc:  # noqa: BLE001
                ctx.add("keras-member-unreadable", Severity.MEDIUM, f"{e.name}: {exc}", e.name)
                continue
            for p in e.problems:
                ctx.add("zip-member-irregular", Severity.MEDIUM, f"{e.name}: {p}", e.name)
            if e.name == "config.json":
                check_config_json(data, ctx, "config.json")
            else:
                _check_metadata(data, ctx)
        elif e.name.endswith((".py", ".pkl", ".pt", ".pth", ".bin", ".npy", ".zip", ".keras")):
            data = arc.read(e, limit=256 * 1024 * 1024)
            inspect_member(data, e.name, ctx)


def _check_metadata(raw: bytes, ctx: Ctx) -> None:
    try:
        meta = json.loads(raw)
    except ValueError:
        ctx.add("keras-config-malformed", Severity.LOW, "metadata.json is not valid JSON", "metadata.json")
        return
    if isinstance(meta, dict):
        ver = meta.get("keras_version")
        ctx.add("keras-metadata", Severity.INFO, f"saved by Keras {ver}", "metadata.json",
                [f"{k}={str(v)[:80]}" for k, v in list(meta.items())[:8]])


# -- SavedModel ----------------------------------------------------------------------------------
def is_savedmodel_pb(ctx: Ctx) -> bool:
    return ctx.name in ("saved_model.pb", "keras_metadata.pb", "saved_model.pbtxt") or ctx.ext == ".pb"


def inspect_savedmodel(buf: Any, ctx: Ctx) -> None:
    ctx.format = "tf-savedmodel" if ctx.name != "keras_metadata.pb" else "keras-savedmodel-metadata"
    from mlsleuth.parsers.models.protobuf import ProtoError, fields

    try:
        for _ in fields(buf):
            pass
    except ProtoError as exc:
        ctx.add("protobuf-malformed", Severity.MEDIUM, f"protobuf does not parse to the end: {exc}")
    ops_seen: dict[str, int] = {}
    json_blobs = 0
    for s in strings(buf, min_len=2):
        if s in TF_FILE_OPS:
            ops_seen[s] = ops_seen.get(s, 0) + 1
        elif s.startswith("{") and '"class_name"' in s:
            json_blobs += 1
            check_config_json(s, ctx, f"metadata#{json_blobs}")
        elif "__lambda__" in s or re.search(r'"class_name":\s*"Lambda"', s):
            ctx.add("keras-lambda", Severity.MEDIUM, "Lambda layer reference in SavedModel strings", "")
    for op, count in sorted(ops_seen.items()):
        sev = TF_FILE_OPS[op]
        ctx.add("tf-dangerous-op", sev, f"graph uses {op} ({count}x): reads/writes files or runs Python "
                "when the graph executes", op, [op])
