"""A Hugging Face hub cache in huggingface_hub's real on-disk layout.

``models--ORG--NAME/blobs/<oid>``: LFS files named by the SHA-256 of their content, small
git-tracked files by their git blob SHA-1; ``refs/<name>`` holds the commit (no newline, as
``file_download._cache_commit_hash_for_specific_revision`` writes it); ``snapshots/<commit>/<path>``
are relative symlinks ``../../blobs/<oid>`` (one more ``../`` per folder level); probes for absent
files leave empty ``.no_exist/<commit>/<path>``; lock files stay in ``<cache>/.locks/<folder>/``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from mlsleuth.fixturehost.planted import Repo, RepoFile
from mlsleuth.fixturehost.tree import Tree


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def fake_commit(seed: str) -> str:
    """A stable 40-hex commit id for a story repo (real ones are git SHA-1s, so is this)."""
    return hashlib.sha1(seed.encode()).hexdigest()


@dataclass
class CachedFile:
    path: str  # inside the repo
    data: bytes
    lfs: bool
    mtime: datetime  # download completed (blob renamed into place)
    atime: datetime | None = None  # last read (a load), if after the download


def write_repo(tree: Tree, *, user: str, hf_home: str, repo_id: str, commit: str,
               files: list[CachedFile], repo_type: str = "model", ref: str | None = "main",
               no_exist: Sequence[tuple[str, datetime]] = (),
               incomplete: Sequence[tuple[bytes, int, datetime]] = ()) -> Repo:
    """Write one cached repo; ``incomplete`` holds (full content, bytes received, mtime)."""
    cache = f"{hf_home}/hub"
    folder_name = f"{repo_type}s--" + repo_id.replace("/", "--")
    folder = f"{cache}/{folder_name}"
    out: list[RepoFile] = []
    locks: list[str] = []
    for f in files:
        oid = hashlib.sha256(f.data).hexdigest() if f.lfs else git_blob_sha1(f.data)
        blob = f"{folder}/blobs/{oid}"
        tree.write(blob, f.data, f.mtime, atime=f.atime)
        depth = f.path.count("/")
        target = "../" * (2 + depth) + f"blobs/{oid}"
        snapshot = f"{folder}/snapshots/{commit}/{f.path}"
        tree.symlink(snapshot, target, f.mtime)
        # the lock is taken when the file's download starts and never written again
        lock = f"{cache}/.locks/{folder_name}/{oid}.lock"
        tree.write(lock, b"", f.mtime - timedelta(seconds=1))
        locks.append(lock)
        out.append(RepoFile(path=f.path, oid=oid, lfs=f.lfs, size=len(f.data), blob=blob,
                            snapshot=snapshot, link_target=target, mtime=f.mtime))
    refs: dict[str, str] = {}
    first = min(f.mtime for f in files) - timedelta(seconds=1)
    if ref is not None:
        # the ref is resolved (HEAD request) before the first file is fetched
        tree.write(f"{folder}/refs/{ref}", commit, first)
        refs[ref] = commit
    probes = []
    for path, t in no_exist:
        probe = f"{folder}/.no_exist/{commit}/{path}"
        tree.write(probe, b"", t)
        probes.append(probe)
    partials = []
    for data, received, t in incomplete:
        oid = hashlib.sha256(data).hexdigest()
        partial = f"{folder}/blobs/{oid}.incomplete"
        tree.write(partial, data[:received], t)
        lock = f"{cache}/.locks/{folder_name}/{oid}.lock"
        tree.write(lock, b"", t - timedelta(seconds=1))
        locks.append(lock)
        partials.append(partial)
    return Repo(user=user, cache=cache, repo_type=repo_type, repo_id=repo_id, folder=folder,
                commit=commit, refs=refs, files=out, no_exist=probes, incomplete=partials, locks=locks)
