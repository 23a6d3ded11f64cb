"""`mlsleuth timeline`: load every input, build the sorted frame, correlate, run the rules and
write the exports. ``build_timeline`` is the API (demo, triage, tests)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlsleuth.timelines.correlate import Chain
from mlsleuth.timelines.exports.csv_export import write_csv
from mlsleuth.timelines.exports.findings_export import write_findings
from mlsleuth.timelines.exports.parquet_export import ParquetUnavailable, write_parquet
from mlsleuth.timelines.exports.timesketch_export import write_timesketch
from mlsleuth.timelines.exports.xlsx_export import EXCEL_MAX_ROWS, write_xlsx
from mlsleuth.timelines.frame import Columns, Timeline
from mlsleuth.timelines.load import iter_input
from mlsleuth.timelines.report import Report, build_report

from mlsleuth.events import Event, parse_error

EXIT_OK, EXIT_ERROR = 0, 2


@dataclass
class TimelineResult:
    output: Path
    events: int
    hosts: list[str]
    chains: list[dict[str, Any]]  # as in findings.json
    findings: list[dict[str, Any]]
    csv: Path
    xlsx: Path
    timesketch: Path
    findings_json: Path
    parquet: Path | None = None
    sheets: dict[str, list[str]] = field(default_factory=dict)
    chain_objects: list[Chain] = field(default_factory=list)
    report: Report | None = None
    seconds: dict[str, float] = field(default_factory=dict)


def load_timeline(inputs: list[Path], assume_tz: str | None = None) -> Timeline:
    cols = Columns()
    for path in inputs:
        cols.extend(iter_input(Path(path), assume_tz=assume_tz), default_host=Path(path).name)
    hosts = [Path(p) for p in inputs if Path(p).is_dir() or Path(p).name.endswith((".tar.gz", ".tgz"))]
    if len(hosts) > 1:
        cols.extend(fleet_package_events(hosts), default_host="fleet")
    return Timeline(cols)


def fleet_package_events(hosts: list[Path]) -> Iterator[Event]:
    """Same package and version, different file hashes on some hosts: only visible across hosts."""
    try:
        from mlsleuth.parsers.packages.fleet import fleet_findings

        yield from fleet_findings(hosts)
    except Exception as exc:  # the comparison is an extra; its failure must not cost the timeline
        yield parse_error("packages", ", ".join(map(str, hosts)), f"fleet comparison failed: {exc}")


def build_timeline(inputs: list[Path], output: Path, window: int = 600, *, parquet: bool = False,
                   assume_tz: str | None = None, xlsx_max_rows: int = EXCEL_MAX_ROWS) -> TimelineResult:
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    tl = load_timeline(list(inputs), assume_tz)
    t1 = time.perf_counter()
    rep = build_report(tl, window)
    t2 = time.perf_counter()
    res = TimelineResult(output=out, events=tl.n, hosts=rep.hosts, chains=rep.chains,
                         findings=rep.findings, csv=out / "timeline.csv", xlsx=out / "timeline.xlsx",
                         timesketch=out / "timesketch.jsonl", findings_json=out / "findings.json",
                         chain_objects=rep.chain_objs, report=rep)
    write_findings(rep, res.findings_json)
    write_csv(rep, res.csv)
    t3 = time.perf_counter()
    write_timesketch(rep, res.timesketch)
    t4 = time.perf_counter()
    res.sheets = write_xlsx(rep, res.xlsx, max_rows=xlsx_max_rows)
    t5 = time.perf_counter()
    if parquet:
        res.parquet = out / "timeline.parquet"
        write_parquet(rep, res.parquet)
    res.seconds = {"load": t1 - t0, "correlate": t2 - t1, "csv+json": t3 - t2, "timesketch": t4 - t3,
                   "xlsx": t5 - t4, "parquet": time.perf_counter() - t5}
    return res


def run_timeline_cli(inputs: list[Path], output: Path, window: int = 600, parquet: bool = False,
                     assume_tz: str | None = None) -> int:
    if window <= 0:
        print("mlsleuth timeline: --window must be a positive number of seconds", file=sys.stderr)
        return EXIT_ERROR
    try:
        res = build_timeline(inputs, output, window, parquet=parquet, assume_tz=assume_tz)
    except ParquetUnavailable as exc:
        print(f"mlsleuth timeline: {exc} (the other outputs were written to {output})", file=sys.stderr)
        return EXIT_ERROR
    print(f"{res.events} events from {len(res.hosts)} host(s): {', '.join(res.hosts) or '-'}")
    print(f"chains: {len(res.chains)}   findings: {len(res.findings)}")
    for chain in res.chains:
        print(f"  {chain['id']} [{chain['score']}] {chain['summary'][:300]}")
    for path in (res.xlsx, res.csv, res.timesketch, res.findings_json, res.parquet):
        if path is not None:
            print(f"wrote {path}")
    readable = sum(1 for c in res.report.tl.col["category"] if c != "parse_error") if res.report else 0
    if readable == 0:
        print("mlsleuth timeline: no event could be read from the inputs (see the parse errors in "
              "timeline.csv)", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK
