"""Who is collecting: the tool's version and, for the frozen field binary, the SHA-256 of the
executable that is actually running.

A responder's report must name the exact tool that touched the host. For the single-file binary
that is the hash of the binary (compare it with dist/mlsleuth.sha256 or the release notes). For a
pip install there is no single executable to hash: the version and the Python build are what
identify it, so ``executable_sha256`` is None there rather than the hash of some interpreter.
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import sys
from pathlib import Path
from typing import Any

from mlsleuth import __version__

_CHUNK = 1 << 20


def is_frozen() -> bool:
    """True inside a PyInstaller (or similar) frozen executable."""
    return bool(getattr(sys, "frozen", False))


def _running_image() -> Path:
    """The file the kernel is executing. /proc/self/exe still reads the original image when the
    path has since been replaced or deleted, which is what the log must describe."""
    proc = Path("/proc/self/exe")
    if proc.exists():
        return proc
    return Path(sys.executable)


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@functools.lru_cache(maxsize=1)
def describe() -> dict[str, Any]:
    """Identity of this mlsleuth for the collection log and host.json custody.

    Keys: tool_version, frozen, executable (path the tool was started as, frozen only),
    executable_sha256 (frozen only; "error: ..." when the image could not be read), python,
    platform. Cached: the running image cannot change under a process.
    """
    info: dict[str, Any] = {
        "tool_version": __version__,
        "frozen": is_frozen(),
        "executable": None,
        "executable_sha256": None,
        "python": platform.python_version(),
        "platform": f"{sys.platform}-{platform.machine()}",
    }
    if info["frozen"]:
        info["executable"] = os.path.abspath(sys.executable)
        try:
            info["executable_sha256"] = _sha256_of(_running_image())
        except OSError as exc:
            info["executable_sha256"] = f"error: {exc.strerror or exc}"
    return info


def version_text() -> str:
    """What `mlsleuth --version` prints: the first line is click's usual format."""
    info = describe()
    lines = [f"mlsleuth, version {info['tool_version']}"]
    if info["frozen"]:
        lines.append(f"executable: {info['executable']}")
        lines.append(f"sha256: {info['executable_sha256']}")
        lines.append(f"build: field binary (python {info['python']}, {info['platform']})")
    else:
        lines.append(f"build: python package (python {info['python']}, {info['platform']})")
    return "\n".join(lines)
