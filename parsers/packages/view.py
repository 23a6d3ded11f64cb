"""One read-only view of a host for the package analyzer, over the shared evidence layer
(``mlsleuth.parsers.evidence``): a host tree (``--root``, a mounted image, this host) or a
collected archive (extracted safely by ``open_evidence``; read through its manifest).

What is added here is what the package analysis needs and the evidence layer does not give:
a node per host path (kind, size, times, hash), directory listings, symlink resolution with
chroot semantics in both kinds of evidence, and a discovery pass that finds every environment,
conda prefix and supporting file (pip.conf, histories, pip logs ...). In an archive, hashes come
from the manifest (the collector hashed every file it saw) and copied members are hashed again
so a member that disagrees with its manifest row is reported.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import posixpath
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from mlsleuth.parsers.packages.names import classify, is_dist_dir_name
from mlsleuth.parsers.source import ContentUnavailable, open_regular

READ_CHUNK = 1 << 20
MAX_SMALL_READ = 64 << 20  # bound on any file read whole (logs, histories, RECORD of huge dists)
MAX_SYMLINK_HOPS = 40
# Directories never worth walking on a live or imaged root (pseudo file systems, caches of
# other package managers that hold thousands of unpacked trees, VCS internals).
SKIP_DIRS = frozenset({"/proc", "/sys", "/dev", "/run", "/var/lib/docker/overlay2", "/snap"})
SKIP_NAMES = frozenset({".git", "node_modules", "__pycache__", ".hg", ".svn"})
# Unpacked wheels and conda packages in download caches carry dist-info too; they are not
# environments anything imports from.
_CACHE_MARKERS = ("/.cache/uv/", "/.cache/pip/", "/.cache/pypoetry/cache/")


_PROJECT_FILES = frozenset({"setup.py", "pyproject.toml", "setup.cfg"})


def is_source_tree(names: set[str] | list[str]) -> bool:
    """A project checkout whose build left ``<name>.egg-info`` next to setup.py: not installed."""
    names = set(names)
    return bool(names & _PROJECT_FILES) and not any(n.endswith(".dist-info") for n in names)


def is_cache_path(path: str, view: HostView | None = None) -> bool:
    """In a download cache: pip/uv/poetry caches, or conda's ``<prefix>/pkgs/`` package cache."""
    p = path + "/"
    if any(m in p for m in _CACHE_MARKERS):
        return True
    if view is not None and "/pkgs/" in p:
        prefix = p[: p.index("/pkgs/")] or "/"
        return view.node(posixpath.join(prefix, "conda-meta")).kind == "dir"
    return False


_PREFIXED_ENV = re.compile(r"^(?P<prefix>.*)/lib(?:64)?/python[\d.]*/(?:site|dist)-packages$")


def env_prefix(env: str) -> str:
    """The installation prefix of an environment (a venv root, /usr, a conda prefix): RECORD
    places scripts and data files there (``../../../bin/tool``)."""
    m = _PREFIXED_ENV.match(env)
    return (m.group("prefix") or "/") if m else env


def drop_nested(envs: list[str]) -> list[str]:
    """Environments inside another one (setuptools/_vendor/*.dist-info) are part of it."""
    out: list[str] = []
    for env in sorted(set(envs)):
        if out and (env + "/").startswith(out[-1].rstrip("/") + "/"):
            continue
        out.append(env)
    return out


class ReadError(Exception):
    """A file that could not be read; the message says why (missing, not regular, too large ...)."""


@dataclass(slots=True)
class Node:
    path: str
    kind: str  # file | dir | symlink | other | missing
    size: int | None = None
    mtime: float | None = None
    ctime: float | None = None
    atime: float | None = None
    link_target: str | None = None
    sha256: str | None = None  # known whole-file hash (archive manifest)
    member: str | None = None  # archive member holding the bytes
    note: str | None = None  # why a file has no hash (manifest action skipped / failed ...)
    row: int | None = None  # manifest line (archive)


MISSING = "missing"


