"""Builders for package-analysis fixtures: tiny projects built into real wheels with
``pip wheel`` (setuptools), installed into real venvs with ``pip install`` (so dist-info, RECORD,
INSTALLER, REQUESTED, direct_url.json and pip's --log output are pip's own), a conda prefix written
byte-faithfully (conda's JSON layout), OSV advisories, and a minimal evidence archive in the
collector's documented layout (docs/architecture.md)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

PY = sys.executable
PYVER = f"python{sys.version_info.major}.{sys.version_info.minor}"
SITE = f"lib/{PYVER}/site-packages"
VENV_REL = "opt/ml"  # /opt/* prefixes are where the collector looks for environments

PROJECTS: dict[str, dict] = {
    "alpha": {"version": "1.0", "deps": ["beta"], "files": {
        "alpha/__init__.py": "from alpha.core import run\n",
        "alpha/core.py": "def run():\n    return 'alpha'\n",
        "alpha/data/table.txt": "a,b\n1,2\n"}},
    "beta": {"version": "2.0", "modules": ["beta"], "files": {"beta.py": "VALUE = 2\n"}},
    "gamma": {"version": "1.0", "scripts": {"gamma": "gamma:main"}, "files": {
        "gamma/__init__.py": "def main():\n    print('gamma')\n"}},
    "evilpkg": {"version": "99.0.0", "files": {"evilpkg/__init__.py": "X = 1\n"}},
    "evilplugin": {"version": "1.0", "files": {"evilplugin/__init__.py": "Y = 1\n"}},
    "vulnpkg": {"version": "1.2.0", "files": {"vulnpkg/__init__.py": "Z = 1\n"}},
}


def pip_env(tz: str = "UTC") -> dict[str, str]:
    """pip isolated from this machine's configuration (its pip.conf, PIP_* variables)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", TZ=tz,
               PYTHONDONTWRITEBYTECODE="1")
    return env


