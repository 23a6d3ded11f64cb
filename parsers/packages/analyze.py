"""The package analysis of one host: every environment's distributions with their provenance,
integrity and advisories, as rows (for ``mlsleuth packages``) and events (for the timeline).

Events (source ``packages``) are FINDING (integrity changes, index confusion, advisories),
CONFIG (index settings in force, where a distribution's files came from) and PARSE_ERROR (one
per distribution or file that could not be fully read). Install events themselves belong to the
``python_dist`` / ``conda_history`` parsers and are not repeated here.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlsleuth.parsers.packages import conda as conda_mod
from mlsleuth.parsers.packages.confusion import ConfusionHit, find_confusion
from mlsleuth.parsers.packages.dists import Dist, list_dist_names, read_dist
from mlsleuth.parsers.packages.integrity import (
    FileIssue,
    OwnerIntegrity,
    Verifier,
    conda_owner,
    dist_owner,
)
from mlsleuth.parsers.packages.names import SOURCE, normalize, redact_url
from mlsleuth.parsers.packages.osv import AdvisoryDB, Match, curated_db, iter_matches, load_osv
from mlsleuth.parsers.packages.piplog import PipLogInstall, parse_pip_log
from mlsleuth.parsers.packages.provenance import (
    IndexSetting,
    Provenance,
    collect,
    index_options,
    make_setting,
)
from mlsleuth.parsers.packages.view import HostView, ReadError

from mlsleuth.events import UNKNOWN_TIME, Category, Event, TimestampQuality, from_epoch, parse_error

MAX_ERRORS_PER_SOURCE = 200
MISSING_DETAIL = 10  # more missing files than this per package: one summary finding, not one each
ISSUE_RULES: dict[str, tuple[str, str]] = {  # kind -> (severity, verdict)
    "modified": ("high", "suspicious"),
    "replaced": ("high", "suspicious"),
    "missing": ("medium", "suspicious"),
    "injected": ("high", "suspicious"),
    "unchecked_pyc": ("high", "suspicious"),
    "new_pth": ("low", "suspicious"),  # high when a line runs code (import ...)
    "startup_hook": ("high", "suspicious"),
    "unowned_module": ("low", "suspicious"),
}


@dataclass
class PackageRow:
    environment: str
    name: str
    version: str
    installer: str
    source: str
    install_time: datetime | None
    install_time_source: str
    integrity: str
    advisories: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    requested: bool | None = None
    path: str = ""
    kind: str = "dist-info"
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment, "name": self.name, "version": self.version,
            "installer": self.installer, "source": self.source,
            "install_time": self.install_time.isoformat() if self.install_time else None,
            "install_time_source": self.install_time_source, "integrity": self.integrity,
            "advisories": self.advisories, "flags": self.flags, "requested": self.requested,
            "path": self.path, "kind": self.kind, "problems": self.problems,
        }


@dataclass
class HostPackages:
    """What the fleet comparison needs from one host: observed file hashes per distribution."""

    host: str
    # (normalised name, version) -> {env: {path relative to the environment: sha256}}
    files: dict[tuple[str, str], dict[str, dict[str, str]]] = field(default_factory=dict)


@dataclass
class Report:
    host: str
    label: str
    rows: list[PackageRow] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    fleet: HostPackages | None = None

    @property
    def findings(self) -> list[Event]:
        return [e for e in self.events if e.category == Category.FINDING]

    @property
    def errors(self) -> list[Event]:
        return [e for e in self.events if e.category == Category.PARSE_ERROR]


class _Builder:
    def __init__(self, view: HostView) -> None:
        self.view = view
        self.events: list[Event] = []
        self._errors_by_source: dict[str, int] = {}

    def event(self, *, when: datetime | None, desc: str, quality: TimestampQuality, category: Category,
              message: str, evidence: str, **fields: Any) -> Event:
        if when is None:
            when, quality = UNKNOWN_TIME, TimestampQuality.ESTIMATED
        ev = Event(timestamp=when, timestamp_desc=desc, source=SOURCE, category=category, message=message,
                   timestamp_quality=quality, host=self.view.host, evidence=evidence, **fields)
        self.events.append(ev)
        return ev

    def error(self, evidence: str, reason: str, *, file_path: str | None = None, group: str = "",
              user: str = "") -> None:
        n = self._errors_by_source.get(group, 0) + 1
        self._errors_by_source[group] = n
        if n == MAX_ERRORS_PER_SOURCE + 1:
            self.events.append(parse_error(SOURCE, evidence, f"more than {MAX_ERRORS_PER_SOURCE} errors "
                                           f"of this kind ({group}); the rest are not listed", host=self.view.host))
        if n > MAX_ERRORS_PER_SOURCE:
            return
        self.events.append(parse_error(SOURCE, evidence, reason, host=self.view.host, file_path=file_path,
                                       user=user))


def _when(epoch: float | None) -> datetime | None:
    if epoch is None:
        return None
    try:
        return from_epoch(epoch)
    except (ValueError, OverflowError):
        return None


def analyze_view(view: HostView, *, osv: list[AdvisoryDB] | None = None, curated: bool = True,
                 workers: int | None = None) -> Report:
    b = _Builder(view)
    report = Report(host=view.host, label=view.label)
    for where, reason in view.problems:
        b.error(where, reason, group="evidence")
    disc = view.discover()
    for where, reason in disc.errors:
        b.error(where, reason, group="discovery")

    # -- distributions ----------------------------------------------------------------------------
    dists: list[Dist] = []
    for env in disc.envs:
        for name in list_dist_names(view, env):
            try:
                d = read_dist(view, env, name)
            except Exception as exc:  # one broken distribution never stops the others
                b.error(view.evidence(posixpath.join(env, name)), f"{type(exc).__name__}: {exc}",
                        file_path=posixpath.join(env, name), group="dist")
                continue
            dists.append(d)

    # -- conda --------------------------------------------------------------------------------------
    conda_pkgs: list[conda_mod.CondaPackage] = []
    history_links: dict[str, dict[str, conda_mod.HistoryLink]] = {}
    prov_extra: list[IndexSetting] = []
    for prefix in disc.conda_prefixes:
        meta_dir = posixpath.join(prefix, "conda-meta")
        for fname in sorted(view.children(meta_dir) or []):
            if not fname.endswith(".json"):
                continue
            pkg = conda_mod.read_conda_package(view, prefix, posixpath.join(meta_dir, fname))
            conda_pkgs.append(pkg)
        hist_path = posixpath.join(meta_dir, "history")
        if view.node(hist_path).kind == "file":
            try:
                text = view.read(hist_path, 256 << 20).decode("utf-8", "replace")
            except ReadError as exc:
                b.error(view.evidence(hist_path), f"conda history unreadable: {exc}", file_path=hist_path,
                        group="conda")
                text = ""
            links = conda_mod.parse_history(text, view.tz)
            history_links[prefix] = {normalize(link.name): link for link in links}
            prov_extra.extend(_conda_history_channels(view, hist_path, text))
    _link_conda(dists, conda_pkgs, history_links, view)

    # -- integrity --------------------------------------------------------------------------------
    verifier = Verifier(view, workers=workers, aliases=disc.aliases)
    for d in dists:
        verifier.add_dist(d)
    for pkg in conda_pkgs:
        verifier.add_conda(pkg, disc.envs)
    verifier.verify()
    by_env: dict[str, list[Dist]] = {}
    for d in dists:
        by_env.setdefault(d.env, []).append(d)
    for env in disc.envs:
        verifier.find_unlisted(env, by_env.get(env, []))
    result = verifier.result
    for path, reason in result.problems:
        b.error(view.evidence(path), reason, file_path=path, group="integrity")
    mismatches = getattr(view, "mismatches", {})
    for path, got in mismatches.items():
        b.error(view.evidence(path), f"archive member sha256 {got} differs from the manifest's "
                f"{view.node(path).sha256}: the archive changed after collection", file_path=path,
                group="archive")

    # -- provenance ------------------------------------------------------------------------------
    collected_at = view.collection_time or (datetime.now(UTC) if view.live else None)
    prov = collect(view, disc.files, collected_at)
    prov.settings.extend(prov_extra)
    for path, evidence, reason in prov.problems:
        b.error(evidence, reason, file_path=path, group="provenance")
    log_installs: list[tuple[str, PipLogInstall]] = []
    for path in sorted(set(disc.files.get("pip_log", []))):
        try:
            text = view.read(path, 512 << 20, truncate=True).decode("utf-8", "replace")
        except ReadError as exc:
            b.error(view.evidence(path), f"pip log unreadable: {exc}", file_path=path, group="provenance")
            continue
        log = parse_pip_log(text, view.tz)
        prov.settings.extend(_log_settings(view, path, log.index_lines))
        log_installs.extend((path, inst) for inst in log.installs)

    # -- advisories ------------------------------------------------------------------------------
    dbs = list(osv or [])
    if curated:
        dbs.append(curated_db())
    for db in osv or []:
        for origin, reason in db.problems:
            b.error(origin, reason, group="osv")
    matches: dict[int, list[Match]] = {}
    for d in dists:
        found = list(iter_matches(d.name, d.version, dbs)) if d.name and d.version else []
        if found:
            matches[id(d)] = found

    # -- confusion -------------------------------------------------------------------------------
    dependents: dict[str, set[str]] = {}
    for d in dists:
        dependents.setdefault(d.env, set()).update(d.requires)
    for pkg in conda_pkgs:
        deps = pkg.depends
        for env in disc.envs:
            if env.startswith(pkg.prefix.rstrip("/") + "/"):
                dependents.setdefault(env, set()).update(deps)
    _apply_log_requested(dists, log_installs)
    hits = find_confusion(dists, prov.settings, prov.commands, log_installs, dependents)

    # -- events and rows -------------------------------------------------------------------------
    _setting_events(b, prov)
    _source_events(b, view, dists, log_installs)
    owners_by_key = {dist_owner(d): d for d in dists}
    conda_by_key = {conda_owner(p): p for p in conda_pkgs}
    for key, oi in result.owners.items():
        missing = [i for i in oi.issues if i.kind == "missing"]
        summarise = len(missing) > MISSING_DETAIL or (
            oi.payload_checked >= 5 and len(missing) >= 0.9 * oi.payload_checked)
        if summarise:
            _missing_summary(b, view, missing, oi, owners_by_key.get(key), conda_by_key.get(key))
        for issue in oi.issues:
            if issue.kind != "missing" or not summarise:
                _issue_event(b, view, issue, owners_by_key.get(key), conda_by_key.get(key))
    for issue in result.env_issues:
        _issue_event(b, view, issue, None, None)
    flags: dict[int, list[str]] = {}
    for hit in hits:
        _confusion_event(b, view, hit)
        if hit.dist is not None:
            flags.setdefault(id(hit.dist), []).append(hit.rule)
    for d in dists:
        for m in matches.get(id(d), []):
            _advisory_event(b, view, d, m)
        if d.problems and not verifier.is_distro(d):
            shown = d.problems[:10] + ([f"and {len(d.problems) - 10} more"] if len(d.problems) > 10 else [])
            b.error(view.evidence(d.path), f"{d.name} {d.version}: " + "; ".join(shown), file_path=d.path,
                    group="dist")
    for pkg in conda_pkgs:
        problems = [p for p in pkg.problems if not p.startswith("no paths_data")]
        if problems:
            b.error(view.evidence(pkg.meta_path), f"conda {pkg.name}: " + "; ".join(problems[:10]),
                    file_path=pkg.meta_path, group="conda")

    logged = {(normalize(i.name), i.version.lower()): i.index for _p, i in log_installs if i.index}
    report.rows = _rows(verifier, dists, conda_pkgs, matches, flags, disc.aliases, logged)
    report.events = b.events
    report.fleet = _fleet(view, dists, verifier)
    report.stats = {
        "environments": len(disc.envs), "distributions": len(dists), "conda_packages": len(conda_pkgs),
        "files_checked": sum(o.checked for o in result.owners.values()),
        "bytes_hashed": verifier.bytes_hashed, "findings": len(report.findings),
        "parse_errors": len(report.errors), "index_settings": len(prov.settings),
    }
    return report


# -- conda linking ---------------------------------------------------------------------------------

def _link_conda(dists: list[Dist], pkgs: list[conda_mod.CondaPackage],
                history: dict[str, dict[str, conda_mod.HistoryLink]], view: HostView) -> None:
    by_path = {d.path: d for d in dists}
    for pkg in pkgs:
        link = history.get(pkg.prefix, {}).get(normalize(pkg.name))
        if link is not None and link.when is not None and link.version == pkg.version:
            pkg.install_time, pkg.install_quality = link.when, link.quality
            pkg.install_evidence = view.evidence(posixpath.join(pkg.prefix, "conda-meta", "history"), f"L{link.line}")
            pkg.install_cmd = link.cmd
        else:
            node = view.node(pkg.meta_path)
            pkg.install_time = _when(node.mtime)
        for cp in pkg.paths:
            head, _, tail = cp.path.partition(".dist-info/")
            if tail:
                d = by_path.get(posixpath.normpath(posixpath.join(pkg.prefix, head + ".dist-info")))
                if d is not None and d.conda is None:
                    d.conda = pkg
                    if pkg.install_time is not None and pkg.install_quality == TimestampQuality.EXACT:
                        d.install_time = pkg.install_time
                        d.install_time_source = "conda-meta/history"
                    break


def _conda_history_channels(view: HostView, path: str, text: str) -> Iterator[IndexSetting]:
    """``-c`` / ``--channel`` options of the ``# cmd:`` lines of conda-meta/history."""
    import shlex

    for when, quality, line_no, cmd in conda_mod.parse_history_commands(text, view.tz):
        try:
            tokens = shlex.split(cmd)
        except ValueError:
            tokens = cmd.split()
        for kind, value in index_options(tokens, conda=True):
            yield make_setting(view, kind, value, "conda-history", path, f"L{line_no}", when=when,
                               quality=quality, desc="Command Executed", scope="command", text=cmd[:500])