@dataclass
class Discovery:
    """Everything the analyzer reads, found in one pass over the tree or the manifest."""

    envs: list[str] = field(default_factory=list)  # directories holding *.dist-info / *.egg-info
    conda_prefixes: list[str] = field(default_factory=list)
    files: dict[str, list[str]] = field(default_factory=dict)  # classify() kind -> host paths
    errors: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    aliases: dict[str, str] = field(default_factory=dict)  # resolved env -> symlink that led there

    def add_file(self, kind: str, path: str) -> None:
        self.files.setdefault(kind, []).append(path)


class HostView:
    """Base class: path arithmetic and symlink resolution shared by both kinds of evidence."""

    label: str = ""
    host: str = ""
    tz: tzinfo | None = None  # None: local times in logs are read as UTC and marked estimated
    collection_time: datetime | None = None
    live: bool = False
    archive_mode: bool = False
    problems: list[tuple[str, str]]  # (evidence, reason) met while reading the container
    _dpkg: set[str] | None = None

    # -- to implement -------------------------------------------------------------------------
    def node(self, path: str) -> Node:
        raise NotImplementedError

    def children(self, path: str) -> list[str] | None:
        raise NotImplementedError

    def read(self, path: str, limit: int = MAX_SMALL_READ, truncate: bool = False) -> bytes:
        """The file's bytes; more than ``limit`` is an error unless ``truncate``."""
        raise NotImplementedError

    def digest(self, path: str, algo: str = "sha256") -> str | None:
        raise NotImplementedError

    def evidence(self, path: str, where: str = "") -> str:
        raise NotImplementedError

    def discover(self) -> Discovery:
        raise NotImplementedError

    def homes(self) -> dict[str, str]:
        """user name -> home directory."""
        raise NotImplementedError

    def process_environments(self) -> Iterator[tuple[int | None, str, dict[str, str], str]]:
        """(pid, process name, environment, evidence) of live processes, where known."""
        return iter(())

    def absent_means_missing(self, env: str, path: str) -> bool:
        """Whether a listed file that is not here is really gone (always, in a tree)."""
        return True

    def system_owned(self, path: str) -> bool | None:
        """Whether the operating system's package database (dpkg) lists ``path``; None when the
        evidence holds no such database."""
        if self._dpkg is None:
            self._dpkg = self._load_dpkg()
        return (path in self._dpkg) if self._dpkg else None

    def _load_dpkg(self) -> set[str]:
        owned: set[str] = set()
        info = "/var/lib/dpkg/info"
        budget = 256 << 20
        for name in self.children(info) or []:
            if not name.endswith(".list") or budget <= 0:
                continue
            try:
                data = self.read(posixpath.join(info, name), 16 << 20)
            except ReadError:
                continue
            budget -= len(data)
            owned.update(line for line in data.decode("utf-8", "replace").splitlines() if line.startswith("/"))
        return owned

    def head(self, path: str, n: int) -> bytes | None:
        try:
            return self.read(path, limit=n, truncate=True)
        except ReadError:
            return None

    # -- shared ---------------------------------------------------------------------------------
    def resolve(self, path: str) -> str | None:
        """Follow symlinks in ``path`` with chroot semantics (``..`` stops at the root, absolute
        targets start again at the root), so resolution can never leave the evidence."""
        pending = [p for p in path.split("/") if p]
        done: list[str] = []
        hops = 0
        while pending:
            part = pending.pop(0)
            if part in ("", "."):
                continue
            if part == "..":
                if done:
                    done.pop()
                continue
            candidate = "/" + "/".join([*done, part])
            node = self._component(candidate)
            if node.kind == MISSING:
                return None
            if node.kind == "symlink":
                hops += 1
                if hops > MAX_SYMLINK_HOPS or node.link_target is None:
                    return None
                target = node.link_target
                if target.startswith("/"):
                    done = []
                pending = [p for p in target.split("/") if p] + pending
                continue
            done.append(part)
        return "/" + "/".join(done)

    def _component(self, path: str) -> Node:
        """The node of ``path`` whose parent is already resolved (used by ``resolve``)."""
        return self.node(path)

    def user_for(self, path: str) -> str:
        best = ""
        best_len = 0
        for user, home in self.homes().items():
            home = home.rstrip("/")
            if home and (path == home or path.startswith(home + "/")) and len(home) > best_len:
                best, best_len = user, len(home)
        return best


