"""Package-integrity benchmark: RECORD verification of a real environment built with pip, against
``pip check`` and plain hashing of the same files, in one run.

* env: ``python -m venv --without-pip`` + ``pip --python <venv> install`` of a package set from an
  index (default: the local mirror ``file:///opt/pypi/simple`` when present, else pip's configured
  index). ``MLSLEUTH_BENCH_PKG_LIST`` names the packages; ``MLSLEUTH_BENCH_PKG_SET=large`` adds the
  scientific stack (numpy, scipy, pandas, scikit-learn, sympy, transformers ...);
  ``MLSLEUTH_BENCH_PKG_SITE`` verifies an existing site-packages instead of building one.
* mlsleuth: ``analyze_view`` of the tree (discovery, METADATA/RECORD parsing, every hashed RECORD
  entry verified, package folders searched for unlisted files), curated advisories off.
* baselines: SHA-256 of the same RECORD-listed files with ``hashlib`` (1 MiB reads, one thread) and
  with coreutils ``sha256sum`` (one process over the file list);
* peer: ``pip check`` (dependency consistency of the same environment: what pip offers).

The files are read once before timing (warm page cache for everybody); each tool's best of
``MLSLEUTH_BENCH_PKG_REPEAT`` runs (default 3) is reported. Assertions are on ratios only.

Run: ``pytest tests/bench/bench_packages.py -m bench -s`` or ``python tests/bench/bench_packages.py``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

SMALL = ("requests urllib3 idna certifi charset-normalizer six packaging attrs click jinja2 markupsafe "
         "pyyaml rich pygments markdown-it-py mdurl tqdm python-dateutil pytz tzdata typing-extensions "
         "filelock fsspec").split()
LARGE = "numpy scipy pandas scikit-learn sympy mpmath networkx transformers tokenizers safetensors".split()
MIRROR = Path("/opt/pypi/simple")
REPEAT = int(os.environ.get("MLSLEUTH_BENCH_PKG_REPEAT", "3"))


def _pip_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PIP_CONFIG_FILE",)}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def build_env(base: Path) -> tuple[Path, Path]:
    """(host root, site-packages) of a fresh venv with the benchmark's package set."""
    packages = os.environ.get("MLSLEUTH_BENCH_PKG_LIST", "").split() or list(SMALL)
    if os.environ.get("MLSLEUTH_BENCH_PKG_SET") == "large":
        packages += LARGE
    root = base / "root"
    venv = root / "opt/bench"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    index = os.environ.get("MLSLEUTH_BENCH_PKG_INDEX") or (MIRROR.as_uri() if MIRROR.is_dir() else "")
    cmd = [sys.executable, "-m", "pip", "--python", str(venv / "bin/python"), "install", "-q",
           "--no-warn-script-location", "--only-binary", ":all:", *(["--index-url", index] if index else []),
           *packages]
    proc = subprocess.run(cmd, env=_pip_env(), capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        pytest.skip(f"could not build the environment with pip: {proc.stderr.strip()[-300:]}")
    sp = next((venv / "lib").glob("python3*/site-packages"))
    return root, sp


def record_files(sp: Path) -> list[Path]:
    from mlsleuth.parsers.packages.record import parse_record

    files: list[Path] = []
    for rec in sorted(sp.glob("*.dist-info/RECORD")):
        for e in parse_record(rec.read_bytes()).entries:
            if e.digest:
                p = Path(os.path.normpath(sp / e.path))
                if p.is_file():
                    files.append(p)
    return files


def hash_plain(files: list[Path]) -> int:
    total = 0
    for p in files:
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
                total += len(chunk)
    return total


def hash_coreutils(files: list[Path], tmp: Path) -> None:
    listing = tmp / "files.txt"
    listing.write_bytes(b"\0".join(os.fsencode(p) for p in files))
    with open(listing, "rb") as fh:
        subprocess.run(["xargs", "-0", "sha256sum", "--"], stdin=fh, stdout=subprocess.DEVNULL, check=True,
                       timeout=3600)


def run_mlsleuth(root: Path) -> tuple[int, int, int]:
    from mlsleuth.parsers.packages.analyze import analyze_view
    from mlsleuth.parsers.packages.view import TreeView

    report = analyze_view(TreeView(root), curated=False)
    return report.stats["distributions"], report.stats["files_checked"], len(report.findings)


def pip_check(venv_python: Path | None) -> None:
    cmd = [sys.executable, "-m", "pip"] + (["--python", str(venv_python)] if venv_python else []) + ["check"]
    subprocess.run(cmd, env=_pip_env(), capture_output=True, timeout=3600)


def best(fn, repeat: int = REPEAT) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def run_benchmark(tmp: Path) -> dict[str, object]:
    site = os.environ.get("MLSLEUTH_BENCH_PKG_SITE")
    if site:
        sp = Path(site).resolve()
        root = sp.parents[3] if len(sp.parents) > 3 else sp  # <prefix>/lib/pythonX.Y/site-packages
        venv_python = None
    else:
        root, sp = build_env(tmp)
        venv_python = sp.parents[2] / "bin/python"
    files = record_files(sp)
    nbytes = hash_plain(files)  # warm the page cache for every tool
    dists, checked, findings = run_mlsleuth(root)
    res: dict[str, object] = {"distributions": dists, "files": len(files), "files_checked": checked,
                              "bytes": nbytes, "findings": findings}
    res["hashlib_s"] = best(lambda: hash_plain(files))
    res["sha256sum_s"] = best(lambda: hash_coreutils(files, tmp)) if shutil.which("sha256sum") else None
    res["mlsleuth_s"] = best(lambda: run_mlsleuth(root))
    res["pip_check_s"] = best(lambda: pip_check(venv_python))
    return res


def report(res: dict[str, object]) -> str:
    lines = [f"{res['distributions']} distributions, {res['files']} RECORD files with a hash "
             f"({int(res['bytes']) / 2**20:.1f} MiB), {res['files_checked']} entries checked by mlsleuth, {res['findings']} findings"]
    lines.append(f"{'tool':<28}{'wall s':>10}{'files/s':>12}{'ratio':>10}   (files/s: RECORD files with a hash)")
    base = float(res["hashlib_s"])  # type: ignore[arg-type]
    for label, key, count in (("mlsleuth packages (verify)", "mlsleuth_s", res["files"]),
                              ("plain hashlib sha256", "hashlib_s", res["files"]),
                              ("coreutils sha256sum", "sha256sum_s", res["files"]),
                              ("pip check", "pip_check_s", None)):
        t = res.get(key)
        if t is None:
            lines.append(f"{label:<28}{'skipped':>10}")
            continue
        rate = f"{int(count) / float(t):,.0f}" if count else "-"  # type: ignore[arg-type]
        lines.append(f"{label:<28}{float(t):>10.3f}{rate:>12}{float(t) / base:>9.2f}x")  # type: ignore[arg-type]
    return "\n".join(lines)


@pytest.mark.bench
def test_package_integrity_benchmark() -> None:
    with tempfile.TemporaryDirectory(prefix="mlsleuth-bench-pkg-") as tmp:
        res = run_benchmark(Path(tmp))
    print("\n" + report(res))
    assert res["findings"] == 0, "a freshly built environment must verify clean"
    # mlsleuth parses every RECORD and METADATA and walks the package folders on top of hashing:
    # it may cost a few times plain hashing, never an order of magnitude more.
    assert float(res["mlsleuth_s"]) <= 10 * float(res["hashlib_s"]) + 0.5  # type: ignore[arg-type]


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="mlsleuth-bench-pkg-") as tmp:
        print(report(run_benchmark(Path(tmp))))
