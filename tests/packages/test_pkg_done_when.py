"""Issue 9's acceptance: every plant comes out as a finding with its evidence, on the host tree
and (where the collector records the files) in its evidence archive; nothing else is flagged."""

from __future__ import annotations

import json
from pathlib import Path

import pkg_hosts as hosts
import pytest
from mlsleuth.parsers.packages.osv import load_osv
from test_pkg_integrity import _conda_prefix, analyze, rules


def _plant_everything(host: Path, venv: Path, sp: Path, wheels: Path, tmp_path: Path) -> Path:
    (sp / "alpha/core.py").write_text("def run():\n    return 'trojan'\n")  # modified file
    (sp / "alpha/backdoor.py").write_text("import socket\n")  # injected module
    (sp / "zz_evil.pth").write_text("import alpha.backdoor\n")  # new .pth
    primary = hosts.make_index(tmp_path / "primary", wheels, ["alpha"])
    extra = hosts.make_index(tmp_path / "extra", wheels, ["evilpkg", "evilplugin"])
    conf = host / "home/alice/.config/pip/pip.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text(f"[global]\nextra-index-url = {extra}\n")
    log = host / "home/alice/.pip/pip.log"
    log.parent.mkdir(parents=True)
    hosts.pip_install(venv, "--index-url", primary, "--extra-index-url", extra, "--log", str(log), "evilpkg")
    hosts.pip_install(venv, "--no-index", next((tmp_path / "extra/evilplugin").glob("*.whl")).as_uri())
    hosts.pip_install(venv, "--no-index", "--find-links", str(wheels), "vulnpkg")
    prefix = _conda_prefix(host)
    (prefix / "lib/libfoo.so.1").write_bytes(b"\x7fELF" + b"\xcc" * 64)  # conda package changed
    osv = tmp_path / "osv"
    osv.mkdir()
    doc = hosts.osv_advisory("PYSEC-2099-1", "vulnpkg", events=[{"introduced": "1.0"}, {"fixed": "1.3"}])
    (osv / "PYSEC-2099-1.json").write_text(json.dumps(doc))
    return osv


EXPECTED = [
    ("advisory.vulnerable", "vulnpkg", "vulnpkg-1.2.0.dist-info"),
    ("confusion.bait_version", "evilpkg", "evilpkg-99.0.0.dist-info"),
    ("confusion.extra_index_source", "evilpkg", "evilpkg-99.0.0.dist-info"),
    ("confusion.extra_index_source", "evilplugin", "evilplugin-1.0.dist-info"),
    # vulnpkg came after pip.conf gained the extra index: that install could have used it
    ("confusion.installed_while_extra_index", "vulnpkg", "vulnpkg-1.2.0.dist-info"),
    ("integrity.injected", "alpha", "backdoor.py"),
    ("integrity.modified", "alpha", "core.py"),
    ("integrity.modified", "libfoo", "libfoo.so.1"),
    ("integrity.new_pth", None, "zz_evil.pth"),
]


def _check_evidence(report) -> None:  # type: ignore[no-untyped-def]
    by_rule = {(e.extra["rule"], e.package): e for e in report.findings}
    assert "RECORD#L" in by_rule[("integrity.modified", "alpha")].evidence
    assert by_rule[("integrity.modified", "libfoo")].evidence.endswith("#paths_data.paths[0]")
    assert ".pip/pip.log#L" in by_rule[("confusion.extra_index_source", "evilpkg")].evidence
    assert by_rule[("confusion.extra_index_source", "evilplugin")].evidence.endswith("direct_url.json")
    assert by_rule[("advisory.vulnerable", "vulnpkg")].evidence.endswith("vulnpkg-1.2.0.dist-info/METADATA")
    assert by_rule[("integrity.new_pth", None)].evidence.endswith("zz_evil.pth")


def test_every_plant_is_a_finding_on_the_tree_and_in_the_archive(host: Path, venv: Path, sp: Path, wheels: Path,
                                                                 tmp_path: Path) -> None:
    osv = _plant_everything(host, venv, sp, wheels, tmp_path)
    report = analyze(host, osv=[load_osv(osv)])
    assert rules(report) == EXPECTED
    _check_evidence(report)
    assert report.errors == []

    collect = pytest.importorskip("mlsleuth.collector.collect")
    archive = collect.collect(host, tmp_path / "ev.tar.gz", live=False, quiet=True).archive
    in_archive = analyze(archive, osv=[load_osv(osv)])
    # conda's lib/*.so is not hashed by the collector (it records *.py of site-packages only)
    assert rules(in_archive) == [r for r in EXPECTED if r[1] != "libfoo"]
    assert {r.name: r.integrity for r in in_archive.rows}["libfoo"].startswith("unverified")
