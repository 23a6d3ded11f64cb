"""Exporters of a built timeline: CSV, XLSX, Timesketch JSONL, findings.json, Parquet."""
