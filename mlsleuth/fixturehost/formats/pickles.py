"""Opcode-level pickle builders for fixtures and the scanner's corpus.

Everything here writes pickle *bytes* with ``struct``; nothing pickles a live object, so a
payload that names ``os.system`` is only ever a string in a byte stream. The encoder mirrors
CPython's C pickler (opcode choice per protocol, memo numbering, batching of APPENDS/SETITEMS,
framing for protocol 4+), so a benign torch state dict built here is byte-identical to what
``torch.save`` writes for the same tensors.

Values understood by :class:`PickleWriter`:

* ``None``, ``bool``, ``int``, ``float``, ``str``, ``bytes``, ``bytearray``, ``tuple``, ``list``,
  ``dict`` (plain Python values: emitted as data);
* :class:`Global` (``module``, ``name``): a class or function reference (GLOBAL / STACK_GLOBAL);
* :class:`Call` (``func``, ``args``): ``func(*args)`` through REDUCE; ``func`` may itself be a
  Global or a Call, so chains such as ``getattr(__import__('os'), 'system')('id')`` are
  expressible;
* :class:`Reduce`: a full ``__reduce__`` tuple (func, args, state, listitems, dictitems) for
  objects like ``OrderedDict`` with state;
* :class:`PersId`: a persistent id (BINPERSID / PERSID), what torch uses for storages;
* :class:`Raw`: raw opcode bytes spliced in as-is (for deliberately broken streams);
* :class:`Shared`: wraps a value that must be memoized once and referenced by identity later
  (CPython memoizes by ``id()``; interned strings such as ``'storage'`` repeat as BINGET).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# Opcodes (names as in the stdlib ``pickle`` module / PEP 3154, PEP 574).
MARK = b"("
STOP = b"."
POP = b"0"
POP_MARK = b"1"
DUP = b"2"
FLOAT = b"F"
INT = b"I"
BININT = b"J"
BININT1 = b"K"
LONG = b"L"
BININT2 = b"M"
NONE = b"N"
PERSID = b"P"
BINPERSID = b"Q"
REDUCE = b"R"
STRING = b"S"
BINSTRING = b"T"
SHORT_BINSTRING = b"U"
UNICODE = b"V"
BINUNICODE = b"X"
APPEND = b"a"
BUILD = b"b"
GLOBAL = b"c"
DICT = b"d"
EMPTY_DICT = b"}"
APPENDS = b"e"
GET = b"g"
BINGET = b"h"
INST = b"i"
LONG_BINGET = b"j"
LIST = b"l"
EMPTY_LIST = b"]"
OBJ = b"o"
PUT = b"p"
BINPUT = b"q"
LONG_BINPUT = b"r"
SETITEM = b"s"
TUPLE = b"t"
EMPTY_TUPLE = b")"
SETITEMS = b"u"
BINFLOAT = b"G"
PROTO = b"\x80"
NEWOBJ = b"\x81"
EXT1 = b"\x82"
TUPLE1 = b"\x85"
TUPLE2 = b"\x86"
TUPLE3 = b"\x87"
NEWTRUE = b"\x88"
NEWFALSE = b"\x89"
LONG1 = b"\x8a"
LONG4 = b"\x8b"
BINBYTES = b"B"
SHORT_BINBYTES = b"C"
SHORT_BINUNICODE = b"\x8c"
BINUNICODE8 = b"\x8d"
BINBYTES8 = b"\x8e"
EMPTY_SET = b"\x8f"
ADDITEMS = b"\x90"
FROZENSET = b"\x91"
NEWOBJ_EX = b"\x92"
STACK_GLOBAL = b"\x93"
MEMOIZE = b"\x94"
FRAME = b"\x95"
BYTEARRAY8 = b"\x96"
NEXT_BUFFER = b"\x97"
READONLY_BUFFER = b"\x98"

_BATCHSIZE = 1000  # pickle._BATCHSIZE
_FRAME_SIZE_TARGET = 64 * 1024  # pickle._FRAME_SIZE_TARGET
_FRAME_SIZE_MIN = 4


@dataclass(frozen=True)
class Global:
    """A reference to ``module.name`` (class or function)."""

    module: str
    name: str


@dataclass(frozen=True)
class Call:
    """``func(*args)`` written as func, args-tuple, REDUCE."""

    func: Any
    args: tuple = ()


@dataclass(frozen=True)
class Reduce:
    """A complete reduce tuple as ``object.__reduce_ex__`` returns it."""

    func: Any
    args: tuple = ()
    state: Any = None
    listitems: Sequence[Any] | None = None
    dictitems: Sequence[tuple[Any, Any]] | None = None
    newobj: bool = False  # func is ``copyreg.__newobj__``: emit NEWOBJ (protocol >= 2)


@dataclass(frozen=True)
class PersId:
    """A persistent id; torch writes ``('storage', StorageType, key, location, numel)``."""

    pid: Any


@dataclass(frozen=True)
class Raw:
    """Opcode bytes inserted verbatim (the caller takes responsibility for the stack)."""

    data: bytes


@dataclass(eq=False)
class Shared:
    """A value memoized on first use and referenced with GET afterwards (identity semantics)."""

    value: Any


@dataclass
class PickleWriter:
    """Emit a pickle stream the way CPython's C pickler would."""

    protocol: int = 2
    out: bytearray = field(default_factory=bytearray)
    _memo: dict[Any, int] = field(default_factory=dict)
    _frame_start: int = -1

    # -- memo --------------------------------------------------------------------------
    def _put(self, key: Any) -> None:
        idx = len(self._memo)
        self._memo[key] = idx
        if self.protocol >= 4:
            self.out += MEMOIZE
        elif self.protocol >= 1:
            self.out += BINPUT + bytes([idx]) if idx < 256 else LONG_BINPUT + struct.pack("<I", idx)
        else:
            self.out += PUT + str(idx).encode() + b"\n"

    def _get(self, idx: int) -> None:
        if self.protocol >= 1:
            self.out += BINGET + bytes([idx]) if idx < 256 else LONG_BINGET + struct.pack("<I", idx)
        else:
            self.out += GET + str(idx).encode() + b"\n"

    def _memo_key(self, obj: Any) -> Any:
        # Value keys for globals (CPython memoizes the class object: one entry per class);
        # identity keys for containers and Shared; immutable scalars are not memoized except
        # strings/bytes/tuples, which CPython memoizes per object (here: per occurrence).
        if isinstance(obj, Global):
            return ("global", obj.module, obj.name)
        if isinstance(obj, Shared):
            return ("shared", id(obj))
        return None

    # -- framing (protocol 4+) -----------------------------------------------------------
    def _maybe_commit_frame(self, force: bool = False) -> None:
        if self.protocol < 4 or self._frame_start < 0:
            return
        size = len(self.out) - self._frame_start
        if size >= _FRAME_SIZE_TARGET or force:
            body = bytes(self.out[self._frame_start:])
            del self.out[self._frame_start:]
            if len(body) >= _FRAME_SIZE_MIN:
                self.out += FRAME + struct.pack("<Q", len(body))
            self.out += body
            self._frame_start = len(self.out) if not force else -1

    # -- public --------------------------------------------------------------------------
    def dump(self, obj: Any) -> bytes:
        """A whole pickle (PROTO header, body, STOP)."""
        if self.protocol >= 2:
            self.out += PROTO + bytes([self.protocol])
        if self.protocol >= 4:
            self._frame_start = len(self.out)
        self.save(obj)
        self.out += STOP
        self._maybe_commit_frame(force=True)
        return bytes(self.out)

    def save(self, obj: Any) -> None:
        self._maybe_commit_frame()
        key = self._memo_key(obj)
        if key is not None and key in self._memo:
            self._get(self._memo[key])
            return
        if isinstance(obj, Shared):
            self._save_value(obj.value, memo_key=key)
            return
        self._save_value(obj, memo_key=key)

    # -- values --------------------------------------------------------------------------
    def _save_value(self, obj: Any, memo_key: Any = None) -> None:
        p = self.protocol
        if isinstance(obj, Raw):
            self.out += obj.data
        elif obj is None:
            self.out += NONE
        elif obj is True or obj is False:
            if p >= 2:
                self.out += NEWTRUE if obj else NEWFALSE
            else:
                self.out += INT + (b"01\n" if obj else b"00\n")
        elif isinstance(obj, int):
            self._save_int(obj)
        elif isinstance(obj, float):
            if p >= 1:
                self.out += BINFLOAT + struct.pack(">d", obj)
            else:
                self.out += FLOAT + repr(obj).encode() + b"\n"
        elif isinstance(obj, str):
            self._save_str(obj)
            self._put(memo_key if memo_key is not None else ("obj", len(self._memo), "str"))
        elif isinstance(obj, bytes):
            self._save_bytes(obj, memo_key)
        elif isinstance(obj, bytearray):
            if p >= 5:
                self.out += BYTEARRAY8 + struct.pack("<Q", len(obj)) + bytes(obj)
                self._put(memo_key if memo_key is not None else ("obj", len(self._memo), "ba"))
            else:
                self.save(Call(Global("builtins" if p >= 3 else "__builtin__", "bytearray"),
                               (bytes(obj),) if p >= 3 else (bytes(obj).decode("latin-1"), "latin-1")))
        elif isinstance(obj, tuple):
            self._save_tuple(obj, memo_key)
        elif isinstance(obj, list):
            self.out += EMPTY_LIST if p >= 1 else MARK + LIST
            self._put(memo_key if memo_key is not None else ("obj", id(obj)))
            self._batch_appends(obj)
        elif isinstance(obj, Mapping):
            self.out += EMPTY_DICT if p >= 1 else MARK + DICT
            self._put(memo_key if memo_key is not None else ("obj", id(obj)))
            self._batch_setitems(list(obj.items()))
        elif isinstance(obj, Global):
            self._save_global(obj)
        elif isinstance(obj, Call):
            self.save(obj.func)
            self._save_tuple(tuple(obj.args), None)
            self.out += REDUCE
            self._put(("obj", len(self._memo), "call"))
        elif isinstance(obj, Reduce):
            self._save_reduce(obj, memo_key)
        elif isinstance(obj, PersId):
            if p >= 1:
                self.save(obj.pid)
                self.out += BINPERSID
            else:
                self.out += PERSID + str(obj.pid).encode("ascii") + b"\n"
        else:
            raise TypeError(f"PickleWriter cannot encode {type(obj).__name__}")

    def _save_int(self, n: int) -> None:
        if self.protocol >= 1 and 0 <= n <= 0xFF:
            self.out += BININT1 + bytes([n])
        elif self.protocol >= 1 and 0 <= n <= 0xFFFF:
            self.out += BININT2 + struct.pack("<H", n)
        elif self.protocol >= 1 and -0x80000000 <= n <= 0x7FFFFFFF:
            self.out += BININT + struct.pack("<i", n)
        elif self.protocol >= 2:
            raw = _encode_long(n)
            if len(raw) < 256:
                self.out += LONG1 + bytes([len(raw)]) + raw
            else:
                self.out += LONG4 + struct.pack("<i", len(raw)) + raw
        elif -0x80000000 <= n <= 0x7FFFFFFF:
            self.out += INT + str(n).encode() + b"\n"
        else:
            self.out += LONG + str(n).encode() + b"L\n"

    def _save_str(self, s: str) -> None:
        if self.protocol >= 1:
            raw = s.encode("utf-8", "surrogatepass")
            if len(raw) < 256 and self.protocol >= 4:
                self.out += SHORT_BINUNICODE + bytes([len(raw)]) + raw
            elif len(raw) > 0xFFFFFFFF and self.protocol >= 4:
                self.out += BINUNICODE8 + struct.pack("<Q", len(raw)) + raw
            else:
                self.out += BINUNICODE + struct.pack("<I", len(raw)) + raw
        else:
            esc = (s.replace("\\", "\\u005c").replace("\0", "\\u0000").replace("\n", "\\u000a")
                   .replace("\r", "\\u000d").replace("\x1a", "\\u001a"))
            self.out += UNICODE + esc.encode("raw-unicode-escape") + b"\n"

    def _save_bytes(self, b: bytes, memo_key: Any) -> None:
        p = self.protocol
        if p < 3:
            # CPython: protocols 0-2 write bytes as _codecs.encode(str, 'latin1') (or bytes()).
            if not b:
                self.save(Call(Global("__builtin__", "bytes"), ()))
            else:
                self.save(Call(Global("_codecs", "encode"), (b.decode("latin-1"), "latin1")))
            return
        if len(b) < 256:
            self.out += SHORT_BINBYTES + bytes([len(b)]) + b
        elif len(b) > 0xFFFFFFFF and p >= 4:
            self.out += BINBYTES8 + struct.pack("<Q", len(b)) + b
        else:
            self.out += BINBYTES + struct.pack("<I", len(b)) + b
        self._put(memo_key if memo_key is not None else ("obj", len(self._memo), "bytes"))

    def _save_tuple(self, t: tuple, memo_key: Any) -> None:
        p = self.protocol
        if not t:
            self.out += EMPTY_TUPLE if p >= 1 else MARK + TUPLE
            return
        if len(t) <= 3 and p >= 2:
            for item in t:
                self.save(item)
            self.out += (TUPLE1, TUPLE2, TUPLE3)[len(t) - 1]
        else:
            self.out += MARK
            for item in t:
                self.save(item)
            self.out += TUPLE
        self._put(memo_key if memo_key is not None else ("obj", len(self._memo), "tuple"))

    def _batch_appends(self, items: Sequence[Any]) -> None:
        items = list(items)
        if self.protocol < 1:
            for it in items:
                self.save(it)
                self.out += APPEND
            return
        for start in range(0, len(items), _BATCHSIZE):
            batch = items[start:start + _BATCHSIZE]
            if len(batch) > 1:
                self.out += MARK
                for it in batch:
                    self.save(it)
                self.out += APPENDS
            else:
                self.save(batch[0])
                self.out += APPEND

    def _batch_setitems(self, items: Sequence[tuple[Any, Any]]) -> None:
        items = list(items)
        if self.protocol < 1:
            for k, v in items:
                self.save(k)
                self.save(v)
                self.out += SETITEM
            return
        for start in range(0, len(items), _BATCHSIZE):
            batch = items[start:start + _BATCHSIZE]
            if len(batch) > 1:
                self.out += MARK
                for k, v in batch:
                    self.save(k)
                    self.save(v)
                self.out += SETITEMS
            else:
                k, v = batch[0]
                self.save(k)
                self.save(v)
                self.out += SETITEM

    def _save_global(self, g: Global) -> None:
        key = ("global", g.module, g.name)
        if self.protocol >= 4:
            self.save(g.module)
            self.save(g.name)
            self.out += STACK_GLOBAL
        else:
            self.out += GLOBAL + g.module.encode("utf-8") + b"\n" + g.name.encode("utf-8") + b"\n"
        self._put(key)

    def _save_reduce(self, r: Reduce, memo_key: Any) -> None:
        if r.newobj and self.protocol >= 2:
            cls, *rest = r.args
            self.save(cls)
            self._save_tuple(tuple(rest), None)
            self.out += NEWOBJ
        else:
            self.save(r.func)
            self._save_tuple(tuple(r.args), None)
            self.out += REDUCE
        self._put(memo_key if memo_key is not None else ("obj", len(self._memo), "reduce"))
        if r.listitems is not None:
            self._batch_appends(r.listitems)
        if r.dictitems is not None:
            self._batch_setitems(r.dictitems)
        if r.state is not None:
            self.save(r.state)
            self.out += BUILD


