"""ONNX ModelProto: external-data paths that leave the model directory, custom op domains.

Read with the schema-less wire reader (the ``onnx`` package is not required). Field numbers
from onnx/onnx.proto3.
"""

from __future__ import annotations

import posixpath
from typing import Any

from mlsleuth.parsers.models.context import Ctx
from mlsleuth.parsers.models.protobuf import LEN, VARINT, ProtoError, fields, text
from mlsleuth.parsers.models.result import Severity

STANDARD_DOMAINS = {"", "ai.onnx", "ai.onnx.ml", "ai.onnx.training", "ai.onnx.preview.training",
                    "com.microsoft", "com.microsoft.nchwc", "com.microsoft.experimental",
                    "com.ms.internal.nhwc", "ai.onnx.contrib"}
# ai.onnx.contrib = onnxruntime-extensions (needs that library registered, still a native lib)
NEEDS_LIBRARY = {"ai.onnx.contrib"}
MAX_NODES = 2_000_000

# message field numbers
MODEL_GRAPH, MODEL_OPSET, MODEL_FUNCTIONS, MODEL_PRODUCER, MODEL_IR = 7, 8, 25, 2, 1
GRAPH_NODE, GRAPH_INIT, GRAPH_SPARSE_INIT = 1, 5, 15
NODE_OPTYPE, NODE_DOMAIN, NODE_ATTR, NODE_NAME = 4, 7, 5, 3
ATTR_T, ATTR_G, ATTR_TENSORS, ATTR_GRAPHS, ATTR_SPARSE, ATTR_SPARSES = 5, 6, 10, 11, 22, 23
TENSOR_NAME, TENSOR_EXTERNAL, TENSOR_LOCATION = 8, 13, 14
FUNC_NODE, FUNC_DOMAIN, FUNC_NAME = 4, 10, 1


def detect(head: bytes, ctx: Ctx) -> bool:
    if ctx.ext == ".onnx":
        return True
    # ir_version (field 1, varint, 3..12) then a known ModelProto field
    return (len(head) > 3 and head[0] == 0x08 and 3 <= head[1] <= 12
            and head[2] in (0x12, 0x1A, 0x22, 0x28, 0x32, 0x3A, 0x42))


