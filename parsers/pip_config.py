"""pip configuration (``pip.conf`` / ``pip.ini``, per user, system or virtualenv) and ``.pypirc``.

Which package indexes were in force is the supply-chain question: ``index-url``,
``extra-index-url`` (each URL an event with ``index_url``), ``trusted-host`` (TLS checks off),
``find-links``, ``no-index``. Credentials in URLs were redacted by the collector; they are
redacted again here (a plain tree was never collected). ``.pypirc`` shows which upload
repositories the user had credentials for.
"""

from __future__ import annotations

import configparser
from collections.abc import Iterator

from mlsleuth.parsers.filetimes import best_file_time
from mlsleuth.parsers.registry import register
from mlsleuth.parsers.source import ParseContext, Source
from mlsleuth.parsers.text import decode

from mlsleuth.events import UNKNOWN_TIME, Category, Event, TimestampQuality
from mlsleuth.redact import fingerprint, is_fingerprint, redact_text, redact_url

URL_KEYS = ("index-url", "extra-index-url", "find-links", "repository")
SECRET_KEYS = ("password", "token", "client-cert")


@register("pip_config")
def parse(src: Source, ctx: ParseContext) -> Iterator[Event]:
    text = decode(src.read_bytes(4 << 20))
    parser = configparser.RawConfigParser(strict=False)
    try:
        parser.read_string(text)
    except configparser.Error as exc:
        yield src.error(ctx, f"not an INI file: {exc}")
        return
    when, _ = best_file_time(src)
    quality = TimestampQuality.FILE_TIME if when else TimestampQuality.ESTIMATED
    when = when or UNKNOWN_TIME
    settings: dict[str, str] = {}
    for section in parser.sections():
        for key, value in parser.items(section):
            if key in SECRET_KEYS and value:
                value = value if is_fingerprint(value.strip()) else fingerprint(value.strip())
            else:
                value = redact_text(value)[0]
            settings[f"{section}.{key}"] = value
            if key not in URL_KEYS:
                continue
            for url in value.split():
                clean = redact_url(url)[0]
                kind = "extra index" if key == "extra-index-url" else key.replace("-", " ")
                yield src.event(ctx, timestamp=when, desc="Config Modified", category=Category.CONFIG,
                                message=f"pip {kind} {clean} ([{section}] in {src.host_path})",
                                quality=quality, index_url=clean,
                                extra={"section": section, "key": key})
    risks = [f"{k}={v}" for k, v in settings.items() if k.endswith((".trusted-host", ".no-index", ".cert"))]
    yield src.event(ctx, timestamp=when, desc="Config Modified", category=Category.CONFIG,
                    message=f"pip config {src.host_path}: {len(settings)} setting(s)"
                            + (f"; {', '.join(risks[:5])}" if risks else ""),
                    quality=quality, extra={"settings": settings})
