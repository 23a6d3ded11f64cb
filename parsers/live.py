"""Live state the collector recorded (``live/*.jsonl``, fields in docs/architecture.md): processes
(start = ``create_time``, exact), connections and listening sockets and open model files (true at
collection time), and logged-in users. Rows are read one at a time; only a pid -> (ppid, name)
table is kept, to give every process its ancestry."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from mlsleuth.parsers.registry import register
from mlsleuth.parsers.source import ParseContext, Source, sane_time
from mlsleuth.parsers.text import MAX_FIELD, clip, iter_lines, loads_json, one_line
from mlsleuth.parsers.verdicts import MODEL_SUFFIXES

from mlsleuth.events import UNKNOWN_TIME, Category, Event, TimestampQuality, from_epoch
from mlsleuth.redact import redact_text

MAX_ANCESTRY = 16
NOTABLE_ENV = ("HF_", "HUGGING", "TRANSFORMERS_", "PIP_", "PYTHON", "LD_PRELOAD", "CUDA_VISIBLE", "OLLAMA_",
               "JUPYTER", "CONDA_DEFAULT_ENV", "VIRTUAL_ENV", "TORCH_HOME")


def rows(src: Source, ctx: ParseContext) -> Iterator[tuple[int, dict[str, Any]]]:
    with src.open() as fh:
        for number, raw, truncated in iter_lines(fh):
            if not raw.strip():
                continue
            try:
                row = loads_json(raw)
            except ValueError as exc:
                yield number, {"__error__": "line too long" if truncated else f"not JSON: {exc}"}
                continue
            yield number, row if isinstance(row, dict) else {"__error__": "not a JSON object"}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _cmdline(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value or "")


def _time(value: Any) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        try:
            when = from_epoch(float(value))
        except (ValueError, OverflowError):
            return None
        return when if sane_time(when) else None
    return None


def process_table(ctx: ParseContext) -> dict[int, tuple[int | None, str]]:
    """pid -> (ppid, name) from live/processes.jsonl (read once per run)."""
    cache = ctx.state.get("live.processes")
    if cache is not None:
        return cache
    table: dict[int, tuple[int | None, str]] = {}
    evidence = ctx.evidence
    path = evidence.member_path("live/processes.jsonl") if evidence is not None else None
    if path is not None:
        src = Source(artifact="live_processes", parser="live_processes", host_path="", user="",
                     local_path=path, row={"action": "copied"}, evidence_name="live/processes.jsonl")
        for _n, row in rows(src, ctx):
            pid = _int(row.get("pid"))
            if pid is not None:
                table[pid] = (_int(row.get("ppid")), str(row.get("name") or ""))
    ctx.state["live.processes"] = table
    return table


def ancestry(pid: int, table: dict[int, tuple[int | None, str]]) -> list[str]:
    chain: list[str] = []
    seen = {pid}
    current = table.get(pid, (None, ""))[0]
    while current is not None and current not in seen and len(chain) < MAX_ANCESTRY:
        seen.add(current)
        ppid, name = table.get(current, (None, "?"))
        chain.append(f"{current}:{name}")
        current = ppid
    return chain


def _collected_at(ctx: ParseContext) -> tuple[datetime, TimestampQuality]:
    if ctx.collection_time is not None:
        return ctx.collection_time, TimestampQuality.EXACT
    return UNKNOWN_TIME, TimestampQuality.ESTIMATED


@register("live_processes")
def parse_processes(src: Source, ctx: ParseContext) -> Iterator[Event]:
    table = process_table(ctx)
    for number, row in rows(src, ctx):
        if "__error__" in row:
            yield src.error(ctx, row["__error__"], loc=f"L{number}")
            continue
        pid, ppid = _int(row.get("pid")), _int(row.get("ppid"))
        started = _time(row.get("create_time"))
        when, quality = (started, TimestampQuality.EXACT) if started else _collected_at(ctx)
        command = redact_text(_cmdline(row.get("cmdline")))[0]
        name = str(row.get("name") or "")
        env = row.get("environ") if isinstance(row.get("environ"), dict) else {}
        extra: dict[str, Any] = {k: row.get(k) for k in ("exe", "cwd", "status", "terminal", "uid", "euid",
                                                          "num_threads") if row.get(k) is not None}
        if pid is not None:
            extra["ancestry"] = ancestry(pid, table)
        notable = {k: v for k, v in env.items() if str(k).startswith(NOTABLE_ENV)}
        if notable:
            extra["environ"] = notable
        if row.get("collector"):
            extra["collector"] = True
        if not started:
            extra["time_note"] = "no create_time: collection time"
        yield src.event(ctx, timestamp=when, desc="Process Started", category=Category.PROCESS,
                        message=f"pid {pid} ({name}) started by {row.get('user') or '?'}: {one_line(command, 500)}",
                        quality=quality, loc=f"L{number}", file_path=row.get("exe") or None,
                        user=str(row.get("user") or ""), pid=pid, ppid=ppid, process=name,
                        cmdline=clip(command, MAX_FIELD), extra=extra)


@register("live_connections")
def parse_connections(src: Source, ctx: ParseContext) -> Iterator[Event]:
    when, quality = _collected_at(ctx)
    table = process_table(ctx)
    for number, row in rows(src, ctx):
        if "__error__" in row:
            yield src.error(ctx, row["__error__"], loc=f"L{number}")
            continue
        pid = _int(row.get("pid"))
        process = str(row.get("process") or (table.get(pid, (None, ""))[1] if pid is not None else ""))
        listening = bool(row.get("listening")) or row.get("status") == "LISTEN"
        laddr, raddr = row.get("laddr"), row.get("raddr")
        extra = {k: row.get(k) for k in ("family", "type", "status", "fd", "laddr")}
        if listening:
            message = f"{process or 'pid ' + str(pid)} listening on {laddr} ({row.get('type')})"
        else:
            message = f"{process or 'pid ' + str(pid)} connected {laddr} -> {raddr} ({row.get('status')})"
        yield src.event(ctx, timestamp=when, desc="Socket Listening" if listening else "Connection Observed",
                        category=Category.NETWORK, message=message, quality=quality, loc=f"L{number}",
                        file_path=None, user="", pid=pid, process=process or None,
                        remote_addr=str(raddr) if raddr else None, extra=extra)


@register("live_open_files")
def parse_open_files(src: Source, ctx: ParseContext) -> Iterator[Event]:
    when, quality = _collected_at(ctx)
    for number, row in rows(src, ctx):
        if "__error__" in row:
            yield src.error(ctx, row["__error__"], loc=f"L{number}")
            continue
        path = str(row.get("path") or "")
        pid = _int(row.get("pid"))
        extra = {k: row.get(k) for k in ("fd", "mode", "position", "via", "deleted") if row.get(k) is not None}
        extra["model_file"] = path.lower().endswith(MODEL_SUFFIXES)
        how = "maps" if row.get("via") == "mmap" else "has open"
        yield src.event(ctx, timestamp=when, desc="File Open", category=Category.FILE,
                        message=f"{row.get('process') or 'pid ' + str(pid)} {how} {path}"
                                + (" (deleted)" if row.get("deleted") else ""),
                        quality=quality, loc=f"L{number}", file_path=path or None,
                        user=str(row.get("user") or ""), pid=pid, process=str(row.get("process") or "") or None,
                        extra=extra)
