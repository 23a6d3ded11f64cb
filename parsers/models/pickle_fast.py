"""Fast path of the symbolic pickle reader for the opcodes ordinary checkpoints are made of.

``pickle_vm._Machine.run`` is the careful reader: every opcode, exact error offsets, analysis
limits, nested pickles, joblib arrays, several streams. Most files on an ML host are small
torch/numpy/scikit-learn pickles written by CPython's pickler, and there the careful reader's
bookkeeping (bounds check, offset and limit tracking on every opcode) costs more than the
symbolic work. :func:`fast_analyze` runs one well-formed stream of common opcodes with none of
it and produces the same :class:`PickleAnalysis` the careful reader would. The moment anything
is unusual - an opcode it does not handle, a truncation, a stack underflow, an undecodable or
long string, a string that may hold a nested pickle, a joblib array, bytes after STOP - it
gives up (returns ``None``) and the caller runs the careful reader from the start, so every
error, limit and finding comes from one implementation. tests/models/test_pickle_fast.py
checks that both readers agree on the whole scanner corpus and on mutated pickles.

Why no limit checks: below ``FAST_MAX`` bytes no analysis limit of the careful reader can be
reached (every opcode takes at least one byte), so the fast path only runs on streams that
small.
"""

from __future__ import annotations

import struct
from typing import Any

from mlsleuth.parsers.models.pickle_values import (
    MAX_KEEP_ITEMS,
    MAX_MARKS,
    MAX_STR_KEEP,
    BigData,
    Build,
    CallVal,
    DictVal,
    GlobalRef,
    ListVal,
    PersRef,
    PickleAnalysis,
    SetVal,
    _dec,
    _is_joblib_wrapper,
    appends,
    setitems,
)

FAST_MAX = MAX_MARKS  # the smallest limit: MARK nesting (see the module docstring)

_unpack_I = struct.Struct("<I").unpack_from
_unpack_i = struct.Struct("<i").unpack_from
_unpack_Q = struct.Struct("<Q").unpack_from
_unpack_H = struct.Struct("<H").unpack_from
_unpack_d = struct.Struct(">d").unpack_from


def _head(raw: bytes) -> str:
    """What the careful reader keeps of a long string: its first characters."""
    return raw[:MAX_STR_KEEP].decode("utf-8", "replace")


def fast_analyze(buf: Any, start: int, end: int, joblib: bool) -> PickleAnalysis | None:
    """The careful reader's result for ``buf[start:end]``, or None when it must run instead."""
    if end - start > FAST_MAX or end <= start or end > len(buf):
        return None
    if type(buf) is bytes and start == 0 and end == len(buf):
        data = buf
    else:
        # An exact copy (at most FAST_MAX bytes): reading past the end raises IndexError,
        # which replaces the careful reader's per-opcode bounds check.
        data = bytes(buf[start:end])
    try:
        return _run(data, start, joblib)
    except Exception:  # noqa: BLE001 - anything unusual: the careful reader decides
        return None


