"""Integrity of installed distributions against RECORD and conda-meta, on real pip-built venvs."""

from __future__ import annotations

import base64
import hashlib
import os
import struct
from pathlib import Path

import pkg_hosts as hosts
import pytest
from mlsleuth.parsers.evidence import open_evidence
from mlsleuth.parsers.packages.analyze import Report, analyze_evidence
from mlsleuth.parsers.packages.osv import AdvisoryDB


def analyze(root: Path, osv: list[AdvisoryDB] | None = None) -> Report:
    ev = open_evidence(root)
    try:
        return analyze_evidence(ev, None, osv=osv or [])
    finally:
        ev.close()


def rules(report: Report) -> list[tuple[str, str | None, str]]:
    return sorted((e.extra["rule"], e.package, (e.file_path or "").rsplit("/", 1)[-1]) for e in report.findings)


def record_b64(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def test_clean_pip_venv_has_no_findings_and_no_errors(host: Path) -> None:
    report = analyze(host)
    assert report.findings == []
    assert report.errors == []
    rows = {r.name: r for r in report.rows}
    assert set(rows) == {"alpha", "beta", "gamma"}
    assert all(r.integrity == "ok" and r.installer == "pip" for r in rows.values())
    assert rows["alpha"].requested is True and rows["beta"].requested is False
    assert rows["alpha"].environment == "/" + hosts.VENV_REL + "/" + hosts.SITE
    assert report.host == "ml-box"
    assert report.stats["files_checked"] >= 10


def test_modified_file_is_a_finding_with_record_evidence(host: Path, sp: Path) -> None:
    target = sp / "alpha/core.py"
    original = target.read_bytes()
    changed = original + b"import os; os.system('id')\n"
    target.write_bytes(changed)
    os.utime(target, (946684800, 946684800))  # timestomped back to 2000-01-01
    report = analyze(host)
    assert rules(report) == [("integrity.modified", "alpha", "core.py")]
    ev = report.findings[0]
    assert ev.file_path == "/" + hosts.VENV_REL + "/" + hosts.SITE + "/alpha/core.py"
    assert ev.extra["expected"] == "sha256:" + hashlib.sha256(original).hexdigest()
    assert ev.sha256 == hashlib.sha256(changed).hexdigest()
    assert ev.extra["expected_size"] == len(original) and ev.extra["actual_size"] == len(changed)
    record_lines = (sp / "alpha-1.0.dist-info/RECORD").read_text().splitlines()
    line = next(i for i, ln in enumerate(record_lines, 1) if ln.startswith("alpha/core.py,"))
    assert ev.evidence.endswith(f"alpha-1.0.dist-info/RECORD#L{line}")
    assert ev.timestamp.year == 2000 and ev.timestamp_desc == "File Modified"
    assert "timestomped" in ev.extra["timestamp_note"]
    assert ev.verdict == "suspicious"
    assert {r.name: r.integrity for r in report.rows}["alpha"] == "modified:1"


def test_injected_module_pth_and_unchecked_pyc(host: Path, sp: Path, tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    (sp / "alpha/backdoor.py").write_text("import socket\n")
    (sp / "zz_evil.pth").write_text(f"import os; open({str(marker)!r}, 'w').close()\n/opt/extra\n")
    pycache = sp / "alpha/__pycache__"
    pycache.mkdir(exist_ok=True)
    magic = b"\xa7\r\r\n"
    # PEP 552 headers: timestamp-based (flags 0) is what Python writes itself -> ignored;
    # hash-based with check_source unset (flags 0b01) is used without looking at the source.
    (pycache / "core.cpython-39.pyc").write_bytes(magic + struct.pack("<III", 0, 1700000000, 30) + b"\xe3")
    (pycache / "core.cpython-312.pyc").write_bytes(magic + struct.pack("<I", 0b01) + b"\0" * 8 + b"\xe3")
    report = analyze(host)
    assert rules(report) == [("integrity.injected", "alpha", "backdoor.py"),
                             ("integrity.new_pth", None, "zz_evil.pth"),
                             ("integrity.unchecked_pyc", "alpha", "core.cpython-312.pyc")]
    pth = next(e for e in report.findings if e.extra["rule"] == "integrity.new_pth")
    assert pth.extra["severity"] == "high"
    assert pth.extra["exec_lines"][0].startswith("import os")
    injected = next(e for e in report.findings if e.extra["rule"] == "integrity.injected")
    assert injected.sha256 == hashlib.sha256(b"import socket\n").hexdigest()
    assert not marker.exists(), "a .pth line was executed"


def test_missing_file_flagged_but_stripped_bytecode_is_not(host: Path, sp: Path) -> None:
    (sp / "alpha/data/table.txt").unlink()
    for pyc in sp.rglob("*.pyc"):
        pyc.unlink()  # images often strip __pycache__: RECORD lists them without a hash
    report = analyze(host)
    assert rules(report) == [("integrity.missing", "alpha", "table.txt")]
    assert report.findings[0].timestamp_desc == "Directory Modified"


def test_file_replaced_by_symlink_is_not_followed(host: Path, sp: Path) -> None:
    (sp / "beta.py").unlink()
    (sp / "beta.py").symlink_to("/etc/shadow")
    report = analyze(host)
    assert rules(report) == [("integrity.replaced", "beta", "beta.py")]
    assert "/etc/shadow" in report.findings[0].message


def test_record_rewritten_with_the_file_passes_integrity(host: Path, sp: Path) -> None:
    """An attacker who also rewrites RECORD defeats the per-host check (the fleet check catches it)."""
    target = sp / "alpha/core.py"
    new = b"def run():\n    return 'pwned'\n"
    target.write_bytes(new)
    rec = sp / "alpha-1.0.dist-info/RECORD"
    lines = [(f"alpha/core.py,{record_b64(new)},{len(new)}" if ln.startswith("alpha/core.py,") else ln)
             for ln in rec.read_text().splitlines()]
    rec.write_text("\n".join(lines) + "\n")
    assert analyze(host).findings == []


def test_editable_install_is_not_flagged(host: Path, venv: Path, tmp_path: Path) -> None:
    proj = hosts.write_project(host / "home/alice/src", "delta",
                               {"version": "0.1", "files": {"delta/__init__.py": "D = 1\n"}})
    hosts.pip_install(venv, "--no-index", "--no-build-isolation", "-e", str(proj), build_tools=True)
    report = analyze(host)
    assert report.findings == [] and report.errors == []
    row = next(r for r in report.rows if r.name == "delta")
    assert row.source.startswith("editable file://") and "editable" in row.integrity
    assert any(e.extra.get("rule") == "provenance.direct_url" and e.package == "delta" for e in report.events)


def _conda_prefix(host: Path) -> Path:
    prefix = host / "opt/conda"
    hosts.write_conda_package(prefix, "libfoo", "1.0", "h1234_0", {
        "lib/libfoo.so.1": b"\x7fELF" + b"\0" * 64,
        "bin/foo-config": f"#!/bin/sh\necho {host / 'opt/conda'}\n".encode(),
        "share/foo/README": b"foo\n",
    }, placeholder={"bin/foo-config"})
    hosts.write_conda_package(prefix, "zlib", "1.3", "h0_0", {"lib/libz.so.1": b"zlib" * 10})
    hosts.write_conda_history(prefix, [
        ("2024-03-01 10:00:00", "/opt/conda/bin/conda create -p /opt/conda -c conda-forge libfoo zlib",
         ["+conda-forge/linux-64::libfoo-1.0-h1234_0", "+conda-forge/linux-64::zlib-1.3-h0_0"])])
    return prefix


def test_conda_package_verified_against_conda_meta(host: Path) -> None:
    prefix = _conda_prefix(host)
    clean = analyze(host)
    assert clean.findings == [] and clean.errors == []
    row = next(r for r in clean.rows if r.name == "libfoo")
    assert (row.installer, row.integrity, row.environment) == ("conda", "ok", "/opt/conda")
    assert row.source == "conda https://conda.anaconda.org/conda-forge/linux-64"
    assert row.install_time.isoformat() == "2024-03-01T10:00:00+00:00"
    (prefix / "lib/libfoo.so.1").write_bytes(b"\x7fELF" + b"\x90" * 64)
    report = analyze(host)
    assert rules(report) == [("integrity.modified", "libfoo", "libfoo.so.1")]
    ev = report.findings[0]
    assert ev.evidence.endswith("conda-meta/libfoo-1.0-h1234_0.json#paths_data.paths[0]")
    assert ev.extra["conda_channel"].startswith("https://conda.anaconda.org/conda-forge")


def test_conda_prefix_rewritten_file_without_in_prefix_hash_is_unverified_not_flagged(host: Path) -> None:
    import json

    prefix = _conda_prefix(host)
    meta = prefix / "conda-meta/libfoo-1.0-h1234_0.json"
    doc = json.loads(meta.read_text())
    for entry in doc["paths_data"]["paths"]:
        if entry.get("prefix_placeholder"):
            del entry["sha256_in_prefix"]  # older conda did not record it
    meta.write_text(json.dumps(doc, indent=2, sort_keys=True))
    (prefix / "bin/foo-config").write_bytes(b"#!/bin/sh\necho changed\n")
    assert analyze(host).findings == []


@pytest.mark.parametrize("n_envs", [300])
def test_many_environments(tmp_path: Path, pristine: Path, n_envs: int) -> None:
    import shutil

    src = hosts.site(pristine / hosts.VENV_REL)
    root = tmp_path / "many"
    for i in range(n_envs):
        dest = root / f"srv/app{i}/{hosts.SITE}"
        dest.mkdir(parents=True)
        shutil.copytree(src / "beta-2.0.dist-info", dest / "beta-2.0.dist-info")
        shutil.copy2(src / "beta.py", dest / "beta.py")
        (dest / "beta-2.0.dist-info/REQUESTED").touch()  # asked for by name: not an orphan
    (root / f"srv/app7/{hosts.SITE}/beta.py").write_text("tampered\n")
    report = analyze(root)
    assert report.stats["environments"] == n_envs
    assert rules(report) == [("integrity.modified", "beta", "beta.py")]
    assert "/srv/app7/" in report.findings[0].file_path


def test_distribution_package_checked_on_py_files_only_and_dpkg_owned_files(host: Path) -> None:
    """Debian: hex digests in RECORD, no INSTALLER, binaries stripped and scripts moved after
    RECORD was written; dpkg's .list files own what pip's RECORD does not."""
    sp = host / "usr/lib/python3/dist-packages"
    py, so = b"import yaml._yaml\n", b"\x7fELF original"
    dist = hosts.make_dist(sp, "PyYAML", "6.0", {"yaml/__init__.py": py, "yaml/_yaml.so": so,
                                                 "../../../bin/yamltool": b"#!/usr/bin/python3\n"})
    (dist / "INSTALLER").unlink()
    rec = dist / "RECORD"
    rows = [ln for ln in rec.read_text().splitlines() if "/INSTALLER," not in ln]
    rows = [ln.replace(hosts.record_hash(py), "sha256=" + hashlib.sha256(py).hexdigest()) for ln in rows]
    rec.write_text("\n".join(rows) + "\n")
    (sp / "yaml/_yaml.so").write_bytes(b"\x7fELF stripped by dh_strip")  # normal for a distro build
    (host / "usr/bin/yamltool").unlink()  # moved by the packaging
    (sp / "distutils-precedence.pth").write_text("import os; __import__('_distutils_hack')\n")
    dpkg = host / "var/lib/dpkg/info"
    dpkg.mkdir(parents=True)
    (dpkg / "python3-setuptools.list").write_text("/usr/lib/python3/dist-packages/distutils-precedence.pth\n")
    (dpkg / "python3-yaml.list").write_text("/usr/lib/python3/dist-packages\n"
                                            "/usr/lib/python3/dist-packages/PyYAML-6.0.dist-info/METADATA\n")
    report = analyze(host)
    assert report.findings == [] and report.errors == []
    row = next(r for r in report.rows if r.name == "PyYAML")
    assert row.integrity == "ok; distribution package: .py files only"
    (sp / "yaml/__init__.py").write_text("import os\n")
    assert rules(analyze(host)) == [("integrity.modified", "PyYAML", "__init__.py")]
