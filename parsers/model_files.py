"""Model files found outside the caches (``*.pt``, ``*.pkl``, ``*.safetensors``, ``*.gguf`` ...):
their times, size, hash, and the model inspector's static verdict (a FINDING when malicious or
suspicious). Large files arrive as hash + parts (the pickle of a torch zip, a safetensors
header): the inspector reads those.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mlsleuth.parsers.filetimes import file_times
from mlsleuth.parsers.registry import register
from mlsleuth.parsers.source import ParseContext, Source
from mlsleuth.parsers.verdicts import inspect_source, verdict_events

from mlsleuth.events import UNKNOWN_TIME, Category, Event, TimestampQuality, iso


def model_file_events(src: Source, ctx: ParseContext, *, desc: str = "Model File Modified",
                      what: str = "model file", **fields: Any) -> Iterator[Event]:
    """The file's write time with size/hash/verdict, then a FINDING if the inspector flags it."""
    times = file_times(src)
    when = times.get("mtime") or times.get("ctime")
    result = inspect_source(src, ctx, name=src.name)
    verdict = result["verdict"] if result else None
    extra: dict[str, Any] = {"size": src.size, "collected": src.action,
                             **{k: iso(v) for k, v in times.items()}}
    if result:
        extra["format"] = result["format"]
        if result.get("error"):
            extra["inspector_error"] = result["error"]
    size = f"{src.size} bytes" if src.size is not None else "size unknown"
    yield src.event(ctx, timestamp=when or UNKNOWN_TIME, desc=desc, category=Category.MODEL_DOWNLOAD,
                    message=f"{what} {src.host_path} ({size}{', ' + verdict if verdict else ''})",
                    quality=TimestampQuality.EXACT if when else TimestampQuality.ESTIMATED,
                    sha256=src.content_sha256(), verdict=verdict, extra=extra, **fields)
    if result:
        yield from verdict_events(src, ctx, result=result, **fields)


@register("model_files")
def parse(src: Source, ctx: ParseContext) -> Iterator[Event]:
    yield from model_file_events(src, ctx)
