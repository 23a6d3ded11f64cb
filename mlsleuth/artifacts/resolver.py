"""Turn artifact definitions into the files a collection takes, under any root.

The same code serves the collector (live ``/`` or ``--root DIR``) and the parsers reading a plain
tree, so both see exactly the same files::

    for artifact, host_path, user, local_path in iter_targets(root):
        ...

Resolution, in order:

1. **Users**: ``/etc/passwd`` under the root, plus ``/home/*`` and ``/root`` (a copied tree may
   lack passwd). System accounts whose home is a system directory (``/``, ``/bin`` ...) are left
   out; service homes (``/usr/share/ollama``, ``/var/lib/jupyter``) are kept.
2. **Environment overrides**: values of the variables named in definitions (``HF_HOME`` ...) from
   the ``env`` given (the collector passes its own and the live processes' environments) and from
   ``export VAR=...`` lines of shell start-up files under the root, so a cache moved to
   ``/data/hf`` is found on a dead box too. Overrides add places; defaults are still searched.
3. **Fixed locations** (user and system scope), in artifact priority order.
4. **One shared sweep per home**, bounded, feeding every ``sweep: true`` location (notebooks,
   stray model files) and discovering virtualenvs (``pyvenv.cfg``) and conda envs (``conda-meta``).
   The sweep does not enter directories another location already covers, nor package trees.
5. **Environment-prefix locations** (``python_env``, ``conda_env``) under every prefix found:
   system and ``/usr/local``, ``~/.local``, conda roots and their envs, ``environments.txt``
   entries, pyenv, pipx, virtualenvwrapper, pipenv and poetry venvs and the sweep's finds.

A host path is yielded once, for the first (highest priority) artifact reaching it.
"""

from __future__ import annotations

import os
import re
import stat as statmod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mlsleuth.artifacts import globs
from mlsleuth.artifacts.fsutil import (
    Confined,
    Entry,
    LinkLoop,
    error_text,
    kind_of,
    list_dir,
    read_small,
    walk,
)

if TYPE_CHECKING:
    from mlsleuth.artifacts import ArtifactDef, Location, Walk

# Homes in passwd that are system directories, not a person's or a service's own place.
_NOT_HOMES = frozenset({
    "/", "/bin", "/sbin", "/usr", "/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/games", "/dev",
    "/proc", "/sys", "/run", "/var/run", "/tmp", "/etc", "/var", "/var/lib", "/nonexistent",
    "/var/empty", "/var/cache/man", "/var/spool/lpd", "/var/spool/news", "/var/spool/uucp",
    "/var/mail", "/var/backups", "/var/list", "/run/ircd", "/dev/null", "/boot", "/lib", "/opt",
})
# Directory names the home sweep never enters: package trees and VCS internals are not where a
# person leaves notebooks or downloaded models, and they are huge.
SWEEP_PRUNE_NAMES = frozenset({".git", ".hg", ".svn", "node_modules", "__pycache__", "site-packages",
                               "dist-packages", ".tox", ".nox", ".mypy_cache", ".ruff_cache",
                               ".pytest_cache", ".npm", ".cargo", ".rustup", ".gradle", ".m2"})
# Inside an environment prefix found by the sweep only `envs` (conda) can hold more to find.
_PREFIX_SKIP = frozenset({"lib", "lib64", "include", "bin", "pkgs", "share", "conda-meta", "Lib",
                          "Scripts", "etc", "libexec", "man", "ssl", "x86_64-conda-linux-gnu"})
SWEEP_WALK_PERSON = (8, 300_000)  # (max_depth, max_entries) for uid 0 / >= 1000 / under /home
SWEEP_WALK_SERVICE = (6, 20_000)  # service accounts' homes (/var/www ...)

# Where Python environments live besides what the sweep finds (python_env scope bases).
SYSTEM_PYTHON_PREFIXES = ("/usr", "/usr/local", "/opt/conda", "/opt/miniconda3", "/opt/anaconda3",
                          "/opt/miniforge3", "/opt/mambaforge", "/opt/micromamba",
                          "/usr/local/miniconda3", "/usr/local/anaconda3", "/opt/*", "/srv/*")
