"""Issue 8's "done when": the agent as a subprocess journals a HF-style download of a weaponized
pickle, the alert for it and an authorized_keys write, in order; nothing is ever executed."""

from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path

import pytest
from mlsleuth.parsers.watch_journal import parse_journal
from watch_helpers import read_journal, start_agent, stop_agent, wait_for

from mlsleuth.events import Category, TimestampQuality
from mlsleuth.fixturehost.formats.pickles import reduce_call

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _inspector_available() -> bool:
    try:
        from mlsleuth.parsers.models import inspect_file  # noqa: F401
    except Exception:
        return False
    return True


def _scenario(tmp_path: Path, stub: bool) -> tuple[list, Path, Path]:
    root = tmp_path / "root"
    journal = root / "var/log/mlsleuth/watch"  # where the unit writes it, and collect looks for it
    home = root / "home" / "alice"
    home.mkdir(parents=True)
    marker = tmp_path / "PWNED"
    hook_out = tmp_path / "hook.json"
    payload = reduce_call("posix", "system", (f"touch {marker}",))
    sha = hashlib.sha256(payload).hexdigest()
    repo = home / ".cache/huggingface/hub/models--evil-org--bert-tiny"

    proc = start_agent(journal, root, on_alert=f"cat > {hook_out}", stub=stub)
    try:
        # huggingface_hub makes the repo folders, then streams into blobs/<oid>.incomplete
        (repo / "blobs").mkdir(parents=True)
        (repo / "snapshots" / COMMIT).mkdir(parents=True)
        wait_for(journal, lambda r: r.get("path", "").endswith(f"/snapshots/{COMMIT}"), proc=proc)
        incomplete = repo / "blobs" / f"{sha}.incomplete"
        with open(incomplete, "wb") as fh:
            fh.write(payload[:10])
            fh.flush()
            fh.write(payload[10:])
        os.replace(incomplete, repo / "blobs" / sha)
        (repo / "snapshots" / COMMIT / "pytorch_model.bin").symlink_to(f"../../blobs/{sha}")
        (repo / "refs").mkdir()
        (repo / "refs" / "main").write_text(COMMIT)
        wait_for(journal, lambda r: r["event"] == "ALERT", proc=proc)
        (home / ".ssh").mkdir(mode=0o700)  # most hosts have it; a race is covered in test_watcher
        wait_for(journal, lambda r: r.get("path", "").endswith("/.ssh"), proc=proc)
        with open(home / ".ssh" / "authorized_keys", "a") as fh:
            fh.write("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEvil attacker@c2\n")
        wait_for(journal, lambda r: r["event"] == "HASH" and r["path"].endswith("authorized_keys"),
                 proc=proc)
        wait_for(journal, lambda r: r["event"] == "ALERT_HOOK", proc=proc)
    finally:
        code, err = stop_agent(proc)
    assert code == 0, err
    assert "ALERT malicious" in err  # the error-level log line
    assert not marker.exists()
    hook = json.loads(hook_out.read_text())
    assert hook["verdict"] == "malicious" and hook["sha256"] == sha
    return list(parse_journal(journal)), journal, repo


def _check(events: list, journal: Path, repo: Path) -> None:
    host_repo = "/" + str(repo.relative_to(journal.parents[3]))
    sha = next(e.sha256 for e in events if e.timestamp_desc == "Model Alert")

    def index(pred) -> int:
        return next(i for i, e in enumerate(events) if pred(e))

    created = index(lambda e: e.timestamp_desc == "File Created" and e.file_path.endswith(".incomplete"))
    written = index(lambda e: e.timestamp_desc == "File Written" and e.file_path.endswith(".incomplete"))
    renamed = index(lambda e: e.timestamp_desc == "File Renamed"
                    and e.file_path == f"{host_repo}/blobs/{sha}")
    linked = index(lambda e: e.timestamp_desc == "File Created" and e.file_path.endswith("pytorch_model.bin"))
    hashed = index(lambda e: e.timestamp_desc == "File Hashed" and e.file_path.endswith(f"/blobs/{sha}"))
    alert = index(lambda e: e.timestamp_desc == "Model Alert")
    keys = index(lambda e: e.timestamp_desc == "File Written" and e.file_path.endswith("authorized_keys"))
    assert created < written < renamed < linked and renamed < hashed < alert < keys

    assert events[renamed].extra["src_path"] == f"{host_repo}/blobs/{sha}.incomplete"
    assert events[renamed].category == Category.MODEL_DOWNLOAD
    assert events[renamed].model_repo == "models/evil-org/bert-tiny"
    assert events[linked].revision == COMMIT
    assert events[linked].extra["link_resolved"] == f"{host_repo}/blobs/{sha}"
    assert events[hashed].sha256 == sha and events[hashed].verdict == "malicious"
    assert events[alert].category == Category.FINDING and events[alert].verdict == "malicious"
    assert events[alert].file_path == f"{host_repo}/blobs/{sha}"
    assert events[keys].category == Category.PERSISTENCE and events[keys].user == "alice"
    assert all(e.timestamp_quality == TimestampQuality.EXACT for e in events)
    assert not [e for e in events if e.category == Category.PARSE_ERROR]
    assert [e.timestamp for e in events[created:keys + 1]] == sorted(e.timestamp for e in events[created:keys + 1])
    seqs = [r["seq"] for r in read_journal(journal)]
    assert seqs == list(range(1, len(seqs) + 1))
    assert read_journal(journal)[-1]["event"] == "STOP"


@pytest.mark.slow
def test_download_pickle_and_key_in_order_with_alert(tmp_path: Path):
    if not _inspector_available():
        pytest.skip("mlsleuth.parsers.models.inspect_file (the static inspector) is not available yet")
    events, journal, repo = _scenario(tmp_path, stub=False)
    _check(events, journal, repo)
    try:
        from mlsleuth.timelines.run import build_timeline
    except ImportError:
        pytest.skip("mlsleuth.timelines.run.build_timeline not available")
    # The whole host tree, as `mlsleuth timeline ROOT` reads it: the journal among the artifacts.
    build_timeline([tmp_path / "root"], tmp_path / "timeline")
    with open(tmp_path / "timeline" / "timeline.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["source"] == "watch_journal"]
    order = [(r["timestamp_desc"], r["file_path"].rsplit("/", 1)[-1]) for r in rows]
    sha = next(e.sha256 for e in events if e.timestamp_desc == "Model Alert")
    wanted = [("File Created", f"{sha}.incomplete"), ("File Written", f"{sha}.incomplete"),
              ("File Renamed", sha), ("File Created", "pytorch_model.bin"), ("Model Alert", sha),
              ("File Written", "authorized_keys")]
    positions = [order.index(w) for w in wanted]
    assert positions == sorted(positions), order
    assert not (tmp_path / "PWNED").exists()  # nor did the timeline's own parsers run the payload


def test_same_scenario_with_stand_in_inspector(tmp_path: Path):
    """The agent's side of the alert (hashing, ordering, hook, log) without depending on the
    inspector's detection, which has its own tests."""
    _check(*_scenario(tmp_path, stub=True))