def _apply_log_requested(dists: list[Dist], log_installs: list[tuple[str, PipLogInstall]]) -> None:
    """pip's own log says whether a package was a top-level requirement; trust it over a missing
    REQUESTED file only to mark it requested (never the other way)."""
    asked = {(normalize(i.name), i.version.lower()) for _p, i in log_installs if i.requested}
    for d in dists:
        if d.requested is False and (d.key, d.version.lower()) in asked:
            d.requested = True


# -- events ------------------------------------------------------------------------------------

def _setting_events(b: _Builder, prov: Provenance) -> None:
    seen: set[tuple[str, str, str]] = set()
    labels = {"index": "index", "extra-index": "extra index", "find-links": "find-links source",
              "trusted-host": "trusted host", "channel": "conda channel", "channel-alias": "conda channel alias",
              "config-file": "pip config file"}
    for s in prov.settings:
        key = (s.kind, s.url, s.evidence)
        if key in seen:
            continue
        seen.add(key)
        where = s.path or s.evidence
        b.event(when=s.when, desc=s.desc, quality=s.quality, category=Category.CONFIG,
                message=f"{labels.get(s.kind, s.kind)} {s.url} set by {s.origin} ({s.scope}) in {where}",
                evidence=s.evidence, index_url=s.url if s.kind not in ("trusted-host", "config-file") else None,
                file_path=s.path, user=s.user,
                extra={k: v for k, v in {
                    "rule": "provenance.index_setting", "kind": s.kind, "origin": s.origin, "scope": s.scope,
                    "extra_source": s.extra_source, "line": s.text, "credential": s.credential,
                    "packages": s.packages or None}.items() if v is not None})


