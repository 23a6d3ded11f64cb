"""What the inspector reports: findings, per-file results, the verdict policy, and parts.

Verdict policy (docs/scanning.md): a ``critical`` or ``high`` finding makes a file
``malicious``; ``medium`` makes it ``suspicious``; ``low`` and ``info`` leave it ``clean``.
A file we could not read at all is ``error``; a container we cannot open (7z without py7zr,
an unknown binary model format) is ``unsupported``. Nothing unparseable is ever ``clean``:
parse failures are themselves ``medium`` findings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any


class Severity(IntEnum):
    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    def __str__(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        return cls[text.upper()]


MALICIOUS = "malicious"
SUSPICIOUS = "suspicious"
CLEAN = "clean"
UNSUPPORTED = "unsupported"
ERROR = "error"
VERDICTS = (MALICIOUS, SUSPICIOUS, CLEAN, UNSUPPORTED, ERROR)
FLAGGED = frozenset({MALICIOUS, SUSPICIOUS, UNSUPPORTED})

MAX_INDICATORS = 20
MAX_INDICATOR_LEN = 400


@dataclass
class Finding:
    rule_id: str
    severity: Severity
    message: str
    location: str = ""
    indicators: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        seen: list[str] = []
        for ind in self.indicators:
            ind = ind if len(ind) <= MAX_INDICATOR_LEN else ind[:MAX_INDICATOR_LEN] + "…"
            if ind and ind not in seen:
                seen.append(ind)
            if len(seen) >= MAX_INDICATORS:
                break
        self.indicators = seen

    def to_dict(self) -> dict[str, Any]:
        return {"rule_id": self.rule_id, "severity": str(self.severity), "message": self.message,
                "location": self.location, "indicators": list(self.indicators)}


@dataclass
class ScanResult:
    path: str
    format: str
    verdict: str = CLEAN
    findings: list[Finding] = field(default_factory=list)
    # Not part of the JSON interface: where the file came from inside an evidence archive.
    host_path: str | None = None
    member: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "format": self.format, "verdict": self.verdict,
                "findings": [f.to_dict() for f in self.findings]}

    @property
    def flagged(self) -> bool:
        return self.verdict in FLAGGED

    @property
    def max_severity(self) -> Severity | None:
        return max((f.severity for f in self.findings), default=None)


def decide_verdict(findings: list[Finding], *, unsupported: bool = False, error: bool = False) -> str:
    """The policy: worst finding decides; unsupported/error only when nothing worse was seen."""
    worst = max((f.severity for f in findings), default=Severity.INFO)
    if worst >= Severity.HIGH:
        return MALICIOUS
    if worst >= Severity.MEDIUM:
        return SUSPICIOUS
    if error:
        return ERROR
    if unsupported:
        return UNSUPPORTED
    return CLEAN


@dataclass
class Part:
    """A piece of a large model file that static analysis needs (collector: keep these).

    ``offset``/``size`` locate raw bytes in the source file when the part is a byte range;
    derived parts (an HDF5 attribute, a deflated zip member) have ``offset`` None and are
    produced by ``reader``.
    """

    name: str
    source: Path
    offset: int | None = None
    size: int | None = None
    reader: Callable[[], bytes] | None = None

    def read(self) -> bytes:
        if self.reader is not None:
            return self.reader()
        if self.offset is None or self.size is None:
            raise ValueError(f"part {self.name} has no byte range")
        from mlsleuth.parsers.models.blob import read_range

        return read_range(self.source, self.offset, self.size)
