"""Offline advisories: OSV range semantics, OSV exports (directory and zip), the curated table."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pkg_hosts as hosts
import pytest
from mlsleuth.parsers.packages.osv import affected_by, curated_db, in_range, iter_matches, load_osv
from packaging.version import Version
from test_pkg_integrity import analyze, rules


@pytest.mark.parametrize(("version", "events", "expected"), [
    ("1.0", [{"introduced": "0"}, {"fixed": "1.3"}], True),
    ("1.3", [{"introduced": "0"}, {"fixed": "1.3"}], False),
    ("0.9", [{"introduced": "1.0"}, {"fixed": "1.3"}], False),
    ("1.3.0", [{"introduced": "1.0"}, {"last_affected": "1.3"}], True),
    ("1.3.1", [{"introduced": "1.0"}, {"last_affected": "1.3"}], False),
    # two intervals in one range: [1.0, 1.2) and [2.0, 2.1)
    ("1.5", [{"introduced": "1.0"}, {"fixed": "1.2"}, {"introduced": "2.0"}, {"fixed": "2.1"}], False),
    ("2.0.5", [{"fixed": "2.1"}, {"introduced": "2.0"}, {"introduced": "1.0"}, {"fixed": "1.2"}], True),
    # PEP 440 ordering: pre-releases sort before the release, local versions after
    ("2.13.1rc0", [{"introduced": "0"}, {"fixed": "2.13.1rc0"}], False),
    ("2.13.0", [{"introduced": "0"}, {"fixed": "2.13.1rc0"}], True),
    ("2.5.1+cu121", [{"introduced": "0"}, {"fixed": "2.6.0"}], True),
    ("2.6.0+cpu", [{"introduced": "0"}, {"fixed": "2.6.0"}], False),
    ("1.0", [{"introduced": "0"}], True),  # no fix yet
    ("1.0", [{"introduced": "0"}, {"fixed": "not a version"}], True),  # unusable bound ignored
])
def test_osv_range_semantics(version: str, events: list[dict], expected: bool) -> None:
    assert in_range(Version(version), events) is expected


def test_explicit_versions_and_unparsable_installed_version() -> None:
    aff = {"package": {"ecosystem": "PyPI", "name": "x"}, "versions": ["1.0", "2.0.post1", "weird-1"],
           "ranges": [{"type": "GIT", "repo": "https://g", "events": [{"introduced": "0"}]}]}
    assert affected_by("2.0.post1", aff) and affected_by("1.0.0", aff)  # 1.0.0 == 1.0 under PEP 440
    assert affected_by("weird-1", aff) and not affected_by("3.0", aff)  # GIT ranges are not evaluated


def _export(tmp_path: Path) -> Path:
    d = tmp_path / "osv"
    d.mkdir()
    docs = [
        hosts.osv_advisory("PYSEC-2099-1", "vulnpkg", events=[{"introduced": "1.0"}, {"fixed": "1.3"}]),
        hosts.osv_advisory("GHSA-aaaa-bbbb-cccc", "VulnPkg", versions=["1.2.0"], withdrawn="2025-02-01T00:00:00Z"),
        hosts.osv_advisory("PYSEC-2099-2", "vulnpkg", events=[{"introduced": "2.0"}]),
        hosts.osv_advisory("GHSA-53q9-r3pm-6pq6", "torch", events=[{"introduced": "0"}, {"fixed": "2.6.0"}],
                           aliases=["CVE-2025-32434"]),
    ]
    for doc in docs:
        (d / f"{doc['id']}.json").write_text(json.dumps(doc))
    npm = hosts.osv_advisory("GHSA-npm-only", "vulnpkg", versions=["1.2.0"])
    npm["affected"][0]["package"]["ecosystem"] = "npm"
    (d / "GHSA-npm-only.json").write_text(json.dumps(npm))
    (d / "broken.json").write_text("{not json")
    return d


def test_vulnerable_version_matched_from_osv_export(host: Path, venv: Path, wheels: Path, tmp_path: Path) -> None:
    export = _export(tmp_path)
    db = load_osv(export)
    assert db.files == 6 and [p[0].endswith("broken.json") for p in db.problems] == [True]
    assert analyze(host, osv=[db]).findings == []  # the clean host has nothing the export names
    hosts.pip_install(venv, "--no-index", "--find-links", str(wheels), "vulnpkg")
    report = analyze(host, osv=[db])
    assert rules(report) == [("advisory.vulnerable", "vulnpkg", "vulnpkg-1.2.0.dist-info")]
    ev = report.findings[0]
    assert ev.extra["advisory"] == "PYSEC-2099-1" and ev.extra["fixed"] == ["1.3"]
    assert ev.evidence.endswith("vulnpkg-1.2.0.dist-info/METADATA")
    assert ev.extra["advisory_source"].endswith("PYSEC-2099-1.json")
    assert {r.name: r.advisories for r in report.rows}["vulnpkg"] == ["PYSEC-2099-1"]
    assert any("broken.json" in e.evidence for e in report.errors)


def test_osv_zip_export_and_bombs(tmp_path: Path) -> None:
    export = _export(tmp_path)
    z = tmp_path / "PyPI-all.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(export.iterdir()):
            zf.write(f, f.name)
        zf.writestr("huge.json", b" " * (9 << 20))  # over the per-advisory bound, compresses ~1000:1
    db = load_osv(z)
    assert [m.advisory.id for m in db.match("vulnpkg", "1.2.0")] == ["PYSEC-2099-1"]
    assert any("huge.json" in origin for origin, _ in db.problems)
    bad = tmp_path / "not.zip"
    bad.write_bytes(b"PK\x03\x04garbage")
    assert load_osv(bad).problems


def test_curated_table_and_dedupe_with_export(tmp_path: Path) -> None:
    curated = curated_db()
    assert {m.advisory.id for m in curated.match("torch", "2.5.1")} >= {"CVE-2025-32434"}
    assert [m.advisory.id for m in curated.match("keras", "3.8.0")] == ["CVE-2025-1550", "CVE-2025-8747"]
    assert [m.advisory.id for m in curated.match("Llama_CPP-Python", "0.2.71")] == ["CVE-2024-34359"]
    assert curated.match("llama-cpp-python", "0.2.72") == []
    assert [m.advisory.id for m in curated.match("ray", "2.8.0")] == ["CVE-2023-48022"]
    assert curated.match("torchtriton", "3.0.0")[0].advisory.malicious
    for advs in curated.by_name.values():
        for adv in advs:
            assert adv.references, f"{adv.id} has no source"
    export = load_osv(_export(tmp_path))
    ids = [m.advisory.id for m in iter_matches("torch", "2.5.1", [export, curated])]
    assert "GHSA-53q9-r3pm-6pq6" in ids and "CVE-2025-32434" not in ids


def test_curated_match_on_installed_distribution(host: Path, sp: Path) -> None:
    hosts.make_dist(sp, "keras", "3.8.0", {"keras/__init__.py": b"# keras\n"})
    hosts.make_dist(sp, "torchtriton", "3.0.0", {"torchtriton/__init__.py": b"# x\n"})
    report = analyze(host)
    assert rules(report) == [("advisory.malicious", "torchtriton", "torchtriton-3.0.0.dist-info"),
                             ("advisory.vulnerable", "keras", "keras-3.8.0.dist-info"),
                             ("advisory.vulnerable", "keras", "keras-3.8.0.dist-info")]
    mal = next(e for e in report.findings if e.extra["rule"] == "advisory.malicious")
    assert mal.verdict == "malicious" and "pytorch.org" in mal.extra["references"][0]
