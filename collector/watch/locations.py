"""What the watch agent watches by default, and what a watched path means.

Locations are host-path patterns (``*`` and ``?`` within one path component) resolved under
``--root``. A ``tree`` is watched recursively; a ``file`` is one name watched through its parent
directory, which survives editors that replace the file by renaming. Every directory on the way
from the root to a location is watched too, so a location that does not exist yet (a user created
later, a cache not downloaded into yet) is picked up the moment it appears.

The classification below is shared with ``mlsleuth.parsers.watch_journal`` so the agent (what to
hash and inspect) and the parser (which category an event gets) agree on what a path is. It must
stay import-light: the parser imports it without pyinotify.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Kind = Literal["tree", "file"]

HOMES = ("/root", "/home/*")

# Per-user locations, relative to each home.
USER_TREES = (
    ".cache/huggingface",  # hub blobs/snapshots/refs, modules/ (remote code), datasets, xet
    ".cache/torch",  # hub/<repo> (hubconf.py code) and hub/checkpoints
    ".keras",  # models/, datasets/
    ".ollama",  # models/blobs, models/manifests
    ".ssh",
    ".config/autostart",
    ".config/systemd/user",
    ".ipython/profile_*/startup",
    ".local/lib/python3*/site-packages",
    ".venv/lib/python3*/site-packages",
    "venv/lib/python3*/site-packages",
    ".virtualenvs/*/lib/python3*/site-packages",
    ".pyenv/versions/*/lib/python3*/site-packages",
    "miniconda3/lib/python3*/site-packages",
    "miniconda3/envs/*/lib/python3*/site-packages",
    "anaconda3/lib/python3*/site-packages",
    "anaconda3/envs/*/lib/python3*/site-packages",
    "miniforge3/lib/python3*/site-packages",
    "miniforge3/envs/*/lib/python3*/site-packages",
)
USER_FILES = (
    ".bashrc", ".bash_profile", ".bash_login", ".bash_logout", ".profile",
    ".zshrc", ".zprofile", ".zshenv", ".zlogin", ".config/fish/config.fish",
)
SYSTEM_TREES = (
    "/etc/cron.d", "/etc/cron.hourly", "/etc/cron.daily", "/etc/cron.weekly", "/etc/cron.monthly",
    "/var/spool/cron",
    "/etc/systemd/system", "/etc/systemd/user", "/etc/xdg/autostart", "/etc/profile.d",
    "/usr/share/ollama/.ollama",
    "/usr/lib/python3/dist-packages",
    "/usr/local/lib/python3*/site-packages", "/usr/local/lib/python3*/dist-packages",
    "/opt/conda/lib/python3*/site-packages", "/opt/conda/envs/*/lib/python3*/site-packages",
)
SYSTEM_FILES = (
    "/etc/crontab", "/etc/profile", "/etc/bash.bashrc", "/etc/environment", "/etc/ld.so.preload",
    "/etc/rc.local", "/etc/zsh/zshrc", "/etc/zsh/zshenv",
)


@dataclass(frozen=True, slots=True)
class Target:
    """A host-path pattern split into components, and how to watch what it names."""

    parts: tuple[str, ...]
    kind: Kind

    @classmethod
    def of(cls, pattern: str, kind: Kind) -> Target:
        return cls(tuple(p for p in pattern.split("/") if p and p != "."), kind)

    @property
    def pattern(self) -> str:
        return "/" + "/".join(self.parts)


def default_targets() -> list[Target]:
    targets = [Target.of(f"{home}/{rel}", "tree") for home in HOMES for rel in USER_TREES]
    targets += [Target.of(f"{home}/{rel}", "file") for home in HOMES for rel in USER_FILES]
    targets += [Target.of(p, "tree") for p in SYSTEM_TREES]
    targets += [Target.of(p, "file") for p in SYSTEM_FILES]
    return targets


def has_glob(component: str) -> bool:
    return "*" in component or "?" in component or "[" in component


# -- classification ----------------------------------------------------------------------------
MODEL_EXTENSIONS = frozenset({
    ".pt", ".pth", ".bin", ".ckpt", ".pkl", ".pickle", ".joblib", ".dill", ".sav", ".npy", ".npz",
    ".h5", ".hdf5", ".keras", ".safetensors", ".gguf", ".ggml", ".onnx", ".pb", ".tflite",
    ".msgpack", ".mar", ".nemo", ".model", ".llamafile",
})
CODE_EXTENSIONS = frozenset({".py", ".ipynb"})

_HF_REPO = re.compile(r"/(models|datasets|spaces)--([^/]+)/(blobs|snapshots|refs)(?:/|$)")
_HF_SNAPSHOT = re.compile(r"/snapshots/([^/]+)/")
_HF_REF = re.compile(r"/refs/(.+)$")
_MODEL_DIRS = re.compile(r"/\.cache/torch/hub/checkpoints/|/\.keras/models/|/\.ollama/models/")
_REMOTE_CODE = re.compile(r"/huggingface/modules/|/\.cache/torch/hub/(?!checkpoints/)[^/]+/")
_REMOTE_MODULE = re.compile(r"/(?:transformers|datasets)_modules/([^/]+)/([^/]+)/([0-9a-f]{40})/")
_PERSISTENCE = re.compile(
    r"/\.ssh(?:/|$)|^/etc/cron\.|^/etc/crontab$|^/var/spool/cron(?:/|$)|/systemd/(system|user)/"
    r"|/autostart/"
    r"|/\.ipython/profile_[^/]*/startup/|^/etc/profile(\.d/|$)|^/etc/bash\.bashrc$"
    r"|^/etc/environment$|^/etc/ld\.so\.preload$|^/etc/rc\.local$|^/etc/zsh/"
    r"|/\.config/fish/config\.fish$"
)
_RC_FILES = re.compile(r"^(?:/home/[^/]+|/root)/(?:" + "|".join(map(re.escape, USER_FILES)) + r")$")
_USER = re.compile(r"^/home/([^/]+)/|^/(root)(?:/|$)")


@dataclass(frozen=True, slots=True)
class PathInfo:
    category: str  # an mlsleuth.events.Category value
    hash_kind: str | None  # "model" / "code": hash + static verdict; "persistence": hash only
    model_repo: str | None = None
    revision: str | None = None


def suffix(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


def classify(path: str) -> PathInfo:
    """Category and hashing policy for a host path (events.Category values, as plain strings)."""
    ext = suffix(path)
    is_model_ext = ext in MODEL_EXTENSIONS
    hf = _HF_REPO.search(path)
    if hf:
        repo_type, name, area = hf.groups()
        org_name = name.split("--", 1)
        repo = f"{repo_type}/{'/'.join(org_name)}"
        revision = None
        if area == "snapshots":
            snap = _HF_SNAPSHOT.search(path)
            revision = snap.group(1) if snap else None
        elif area == "refs":
            ref = _HF_REF.search(path)
            revision = ref.group(1) if ref else None
        hash_kind = None
        if area == "blobs" and not path.endswith((".incomplete", ".lock")):
            hash_kind = "model"
        return PathInfo("model_download", hash_kind, repo, revision)
    if _REMOTE_CODE.search(path):
        mod = _REMOTE_MODULE.search(path)
        repo = f"models/{mod.group(1)}/{mod.group(2)}" if mod else None
        kind = "code" if ext in CODE_EXTENSIONS else ("model" if is_model_ext else None)
        return PathInfo("remote_code", kind, repo, mod.group(3) if mod else None)
    if _MODEL_DIRS.search(path):
        partial = path.endswith((".incomplete", ".partial", ".tmp", ".lock"))
        return PathInfo("model_download", None if partial else "model")
    if _PERSISTENCE.search(path) or _RC_FILES.match(path):
        return PathInfo("persistence", "persistence")
    return PathInfo("file", "model" if is_model_ext else None)


def user_of(path: str) -> str:
    m = _USER.match(path)
    if not m:
        return ""
    return m.group(1) or m.group(2) or ""
