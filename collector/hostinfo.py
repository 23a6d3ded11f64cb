"""Host facts for host.json: name, OS, kernel, boot time, timezone - from the live system when
collecting ``/``, from files under the root otherwise (a dead box has no kernel or boot time)."""

from __future__ import annotations

import os
import platform
import time
from datetime import UTC, datetime
from typing import Any

from mlsleuth.artifacts import HomeUser
from mlsleuth.artifacts.fsutil import Confined, read_small
from mlsleuth.events import iso


def _os_release(confined: Confined) -> dict[str, str]:
    text = read_small(confined, "/etc/os-release") or read_small(confined, "/usr/lib/os-release") or ""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() in ("ID", "NAME", "VERSION_ID", "PRETTY_NAME", "VERSION_CODENAME", "ID_LIKE"):
            out[key.strip().lower()] = value.strip().strip("\"'")
    return out


def timezone_name(confined: Confined) -> tuple[str | None, str]:
    """(IANA name, where it was read) from /etc/timezone or the /etc/localtime link."""
    text = (read_small(confined, "/etc/timezone", 4096) or "").strip()
    if text and "\n" not in text:
        return text, "/etc/timezone"
    try:
        target = os.readlink(confined.local("/etc/localtime"))
    except OSError:
        return None, ""
    marker = "zoneinfo/"
    if marker in target:
        return target.split(marker, 1)[1], "/etc/localtime"
    return None, ""


def host_facts(confined: Confined, live: bool, users: list[HomeUser]) -> dict[str, Any]:
    tz, tz_source = timezone_name(confined)
    facts: dict[str, Any] = {
        "hostname": None, "os": _os_release(confined), "kernel": None, "boot_time": None,
        "timezone": tz, "timezone_source": tz_source, "root": str(confined.root), "live": live,
        "users": [{"name": u.name, "uid": u.uid, "gid": u.gid, "home": u.home, "shell": u.shell,
                   "from_passwd": u.from_passwd} for u in users],
    }
    if live:
        import psutil

        uname = platform.uname()
        facts.update(
            hostname=uname.node, kernel=uname.release, kernel_version=uname.version,
            machine=uname.machine, boot_time=iso(datetime.fromtimestamp(psutil.boot_time(), UTC)),
            utc_offset=-time.timezone if not time.localtime().tm_isdst else -time.altzone,
            tz_abbreviations=list(time.tzname), cpu_count=os.cpu_count(),
            memory_bytes=psutil.virtual_memory().total,
        )
        if not tz:
            facts["timezone"] = os.environ.get("TZ") or None
    else:
        name = (read_small(confined, "/etc/hostname", 4096) or "").strip().splitlines()
        facts["hostname"] = name[0].strip() if name else None
    return facts

