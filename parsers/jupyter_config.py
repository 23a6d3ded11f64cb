"""Jupyter configuration: ``jupyter_*_config.py`` (Python executed when the server starts, so
also a persistence spot) and ``*.json`` / ``*.jupyterlab-settings``.

Settings are read statically (``c.ServerApp.ip = "0.0.0.0"`` assignments via ``ast``, JSON
keys); the ones that open a server up are named in the message: listening on all interfaces,
token/password disabled, XSRF checks off, root allowed, remote access, extra extensions.
Tokens and password hashes are replaced by their fingerprints.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from typing import Any

from mlsleuth.parsers.filetimes import best_file_time
from mlsleuth.parsers.registry import register
from mlsleuth.parsers.source import ParseContext, Source
from mlsleuth.parsers.startup_code import startup_code_event
from mlsleuth.parsers.text import decode

from mlsleuth.events import UNKNOWN_TIME, Category, Event, TimestampQuality
from mlsleuth.redact import fingerprint, is_fingerprint

SECRET_KEYS = re.compile(r"(token|password|secret|key)$", re.IGNORECASE)
MAX_SETTINGS = 200


EXTENSION_KEYS = {"jpserver_extensions", "nbserver_extensions", "server_extensions"}


def _risk(name: str, value: Any) -> str | None:
    parts = name.lower().split(".")
    leaf = parts[-1]
    if EXTENSION_KEYS & set(parts[:-1]) and value:
        return f"server extension {name.rsplit('.', 1)[-1]} enabled"
    if leaf == "ip" and value in ("0.0.0.0", "*", "::", ""):
        return f"listens on all interfaces ({name}={value!r})"
    if leaf in ("token", "password") and value in ("", None):
        return f"authentication disabled ({name} empty)"
    if leaf in ("disable_check_xsrf", "allow_root", "allow_remote_access", "allow_password_change") and value is True:
        return f"{name}=True"
    if leaf == "allow_origin" and value == "*":
        return "any origin allowed (allow_origin='*')"
    if leaf in EXTENSION_KEYS and value:
        return f"server extensions {value!r}"
    return None


def _clean(name: str, value: Any) -> Any:
    if SECRET_KEYS.search(name.rsplit(".", 1)[-1]) and isinstance(value, str) and value:
        return value if is_fingerprint(value) else fingerprint(value)
    return value


def settings_from_python(code: str) -> dict[str, Any]:
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError):
        return {}
    settings: dict[str, Any] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                name = ast.unparse(target)
                if not name.startswith("c."):
                    continue
                try:
                    value = ast.literal_eval(node.value) if node.value is not None else None
                except (ValueError, SyntaxError, TypeError, RecursionError):
                    value = f"<expr {ast.unparse(node.value)[:200]}>" if node.value is not None else None
                settings[name[2:]] = value
                if len(settings) >= MAX_SETTINGS:
                    return settings
    return settings


def settings_from_json(data: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, dict) and value and len(out) < MAX_SETTINGS:
                out.update(settings_from_json(value, name))
            else:
                out[name] = value
    return dict(list(out.items())[:MAX_SETTINGS])


@register("jupyter_config")
def parse(src: Source, ctx: ParseContext) -> Iterator[Event]:
    text = decode(src.read_bytes(4 << 20))
    if src.name.endswith(".py"):
        settings = settings_from_python(text)
        yield from startup_code_event(src, ctx, what="Jupyter config (Python, run at server start)", code=text)
    else:
        try:
            settings = settings_from_json(json.loads(_strip_json_comments(text)))
        except ValueError as exc:
            yield src.error(ctx, f"not JSON: {exc}")
            return
    settings = {k: _clean(k, v) for k, v in settings.items()}
    risks = [r for r in (_risk(k, v) for k, v in settings.items()) if r]
    when, _ = best_file_time(src)
    yield src.event(ctx, timestamp=when or UNKNOWN_TIME, desc="Config Modified", category=Category.CONFIG,
                    message=f"Jupyter config {src.host_path}: {len(settings)} setting(s)"
                            + (f"; {'; '.join(risks[:5])}" if risks else ""),
                    quality=TimestampQuality.EXACT if when else TimestampQuality.ESTIMATED,
                    extra={"settings": {k: v if isinstance(v, str | int | float | bool | type(None)) else repr(v)[:500]
                                        for k, v in settings.items()}, "risks": risks})


def _strip_json_comments(text: str) -> str:
    """JupyterLab settings files are JSON5-ish: drop // line comments outside strings."""
    if "//" not in text:
        return text
    out = []
    for line in text.splitlines():
        stripped = line.lstrip()
        out.append("" if stripped.startswith("//") else line)
    return "\n".join(out)
