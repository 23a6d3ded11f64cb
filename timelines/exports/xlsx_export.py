"""timeline.xlsx with XlsxWriter: Timeline, Findings, Models, Packages, Processes (+ Fleet).

Every text cell goes through ``write_string`` (a string cell is never a formula, whatever it
starts with); constant-memory mode streams rows to disk so a million rows do not sit in RAM.
Past Excel's row limit a sheet continues on "Timeline 2", "Timeline 3", ... with its header:
rows are never dropped. Times are ISO 8601 UTC strings, which sort correctly as text in Excel
and LibreOffice (one fixed format, one zone).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import xlsxwriter
from mlsleuth.timelines.exports import sheets
from mlsleuth.timelines.exports.neutralise import cell_text
from mlsleuth.timelines.frame import COLUMNS
from mlsleuth.timelines.report import Report

EXCEL_MAX_ROWS = 1_048_576
MAX_WIDTH = 80
WIDTH_SAMPLE = 200  # rows looked at to size columns (sizing must precede streaming)
SEVERITY_FILL = {"critical": "#F4B6B6", "high": "#F8CBAD", "medium": "#FFE699", "low": "#E2EFDA",
                 "info": "#EDEDED"}
CHAIN_FILLS = ("#FCE4D6", "#DDEBF7")


def _timeline_rows(rep: Report) -> Iterator[list[Any]]:
    cols = [rep.tl.col[name] for name in COLUMNS]
    for row in range(rep.tl.n):
        yield [c[row] for c in cols]


class _SheetWriter:
    """Writes one logical table over as many sheets as the row limit requires."""

    def __init__(self, wb: xlsxwriter.Workbook, name: str, columns: tuple[str, ...],
                 max_rows: int, header_fmt: Any) -> None:
        self.wb, self.name, self.columns, self.max_rows = wb, name, columns, max_rows
        self.header_fmt = header_fmt
        self.sheets: list[str] = []
        self.rows_written = 0

    def write(self, rows: Iterable[list[Any]], fmt_of: Any = None, level_of: Any = None) -> int:
        it = iter(rows)
        sample: list[list[Any]] = []
        for r in it:
            sample.append(r)
            if len(sample) >= WIDTH_SAMPLE:
                break
        widths = [max(len(c) + 2, 10) for c in self.columns]
        for r in sample:
            for i, v in enumerate(r):
                widths[i] = max(widths[i], min(MAX_WIDTH, len(str(v).split("\n", 1)[0]) + 2 if v is not None else 0))
        ws = None
        r_idx = 0
        per_sheet = self.max_rows - 1  # the header takes a row

        def new_sheet() -> Any:
            n = len(self.sheets) + 1
            title = self.name if n == 1 else f"{self.name} {n}"
            ws = self.wb.add_worksheet(title)
            self.sheets.append(title)
            for i, w in enumerate(widths):
                ws.set_column(i, i, w)
            for i, c in enumerate(self.columns):
                ws.write_string(0, i, c, self.header_fmt)
            ws.freeze_panes(1, 0)
            return ws

        def close_sheet(ws: Any, n_rows: int) -> None:
            ws.autofilter(0, 0, max(n_rows, 0), len(self.columns) - 1)

        def all_rows() -> Iterator[list[Any]]:
            yield from sample
            yield from it

        ws = new_sheet()
        for values in all_rows():
            if r_idx >= per_sheet:
                close_sheet(ws, r_idx)
                ws = new_sheet()
                r_idx = 0
            r_idx += 1
            fmt = fmt_of(values) if fmt_of else None
            if level_of:
                level = level_of(values)
                if level:
                    ws.set_row(r_idx, None, None, {"level": level})
            for i, v in enumerate(values):
                if v is None or v == "":
                    if fmt is not None:
                        ws.write_blank(r_idx, i, None, fmt)
                    continue
                if isinstance(v, bool):
                    ws.write_string(r_idx, i, "true" if v else "false", fmt)
                elif isinstance(v, int | float):
                    ws.write_number(r_idx, i, v, fmt)
                else:
                    ws.write_string(r_idx, i, cell_text(str(v)), fmt)
            self.rows_written += 1
        close_sheet(ws, r_idx)
        return self.rows_written


def write_xlsx(rep: Report, path: Path, max_rows: int = EXCEL_MAX_ROWS) -> dict[str, list[str]]:
    """Write the workbook; returns {table: [sheet names]} so callers can say where rows went."""
    wb = xlsxwriter.Workbook(str(path), {
        "constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
        "strings_to_numbers": False,
    })
    header = wb.add_format({"bold": True, "bg_color": "#D9D9D9", "border": 1})
    wrap = {"text_wrap": False, "valign": "top"}
    sev = {k: wb.add_format({**wrap, "bg_color": v}) for k, v in SEVERITY_FILL.items()}
    chain_fmt = [wb.add_format({**wrap, "bg_color": c}) for c in CHAIN_FILLS]
    chain_bold = [wb.add_format({**wrap, "bg_color": c, "bold": True}) for c in CHAIN_FILLS]
    placed: dict[str, list[str]] = {}

    tw = _SheetWriter(wb, "Timeline", COLUMNS, max_rows, header)
    tw.write(_timeline_rows(rep))
    placed["Timeline"] = tw.sheets

    chain_index = {c["id"]: i for i, c in enumerate(rep.chains)}

    def findings_fmt(values: list[Any]) -> Any:
        cid = values[0]
        if cid in chain_index:
            i = chain_index[cid] % 2
            return chain_bold[i] if values[3] == 1 else chain_fmt[i]
        return sev.get(values[1])

    def findings_level(values: list[Any]) -> int:
        return 1 if values[0] in chain_index and values[3] != 1 else 0

    columns, rows = sheets.findings_table(rep)
    fw = _SheetWriter(wb, "Findings", columns, max_rows, header)
    fw.write(rows, findings_fmt, findings_level)
    placed["Findings"] = fw.sheets

    tables = [("Models", sheets.models_table(rep)), ("Packages", sheets.packages_table(rep)),
              ("Processes", sheets.processes_table(rep))]
    if rep.fleet:
        tables.append(("Fleet", sheets.fleet_table(rep)))
    for name, (columns, rows) in tables:
        w = _SheetWriter(wb, name, columns, max_rows, header)
        w.write(rows)
        placed[name] = w.sheets
    wb.close()
    return placed
