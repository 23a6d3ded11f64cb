"""Chains: an origin (model download, remote code, package install) -> a load -> follow-on.

Every link names its evidence; nothing is linked for being close in time alone:

* origin -> load: the load's command line, notebook cell, IPython line or process names the
  origin's repo id, a path inside its cache folder or file, its blob hash or (for packages) the
  module it installs; or a process holds one of its files open.
* load -> follow-on, within ``window`` seconds after the load:
  - **pid**: a process descending from the loading process (ppid chain), and the connections,
    persistence writes and installs made by those processes;
  - **indicator**: the static verdict of the loaded model names the path, host, command or
    package the follow-on touches (a pickle whose os.system argument writes authorized_keys);
  - **verdict + same user** (dead-box evidence without pids): a persistence write, or an install
    from an extra or unknown index, by the account that loaded a model whose static verdict is
    malicious or suspicious (or a package of untrusted provenance). A clean model's load followed
    by an unrelated write is never linked;
  Remote code of the loaded repo itself is part of the origin (an origin step), not follow-on;
  remote code of *another* repo is follow-on when the payload names it or a linked pid wrote it.

Cost: one pass builds the indexes (dict of entity key -> origins, ppid/pid -> rows, per host
time-sorted lists); each candidate load is cut into tokens looked up in O(1), each follow-on
window is two bisects. Total O(n log n) for the sort plus O(n x tokens per row): never
origins x events.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from mlsleuth.timelines import entities as ent
from mlsleuth.timelines import signals as sig
from mlsleuth.timelines.frame import Timeline
from mlsleuth.timelines.index import KeyIndex, TimeIndex

from mlsleuth.events import to_epoch_us

US = 1_000_000
FETCH_BEFORE_US = 3600 * US  # a download command runs before the files it fetches land
MAX_DESCENDANTS = 500
MAX_TEXT = 20_000
MAX_INDICATOR_TEXT = 200_000  # per origin: what its verdicts say, bounded

_FETCH = re.compile(r"\b(huggingface-cli|hf)\s+download\b|snapshot_download\s*\(|hf_hub_download\s*\(|"
                    r"\bgit\s+(clone|lfs|pull)\b|\bwget\b|\bcurl\b|\bpip3?\s+(install|download)\b|"
                    r"-m\s+pip\s+(install|download)\b|\bconda\s+install\b|\buv\s+(pip\s+)?(install|add)\b")
_LOADS = re.compile(r"from_pretrained|\.load\w*\s*\(|\bload\w*\s*\(|pipeline\s*\(|SentenceTransformer|"
                    r"\bimport\s|\bpython[\d.]*\s|\bollama\s+run\b|\bvllm\b|\bllama|\btorchrun\b|"
                    r"\baccelerate\s+launch\b|\bopen\s*\(", re.IGNORECASE)
# Programs that read or copy a file without running it: naming a model is not loading it.
_NOT_LOADERS = frozenset({"ls", "ll", "cat", "cp", "mv", "rm", "ln", "stat", "file", "du", "df", "head",
                          "tail", "less", "more", "grep", "rg", "find", "tar", "zip", "unzip", "gzip",
                          "sha256sum", "sha1sum", "md5sum", "b3sum", "chmod", "chown", "touch", "mkdir",
                          "cd", "tree", "wc", "diff", "xxd", "hexdump", "strings", "vim", "vi", "nano",
                          "nvim", "emacs", "code", "echo", "rsync", "scp", "git", "huggingface-cli"})
_URL_HOST = re.compile(r"[a-z][a-z0-9+.-]*://([^/\s:'\"@]+@)?([^/\s:'\"]+)", re.IGNORECASE)
_IPV4 = re.compile(r"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.])")
_PIP_INSTALL = re.compile(r"pip3?\s+install\s+([^;&|\n'\"]+)", re.IGNORECASE)
_SEVERITY = {"malicious": 3, "suspicious": 2}


@dataclass
class Indicators:
    """What a flagged model's static verdict says its payload does (commands, URLs, paths)."""

    blob: str = ""
    squeezed: str = ""  # blob with runs of whitespace as one space
    hosts: set[str] = field(default_factory=set)
    packages: set[str] = field(default_factory=set)

    def add(self, text: str) -> None:
        if len(self.blob) >= MAX_INDICATOR_TEXT:
            return
        low = text.lower()[:MAX_TEXT]
        self.blob += "\n" + low
        self.squeezed += "\n" + " ".join(low.split())
        for m in _URL_HOST.finditer(low):
            self.hosts.add(m.group(2).strip("."))
        self.hosts.update(_IPV4.findall(low))
        # payload arguments often arrive as a list repr: ['pip', 'install', 'x']
        for m in _PIP_INSTALL.finditer(re.sub(r"['\",\[\]]+", " ", low)):
            for tok in m.group(1).split():
                if not tok.startswith("-"):
                    name = re.split(r"[=<>~!\[; ]", tok, maxsplit=1)[0]
                    if name and "/" not in name:
                        self.packages.add(ent.norm_package(name) or "")

    def __bool__(self) -> bool:
        return bool(self.blob)

    def names_path(self, path: str, owners: set[str]) -> bool:
        if not self.blob:
            return False
        low = path.lower()
        if low in self.blob:
            return True
        rel = ent.home_relative(path)
        # "~" expands to whoever ran the payload: only the loading account's home counts
        return bool(rel) and rel.lower() in self.blob and (
            not owners or ent.owner_of_path(path) in owners)

    def names_host(self, host: str) -> bool:
        return bool(host) and (host in self.hosts or (len(host) > 6 and host in self.blob))

    def names_command(self, cmdline: str) -> bool:
        low = " ".join(cmdline.lower().split())
        if len(low) >= 12 and low in self.squeezed:
            return True
        return any(h in low for h in self.hosts if len(h) > 3)


