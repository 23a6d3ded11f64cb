"""The single-file field binary: builds from the checkout with one command, stays within its size
budget, collects and scans exactly like the pip-installed package, runs from a read-only location
with a noexec /tmp (given TMPDIR), leaves nothing behind, and names its own SHA-256.

Slow (one PyInstaller build per session, see conftest.py); CI still runs it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import FieldBuild

ROOT = Path(__file__).resolve().parents[2]

# Budget for the field binary (decimal MB); docs/distribution.md says why.
MAX_BINARY_MB = 45

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(sys.platform != "linux", reason="the field binary is Linux-only")]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_binary(build: FieldBuild, *args: str, unpack: Path, cwd: Path, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, TMPDIR=str(unpack))
    return subprocess.run([str(build.binary), *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=600, **kw)


def run_package(build: FieldBuild, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The same source snapshot, pip-installed (not editable) in the build's venv."""
    return subprocess.run([str(build.venv_python), "-m", "mlsleuth", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600)


def archive_member(archive: Path, name: str) -> bytes:
    with tarfile.open(archive, "r:gz") as tar:
        fh = tar.extractfile(name)
        assert fh is not None, name
        return fh.read()


def manifest_rows(archive: Path) -> dict[str, dict]:
    rows = [json.loads(line) for line in archive_member(archive, "manifest.jsonl").decode().splitlines()
            if line.strip()]
    return {r["path"]: r for r in rows}


# Reading a symlink (readlink) sets its atime, so a second collection of the same tree sees later
# atimes on links; the kernel does that, not the tool. Everything else must agree.
VOLATILE = {"atime"}


def comparable(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in VOLATILE}


@pytest.fixture
def unpack(tmp_path: Path) -> Path:
    """PyInstaller's unpack folder for one test; must be empty again after every run."""
    path = tmp_path / "unpack"
    path.mkdir()
    return path


def test_build_outputs_name_the_binary(field_build: FieldBuild):
    binary = field_build.dist / "mlsleuth"
    recorded = (field_build.dist / "mlsleuth.sha256").read_text().split()
    assert recorded == [sha256(binary), "mlsleuth"]  # `sha256sum -c` format
    assert re.fullmatch(r"\d+\.\d+\n", (field_build.dist / "mlsleuth.glibc").read_text())
    pins = (field_build.dist / "mlsleuth.build-env.txt").read_text().splitlines()
    assert any(p.startswith("h5py==") for p in pins) and any(p.startswith("pyinstaller==") for p in pins)


def test_size_within_budget(field_build: FieldBuild):
    size_mb = field_build.binary.stat().st_size / 1e6
    assert size_mb < MAX_BINARY_MB, f"{size_mb:.1f} MB > {MAX_BINARY_MB} MB: see docs/distribution.md"


def test_contents_match_the_field_choice(field_build: FieldBuild):
    """What docs/distribution.md promises is in (and out) is what PyInstaller bundled."""
    listing = subprocess.run([str(field_build.venv_python), "-m", "PyInstaller.utils.cliutils.archive_viewer",
                              "--recursive", "--brief", str(field_build.dist / "mlsleuth")],
                             capture_output=True, text=True, check=True).stdout
    names = {line.strip() for line in listing.splitlines() if line.startswith(" ")}
    assert len(names) > 300, listing[:2000]

    def has(prefix: str) -> bool:
        return any(n == prefix or n.startswith(prefix + ".") or n.startswith(prefix + "/") for n in names)

    for needed in ("mlsleuth.collector.collect", "mlsleuth.collector.verify", "mlsleuth.parsers.models",
                   "mlsleuth.collector.watch.agent", "mlsleuth.selfinfo", "h5py", "numpy", "psutil",
                   "pyinotify", "yaml", "mlsleuth/artifacts/model_files.yaml"):
        assert has(needed), f"{needed} missing from the field binary"
    for left_out in ("pandas", "xlsxwriter", "mlsleuth.timelines", "huggingface_hub", "hf_xet", "pyarrow"):
        assert not has(left_out), f"{left_out} should stay out of the field binary"


def test_version_prints_own_sha256(field_build: FieldBuild, unpack: Path, tmp_path: Path):
    from mlsleuth import __version__

    res = run_binary(field_build, "--version", unpack=unpack, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == f"mlsleuth, version {__version__}"
    assert f"sha256: {sha256(field_build.binary)}" in lines
    assert f"executable: {field_build.binary}" in lines
    assert list(unpack.iterdir()) == []


def test_collect_matches_pip_installed_package(field_build: FieldBuild, unpack: Path, tmp_path: Path):
    from mlsleuth.fixturehost import build_host

    host = tmp_path / "host"
    build_host(host, "basic")
    by_binary, by_package = tmp_path / "bin.tar.gz", tmp_path / "pkg.tar.gz"
    res = run_binary(field_build, "collect", "--root", str(host), "--output", str(by_binary), "--quiet",
                     "--no-live", unpack=unpack, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    res = run_package(field_build, "collect", "--root", str(host), "--output", str(by_package), "--quiet",
                      "--no-live", cwd=tmp_path)
    assert res.returncode == 0, res.stderr

    got, want = manifest_rows(by_binary), manifest_rows(by_package)
    assert len(got) > 20
    assert sorted(got) == sorted(want)
    assert {p: comparable(r) for p, r in got.items()} == {p: comparable(r) for p, r in want.items()}
    summaries = [json.loads(archive_member(a, "summary.json")) for a in (by_binary, by_package)]
    for summary in summaries:  # the run's own facts, not the host's
        for key in ("archive", "duration_s"):
            summary.pop(key)
    assert summaries[0] == summaries[1]
    # the binary verifies its own archive, and PyInstaller cleaned its unpack folder after each run
    res = run_binary(field_build, "verify", str(by_binary), unpack=unpack, cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert list(unpack.iterdir()) == []


def test_collection_log_names_the_binary(field_build: FieldBuild, unpack: Path, tmp_path: Path):
    """The issue's "prints its own SHA-256 and version in the collection log" (mlsleuth.selfinfo)."""
    from mlsleuth import __version__
    from mlsleuth.fixturehost import build_host

    host = tmp_path / "host"
    build_host(host, "basic")
    out = tmp_path / "bin.tar.gz"
    res = run_binary(field_build, "collect", "--root", str(host), "--output", str(out), "--quiet", "--no-live",
                     unpack=unpack, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    log = [json.loads(line) for line in archive_member(out, "collection.log").decode().splitlines() if line]
    start = next(e for e in log if e["event"] == "collection_start")
    assert __version__ in json.dumps(start)
    assert sha256(field_build.binary) in json.dumps(start), "collection_start lacks selfinfo.describe()"


def test_scan_matches_pip_installed_package(field_build: FieldBuild, unpack: Path, tmp_path: Path):
    """Every model format of the scanner corpus, .h5 through h5py included, judged identically;
    no payload runs inside the frozen build either."""
    from mlsleuth.fixturehost.formats.corpus import build_corpus

    markers = tmp_path / "markers"
    samples = build_corpus(tmp_path / "corpus", markers)
    assert any(s.name.endswith(".h5") for s in samples)
    by_binary = run_binary(field_build, "scan", "--format", "json", "corpus", unpack=unpack, cwd=tmp_path)
    by_package = run_package(field_build, "scan", "--format", "json", "corpus", cwd=tmp_path)
    assert by_binary.returncode == by_package.returncode == 1  # the corpus holds malicious samples
    assert json.loads(by_binary.stdout) == json.loads(by_package.stdout)
    assert "hdf5-unsupported" not in by_binary.stdout
    assert list(markers.iterdir()) == []
    assert list(unpack.iterdir()) == []


@pytest.mark.parametrize("command", [
    ["timeline", ".", "--output", "out"],
    ["demo", "--output", "demo-out"],
    ["triage", "--root", ".", "--output", "triage-out", "--no-demo"],
])
def test_left_out_commands_refuse_clearly(field_build: FieldBuild, unpack: Path, tmp_path: Path, command):
    res = run_binary(field_build, *command, unpack=unpack, cwd=tmp_path)
    assert res.returncode == 2
    assert "field binary" in res.stderr and "Traceback" not in res.stderr
    assert list(unpack.iterdir()) == []


def test_stopped_agent_leaves_nothing_behind(field_build: FieldBuild, unpack: Path, tmp_path: Path):
    """systemd stops `watch` with SIGTERM: the bootloader passes it on, then removes its unpack dir."""
    journal = tmp_path / "journal"
    (tmp_path / "empty-root").mkdir()
    proc = subprocess.Popen([str(field_build.binary), "watch", "--journal", str(journal), "--root",
                             str(tmp_path / "empty-root")], env=dict(os.environ, TMPDIR=str(unpack),
                            MLSLEUTH_WATCH_DEFAULTS="0"), cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while not list(journal.glob("journal-*.jsonl")) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            time.sleep(0.2)
        assert list(unpack.iterdir()), "the bootloader should be unpacked while the agent runs"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert list(unpack.iterdir()) == []


NAMESPACE_SCRIPT = r"""
set -u
# exit 77: this machine cannot build the scene (the test skips); anything else is the binary's result
mount --make-rprivate / || exit 77
base=""
for dir in /mnt /media /srv /opt; do [ -d "$dir" ] && base=$dir && break; done
[ -n "$base" ] || exit 77
# keep the real /tmp (where pytest's folders live) reachable, then hide it behind a noexec tmpfs
mount -t tmpfs tmpfs "$base" || exit 77
mkdir "$base/real-tmp" && mount --rbind /tmp "$base/real-tmp" || exit 77
mount -t tmpfs -o noexec,nosuid,nodev tmpfs /tmp || exit 77
BIN_DIR="$base/real-tmp/${RO_DIR#/tmp/}"
WORK="$base/real-tmp/${WORK_DIR#/tmp/}"
# the binary's folder read-only, as on a write-protected stick or an ro mount
mount --bind "$BIN_DIR" "$BIN_DIR" && mount -o remount,bind,ro "$BIN_DIR" || exit 77
touch "$BIN_DIR/probe" 2>/dev/null && exit 77
env -u TMPDIR "$BIN_DIR/mlsleuth" --version >"$WORK/noexec.out" 2>"$WORK/noexec.err"
echo $? >"$WORK/noexec.rc"
ls -A /tmp >"$WORK/tmp-after.txt"
cd "$WORK" || exit 1
TMPDIR="$WORK/unpack" "$BIN_DIR/mlsleuth" collect --root "$WORK/host" --output "$WORK/out.tar.gz" \
  --quiet --no-live >"$WORK/collect.out" 2>"$WORK/collect.err"
echo $? >"$WORK/collect.rc"
ls -A /tmp >>"$WORK/tmp-after.txt"
"""


def test_noexec_tmp_and_read_only_location(field_build: FieldBuild, tmp_path: Path):
    """A real noexec /tmp and a read-only binary folder, in a private mount namespace."""
    from mlsleuth.fixturehost import build_host

    if not shutil.which("unshare"):
        pytest.skip("unshare (util-linux) not installed")
    root_ns = [] if os.geteuid() == 0 else ["-r"]
    if subprocess.run(["unshare", "-m", *root_ns, "true"], capture_output=True).returncode != 0:
        pytest.skip("no mount namespaces here (needs root or unprivileged user namespaces)")
    if not str(tmp_path).startswith("/tmp/") or not str(field_build.binary).startswith("/tmp/"):
        pytest.skip("the namespace script expects pytest's folders under /tmp")
    build_host(tmp_path / "host", "basic")
    (tmp_path / "unpack").mkdir()
    env = dict(os.environ, RO_DIR=str(field_build.binary.parent), WORK_DIR=str(tmp_path))
    res = subprocess.run(["unshare", "-m", *root_ns, "bash", "-c", NAMESPACE_SCRIPT], env=env,
                         capture_output=True, text=True, timeout=600)
    if res.returncode == 77:
        pytest.skip("cannot set up the noexec /tmp and read-only mounts here: " + res.stderr[-300:])
    assert res.returncode == 0, res.stdout + res.stderr

    # without TMPDIR the bootloader unpacks into the noexec /tmp and cannot map libraries from it:
    # it fails before Python starts (docs/distribution.md gives the message) and cleans up
    assert (tmp_path / "noexec.rc").read_text().strip() != "0"
    assert "failed to map segment" in (tmp_path / "noexec.err").read_text()
    assert (tmp_path / "tmp-after.txt").read_text() == ""
    # with TMPDIR on an exec-capable folder it collects, and leaves that folder empty
    assert (tmp_path / "collect.rc").read_text().strip() == "0", (tmp_path / "collect.err").read_text()
    assert manifest_rows(tmp_path / "out.tar.gz")
    assert list((tmp_path / "unpack").iterdir()) == []


def test_deb_carries_this_binary(field_build: FieldBuild, tmp_path: Path):
    if not shutil.which("dpkg-deb"):
        pytest.skip("dpkg-deb not installed")
    env = dict(os.environ, MLSLEUTH_DIST_DIR=str(tmp_path / "dist"))
    res = subprocess.run(["bash", str(ROOT / "packaging" / "deb" / "build_deb.sh"),
                          str(field_build.dist / "mlsleuth")], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=True)
    deb = Path(res.stdout.strip().splitlines()[-1])
    glibc = (field_build.dist / "mlsleuth.glibc").read_text().strip()
    depends = subprocess.run(["dpkg-deb", "--field", str(deb), "Depends"], capture_output=True, text=True,
                             check=True).stdout.strip()
    assert depends == f"libc6 (>= {glibc})"
    scratch = tmp_path / "root"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(scratch)], check=True)
    installed = scratch / "usr/bin/mlsleuth"
    assert sha256(installed) == sha256(field_build.binary)
    assert (scratch / "usr/share/doc/mlsleuth/build-env.txt").is_file()
    unpack = tmp_path / "unpack"
    unpack.mkdir()
    res = subprocess.run([str(installed), "--version"], env=dict(os.environ, TMPDIR=str(unpack)),
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and f"sha256: {sha256(installed)}" in res.stdout
