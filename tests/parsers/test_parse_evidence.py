"""Opening evidence: archives (safely), extracted collections and plain trees; host facts and
time zones; sniffing inputs; and the guarantees of the run (errors are events, host is set)."""

import gzip
import io
import json
import os
import tarfile
from datetime import UTC, datetime

import pytest
from mlsleuth.parsers import make_context, parse_input, sniff
from mlsleuth.parsers.evidence import ArchiveEvidence, TreeEvidence, open_evidence, parse_tz, resolve_in_root
from mlsleuth.parsers.extract import ExtractLimits, extract
from parser_helpers import T0, errors, link, of, put, write_archive

from mlsleuth.events import Category


def tar_with(path, members):
    """members: (name, kind, payload) with kind file|symlink|hardlink|fifo|dir."""
    with tarfile.open(path, "w:gz") as tar:
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
                continue
            info.type = {"symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE, "fifo": tarfile.FIFOTYPE,
                         "dir": tarfile.DIRTYPE, "chr": tarfile.CHRTYPE}[kind]
            info.linkname = payload or ""
            tar.addfile(info)
    return path


def test_hostile_members_are_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    archive = tar_with(tmp_path / "a.tar.gz", [
        ("/etc/evil", "file", b"abs"),
        ("../escape", "file", b"up"),
        ("fs/a/../../escape2", "file", b"up"),
        ("fs/link", "symlink", str(outside)),
        ("fs/link/pwned", "file", b"through the link"),
        ("fs/dev", "chr", None),
        ("fs/pipe", "fifo", None),
        ("fs/hard", "hardlink", "/etc/passwd"),
        ("fs/ok.txt", "file", b"fine"),
        ("fs/ok.txt", "file", b"second copy"),
    ])
    dest = tmp_path / "x"
    report = extract(archive, dest)
    reasons = dict(report.errors)
    assert set(reasons) == {"/etc/evil", "../escape", "fs/a/../../escape2", "fs/link/pwned", "fs/dev",
                            "fs/pipe", "fs/hard", "fs/ok.txt"}
    assert list(outside.iterdir()) == [] and not (tmp_path / "escape").exists()
    assert os.readlink(dest / "fs/link") == str(outside)  # kept as a symlink, target verbatim
    assert (dest / "fs/ok.txt").read_bytes() == b"fine"
    assert not (dest / "fs/dev").exists() and not (dest / "fs/pipe").exists()


def test_extraction_budget_stops_a_bomb(tmp_path):
    archive = tmp_path / "bomb.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for i in range(3):
            info = tarfile.TarInfo(f"fs/zeros{i}")
            info.size = 4 << 20
            tar.addfile(info, io.BytesIO(bytes(4 << 20)))
    assert archive.stat().st_size < 100_000
    report = extract(archive, tmp_path / "x", ExtractLimits(max_bytes=6 << 20))
    assert not report.complete and "budget" in " ".join(r for _, r in report.errors)
    written = sum(p.stat().st_size for p in (tmp_path / "x").rglob("*") if p.is_file())
    assert written <= 6 << 20


