"""`mlsleuth demo` and the fallback of `mlsleuth triage`: a synthetic compromised ML host,
collected and timelined end to end with the same code a real case uses."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import click


@dataclass
class DemoResult:
    host_root: Path
    archive: Path
    timeline_dir: Path
    chains: list[dict]
    findings: list[dict]

    @property
    def spreadsheet(self) -> Path:
        return self.timeline_dir / "timeline.xlsx"


def run_demo(output: Path | None = None, *, quiet: bool = True) -> DemoResult:
    from mlsleuth.collector.collect import collect
    from mlsleuth.fixturehost import write_demo
    from mlsleuth.timelines.run import build_timeline

    out = Path(output) if output else Path(tempfile.mkdtemp(prefix="mlsleuth-demo-"))
    out.mkdir(parents=True, exist_ok=True)
    host_root = out / "host"
    if host_root.exists():
        raise click.ClickException(f"{host_root} exists: give an empty --output directory")
    write_demo(host_root)
    archive = out / "evidence-ml-ws-01.tar.gz"
    collect(root=host_root, output=archive, live=False, quiet=quiet, case="DEMO-0001",
            examiner="mlsleuth demo", evidence_id="demo-host")
    timeline_dir = out / "timeline"
    build_timeline([archive], timeline_dir)
    findings = json.loads((timeline_dir / "findings.json").read_text(encoding="utf-8"))
    return DemoResult(host_root, archive, timeline_dir, findings.get("chains", []),
                      findings.get("findings", []))


def describe(result: DemoResult) -> str:
    lines = [
        f"demo host tree : {result.host_root}",
        f"evidence       : {result.archive}",
        f"spreadsheet    : {result.spreadsheet}",
        f"findings       : {result.timeline_dir / 'findings.json'}",
        f"chains found   : {len(result.chains)}",
    ]
    for chain in result.chains:
        lines.append(f"  [{chain.get('score')}] {chain.get('summary')}")
        for step in chain.get("steps", []):
            lines.append(f"    {step.get('time')}  {step.get('kind'):<10} {step.get('path')}")
            lines.append(f"        {step.get('reason')}")
    lines.append(f"other findings : {len(result.findings)}")
    return "\n".join(lines)


def run_demo_cli(output: Path | None) -> int:
    result = run_demo(output)
    click.echo(describe(result))
    return 0 if result.chains else 1
