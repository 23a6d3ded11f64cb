"""A tolerant, symbolic pickle reader: opcodes in, imported globals and calls out.

Never unpickles. Each opcode is decoded from the bytes and applied to a *symbolic* stack and
memo, so GLOBAL / STACK_GLOBAL (with operands fetched through the memo), INST, OBJ, NEWOBJ,
NEWOBJ_EX, REDUCE and BUILD are resolved to "which callable, with which arguments" exactly as
``pickle`` would, without importing or calling anything.

Unlike ``pickletools.genops`` (which raises at the first bad byte and yields nothing useful
after a truncation) this reader keeps every global and call seen *before* an error and
reports the error with its offset: the "nullifAI" broken-pickle trick (payload first, then
an invalid opcode so the loader fails *after* running it) is therefore visible.

Bounds: ops, memo entries, stack depth, container sizes kept for display and nesting depth
of pickles-inside-strings are all capped; big strings are never copied whole.
"""

from __future__ import annotations

import codecs
import gc
import struct
from typing import Any

from mlsleuth.parsers.models.pickle_fast import fast_analyze
from mlsleuth.parsers.models.pickle_values import (  # noqa: F401 - re-exported: the reader's API
    HIGHEST_PROTOCOL,
    MAX_KEEP_ITEMS,
    MAX_MARKS,
    MAX_MEMO,
    MAX_NESTED_CANDIDATES,
    MAX_NESTED_DEPTH,
    MAX_OPS,
    MAX_STACK,
    MAX_STR_KEEP,
    BigData,
    Build,
    CallVal,
    DictVal,
    GlobalRef,
    ListVal,
    Nested,
    Opaque,
    PersRef,
    PickleAnalysis,
    PickleError,
    SetVal,
    _dec,
    _is_joblib_wrapper,
    _keep,
    appends,
    setitems,
)

_unpack_i = struct.Struct("<i").unpack_from
_unpack_I = struct.Struct("<I").unpack_from
_unpack_H = struct.Struct("<H").unpack_from
_unpack_Q = struct.Struct("<Q").unpack_from
_unpack_d = struct.Struct(">d").unpack_from


# opcode byte -> name, for messages only
_OPNAMES = {
    0x28: "MARK", 0x2e: "STOP", 0x30: "POP", 0x31: "POP_MARK", 0x32: "DUP", 0x46: "FLOAT", 0x49: "INT",
    0x4a: "BININT", 0x4b: "BININT1", 0x4c: "LONG", 0x4d: "BININT2", 0x4e: "NONE", 0x50: "PERSID",
    0x51: "BINPERSID", 0x52: "REDUCE", 0x53: "STRING", 0x54: "BINSTRING", 0x55: "SHORT_BINSTRING",
    0x56: "UNICODE", 0x58: "BINUNICODE", 0x61: "APPEND", 0x62: "BUILD", 0x63: "GLOBAL", 0x64: "DICT",
    0x7d: "EMPTY_DICT", 0x65: "APPENDS", 0x67: "GET", 0x68: "BINGET", 0x69: "INST", 0x6a: "LONG_BINGET",
    0x6c: "LIST", 0x5d: "EMPTY_LIST", 0x6f: "OBJ", 0x70: "PUT", 0x71: "BINPUT", 0x72: "LONG_BINPUT",
    0x73: "SETITEM", 0x74: "TUPLE", 0x29: "EMPTY_TUPLE", 0x75: "SETITEMS", 0x47: "BINFLOAT",
    0x80: "PROTO", 0x81: "NEWOBJ", 0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4", 0x85: "TUPLE1",
    0x86: "TUPLE2", 0x87: "TUPLE3", 0x88: "NEWTRUE", 0x89: "NEWFALSE", 0x8a: "LONG1", 0x8b: "LONG4",
    0x42: "BINBYTES", 0x43: "SHORT_BINBYTES", 0x8c: "SHORT_BINUNICODE", 0x8d: "BINUNICODE8",
    0x8e: "BINBYTES8", 0x8f: "EMPTY_SET", 0x90: "ADDITEMS", 0x91: "FROZENSET", 0x92: "NEWOBJ_EX",
    0x93: "STACK_GLOBAL", 0x94: "MEMOIZE", 0x95: "FRAME", 0x96: "BYTEARRAY8", 0x97: "NEXT_BUFFER",
    0x98: "READONLY_BUFFER",
}
VALID_OPCODES = frozenset(_OPNAMES)
# Bytes a protocol 0/1 pickle (no PROTO header) may plausibly start with.
TEXT_START_OPCODES = frozenset(b"(cNIJKLFSVX]}lPd)ig")