USER_PYTHON_PREFIXES = (".local", "miniconda3", "anaconda3", "miniforge3", "mambaforge", "micromamba",
                        ".conda", ".pyenv/versions/*", ".local/share/pipx/venvs/*", ".local/pipx/venvs/*",
                        ".virtualenvs/*", ".local/share/virtualenvs/*", ".cache/pypoetry/virtualenvs/*",
                        ".venv", "venv")
CONDA_ROOT_ENVS = "envs/*"
# Start-up files whose `export VAR=value` lines tell where a user's caches live.
RC_FILES_USER = (".profile", ".bash_profile", ".bash_login", ".bashrc", ".zshenv", ".zprofile",
                 ".zshrc", ".config/fish/config.fish", ".pam_environment")
RC_FILES_SYSTEM = ("/etc/environment", "/etc/profile", "/etc/bash.bashrc", "/etc/zsh/zshenv",
                   "/etc/zsh/zshrc", "/etc/profile.d/*.sh")
_RC_ASSIGN = re.compile(
    r"^\s*(?:export\s+|declare\s+-x\s+|set\s+-[a-zA-Z]*x[a-zA-Z]*\s+|setenv\s+)?"
    r"(?P<var>[A-Za-z_][A-Za-z0-9_]*)(?:\s*=\s*|\s+)(?P<value>\"[^\"]*\"|'[^']*'|[^\s;#]+)",
    re.MULTILINE,
)


@dataclass(frozen=True, slots=True)
class HomeUser:
    name: str
    uid: int | None
    gid: int | None
    home: str  # host path, symlinks resolved inside the root
    shell: str = ""
    from_passwd: bool = True

    @property
    def person(self) -> bool:
        """A human or root account (gets the full sweep)."""
        return self.uid == 0 or (self.uid is not None and self.uid >= 1000) or self.home.startswith("/home/")


@dataclass(slots=True)
class Target:
    """One thing a collection takes. Unpacks as ``(artifact, host_path, user, local_path)``."""

    artifact: ArtifactDef
    host_path: str
    user: str
    local_path: Path
    unit_root: str = ""  # host path of the resolved location root it was found under
    rel: str = ""  # path below unit_root ("" when it is the root itself)
    kind: str = "file"  # file symlink dir fifo socket chardev blockdev other
    stat: os.stat_result | None = None  # lstat at the time it was seen
    error: str | None = None  # could not be looked at (permission denied ...)
    via: str = ""  # how the location was found: "default", "env:HF_HOME", "sweep", "prefix:/usr"

    def __iter__(self) -> Iterator[object]:
        return iter((self.artifact, self.host_path, self.user, self.local_path))


@dataclass(frozen=True, slots=True)
class Unit:
    """A resolved location root, for artifacts with ``parse_unit: root`` (each HF hub cache)."""

    artifact: ArtifactDef
    host_root: str
    user: str
    local_root: Path

    def __iter__(self) -> Iterator[object]:
        return iter((self.artifact, self.host_root, self.user, self.local_root))


@dataclass(slots=True)
class _Root:
    """A location resolved to a concrete place, before walking it."""

    artifact: ArtifactDef
    location: Location
    host: str  # resolved host path
    user: str
    via: str
    links: list[tuple[str, str]] = field(default_factory=list)
    stat: os.stat_result | None = None


EventFn = Callable[..., None]


def _bound_level(what: str) -> str:
    """Running out of entries loses files (warning); a depth limit is usually the design (info)."""
    return "warning" if what.startswith("max_entries") else "info"


def _shell_of(rc_path: str) -> str:
    name = rc_path.rsplit("/", 1)[-1]
    if "zsh" in rc_path or name.startswith((".z", "z")):
        return "zsh"
    if "fish" in rc_path:
        return "fish"
    if "bash" in name or name in (".profile", "profile"):
        return "bash"
    return ""


