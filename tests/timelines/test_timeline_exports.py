"""Exports: CSV, XLSX (also through LibreOffice), Timesketch JSONL, findings.json, Parquet.

Attacker-controlled text (commands, cell source, file names) must never become a formula.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
from pathlib import Path

import openpyxl
import pytest
import tl_scenario as sc
from mlsleuth.timelines.exports.neutralise import EXCEL_CELL_MAX, neutralise
from mlsleuth.timelines.frame import COLUMNS
from mlsleuth.timelines.run import build_timeline, run_timeline_cli
from tl_scenario import ev

from mlsleuth.events import Category, Event, write_jsonl

HOSTILE = [
    "=1+2", "+cmd|' /C calc'!A0", "-2+3", "@SUM(1,1)", "\t=1+1", "\r=1+1", " =1+1",
    '=HYPERLINK("http://203.0.113.7/x","click")', "＝1+1", "=cmd|'/c calc'!A1",
    "nul\x00byte and escape \x1b[31m", "ünïcødé 漢字 🙂",
]
SHEETS = ["Timeline", "Findings", "Models", "Packages", "Processes"]


def hostile_events() -> list[Event]:
    out = []
    for i, text in enumerate(HOSTILE):
        out.append(ev(100 + i, Category.COMMAND, text, user="mallory", cmdline=text,
                      file_path=f"/home/mallory/{text[:12]}.ipynb", evidence=f"fs/h#L{i}"))
    out.append(ev(200, Category.COMMAND, "long", cmdline="A" * (EXCEL_CELL_MAX + 10), evidence="fs/h#long"))
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, object]:
    tmp = tmp_path_factory.mktemp("tl")
    events = sc.deadbox_events() + sc.live_events() + hostile_events()
    src = tmp / "events.jsonl"
    with open(src, "w", encoding="utf-8") as fh:
        write_jsonl(events, fh)
    res = build_timeline([src], tmp / "out", parquet=True)
    return tmp, res


def test_every_output_is_written(built):
    _, res = built
    for p in (res.csv, res.xlsx, res.timesketch, res.findings_json, res.parquet):
        assert p.is_file() and p.stat().st_size > 0
    assert res.events == len(sc.deadbox_events() + sc.live_events() + hostile_events())
    assert res.hosts == ["gpu-02", "ml-ws-01"]


def test_neutralise():
    for text in HOSTILE[:10]:
        assert neutralise(text).startswith("'"), repr(text)
    for text in ("plain", "a=b", "", "1+1", "ünïcødé"):
        assert neutralise(text) == text


def test_csv_is_utf8_with_one_header_and_neutralised_cells(built):
    _, res = built
    with open(res.csv, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert tuple(rows[0]) == COLUMNS and rows.count(rows[0]) == 1
    assert len(rows) - 1 == res.events
    cmd = COLUMNS.index("cmdline")
    cmds = [r[cmd] for r in rows[1:]]
    for text in HOSTILE[:10]:
        assert "'" + text in cmds, repr(text)
    assert "ünïcødé 漢字 🙂" in cmds
    for r in rows[1:]:
        for cell in r:
            assert not cell or cell[0] not in "=+-@\t\r", cell
    times = [r[0] for r in rows[1:]]
    assert times == sorted(times) and all(t.endswith("+00:00") for t in times)


def _cells(ws) -> list:
    return [c for row in ws.iter_rows() for c in row]


def _text(value):
    """OOXML escapes control characters as _xHHHH_ (Excel shows the character; openpyxl does not
    unescape)."""
    if not isinstance(value, str):
        return value
    return re.sub(r"_x([0-9A-Fa-f]{4})_", lambda m: chr(int(m.group(1), 16)), value)


def test_xlsx_sheets_header_filter_widths_and_strings(built):
    _, res = built
    wb = openpyxl.load_workbook(res.xlsx)
    assert wb.sheetnames == SHEETS + ["Fleet"]
    ws = wb["Timeline"]
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref is not None and ws.auto_filter.ref.startswith("A1:")
    assert ws.column_dimensions["A"].width >= len("2026-11-10T09:00:00.000000+00:00")
    assert tuple(c.value for c in ws[1]) == COLUMNS
    assert ws.max_row - 1 == res.events
    values = []
    for cell in _cells(ws):
        assert cell.data_type != "f", cell.value  # never a formula
        if isinstance(cell.value, str):
            values.append(_text(cell.value))
    for text in HOSTILE:
        assert text in values, repr(text)
    times = [r[0].value for r in ws.iter_rows(min_row=2)]
    assert times == sorted(times)
    long = next(v for v in values if v.startswith("AAAA"))
    assert len(long) <= EXCEL_CELL_MAX and "truncated" in long


def test_findings_sheet_has_one_row_per_chain_step_grouped_and_highlighted(built):
    _, res = built
    ws = openpyxl.load_workbook(res.xlsx)["Findings"]
    header = [c.value for c in ws[1]]
    rows = [dict(zip(header, (c.value for c in r), strict=True)) for r in ws.iter_rows(min_row=2)]
    steps = [r for r in rows if str(r["chain_or_rule"]).startswith("chain-")]
    assert len(steps) == sum(len(c["steps"]) for c in res.chains)
    order = [r["chain_or_rule"] for r in steps]
    assert order == sorted(order, key=lambda c: [x["id"] for x in res.chains].index(c))  # grouped
    first = next(r for r in ws.iter_rows(min_row=2) if str(r[0].value).startswith("chain-"))
    assert first[0].fill.fgColor.rgb not in (None, "00000000")  # highlighted
    assert any(r["chain_or_rule"] == "model-malicious" and r["attack"] == "T1204.002" for r in rows)


def test_models_packages_processes_sheets(built):
    _, res = built
    wb = openpyxl.load_workbook(res.xlsx)
    models = [[c.value for c in r] for r in wb["Models"].iter_rows()]
    header = models[0]
    evil = next(r for r in models[1:] if r[header.index("repo")] == sc.EVIL)
    assert evil[header.index("verdict")] == "malicious" and evil[header.index("sha256")] == sc.EVIL_SHA
    assert evil[header.index("chains")].startswith("chain-")
    procs = [[c.value for c in r] for r in wb["Processes"].iter_rows()]
    assert {r[procs[0].index("pid")] for r in procs[1:]} >= {4242, 4300, 4301, 5000}


def test_row_limit_continues_on_numbered_sheets_without_dropping_rows(tmp_path):
    events = sc.deadbox_events() + sc.live_events()
    src = tmp_path / "e.jsonl"
    with open(src, "w", encoding="utf-8") as fh:
        write_jsonl(events, fh)
    res = build_timeline([src], tmp_path / "o", xlsx_max_rows=6)  # header + 5 rows per sheet
    wb = openpyxl.load_workbook(res.xlsx)
    parts = res.sheets["Timeline"]
    assert parts == ["Timeline"] + [f"Timeline {i}" for i in range(2, len(parts) + 1)]
    assert len(parts) == -(-len(events) // 5)
    seen = []
    for name in parts:
        ws = wb[name]
        assert tuple(c.value for c in ws[1]) == COLUMNS and ws.freeze_panes == "A2"
        seen += [r[COLUMNS.index("evidence")].value for r in ws.iter_rows(min_row=2)]
    assert sorted(seen) == sorted(e.evidence for e in events)


def test_findings_json_schema(built):
    _, res = built
    data = json.loads(res.findings_json.read_text(encoding="utf-8"))
    assert set(data) == {"chains", "findings"}
    assert data["chains"] and data["findings"]
    for c in data["chains"]:
        assert set(c) == {"id", "score", "summary", "steps", "verdicts"}
        for s in c["steps"]:
            assert set(s) == {"time", "kind", "path", "reason", "evidence"}
            assert s["path"].startswith("/") or ":" in s["path"]
            assert isinstance(s["evidence"], list) and s["evidence"]
    for f in data["findings"]:
        assert set(f) == {"rule", "severity", "time", "path", "summary", "evidence"}


def test_parquet_round_trip(built):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    _, res = built
    frame = pd.read_parquet(res.parquet)
    assert len(frame) == res.events and list(frame.columns) == ["timestamp_us", *COLUMNS]
    assert frame["timestamp_us"].is_monotonic_increasing


def test_timesketch_import_client_reads_the_jsonl(built):
    importer = pytest.importorskip("timesketch_import_client.importer")
    _, res = built

    class Capture(importer.ImportStreamer):
        """The client's own reader (add_file -> add_json -> _fix_dict), with the upload captured."""

        def __init__(self) -> None:
            super().__init__()
            self.rows: list[dict] = []

        def _ready(self) -> None:
            pass

        def _upload_data_buffer(self, end_stream, data_lines=None, retry_count=0):
            self.rows.extend(data_lines if data_lines is not None else self._data_lines)

    streamer = Capture()
    streamer.add_file(str(res.timesketch))
    streamer.flush()
    assert len(streamer.rows) == res.events
    for row in streamer.rows:
        assert row["message"] is not None and row["timestamp_desc"]
        assert row["datetime"].endswith("+00:00")
    chained = [r for r in streamer.rows if r.get("mlsleuth_chain")]
    assert chained and all(r["mlsleuth_chain"].startswith("chain-") for r in chained)


