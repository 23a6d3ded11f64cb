"""Jupyter notebooks (``*.ipynb``) and their checkpoints.

Per code cell: its code, execution count and outputs. JupyterLab's ``recordTiming`` stores
``metadata.execution`` (``iopub.execute_input``, ``shell.execute_reply`` in UTC, to the
millisecond): those are exact; cells without it get the notebook's mtime, marked inferred.
Error and stream outputs are events of their own (tracebacks and prints hold evidence).

The checkpoint (``.ipynb_checkpoints/<name>-checkpoint.ipynb``) is the last explicit save: an
executed cell it holds that the notebook no longer has is code that was run and then deleted.

Notebooks are read with the json module (nbformat upgrades v3 files to v4); a truncated file
still yields every complete cell before the cut.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from mlsleuth.parsers.commands import command_event, redact_command
from mlsleuth.parsers.filetimes import best_file_time
from mlsleuth.parsers.registry import register
from mlsleuth.parsers.source import ContentUnavailable, ParseContext, Source, sane_time
from mlsleuth.parsers.text import MAX_FIELD, clip, loads_json, one_line, strip_ansi, unescape_surrogates

from mlsleuth.events import UNKNOWN_TIME, Category, Event, TimestampQuality, iso

MAX_NOTEBOOK = 512 << 20
MAX_OUTPUT_TEXT = 8192
CHECKPOINT_DIR = ".ipynb_checkpoints"
CHECKPOINT_SUFFIX = "-checkpoint.ipynb"


# -- loading --------------------------------------------------------------------------------------
def load_notebook(src: Source) -> tuple[dict[str, Any], list[str]]:
    """(notebook as v4 dict, problems). Never raises on bad JSON; raises ContentUnavailable."""
    data = src.read_bytes(MAX_NOTEBOOK)
    problems: list[str] = []
    try:
        nb = loads_json(data)
    except ValueError as exc:
        cells = unescape_surrogates(_recover_cells(data.decode("utf-8", "surrogateescape")))
        problems.append(f"not valid JSON ({exc}); recovered {len(cells)} complete cells before the damage")
        return {"cells": cells, "metadata": {}, "nbformat": 4}, problems
    if not isinstance(nb, dict):
        return {"cells": [], "metadata": {}}, ["top level is not a JSON object"]
    if isinstance(nb.get("nbformat"), int) and nb["nbformat"] < 4:
        nb = _upgrade(nb, problems)
    if not isinstance(nb.get("cells"), list):
        problems.append("no cells list")
        nb["cells"] = []
    return nb, problems


def _upgrade(nb: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    import nbformat

    try:
        return json.loads(json.dumps(nbformat.convert(nbformat.from_dict(nb), 4)))
    except Exception as exc:  # nbformat raises several types on malformed v3 documents
        problems.append(f"nbformat {nb.get('nbformat')} could not be upgraded: {exc}")
        cells = [c for ws in nb.get("worksheets") or [] if isinstance(ws, dict)
                 for c in ws.get("cells") or []]
        return {"cells": cells, "metadata": nb.get("metadata") or {}}


def _recover_cells(text: str) -> list[Any]:
    start = text.find('"cells"')
    bracket = text.find("[", start) if start >= 0 else -1
    if bracket < 0:
        return []
    decoder = json.JSONDecoder()
    cells: list[Any] = []
    pos = bracket + 1
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            return cells
        try:
            cell, pos = decoder.raw_decode(text, pos)
        except ValueError:
            return cells
        cells.append(cell)


def _text(value: Any) -> str:
    if isinstance(value, list):
        return "".join(v for v in value if isinstance(v, str))
    return value if isinstance(value, str) else ""


def _iso_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        dt = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if dt.tzinfo is None:
        return None  # JupyterLab writes UTC with Z; a naive value is not what it writes
    return dt if sane_time(dt) else None


def _timing(cell: dict[str, Any]) -> dict[str, datetime]:
    meta = cell.get("metadata")
    execution = meta.get("execution") if isinstance(meta, dict) else None
    if not isinstance(execution, dict):
        return {}
    out = {}
    for key in ("iopub.execute_input", "shell.execute_reply.started", "shell.execute_reply",
                "iopub.status.busy", "iopub.status.idle"):
        when = _iso_time(execution.get(key))
        if when is not None:
            out[key] = when
    return out


# -- events ---------------------------------------------------------------------------------------
def checkpoint_of(host_path: str) -> str:
    folder, name = posixpath.split(host_path)
    stem = name[:-len(".ipynb")] if name.endswith(".ipynb") else name
    return posixpath.join(folder, CHECKPOINT_DIR, stem + CHECKPOINT_SUFFIX)


def notebook_of(checkpoint: str) -> str | None:
    folder, name = posixpath.split(checkpoint)
    if posixpath.basename(folder) != CHECKPOINT_DIR or not name.endswith(CHECKPOINT_SUFFIX):
        return None
    return posixpath.join(posixpath.dirname(folder), name[:-len(CHECKPOINT_SUFFIX)] + ".ipynb")


@register("notebook")
def parse(src: Source, ctx: ParseContext) -> Iterator[Event]:
    nb, problems = load_notebook(src)
    for problem in problems:
        yield src.error(ctx, problem)
    notebook_path = notebook_of(src.host_path)
    is_checkpoint = notebook_path is not None
    cells = nb["cells"]
    kernel = _kernel(nb)
    saved, which = best_file_time(src)
    counts = _counts(cells)
    if saved is not None:
        yield src.event(ctx, timestamp=saved, desc="Checkpoint Saved" if is_checkpoint else "Notebook Saved",
                        category=Category.FILE,
                        message=f"{'checkpoint' if is_checkpoint else 'notebook'} {src.host_path} saved "
                                f"({counts['cells']} cells, {counts['executed']} executed, kernel {kernel or '?'})",
                        extra={**counts, "kernel": kernel, "time_field": which})
    if is_checkpoint:
        evidence = src.evidence
        if evidence is not None and notebook_path and evidence.entry(notebook_path) is not None:
            return  # the notebook's own parse reports cells and the checkpoint differences
        yield from _cell_events(src, ctx, cells, kernel, saved,
                                note="checkpoint whose notebook is gone: its cells are the only copy")
        return
    yield from _cell_events(src, ctx, cells, kernel, saved)
    yield from _deleted_cells(src, ctx, cells, kernel)


def _kernel(nb: dict[str, Any]) -> str:
    meta = nb.get("metadata")
    spec = meta.get("kernelspec") if isinstance(meta, dict) else None
    return str(spec.get("name") or "") if isinstance(spec, dict) else ""


def _counts(cells: list[Any]) -> dict[str, int]:
    code = [c for c in cells if isinstance(c, dict) and c.get("cell_type") == "code"]
    executed = [c for c in code if isinstance(c.get("execution_count"), int)]
    return {"cells": len(cells), "code_cells": len(code), "executed": len(executed)}


def _cell_events(src: Source, ctx: ParseContext, cells: list[Any], kernel: str,
                 saved: datetime | None, *, note: str = "", desc: str = "Cell Executed",
                 only: set[int] | None = None) -> Iterator[Event]:
    for index, cell in enumerate(cells):
        if only is not None and index not in only:
            continue
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        code = _text(cell.get("source"))
        count = cell.get("execution_count")
        timing = _timing(cell)
        started = timing.get("iopub.execute_input") or timing.get("shell.execute_reply.started")
        finished = timing.get("shell.execute_reply")
        extra: dict[str, Any] = {"cell": index, "execution_count": count, "kernel": kernel}
        if isinstance(cell.get("id"), str):
            extra["cell_id"] = cell["id"]
        if note:
            extra["note"] = note
        if started and finished:
            extra["finished"] = iso(finished)
            extra["duration_ms"] = round((finished - started).total_seconds() * 1000)
        result = _result_text(cell)
        if result:
            extra["result"] = result
        loc = f"/cells/{index}"
        if isinstance(count, int) and not isinstance(count, bool):
            if started is not None:
                when, quality = started, TimestampQuality.EXACT
            else:
                when, quality = saved, TimestampQuality.FILE_TIME
                extra["time_note"] = "no per-cell timing recorded: notebook file mtime (ran at or before it)"
            yield command_event(src, ctx, command=code, when=when, quality=quality, loc=loc,
                                process=f"jupyter:{kernel or 'kernel'}", desc=desc, extra=extra)
        elif code.strip() and desc == "Cell Executed":
            extra["time_note"] = "cell not executed (or outputs cleared): notebook file mtime"
            yield src.event(ctx, timestamp=saved or started or UNKNOWN_TIME, desc="Cell Saved",
                            category=Category.FILE, message=f"unexecuted cell: {one_line(redact_command(code), 600)}",
                            quality=TimestampQuality.FILE_TIME if saved else TimestampQuality.ESTIMATED,
                            loc=loc, cmdline=clip(redact_command(code), MAX_FIELD), extra=extra)
        yield from _output_events(src, ctx, cell, index, finished or started or saved,
                                  TimestampQuality.EXACT if (finished or started) else TimestampQuality.FILE_TIME,
                                  count, kernel)


def _result_text(cell: dict[str, Any]) -> str:
    for output in cell.get("outputs") or []:
        if isinstance(output, dict) and output.get("output_type") == "execute_result":
            data = output.get("data")
            if isinstance(data, dict):
                return clip(redact_command(_text(data.get("text/plain"))), MAX_OUTPUT_TEXT)
    return ""


def _output_events(src: Source, ctx: ParseContext, cell: dict[str, Any], index: int,
                   when: datetime | None, quality: TimestampQuality, count: Any,
                   kernel: str) -> Iterator[Event]:
    outputs = cell.get("outputs")
    if not isinstance(outputs, list):
        return
    for number, output in enumerate(outputs):
        if not isinstance(output, dict) or when is None:
            continue
        kind = output.get("output_type")
        loc = f"/cells/{index}/outputs/{number}"
        base = {"cell": index, "execution_count": count, "kernel": kernel}
        if kind == "error":
            name, value = str(output.get("ename") or ""), str(output.get("evalue") or "")
            trace = redact_command(strip_ansi("\n".join(str(t) for t in output.get("traceback") or [])))
            value = redact_command(value)
            yield src.event(ctx, timestamp=when, desc="Cell Error Output", category=Category.COMMAND,
                            message=f"cell {index} raised {name}: {one_line(value, 500)}",
                            quality=quality, loc=loc,
                            extra={**base, "ename": name, "evalue": clip(value, MAX_OUTPUT_TEXT),
                                   "traceback": clip(trace, MAX_OUTPUT_TEXT)})
        elif kind == "stream":
            text = redact_command(strip_ansi(_text(output.get("text"))))
            stream = str(output.get("name") or "stdout")
            if text.strip():
                yield src.event(ctx, timestamp=when, desc="Cell Stream Output", category=Category.COMMAND,
                                message=f"cell {index} {stream}: {one_line(text, 500)}", quality=quality,
                                loc=loc, extra={**base, "stream": stream, "text": clip(text, MAX_OUTPUT_TEXT)})


def _deleted_cells(src: Source, ctx: ParseContext, cells: list[Any], kernel: str) -> Iterator[Event]:
    """Executed cells of the checkpoint whose code the notebook no longer has."""
    evidence = src.evidence
    if evidence is None:
        return
    checkpoint = evidence.entry(checkpoint_of(src.host_path))
    if checkpoint is None:
        return
    try:
        old, problems = load_notebook(checkpoint)
    except ContentUnavailable as exc:
        yield checkpoint.error(ctx, f"checkpoint unreadable for comparison: {exc}")
        return
    current = {_text(c.get("source")).strip() for c in cells if isinstance(c, dict)}
    gone = {i for i, c in enumerate(old["cells"])
            if isinstance(c, dict) and c.get("cell_type") == "code"
            and isinstance(c.get("execution_count"), int)
            and _text(c.get("source")).strip() not in current}
    if not gone:
        return
    checkpoint.parser = src.parser
    saved, _ = best_file_time(checkpoint)
    yield from _cell_events(checkpoint, ctx, old["cells"], _kernel(old) or kernel, saved,
                            note=f"ran, saved in the checkpoint, no longer in {src.host_path}",
                            desc="Cell Executed Then Deleted", only=gone)
