"""Integrity of installed distributions, the way ``debsums`` / ``rpm -V`` check system packages:
every file RECORD (or conda-meta) lists is compared with what is on the host (hash and size),
and the package folders are searched for files no package lists (an injected module, a new
``.pth`` that runs at interpreter start-up, an unchecked bytecode file).

Each host path is verified once even when RECORD and conda-meta both list it; conda's
in-prefix hash wins because conda may rewrite the prefix into files after unpacking them.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from mlsleuth.parsers.packages.conda import CondaPackage
from mlsleuth.parsers.packages.dists import Dist
from mlsleuth.parsers.packages.record import host_path
from mlsleuth.parsers.packages.view import MISSING, HostView, Node, ReadError

# Installers that strip RECORD or rewrite files after it was written (distribution packages).
SYSTEM_INSTALLERS = frozenset({"debian", "dpkg", "apt", "rpm", "yum", "dnf", "apk", "pacman", "portage"})
_DEBIAN_DIST_PACKAGES = re.compile(r"^/usr/lib/python3(?:\.\d+)?/dist-packages$")
MAX_FOLDER_FILES = 500_000  # per environment, bound on the search for unlisted files
BIG_FILE = 1 << 20  # files from this size are hashed on worker threads
# Files other tools put into site-packages without a RECORD entry, known to be harmless.
KNOWN_UNOWNED = frozenset({"_virtualenv.py", "_virtualenv.pth", "README.txt", "README", "__pycache__",
                           "easy-install.pth", "sitecustomize.pyc"})
CODE_SUFFIXES = (".py", ".pyc", ".so", ".pyd", ".pth")


@dataclass(slots=True)
class Expect:
    owner: str  # "dist:<env>|<key>" or "conda:<prefix>|<name>"
    algo: str | None
    digest: str | None
    size: int | None
    evidence: str  # where the expectation was read
    env: str = ""  # environment (or conda prefix) the expectation belongs to
    unverified: str | None = None
    bytecode: bool = False


@dataclass(slots=True)
class FileIssue:
    kind: str  # modified | missing | replaced | injected | new_pth | startup_hook | unchecked_pyc | unowned_module
    path: str
    owner: str | None
    detail: str
    expect_evidence: str = ""
    expected: str | None = None  # "<algo>:<hex>"
    actual: str | None = None  # "sha256:<hex>"
    expected_size: int | None = None
    actual_size: int | None = None
    node: Node | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class OwnerIntegrity:
    checked: int = 0
    ok: int = 0
    unhashed: int = 0  # listed without a hash (RECORD itself, bytecode): presence only
    missing_bytecode: int = 0  # listed bytecode absent: images often strip __pycache__
    unverified: int = 0  # listed, present, but no usable expectation (prefix rewritten, no hash in archive)
    not_collected: int = 0  # archive: listed, of a kind the collector does not record
    payload_ok: int = 0  # verified files outside the dist-info folder
    payload_checked: int = 0  # listed files outside the dist-info folder
    issues: list[FileIssue] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def state(self) -> str:
        kinds: dict[str, int] = {}
        for issue in self.issues:
            kinds[issue.kind] = kinds.get(issue.kind, 0) + 1
        if kinds:
            return ", ".join(f"{k}:{v}" for k, v in sorted(kinds.items()))
        if self.checked == 0:
            return "unverified"
        return "ok"


@dataclass
class EnvResult:
    owners: dict[str, OwnerIntegrity] = field(default_factory=dict)
    env_issues: list[FileIssue] = field(default_factory=list)  # not attributable to one package
    problems: list[tuple[str, str]] = field(default_factory=list)  # (path, reason) for parse errors


def dist_owner(d: Dist) -> str:
    return f"dist:{d.env}|{d.key}"


def conda_owner(p: CondaPackage) -> str:
    return f"conda:{p.prefix}|{p.name}"


def _is_bytecode(path: str) -> bool:
    return path.endswith(".pyc") or path.endswith(".pyo")


def pyc_is_unchecked(head: bytes | None) -> bool:
    """PEP 552: a hash-based .pyc with check_source unset is used without looking at the source,
    so an unlisted one can shadow a verified .py file."""
    if head is None or len(head) < 8:
        return False
    flags = int.from_bytes(head[4:8], "little")
    return bool(flags & 0b01) and not flags & 0b10


class Verifier:
    """Collects expectations for a whole host, verifies each path once, then looks for unlisted
    files in the folders that packages own."""

    def __init__(self, view: HostView, workers: int | None = None, aliases: dict[str, str] | None = None) -> None:
        self.view = view
        # environment reached through a symlinked site-packages -> that symlink's path: pip wrote
        # RECORD's ../ paths (scripts, data) relative to the path it was given, not the target.
        self.aliases = aliases or {}
        self.expect: dict[str, list[Expect]] = {}
        self.result = EnvResult()
        self.workers = workers if workers is not None else (1 if view.archive_mode else min(4, os.cpu_count() or 1))
        self._owned_folders: dict[str, dict[str, str]] = {}  # env -> top-level name -> owner
        self._unchecked_folders: dict[str, set[str]] = {}  # env -> top-level names without file lists
        self._pip_managed: dict[str, bool] = {}
        self.bytes_hashed = 0
        self.observed: dict[str, str] = {}  # host path -> sha256 seen (for the fleet comparison)
        self.owned: set[str] = set()  # listed by a package but not verified (distribution packages)

    def owner(self, key: str) -> OwnerIntegrity:
        return self.result.owners.setdefault(key, OwnerIntegrity())

    # -- expectations ---------------------------------------------------------------------------
    def add_dist(self, d: Dist) -> None:
        owner = dist_owner(d)
        oi = self.owner(owner)
        folders = self._owned_folders.setdefault(d.env, {})
        unchecked = self._unchecked_folders.setdefault(d.env, set())
        self._pip_managed.setdefault(d.env, True)
        if d.record is None:
            self._pip_managed[d.env] = False
            unchecked.update(d.top_level)
            if d.kind == "egg-info" and d.installed_files is not None:
                for rel in d.installed_files:
                    p = host_path(d.path, rel)
                    if p:
                        self.expect.setdefault(p, []).append(
                            Expect(owner, None, None, None, self.view.evidence(posixpath.join(d.path, "installed-files.txt")),
                                   env=d.env, bytecode=_is_bytecode(p)))
                        self._claim_folder(d.env, p, owner, folders)
            else:
                oi.notes.append("no file list (RECORD / installed-files.txt): not verifiable")
            return
        if any("bad CSV" in p or "rest was not read" in p for p in d.record.problems):
            self._pip_managed[d.env] = False  # the file list is incomplete: ownership unknown
        rec_evidence = self.view.evidence(posixpath.join(d.path, "RECORD"))
        up_base = self.aliases.get(d.env, d.env)
        distro = self.is_distro(d)
        if distro:
            oi.notes.append("distribution package: only its .py files are verified (the distribution's "
                            "build strips binaries and moves scripts after RECORD was written; use debsums)")
        inside = d.env.rstrip("/") + "/"
        for e in d.record.entries:
            p = host_path(up_base if e.path.startswith("..") else d.env, e.path)
            if p is None:
                oi.notes.append(f"RECORD row {e.row}: unusable path")
                continue
            self._claim_folder(d.env, p, owner, folders)
            if distro and not (p.endswith(".py") and p.startswith(inside)):
                self.owned.add(p)
                continue
            self.expect.setdefault(p, []).append(
                Expect(owner, e.algo, e.digest, e.size, f"{rec_evidence}#L{e.row}", env=d.env,
                       bytecode=_is_bytecode(p)))
        if d.editable:
            oi.notes.append(f"editable install: the project at {d.source()} is not verified")

    def is_distro(self, d: Dist) -> bool:
        """Installed by the operating system's package manager (dpkg/rpm), not pip."""
        installer = (d.installer or "").lower()
        if installer in SYSTEM_INSTALLERS:
            return True
        if d.installer is not None:
            return False
        owned = self.view.system_owned(posixpath.join(d.path, "METADATA"))
        if owned is not None:
            return owned
        return bool(_DEBIAN_DIST_PACKAGES.match(d.env))

    def add_conda(self, pkg: CondaPackage, envs: Iterable[str]) -> None:
        owner = conda_owner(pkg)
        self.owner(owner)
        ev = self.view.evidence(pkg.meta_path)
        env_list = [e for e in envs if e == pkg.prefix or e.startswith(pkg.prefix.rstrip("/") + "/")]
        for n, cp in enumerate(pkg.paths):
            p = posixpath.normpath(posixpath.join(pkg.prefix, cp.path))
            if cp.path_type == "directory":
                continue
            inside = next((e for e in env_list if p.startswith(e.rstrip("/") + "/")), pkg.prefix)
            self.expect.setdefault(p, []).append(
                Expect(owner, "sha256" if cp.sha256 else None, cp.sha256, cp.size,
                       f"{ev}#paths_data.paths[{n}]", env=inside, unverified=cp.why_unverified,
                       bytecode=cp.path_type == "pyc_file" or _is_bytecode(p)))
            for env in env_list:
                if p.startswith(env.rstrip("/") + "/"):
                    self._claim_folder(env, p, owner, self._owned_folders.setdefault(env, {}))

    def _claim_folder(self, env: str, p: str, owner: str, folders: dict[str, str]) -> None:
        prefix = env.rstrip("/") + "/"
        if not p.startswith(prefix):
            return
        rel = p[len(prefix):]
        top, sep, _ = rel.partition("/")
        if not sep or top.endswith(".dist-info") or top.endswith(".egg-info") or top == "__pycache__":
            return
        folders.setdefault(top, owner)

    # -- verification ---------------------------------------------------------------------------
    def verify(self) -> EnvResult:
        view = self.view
        to_hash: list[tuple[str, str, int]] = []
        plans: list[tuple[str, list[Expect], Node, Expect | None]] = []
        for path, expects in self.expect.items():
            node = view.node(path)
            chosen = self._choose(expects)
            plans.append((path, expects, node, chosen))
            if node.kind == "file" and chosen is not None and chosen.digest:
                to_hash.append((path, chosen.algo or "sha256", node.size or 0))
        digests = self._digest_all(to_hash)
        for path, expects, node, chosen in plans:
            self._judge(path, expects, node, chosen, digests)
        return self.result

    @staticmethod
    def _choose(expects: list[Expect]) -> Expect | None:
        conda = [e for e in expects if e.owner.startswith("conda:") and e.digest]
        if conda:
            return conda[0]
        hashed = [e for e in expects if e.digest]
        return hashed[0] if hashed else None

    def _digest_all(self, tasks: list[tuple[str, str, int]]) -> dict[tuple[str, str], str | None]:
        """Hash every (path, algo); large files on worker threads (hashlib releases the GIL on
        big updates), small ones inline where a thread hand-off would cost more than the hash."""
        out: dict[tuple[str, str], str | None] = {}
        big = [t for t in tasks if t[2] >= BIG_FILE] if self.workers > 1 else []
        pool = ThreadPoolExecutor(max_workers=self.workers) if len(big) > 1 else None
        try:
            futures = {(p, a): pool.submit(self.view.digest, p, a) for p, a, _ in big} if pool else {}
            for p, a, _size in tasks:
                if (p, a) not in futures:
                    out[(p, a)] = self.view.digest(p, a)
            for key, fut in futures.items():
                out[key] = fut.result()
        finally:
            if pool is not None:
                pool.shutdown()
        return out

    def _judge(self, path: str, expects: list[Expect], node: Node, chosen: Expect | None,
               digests: dict[tuple[str, str], str | None]) -> None:
        owners = sorted({e.owner for e in expects})
        payload = "-info/" not in path
        for o in owners:
            oi = self.owner(o)
            oi.checked += 1
            oi.payload_checked += payload
        primary = chosen or expects[0]
        owner = primary.owner

        def issue(kind: str, detail: str, **kw: object) -> None:
            fi = FileIssue(kind, path, owner, detail, expect_evidence=primary.evidence, node=node, **kw)  # type: ignore[arg-type]
            self.owner(owner).issues.append(fi)

        if node.kind == MISSING:
            if all(e.bytecode for e in expects):
                for o in owners:
                    self.owner(o).missing_bytecode += 1
                return
            if not self.view.absent_means_missing(primary.env, path):
                oi = self.owner(owner)
                oi.unverified += 1
                oi.not_collected += 1
                return
            issue("missing", "listed by the package, absent from the host",
                  expected=f"{primary.algo}:{primary.digest}" if primary.digest else None,
                  expected_size=primary.size)
            return
        if node.kind != "file":
            if node.kind == "symlink" and any(e.owner.startswith("conda:") and e.unverified == "path_type softlink"
                                              for e in expects):
                self.owner(owner).ok += 1
                return
            if node.kind == "other" and node.note:  # archive: collector skipped it
                self.owner(owner).unverified += 1
                return
            issue("replaced", f"listed as a file, now a {node.kind}"
                  + (f" -> {node.link_target}" if node.link_target else ""),
                  expected=f"{primary.algo}:{primary.digest}" if primary.digest else None)
            return
        if chosen is None:
            if any(e.unverified for e in expects):
                self.owner(owner).unverified += 1
            else:
                self.owner(owner).unhashed += 1
            return
        actual = digests.get((path, chosen.algo or "sha256"))
        if actual is None:
            self.owner(owner).unverified += 1
            reason = node.note or "could not be read"
            self.owner(owner).notes.append(f"{path}: not hashed ({reason})")
            return
        if node.size is not None:
            self.bytes_hashed += node.size
        if (chosen.algo or "sha256") == "sha256":
            self.observed[path] = actual
        if actual == chosen.digest and (chosen.size is None or node.size is None or chosen.size == node.size
                                        or chosen.owner.startswith("conda:")):
            self.owner(owner).ok += 1
            if "-info/" not in path:
                self.owner(owner).payload_ok += 1
            return
        actual_sha = actual if (chosen.algo or "sha256") == "sha256" else self.view.digest(path, "sha256")
        detail = "content differs from the hash the package recorded"
        if actual == chosen.digest:
            detail = "same hash but a different size than recorded"
        issue("modified", detail, expected=f"{chosen.algo}:{chosen.digest}",
              actual=f"sha256:{actual_sha}" if actual_sha else None,
              expected_size=chosen.size, actual_size=node.size)

    # -- unlisted files -------------------------------------------------------------------------
    def find_unlisted(self, env: str, dists: list[Dist]) -> None:
        view = self.view
        owned = self.expect
        also_owned = self.owned
        folders = self._owned_folders.get(env, {})
        unchecked = self._unchecked_folders.get(env, set())
        budget = MAX_FOLDER_FILES
        for top, owner in sorted(folders.items()):
            if top in unchecked:
                continue
            stack = [posixpath.join(env, top)]
            while stack:
                d = stack.pop()
                node = view.node(d)
                if node.kind != "dir":
                    continue
                for name in view.children(d) or []:
                    p = d + "/" + name
                    budget -= 1
                    if budget < 0:
                        self.result.problems.append((env, f"more than {MAX_FOLDER_FILES} files in package folders; "
                                                          "search for unlisted files stopped"))
                        return
                    if p in owned or p in also_owned:  # listed paths are files: no folder to enter
                        continue
                    child = view.node(p)
                    if child.kind == "dir":
                        stack.append(p)
                        continue
                    self._unlisted_in_folder(p, child, owner)
        self._env_root(env, dists)

    def _unlisted_in_folder(self, p: str, node: Node, owner: str) -> None:
        if self.view.system_owned(p):
            return  # a file the distribution's package added next to pip's
        parent = posixpath.basename(posixpath.dirname(p))
        if parent == "__pycache__":
            # Python writes these at import time; only a hash-based unchecked .pyc can run
            # instead of the verified source.
            if p.endswith(".pyc") and pyc_is_unchecked(self.view.head(p, 16)):
                self.owner(owner).issues.append(FileIssue(
                    "unchecked_pyc", p, owner, "bytecode that Python uses without checking its source, "
                    "not listed by the package", node=node))
            return
        detail = "file in the package's folder that the package does not list"
        if node.kind == "symlink":
            detail += f" (symlink -> {node.link_target})"
        self.owner(owner).issues.append(FileIssue("injected", p, owner, detail, node=node,
                                                  actual=self._sha(p, node), actual_size=node.size))

    def _sha(self, p: str, node: Node) -> str | None:
        if node.kind != "file":
            return None
        d = self.view.digest(p)
        return f"sha256:{d}" if d else None

    def _env_root(self, env: str, dists: list[Dist]) -> None:
        """Start-up hooks and unowned modules directly in the environment folder."""
        view = self.view
        owned = self.expect
        folders = self._owned_folders.get(env, {})
        managed = self._pip_managed.get(env, True) and bool(dists)
        for name in view.children(env) or []:
            p = posixpath.join(env, name)
            if p in owned or p in self.owned or name in folders or name.endswith(".dist-info") \
                    or name.endswith(".egg-info"):
                continue
            if view.system_owned(p):
                continue  # installed by the operating system's package manager
            if name in KNOWN_UNOWNED and not name.endswith(".pth"):
                continue
            node = view.node(p)
            if name.endswith(".pth") and node.kind in ("file", "symlink"):
                if name == "_virtualenv.pth" and self._is_virtualenv_pth(p):
                    continue
                exec_lines = self._pth_exec_lines(p)
                detail = "start-up .pth file that no package lists"
                if exec_lines:
                    detail += f"; {len(exec_lines)} line(s) run code at every interpreter start"
                self.result.env_issues.append(FileIssue(
                    "new_pth", p, None, detail, node=node, actual=self._sha(p, node), actual_size=node.size,
                    extra={"exec_lines": exec_lines, "env": env}))
                continue
            if name in ("sitecustomize.py", "usercustomize.py"):
                self.result.env_issues.append(FileIssue(
                    "startup_hook", p, None, f"{name} runs at every interpreter start and no package lists it",
                    node=node, actual=self._sha(p, node), actual_size=node.size, extra={"env": env}))
                continue
            if not managed or name in KNOWN_UNOWNED:
                continue
            if node.kind == "file" and name.endswith((".py", ".so", ".pyd")) or \
                    node.kind == "dir" and self._has_code(p):
                self.result.env_issues.append(FileIssue(
                    "unowned_module", p, None, "importable module in the environment that no installed "
                    "package lists", node=node, actual=self._sha(p, node), actual_size=node.size,
                    extra={"env": env}))

    def _has_code(self, d: str) -> bool:
        return any(n.endswith(CODE_SUFFIXES) for n in self.view.children(d) or [])

    def _pth_exec_lines(self, p: str) -> list[str]:
        try:
            text = self.view.read(p, 1 << 20, truncate=True).decode("utf-8", "replace")
        except ReadError:
            return []
        lines = [ln.strip() for ln in text.splitlines()]
        return [ln[:300] for ln in lines if ln.startswith(("import ", "import\t"))][:20]

    def _is_virtualenv_pth(self, p: str) -> bool:
        lines = self._pth_exec_lines(p)
        return lines == ["import _virtualenv"]