def _log_settings(view: HostView, path: str, lines: list[Any]) -> Iterator[IndexSetting]:
    """`Looking in indexes` lines: the first and last time each index was in force per log."""
    firsts: dict[tuple[str, str], Any] = {}
    lasts: dict[tuple[str, str], Any] = {}
    counts: dict[tuple[str, str], int] = {}
    for entry in lines:
        for pos, url in enumerate(entry.indexes):
            key = ("index" if pos == 0 else "extra-index", url)
            firsts.setdefault(key, entry)
            lasts[key] = entry
            counts[key] = counts.get(key, 0) + 1
        for url in entry.links:
            key = ("find-links", url)
            firsts.setdefault(key, entry)
            lasts[key] = entry
            counts[key] = counts.get(key, 0) + 1
    for key, entry in firsts.items():
        for which in {id(entry): entry, id(lasts[key]): lasts[key]}.values():
            url, cred = redact_url(key[1])
            yield IndexSetting(kind=key[0], url=url, origin="pip-log", path=path,
                               evidence=view.evidence(path, f"L{which.line}"), user=view.user_for(path),
                               when=which.when, quality=which.quality, desc="Log Entry", scope="command",
                               credential=cred, text=f"Looking in indexes ({counts[key]} pip runs in this log)")


def _source_events(b: _Builder, view: HostView, dists: list[Dist],
                   log_installs: list[tuple[str, PipLogInstall]]) -> None:
    for path, inst in log_installs:
        if not inst.source_url:
            continue
        b.event(when=inst.when, desc="Package Source Logged", quality=inst.quality, category=Category.CONFIG,
                message=f"pip installed {inst.name} {inst.version} from {inst.source_url}"
                        + (f" (index {inst.index})" if inst.index else ""),
                evidence=view.evidence(path, f"L{inst.source_line or inst.line}"), file_path=path,
                user=view.user_for(path), package=inst.name, version=inst.version, index_url=inst.index,
                extra={"rule": "provenance.pip_log", "source_url": inst.source_url,
                       "installed_line": inst.line, "indexes": inst.indexes, "requested": inst.requested})
    for d in dists:
        if not d.direct_url:
            continue
        du = d.direct_url
        url, cred = redact_url(str(du.get("url", "")))
        info: dict[str, Any] = {"rule": "provenance.direct_url", "url": url, "credential": cred}
        if isinstance(du.get("vcs_info"), dict):
            info.update(vcs=du["vcs_info"].get("vcs"), commit=du["vcs_info"].get("commit_id"),
                        requested_revision=du["vcs_info"].get("requested_revision"))
        if isinstance(du.get("archive_info"), dict):
            ai = du["archive_info"]
            info["archive_hash"] = ai.get("hash") or (ai.get("hashes") or {}).get("sha256")
        if isinstance(du.get("dir_info"), dict):
            info["editable"] = bool(du["dir_info"].get("editable"))
        ev = posixpath.join(d.path, "direct_url.json")
        b.event(when=d.install_time, desc="Package Installed", quality=d.install_quality, category=Category.CONFIG,
                message=f"{d.name} {d.version} installed from {d.source()}", evidence=view.evidence(ev),
                file_path=ev, user=view.user_for(d.path), package=d.name, version=d.version,
                extra={k: v for k, v in info.items() if v is not None})


