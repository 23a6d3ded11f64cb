"""Paths the fleet tests share (a plain module: `from conftest import` is ambiguous with several conftests)."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGING = REPO / "packaging"
YARA_RULES = PACKAGING / "yara" / "mlsleuth_models.yar"
# osquery's Linux table schemas: `../shared/osquery/linux_tables.json` from the repo root (CI has
# shared/ beside the clone).
OSQUERY_SCHEMA = REPO / ".." / "shared" / "osquery" / "linux_tables.json"
