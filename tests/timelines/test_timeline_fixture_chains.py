"""Done-when of the timeline: on the fixture host (basic and rich) findings.json links exactly the
planted chains, with their essential steps, and none of the decoys.

Two ways in: the full pipeline (parsers + model inspector on the host tree), and the parsers'
events plus the static verdicts the inspector must give (the planted payloads), so the
correlation is checked even where the inspector is not installed.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from mlsleuth.timelines.run import build_timeline

from mlsleuth.events import Category, Event, write_jsonl
from mlsleuth.fixturehost import Planted, build_host, payloads

ORIGIN_KINDS = {"download", "remote_code", "package_install"}
TOLERANCE = timedelta(seconds=1)


@pytest.fixture(scope="module", params=["basic", "rich"])
def host(request, tmp_path_factory) -> tuple[Planted, list[Event]]:
    from mlsleuth.parsers import parse_input

    root = tmp_path_factory.mktemp(request.param) / "host"
    planted = build_host(root, request.param)
    events = list(parse_input(root))
    return planted, events


def _kind_ok(planted_kind: str, kind: str) -> bool:
    if planted_kind == "origin":
        return kind in ORIGIN_KINDS
    if planted_kind == "load":
        return kind == "load"
    return kind not in ORIGIN_KINDS and kind != "load"


def _time_ok(step, reported: str) -> bool:
    from datetime import datetime

    t = datetime.fromisoformat(reported)
    if step.bounds is not None:
        return step.bounds[0] - TOLERANCE <= t <= step.bounds[1] + TOLERANCE
    return abs(t - step.time) <= TOLERANCE


def assert_matches(planted: Planted, data: dict) -> None:
    chains = data["chains"]
    assert len(chains) == len(planted.chains), [c["summary"] for c in chains]
    for pc in planted.chains:
        essential_paths = {s.path for s in pc.essential_steps()}
        matching = [c for c in chains if essential_paths <= {s["path"] for s in c["steps"]}]
        assert len(matching) == 1, (pc.id, [[(s["kind"], s["path"]) for s in c["steps"]] for c in chains])
        chain = matching[0]
        allowed = {s.path for s in pc.steps}
        for step in chain["steps"]:
            assert step["path"] in allowed, (pc.id, step)  # no step the story did not plant
            assert step["evidence"] and step["reason"]
        for ps in pc.steps:
            found = [s for s in chain["steps"] if s["path"] == ps.path and _kind_ok(ps.kind, s["kind"])]
            if ps.essential:
                assert found, (pc.id, ps)
            for s in found:
                assert _time_ok(ps, s["time"]), (pc.id, ps, s["time"])
    decoy_paths = {p for d in planted.decoys for p in d.paths}
    decoy_repos = {d.model_repo.split("/", 1)[1].lower() for d in planted.decoys if d.model_repo}
    for chain in chains:
        for step in chain["steps"]:
            assert step["path"] not in decoy_paths, step
            assert not any(p in e for p in decoy_paths for e in step["evidence"]), step
        assert not any(r in chain["summary"].lower() for r in decoy_repos), chain["summary"]


def planted_verdicts(planted: Planted, events: list[Event]) -> list[Event]:
    """The verdicts the model inspector gives the planted payloads, as its FINDING events."""
    out = []
    for e in events:
        if e.category == Category.MODEL_DOWNLOAD and (e.file_path or "").endswith("pytorch_model.bin") \
                and "meta-1lama" in (e.model_repo or ""):
            out.append(Event(timestamp=e.timestamp, timestamp_desc=e.timestamp_desc, source="model_scan",
                             category=Category.FINDING, host=e.host, user=e.user, file_path=e.file_path,
                             sha256=e.sha256, model_repo=e.model_repo, verdict="malicious",
                             message=f"pickle calls posix.system({payloads.ATTACK_CMD!r})",
                             evidence=e.evidence, extra={"indicators": [payloads.ATTACK_CMD]}))
        if e.category == Category.REMOTE_CODE and (e.file_path or "").endswith("modeling_phi3.py"):
            out.append(Event(timestamp=e.timestamp, timestamp_desc=e.timestamp_desc, source="model_scan",
                             category=Category.FINDING, host=e.host, user=e.user, file_path=e.file_path,
                             model_repo=e.model_repo, verdict="malicious",
                             message="remote code spawns processes (subprocess.Popen) and runs downloaded code",
                             evidence=e.evidence, extra={"indicators": ["subprocess.Popen", "urlopen"]}))
    return out


def test_planted_chains_with_the_inspectors_verdicts(host, tmp_path):
    planted, events = host
    if not any(e.category == Category.PERSISTENCE for e in events):
        pytest.skip("the parsers in this checkout emit no persistence events yet")
    have = {(e.file_path, e.verdict) for e in events if e.category == Category.FINDING}
    extra = [v for v in planted_verdicts(planted, events) if (v.file_path, v.verdict) not in have]
    src = tmp_path / "events.jsonl"
    with open(src, "w", encoding="utf-8") as fh:
        write_jsonl(events + extra, fh)
    res = build_timeline([src], tmp_path / "out")
    assert_matches(planted, {"chains": res.chains})


def test_planted_chains_end_to_end(host, tmp_path):
    from mlsleuth.parsers.verdicts import _inspector

    planted, _ = host
    if _inspector() is None:
        pytest.skip("the model inspector (mlsleuth.parsers.models.inspect_file) is not available")
    res = build_timeline([planted.root], tmp_path / "out")
    assert_matches(planted, {"chains": res.chains})
    assert any(f["rule"] == "typosquat-repo" and "meta-1lama" in f["path"] for f in res.findings)


def test_no_chain_without_verdicts_or_pids(host, tmp_path):
    """Without static verdicts and pids there is no evidence for a follow-on: proximity alone
    (the authorized_keys write 22 s after the load) must not make a chain."""
    planted, events = host
    src = tmp_path / "events.jsonl"
    with open(src, "w", encoding="utf-8") as fh:
        write_jsonl([e for e in events if e.category != Category.FINDING and not e.verdict], fh)
    res = build_timeline([src], tmp_path / "out")
    assert res.chains == []


@pytest.mark.slow
def test_planted_chain_from_the_collected_archive(tmp_path):
    """The demo's path: collect the basic host into an evidence archive, timeline the archive."""
    from mlsleuth.parsers.verdicts import _inspector

    if _inspector() is None:
        pytest.skip("the model inspector (mlsleuth.parsers.models.inspect_file) is not available")
    collect = pytest.importorskip("mlsleuth.collector.collect").collect
    planted = build_host(tmp_path / "host", "basic")
    archive = tmp_path / "evidence.tar.gz"
    collect(root=planted.root, output=archive, live=False, quiet=True)
    res = build_timeline([archive], tmp_path / "out")
    assert_matches(planted, {"chains": res.chains})
    for step in res.chains[0]["steps"]:
        assert not step["path"].startswith(str(tmp_path)), step  # host paths, not collection paths