def find_users(root: Path | str, on_event: EventFn | None = None) -> list[HomeUser]:
    """Accounts with a home under ``root``: passwd entries, then ``/home/*`` and ``/root``."""
    confined = root if isinstance(root, Confined) else Confined(Path(root))
    users: list[HomeUser] = []
    seen_homes: set[str] = set()

    def add(name: str, uid: int | None, gid: int | None, home: str, shell: str, from_passwd: bool) -> None:
        if not home.startswith("/") or home.rstrip("/") in _NOT_HOMES:
            return
        try:
            resolved, _ = confined.resolve(home)
        except LinkLoop:
            if on_event:
                on_event("warning", "home_link_loop", path=home, user=name)
            return
        if resolved in _NOT_HOMES or resolved in seen_homes:
            return
        try:
            st = os.lstat(confined.local(resolved))
        except OSError:
            return
        if not statmod.S_ISDIR(st.st_mode):
            return
        seen_homes.add(resolved)
        users.append(HomeUser(name, uid if uid is not None else st.st_uid,
                              gid if gid is not None else st.st_gid, resolved, shell, from_passwd))

    text = read_small(confined, "/etc/passwd", 16 << 20)
    if text:
        for line in text.splitlines():
            fields = line.split(":")
            if len(fields) < 7 or line.startswith(("#", "+", "-")):
                continue
            try:
                uid, gid = int(fields[2]), int(fields[3])
            except ValueError:
                continue
            add(fields[0], uid, gid, fields[5], fields[6], True)
    for name in sorted(list_dir(confined, "/home")):
        add(name, None, None, f"/home/{name}", "", False)
    add("root", 0, 0, "/root", "", False)
    return users


