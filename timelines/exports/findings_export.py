"""findings.json: the stable interface (chains with steps, findings), paths as on the host."""

from __future__ import annotations

import json
from pathlib import Path

from mlsleuth.timelines.report import Report


def write_findings(rep: Report, path: Path) -> None:
    path.write_text(json.dumps(rep.findings_json(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
