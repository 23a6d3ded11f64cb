"""Hugging Face hub cache (``$HF_HUB_CACHE``, default ``~/.cache/huggingface/hub``).

Layout (huggingface_hub ``file_download.py``)::

    models--org--name/
        refs/main                       40-hex commit (mtime: when the ref was last resolved)
        snapshots/<commit>/<path>       relative symlink to ../../blobs/<oid>
        blobs/<oid>                     content; oid = sha256 (LFS) or git blob sha1 (small files)
        blobs/<oid>.incomplete          a download that did not finish
        .no_exist/<commit>/<path>       empty marker: file probed, not in the repo
    .locks/models--org--name/<oid>.lock created when a download starts

Events: per snapshot file materialised (blob mtime = download completed), per ref, per revision
(first link in its snapshot folder), per partial download, per ``.no_exist`` probe, per lock,
per blob no snapshot points to; a blob whose content does not hash to its name is a FINDING.

The collector hands every file of the cache to this parser; the first file of a repo folder
makes it read the whole folder through the evidence (so the manifest's times, sizes and hashes
are used, and blobs kept only as hashes still count). huggingface_hub's own ``scan_cache_dir``
gives the revision/file structure where it fits: a cache whose files are all present locally and
whose links stay inside their repo. It never touches the network (it only lists folders), but it
rejects whole repos for one dangling link, a stray file in ``snapshots/`` or a ref to a missing
snapshot, and it would follow links out of the evidence: those repos are read by the walker
below, which tolerates all of that.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlsleuth.parsers.registry import register
from mlsleuth.parsers.source import ContentUnavailable, ParseContext, Source
from mlsleuth.parsers.verdicts import MODEL_SUFFIXES, verdict_events

from mlsleuth.events import UNKNOWN_TIME, Category, Event, TimestampQuality, iso

REPO_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
_HEX40 = re.compile(r"^[0-9a-f]{40}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
SCANNER_MAX_FILES = int(os.environ.get("MLSLEUTH_HF_SCANNER_MAX_FILES", 20_000))
GIT_HASH_MAX = 64 << 20  # small (non-LFS) files are checked against their git blob sha1
HASH_CHUNK = 1 << 20


@dataclass
class Revision:
    commit: str
    refs: list[str] = field(default_factory=list)
    files: list[tuple[str, Source]] = field(default_factory=list)  # (path in repo, snapshot entry)


@dataclass
class RepoLayout:
    repo_type: str  # "models"
    repo_id: str  # "org/name"
    host_dir: str
    refs: dict[str, tuple[str, Source]] = field(default_factory=dict)  # ref -> (commit, file)
    revisions: dict[str, Revision] = field(default_factory=dict)
    blobs: dict[str, Source] = field(default_factory=dict)  # oid -> blob
    incomplete: list[Source] = field(default_factory=list)
    no_exist: list[tuple[str, str, Source]] = field(default_factory=list)  # (commit, path, marker)
    other: list[Source] = field(default_factory=list)

    @property
    def model_repo(self) -> str:
        return f"{self.repo_type}/{self.repo_id}"


def split_repo_folder(name: str) -> tuple[str, str] | None:
    """``models--org--name`` -> ("models", "org/name")."""
    if "--" not in name:
        return None
    kind, rest = name.split("--", 1)
    if kind not in REPO_TYPES or not rest:
        return None
    return kind, rest.replace("--", "/")


def locate(host_path: str) -> tuple[str, str, str] | None:
    """(cache dir, repo folder, path inside the repo folder) for a path in an HF hub cache."""
    parts = host_path.split("/")
    for i in range(len(parts) - 1, 0, -1):
        if split_repo_folder(parts[i]) and i + 1 < len(parts) and parts[i + 1] in (
                "blobs", "refs", "snapshots", ".no_exist"):
            return "/".join(parts[:i]), parts[i], "/".join(parts[i + 1:])
    return None


@register("hf_cache", symlinks=True)
def parse(src: Source, ctx: ParseContext) -> Iterator[Event]:
    lock = _lock_of(src.host_path)
    if lock is not None:
        yield from _lock_event(src, ctx, *lock)
        return
    where = locate(src.host_path)
    if where is None:
        return  # version.txt, CACHEDIR.TAG ...: nothing to report
    cache_dir, folder, _inner = where
    done = ctx.scratch("hf_cache.repos")
    if (cache_dir, folder) in done:
        return
    done.add((cache_dir, folder))
    evidence = src.evidence
    if evidence is None:
        yield src.error(ctx, "HF cache entries need their evidence to be read together")
        return
    layout, problems = walk_repo(evidence, cache_dir, folder, parser=src.parser, user=src.user)
    for problem in problems:
        yield src.error(ctx, problem)
    scanner_note = _apply_scanner(evidence, ctx, cache_dir, folder, layout)
    yield from repo_events(layout, ctx, scanner_note)


def _lock_of(host_path: str) -> tuple[str, str] | None:
    parts = host_path.split("/")
    if len(parts) >= 3 and parts[-3] == ".locks" and parts[-1].endswith(".lock"):
        repo = split_repo_folder(parts[-2])
        if repo:
            return f"{repo[0]}/{repo[1]}", parts[-1][:-len(".lock")]
    return None


def _lock_event(src: Source, ctx: ParseContext, model_repo: str, oid: str) -> Iterator[Event]:
    if src.mtime is None:
        return
    yield src.event(ctx, timestamp=src.mtime, desc="Download Lock Written", category=Category.MODEL_DOWNLOAD,
                    message=f"{model_repo}: download lock for blob {oid[:12]}…",
                    model_repo=model_repo, sha256=oid if _HEX64.match(oid) else None,
                    extra={"blob": oid})


# -- walking a repo folder through the evidence ---------------------------------------------------
def walk_repo(evidence: Any, cache_dir: str, folder: str, *, parser: str = "hf_cache",
              user: str = "") -> tuple[RepoLayout, list[str]]:
    repo_type, repo_id = split_repo_folder(folder)  # type: ignore[misc]
    layout = RepoLayout(repo_type=repo_type, repo_id=repo_id, host_dir=f"{cache_dir}/{folder}")
    problems: list[str] = []
    prefix = layout.host_dir + "/"
    for entry in evidence.walk(layout.host_dir):
        entry.parser = parser
        entry.user = entry.user or user
        inner = entry.host_path[len(prefix):]
        section, _, rest = inner.partition("/")
        if section == "blobs" and "/" not in rest:
            if rest.endswith(".incomplete"):
                layout.incomplete.append(entry)
            else:
                layout.blobs[rest] = entry
        elif section == "refs" and rest:
            commit = _read_ref(entry)
            if commit is None:
                problems.append(f"ref {rest!r} unreadable or not a 40-hex commit ({entry.host_path})")
            else:
                layout.refs[rest] = (commit, entry)
        elif section == "snapshots" and "/" in rest:
            commit, _, path = rest.partition("/")
            layout.revisions.setdefault(commit, Revision(commit)).files.append((path, entry))
        elif section == ".no_exist" and "/" in rest:
            commit, _, path = rest.partition("/")
            layout.no_exist.append((commit, path, entry))
        else:
            layout.other.append(entry)
    for ref, (commit, _entry) in layout.refs.items():
        layout.revisions.setdefault(commit, Revision(commit)).refs.append(ref)
    return layout, problems


def _read_ref(entry: Source) -> str | None:
    if entry.is_symlink:
        return None
    try:
        text = entry.read_bytes(4096).decode("ascii", "replace").strip()
    except (ContentUnavailable, OSError):
        return None
    return text if _HEX40.match(text) else None


def _blob_of(entry: Source) -> str | None:
    """The oid a snapshot symlink points at, if it points into this repo's blobs/ folder."""
    target = entry.link_target
    if not target:
        return None
    folder = posixpath.dirname(entry.host_path)
    resolved = posixpath.normpath(posixpath.join(folder, target))
    blobs_dir = entry.host_path.split("/snapshots/", 1)[0] + "/blobs/"
    if not resolved.startswith(blobs_dir) or "/" in resolved[len(blobs_dir):]:
        return None
    return resolved[len(blobs_dir):]


