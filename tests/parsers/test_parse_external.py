"""External timelines merged into the same stream: a real plaso json_line file made by psteal,
osquery result logs (snapshot, differential, batched), and mlsleuth's own events.jsonl."""

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mlsleuth.parsers import parse_input, sniff
from parser_helpers import T0, errors, of, put

from mlsleuth.events import Category, TimestampQuality, from_epoch, write_jsonl

PSTEAL = shutil.which("psteal") or str(Path(sys.executable).parent / "psteal")


@pytest.mark.slow
def test_real_psteal_json_line_merges_with_mlsleuth_events(tmp_path):
    if not Path(PSTEAL).exists():
        pytest.skip("plaso is not installed (optional extra: pip install 'mlsleuth[plaso]')")
    root = tmp_path / "root"
    put(root, "/home/alice/.bash_history", "#1762765200\npip install ./evil-pkg\n#1762765300\nls\n", mtime=T0)
    put(root, "/home/alice/.zsh_history", ": 1762765400:0;huggingface-cli download org/model\n", mtime=T0)
    out = tmp_path / "timeline.jsonl"
    result = subprocess.run([PSTEAL, "--source", str(root), "-o", "json_line", "-w", str(out), "--unattended",
                             "--status_view", "none"], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert sniff(out) == "plaso"
    plaso = list(parse_input(out))
    assert plaso and not errors(plaso)
    commands = of(plaso, category=Category.COMMAND)
    assert {(e.cmdline, e.timestamp) for e in commands} >= {
        ("pip install ./evil-pkg", from_epoch(1762765200)), ("huggingface-cli download org/model",
                                                             from_epoch(1762765400))}
    assert all(e.source == "plaso" and e.host and e.timestamp_quality == TimestampQuality.EXACT for e in commands)
    assert any(e.category == Category.FILE and e.timestamp_desc for e in plaso)
    # the same facts read by mlsleuth from the tree line up with plaso's
    ours = {(e.cmdline, e.timestamp) for e in parse_input(root) if e.category == Category.COMMAND}
    assert {(e.cmdline, e.timestamp) for e in commands} & ours == {
        ("pip install ./evil-pkg", from_epoch(1762765200)), ("ls", from_epoch(1762765300)),
        ("huggingface-cli download org/model", from_epoch(1762765400))}


def test_plaso_lines_odd_and_broken(tmp_path):
    lines = [
        {"__container_type__": "event", "data_type": "fs:stat", "timestamp": 1762765200000000,
         "timestamp_desc": "Content Modification Time", "filename": "/home/a/x.pt", "hostname": "h1",
         "message": "x", "parser": "filestat", "sha256_hash": "ab" * 32},
        {"__container_type__": "event", "data_type": "syslog:line", "timestamp": 0, "timestamp_desc": "Not a time",
         "message": "boot", "pathspec": {"location": "/var/log/syslog", "type_indicator": "OS"}},
    ]
    text = "\n".join(json.dumps(x) for x in lines) + "\n{broken\n"
    path = tmp_path / "p.jsonl"
    path.write_text(text)
    events = list(parse_input(path))
    assert events[0].host == "h1" and events[0].file_path == "/home/a/x.pt" and events[0].sha256 == "ab" * 32
    assert events[1].timestamp_quality == TimestampQuality.ESTIMATED and events[1].file_path == "/var/log/syslog"
    assert events[1].host == "p"  # no hostname in the record: named after the file
    assert errors(events) and errors(events)[0].evidence == "p.jsonl#L3"


def test_osquery_snapshot_differential_and_batch(tmp_path):
    log = tmp_path / "osqueryd.results.log"
    rows = [
        {"name": "pack_ml_processes", "hostIdentifier": "gpu-07", "calendarTime": "Mon Nov 10 09:00:00 2026 UTC",
         "unixTime": 1762765200, "epoch": 0, "counter": 1, "numerics": False, "action": "added",
         "columns": {"pid": "4242", "parent": "1", "name": "python", "cmdline": "python train.py",
                     "path": "/usr/bin/python3"}},
        {"name": "pack_listening", "hostIdentifier": "gpu-07", "unixTime": 1762765260, "action": "snapshot",
         "snapshot": [{"pid": "77", "port": "8888", "address": "0.0.0.0", "protocol": "6"},
                      {"pid": "78", "remote_address": "203.0.113.9", "remote_port": "443"}]},
        {"name": "ml_findings", "hostIdentifier": "gpu-07", "unixTime": 1762765300,
         "diffResults": {"added": [{"path": "/home/a/x.pkl", "verdict": "malicious", "sha256": "cd" * 32}],
                         "removed": []}},
        {"weird": True},
    ]
    log.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert sniff(log) == "osquery"
    events = list(parse_input(log))
    proc = events[0]
    assert (proc.category, proc.pid, proc.ppid, proc.cmdline, proc.host) == (
        Category.PROCESS, 4242, 1, "python train.py", "gpu-07")
    assert proc.timestamp == from_epoch(1762765200) and proc.timestamp_desc == "osquery Row Added"
    assert [e.timestamp_desc for e in events[1:3]] == ["osquery Snapshot Row"] * 2
    assert events[2].remote_addr == "203.0.113.9:443"
    finding = events[3]
    assert finding.category == Category.FINDING and finding.verdict == "malicious"
    assert errors(events)[0].evidence.endswith("#L4")


def test_events_jsonl_round_trip(tmp_path):
    from mlsleuth.events import Event

    ev = Event(timestamp=T0, timestamp_desc="Command Executed", source="bash_history", category=Category.COMMAND,
               message="ls", host="", cmdline="ls")
    buf = io.StringIO()
    write_jsonl([ev], buf)
    path = tmp_path / "other-host.events.jsonl"
    path.write_text(buf.getvalue() + '{"timestamp": "nope"}\n')
    events = list(parse_input(path))
    assert events[0].cmdline == "ls" and events[0].host == "other-host.events"
    assert errors(events)
