"""Writes docs/cli.md from the CLI's own --help texts, so the page cannot drift from the code.

    python packaging/gen_cli_docs.py          # rewrite docs/cli.md
    python packaging/gen_cli_docs.py --check  # exit 1 when docs/cli.md is stale (used by the tests)
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from click.testing import CliRunner

from mlsleuth.cli import main

DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"

INTRO = """# Command reference

Generated from `mlsleuth --help` by `packaging/gen_cli_docs.py`; do not edit by hand.
These names, options, exit codes and output files are a public interface.

Exit codes: `0` success / nothing flagged, `1` something flagged or changed (`scan`, `verify`,
`packages`) or no chain found (`demo`), `2` error or unsupported option.
"""


def render() -> str:
    runner = CliRunner()
    parts = [INTRO, "## mlsleuth\n", "```\n" + runner.invoke(main, ["--help"], prog_name="mlsleuth", terminal_width=100).output + "```\n"]
    assert isinstance(main, click.Group)
    for name in sorted(main.commands):
        text = runner.invoke(main, [name, "--help"], prog_name="mlsleuth", terminal_width=100).output
        parts.append(f"## mlsleuth {name}\n")
        parts.append("```\n" + text + "```\n")
    return "\n".join(parts)


def run() -> int:
    text = render()
    if "--check" in sys.argv[1:]:
        current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
        if current != text:
            print(f"{DOC} is stale: run python packaging/gen_cli_docs.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(run())