# -- huggingface_hub's scanner, where it fits -----------------------------------------------------
def _apply_scanner(evidence: Any, ctx: ParseContext, cache_dir: str, folder: str,
                   layout: RepoLayout) -> str:
    """Check our layout against huggingface_hub's view of the repo; say what it thought."""
    verdicts = ctx.scratch("hf_cache.scanner", dict)
    if cache_dir not in verdicts:
        verdicts[cache_dir] = _scan_cache(evidence, cache_dir)
    per_repo = verdicts[cache_dir]
    if isinstance(per_repo, str):
        return per_repo
    verdict = per_repo.get(folder)
    if verdict is None:
        return "huggingface_hub scanner: repo not listed"
    if isinstance(verdict, str):
        return verdict
    # Accepted: take its revision -> files mapping (its refs and commit set are authoritative).
    for commit, refs, files in verdict:
        revision = layout.revisions.setdefault(commit, Revision(commit))
        for ref in refs:
            if ref not in revision.refs:
                revision.refs.append(ref)
        known = {path for path, _ in revision.files}
        for path in files:
            if path not in known:
                entry = evidence.entry(f"{layout.host_dir}/snapshots/{commit}/{path}")
                if entry is not None:
                    entry.parser = "hf_cache"
                    revision.files.append((path, entry))
    return "huggingface_hub scanner: accepted"