@dataclass
class Origin:
    id: int
    host: str
    kind: str  # "download" | "remote_code" | "package_install"
    what: str  # "model" | "file" | "package"
    name: str  # repo id, file path or package name (normalised: lower case)
    display: str = ""  # as the host spelt it
    rows: list[int] = field(default_factory=list)  # downloads / installs
    code_rows: list[int] = field(default_factory=list)  # remote code of the repo
    fetch_rows: list[int] = field(default_factory=list)  # commands that fetched it
    users: set[str] = field(default_factory=set)
    keys: set[tuple[str, str]] = field(default_factory=set)
    verdict_rows: list[int] = field(default_factory=list)
    tampered_rows: list[int] = field(default_factory=list)
    verdict: str | None = None  # worst static verdict of its files: malicious / suspicious / clean
    untrusted_index: str | None = None  # packages: the extra/unknown index it came from
    indicators: Indicators = field(default_factory=Indicators)
    first_us: int = 0

    @property
    def flagged(self) -> bool:
        return self.verdict in sig.FLAGGED_VERDICTS or bool(self.tampered_rows) or bool(
            self.untrusted_index)

    def flag_reason(self) -> str:
        if self.verdict in sig.FLAGGED_VERDICTS:
            return f"whose static verdict is {self.verdict}"
        if self.tampered_rows:
            return "whose cached blob does not match its hash (tampered)"
        if self.untrusted_index:
            return f"installed from the extra/unknown index {self.untrusted_index}"
        return ""


@dataclass
class Step:
    kind: str
    row: int
    reason: str
    rows: list[int] = field(default_factory=list)
    link: str = ""  # pid / indicator / verdict+user

    def __post_init__(self) -> None:
        if not self.rows:
            self.rows = [self.row]


@dataclass
class Load:
    origin: Origin
    row: int
    reason: str
    pid: int | None
    lo: int
    hi: int
    quality: str = "exact"
    proc_row: int | None = None  # start of the process that holds the file open
    follow: list[Step] = field(default_factory=list)


