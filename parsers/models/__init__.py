"""Static model inspector behind ``mlsleuth scan`` (docs/scanning.md).

Never loads a model: pickles are read opcode by opcode, containers through their directories,
configs as JSON/HDF5 attributes, templates with Jinja's parser, code with ``ast``.

Public API (used by the collector and parsers/timeline):

* :func:`inspect_file`, :func:`inspect_bytes` -> :class:`ScanResult`
* :func:`scan_paths` -> results for files, directories and ``mlsleuth collect`` archives
* :func:`analysis_parts` -> the :class:`Part` list the collector keeps from a large file
* :func:`inspect_parts` -> a verdict from those parts alone
"""

from mlsleuth.parsers.models.parts import analysis_parts
from mlsleuth.parsers.models.result import (
    CLEAN,
    ERROR,
    MALICIOUS,
    SUSPICIOUS,
    UNSUPPORTED,
    Finding,
    Part,
    ScanResult,
    Severity,
)
from mlsleuth.parsers.models.scan import inspect_bytes, inspect_file, inspect_parts, scan_paths

__all__ = [
    "CLEAN", "ERROR", "MALICIOUS", "SUSPICIOUS", "UNSUPPORTED", "Finding", "Part", "ScanResult", "Severity",
    "analysis_parts", "inspect_bytes", "inspect_file", "inspect_parts", "scan_paths",
]