def _run(data: bytes, base: int, joblib: bool) -> PickleAnalysis | None:
    out = PickleAnalysis()
    calls = out.calls
    globals_ = out.globals
    builds = out.builds
    pids = out.pids
    stack: list = []
    metastack: list = []
    memo: dict[int, Any] = {}
    size = len(data)
    # Opcodes and one-byte arguments come from an iterator (cheaper than indexing and moving
    # an offset in CPython); longer arguments read at the iterator's position, then skip.
    it = iter(data)
    nx = next
    left = it.__length_hint__
    seek = it.__setstate__
    for op in it:
        # Frequency order of torch.save / pickle protocol 2-5 streams.
        if op == 0x71:  # BINPUT
            memo[nx(it)] = stack[-1]
        elif op == 0x68:  # BINGET
            stack.append(memo[nx(it)])
        elif op == 0x4B:  # BININT1
            stack.append(nx(it))
        elif op == 0x28:  # MARK
            metastack.append(stack)
            stack = []
        elif op == 0x58:  # BINUNICODE
            pos = size - left()
            n = _unpack_I(data, pos)[0]
            pos += 4
            raw = data[pos:pos + n]
            if len(raw) != n or (n >= 8 and raw[0] == 0x80):
                return None  # truncated, or maybe a nested pickle
            stack.append(raw.decode() if n <= MAX_STR_KEEP else BigData("str", n, _head(raw)))
            seek(pos + n)
        elif op == 0x52:  # REDUCE
            args = stack.pop()
            val = CallVal(stack[-1], args, base + size - left() - 1, "reduce")
            calls.append(val)
            stack[-1] = val
        elif op == 0x74:  # TUPLE
            items = tuple(stack)
            stack = metastack.pop()
            stack.append(items)
        elif op == 0x29:  # EMPTY_TUPLE
            stack.append(())
        elif op == 0x89:  # NEWFALSE
            stack.append(False)
        elif op == 0x51:  # BINPERSID
            pid = stack[-1]
            pids.append(pid)
            stack[-1] = PersRef(pid)
        elif op == 0x86:  # TUPLE2
            b = stack.pop()
            stack[-1] = (stack[-1], b)
        elif op == 0x85:  # TUPLE1
            stack[-1] = (stack[-1],)
        elif op == 0x7D:  # EMPTY_DICT
            stack.append(DictVal([]))
        elif op == 0x75:  # SETITEMS
            items = stack
            stack = metastack.pop()
            setitems(stack[-1], items)
        elif op == 0x8C:  # SHORT_BINUNICODE
            n = nx(it)
            pos = size - left()
            raw = data[pos:pos + n]
            if len(raw) != n or (n >= 8 and raw[0] == 0x80):
                return None
            stack.append(raw.decode())
            seek(pos + n)
        elif op == 0x94:  # MEMOIZE
            memo[len(memo)] = stack[-1]
        elif op == 0x63:  # GLOBAL
            pos = size - left()
            nl = data.find(b"\n", pos)
            nl2 = data.find(b"\n", nl + 1) if nl >= 0 else -1
            if nl2 < 0:
                return None
            ref = GlobalRef(_dec(data[pos:nl]), _dec(data[nl + 1:nl2]), base + pos - 1, "GLOBAL")
            globals_.append(ref)
            stack.append(ref)
            seek(nl2 + 1)
        elif op == 0x93:  # STACK_GLOBAL
            name = stack.pop()
            module = stack[-1]
            if type(module) is not str or type(name) is not str:
                return None
            ref = GlobalRef(module, name, base + size - left() - 1, "STACK_GLOBAL")
            globals_.append(ref)
            stack[-1] = ref
        elif op == 0x30:  # POP (of an empty stack pops the MARK: careful reader)
            stack.pop()
        elif op == 0x73:  # SETITEM
            value = stack.pop()
            key = stack.pop()
            setitems(stack[-1], [key, value])
        elif op == 0x87:  # TUPLE3
            c = stack.pop()
            b = stack.pop()
            stack[-1] = (stack[-1], b, c)
        elif op == 0x4E:  # NONE
            stack.append(None)
        elif op == 0x88:  # NEWTRUE
            stack.append(True)
        elif op == 0x4D:  # BININT2
            stack.append(nx(it) | nx(it) << 8)
        elif op == 0x4A:  # BININT
            pos = size - left()
            stack.append(_unpack_i(data, pos)[0])
            seek(pos + 4)
        elif op == 0x47:  # BINFLOAT
            pos = size - left()
            stack.append(_unpack_d(data, pos)[0])
            seek(pos + 8)
        elif op == 0x81:  # NEWOBJ
            args = stack.pop()
            val = CallVal(stack[-1], args, base + size - left() - 1, "newobj")
            calls.append(val)
            stack[-1] = val
        elif op == 0x62:  # BUILD
            state = stack.pop()
            obj = stack[-1]
            builds.append(Build(obj, state, base + size - left() - 1))
            if isinstance(obj, CallVal):
                if obj.state is None:
                    obj.state = state
                if joblib and _is_joblib_wrapper(obj):
                    return None  # array bytes follow: the careful reader skips them
        elif op == 0x5D:  # EMPTY_LIST
            stack.append(ListVal([]))
        elif op == 0x61:  # APPEND
            value = stack.pop()
            appends(stack[-1], [value])
        elif op == 0x65:  # APPENDS
            items = stack
            stack = metastack.pop()
            appends(stack[-1], items)
        elif op == 0x43:  # SHORT_BINBYTES
            n = nx(it)
            pos = size - left()
            raw = data[pos:pos + n]
            if len(raw) != n or (n >= 8 and raw[0] == 0x80):
                return None
            stack.append(raw)
            seek(pos + n)
        elif op == 0x8A:  # LONG1
            n = nx(it)
            pos = size - left()
            raw = data[pos:pos + n]
            if len(raw) != n:
                return None
            stack.append(int.from_bytes(raw, "little", signed=True))
            seek(pos + n)
        elif op == 0x72:  # LONG_BINPUT
            pos = size - left()
            memo[_unpack_I(data, pos)[0]] = stack[-1]
            seek(pos + 4)
        elif op == 0x6A:  # LONG_BINGET
            pos = size - left()
            stack.append(memo[_unpack_I(data, pos)[0]])
            seek(pos + 4)
        elif op == 0x42 or op == 0x8E or op == 0x96:  # BINBYTES, BINBYTES8, BYTEARRAY8
            pos = size - left()
            if op == 0x42:
                n = _unpack_I(data, pos)[0]
                pos += 4
            else:
                n = _unpack_Q(data, pos)[0]
                pos += 8
            raw = data[pos:pos + n]
            if len(raw) != n or (n >= 8 and raw[0] == 0x80):
                return None
            stack.append(raw if n <= MAX_STR_KEEP else BigData("bytes", n, _head(raw)))
            seek(pos + n)
        elif op == 0x55:  # SHORT_BINSTRING (protocol 1-2 str of Python 2)
            n = nx(it)
            pos = size - left()
            raw = data[pos:pos + n]
            if len(raw) != n or (n >= 8 and raw[0] == 0x80):
                return None
            stack.append(raw.decode("latin-1"))
            seek(pos + n)
        elif op == 0x8F:  # EMPTY_SET
            stack.append(SetVal([]))
        elif op == 0x90:  # ADDITEMS
            items = stack
            stack = metastack.pop()
            target = stack[-1]
            if isinstance(target, SetVal):
                room = MAX_KEEP_ITEMS - len(target.items)
                if room > 0:
                    target.items.extend(items[:room])
                target.count += len(items)
        elif op == 0x91:  # FROZENSET
            items = stack
            stack = metastack.pop()
            stack.append(SetVal(items[:MAX_KEEP_ITEMS], len(items), frozen=True))
        elif op == 0x64:  # DICT
            items = stack
            stack = metastack.pop()
            d = DictVal([])
            setitems(d, items)
            stack.append(d)
        elif op == 0x6C:  # LIST
            items = stack
            stack = metastack.pop()
            stack.append(ListVal(items[:MAX_KEEP_ITEMS], len(items)))
        elif op == 0x92:  # NEWOBJ_EX
            kwargs = stack.pop()
            args = stack.pop()
            val = CallVal(stack[-1], args, base + size - left() - 1, "newobj_ex", kwargs)
            calls.append(val)
            stack[-1] = val
        elif op == 0x32:  # DUP
            stack.append(stack[-1])
        elif op == 0x31:  # POP_MARK
            stack = metastack.pop()
        elif op == 0x95:  # FRAME
            pos = size - left()
            if pos + 8 > size:
                return None
            seek(pos + 8)
        elif op == 0x80:  # PROTO
            proto = nx(it)
            if proto > 5:
                return None
            out.protocols.append(proto)
        elif op == 0x2E:  # STOP
            if left():
                return None  # several streams or trailing bytes: the careful reader's business
            out.result = stack.pop() if stack else None
            out._count_ops = lambda: count_ops(data)  # counting here costs a tenth of the reading
            out.streams = 1
            out.end = base + size
            out.persistent_ids = len(pids)
            return out
        else:
            return None
    return None  # no STOP


