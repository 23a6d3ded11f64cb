"""The responder's tables (Findings, Models, Packages, Processes, Fleet) as columns + rows.

docs/spreadsheet.md says what each column means; keep the two in step.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mlsleuth.timelines import entities as ent
from mlsleuth.timelines import signals as sig
from mlsleuth.timelines.fleet import FLEET_COLUMNS
from mlsleuth.timelines.report import RULE_BY_NAME, Report

Table = tuple[tuple[str, ...], Iterator[list[Any]]]

FINDINGS_COLUMNS = ("chain_or_rule", "severity", "score", "step", "time", "kind", "host", "path",
                    "reason", "evidence", "attack", "summary")
MODELS_COLUMNS = ("host", "repo", "revision", "file", "path", "sha256", "size", "verdict",
                  "verdict_detail", "first_seen", "last_seen", "user", "chains", "evidence")
PACKAGES_COLUMNS = ("host", "package", "version", "installed", "installer", "index", "untrusted_index",
                    "requested", "user", "path", "source", "findings", "chains", "evidence")
PROCESSES_COLUMNS = ("started", "host", "user", "pid", "ppid", "process", "cmdline", "source",
                     "chains", "evidence")


def _iso(rep: Report, row: int) -> str:
    return rep.tl.col["datetime"][row]


def chain_severity(score: int) -> str:
    return "critical" if score >= 80 else "high" if score >= 60 else "medium" if score >= 35 else "low"


def findings_table(rep: Report) -> Table:
    hosts = {c.id: c.origin.host for c in rep.chain_objs}

    def rows() -> Iterator[list[Any]]:
        for chain in rep.chains:
            host = hosts.get(chain["id"], "")
            for i, step in enumerate(chain["steps"], 1):
                yield [chain["id"], chain_severity(chain["score"]), chain["score"], i, step["time"],
                       step["kind"], host, step["path"], step["reason"], "\n".join(step["evidence"]),
                       "", chain["summary"] if i == 1 else ""]
        for f, fj in zip(rep.finding_objs, rep.findings, strict=True):
            rule = RULE_BY_NAME.get(f.rule)
            yield [f.rule, f.severity, None, None, fj["time"], "finding", rep.tl.col["host"][f.row],
                   fj["path"], rule.description if rule else "", "\n".join(fj["evidence"]),
                   rule.attack if rule else "", fj["summary"]]
    return FINDINGS_COLUMNS, rows()


def _verdicts_by_entity(rep: Report) -> dict[tuple[str, str], int]:
    c = rep.tl.col
    out: dict[tuple[str, str], int] = {}
    rank = {"malicious": 4, "suspicious": 3, "error": 2, "unsupported": 2, "clean": 1}
    for row, cat in enumerate(c["category"]):
        if cat != "finding" or not c["verdict"][row]:
            continue
        for key in ((c["host"][row], "h:" + (c["sha256"][row] or "").lower()),
                    (c["host"][row], "p:" + (c["file_path"][row] or ""))):
            if key[1] in ("h:", "p:"):
                continue
            old = out.get(key)
            if old is None or rank.get(c["verdict"][row], 0) > rank.get(c["verdict"][old], 0):
                out[key] = row
    return out


def models_table(rep: Report) -> Table:
    c = rep.tl.col
    verdicts = _verdicts_by_entity(rep)
    groups: dict[tuple[str, str], list[int]] = {}
    for row, cat in enumerate(c["category"]):
        if cat in ("model_download", "remote_code"):
            groups.setdefault((c["host"][row], c["file_path"][row] or c["evidence"][row]), []).append(row)
    used_verdicts: set[int] = set()

    def rows() -> Iterator[list[Any]]:
        for (host, path), rs in groups.items():
            first, last = rs[0], rs[-1]
            sha = next((c["sha256"][r] for r in rs if c["sha256"][r]), "") or ""
            v = verdicts.get((host, "h:" + sha.lower())) if sha else None
            if v is None:
                v = verdicts.get((host, "p:" + path))
            if v is not None:
                used_verdicts.add(v)
            repo = ent.norm_repo(c["model_repo"][first]) or ent.repo_from_path(path) or ""
            extra = rep.tl.extra(first)
            rdir = ent.repo_dir(path)
            file_in_repo = path.split("/snapshots/", 1)[1].split("/", 1)[-1] if "/snapshots/" in path else \
                (path[len(rdir) + 1:] if rdir else path.rsplit("/", 1)[-1])
            chains = sorted({cid for r in rs for cid in rep.row_chains.get(r, [])})
            yield [host, repo, c["revision"][first] or "", file_in_repo, path, sha,
                   extra.get("size") if isinstance(extra.get("size"), int) else None,
                   c["verdict"][v] if v is not None else "", (c["message"][v] or "") if v is not None else "",
                   _iso(rep, first), _iso(rep, last), c["user"][first] or ent.owner_of_path(path),
                   ", ".join(chains), "\n".join(dict.fromkeys(c["evidence"][r] for r in rs[:10]))]
        # verdicts on model files that no download event covers (stray files)
        for row in sorted(set(verdicts.values()) - used_verdicts):
            if c["package"][row]:
                continue
            path = c["file_path"][row] or ""
            yield [c["host"][row], ent.norm_repo(c["model_repo"][row]) or ent.repo_from_path(path) or "",
                   c["revision"][row] or "", path.rsplit("/", 1)[-1], path, c["sha256"][row] or "", None,
                   c["verdict"][row], c["message"][row] or "", _iso(rep, row), _iso(rep, row),
                   c["user"][row] or ent.owner_of_path(path), ", ".join(rep.row_chains.get(row, [])),
                   c["evidence"][row]]
    return MODELS_COLUMNS, rows()


def packages_table(rep: Report) -> Table:
    c = rep.tl.col

    def rows() -> Iterator[list[Any]]:
        for row, cat in enumerate(c["category"]):
            if cat != "package_install":
                continue
            extra = rep.tl.extra(row)
            index, untrusted = sig.install_index(c["index_url"][row], extra)
            requested = extra.get("requested")
            yield [c["host"][row], c["package"][row] or "", c["version"][row] or "", _iso(rep, row),
                   str(extra.get("installer") or ""), index or "", "yes" if untrusted else "",
                   "" if requested is None else ("yes" if requested else "no"),
                   c["user"][row] or ent.owner_of_path(c["file_path"][row]), c["file_path"][row] or "",
                   c["source"][row], ", ".join(rep.row_rules.get(row, [])),
                   ", ".join(rep.row_chains.get(row, [])), c["evidence"][row]]
    return PACKAGES_COLUMNS, rows()


def processes_table(rep: Report) -> Table:
    c = rep.tl.col

    def rows() -> Iterator[list[Any]]:
        for row, cat in enumerate(c["category"]):
            if cat != "process":
                continue
            yield [_iso(rep, row), c["host"][row], c["user"][row], c["pid"][row], c["ppid"][row],
                   c["process"][row] or "", c["cmdline"][row] or "", c["source"][row],
                   ", ".join(rep.row_chains.get(row, [])), c["evidence"][row]]
    return PROCESSES_COLUMNS, rows()


def fleet_table(rep: Report) -> Table:
    return FLEET_COLUMNS, ([r[k] for k in FLEET_COLUMNS] for r in rep.fleet)
