"""Turn a symbolic pickle analysis into findings with indicators."""

from __future__ import annotations

from typing import Any

from mlsleuth.parsers.models import indicators
from mlsleuth.parsers.models.pickle_policy import policy
from mlsleuth.parsers.models.pickle_vm import (
    BigData,
    CallVal,
    DictVal,
    GlobalRef,
    ListVal,
    Opaque,
    PersRef,
    PickleAnalysis,
    SetVal,
    analyze,
)
from mlsleuth.parsers.models.result import Finding, Severity

MAX_CALLS_PER_GLOBAL = 5


def render(value: Any, depth: int = 0, budget: int = 300) -> str:
    """A readable, bounded rendering of a symbolic value (for messages and indicators)."""
    if depth > 6:
        return "…"
    if isinstance(value, str):
        return repr(indicators.shorten(value, budget))
    if isinstance(value, bytes):
        return repr(value[:budget]) + ("…" if len(value) > budget else "")
    if isinstance(value, GlobalRef):
        return value.qualname
    if isinstance(value, CallVal):
        args = value.args if isinstance(value.args, tuple) else (value.args,)
        inner = ", ".join(render(a, depth + 1, 120) for a in args[:8])
        if isinstance(value.args, tuple) and len(value.args) > 8:
            inner += ", …"
        if value.kwargs is not None:
            inner += (", " if inner else "") + "**" + render(value.kwargs, depth + 1, 120)
        return f"{render(value.func, depth + 1)}({inner})"
    if isinstance(value, tuple):
        inner = ", ".join(render(a, depth + 1, 120) for a in value[:8])
        return f"({inner}{',' if len(value) == 1 else ''}{', …' if len(value) > 8 else ''})"
    if isinstance(value, ListVal):
        inner = ", ".join(render(a, depth + 1, 80) for a in value.items[:8])
        return f"[{inner}{', …' if value.count > 8 else ''}]"
    if isinstance(value, DictVal):
        inner = ", ".join(f"{render(k, depth + 1, 60)}: {render(v, depth + 1, 80)}" for k, v in value.items[:6])
        return "{" + inner + (", …" if value.count > 6 else "") + "}"
    if isinstance(value, SetVal):
        return "{" + ", ".join(render(a, depth + 1, 60) for a in value.items[:6]) + "}"
    if isinstance(value, PersRef):
        return f"persistent_id({render(value.pid, depth + 1, 80)})"
    if isinstance(value, BigData):
        return f"<{value.kind} of {value.length} bytes: {value.head[:80]!r}…>"
    if isinstance(value, Opaque):
        return f"<{value.what}>"
    return indicators.shorten(repr(value), budget)


def strings_in(value: Any, out: list[str], depth: int = 0) -> list[str]:
    if depth > 8 or len(out) > 40:
        return out
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, bytes):
        try:
            out.append(value.decode("utf-8"))
        except UnicodeDecodeError:
            pass
    elif isinstance(value, BigData):
        out.append(value.head)
    elif isinstance(value, CallVal):
        strings_in(value.args, out, depth + 1)
        if value.kwargs is not None:
            strings_in(value.kwargs, out, depth + 1)
    elif isinstance(value, tuple):
        for v in value:
            strings_in(v, out, depth + 1)
    elif isinstance(value, ListVal | SetVal):
        for v in value.items:
            strings_in(v, out, depth + 1)
    elif isinstance(value, DictVal):
        for k, v in value.items:
            strings_in(k, out, depth + 1)
            strings_in(v, out, depth + 1)
    return out


def _loc(location: str, offset: int) -> str:
    return f"{location}@{offset}" if location else f"offset {offset}"


def _func_of(call: CallVal) -> GlobalRef | None:
    return call.func if isinstance(call.func, GlobalRef) else None


