"""Attacker-controlled text never becomes a spreadsheet formula.

Spreadsheet programs evaluate a CSV cell that starts with = + - @ (and, in some, tab, CR or the
full-width forms of those signs, or the sign after leading spaces). Such a cell gets a leading
apostrophe, the usual neutraliser: the cell shows the text, nothing is evaluated. XLSX cells are
always written with ``write_string`` (a string cell type, never a formula) and need no prefix.
"""

from __future__ import annotations

_TRIGGERS = frozenset("=+-@\t\r\n＝＋－＠")
_SIGNS = frozenset("=+-@＝＋－＠")
EXCEL_CELL_MAX = 32_767


def neutralise(value: str) -> str:
    if not value:
        return value
    if value[0] in _TRIGGERS:
        return "'" + value
    stripped = value.lstrip(" \u00a0")
    if stripped and len(stripped) != len(value) and stripped[0] in _SIGNS:
        return "'" + value
    return value


def cell_text(value: str, limit: int = EXCEL_CELL_MAX) -> str:
    """Fit Excel's 32,767-character cell limit, saying how much was cut (CSV/JSONL keep all)."""
    if len(value) <= limit:
        return value
    keep = limit - 100  # the note below is shorter than 100 characters
    return value[:keep] + f" …[truncated {len(value) - keep} chars; full text in timeline.csv]"
