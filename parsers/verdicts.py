"""Static verdicts of model files, from the model inspector (``mlsleuth.parsers.models``).

The inspector is another part's module, imported lazily: when it is missing (or has no
``inspect_file``), files are still reported, just without a verdict. It is static (it never
loads a model). Results are cached per content hash within a run, so a blob linked from several
snapshots is inspected once.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mlsleuth.parsers.filetimes import best_file_time
from mlsleuth.parsers.source import ParseContext, Source, open_regular
from mlsleuth.parsers.text import one_line

from mlsleuth.events import UNKNOWN_TIME, Category, Event, TimestampQuality

MODEL_SUFFIXES = (
    ".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".joblib", ".dill", ".safetensors", ".gguf",
    ".ggml", ".h5", ".hdf5", ".keras", ".onnx", ".npy", ".npz", ".msgpack", ".tflite", ".pb", ".mar",
    ".model", ".llamafile", ".nemo", ".zip", ".tar", ".7z",
)
FLAGGED = ("malicious", "suspicious")
MAX_FINDINGS = 20
CACHE_SIZE = 4096  # a blob linked from several revisions is met again soon after


MAX_PARTS_BYTES = 256 << 20


def _inspector() -> Any | None:
    try:
        from mlsleuth.parsers import models
    except ImportError:
        return None
    return models if hasattr(models, "inspect_file") else None


def inspect_source(src: Source, ctx: ParseContext, *, name: str = "") -> dict[str, Any] | None:
    """{"verdict", "format", "findings": [...]} for a collected model file, or None when no
    inspector is available or nothing of the file was kept."""
    models = _inspector()
    if models is None:
        return None
    cache = ctx.scratch("verdicts.cache", dict)
    key = src.sha256 or src.evidence_name
    if key not in cache:
        if len(cache) >= CACHE_SIZE:
            del cache[next(iter(cache))]  # oldest first: memory stays flat on huge caches
        cache[key] = _run(models, src)
    return cache[key]


def _run(models: Any, src: Source) -> dict[str, Any] | None:
    try:
        if src.local_path is not None:
            src.open().close()  # a regular file, not a symlink or FIFO swapped in
            result = models.inspect_file(src.local_path, display_path=src.host_path)
        else:
            parts = _part_bytes(src)
            if not parts or not hasattr(models, "inspect_parts"):
                return None
            result = models.inspect_parts(parts, src.host_path, host_path=src.host_path)
    except Exception as exc:  # the inspector must never take a parser down
        return {"verdict": "error", "format": "", "findings": [], "error": f"{type(exc).__name__}: {exc}"}
    as_dict = result.to_dict()
    findings = [f if isinstance(f, dict) else f.to_dict() for f in (as_dict.get("findings") or [])]
    return {"verdict": str(as_dict.get("verdict") or ""), "format": str(as_dict.get("format") or ""),
            "findings": findings[:MAX_FINDINGS]}


def _part_bytes(src: Source) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    budget = MAX_PARTS_BYTES
    for name, path in src.parts.items():
        with open_regular(path) as fh:
            data = fh.read(budget + 1)
        if len(data) > budget:
            break
        budget -= len(data)
        out[name] = data
    return out


def verdict_events(src: Source, ctx: ParseContext, *, name: str = "", result: dict[str, Any] | None = None,
                   **fields: Any) -> Iterator[Event]:
    """A FINDING when the inspector calls the file malicious or suspicious."""
    result = result if result is not None else inspect_source(src, ctx, name=name)
    if not result or result["verdict"] not in FLAGGED:
        return
    when, _which = best_file_time(src)
    findings = result["findings"]
    top = findings[0].get("message", "") if findings else ""
    label = fields.get("file_path") or src.host_path
    fields.setdefault("sha256", src.sha256)
    yield src.event(ctx, timestamp=when or UNKNOWN_TIME, desc="Static Verdict", category=Category.FINDING,
                    message=f"{result['verdict']}: {label} ({result['format'] or 'model'}): {one_line(top, 400)}",
                    quality=TimestampQuality.FILE_TIME if when else TimestampQuality.ESTIMATED,
                    verdict=result["verdict"],
                    extra={"format": result["format"], "findings": findings,
                           "rules": sorted({str(f.get("rule_id", "")) for f in findings} - {""})},
                    **fields)
