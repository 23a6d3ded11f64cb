"""Jupyter runtime files (``~/.local/share/jupyter/runtime``, ``/run/user/<uid>/jupyter``).

* ``kernel-<id>.json``: connection file written when a kernel starts (ports, transport, and an
  HMAC ``key`` that signs messages: a secret, reported only as its fingerprint).
* ``jpserver-<pid>.json`` / ``nbserver-<pid>.json``: a running (or crashed) server: pid, url,
  root folder, whether a token/password protects it (the token is fingerprinted).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mlsleuth.parsers.filetimes import best_file_time
from mlsleuth.parsers.registry import register
from mlsleuth.parsers.source import ParseContext, Source
from mlsleuth.parsers.text import loads_json

from mlsleuth.events import UNKNOWN_TIME, Category, Event, TimestampQuality
from mlsleuth.redact import fingerprint, is_fingerprint, redact_url

KERNEL_FIELDS = ("ip", "transport", "signature_scheme", "kernel_name", "shell_port", "iopub_port",
                 "stdin_port", "control_port", "hb_port")
SERVER_FIELDS = ("base_url", "hostname", "port", "secure", "sock", "version", "root_dir", "notebook_dir")


def _fp(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    return value if is_fingerprint(value) else fingerprint(value)


@register("jupyter_runtime")
def parse(src: Source, ctx: ParseContext) -> Iterator[Event]:
    if not src.name.endswith(".json"):
        return  # jpserver-<pid>-open.html repeats the url with the token: not needed
    try:
        data = loads_json(src.read_bytes(1 << 20))
    except ValueError as exc:
        yield src.error(ctx, f"not JSON: {exc}")
        return
    if not isinstance(data, dict):
        yield src.error(ctx, "not a JSON object")
        return
    when, _ = best_file_time(src)
    quality = TimestampQuality.FILE_TIME if when else TimestampQuality.ESTIMATED
    when = when or UNKNOWN_TIME
    if src.name.startswith("kernel-"):
        extra = {k: data[k] for k in KERNEL_FIELDS if k in data}
        extra["key_fingerprint"] = _fp(data.get("key"))
        exposed = data.get("ip") not in (None, "127.0.0.1", "localhost", "::1")
        yield src.event(ctx, timestamp=when, desc="Kernel Started", category=Category.PROCESS,
                        message=f"Jupyter kernel {data.get('kernel_name') or '?'} started "
                                f"({data.get('transport', 'tcp')}://{data.get('ip', '?')}:{data.get('shell_port', '?')})"
                                + ("; listening beyond localhost" if exposed else ""),
                        quality=quality, process=f"jupyter-kernel:{data.get('kernel_name') or '?'}",
                        extra=extra)
        return
    extra = {k: data[k] for k in SERVER_FIELDS if k in data}
    url = data.get("url")
    if isinstance(url, str):
        extra["url"] = redact_url(url)[0]
    extra["token_fingerprint"] = _fp(data.get("token"))
    extra["password_set"] = bool(data.get("password"))
    unprotected = not data.get("token") and not data.get("password")
    pid = data.get("pid") if isinstance(data.get("pid"), int) else None
    yield src.event(ctx, timestamp=when, desc="Server Started", category=Category.PROCESS,
                    message=f"Jupyter server pid {pid or '?'} at {extra.get('url', '?')} serving "
                            f"{data.get('root_dir') or data.get('notebook_dir') or '?'}"
                            + ("; no token or password" if unprotected else ""),
                    quality=quality, pid=pid, process="jupyter-server", extra=extra)