class _Machine:
    __slots__ = ("buf", "end", "out", "depth", "joblib", "stack", "metastack", "memo", "nested_budget")

    def __init__(self, buf: Any, end: int, out: PickleAnalysis, depth: int, joblib: bool) -> None:
        self.buf = buf
        self.end = end
        self.out = out
        self.depth = depth
        self.joblib = joblib
        self.stack: list = []
        self.metastack: list = []
        self.memo: dict[int, Any] = {}
        self.nested_budget = MAX_NESTED_CANDIDATES

    # -- helpers ---------------------------------------------------------------------------
    def pop_mark(self) -> list:
        if not self.metastack:
            raise PickleError("could not find MARK")
        items = self.stack
        self.stack = self.metastack.pop()
        return items

    def pop(self) -> Any:
        if not self.stack:
            raise PickleError("unpickling stack underflow")
        return self.stack.pop()

    def take(self, pos: int, n: int) -> int:
        """Bounds check for an n-byte argument at pos; returns the end offset."""
        stop = pos + n
        if n < 0 or stop > self.end:
            raise PickleError(f"truncated: argument of {n} bytes runs past the end")
        return stop

    def readline(self, pos: int) -> tuple[bytes, int]:
        nl = self.buf.find(b"\n", pos, self.end)
        if nl < 0:
            raise PickleError("truncated: missing newline")
        return bytes(self.buf[pos:nl]), nl + 1

    def text(self, pos: int, n: int, kind: str, encoding: str = "utf-8") -> Any:
        stop = self.take(pos, n)
        if n > MAX_STR_KEEP:
            head = bytes(self.buf[pos:pos + MAX_STR_KEEP])
            self.maybe_nested(pos, stop)
            return BigData(kind, n, head.decode(encoding, "replace"))
        raw = bytes(self.buf[pos:stop])
        if n >= 8 and raw[:1] == b"\x80":
            self.maybe_nested(pos, stop)
        if kind == "bytes":
            return raw
        try:
            return raw.decode(encoding, "surrogatepass")
        except UnicodeDecodeError as exc:
            raise PickleError(f"undecodable {kind} string: {exc.reason}") from None

    def maybe_nested(self, pos: int, stop: int) -> None:
        """A string constant holding a pickle (fed to pickle.loads by some other gadget)."""
        buf = self.buf
        if stop - pos < 8 or buf[pos] != 0x80 or buf[pos + 1] > HIGHEST_PROTOCOL or buf[pos + 1] < 2:
            return
        if self.depth >= MAX_NESTED_DEPTH or self.nested_budget <= 0:
            if self.depth >= MAX_NESTED_DEPTH:
                self.out.limits.append(f"nested pickle at {pos} beyond depth {MAX_NESTED_DEPTH} not analysed")
            return
        self.nested_budget -= 1
        sub = analyze(buf, pos, stop, depth=self.depth + 1, multi=False)
        if sub.globals or sub.streams:
            self.out.nested.append(Nested(pos, sub))

    def push_global(self, module: str, name: str, offset: int, opcode: str) -> GlobalRef:
        ref = GlobalRef(module, name, offset, opcode)
        self.out.globals.append(ref)
        return ref

    # -- the loop ------------------------------------------------------------------------
    def run(self, pos: int) -> tuple[int, bool]:
        """Execute symbolically from pos; returns (next offset, reached STOP).

        Hot loop: locals instead of attributes, most frequent opcodes first, bounds checks
        only where a slice could silently come back short (IndexError/struct.error from
        fixed-width reads are turned into "truncated" errors below).
        """
        buf = self.buf
        end = self.end
        out = self.out
        memo = self.memo
        metastack = self.metastack
        stack = self.stack
        calls = out.calls
        ops = 0
        op_start = pos
        limit = MAX_OPS
        try:
            while True:
                if pos >= end:
                    raise PickleError("truncated: no STOP opcode")
                op_start = pos
                op = buf[pos]
                pos += 1
                ops += 1
                if op == 0x4B:  # BININT1 (runs of them: shapes, strides, offsets)
                    stack.append(buf[pos])
                    pos += 1
                    while pos + 1 < end and buf[pos] == 0x4B:
                        stack.append(buf[pos + 1])
                        pos += 2
                        ops += 1
                elif op == 0x68:  # BINGET
                    idx = buf[pos]
                    pos += 1
                    try:
                        stack.append(memo[idx])
                    except KeyError:
                        raise PickleError(f"memo value {idx} not found") from None
                elif op == 0x58:  # BINUNICODE
                    (n,) = _unpack_I(buf, pos)
                    pos += 4
                    if n < 8 or (n <= 64 and buf[pos] != 0x80):  # fast path: short names/keys
                        raw = buf[pos:pos + n]
                        if len(raw) != n or pos + n > end:
                            raise PickleError(f"truncated: argument of {n} bytes runs past the end")
                        try:
                            stack.append(raw.decode())
                        except UnicodeDecodeError:
                            stack.append(self.text(pos, n, "str"))
                    else:
                        stack.append(self.text(pos, n, "str"))
                    pos += n
                    # fused "push; BINPUT n" / "push; MEMOIZE": CPython memoizes every new object
                    if pos + 1 < end:
                        nxt = buf[pos]
                        if nxt == 0x71:
                            idx = buf[pos + 1]
                            if idx in memo or len(memo) < MAX_MEMO:
                                memo[idx] = stack[-1]
                                pos += 2
                                ops += 1
                        elif nxt == 0x94 and len(memo) < MAX_MEMO:
                            memo[len(memo)] = stack[-1]
                            pos += 1
                            ops += 1
                elif op == 0x28:  # MARK (nesting bounded by the periodic check below)
                    metastack.append(stack)
                    stack = []
                elif op == 0x52:  # REDUCE
                    if len(stack) < 2:
                        raise PickleError("unpickling stack underflow")
                    args = stack.pop()
                    val = CallVal(stack[-1], args, op_start, "reduce")
                    calls.append(val)
                    stack[-1] = val
                    # fused "push; BINPUT n" / "push; MEMOIZE": CPython memoizes every new object
                    if pos + 1 < end:
                        nxt = buf[pos]
                        if nxt == 0x71:
                            idx = buf[pos + 1]
                            if idx in memo or len(memo) < MAX_MEMO:
                                memo[idx] = stack[-1]
                                pos += 2
                                ops += 1
                        elif nxt == 0x94 and len(memo) < MAX_MEMO:
                            memo[len(memo)] = stack[-1]
                            pos += 1
                            ops += 1
                elif op == 0x74:  # TUPLE
                    if not metastack:
                        raise PickleError("could not find MARK")
                    items = tuple(stack)
                    stack = metastack.pop()
                    stack.append(items)
                    # fused "push; BINPUT n" / "push; MEMOIZE": CPython memoizes every new object
                    if pos + 1 < end:
                        nxt = buf[pos]
                        if nxt == 0x71:
                            idx = buf[pos + 1]
                            if idx in memo or len(memo) < MAX_MEMO:
                                memo[idx] = stack[-1]
                                pos += 2
                                ops += 1
                        elif nxt == 0x94 and len(memo) < MAX_MEMO:
                            memo[len(memo)] = stack[-1]
                            pos += 1
                            ops += 1
                elif op == 0x29:  # EMPTY_TUPLE
                    stack.append(())
                elif op == 0x89:  # NEWFALSE
                    stack.append(False)
                elif op == 0x51:  # BINPERSID
                    if not stack:
                        raise PickleError("unpickling stack underflow")
                    out.persistent_ids += 1
                    if len(out.pids) < 100_000:
                        out.pids.append(stack[-1])
                    stack[-1] = PersRef(stack[-1])
                elif op == 0x85:  # TUPLE1
                    if not stack:
                        raise PickleError("unpickling stack underflow")
                    stack[-1] = (stack[-1],)
                    # fused "push; BINPUT n" / "push; MEMOIZE": CPython memoizes every new object
                    if pos + 1 < end:
                        nxt = buf[pos]
                        if nxt == 0x71:
                            idx = buf[pos + 1]
                            if idx in memo or len(memo) < MAX_MEMO:
                                memo[idx] = stack[-1]
                                pos += 2
                                ops += 1
                        elif nxt == 0x94 and len(memo) < MAX_MEMO:
                            memo[len(memo)] = stack[-1]
                            pos += 1
                            ops += 1
                elif op == 0x86:  # TUPLE2
                    if len(stack) < 2:
                        raise PickleError("unpickling stack underflow")
                    b = stack.pop()
                    stack[-1] = (stack[-1], b)
                    # fused "push; BINPUT n" / "push; MEMOIZE": CPython memoizes every new object
                    if pos + 1 < end:
                        nxt = buf[pos]
                        if nxt == 0x71:
                            idx = buf[pos + 1]
                            if idx in memo or len(memo) < MAX_MEMO:
                                memo[idx] = stack[-1]
                                pos += 2
                                ops += 1
                        elif nxt == 0x94 and len(memo) < MAX_MEMO:
                            memo[len(memo)] = stack[-1]
                            pos += 1
                            ops += 1
                elif op == 0x7D:  # EMPTY_DICT
                    stack.append(DictVal([]))
                    # fused "push; BINPUT n" / "push; MEMOIZE": CPython memoizes every new object
                    if pos + 1 < end:
                        nxt = buf[pos]
                        if nxt == 0x71:
                            idx = buf[pos + 1]
                            if idx in memo or len(memo) < MAX_MEMO:
                                memo[idx] = stack[-1]
                                pos += 2
                                ops += 1
                        elif nxt == 0x94 and len(memo) < MAX_MEMO:
                            memo[len(memo)] = stack[-1]
                            pos += 1
                            ops += 1
                elif op == 0x63:  # GLOBAL
                    mod, pos = self.readline(pos)
                    name, pos = self.readline(pos)
                    stack.append(self.push_global(_dec(mod), _dec(name), op_start, "GLOBAL"))
                    # fused "push; BINPUT n" / "push; MEMOIZE": CPython memoizes every new object
                    if pos + 1 < end:
                        nxt = buf[pos]
                        if nxt == 0x71:
                            idx = buf[pos + 1]
                            if idx in memo or len(memo) < MAX_MEMO:
                                memo[idx] = stack[-1]
                                pos += 2
                                ops += 1
                        elif nxt == 0x94 and len(memo) < MAX_MEMO:
                            memo[len(memo)] = stack[-1]
                            pos += 1
                            ops += 1
                elif op == 0x75:  # SETITEMS
                    if not metastack:
                        raise PickleError("could not find MARK")
                    items = stack
                    stack = metastack.pop()
                    if not stack:
                        raise PickleError("unpickling stack underflow")
                    setitems(stack[-1], items)
                elif op == 0x73:  # SETITEM
                    if len(stack) < 3:
                        raise PickleError("unpickling stack underflow")
                    value = stack.pop()
                    key = stack.pop()
                    setitems(stack[-1], [key, value])
                elif op == 0x71:  # BINPUT
                    idx = buf[pos]
                    pos += 1
                    if not stack:
                        raise PickleError("memoizing an empty stack")
                    if idx in memo or len(memo) < MAX_MEMO:
                        memo[idx] = stack[-1]
                    else:
                        self.stack = stack
                        self.put(idx)
                elif op == 0x8C:  # SHORT_BINUNICODE
                    n = buf[pos]
                    pos += 1
                    if n < 8 or buf[pos] != 0x80:
                        raw = buf[pos:pos + n]
                        if len(raw) != n or pos + n > end:
                            raise PickleError(f"truncated: argument of {n} bytes runs past the end")
                        try:
                            stack.append(raw.decode())
                        except UnicodeDecodeError:
                            stack.append(self.text(pos, n, "str"))
                    else:
                        stack.append(self.text(pos, n, "str"))
                    pos += n
                    # fused "push; BINPUT n" / "push; MEMOIZE": CPython memoizes every new object
                    if pos + 1 < end:
                        nxt = buf[pos]
                        if nxt == 0x71:
                            idx = buf[pos + 1]
                            if idx in memo or len(memo) < MAX_MEMO:
                                memo[idx] = stack[-1]
                                pos += 2
                                ops += 1
                        elif nxt == 0x94 and len(memo) < MAX_MEMO:
                            memo[len(memo)] = stack[-1]
                            pos += 1
                            ops += 1
                elif op == 0x94:  # MEMOIZE
                    if not stack:
                        raise PickleError("memoizing an empty stack")
                    idx = len(memo)
                    if idx < MAX_MEMO:
                        memo[idx] = stack[-1]
                    else:
                        self.stack = stack
                        self.put(idx)
                elif op == 0x93:  # STACK_GLOBAL
                    if len(stack) < 2:
                        raise PickleError("unpickling stack underflow")
                    name = stack.pop()
                    module = stack.pop()
                    if not isinstance(module, str) or not isinstance(name, str):
                        raise PickleError("STACK_GLOBAL requires str")
                    stack.append(self.push_global(module, name, op_start, "STACK_GLOBAL"))
                    # fused "push; BINPUT n" / "push; MEMOIZE": CPython memoizes every new object
                    if pos + 1 < end:
                        nxt = buf[pos]
                        if nxt == 0x71:
                            idx = buf[pos + 1]
                            if idx in memo or len(memo) < MAX_MEMO:
                                memo[idx] = stack[-1]
                                pos += 2
                                ops += 1
                        elif nxt == 0x94 and len(memo) < MAX_MEMO:
                            memo[len(memo)] = stack[-1]
                            pos += 1
                            ops += 1
                elif op == 0x81:  # NEWOBJ
                    if len(stack) < 2:
                        raise PickleError("unpickling stack underflow")
                    args = stack.pop()
                    val = CallVal(stack[-1], args, op_start, "newobj")
                    calls.append(val)
                    stack[-1] = val
                    # fused "push; BINPUT n" / "push; MEMOIZE": CPython memoizes every new object
                    if pos + 1 < end:
                        nxt = buf[pos]
                        if nxt == 0x71:
                            idx = buf[pos + 1]
                            if idx in memo or len(memo) < MAX_MEMO:
                                memo[idx] = stack[-1]
                                pos += 2
                                ops += 1
                        elif nxt == 0x94 and len(memo) < MAX_MEMO:
                            memo[len(memo)] = stack[-1]
                            pos += 1
                            ops += 1
                elif op == 0x62:  # BUILD
                    if len(stack) < 2:
                        raise PickleError("unpickling stack underflow")
                    state = stack.pop()
                    obj = stack[-1]
                    out.builds.append(Build(obj, state, op_start))
                    if isinstance(obj, CallVal):
                        if obj.state is None:
                            obj.state = state
                        if self.joblib and _is_joblib_wrapper(obj):
                            pos = self.skip_joblib_array(obj, state, pos)
                elif op == 0x87:  # TUPLE3
                    if len(stack) < 3:
                        raise PickleError("unpickling stack underflow")
                    c = stack.pop()
                    b = stack.pop()
                    stack[-1] = (stack[-1], b, c)
                    # fused "push; BINPUT n" / "push; MEMOIZE": CPython memoizes every new object
                    if pos + 1 < end:
                        nxt = buf[pos]
                        if nxt == 0x71:
                            idx = buf[pos + 1]
                            if idx in memo or len(memo) < MAX_MEMO:
                                memo[idx] = stack[-1]
                                pos += 2
                                ops += 1
                        elif nxt == 0x94 and len(memo) < MAX_MEMO:
                            memo[len(memo)] = stack[-1]
                            pos += 1
                            ops += 1
                elif op == 0x4E:  # NONE
                    stack.append(None)
                elif op == 0x88:  # NEWTRUE
                    stack.append(True)
                elif op == 0x4D:  # BININT2
                    stack.append(_unpack_H(buf, pos)[0])
                    pos += 2
                elif op == 0x4A:  # BININT
                    stack.append(_unpack_i(buf, pos)[0])
                    pos += 4
                elif op == 0x47:  # BINFLOAT
                    stack.append(_unpack_d(buf, pos)[0])
                    pos += 8
                elif op == 0x5D:  # EMPTY_LIST
                    stack.append(ListVal([]))
                    # fused "push; BINPUT n" / "push; MEMOIZE": CPython memoizes every new object
                    if pos + 1 < end:
                        nxt = buf[pos]
                        if nxt == 0x71:
                            idx = buf[pos + 1]
                            if idx in memo or len(memo) < MAX_MEMO:
                                memo[idx] = stack[-1]
                                pos += 2
                                ops += 1
                        elif nxt == 0x94 and len(memo) < MAX_MEMO:
                            memo[len(memo)] = stack[-1]
                            pos += 1
                            ops += 1
                elif op == 0x61:  # APPEND
                    if len(stack) < 2:
                        raise PickleError("unpickling stack underflow")
                    value = stack.pop()
                    appends(stack[-1], [value])
                elif op == 0x65:  # APPENDS
                    if not metastack:
                        raise PickleError("could not find MARK")
                    items = stack
                    stack = metastack.pop()
                    if not stack:
                        raise PickleError("unpickling stack underflow")
                    appends(stack[-1], items)
                elif op == 0x43:  # SHORT_BINBYTES
                    n = buf[pos]
                    stack.append(self.text(pos + 1, n, "bytes"))
                    pos += 1 + n
                    # fused "push; BINPUT n" / "push; MEMOIZE": CPython memoizes every new object
                    if pos + 1 < end:
                        nxt = buf[pos]
                        if nxt == 0x71:
                            idx = buf[pos + 1]
                            if idx in memo or len(memo) < MAX_MEMO:
                                memo[idx] = stack[-1]
                                pos += 2
                                ops += 1
                        elif nxt == 0x94 and len(memo) < MAX_MEMO:
                            memo[len(memo)] = stack[-1]
                            pos += 1
                            ops += 1
                elif op == 0x42:  # BINBYTES
                    (n,) = _unpack_I(buf, pos)
                    stack.append(self.text(pos + 4, n, "bytes"))
                    pos += 4 + n
                    # fused "push; BINPUT n" / "push; MEMOIZE": CPython memoizes every new object
                    if pos + 1 < end:
                        nxt = buf[pos]
                        if nxt == 0x71:
                            idx = buf[pos + 1]
                            if idx in memo or len(memo) < MAX_MEMO:
                                memo[idx] = stack[-1]
                                pos += 2
                                ops += 1
                        elif nxt == 0x94 and len(memo) < MAX_MEMO:
                            memo[len(memo)] = stack[-1]
                            pos += 1
                            ops += 1
                elif op == 0x6A:  # LONG_BINGET
                    idx = _unpack_I(buf, pos)[0]
                    pos += 4
                    try:
                        stack.append(memo[idx])
                    except KeyError:
                        raise PickleError(f"memo value {idx} not found") from None
                elif op == 0x72:  # LONG_BINPUT
                    idx = _unpack_I(buf, pos)[0]
                    pos += 4
                    self.stack = stack
                    self.put(idx)
                elif op == 0x2E:  # STOP
                    out.ops += ops
                    out.result = stack.pop() if stack else None
                    self.stack = stack
                    return pos, True
                elif op == 0x80:  # PROTO
                    proto = buf[pos]
                    pos += 1
                    if proto > HIGHEST_PROTOCOL:
                        raise PickleError(f"unsupported pickle protocol: {proto}")
                    out.protocols.append(proto)
                elif op == 0x95:  # FRAME
                    self.take(pos, 8)
                    pos += 8
                elif op == 0x8A:  # LONG1
                    n = buf[pos]
                    stop = self.take(pos + 1, n)
                    stack.append(int.from_bytes(buf[pos + 1:stop], "little", signed=True))
                    pos = stop
                elif op == 0x92:  # NEWOBJ_EX
                    if len(stack) < 3:
                        raise PickleError("unpickling stack underflow")
                    kwargs = stack.pop()
                    args = stack.pop()
                    val = CallVal(stack[-1], args, op_start, "newobj_ex", kwargs)
                    calls.append(val)
                    stack[-1] = val
                    # fused "push; BINPUT n" / "push; MEMOIZE": CPython memoizes every new object
                    if pos + 1 < end:
                        nxt = buf[pos]
                        if nxt == 0x71:
                            idx = buf[pos + 1]
                            if idx in memo or len(memo) < MAX_MEMO:
                                memo[idx] = stack[-1]
                                pos += 2
                                ops += 1
                        elif nxt == 0x94 and len(memo) < MAX_MEMO:
                            memo[len(memo)] = stack[-1]
                            pos += 1
                            ops += 1
                elif op == 0x8E or op == 0x96:  # BINBYTES8 / BYTEARRAY8
                    (n,) = _unpack_Q(buf, pos)
                    stack.append(self.text(pos + 8, n, "bytes"))
                    pos += 8 + n
                    # fused "push; BINPUT n" / "push; MEMOIZE": CPython memoizes every new object
                    if pos + 1 < end:
                        nxt = buf[pos]
                        if nxt == 0x71:
                            idx = buf[pos + 1]
                            if idx in memo or len(memo) < MAX_MEMO:
                                memo[idx] = stack[-1]
                                pos += 2
                                ops += 1
                        elif nxt == 0x94 and len(memo) < MAX_MEMO:
                            memo[len(memo)] = stack[-1]
                            pos += 1
                            ops += 1
                elif op == 0x8D:  # BINUNICODE8
                    (n,) = _unpack_Q(buf, pos)
                    stack.append(self.text(pos + 8, n, "str"))
                    pos += 8 + n
                    # fused "push; BINPUT n" / "push; MEMOIZE": CPython memoizes every new object
                    if pos + 1 < end:
                        nxt = buf[pos]
                        if nxt == 0x71:
                            idx = buf[pos + 1]
                            if idx in memo or len(memo) < MAX_MEMO:
                                memo[idx] = stack[-1]
                                pos += 2
                                ops += 1
                        elif nxt == 0x94 and len(memo) < MAX_MEMO:
                            memo[len(memo)] = stack[-1]
                            pos += 1
                            ops += 1
                elif op == 0x55:  # SHORT_BINSTRING
                    n = buf[pos]
                    stack.append(self.text(pos + 1, n, "str", "latin-1"))
                    pos += 1 + n
                elif op == 0x54:  # BINSTRING
                    (n,) = _unpack_i(buf, pos)
                    if n < 0:
                        raise PickleError("BINSTRING pickle has negative byte count")
                    stack.append(self.text(pos + 4, n, "str", "latin-1"))
                    pos += 4 + n
                elif op == 0x8B:  # LONG4
                    (n,) = _unpack_i(buf, pos)
                    if n < 0:
                        raise PickleError("LONG pickle has negative byte count")
                    stop = self.take(pos + 4, n)
                    if n > 64:
                        stack.append(BigData("int", n, ""))
                    else:
                        stack.append(int.from_bytes(buf[pos + 4:stop], "little", signed=True))
                    pos = stop
                elif op == 0x30:  # POP
                    if stack:
                        stack.pop()
                    elif metastack:
                        stack = metastack.pop()
                    else:
                        raise PickleError("unpickling stack underflow")
                elif op == 0x31:  # POP_MARK
                    if not metastack:
                        raise PickleError("could not find MARK")
                    stack = metastack.pop()
                elif op == 0x32:  # DUP
                    if not stack:
                        raise PickleError("unpickling stack underflow")
                    stack.append(stack[-1])
                elif op == 0x69:  # INST
                    mod, pos = self.readline(pos)
                    name, pos = self.readline(pos)
                    cls = self.push_global(_dec(mod), _dec(name), op_start, "INST")
                    if not metastack:
                        raise PickleError("could not find MARK")
                    args = tuple(stack)
                    stack = metastack.pop()
                    val = CallVal(cls, args, op_start, "inst")
                    calls.append(val)
                    stack.append(val)
                    # fused "push; BINPUT n" / "push; MEMOIZE": CPython memoizes every new object
                    if pos + 1 < end:
                        nxt = buf[pos]
                        if nxt == 0x71:
                            idx = buf[pos + 1]
                            if idx in memo or len(memo) < MAX_MEMO:
                                memo[idx] = stack[-1]
                                pos += 2
                                ops += 1
                        elif nxt == 0x94 and len(memo) < MAX_MEMO:
                            memo[len(memo)] = stack[-1]
                            pos += 1
                            ops += 1
                elif op == 0x6F:  # OBJ
                    if not metastack:
                        raise PickleError("could not find MARK")
                    items = stack
                    stack = metastack.pop()
                    if not items:
                        raise PickleError("OBJ with no class")
                    val = CallVal(items[0], tuple(items[1:]), op_start, "obj")
                    calls.append(val)
                    stack.append(val)
                    # fused "push; BINPUT n" / "push; MEMOIZE": CPython memoizes every new object
                    if pos + 1 < end:
                        nxt = buf[pos]
                        if nxt == 0x71:
                            idx = buf[pos + 1]
                            if idx in memo or len(memo) < MAX_MEMO:
                                memo[idx] = stack[-1]
                                pos += 2
                                ops += 1
                        elif nxt == 0x94 and len(memo) < MAX_MEMO:
                            memo[len(memo)] = stack[-1]
                            pos += 1
                            ops += 1
                elif op == 0x64:  # DICT
                    if not metastack:
                        raise PickleError("could not find MARK")
                    items = stack
                    stack = metastack.pop()
                    d = DictVal([])
                    setitems(d, items)
                    stack.append(d)
                    # fused "push; BINPUT n" / "push; MEMOIZE": CPython memoizes every new object
                    if pos + 1 < end:
                        nxt = buf[pos]
                        if nxt == 0x71:
                            idx = buf[pos + 1]
                            if idx in memo or len(memo) < MAX_MEMO:
                                memo[idx] = stack[-1]
                                pos += 2
                                ops += 1
                        elif nxt == 0x94 and len(memo) < MAX_MEMO:
                            memo[len(memo)] = stack[-1]
                            pos += 1
                            ops += 1
                elif op == 0x6C:  # LIST
                    if not metastack:
                        raise PickleError("could not find MARK")
                    items = stack
                    stack = metastack.pop()
                    stack.append(ListVal(items[:MAX_KEEP_ITEMS], len(items)))
                    # fused "push; BINPUT n" / "push; MEMOIZE": CPython memoizes every new object
                    if pos + 1 < end:
                        nxt = buf[pos]
                        if nxt == 0x71:
                            idx = buf[pos + 1]
                            if idx in memo or len(memo) < MAX_MEMO:
                                memo[idx] = stack[-1]
                                pos += 2
                                ops += 1
                        elif nxt == 0x94 and len(memo) < MAX_MEMO:
                            memo[len(memo)] = stack[-1]
                            pos += 1
                            ops += 1
                elif op == 0x8F:  # EMPTY_SET
                    stack.append(SetVal([]))
                    # fused "push; BINPUT n" / "push; MEMOIZE": CPython memoizes every new object
                    if pos + 1 < end:
                        nxt = buf[pos]
                        if nxt == 0x71:
                            idx = buf[pos + 1]
                            if idx in memo or len(memo) < MAX_MEMO:
                                memo[idx] = stack[-1]
                                pos += 2
                                ops += 1
                        elif nxt == 0x94 and len(memo) < MAX_MEMO:
                            memo[len(memo)] = stack[-1]
                            pos += 1
                            ops += 1
                elif op == 0x90:  # ADDITEMS
                    if not metastack:
                        raise PickleError("could not find MARK")
                    items = stack
                    stack = metastack.pop()
                    if not stack:
                        raise PickleError("unpickling stack underflow")
                    target = stack[-1]
                    if isinstance(target, SetVal):
                        for it in items[:MAX_KEEP_ITEMS]:
                            _keep(target.items, it)
                        target.count += len(items)
                elif op == 0x91:  # FROZENSET
                    if not metastack:
                        raise PickleError("could not find MARK")
                    items = stack
                    stack = metastack.pop()
                    stack.append(SetVal(items[:MAX_KEEP_ITEMS], len(items), frozen=True))
                    # fused "push; BINPUT n" / "push; MEMOIZE": CPython memoizes every new object
                    if pos + 1 < end:
                        nxt = buf[pos]
                        if nxt == 0x71:
                            idx = buf[pos + 1]
                            if idx in memo or len(memo) < MAX_MEMO:
                                memo[idx] = stack[-1]
                                pos += 2
                                ops += 1
                        elif nxt == 0x94 and len(memo) < MAX_MEMO:
                            memo[len(memo)] = stack[-1]
                            pos += 1
                            ops += 1
                elif op == 0x49:  # INT (also bools as I01/I00)
                    line, pos = self.readline(pos)
                    stack.append(_parse_int(line))
                elif op == 0x4C:  # LONG (text)
                    line, pos = self.readline(pos)
                    stack.append(_parse_int(line.rstrip(b"L")))
                elif op == 0x46:  # FLOAT (text)
                    line, pos = self.readline(pos)
                    try:
                        stack.append(float(line))
                    except ValueError:
                        raise PickleError("invalid FLOAT literal") from None
                elif op == 0x53:  # STRING (quoted, escaped)
                    line, pos = self.readline(pos)
                    stack.append(_parse_quoted(line))
                elif op == 0x56:  # UNICODE (raw-unicode-escape)
                    line, pos = self.readline(pos)
                    stack.append(line.decode("raw-unicode-escape")[:MAX_STR_KEEP * 16])
                elif op == 0x70:  # PUT
                    line, pos = self.readline(pos)
                    self.stack = stack
                    self.put(_parse_int(line))
                elif op == 0x67:  # GET
                    line, pos = self.readline(pos)
                    idx = _parse_int(line)
                    try:
                        stack.append(memo[idx])
                    except (KeyError, TypeError):
                        raise PickleError(f"memo value {idx} not found") from None
                elif op == 0x50:  # PERSID
                    line, pos = self.readline(pos)
                    out.persistent_ids += 1
                    stack.append(PersRef(line.decode("ascii", "replace")))
                elif op == 0x82 or op == 0x83 or op == 0x84:  # EXT1/2/4: copyreg extension registry
                    width = 1 if op == 0x82 else 2 if op == 0x83 else 4
                    self.take(pos, width)
                    code = int.from_bytes(buf[pos:pos + width], "little", signed=(width == 4))
                    pos += width
                    out.extensions.append((op_start, code))
                    stack.append(self.push_global("copyreg._extension_registry", str(code), op_start, "EXT"))
                elif op == 0x97:  # NEXT_BUFFER (out-of-band data)
                    stack.append(Opaque("out-of-band buffer"))
                elif op == 0x98:  # READONLY_BUFFER
                    if not stack:
                        raise PickleError("unpickling stack underflow")
                else:
                    raise PickleError(f"invalid opcode 0x{op:02x}")
                if not ops & 0xFFF:  # stack grows by at most one per op: checking rarely is enough
                    if ops > limit:
                        out.limits.append(f"stopped after {MAX_OPS} opcodes")
                        raise PickleError("opcode limit reached")
                    if len(metastack) > MAX_MARKS:
                        raise PickleError("MARK nesting deeper than the analysis limit")
                    if len(stack) > MAX_STACK:
                        raise PickleError("stack too deep")
        except PickleError as exc:
            out.errors.append((op_start, str(exc)))
        except (IndexError, struct.error) as exc:
            out.errors.append((op_start, f"truncated: {opname(buf[op_start])} argument runs past the end"
                               if op_start < end else f"truncated ({exc})"))
        except (ValueError, OverflowError, MemoryError, RecursionError) as exc:
            out.errors.append((op_start, f"{type(exc).__name__}: {exc}"))
        out.ops += ops
        self.stack = stack
        return op_start, False

    def top(self) -> Any:
        if not self.stack:
            raise PickleError("unpickling stack underflow")
        return self.stack[-1]

    def put(self, idx: int) -> None:
        if not self.stack:
            raise PickleError("memoizing an empty stack")
        if len(self.memo) >= MAX_MEMO and idx not in self.memo:
            if not self.out.limits or not self.out.limits[-1].startswith("memo"):
                self.out.limits.append(f"memo limit {MAX_MEMO} reached; later entries not tracked")
            return
        self.memo[idx] = self.stack[-1]

    def skip_joblib_array(self, wrapper: CallVal, state: Any, pos: int) -> int:
        """joblib writes array bytes (or a whole pickle for object arrays) right after BUILD."""
        self.out.joblib_arrays += 1
        info = _dict_items(state)
        shape = info.get("shape")
        dtype = info.get("dtype")
        if not isinstance(shape, tuple) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise PickleError("joblib array wrapper without a readable shape")
        count = 1
        for d in shape:
            count *= d
        itemsize, hasobject = _dtype_itemsize(dtype)
        if hasobject:
            sub = analyze(self.buf, pos, self.end, depth=self.depth, multi=False, joblib=True)
            self.out.nested.append(Nested(pos, sub))
            if not sub.streams:
                raise PickleError("joblib object array: embedded pickle did not parse")
            return sub.end
        if itemsize is None:
            raise PickleError("joblib array wrapper with a dtype that cannot be sized")
        if info.get("numpy_array_alignment_bytes") is not None:
            self.take(pos, 1)
            pos += 1 + self.buf[pos]
        stop = pos + count * itemsize
        if stop > self.end:
            raise PickleError("truncated: joblib array data runs past the end")
        return stop


