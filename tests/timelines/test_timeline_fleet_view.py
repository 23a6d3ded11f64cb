"""Fleet view: per model blob hash and package version, on how many hosts, rarest first."""

from __future__ import annotations

from mlsleuth.timelines.fleet import fleet_rows
from mlsleuth.timelines.frame import Columns, Timeline
from tl_scenario import ev

from mlsleuth.events import Category


def test_stacking_counts_hosts_and_lists_the_rarest_first():
    events = []
    for h in ("h1", "h2", "h3"):
        events.append(ev(1, Category.MODEL_DOWNLOAD, "common", host=h, model_repo="models/org/common",
                         file_path="/home/a/.cache/huggingface/hub/models--org--common/snapshots/x/m.bin",
                         sha256="a" * 64))
        events.append(ev(2, Category.PACKAGE_INSTALL, "numpy", host=h, package="numpy", version="2.1.0"))
    events.append(ev(3, Category.MODEL_DOWNLOAD, "rare", host="h2", model_repo="models/evil/rare",
                     file_path="/home/a/.cache/huggingface/hub/models--evil--rare/snapshots/x/p.bin",
                     sha256="b" * 64))
    events.append(ev(4, Category.PACKAGE_INSTALL, "numpy", host="h3", package="NumPy", version="2.1.0"))
    events.append(ev(5, Category.PACKAGE_INSTALL, "numpy", host="h1", package="numpy", version="1.26.4"))
    cols = Columns()
    cols.extend(events)
    rows = fleet_rows(Timeline(cols))
    counts = [(r["kind"], r["key"], r["host_count"]) for r in rows]
    assert counts == [
        ("model_blob", "b" * 64, 1), ("package", "numpy==1.26.4", 1),
        ("model_blob", "a" * 64, 3), ("package", "numpy==2.1.0", 3),
    ]
    assert rows[0]["hosts"] == "h2" and rows[0]["name"] == "evil/rare:p.bin"
