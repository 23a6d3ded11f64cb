"""The three root folders install as subpackages of one import package, never as top-level names."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(out), str(ROOT)], check=True)
    return next(out.glob("mlsleuth-*.whl"))


def test_wheel_holds_only_the_mlsleuth_package(wheel: Path):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"mlsleuth", next(t for t in tops if t.endswith(".dist-info"))}
    for sub in ("collector", "parsers", "timelines"):
        assert f"mlsleuth/{sub}/__init__.py" in names
    assert any(n.startswith("mlsleuth/artifacts/") and n.endswith(".yaml") for n in names)


def test_installed_wheel_imports_as_mlsleuth_subpackages_only(wheel: Path, tmp_path: Path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
                    str(wheel)], check=True)
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import mlsleuth.collector, mlsleuth.parsers, "
            "mlsleuth.timelines; print(mlsleuth.collector.__file__)\n"
            "try:\n import collector\nexcept ImportError:\n print('no-top-level')\n")
    # run outside the checkout so the repository folders are not on sys.path
    res = subprocess.run([sys.executable, "-I", "-c", code, str(target)], cwd=tmp_path,
                         capture_output=True, text=True, check=True)
    assert str(target) in res.stdout
    assert "no-top-level" in res.stdout
