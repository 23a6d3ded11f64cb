"""Static look at Python source found in evidence (remote code, startup hooks, .pth lines).

Only ``ast.parse``: the code is never imported, compiled to run, or executed. Reports what it
imports and which calls are the usual tools of a payload (process spawning, network, dynamic
code, decoding blobs), so a responder sees at a glance why a file matters.
"""

from __future__ import annotations

import ast
from typing import Any

RISKY_CALLS = {
    "os.system", "os.popen", "os.exec", "os.spawn", "os.fork", "subprocess", "pty.spawn",
    "socket.socket", "socket.create_connection", "urllib.request.urlopen", "urlopen", "requests.get",
    "requests.post", "httpx", "eval", "exec", "compile", "__import__", "importlib.import_module",
    "base64.b64decode", "b64decode", "marshal.loads", "pickle.loads", "ctypes", "codecs.decode",
    "zlib.decompress", "shutil.rmtree", "os.remove", "os.unlink",
}
RISKY_IMPORTS = {"socket", "subprocess", "ctypes", "pty", "marshal", "requests", "urllib", "paramiko",
                 "httpx", "base64"}
MAX_SOURCE = 4 << 20
MAX_ITEMS = 50


def _dotted(node: ast.AST) -> str:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def summarize(source: str) -> dict[str, Any]:
    """{"imports": [...], "risky": [...], "lines": n} or {"syntax_error": "..."}."""
    out: dict[str, Any] = {"lines": source.count("\n") + 1}
    if len(source) > MAX_SOURCE:
        out["note"] = "too large to parse"
        return out
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        out["syntax_error"] = str(exc)[:200]
        return out
    imports: list[str] = []
    risky: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imports.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imports.extend(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call):
            name = _dotted(node.func)
            if name and any(name == r or name.startswith(r + ".") or name.startswith(r) and r.endswith(
                    (".exec", ".spawn")) for r in RISKY_CALLS):
                risky.append(name)
    out["imports"] = sorted(set(imports))[:MAX_ITEMS]
    risky_imports = sorted({i for i in imports if i.split(".")[0] in RISKY_IMPORTS})
    out["risky"] = sorted(set(risky) | set(risky_imports))[:MAX_ITEMS]
    return out
