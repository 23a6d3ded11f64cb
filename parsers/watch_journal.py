"""The `mlsleuth watch` journal (collector/watch, docs/watch.md) as events.

Every line carries the time the agent read the kernel's event, so events are ``exact``. A torn
last line (the agent was killed mid-write) and corrupt lines become parse errors and the rest is
read; a gap in the sequence numbers (a missing or edited journal file) is reported, never papered
over. A rename the agent paired (MOVED_FROM + MOVED_TO with one cookie) becomes one event.
"""

from __future__ import annotations

import json
import posixpath
from collections import OrderedDict
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from mlsleuth.collector.watch.locations import classify, user_of
from mlsleuth.parsers.text import one_line

from mlsleuth.events import Category, Event, TimestampQuality, parse_error

SOURCE = "watch_journal"
MAX_LINE = 4 * 1024 * 1024  # the agent bounds its lines far below this
PAIR_WINDOW = 256  # lines an unpaired MOVED_FROM waits for its MOVED_TO

_FILE_EVENTS = {
    "CREATE": ("File Created", "created"),
    "CLOSE_WRITE": ("File Written", "written"),
    "MOVED_TO": ("File Moved In", "moved in"),
    "MOVED_FROM": ("File Moved Out", "moved away"),
    "DELETE": ("File Deleted", "deleted"),
    "ATTRIB": ("File Attributes Changed", "attributes changed"),
    "SCAN": ("File Found by Watch Scan", "found by scan"),
    "GONE": ("File Found Missing", "found missing after queue overflow"),
}
_AGENT_EVENTS = {
    "START": "Watch Agent Started",
    "STOP": "Watch Agent Stopped",
    "OVERFLOW": "Watch Queue Overflow",
    "RESCAN": "Watch Rescan Done",
    "WATCH_LIMIT": "Watch Limit Reached",
    "ERROR": "Watch Error",
    "HASH_SKIPPED": "File Not Hashed",
    "ALERT_HOOK": "Alert Hook Ran",
}
_SILENT = {"JOURNAL", "READY"}  # headers and bookkeeping: no event of their own
_EXTRA_KEYS = ("seq", "event", "size", "mode", "uid", "inode", "mtime", "is_dir", "link_target",
               "src_path", "cookie", "reason", "for_seq", "kind", "format", "verdict_detail",
               "findings", "findings_omitted", "error", "fix", "limit", "watches", "unwatched",
               "found", "gone", "returncode", "resumed_from", "version", "pid", "root")


class _State:
    def __init__(self, host: str) -> None:
        self.host = host
        self.host_from_param = bool(host)
        self.last_seq: int | None = None
        self.last_name = ""
        self.moves: OrderedDict[int, tuple[dict[str, Any], str]] = OrderedDict()


def parse_journal(path: Path, host: str = "") -> Iterator[Event]:
    """Events of a journal file, or of every journal file in a journal directory, in order."""
    path = Path(path)
    if path.is_dir():
        from mlsleuth.collector.watch.journal import journal_files

        files = journal_files(path)
    else:
        files = [path]
    state = _State(host)
    for file in files:
        try:
            with open(file, "rb") as fh:
                yield from _parse_stream(fh, str(file), state)
        except OSError as exc:
            yield parse_error(SOURCE, str(file), f"cannot read: {exc.strerror or exc}", host=state.host,
                              file_path=str(file))
    yield from _flush_moves(state, keep=0)


def _parse_stream(fh: IO[bytes], evidence: str, state: _State) -> Iterator[Event]:
    # Not text.iter_lines: a torn last line is told apart by its missing newline, which that strips.
    number = 0
    while True:
        raw = fh.readline(MAX_LINE + 1)
        if not raw:
            return
        number += 1
        ref = f"{evidence}#{number}"
        if not raw.endswith(b"\n"):
            if len(raw) > MAX_LINE:
                while (rest := fh.readline(MAX_LINE)) and not rest.endswith(b"\n"):
                    pass
                yield parse_error(SOURCE, ref, f"line longer than {MAX_LINE} bytes", host=state.host)
                continue
            # readline stops short of a newline only at the end of the file
            yield parse_error(SOURCE, ref, "truncated last line (the agent stopped mid-write; "
                              "the lines before it are complete)", host=state.host)
            return
        try:
            record = json.loads(raw)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            yield parse_error(SOURCE, ref, f"not a journal line: {exc}", host=state.host)
            continue
        seq, name = record.get("seq"), str(record.get("event"))
        if isinstance(seq, int) and not isinstance(seq, bool):
            if state.last_seq is not None and seq != state.last_seq + 1:
                yield parse_error(SOURCE, ref, f"sequence gap: line seq {seq} follows "
                                  f"{state.last_seq} ({state.last_name}); journal lines are missing "
                                  "or out of order", host=state.host)
            state.last_seq, state.last_name = seq, name
        try:
            when = datetime.fromisoformat(record["time"])
            if when.tzinfo is None:
                raise ValueError("time without a UTC offset")
            if "event" not in record:
                raise KeyError("event")
        except (ValueError, KeyError, TypeError) as exc:
            yield parse_error(SOURCE, ref, f"not a journal line: {type(exc).__name__}: {exc}",
                              host=state.host)
            continue
        yield from _event(record, name, when, ref, state)
        yield from _flush_moves(state, keep=PAIR_WINDOW)


def _flush_moves(state: _State, keep: int) -> Iterator[Event]:
    while len(state.moves) > keep:
        _, (record, ref) = state.moves.popitem(last=False)
        yield _file_event(record, "MOVED_FROM", ref, state)