def _encode_long(n: int) -> bytes:
    """pickle.encode_long: little-endian two's complement, minimal length."""
    if n == 0:
        return b""
    nbytes = (n.bit_length() >> 3) + 1
    raw = n.to_bytes(nbytes, "little", signed=True)
    if n < 0 and nbytes > 1 and raw[-1] == 0xFF and (raw[-2] & 0x80) != 0:
        raw = raw[:-1]
    return raw


def dumps(obj: Any, protocol: int = 2) -> bytes:
    """Encode a value tree (see module docstring) as one pickle."""
    return PickleWriter(protocol=protocol).dump(obj)


# -- calls -------------------------------------------------------------------------------
def reduce_call(module: str, name: str, args: tuple = (), protocol: int = 4) -> bytes:
    """A pickle whose whole content is ``module.name(*args)``.

    Protocol 4 and 5 reference the callable with STACK_GLOBAL, older ones with GLOBAL;
    both end in REDUCE, exactly the shape of an object whose ``__reduce__`` returns
    ``(module.name, args)``.
    """
    return dumps(Call(Global(module, name), tuple(args)), protocol=protocol)


def call_body(module: str, name: str, args: tuple = (), protocol: int = 2) -> bytes:
    """Opcodes pushing the result of ``module.name(*args)``, no PROTO/STOP, no memo use.

    Suitable for splicing into an existing stream: it neither reads nor writes the memo, so
    the host stream's BINGET indices stay valid.
    """
    w = _NoMemoWriter(protocol=protocol)
    w.save(Call(Global(module, name), tuple(args)))
    return bytes(w.out)