def _scan_cache(evidence: Any, cache_dir: str) -> dict[str, Any] | str:
    local_dir = _local_dir(evidence, cache_dir)
    if local_dir is None:
        return "huggingface_hub scanner: cache folder has no local copy"
    unsafe = _unsafe_reason(local_dir)
    if unsafe:
        return f"huggingface_hub scanner not used: {unsafe}"
    try:
        from huggingface_hub import scan_cache_dir
    except ImportError:
        return "huggingface_hub scanner not installed"
    try:
        info = scan_cache_dir(local_dir)  # lists and stats folders only: no network (tested)
    except Exception as exc:  # CacheNotFound, ValueError, OSError on odd trees
        return f"huggingface_hub scanner failed: {type(exc).__name__}: {exc}"
    per_repo: dict[str, Any] = {}
    for repo in info.repos:
        per_repo[repo.repo_path.name] = [
            (rev.commit_hash, sorted(rev.refs),
             [f.file_path.relative_to(rev.snapshot_path).as_posix() for f in rev.files])
            for rev in repo.revisions]
    for warning in info.warnings:
        text = str(warning)
        for part in Path(text.split(": ", 1)[-1].split(" (")[0]).parts:
            if split_repo_folder(part):
                per_repo.setdefault(part, f"huggingface_hub scanner rejected it: {text}")
                break
    return per_repo


def _local_dir(evidence: Any, cache_dir: str) -> Path | None:
    probe = getattr(evidence, "local_dir", None)
    return probe(cache_dir) if probe else None


def _unsafe_reason(local_dir: Path) -> str | None:
    """Why the scanner must not run here: links leaving their repo, linked folders, or size."""
    count = 0
    for folder, dirs, files in os.walk(local_dir, followlinks=False):
        for name in dirs + files:
            count += 1
            if count > SCANNER_MAX_FILES:
                return f"more than {SCANNER_MAX_FILES} entries (read by the streaming walker)"
            path = os.path.join(folder, name)
            st = os.lstat(path)
            if not stat.S_ISLNK(st.st_mode):
                if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
                    return f"special file {path}"
                continue
            target = os.readlink(path)
            rel = os.path.relpath(path, local_dir).split(os.sep)
            if target.startswith("/") or len(rel) < 3:
                return f"absolute or top-level symlink {'/'.join(rel)}"
            repo_root = os.path.join(local_dir, rel[0])
            resolved = os.path.normpath(os.path.join(folder, target))
            if not resolved.startswith(os.path.join(repo_root, "blobs") + os.sep):
                return f"symlink {'/'.join(rel)} leaves its repo's blobs folder"
            if not os.path.isfile(resolved) or os.path.islink(resolved):
                return f"symlink {'/'.join(rel)} does not point at a blob file"
    return None