def _parse_int(line: bytes) -> int | bool:
    if line == b"01":
        return True
    if line == b"00":
        return False
    try:
        return int(line)
    except ValueError:
        raise PickleError(f"invalid integer literal {line[:20]!r}") from None


def _parse_quoted(line: bytes) -> str:
    if len(line) >= 2 and line[:1] == line[-1:] and line[:1] in (b"'", b'"'):
        raw = line[1:-1]
    else:
        raise PickleError("the STRING opcode argument must be quoted")
    try:
        return codecs.escape_decode(raw)[0].decode("latin-1")[:MAX_STR_KEEP * 16]
    except ValueError:
        raise PickleError("invalid escape in STRING") from None


def _dict_items(value: Any) -> dict:
    out: dict = {}
    if isinstance(value, DictVal):
        for k, v in value.items:
            if isinstance(k, str):
                out[k] = v
    return out


_FIXED_KINDS = {"b": 1, "i": None, "u": None, "f": None, "c": None, "m": None, "M": None, "?": 1}


def _dtype_itemsize(dtype: Any) -> tuple[int | None, bool]:
    """(itemsize, hasobject) of a symbolic ``numpy.dtype(spec, align, copy)`` + BUILD state."""
    if not isinstance(dtype, CallVal):
        return None, False
    args = dtype.args if isinstance(dtype.args, tuple) else ()
    spec = args[0] if args else None
    state = dtype.state if isinstance(dtype.state, tuple) else ()
    if not isinstance(spec, str) or not spec:
        return None, False
    kind = spec.lstrip("<>|=")[:1]
    digits = "".join(ch for ch in spec if ch.isdigit())
    if kind == "O":
        return 8, True
    if len(state) >= 5 and state[4] is not None and not isinstance(state[4], int):
        # structured dtype: fields present; objects inside would need the field walk
        fields = state[4]
        if _mentions_object(fields):
            return None, True
    if len(state) >= 6 and isinstance(state[5], int) and state[5] > 0:
        return state[5], False
    if digits:
        return int(digits), False
    if kind in ("b", "?"):
        return 1, False
    return None, False