class _NoMemoWriter(PickleWriter):
    def _put(self, key: Any) -> None:  # splice-safe: no memo entries
        return

    def save(self, obj: Any) -> None:
        self._save_value(obj.value if isinstance(obj, Shared) else obj)


def prepend_call(pickle_bytes: bytes, module: str, name: str, args: tuple = ()) -> bytes:
    """Inject ``module.name(*args)`` at the start of an existing pickle (call, then POP).

    This is the classic "inject into a state dict" technique: the result of loading is
    unchanged (the call's return value is discarded), so a victim sees a working model.
    The host stream's PROTO header (and FRAME, for protocol 4+) stays in front.
    """
    proto = 0
    head = 0
    if pickle_bytes[:1] == PROTO:
        proto = pickle_bytes[1]
        head = 2
    body = call_body(module, name, args, protocol=max(proto, 2) if proto else 0) + POP
    if pickle_bytes[head:head + 1] == FRAME:
        (flen,) = struct.unpack_from("<Q", pickle_bytes, head + 1)
        frame = body + pickle_bytes[head + 9:head + 9 + flen]
        return (pickle_bytes[:head] + FRAME + struct.pack("<Q", len(frame)) + frame
                + pickle_bytes[head + 9 + flen:])
    return pickle_bytes[:head] + body + pickle_bytes[head:]