class Resolver:
    """Resolve definitions under a root. Iterate :meth:`targets` (files, symlinks, special files
    and, with ``include_dirs``, the directories on the way) or :meth:`units` (location roots)."""

    def __init__(
        self,
        root: Path | str,
        definitions: Sequence[ArtifactDef] | None = None,
        *,
        env: Mapping[str, Iterable[str]] | None = None,
        read_rc_files: bool = True,
        include_dirs: bool = False,
        exclude_paths: Iterable[str] = (),
        on_event: EventFn | None = None,
        stop: Callable[[], bool] | None = None,
        users: Sequence[HomeUser] | None = None,
    ) -> None:
        from mlsleuth.artifacts import load_definitions

        self.confined = Confined(Path(root))
        self.definitions = list(definitions) if definitions is not None else load_definitions()
        self.include_dirs = include_dirs
        self.exclude_paths = {p.rstrip("/") or "/" for p in exclude_paths}
        self._event = on_event or (lambda *a, **k: None)
        self._stop = stop
        self.users = list(users) if users is not None else find_users(self.confined, self._event)
        self._homes = sorted(((u.home.rstrip("/") + "/", u.name) for u in self.users),
                             key=lambda x: -len(x[0]))
        self.env_values = self._env_values(env or {}, read_rc_files)
        self._claimed: set[int] = set()
        self._dirs_done: set[int] = set()
        self.python_prefixes: dict[str, str] = {}  # host path -> user
        self.conda_prefixes: dict[str, str] = {}

    # -- helpers ------------------------------------------------------------------------------------
    @property
    def root(self) -> Path:
        return self.confined.root

    def local(self, host_path: str) -> Path:
        return self.confined.local(host_path)

    def user_of(self, host_path: str) -> str:
        probe = host_path.rstrip("/") + "/"
        for home, name in self._homes:
            if probe.startswith(home):
                return name
        return ""

    def _stopped(self) -> bool:
        return self._stop is not None and self._stop()

    def _env_vars(self) -> set[str]:
        names = set()
        for d in self.definitions:
            for loc in d.locations:
                names.update(loc.split_env(spec)[0] for spec in loc.env)
        return names

    def _env_values(self, env: Mapping[str, Iterable[str]], read_rc: bool) -> dict[str, list[tuple[str, str, str]]]:
        """var -> [(absolute host path, user, shell)] from the given env and the root's start-up
        files (shell: which shell's start-up file set it, "" for environments and shared files)."""
        wanted = self._env_vars()
        out: dict[str, list[tuple[str, str, str]]] = {}

        def add(var: str, value: str, user: str, home: str | None, shell: str = "") -> None:
            value = value.strip().strip("\"'")
            if home:
                value = re.sub(r"^~(?=/|$)", home, value)
                value = value.replace("${HOME}", home).replace("$HOME", home)
            if not value.startswith("/") or "$" in value or "`" in value:
                return
            value = os.path.normpath(value)
            entry = (value, user or self.user_of(value), shell)
            if entry not in out.setdefault(var, []):
                out[var].append(entry)

        for var, values in env.items():
            if var in wanted:
                for value in ([values] if isinstance(values, str) else values):
                    add(var, value, "", None)
        if read_rc:
            files: list[tuple[str, str, str | None]] = []
            for pattern in RC_FILES_SYSTEM:
                for host in self._expand_glob("/", pattern.lstrip("/")):
                    files.append((host, "", None))
            for user in self.users:
                for rel in RC_FILES_USER:
                    files.append((f"{user.home.rstrip('/')}/{rel}", user.name, user.home))
            for host, user, home in files:
                text = read_small(self.confined, host)
                if not text:
                    continue
                shell = _shell_of(host)
                for m in _RC_ASSIGN.finditer(text):
                    if m.group("var") in wanted:
                        add(m.group("var"), m.group("value"), user, home, shell)
        return out

    def _expand_glob(self, base: str, pattern: str) -> Iterator[str]:
        """Host paths matching ``base/pattern`` (globs per component), symlinks resolved."""
        paths = [base.rstrip("/") or "/"]
        for comp in [c for c in pattern.split("/") if c and c != "."]:
            nxt: list[str] = []
            for p in paths:
                if globs.has_magic(comp):
                    rx = globs.compile_glob(comp)
                    for name in sorted(list_dir(self.confined, p)):
                        if rx.fullmatch(name) and not (name.startswith(".") and not comp.startswith(".")):
                            nxt.append(f"{p.rstrip('/')}/{name}")
                else:
                    nxt.append(f"{p.rstrip('/')}/{comp}")
            paths = []
            for p in nxt:
                try:
                    resolved, _ = self.confined.resolve(p)
                except LinkLoop:
                    continue
                paths.append(resolved)
        for p in paths:
            if os.path.lexists(self.local(p)):
                yield p

    def _claim(self, host_path: str) -> bool:
        key = hash(host_path)
        if key in self._claimed:
            return False
        self._claimed.add(key)
        return True

    # -- location roots -----------------------------------------------------------------------------
    def _bases(self, loc: Location) -> Iterator[tuple[str, str, str]]:
        """(base host path, user, via) for a location's scope."""
        if loc.scope == "system":
            yield "/", "", "default"
        elif loc.scope == "user":
            for user in self.users:
                yield user.home, user.name, "default"
        elif loc.scope == "python_env":
            for prefix, user in self.python_prefixes.items():
                yield prefix, user, f"prefix:{prefix}"
        elif loc.scope == "conda_env":
            for prefix, user in self.conda_prefixes.items():
                yield prefix, user, f"prefix:{prefix}"

    def _roots(self, artifact: ArtifactDef, loc: Location) -> Iterator[_Root]:
        seen: set[str] = set()
        candidates: list[tuple[str, str, str]] = []
        for base, user, via in self._bases(loc):
            path = loc.path if loc.scope == "system" else f"{base.rstrip('/')}/{loc.path}"
            candidates.append((path, user, via))
        for spec in loc.env:
            var, suffix = loc.split_env(spec)
            shell = loc.env_shell(spec)
            for value, user, origin in self.env_values.get(var, ()):
                if shell and origin != shell:
                    continue
                candidates.append((f"{value.rstrip('/')}/{suffix}" if suffix else value, user, f"env:{var}"))
        for path, user, via in candidates:
            for host in self._expand_located(path):
                if host in seen:
                    continue
                seen.add(host)
                try:
                    resolved, links = self.confined.resolve(host)
                except LinkLoop:
                    self._event("warning", "symlink_loop", path=host, artifact=artifact.name)
                    continue
                try:
                    st = os.lstat(self.local(resolved))
                except OSError:
                    if links:  # a dangling link where a cache should be: record the link itself
                        yield _Root(artifact, loc, resolved, user or self.user_of(resolved), via, links, None)
                    continue
                if resolved in seen and resolved != host:
                    continue
                seen.add(resolved)
                yield _Root(artifact, loc, resolved, user or self.user_of(resolved), via, links, st)

    def _expand_located(self, path: str) -> Iterator[str]:
        if any(globs.has_magic(c) for c in path.split("/")):
            yield from self._expand_glob("/", path)
        else:
            yield os.path.normpath(path) if path != "/" else path

    def _all_fixed_roots(self) -> set[str]:
        """Every fixed (non-sweep) user/system location root, for the sweep to stay out of."""
        out: set[str] = set()
        for d in self.definitions:
            for loc in d.locations:
                if loc.sweep or loc.scope not in ("user", "system"):
                    continue
                for r in self._roots(d, loc):
                    if r.stat is not None and statmod.S_ISDIR(r.stat.st_mode):
                        out.add(r.host.rstrip("/"))
        return out

    # -- yielding -------------------------------------------------------------------------------------
    def _target(self, root: _Root, host: str, rel: str, kind: str, st: os.stat_result | None,
                error: str | None = None, artifact: ArtifactDef | None = None) -> Target:
        return Target(artifact or root.artifact, host, root.user or self.user_of(host), self.local(host),
                      root.host, rel, kind, st, error, root.via)

    def _dir_target(self, root: _Root, host: str, rel: str, st: os.stat_result | None) -> Iterator[Target]:
        if not self.include_dirs:
            return
        key = hash(host)
        if key in self._dirs_done:
            return
        self._dirs_done.add(key)
        yield self._target(root, host, rel, "dir", st)

    def _link_targets(self, root: _Root) -> Iterator[Target]:
        for link, _target in root.links:
            if self._claim(link):
                try:
                    st = os.lstat(self.local(link))
                except OSError:
                    continue
                yield self._target(root, link, "", "symlink", st)

    def _walk_root(self, root: _Root) -> Iterator[Target]:
        artifact, loc = root.artifact, root.location
        yield from self._link_targets(root)
        st = root.stat
        if st is None or root.host in self.exclude_paths:
            return
        kind = kind_of(st.st_mode)
        if kind != "dir":
            if self._claim(root.host):
                yield self._target(root, root.host, "", kind, st)
            return
        include = artifact.include_for(loc)
        exclude = artifact.exclude_for(loc)
        bounds: Walk = artifact.walk_for(loc)
        pending_dirs: dict[str, tuple[str, os.stat_result | None]] = {"": (root.host, st)}

        def descend(host: str, rel: str, depth: int) -> bool:
            if host in self.exclude_paths:
                return False
            return not (exclude and (globs.match_any(exclude, rel) or globs.match_any(exclude, rel + "/")))

        def bound(path: str, what: str) -> None:
            self._event(_bound_level(what), "walk_bound", path=path, bound=what, artifact=artifact.name)

        for e in walk(self.confined, root.host, st, max_depth=bounds.max_depth,
                      max_entries=bounds.max_entries, descend=descend, on_bound=bound, stop=self._stop):
            if e.kind == "dir":
                if e.error:
                    if self._claim(e.host_path):
                        self._event("warning", "unreadable_dir", path=e.host_path, error=e.error,
                                    artifact=artifact.name)
                        yield self._target(root, e.host_path, e.rel, "dir", e.stat, e.error)
                    continue
                pending_dirs[e.rel] = (e.host_path, e.stat)
                continue
            if e.host_path in self.exclude_paths:
                continue
            if not globs.match_any(include, e.rel) or (exclude and globs.match_any(exclude, e.rel)):
                continue
            if not self._claim(e.host_path):
                continue
            yield from self._parents(root, e.rel, pending_dirs)
            yield self._target(root, e.host_path, e.rel, e.kind, e.stat, e.error)

    def _parents(self, root: _Root, rel: str, pending: dict[str, tuple[str, os.stat_result | None]]
                 ) -> Iterator[Target]:
        """The directories from the location root down to ``rel``'s parent, once each."""
        if not self.include_dirs:
            return
        parts = rel.split("/")[:-1]
        chain = [""] + ["/".join(parts[:i + 1]) for i in range(len(parts))]
        for r in chain:
            host, st = pending.get(r, (None, None))
            if host is not None:
                yield from self._dir_target(root, host, r, st)

    # -- the sweep ------------------------------------------------------------------------------------
    def _sweep(self, sweepers: list[tuple[ArtifactDef, Location]], fixed_roots: set[str]) -> Iterator[Target]:
        for user in self.users:
            if self._stopped():
                return
            try:
                st = os.lstat(self.local(user.home))
            except OSError:
                continue
            max_depth, max_entries = SWEEP_WALK_PERSON if user.person else SWEEP_WALK_SERVICE
            prefix_dirs: set[str] = set()
            pending_dirs: dict[str, tuple[str, os.stat_result | None]] = {"": (user.home, st)}

            def descend(host: str, rel: str, depth: int, _pd: set[str] = prefix_dirs) -> bool:
                name = host.rsplit("/", 1)[-1]
                if name in SWEEP_PRUNE_NAMES or host in fixed_roots or host in self.exclude_paths:
                    return False
                parent = host.rsplit("/", 1)[0]
                if parent in _pd and name in _PREFIX_SKIP:
                    return False
                return True

            def bound(path: str, what: str, _u: str = user.name) -> None:
                self._event(_bound_level(what), "walk_bound", path=path, bound=what, artifact="sweep", user=_u)

            for e in walk(self.confined, user.home, st, max_depth=max_depth, max_entries=max_entries,
                          descend=descend, on_bound=bound, stop=self._stop):
                name = e.host_path.rsplit("/", 1)[-1]
                parent = e.host_path.rsplit("/", 1)[0]
                if e.kind == "dir":
                    if e.error:
                        self._event("warning", "unreadable_dir", path=e.host_path, error=e.error,
                                    artifact="sweep")
                        continue
                    pending_dirs[e.rel] = (e.host_path, e.stat)
                    if name == "conda-meta":
                        prefix_dirs.add(parent)
                        self.conda_prefixes.setdefault(parent, user.name)
                        self.python_prefixes.setdefault(parent, user.name)
                    continue
                if name == "pyvenv.cfg" and e.kind == "file":
                    prefix_dirs.add(parent)
                    self.python_prefixes.setdefault(parent, user.name)
                    continue
                if e.host_path in self.exclude_paths:
                    continue
                for artifact, loc in sweepers:
                    include = artifact.include_for(loc)
                    exclude = artifact.exclude_for(loc)
                    if globs.match_any(include, e.rel) and not (exclude and globs.match_any(exclude, e.rel)):
                        if self._claim(e.host_path):
                            root = _Root(artifact, loc, user.home, user.name, "sweep", [], st)
                            yield from self._parents(root, e.rel, pending_dirs)
                            yield self._target(root, e.host_path, e.rel, e.kind, e.stat, e.error)
                        break

    # -- environment prefixes -------------------------------------------------------------------------
    def _add_prefix(self, host: str, user: str) -> None:
        try:
            resolved, _ = self.confined.resolve(host)
            st = os.lstat(self.local(resolved))
        except (OSError, LinkLoop):
            return
        if not statmod.S_ISDIR(st.st_mode):
            return
        names = set(list_dir(self.confined, resolved))
        is_conda = "conda-meta" in names
        is_python = is_conda or "pyvenv.cfg" in names or "lib" in names or "lib64" in names
        if not is_python:
            return
        user = user or self.user_of(resolved)
        self.python_prefixes.setdefault(resolved, user)
        if is_conda:
            self.conda_prefixes.setdefault(resolved, user)
            for env in self._expand_glob(resolved, CONDA_ROOT_ENVS):
                self._add_prefix(env, user)

    def _find_prefixes(self) -> None:
        for pattern in SYSTEM_PYTHON_PREFIXES:
            for host in (self._expand_glob("/", pattern.lstrip("/")) if "*" in pattern else [pattern]):
                if host.startswith(("/opt/", "/srv/")) and host.count("/") == 2 and "*" in pattern:
                    names = set(list_dir(self.confined, host))
                    if not names & {"pyvenv.cfg", "conda-meta"}:
                        continue
                self._add_prefix(host, "")
        for user in self.users:
            for rel in USER_PYTHON_PREFIXES:
                for host in self._expand_glob(user.home, rel):
                    self._add_prefix(host, user.name)
            envs_txt = read_small(self.confined, f"{user.home.rstrip('/')}/.conda/environments.txt")
            for line in (envs_txt or "").splitlines():
                line = line.strip()
                if line.startswith("/"):
                    self._add_prefix(os.path.normpath(line), user.name)
        # Sweep finds were registered raw; resolve and classify them the same way.
        for prefix, user in list(self.python_prefixes.items()):
            self._add_prefix(prefix, user)

    # -- public ---------------------------------------------------------------------------------------
    def targets(self) -> Iterator[Target]:
        """Every file, symlink and special file a collection takes (directories with include_dirs)."""
        fixed_roots = self._all_fixed_roots()
        sweepers: list[tuple[ArtifactDef, Location]] = []
        prefixed: list[tuple[ArtifactDef, Location]] = []
        for d in self.definitions:
            for loc in d.locations:
                if loc.sweep:
                    sweepers.append((d, loc))
                elif loc.scope in ("python_env", "conda_env"):
                    prefixed.append((d, loc))
        for d in self.definitions:
            for loc in d.locations:
                if loc.sweep or loc.scope in ("python_env", "conda_env"):
                    continue
                for root in self._roots(d, loc):
                    if self._stopped():
                        return
                    yield from self._walk_root(root)
        if sweepers or prefixed:
            yield from self._sweep(sweepers, fixed_roots)
        if prefixed:
            self._find_prefixes()
            for d, loc in prefixed:
                for root in self._roots(d, loc):
                    if self._stopped():
                        return
                    yield from self._walk_root(root)

    def units(self) -> Iterator[Unit]:
        """Resolved, existing location roots of ``parse_unit: root`` artifacts."""
        if any(loc.scope in ("python_env", "conda_env") for d in self.definitions
               if d.parse_unit == "root" for loc in d.locations):
            for _ in self._sweep([], self._all_fixed_roots()):
                pass
            self._find_prefixes()
        seen: set[tuple[str, str]] = set()
        for d in self.definitions:
            if d.parse_unit != "root":
                continue
            for loc in d.locations:
                if loc.sweep:
                    continue
                for root in self._roots(d, loc):
                    if root.stat is None or (d.name, root.host) in seen:
                        continue
                    seen.add((d.name, root.host))
                    yield Unit(d, root.host, root.user, self.local(root.host))


