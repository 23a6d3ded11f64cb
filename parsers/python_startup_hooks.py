"""Python start-up hooks: ``sitecustomize.py`` / ``usercustomize.py`` (imported by ``site`` at
every interpreter start) and ``*.pth`` files in site-packages, whose lines starting with
``import`` are executed at start-up (the classic persistence and supply-chain trick; plain path
lines are harmless and only listed)."""

from __future__ import annotations

from collections.abc import Iterator

from mlsleuth.parsers.registry import register
from mlsleuth.parsers.source import ParseContext, Source
from mlsleuth.parsers.startup_code import startup_code_event
from mlsleuth.parsers.text import decode

from mlsleuth.events import Category, Event


@register("python_startup_hooks")
def parse(src: Source, ctx: ParseContext) -> Iterator[Event]:
    if src.name.endswith(".pth"):
        text = decode(src.read_bytes(4 << 20))
        lines = text.splitlines()
        code = [ln for ln in lines if ln.startswith(("import ", "import\t"))]
        paths = [ln for ln in lines if ln.strip() and not ln.startswith("#") and ln not in code]
        yield from startup_code_event(
            src, ctx, what=".pth file with import lines" if code else ".pth path file",
            code="\n".join(code), extra={"import_lines": len(code), "paths": paths[:50]},
            category=Category.PERSISTENCE if code else Category.CONFIG)
    else:
        yield from startup_code_event(src, ctx, what=f"Python start-up hook ({src.name})")
