"""Everything the exporters need, computed once: the timeline, chains, findings, fleet rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlsleuth.timelines import chains as chainmod
from mlsleuth.timelines.correlate import Chain, Correlator
from mlsleuth.timelines.fleet import fleet_rows
from mlsleuth.timelines.frame import Timeline
from mlsleuth.timelines.rules import RULES, Finding, run_rules

from mlsleuth.events import from_epoch_us

RULE_BY_NAME = {r.name: r for r in RULES}


@dataclass
class Report:
    tl: Timeline
    chains: list[dict[str, Any]]  # findings.json form
    findings: list[dict[str, Any]]  # findings.json form
    chain_objs: list[Chain] = field(default_factory=list)
    finding_objs: list[Finding] = field(default_factory=list)
    fleet: list[dict[str, Any]] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)
    row_chains: dict[int, list[str]] = field(default_factory=dict)  # row -> chain ids
    row_rules: dict[int, list[str]] = field(default_factory=dict)  # row -> rule names

    def findings_json(self) -> dict[str, Any]:
        return {"chains": self.chains, "findings": self.findings}


def finding_json(f: Finding, tl: Timeline) -> dict[str, Any]:
    ev = tl.col["evidence"]
    evidence: list[str] = []
    for r in f.rows:
        e = ev[r] or f"row {r}"
        if e not in evidence:
            evidence.append(e)
    return {"rule": f.rule, "severity": f.severity,
            "time": from_epoch_us(int(tl.ts[f.row])).isoformat(timespec="microseconds"),
            "path": f.path, "summary": f.summary, "evidence": evidence[:chainmod.MAX_EVIDENCE]}


def build_report(tl: Timeline, window: int) -> Report:
    corr = Correlator(tl, window=window)
    chain_objs = corr.run()
    chains = chainmod.finish(chain_objs, tl)
    finding_objs = run_rules(tl, corr)
    findings = [finding_json(f, tl) for f in finding_objs]
    hosts = sorted({h for h in tl.col["host"] if h})
    row_chains: dict[int, list[str]] = {}
    for c in chain_objs:
        rows = [*c.origin.rows, *c.origin.code_rows, *c.origin.fetch_rows]
        for ld in c.loads:
            rows.append(ld.row)
            if ld.proc_row is not None:
                rows.append(ld.proc_row)
            for s in ld.follow:
                rows.extend(s.rows)
        for r in rows:
            row_chains.setdefault(r, [])
            if c.id not in row_chains[r]:
                row_chains[r].append(c.id)
    row_rules: dict[int, list[str]] = {}
    for f in finding_objs:
        for r in f.rows:
            row_rules.setdefault(r, [])
            if f.rule not in row_rules[r]:
                row_rules[r].append(f.rule)
    return Report(tl=tl, chains=chains, findings=findings, chain_objs=chain_objs,
                  finding_objs=finding_objs, fleet=fleet_rows(tl) if len(hosts) > 1 else [],
                  hosts=hosts, row_chains=row_chains, row_rules=row_rules)
