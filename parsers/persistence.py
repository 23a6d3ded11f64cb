"""Places that run code later or let someone back in: ``authorized_keys``, crontabs
(``/etc/crontab``, ``/etc/cron.*``, ``/var/spool/cron``), systemd units (system and user),
XDG autostart entries, ``/etc/ld.so.preload``, ``rc.local``, sudoers drop-ins.

Each file gives MACB events (PERSISTENCE) whose message says what the file makes happen: the
keys it admits, the commands it schedules, what a unit executes, which library is preloaded.
A symlink (an enabled unit in ``*.wants/``) is reported as the unit being enabled.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from mlsleuth.parsers.filetimes import macb_events
from mlsleuth.parsers.registry import register
from mlsleuth.parsers.source import ContentUnavailable, ParseContext, Source
from mlsleuth.parsers.text import MAX_FIELD, clip, decode, one_line

from mlsleuth.events import UNKNOWN_TIME, Category, Event, TimestampQuality
from mlsleuth.redact import redact_text

MAX_FILE = 4 << 20
MAX_ENTRIES = 100
_KEY_TYPES = re.compile(r"(?:^|\s)((?:ssh-(?:rsa|dss|ed25519)|ecdsa-sha2-nistp\d+|sk-\S+@openssh\.com)\s+\S+)(.*)$")
_CRON_LINE = re.compile(r"^\s*(@\w+|(?:\S+\s+){4}\S+)\s+(.+)$")
_ENV_LINE = re.compile(r"^\s*[A-Za-z_][A-Za-z0-9_]*\s*=")


def kind_of(host_path: str) -> str:
    name = host_path.rsplit("/", 1)[-1]
    if name.startswith("authorized_keys"):
        return "authorized_keys"
    if "/cron" in host_path or host_path.endswith("anacrontab"):
        return "cron"
    if "/systemd/" in host_path:
        return "systemd"
    if "/autostart/" in host_path and name.endswith(".desktop"):
        return "autostart"
    if name == "ld.so.preload":
        return "ld_preload"
    if name == "rc.local":
        return "rc_local"
    if "/sudoers" in host_path:
        return "sudoers"
    if "/.ssh/" in host_path:
        return "ssh_config"
    return "other"


@register("persistence", symlinks=True)
def parse(src: Source, ctx: ParseContext) -> Iterator[Event]:
    kind = kind_of(src.host_path)
    if src.is_symlink:
        when = src.mtime or src.ctime
        where = src.host_path.rsplit("/", 2)
        enabled = len(where) == 3 and where[1].endswith((".wants", ".requires"))
        what = f"systemd unit {where[-1]} enabled in {where[1]}" if enabled else f"{src.host_path} is a symlink"
        yield src.event(ctx, timestamp=when or UNKNOWN_TIME, desc="Symlink Modified", category=Category.PERSISTENCE,
                        message=f"{what} -> {src.link_target}",
                        quality=TimestampQuality.EXACT if when else TimestampQuality.ESTIMATED,
                        extra={"kind": kind, "link_target": src.link_target, "enabled": enabled})
        return
    summary, commands, entries = "", [], []
    try:
        text = decode(src.read_bytes(MAX_FILE))
        summary, commands, entries = describe(kind, text)
    except ContentUnavailable as exc:
        summary = f"content not available ({exc})"
    cmdline = clip(redact_text("\n".join(commands))[0], MAX_FIELD) if commands else None
    yield from macb_events(src, ctx, category=Category.PERSISTENCE,
                           message=f"{kind} {src.host_path}: {one_line(summary, 800)}",
                           cmdline=cmdline, sha256=src.content_sha256(),
                           extra={"kind": kind, "entries": entries[:MAX_ENTRIES]})


def describe(kind: str, text: str) -> tuple[str, list[str], list[Any]]:
    """(readable summary, commands it runs, structured entries)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    if kind == "authorized_keys":
        keys = []
        for line in lines:
            match = _KEY_TYPES.search(line)
            if not match:
                continue
            options = line[:match.start(1)].strip()
            key_type = match.group(1).split()[0]
            comment = match.group(2).strip()
            keys.append({"type": key_type, "comment": comment, "options": options})
        forced = [k["options"] for k in keys if "command=" in k["options"]]
        text_keys = ", ".join(f"{k['type']} {k['comment'] or '(no comment)'}" for k in keys[:5])
        return (f"{len(keys)} key(s) admitted: {text_keys}" + (f"; forced commands: {forced[:3]}" if forced else ""),
                [re.sub(r'.*command="([^"]*)".*', r"\1", f) for f in forced], keys)
    if kind == "cron":
        jobs = []
        for line in lines:
            if _ENV_LINE.match(line):
                continue
            match = _CRON_LINE.match(line)
            if match:
                jobs.append({"schedule": match.group(1), "command": match.group(2)})
        if not jobs and lines:  # a script in cron.daily etc.
            return f"script of {len(lines)} line(s): {lines[0][:200]}", lines[:20], []
        return (f"{len(jobs)} job(s): " + "; ".join(f"{j['schedule']} {j['command']}" for j in jobs[:3]),
                [j["command"] for j in jobs], jobs)
    if kind in ("systemd", "autostart"):
        keys = ("ExecStart", "ExecStartPre", "ExecStartPost", "ExecStop", "ExecReload", "Exec", "User",
                "WantedBy", "OnCalendar", "OnBootSec", "Environment", "X-GNOME-Autostart-enabled")
        found = []
        for line in lines:
            key, sep, value = line.partition("=")
            if sep and key.strip() in keys:
                found.append({"key": key.strip(), "value": value.strip()})
        commands = [f["value"] for f in found if f["key"].startswith("Exec")]
        return ("runs " + "; ".join(commands[:3]) if commands else f"{len(found)} setting(s)"), commands, found
    if kind == "ld_preload":
        return f"preloads {', '.join(lines[:5]) or 'nothing'} into every process", lines, lines
    return f"{len(lines)} line(s): {lines[0][:200] if lines else ''}", lines[:20] if kind == "rc_local" else [], []