def _hash_local(local: str | Path, algo: str) -> str | None:
    try:
        with open_regular(Path(local)) as fh:
            h = hashlib.new(algo)
            while chunk := fh.read(READ_CHUNK):
                h.update(chunk)
            return h.hexdigest()
    except (OSError, ContentUnavailable, ValueError):
        return None


def _read_local(local: Path, limit: int, truncate: bool) -> bytes:
    try:
        with open_regular(local) as fh:
            data = fh.read(limit + 1)
    except FileNotFoundError as exc:
        raise ReadError("missing") from exc
    except ContentUnavailable as exc:
        raise ReadError(str(exc)) from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ReadError("is a symlink") from exc
        raise ReadError(exc.strerror or str(exc)) from exc
    if len(data) > limit:
        if not truncate:
            raise ReadError(f"more than the {limit}-byte bound")
        data = data[:limit]
    return data


def _users_from_passwd(text: str) -> dict[str, str]:
    homes: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) >= 6 and parts[5].startswith("/") and parts[5] not in ("/", "/nonexistent"):
            homes.setdefault(parts[0], parts[5])
    return homes


class TreeView(HostView):
    """A host tree on disk: this host (root ``/``) or a mounted or copied one."""

    def __init__(self, root: Path, *, host: str = "", tz: tzinfo | None = None, live: bool | None = None,
                 collection_time: datetime | None = None, walk_budget: int = 2_000_000,
                 max_depth: int = 14) -> None:
        self.root = Path(root).resolve()
        self._prefix = "" if str(self.root) == "/" else str(self.root)
        self.label = str(self.root)
        self.live = (self.root == Path("/")) if live is None else live
        self.host = host or self.root.name or "localhost"
        self.tz = tz
        self.collection_time = collection_time
        self.walk_budget = walk_budget
        self.max_depth = max_depth
        self.problems = []
        self._homes: dict[str, str] | None = None
        self._dir_cache: dict[str, str | None] = {}

    def local(self, path: str) -> str:
        """The examiner-side path of a host path (lexical; callers pass resolved paths)."""
        norm = posixpath.normpath("/" + path.lstrip("/"))
        return self._prefix + norm if norm != "/" else self._prefix + "/"

    # Every access goes through the resolved parent folder: the kernel would otherwise follow a
    # symlinked folder on the way (lib64 -> /usr/lib64) to the examiner's own file system.
    def _real(self, path: str) -> str | None:
        """``path`` with its parent folder resolved inside the root (the last part untouched)."""
        if not path.startswith("/") or "//" in path or "/." in path or path.endswith("/"):
            path = posixpath.normpath("/" + path.lstrip("/"))
        if path == "/":
            return path
        parent, _, name = path.rpartition("/")
        parent = parent or "/"
        real = self._dir_cache.get(parent)
        if real is None:
            if parent in self._dir_cache:
                return None
            real = self.resolve(parent)
            if len(self._dir_cache) > 200_000:
                self._dir_cache.clear()
            self._dir_cache[parent] = real
            if real is None:
                return None
        return (real if real != "/" else "") + "/" + name

    def _component(self, path: str) -> Node:
        return self._lstat(path, path)

    def _lstat(self, real: str, shown: str) -> Node:
        local = self._prefix + real  # ``real`` is absolute and normalised (from _real / resolve)
        try:
            st = os.lstat(local)
        except OSError:
            return Node(shown, MISSING)
        mode = st.st_mode
        target = None
        if stat.S_ISLNK(mode):
            try:
                target = os.readlink(local)
            except OSError:
                target = None
            kind = "symlink"
        else:
            kind = "file" if stat.S_ISREG(mode) else "dir" if stat.S_ISDIR(mode) else "other"
        return Node(shown, kind, size=st.st_size, mtime=st.st_mtime, ctime=st.st_ctime,
                    atime=st.st_atime, link_target=target)

    def node(self, path: str) -> Node:
        real = self._real(path)
        return Node(path, MISSING) if real is None else self._lstat(real, path)

    def children(self, path: str) -> list[str] | None:
        real = self.resolve(path)
        if real is None:
            return None
        try:
            with os.scandir(self.local(real)) as it:
                return [e.name for e in it]
        except OSError:
            return None

    def read(self, path: str, limit: int = MAX_SMALL_READ, truncate: bool = False) -> bytes:
        real = self._real(path)
        if real is None:
            raise ReadError("missing")
        return _read_local(Path(self.local(real)), limit, truncate)

    def digest(self, path: str, algo: str = "sha256") -> str | None:
        real = self._real(path)
        return _hash_local(self.local(real), algo) if real is not None else None

    def evidence(self, path: str, where: str = "") -> str:
        return self.local(path) + (f"#{where}" if where else "")

    def homes(self) -> dict[str, str]:
        if self._homes is None:
            try:
                homes = _users_from_passwd(self.read("/etc/passwd", 8 << 20).decode("utf-8", "replace"))
            except ReadError:
                homes = {}
            for name in self.children("/home") or []:
                homes.setdefault(name, f"/home/{name}")
            if self.node("/root").kind == "dir":
                homes.setdefault("root", "/root")
            self._homes = homes
        return self._homes

    def process_environments(self) -> Iterator[tuple[int | None, str, dict[str, str], str]]:
        if not self.live:
            return
        for entry in self.children("/proc") or []:
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/environ", "rb") as fh:
                    raw = fh.read(1 << 20)
                with open(f"/proc/{entry}/comm", "rb") as fh:
                    name = fh.read(256).decode("utf-8", "replace").strip()
            except OSError:
                continue  # gone, or another user's process without privileges
            env: dict[str, str] = {}
            for item in raw.split(b"\0"):
                key, sep, value = item.partition(b"=")
                if sep:
                    env[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
            yield int(entry), name, env, f"/proc/{entry}/environ"

    def discover(self) -> Discovery:
        found = Discovery()
        seen_envs: set[str] = set()
        budget = self.walk_budget
        stack: list[tuple[str, int]] = [("/", 0)]
        while stack:
            path, depth = stack.pop()
            if path in SKIP_DIRS:
                continue
            budget -= 1
            if budget < 0:
                found.errors.append((path, f"walk stopped after {self.walk_budget} directories"))
                break
            try:
                with os.scandir(self.local(path)) as it:
                    entries = list(it)
            except OSError as exc:
                if path != "/":
                    found.errors.append((path, f"cannot list: {exc.strerror or exc}"))
                continue
            names = {e.name for e in entries}
            has_dists = any(is_dist_dir_name(n) for n in names) and not is_source_tree(names)
            if has_dists and path not in seen_envs and not is_cache_path(path):
                seen_envs.add(path)
                found.envs.append(path)
            if "conda-meta" in names and not is_cache_path(path):
                found.conda_prefixes.append(path)
            for e in entries:
                child = posixpath.join(path, e.name)
                try:
                    is_dir = e.is_dir(follow_symlinks=False)
                    is_link = e.is_symlink()
                except OSError:
                    continue
                if is_link:
                    self._linked_env(child, e.name, seen_envs, found)
                    continue
                if is_dir:
                    if has_dists:
                        # Inside an environment the package folders are read through RECORD,
                        # not walked here; conda-meta and nested prefixes still matter.
                        if e.name in ("conda-meta", "envs"):
                            stack.append((child, depth + 1))
                        continue
                    if e.name in SKIP_NAMES or depth + 1 > self.max_depth:
                        continue
                    if is_cache_path(child) or (e.name == "pkgs" and "conda-meta" in names):
                        if child.endswith("/.cache/pip") and os.path.isdir(self.local(child + "/log")):
                            stack.append((child + "/log", depth + 2))  # only its log folder is evidence
                        continue
                    stack.append((child, depth + 1))
                    continue
                kind = classify(child)
                if kind:
                    found.add_file(kind, child)
        found.envs = drop_nested(found.envs)
        return found

    def _linked_env(self, child: str, name: str, seen: set[str], found: Discovery) -> None:
        """A symlinked site-packages is an environment under its resolved path (resolution never
        leaves the root); other symlinks are not walked, their targets are reached directly."""
        if not name.endswith("-packages"):
            return
        target = self.resolve(child)
        if target is None or self.node(target).kind != "dir":
            return
        if target in seen:
            found.aliases.setdefault(target, child)
        elif any(is_dist_dir_name(n) for n in self.children(target) or []):
            seen.add(target)
            found.envs.append(target)
            found.aliases.setdefault(target, child)


# -- evidence archives --------------------------------------------------------------------------

class ArchiveView(HostView):
    """A collection extracted by ``open_evidence``: nodes from its manifest, bytes from members.

    Only rows the analysis can use are kept in memory (environments, conda prefixes, supporting
    files, symlinks), found in a first streaming pass over the manifest.
    """

    archive_mode = True

    def __init__(self, evidence: Any) -> None:
        self.evidence_obj = evidence
        self.root = Path(evidence.root)
        self.label = str(evidence.origin)
        self.host = str(getattr(evidence, "hostname", "") or "")
        self.tz = getattr(evidence, "tz", None)
        self.collection_time = getattr(evidence, "collection_time", None)
        host_json = getattr(evidence, "host", {}) or {}
        self.live = bool(host_json.get("live")) if isinstance(host_json, dict) else False
        self._host_json = host_json if isinstance(host_json, dict) else {}
        self.problems = []
        self.mismatches: dict[str, str] = {}  # host path -> member sha256 differing from the manifest
        self._nodes: dict[str, Node] = {}
        self._children: dict[str, set[str]] = {}
        self._processes: list[dict[str, Any]] = []
        self._suffix_cache: dict[str, set[str]] = {}
        self._homes: dict[str, str] | None = None
        self._load()

    def _rows(self) -> Iterator[tuple[int, dict[str, Any]]]:
        manifest = self.root / "manifest.jsonl"
        try:
            fh = open_regular(manifest)
        except (OSError, ContentUnavailable) as exc:
            self.problems.append(("manifest.jsonl", f"unreadable: {exc}"))
            return
        with fh:
            for n, raw in enumerate(fh, 1):
                if len(raw) > (1 << 24) or not raw.strip():
                    continue
                try:
                    row = json.loads(raw)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    continue  # the evidence layer reports bad manifest rows once
                if isinstance(row, dict) and isinstance(row.get("path"), str) and row["path"].startswith("/"):
                    yield n, row

    def _load(self) -> None:
        # Pass 1: which folders matter (environments with their prefix, conda prefixes).
        roots: set[str] = set()
        for _n, row in self._rows():
            path = posixpath.normpath(row["path"])
            parent = posixpath.dirname(path)
            if is_dist_dir_name(posixpath.basename(parent)):
                roots.add(env_prefix(posixpath.dirname(parent)))
            elif posixpath.basename(parent) == "conda-meta":
                roots.add(posixpath.dirname(parent))
            elif path.endswith(".egg-info"):
                roots.add(env_prefix(parent))

        def relevant(path: str) -> bool:
            while path not in ("/", ""):
                if path in roots:
                    return True
                path = posixpath.dirname(path)
            return "/" in roots

        # Pass 2: keep the rows under those folders, supporting files and symlinks.
        for n, row in self._rows():
            path = posixpath.normpath(row["path"])
            if row.get("action") != "symlink" and not classify(path) and not relevant(path):
                continue
            self._add_row(path, row, n)
        for path in list(self._children):
            if path not in self._nodes:
                self._nodes[path] = Node(path, "dir")
        procs = self._member_local("live/processes.jsonl")
        if procs is not None:
            try:
                data = _read_local(procs, 256 << 20, truncate=True)
            except ReadError:
                data = b""
            for line in data.decode("utf-8", "replace").splitlines():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(row, dict):
                    self._processes.append(row)

    def absent_means_missing(self, env: str, path: str) -> bool:
        """In an archive, a listed file absent from the manifest is only *missing* when the
        collector would have recorded it: dist-info metadata it always copies, and files of a kind
        (suffix) it recorded elsewhere in the same environment (``python_package_files`` hashes
        ``*.py`` only; data files, extensions, bytecode and scripts outside it are not seen)."""
        prefix = env.rstrip("/") + "/"
        if not path.startswith(prefix):
            return False
        parts = path[len(prefix):].split("/")
        if "__pycache__" in parts:
            return False
        if is_dist_dir_name(parts[0]):
            return len(parts) == 2 and parts[1] in COLLECTED_DIST_FILES
        return _suffix(parts[-1]) in self._suffixes(env)

    def _suffixes(self, env: str) -> set[str]:
        cached = self._suffix_cache.get(env)
        if cached is not None:
            return cached
        found: set[str] = set()
        top = self.children(env) or []
        stack = [posixpath.join(env, n) for n in top if not is_dist_dir_name(n) and n not in _NOT_PAYLOAD]
        budget = 2_000_000
        while stack and budget > 0:
            p = stack.pop()
            budget -= 1
            kids = self._children.get(p)
            if kids is not None:
                # metadata folders and nested environments say nothing about this one's files
                stack.extend(posixpath.join(p, k) for k in kids if k not in _NOT_PAYLOAD)
            elif posixpath.dirname(p) != env:  # files directly in the env are start-up hooks
                found.add(_suffix(posixpath.basename(p)))
        self._suffix_cache[env] = found
        return found

    def _add_row(self, path: str, row: dict[str, Any], line: int) -> None:
        action = row.get("action")
        kind = "symlink" if action == "symlink" else "file"
        note = None
        mode = row.get("mode")
        if action in ("skipped", "failed"):
            note = f"{action}: {row.get('reason') or row.get('error') or 'no reason given'}"
            if isinstance(mode, int) and stat.S_ISDIR(mode):
                kind = "dir"
            elif isinstance(mode, int) and not stat.S_ISREG(mode) and not stat.S_ISLNK(mode):
                kind = "other"
        sha = row.get("sha256") if isinstance(row.get("sha256"), str) else None
        member = row.get("member") if isinstance(row.get("member"), str) and action == "copied" else None
        self._nodes[path] = Node(path, kind, size=_int(row.get("size")), mtime=_num(row.get("mtime")),
                                 ctime=_num(row.get("ctime")), atime=_num(row.get("atime")),
                                 link_target=row.get("link_target") if isinstance(row.get("link_target"), str) else None,
                                 sha256=sha.lower() if sha else None, member=member, note=note, row=line)
        while path != "/":
            parent = posixpath.dirname(path)
            kids = self._children.setdefault(parent, set())
            name = posixpath.basename(path)
            if name in kids:
                return
            kids.add(name)
            path = parent

    def _member_local(self, member: str | None) -> Path | None:
        if not member:
            return None
        return self.evidence_obj.member_path(member)

    # -- primitives ----------------------------------------------------------------------------
    def node(self, path: str) -> Node:
        return self._nodes.get(posixpath.normpath(path)) or Node(path, MISSING)

    def children(self, path: str) -> list[str] | None:
        kids = self._children.get(posixpath.normpath(path))
        return sorted(kids) if kids is not None else None

    def read(self, path: str, limit: int = MAX_SMALL_READ, truncate: bool = False) -> bytes:
        node = self.node(path)
        if node.kind == MISSING:
            raise ReadError("not in the archive")
        if node.kind != "file":
            raise ReadError(f"not a regular file ({node.kind})")
        local = self._member_local(node.member)
        if local is None:
            raise ReadError(node.note or "hashed only: the collector did not copy it")
        return _read_local(local, limit, truncate)

    def digest(self, path: str, algo: str = "sha256") -> str | None:
        """The manifest's hash (what the collector read on the host); a copied member is hashed
        too and a difference is remembered in ``mismatches``."""
        node = self.node(path)
        local = self._member_local(node.member)
        if algo == "sha256" and node.sha256:
            if local is not None:
                got = _hash_local(local, "sha256")
                if got and got != node.sha256:
                    self.mismatches[path] = got
            return node.sha256
        return _hash_local(local, algo) if local is not None else None

    def evidence(self, path: str, where: str = "") -> str:
        node = self.node(path)
        if node.member:
            return node.member + (f"#{where}" if where else "")
        return f"manifest.jsonl#L{node.row}" if node.row else f"manifest.jsonl:{path}"

    def homes(self) -> dict[str, str]:
        if self._homes is not None:
            return self._homes
        homes: dict[str, str] = {}
        self._homes = homes
        users = self._host_json.get("users")
        if isinstance(users, list):
            for u in users:
                if isinstance(u, dict) and isinstance(u.get("name"), str) and isinstance(u.get("home"), str):
                    homes[u["name"]] = u["home"]
        for name in self.children("/home") or []:
            homes.setdefault(name, f"/home/{name}")
        if "/root" in self._children:
            homes.setdefault("root", "/root")
        return homes

    def process_environments(self) -> Iterator[tuple[int | None, str, dict[str, str], str]]:
        for n, row in enumerate(self._processes, 1):
            env = row.get("environ", row.get("env", row.get("environment")))
            if isinstance(env, list):
                env = dict(item.partition("=")[::2] for item in env if isinstance(item, str))
            if not isinstance(env, dict):
                continue
            pid = row.get("pid") if isinstance(row.get("pid"), int) else None
            name = str(row.get("name") or row.get("process") or "")
            yield pid, name, {str(k): str(v) for k, v in env.items()}, f"live/processes.jsonl#L{n}"

    def discover(self) -> Discovery:
        found = Discovery()
        envs: set[str] = set()
        for path, node in self._nodes.items():
            parent = posixpath.dirname(path)
            pname = posixpath.basename(parent)
            base = posixpath.basename(path)
            if is_dist_dir_name(pname):
                envs.add(posixpath.dirname(parent))
            elif base.endswith(".egg-info") and node.kind == "file":
                envs.add(parent)
            if pname == "conda-meta" and (base == "history" or base.endswith(".json")):
                if not is_cache_path(path, self):
                    found.conda_prefixes.append(posixpath.dirname(parent))
            if node.kind == "file":
                kind = classify(path)
                if kind:
                    found.add_file(kind, path)
            elif node.kind == "symlink" and base.endswith("-packages"):
                target = self.resolve(path)
                if target and any(is_dist_dir_name(n) for n in self.children(target) or []):
                    envs.add(target)
                    found.aliases[target] = path
        found.envs = drop_nested([e for e in envs if not is_cache_path(e, self)
                                  and not is_source_tree(self.children(e) or [])])
        found.conda_prefixes = sorted(set(found.conda_prefixes))
        return found


# dist-info files every collection of installed distributions keeps (the python_dist artifact)
COLLECTED_DIST_FILES = frozenset({"METADATA", "RECORD", "INSTALLER", "REQUESTED", "WHEEL", "direct_url.json",
                                  "entry_points.txt", "top_level.txt", "PKG-INFO", "installed-files.txt"})


_NOT_PAYLOAD = frozenset({"__pycache__", "conda-meta", "pkgs", "envs", "site-packages", "dist-packages"})


def _suffix(name: str) -> str:
    return posixpath.splitext(name)[1].lower()


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def view_for(evidence: Any, ctx: Any = None) -> HostView:
    """The package view of an opened ``mlsleuth.parsers.evidence.Evidence``. The run context's
    timezone wins when it came from the evidence or ``--tz`` (not the UTC default)."""
    tz = getattr(evidence, "tz", None)
    if ctx is not None and getattr(ctx, "tz_origin", "default") not in ("default", "") and tz is None:
        tz = ctx.tz
    host = getattr(ctx, "host", "") or getattr(evidence, "hostname", "")
    if getattr(evidence, "kind", "") == "archive":
        tree = getattr(evidence, "_tree", None)
        if tree is not None:  # manifest missing: read the copied files as a tree
            view: HostView = TreeView(Path(evidence.root) / "fs", host=host, tz=tz, live=False,
                                      collection_time=getattr(evidence, "collection_time", None))
            view.problems.append(("manifest.jsonl", "missing: files verified from their copies, "
                                                    "files not copied count as missing"))
            return view
        view = ArchiveView(evidence)
        view.host, view.tz = host or view.host, tz
        return view
    root = Path(evidence.root)
    return TreeView(root, host=host, tz=tz, collection_time=getattr(evidence, "collection_time", None))
