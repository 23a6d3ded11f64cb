"""Installed distributions (``*.dist-info``) byte-for-byte as pip's ``install_wheel`` leaves them.

pip copies the wheel's files, generates console scripts (its own template, shebang of the
installing interpreter), writes ``INSTALLER`` (``pip\\n``), ``direct_url.json`` (PEP 610,
``json.dumps(..., sort_keys=True)``), an empty ``REQUESTED`` when asked for by name, and finally
``RECORD``: CSV rows ``path,sha256=<urlsafe b64, no padding>,size`` sorted by path, lines ending
in CRLF (csv.writer's default), RECORD itself without hash. The fixture installs with
``--no-compile`` (PIP_NO_COMPILE, as container images often set), so there is no ``__pycache__``.
tests/test_fixturehost.py installs the same wheel with pip's own code and compares the bytes.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import posixpath
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from mlsleuth.fixturehost.planted import Distribution
from mlsleuth.fixturehost.tree import Tree

SHEBANG = "#!/usr/bin/python3\n"  # Debian 12's python3.11 installing with --user

# pip's PipScriptMaker.script_template (pip >= 24.1), after distlib's shebang line.
_SCRIPT = """\
import sys
from {module} import {import_name}
if __name__ == '__main__':
    sys.argv[0] = sys.argv[0].removesuffix('.exe')
    sys.exit({func}())
"""


@dataclass
class Dist:
    name: str  # project name as in METADATA
    version: str
    summary: str
    files: dict[str, str]  # path inside site-packages -> text
    requires: list[str] = field(default_factory=list)
    console_scripts: dict[str, str] = field(default_factory=dict)  # name -> "module:func"
    requested: bool = True
    direct_url: dict[str, Any] | None = None
    home_page: str = ""
    license: str = "MIT"
    index_url: str | None = None  # the index the story says it came from (not written)

    @property
    def normalized(self) -> str:
        """Wheel-escaped name used in the dist-info folder (PEP 427/503)."""
        return re.sub(r"[-_.]+", "_", self.name).lower()

    @property
    def dist_info(self) -> str:
        return f"{self.normalized}-{self.version}.dist-info"


def record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode("latin1").rstrip("=")


def _metadata(d: Dist) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {d.name}", f"Version: {d.version}", f"Summary: {d.summary}"]
    if d.home_page:
        lines.append(f"Home-page: {d.home_page}")
    lines += [f"License: {d.license}", "Requires-Python: >=3.8"]
    lines += [f"Requires-Dist: {r}" for r in d.requires]
    lines += ["Description-Content-Type: text/markdown", "", f"# {d.name}", "", d.summary, ""]
    return "\n".join(lines)


def wheel_files(d: Dist) -> dict[str, bytes]:
    """The files inside the wheel pip would install (RECORD of the wheel included)."""
    files = {path: text.encode() for path, text in d.files.items()}
    info = d.dist_info
    files[f"{info}/METADATA"] = _metadata(d).encode()
    files[f"{info}/WHEEL"] = (b"Wheel-Version: 1.0\nGenerator: bdist_wheel (0.44.0)\n"
                              b"Root-Is-Purelib: true\nTag: py3-none-any\n\n")
    top = sorted({p.split("/")[0] for p in d.files if "/" in p})
    files[f"{info}/top_level.txt"] = "".join(t + "\n" for t in top).encode()
    if d.console_scripts:
        body = "".join(f"{k} = {v}\n" for k, v in sorted(d.console_scripts.items()))
        files[f"{info}/entry_points.txt"] = f"[console_scripts]\n{body}\n".encode()
    rows = [(p, record_hash(b), str(len(b))) for p, b in files.items()] + [(f"{info}/RECORD", "", "")]
    files[f"{info}/RECORD"] = _csv(rows)
    return files


def _csv(rows: list[tuple[str, str, str]]) -> bytes:
    buf = io.StringIO(newline="")
    csv.writer(buf).writerows(rows)
    return buf.getvalue().encode("utf-8")


def console_script(entry: str, shebang: str = SHEBANG) -> bytes:
    module, _, func = entry.partition(":")
    return (shebang + _SCRIPT.format(module=module, import_name=func.split(".")[0], func=func)).encode()


def install(tree: Tree, d: Dist, *, user: str, site_packages: str, bin_dir: str, installed: datetime,
            shebang: str = SHEBANG) -> Distribution:
    """Write the installed files with pip's order and times; returns what was planted."""
    wheel = wheel_files(d)
    info = d.dist_info
    t = installed
    tick = timedelta(milliseconds=3)
    rows: list[tuple[str, str, str]] = []
    wheel_record = list(csv.reader(wheel[f"{info}/RECORD"].decode().splitlines()))
    for path, digest, size in wheel_record:
        if path != f"{info}/RECORD":
            tree.write(f"{site_packages}/{path}", wheel[path], t)
            t += tick
        rows.append((path, digest, size))
    generated: dict[str, bytes] = {}
    for name, entry in sorted(d.console_scripts.items()):
        generated[f"{bin_dir}/{name}"] = console_script(entry, shebang)
    generated[f"{site_packages}/{info}/INSTALLER"] = b"pip\n"
    if d.direct_url is not None:
        generated[f"{site_packages}/{info}/direct_url.json"] = json.dumps(d.direct_url, sort_keys=True).encode()
    if d.requested:
        generated[f"{site_packages}/{info}/REQUESTED"] = b""
    for host_path, data in generated.items():
        mode = 0o755 if host_path.startswith(bin_dir + "/") else 0o644
        tree.write(host_path, data, t, mode=mode)
        t += tick
        rel = posixpath.relpath(host_path, site_packages)
        rows.append((rel, record_hash(data), str(len(data))))
    record = _csv(sorted(rows))
    tree.write(f"{site_packages}/{info}/RECORD", record, t)
    return Distribution(user=user, site_packages=site_packages, name=d.name, version=d.version,
                        dist_info=f"{site_packages}/{info}", installed=installed, installer="pip",
                        requested=d.requested, direct_url=d.direct_url,
                        files=[r[0] for r in sorted(rows)], index_url=d.index_url)
