"""IPython ``history.sqlite``: sessions (start/end) and every input line.

IPython stores no per-line time, only session bounds. Each line is placed inside its session,
spread evenly by line number between start and end, and marked ``estimated`` with the bounds in
``extra``. ``start`` is naive local time (``datetime.now()``); ``end`` is naive local in IPython
< 9 and UTC with ``+00:00`` from 9 on: both are read as written. A session that did not close
(NULL end: kernel still running or crashed) is bounded by the next session's start or else the
database file's mtime. Corrupt or half-written databases yield what SQLite can still read.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from mlsleuth.parsers.commands import command_event
from mlsleuth.parsers.registry import register
from mlsleuth.parsers.source import ParseContext, Source
from mlsleuth.parsers.sqlite_salvage import Salvage, iter_rows, open_database, table_columns

from mlsleuth.events import Category, Event, TimestampQuality, iso

PROCESS = "ipython"


@dataclass
class Session:
    number: int
    start: datetime | None
    end: datetime | None
    num_cmds: int | None
    remark: str
    upper: datetime | None = None  # end, or the best bound we have when end is NULL
    upper_note: str = ""
    first_line: int = 1
    last_line: int = 1


def _when(value: Any, ctx: ParseContext) -> datetime | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return ctx.local_to_utc(parsed)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


SIBLINGS = ("-wal", "-journal", "-shm")
SNAPSHOT_PART = "sqlite/backup.sqlite"


@register("ipython_history")
def parse(src: Source, ctx: ParseContext) -> Iterator[Event]:
    if src.host_path.endswith(SIBLINGS):
        return  # read together with their database
    path, siblings, note = _what_to_open(src)
    report = Salvage()
    try:
        with open_database(path, siblings, open_main=None if note else src.open) as (db, how):
            note = note or how
            for event in _parse_db(src, ctx, db, report):
                if note:
                    event.extra.setdefault("read_from", note)
                yield event
    except sqlite3.DatabaseError as exc:
        yield src.error(ctx, f"not a readable SQLite database: {exc}")
        return
    for problem in report.problems:
        yield src.error(ctx, f"recovered {report.rows_recovered} rows; {problem}")


def _what_to_open(src: Source) -> tuple[Path, dict[str, Any], str]:
    """The collector's consistent snapshot (WAL already replayed) when the archive has one;
    else the database with the -wal/-journal siblings collected next to it."""
    snapshot = src.parts.get(SNAPSHOT_PART)
    if snapshot is not None:
        return snapshot, {}, "collector snapshot"
    src.open().close()  # refuses what is not a collected regular file
    siblings: dict[str, Any] = {}
    if src.evidence is not None:
        for suffix in ("-wal", "-journal"):
            entry = src.evidence.entry(src.host_path + suffix)
            if entry is not None and entry.local_path is not None and (entry.size or 0) > 0:
                siblings[suffix] = entry.open
    return src.local_path, siblings, ""  # type: ignore[return-value]


def _parse_db(src: Source, ctx: ParseContext, db: sqlite3.Connection, report: Salvage) -> Iterator[Event]:
    tz = ctx.tz_extra()
    sessions = _sessions(db, ctx, report)
    history_cols = table_columns(db, "history")
    if not sessions and not history_cols:
        yield src.error(ctx, "no sessions or history table (not an IPython history database?)")
        return
    _line_ranges(db, sessions, report)
    ordered = sorted(sessions.values(), key=lambda s: s.number)
    for i, session in enumerate(ordered):
        if session.end is not None:
            session.upper, session.upper_note = session.end, "session end"
            continue
        later = [s.start for s in ordered[i + 1:] if s.start is not None]
        if later:
            session.upper, session.upper_note = min(later), "next session start (session not closed)"
        elif src.mtime is not None:
            session.upper, session.upper_note = src.mtime, "database file mtime (session not closed)"
    for session in ordered:
        extra = {"session": session.number, "num_cmds": session.num_cmds, **tz}
        if session.remark:
            extra["remark"] = session.remark
        if session.start is not None:
            yield src.event(ctx, timestamp=session.start, desc="IPython Session Started",
                            category=Category.COMMAND, message=f"IPython session {session.number} started",
                            loc=f"sessions:session={session.number}", process=PROCESS, extra=extra)
        if session.end is not None:
            yield src.event(ctx, timestamp=session.end, desc="IPython Session Ended",
                            category=Category.COMMAND,
                            message=f"IPython session {session.number} ended after "
                                    f"{session.num_cmds if session.num_cmds is not None else '?'} inputs",
                            loc=f"sessions:session={session.number}", process=PROCESS, extra=extra)
    if not history_cols:
        yield src.error(ctx, "history table missing")
        return
    source_col = "source_raw" if "source_raw" in history_cols else "source"
    for row in iter_rows(db, "history", ["session", "line", source_col], report):
        _rowid, number, line, text = row
        if not isinstance(text, str) or not text.strip():
            continue
        session = sessions.get(number) if isinstance(number, int) else None
        when, extra = _place(session, _int(line))
        extra.update(session=number, line=line, **tz)
        yield command_event(src, ctx, command=text, when=when, quality=TimestampQuality.ESTIMATED,
                            loc=f"history:session={number},line={line}", process=PROCESS, extra=extra)


def _sessions(db: sqlite3.Connection, ctx: ParseContext, report: Salvage) -> dict[int, Session]:
    cols = table_columns(db, "sessions")
    if not cols:
        return {}
    wanted = [c for c in ("session", "start", "end", "num_cmds", "remark") if c in cols]
    sessions: dict[int, Session] = {}
    for row in iter_rows(db, "sessions", wanted, report):
        values = dict(zip(wanted, row[1:], strict=True))
        number = _int(values.get("session"))
        if number is None:
            continue
        sessions[number] = Session(number=number, start=_when(values.get("start"), ctx),
                                   end=_when(values.get("end"), ctx),
                                   num_cmds=_int(values.get("num_cmds")),
                                   remark=str(values.get("remark") or ""))
    return sessions


def _line_ranges(db: sqlite3.Connection, sessions: dict[int, Session], report: Salvage) -> None:
    try:
        rows = db.execute("SELECT session, min(line), max(line) FROM history GROUP BY session").fetchall()
    except sqlite3.DatabaseError as exc:
        report.problems.append(f"history: line ranges unreadable ({exc}); lines placed at session start")
        return
    for number, first, last in rows:
        session = sessions.get(number)
        if session is not None and isinstance(first, int) and isinstance(last, int):
            session.first_line, session.last_line = first, last


def _place(session: Session | None, line: int | None) -> tuple[datetime | None, dict[str, Any]]:
    """A line's estimated time: linear in its line number between the session's bounds."""
    if session is None or session.start is None:
        return None, {"time_note": "session row missing: no time known"}
    extra: dict[str, Any] = {"session_start": iso(session.start)}
    if session.upper is None or session.upper < session.start:
        extra["time_note"] = "no session end known: placed at session start"
        return session.start, extra
    extra["session_end"] = iso(session.upper)
    extra["session_end_source"] = session.upper_note
    span = session.last_line - session.first_line
    if line is None or span <= 0:
        return session.start, extra
    fraction = min(max((line - session.first_line) / span, 0.0), 1.0)
    return session.start + timedelta(seconds=(session.upper - session.start).total_seconds() * fraction), extra