def _event(record: dict[str, Any], name: str, when: datetime, ref: str, state: _State) -> Iterator[Event]:
    if name in ("JOURNAL", "START") and not state.host_from_param and record.get("host"):
        state.host = str(record["host"])
    if name in _SILENT:
        return
    if name == "MOVED_FROM" and isinstance(record.get("cookie"), int):
        state.moves[record["cookie"]] = (record, ref)
        return
    if name == "MOVED_TO":
        pending = state.moves.pop(record.get("cookie"), None) if isinstance(record.get("cookie"), int) \
            else None
        if pending is not None and not record.get("src_path"):
            record = {**record, "src_path": pending[0].get("path")}
    if name in _FILE_EVENTS:
        yield _file_event(record, name, ref, state)
    elif name in ("HASH", "ALERT"):
        yield _verdict_event(record, name, ref, state)
    elif name in _AGENT_EVENTS:
        yield _agent_event(record, name, ref, state)
    else:
        yield parse_error(SOURCE, ref, f"unknown journal event {name!r}", host=state.host,
                          when=_when(record))


def _when(record: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(record["time"])


def _extra(record: dict[str, Any]) -> dict[str, Any]:
    return {k: record[k] for k in _EXTRA_KEYS if k in record}


def _base(record: dict[str, Any], ref: str, state: _State, path: str | None) -> dict[str, Any]:
    fields: dict[str, Any] = {"timestamp": _when(record), "source": SOURCE,
                              "timestamp_quality": TimestampQuality.EXACT, "host": state.host,
                              "evidence": ref, "extra": _extra(record)}
    if path:
        info = classify(path)
        fields.update(file_path=path, user=user_of(path), model_repo=info.model_repo,
                      revision=info.revision)
    return fields


def _file_event(record: dict[str, Any], name: str, ref: str, state: _State) -> Event:
    path = str(record.get("path") or "")
    desc, verb = _FILE_EVENTS[name]
    what = "directory" if record.get("is_dir") else "file"
    text = f"{what} {verb}: {path}"
    src = record.get("src_path")
    if name == "MOVED_TO" and src:
        desc, text = "File Renamed", f"{what} renamed: {src} -> {path}"
    if isinstance(record.get("size"), int) and not record.get("is_dir"):
        text += f" ({record['size']} bytes)"
    fields = _base(record, ref, state, path)
    target = record.get("link_target")
    if isinstance(target, str):
        text += f" -> symlink to {target}"
        fields["extra"]["link_resolved"] = posixpath.normpath(posixpath.join(posixpath.dirname(path),
                                                                             target))
    if record.get("reason"):
        text += f" [{record['reason']}]"
    return Event(timestamp_desc=desc, category=Category(classify(path).category) if path else Category.FILE,
                 message=one_line(text), **fields)


def _verdict_event(record: dict[str, Any], name: str, ref: str, state: _State) -> Event:
    path = str(record.get("path") or "")
    verdict = record.get("verdict")
    sha = record.get("sha256") if isinstance(record.get("sha256"), str) else None
    fields = _base(record, ref, state, path)
    if name == "ALERT":
        first = next((f.get("message") for f in record.get("findings") or [] if isinstance(f, dict)
                      and f.get("message")), "")
        text = f"ALERT: {verdict} model file landed: {path} (sha256 {sha})" + (f": {first}" if first else "")
        return Event(timestamp_desc="Model Alert", category=Category.FINDING, message=one_line(text),
                     sha256=sha, verdict=str(verdict) if verdict else None, **fields)
    text = f"file hashed: {path} sha256 {sha}"
    if verdict:
        text += f", verdict {verdict}" + (f" ({record['verdict_detail']})" if record.get("verdict_detail")
                                          else "")
    return Event(timestamp_desc="File Hashed", category=Category(classify(path).category),
                 message=one_line(text), sha256=sha, verdict=str(verdict) if verdict else None, **fields)


def _agent_event(record: dict[str, Any], name: str, ref: str, state: _State) -> Event:
    path = record.get("path") if isinstance(record.get("path"), str) else None
    desc = _AGENT_EVENTS[name]
    if name == "START":
        text = f"watch agent started (pid {record.get('pid')}, root {record.get('root')})"
    elif name == "STOP":
        text = f"watch agent stopped ({record.get('reason')})"
    elif name == "RESCAN":
        text = (f"watch rescan after overflow: {record.get('found')} changed, {record.get('gone')} gone")
    elif name == "HASH_SKIPPED":
        text = f"not hashed: {path}: {record.get('reason')}"
    elif name == "ALERT_HOOK":
        text = f"--on-alert hook for seq {record.get('for_seq')}: " + (
            f"exit {record['returncode']}" if "returncode" in record else str(record.get("error")))
    else:
        text = f"{desc.lower()}: " + " ".join(str(record[k]) for k in ("path", "error", "fix")
                                               if record.get(k))
    category = Category(classify(path).category) if name == "HASH_SKIPPED" and path else Category.HOST
    fields = _base(record, ref, state, path)
    return Event(timestamp_desc=desc, category=category, message=one_line(text), **fields)


try:  # the registry is how the timeline finds parsers; the plain function works without it
    from mlsleuth.parsers.registry import register
except ImportError:  # pragma: no cover - only while the registry is absent
    register = None

if register is not None:
    @register(SOURCE)
    def parse(source: Any, ctx: Any) -> Iterator[Event]:
        state = _State(getattr(ctx, "host", "") or "")
        try:
            with source.open() as fh:
                yield from _parse_stream(fh, source.evidence_name, state)
        except Exception as exc:
            yield source.error(ctx, f"cannot read the watch journal: {exc}")
            return
        yield from _flush_moves(state, keep=0)
