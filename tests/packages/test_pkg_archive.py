"""Integrity inside evidence archives: RECORD against the manifest's sha256 of the same host
paths, copied members hashed again, and no false "missing" for files the collector never records."""

from __future__ import annotations

from pathlib import Path

import pkg_hosts as hosts
import pytest
from mlsleuth.parsers.extract import extract
from test_pkg_integrity import analyze, rules


def _plant(sp: Path) -> None:
    (sp / "alpha/core.py").write_text("def run():\n    return 'trojan'\n")
    (sp / "alpha/evil.py").write_text("import socket\n")
    (sp / "zz_evil.pth").write_text("import os\n")


def test_archive_written_by_the_collector(host: Path, sp: Path, tmp_path: Path) -> None:
    collect = pytest.importorskip("mlsleuth.collector.collect")
    clean = collect.collect(host, tmp_path / "clean.tar.gz", live=False, quiet=True).archive
    report = analyze(clean)
    assert report.findings == [] and report.errors == []
    rows = {r.name: r for r in report.rows}
    assert set(rows) == {"alpha", "beta", "gamma"}
    assert rows["beta"].integrity == "ok"
    # data files and the console script are not recorded by the collector: not "missing"
    assert rows["alpha"].integrity.startswith("ok") and rows["gamma"].integrity.startswith("ok")
    _plant(sp)
    planted = collect.collect(host, tmp_path / "planted.tar.gz", live=False, quiet=True).archive
    report = analyze(planted)
    assert rules(report) == [("integrity.injected", "alpha", "evil.py"),
                             ("integrity.modified", "alpha", "core.py"),
                             ("integrity.new_pth", None, "zz_evil.pth")]
    modified = next(e for e in report.findings if e.extra["rule"] == "integrity.modified")
    assert modified.evidence.startswith("fs/" + hosts.VENV_REL) and "RECORD#L" in modified.evidence
    assert modified.file_path == f"/{hosts.VENV_REL}/{hosts.SITE}/alpha/core.py"
    assert report.host == "ml-box"


def _archive(host: Path, tmp_path: Path, **kw: object) -> Path:
    return hosts.write_archive(host, tmp_path / "ev.tar.gz", include=[hosts.VENV_REL, "etc"], **kw)  # type: ignore[arg-type]


def test_full_hash_archive_detects_changed_data_file_and_missing_module(host: Path, sp: Path, tmp_path: Path) -> None:
    assert analyze(_archive(host, tmp_path, hashed_only=("alpha/data/",))).findings == []
    (sp / "alpha/data/table.txt").write_text("tampered\n")
    (sp / "beta.py").unlink()
    report = analyze(_archive(host, tmp_path, hashed_only=("alpha/data/",)))  # table.txt: hash only
    assert rules(report) == [("integrity.missing", "beta", "beta.py"),
                             ("integrity.modified", "alpha", "table.txt")]
    changed = next(e for e in report.findings if e.extra["rule"] == "integrity.modified")
    assert changed.extra["file_evidence"].startswith("manifest.jsonl#L")


def test_metadata_only_archive_reports_no_missing_files(host: Path, tmp_path: Path) -> None:
    sp_rel = f"{hosts.VENV_REL}/{hosts.SITE}"
    include = [f"{sp_rel}/{d}" for d in ("alpha-1.0.dist-info", "beta-2.0.dist-info", "gamma-1.0.dist-info")]
    archive = hosts.write_archive(host, tmp_path / "meta.tar.gz", include=include + ["etc"])
    report = analyze(archive)
    assert report.findings == [] and report.errors == []
    assert {r.integrity for r in report.rows} == {"metadata only (package files not collected)"}


def test_member_that_disagrees_with_its_manifest_row_is_reported(host: Path, tmp_path: Path) -> None:
    archive = _archive(host, tmp_path)
    extracted = tmp_path / "extracted"
    extract(archive, extracted)
    member = extracted / "fs" / hosts.VENV_REL / hosts.SITE / "alpha/core.py"
    member.write_text("changed inside the archive\n")
    report = analyze(extracted)  # an extracted collection folder is evidence too
    assert report.findings == []  # the host's file matched RECORD when it was collected
    assert any("differs from the manifest" in e.message and "alpha/core.py" in e.evidence for e in report.errors)


def test_symlinked_site_packages_in_archive(host: Path, tmp_path: Path) -> None:
    real = host / "srv/shared/site-packages"
    real.parent.mkdir(parents=True)
    (host / hosts.VENV_REL / hosts.SITE).rename(real)
    (host / hosts.VENV_REL / hosts.SITE).symlink_to("/srv/shared/site-packages")
    archive = hosts.write_archive(host, tmp_path / "ln.tar.gz", include=[hosts.VENV_REL, "srv", "etc"])
    report = analyze(archive)
    assert report.findings == [] and report.stats["environments"] == 1
    assert {r.environment.split(" ")[0] for r in report.rows} == {"/srv/shared/site-packages"}
