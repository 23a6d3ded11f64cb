"""Offline advisory matching in the OSV schema (https://ossf.github.io/osv-schema/).

An export is a directory or a zip of one-advisory JSON files (osv.dev's per-ecosystem
``all.zip``). Only ``PyPI`` entries are indexed. A version is affected when it is listed in
``affected[].versions`` or falls inside an ``ECOSYSTEM`` (or ``SEMVER``) range, evaluated as the
schema specifies: events sorted by version, ``introduced`` opens an interval, ``fixed`` closes it
before that version, ``last_affected`` closes it after that version. Versions compare with PEP 440
(packaging.version). GIT ranges need the commit graph and are not evaluated.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from mlsleuth.parsers.packages.names import normalize
from packaging.version import InvalidVersion, Version

MAX_ADVISORY_BYTES = 8 << 20  # one advisory; the largest real ones are a few hundred KB
MAX_FILES = 2_000_000
MAX_ZIP_RATIO = 200  # compressed/uncompressed ratio beyond which a member is treated as a bomb


@dataclass(slots=True)
class Advisory:
    id: str
    aliases: list[str]
    summary: str
    affected: list[dict[str, Any]]  # the PyPI entries of affected[]
    references: list[str]
    severity: str
    origin: str  # file or zip member it came from, or "curated"
    withdrawn: bool = False
    notes: str = ""
    malicious: bool = False  # a malicious package (OSV MAL- entries), not a vulnerable one


@dataclass(slots=True)
class Match:
    advisory: Advisory
    reason: str  # which version list or range matched
    fixed: list[str] = field(default_factory=list)


@dataclass
class AdvisoryDB:
    by_name: dict[str, list[Advisory]] = field(default_factory=dict)
    problems: list[tuple[str, str]] = field(default_factory=list)
    files: int = 0

    def add(self, adv: Advisory) -> None:
        for aff in adv.affected:
            name = normalize(str(aff.get("package", {}).get("name", "")))
            if name:
                bucket = self.by_name.setdefault(name, [])
                if adv not in bucket:
                    bucket.append(adv)

    def match(self, name: str, version: str) -> list[Match]:
        out: list[Match] = []
        for adv in self.by_name.get(normalize(name), []):
            if adv.withdrawn:
                continue
            for aff in adv.affected:
                if normalize(str(aff.get("package", {}).get("name", ""))) != normalize(name):
                    continue
                hit = affected_by(version, aff)
                if hit:
                    out.append(Match(adv, hit, fixed_versions(aff)))
                    break
        return out


def _parse(v: str) -> Version | None:
    try:
        return Version(v)
    except (InvalidVersion, TypeError):
        return None


def in_range(version: Version, events: list[dict[str, Any]]) -> bool:
    """OSV range evaluation for ordered (ECOSYSTEM/SEMVER) ranges."""
    usable: list[tuple[str, Version | None]] = []
    for ev in events:
        if not isinstance(ev, dict) or len(ev) != 1:
            continue
        kind, value = next(iter(ev.items()))
        if kind not in ("introduced", "fixed", "last_affected"):
            continue  # "limit" only applies to GIT ranges
        if kind == "introduced" and value == "0":
            usable.append((kind, None))
            continue
        parsed = _parse(str(value))
        if parsed is None:
            continue
        usable.append((kind, parsed))
    # Sort by version; "introduced: 0" first; at equal versions an introduced sorts before a
    # fixed so that [introduced X, fixed X] is an empty interval, as the schema intends.
    order = {"introduced": 0, "last_affected": 1, "fixed": 2}
    usable.sort(key=lambda kv: (kv[1] is not None, kv[1] or Version("0"), order[kv[0]]))
    affected = False
    for kind, bound in usable:
        if kind == "introduced":
            if bound is None or version >= bound:
                affected = True
        elif kind == "fixed":
            if bound is not None and version >= bound:
                affected = False
        elif kind == "last_affected" and bound is not None and version > bound:
            affected = False
    return affected


def affected_by(version: str, aff: dict[str, Any]) -> str | None:
    """Why ``version`` is affected by one ``affected[]`` entry, or None."""
    versions = aff.get("versions")
    if isinstance(versions, list):
        if version in versions:
            return f"version {version} listed"
        parsed = _parse(version)
        if parsed is not None:
            for v in versions:
                pv = _parse(str(v))
                if pv is not None and pv == parsed:
                    return f"version {v} listed"
    parsed = _parse(version)
    if parsed is None:
        return None
    for rng in aff.get("ranges") or []:
        if not isinstance(rng, dict) or rng.get("type") not in ("ECOSYSTEM", "SEMVER"):
            continue
        events = rng.get("events")
        if isinstance(events, list) and in_range(parsed, events):
            return "range " + ", ".join(f"{k} {v}" for ev in events if isinstance(ev, dict) for k, v in ev.items())
    return None


def fixed_versions(aff: dict[str, Any]) -> list[str]:
    out = []
    for rng in aff.get("ranges") or []:
        if isinstance(rng, dict):
            for ev in rng.get("events") or []:
                if isinstance(ev, dict) and isinstance(ev.get("fixed"), str):
                    out.append(ev["fixed"])
    return out


def _severity(doc: dict[str, Any]) -> str:
    ds = doc.get("database_specific")
    if isinstance(ds, dict) and isinstance(ds.get("severity"), str):
        return ds["severity"].lower()
    sev = doc.get("severity")
    if isinstance(sev, list) and sev and isinstance(sev[0], dict):
        return str(sev[0].get("score", ""))[:120]
    return ""


def advisory_from(doc: Any, origin: str) -> Advisory | None:
    if not isinstance(doc, dict) or not isinstance(doc.get("id"), str):
        return None
    affected = [a for a in doc.get("affected") or [] if isinstance(a, dict)
                and isinstance(a.get("package"), dict)
                and str(a["package"].get("ecosystem", "")).split(":", 1)[0] == "PyPI"]
    if not affected:
        return None
    refs = [r["url"] for r in doc.get("references") or [] if isinstance(r, dict) and isinstance(r.get("url"), str)]
    ds = doc.get("database_specific") if isinstance(doc.get("database_specific"), dict) else {}
    return Advisory(id=doc["id"], aliases=[a for a in doc.get("aliases") or [] if isinstance(a, str)],
                    summary=str(doc.get("summary") or doc.get("details") or "")[:300], affected=affected,
                    references=refs[:20], severity=_severity(doc), origin=origin,
                    withdrawn=bool(doc.get("withdrawn")), notes=str(ds.get("note", ""))[:500],
                    malicious=doc["id"].startswith("MAL-") or bool(ds.get("malicious")))


def _load_bytes(db: AdvisoryDB, data: bytes, origin: str) -> None:
    try:
        doc = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        db.problems.append((origin, f"not an OSV JSON document: {exc}"))
        return
    docs = doc if isinstance(doc, list) else [doc]
    for d in docs:
        if not isinstance(d, dict) or "id" not in d:
            db.problems.append((origin, "JSON without an OSV id"))
            continue
        adv = advisory_from(d, origin)
        if adv is not None:
            db.add(adv)


def load_osv(path: Path, db: AdvisoryDB | None = None) -> AdvisoryDB:
    """Index a directory tree or zip of OSV JSON files. Bad files are recorded, not raised."""
    db = db or AdvisoryDB()
    path = Path(path)
    if path.is_dir():
        for dirpath, _dirs, files in os.walk(path, followlinks=False):
            for fname in sorted(files):
                if not fname.endswith(".json"):
                    continue
                full = Path(dirpath) / fname
                db.files += 1
                if db.files > MAX_FILES:
                    db.problems.append((str(path), f"more than {MAX_FILES} files; the rest ignored"))
                    return db
                try:
                    if full.is_symlink() or full.stat().st_size > MAX_ADVISORY_BYTES:
                        db.problems.append((str(full), "symlink or larger than the per-advisory bound; skipped"))
                        continue
                    data = full.read_bytes()
                except OSError as exc:
                    db.problems.append((str(full), f"unreadable: {exc}"))
                    continue
                _load_bytes(db, data, str(full))
        return db
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        db.problems.append((str(path), f"neither a directory nor a readable zip: {exc}"))
        return db
    with zf:
        for info in zf.infolist():
            if info.is_dir() or not info.filename.endswith(".json"):
                continue
            db.files += 1
            origin = f"{path.name}:{info.filename}"
            if db.files > MAX_FILES:
                db.problems.append((str(path), f"more than {MAX_FILES} members; the rest ignored"))
                break
            if info.file_size > MAX_ADVISORY_BYTES or (
                    info.compress_size and info.file_size / info.compress_size > MAX_ZIP_RATIO
                    and info.file_size > (1 << 20)):
                db.problems.append((origin, f"declared {info.file_size} bytes: over the bound or a zip bomb; skipped"))
                continue
            try:
                with zf.open(info) as fh:
                    data = fh.read(MAX_ADVISORY_BYTES + 1)
            except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
                db.problems.append((origin, f"unreadable member: {exc}"))
                continue
            if len(data) > MAX_ADVISORY_BYTES:
                db.problems.append((origin, "larger than declared; skipped"))
                continue
            _load_bytes(db, data, origin)
    return db


def curated_db() -> AdvisoryDB:
    """The small table of must-know ML-stack advisories shipped in the package (OSV format)."""
    db = AdvisoryDB()
    text = resources.files("mlsleuth.parsers.packages").joinpath("ml_advisories.json").read_text("utf-8")
    for doc in json.loads(text):
        adv = advisory_from(doc, "curated")
        if adv is not None:
            db.add(adv)
    return db


def iter_matches(name: str, version: str, dbs: list[AdvisoryDB]) -> Iterator[Match]:
    """Matches across databases, one per advisory: the same CVE from the curated table and an
    OSV export (as alias of a GHSA or PYSEC id) is reported once, preferring the export."""
    seen: set[str] = set()
    for db in dbs:
        for m in db.match(name, version):
            ids = {m.advisory.id, *m.advisory.aliases}
            if ids & seen:
                continue
            seen |= ids
            yield m
