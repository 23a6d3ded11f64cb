"""Per-file inspection state shared by the format inspectors."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlsleuth.parsers.models.result import Finding, Severity

MAX_DEPTH = 4  # archives inside archives inside ...
TOTAL_DECOMPRESS_BUDGET = 1 << 30  # bytes decompressed per top-level file, all members together


@dataclass
class Budget:
    remaining: int = TOTAL_DECOMPRESS_BUDGET

    def take(self, n: int) -> bool:
        if n > self.remaining:
            self.remaining = 0
            return False
        self.remaining -= n
        return True


@dataclass
class Ctx:
    display: str
    name: str  # basename, for extension hints
    path: Path | None = None  # the real file, when there is one (ONNX external data, siblings)
    depth: int = 0
    budget: Budget = field(default_factory=Budget)
    lineage: tuple[str, ...] = ()  # sha256 prefixes of enclosing containers (recursion detection)
    findings: list[Finding] = field(default_factory=list)
    format: str = "unknown"
    unsupported: bool = False
    error: str | None = None
    prefix: str = ""  # location prefix for findings from inside a container member

    @property
    def ext(self) -> str:
        lower = self.name.lower()
        for double in (".tar.gz", ".tar.bz2", ".tar.xz"):
            if lower.endswith(double):
                return double
        dot = lower.rfind(".")
        return lower[dot:] if dot >= 0 else ""

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
