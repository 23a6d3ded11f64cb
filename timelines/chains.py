"""A chain as a responder reads it: ordered steps, a score, one paragraph to paste in a report,
and the static verdicts of the models involved."""

from __future__ import annotations

from typing import Any

from mlsleuth.timelines import entities as ent
from mlsleuth.timelines.correlate import Chain, Load, Origin, Step
from mlsleuth.timelines.frame import Timeline
from mlsleuth.timelines.typosquat import check_repo

from mlsleuth.events import from_epoch_us

MAX_EVIDENCE = 25

# Score weights: what the follow-on did, what the static inspector said, how the link was made.
KIND_WEIGHT = {"persistence": 30, "network": 25, "shell": 25, "download_tool": 25, "pip_install": 15,
               "child_process": 10, "remote_code": 10, "pip_config": 15}
VERDICT_WEIGHT = {"malicious": 35, "suspicious": 20}
STRONG_LINKS = {"pid", "indicator"}

ORIGIN_KIND = {"download": "download", "remote_code": "remote_code", "package_install": "package_install"}


def score(chain: Chain, tl: Timeline) -> int:
    o = chain.origin
    steps = [s for ld in chain.loads for s in ld.follow]
    kinds = {s.kind for s in steps}
    weights = sorted((KIND_WEIGHT.get(k, 5) for k in kinds), reverse=True)
    total = (weights[0] if weights else 0) + 5 * (len(weights) - 1)
    total += VERDICT_WEIGHT.get(o.verdict or "", 0)
    if o.tampered_rows:
        total += 15
    if o.untrusted_index:
        total += 15
    if o.what == "model" and check_repo(o.display):
        total += 10
    if any(s.link in STRONG_LINKS for s in steps):
        total += 10
    if any(s.kind == "pip_install" and "extra/unknown index" in s.reason for s in steps):
        total += 10
    return max(1, min(100, total))


def _flagged_paths(o: Origin, tl: Timeline) -> tuple[set[str], set[str]]:
    col = tl.col
    paths, shas = set(), set()
    for r in o.verdict_rows:
        if (col["verdict"][r] or "") in ("malicious", "suspicious"):
            if col["file_path"][r]:
                paths.add(col["file_path"][r])
            if col["sha256"][r]:
                shas.add(col["sha256"][r].lower())
    return paths, shas


def _representative(rows: list[int], o: Origin, tl: Timeline) -> int:
    """The flagged file's row, else the first completed file (with a hash), else the first."""
    col = tl.col
    paths, shas = _flagged_paths(o, tl)
    # locks and partial downloads carry the blob's hash too, but are not the file
    rows = [r for r in rows if not (col["file_path"][r] or "").endswith((".lock", ".incomplete"))] or rows
    for r in rows:
        if col["file_path"][r] in paths:
            return r
    for r in rows:
        if (col["sha256"][r] or "").lower() in shas:
            return r
    code = [r for r in rows if not (col["file_path"][r] or "").endswith("__init__.py")]
    modeling = [r for r in code if (col["file_path"][r] or "").rsplit("/", 1)[-1].startswith("modeling_")]
    if modeling:  # transformers imports the modeling file: where remote code runs
        return modeling[0]
    with_hash = [r for r in code if col["sha256"][r]]
    return (with_hash or code or rows)[0]


def _host_path(tl: Timeline, row: int) -> str:
    """The file itself: for a cache file, the blob behind its snapshot link."""
    blob = tl.extra(row).get("blob_path")
    return blob if isinstance(blob, str) and blob else (tl.col["file_path"][row] or "")


def origin_path(o: Origin, tl: Timeline) -> str:
    rows = sorted(o.rows or o.code_rows, key=lambda r: (int(tl.ts[r]), r))
    if not rows:
        return o.name
    return _host_path(tl, _representative(rows, o, tl)) or o.name


def _evidence(rows: list[int], tl: Timeline) -> list[str]:
    ev = tl.col["evidence"]
    out: list[str] = []
    for r in rows:
        e = ev[r] or f"row {r}"
        if e not in out:
            out.append(e)
    if len(out) > MAX_EVIDENCE:
        out = out[:MAX_EVIDENCE] + [f"... and {len(out) - MAX_EVIDENCE} more rows"]
    return out


def _t(tl: Timeline, row: int) -> str:
    return from_epoch_us(int(tl.ts[row])).isoformat(timespec="microseconds")


def _human_time(tl: Timeline, row: int) -> str:
    return from_epoch_us(int(tl.ts[row])).strftime("%Y-%m-%d %H:%M:%S UTC")