def test_truncated_archive_keeps_what_came_before(tmp_path):
    tree = tmp_path / "tree"
    put(tree, "/home/a/.bash_history", "#1762765200\nls\n" * 200, mtime=T0)
    put(tree, "/home/a/.python_history", "x" * 200_000, mtime=T0)
    archive = write_archive(tree, tmp_path / "ok.tar.gz", artifacts={"/home/a/.bash": "bash_history",
                                                                      "/home/a/.python": "python_history"})
    raw = gzip.decompress(archive.read_bytes())
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(gzip.compress(raw[: len(raw) // 2]))
    events = list(parse_input(cut))
    assert any("truncated" in e.message for e in errors(events))
    assert any("manifest.jsonl" in e.message and "missing" in e.message for e in errors(events))
    assert all(e.host for e in events)


def test_archive_round_trip_with_host_json_and_hashed_files(tmp_path):
    tree = tmp_path / "tree"
    put(tree, "/home/alice/.bash_history", "pip install torch\n", mtime=T0)
    put(tree, "/home/alice/.zsh_history", ": 1762765200:0;ls\n", mtime=T0)
    archive = write_archive(
        tree, tmp_path / "e.tar.gz", artifacts={"/home/alice/.bash": "bash_history", "/home/alice/.zsh": "zsh_history"},
        hashed={"/home/alice/.zsh_history"},
        host={"hostname": "gpu-07", "timezone": "Asia/Tokyo", "custody": {"start": "2026-11-10T10:00:00+00:00"}})
    assert sniff(archive) == "evidence"
    events = list(parse_input(archive))
    assert {e.host for e in events} == {"gpu-07"}
    bash = of(events, "Command Executed")
    assert [(e.cmdline, e.evidence) for e in bash] == [("pip install torch", "fs/home/alice/.bash_history#L1")]
    hashed = [e for e in errors(events) if e.file_path == "/home/alice/.zsh_history"]
    assert hashed and "not collected (hashed" in hashed[0].message
    with open_evidence(archive) as ev:
        assert isinstance(ev, ArchiveEvidence) and ev.tz_name == "Asia/Tokyo"
        assert ev.collection_time == datetime(2026, 11, 10, 10, tzinfo=UTC)
        assert ev.entry("/home/alice/.zsh_history").sha256
        assert [s.host_path for s in ev.walk("/home/alice")] == ["/home/alice/.bash_history",
                                                                 "/home/alice/.zsh_history"]
        root = ev.root
    assert not root.exists(), "the temporary extraction is removed on close"


def test_manifest_rows_that_are_not_json_are_reported(tmp_path):
    tree = tmp_path / "tree"
    put(tree, "/home/a/.bash_history", "ls\n", mtime=T0)
    archive = write_archive(tree, tmp_path / "e.tar.gz", artifacts={"/home/a": "bash_history"},
                            extra_members={"manifest.jsonl": b'{"path": "/home/a/.bash_history", "artifact": '
                                           b'"bash_history", "member": "fs/home/a/.bash_history"}\nnot json\n'})
    events = list(parse_input(archive))
    assert [e.cmdline for e in of(events, "Command Executed")] == ["ls"]
    assert any("manifest.jsonl#L2" in e.evidence for e in errors(events))


def test_special_members_live_and_bodyfile(tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    body = "0|/home/a/x.pt|12|r/rrw-r--r--|1000|1000|5|1762765200|1762765201|1762765202|0\n"
    procs = json.dumps({"pid": 42, "ppid": 1, "name": "python", "user": "a", "cmdline": ["python", "x.py"],
                        "create_time": 1762765000.5}) + "\n"
    archive = write_archive(tree, tmp_path / "e.tar.gz", extra_members={
        "bodyfile.txt": body.encode(), "live/processes.jsonl": procs.encode()},
        host={"hostname": "h", "users": [{"name": "a", "uid": 1000}], "custody": {"start": 1762766000}})
    events = list(parse_input(archive))
    files = of(events, category=Category.FILE)
    assert sorted(e.timestamp_desc for e in files) == ["File Accessed", "File Metadata Changed", "File Modified"]
    assert {e.user for e in files} == {"a"}
    proc = of(events, "Process Started")[0]
    assert proc.pid == 42 and proc.cmdline == "python x.py" and proc.evidence == "live/processes.jsonl#L1"


def test_plain_tree_host_facts_and_timezone_files(tmp_path):
    put(tmp_path, "/etc/hostname", "# comment\nws-9\n")
    link(tmp_path, "/etc/localtime", "/usr/share/zoneinfo/Europe/Paris")
    ev = TreeEvidence(tmp_path)
    assert ev.hostname == "ws-9" and ev.tz_name == "Europe/Paris" and ev.tz_origin == "etc/localtime"
    ctx = make_context(ev, assume_tz="Asia/Tokyo")
    assert ctx.tz_name == "Europe/Paris", "the evidence's own zone wins over --tz"


def test_assumed_timezone_and_bad_names():
    assert make_context(None, assume_tz="+05:30").tz_name == "UTC+05:30"
    assert parse_tz({"name": "nowhere", "utc_offset": 3600})[1] == "UTC+1"
    with pytest.raises(ValueError):
        make_context(None, assume_tz="Mars/Olympus")


def test_resolve_in_root_never_leaves_the_root(tmp_path):
    link(tmp_path, "/home/alice", "/../../../etc")
    put(tmp_path, "/etc/passwd", "inside the root")
    resolved = resolve_in_root(tmp_path, "/home/alice/passwd")
    assert resolved == tmp_path / "etc" / "passwd"
    link(tmp_path, "/loop/a", "/loop/b")
    link(tmp_path, "/loop/b", "/loop/a")
    assert resolve_in_root(tmp_path, "/loop/a/x") is None


def test_sniffing(tmp_path):
    (tmp_path / "p.jsonl").write_text(json.dumps({"__container_type__": "event", "data_type": "fs:stat",
                                                  "timestamp_desc": "x"}) + "\n")
    (tmp_path / "o.log").write_text(json.dumps({"name": "q", "hostIdentifier": "h", "columns": {}}) + "\n")
    (tmp_path / "bad").write_bytes(b"\x00\x01garbage")
    assert sniff(tmp_path / "p.jsonl") == "plaso" and sniff(tmp_path / "o.log") == "osquery"
    assert sniff(tmp_path / "bad") == "unknown" and sniff(tmp_path) == "evidence"
    events = list(parse_input(tmp_path / "bad"))
    assert len(events) == 1 and events[0].category == Category.PARSE_ERROR and events[0].host


def test_a_crashing_parser_becomes_a_parse_error(tmp_path, monkeypatch):
    from mlsleuth.parsers import bash_history, registry

    def boom(src, ctx):
        yield from ()
        raise RuntimeError("kaboom")

    boom.handles_symlinks = False
    monkeypatch.setitem(registry._PARSERS, "bash_history", boom)
    put(tmp_path, "/home/a/.bash_history", "ls\n", mtime=T0)
    from parser_helpers import run

    events = run(tmp_path, "/home/a/.bash_history", "bash_history")
    assert len(events) == 1 and "RuntimeError: kaboom" in events[0].message
    assert bash_history.parse is not boom


def test_a_folder_that_is_not_a_host_root_says_so(tmp_path):
    put(tmp_path, "/notes.txt", "nothing here")
    events = list(parse_input(tmp_path))
    assert len(events) == 1 and "no artifact found" in events[0].message
