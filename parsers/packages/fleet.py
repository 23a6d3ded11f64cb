"""Fleet comparison: the same distribution name and version whose files hash differently on
different hosts. This catches what RECORD cannot: a file changed *and* its RECORD line rewritten
to match, consistently on one host.

Only Python source and start-up files (``.py``, ``.pth``) are compared: compiled extensions
legitimately differ between wheels of one version (platform, Python ABI), source files do not.

Use from the timeline stage::

    from mlsleuth.parsers.packages.fleet import compare_fleet, fleet_events
    hosts = [report.fleet for report in reports]          # analyze_evidence(...).fleet per input
    for event in fleet_events(compare_fleet(hosts)): ...

The registered ``packages`` analyzer also leaves each host's ``HostPackages`` in
``ctx.state["packages_fleet"]`` for a caller that keeps the contexts of all inputs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mlsleuth.parsers.packages.analyze import HostPackages
from mlsleuth.parsers.packages.names import SOURCE

from mlsleuth.events import UNKNOWN_TIME, Category, Event, TimestampQuality

COMPARED_SUFFIXES = (".py", ".pth")
MAX_FILES_LISTED = 50


@dataclass
class FileVariants:
    path: str  # relative to the environment, as RECORD writes it
    by_hash: dict[str, list[str]]  # sha256 -> ["host:env", ...]


@dataclass
class FleetDifference:
    package: str
    version: str
    instances: list[str]  # every "host:env" holding this name and version
    files: list[FileVariants] = field(default_factory=list)
    outliers: list[str] = field(default_factory=list)  # instances holding a minority hash somewhere


def compare_fleet(hosts: Iterable[HostPackages]) -> list[FleetDifference]:
    """Differences in ``.py`` / ``.pth`` file hashes between instances of one name and version."""
    table: dict[tuple[str, str], dict[str, dict[str, str]]] = {}
    for hp in hosts:
        for key, envs in hp.files.items():
            for env, files in envs.items():
                table.setdefault(key, {})[f"{hp.host}:{env}"] = files
    out: list[FleetDifference] = []
    for (name, version), instances in sorted(table.items()):
        if len({i.split(":", 1)[0] for i in instances}) < 2:
            continue  # one host: nothing to compare with
        diff = FleetDifference(name, version, sorted(instances))
        paths = sorted({p for files in instances.values() for p in files if p.endswith(COMPARED_SUFFIXES)})
        outliers: set[str] = set()
        for path in paths:
            by_hash: dict[str, list[str]] = {}
            for inst, files in instances.items():
                h = files.get(path)
                if h:
                    by_hash.setdefault(h, []).append(inst)
            if len(by_hash) < 2:
                continue
            counts = Counter({h: len(v) for h, v in by_hash.items()})
            top = counts.most_common()
            if top[0][1] > top[1][1]:  # a clear majority: the others are the outliers
                for h, insts in by_hash.items():
                    if h != top[0][0]:
                        outliers.update(insts)
            else:
                for insts in by_hash.values():
                    outliers.update(insts)
            if len(diff.files) < MAX_FILES_LISTED:
                diff.files.append(FileVariants(path, {h: sorted(v) for h, v in by_hash.items()}))
        if diff.files:
            diff.outliers = sorted(outliers)
            out.append(diff)
    return out


def fleet_events(diffs: Iterable[FleetDifference]) -> Iterator[Event]:
    """One FINDING per outlier host and distribution."""
    for diff in diffs:
        for inst in diff.outliers:
            host, _, env = inst.partition(":")
            files = [f for f in diff.files if any(inst in v for v in f.by_hash.values())
                     and not _majority_holds(f, inst)]
            others = len({i.split(":", 1)[0] for i in diff.instances}) - 1
            names = ", ".join(f.path for f in files[:5]) + (" …" if len(files) > 5 else "")
            yield Event(
                timestamp=UNKNOWN_TIME, timestamp_desc="Fleet Comparison", source=SOURCE,
                category=Category.FINDING, timestamp_quality=TimestampQuality.ESTIMATED, host=host,
                message=f"{diff.package} {diff.version} in {env} differs from the same version on {others} "
                        f"other host(s) in {len(files)} source file(s): {names}",
                evidence=f"{env}/{files[0].path}" if files else env, package=diff.package,
                version=diff.version, file_path=f"{env}/{files[0].path}" if files else env,
                verdict="suspicious",
                extra={"rule": "fleet.package_differs", "severity": "high", "env": env,
                       "files": [{"path": f.path, "variants": f.by_hash} for f in files[:MAX_FILES_LISTED]],
                       "instances": diff.instances})


def _majority_holds(fv: FileVariants, inst: str) -> bool:
    counts = sorted(((len(v), h) for h, v in fv.by_hash.items()), reverse=True)
    if len(counts) > 1 and counts[0][0] > counts[1][0]:
        return inst in fv.by_hash[counts[0][1]]
    return False


def host_packages(path: Path) -> HostPackages:
    """Open one input (archive or tree) and return its observed package file hashes."""
    from mlsleuth.parsers.evidence import open_evidence
    from mlsleuth.parsers.packages.analyze import analyze_evidence

    evidence = open_evidence(Path(path))
    try:
        report = analyze_evidence(evidence, None, osv=[])
    finally:
        evidence.close()
    return report.fleet or HostPackages(host=report.host)


def fleet_findings(paths: Iterable[Path]) -> list[Event]:
    return list(fleet_events(compare_fleet(host_packages(p) for p in paths)))
