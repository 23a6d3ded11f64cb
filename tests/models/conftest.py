"""Shared fixtures: the generated corpus (built once per session) and its marker directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlsleuth.fixturehost.formats.corpus import Sample, build_corpus


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[Sample]]:
    root = tmp_path_factory.mktemp("model-corpus")
    markers = tmp_path_factory.mktemp("markers")
    samples = build_corpus(root / "corpus", markers)
    return root / "corpus", markers, samples

