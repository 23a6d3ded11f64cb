"""timeline.csv: UTF-8, one header, the Timeline sheet's columns; formula triggers neutralised."""

from __future__ import annotations

import csv
from pathlib import Path

from mlsleuth.timelines.exports.neutralise import neutralise
from mlsleuth.timelines.frame import COLUMNS
from mlsleuth.timelines.report import Report


def write_csv(rep: Report, path: Path) -> int:
    cols = [rep.tl.col[name] for name in COLUMNS]
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        for row in range(rep.tl.n):
            w.writerow([neutralise(v) if isinstance(v, str) else ("" if v is None else v)
                        for v in (c[row] for c in cols)])
    return rep.tl.n
