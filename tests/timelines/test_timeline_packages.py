"""Supply-chain findings (parsers/packages) reach findings.json, and a package changed together with
its RECORD line shows up only when hosts are compared."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from mlsleuth.timelines.run import build_timeline

from mlsleuth.fixturehost import build_host

SITE = "home/alice/.local/lib/python3.11/site-packages"


def host(root: Path, name: str) -> Path:
    build_host(root, "basic")
    (root / "etc" / "hostname").write_text(name + "\n")
    return root


def rewrite_record_line(site: Path, dist_info: str, rel: str) -> None:
    data = (site / rel).read_bytes()
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    record = site / dist_info / "RECORD"
    lines = [f"{rel},sha256={digest},{len(data)}" if line.split(",", 1)[0] == rel else line
             for line in record.read_text().splitlines()]
    record.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("fleet")
    h1 = host(base / "h1", "ws-01")
    h2 = host(base / "h2", "ws-02")
    h3 = host(base / "h3", "ws-03")
    # ws-02: a file changed after install (RECORD still has the old hash)
    with open(h2 / SITE / "fsspec/__init__.py", "a") as fh:
        fh.write("\nimport os; os.system('id')\n")
    # ws-03: file and RECORD line changed together, invisible to a check of that host alone
    site3 = h3 / SITE
    with open(site3 / "filelock/__init__.py", "a") as fh:
        fh.write("\n__import__('socket')\n")
    rewrite_record_line(site3, "filelock-3.16.1.dist-info", "filelock/__init__.py")
    out = base / "out"
    build_timeline([h1, h2, h3], out)
    return json.loads((out / "findings.json").read_text())


def by_rule(findings: dict, rule: str) -> list[dict]:
    return [f for f in findings["findings"] if f["rule"] == rule]


def test_changed_package_file_is_a_finding_with_its_path(fleet):
    hits = by_rule(fleet, "package-modified")
    assert [f["path"] for f in hits if "fsspec/__init__.py" in f["path"]], hits
    assert all("ws-02" in f["summary"] for f in hits), hits


def test_record_rewritten_with_the_file_is_caught_across_the_fleet(fleet):
    hits = by_rule(fleet, "package-differs-across-fleet")
    assert hits, fleet["findings"]
    assert all("filelock" in f["summary"] and "ws-03" in f["summary"] for f in hits
               if "filelock" in f["summary"])
    assert any("filelock" in f["summary"] for f in hits)
    # ws-01 matches the majority everywhere: nothing is said about it
    assert not [f for f in hits if "ws-01" in f["summary"].split(":")[0]]
