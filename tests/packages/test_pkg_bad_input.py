"""Hostile and broken input: every problem is a clear per-package error and the run goes on."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pkg_hosts as hosts
import pytest
from mlsleuth.parsers.packages.record import parse_record
from test_pkg_integrity import analyze, rules


def _errors(report) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {e.evidence: e.extra["error"] for e in report.errors}


def test_malformed_record_rows_are_reported_and_the_good_rows_still_verified(host: Path, sp: Path) -> None:
    rec = sp / "alpha-1.0.dist-info/RECORD"
    lines = rec.read_text().splitlines()
    lines += ["alpha/onlyone", "alpha/x.py,md5=abcd,3", "alpha/y.py,sha256=!!notb64!!,3",
              "alpha/z.py,sha256=AAAA,3", "alpha/w.py,,99999999999999999", "alpha/v.py,,-5", '"alpha/q.py,,1']
    rec.write_text("\n".join(lines) + "\n")
    (sp / "alpha/core.py").write_text("changed\n")
    report = analyze(host)
    assert ("integrity.modified", "alpha", "core.py") in rules(report)
    err = next(e for e in report.errors if "alpha-1.0.dist-info" in e.evidence)
    msg = err.extra["error"]
    for needle in ("1 columns instead of 3", "md5", "not urlsafe base64", "3 bytes, sha256 has 32",
                   "absurd size 99999999999999999", "absurd size -5", "bad CSV"):
        assert needle in msg, needle
    assert {r.name for r in report.rows} == {"alpha", "beta", "gamma"}


def test_record_parser_bounds() -> None:
    rec = parse_record(b"\xff\xfe" + b"a.py,sha256=" + b"A" * 43 + b",1\n" + b"b\0.py,,2\n")
    assert any("not UTF-8" in p for p in rec.problems) and any("NUL" in p for p in rec.problems)
    assert [e.path for e in rec.entries][-1] == "b.py"


def test_dist_info_without_record_and_with_broken_metadata(host: Path, sp: Path) -> None:
    (sp / "beta-2.0.dist-info/RECORD").unlink()
    (sp / "gamma-1.0.dist-info/METADATA").write_bytes(b"\x00\xff garbage without headers \x89PNG")
    report = analyze(host)
    assert rules(report) == [("integrity.modified", "gamma", "METADATA")]  # METADATA is in RECORD too
    errors = _errors(report)
    beta = next(v for k, v in errors.items() if "beta-2.0.dist-info" in k)
    assert "RECORD: missing" in beta
    gamma = next(v for k, v in errors.items() if "gamma-1.0.dist-info" in k)
    assert "no Name" in gamma
    rows = {r.name: r for r in report.rows}
    assert rows["beta"].integrity == "no RECORD: unverifiable"
    assert rows["gamma"].version == "1.0" and rows["gamma"].integrity == "modified:1"


def test_symlinked_site_packages_loops_and_escapes_stay_in_the_root(host: Path, tmp_path: Path) -> None:
    real = host / "srv/shared/site-packages"
    real.parent.mkdir(parents=True)
    site = host / hosts.VENV_REL / hosts.SITE
    site.rename(real)
    site.symlink_to("/srv/shared/site-packages")  # absolute: resolved inside the root
    outside = tmp_path / "outside/lib/python3.11/site-packages"
    shutil.copytree(real / "beta-2.0.dist-info", outside / "beta-2.0.dist-info")
    (host / "opt/escape/lib/python3.11").mkdir(parents=True)
    (host / "opt/escape/lib/python3.11/site-packages").symlink_to("../../../../../../../" + str(outside))
    (host / "opt/loop").mkdir()
    (host / "opt/loop/site-packages").symlink_to("site-packages")
    (host / "opt/a-packages").symlink_to("b-packages")
    (host / "opt/b-packages").symlink_to("a-packages")
    report = analyze(host)
    assert report.findings == []
    assert report.stats["environments"] == 1
    assert {r.environment.split(" ")[0] for r in report.rows} == {"/srv/shared/site-packages"}


def test_fifo_and_device_like_files_are_never_opened(host: Path, sp: Path) -> None:
    os.mkfifo(sp / "alpha/pipe.py")
    os.mkfifo(sp / "hook.pth")
    report = analyze(host)  # would hang if either FIFO were opened for reading
    assert ("integrity.injected", "alpha", "pipe.py") in rules(report)


def test_broken_conda_meta_and_configs_do_not_stop_the_run(host: Path) -> None:
    prefix = host / "opt/conda"
    hosts.write_conda_package(prefix, "zlib", "1.3", "h0_0", {"lib/libz.so.1": b"z"})
    (prefix / "conda-meta/broken-1.0-0.json").write_text("{nope")
    (prefix / "conda-meta/list-1.0-0.json").write_text("[1, 2]")
    (prefix / "conda-meta/history").write_bytes(b"==> not a date <==\n+::\n\xff\xfe")
    (host / "etc/pip.conf").write_bytes(b"\x00\x01[global\nindex-url\n= =\n")
    (host / "home/alice/.bash_history").write_bytes(b"pip install \"unclosed --extra-index-url x\n\xff\n")
    (host / "home/alice/.condarc").write_text("channels: [unclosed\n")
    (host / "home/alice/pyproject.toml").write_text("[tool.uv\n")
    report = analyze(host)
    assert report.findings == []
    errs = _errors(report)
    assert any("broken-1.0-0.json" in k and "bad JSON" in v for k, v in errs.items())
    assert any("list-1.0-0.json" in k and "not a JSON object" in v for k, v in errs.items())
    assert {r.name for r in report.rows} >= {"alpha", "zlib"}


@pytest.mark.slow
def test_thousands_of_environments(tmp_path: Path, pristine: Path) -> None:
    src = hosts.site(pristine / hosts.VENV_REL)
    root = tmp_path / "fleet"
    for i in range(2000):
        dest = root / f"srv/app{i}/{hosts.SITE}"
        dest.mkdir(parents=True)
        shutil.copytree(src / "beta-2.0.dist-info", dest / "beta-2.0.dist-info")
        (dest / "beta-2.0.dist-info/REQUESTED").touch()
        shutil.copy2(src / "beta.py", dest / "beta.py")
    (root / f"srv/app1999/{hosts.SITE}/beta-2.0.dist-info/RECORD").write_text('"unterminated\n')
    report = analyze(root)
    assert report.stats["environments"] == 2000 and report.findings == []
    assert [e.evidence for e in report.errors][0].startswith(str(root / "srv/app1999"))
