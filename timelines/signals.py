"""What an event *means* for correlation and rules, read from its typed fields first and from
``extra`` leniently (parsers of different sources name their details differently).

Kept in one module so that a parser changing how it spells a detail touches one place.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterator
from typing import Any

from mlsleuth.timelines.entities import host_of_addr

FLAGGED_VERDICTS = frozenset({"malicious", "suspicious"})

# Hosts a model or package legitimately comes from: a connection there is not follow-on activity.
HUB_AND_INDEX_HOSTS = (
    "huggingface.co", "hf.co", "xethub.hf.co", "hf-mirror.com",
    "pypi.org", "pypi.python.org", "files.pythonhosted.org",
    "download.pytorch.org", "conda.anaconda.org", "repo.anaconda.com", "anaconda.org",
    "registry.ollama.ai", "modelscope.cn", "kaggle.com", "storage.googleapis.com",
)
DEFAULT_INDEXES = ("https://pypi.org/simple", "https://pypi.python.org/simple",
                   "https://files.pythonhosted.org", "pypi.org", "conda-forge", "defaults",
                   "https://conda.anaconda.org", "https://repo.anaconda.com")

_DIRECT_SUFFIXES = (".git", ".whl", ".tar.gz", ".zip", ".tar.bz2")

SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "fish", "busybox", "ash", "csh", "tcsh"})
DOWNLOAD_TOOLS = frozenset({"curl", "wget", "nc", "ncat", "netcat", "socat", "telnet", "ftp", "tftp",
                            "scp", "sftp", "rsync", "ssh", "aria2c", "fetch"})

# Places whose content runs later (authorized_keys grants a login, which is the same thing).
_PERSISTENCE = re.compile(
    r"(/\.ssh/authorized_keys2?$|^/etc/crontab$|^/etc/cron\.[^/]+/|^/var/spool/cron/|"
    r"/systemd/(system|user)/([^/]+\.wants/)?[^/]+$|/\.config/autostart/|^/etc/xdg/autostart/|"
    r"/\.(bashrc|bash_profile|bash_login|bash_logout|profile|zshrc|zprofile|zshenv|zlogin)$|"
    r"^/etc/(profile|bash\.bashrc|zsh/zshrc|rc\.local|ld\.so\.preload)$|^/etc/profile\.d/|^/etc/init\.d/|"
    r"/\.config/fish/config\.fish$|/(site|user)customize\.py$|/(site|dist)-packages/[^/]+\.pth$|"
    r"/\.ipython/profile_[^/]+/startup/[^/]+$|/\.jupyter/jupyter_[a-z_]*config\.py$)")
_PYTHON_STARTUP = re.compile(
    r"(/(site|user)customize\.py$|/(site|dist)-packages/[^/]+\.pth$|/\.ipython/profile_[^/]+/startup/[^/]+$)")
# .pth files that ordinary installs write; anything else executing at start-up is worth a look.
BENIGN_PTH = re.compile(r"(^distutils-precedence|^easy-install|-nspkg|^_virtualenv|^__editable__|"
                        r"^matplotlib|^protobuf|^google_|^zope|^pywin32|^setuptools|^coloredlogs|"
                        r"^_distutils_hack|^pip)", re.IGNORECASE)
_WRITE_DESC = re.compile(r"(modif|chang|creat|birth|written|write|mtime|ctime|content)", re.IGNORECASE)


def extra_of(row_extra: str | dict | None) -> dict[str, Any]:
    if not row_extra:
        return {}
    if isinstance(row_extra, dict):
        return row_extra
    try:
        value = json.loads(row_extra)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def strings_in(value: Any, limit: int = 2000) -> Iterator[str]:
    """Every string inside a JSON value (bounded): indicators are wherever a parser put them."""
    stack = [value]
    seen = 0
    while stack and seen < limit:
        v = stack.pop()
        seen += 1
        if isinstance(v, str):
            yield v
        elif isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, (list, tuple)):
            stack.extend(v)


def is_persistence_path(path: str | None) -> bool:
    return bool(path) and _PERSISTENCE.search(path) is not None


def is_python_startup_path(path: str | None) -> bool:
    return bool(path) and _PYTHON_STARTUP.search(path) is not None


def is_write_desc(desc: str) -> bool:
    """A file time that means the content changed (M, C, B), not an access (A)."""
    return bool(_WRITE_DESC.search(desc or "")) and not is_access_desc(desc)


def is_access_desc(desc: str) -> bool:
    """An access time (A of MACB): reading a file is not writing it."""
    low = (desc or "").lower()
    return "access" in low or low in ("atime", "a")


def is_tampered(category: str, message: str, extra: dict[str, Any]) -> bool:
    """HF blob whose content hash is not its name (the parsers' tampering event)."""
    if category not in ("finding", "model_download", "file"):
        return False
    for key in ("tampered", "hash_mismatch", "blob_mismatch"):
        if extra.get(key):
            return True
    for key in ("rule", "kind", "check", "type", "finding"):
        v = extra.get(key)
        if isinstance(v, str) and ("tamper" in v.lower() or "mismatch" in v.lower()):
            return True
    low = message.lower()
    return "tamper" in low or ("blob" in low and "mismatch" in low)


def is_hub_or_index_host(host: str) -> bool:
    h = host.lower().rstrip(".")
    return any(h == d or h.endswith("." + d) for d in HUB_AND_INDEX_HOSTS)


def ip_of(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def is_loopback(host: str) -> bool:
    ip = ip_of(host)
    return (ip is not None and ip.is_loopback) or host in ("localhost", "")


def is_outbound_target(remote_addr: str | None) -> bool:
    """A connection that could carry follow-on activity: not loopback, not a hub or index."""
    host = host_of_addr(remote_addr)
    if not host or is_loopback(host):
        return False
    ip = ip_of(host)
    if ip is not None and (ip.is_unspecified or ip.is_multicast):
        return False
    return not is_hub_or_index_host(host)


def port_of(addr: str | None) -> int | None:
    if not addr:
        return None
    tail = addr.rsplit(":", 1)[-1] if ":" in addr else ""
    return int(tail) if tail.isdigit() else None


def is_default_index(url: str | None) -> bool:
    if not url:
        return True
    u = url.strip().rstrip("/").lower()
    return any(u == d or u.startswith(d + "/") for d in DEFAULT_INDEXES)


def install_index(index_url: str | None, extra: dict[str, Any]) -> tuple[str | None, bool]:
    """(index, is_extra_or_unknown) of a package install: typed field first, then extra."""
    url = index_url
    extra_index = None
    for key in ("extra_index_url", "extra_index_urls", "extra_index"):
        v = extra.get(key)
        if v:
            extra_index = v if isinstance(v, str) else ",".join(map(str, v))
    if not url:
        for key in ("index", "download_url", "url", "source_url"):
            v = extra.get(key)
            if isinstance(v, str) and v.startswith(("http://", "https://")):
                url = v
                break
    if extra_index:
        return extra_index, True
    if url and (extra.get("vcs") or url.startswith(("git+", "file:")) or url.endswith(_DIRECT_SUFFIXES)):
        return url, False  # a direct URL or VCS install (PEP 610), not an index
    if url and is_extra_index_setting(None, extra):
        return url, True
    return url, url is not None and not is_default_index(url)


def is_extra_index_setting(index_url: str | None, extra: dict[str, Any]) -> bool:
    """An *extra* source (pip consults it besides the main index: the dependency-confusion
    vector), as opposed to a replaced main index (a mirror)."""
    for key in ("extra_index_url", "extra_index_urls", "extra_index"):
        if extra.get(key):
            return True
    hint = f"{extra.get('kind', '')} {extra.get('key', '')} {extra.get('extra_source', '')}".lower()
    return "extra" in hint or extra.get("extra_source") is True


def tool_of(process: str | None, cmdline: str | None) -> str:
    """Basename of the program a process runs ("bash", "curl", "python3.11")."""
    name = (process or "").strip()
    if not name and cmdline:
        name = cmdline.strip().split(maxsplit=1)[0] if cmdline.strip() else ""
    return name.rsplit("/", 1)[-1].lower()


def is_shell_or_download_tool(process: str | None, cmdline: str | None) -> str | None:
    tool = tool_of(process, cmdline)
    if tool in SHELLS:
        return "shell"
    if tool in DOWNLOAD_TOOLS:
        return "download_tool"
    return None


def listening(category: str, remote_addr: str | None, extra: dict[str, Any]) -> tuple[str, int] | None:
    """(local address, port) of a listening socket, else None."""
    if category != "network":
        return None
    status = str(extra.get("status") or extra.get("state") or "").upper()
    laddr = extra.get("laddr") or extra.get("local_addr") or extra.get("local_address") or ""
    lport = extra.get("lport") or extra.get("local_port")
    if isinstance(laddr, dict):
        lport = laddr.get("port", lport)
        laddr = laddr.get("ip") or laddr.get("address") or ""
    if status not in ("LISTEN", "LISTENING") and extra.get("listening") is not True:
        return None
    laddr = str(laddr)
    if lport is None:
        lport = port_of(laddr)
        laddr = host_of_addr(laddr) if ":" in laddr else laddr
    try:
        return laddr, int(lport)
    except (TypeError, ValueError):
        return None
