"""Analysable parts of a large model file, through the static inspector's extractor.

``mlsleuth.parsers.models.analysis_parts`` knows the formats (pickle members of a torch zip,
safetensors and GGUF headers, a .h5 ``model_config``, a .keras ``config.json`` ...); the collector
only stores what it returns under ``parts/<host path>/<name>``. It is imported lazily: without it
large files are hashed only, with the reason "no part extractor".

The extractor is handed a read-only file object on a duplicate of the collector's descriptor
when it accepts one (so O_NOATIME and the inode check still hold), else the path.
"""

from __future__ import annotations

import hashlib
import inspect
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from mlsleuth.collector.fileread import new_spool

PART_MAX = 256 << 20  # one part larger than this is refused (bounded archive and memory)
PARTS_TOTAL_MAX = 512 << 20
_FILE_PARAMS = ("fh", "fileobj", "file", "stream", "fp", "source")


@dataclass(slots=True)
class Part:
    name: str
    data: IO[bytes]
    size: int
    sha256: str


def _extractor() -> Callable[..., Any] | None:
    try:
        from mlsleuth.parsers.models import analysis_parts  # type: ignore[attr-defined]
    except Exception:  # absent or broken: hash only
        return None
    return analysis_parts if callable(analysis_parts) else None


def _wants_file(fn: Callable[..., Any]) -> bool:
    try:
        params = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return False
    return bool(params) and params[0] in _FILE_PARAMS


def _items(result: Any) -> Iterable[tuple[str, Any]]:
    if result is None:
        return ()
    if isinstance(result, dict):
        return result.items()
    out = []
    for item in result:
        if isinstance(item, tuple) and len(item) == 2:
            out.append((str(item[0]), item[1]))
        else:
            name = getattr(item, "name", None)
            data = getattr(item, "data", None)
            if data is None:
                data = getattr(item, "content", None)
            if data is None and callable(getattr(item, "read", None)):
                data = item  # read lazily, one part at a time
            if name is not None and data is not None:
                out.append((str(name), data))
    return out


def _spool(data: Any, spool_dir: Path) -> Part | None:
    """Copy one part into a spool, hashing it; None when it is too large or unreadable."""
    if hasattr(data, "read") and hasattr(data, "source"):  # a mlsleuth.parsers.models Part
        declared = getattr(data, "size", None)
        if isinstance(declared, int) and declared > PART_MAX:
            return None
        data = data.read()
    if isinstance(data, bytes | bytearray | memoryview):
        chunks: Iterable[bytes] = [bytes(data)]
    elif hasattr(data, "read"):
        chunks = iter(lambda: data.read(1 << 20), b"")
    else:
        return None
    spool = new_spool(spool_dir)
    digest = hashlib.sha256()
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > PART_MAX:
            spool.close()
            return None
        digest.update(chunk)
        spool.write(chunk)
    return Part("", spool, size, digest.hexdigest())


def extract(path: Path, fd: int, spool_dir: Path) -> tuple[list[Part], str]:
    """(parts, reason when there are none)."""
    fn = _extractor()
    if fn is None:
        return [], "no part extractor"
    if _wants_file(fn):
        with os.fdopen(os.dup(fd), "rb") as fh:
            fh.seek(0)
            result = fn(fh)
            items = list(_items(result))
    else:
        items = list(_items(fn(path)))
        # The extractor opened the path itself: make sure it is still the inode we hashed.
        mine, now = os.fstat(fd), os.lstat(path)
        if (mine.st_dev, mine.st_ino) != (now.st_dev, now.st_ino):
            raise OSError("the file was replaced while its parts were extracted")
    parts: list[Part] = []
    total = 0
    for name, data in items:
        part = _spool(data, spool_dir)
        if part is None:
            continue
        total += part.size
        if total > PARTS_TOTAL_MAX:
            part.data.close()
            break
        part.name = name
        parts.append(part)
    return parts, "" if parts else "no analysable parts in this format"
