"""Fleet comparison: the same name and version with different source files on different hosts."""

from __future__ import annotations

import shutil
from pathlib import Path

import pkg_hosts as hosts
from mlsleuth.parsers.packages.fleet import compare_fleet, fleet_events, fleet_findings
from test_pkg_integrity import analyze


def _hosts(pristine: Path, tmp_path: Path, n: int) -> list[Path]:
    roots = []
    for i in range(n):
        root = tmp_path / f"host{i}"
        shutil.copytree(pristine, root, symlinks=True)
        (root / "etc/hostname").write_text(f"node{i}\n")
        roots.append(root)
    return roots


def _trojan_with_record(root: Path) -> None:
    """A file changed and its RECORD line rewritten to match: invisible to per-host integrity."""
    sp = hosts.site(root / hosts.VENV_REL)
    new = b"def run():\n    return __import__('os').getenv('AWS_SECRET_ACCESS_KEY')\n"
    (sp / "alpha/core.py").write_bytes(new)
    rec = sp / "alpha-1.0.dist-info/RECORD"
    rec.write_text("\n".join(f"alpha/core.py,{hosts.record_hash(new)},{len(new)}" if ln.startswith("alpha/core.py,")
                             else ln for ln in rec.read_text().splitlines()) + "\n")


def test_outlier_host_is_reported(pristine: Path, tmp_path: Path) -> None:
    roots = _hosts(pristine, tmp_path, 3)
    _trojan_with_record(roots[2])
    reports = [analyze(r) for r in roots]
    assert all(r.findings == [] for r in reports)  # each host alone looks clean
    diffs = compare_fleet(r.fleet for r in reports)
    assert [(d.package, d.version) for d in diffs] == [("alpha", "1.0")]
    env = f"/{hosts.VENV_REL}/{hosts.SITE}"
    assert diffs[0].outliers == [f"node2:{env}"]
    assert [f.path for f in diffs[0].files] == ["alpha/core.py"]
    events = list(fleet_events(diffs))
    assert [(e.host, e.package, e.extra["rule"]) for e in events] == [("node2", "alpha", "fleet.package_differs")]
    assert events[0].file_path == f"{env}/alpha/core.py" and "2 other host(s)" in events[0].message


def test_two_hosts_without_majority_report_both_and_single_host_nothing(pristine: Path, tmp_path: Path) -> None:
    roots = _hosts(pristine, tmp_path, 2)
    _trojan_with_record(roots[1])
    events = fleet_findings(roots)
    assert sorted(e.host for e in events) == ["node0", "node1"]
    assert fleet_findings(roots[:1]) == []
