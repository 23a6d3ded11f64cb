"""`mlsleuth verify`: recompute everything an evidence archive claims and name what changed.

Checks, in one streaming pass over the archive plus one over its manifest:

* the archive's SHA-256 against the ``.sha256`` sidecar;
* every ``fs/`` and ``parts/`` member against its manifest row (``sha256``, or ``member_sha256``
  for a redacted copy; a part's own ``sha256``; a symlink's target);
* every other member (manifest, log, host.json, live state ...) against ``integrity.json``;
* members the manifest or integrity.json name but the archive lacks, members nobody names,
  duplicate names, unsafe names (absolute or ``..``), and the manifest's row count.

Exit codes: 0 intact, 1 changed (each change named), 2 unreadable (not a gzip'd tar, truncated,
or corrupt compressed data).
"""

from __future__ import annotations

import hashlib
import json
import tarfile
import tempfile
import zlib
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

CHUNK = 1 << 20
INTACT, CHANGED, UNREADABLE = 0, 1, 2
_STATUS = {INTACT: "intact", CHANGED: "changed", UNREADABLE: "unreadable"}


@dataclass
class Problem:
    kind: str  # member_changed, missing_member, extra_member, manifest_changed, sidecar_mismatch ...
    member: str
    detail: str = ""


@dataclass
class VerifyReport:
    archive: str
    code: int = INTACT
    archive_sha256: str | None = None
    sidecar: str = "missing"  # ok | mismatch | missing | unreadable
    members_checked: int = 0
    manifest_rows: int = 0
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        return _STATUS[self.code]

    def changed(self, kind: str, member: str, detail: str = "") -> None:
        self.problems.append(Problem(kind, member, detail))
        self.code = max(self.code, CHANGED)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["status"] = self.status
        return d


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _safe(name: str) -> bool:
    return not name.startswith("/") and ".." not in name.split("/")


def verify(archive: Path | str) -> VerifyReport:
    archive = Path(archive)
    report = VerifyReport(str(archive))
    try:
        report.archive_sha256 = _sha256_file(archive)
    except OSError as exc:
        report.code = UNREADABLE
        report.notes.append(f"cannot read the archive: {exc}")
        return report
    sidecar = archive.with_name(archive.name + ".sha256")
    try:
        recorded = sidecar.read_text(encoding="utf-8").split()[0].lower()
        if recorded == report.archive_sha256:
            report.sidecar = "ok"
        else:
            report.sidecar = "mismatch"
            report.changed("sidecar_mismatch", sidecar.name,
                           f"archive sha256 {report.archive_sha256} != sidecar {recorded}")
    except FileNotFoundError:
        report.notes.append(f"no {sidecar.name} beside the archive: the archive as a whole is unverified")
    except (OSError, IndexError, UnicodeDecodeError) as exc:
        report.sidecar = "unreadable"
        report.changed("sidecar_unreadable", sidecar.name, str(exc))

    # name -> [sha256 or None, size, type, linkname, seen-by-a-record]
    members: dict[str, list[Any]] = {}
    with tempfile.TemporaryDirectory(prefix="mlsleuth-verify-") as tmp:
        manifest_copy = Path(tmp) / "manifest.jsonl"
        integrity_raw: bytes | None = None
        try:
            with tarfile.open(archive, mode="r|gz") as tar:
                for ti in tar:
                    name = ti.name
                    if name in members:
                        report.changed("duplicate_member", name, "the name occurs more than once")
                    if not _safe(name):
                        report.changed("unsafe_member_name", name, "absolute or '..' path")
                    sha = None
                    if ti.isfile():
                        fh = tar.extractfile(ti)
                        digest = hashlib.sha256()
                        out = open(manifest_copy, "wb") if name == "manifest.jsonl" else None  # noqa: SIM115
                        keep = bytearray() if name == "integrity.json" else None
                        try:
                            assert fh is not None
                            for block in iter(partial(fh.read, CHUNK), b""):
                                digest.update(block)
                                if out is not None:
                                    out.write(block)
                                if keep is not None and len(keep) < (16 << 20):
                                    keep.extend(block)
                        finally:
                            if out is not None:
                                out.close()
                        sha = digest.hexdigest()
                        if keep is not None:
                            integrity_raw = bytes(keep)
                    kind = "file" if ti.isfile() else "symlink" if ti.issym() else "dir" if ti.isdir() else "other"
                    members[name] = [sha, ti.size, kind, ti.linkname if ti.issym() else None, False]
        except (tarfile.TarError, zlib.error, EOFError, OSError) as exc:
            report.code = UNREADABLE
            report.notes.append(f"archive unreadable after {len(members)} members: {type(exc).__name__}: {exc}")
            return report
        report.members_checked = len(members)
        _check_integrity(report, members, integrity_raw)
        if "manifest.jsonl" in members:
            _check_manifest(report, members, manifest_copy, integrity_raw)
        else:
            report.changed("missing_member", "manifest.jsonl", "the archive has no manifest")
    for name, entry in members.items():
        if not entry[4] and name != "integrity.json":
            report.changed("extra_member", name, "in the archive but in neither manifest nor integrity.json")
    return report