def _issue_event(b: _Builder, view: HostView, issue: FileIssue, d: Dist | None,
                 pkg: conda_mod.CondaPackage | None) -> None:
    severity, verdict = ISSUE_RULES.get(issue.kind, ("medium", "suspicious"))
    if issue.kind == "new_pth" and issue.extra.get("exec_lines"):
        severity = "high"
    script_note = None
    if issue.kind == "modified" and d is not None and not issue.path.startswith(d.env.rstrip("/") + "/") \
            and (view.head(issue.path, 2) or b"") == b"#!":
        # scripts live outside the environment folder; relocating an environment (conda-pack,
        # a moved venv, bundled SDKs) rewrites their #! line, which changes the hash
        severity = "low"
        script_note = "a script whose #! line is rewritten when an environment is relocated: compare its body"
    name = d.name if d else pkg.name if pkg else None
    version = d.version if d else pkg.version if pkg else None
    label = f"{name} {version}: " if name else ""
    node = issue.node
    when, desc = _when(node.mtime if node else None), "File Modified"
    if issue.kind == "missing":
        parent = view.node(posixpath.dirname(issue.path))
        when, desc = _when(parent.mtime), "Directory Modified"
    what = {
        "modified": "changed after install",
        "replaced": "replaced",
        "missing": "removed after install",
        "injected": "added to the package",
        "unchecked_pyc": "unchecked bytecode added to the package",
        "new_pth": "start-up .pth file added",
        "startup_hook": "start-up hook added",
        "unowned_module": "module no package owns",
    }.get(issue.kind, issue.kind)
    message = f"{label}{issue.path} {what}: {issue.detail}"
    if issue.expected and issue.actual:
        message += f" (recorded {issue.expected[:23]}…, found {issue.actual[:19]}…)"
    extra: dict[str, Any] = {
        "rule": f"integrity.{issue.kind}", "severity": severity, "expected": issue.expected,
        "actual": issue.actual, "expected_size": issue.expected_size, "actual_size": issue.actual_size,
        "expectation": issue.expect_evidence or None, "file_evidence": view.evidence(issue.path),
        "env": d.env if d else issue.extra.get("env") or (pkg.prefix if pkg else None),
        "installer": (d.installer if d else "conda" if pkg else None),
    }
    if node is not None:
        extra["mtime"] = _iso(node.mtime)
        extra["ctime"] = _iso(node.ctime)
    install_time = d.install_time if d else pkg.install_time if pkg else None
    if install_time is not None:
        extra["install_time"] = install_time.isoformat()
        file_time = _when(node.mtime) if node else None
        if issue.kind == "modified" and file_time is not None and file_time < install_time:
            extra["timestamp_note"] = ("the changed file's mtime is older than the install: its times "
                                       "were reset (timestomped) or copied along with it; ctime is more reliable")
    if pkg is not None:
        extra["conda_channel"] = conda_mod.channel_of(pkg)
    if script_note:
        extra["note"] = script_note
    if issue.extra.get("exec_lines"):
        extra["exec_lines"] = issue.extra["exec_lines"]
    sha = issue.actual.split(":", 1)[1] if issue.actual and issue.actual.startswith("sha256:") else None
    b.event(when=when, desc=desc, quality=TimestampQuality.FILE_TIME, category=Category.FINDING, message=message,
            evidence=issue.expect_evidence or view.evidence(issue.path), file_path=issue.path, sha256=sha,
            package=name, version=version, verdict=verdict, user=view.user_for(issue.path),
            extra={k: v for k, v in extra.items() if v is not None})