def pip(*args: str, cwd: Path | None = None, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    cmd = [PY, "-m", "pip", *args]
    env = pip_env()
    env.update(extra_env or {})
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def write_project(base: Path, name: str, spec: dict) -> Path:
    root = base / name
    for rel, text in spec["files"].items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    deps = ", ".join(json.dumps(d) for d in spec.get("deps", []))
    lines = ["[build-system]", 'requires = ["setuptools"]', 'build-backend = "setuptools.build_meta"', "",
             "[project]", f'name = "{name}"', f'version = "{spec["version"]}"', f"dependencies = [{deps}]", ""]
    if spec.get("scripts"):
        lines.append("[project.scripts]")
        lines += [f'{k} = "{v}"' for k, v in spec["scripts"].items()]
        lines.append("")
    lines.append("[tool.setuptools]")
    if spec.get("modules"):
        lines.append(f"py-modules = {json.dumps(spec['modules'])}")
    else:
        pkgs = sorted({rel.split("/")[0] for rel in spec["files"]})
        lines.append(f"packages = {json.dumps(pkgs)}")
        lines.append("include-package-data = true")
        data = sorted({rel for rel in spec["files"] if not rel.endswith(".py")})
        if data:
            lines += ["", "[tool.setuptools.package-data]"]
            lines.append(f'"*" = {json.dumps(sorted({"/".join(r.split("/")[1:]) for r in data}))}')
    (root / "pyproject.toml").write_text("\n".join(lines) + "\n")
    return root


def build_wheels(dest: Path) -> Path:
    src = dest / "src"
    out = dest / "wheels"
    out.mkdir(parents=True, exist_ok=True)
    dirs = [str(write_project(src, n, s)) for n, s in PROJECTS.items()]
    pip("wheel", "--isolated", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", str(out), *dirs)
    return out


def make_index(base: Path, wheels: Path, names: list[str]) -> str:
    """A PEP 503 simple index on disk (pip reads file:// indexes)."""
    for name in names:
        d = base / name
        d.mkdir(parents=True, exist_ok=True)
        links = []
        for whl in wheels.glob(f"{name}-*.whl"):
            shutil.copy2(whl, d / whl.name)
            links.append(f'<a href="{whl.name}">{whl.name}</a>')
        (d / "index.html").write_text("<html><body>" + "".join(links) + "</body></html>\n")
    base.mkdir(parents=True, exist_ok=True)
    return base.as_uri()


def make_venv(root: Path, rel: str = VENV_REL) -> Path:
    venv = root / rel
    subprocess.run([PY, "-m", "venv", "--without-pip", str(venv)], check=True, env=pip_env(), timeout=120)
    return venv


def venv_python(venv: Path) -> str:
    return str(venv / "bin" / "python")


def pip_install(venv: Path, *args: str, build_tools: bool = False) -> subprocess.CompletedProcess:
    """pip install into ``venv``. ``build_tools``: let the venv's interpreter import this
    interpreter's setuptools (for builds in the venv, e.g. editable installs, with no network)."""
    env_args = ["--isolated", "--python", venv_python(venv), "install", "--no-warn-script-location", "-q"]
    extra = None
    if build_tools:
        import setuptools

        extra = {"PYTHONPATH": str(Path(setuptools.__file__).parent.parent)}
    return pip(*env_args, *args, extra_env=extra)


def build_clean_host(root: Path, wheels: Path) -> Path:
    """A host tree with one venv holding alpha (+ its dependency beta) and gamma, installed by pip."""
    (root / "etc").mkdir(parents=True, exist_ok=True)
    (root / "etc/hostname").write_text("ml-box\n")
    (root / "etc/timezone").write_text("UTC\n")
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\n"
                                     "alice:x:1000:1000::/home/alice:/bin/bash\n")
    (root / "home/alice").mkdir(parents=True, exist_ok=True)
    venv = make_venv(root)
    pip_install(venv, "--no-index", "--find-links", str(wheels), "alpha", "gamma")
    return venv


def site(venv: Path) -> Path:
    return venv / SITE


# -- conda ----------------------------------------------------------------------------------------

def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_conda_package(prefix: Path, name: str, version: str, build: str, files: dict[str, bytes],
                        placeholder: set[str] = frozenset(), channel: str = "https://conda.anaconda.org/conda-forge",
                        depends: list[str] | None = None) -> Path:
    """conda-meta/<name>-<version>-<build>.json as conda writes it (indent 2, sorted keys)."""
    meta = prefix / "conda-meta"
    meta.mkdir(parents=True, exist_ok=True)
    paths = []
    for rel, data in files.items():
        p = prefix / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        entry = {"_path": rel, "path_type": "hardlink", "sha256": sha256_hex(data), "size_in_bytes": len(data)}
        if rel in placeholder:
            # The package's copy held the placeholder; conda rewrote it to the prefix at link time.
            original = data.replace(str(prefix).encode(), b"/opt/anaconda1anaconda2anaconda3")
            entry.update(file_mode="text", prefix_placeholder="/opt/anaconda1anaconda2anaconda3",
                         sha256=sha256_hex(original), size_in_bytes=len(original),
                         sha256_in_prefix=sha256_hex(data))
        else:
            entry["sha256_in_prefix"] = sha256_hex(data)
        paths.append(entry)
    fn = f"{name}-{version}-{build}.conda"
    record = {
        "build": build, "build_number": 0, "channel": f"{channel}/linux-64", "constrains": [],
        "depends": depends or [], "extracted_package_dir": f"/opt/conda/pkgs/{name}-{version}-{build}",
        "files": sorted(files), "fn": fn, "license": "MIT", "link": {"source": f"/opt/conda/pkgs/{name}-{version}-{build}", "type": 1},
        "md5": "0" * 32, "name": name, "package_tarball_full_path": f"/opt/conda/pkgs/{fn}",
        "paths_data": {"paths": paths, "paths_version": 1}, "requested_spec": name, "sha256": "1" * 64,
        "size": 1234, "subdir": "linux-64", "timestamp": 1700000000000,
        "url": f"{channel}/linux-64/{fn}", "version": version,
    }
    path = meta / f"{name}-{version}-{build}.json"
    path.write_text(json.dumps(record, indent=2, sort_keys=True))
    return path


def write_conda_history(prefix: Path, blocks: list[tuple[str, str, list[str]]]) -> Path:
    meta = prefix / "conda-meta"
    meta.mkdir(parents=True, exist_ok=True)
    lines = []
    for when, cmd, links in blocks:
        lines += [f"==> {when} <==", f"# cmd: {cmd}", "# conda version: 24.1.2", *links]
    path = meta / "history"
    path.write_text("\n".join(lines) + "\n")
    return path


# -- OSV ------------------------------------------------------------------------------------------

def osv_advisory(id_: str, name: str, *, events: list[dict] | None = None, versions: list[str] | None = None,
                 aliases: list[str] | None = None, withdrawn: str | None = None) -> dict:
    affected: dict = {"package": {"ecosystem": "PyPI", "name": name, "purl": f"pkg:pypi/{name}"}}
    if events is not None:
        affected["ranges"] = [{"type": "ECOSYSTEM", "events": events}]
    if versions is not None:
        affected["versions"] = versions
    doc = {"schema_version": "1.6.0", "id": id_, "modified": "2025-01-01T00:00:00Z",
           "published": "2025-01-01T00:00:00Z", "aliases": aliases or [],
           "summary": f"test advisory for {name}", "details": "details",
           "affected": [affected], "references": [{"type": "WEB", "url": f"https://osv.dev/vulnerability/{id_}"}]}
    if withdrawn:
        doc["withdrawn"] = withdrawn
    return doc


# -- evidence archive -----------------------------------------------------------------------------

def write_archive(root: Path, out: Path, *, include: list[str], copy_limit: int = 1 << 20,
                  host: dict | None = None, hashed_only: tuple[str, ...] = ()) -> Path:
    """A minimal evidence archive in the collector's layout: every file under the ``include``
    host paths gets a manifest row with its sha256; files up to ``copy_limit`` are copied to
    ``fs/<path>``, larger ones (or matching ``hashed_only``) are ``hashed``; dist-info files and
    .pth files are always copied, as the collector does; symlinks are rows."""
    rows = []
    members: list[tuple[str, bytes | None, os.stat_result, str | None]] = []
    for inc in include:
        start = root / inc.lstrip("/")
        walk = [start] if start.is_file() or start.is_symlink() else sorted(start.rglob("*"))
        for p in walk:
            st = os.lstat(p)
            host_path = "/" + str(p.relative_to(root))
            row = {"path": host_path, "artifact": "python_dist", "user": "", "size": st.st_size,
                   "mode": st.st_mode, "uid": st.st_uid, "gid": st.st_gid, "inode": st.st_ino,
                   "atime": st.st_atime, "mtime": st.st_mtime, "ctime": st.st_ctime, "btime": None,
                   "sha256": None, "parts": [], "link_target": None, "reason": None, "error": None}
            if p.is_symlink():
                row.update(action="symlink", link_target=os.readlink(p), member="fs" + host_path)
                members.append(("fs" + host_path, None, st, os.readlink(p)))
            elif p.is_file():
                data = p.read_bytes()
                row["sha256"] = sha256_hex(data)
                metadata = ".dist-info/" in host_path or host_path.endswith(".pth") or "/etc/" in host_path
                if (len(data) <= copy_limit or metadata) and not any(h in host_path for h in hashed_only):
                    row.update(action="copied", member="fs" + host_path)
                    members.append(("fs" + host_path, data, st, None))
                else:
                    row.update(action="hashed", member=None)
            else:
                continue
            rows.append(row)
    host = host or {"hostname": "ml-box", "timezone": "UTC", "live": False,
                    "users": [{"name": "alice", "uid": 1000, "home": "/home/alice"}],
                    "custody": {"start": "2026-01-01T00:00:00+00:00"}}
    with tarfile.open(out, "w:gz") as tar:
        def add_bytes(name: str, data: bytes, mtime: float = 0) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = int(mtime)
            tar.addfile(info, io.BytesIO(data))

        for name, data, st, target in members:
            if target is not None:
                info = tarfile.TarInfo(name)
                info.type = tarfile.SYMTYPE
                info.linkname = target
                tar.addfile(info)
            else:
                add_bytes(name, data or b"", st.st_mtime)
        add_bytes("manifest.jsonl", "".join(json.dumps(r) + "\n" for r in rows).encode())
        add_bytes("host.json", json.dumps(host).encode())
        add_bytes("summary.json", b"{}")
    return out


def record_hash(data: bytes) -> str:
    import base64

    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def make_dist(site_dir: Path, name: str, version: str, files: dict[str, bytes], *, installer: str = "pip",
              requested: bool = True, requires: list[str] | None = None) -> Path:
    """A dist-info as the wheel spec lays it out (METADATA 2.1, WHEEL, INSTALLER, RECORD with
    sha256 + size of every file, RECORD itself without hash) for names we cannot build here."""
    dist = site_dir / f"{name.replace('-', '_')}-{version}.dist-info"
    dist.mkdir(parents=True)
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    meta += "".join(f"Requires-Dist: {r}\n" for r in requires or [])
    content = dict(files)
    content[f"{dist.name}/METADATA"] = meta.encode()
    content[f"{dist.name}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    content[f"{dist.name}/INSTALLER"] = installer.encode() + b"\n"
    if requested:
        content[f"{dist.name}/REQUESTED"] = b""
    rows = []
    for rel, data in content.items():
        p = site_dir / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        rows.append(f"{rel},{record_hash(data)},{len(data)}")
    rows.append(f"{dist.name}/RECORD,,")
    (dist / "RECORD").write_text("\n".join(rows) + "\n")
    return dist
