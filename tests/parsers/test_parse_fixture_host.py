"""End to end on the fixture host: the events parsed from its tree (dead-box) and from the
archive `mlsleuth collect` makes of it match, source by source, what the builder planted."""

import json
from collections import Counter

import pytest
from mlsleuth.parsers import parse_input

from mlsleuth.events import Category, TimestampQuality


def counts_of(events) -> dict[str, int]:
    c: Counter = Counter()
    blobs, repos, persistence = set(), set(), set()
    for e in events:
        key = (e.source, e.timestamp_desc)
        if key == ("bash_history", "Command Executed"):
            c["bash_commands_with_epoch" if e.timestamp_quality == TimestampQuality.EXACT
              else "bash_commands_without_epoch"] += 1
        elif key == ("zsh_history", "Command Executed"):
            c["zsh_commands"] += 1
        elif key == ("fish_history", "Command Executed"):
            c["fish_commands"] += 1
        elif key == ("python_history", "Command Executed"):
            c["python_history_lines"] += 1
        elif key == ("ipython_history", "IPython Session Started"):
            c["ipython_sessions"] += 1
            c["ipython_sessions_unclosed"] += 1
        elif key == ("ipython_history", "IPython Session Ended"):
            c["ipython_sessions_unclosed"] -= 1
        elif key == ("ipython_history", "Command Executed"):
            c["ipython_input_lines"] += 1
        elif key == ("notebook", "Notebook Saved"):
            c["notebooks"] += 1
            c["notebook_cells"] += e.extra["cells"]
            c["notebook_code_cells"] += e.extra["code_cells"]
        elif key == ("notebook", "Checkpoint Saved"):
            c["notebook_checkpoints"] += 1
        elif key == ("notebook", "Cell Executed"):
            c["notebook_executed_cells"] += 1
        elif key == ("python_dist", "Package Installed") and e.extra["format"] == "dist-info":
            c["distributions"] += 1
        elif e.source == "hf_cache":
            if e.model_repo and e.timestamp_desc != "Download Lock Written":
                repos.add(e.model_repo)
            if e.timestamp_desc == "Snapshot Created":
                c["hf_revisions"] += 1
            elif e.timestamp_desc in ("Download Completed", "Snapshot Link Created", "Snapshot File Modified"):
                c["hf_files"] += 1
                if e.extra.get("blob"):
                    blobs.add((e.model_repo, e.extra["blob"]))
            elif e.timestamp_desc == "Orphan Blob Modified":
                blobs.add((e.model_repo, e.extra["blob"]))
            elif e.timestamp_desc == "Partial Download Modified":
                c["hf_incomplete"] += 1
            elif e.timestamp_desc == "Missing File Probed":
                c["hf_no_exist"] += 1
            elif e.timestamp_desc == "Download Lock Written":
                c["hf_locks"] += 1
        elif key == ("remote_code_modules", "Remote Code Written"):
            c["remote_code_files"] += 1
            c["remote_code_modules"] += not e.extra["init_file"]
        elif e.source == "persistence" and e.timestamp_desc == "File Modified":
            persistence.add(e.file_path)
    c["hf_blobs"], c["hf_repos"], c["persistence_files"] = len(blobs), len(repos), len(persistence)
    return dict(c)


@pytest.fixture(scope="module", params=["basic", "rich"])
def planted(request, tmp_path_factory):
    fixturehost = pytest.importorskip("mlsleuth.fixturehost")
    return fixturehost.build_host(tmp_path_factory.mktemp(f"host-{request.param}") / "root", request.param)


def check(planted, events) -> None:
    assert all(e.host == planted.hostname for e in events)
    got = counts_of(events)
    expected = {k: v for k, v in planted.counts.items() if k != "secrets"}
    assert {k: got.get(k, 0) for k in expected} == expected
    dumped = json.dumps([e.to_dict() for e in events])
    for secret in planted.secrets:
        assert secret.value not in dumped, f"{secret.kind} from {secret.path} leaked"
    unexpected = [e.message for e in events if e.category == Category.PARSE_ERROR and e.source != "packages"]
    assert unexpected == []


def test_plain_tree_events_match_what_was_planted(planted):
    check(planted, list(parse_input(planted.root)))


def test_collected_archive_events_match_what_was_planted(planted, tmp_path):
    collect = pytest.importorskip("mlsleuth.collector.collect")
    archive = tmp_path / "evidence.tar.gz"
    collect.collect(planted.root, archive, live=False, quiet=True)
    events = list(parse_input(archive))
    check(planted, events)
    assert any(e.source == "bodyfile" for e in events)
    # IPython history is read from the collector's consistent SQLite snapshot (WAL replayed)
    assert {e.extra.get("read_from") for e in events if e.source == "ipython_history"} == {"collector snapshot"}
    start = next(e for e in events if e.timestamp_desc == "Collection Started")
    assert all(e.timestamp < start.timestamp for e in events
               if e.category == Category.COMMAND and e.timestamp_quality == TimestampQuality.EXACT)