# -- events -------------------------------------------------------------------------------------------
def repo_events(layout: RepoLayout, ctx: ParseContext, scanner_note: str) -> Iterator[Event]:
    model_repo = layout.model_repo
    base = {"repo_type": REPO_TYPES[layout.repo_type], "repo_id": layout.repo_id, "scanner": scanner_note}
    linked: set[str] = set()
    digests = {oid: blob_digests(oid, blob) for oid, blob in layout.blobs.items()}
    for ref, (commit, entry) in sorted(layout.refs.items()):
        if entry.mtime is None:
            continue
        yield entry.event(ctx, timestamp=entry.mtime, desc="Ref Updated", category=Category.MODEL_DOWNLOAD,
                          message=f"{model_repo}: ref {ref} -> {commit}", model_repo=model_repo,
                          revision=commit, extra={**base, "ref": ref})
    for commit, revision in sorted(layout.revisions.items()):
        times = [e.mtime for _p, e in revision.files if e.mtime is not None]
        if revision.files:
            first = min(times) if times else UNKNOWN_TIME
            anchor = revision.files[0][1]
            yield anchor.event(ctx, timestamp=first, desc="Snapshot Created", category=Category.MODEL_DOWNLOAD,
                               message=f"{model_repo}@{commit[:12]}: snapshot with {len(revision.files)} "
                                       f"file(s) (refs: {', '.join(revision.refs) or 'none'})",
                               quality=TimestampQuality.EXACT if times else TimestampQuality.ESTIMATED,
                               model_repo=model_repo, revision=commit,
                               file_path=f"{layout.host_dir}/snapshots/{commit}",
                               extra={**base, "refs": revision.refs, "files": len(revision.files)})
        elif not _HEX40.match(commit):
            continue
        for path, entry in sorted(revision.files, key=lambda pe: pe[0]):
            oid = _blob_of(entry)
            if oid:
                linked.add(oid)
            yield from _file_events(layout, ctx, commit, revision, path, entry, oid, base, digests)
    for oid, blob in sorted(layout.blobs.items()):
        yield from _tamper_events(layout, ctx, oid, blob, base, digests[oid])
        if oid not in linked and blob.mtime is not None:
            yield blob.event(ctx, timestamp=blob.mtime, desc="Orphan Blob Modified",
                             category=Category.MODEL_DOWNLOAD,
                             message=f"{model_repo}: blob {oid[:12]}… that no snapshot links to",
                             model_repo=model_repo, sha256=_sha_of(oid, digests),
                             extra={**base, "blob": oid, "size": blob.size})
    for part in layout.incomplete:
        when = part.mtime or UNKNOWN_TIME
        oid = part.name[:-len(".incomplete")]
        yield part.event(ctx, timestamp=when, desc="Partial Download Modified", category=Category.MODEL_DOWNLOAD,
                         message=f"{model_repo}: unfinished download of blob {oid[:12]}… "
                                 f"({part.size if part.size is not None else '?'} bytes so far)",
                         quality=TimestampQuality.EXACT if part.mtime else TimestampQuality.ESTIMATED,
                         model_repo=model_repo, extra={**base, "blob": oid, "size": part.size})
    for commit, path, marker in layout.no_exist:
        when = marker.mtime or UNKNOWN_TIME
        yield marker.event(ctx, timestamp=when, desc="Missing File Probed", category=Category.MODEL_DOWNLOAD,
                           message=f"{model_repo}@{commit[:12]}: probed {path}, not in the repo",
                           quality=TimestampQuality.EXACT if marker.mtime else TimestampQuality.ESTIMATED,
                           model_repo=model_repo, revision=commit, extra={**base, "repo_file": path})


def _sha_of(oid: str, digests: dict[str, tuple[str | None, str | None]]) -> str | None:
    """The content's sha256 if known (computed or from the manifest), else the LFS name."""
    known = digests.get(oid, (None, None))[0] if oid else None
    if known:
        return known
    return oid if _HEX64.match(oid or "") else None


