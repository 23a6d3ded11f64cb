"""``~/.netrc``: hosts the user stored credentials for (``curl``, ``git``, ``pip``, ``requests``
and huggingface_hub all read it). Machine and login stay; passwords only as fingerprints.
Tokens are read by hand (the ``netrc`` module refuses files with odd permissions or syntax)."""

from __future__ import annotations

import shlex
from collections.abc import Iterator

from mlsleuth.parsers.filetimes import best_file_time
from mlsleuth.parsers.registry import register
from mlsleuth.parsers.source import ParseContext, Source
from mlsleuth.parsers.text import decode

from mlsleuth.events import UNKNOWN_TIME, Category, Event, TimestampQuality
from mlsleuth.redact import fingerprint, is_fingerprint


def entries(text: str) -> list[dict[str, str]]:
    try:
        tokens = shlex.split(text, comments=True, posix=True)
    except ValueError:
        tokens = text.split()
    out: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token in ("machine", "default"):
            current = {"machine": tokens[i + 1] if token == "machine" and i + 1 < len(tokens) else "default"}
            out.append(current)
            i += 2 if token == "machine" else 1
            continue
        if token == "macdef":
            break  # macro bodies run to a blank line; nothing after them is needed
        if current is not None and token in ("login", "password", "account") and i + 1 < len(tokens):
            current[token] = tokens[i + 1]
            i += 2
            continue
        i += 1
    return out


@register("netrc")
def parse(src: Source, ctx: ParseContext) -> Iterator[Event]:
    when, _ = best_file_time(src)
    quality = TimestampQuality.FILE_TIME if when else TimestampQuality.ESTIMATED
    for entry in entries(decode(src.read_bytes(1 << 20))):
        secret = entry.get("password") or entry.get("account")
        fp = (secret if is_fingerprint(secret) else fingerprint(secret)) if secret else None
        yield src.event(ctx, timestamp=when or UNKNOWN_TIME, desc="Credential Stored", category=Category.CONFIG,
                        message=f".netrc credentials for {entry['machine']} (login {entry.get('login', '?')})",
                        quality=quality, remote_addr=entry["machine"],
                        extra={"machine": entry["machine"], "login": entry.get("login"),
                               "password_fingerprint": fp})
