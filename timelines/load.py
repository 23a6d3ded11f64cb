"""Events from the timeline's inputs: evidence archives, collected trees, plaso json_line and
osquery result logs go through ``mlsleuth.parsers.parse_input``; an ``events.jsonl`` written by
``mlsleuth.events.write_jsonl`` is read directly (benchmarks, re-runs, tests)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from mlsleuth.events import Event, parse_error, read_jsonl

_EVENT_KEYS = {"timestamp", "timestamp_desc", "category", "message"}


def is_events_jsonl(path: Path) -> bool:
    """An mlsleuth events.jsonl (not plaso's json_line, not an osquery log): first row's keys."""
    if not path.is_file() or path.suffix not in (".jsonl", ".json", ".ndjson"):
        return False
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.strip():
                    row = json.loads(line)
                    return isinstance(row, dict) and _EVENT_KEYS <= row.keys() and "__container_type__" not in row
    except (OSError, ValueError):
        return False
    return False


def _read_events_jsonl(path: Path) -> Iterator[Event]:
    with open(path, encoding="utf-8", errors="replace") as fh:
        lineno = 0
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield from read_jsonl([line])  # type: ignore[arg-type]
            except (ValueError, KeyError, TypeError) as exc:
                yield parse_error("events_jsonl", f"{path}#L{lineno}", f"bad event row: {exc}")


def iter_input(path: Path, assume_tz: str | None = None) -> Iterator[Event]:
    """Events of one input; an input that cannot be read becomes a parse-error event."""
    if is_events_jsonl(path):
        yield from _read_events_jsonl(path)
        return
    try:
        from mlsleuth.parsers import parse_input
    except ImportError as exc:
        yield parse_error("timeline", str(path), f"no parser for this input: {exc}")
        return
    try:
        yield from parse_input(path, assume_tz=assume_tz)
    except Exception as exc:  # a parser must not crash the run; say what happened and go on
        yield parse_error("timeline", str(path), f"{type(exc).__name__}: {exc}")
