from __future__ import annotations

import shutil
from pathlib import Path

import pkg_hosts as hosts
import pytest


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real wheels of the tiny test projects, built once per session with `pip wheel`."""
    return hosts.build_wheels(tmp_path_factory.mktemp("wheels"))


@pytest.fixture(scope="session")
def pristine(tmp_path_factory: pytest.TempPathFactory, wheels: Path) -> Path:
    root = tmp_path_factory.mktemp("pristine") / "root"
    hosts.build_clean_host(root, wheels)
    return root


@pytest.fixture
def host(pristine: Path, tmp_path: Path) -> Path:
    """A private copy of the clean host (times kept) for a test to plant things in."""
    root = tmp_path / "root"
    shutil.copytree(pristine, root, symlinks=True)
    return root


@pytest.fixture
def venv(host: Path) -> Path:
    return host / hosts.VENV_REL


@pytest.fixture
def sp(venv: Path) -> Path:
    return hosts.site(venv)
