"""The sdist carries packaging/ data, docs and tests; a wheel built from it carries every data file
of the packages; `pip install` and `pipx install` of that wheel give a working `mlsleuth`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# package folder in the checkout -> import path in the wheel (setup.py's mapping)
PACKAGE_DIRS = {"mlsleuth": "mlsleuth", "collector": "mlsleuth/collector", "parsers": "mlsleuth/parsers",
                "timelines": "mlsleuth/timelines"}
NOT_SOURCE = {"__pycache__", ".pytest_cache", ".ruff_cache", ".git", "build", "dist"}


def tracked_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not NOT_SOURCE & set(p.parts)
                  and p.suffix != ".pyc" and not any(part.endswith(".egg-info") for part in p.parts))


def package_data_files() -> dict[str, Path]:
    """Every non-Python file inside the package folders, by its path inside the wheel."""
    out = {}
    for folder, target in PACKAGE_DIRS.items():
        for path in tracked_files(ROOT / folder):
            if path.suffix != ".py":
                out[f"{target}/{path.relative_to(ROOT / folder).as_posix()}"] = path
    return out


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """sdist built from a copy of the checkout (setuptools writes egg-info beside the sources),
    then a wheel built from that sdist, as a downstream packager would."""
    work = tmp_path_factory.mktemp("dists")
    src = work / "src"
    shutil.copytree(ROOT, src, ignore=lambda d, names: [
        n for n in names if n in NOT_SOURCE or n.endswith(".egg-info") or n.startswith(".venv")])
    out = work / "out"
    res = subprocess.run([sys.executable, "-c", "import sys; from setuptools import build_meta; "
                          "print(build_meta.build_sdist(sys.argv[1]))", str(out)], cwd=src,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    sdist = out / res.stdout.strip().splitlines()[-1]
    with tarfile.open(sdist) as tar:
        tar.extractall(work / "unpacked", filter="data")
    unpacked = next((work / "unpacked").iterdir())
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                          "-w", str(out), str(unpacked)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    return {"sdist": sdist, "wheel": next(out.glob("mlsleuth-*.whl")), "work": work}


def sdist_names(sdist: Path) -> set[str]:
    with tarfile.open(sdist) as tar:
        return {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}


def test_sdist_carries_every_packaging_file(dists: dict[str, Path]):
    names = sdist_names(dists["sdist"])
    expected = [p.relative_to(ROOT).as_posix() for p in tracked_files(ROOT / "packaging")]
    assert "packaging/build_binary.sh" in expected and "packaging/deb/build_deb.sh" in expected
    assert [e for e in expected if e not in names] == []
    # the three deliverables responders deploy from it
    assert any(n.startswith("packaging/systemd/") and n.endswith(".service") for n in names)
    assert any(n.startswith("packaging/osquery/") for n in names)
    assert any(n.startswith("packaging/yara/") and n.endswith((".yar", ".yara")) for n in names)


def test_sdist_carries_build_files_docs_and_tests(dists: dict[str, Path]):
    names = sdist_names(dists["sdist"])
    for needed in ("setup.py", "pyproject.toml", "MANIFEST.in", "README.md", "scripts/test.sh",
                   "docs/cli.md", "docs/architecture.md"):
        assert needed in names
    assert {p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md")} <= names
    assert any(n.startswith("tests/distribution/") for n in names)
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)


def test_wheel_from_sdist_carries_every_package_data_file(dists: dict[str, Path]):
    names = set(zipfile.ZipFile(dists["wheel"]).namelist())
    data = package_data_files()
    assert any(n.startswith("mlsleuth/timelines/data/") for n in data)  # a folder without __init__.py
    assert sorted(n for n in data if n not in names) == []


def fresh_venv(where: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    return where / "bin"


@pytest.mark.slow
def test_pip_install_from_wheel(dists: dict[str, Path], tmp_path: Path):
    """Dependencies resolve from the wheel's metadata alone, package data loads from site-packages."""
    from mlsleuth import __version__

    bin_dir = fresh_venv(tmp_path / "venv")
    res = subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "-q", "--no-compile", str(dists["wheel"])],
                         capture_output=True, text=True, timeout=1200)
    assert res.returncode == 0, res.stderr[-3000:]
    run = dict(cwd=tmp_path, capture_output=True, text=True, timeout=300)  # outside the checkout
    res = subprocess.run([str(bin_dir / "mlsleuth"), "--version"], **run)
    assert res.returncode == 0 and res.stdout.startswith(f"mlsleuth, version {__version__}")
    check = ("import sys, importlib.resources as r, mlsleuth.timelines, mlsleuth.parsers\n"
             "assert 'site-packages' in mlsleuth.parsers.__file__, mlsleuth.parsers.__file__\n"
             "missing = [n for n in sys.argv[1:] if not r.files('mlsleuth').joinpath(n[9:]).is_file()]\n"
             "print(missing)\n")
    res = subprocess.run([str(bin_dir / "python"), "-I", "-c", check, *package_data_files()], **run)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"
    res = subprocess.run([str(bin_dir / "mlsleuth"), "collect", "--help"], **run)
    assert res.returncode == 0 and "--root" in res.stdout


@pytest.mark.slow
def test_pipx_install_from_wheel(dists: dict[str, Path], tmp_path: Path):
    if subprocess.run([sys.executable, "-m", "pipx", "--version"], capture_output=True).returncode != 0:
        pytest.skip("pipx not installed (pip install pipx; it is in the test extra)")
    env = dict(os.environ, PIPX_HOME=str(tmp_path / "pipx-home"), PIPX_BIN_DIR=str(tmp_path / "bin"),
               PIPX_MAN_DIR=str(tmp_path / "man"))
    res = subprocess.run([sys.executable, "-m", "pipx", "install", "--pip-args=--no-compile", str(dists["wheel"])], env=env,
                         capture_output=True, text=True, timeout=1200)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    exe = tmp_path / "bin" / "mlsleuth"
    res = subprocess.run([str(exe), "--version"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and res.stdout.startswith("mlsleuth, version ")
    assert str(tmp_path / "pipx-home") in os.path.realpath(exe)
