"""``mlsleuth scan``: text for people, JSON as the stable interface, SARIF for code scanning.

Exit codes: 0 nothing flagged, 1 something flagged (malicious, suspicious or unsupported),
2 errors only (a file could not be read or analysed and nothing was flagged).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

from mlsleuth.parsers.models.result import ERROR, FLAGGED, VERDICTS, ScanResult, Severity
from mlsleuth.parsers.models.scan import scan_paths

EXIT_OK, EXIT_FLAGGED, EXIT_ERROR = 0, 1, 2


def summarize(results: list[ScanResult]) -> dict[str, Any]:
    counts = Counter(r.verdict for r in results)
    return {
        "files": len(results),
        "flagged": sum(1 for r in results if r.verdict in FLAGGED),
        "errors": counts.get(ERROR, 0),
        "verdicts": {v: counts.get(v, 0) for v in VERDICTS},
        "formats": dict(sorted(Counter(r.format for r in results).items())),
    }


def exit_code(results: Iterable[ScanResult]) -> int:
    results = list(results)
    if any(r.verdict in FLAGGED for r in results):
        return EXIT_FLAGGED
    if any(r.verdict == ERROR for r in results):
        return EXIT_ERROR
    return EXIT_OK


def to_json(results: list[ScanResult]) -> dict[str, Any]:
    return {"results": [r.to_dict() for r in results], "summary": summarize(results)}


_SARIF_LEVEL = {Severity.CRITICAL: "error", Severity.HIGH: "error", Severity.MEDIUM: "warning",
                Severity.LOW: "note", Severity.INFO: "note"}


def to_sarif(results: list[ScanResult]) -> dict[str, Any]:
    from mlsleuth import __version__

    rules: dict[str, dict[str, Any]] = {}
    sarif_results = []
    for r in results:
        for f in r.findings:
            rules.setdefault(f.rule_id, {"id": f.rule_id, "name": f.rule_id,
                                         "shortDescription": {"text": f.rule_id.replace("-", " ")},
                                         "properties": {"tags": ["security", "ml-model"]}})
            sarif_results.append({
                "ruleId": f.rule_id,
                "level": _SARIF_LEVEL[f.severity],
                "message": {"text": f.message},
                "locations": [{
                    "physicalLocation": {"artifactLocation": {"uri": r.path}},
                    **({"logicalLocations": [{"name": f.location, "kind": "member"}]} if f.location else {}),
                }],
                "properties": {"severity": str(f.severity), "verdict": r.verdict, "format": r.format,
                               "indicators": f.indicators},
            })
        if not r.findings and r.verdict != "clean":
            sarif_results.append({"ruleId": f"verdict-{r.verdict}", "level": "note",
                                  "message": {"text": f"{r.verdict}: {r.format}"},
                                  "locations": [{"physicalLocation": {"artifactLocation": {"uri": r.path}}}]})
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "mlsleuth", "version": __version__,
                                "informationUri": "https://github.com/mlsleuth/mlsleuth",
                                "rules": list(rules.values())}},
            "results": sarif_results,
        }],
    }


def _safe(text: str) -> str:
    """Attacker-chosen strings (paths, pickle arguments) must not drive the terminal."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def write_text(results: list[ScanResult], out: TextIO) -> None:
    for r in results:
        out.write(f"{r.verdict.upper():<11} {_safe(r.path)}  [{_safe(r.format)}]\n")
        for f in sorted(r.findings, key=lambda f: -f.severity):
            if f.severity == Severity.INFO and r.verdict == "clean":
                continue
            loc = f" @ {f.location}" if f.location else ""
            out.write(f"    {str(f.severity):<8} {f.rule_id}{_safe(loc)}: {_safe(f.message)}\n")
            for ind in f.indicators[:6]:
                out.write(f"             ioc: {_safe(ind)}\n")
    s = summarize(results)
    v = s["verdicts"]
    out.write(f"\n{s['files']} files: {v['malicious']} malicious, {v['suspicious']} suspicious, "
              f"{v['clean']} clean, {v['unsupported']} unsupported, {v['error']} errors\n")


def run_scan_cli(paths: list[Path], fmt: str = "text", output: Path | None = None) -> int:
    results = list(scan_paths([Path(p) for p in paths]))
    if output is not None:
        with open(output, "w", encoding="utf-8") as fh:
            _emit(results, fmt, fh)
    else:
        _emit(results, fmt, sys.stdout)
    return exit_code(results)


def _emit(results: list[ScanResult], fmt: str, out: TextIO) -> None:
    if fmt == "json":
        json.dump(to_json(results), out, indent=2, ensure_ascii=False)
        out.write("\n")
    elif fmt == "sarif":
        json.dump(to_sarif(results), out, indent=2, ensure_ascii=False)
        out.write("\n")
    else:
        write_text(results, out)
