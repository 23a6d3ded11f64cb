"""Dependency / index confusion: which installs could have come from the wrong index.

Rules, each reported with the evidence that triggered it:

- ``extra_index_source``: pip's log shows the file was found on an index other than the first
  one in force, or direct_url.json points at the host of a configured extra index.
- ``installed_while_extra_index``: installed by pip/uv while an extra index or find-links source
  was configured (setting time at or before the install, or unknown), in the install's scope.
- ``unrequested_orphan``: an installer that writes REQUESTED did not, yet nothing in the
  environment depends on the package: it came in as a dependency of nothing.
- ``bait_version``: a version number typical of confusion bait (99.x, 1337.x, 9000.x ...) that is
  neither a calendar year nor a date.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from mlsleuth.parsers.packages.dists import Dist
from mlsleuth.parsers.packages.names import index_base, normalize, redact_url, url_host
from mlsleuth.parsers.packages.piplog import PipLogInstall
from mlsleuth.parsers.packages.provenance import IndexSetting, InstallCommand

REQUESTED_WRITERS = frozenset({"pip", "uv"})
BOOTSTRAP = frozenset({"pip", "setuptools", "wheel", "distribute", "uv"})
CONFIG_GRACE = timedelta(0)  # a config last changed after the install cannot have caused it
COMMAND_WINDOW = timedelta(minutes=30)  # dependencies land after the command's own timestamp


@dataclass
class ConfusionHit:
    rule: str
    dist: Dist | None
    detail: str
    severity: str
    evidence: list[str] = field(default_factory=list)
    settings: list[IndexSetting] = field(default_factory=list)
    log_install: PipLogInstall | None = None
    log_path: str | None = None
    when: datetime | None = None


def is_bait_version(version: str) -> bool:
    m = re.match(r"^\s*v?(\d+)", version)
    if not m:
        return False
    major = int(m.group(1))
    digits = len(m.group(1))
    if 1900 <= major <= 2100:
        return False  # calendar versioning (2024.1)
    if digits == 8 and 19000101 <= major <= 21001231 or digits == 6 and 190001 <= major <= 210012:
        return False  # dates (20231228)
    return major >= 99


def _same_source(url: str, source: str) -> bool:
    """A file URL served by a package source: under its path, or (http) on its host."""
    base, src = index_base(url), index_base(source)
    if src and (base == src or base.startswith(src + "/")):
        return True
    host = url_host(url)
    return bool(host) and host == url_host(source) and not url.startswith("file:")


def _closure(requires: dict[str, set[str]], roots: list[str]) -> set[str]:
    """Every distribution the named ones depend on, directly or not (within one environment)."""
    seen: set[str] = set()
    stack = [r for r in roots if r in requires]
    while stack:
        for dep in requires.get(stack.pop(), set()):
            if dep not in seen:
                seen.add(dep)
                stack.append(dep)
    return seen


def _applies(setting: IndexSetting, dist: Dist) -> bool:
    scope = setting.scope
    if scope.startswith("env:"):
        prefix = scope[4:].rstrip("/") + "/"
        return dist.env.startswith(prefix)
    if scope == "command" or scope.startswith("process:"):
        # a command's options are handled with that command; a variable seen in a process at
        # collection time says nothing about what was in force at an earlier install
        return False
    return scope != "file"  # a project/requirements file only applies to installs that used it


def find_confusion(dists: list[Dist], settings: list[IndexSetting], commands: list[InstallCommand],
                   log_installs: list[tuple[str, PipLogInstall]], dependents: dict[str, set[str]]) -> list[ConfusionHit]:
    hits: list[ConfusionHit] = []
    by_key: dict[tuple[str, str], list[Dist]] = {}
    for d in dists:
        by_key.setdefault((d.key, d.version.lower()), []).append(d)
    flagged_source: set[int] = set()

    # 1. the log or direct_url.json says the file came from an extra index
    for log_path, inst in log_installs:
        if not inst.index or not inst.indexes:
            continue
        primary = inst.indexes[0].rstrip("/")
        if index_base(inst.index) == index_base(primary):
            continue
        matches = by_key.get((normalize(inst.name), inst.version.lower()), [])
        for d in matches or [None]:  # type: ignore[list-item]
            hits.append(ConfusionHit(
                "extra_index_source", d, f"fetched from {inst.index}, not from the primary index {primary}"
                + ("" if d else " (no longer installed)"),
                "high", log_install=inst, log_path=log_path, when=inst.when))
            if d is not None:
                flagged_source.add(id(d))
    extra_sources = [s for s in settings if s.extra_source]
    for d in dists:
        if id(d) in flagged_source or not d.direct_url:
            continue
        url = str(d.direct_url.get("url", ""))
        s = next((s for s in extra_sources if _same_source(url, s.url)), None)
        if s is not None:
            hits.append(ConfusionHit(
                "extra_index_source", d, f"direct_url.json names {redact_url(url)[0]}, on a configured extra "
                f"package source ({s.origin}: {s.url})", "high", settings=[s], when=d.install_time))
            flagged_source.add(id(d))

    # 2. installed while an extra index was configured
    requires: dict[str, dict[str, set[str]]] = {}
    for d in dists:
        requires.setdefault(d.env, {})[d.key] = d.requires
    for d in dists:
        if id(d) in flagged_source or (d.installer or "").lower() not in REQUESTED_WRITERS | {"poetry", "pdm"}:
            continue
        found: list[IndexSetting] = []
        for s in settings:
            if not s.extra_source or not _applies(s, d):
                continue
            if s.when is not None and d.install_time is not None and s.when > d.install_time + CONFIG_GRACE:
                continue
            found.append(s)
        for c in commands:
            if not c.settings or not any(s.extra_source for s in c.settings):
                continue
            named = d.key in c.packages
            # A dependency of a named package, installed in the same run, came the same way.
            pulled_in = (c.when is not None and d.install_time is not None
                         and c.when - CONFIG_GRACE <= d.install_time <= c.when + COMMAND_WINDOW
                         and d.key in _closure(requires.get(d.env, {}), c.packages))
            if named or pulled_in:
                found.extend(s for s in c.settings if s.extra_source)
        if found:
            seen: set[tuple[str, str]] = set()
            uniq = [s for s in found if not ((s.url, s.evidence) in seen or seen.add((s.url, s.evidence)))]
            urls = sorted({s.url for s in uniq})
            hits.append(ConfusionHit(
                "installed_while_extra_index", d,
                f"installed by {d.installer} while {len(urls)} extra package source(s) were configured: "
                + ", ".join(urls)[:400], "medium", settings=uniq[:10], when=d.install_time))

    # 3. unrequested and nothing depends on it
    for d in dists:
        if d.requested is not False or (d.installer or "").lower() not in REQUESTED_WRITERS or d.key in BOOTSTRAP:
            continue
        if d.key in dependents.get(d.env, set()):
            continue
        hits.append(ConfusionHit(
            "unrequested_orphan", d, "not asked for by name (no REQUESTED) and no installed package "
            "depends on it", "low", when=d.install_time))

    # 4. bait versions
    for d in dists:
        if is_bait_version(d.version):
            hits.append(ConfusionHit(
                "bait_version", d, f"version {d.version} is typical of dependency-confusion bait "
                "(a huge version number outranks every real release)", "medium", when=d.install_time))
    return hits
