"""Fixtures for collector tests (helpers live in collector_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from collector_helpers import passwd


@pytest.fixture
def host(tmp_path: Path) -> Path:
    root = tmp_path / "host"
    root.mkdir()
    passwd(root, ("alice", 1000))
    return root


@pytest.fixture
def out(tmp_path: Path) -> Path:
    d = tmp_path / "out"
    d.mkdir()
    return d