def append_call_after_stop(pickle_bytes: bytes, module: str, name: str, args: tuple = (),
                           protocol: int = 2) -> bytes:
    """A second pickle after the first STOP (loaders that read twice run it)."""
    return pickle_bytes + reduce_call(module, name, args, protocol=protocol)


# -- torch -------------------------------------------------------------------------------
# torch dtype -> (storage class name, element size). torch.save pickles the legacy typed
# storage class (``torch.FloatStorage``...) as the persistent id's second element.
TORCH_STORAGE_TYPES: dict[str, tuple[str, int]] = {
    "float32": ("FloatStorage", 4),
    "float64": ("DoubleStorage", 8),
    "float16": ("HalfStorage", 2),
    "bfloat16": ("BFloat16Storage", 2),
    "int64": ("LongStorage", 8),
    "int32": ("IntStorage", 4),
    "int16": ("ShortStorage", 2),
    "int8": ("CharStorage", 1),
    "uint8": ("ByteStorage", 1),
    "bool": ("BoolStorage", 1),
    "complex64": ("ComplexFloatStorage", 8),
}


@dataclass(frozen=True)
class TensorSpec:
    """One tensor as torch pickles it: dtype, shape, and which storage (key) holds its data."""

    dtype: str
    shape: tuple[int, ...]
    storage_key: str | None = None  # default: next free key ("0", "1", ...)
    storage_offset: int = 0
    stride: tuple[int, ...] | None = None  # default: contiguous
    requires_grad: bool = False
    storage_numel: int | None = None  # default: numel(shape) + storage_offset

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def contiguous_stride(self) -> tuple[int, ...]:
        stride: list[int] = []
        acc = 1
        for d in reversed(self.shape):
            stride.append(acc)
            acc *= max(d, 1)
        return tuple(reversed(stride))


