"""Code that runs by itself at interpreter or shell start: one shape for all of them.

Used by ipython_startup (``profile_*/startup/*.py|.ipy``), python_startup_hooks
(``sitecustomize.py``, ``usercustomize.py``, ``*.pth`` import lines, ``$PYTHONSTARTUP``) and
the Jupyter ``*_config.py`` files: one PERSISTENCE event at the file's write time, naming what
the code imports and calls (static ``ast`` look only, nothing runs).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mlsleuth.parsers.filetimes import best_file_time
from mlsleuth.parsers.pycode import summarize
from mlsleuth.parsers.source import ParseContext, Source
from mlsleuth.parsers.text import MAX_FIELD, clip, decode

from mlsleuth.events import UNKNOWN_TIME, Category, Event, TimestampQuality
from mlsleuth.redact import redact_text

MAX_CODE = 4 << 20


def startup_code_event(src: Source, ctx: ParseContext, *, what: str, code: str | None = None,
                       extra: dict[str, Any] | None = None,
                       category: Category = Category.PERSISTENCE) -> Iterator[Event]:
    if code is None:
        code = decode(src.read_bytes(MAX_CODE))
    summary = summarize(code)
    when, which = best_file_time(src)
    risky = summary.get("risky") or []
    shown, _ = redact_text(code)
    yield src.event(ctx, timestamp=when or UNKNOWN_TIME, desc="Startup Code Modified",
                    category=category,
                    message=f"{what} {src.host_path}"
                            + (" runs at every start" if category == Category.PERSISTENCE else "")
                            + (f"; calls {', '.join(risky[:6])}" if risky else "")
                            + f" ({summary.get('lines', 0)} lines)",
                    quality=TimestampQuality.EXACT if when else TimestampQuality.ESTIMATED,
                    sha256=src.content_sha256(), cmdline=clip(shown, MAX_FIELD),
                    extra={"code": summary, "time_field": which, **(extra or {})})