def _file_events(layout: RepoLayout, ctx: ParseContext, commit: str, revision: Revision, path: str,
                 entry: Source, oid: str | None, base: dict[str, Any],
                 digests: dict[str, tuple[str | None, str | None]]) -> Iterator[Event]:
    model_repo = layout.model_repo
    extra: dict[str, Any] = {**base, "repo_file": path, "refs": revision.refs}
    blob = layout.blobs.get(oid) if oid else None
    if entry.mtime is not None:
        extra["link_time"] = iso(entry.mtime)
    if not entry.is_symlink:
        # huggingface_hub links every snapshot file to a blob on POSIX: a plain file here was put
        # there by something else (a copy over the link, or a replaced file).
        when = entry.mtime or UNKNOWN_TIME
        yield entry.event(ctx, timestamp=when, desc="Snapshot File Modified", category=Category.FINDING,
                          message=f"{model_repo}@{commit[:12]}: {path} is a regular file, not a link to a blob",
                          model_repo=model_repo, revision=commit, sha256=entry.sha256, verdict="suspicious",
                          extra={**extra, "rule": "hf_snapshot_not_a_link", "size": entry.size})
        yield from _model_verdict(layout, ctx, entry, path, commit)
        return
    if oid is None or blob is None:
        when = entry.mtime or UNKNOWN_TIME
        reason = "points outside the repo's blobs" if oid is None else "blob missing"
        yield entry.event(ctx, timestamp=when, desc="Snapshot Link Created", category=Category.MODEL_DOWNLOAD,
                          message=f"{model_repo}@{commit[:12]}: {path} -> {entry.link_target} ({reason})",
                          quality=TimestampQuality.EXACT if entry.mtime else TimestampQuality.ESTIMATED,
                          model_repo=model_repo, revision=commit, sha256=_sha_of(oid or "", digests),
                          extra={**extra, "link_target": entry.link_target, "dangling": True})
        return
    when = blob.mtime
    quality = TimestampQuality.EXACT
    if when is None:
        when, quality = entry.mtime or UNKNOWN_TIME, TimestampQuality.FILE_TIME
    size = blob.size
    yield entry.event(ctx, timestamp=when, desc="Download Completed", category=Category.MODEL_DOWNLOAD,
                      message=f"{model_repo}@{commit[:12]}: {path} ({size if size is not None else '?'} bytes)",
                      quality=quality, model_repo=model_repo, revision=commit, sha256=_sha_of(oid, digests),
                      extra={**extra, "blob": oid, "blob_path": blob.host_path, "lfs": bool(_HEX64.match(oid)),
                             "size": size, "collected": blob.action})
    yield from _model_verdict(layout, ctx, blob, path, commit, shown=entry)


def _model_verdict(layout: RepoLayout, ctx: ParseContext, content: Source, path: str, commit: str,
                   shown: Source | None = None) -> Iterator[Event]:
    if not path.lower().endswith(MODEL_SUFFIXES):
        return
    yield from verdict_events(content, ctx, name=path, model_repo=layout.model_repo, revision=commit,
                              file_path=(shown or content).host_path)


def _tamper_events(layout: RepoLayout, ctx: ParseContext, oid: str, blob: Source,
                   base: dict[str, Any], digests: tuple[str | None, str | None]) -> Iterator[Event]:
    """A blob is named by its content hash; a different content hash means it was changed."""
    sha256, git_sha1 = digests
    if _HEX64.match(oid):
        actual, kind = sha256, "sha256"
    elif _HEX40.match(oid):
        actual, kind = git_sha1, "git blob sha1"
    else:
        return
    if actual is None or actual == oid:
        return
    when = blob.mtime or UNKNOWN_TIME
    yield blob.event(ctx, timestamp=when, desc="Tampered Blob", category=Category.FINDING,
                     message=f"{layout.model_repo}: blob {oid[:12]}… content {kind} is {actual[:12]}…: "
                             "changed after download",
                     quality=TimestampQuality.EXACT if blob.mtime else TimestampQuality.ESTIMATED,
                     model_repo=layout.model_repo, sha256=sha256, verdict="suspicious",
                     extra={**base, "rule": "hf_blob_hash_mismatch", "severity": "high", "blob": oid,
                            "content_hash": actual, "hash_kind": kind})


def blob_digests(oid: str, blob: Source) -> tuple[str | None, str | None]:
    """(sha256, git blob sha1) of a blob's content: the manifest's sha256 when the collector
    hashed it, else computed from the local copy in one pass (git sha1 only for git-named blobs)."""
    want_git = bool(_HEX40.match(oid)) and (blob.size or 0) <= GIT_HASH_MAX
    if blob.sha256 and not want_git:
        return blob.sha256, None
    try:
        fh = blob.open()
    except (ContentUnavailable, OSError):
        return blob.sha256, None
    with fh:
        size = os.fstat(fh.fileno()).st_size
        sha = hashlib.sha256()
        git = hashlib.sha1(b"blob %d\x00" % size, usedforsecurity=False) if want_git else None
        while chunk := fh.read(HASH_CHUNK):
            sha.update(chunk)
            if git is not None:
                git.update(chunk)
    return blob.sha256 or sha.hexdigest(), git.hexdigest() if git is not None else None
