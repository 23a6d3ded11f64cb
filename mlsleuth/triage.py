"""`mlsleuth triage`: what a responder runs first — collect this host, build its timeline, and
show the demo incident instead when the host holds no ML artifact at all."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import click

# Artifacts whose presence makes a host an "ML host"; Python packages alone do not (every
# Linux box has some), nor do shell histories.
ML_ARTIFACTS = frozenset({
    "hf_cache", "remote_code_modules", "torch_hub", "keras_home", "ollama", "model_files",
    "notebook", "ipython_history",
})


def ml_artifact_count(archive: Path) -> int:
    """Files of ML artifacts collected, read from the archive's summary.json."""
    with tarfile.open(archive, "r:gz") as tar:
        member = tar.extractfile("summary.json")
        summary = json.load(member) if member else {}
    per_artifact = summary.get("artifacts", summary)
    total = 0
    for name, counts in per_artifact.items():
        if name in ML_ARTIFACTS and isinstance(counts, dict):
            total += sum(v for k, v in counts.items() if k != "missing" and isinstance(v, int))
    return total


def run_triage_cli(output: Path, *, root: Path, demo_fallback: bool) -> int:
    from mlsleuth.collector.collect import collect
    from mlsleuth.timelines.run import build_timeline

    output.mkdir(parents=True, exist_ok=True)
    archive = output / "evidence.tar.gz"
    collect(root=root, output=archive, live=root == Path("/"), quiet=False)
    click.echo(f"evidence archive: {archive}")
    if ml_artifact_count(archive) == 0 and demo_fallback:
        from mlsleuth.demo import describe, run_demo

        click.echo("no ML artifact (model cache, model file, notebook, IPython history) on this host:")
        click.echo("running the built-in demo incident instead.")
        result = run_demo(output / "demo")
        click.echo(describe(result))
        return 0
    result = build_timeline([archive], output / "timeline")
    click.echo(f"spreadsheet: {output / 'timeline' / 'timeline.xlsx'}")
    click.echo(f"findings: {output / 'timeline' / 'findings.json'} "
               f"({len(result.chains)} chains, {len(result.findings)} findings)")
    return 0
