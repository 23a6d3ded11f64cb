"""The responder-facing docs only show commands and options the CLI really has, and link only to
pages that exist: a guide that drifts from the tool fails here, not in front of a responder."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from mlsleuth.cli import main

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["responder-guide.md", "distribution.md"]
MIN_INVOCATIONS = {"responder-guide.md": 10, "distribution.md": 2}


def command_lines(text: str) -> list[str]:
    """`mlsleuth ...` invocations inside ```sh blocks (output blocks are untagged), continuation
    lines joined, optional parts ([...]) unwrapped."""
    out = []
    for block in re.findall(r"```(?:sh|bash)\n(.*?)```", text, re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.split("  #")[0].strip()
            match = re.search(r"(?:^|\s|&&\s*)(?:\S*/)?mlsleuth\s+(\S.*)$", line)
            if match and not line.startswith(("sha256sum", "pipx", "pip", "python")):
                out.append(match.group(1).replace("[", "").replace("]", ""))
    return out


def options_of(command: click.Command) -> set[str]:
    return {opt for param in command.params for opt in getattr(param, "opts", [])} | {"-h", "--help"}


@pytest.mark.parametrize("page", PAGES)
def test_every_documented_invocation_parses(page: str):
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    invocations = command_lines(text)
    assert len(invocations) >= MIN_INVOCATIONS[page], invocations
    assert isinstance(main, click.Group)
    for inv in invocations:
        words = shlex.split(inv.replace("…", ""))
        if words[0] == "...":  # "run it as ./mlsleuth ..." placeholders
            continue
        if words[0].startswith("-"):
            assert set(w for w in words if w.startswith("--")) <= {"--version", "--help"}, inv
            continue
        assert words[0] in main.commands, f"{page}: unknown command in `mlsleuth {inv}`"
        known = options_of(main.commands[words[0]])
        for word in words[1:]:
            if word.startswith("-") and not word.startswith("-o") or word.startswith("--"):
                assert word.split("=")[0] in known, f"{page}: `mlsleuth {inv}` uses unknown {word}"


@pytest.mark.parametrize("page", PAGES)
def test_relative_links_resolve(page: str):
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text)
    assert links
    for link in links:
        assert (ROOT / "docs" / link).exists(), f"{page} links to missing {link}"


def test_guide_covers_the_responders_path():
    text = (ROOT / "docs" / "responder-guide.md").read_text(encoding="utf-8")
    headings = re.findall(r"^#+ (.*)$", text, re.M)
    for needed in ("live host", "Dead-box", "Triage of the archive", "Reading the spreadsheet",
                   "Timesketch"):
        assert any(needed.lower() in h.lower() for h in headings), needed
    # every sheet the workbook writer can produce is explained
    from mlsleuth.timelines.exports import xlsx_export

    source = Path(xlsx_export.__file__).read_text(encoding="utf-8")
    sheets = set(re.findall(r'\("(\w+)", sheets\.\w+_table', source)) | {"Timeline", "Findings", "Fleet"}
    for sheet in sheets:
        assert f"**{sheet}" in text, f"sheet {sheet} not explained in the guide"
