"""mlsleuth's own ``events.jsonl`` (``mlsleuth.events.write_jsonl``): events parsed elsewhere
(another run, another host) read back losslessly, bad lines reported."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from mlsleuth.parsers.external import file_source, json_lines
from mlsleuth.parsers.registry import register
from mlsleuth.parsers.source import ParseContext, Source

from mlsleuth.events import Event


@register("events_jsonl")
def parse(src: Source, ctx: ParseContext) -> Iterator[Event]:
    for number, record in json_lines(src):
        if isinstance(record, str):
            yield src.error(ctx, record, loc=f"L{number}")
            continue
        try:
            event = Event.from_dict(record)
        except (KeyError, TypeError, ValueError) as exc:
            yield src.error(ctx, f"not an mlsleuth event: {exc}", loc=f"L{number}")
            continue
        event.host = event.host or ctx.host
        yield event


def parse_events_file(path: Path, ctx: ParseContext) -> Iterator[Event]:
    ctx.host = ctx.host or Path(path).stem
    yield from parse(file_source(path, "events_jsonl"), ctx)
