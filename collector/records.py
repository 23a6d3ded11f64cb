"""What a collection writes about itself while it runs: the JSON-lines log, the manifest (one
row per thing seen), the TSK bodyfile and the per-artifact summary.

Manifest, bodyfile and log are spooled to files in the work folder as rows arrive, so memory
stays flat however many files the collection sees; they become archive members at the end.
"""

from __future__ import annotations

import json
import stat as statmod
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from mlsleuth.events import iso

SUMMARY_KEYS = ("collected", "redacted", "partial", "hashed", "symlink", "skipped", "failed")
_ACTION_KEY = {"copied": "collected", "redacted": "redacted", "partial": "partial", "hashed": "hashed",
               "symlink": "symlink", "skipped": "skipped", "failed": "failed"}


def now_iso() -> str:
    return iso(datetime.now(UTC))


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=str)


class JsonLines:
    """Append-only JSON lines file (invalid surrogates escaped, never an encoding crash)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[bytes] = open(path, "wb")  # noqa: SIM115
        self.count = 0

    def write(self, obj: dict[str, Any]) -> None:
        self._fh.write(_dumps(obj).encode("utf-8", "backslashreplace") + b"\n")
        self.count += 1

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()


class CollectionLog(JsonLines):
    """``{"time", "level", "event", ...}`` per decision and error; counts levels for the summary."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.levels: Counter[str] = Counter()
        self.events: Counter[str] = Counter()

    def log(self, level: str, event: str, **fields: Any) -> None:
        self.levels[level] += 1
        self.events[event] += 1
        self.write({"time": now_iso(), "level": level, "event": event, **fields})


def _tsk_mode(mode: int) -> str:
    kind = "-"
    for test, char in ((statmod.S_ISREG, "r"), (statmod.S_ISDIR, "d"), (statmod.S_ISLNK, "l"),
                       (statmod.S_ISFIFO, "p"), (statmod.S_ISSOCK, "s"), (statmod.S_ISCHR, "c"),
                       (statmod.S_ISBLK, "b")):
        if test(mode):
            kind = char
            break
    return f"{kind}/{kind}{statmod.filemode(mode)[1:]}"


def _secs(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and value > 0 else 0


class Bodyfile:
    """TSK 3.x bodyfile: ``MD5|name|inode|mode|UID|GID|size|atime|mtime|ctime|crtime``.

    MD5 is ``0`` (the manifest has SHA-256); times are whole seconds (mactime's format; exact
    times are in the manifest); symlinks are ``name -> target`` as fls writes them; a newline,
    carriage return or backslash in a name is escaped as ``\\n``, ``\\r``, ``\\\\``. A name may
    contain ``|``: split off the first field and the last nine, the rest is the name.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[bytes] = open(path, "wb")  # noqa: SIM115
        self.count = 0

    def add(self, row: dict[str, Any]) -> None:
        if row.get("mode") is None:
            return
        name = str(row["path"]).replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
        if row.get("link_target") is not None:
            name += " -> " + str(row["link_target"]).replace("\n", "\\n").replace("\r", "\\r")
        fields = ["0", name, str(row.get("inode") or 0), _tsk_mode(int(row["mode"])),
                  str(row.get("uid") or 0), str(row.get("gid") or 0), str(row.get("size") or 0),
                  str(_secs(row.get("atime"))), str(_secs(row.get("mtime"))), str(_secs(row.get("ctime"))),
                  str(_secs(row.get("btime")))]
        self._fh.write("|".join(fields).encode("utf-8", "backslashreplace") + b"\n")
        self.count += 1

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()


class Summary:
    """Per artifact: collected / redacted / partial / hashed / symlink / skipped / failed / missing."""

    def __init__(self, artifacts: list[str]) -> None:
        self.counts: dict[str, Counter[str]] = {name: Counter() for name in artifacts}
        self.bytes: Counter[str] = Counter()
        self.tampered: list[dict[str, Any]] = []
        self.reasons: dict[str, Counter[str]] = defaultdict(Counter)

    def add(self, row: dict[str, Any]) -> None:
        name = row.get("artifact") or "?"
        key = _ACTION_KEY.get(row.get("action") or "", "failed")
        self.counts.setdefault(name, Counter())[key] += 1
        if row.get("action") in ("copied", "redacted"):
            self.bytes[name] += int(row.get("member_size") or row.get("size") or 0)
        if row.get("tampered"):
            self.tampered.append({"path": row["path"], "artifact": name,
                                  "check": row.get("content_check")})
        why = row.get("reason") or row.get("error")
        if key in ("skipped", "failed") and why:
            self.reasons[name][str(why)] += 1

    def to_dict(self) -> dict[str, Any]:
        artifacts = {}
        for name, c in sorted(self.counts.items()):
            entry = {k: c.get(k, 0) for k in SUMMARY_KEYS}
            entry["missing"] = 0 if sum(c.values()) else 1
            artifacts[name] = entry
        totals = {k: sum(a[k] for a in artifacts.values()) for k in SUMMARY_KEYS}
        return {
            "artifacts": artifacts,
            "totals": totals,
            "bytes_copied": dict(sorted(self.bytes.items())),
            "tampered": self.tampered,
            "skip_and_fail_reasons": {n: dict(c.most_common(20)) for n, c in sorted(self.reasons.items())},
        }
