"""Shared plumbing for external timelines read as whole files (plaso json_line, osquery result
logs, mlsleuth events.jsonl): a Source for a file given on the command line, and JSON lines."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlsleuth.parsers.evidence import stat_row
from mlsleuth.parsers.source import Source
from mlsleuth.parsers.text import iter_lines, loads_json


def file_source(path: Path, parser: str) -> Source:
    path = Path(path)
    row = stat_row(str(path), path, artifact=parser)
    return Source(artifact=parser, parser=parser, host_path=str(path), user="",
                  local_path=path if row.get("action") == "copied" else None, row=row,
                  evidence_name=path.name)


def json_lines(src: Source) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, object) per line; a string instead of the object says why it is unreadable."""
    with src.open() as fh:
        for number, raw, truncated in iter_lines(fh):
            if not raw.strip():
                continue
            try:
                record = loads_json(raw)
            except ValueError as exc:
                yield number, "line longer than 1 MiB" if truncated else f"not JSON: {exc}"
                continue
            yield number, record if isinstance(record, dict) else "not a JSON object"
