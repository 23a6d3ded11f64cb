"""The .deb puts every piece of packaging/ where Debian and the tools that read it look for it.

Built around a stand-in executable so it runs in seconds; test_field_binary.py checks the package
built around the real binary. Required: the unit, osquery packs, YARA and Semgrep rules;
Velociraptor artifacts are skipped while packaging/velociraptor/ is empty.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"

pytestmark = pytest.mark.skipif(not shutil.which("dpkg-deb"), reason="dpkg-deb not installed")


def sources(folder: str, *patterns: str) -> list[Path]:
    base = PACKAGING / folder
    found = {p for pat in patterns for p in base.rglob(pat) if p.is_file() and "__pycache__" not in p.parts}
    return sorted(found)


@pytest.fixture(scope="module")
def deb(tmp_path_factory: pytest.TempPathFactory) -> dict:
    work = tmp_path_factory.mktemp("deb")
    stub = work / "bin" / "mlsleuth"
    stub.parent.mkdir()
    stub.write_text("#!/bin/sh\necho stand-in\n")
    stub.chmod(0o755)
    (work / "bin" / "mlsleuth.glibc").write_text("2.31\n")
    res = subprocess.run(["bash", str(PACKAGING / "deb" / "build_deb.sh"), str(stub)], cwd=ROOT,
                         env=dict(os.environ, MLSLEUTH_DIST_DIR=str(work / "dist")), capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    path = Path(res.stdout.strip().splitlines()[-1])
    contents = subprocess.run(["dpkg-deb", "--contents", str(path)], capture_output=True, text=True,
                              check=True).stdout
    root = work / "root"
    subprocess.run(["dpkg-deb", "-x", str(path), str(root)], check=True)
    control = work / "control"
    subprocess.run(["dpkg-deb", "-e", str(path), str(control)], check=True)
    return {"path": path, "contents": contents, "root": root, "control": control, "stub": stub}


def listed(deb: dict) -> dict[str, str]:
    """`dpkg-deb --contents` as {path: 'mode owner/group'}."""
    out = {}
    for line in deb["contents"].splitlines():
        fields = line.split()
        out[fields[-1].removeprefix(".")] = f"{fields[0]} {fields[1]}"
    return out


def test_control_fields(deb: dict):
    from mlsleuth import __version__

    fields = {}
    for line in (deb["control"] / "control").read_text().splitlines():
        if line and not line.startswith(" ") and ":" in line:
            key, value = line.split(":", 1)
            fields[key] = value.strip()
    assert fields["Package"] == "mlsleuth"
    assert fields["Version"] == __version__
    assert fields["Architecture"] in {"amd64", "arm64"}
    assert fields["Depends"] == "libc6 (>= 2.31)"  # from the build's mlsleuth.glibc
    assert int(fields["Installed-Size"]) > 0
    assert deb["path"].name == f"mlsleuth_{__version__}_{fields['Architecture']}.deb"


def test_binary_in_usr_bin(deb: dict):
    entries = listed(deb)
    assert entries["/usr/bin/mlsleuth"] == "-rwxr-xr-x root/root"
    assert os.access(deb["root"] / "usr/bin/mlsleuth", os.X_OK)
    assert (deb["root"] / "usr/bin/mlsleuth").read_bytes() == deb["stub"].read_bytes()


def test_everything_owned_by_root_with_debian_modes(deb: dict):
    for path, mode_owner in listed(deb).items():
        mode, owner = mode_owner.split()
        assert owner == "root/root", path
        if path.endswith("/"):
            assert mode == "drwxr-xr-x", path
        else:
            assert mode in {"-rw-r--r--", "-rwxr-xr-x"}, path


def test_md5sums_cover_every_file(deb: dict):
    lines = (deb["control"] / "md5sums").read_text().splitlines()
    sums = dict(reversed(line.split("  ", 1)) for line in lines)
    files = sorted(str(p.relative_to(deb["root"])) for p in deb["root"].rglob("*") if p.is_file())
    assert sorted(sums) == files
    for rel, digest in sums.items():
        assert hashlib.md5((deb["root"] / rel).read_bytes()).hexdigest() == digest  # noqa: S324 - dpkg's format


def test_systemd_units(deb: dict):
    units = sources("systemd", "*.service", "*.timer", "*.socket")
    for unit in units:
        installed = deb["root"] / "lib/systemd/system" / unit.name
        assert installed.read_bytes() == unit.read_bytes()
        assert stat.S_IMODE(installed.stat().st_mode) == 0o644
    assert (deb["root"] / "lib/systemd/system/mlsleuth-watch.service").is_file()
    # the unit runs the packaged binary
    text = (deb["root"] / "lib/systemd/system/mlsleuth-watch.service").read_text()
    assert "ExecStart=/usr/bin/mlsleuth watch" in text


def test_osquery_packs(deb: dict):
    packs = sources("osquery", "*.conf", "*.json")
    assert packs, "packaging/osquery/ has no pack"
    packs_dir = deb["root"] / "usr/share/osquery/packs"
    installed = {p.name: p.read_bytes() for p in packs_dir.iterdir()}
    for pack in packs:
        name = "mlsleuth-" + pack.stem.removeprefix("mlsleuth-") + ".conf"
        assert installed.get(name) == pack.read_bytes(), name
    assert all(name.startswith("mlsleuth-") for name in installed)


@pytest.mark.parametrize("kind, patterns, required", [
    ("yara", ("*.yar", "*.yara"), True),
    ("semgrep", ("*.yaml", "*.yml", "*.py"), True),
    ("velociraptor", ("*.yaml", "*.yml"), False),
])
def test_rules_in_usr_share_mlsleuth(deb: dict, kind: str, patterns: tuple[str, ...], required: bool):
    rules = sources(kind, *patterns)
    if not rules and not required:
        pytest.skip(f"packaging/{kind}/ has no rules yet")
    assert rules, f"packaging/{kind}/ has no rules"
    for rule in rules:
        installed = deb["root"] / "usr/share/mlsleuth" / kind / rule.relative_to(PACKAGING / kind)
        assert installed.read_bytes() == rule.read_bytes(), installed


def test_docs_and_copyright(deb: dict):
    doc = deb["root"] / "usr/share/doc/mlsleuth"
    assert (doc / "copyright").read_text().startswith("Format: https://www.debian.org/doc/packaging-manuals/")
    assert (doc / "README.md").is_file()
    for page in (ROOT / "docs").glob("*.md"):
        assert (doc / page.name).read_bytes() == page.read_bytes()
    assert (doc / "responder-guide.md").is_file()


def test_nothing_outside_conventional_places(deb: dict):
    allowed = ("/usr/bin/mlsleuth", "/lib/systemd/system/", "/usr/share/osquery/packs/",
               "/usr/share/mlsleuth/", "/usr/share/doc/mlsleuth/")
    for path in listed(deb):
        if path.endswith("/"):
            continue
        assert path.startswith(allowed), path
