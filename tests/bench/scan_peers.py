"""Adapters: one call per file for mlsleuth and each peer scanner, answering (flagged, error).

Each adapter uses the peer's own Python API the way its CLI does for one file, in process, so
timings compare scanning work, not interpreter start-up. "flagged" means the tool would stop a
user (an issue, a non-safe severity, or an error it reports as unsafe); "error" means the tool
raised or reported that it could not scan the file.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import zipfile
from collections.abc import Callable

Verdict = tuple[bool, bool]  # (flagged, error)


def mlsleuth_adapter() -> Callable[[str], Verdict]:
    from mlsleuth.parsers.models import inspect_file

    def scan(path: str) -> Verdict:
        r = inspect_file(path)
        return r.verdict in ("malicious", "suspicious", "unsupported"), r.verdict == "error"

    return scan


def picklescan_adapter() -> Callable[[str], Verdict]:
    from picklescan.scanner import scan_file_path

    def scan(path: str) -> Verdict:
        try:
            r = scan_file_path(path)
        except Exception:  # noqa: BLE001 - a crash is an error for the comparison
            return False, True
        return bool(r.infected_files or r.issues_count), bool(r.scan_err)

    return scan


def modelscan_adapter() -> Callable[[str], Verdict]:
    from modelscan.modelscan import ModelScan

    logging.getLogger("modelscan").setLevel(logging.CRITICAL)

    def scan(path: str) -> Verdict:
        try:
            r = ModelScan().scan(path)
        except Exception:  # noqa: BLE001
            return False, True
        return bool(r.get("issues")), bool(r.get("errors"))

    return scan


def fickling_adapter() -> Callable[[str], Verdict]:
    import fickling
    from fickling.analysis import Severity

    def scan(path: str) -> Verdict:
        try:
            if zipfile.is_zipfile(path):
                results = list(fickling.scan_zip_archive(path, graceful=True).values())
            else:
                results = [fickling.scan_file(path, graceful=True)]
        except Exception:  # noqa: BLE001
            return False, True
        flagged = any(r.severity > Severity.LIKELY_SAFE or r.errors for r in results)
        return flagged, any(r.errors for r in results) and not flagged

    return scan


def modelaudit_adapter() -> Callable[[str], Verdict]:
    os.environ.setdefault("MODELAUDIT_TELEMETRY_DISABLED", "1")
    os.environ.setdefault("PROMPTFOO_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("POSTHOG_DISABLED", "1")
    from modelaudit.core import scan_model_directory_or_file

    logging.getLogger("modelaudit").setLevel(logging.CRITICAL)

    def scan(path: str) -> Verdict:
        try:
            with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
                r = scan_model_directory_or_file(path)
        except Exception:  # noqa: BLE001
            return False, True
        d = r.model_dump() if hasattr(r, "model_dump") else dict(r)
        issues = [i for i in d.get("issues", []) if str(i.get("severity", "")).lower() in
                  ("critical", "warning", "high", "medium", "error")]
        return bool(issues), bool(d.get("has_errors"))

    return scan


TOOLS: dict[str, Callable[[], Callable[[str], Verdict]]] = {
    "mlsleuth": mlsleuth_adapter,
    "picklescan": picklescan_adapter,
    "modelscan": modelscan_adapter,
    "fickling": fickling_adapter,
    "modelaudit": modelaudit_adapter,
}


def load(name: str) -> Callable[[str], Verdict] | None:
    try:
        return TOOLS[name]()
    except ImportError:
        return None