def _missing_summary(b: _Builder, view: HostView, missing: list[FileIssue], oi: OwnerIntegrity, d: Dist | None,
                     pkg: conda_mod.CondaPackage | None) -> None:
    name = d.name if d else pkg.name if pkg else "?"
    version = d.version if d else pkg.version if pkg else None
    ratio = len(missing) / max(oi.payload_checked, 1)
    detail = ("nearly every file is absent: metadata copied without its package, or the package deleted"
              if ratio >= 0.9 else "files deleted after install")
    folder = view.node(posixpath.dirname(missing[0].path))
    b.event(when=_when(folder.mtime), desc="Directory Modified", quality=TimestampQuality.FILE_TIME,
            category=Category.FINDING, message=f"{name} {version}: {len(missing)} of {oi.checked} listed files are "
            f"absent ({detail}), e.g. {missing[0].path}", evidence=missing[0].expect_evidence.rsplit("#", 1)[0],
            file_path=d.path if d else pkg.meta_path if pkg else None, package=name, version=version,
            verdict="suspicious", user=view.user_for(missing[0].path),
            extra={"rule": "integrity.missing", "severity": "low" if ratio >= 0.9 else "medium",
                   "missing": len(missing), "listed": oi.checked, "sample": [i.path for i in missing[:20]],
                   "env": d.env if d else pkg.prefix if pkg else None})