def _mentions_object(value: Any, depth: int = 0) -> bool:
    if depth > 8:
        return False
    if isinstance(value, CallVal):
        args = value.args if isinstance(value.args, tuple) else ()
        if args and isinstance(args[0], str) and args[0].lstrip("<>|=")[:1] == "O":
            return True
        return _mentions_object(value.state, depth + 1)
    if isinstance(value, DictVal):
        return any(_mentions_object(v, depth + 1) for _, v in value.items)
    if isinstance(value, tuple):
        return any(_mentions_object(v, depth + 1) for v in value)
    return False


def analyze(buf: Any, start: int = 0, end: int | None = None, *, depth: int = 0, multi: bool = True,
            joblib: bool = True, max_streams: int = 64) -> PickleAnalysis:
    """Analyse the pickle(s) in ``buf[start:end]``.

    ``multi``: after a STOP, continue with the next pickle if the following bytes look like
    one (several pickles in one stream); otherwise remaining bytes are reported in
    ``trailing``. ``joblib``: follow joblib's inline array layout after NumpyArrayWrapper.
    """
    if end is None:
        end = len(buf)
    if depth == 0 and gc.isenabled():
        # Millions of small symbolic objects make the cyclic GC re-scan an ever larger heap
        # (quadratic on hostile inputs); nothing here creates reference cycles worth collecting.
        gc.disable()
        try:
            return analyze(buf, start, end, depth=depth, multi=multi, joblib=joblib, max_streams=max_streams)
        finally:
            gc.enable()
    fast = fast_analyze(buf, start, end, joblib)
    if fast is not None:
        return fast
    return careful_analyze(buf, start, end, depth=depth, multi=multi, joblib=joblib, max_streams=max_streams)


