"""timesketch.jsonl: one ``Event.to_timesketch()`` row per event (the schema owns the mapping),
plus ``mlsleuth_chain`` on rows that belong to a chain. Timesketch caps keyword fields at
32,766 bytes: longer strings are cut with a note (timeline.csv keeps them whole)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlsleuth.timelines.report import Report

KEYWORD_MAX_BYTES = 32_766


def _fit(value: Any) -> Any:
    if isinstance(value, str) and len(value) > KEYWORD_MAX_BYTES // 4:
        raw = value.encode("utf-8")
        if len(raw) > KEYWORD_MAX_BYTES:
            note = f" …[truncated {len(raw)} bytes]"
            cut = raw[: KEYWORD_MAX_BYTES - len(note.encode("utf-8"))].decode("utf-8", "ignore")
            return cut + note
    return value


def write_timesketch(rep: Report, path: Path) -> int:
    with open(path, "w", encoding="utf-8") as fh:
        for row in range(rep.tl.n):
            d = rep.tl.event(row).to_timesketch()
            chains = rep.row_chains.get(row)
            if chains:
                d["mlsleuth_chain"] = ", ".join(chains)
            fh.write(json.dumps({k: _fit(v) for k, v in d.items()}, ensure_ascii=False, default=str))
            fh.write("\n")
    return rep.tl.n
