"""Shell and REPL history files in the byte layout each program writes."""

from __future__ import annotations

from datetime import datetime


def bash_history(entries: list[tuple[datetime | None, str]]) -> str:
    """bash: with HISTTIMEFORMAT set, a ``#<epoch>`` line precedes each command; else none."""
    lines = []
    for t, cmd in entries:
        if t is not None:
            lines.append(f"#{int(t.timestamp())}")
        lines.append(cmd)
    return "\n".join(lines) + "\n"


def zsh_history(entries: list[tuple[datetime, int, str]]) -> str:
    """zsh EXTENDED_HISTORY: ``: <start>:<elapsed>;<command>``; an embedded newline is written as
    backslash-newline (hist.c savehistfile), so continued lines end with a backslash."""
    out = []
    for t, elapsed, cmd in entries:
        parts = cmd.split("\n")
        text = "".join(p + ("\n" if p.endswith("\\") else "\\\n") for p in parts[:-1]) + parts[-1]
        out.append(f": {int(t.timestamp())}:{elapsed};{text}\n")
    return "".join(out)


def fish_history(entries: list[tuple[datetime, str, list[str]]]) -> str:
    """fish 3: ``- cmd:`` / ``  when:`` / optional ``  paths:`` list (fish_history, YAML-like)."""
    out = []
    for t, cmd, paths in entries:
        escaped = cmd.replace("\\", "\\\\").replace("\n", "\\n")
        out.append(f"- cmd: {escaped}\n  when: {int(t.timestamp())}\n")
        if paths:
            out.append("  paths:\n" + "".join(f"    - {p}\n" for p in paths))
    return "".join(out)


def python_history(lines: list[str]) -> str:
    """~/.python_history as GNU readline writes it: one input line per line, no times."""
    return "".join(line + "\n" for line in lines)
