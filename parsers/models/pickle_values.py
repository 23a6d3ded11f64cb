"""The symbolic values of the pickle readers (pickle_vm, pickle_fast) and what they report.

Nothing here is ever a real object from the pickle: a call is a :class:`CallVal` naming the
callable and its (symbolic) arguments, a container keeps its first items for display, a
persistent id stays a :class:`PersRef`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MAX_OPS = 10_000_000
MAX_MEMO = 1_000_000
MAX_STACK = 500_000
MAX_MARKS = 100_000  # nested MARKs (each holds a list)
MAX_KEEP_ITEMS = 64  # container items kept for rendering arguments
MAX_STR_KEEP = 4096  # characters of a string constant kept
MAX_NESTED_DEPTH = 3
MAX_NESTED_CANDIDATES = 64
HIGHEST_PROTOCOL = 5


class PickleError(Exception):
    """What ``pickle`` itself would have raised here."""


@dataclass(slots=True, eq=False)
class GlobalRef:
    module: str
    name: str
    offset: int
    opcode: str

    @property
    def qualname(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass(slots=True, eq=False)
class CallVal:
    """The (symbolic) result of calling ``func`` with ``args``."""

    func: Any
    args: Any
    offset: int
    kind: str  # reduce, newobj, newobj_ex, obj, inst
    kwargs: Any = None
    state: Any = None


@dataclass(slots=True, eq=False)
class ListVal:
    items: list
    count: int = 0


@dataclass(slots=True, eq=False)
class DictVal:
    items: list
    count: int = 0


@dataclass(slots=True, eq=False)
class SetVal:
    items: list
    count: int = 0
    frozen: bool = False


@dataclass(slots=True, eq=False)
class PersRef:
    pid: Any


@dataclass(slots=True, eq=False)
class BigData:
    """A string/bytes constant too large to keep: length and the first characters."""

    kind: str
    length: int
    head: str


@dataclass(slots=True, eq=False)
class Opaque:
    what: str


@dataclass(slots=True)
class Build:
    obj: Any
    state: Any
    offset: int


@dataclass
class Nested:
    """A pickle found inside a string/bytes constant."""

    offset: int
    analysis: PickleAnalysis


class PickleAnalysis:
    """Everything one stream (or several concatenated streams) revealed.

    A plain slotted class: one is made per pickle (per file, for small checkpoints), and a
    dataclass with ten list factories costs more to build than reading a small pickle.
    """

    __slots__ = ("globals", "calls", "builds", "errors", "nested", "extensions", "persistent_ids", "pids",
                 "protocols", "streams", "end", "_ops", "result", "limits", "joblib_arrays", "trailing", "_count_ops")

    def __init__(self) -> None:
        self.globals: list[GlobalRef] = []
        self.calls: list[CallVal] = []
        self.builds: list[Build] = []
        self.errors: list[tuple[int, str]] = []  # (offset, reason)
        self.nested: list[Nested] = []
        self.extensions: list[tuple[int, int]] = []
        self.persistent_ids = 0
        self.pids: list = []  # first persistent ids seen (storage references)
        self.protocols: list[int] = []
        self.streams = 0  # pickles that reached STOP
        self.end = 0  # offset after the last opcode read
        self._ops = 0
        self._count_ops: Callable[[], int] | None = None  # the fast reader counts opcodes on demand
        self.result: Any = None  # the value the first stream would return
        self.limits: list[str] = []
        self.joblib_arrays = 0
        self.trailing: tuple[int, int] | None = None  # (offset, length) of unparsed bytes after STOP

    def __repr__(self) -> str:
        return (f"PickleAnalysis(streams={self.streams}, ops={self.ops}, globals={len(self.globals)}, "
                f"calls={len(self.calls)}, errors={self.errors[:3]!r})")

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def ops(self) -> int:
        """Opcodes read (all streams)."""
        if self._count_ops is not None:
            self._ops, self._count_ops = self._count_ops(), None
        return self._ops

    @ops.setter
    def ops(self, value: int) -> None:
        self._ops, self._count_ops = value, None


def _keep(items: list, value: Any) -> None:
    if len(items) < MAX_KEEP_ITEMS:
        items.append(value)


def setitems(target: Any, items: list) -> None:
    """SETITEM(S) / DICT: keep the first pairs of a dict, or the state of a constructed object."""
    if len(items) % 2:
        raise PickleError("odd number of items for SETITEMS")
    if isinstance(target, DictVal):
        kept = target.items
        room = MAX_KEEP_ITEMS - len(kept)
        if room > 0:
            kept.extend(zip(items[0:2 * room:2], items[1:2 * room:2], strict=True))
        target.count += len(items) // 2
    elif isinstance(target, CallVal):
        # obj[key] = value on a constructed object (OrderedDict, or anything else).
        if target.state is None:
            target.state = DictVal([])
        if isinstance(target.state, DictVal):
            setitems(target.state, items)
    elif not isinstance(target, Opaque | GlobalRef | PersRef):
        raise PickleError(f"SETITEM on {type(target).__name__}")


def appends(target: Any, items: list) -> None:
    """APPEND(S): keep the first items of a list."""
    if isinstance(target, ListVal):
        room = MAX_KEEP_ITEMS - len(target.items)
        if room > 0:
            target.items.extend(items[:room])
        target.count += len(items)
    elif isinstance(target, DictVal | SetVal | tuple | str | bytes | int | float | type(None)):
        raise PickleError(f"APPEND on {type(target).__name__}")


def _dec(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _is_joblib_wrapper(obj: Any) -> bool:
    return (isinstance(obj, CallVal) and isinstance(obj.func, GlobalRef)
            and obj.func.name == "NumpyArrayWrapper" and obj.func.module.startswith("joblib"))
