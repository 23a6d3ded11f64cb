"""Helpers shared by tests/models (imported by name: tests/ has no packages)."""

from __future__ import annotations

from pathlib import Path


def no_markers(markers: Path) -> list[str]:
    """Names of marker files: any entry means some payload actually ran."""
    return sorted(p.name for p in markers.iterdir())
