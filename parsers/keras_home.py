"""``~/.keras``: ``models/`` (what ``keras.utils.get_file`` and the applications downloaded),
``datasets/``, and ``keras.json`` (backend, float type)."""

from __future__ import annotations

from collections.abc import Iterator

from mlsleuth.parsers.filetimes import best_file_time
from mlsleuth.parsers.model_files import model_file_events
from mlsleuth.parsers.registry import register
from mlsleuth.parsers.source import ParseContext, Source
from mlsleuth.parsers.text import loads_json

from mlsleuth.events import Category, Event


@register("keras_home")
def parse(src: Source, ctx: ParseContext) -> Iterator[Event]:
    parts = src.host_path.split("/")
    if src.name == "keras.json":
        when, _ = best_file_time(src)
        try:
            config = loads_json(src.read_bytes(1 << 20))
        except ValueError as exc:
            yield src.error(ctx, f"keras.json is not JSON: {exc}")
            return
        if when is not None and isinstance(config, dict):
            settings = ", ".join(f"{k}={v}" for k, v in sorted(config.items())[:10])
            yield src.event(ctx, timestamp=when, desc="Config Modified", category=Category.CONFIG,
                            message=f"keras.json: {settings}", extra={"settings": config})
        return
    if "datasets" in parts:
        yield from model_file_events(src, ctx, desc="Dataset File Modified", what="keras dataset")
    else:
        yield from model_file_events(src, ctx, desc="Model File Modified", what="keras model")
