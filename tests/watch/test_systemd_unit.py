"""The packaged unit: hardened as the issue asks, and valid for systemd where it can be checked."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[2] / "packaging" / "systemd" / "mlsleuth-watch.service"


def _service() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read(UNIT)
    return parser["Service"]


def test_unit_is_hardened_with_one_writable_directory():
    svc = _service()
    assert svc["ProtectSystem"] == "strict"
    assert svc["ProtectHome"] == "read-only"
    assert svc["LogsDirectory"] == "mlsleuth/watch"
    assert "--journal /var/log/mlsleuth/watch" in svc["ExecStart"]
    assert svc["IOSchedulingClass"] == "idle" and int(svc["Nice"]) > 0
    assert svc["NoNewPrivileges"] == "yes" and svc["CapabilityBoundingSet"] == "CAP_DAC_READ_SEARCH"
    assert svc["KillSignal"] == "SIGTERM"  # the agent's clean stop
    assert "ReadWritePaths" not in svc  # nothing writable beyond the journal


def test_systemd_accepts_the_unit(tmp_path: Path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed")
    unit = tmp_path / UNIT.name
    unit.write_text(UNIT.read_text().replace("/usr/bin/mlsleuth", shutil.which("true") or "/bin/true"))
    res = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    problems = [line for line in (res.stdout + res.stderr).splitlines()
                if UNIT.name in line or "Unknown" in line]
    assert not problems, problems