class _Walker:
    def __init__(self, buf: Any, ctx: Ctx) -> None:
        self.buf = buf
        self.ctx = ctx
        self.domains: dict[str, list[str]] = {}
        self.external: list[tuple[str, str]] = []
        self.nodes = 0
        self.ops: set[str] = set()

    def model(self) -> None:
        for num, wt, _v, s, e in fields(self.buf):
            if num == MODEL_GRAPH and wt == LEN:
                self.graph(s, e, 0)
            elif num == MODEL_OPSET and wt == LEN:
                dom = self.string_field(s, e, 1)
                if dom not in STANDARD_DOMAINS:
                    self.domains.setdefault(dom, [])
            elif num == MODEL_FUNCTIONS and wt == LEN:
                self.function(s, e)

    def string_field(self, s: int, e: int, want: int) -> str:
        for num, wt, _v, fs, fe in fields(self.buf, s, e):
            if num == want and wt == LEN:
                return text(self.buf, fs, fe, 4096)
        return ""

    def graph(self, s: int, e: int, depth: int) -> None:
        if depth > 32:
            raise ProtoError("subgraphs nested too deep")
        for num, wt, _v, fs, fe in fields(self.buf, s, e):
            if wt != LEN:
                continue
            if num == GRAPH_NODE:
                self.node(fs, fe, depth)
            elif num == GRAPH_INIT:
                self.tensor(fs, fe)
            elif num == GRAPH_SPARSE_INIT:
                for n2, w2, _v2, s2, e2 in fields(self.buf, fs, fe):
                    if n2 in (1, 2) and w2 == LEN:
                        self.tensor(s2, e2)

    def function(self, s: int, e: int) -> None:
        domain = self.string_field(s, e, FUNC_DOMAIN)
        for num, wt, _v, fs, fe in fields(self.buf, s, e):
            if num == FUNC_NODE and wt == LEN:
                self.node(fs, fe, 1, local_domain=domain)

    def node(self, s: int, e: int, depth: int, local_domain: str | None = None) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ProtoError(f"more than {MAX_NODES} nodes")
        op = domain = ""
        for num, wt, _v, fs, fe in fields(self.buf, s, e):
            if wt != LEN:
                continue
            if num == NODE_OPTYPE:
                op = text(self.buf, fs, fe, 256)
            elif num == NODE_DOMAIN:
                domain = text(self.buf, fs, fe, 256)
            elif num == NODE_ATTR:
                for n2, w2, _v2, s2, e2 in fields(self.buf, fs, fe):
                    if w2 != LEN:
                        continue
                    if n2 == ATTR_G or n2 == ATTR_GRAPHS:
                        self.graph(s2, e2, depth + 1)
                    elif n2 in (ATTR_T, ATTR_TENSORS):
                        self.tensor(s2, e2)
        if domain not in STANDARD_DOMAINS or domain in NEEDS_LIBRARY:
            if domain != local_domain:
                self.domains.setdefault(domain, [])
                if op not in self.domains[domain] and len(self.domains[domain]) < 20:
                    self.domains[domain].append(op)
        self.ops.add(op)

    def tensor(self, s: int, e: int) -> None:
        name = ""
        external = False
        entries: dict[str, str] = {}
        for num, wt, v, fs, fe in fields(self.buf, s, e):
            if num == TENSOR_NAME and wt == LEN:
                name = text(self.buf, fs, fe, 1024)
            elif num == TENSOR_LOCATION and wt == VARINT:
                external = v == 1
            elif num == TENSOR_EXTERNAL and wt == LEN:
                key = value = ""
                for n2, w2, _v2, s2, e2 in fields(self.buf, fs, fe):
                    if w2 == LEN and n2 == 1:
                        key = text(self.buf, s2, e2, 256)
                    elif w2 == LEN and n2 == 2:
                        value = text(self.buf, s2, e2, 4096)
                entries[key] = value
        if external or entries:
            self.external.append((name, entries.get("location", "")))


def escapes_directory(location: str) -> str | None:
    """Why an external-data location can reach outside the model's directory, or None."""
    if not location:
        return "empty location"
    loc = location.replace("\\", "/")
    if loc.startswith("/") or (len(loc) > 1 and loc[1] == ":"):
        return "absolute path"
    if "\x00" in loc:
        return "NUL byte in path"
    norm = posixpath.normpath(loc)
    if norm == ".." or norm.startswith("../"):
        return "leaves the model directory (..)"
    return None


def inspect(buf: Any, ctx: Ctx) -> None:
    ctx.format = "onnx"
    walker = _Walker(buf, ctx)
    try:
        walker.model()
    except ProtoError as exc:
        ctx.add("onnx-malformed", Severity.MEDIUM, f"ONNX protobuf unreadable: {exc}")
    for dom, ops in walker.domains.items():
        ctx.add("onnx-custom-domain", Severity.MEDIUM,
                f"operators from custom domain {dom!r} need a native custom-op library at load",
                dom, ops)
    bad = [(n, loc, why) for n, loc in walker.external if (why := escapes_directory(loc))]
    for n, loc, why in bad[:20]:
        sev = Severity.HIGH if why != "empty location" else Severity.MEDIUM
        ctx.add("onnx-external-data-escape", sev,
                f"initializer {n!r} reads external data from {loc!r}: {why} (path traversal, "
                "CVE-2024-27318 family)", n, [loc])
    ok_ext = [loc for _n, loc in walker.external if not escapes_directory(loc)]
    if ok_ext:
        ctx.add("onnx-external-data", Severity.INFO, f"{len(ok_ext)} initializers use external data files",
                "", sorted(set(ok_ext))[:10])
    if walker.nodes == 0 and not walker.external:
        ctx.add("onnx-empty", Severity.LOW, "no graph nodes found")
