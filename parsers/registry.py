"""Parser registry: maps the ``parser:`` name of an artifact definition to the function reading it.

Two kinds of plugins, both discovered by importing every module of this package (so adding a
parser is adding one file that uses the decorator):

* ``@register("bash_history")``: ``fn(source: Source, ctx: ParseContext) -> Iterator[Event]``,
  called once per collected file of an artifact whose definition names that parser.
* ``@register_analyzer("supply_chain")``: ``fn(evidence: Evidence, ctx: ParseContext) ->
  Iterator[Event]``, called once per evidence after every file was parsed (whole-host views).
"""

from __future__ import annotations

import importlib
import pkgutil
import traceback
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from mlsleuth.parsers.source import ContentUnavailable

from mlsleuth.events import Event, parse_error

if TYPE_CHECKING:
    from mlsleuth.parsers.evidence import Evidence
    from mlsleuth.parsers.source import ParseContext, Source

ParserFn = Callable[["Source", "ParseContext"], Iterable[Event]]
AnalyzerFn = Callable[["Evidence", "ParseContext"], Iterable[Event]]

_PARSERS: dict[str, ParserFn] = {}
_ANALYZERS: dict[str, AnalyzerFn] = {}
_IMPORT_ERRORS: dict[str, str] = {}
_discovered = False

# Subpackages that are libraries used by parsers, not parsers: importing them is left to their
# callers (the model inspector pulls in h5py/gguf and is only needed for model files).
_NOT_PLUGINS = ("mlsleuth.parsers.models",)
_NOT_PLUGIN_LEAVES = {"cli", "__main__"}


def _add(table: dict[str, Any], kind: str, name: str, fn: Any) -> None:
    known = table.get(name)
    if known is not None and known is not fn and (
            getattr(known, "__qualname__", None), getattr(known, "__module__", None)) != (
            getattr(fn, "__qualname__", None), getattr(fn, "__module__", None)):
        raise ValueError(f"{kind} {name!r} registered twice: {known.__module__} and {fn.__module__}")
    table[name] = fn


def register(name: str, *, symlinks: bool = False) -> Callable[[ParserFn], ParserFn]:
    """``symlinks=True``: the parser reads symlink rows itself (HF snapshots); otherwise a
    symlinked artifact file is reported generically (where it points) without calling it."""
    def deco(fn: ParserFn) -> ParserFn:
        fn.handles_symlinks = symlinks  # type: ignore[attr-defined]
        _add(_PARSERS, "parser", name, fn)
        return fn
    return deco


def register_analyzer(name: str) -> Callable[[AnalyzerFn], AnalyzerFn]:
    def deco(fn: AnalyzerFn) -> AnalyzerFn:
        _add(_ANALYZERS, "analyzer", name, fn)
        return fn
    return deco


def discover() -> None:
    """Import every parser module once; a module that fails to import is reported, not fatal."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    import mlsleuth.parsers as package

    for info in pkgutil.walk_packages(package.__path__, prefix="mlsleuth.parsers.",
                                      onerror=lambda name: _IMPORT_ERRORS.setdefault(
                                          name, "package failed to import")):
        name = info.name
        if name.startswith(_NOT_PLUGINS) or name.rsplit(".", 1)[-1] in _NOT_PLUGIN_LEAVES:
            continue
        try:
            importlib.import_module(name)
        except Exception as exc:  # a broken plugin must not take the other parsers down
            _IMPORT_ERRORS[name] = f"{type(exc).__name__}: {exc}"


def get_parser(name: str) -> ParserFn | None:
    discover()
    return _PARSERS.get(name)


def parser_names() -> list[str]:
    discover()
    return sorted(_PARSERS)


def analyzers() -> list[tuple[str, AnalyzerFn]]:
    discover()
    return sorted(_ANALYZERS.items())


def import_errors() -> dict[str, str]:
    discover()
    return dict(_IMPORT_ERRORS)


def guarded(events: Iterable[Event] | Callable[[], Iterable[Event]], *, source: str, evidence: str,
            host: str = "", user: str = "", file_path: str | None = None) -> Iterator[Event]:
    """Run a parser's generator, turning any exception into a parse_error event.

    Events already produced stay; the run goes on with the next file.
    """
    try:
        iterable = events() if callable(events) else events
        yield from iterable
    except ContentUnavailable as exc:
        yield parse_error(source, evidence, str(exc), host=host, user=user, file_path=file_path)
    except Exception as exc:
        where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        at = f" at {where.filename.rsplit('/', 1)[-1]}:{where.lineno}" if where else ""
        yield parse_error(source, evidence, f"{type(exc).__name__}: {exc}{at}", host=host,
                          user=user, file_path=file_path)
