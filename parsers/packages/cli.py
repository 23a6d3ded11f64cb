"""``mlsleuth packages``: one row per installed distribution (environment, version, installer,
source, install time, integrity, advisories) plus the findings and errors behind them.

Exit codes: 0 nothing flagged, 1 at least one finding, 2 the input could not be read.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import IO, Any

from mlsleuth.parsers.packages.analyze import PackageRow, Report

EXIT_OK, EXIT_FLAGGED, EXIT_ERROR = 0, 1, 2
CSV_COLUMNS = ("environment", "name", "version", "installer", "source", "install_time", "integrity",
               "advisories", "flags", "requested", "path")


def _err(msg: str) -> None:
    print(f"mlsleuth packages: {msg}", file=sys.stderr)


def run_packages_cli(root: Path | None = None, archive: Path | None = None, osv: Path | None = None,
                     fmt: str = "text", out: IO[str] | None = None) -> int:
    from mlsleuth.parsers.evidence import open_evidence
    from mlsleuth.parsers.packages.analyze import analyze_evidence
    from mlsleuth.parsers.packages.osv import load_osv

    out = out or sys.stdout
    if root is not None and archive is not None:
        _err("give either --root DIR or an ARCHIVE, not both")
        return EXIT_ERROR
    target = Path(archive) if archive is not None else Path(root) if root is not None else Path("/")
    if not target.exists():
        _err(f"{target}: no such file or directory")
        return EXIT_ERROR
    dbs = []
    if osv is not None:
        db = load_osv(Path(osv))
        if not db.files and db.problems:
            _err(f"--osv {osv}: {db.problems[0][1]}")
            return EXIT_ERROR
        dbs.append(db)
    try:
        evidence = open_evidence(target)
    except Exception as exc:  # an unreadable archive is the one error that stops the command
        _err(f"{target}: cannot open: {exc}")
        return EXIT_ERROR
    try:
        report = analyze_evidence(evidence, None, osv=dbs)
        container_problems = list(getattr(evidence, "problems", []))
    finally:
        evidence.close()
    # Problems reading the container itself (truncated archive, missing manifest) head the errors.
    report.events[:0] = container_problems
    if container_problems and not report.stats.get("environments"):
        for e in container_problems:
            _err(e.message)
        return EXIT_ERROR
    if fmt == "json":
        write_json(report, out)
    elif fmt == "csv":
        write_csv(report, out)
    else:
        write_text(report, out)
    return EXIT_FLAGGED if report.findings else EXIT_OK


def _row_cells(row: PackageRow) -> dict[str, str]:
    d = row.to_dict()
    d["advisories"] = " ".join(row.advisories)
    d["flags"] = " ".join(row.flags)
    d["requested"] = "" if row.requested is None else "yes" if row.requested else "no"
    d["install_time"] = d["install_time"] or ""
    return {k: "" if d.get(k) is None else str(d[k]) for k in CSV_COLUMNS}


def write_csv(report: Report, out: IO[str]) -> None:
    from mlsleuth.timelines.exports.neutralise import neutralise

    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in report.rows:
        cells = _row_cells(row)
        writer.writerow([neutralise(cells[c]) for c in CSV_COLUMNS])


def write_json(report: Report, out: IO[str]) -> None:
    from mlsleuth.events import Category

    doc: dict[str, Any] = {
        "host": report.host, "input": report.label, "stats": report.stats,
        "distributions": [r.to_dict() for r in report.rows],
        "findings": [e.to_dict() for e in report.events if e.category == Category.FINDING],
        "config": [e.to_dict() for e in report.events if e.category == Category.CONFIG],
        "errors": [e.to_dict() for e in report.events if e.category == Category.PARSE_ERROR],
    }
    json.dump(doc, out, indent=1, ensure_ascii=False, default=str)
    out.write("\n")


def _clip(text: str, width: int) -> str:
    text = text.replace("\n", " ").replace("\r", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def write_text(report: Report, out: IO[str]) -> None:
    s = report.stats
    out.write(f"host {report.host or '?'} ({report.label}): {s.get('environments', 0)} environments, "
              f"{s.get('distributions', 0)} distributions, {s.get('conda_packages', 0)} conda packages, "
              f"{s.get('files_checked', 0)} files checked, {len(report.findings)} findings, "
              f"{len(report.errors)} errors\n")
    widths = (28, 14, 10, 26, 20, 30)
    env = None
    for row in report.rows:
        if row.environment != env:
            env = row.environment
            out.write(f"\n== {env}\n")
            out.write("  " + "  ".join(h.ljust(w) for h, w in zip(
                ("NAME", "VERSION", "INSTALLER", "SOURCE", "INSTALLED (UTC)", "INTEGRITY"), widths, strict=True))
                + "  ADVISORIES / FLAGS\n")
        when = row.install_time.strftime("%Y-%m-%d %H:%M:%S") if row.install_time else "?"
        cells = (row.name, row.version, row.installer or "?", row.source, when, row.integrity)
        tail = " ".join(row.advisories + row.flags)
        out.write("  " + "  ".join(_clip(c, w).ljust(w) for c, w in zip(cells, widths, strict=True))
                  + ("  " + tail if tail else "") + "\n")
    findings = report.findings
    if findings:
        out.write(f"\nFindings ({len(findings)}):\n")
        for e in sorted(findings, key=lambda e: (_sev_rank(e.extra.get("severity")), e.timestamp)):
            out.write(f"  [{e.extra.get('severity', '?')}] {e.extra.get('rule', '')}: {e.message}\n"
                      f"      evidence: {e.evidence}\n")
    errors = report.errors
    if errors:
        out.write(f"\nErrors ({len(errors)}):\n")
        for e in errors[:200]:
            out.write(f"  {e.evidence}: {e.extra.get('error', e.message)}\n")
        if len(errors) > 200:
            out.write(f"  ... {len(errors) - 200} more (use --format json)\n")


def _sev_rank(sev: Any) -> int:
    return {"critical": 0, "high": 1, "medium": 2, "low": 3}.get(str(sev), 4)


def render(report: Report, fmt: str) -> str:
    buf = io.StringIO()
    {"json": write_json, "csv": write_csv}.get(fmt, write_text)(report, buf)
    return buf.getvalue()
