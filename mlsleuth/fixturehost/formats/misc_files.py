"""safetensors, GGUF, ONNX and TF protobuf writers (from the format specs; gguf via its library).

* safetensors: u64 header length, JSON header (``__metadata__`` first, tensors sorted by dtype
  alignment then name like the safetensors library, padded with spaces to 8 bytes), data.
* GGUF: ``gguf.GGUFWriter`` for well-formed files; ``raw_gguf`` builds headers byte by byte
  for malformed ones.
* ONNX: protobuf wire encoding of ModelProto/GraphProto/NodeProto/TensorProto (onnx.proto3).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np

# -- safetensors -------------------------------------------------------------------------------
_ST_DTYPES = {np.dtype("float32"): "F32", np.dtype("float16"): "F16", np.dtype("float64"): "F64",
              np.dtype("int64"): "I64", np.dtype("int32"): "I32", np.dtype("int8"): "I8",
              np.dtype("uint8"): "U8", np.dtype("bool"): "BOOL"}


def safetensors_bytes(tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> bytes:
    items = sorted(tensors.items(), key=lambda kv: (-kv[1].dtype.itemsize, kv[0]))
    header: dict[str, Any] = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    offset = 0
    blobs = []
    for name, arr in items:
        raw = np.ascontiguousarray(arr).tobytes()
        header[name] = {"dtype": _ST_DTYPES[arr.dtype], "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * (-len(hjson) % 8)
    return struct.pack("<Q", len(hjson)) + hjson + b"".join(blobs)


def raw_safetensors(header_len: int, header: bytes, data: bytes = b"") -> bytes:
    """Arbitrary (possibly lying) header length, header bytes and data."""
    return struct.pack("<Q", header_len) + header + data


# -- GGUF --------------------------------------------------------------------------------------
def write_gguf(path: Path | str, arch: str, kv: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
    import gguf

    w = gguf.GGUFWriter(str(path), arch)
    for key, value in kv.items():
        if key == "general.name":
            w.add_name(value)
        elif key == "tokenizer.chat_template":
            w.add_chat_template(value)
        elif isinstance(value, str):
            w.add_string(key, value)
        elif isinstance(value, bool):
            w.add_bool(key, value)
        elif isinstance(value, int):
            w.add_uint32(key, value)
        elif isinstance(value, float):
            w.add_float32(key, value)
        elif isinstance(value, list) and value and isinstance(value[0], str):
            w.add_array(key, value)
        else:
            w.add_array(key, value)
    for name, arr in tensors.items():
        w.add_tensor(name, arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def _gs(s: str) -> bytes:
    raw = s.encode("utf-8")
    return struct.pack("<Q", len(raw)) + raw


def raw_gguf(kv: list[tuple[str, int, bytes]], n_tensors: int = 0, n_kv: int | None = None,
             tail: bytes = b"", version: int = 3) -> bytes:
    """GGUF header with explicit counts; kv items are (key, type, encoded value)."""
    out = b"GGUF" + struct.pack("<IQQ", version, n_tensors, len(kv) if n_kv is None else n_kv)
    for key, t, value in kv:
        out += _gs(key) + struct.pack("<I", t) + value
    return out + tail


def gguf_str(value: str) -> tuple[int, bytes]:
    return 8, _gs(value)


# -- protobuf / ONNX ---------------------------------------------------------------------------
def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def pb_field(num: int, value: Any) -> bytes:
    if isinstance(value, int):
        return _varint(num << 3) + _varint(value)
    if isinstance(value, str):
        value = value.encode("utf-8")
    return _varint(num << 3 | 2) + _varint(len(value)) + value


def onnx_tensor(name: str, arr: np.ndarray | None = None, external: dict[str, str] | None = None) -> bytes:
    out = b"".join(pb_field(1, d) for d in (arr.shape if arr is not None else (4,)))
    out += pb_field(2, 1)  # FLOAT
    out += pb_field(8, name)
    if external is not None:
        for k, v in external.items():
            out += pb_field(13, pb_field(1, k) + pb_field(2, v))
        out += pb_field(14, 1)  # data_location = EXTERNAL
    elif arr is not None:
        out += pb_field(9, np.ascontiguousarray(arr, dtype="float32").tobytes())
    return out


def onnx_node(op: str, inputs: list[str], outputs: list[str], name: str = "", domain: str = "") -> bytes:
    out = b"".join(pb_field(1, i) for i in inputs) + b"".join(pb_field(2, o) for o in outputs)
    out += pb_field(3, name or op.lower()) + pb_field(4, op)
    if domain:
        out += pb_field(7, domain)
    return out


def onnx_model(nodes: list[bytes], initializers: list[bytes], opsets: dict[str, int] | None = None) -> bytes:
    graph = b"".join(pb_field(1, n) for n in nodes) + pb_field(2, "main_graph")
    graph += b"".join(pb_field(5, t) for t in initializers)
    graph += pb_field(11, pb_field(1, "input")) + pb_field(12, pb_field(1, "output"))
    model = pb_field(1, 8) + pb_field(2, "pytorch") + pb_field(3, "2.4.0")
    model += pb_field(7, graph)
    for domain, version in (opsets or {"": 17}).items():
        model += pb_field(8, pb_field(1, domain) + pb_field(2, version))
    return model


def tf_node(name: str, op: str, inputs: list[str] = ()) -> bytes:
    """NodeDef: name=1, op=2, input=3."""
    return pb_field(1, name) + pb_field(2, op) + b"".join(pb_field(3, i) for i in inputs)


def saved_model_pb(nodes: list[bytes], tags: tuple[str, ...] = ("serve",)) -> bytes:
    """SavedModel{schema_version=1, meta_graphs=2{meta_info_def=1{tags=4}, graph_def=2{node=1}}}."""
    meta_info = b"".join(pb_field(4, t) for t in tags)
    graph = b"".join(pb_field(1, n) for n in nodes)
    meta_graph = pb_field(1, meta_info) + pb_field(2, graph)
    return pb_field(1, 1) + pb_field(2, meta_graph)


def keras_metadata_pb(layer_metadata: list[dict]) -> bytes:
    """SavedMetadata{nodes=1{node_id=1, node_path=2, identifier=3, metadata=4}}."""
    out = b""
    for i, meta in enumerate(layer_metadata):
        node = pb_field(1, i) + pb_field(2, f"root.layer-{i}") + pb_field(3, "_tf_keras_layer")
        node += pb_field(4, json.dumps(meta))
        out += pb_field(1, node)
    return out
