"""The CLI's names, options, exit codes and output files are a public interface."""

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlsleuth.cli import main

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {"collect", "verify", "scan", "timeline", "watch", "osquery-extension", "demo", "triage",
            "packages"}


def run(*args: str):
    return CliRunner().invoke(main, list(args), prog_name="mlsleuth")


def test_help_lists_every_command():
    res = run("--help")
    assert res.exit_code == 0
    listed = {line.split()[0] for line in res.output.split("Commands:")[1].splitlines() if line.strip()}
    assert listed == COMMANDS


def test_console_entry_point_runs_outside_the_checkout(tmp_path: Path):
    res = subprocess.run([sys.executable, "-m", "mlsleuth", "--version"], cwd=tmp_path,
                         capture_output=True, text=True, check=True)
    assert res.stdout.startswith("mlsleuth, version ")


@pytest.mark.parametrize("args", [
    ["verify", "/nonexistent/archive.tar.gz"],
    ["scan"],
    ["timeline", "/nonexistent"],
    ["timeline", "."],  # --output is required
    ["collect", "--bogus-option"],
])
def test_usage_errors_exit_2(args):
    assert run(*args).exit_code == 2


def test_cli_reference_page_is_generated_from_the_help_texts():
    res = subprocess.run([sys.executable, str(ROOT / "packaging" / "gen_cli_docs.py"), "--check"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
