"""The one shape every "someone ran this" event has (shell, Python REPL, IPython, notebook).

The command text goes to ``cmdline`` (the timeline correlates model loads by repo ids and paths
found there) and, shortened to one line, into ``message``.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from mlsleuth.parsers.filetimes import best_file_time
from mlsleuth.parsers.source import ParseContext, Source
from mlsleuth.parsers.text import MAX_FIELD, clip, one_line

from mlsleuth.events import UNKNOWN_TIME, Category, Event, TimestampQuality
from mlsleuth.redact import redact_text

COMMAND_EXECUTED = "Command Executed"
# Cheap pre-check (substring tests on the lower-cased text): redact_text runs a dozen regular
# expressions, and almost no command holds any of these marks.
_SECRET_MARKS = ("token", "passw", "secret", "auth", "key", "sig", "://", "begin", "/t/", "hf_", "api_org",
                 "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat", "glpat", "sk-", "xox", "pypi-", "akia",
                 "asia")
_SECRET_MARK = re.compile("|".join(re.escape(mark) for mark in _SECRET_MARKS))


def command_event(src: Source, ctx: ParseContext, *, command: str, when: datetime | None,
                  quality: TimestampQuality, loc: str, process: str,
                  desc: str = COMMAND_EXECUTED, extra: dict[str, Any] | None = None,
                  **fields: Any) -> Event:
    if when is None:
        when, quality = UNKNOWN_TIME, TimestampQuality.ESTIMATED
    command = redact_command(command)
    return src.event(ctx, timestamp=when, desc=desc, category=Category.COMMAND,
                     message=f"{process}: {one_line(command, 600)}", quality=quality, loc=loc,
                     process=process, cmdline=clip(command, MAX_FIELD), extra=extra or {}, **fields)


def redact_command(command: str) -> str:
    """Credentials typed on a command line (``--token hf_…``, ``HF_TOKEN=…``, URL passwords) as
    fingerprints. Archives were redacted by the collector; a plain tree never was."""
    return redact_text(command)[0] if _SECRET_MARK.search(command.lower()) else command


def untimed(src: Source) -> tuple[datetime | None, dict[str, Any]]:
    """Time and note for entries of a history that stores no times: the file's last write.

    Every such entry ran at or before it, so the time is an upper bound, marked as inferred.
    """
    when, which = best_file_time(src)
    return when, {"time_note": f"no per-entry time in this file: file {which or 'time unknown'} "
                               "(the command ran at or before it)"}
