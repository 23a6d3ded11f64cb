"""Shared fixtures for the fleet tests (osquery packs and extension, YARA, Semgrep, Velociraptor)."""

from __future__ import annotations

import pytest
from fleet_paths import OSQUERY_SCHEMA, PACKAGING, REPO, YARA_RULES  # noqa: F401


@pytest.fixture(scope="session")
def model_samples(tmp_path_factory: pytest.TempPathFactory):
    from fleet_samples import build_samples

    base = tmp_path_factory.mktemp("fleet-samples")
    marker = base / "EXECUTED-MARKER"
    samples = build_samples(base / "models", marker)
    yield samples
    assert not marker.exists(), "a model sample was executed"
