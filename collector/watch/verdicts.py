"""SHA-256 of a landed file and its static verdict, as plain data (used in the inspection child).

The verdict comes from the static model inspector (``mlsleuth.parsers.models.inspect_file``),
imported lazily so the agent runs (and says so) without it.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import logging
import os
import stat
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any

log = logging.getLogger("mlsleuth.watch")

MAX_FINDINGS = 20
MAX_TEXT = 2000
_CHUNK = 1024 * 1024


class Stopping(Exception):
    pass


# -- the inspector, resolved once ----------------------------------------------------------------
_UNRESOLVED = object()
_inspect: Any = _UNRESOLVED


def inspector() -> Callable[[Path], Any] | None:
    global _inspect
    if _inspect is _UNRESOLVED:
        try:
            from mlsleuth.parsers.models import inspect_file
        except Exception as exc:  # an absent or broken inspector must not stop the agent
            log.warning("static model inspector unavailable (%s): verdicts will read "
                        "'unsupported: inspector unavailable'", exc)
            _inspect = None
        else:
            _inspect = inspect_file
    return _inspect


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


def _short(value: Any) -> Any:
    value = _plain(value)
    if isinstance(value, str):
        return value if len(value) <= MAX_TEXT else value[:MAX_TEXT] + "…"
    if isinstance(value, dict):
        return {str(k): _short(v) for k, v in list(value.items())[:50]}
    if isinstance(value, list | tuple):
        return [_short(v) for v in list(value)[:50]]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return _short(str(value))


def summarize(result: Any) -> dict[str, Any]:
    """The inspector's result (object, dataclass or dict) as a bounded, JSON-able summary."""
    d = _plain(result)
    if not isinstance(d, dict):
        d = {k: getattr(result, k, None) for k in ("verdict", "format", "findings")}
    verdict = str(_plain(d.get("verdict")) or "error").lower()
    findings = list(d.get("findings") or [])
    out: dict[str, Any] = {"verdict": verdict, "format": _short(d.get("format")),
                           "findings": [_short(f) for f in findings[:MAX_FINDINGS]]}
    if len(findings) > MAX_FINDINGS:
        out["findings_omitted"] = len(findings) - MAX_FINDINGS
    return out


def verdict_of(local: str) -> dict[str, Any]:
    fn = inspector()
    if fn is None:
        return {"verdict": "unsupported", "verdict_detail": "inspector unavailable"}
    try:
        return summarize(fn(Path(local)))
    except Exception as exc:  # the inspector must never take the agent down
        return {"verdict": "error", "verdict_detail": f"inspector failed: {type(exc).__name__}: {exc}"}


def sha256_file(local: str, deadline: Callable[[], bool] = lambda: False) -> tuple[str, int, bool]:
    """(hex digest, size, changed-while-read) of a regular file, read without following links."""
    st0 = os.lstat(local)
    if not stat.S_ISREG(st0.st_mode):  # FIFOs, devices, symlinks: never opened
        raise OSError(errno.EINVAL, "not a regular file", local)
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(local, flags | getattr(os, "O_NOATIME", 0))
    except PermissionError:  # O_NOATIME needs ownership or CAP_FOWNER
        fd = os.open(local, flags)
    try:
        st1 = os.fstat(fd)
        if not stat.S_ISREG(st1.st_mode) or st1.st_ino != st0.st_ino:
            raise FileNotFoundError(f"replaced while opening: {local}")
        digest = hashlib.sha256()
        total = 0
        while chunk := os.read(fd, _CHUNK):
            digest.update(chunk)
            total += len(chunk)
            if deadline():
                raise Stopping
        st2 = os.fstat(fd)
    finally:
        os.close(fd)
    changed = (st1.st_size, st1.st_mtime_ns) != (st2.st_size, st2.st_mtime_ns) or total != st2.st_size
    return digest.hexdigest(), total, changed
