"""`mlsleuth packages`: formats, exit codes, spreadsheet-safe CSV, and the public CLI wiring."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pkg_hosts as hosts
from click.testing import CliRunner
from mlsleuth.parsers.packages.cli import CSV_COLUMNS, run_packages_cli

from mlsleuth.cli import main


def run(**kw: object) -> tuple[int, str]:
    out = io.StringIO()
    code = run_packages_cli(out=out, **kw)  # type: ignore[arg-type]
    return code, out.getvalue()


def test_clean_host_text_exit_0(host: Path) -> None:
    code, text = run(root=host)
    assert code == 0
    assert text.startswith("host ml-box") and "0 findings" in text
    assert f"== /{hosts.VENV_REL}/{hosts.SITE}" in text and "alpha" in text


def test_flagged_host_json_and_csv(host: Path, sp: Path, tmp_path: Path) -> None:
    (sp / "alpha/core.py").write_text("x = 1\n")
    hosts.make_dist(sp, "=HYPERLINK(\"http://x\")", "1.0", {"hl.py": b"#\n"})
    code, out = run(root=host, fmt="json")
    assert code == 1
    doc = json.loads(out)
    assert {"host", "input", "stats", "distributions", "findings", "config", "errors"} <= set(doc)
    alpha = next(d for d in doc["distributions"] if d["name"] == "alpha")
    assert alpha["integrity"] == "modified:1" and alpha["installer"] == "pip"
    assert [f["extra"]["rule"] for f in doc["findings"]] == ["integrity.modified"]
    code, out = run(root=host, fmt="csv")
    assert code == 1
    rows = list(csv.reader(io.StringIO(out)))
    assert tuple(rows[0]) == CSV_COLUMNS
    names = [r[1] for r in rows[1:]]
    assert "'=HYPERLINK(\"http://x\")" in names  # never a formula in a spreadsheet


def test_archive_and_osv_options(host: Path, tmp_path: Path) -> None:
    archive = hosts.write_archive(host, tmp_path / "ev.tar.gz", include=[hosts.VENV_REL, "etc"])
    osv = tmp_path / "osv"
    osv.mkdir()
    (osv / "PYSEC-2099-9.json").write_text(json.dumps(hosts.osv_advisory("PYSEC-2099-9", "beta", versions=["2.0"])))
    code, out = run(archive=archive, osv=osv, fmt="json")
    assert code == 1
    assert [f["extra"]["advisory"] for f in json.loads(out)["findings"]] == ["PYSEC-2099-9"]


def test_errors_exit_2(host: Path, tmp_path: Path) -> None:
    assert run(root=host, archive=host)[0] == 2
    assert run(root=tmp_path / "nope")[0] == 2
    bad_osv = tmp_path / "bad.zip"
    bad_osv.write_bytes(b"not a zip")
    assert run(root=host, osv=bad_osv)[0] == 2
    garbage = tmp_path / "garbage.tar.gz"
    garbage.write_bytes(b"\x1f\x8b\x08\x00garbage")
    assert run(archive=garbage)[0] == 2


def test_click_command(host: Path) -> None:
    result = CliRunner().invoke(main, ["packages", "--root", str(host), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["stats"]["distributions"] == 3