def _iso(epoch: float | None) -> str | None:
    when = _when(epoch)
    return when.isoformat() if when else None


def _confusion_event(b: _Builder, view: HostView, hit: ConfusionHit) -> None:
    d = hit.dist
    extra: dict[str, Any] = {"rule": f"confusion.{hit.rule}", "severity": hit.severity}
    evidence = ""
    index_url = None
    if hit.log_install is not None and hit.log_path:
        inst = hit.log_install
        evidence = view.evidence(hit.log_path, f"L{inst.source_line or inst.line}")
        extra.update(source_url=inst.source_url, indexes=inst.indexes,
                     installed_evidence=view.evidence(hit.log_path, f"L{inst.line}"))
        index_url = inst.index
    if hit.settings:
        evidence = evidence or hit.settings[0].evidence
        extra["settings"] = [{"url": s.url, "kind": s.kind, "origin": s.origin, "evidence": s.evidence,
                              "when": s.when.isoformat() if s.when else None} for s in hit.settings]
        index_url = index_url or hit.settings[0].url
    if d is not None:
        if hit.rule == "extra_index_source" and d.direct_url and not hit.log_install:
            evidence = view.evidence(posixpath.join(d.path, "direct_url.json"))
        elif hit.rule == "unrequested_orphan":
            evidence = evidence or view.evidence(posixpath.join(d.path, "INSTALLER"))
            extra["requested_marker"] = posixpath.join(d.path, "REQUESTED") + " (absent)"
        elif hit.rule == "bait_version":
            evidence = evidence or view.evidence(_metadata_path(d))
        extra.update(env=d.env, installer=d.installer, install_time=d.install_time.isoformat() if d.install_time else None)
    name = d.name if d else hit.log_install.name if hit.log_install else None
    version = d.version if d else hit.log_install.version if hit.log_install else None
    when = hit.when
    quality = (hit.log_install.quality if hit.log_install and hit.when else
               d.install_quality if d else TimestampQuality.ESTIMATED)
    b.event(when=when, desc="Package Installed", quality=quality, category=Category.FINDING,
            message=f"{name} {version}: {hit.detail}", evidence=evidence or (view.evidence(d.path) if d else ""),
            file_path=d.path if d else hit.log_path, package=name, version=version, index_url=index_url,
            verdict="suspicious", user=view.user_for(d.path) if d else "",
            extra={k: v for k, v in extra.items() if v is not None})


