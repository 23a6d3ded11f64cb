"""Ollama's model store (``~/.ollama/models``, or ``/usr/share/ollama/.ollama/models``).

``manifests/<registry>/<namespace>/<model>/<tag>`` is an OCI-style JSON manifest listing layers
(``application/vnd.ollama.image.model`` = the GGUF weights, ``...template``, ``...params``,
``...system``, ``...license``) by ``sha256:<hex>`` digest; ``blobs/sha256-<hex>`` hold them. A
manifest is written when a pull completes. Blobs are named by their hash, so content that hashes
differently was changed after the pull. ``~/.ollama/history`` keeps prompts typed into
``ollama run`` (no times).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from mlsleuth.parsers.commands import command_event, untimed
from mlsleuth.parsers.model_files import model_file_events
from mlsleuth.parsers.registry import register
from mlsleuth.parsers.source import ParseContext, Source
from mlsleuth.parsers.text import decode, iter_lines, loads_json

from mlsleuth.events import UNKNOWN_TIME, Category, Event, TimestampQuality

_BLOB = re.compile(r"^sha256[-:]([0-9a-f]{64})$")
DEFAULT_REGISTRY = "registry.ollama.ai"


def model_name(parts: list[str]) -> tuple[str, str]:
    """manifest path parts after ``manifests`` -> (model_repo, tag)."""
    *name, tag = parts
    if len(name) >= 3 and name[0] == DEFAULT_REGISTRY:
        name = name[1:]
    return "ollama/" + "/".join(name), tag


@register("ollama")
def parse(src: Source, ctx: ParseContext) -> Iterator[Event]:
    parts = src.host_path.split("/")
    if "manifests" in parts:
        yield from _manifest(src, ctx, parts[parts.index("manifests") + 1:])
    elif "blobs" in parts and _BLOB.match(src.name):
        yield from _blob(src, ctx, _BLOB.match(src.name).group(1))  # type: ignore[union-attr]
    elif src.name == "history":
        file_time, note = untimed(src)
        with src.open() as fh:
            for number, raw, _ in iter_lines(fh):
                if raw.strip():
                    yield command_event(src, ctx, command=decode(raw), when=file_time, loc=f"L{number}",
                                        quality=TimestampQuality.FILE_TIME, process="ollama run",
                                        desc="Prompt Entered", extra=note)
    # id_ed25519 and other files: keys are secrets and not evidence of a model; nothing reported


def _manifest(src: Source, ctx: ParseContext, rel: list[str]) -> Iterator[Event]:
    if len(rel) < 2:
        return
    model_repo, tag = model_name(rel)
    try:
        manifest = loads_json(src.read_bytes(4 << 20))
    except ValueError as exc:
        yield src.error(ctx, f"manifest is not JSON: {exc}")
        manifest = {}
    if not isinstance(manifest, dict):
        manifest = {}
    entries = manifest.get("layers") if isinstance(manifest.get("layers"), list) else []
    layers: list[dict[str, Any]] = []
    for layer in [*entries, manifest.get("config")]:
        if isinstance(layer, dict) and isinstance(layer.get("digest"), str):
            layers.append({"media_type": str(layer.get("mediaType", "")), "digest": layer["digest"],
                           "size": layer.get("size")})
    weights = next((layer for layer in layers if layer["media_type"].endswith(".model")), None)
    digest = _BLOB.match(weights["digest"]) if weights else None
    when = src.mtime or UNKNOWN_TIME
    total = sum(layer["size"] for layer in layers if isinstance(layer.get("size"), int))
    yield src.event(ctx, timestamp=when, desc="Manifest Written", category=Category.MODEL_DOWNLOAD,
                    message=f"ollama pulled {model_repo}:{tag} ({len(layers)} layers, {total} bytes)",
                    quality=TimestampQuality.EXACT if src.mtime else TimestampQuality.ESTIMATED,
                    model_repo=model_repo, revision=tag, sha256=digest.group(1) if digest else None,
                    extra={"layers": layers[:50], "schema_version": manifest.get("schemaVersion")})


def _blob(src: Source, ctx: ParseContext, digest: str) -> Iterator[Event]:
    yield from model_file_events(src, ctx, desc="Blob Modified", what="ollama blob")
    actual = src.content_sha256()
    if actual and actual != digest:
        when = src.mtime or UNKNOWN_TIME
        yield src.event(ctx, timestamp=when, desc="Tampered Blob", category=Category.FINDING,
                        message=f"{src.host_path}: content sha256 {actual[:12]}… does not match its name",
                        quality=TimestampQuality.EXACT if src.mtime else TimestampQuality.ESTIMATED,
                        sha256=actual, verdict="suspicious",
                        extra={"rule": "ollama_blob_hash_mismatch", "blob": digest, "content_hash": actual})
