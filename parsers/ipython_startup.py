"""IPython startup scripts: ``~/.ipython/profile_<name>/startup/*.py|*.ipy`` run in every IPython
session and notebook kernel of that profile, before the user types anything."""

from __future__ import annotations

from collections.abc import Iterator

from mlsleuth.parsers.registry import register
from mlsleuth.parsers.source import ParseContext, Source
from mlsleuth.parsers.startup_code import startup_code_event

from mlsleuth.events import Event


@register("ipython_startup")
def parse(src: Source, ctx: ParseContext) -> Iterator[Event]:
    profile = next((p[len("profile_"):] for p in src.host_path.split("/") if p.startswith("profile_")), "")
    if src.name.endswith((".py", ".ipy")):
        yield from startup_code_event(src, ctx, what=f"IPython startup script (profile {profile or '?'})",
                                      extra={"profile": profile})
    elif src.name.startswith("ipython_") and src.name.endswith("_config.py"):
        yield from startup_code_event(src, ctx, what=f"IPython config (profile {profile or '?'})",
                                      extra={"profile": profile})
