"""Indicators of compromise pulled out of call arguments and code: URLs, IPs, paths, commands."""

from __future__ import annotations

import re
from collections.abc import Iterable

URL_RE = re.compile(r"""(?:https?|ftp|wss?|s3|gs)://[^\s'"<>\\)]{3,}""", re.I)
IPV4_RE = re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?::\d{1,5})?\b")
PATH_RE = re.compile(r"(?:~|/(?:etc|tmp|root|home|var|usr|dev|proc|opt|bin|Users))/[^\s'\"<>|;&]*")
SECRET_PATH_RE = re.compile(
    r"(\.ssh/|id_rsa|id_ed25519|\.aws/credentials|\.netrc|\.git-credentials|huggingface/token|"
    r"\.docker/config\.json|\.kube/config|\.pypirc|/etc/shadow|\.bash_history|\.env\b)")
PERSISTENCE_RE = re.compile(
    r"(\.bashrc|\.bash_profile|\.profile|\.zshrc|authorized_keys|crontab|/etc/cron|/etc/rc\.local|"
    r"systemd/(?:system|user)|\.config/autostart|sitecustomize\.py|usercustomize\.py|\.pth\b|"
    r"ld\.so\.preload|/etc/profile\.d|LaunchAgents|LaunchDaemons)")


def extract(texts: Iterable[str], limit: int = 20) -> list[str]:
    """URLs, IP addresses and absolute paths found in the given strings (deduplicated)."""
    found: list[str] = []
    for text in texts:
        if not isinstance(text, str) or not text:
            continue
        sample = text[:20000]
        for rx in (URL_RE, IPV4_RE, PATH_RE):
            for m in rx.findall(sample):
                if m not in found:
                    found.append(m)
                if len(found) >= limit:
                    return found
    return found


def shorten(text: str, n: int = 200) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
