"""IPython's ``history.sqlite``, written by IPython's own HistoryManager when IPython is installed.

The HistoryManager asks ``datetime.datetime.now()`` for its times; the builder swaps in a clock
that answers with the story's time, in the host's zone. What installed IPython (9.x) writes,
and so what the fixture holds:

* ``sessions.start``: ``datetime.now().isoformat(" ")``: naive LOCAL time, e.g.
  ``2026-11-10 09:53:20.412337`` for 08:53:20Z on a Europe/Berlin host;
* ``sessions.end``: ``datetime.now(UTC).isoformat(" ")``: UTC WITH an offset,
  ``2026-11-10 09:01:05.118201+00:00`` (IPython 8 wrote local naive here too);
* ``end`` and ``num_cmds`` NULL for a session that never closed (kernel still running, crash).

Without IPython the same statements run through sqlite3 (same schema text, same transactions),
which tests/test_fixturehost.py checks gives the same bytes.
"""

from __future__ import annotations

import datetime as _dt
import sqlite3
import types
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

# IPython's init_db, verbatim (sqlite_master keeps the text, whitespace included).
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS sessions (session integer
                            primary key autoincrement, start timestamp,
                            end timestamp, num_cmds integer, remark text)""",
    """CREATE TABLE IF NOT EXISTS history
                    (session integer, line integer, source text, source_raw text,
                    PRIMARY KEY (session, line))""",
    """CREATE TABLE IF NOT EXISTS output_history
                            (session integer, line integer, output text,
                            PRIMARY KEY (session, line))""",
)


@dataclass
class Session:
    start: _dt.datetime  # UTC
    end: _dt.datetime | None  # UTC; None: never closed
    lines: list[tuple[str, str]]  # (source as executed, source_raw as typed), numbered from 1


def _start_text(t: _dt.datetime, tz: ZoneInfo) -> str:
    return t.astimezone(tz).replace(tzinfo=None).isoformat(" ")


def _end_text(t: _dt.datetime) -> str:
    return t.astimezone(_dt.UTC).isoformat(" ")


def write_history(path: Path, sessions: list[Session], tz: ZoneInfo, *, use_ipython: bool = True) -> str:
    """Write the database; returns which writer was used ("IPython <version>" or "sqlite3")."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if use_ipython:
        try:
            return _with_ipython(path, sessions, tz)
        except ImportError:
            pass
    _with_sqlite3(path, sessions, tz)
    return "sqlite3"


def _with_sqlite3(path: Path, sessions: list[Session], tz: ZoneInfo) -> None:
    db = sqlite3.connect(str(path))
    try:
        for statement in _SCHEMA:
            with db:
                db.execute(statement)
        for s in sessions:
            with db:
                cur = db.execute("INSERT INTO sessions VALUES (NULL, ?, NULL,\n                            NULL, '') ",
                                 (_start_text(s.start, tz),))
                number = cur.lastrowid
            with db:
                for i, (source, raw) in enumerate(s.lines, 1):
                    db.execute("INSERT INTO history VALUES (?, ?, ?, ?)",
                               (number, i, source.rstrip("\n"), raw.rstrip("\n")))
            with db:
                pass  # output cache flush: nothing logged
            if s.end is not None:
                with db:
                    db.execute("UPDATE sessions SET end=?, num_cmds=? WHERE\n                            session==?",
                               (_end_text(s.end), len(s.lines), number))
    finally:
        db.close()


class _StoryClock(_dt.datetime):
    """Stands in for ``datetime.datetime`` inside IPython.core.history while the builder runs."""

    utc_now: _dt.datetime
    zone: ZoneInfo

    @classmethod
    def now(cls, tz: _dt.tzinfo | None = None) -> _dt.datetime:  # type: ignore[override]
        t = cls.utc_now
        if tz is None:
            return t.astimezone(cls.zone).replace(tzinfo=None)
        return t.astimezone(tz)


class _Shell:
    """Just enough of a shell for HistoryManager: it pushes the _i variables here."""

    def push(self, variables: dict, interactive: bool = True) -> None:
        return None


def _with_ipython(path: Path, sessions: list[Session], tz: ZoneInfo) -> str:
    import IPython
    from IPython.core import history as ih
    from IPython.core.interactiveshell import InteractiveShellABC

    InteractiveShellABC.register(_Shell)  # idempotent
    clock = type("_Clock", (_StoryClock,), {"zone": tz, "utc_now": sessions[0].start if sessions else None})
    saved = ih.datetime
    ih.datetime = types.SimpleNamespace(datetime=clock, UTC=_dt.UTC)
    try:
        for s in sessions:
            clock.utc_now = s.start
            # a huge cache keeps the saving thread idle: every write happens here, in order
            hm = ih.HistoryManager(shell=_Shell(), hist_file=str(path), db_cache_size=1 << 30)
            try:
                for i, (source, raw) in enumerate(s.lines, 1):
                    hm.store_inputs(i, source, raw)
                if s.end is not None:
                    clock.utc_now = s.end
                    hm.end_session()
                else:
                    hm.writeout_cache()
            finally:
                hm.close()
    finally:
        ih.datetime = saved
    return f"IPython {IPython.__version__}"
