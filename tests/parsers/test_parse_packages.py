"""Installed distributions and pip's log, produced by a real ``pip install`` of a local wheel
(INSTALLER, REQUESTED, direct_url.json and the log lines are pip's own), then damaged."""

import base64
import hashlib
import json
import subprocess
import sys
import zipfile
from datetime import UTC, datetime

import pytest
from parser_helpers import T0, errors, of, put, run

from mlsleuth.events import Category, TimestampQuality

SITE = "/home/alice/.local/lib/python3.11/site-packages"
LOG = "/home/alice/.pip/pip.log"


def build_wheel(folder, name="demo_pkg", version="1.2.3"):
    files = {f"{name}/__init__.py": b"VALUE = 1\n",
             f"{name}-{version}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
             f"{name}-{version}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = ""
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record += f"{path},sha256={digest},{len(data)}\n"
    record += f"{name}-{version}.dist-info/RECORD,,\n"
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, data in files.items():
            zf.writestr(path, data)
        zf.writestr(f"{name}-{version}.dist-info/RECORD", record)
    return wheel


@pytest.fixture(scope="module")
def pip_host(tmp_path_factory):
    root = tmp_path_factory.mktemp("piphost")
    wheel = build_wheel(tmp_path_factory.mktemp("wheels"))
    (root / LOG.lstrip("/")).parent.mkdir(parents=True)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-index", "--no-deps", "--disable-pip-version-check",
         "--no-cache-dir", "--target", str(root / SITE.lstrip("/")), "--log", str(root / LOG.lstrip("/")),
         str(wheel)], capture_output=True, text=True, timeout=300, env={"PATH": "/usr/bin:/bin", "TZ": "UTC"})
    assert result.returncode == 0, result.stderr
    return root


def test_dist_info_written_by_pip(pip_host):
    dist = f"{SITE}/demo_pkg-1.2.3.dist-info"
    events = run(pip_host, f"{dist}/METADATA", "python_dist")
    assert len(events) == 1
    event = events[0]
    assert (event.package, event.version, event.category) == ("demo_pkg", "1.2.3", Category.PACKAGE_INSTALL)
    assert event.extra["installer"] == "pip" and event.extra["requested"] is True
    assert event.extra["origin"] == "archive" and event.index_url.startswith("file://")
    assert event.timestamp_quality == TimestampQuality.FILE_TIME and event.extra["time_field"] == "RECORD mtime"
    assert event.file_path == dist and event.user == "alice"
    # every other file of the folder adds nothing
    from mlsleuth.parsers import make_context, parse_source
    from mlsleuth.parsers.evidence import TreeEvidence

    ev = TreeEvidence(pip_host)
    ctx = make_context(ev)
    produced = []
    for name in ("METADATA", "RECORD", "INSTALLER", "WHEEL"):
        src = ev.entry(f"{dist}/{name}")
        src.parser = "python_dist"
        produced += list(parse_source(src, ctx))
    assert len(produced) == 1


def test_pip_log_lines(pip_host):
    events = run(pip_host, LOG, "pip_log", tz="UTC")
    installed = of(events, "Package Installed")
    assert [(e.package, e.version) for e in installed] == [("demo-pkg", "1.2.3")]  # pip logs normalised names
    processing = of(events, "Package Downloaded")
    assert processing and processing[0].message.startswith("pip: Processing")
    now = datetime.now(UTC)
    assert all(abs((now - e.timestamp).total_seconds()) < 600 for e in installed)
    assert installed[0].extra["assumed_tz"] == "UTC"


def test_pip_log_local_time_and_garbage(tmp_path):
    put(tmp_path, LOG, "2026-11-10T10:14:03,250 Looking in indexes: https://u:pw123456@evil.example/simple\n"
        "2026-11-10T10:14:04,000 Collecting torch==2.1.0\nnot a log line \xff\n"
        "2026-11-10T10:14:09,100 Successfully installed torch-2.1.0 nvidia-cublas-12.1.3.1\n"
        "2026-99-10T10:14:09,100 Successfully installed broken-1\n", mtime=T0)
    events = run(tmp_path, LOG, "pip_log", tz="Europe/Berlin")
    index = of(events, "Index Used")[0]
    assert index.timestamp == datetime(2026, 11, 10, 9, 14, 3, 250000, tzinfo=UTC)
    assert "pw123456" not in repr(index.to_dict()) and index.index_url.startswith("https://u:REDACTED")
    assert of(events, "Package Collected")[0].package == "torch"
    assert [(e.package, e.version) for e in of(events, "Package Installed")] == [
        ("torch", "2.1.0"), ("nvidia-cublas", "12.1.3.1")]


def test_pip_selfcheck_state(tmp_path):
    put(tmp_path, "/home/a/.cache/pip/selfcheck/abc.json",
        '{"key": "/usr", "last_check": "2026-11-10T09:00:00Z", "pypi_version": "24.3"}')
    events = run(tmp_path, "/home/a/.cache/pip/selfcheck/abc.json", "pip_log")
    assert events[0].timestamp == datetime(2026, 11, 10, 9, tzinfo=UTC)


def test_direct_url_variants_and_broken_files(tmp_path):
    def dist(name, files):
        for fname, data in files.items():
            put(tmp_path, f"{SITE}/{name}/{fname}", data, mtime=T0)

    dist("peft-0.14.0.dev0.dist-info", {
        "METADATA": "Name: peft\nVersion: 0.14.0.dev0\n", "INSTALLER": "uv\n",
        "direct_url.json": json.dumps({"url": "https://tok3n123456789abc@github.com/x/peft.git",
                                       "vcs_info": {"vcs": "git", "commit_id": "a" * 40}})})
    dist("local-1.0.dist-info", {"METADATA": "Name: local\nVersion: 1.0\n",
                                 "direct_url.json": json.dumps({"url": "file:///src/local",
                                                                "dir_info": {"editable": True}})})
    dist("broken-2.0.dist-info", {"METADATA": b"\xff\xfe\x00garbage", "direct_url.json": "{not json"})
    peft = run(tmp_path, f"{SITE}/peft-0.14.0.dev0.dist-info/METADATA", "python_dist")[0]
    assert peft.extra["vcs"] == "git" and peft.extra["commit"] == "a" * 40 and peft.extra["installer"] == "uv"
    assert "tok3n123456789abc" not in repr(peft.to_dict()) and peft.extra["requested"] is False
    local = run(tmp_path, f"{SITE}/local-1.0.dist-info/METADATA", "python_dist")[0]
    assert local.extra["editable"] is True and local.extra["origin"] == "local directory"
    broken = run(tmp_path, f"{SITE}/broken-2.0.dist-info/METADATA", "python_dist")[0]
    assert broken.package == "broken" and broken.version == "2.0" and "direct_url_error" in broken.extra
    assert not errors([peft, local, broken])
