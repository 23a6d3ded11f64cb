"""The merged timeline: events streamed into columns, sorted once, held as a pandas frame.

Events are never kept as objects: each one is unpacked into column lists as it arrives, which
keeps peak memory at roughly one copy of the data. The correlator reads the same sorted column
lists (plain list indexing is much faster than DataFrame row access); exports read the frame.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mlsleuth.events import ENTITY_FIELDS, Event, from_epoch_us, iso, to_epoch_us

# Column order of timeline.csv, the Timeline sheet and Parquet (timestamp_us only in Parquet).
COLUMNS: tuple[str, ...] = (
    "datetime", "timestamp_desc", "timestamp_quality", "host", "user", "category", "source",
    "message", *ENTITY_FIELDS, "evidence", "extra",
)
INT_COLUMNS = frozenset({"pid", "ppid"})


@dataclass
class Columns:
    """Column-wise accumulator of events (one list per field)."""

    ts: list[int] = field(default_factory=list)
    data: dict[str, list] = field(default_factory=lambda: {c: [] for c in COLUMNS})

    def add(self, ev: Event, default_host: str = "") -> None:
        d = self.data
        self.ts.append(to_epoch_us(ev.timestamp))
        d["datetime"].append(iso(ev.timestamp))
        d["timestamp_desc"].append(ev.timestamp_desc)
        d["timestamp_quality"].append(str(ev.timestamp_quality))
        d["host"].append(ev.host or default_host)
        d["user"].append(ev.user)
        d["category"].append(str(ev.category))
        d["source"].append(ev.source)
        d["message"].append(ev.message)
        for name in ENTITY_FIELDS:
            d[name].append(_typed(name, getattr(ev, name)))
        d["evidence"].append(ev.evidence)
        d["extra"].append(json.dumps(ev.extra, ensure_ascii=False, default=str, sort_keys=True)
                          if ev.extra else "")

    def extend(self, events: Iterable[Event], default_host: str = "") -> int:
        n = 0
        for ev in events:
            self.add(ev, default_host)
            n += 1
        return n

    def __len__(self) -> int:
        return len(self.ts)


def _typed(name: str, value: object) -> object:
    """pid/ppid as int, every other entity as str: sources disagree (osquery gives strings)."""
    if value is None or value == "":
        return None
    if name in INT_COLUMNS:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        try:
            return int(str(value).strip())
        except ValueError:
            return None
    return value if isinstance(value, str) else str(value)


class Timeline:
    """Sorted columns (``col[name][row]``) plus the pandas frame built from them."""

    def __init__(self, cols: Columns) -> None:
        ts = np.asarray(cols.ts, dtype=np.int64)
        order = np.argsort(ts, kind="stable")  # stable: equal times keep input order
        self.ts: np.ndarray = ts[order]
        idx = order.tolist()
        self.col: dict[str, list] = {name: [values[i] for i in idx] for name, values in cols.data.items()}
        cols.data.clear()
        cols.ts.clear()
        self.n = len(idx)
        self._frame: pd.DataFrame | None = None

    def __len__(self) -> int:
        return self.n

    @property
    def frame(self) -> pd.DataFrame:
        """The timeline as a DataFrame (built on first use); pid/ppid as nullable integers."""
        if self._frame is None:
            data: dict[str, object] = {"timestamp_us": self.ts}
            for name in COLUMNS:
                values = self.col[name]
                if name in INT_COLUMNS:
                    data[name] = pd.array([v if isinstance(v, int) else None for v in values], dtype="Int64")
                else:
                    data[name] = pd.array(values, dtype="string")
            self._frame = pd.DataFrame(data)
        return self._frame

    def value(self, name: str, row: int):
        return self.col[name][row]

    def extra(self, row: int) -> dict:
        raw = self.col["extra"][row]
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    def event(self, row: int) -> Event:
        """The row back as an Event (for Timesketch's mapping, which the schema owns)."""
        c = self.col
        return Event(
            timestamp=from_epoch_us(int(self.ts[row])),
            timestamp_desc=c["timestamp_desc"][row],
            source=c["source"][row],
            category=c["category"][row],
            message=c["message"][row],
            timestamp_quality=c["timestamp_quality"][row],
            host=c["host"][row],
            user=c["user"][row],
            evidence=c["evidence"][row],
            extra=self.extra(row),
            **{name: c[name][row] for name in ENTITY_FIELDS},
        )
