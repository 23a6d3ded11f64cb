"""Which inspector reads a file: an ordered table of (format, detect, inspect).

Detection is by content; the first entry whose ``detect(head, buf, ctx)`` is true inspects the
file (``inspect(buf, ctx)``). Order matters: container magics first, then headers that could be
mistaken for text, then text, then the content sniffers of last resort. Adding a model format
means adding a module under ``formats/`` and one row here (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlsleuth.parsers.models.context import Ctx
from mlsleuth.parsers.models.formats import (
    archive,
    gguf,
    keras,
    numpy_files,
    onnx,
    pickle_file,
    safetensors,
)
from mlsleuth.parsers.models.result import Severity

_CONTROL = bytes(range(0, 9)) + bytes(range(14, 27)) + bytes(range(28, 32))


def is_text(head: bytes) -> bool:
    if not head or any(c in _CONTROL for c in head[:512]):
        return False
    try:
        head.decode("utf-8")
        return True
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 4  # a multi-byte character cut by the head window


def _hdf5_at(buf: Any) -> bool:
    for off in (0, 512, 1024, 2048):  # HDF5 allows a user block before the superblock
        if bytes(buf[off:off + 8]) == keras.HDF5_MAGIC:
            return True
    return False


def _tflite(buf: Any, ctx: Ctx) -> None:
    ctx.format = "tflite"
    ctx.unsupported = True
    ctx.add("format-not-inspected", Severity.LOW, "TensorFlow Lite flatbuffer: not inspected")


def _compressed(buf: Any, ctx: Ctx) -> None:
    archive.inspect_compressed(buf, archive.compression_of(bytes(buf[:16])) or "", ctx)


@dataclass(frozen=True)
class FormatSpec:
    name: str
    detect: Callable[[bytes, Any, Ctx], bool]
    inspect: Callable[[Any, Ctx], None]


def _text(buf: Any, ctx: Ctx) -> None:
    from mlsleuth.parsers.models.scan import inspect_text

    inspect_text(buf, bytes(buf[:4096]), ctx)


FORMATS: list[FormatSpec] = [
    FormatSpec("zip", lambda h, b, c: h[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"), archive.inspect_zip),
    FormatSpec("npy", lambda h, b, c: numpy_files.detect(h, c), numpy_files.inspect),
    FormatSpec("hdf5", lambda h, b, c: _hdf5_at(b), keras.inspect_h5),
    FormatSpec("gguf", lambda h, b, c: gguf.detect(h, c), gguf.inspect),
    FormatSpec("7z", lambda h, b, c: h.startswith(archive.SEVENZIP_MAGIC), archive.inspect_7z),
    FormatSpec("tar", lambda h, b, c: archive.is_tar(h), archive.inspect_tar),
    FormatSpec("compressed", lambda h, b, c: archive.compression_of(h) is not None, _compressed),
    FormatSpec("safetensors", lambda h, b, c: safetensors.is_structural(h, len(b)), safetensors.inspect),
    FormatSpec("pickle", lambda h, b, c: h[:1] == b"\x80" and len(h) > 1 and h[1] <= 5, pickle_file.inspect),
    FormatSpec("safetensors", lambda h, b, c: safetensors.detect(h, c) and not is_text(h), safetensors.inspect),
    FormatSpec("tf-savedmodel", lambda h, b, c: keras.is_savedmodel_pb(c) and not is_text(h[:64]),
               keras.inspect_savedmodel),
    FormatSpec("onnx", lambda h, b, c: onnx.detect(h, c) and not is_text(h[:64]), onnx.inspect),
    FormatSpec("tflite", lambda h, b, c: h[4:8] == b"TFL3", _tflite),
    FormatSpec("text", lambda h, b, c: is_text(h), _text),
    FormatSpec("pickle-text-opcodes", lambda h, b, c: pickle_file.detect(h, c), pickle_file.inspect),
    FormatSpec("safetensors-by-name", lambda h, b, c: c.ext == ".safetensors", safetensors.inspect),
]
