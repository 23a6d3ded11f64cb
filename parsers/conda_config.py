"""``.condarc`` (user, system, per environment): channels, ``channel_alias``,
``custom_channels``, ``default_channels``, ``ssl_verify``, proxies. A channel is where conda
packages come from, so each is a CONFIG event with ``index_url``. Read with ``yaml.safe_load``
(no object construction) under size and depth bounds."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml
from mlsleuth.parsers.filetimes import best_file_time
from mlsleuth.parsers.registry import register
from mlsleuth.parsers.source import ParseContext, Source
from mlsleuth.parsers.text import decode

from mlsleuth.events import UNKNOWN_TIME, Category, Event, TimestampQuality
from mlsleuth.redact import redact_text, redact_url

CHANNEL_KEYS = ("channels", "default_channels", "channel_alias", "custom_channels", "custom_multichannels",
                "migrated_custom_channels")


def _urls(value: Any, depth: int = 0) -> list[str]:
    if depth > 4:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [u for item in value[:200] for u in _urls(item, depth + 1)]
    if isinstance(value, dict):
        return [f"{k}: {u}" if not str(k).startswith(("http", "file")) else u
                for k, v in list(value.items())[:200] for u in _urls(v, depth + 1)]
    return []


@register("conda_config")
def parse(src: Source, ctx: ParseContext) -> Iterator[Event]:
    text = decode(src.read_bytes(4 << 20))
    try:
        config = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        yield src.error(ctx, f"not YAML: {str(exc)[:300]}")
        return
    if not isinstance(config, dict):
        yield src.error(ctx, "not a mapping")
        return
    when, _ = best_file_time(src)
    quality = TimestampQuality.FILE_TIME if when else TimestampQuality.ESTIMATED
    when = when or UNKNOWN_TIME
    for key in CHANNEL_KEYS:
        for entry in _urls(config.get(key)):
            clean = redact_url(entry)[0]
            url = clean.split(": ", 1)[-1]
            yield src.event(ctx, timestamp=when, desc="Config Modified", category=Category.CONFIG,
                            message=f"conda {key}: {clean} ({src.host_path})", quality=quality,
                            index_url=url, extra={"key": key})
    other = {str(k): redact_text(str(v))[0][:500] for k, v in list(config.items())[:100] if k not in CHANNEL_KEYS}
    yield src.event(ctx, timestamp=when, desc="Config Modified", category=Category.CONFIG,
                    message=f"conda config {src.host_path}: {len(config)} setting(s)"
                            + ("; ssl_verify off" if config.get("ssl_verify") in (False, "false") else ""),
                    quality=quality, extra={"settings": other})
