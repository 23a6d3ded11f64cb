"""Live state of a running host through psutil: processes, open model/cache files, network
connections and listening sockets, logged-in users.

Row fields are documented in docs/architecture.md ("Live state rows"). Secrets never leave:
process environments keep allow-listed variables (HF_*, CUDA_*, PIP_INDEX_URL with its password
fingerprinted ...) and every other value as a fingerprint; command lines lose credentials.
What psutil cannot read (another user's process when unprivileged) is recorded in ``errors``.
"""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mlsleuth.redact import redact_argv, redact_env

# Open files worth reporting: model formats and the places models and their code come from.
MODEL_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".pkl", ".pickle", ".joblib", ".h5", ".hdf5",
                  ".keras", ".safetensors", ".gguf", ".ggml", ".onnx", ".npy", ".npz", ".pb", ".tflite",
                  ".mar", ".msgpack", ".ipynb")
CACHE_MARKERS = ("/huggingface/", "/.cache/torch/", "/.keras/", "/.ollama/", "/tfhub_modules/",
                 "/kagglehub/", "/transformers_modules/", "/datasets_modules/", "/history.sqlite",
                 "/.cache/whisper/", "/jupyter/runtime/")
_MAPS_LINE = re.compile(r"^\S+\s+\S+\s+\S+\s+\S+\s+\d+\s+(/.*)$")
MAX_PATHS_PER_PROCESS = 2000


def is_model_or_cache(path: str) -> bool:
    p = path.removesuffix(" (deleted)")
    return p.lower().endswith(MODEL_SUFFIXES) or any(m in p for m in CACHE_MARKERS)


@dataclass
class LiveState:
    processes: list[dict[str, Any]] = field(default_factory=list)
    connections: list[dict[str, Any]] = field(default_factory=list)
    open_files: list[dict[str, Any]] = field(default_factory=list)
    users: list[dict[str, Any]] = field(default_factory=list)
    env_values: dict[str, list[str]] = field(default_factory=dict)  # var -> values seen (unredacted
    # paths only: the resolver's overrides; never written to the archive)
    errors: list[str] = field(default_factory=list)

    def members(self) -> dict[str, bytes]:
        return {
            "live/processes.jsonl": _jsonl(self.processes),
            "live/connections.jsonl": _jsonl(self.connections),
            "live/open_files.jsonl": _jsonl(self.open_files),
            "live/users.jsonl": _jsonl(self.users),
        }


def _jsonl(rows: Iterable[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows).encode(
        "utf-8", "backslashreplace")


def _family(value: Any) -> str:
    return getattr(value, "name", str(value))


def _addr(a: Any) -> str | None:
    if not a:
        return None
    ip, port = a.ip, a.port
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def _mapped_paths(pid: int) -> set[str]:
    """Files mapped into a process (safetensors and GGUF are mmapped and their fd closed)."""
    out: set[str] = set()
    try:
        with open(f"/proc/{pid}/maps", encoding="utf-8", errors="surrogateescape") as fh:
            for line in fh:
                m = _MAPS_LINE.match(line.rstrip("\n"))
                if m:
                    out.add(m.group(1))
                    if len(out) >= MAX_PATHS_PER_PROCESS:
                        break
    except OSError:
        pass
    return out


def gather(env_vars: Iterable[str] = (), *, include_secrets: bool = False) -> LiveState:
    """Snapshot the live host. ``env_vars``: variables whose raw values are kept for the resolver.
    ``include_secrets`` keeps environments and command lines as they are (--include-secrets)."""
    import psutil

    state = LiveState()
    wanted = set(env_vars)
    me = os.getpid()
    attrs = ["pid", "ppid", "name", "username", "uids", "exe", "cmdline", "cwd", "create_time", "status",
             "terminal", "environ", "num_threads"]
    for proc in psutil.process_iter():
        try:
            info = proc.as_dict(attrs=attrs, ad_value="__denied__")
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
        except psutil.Error as exc:
            state.errors.append(f"pid {proc.pid}: {exc}")
            continue
        errors = {k: "access denied" for k, v in info.items() if v == "__denied__"}
        info = {k: (None if v == "__denied__" else v) for k, v in info.items()}
        env = info.pop("environ") or {}
        for var in wanted & set(env):
            state.env_values.setdefault(var, [])
            if env[var] not in state.env_values[var]:
                state.env_values[var].append(env[var])
        if include_secrets:
            clean_env, secrets = dict(env), []
            argv, argv_secrets = list(info.get("cmdline") or []), []
        else:
            clean_env, secrets = redact_env(env)
            argv, argv_secrets = redact_argv(info.get("cmdline") or [])
        uids = info.pop("uids")
        row = {
            "pid": info["pid"], "ppid": info["ppid"], "name": info["name"], "user": info["username"],
            "uid": uids.real if uids else None, "euid": uids.effective if uids else None,
            "exe": info["exe"], "cmdline": argv, "cwd": info["cwd"], "create_time": info["create_time"],
            "status": info["status"], "terminal": info["terminal"], "num_threads": info["num_threads"],
            "environ": clean_env if env else None,
            "secrets": [r.to_dict() for r in secrets + argv_secrets],
            "collector": info["pid"] == me,
        }
        if errors:
            row["errors"] = errors
        state.processes.append(row)
        _open_files(proc, row, state)
    try:
        conns = psutil.net_connections(kind="inet")
    except (psutil.AccessDenied, OSError) as exc:
        conns = []
        state.errors.append(f"connections: {exc}")
    names = {p["pid"]: p["name"] for p in state.processes}
    for c in conns:
        state.connections.append({
            "pid": c.pid, "process": names.get(c.pid), "fd": c.fd if c.fd != -1 else None,
            "family": _family(c.family), "type": _family(c.type), "laddr": _addr(c.laddr),
            "raddr": _addr(c.raddr), "status": c.status,
            "listening": c.status == psutil.CONN_LISTEN or (not c.raddr and _family(c.type) == "SOCK_DGRAM"),
        })
    try:
        for u in psutil.users():
            state.users.append({"name": u.name, "terminal": u.terminal, "host": u.host,
                                "started": u.started, "pid": getattr(u, "pid", None)})
    except (OSError, psutil.Error) as exc:
        state.errors.append(f"users: {exc}")
    return state


def _open_files(proc: Any, row: dict[str, Any], state: LiveState) -> None:
    import psutil

    seen: set[str] = set()
    try:
        files = proc.open_files()
    except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess, OSError):
        files = []
    for f in files:
        if is_model_or_cache(f.path):
            seen.add(f.path)
            state.open_files.append({
                "pid": row["pid"], "process": row["name"], "user": row["user"],
                "path": f.path.removesuffix(" (deleted)"),
                "fd": f.fd, "mode": getattr(f, "mode", None), "position": getattr(f, "position", None),
                "via": "fd", "deleted": f.path.endswith(" (deleted)"),
            })
    for path in sorted(_mapped_paths(row["pid"])):
        if path in seen or not is_model_or_cache(path):
            continue
        state.open_files.append({
            "pid": row["pid"], "process": row["name"], "user": row["user"],
            "path": path.removesuffix(" (deleted)"), "fd": None, "mode": "mmap", "position": None,
            "via": "mmap", "deleted": path.endswith(" (deleted)"),
        })


def hostname() -> str:
    return socket.gethostname()
