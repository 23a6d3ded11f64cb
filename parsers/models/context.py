"""Per-file inspection state shared by the format inspectors."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mlsleuth.parsers.models.result import Finding, Severity

MAX_DEPTH = 4  # archives inside archives inside ...
TOTAL_DECOMPRESS_BUDGET = 1 << 30  # bytes decompressed per top-level file, all members together


class Budget:
    """Bytes that may still be decompressed for one top-level file (shared by its members)."""

    __slots__ = ("remaining",)

    def __init__(self, remaining: int = TOTAL_DECOMPRESS_BUDGET) -> None:
        self.remaining = remaining

    def take(self, n: int) -> bool:
        if n > self.remaining:
            self.remaining = 0
            return False
        self.remaining -= n
        return True


class Ctx:
    """One file (or container member) being inspected.

    Slotted with a plain constructor: one is made per scanned file, and on a directory of small
    checkpoints building a dataclass with factories was a visible part of the per-file cost.
    """

    __slots__ = ("display", "name", "path", "depth", "_budget", "lineage", "findings", "format", "unsupported",
                 "error", "prefix", "_ext")

    def __init__(self, display: str, name: str, path: Path | str | None = None, depth: int = 0,
                 budget: Budget | None = None, lineage: tuple[str, ...] = (), findings: list[Finding] | None = None,
                 prefix: str = "") -> None:
        self.display = display
        self.name = name  # basename, for extension hints
        self.path = path  # the real file, when there is one (ONNX external data, siblings)
        self.depth = depth
        self._budget = budget  # made on first use: most files never decompress anything
        self.lineage = lineage  # sha256 prefixes of enclosing containers (recursion detection)
        self.findings: list[Finding] = [] if findings is None else findings
        self.format = "unknown"
        self.unsupported = False
        self.error: str | None = None
        self.prefix = prefix  # location prefix for findings from inside a container member
        self._ext: str | None = None

    @property
    def budget(self) -> Budget:
        if self._budget is None:
            self._budget = Budget()
        return self._budget

    @property
    def ext(self) -> str:
        ext = self._ext
        if ext is None:
            lower = self.name.lower()
            for double in (".tar.gz", ".tar.bz2", ".tar.xz"):
                if lower.endswith(double):
                    ext = double
                    break
            else:
                dot = lower.rfind(".")
                ext = lower[dot:] if dot >= 0 else ""
            self._ext = ext
        return ext

    def add(self, rule_id: str, severity: Severity, message: str, location: str = "",
            indicators: Iterable[str] = ()) -> Finding:
        loc = f"{self.prefix}{location}" if self.prefix else location
        f = Finding(rule_id, severity, message, loc, list(indicators))
        self.findings.append(f)
        return f

    def extend(self, findings: Iterable[Finding]) -> None:
        for f in findings:
            if self.prefix:
                f.location = f"{self.prefix}{f.location}"
            self.findings.append(f)

    def child(self, member: str, data: Any) -> Ctx | None:
        """Context for a container member; None (with a finding) when nesting must stop."""
        digest = hashlib.sha256(bytes(data[: 1 << 20])).hexdigest()[:16] + f":{len(data)}"
        if digest in self.lineage:
            self.add("archive-recursive", Severity.MEDIUM,
                     f"member {member} repeats an enclosing archive (recursive archive); not expanded", member)
            return None
        if self.depth + 1 > MAX_DEPTH:
            self.add("archive-depth-limit", Severity.MEDIUM,
                     f"member {member} is nested more than {MAX_DEPTH} archives deep; not analysed", member)
            return None
        name = member.rsplit("/", 1)[-1]
        return Ctx(display=f"{self.display}/{member}", name=name, path=None, depth=self.depth + 1,
                   budget=self.budget, lineage=self.lineage + (digest,), findings=self.findings,
                   prefix=f"{self.prefix}{member}:")