def _check_integrity(report: VerifyReport, members: dict[str, list[Any]], raw: bytes | None) -> None:
    if raw is None:
        report.changed("missing_member", "integrity.json", "the archive has no integrity.json")
        return
    try:
        doc = json.loads(raw)
        listed = doc["members"]
        assert isinstance(listed, dict)
    except (ValueError, KeyError, TypeError, AssertionError):
        report.changed("member_changed", "integrity.json", "not the JSON the collector writes")
        return
    for name, sha in listed.items():
        entry = members.get(name)
        if entry is None:
            report.changed("missing_member", name, "listed in integrity.json")
            continue
        entry[4] = True
        if entry[0] != sha:
            kind = "manifest_changed" if name == "manifest.jsonl" else "member_changed"
            report.changed(kind, name, f"sha256 {entry[0]} != recorded {sha}")


def _check_manifest(report: VerifyReport, members: dict[str, list[Any]], path: Path,
                    integrity_raw: bytes | None) -> None:
    rows = 0
    with open(path, "rb") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                assert isinstance(row, dict)
            except (ValueError, AssertionError):
                report.changed("manifest_changed", f"manifest.jsonl#L{number}", "row is not JSON")
                continue
            rows += 1
            _check_row(report, members, row, number)
    report.manifest_rows = rows
    try:
        expected = json.loads(integrity_raw or b"{}").get("manifest_rows")
    except (ValueError, AttributeError):
        expected = None
    if isinstance(expected, int) and expected != rows:
        report.changed("manifest_changed", "manifest.jsonl", f"{rows} rows, integrity.json says {expected}")


def _check_row(report: VerifyReport, members: dict[str, list[Any]], row: dict[str, Any], number: int) -> None:
    member = row.get("member")
    action = row.get("action")
    if isinstance(member, str) and member:
        entry = members.get(member)
        if entry is None:
            report.changed("missing_member", member, f"named by manifest.jsonl#L{number}")
        else:
            entry[4] = True
            if action == "symlink":
                if entry[2] != "symlink" or entry[3] != row.get("link_target"):
                    report.changed("member_changed", member,
                                   f"symlink target {entry[3]!r} != recorded {row.get('link_target')!r}")
            else:
                expected = row.get("member_sha256") or row.get("sha256")
                if entry[0] is None or entry[0] != expected:
                    report.changed("member_changed", member, f"sha256 {entry[0]} != recorded {expected}")
    for part in row.get("parts") or ():
        if not isinstance(part, dict) or not isinstance(part.get("member"), str):
            report.changed("manifest_changed", f"manifest.jsonl#L{number}", "malformed parts entry")
            continue
        entry = members.get(part["member"])
        if entry is None:
            report.changed("missing_member", part["member"], f"part named by manifest.jsonl#L{number}")
            continue
        entry[4] = True
        if entry[0] != part.get("sha256"):
            report.changed("member_changed", part["member"], f"sha256 {entry[0]} != recorded {part.get('sha256')}")


def render(report: VerifyReport) -> str:
    lines = [f"{report.status.upper()}: {report.archive}",
             f"  archive sha256 {report.archive_sha256} (sidecar: {report.sidecar})",
             f"  {report.members_checked} members, {report.manifest_rows} manifest rows checked"]
    for p in report.problems:
        lines.append(f"  {p.kind}: {p.member}" + (f" ({p.detail})" if p.detail else ""))
    for note in report.notes:
        lines.append(f"  note: {note}")
    return "\n".join(lines)


def run_verify_cli(archive: Path, as_json: bool = False) -> int:
    report = verify(archive)
    if as_json:
        print(json.dumps(report.to_dict(), indent=1))
    else:
        print(render(report))
    return report.code