def _metadata_path(d: Dist) -> str:
    if d.kind == "egg-info-file":
        return d.path
    return posixpath.join(d.path, "METADATA" if d.kind == "dist-info" else "PKG-INFO")


def _advisory_event(b: _Builder, view: HostView, d: Dist, m: Match) -> None:
    adv = m.advisory
    aliases = [a for a in adv.aliases if a != adv.id]
    fixed = ", ".join(sorted(set(m.fixed))) if m.fixed else "no fixed version"
    label = "known-malicious package" if adv.malicious else "affected by"
    message = f"{d.name} {d.version} {label} {adv.id}"
    if aliases:
        message += f" ({', '.join(aliases[:3])})"
    message += f": {adv.summary} [fixed: {fixed}]"
    b.event(when=d.install_time, desc="Package Installed", quality=d.install_quality, category=Category.FINDING,
            message=message, evidence=view.evidence(_metadata_path(d)),
            file_path=d.path, package=d.name, version=d.version,
            verdict="malicious" if adv.malicious else "suspicious", user=view.user_for(d.path),
            extra={k: v for k, v in {
                "rule": "advisory.malicious" if adv.malicious else "advisory.vulnerable",
                "advisory": adv.id, "aliases": aliases or None, "severity": adv.severity or None,
                "matched": m.reason, "fixed": m.fixed or None, "references": adv.references[:5] or None,
                "advisory_source": adv.origin, "note": adv.notes or None, "env": d.env}.items() if v is not None})


# -- rows and fleet ----------------------------------------------------------------------------

def _integrity_text(verifier: Verifier, d: Dist, owners: dict[str, OwnerIntegrity]) -> str:
    distro = verifier.is_distro(d)
    if distro and d.record is None:
        return "unverifiable (distribution package: check with debsums / rpm -V)"
    parts = []
    oi = owners.get(dist_owner(d))
    conda_oi = owners.get(conda_owner(d.conda)) if d.conda is not None else None
    issues = (oi.issues if oi else []) + (conda_oi.issues if conda_oi else [])
    if issues:
        kinds: dict[str, int] = {}
        for i in issues:
            kinds[i.kind] = kinds.get(i.kind, 0) + 1
        parts.append(", ".join(f"{k}:{v}" for k, v in sorted(kinds.items())))
    elif d.record is None and d.installed_files is None and conda_oi is None:
        parts.append("no RECORD: unverifiable" if d.kind == "dist-info" else "no file list: unverifiable")
    elif oi and oi.not_collected and not oi.payload_ok:
        parts.append("metadata only (package files not collected)")
    else:
        parts.append("ok" if not (oi and oi.not_collected) else f"ok ({oi.not_collected} files not collected)")
    if d.editable:
        parts.append("editable: project not verified")
    if distro and d.record is not None:
        parts.append("distribution package: .py files only")
    return "; ".join(parts)