def origin_steps(o: Origin, tl: Timeline) -> list[dict[str, Any]]:
    """The download command, the files landing, the remote code written: what brought it in."""
    col = tl.col
    steps: list[tuple[int, dict[str, Any]]] = []
    for r in o.fetch_rows[:3]:
        steps.append((r, {"time": _t(tl, r), "kind": ORIGIN_KIND["download"], "path": col["file_path"][r] or "",
                          "reason": f"{col['source'][r]}: {col['user'][r] or 'someone'} ran "
                                    f"{(col['cmdline'][r] or '')[:200]!r}, which fetches {o.display}",
                          "evidence": _evidence([r], tl)}))
    rows = sorted(o.rows, key=lambda r: (int(tl.ts[r]), r))
    if rows:
        rep = _representative(rows, o, tl)
        n_files = len({col["file_path"][r] for r in rows if col["sha256"][r]})
        revs = sorted({col["revision"][r] for r in rows if col["revision"][r]})
        if o.what == "model":
            name = tl.extra(rep).get("repo_file") or (col["file_path"][rep] or "").rsplit("/", 1)[-1]
            reason = (f"{name} of model repo {o.display} downloaded to {o.host}"
                      + (f" ({n_files} file(s) of the repo" + (f", revision {', '.join(r[:12] for r in revs)}"
                                                              if revs else "") + ")" if n_files else "")
                      + (f"; snapshot path {col['file_path'][rep]}" if col["file_path"][rep] != _host_path(tl, rep)
                         else ""))
        elif o.what == "file":
            reason = f"model file {o.name} written on {o.host}"
        else:
            versions = sorted({col["version"][r] for r in rows if col["version"][r]})
            reason = (f"package {o.display} {', '.join(versions)} installed on {o.host}"
                      + (f" from the extra/unknown index {o.untrusted_index}" if o.untrusted_index else ""))
        others = [rep] + [r for r in rows if r != rep]
        steps.append((rep, {"time": _t(tl, rep), "kind": ORIGIN_KIND["package_install" if o.what == "package"
                                                                        else "download"],
                            "path": _host_path(tl, rep), "reason": reason,
                            "evidence": _evidence(others + o.verdict_rows + o.tampered_rows, tl)}))
    code = sorted(o.code_rows, key=lambda r: (int(tl.ts[r]), r))
    if code:
        rep = _representative(code, o, tl)
        steps.append((rep, {"time": _t(tl, rep), "kind": "remote_code", "path": col["file_path"][rep] or "",
                            "reason": f"remote code of {o.display} written on {o.host} ({len(code)} module "
                                      f"file(s)): the repo was loaded with remote code enabled",
                            "evidence": _evidence([rep] + [r for r in code if r != rep], tl)}))
    steps.sort(key=lambda x: (int(tl.ts[x[0]]), x[0]))
    return [d for _, d in steps]


def step_path(step: Step, tl: Timeline) -> str:
    col = tl.col
    r = step.row
    if step.kind == "network":
        return col["remote_addr"][r] or ""
    return col["file_path"][r] or col["cmdline"][r] or col["process"][r] or ""


def load_step(ld: Load, tl: Timeline) -> dict[str, Any]:
    col = tl.col
    r = ld.row
    who = tl.col["user"][r] or "an unknown user"
    src = col["source"][r] or col["category"][r]
    if ld.proc_row is not None:
        p = ld.proc_row
        return {"time": _t(tl, p), "kind": "load", "path": col["file_path"][r] or "",
                "reason": f"process {col['cmdline'][p] or col['process'][p]!r} (pid {ld.pid}, started "
                          f"{_human_time(tl, p)}, user {col['user'][p] or '?'}): {ld.reason} "
                          f"(observed {_human_time(tl, r)})",
                "evidence": _evidence([p, r], tl)}
    return {"time": _t(tl, r), "kind": "load", "path": col["file_path"][r] or origin_path(ld.origin, tl),
            "reason": f"{src} ({col['timestamp_desc'][r]}) by {who} {ld.reason}",
            "evidence": _evidence([r], tl)}


def follow_step(step: Step, tl: Timeline) -> dict[str, Any]:
    return {"time": _t(tl, step.row), "kind": step.kind, "path": step_path(step, tl),
            "reason": step.reason, "evidence": _evidence(step.rows, tl)}


