"""timeline.parquet for analysts who outgrow a spreadsheet (needs pyarrow: the `parquet` extra)."""

from __future__ import annotations

from pathlib import Path

from mlsleuth.timelines.report import Report


class ParquetUnavailable(RuntimeError):
    pass


def write_parquet(rep: Report, path: Path) -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError as exc:
        raise ParquetUnavailable("--parquet needs pyarrow: pip install 'mlsleuth[parquet]'") from exc
    rep.tl.frame.to_parquet(path, index=False)
