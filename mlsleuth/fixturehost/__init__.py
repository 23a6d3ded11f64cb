"""Synthetic compromised ML host trees: the project's ground truth for tests and `mlsleuth demo`.

``build_host(root, variant)`` writes a host under ``root`` (``root/etc``, ``root/home/alice`` ...)
with realistic formats and times, and returns :class:`Planted`, the exact record of what it
planted: counts per source, the attack chains with their steps, decoys that must not be linked,
and the planted secrets. Nothing written is ever imported, unpickled or run. The story is told
in docs/fixture-host.md.
"""

from __future__ import annotations

from pathlib import Path

from mlsleuth.fixturehost.planted import Chain, Decoy, Planted, Secret, Step

VARIANTS = ("basic", "rich")

__all__ = ["VARIANTS", "Chain", "Decoy", "Planted", "Secret", "Step", "build_host", "write_demo"]


def build_host(root: Path, variant: str = "basic") -> Planted:
    """Write the fixture host under ``root`` (created if needed; must hold no earlier host)."""
    from mlsleuth.fixturehost.story import build

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    if any(root.iterdir()):
        raise FileExistsError(f"{root} is not empty: build the fixture host into a new folder")
    return build(root, variant)


def write_demo(root: Path) -> Planted:
    """The host `mlsleuth demo` collects: the basic variant."""
    return build_host(root, "basic")