# Argument sizes of the opcodes the fast path reads, for counting them afterwards.
_FIXED_ARG = {0x71: 1, 0x68: 1, 0x4B: 1, 0x4D: 2, 0x4A: 4, 0x47: 8, 0x80: 1, 0x95: 8, 0x72: 4, 0x6A: 4}
_LEN1 = frozenset((0x8C, 0x43, 0x55, 0x8A))  # SHORT_BINUNICODE, SHORT_BINBYTES, SHORT_BINSTRING, LONG1
_LEN4 = frozenset((0x58, 0x42))  # BINUNICODE, BINBYTES
_LEN8 = frozenset((0x8E, 0x96))  # BINBYTES8, BYTEARRAY8


def count_ops(data: bytes) -> int:
    """Opcodes in a stream the fast path read completely (every opcode is one it knows)."""
    pos = ops = 0
    size = len(data)
    get = _FIXED_ARG.get
    while pos < size:
        op = data[pos]
        pos += 1
        ops += 1
        k = get(op)
        if k is not None:
            pos += k
        elif op in _LEN1:
            pos += 1 + data[pos]
        elif op in _LEN4:
            pos += 4 + _unpack_I(data, pos)[0]
        elif op in _LEN8:
            pos += 8 + _unpack_Q(data, pos)[0]
        elif op == 0x63:  # GLOBAL: two lines
            pos = data.index(b"\n", data.index(b"\n", pos) + 1) + 1
    return ops


__all__ = ["FAST_MAX", "count_ops", "fast_analyze"]
