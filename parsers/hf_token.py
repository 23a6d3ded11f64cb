"""Hugging Face token files: ``$HF_HOME/token`` (one token) and ``$HF_HOME/stored_tokens`` (INI,
one section per named token). The token itself never leaves: only that it is there, when it was
written, and its fingerprint (``mlsleuth.redact``), which matches the same token wherever else it
shows up (an environment, a history line). The collector already replaced it in archives; a plain
tree still holds it in clear, so it is fingerprinted here.
"""

from __future__ import annotations

import configparser
from collections.abc import Iterator

from mlsleuth.parsers.registry import register
from mlsleuth.parsers.source import ParseContext, Source
from mlsleuth.parsers.text import decode

from mlsleuth.events import UNKNOWN_TIME, Category, Event, TimestampQuality
from mlsleuth.redact import fingerprint, is_fingerprint

MAX_TOKEN_FILE = 1 << 20


def token_fingerprint(value: str) -> str:
    value = value.strip()
    return value if is_fingerprint(value) else fingerprint(value)


@register("hf_token")
def parse(src: Source, ctx: ParseContext) -> Iterator[Event]:
    text = decode(src.read_bytes(MAX_TOKEN_FILE))
    when = src.mtime or UNKNOWN_TIME
    quality = TimestampQuality.EXACT if src.mtime else TimestampQuality.ESTIMATED
    tokens: list[tuple[str, str]] = []  # (name, fingerprint)
    if src.name == "stored_tokens" or text.lstrip().startswith("["):
        parser = configparser.ConfigParser(interpolation=None, strict=False)
        try:
            parser.read_string(text)
        except configparser.Error as exc:
            yield src.error(ctx, f"stored_tokens not INI: {exc}")
        for section in parser.sections():
            value = parser[section].get("hf_token") or parser[section].get("token")
            if value:
                tokens.append((section, token_fingerprint(value)))
    elif text.strip():
        tokens.append(("", token_fingerprint(text.strip().splitlines()[0])))
    if not tokens:
        yield src.event(ctx, timestamp=when, desc="Token File Modified", category=Category.CONFIG,
                        message=f"Hugging Face token file {src.host_path} is empty", quality=quality,
                        extra={"tokens": 0})
        return
    for name, fp in tokens:
        label = f" {name!r}" if name else ""
        yield src.event(ctx, timestamp=when, desc="Token Stored", category=Category.CONFIG,
                        message=f"Hugging Face token{label} stored in {src.host_path} ({fp})",
                        quality=quality, extra={"token_name": name, "fingerprint": fp})
