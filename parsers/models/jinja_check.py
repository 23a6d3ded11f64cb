"""Chat templates (GGUF ``tokenizer.chat_template``, tokenizer_config.json): find sandbox escapes.

The template is parsed with Jinja's own parser (``Environment().parse``): the AST is walked,
nothing is compiled or rendered. CVE-2024-34359 (llama-cpp-python) rendered GGUF templates
without a sandbox; payloads reach ``os.popen`` through ``__class__.__mro__``/``__subclasses__``
or through globals such as ``cycler.__init__.__globals__``.
"""

from __future__ import annotations

import re
from typing import Any

from mlsleuth.parsers.models.result import Severity

DUNDER_ESCAPES = {
    "__class__", "__subclasses__", "__globals__", "__builtins__", "__mro__", "__base__", "__bases__",
    "__init__", "__import__", "__dict__", "__getattribute__", "__reduce__", "__reduce_ex__", "__code__",
    "__func__", "__self__", "__module__", "__loader__", "__spec__", "__getitem__", "__call__",
    "func_globals", "f_globals", "gi_frame", "gi_code", "cr_frame", "tb_frame", "mro", "__closure__",
}
DANGEROUS_ATTRS = {"os", "popen", "system", "subprocess", "eval", "exec", "import_module", "__import__",
                   "builtins", "spawn", "check_output", "Popen", "getattr", "open", "read", "write",
                   "load_module", "modules", "environ"}
ESCAPE_GLOBALS = {"cycler", "joiner", "namespace", "lipsum", "self", "config", "request", "url_for",
                  "get_flashed_messages", "range", "dict"}
_DUNDER_IN_TEXT = re.compile(r"__\w+__|\\x5f\\x5f|\\u005f")


def _env() -> Any:
    import jinja2
    from jinja2 import nodes
    from jinja2.ext import Extension

    class _GenerationTag(Extension):
        # transformers' AssistantTracker: {% generation %}...{% endgeneration %}; parse only.
        tags = {"generation"}

        def parse(self, parser: Any) -> Any:
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return nodes.Scope(body, lineno=lineno)

    return jinja2.Environment(extensions=["jinja2.ext.loopcontrols", "jinja2.ext.do", _GenerationTag])


_ENV = None


def _const_text(node: Any) -> str | None:
    from jinja2 import nodes

    if isinstance(node, nodes.Const) and isinstance(node.value, str):
        return node.value
    if isinstance(node, nodes.Concat):
        parts = [_const_text(n) for n in node.nodes]
        return "".join(parts) if all(p is not None for p in parts) else None
    if isinstance(node, nodes.Add):
        a, b = _const_text(node.left), _const_text(node.right)
        return a + b if a is not None and b is not None else None
    return None


def scan_template(source: str) -> tuple[list[tuple[Severity, str, str]], str | None]:
    """[(severity, what, evidence)], parse error."""
    global _ENV
    from jinja2 import TemplateSyntaxError, nodes

    if _ENV is None:
        _ENV = _env()
    try:
        tree = _ENV.parse(source)
    except TemplateSyntaxError as exc:
        return [], f"line {exc.lineno}: {exc.message}"
    except (RecursionError, MemoryError) as exc:
        return [], type(exc).__name__
    hits: list[tuple[Severity, str, str]] = []
    names_used: set[str] = set()

    def note(sev: Severity, what: str, evidence: str) -> None:
        if len(hits) < 50 and (sev, what, evidence) not in hits:
            hits.append((sev, what, evidence))

    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter, nodes.Name, nodes.Const,
                               nodes.Concat, nodes.Add, nodes.Call)):
        if isinstance(node, nodes.Getattr):
            if node.attr in DUNDER_ESCAPES:
                note(Severity.CRITICAL, f"attribute {node.attr}", node.attr)
            elif node.attr in DANGEROUS_ATTRS:
                note(Severity.HIGH, f"attribute {node.attr}", node.attr)
        elif isinstance(node, nodes.Getitem):
            key = _const_text(node.arg)
            if key is not None and (key in DUNDER_ESCAPES or _DUNDER_IN_TEXT.search(key)):
                note(Severity.CRITICAL, f"item [{key!r}]", key)
            elif key in DANGEROUS_ATTRS:
                note(Severity.HIGH, f"item [{key!r}]", key)
        elif isinstance(node, nodes.Filter):
            if node.name in ("attr", "map", "selectattr", "rejectattr", "sort", "groupby", "sum"):
                for arg in list(node.args) + [kw.value for kw in node.kwargs]:
                    key = _const_text(arg)
                    if key and (key in DUNDER_ESCAPES or _DUNDER_IN_TEXT.search(key)):
                        note(Severity.CRITICAL, f"filter {node.name}({key!r})", key)
                    elif key in DANGEROUS_ATTRS and node.name == "attr":
                        note(Severity.HIGH, f"filter attr({key!r})", key)
            if node.name == "format":
                key = _const_text(node.node) if node.node is not None else None
                if key and re.search(r"\{[^}]*\.__", key):
                    note(Severity.CRITICAL, "format string reaching dunder attributes", key)
        elif isinstance(node, nodes.Name):
            names_used.add(node.name)
        elif isinstance(node, nodes.Add | nodes.Concat):
            joined = _const_text(node)
            if joined and _DUNDER_IN_TEXT.search(joined):
                note(Severity.CRITICAL, "dunder name assembled from string pieces", joined)
        elif isinstance(node, nodes.Const) and isinstance(node.value, str):
            if re.search(r"__(class|globals|builtins|subclasses|mro|import|base)__", node.value):
                note(Severity.HIGH, "string constant naming a dunder attribute", node.value[:80])
    if hits:
        for g in sorted(names_used & ESCAPE_GLOBALS):
            note(Severity.HIGH, f"escape-prone global {g}", g)
    return hits, None


def check_template(source: str, ctx: Any, location: str) -> None:
    hits, error = scan_template(source)
    if error:
        ctx.add("chat-template-unparseable", Severity.MEDIUM,
                f"chat template does not parse ({error}); it cannot be verified", location)
    if hits:
        worst = max(h[0] for h in hits)
        what = "; ".join(sorted({h[1] for h in hits}))[:400]
        ctx.add("chat-template-sandbox-escape", worst,
                f"chat template reaches Python internals ({what}): server-side template injection when "
                "rendered without a sandbox (CVE-2024-34359)", location, [h[2] for h in hits][:10])