def test_cli_exit_codes(tmp_path, built):
    src = tmp_path / "e.jsonl"
    with open(src, "w", encoding="utf-8") as fh:
        write_jsonl(sc.deadbox_events(), fh)
    assert run_timeline_cli([src], tmp_path / "ok") == 0
    assert (tmp_path / "ok" / "findings.json").is_file()
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert run_timeline_cli([empty], tmp_path / "none") == 2
    assert run_timeline_cli([src], tmp_path / "w", window=0) == 2


@pytest.mark.slow
def test_libreoffice_opens_the_workbook(built, tmp_path):
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if not soffice:
        pytest.skip("LibreOffice (soffice) is not installed: apt-get install libreoffice-calc-nogui")
    _, res = built
    out = tmp_path / "lo"
    profile = tmp_path / "profile"
    proc = subprocess.run(
        [soffice, f"-env:UserInstallation=file://{profile}", "--headless", "--norestore",
         "--convert-to", "xlsx:Calc MS Excel 2007 XML", "--outdir", str(out), str(res.xlsx)],
        capture_output=True, text=True, timeout=300)
    converted = out / "timeline.xlsx"
    assert converted.is_file(), proc.stdout + proc.stderr
    wb = openpyxl.load_workbook(converted)
    assert wb.sheetnames[: len(SHEETS)] == SHEETS
    ws = wb["Timeline"]
    assert ws.max_row - 1 == res.events
    values = set()
    for cell in _cells(ws):
        assert cell.data_type != "f", cell.value  # LibreOffice did not turn text into formulas
        values.add(cell.value)
    assert "=1+2" in values and "@SUM(1,1)" in values
    times = [r[0].value for r in ws.iter_rows(min_row=2)]
    assert times == sorted(times) and all(isinstance(t, str) for t in times)


def test_bad_input_rows_become_parse_errors_and_the_run_goes_on(tmp_path):
    src = tmp_path / "events.jsonl"
    with open(src, "w", encoding="utf-8") as fh:
        write_jsonl(sc.deadbox_events(), fh)
        fh.write('{"timestamp": "not a time", "timestamp_desc": "x", "category": "command", "message": "m", '
                 '"source": "s"}\n')
        fh.write('{"timestamp": "2026-11-10T09:00:00", "timestamp_desc": "naive", "category": "command", '
                 '"message": "m", "source": "s"}\n')
        fh.write("{truncated\n")
    res = build_timeline([src], tmp_path / "out")
    col = res.report.tl.col
    errors = [col["evidence"][i] for i, c in enumerate(col["category"]) if c == "parse_error"]
    assert sorted(errors) == [f"{src}#L{n}" for n in (12, 13, 14)]
    assert len(res.chains) == 1
