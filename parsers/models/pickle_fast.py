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
from itertools import count
from typing import Any

from mlsleuth.parsers.models.pickle_vm import (
    MAX_KEEP_ITEMS,
    MAX_MARKS,
    MAX_STR_KEEP,
    Build,
    CallVal,
    DictVal,
    GlobalRef,
    ListVal,
    PersRef,
    PickleAnalysis,
    _dec,
    _is_joblib_wrapper,
    appends,
    setitems,
)

FAST_MAX = MAX_MARKS  # the smallest limit: MARK nesting (see the module docstring)

_unpack_I = struct.Struct("<I").unpack_from
_unpack_i = struct.Struct("<i").unpack_from
_unpack_H = struct.Struct("<H").unpack_from
_unpack_d = struct.Struct(">d").unpack_from


class _GiveUp(Exception):
    pass


def fast_analyze(buf: Any, start: int, end: int, joblib: bool) -> PickleAnalysis | None:
    """The careful reader's result for ``buf[start:end]``, or None when it must run instead."""
    if end - start > FAST_MAX or end <= start:
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
    pos = 0
    for ops in count(1):
        op = data[pos]
        # Frequency order of torch.save / pickle protocol 2-5 streams.
        if op == 0x71:  # BINPUT
            memo[data[pos + 1]] = stack[-1]
            pos += 2
        elif op == 0x68:  # BINGET
            stack.append(memo[data[pos + 1]])
            pos += 2
        elif op == 0x4B:  # BININT1
            stack.append(data[pos + 1])
            pos += 2
        elif op == 0x28:  # MARK
            metastack.append(stack)
            stack = []
            pos += 1
        elif op == 0x58:  # BINUNICODE
            n = _unpack_I(data, pos + 1)[0]
            pos += 5
            raw = data[pos:pos + n]
            if len(raw) != n or n > MAX_STR_KEEP or (n >= 8 and raw[0] == 0x80):
                return None
            stack.append(raw.decode())
            pos += n
        elif op == 0x52:  # REDUCE
            args = stack.pop()
            val = CallVal(stack[-1], args, pos + base, "reduce")
            calls.append(val)
            stack[-1] = val
            pos += 1
        elif op == 0x74:  # TUPLE
            items = tuple(stack)
            stack = metastack.pop()
            stack.append(items)
            pos += 1
        elif op == 0x29:  # EMPTY_TUPLE
            stack.append(())
            pos += 1
        elif op == 0x89:  # NEWFALSE
            stack.append(False)
            pos += 1
        elif op == 0x51:  # BINPERSID
            pid = stack[-1]
            pids.append(pid)
            stack[-1] = PersRef(pid)
            pos += 1
        elif op == 0x86:  # TUPLE2
            b = stack.pop()
            stack[-1] = (stack[-1], b)
            pos += 1
        elif op == 0x85:  # TUPLE1
            stack[-1] = (stack[-1],)
            pos += 1
        elif op == 0x7D:  # EMPTY_DICT
            stack.append(DictVal([]))
            pos += 1
        elif op == 0x75:  # SETITEMS
            items = stack
            stack = metastack.pop()
            setitems(stack[-1], items)
            pos += 1
        elif op == 0x8C:  # SHORT_BINUNICODE
            n = data[pos + 1]
            pos += 2
            raw = data[pos:pos + n]
            if len(raw) != n or (n >= 8 and raw[0] == 0x80):
                return None
            stack.append(raw.decode())
            pos += n
        elif op == 0x94:  # MEMOIZE
            memo[len(memo)] = stack[-1]
            pos += 1
        elif op == 0x63:  # GLOBAL
            nl = data.find(b"\n", pos + 1)
            nl2 = data.find(b"\n", nl + 1) if nl > 0 else -1
            if nl2 < 0:
                return None
            ref = GlobalRef(_dec(data[pos + 1:nl]), _dec(data[nl + 1:nl2]), pos + base, "GLOBAL")
            globals_.append(ref)
            stack.append(ref)
            pos = nl2 + 1
        elif op == 0x93:  # STACK_GLOBAL
            name = stack.pop()
            module = stack[-1]
            if type(module) is not str or type(name) is not str:
                return None
            ref = GlobalRef(module, name, pos + base, "STACK_GLOBAL")
            globals_.append(ref)
            stack[-1] = ref
            pos += 1
        elif op == 0x30:  # POP (of an empty stack pops the MARK: careful reader)
            stack.pop()
            pos += 1
        elif op == 0x73:  # SETITEM
            value = stack.pop()
            key = stack.pop()
            setitems(stack[-1], [key, value])
            pos += 1
        elif op == 0x87:  # TUPLE3
            c = stack.pop()
            b = stack.pop()
            stack[-1] = (stack[-1], b, c)
            pos += 1
        elif op == 0x4E:  # NONE
            stack.append(None)
            pos += 1
        elif op == 0x88:  # NEWTRUE
            stack.append(True)
            pos += 1
        elif op == 0x4D:  # BININT2
            stack.append(_unpack_H(data, pos + 1)[0])
            pos += 3
        elif op == 0x4A:  # BININT
            stack.append(_unpack_i(data, pos + 1)[0])
            pos += 5
        elif op == 0x47:  # BINFLOAT
            stack.append(_unpack_d(data, pos + 1)[0])
            pos += 9
        elif op == 0x81:  # NEWOBJ
            args = stack.pop()
            val = CallVal(stack[-1], args, pos + base, "newobj")
            calls.append(val)
            stack[-1] = val
            pos += 1
        elif op == 0x62:  # BUILD
            state = stack.pop()
            obj = stack[-1]
            builds.append(Build(obj, state, pos + base))
            if isinstance(obj, CallVal):
                if obj.state is None:
                    obj.state = state
                if joblib and _is_joblib_wrapper(obj):
                    return None  # array bytes follow: the careful reader skips them
            pos += 1
        elif op == 0x5D:  # EMPTY_LIST
            stack.append(ListVal([]))
            pos += 1
        elif op == 0x61:  # APPEND
            value = stack.pop()
            appends(stack[-1], [value])
            pos += 1
        elif op == 0x65:  # APPENDS
            items = stack
            stack = metastack.pop()
            appends(stack[-1], items)
            pos += 1
        elif op == 0x43:  # SHORT_BINBYTES
            n = data[pos + 1]
            pos += 2
            raw = data[pos:pos + n]
            if len(raw) != n or (n >= 8 and raw[0] == 0x80):
                return None
            stack.append(raw)
            pos += n
        elif op == 0x8A:  # LONG1
            n = data[pos + 1]
            pos += 2
            raw = data[pos:pos + n]
            if len(raw) != n:
                return None
            stack.append(int.from_bytes(raw, "little", signed=True))
            pos += n
        elif op == 0x95:  # FRAME
            if pos + 9 > len(data):
                return None
            pos += 9
        elif op == 0x80:  # PROTO
            proto = data[pos + 1]
            if proto > 5:
                return None
            out.protocols.append(proto)
            pos += 2
        elif op == 0x2E:  # STOP
            pos += 1
            if pos != len(data):
                return None  # several streams or trailing bytes: the careful reader's business
            out.result = stack.pop() if stack else None
            out.ops = ops
            out.streams = 1
            out.end = pos + base
            out.persistent_ids = len(pids)
            return out
        else:
            return None
    return None  # unreachable: count() never ends


__all__ = ["FAST_MAX", "MAX_KEEP_ITEMS", "fast_analyze"]