def _rows(verifier: Verifier, dists: list[Dist], pkgs: list[conda_mod.CondaPackage],
          matches: dict[int, list[Match]], flags: dict[int, list[str]], aliases: dict[str, str],
          logged: dict[tuple[str, str], str]) -> list[PackageRow]:
    owners = verifier.result.owners
    rows: list[PackageRow] = []
    linked = set()
    for d in dists:
        if d.conda is not None:
            linked.add(id(d.conda))
        env = d.env + (f" (via {aliases[d.env]})" if d.env in aliases else "")
        source = d.source()
        if source == "index" and (d.key, d.version.lower()) in logged:
            source = f"index {logged[(d.key, d.version.lower())]} (pip log)"
        rows.append(PackageRow(
            environment=env, name=d.name, version=d.version,
            installer=d.installer if d.installer is not None else ("" if d.kind == "dist-info" else "(egg-info)"),
            source=source, install_time=d.install_time, install_time_source=d.install_time_source,
            integrity=_integrity_text(verifier, d, owners),
            advisories=[m.advisory.id for m in matches.get(id(d), [])],
            flags=sorted(set(flags.get(id(d), []))), requested=d.requested, path=d.path, kind=d.kind,
            problems=list(d.problems)))
    for pkg in pkgs:
        if id(pkg) in linked:
            continue
        oi = owners.get(conda_owner(pkg))
        state = oi.state() if oi else "unverified"
        if oi and not oi.issues and oi.checked and oi.ok == 0 and oi.unverified:
            state = "unverified (no hashes recorded)"
        rows.append(PackageRow(
            environment=pkg.prefix, name=pkg.name, version=pkg.version, installer="conda",
            source=f"conda {conda_mod.channel_of(pkg) or '?'}", install_time=pkg.install_time,
            install_time_source="conda-meta/history" if pkg.install_quality == TimestampQuality.EXACT
            else "conda-meta json mtime", integrity=state, path=pkg.meta_path, kind="conda",
            problems=list(pkg.problems)))
    rows.sort(key=lambda r: (r.environment, normalize(r.name), r.version))
    return rows


def _fleet(view: HostView, dists: list[Dist], verifier: Verifier) -> HostPackages:
    hp = HostPackages(host=view.host)
    for d in dists:
        if d.record is None:
            continue
        files: dict[str, str] = {}
        for e in d.record.entries:
            if not e.digest or e.path.endswith((".pyc", "RECORD", "INSTALLER", "REQUESTED", "direct_url.json")):
                continue
            full = posixpath.normpath(posixpath.join(d.env, e.path))
            got = verifier.observed.get(full)
            if got:
                files[e.path] = got
        if files:
            hp.files.setdefault((d.key, d.version), {})[d.env] = files
    return hp


# -- entry points --------------------------------------------------------------------------------

def osv_from_env() -> list[AdvisoryDB]:
    path = os.environ.get("MLSLEUTH_OSV")
    return [load_osv(Path(path))] if path and Path(path).exists() else []


def analyze_evidence(evidence: Any, ctx: Any = None, *, osv: list[AdvisoryDB] | None = None) -> Report:
    from mlsleuth.parsers.packages.view import view_for

    return analyze_view(view_for(evidence, ctx), osv=osv if osv is not None else osv_from_env())


def _register() -> None:
    try:
        from mlsleuth.parsers.registry import register_analyzer
    except ImportError:  # the registry is optional for the standalone command
        return

    @register_analyzer("packages")
    def packages_analyzer(evidence: Any, ctx: Any) -> Iterator[Event]:
        """Whole-host package analysis for the timeline (MLSLEUTH_OSV names an OSV export)."""
        report = analyze_evidence(evidence, ctx)
        state = getattr(ctx, "state", None)
        if isinstance(state, dict):
            state["packages_fleet"] = report.fleet  # for the fleet comparison across inputs
        yield from report.events


_register()