def careful_analyze(buf: Any, start: int, end: int, *, depth: int = 0, multi: bool = True, joblib: bool = True,
                    max_streams: int = 64) -> PickleAnalysis:
    """:func:`analyze` without the fast path (pickle_fast): every opcode through ``_Machine``."""
    out = PickleAnalysis()
    pos = start
    while pos < end:
        machine = _Machine(buf, end, out, depth, joblib)
        first_stream = out.streams == 0
        errors_before = len(out.errors)
        new_pos, stopped = machine.run(pos)
        if stopped:
            out.streams += 1
            out.end = new_pos
            pos = new_pos
            if not multi or out.streams >= max_streams or pos >= end:
                break
            if not _looks_like_pickle_start(buf, pos, end):
                break
            continue
        if first_stream:
            out.end = new_pos
        else:
            # Bytes after a complete pickle that are not a pickle: keep them as trailing data,
            # not as an error of the file (unless they produced globals before failing).
            produced = any(g.offset >= pos for g in out.globals)
            if not produced:
                del out.errors[errors_before:]
            else:
                out.end = new_pos
        break
    if out.streams and out.end < end and out.trailing is None:
        out.trailing = (out.end, end - out.end)
    return out


def _looks_like_pickle_start(buf: Any, pos: int, end: int) -> bool:
    b = buf[pos]
    if b == 0x80:
        return pos + 1 < end and buf[pos + 1] <= HIGHEST_PROTOCOL
    return b in TEXT_START_OPCODES


def is_probably_pickle(head: bytes) -> bool:
    """Cheap content sniff: PROTO header, or a protocol 0/1 opening that parses a few ops."""
    if len(head) >= 2 and head[0] == 0x80 and head[1] <= HIGHEST_PROTOCOL:
        return True
    if not head or head[0] not in TEXT_START_OPCODES:
        return False
    probe = analyze(head, 0, len(head), multi=False, joblib=False)
    if probe.streams:
        return True
    # A protocol 0/1 pickle longer than the probe: accept if it only failed by truncation
    # and read at least a few opcodes with at least one global or container.
    return (probe.ops >= 3 and len(probe.errors) == 1 and probe.errors[0][1].startswith("truncated")
            and (bool(probe.globals) or probe.ops >= 8))


def opname(op: int) -> str:
    return _OPNAMES.get(op, f"0x{op:02x}")
