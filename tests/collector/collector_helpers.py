"""Helpers for collector tests: small host trees and reading archives back."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any

from mlsleuth.collector.collect import CollectResult, collect


def write(root: Path, host_path: str, data: bytes | str = b"", mode: int | None = None) -> Path:
    path = root / host_path.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    if mode is not None:
        os.chmod(path, mode)
    return path


def passwd(root: Path, *users: tuple[str, int]) -> None:
    lines = ["root:x:0:0:root:/root:/bin/bash"]
    lines += [f"{name}:x:{uid}:{uid}::/home/{name}:/bin/bash" for name, uid in users]
    write(root, "/etc/passwd", "\n".join(lines) + "\n")
    for name, _ in users:
        (root / "home" / name).mkdir(parents=True, exist_ok=True)


class Archive:
    """An archive read back whole (tests only: small archives)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.members: dict[str, tarfile.TarInfo] = {}
        self.data: dict[str, bytes] = {}
        with tarfile.open(path, "r:gz") as tar:
            for ti in tar:
                self.members[ti.name] = ti
                if ti.isfile():
                    fh = tar.extractfile(ti)
                    assert fh is not None
                    self.data[ti.name] = fh.read()
        self.rows = [json.loads(line) for line in self.data["manifest.jsonl"].splitlines() if line.strip()]
        self.summary = json.loads(self.data["summary.json"])
        self.host = json.loads(self.data["host.json"])
        self.log = [json.loads(line) for line in self.data["collection.log"].splitlines()]

    def row(self, host_path: str) -> dict[str, Any]:
        found = [r for r in self.rows if r["path"] == host_path]
        assert found, f"no manifest row for {host_path}"
        return found[0]

    def has_row(self, host_path: str) -> bool:
        return any(r["path"] == host_path for r in self.rows)

    def by_artifact(self, name: str) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["artifact"] == name]

    def events(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.log if e["event"] == name]

    def all_bytes(self) -> bytes:
        """Every byte an examiner could see: member contents, names and link targets."""
        buf = io.BytesIO()
        for name, ti in self.members.items():
            buf.write(name.encode() + b"\n" + ti.linkname.encode() + b"\n")
        for data in self.data.values():
            buf.write(data + b"\n")
        return buf.getvalue()


def run_collect(root: Path, out_dir: Path, name: str = "evidence.tar.gz", **options: Any) -> tuple[CollectResult, Archive]:
    options.setdefault("live", False)
    options.setdefault("workers", 2)
    result = collect(root, out_dir / name, **options)
    return result, Archive(result.archive)