_STORAGE = Shared("storage")  # one interned 'storage' string: BINGET after the first use
_CPU = Shared("cpu")  # location_tag returns the same 'cpu' constant each time


def _ordered_dict(items: list[tuple[Any, Any]], state: Any = None) -> Reduce:
    return Reduce(Global("collections", "OrderedDict"), (), state=state, dictitems=items)


SPARSE_THRESHOLD = 16 * 1024 * 1024


class TorchPickleBuilder:
    """Turn :class:`TensorSpec` values inside plain containers into torch's pickle layout.

    Storage keys are assigned in first-seen order like ``torch.serialization._save`` does,
    and :meth:`storages` returns deterministic bytes for each (a pattern, not random data,
    so fixtures are reproducible).
    """

    def __init__(self, protocol: int = 2) -> None:
        self.protocol = protocol
        self._keys: dict[int, str] = {}
        self._storages: dict[str, bytes] = {}
        self._storage_ids: dict[str, Shared] = {}

    def tensor(self, spec: TensorSpec) -> Reduce:
        key = spec.storage_key if spec.storage_key is not None else str(len(self._storage_ids))
        storage_cls, itemsize = TORCH_STORAGE_TYPES[spec.dtype]
        numel = spec.storage_numel if spec.storage_numel is not None else spec.numel + spec.storage_offset
        if key not in self._storage_ids:
            # torch's persistent_id builds a fresh tuple per call, but the key string comes
            # from id_map.setdefault (same object, so BINGET on reuse) and 'storage'/'cpu'
            # are constants.
            self._storage_ids[key] = Shared(key)
            nbytes = numel * itemsize
            # large storages are described by their size only: torch_zip writes them as sparse holes
            self._storages[key] = (_pattern_bytes(nbytes, seed=len(self._storages))
                                   if nbytes <= SPARSE_THRESHOLD else nbytes)
        storage = PersId((_STORAGE, Global("torch", storage_cls), self._storage_ids[key], _CPU, numel))
        stride = spec.stride if spec.stride is not None else spec.contiguous_stride
        backward_hooks = _ordered_dict([])
        args = (storage, spec.storage_offset, tuple(spec.shape), tuple(stride),
                spec.requires_grad, backward_hooks)
        return Reduce(Global("torch._utils", "_rebuild_tensor_v2"), args)

    def storages(self) -> dict[str, bytes | int]:
        return dict(self._storages)

    def convert(self, obj: Any) -> Any:
        """Replace TensorSpec leaves by their torch reduce form (containers kept)."""
        if isinstance(obj, TensorSpec):
            return self.tensor(obj)
        if isinstance(obj, Reduce):
            return Reduce(obj.func, tuple(self.convert(a) for a in obj.args), self.convert(obj.state),
                          None if obj.listitems is None else [self.convert(x) for x in obj.listitems],
                          None if obj.dictitems is None else [(k, self.convert(v)) for k, v in obj.dictitems],
                          obj.newobj)
        if isinstance(obj, dict):
            return {k: self.convert(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [self.convert(v) for v in obj]
        if isinstance(obj, tuple):
            return tuple(self.convert(v) for v in obj)
        return obj


def _pattern_bytes(n: int, seed: int = 0) -> bytes:
    if n <= 0:
        return b""
    block = bytes((i * 31 + seed * 17) & 0xFF for i in range(256))
    return (block * (n // 256 + 1))[:n]


def benign_state_dict(
    tensors: Mapping[str, TensorSpec | tuple[str, tuple[int, ...]]],
    metadata: Mapping[str, Mapping[str, Any]] | None = None,
    protocol: int = 2,
) -> tuple[bytes, dict[str, bytes]]:
    """What ``torch.save(module.state_dict())`` writes: (data.pkl bytes, storages by key).

    ``tensors`` maps parameter names to :class:`TensorSpec` or ``(dtype, shape)``.
    ``metadata`` is the state dict's ``_metadata`` (module prefix -> ``{"version": N}``);
    ``nn.Module.state_dict`` always sets it, so the default is ``{"": {"version": 1}}``.
    """
    builder = TorchPickleBuilder(protocol=protocol)
    items = []
    for name, spec in tensors.items():
        if not isinstance(spec, TensorSpec):
            spec = TensorSpec(spec[0], tuple(spec[1]))
        items.append((name, builder.tensor(spec)))
    if metadata is None:
        metadata = {"": {"version": 1}}
    # 'version' is one interned string in torch: memoized once, BINGET afterwards
    version = Shared("version")
    meta_items = [(k, {(version if key == "version" else key): val for key, val in v.items()})
                  for k, v in metadata.items()]
    state = {"_metadata": _ordered_dict(meta_items)} if metadata else None
    obj = _ordered_dict(items, state=state)
    return dumps(obj, protocol=protocol), builder.storages()


def torch_pickle(obj: Any, protocol: int = 2) -> tuple[bytes, dict[str, bytes]]:
    """Any container tree with TensorSpec leaves (optimizer states, checkpoints with epochs)."""
    builder = TorchPickleBuilder(protocol=protocol)
    converted = builder.convert(obj)
    return dumps(converted, protocol=protocol), builder.storages()


def ordered_dict(items: Iterable[tuple[Any, Any]], state: Any = None) -> Reduce:
    """``collections.OrderedDict(items)`` as pickled by CPython (empty REDUCE + SETITEMS)."""
    return _ordered_dict(list(items), state=state)
