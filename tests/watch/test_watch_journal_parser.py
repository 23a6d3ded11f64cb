"""parsers/watch_journal.py: journal lines become exact, categorised events; bad lines are errors."""

from __future__ import annotations

import json
from pathlib import Path

from mlsleuth.parsers.registry import get_parser
from mlsleuth.parsers.source import ParseContext, Source
from mlsleuth.parsers.watch_journal import parse_journal

from mlsleuth.events import Category, TimestampQuality

T = "2026-11-20T10:00:{:02d}.000000+00:00"
BLOB = "/home/alice/.cache/huggingface/hub/models--org--name/blobs/" + "ab" * 32
MODULE = ("/home/alice/.cache/huggingface/modules/transformers_modules/org/name/"
          + "c" * 40 + "/modeling_evil.py")


def _write(path: Path, records: list[dict], tail: bytes = b"") -> Path:
    lines = []
    for i, rec in enumerate(records, 1):
        lines.append(json.dumps({"seq": i, "time": T.format(i), **rec}))
    path.write_bytes(("\n".join(lines) + "\n").encode() + tail)
    return path


def _sample(tmp_path: Path, tail: bytes = b"") -> Path:
    return _write(tmp_path / "journal-000000000001.jsonl", [
        {"event": "JOURNAL", "host": "gpu-7", "root": "/"},
        {"event": "START", "pid": 1, "root": "/"},
        {"event": "READY", "watches": 3},
        {"event": "CREATE", "path": BLOB + ".incomplete", "size": 0},
        {"event": "MOVED_FROM", "path": BLOB + ".incomplete", "cookie": 9},
        {"event": "MOVED_TO", "path": BLOB, "cookie": 9, "src_path": BLOB + ".incomplete", "size": 5},
        {"event": "HASH", "path": BLOB, "sha256": "ab" * 32, "verdict": "malicious", "for_seq": 6},
        {"event": "ALERT", "path": BLOB, "sha256": "ab" * 32, "verdict": "malicious",
         "findings": [{"message": "calls posix.system"}]},
        {"event": "CLOSE_WRITE", "path": MODULE, "size": 10},
        {"event": "CLOSE_WRITE", "path": "/root/.ssh/authorized_keys", "size": 10},
        {"event": "CLOSE_WRITE", "path": "/etc/cron.d/job", "size": 10},
        {"event": "DELETE", "path": "/srv/data/x.csv"},
        {"event": "OVERFLOW", "error": "kernel event queue overflowed"},
        {"event": "STOP", "reason": "SIGTERM"},
    ], tail)


def test_events_carry_exact_times_categories_and_entities(tmp_path: Path):
    events = list(parse_journal(_sample(tmp_path)))
    by_desc = {}
    for e in events:
        by_desc.setdefault(e.timestamp_desc, []).append(e)
    assert all(e.timestamp_quality == TimestampQuality.EXACT for e in events)
    assert all(e.host == "gpu-7" for e in events)
    renamed = by_desc["File Renamed"][0]
    assert renamed.category == Category.MODEL_DOWNLOAD and renamed.model_repo == "models/org/name"
    assert renamed.extra["src_path"] == BLOB + ".incomplete" and renamed.user == "alice"
    assert "File Moved Out" not in by_desc  # the paired MOVED_FROM folds into the rename
    alert = by_desc["Model Alert"][0]
    assert alert.category == Category.FINDING and alert.verdict == "malicious" and alert.sha256 == "ab" * 32
    assert "calls posix.system" in alert.message
    written = {e.file_path: e for e in by_desc["File Written"]}
    assert written[MODULE].category == Category.REMOTE_CODE
    assert written[MODULE].model_repo == "models/org/name" and written[MODULE].revision == "c" * 40
    assert written["/root/.ssh/authorized_keys"].category == Category.PERSISTENCE
    assert written["/root/.ssh/authorized_keys"].user == "root"
    assert written["/etc/cron.d/job"].category == Category.PERSISTENCE
    assert by_desc["File Deleted"][0].category == Category.FILE
    assert by_desc["Watch Queue Overflow"][0].category == Category.HOST
    assert [e.extra["seq"] for e in events if "seq" in e.extra] == sorted(
        e.extra["seq"] for e in events if "seq" in e.extra)
    assert events[0].evidence.endswith("journal-000000000001.jsonl#2")


def test_truncated_last_line_is_tolerated(tmp_path: Path):
    events = list(parse_journal(_sample(tmp_path, tail=b'{"seq":15,"time":"2026-11-20T1')))
    assert events[-1].category == Category.PARSE_ERROR
    assert "truncated last line" in events[-1].message
    assert sum(e.category == Category.PARSE_ERROR for e in events) == 1
    assert any(e.timestamp_desc == "Watch Agent Stopped" for e in events)


def test_corrupt_lines_and_sequence_gaps_are_reported_and_reading_goes_on(tmp_path: Path):
    path = tmp_path / "journal-000000000001.jsonl"
    path.write_bytes(
        b'{"seq":1,"time":"2026-11-20T10:00:01+00:00","event":"CREATE","path":"/srv/a"}\n'
        b'\xff\xfe garbage\n'
        b'{"seq":2,"time":"no time","event":"CREATE","path":"/srv/b"}\n'
        b'[1,2]\n'
        b'{"seq":5,"time":"2026-11-20T10:00:05+00:00","event":"DELETE","path":"/srv/a"}\n'
        b'{"seq":6,"time":"2026-11-20T10:00:06","event":"DELETE","path":"/srv/c"}\n'
        b'{"seq":7,"time":"2026-11-20T10:00:07+00:00","event":"NEW_KIND","path":"/srv/d"}\n')
    events = list(parse_journal(path))
    errors = [e.message for e in events if e.category == Category.PARSE_ERROR]
    assert len(errors) == 6, errors
    assert any("sequence gap: line seq 5 follows 2" in m for m in errors)
    assert any("unknown journal event 'NEW_KIND'" in m for m in errors)
    assert [e.file_path for e in events if e.category == Category.FILE] == ["/srv/a", "/srv/a"]


def test_unpaired_moves_and_directories_across_files(tmp_path: Path):
    d = tmp_path / "j"
    d.mkdir()
    _write(d / "journal-000000000001.jsonl", [
        {"event": "JOURNAL", "host": "h"},
        {"event": "MOVED_FROM", "path": "/srv/out.bin", "cookie": 1},
    ])
    second = d / "journal-000000000003.jsonl"
    second.write_text(json.dumps({"seq": 3, "time": T.format(3), "event": "MOVED_TO",
                                  "path": "/srv/in.bin", "cookie": 2}) + "\n")
    events = list(parse_journal(d))
    descs = [e.timestamp_desc for e in events]
    assert descs == ["File Moved In", "File Moved Out"]  # no gap across the rotation


def test_registered_parser_reads_a_collected_journal(tmp_path: Path):
    path = _sample(tmp_path)
    parse = get_parser("watch_journal")
    assert parse is not None
    source = Source(artifact="watch_journal", parser="watch_journal",
                    host_path="/var/log/mlsleuth/watch/journal-000000000001.jsonl", user="",
                    local_path=path, row={"action": "copied"},
                    evidence_name="fs/var/log/mlsleuth/watch/journal-000000000001.jsonl")
    events = list(parse(source, ParseContext(host="from-host-json")))
    assert len(events) == len(list(parse_journal(path)))
    assert {e.host for e in events} == {"from-host-json"}
    assert events[0].evidence == "fs/var/log/mlsleuth/watch/journal-000000000001.jsonl#2"
