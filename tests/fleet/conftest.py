"""Shared fixtures for the fleet tests (osquery packs and extension, YARA, Semgrep, Velociraptor)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGING = REPO / "packaging"
YARA_RULES = PACKAGING / "yara" / "mlsleuth_models.yar"
# osquery's Linux table schemas: `../shared/osquery/linux_tables.json` from the repo root (CI has
# shared/ beside the clone).
OSQUERY_SCHEMA = REPO / ".." / "shared" / "osquery" / "linux_tables.json"


@pytest.fixture(scope="session")
def model_samples(tmp_path_factory: pytest.TempPathFactory):
    from fleet_samples import build_samples

    base = tmp_path_factory.mktemp("fleet-samples")
    marker = base / "EXECUTED-MARKER"
    samples = build_samples(base / "models", marker)
    yield samples
    assert not marker.exists(), "a model sample was executed"