def findings_for(analysis: PickleAnalysis, location: str = "", *, base: int = 0,
                 trailing_ok: bool = False, nested_depth: int = 0) -> list[Finding]:
    """Findings for one analysed pickle. ``base`` is subtracted from offsets (member-relative)."""
    pol = policy()
    out: list[Finding] = []
    calls_by_global: dict[int, list[CallVal]] = {}
    for call in analysis.calls:
        fn = _func_of(call)
        if fn is not None:
            calls_by_global.setdefault(id(fn), []).append(call)

    seen: dict[str, Finding] = {}
    for ref in analysis.globals:
        j = pol.judge(ref.module, ref.name)
        if j.allowed:
            continue
        calls = calls_by_global.get(id(ref), [])
        key = j.qualname
        finding = seen.get(key)
        inds: list[str] = []
        for call in calls[:MAX_CALLS_PER_GLOBAL]:
            inds.append(render(call))
            strs = strings_in(call.args, [])
            inds.extend(indicators.shorten(s, 400) for s in strs[:6])
            inds.extend(indicators.extract(strs))
        if finding is not None:
            finding.indicators = (finding.indicators + inds)[:20]
            continue
        raw = f"{ref.module}.{ref.name}"
        shown = raw if raw == j.qualname else f"{raw} (= {j.qualname})"
        if j.rule == "default":
            rule, msg = "pickle-unknown-global", f"imports {shown}, which is not on the allowlist"
        else:
            rule, msg = "pickle-dangerous-global", f"imports {shown}: {j.reason}"
        if calls:
            msg += f"; called {len(calls)}x"
        elif ref.opcode != "INST":
            msg += "; imported (importing alone runs module code)"
        finding = Finding(rule, j.severity or Severity.MEDIUM, msg,
                          _loc(location, ref.offset - base), inds)
        seen[key] = finding
        out.append(finding)

    for call in analysis.calls:
        func = call.func
        if isinstance(func, GlobalRef):
            # functools.partial(dangerous, ...): elevate the partial itself
            if func.name == "partial" and func.module in ("functools", "_functools"):
                target = call.args[0] if isinstance(call.args, tuple) and call.args else None
                if isinstance(target, GlobalRef):
                    tj = pol.judge(target.module, target.name)
                    if not tj.allowed and (tj.severity or 0) >= Severity.HIGH:
                        out.append(Finding("pickle-partial-dangerous", Severity.CRITICAL,
                                           f"functools.partial over {tj.qualname}",
                                           _loc(location, call.offset - base), [render(call)]))
            continue
        if isinstance(func, CallVal):
            out.append(Finding("pickle-indirect-call", Severity.HIGH,
                               f"calls the result of another call ({call.kind}): gadget chain",
                               _loc(location, call.offset - base),
                               [render(call)] + indicators.extract(strings_in(call, []))))
        elif isinstance(func, PersRef):
            out.append(Finding("pickle-persistent-call", Severity.MEDIUM,
                               "calls an object returned by persistent_load",
                               _loc(location, call.offset - base), [render(call)]))

    for build in analysis.builds:
        if isinstance(build.obj, GlobalRef):
            j = pol.judge(build.obj.module, build.obj.name)
            out.append(Finding("pickle-attribute-write", Severity.HIGH,
                               f"BUILD sets attributes on the imported object {j.qualname} itself",
                               _loc(location, build.offset - base), [render(build.state)]))

    if analysis.errors:
        off, reason = analysis.errors[0]
        before = len(analysis.calls)
        msg = (f"pickle stops at offset {off - base}: {reason}. Loading raises here, after running "
               f"the {before} call(s) before it (all analysed: broken-pickle / nullifAI technique)")
        out.append(Finding("pickle-parse-error", Severity.MEDIUM, msg, _loc(location, off - base)))
    for note in analysis.limits:
        out.append(Finding("analysis-limit", Severity.MEDIUM, f"analysis bounded: {note}", location))
    if analysis.trailing and not trailing_ok and not analysis.errors:
        off, length = analysis.trailing
        out.append(Finding("pickle-trailing-data", Severity.LOW,
                           f"{length} bytes after the last pickle were not analysed as pickle",
                           _loc(location, off - base)))

    for nested in analysis.nested:
        sub = findings_for(nested.analysis, f"{location} nested pickle@{nested.offset - base}".strip(),
                           base=base, trailing_ok=True, nested_depth=nested_depth + 1)
        out.extend(sub)
    return out


def scan_pickle_bytes(buf: Any, location: str = "", start: int = 0, end: int | None = None, *,
                      multi: bool = True, trailing_ok: bool = False) -> tuple[PickleAnalysis, list[Finding]]:
    analysis = analyze(buf, start, end, multi=multi)
    return analysis, findings_for(analysis, location, base=start, trailing_ok=trailing_ok)
