"""Remote code and scripts: modeling_*.py, hubconf.py, dataset scripts, notebooks, and the JSON
configs that point at them (``auto_map``), checked with ``ast`` (parsed, never imported).

Rules: process spawning, fetch-and-exec, dynamic code (exec/eval/compile, especially over
decoded data: base64/zlib/marshal/codecs obfuscation), persistence writes (shell rc files,
cron, systemd, authorized_keys, .pth/sitecustomize), credential reads (SSH keys, cloud and
Hugging Face tokens, .netrc, token-like environment variables) and network access.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from typing import Any

from mlsleuth.parsers.models import indicators
from mlsleuth.parsers.models.context import Ctx
from mlsleuth.parsers.models.result import Severity

MAX_SOURCE = 8 * 1024 * 1024

PROCESS = {
    "os.system", "os.popen", "os.spawnl", "os.spawnle", "os.spawnlp", "os.spawnv", "os.spawnve", "os.spawnvp",
    "os.execl", "os.execle", "os.execlp", "os.execv", "os.execve", "os.execvp", "os.execvpe", "os.posix_spawn",
    "os.posix_spawnp", "os.fork", "os.forkpty", "subprocess.Popen", "subprocess.run", "subprocess.call",
    "subprocess.check_call", "subprocess.check_output", "subprocess.getoutput", "subprocess.getstatusoutput",
    "pty.spawn", "commands.getoutput", "asyncio.create_subprocess_shell", "asyncio.create_subprocess_exec",
    "multiprocessing.Process", "platform.popen",
}
DYNAMIC = {"exec", "eval", "compile", "builtins.exec", "builtins.eval", "builtins.compile", "execfile"}
DECODERS = {"base64.b64decode", "base64.b32decode", "base64.b85decode", "base64.a85decode",
            "base64.decodebytes", "base64.urlsafe_b64decode", "zlib.decompress", "gzip.decompress",
            "bz2.decompress", "lzma.decompress", "marshal.loads", "codecs.decode", "binascii.unhexlify",
            "binascii.a2b_base64", "bytes.fromhex", "pickle.loads", "dill.loads", "cloudpickle.loads"}
NETWORK = {"urllib.request.urlopen", "urllib.request.urlretrieve", "urllib.urlopen", "urllib2.urlopen",
           "requests.get", "requests.post", "requests.put", "requests.request", "requests.Session",
           "httpx.get", "httpx.post", "httpx.Client", "http.client.HTTPConnection",
           "http.client.HTTPSConnection", "socket.socket", "socket.create_connection", "ftplib.FTP",
           "smtplib.SMTP", "paramiko.SSHClient", "aiohttp.ClientSession", "wget.download"}
NATIVE = {"ctypes.CDLL", "ctypes.cdll.LoadLibrary", "ctypes.WinDLL", "ctypes.PyDLL", "cffi.FFI"}
IMPORTERS = {"__import__", "importlib.import_module", "importlib.__import__", "imp.load_source",
             "importlib.util.spec_from_file_location", "runpy.run_path", "runpy.run_module", "pkgutil.resolve_name"}
FILE_WRITERS = {"open", "io.open", "builtins.open", "codecs.open", "os.open", "pathlib.Path.write_text",
                "pathlib.Path.write_bytes", "shutil.copy", "shutil.copyfile", "shutil.move", "os.rename",
                "os.replace", "os.symlink"}
CRED_ENV = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|ACCESS_?KEY|AWS_|HF_|HUGGING|OPENAI|CREDENTIAL)", re.I)
SHELL_IN_STRING = re.compile(r"(\bcurl\b|\bwget\b|\bbash\b|/bin/sh|\bnc\b\s|\bpowershell\b|chmod\s+\+x|\|\s*sh\b)")


@dataclass
class _Hit:
    rule: str
    severity: Severity
    message: str
    line: int
    indicators: list[str] = field(default_factory=list)


class _Analyzer(ast.NodeVisitor):
    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}
        self.hits: list[_Hit] = []
        self.network_lines: list[int] = []
        self.dynamic_lines: list[int] = []
        self.cred_lines: list[int] = []
        self.strings: list[str] = []

    # names ---------------------------------------------------------------------------------
    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            self.aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
            if a.name.split(".")[0] in ("ctypes", "pty", "marshal"):
                self.hit("code-sensitive-import", Severity.LOW, f"imports {a.name}", node)
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        mod = node.module or ""
        for a in node.names:
            self.aliases[a.asname or a.name] = f"{mod}.{a.name}" if mod else a.name
        self.generic_visit(node)

    def qual(self, node: ast.AST) -> str:
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            base = self.qual(node.value)
            return f"{base}.{node.attr}" if base else node.attr
        if isinstance(node, ast.Call):
            return self.qual(node.func) + "()"
        return ""

    def hit(self, rule: str, sev: Severity, msg: str, node: ast.AST, inds: list[str] | None = None) -> None:
        self.hits.append(_Hit(rule, sev, msg, getattr(node, "lineno", 0), inds or []))

    # strings -------------------------------------------------------------------------------
    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and len(self.strings) < 2000:
            self.strings.append(node.value)
            for rx, rule, why, sev in ((indicators.SECRET_PATH_RE, "code-credential-access",
                                        "references a credential file", Severity.MEDIUM),):
                m = rx.search(node.value)
                if m:
                    self.cred_lines.append(node.lineno)
                    self.hit(rule, sev, f"{why}: {m.group(0)}", node, [indicators.shorten(node.value)])

    # calls ---------------------------------------------------------------------------------
    def visit_Call(self, node: ast.Call) -> None:
        name = self.qual(node.func)
        short = name.rsplit(".", 1)[-1]
        args_text = [indicators.shorten(sub.value) for a in node.args for sub in ast.walk(a)
                     if isinstance(sub, ast.Constant) and isinstance(sub.value, str)][:12]
        inner = " ".join(args_text)
        if name in PROCESS or (name.startswith("subprocess.") and short[:1].islower()):
            sev = Severity.HIGH
            if SHELL_IN_STRING.search(inner) or any(k.arg == "shell" for k in node.keywords):
                sev = Severity.CRITICAL
            self.hit("code-process-spawn", sev, f"spawns a process: {name}()", node,
                     args_text + indicators.extract(args_text))
        elif name in DYNAMIC or short in ("exec", "eval") and name in ("builtins." + short, short):
            sev = Severity.HIGH
            decoded = self._feeds_from(node, DECODERS)
            if decoded:
                sev = Severity.CRITICAL
                self.hit("code-obfuscated-exec", sev,
                         f"{name}() of data decoded with {decoded}: obfuscated payload", node, args_text)
            else:
                self.hit("code-dynamic-exec", sev, f"runs dynamically built code: {name}()", node, args_text)
            self.dynamic_lines.append(node.lineno)
        elif name in NETWORK or ("()" not in name and name.startswith(("requests.", "httpx.", "urllib.request.",
                                                                       "socket."))):
            self.network_lines.append(node.lineno)
            self.hit("code-network", Severity.MEDIUM, f"network access: {name}()", node,
                     indicators.extract(args_text) or args_text)
        elif name in NATIVE or name.startswith("ctypes."):
            self.hit("code-native", Severity.HIGH, f"loads native code: {name}()", node, args_text)
        elif name in IMPORTERS:
            dynamic = not all(isinstance(a, ast.Constant) for a in node.args)
            self.hit("code-dynamic-import", Severity.HIGH if dynamic or name.startswith("runpy") else Severity.MEDIUM,
                     f"imports/runs code by name: {name}()", node, args_text)
        elif name in ("marshal.loads", "pickle.loads", "dill.loads", "cloudpickle.loads", "pickle.load",
                      "torch.load", "joblib.load"):
            self.hit("code-deserialization", Severity.MEDIUM, f"deserializes data: {name}()", node, args_text)
        if name in FILE_WRITERS or short in ("write_text", "write_bytes"):
            mode = self._mode(node) or ""
            joined = " ".join(args_text)
            m = indicators.PERSISTENCE_RE.search(joined)
            opener = name in ("open", "io.open", "builtins.open", "codecs.open", "os.open")
            if m and (not opener or any(ch in mode for ch in "wax")):
                self.hit("code-persistence", Severity.CRITICAL, f"writes a persistence location: {m.group(0)}",
                         node, args_text)
            if indicators.SECRET_PATH_RE.search(joined):
                self.cred_lines.append(node.lineno)
        if name in ("os.environ.get", "os.getenv", "os.environ.__getitem__") and args_text:
            if CRED_ENV.search(args_text[0]):
                self.cred_lines.append(node.lineno)
                self.hit("code-credential-access", Severity.MEDIUM,
                         f"reads secret-looking environment variable {args_text[0]}", node, args_text)
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if self.qual(node.value) == "os.environ" and isinstance(node.slice, ast.Constant) \
                and isinstance(node.slice.value, str) and CRED_ENV.search(node.slice.value):
            self.cred_lines.append(node.lineno)
            self.hit("code-credential-access", Severity.MEDIUM,
                     f"reads secret-looking environment variable {node.slice.value}", node, [node.slice.value])
        self.generic_visit(node)

    def _mode(self, node: ast.Call) -> str | None:
        if len(node.args) > 1 and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str):
            return node.args[1].value
        for kw in node.keywords:
            if kw.arg == "mode" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
                return kw.value.value
        return None

    def _feeds_from(self, node: ast.Call, funcs: set[str]) -> str | None:
        for sub in ast.walk(node):
            if sub is not node and isinstance(sub, ast.Call):
                n = self.qual(sub.func)
                if n in funcs or n.rsplit(".", 1)[-1] in ("b64decode", "decompress", "unhexlify", "fromhex"):
                    return n
        return None


def analyze_source(source: str, ctx: Ctx, location: str) -> None:
    if len(source) > MAX_SOURCE:
        ctx.add("analysis-limit", Severity.MEDIUM, f"source larger than {MAX_SOURCE} bytes analysed in part",
                location)
        source = source[:MAX_SOURCE]
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        ctx.add("code-unparseable", Severity.MEDIUM, f"Python source does not parse ({type(exc).__name__}: "
                f"{getattr(exc, 'msg', exc)}); it cannot be verified", location)
        return
    an = _Analyzer()
    try:
        an.visit(tree)
    except RecursionError:
        ctx.add("analysis-limit", Severity.MEDIUM, "syntax tree too deep", location)
    for h in an.hits:
        ctx.add(h.rule, h.severity, h.message, f"{location}:{h.line}" if location else f"line {h.line}",
                h.indicators)
    if an.network_lines and an.dynamic_lines:
        ctx.add("code-fetch-and-exec", Severity.CRITICAL,
                "downloads data and executes code in the same file (fetch-and-exec)", location,
                [f"network at line {an.network_lines[0]}", f"exec at line {an.dynamic_lines[0]}"])
    if an.network_lines and an.cred_lines:
        ctx.add("code-credential-exfiltration", Severity.CRITICAL,
                "reads credentials and uses the network in the same file (exfiltration pattern)", location,
                [f"credential at line {an.cred_lines[0]}", f"network at line {an.network_lines[0]}"])


def inspect_python(buf: Any, ctx: Ctx) -> None:
    ctx.format = "python"
    analyze_source(bytes(buf[:MAX_SOURCE + 1]).decode("utf-8", "replace"), ctx, "")


# -- notebooks ---------------------------------------------------------------------------------
def inspect_notebook(nb: dict, ctx: Ctx) -> None:
    ctx.format = "notebook"
    cells = nb.get("cells") if isinstance(nb.get("cells"), list) else []
    for i, cell in enumerate(cells[:5000]):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        src = cell.get("source", "")
        if isinstance(src, list):
            src = "".join(s for s in src if isinstance(s, str))
        if not isinstance(src, str):
            continue
        python_lines = []
        for line in src.splitlines():
            stripped = line.lstrip()
            if stripped.startswith("!") or stripped.startswith("%%bash") or stripped.startswith("%system") \
                    or stripped.startswith("%sx"):
                cmd = stripped.lstrip("!%").strip()
                sev = Severity.HIGH if SHELL_IN_STRING.search(cmd) else Severity.LOW
                ctx.add("notebook-shell-command", sev, f"cell {i} runs a shell command", f"cell {i}",
                        [indicators.shorten(cmd)] + indicators.extract([cmd]))
                python_lines.append("")
            elif stripped.startswith("%"):
                python_lines.append("")
            else:
                python_lines.append(line)
        analyze_source("\n".join(python_lines), ctx, f"cell {i}")


# -- JSON configs ------------------------------------------------------------------------------
def inspect_json(doc: Any, ctx: Ctx) -> None:
    """config.json (auto_map / custom code), tokenizer_config.json (chat_template), keras configs."""
    ctx.format = "json"
    if not isinstance(doc, dict):
        return
    if "cells" in doc and "nbformat" in doc:
        inspect_notebook(doc, ctx)
        return
    auto_map = doc.get("auto_map")
    if isinstance(auto_map, dict):
        ctx.format = "hf-config"
        targets = []
        for key, target in auto_map.items():
            for t in target if isinstance(target, list) else [target]:
                if isinstance(t, str):
                    targets.append(f"{key}={t}")
        remote = [t for t in targets if "--" in t]
        ctx.add("remote-code-auto-map", Severity.MEDIUM if remote else Severity.LOW,
                "auto_map: loading needs trust_remote_code and runs the referenced Python files"
                + (" from ANOTHER repository" if remote else ""), "auto_map", targets[:20])
    if doc.get("trust_remote_code") is True:
        ctx.add("remote-code-flag", Severity.LOW, "config sets trust_remote_code", "trust_remote_code")
    template = doc.get("chat_template")
    if isinstance(template, str | list):
        from mlsleuth.parsers.models.jinja_check import check_template

        ctx.format = "tokenizer-config" if ctx.format == "json" else ctx.format
        items = template if isinstance(template, list) else [{"name": "default", "template": template}]
        for it in items:
            src = it.get("template") if isinstance(it, dict) else None
            if isinstance(src, str):
                check_template(src, ctx, f"chat_template[{it.get('name', '')}]")
    if "class_name" in doc and ("config" in doc or "module" in doc):
        from mlsleuth.parsers.models.formats.keras import ConfigWalker

        ctx.format = "keras-config"
        ConfigWalker(ctx, "").walk(doc)


def looks_like_python(ctx: Ctx, head: bytes) -> bool:
    if ctx.ext in (".py", ".pyw"):
        return True
    return head.startswith(b"#!") and b"python" in head[:80]


def parse_json(buf: Any) -> Any:
    return json.loads(bytes(buf).decode("utf-8-sig"))
