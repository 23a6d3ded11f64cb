"""Entity keys: the normalised names (repo id, host path, hash, package) that link events.

Correlation never compares free text with free text. Origins register the keys they are known
by (``repo:org/name``, ``path:/home/alice/.cache/huggingface/hub/models--org--name``, ...), and
a command or process line is cut into candidate tokens that are looked up in that dict. Every
lookup is O(1), so the cost follows the number of tokens, not origins x commands.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

# HF repo ids: "org/name" (names allow . _ -), legacy ids have no org.
_SEGMENT = r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}"
_SLASHED = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})+")
_CACHE_DIR = re.compile(r"(models|datasets|spaces)--([A-Za-z0-9][\w.-]*?)--([A-Za-z0-9][\w.-]*)")
_SHA256 = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{64}(?![0-9a-fA-F])")
# A path in a command: absolute, ~-relative or $HOME-relative; stops at shell/code delimiters.
_PATH = re.compile(r"""(?:~|\$HOME|\$\{HOME\}|(?<![\w.])/)[^\s'"`;|&<>(),\]\[{}]*""")
_MODEL_FILE = re.compile(
    r"[\w.+-]+\.(?:pt|pth|bin|ckpt|pkl|pickle|joblib|h5|hdf5|keras|gguf|ggml|safetensors|onnx|npy|npz|pb)\b",
    re.IGNORECASE)
_IMPORT = re.compile(r"\bimport\s+([A-Za-z_][\w.]*(?:\s*,\s*[A-Za-z_][\w.]*)*)")
_FROM_IMPORT = re.compile(r"\bfrom\s+([A-Za-z_][\w.]*)\s+import\b")
_RUN_MODULE = re.compile(r"(?:^|\s)-m\s+([A-Za-z_][\w.]*)")
_HOME = re.compile(r"^(/home/[^/]+|/root|/Users/[^/]+)(?=/|$)")
_PKG_NORM = re.compile(r"[-_.]+")


def norm_repo(repo: str | None) -> str | None:
    """"models/Org/Name" or "Org/Name" -> "org/name" (the hub compares ids case-insensitively)."""
    if not repo:
        return None
    parts = repo.strip().strip("/").split("/")
    if parts and parts[0] in ("models", "datasets", "spaces") and len(parts) >= 2:
        parts = parts[1:]
    return "/".join(parts[:2]).lower() if parts and parts[0] else None


def repo_type(repo: str | None) -> str:
    if repo and repo.split("/", 1)[0] in ("datasets", "spaces"):
        return repo.split("/", 1)[0][:-1]
    return "model"


def norm_package(name: str | None) -> str | None:
    """PEP 503 normalisation: "Evil_Pkg.x" -> "evil-pkg-x"; import names map the same way."""
    return _PKG_NORM.sub("-", name).lower() if name else None


def home_of(path: str) -> str | None:
    m = _HOME.match(path)
    return m.group(1) if m else None


def owner_of_path(path: str | None) -> str:
    """The account a path belongs to by its home directory ("" when it is not under one)."""
    if not path:
        return ""
    home = home_of(path)
    if not home:
        return ""
    return "root" if home == "/root" else home.rsplit("/", 1)[1]


def home_relative(path: str) -> str | None:
    """"/home/alice/.ssh/x" -> "~/.ssh/x" so ``~`` in a command matches any user's copy."""
    home = home_of(path)
    if home and len(path) > len(home):
        return "~" + path[len(home):]
    return None


def ancestors(path: str) -> Iterator[str]:
    """The path and each parent, longest first: a file inside a repo snapshot finds the repo."""
    p = path.rstrip("/")
    while p and p not in ("~", "/"):
        yield p
        p = p.rsplit("/", 1)[0]


def repo_dir(path: str | None) -> str | None:
    """The HF cache folder of a repo that ``path`` lies in (".../hub/models--org--name")."""
    if not path:
        return None
    m = _CACHE_DIR.search(path)
    if not m:
        return None
    return path[: m.end()]


def repo_from_path(path: str | None) -> str | None:
    """Repo id encoded in a cache or remote-code path ("models--org--name", "transformers_modules/org/name")."""
    if not path:
        return None
    m = _CACHE_DIR.search(path)
    if m:
        return f"{m.group(2)}/{m.group(3)}".lower()
    for marker in ("/transformers_modules/", "/datasets_modules/datasets/"):
        if marker in path:
            rest = path.split(marker, 1)[1].split("/")
            if len(rest) >= 3:  # org/name/<commit or file>: "org/__init__.py" is scaffolding
                # newer transformers write "-" as "_hyphen_" in module folder names
                return "/".join(x.replace("_hyphen_", "-") for x in rest[:2]).lower()
    return None


def repo_tokens(text: str) -> Iterator[str]:
    """Candidate repo ids in free text: every adjacent pair of segments of a slashed token,
    plus the cache folder form. Most candidates are not repos; the index lookup filters them."""
    for m in _CACHE_DIR.finditer(text):
        yield f"{m.group(2)}/{m.group(3)}".lower()
    for m in _SLASHED.finditer(text):
        segs = m.group(0).split("/")
        for i in range(len(segs) - 1):
            yield f"{segs[i]}/{segs[i + 1]}".lower()


def hash_tokens(text: str) -> Iterator[str]:
    for m in _SHA256.finditer(text):
        yield m.group(0).lower()


def path_tokens(text: str) -> Iterator[str]:
    """Paths in a command, ``$HOME``/``${HOME}`` written as ``~``."""
    for m in _PATH.finditer(text):
        p = m.group(0)
        if p.startswith("$HOME"):
            p = "~" + p[5:]
        elif p.startswith("${HOME}"):
            p = "~" + p[7:]
        if len(p) > 1:
            yield p.rstrip(".:")


def model_file_tokens(text: str) -> Iterator[str]:
    for m in _MODEL_FILE.finditer(text):
        yield m.group(0).rsplit("/", 1)[-1]


def module_tokens(text: str) -> Iterator[str]:
    """Top-level modules a line of Python or a command imports or runs (``-m``)."""
    for m in _IMPORT.finditer(text):
        for name in m.group(1).split(","):
            yield name.strip().split(".", 1)[0]
    for rx in (_FROM_IMPORT, _RUN_MODULE):
        for m in rx.finditer(text):
            yield m.group(1).split(".", 1)[0]


def host_of_addr(addr: str | None) -> str:
    """"1.2.3.4:443" / "[::1]:80" / "evil.example:8080" -> the host part, lowercased."""
    if not addr:
        return ""
    a = addr.strip()
    if a.startswith("["):
        return a[1:].split("]", 1)[0].lower()
    if a.count(":") == 1:
        return a.split(":", 1)[0].lower()
    return a.lower()  # bare IPv6 or bare host
