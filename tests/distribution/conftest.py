"""One PyInstaller build of the field binary per test session, shared by pytest-xdist workers.

The build (packaging/build_binary.sh) takes minutes, so every worker waits on a file lock in the
session's shared temp folder and the first one builds. A failed build is recorded there too, so
the other workers fail with the same log instead of building again.

MLSLEUTH_TEST_BUILD_DIR=<dir> keeps the build in <dir> and reuses a finished one across sessions
(for iterating on these tests; CI leaves it unset and builds from the checkout every run).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class FieldBuild:
    binary: Path  # read-only copy: a folder and file nobody can write, like a responder's USB stick
    dist: Path  # build outputs: mlsleuth, mlsleuth.sha256, mlsleuth.glibc, mlsleuth.build-env.txt
    venv_python: Path  # the build venv: the same snapshot, pip-installed (not editable)
    log: Path


def _shared_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.getbasetemp()
    # under xdist each worker has basetemp/popen-gwN; their parent is the session's shared folder
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def _build(where: Path) -> None:
    env = dict(os.environ, MLSLEUTH_BUILD_DIR=str(where / "build"), MLSLEUTH_DIST_DIR=str(where / "dist"))
    env.pop("MLSLEUTH_RUNTIME_TMPDIR", None)
    res = subprocess.run(["bash", str(ROOT / "packaging" / "build_binary.sh")], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=2400)
    (where / "build.log").write_text(res.stdout + res.stderr)
    (where / ("done" if res.returncode == 0 else "failed")).write_text(str(res.returncode))


@pytest.fixture(scope="session")
def field_build(tmp_path_factory: pytest.TempPathFactory) -> FieldBuild:
    configured = os.environ.get("MLSLEUTH_TEST_BUILD_DIR")
    where = Path(configured) if configured else _shared_dir(tmp_path_factory) / "mlsleuth-field-binary"
    where.mkdir(parents=True, exist_ok=True)
    with open(where / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (where / "failed").exists() and not configured:
            pass  # another worker already tried: report its log below
        elif not (where / "done").exists():
            (where / "failed").unlink(missing_ok=True)
            _build(where)
        fcntl.flock(lock, fcntl.LOCK_UN)
    log = where / "build.log"
    if not (where / "done").exists():
        pytest.fail("field binary build failed:\n" + (log.read_text()[-6000:] if log.exists() else "no log"))
    ro_dir = where / "ro"
    ro = ro_dir / "mlsleuth"
    if not ro.exists():
        ro_dir.mkdir(exist_ok=True)
        shutil.copy2(where / "dist" / "mlsleuth", ro)
        ro.chmod(0o555)
        ro_dir.chmod(0o555)
    return FieldBuild(binary=ro, dist=where / "dist", venv_python=where / "build" / "venv" / "bin" / "python",
                      log=log)
