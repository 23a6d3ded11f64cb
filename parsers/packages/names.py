"""Small shared vocabulary: distribution names, index URLs with their secrets taken out, and
which host files the package analyzer wants to read (pip.conf, histories, pip logs ...)."""

from __future__ import annotations

import posixpath
import re
from urllib.parse import urlsplit, urlunsplit

SOURCE = "packages"

_NAME_RUN = re.compile(r"[-_.]+")


def normalize(name: str) -> str:
    """PEP 503 normalised project name: the key every comparison uses."""
    return _NAME_RUN.sub("-", name).lower().strip()


def redact_url(url: str) -> tuple[str, str | None]:
    """The URL with its password or token replaced by the project-wide fingerprint
    (mlsleuth.redact), and that fingerprint (None when nothing was secret). Index URLs routinely
    carry tokens (``https://user:TOKEN@pkgs.example/simple``); which index it was stays evidence."""
    from mlsleuth.redact import redact_url as _redact

    out, found = _redact(url)
    return out, found[0].fingerprint if found else None


def redact_text(text: str) -> str:
    """Every credential inside a command line or config line replaced by its fingerprint."""
    from mlsleuth.redact import redact_text as _redact

    return _redact(text)[0]


def url_host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def index_base(url: str) -> str:
    """Comparable form of an index URL: no credentials (not even their redaction), no query or
    fragment, no trailing slash."""
    clean = url.strip()
    try:
        parts = urlsplit(clean)
    except ValueError:
        return clean.rstrip("/")
    netloc = parts.netloc.rsplit("@", 1)[-1].lower()
    return urlunsplit((parts.scheme.lower(), netloc, parts.path.rstrip("/"), "", ""))


# -- which files are worth reading ---------------------------------------------------------------

PIP_CONFIG_NAMES = frozenset({"pip.conf", "pip.ini"})
CONDARC_NAMES = frozenset({".condarc", "condarc", ".mambarc"})
HISTORY_NAMES = frozenset({".bash_history", ".zsh_history", ".history", "fish_history",
                           ".sh_history", ".ash_history"})
RC_NAMES = frozenset({".bashrc", ".bash_profile", ".bash_login", ".profile", ".zshrc", ".zshenv",
                      ".zprofile", ".zlogin", "config.fish", ".envrc"})
ETC_RC = frozenset({"/etc/environment", "/etc/profile", "/etc/bash.bashrc", "/etc/zsh/zshenv",
                    "/etc/zsh/zshrc", "/etc/zshenv", "/etc/zshrc"})
PROJECT_NAMES = frozenset({"pyproject.toml", "Pipfile", "uv.toml"})
_REQUIREMENTS = re.compile(r"^(?:[\w.-]*requirements[\w.-]*|constraints[\w.-]*)\.(?:txt|in)$", re.I)
_PIP_LOG = re.compile(r"^pip[\w.-]*\.log$", re.I)


def classify(path: str) -> str | None:
    """What kind of supporting file a host path is, or None.

    One function for plain trees and archives so both read exactly the same files.
    """
    base = posixpath.basename(path)
    parent = posixpath.basename(posixpath.dirname(path))
    if base in PIP_CONFIG_NAMES:
        return "pip_conf"
    if base in CONDARC_NAMES:
        return "condarc"
    if parent == "conda-meta":
        if base == "history":
            return "conda_history"
        if base.endswith(".json"):
            return "conda_meta"
        return None
    if base in HISTORY_NAMES:
        return "history"
    if base == "history.sqlite" and "/.ipython/" in path:
        return "ipython_history"
    if base in RC_NAMES or path in ETC_RC or base == ".pam_environment" \
            or (path.startswith("/etc/profile.d/") and base.endswith(".sh")) \
            or (parent == "conf.d" and "/fish/" in path and base.endswith(".fish")) \
            or (parent == "environment.d" and base.endswith(".conf")):
        return "shell_rc"
    if base in PROJECT_NAMES:
        return "project"
    if _REQUIREMENTS.match(base) or (parent == "requirements" and base.endswith(".txt")):
        return "requirements"
    if _PIP_LOG.match(base) or any(d in path for d in ("/.cache/pip/log/", "/.config/pip/log/", "/var/log/pip/")):
        return "pip_log"
    return None


def is_dist_dir_name(name: str) -> bool:
    return name.endswith(".dist-info") or name.endswith(".egg-info")