@dataclass
class Chain:
    origin: Origin
    loads: list[Load]
    id: str = ""
    score: int = 0
    summary: str = ""

    @property
    def host(self) -> str:
        return self.origin.host


# Attribution order when one follow-on is linked from several loads: strongest link, then the
# load with the surest time, then the closest load before it.
_LINK_RANK = {"pid": 0, "indicator": 1, "verdict+user": 2}
_QUALITY_RANK = {"exact": 0, "inferred-from-file-time": 1, "estimated": 2}
_ACTS = {"persistence": "persistence", "file": "persistence", "package_install": "pip_install",
         "remote_code": "remote_code", "config": "pip_config"}


class Correlator:
    def __init__(self, tl: Timeline, window: int = 600) -> None:
        self.tl = tl
        self.window_us = int(window) * US
        c = tl.col
        self.cat, self.host, self.user = c["category"], c["host"], c["user"]
        self.pid, self.ppid = c["pid"], c["ppid"]
        self.ts: list[int] = tl.ts.tolist()
        self.origins: list[Origin] = []
        self._by_key: dict[tuple[str, str, str], list[Origin]] = defaultdict(list)
        self.children = KeyIndex()  # (host, ppid) -> process rows
        self.proc_start = KeyIndex()  # (host, pid) -> process rows
        self.acts = KeyIndex()  # (host, pid) -> network / persistence / install / code / config rows
        self.win = {k: TimeIndex() for k in ("persistence", "network", "process", "install", "code",
                                             "index_config")}
        self.index_configs = KeyIndex()  # (host, owner) -> config rows setting an untrusted index
        self._candidates: list[int] = []
        self._findings: list[int] = []

    # -- pass 1: origins and indexes -------------------------------------------------------------
    def _origin(self, host: str, kind: str, what: str, name: str, t: int) -> Origin:
        key = (host, "origin", f"{what}:{name}")
        hits = self._by_key.get(key)
        if hits:
            return hits[0]
        o = Origin(id=len(self.origins), host=host, kind=kind, what=what, name=name, first_us=t)
        o.display = name
        self.origins.append(o)
        self._by_key[key].append(o)
        return o

    def _act(self, kind: str, row: int) -> None:
        host, t, pid = self.host[row], self.ts[row], self.pid[row]
        self.win[kind].add(host, t, row)
        if pid is not None:
            self.acts.add((host, pid), t, row)

    def _index(self) -> None:
        col = self.tl.col
        paths, repos, pkgs = col["file_path"], col["model_repo"], col["package"]
        for row in range(self.tl.n):
            cat, host, t = self.cat[row], self.host[row], self.ts[row]
            if cat in ("model_download", "remote_code"):
                repo = ent.norm_repo(repos[row]) or ent.repo_from_path(paths[row])
                if repo:
                    o = self._origin(host, "download" if cat == "model_download" else "remote_code",
                                     "model", repo, t)
                    if cat == "model_download" and o.kind == "remote_code" and not o.rows:
                        o.kind = "download"
                elif paths[row] and cat == "model_download":
                    o = self._origin(host, "download", "file", paths[row], t)
                else:
                    continue
                (o.rows if cat == "model_download" else o.code_rows).append(row)
                self._register(o, row)
                verdict = (col["verdict"][row] or "").lower()
                if verdict:  # a parser may put the file's verdict on the download itself
                    o.verdict_rows.append(row)
                    if o.verdict is None or _SEVERITY.get(verdict, 0) > _SEVERITY.get(o.verdict, 0):
                        o.verdict = verdict
                if cat == "remote_code":
                    self._act("code", row)
                elif self._is_tampered(row):
                    o.tampered_rows.append(row)
            elif cat == "package_install":
                extra = self.tl.extra(row)
                if str(extra.get("action", "")).lower() in ("remove", "removed", "uninstall", "-"):
                    continue
                name = ent.norm_package(pkgs[row])
                if name:
                    o = self._origin(host, "package_install", "package", name, t)
                    o.rows.append(row)
                    self._register(o, row, extra)
                    index, untrusted = self.install_index(row, extra)
                    if untrusted and not o.untrusted_index:
                        o.untrusted_index = index
                self._act("install", row)
            elif cat == "process":
                self._candidates.append(row)
                self.win["process"].add(host, t, row)
                if self.ppid[row] is not None:
                    self.children.add((host, self.ppid[row]), t, row)
                if self.pid[row] is not None:
                    self.proc_start.add((host, self.pid[row]), t, row)
            elif cat == "command":
                self._candidates.append(row)
            elif cat == "network":
                if sig.is_outbound_target(col["remote_addr"][row]):
                    self._act("network", row)
                if self.pid[row] is not None and paths[row]:
                    self._candidates.append(row)
            elif (cat == "persistence" and not sig.is_access_desc(col["timestamp_desc"][row])) or (
                    cat == "file" and sig.is_persistence_path(paths[row])
                    and sig.is_write_desc(col["timestamp_desc"][row])):
                self._act("persistence", row)
                if cat == "file" and self.pid[row] is not None:
                    self._candidates.append(row)
            elif cat == "file" and self.pid[row] is not None and paths[row]:
                self._candidates.append(row)  # a process holding a file open
            elif cat == "config":
                extra = self.tl.extra(row)
                index, untrusted = sig.install_index(col["index_url"][row], extra)
                # an extra source is the confusion vector; a replaced main index is a mirror
                if untrusted and sig.is_extra_index_setting(col["index_url"][row], extra):
                    self._act("index_config", row)
                    owner = self.user[row] or ent.owner_of_path(paths[row])
                    self.index_configs.add((host, owner), t, row)
            elif cat == "finding":
                self._findings.append(row)

    def install_index(self, row: int, extra: dict) -> tuple[str | None, bool]:
        """Index of an install: its own record, else an extra index configured (for its user or
        system-wide) before it was installed: pip consults both."""
        col = self.tl.col
        index, untrusted = sig.install_index(col["index_url"][row], extra)
        if index or untrusted:
            return index, untrusted
        host, t = self.host[row], self.ts[row]
        owner = self.user[row] or ent.owner_of_path(col["file_path"][row])
        for who in (owner, ""):
            cfg = self.index_configs.last_at_or_before((host, who), t)
            if cfg is not None:
                idx, _ = sig.install_index(col["index_url"][cfg], self.tl.extra(cfg))
                return f"{idx} (configured in {col['file_path'][cfg]})", True
        return None, False

    def _is_tampered(self, row: int) -> bool:
        return sig.is_tampered(self.cat[row], self.tl.col["message"][row], self.tl.extra(row))

    def _register(self, o: Origin, row: int, extra: dict | None = None) -> None:
        col = self.tl.col
        path = col["file_path"][row]
        user = self.user[row] or ent.owner_of_path(path)
        if user:
            o.users.add(user)
        spelt = col["model_repo"][row] if o.what == "model" else col["package"][row] if o.what == "package" else None
        if spelt and o.display == o.name:
            o.display = spelt.split("/", 1)[1] if o.what == "model" and spelt.count("/") >= 2 else spelt
        keys: list[tuple[str, str]] = []
        if o.what == "model":
            keys.append(("r", o.name))
            rdir = ent.repo_dir(path)
            if not rdir and path and "/transformers_modules/" in path:
                head, rest = path.split("/transformers_modules/", 1)
                rdir = f"{head}/transformers_modules/{'/'.join(rest.split('/')[:2])}"
            if rdir:
                keys.append(("p", rdir))
                rel = ent.home_relative(rdir)
                if rel:
                    keys.append(("p", rel))
        elif o.what == "file":
            keys.append(("p", o.name))
            rel = ent.home_relative(o.name)
            if rel:
                keys.append(("p", rel))
            base = o.name.rsplit("/", 1)[-1]
            if any(True for _ in ent.model_file_tokens(base)):
                keys.append(("b", base.lower()))
        else:
            keys.append(("m", o.name))
            for key in ("top_level", "modules", "top_level_modules"):
                names = (extra or {}).get(key)
                if isinstance(names, str):
                    names = names.split()
                if isinstance(names, list):
                    keys.extend(("m", ent.norm_package(str(n)) or "") for n in names)
        sha = col["sha256"][row]
        if sha and o.what != "package":
            keys.append(("h", sha.lower()))
        for k in keys:
            if k not in o.keys:
                o.keys.add(k)
                self._by_key[(o.host, *k)].append(o)

    def _lookup(self, host: str, kind: str, value: str) -> list[Origin]:
        return self._by_key.get((host, kind, value), [])

    # -- verdicts ---------------------------------------------------------------------------------
    def _attach_verdicts(self) -> None:
        col = self.tl.col
        for row in self._findings:
            verdict = (col["verdict"][row] or "").lower()
            tampered = self._is_tampered(row)
            if not verdict and not tampered:
                continue
            found = {o.id: o for o in self._origins_named_by_entities(self.host[row], row)}
            for o in found.values():
                if tampered:
                    o.tampered_rows.append(row)
                    continue  # a hash mismatch is not a content verdict
                o.verdict_rows.append(row)
                if o.verdict is None or _SEVERITY.get(verdict, 0) > _SEVERITY.get(o.verdict, 0):
                    o.verdict = verdict
                if verdict in sig.FLAGGED_VERDICTS:
                    o.indicators.add(col["message"][row] or "")
                    for s in sig.strings_in(self.tl.extra(row)):
                        o.indicators.add(s)

    def _origins_named_by_entities(self, host: str, row: int) -> list[Origin]:
        col = self.tl.col
        out: list[Origin] = []
        sha = col["sha256"][row]
        if sha:
            out += self._lookup(host, "h", sha.lower())
        path = col["file_path"][row]
        if path:
            for a in ent.ancestors(path):
                out += self._lookup(host, "p", a)
        repo = ent.norm_repo(col["model_repo"][row]) or ent.repo_from_path(path)
        if repo:
            out += self._lookup(host, "r", repo)
        pkg = ent.norm_package(col["package"][row])
        if pkg:
            out += self._lookup(host, "m", pkg)
        return out

    # -- pass 2: loads ----------------------------------------------------------------------------
    def _text(self, row: int) -> str:
        col = self.tl.col
        cmd, msg = col["cmdline"][row], col["message"][row]
        if self.cat[row] == "command":
            return (cmd or "")[:MAX_TEXT]
        if self.cat[row] == "process":
            return (cmd or col["process"][row] or msg or "")[:MAX_TEXT]
        return ""

    def _role(self, row: int, text: str) -> str:
        """"load", "fetch" (a command that only downloads) or "" (names it without running it)."""
        if not text:
            return ""
        words = text.lstrip("!%$ \t").split(None, 1)
        tool = words[0].rsplit("/", 1)[-1].lower() if words else ""
        fetch = bool(_FETCH.search(text))
        if fetch and not _LOADS.search(text):
            return "fetch"
        if tool in _NOT_LOADERS:
            return "fetch" if fetch else ""
        if self.cat[row] == "process" or _LOADS.search(text):
            return "load"
        return ""

    def _named(self, row: int) -> tuple[str, dict[int, tuple[Origin, str]]]:
        """(role, origins the row names): role "load", "fetch", "open" or ""."""
        host = self.host[row]
        hits: dict[int, tuple[Origin, str]] = {}

        def found(kind: str, value: str, why: str) -> None:
            for o in self._lookup(host, kind, value):
                hits.setdefault(o.id, (o, why))

        path = self.tl.col["file_path"][row]
        if path and self.pid[row] is not None and self.cat[row] in ("file", "process", "network"):
            for a in ent.ancestors(path):
                found("p", a, f"pid {self.pid[row]} holds {path} open")
            if hits:
                return "open", hits
        text = self._text(row)
        role = self._role(row, text)
        if not role:
            return "", hits
        # most specific evidence first: the reason kept is the first one found
        for tok in ent.path_tokens(text):
            for a in ent.ancestors(tok):
                found("p", a, f"names path {tok}")
        for tok in ent.hash_tokens(text):
            found("h", tok, f"names hash {tok}")
        for tok in ent.repo_tokens(text):
            found("r", tok, f"names repo {tok}")
        for tok in ent.model_file_tokens(text):
            found("b", tok.lower(), f"names model file {tok}")
        for tok in ent.module_tokens(text):
            norm = ent.norm_package(tok)
            if norm:
                found("m", norm, f"imports/runs {tok}")
        return role, hits

    def _make_loads(self) -> list[Load]:
        loads: list[Load] = []
        hosts_with_origins = {o.host for o in self.origins}
        for row in self._candidates:
            if self.host[row] not in hosts_with_origins:
                continue
            role, hits = self._named(row)
            if not hits:
                continue
            t, user = self.ts[row], self.user[row]
            latest = t  # an estimated line may have run as late as its session's end
            if self.tl.col["timestamp_quality"][row] == "estimated":
                latest = _iso_us(self.tl.extra(row).get("session_end")) or t + self.window_us
            matched = [(o, why) for o, why in hits.values()
                       if latest >= o.first_us - (FETCH_BEFORE_US if role == "fetch" else self.window_us)]
            # the same repo cached by several users: a name-only match goes to the loader's own copy
            mine = {(o.what, o.name) for o, _ in matched if user and user in o.users}
            matched = [(o, why) for o, why in matched
                       if not user or user in o.users or (o.what, o.name) not in mine]
            for o, why in matched:
                if role == "fetch":
                    if t <= o.first_us + self.window_us:
                        o.fetch_rows.append(row)
                else:
                    loads.append(self._load(o, row, why, role))
        return loads

    def _load(self, o: Origin, row: int, why: str, role: str) -> Load:
        t, pid = self.ts[row], self.pid[row]
        quality = self.tl.col["timestamp_quality"][row]
        lo, hi = t, t + self.window_us
        proc_row = None
        if role == "open":
            # observed at collection: the load happened while the process ran
            starts = self.proc_start.get((self.host[row], pid)) if pid is not None else []
            proc_row = starts[0] if starts else None
            lo = self.ts[proc_row] if proc_row is not None else t - self.window_us
        elif quality != "exact":
            extra = self.tl.extra(row)
            start, end = _iso_us(extra.get("session_start")), _iso_us(extra.get("session_end"))
            lo = start if start is not None else t - self.window_us
            hi = (end if end is not None else t) + self.window_us
        return Load(origin=o, row=row, reason=why, pid=pid, lo=lo, hi=hi, quality=quality, proc_row=proc_row)

    # -- pass 3: follow-on ------------------------------------------------------------------------
    def _follow(self, load: Load, pid_ok: bool) -> None:
        o, host = load.origin, self.host[load.row]
        col = self.tl.col
        seen: set[int] = {load.row, *o.rows, *o.code_rows}
        owners = {u for u in (self.user[load.row], *o.users) if u}
        loader_user = self.user[load.row] or (next(iter(o.users)) if len(o.users) == 1 else "")
        label = _label(o)

        def add(kind: str, row: int, reason: str, link: str) -> None:
            if row not in seen:
                seen.add(row)
                load.follow.append(Step(kind=kind, row=row, reason=reason, link=link))

        if pid_ok and load.pid is not None:
            self._follow_pids(load, add, label)

        # dead-box evidence: what the loaded model's verdict says, and who loaded it
        flag = o.flag_reason()
        ind = o.indicators
        for r in self.win["persistence"].window(host, load.lo, load.hi):
            path = col["file_path"][r] or ""
            owner = self.user[r] or ent.owner_of_path(path)
            if ind.names_path(path, owners):
                add("persistence", r, f"write to {path}, a path named by the payload of {label}", "indicator")
            elif o.flagged and loader_user and owner == loader_user:
                add("persistence", r, f"write to persistence location {path} by the same user ({owner}) "
                                      f"{self._when(r, load)} the load of {label}, {flag}",
                    "verdict+user")
        for r in self.win["index_config"].window(host, load.lo, load.hi):
            path = col["file_path"][r] or ""
            owner = self.user[r] or ent.owner_of_path(path)
            index, _ = sig.install_index(col["index_url"][r], self.tl.extra(r))
            if ind.names_path(path, owners) or (index and ind.names_host(_url_host(index))):
                add("pip_config", r, f"{path} now points pip at {index}, named by the payload of {label}",
                    "indicator")
            elif o.flagged and loader_user and owner == loader_user:
                add("pip_config", r, f"{path} set the extra/unknown package index {index} (same user, "
                                     f"{self._when(r, load)} the load of {label}, {flag})",
                    "verdict+user")
        if ind:
            for r in self.win["network"].window(host, load.lo, load.hi):
                addr = col["remote_addr"][r]
                if ind.names_host(ent.host_of_addr(addr)):
                    add("network", r, f"connection to {addr}, a host named by the payload of {label}",
                        "indicator")
            for r in self.win["process"].window(host, load.lo, load.hi):
                cmd = col["cmdline"][r] or col["process"][r] or ""
                if r != load.row and cmd and ind.names_command(cmd):
                    kind = sig.is_shell_or_download_tool(col["process"][r], col["cmdline"][r]) or "child_process"
                    add(kind, r, f"process {cmd[:120]!r} matches the payload of {label}", "indicator")
            for r in self.win["code"].window(host, load.lo, load.hi):
                repo = ent.norm_repo(col["model_repo"][r]) or ent.repo_from_path(col["file_path"][r])
                if repo and repo != o.name and repo in ind.blob:
                    add("remote_code", r, f"remote code of {repo}, a repo named by the payload of {label}",
                        "indicator")
        for r in self.win["install"].window(host, load.lo, load.hi):
            pkg = ent.norm_package(col["package"][r]) or ""
            if o.what == "package" and pkg == o.name:
                continue
            index, untrusted = self.install_index(r, self.tl.extra(r))
            owner = self.user[r] or ent.owner_of_path(col["file_path"][r])
            if pkg and pkg in ind.packages:
                add("pip_install", r, f"install of {pkg}, a package named by the payload of {label}",
                    "indicator")
            elif untrusted and o.flagged and loader_user and owner == loader_user:
                add("pip_install", r, f"install of {pkg} from the extra/unknown index {index} by the same "
                                      f"user ({owner}) {self._when(r, load)} the load of "
                                      f"{label}, {flag}", "verdict+user")

    def _when(self, row: int, load: Load) -> str:
        """"42 s after" - or, for a load whose time is estimated, where it falls."""
        if load.quality == "estimated":
            return "within the bounds (session) of"
        return _delta(self.ts[row] - self.ts[load.row])

    def _follow_pids(self, load: Load, add, label: str) -> None:
        """Descendants of the loading process (ppid chain) and what they did."""
        host, col = self.host[load.row], self.tl.col
        linked = {load.pid}
        frontier = [(load.pid, load.lo, 0)]
        while frontier and len(linked) < MAX_DESCENDANTS:
            parent, lo, depth = frontier.pop()
            for r in self.children.window((host, parent), lo, max(load.hi, lo + self.window_us)):
                child = self.pid[r]
                if child is None or child in linked or depth > 16:
                    continue
                linked.add(child)
                kind = sig.is_shell_or_download_tool(col["process"][r], col["cmdline"][r]) or "child_process"
                via = "" if parent == load.pid else f" (via pid {parent})"
                add(kind, r, f"pid {child} is a descendant of pid {load.pid}{via}, the process that "
                             f"loaded {label}", "pid")
                frontier.append((child, self.ts[r], depth + 1))
        for p in linked:
            who = "the loader" if p == load.pid else "a descendant of the loader"
            for r in self.acts.window((host, p), load.lo, 2**62):
                cat = self.cat[r]
                if cat == "network":
                    addr = col["remote_addr"][r]
                    # the loader itself talking https is most likely the hub (by IP): not evidence
                    if p == load.pid and sig.port_of(addr) in (80, 443) and not \
                            load.origin.indicators.names_host(ent.host_of_addr(addr)):
                        continue
                    add("network", r, f"connection to {addr} owned by pid {p}, {who} of {label}", "pid")
                elif self.ts[r] <= load.hi:
                    kind = _ACTS[cat]
                    add(kind, r, f"{_what(kind)} by pid {p} ({who}) of {label}", "pid")

    # -- run --------------------------------------------------------------------------------------
    def run(self) -> list[Chain]:
        self._index()
        self._attach_verdicts()
        loads = self._make_loads()
        # One process that loaded several models: its children go to the flagged ones
        per_pid: dict[tuple[str, int], list[Load]] = defaultdict(list)
        for ld in loads:
            if ld.pid is not None:
                per_pid[(self.host[ld.row], ld.pid)].append(ld)
        for ld in loads:
            group = per_pid.get((self.host[ld.row], ld.pid), []) if ld.pid is not None else []
            self._follow(ld, ld.origin.flagged or not any(x.origin.flagged for x in group))
        by_origin: dict[int, list[Load]] = defaultdict(list)
        for ld in loads:
            if ld.follow:
                by_origin[ld.origin.id].append(ld)
        chains: list[Chain] = []
        for oid, lds in by_origin.items():
            lds = self._attribute(lds)
            if lds:
                chains.append(Chain(origin=self.origins[oid], loads=lds))
        chains.sort(key=lambda c: (c.origin.first_us, c.origin.host, c.origin.name))
        for i, c in enumerate(chains, 1):
            c.id = f"chain-{i:03d}"
        return chains

    def _attribute(self, loads: list[Load]) -> list[Load]:
        """Each follow-on row goes to one load of the origin: strongest link, surest time,
        closest preceding load; steps on the same path and kind merge (bodyfile + parser)."""
        best: dict[int, tuple[tuple, Load, Step]] = {}
        for ld in loads:
            for s in ld.follow:
                dt = self.ts[s.row] - self.ts[ld.row]
                key = (_LINK_RANK.get(s.link, 9), _QUALITY_RANK.get(ld.quality, 3), dt < 0, abs(dt), ld.row)
                if s.row not in best or key < best[s.row][0]:
                    best[s.row] = (key, ld, s)
        for ld in loads:
            ld.follow = []
        for _, ld, s in best.values():
            ld.follow.append(s)
        kept = []
        col = self.tl.col
        for ld in sorted(loads, key=lambda x: (self.ts[x.row], x.row)):
            merged: dict[tuple[str, str], Step] = {}
            steps = []
            for s in sorted(ld.follow, key=lambda s: (self.ts[s.row], s.row)):
                path = col["file_path"][s.row] or col["remote_addr"][s.row] or ""
                key = (s.kind, path)
                if path and key in merged:
                    merged[key].rows.append(s.row)
                    continue
                merged[key] = s
                steps.append(s)
            ld.follow = steps
            if steps:
                kept.append(ld)
        return kept


def _iso_us(value: object) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        return to_epoch_us(datetime.fromisoformat(value))
    except ValueError:
        return None


def _url_host(url: str) -> str:
    m = _URL_HOST.match(url)
    return (m.group(2) if m else url).lower()


def _label(o: Origin) -> str:
    return {"model": f"repo {o.display}", "file": f"model file {o.display}", "package": f"package {o.display}"}[o.what]


def _what(kind: str) -> str:
    return {"persistence": "persistence write", "pip_install": "package install",
            "remote_code": "remote code written", "pip_config": "package index setting"}.get(kind, kind)


def _delta(us: int) -> str:
    s = us / US
    if s < 0:
        return f"{-s:.0f} s before"
    if s < 120:
        return f"{s:.0f} s after"
    return f"{s / 60:.1f} min after"