def iter_targets(root: Path | str, definitions: Sequence[ArtifactDef] | None = None, *,
                 env: Mapping[str, Iterable[str]] | None = None, kinds: Iterable[str] = ("file",),
                 on_event: EventFn | None = None, **options: object) -> Iterator[Target]:
    """Targets under ``root`` (default: regular files only), as the collector would take them.

    Each unpacks as ``(artifact, host_path, user, local_path)``; ``target.unit_root``,
    ``target.stat`` and ``target.kind`` carry more. ``kinds`` selects entry types (add
    ``"symlink"`` for HF snapshot links, ``"dir"`` for directories).
    """
    wanted = set(kinds)
    resolver = Resolver(root, definitions, env=env, on_event=on_event,
                        include_dirs="dir" in wanted, **options)  # type: ignore[arg-type]
    for target in resolver.targets():
        if target.kind in wanted and target.error is None:
            yield target


def iter_units(root: Path | str, definitions: Sequence[ArtifactDef] | None = None, *,
               env: Mapping[str, Iterable[str]] | None = None, on_event: EventFn | None = None
               ) -> Iterator[Unit]:
    """Location roots of ``parse_unit: root`` artifacts under ``root`` (each HF hub cache ...)."""
    yield from Resolver(root, definitions, env=env, on_event=on_event).units()


__all__ = ["Entry", "HomeUser", "Resolver", "Target", "Unit", "error_text", "find_users",
           "iter_targets", "iter_units"]