def verdicts(o: Origin, tl: Timeline) -> list[dict[str, Any]]:
    col = tl.col
    out: list[dict[str, Any]] = []
    seen: set[tuple] = set()
    for r in o.verdict_rows:
        key = (col["file_path"][r], col["sha256"][r], col["verdict"][r])
        if key in seen:
            continue
        seen.add(key)
        out.append({"path": col["file_path"][r] or "", "sha256": col["sha256"][r] or "",
                    "verdict": col["verdict"][r] or "", "summary": (col["message"][r] or "")[:500]})
    for r in o.tampered_rows:
        out.append({"path": col["file_path"][r] or "", "sha256": col["sha256"][r] or "",
                    "verdict": "tampered", "summary": (col["message"][r] or "")[:500]})
    return out


def summary(chain: Chain, tl: Timeline) -> str:
    o = chain.origin
    col = tl.col
    first = (o.rows or o.code_rows)[0]
    vs = verdicts(o, tl)
    flagged = [v for v in vs if v["verdict"] in ("malicious", "suspicious", "tampered")]
    what = {"model": f"the model repo {o.display}", "file": f"the model file {o.display}",
            "package": f"the package {o.display}"}[o.what]
    verb = {"download": "was downloaded", "remote_code": "had its remote code written",
            "package_install": "was installed"}[o.kind]
    rows = o.rows or o.code_rows
    where = ent.repo_dir(tl.col["file_path"][rows[0]]) or origin_path(o, tl)
    parts = [f"On host {o.host}, {what} {verb} at {_human_time(tl, first)}"
             + (f" to {where}" if o.what != "file" else "")
             + (f" from the extra/unknown index {o.untrusted_index}" if o.untrusted_index else "") + "."]
    squat = check_repo(o.display) if o.what == "model" else None
    if squat:
        parts.append(f"Its name imitates {squat.imitates} ({squat.how}).")
    if flagged:
        v = flagged[0]
        parts.append(f"Static analysis rates {v['path'] or 'it'} {v['verdict']}"
                     + (f" ({v['summary'][:200]})" if v["summary"] else "") + ".")
    elif vs:
        parts.append(f"Static analysis rates its files {', '.join(sorted({v['verdict'] for v in vs}))}.")
    for ld in chain.loads:
        who = col["user"][ld.row] or "an unknown user"
        where = col["file_path"][ld.row] or col["source"][ld.row]
        about = "" if ld.quality == "exact" else f"about ({ld.quality}) "
        if ld.proc_row is not None:
            p = ld.proc_row
            parts.append(f"Process {ld.pid} ({(col['cmdline'][p] or col['process'][p] or '')[:100]}), started "
                         f"at {_human_time(tl, p)} by {col['user'][p] or who}, loaded it: it still held "
                         f"{col['file_path'][ld.row]} open at {_human_time(tl, ld.row)}.")
        else:
            parts.append(f"At {about}{_human_time(tl, ld.row)} {who} loaded it ({col['source'][ld.row]} in "
                         f"{where}, which {ld.reason}).")
        items = []
        for s in ld.follow[:5]:
            anchor = ld.proc_row if ld.proc_row is not None else ld.row
            dt = (int(tl.ts[s.row]) - int(tl.ts[anchor])) / 1e6
            when = f"{dt:.0f} s later" if dt >= 0 else f"at {_human_time(tl, s.row)}"
            items.append(f"{_KIND_TEXT.get(s.kind, s.kind)} {step_path(s, tl)[:120]} ({when}; "
                         f"{_LINK_TEXT.get(s.link, s.link)})")
        more = f", and {len(ld.follow) - 5} more" if len(ld.follow) > 5 else ""
        parts.append("Then followed: " + "; ".join(items) + more + ".")
    parts.append(f"Score {chain.score}/100.")
    return " ".join(parts)


_KIND_TEXT = {"persistence": "a write to", "network": "a connection to", "shell": "a shell",
              "download_tool": "a download/network tool", "child_process": "a child process",
              "pip_install": "a package install", "remote_code": "remote code in",
              "pip_config": "a package index setting in"}
_LINK_TEXT = {"pid": "linked by its process ancestry", "indicator": "named by the model's payload",
              "verdict+user": "same user, after loading a flagged model or package"}


def finish(chains: list[Chain], tl: Timeline) -> list[dict[str, Any]]:
    """Score and describe each chain; return them in findings.json form, highest score first."""
    out = []
    for c in chains:
        c.score = score(c, tl)
        c.summary = summary(c, tl)
        steps = origin_steps(c.origin, tl)
        for ld in c.loads:
            steps.append(load_step(ld, tl))
            steps.extend(follow_step(s, tl) for s in ld.follow)
        out.append({"id": c.id, "score": c.score, "summary": c.summary, "steps": steps,
                    "verdicts": verdicts(c.origin, tl)})
    out.sort(key=lambda d: (-d["score"], d["id"]))
    return out
