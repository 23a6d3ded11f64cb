"""Where packages were configured to come from: index settings in pip.conf files, environment
variables (live processes, shell start-up files), ``--extra-index-url`` and friends in shell and
IPython histories and requirements files, uv/poetry/pipenv project files, conda channels.

Every setting keeps the file and line it was read from, the account it belongs to, and a time
(the command's own time in a timestamped history, else the file's mtime). Credentials inside
URLs are replaced by their fingerprint (mlsleuth.redact, through names.redact_url).
"""

from __future__ import annotations

import posixpath
import re
import shlex
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from mlsleuth.parsers.packages.names import normalize, redact_text, redact_url
from mlsleuth.parsers.packages.view import HostView, ReadError

from mlsleuth.events import TimestampQuality, from_epoch

ENV_KINDS = {
    "PIP_INDEX_URL": "index", "PIP_EXTRA_INDEX_URL": "extra-index", "PIP_FIND_LINKS": "find-links",
    "PIP_TRUSTED_HOST": "trusted-host", "UV_INDEX_URL": "index", "UV_DEFAULT_INDEX": "index",
    "UV_EXTRA_INDEX_URL": "extra-index", "UV_INDEX": "extra-index", "UV_FIND_LINKS": "find-links",
    "PIP_CONFIG_FILE": "config-file",
}
PIP_KEYS = {"index-url": "index", "extra-index-url": "extra-index", "find-links": "find-links",
            "trusted-host": "trusted-host"}
_PIP_INDEX_OPTS = {"-i": "index", "--index-url": "index", "--extra-index-url": "extra-index",
                   "-f": "find-links", "--find-links": "find-links", "--trusted-host": "trusted-host",
                   "--index": "extra-index", "--default-index": "index"}
_CONDA_OPTS = {"-c": "channel", "--channel": "channel"}
_CONDA_OPTS_WITH_ARG = {"-c", "--channel", "-n", "--name", "-p", "--prefix", "--file"}
_PIP_OPTS_WITH_ARG = {"-r", "--requirement", "-c", "--constraint", "-e", "--editable", "-t", "--target",
                      "--prefix", "--root", "--platform", "--python-version", "--implementation", "--abi",
                      "--src", "--upgrade-strategy", "--progress-bar", "--log", "--proxy", "--retries",
                      "--timeout", "--exists-action", "--cert", "--client-cert", "--cache-dir",
                      "--no-binary", "--only-binary", "--python", "-p", "--config-settings", "-C",
                      "--report", "--group"}
_ENV_ASSIGN = re.compile(
    r"(?:^|[\s;&|(])(?:export\s+|set\s+-[gUx]+\s+|setenv\s+|declare\s+-x\s+)?"
    r"(?P<key>" + "|".join(ENV_KINDS) + r")(?:\s*=\s*|\s+)(?P<q>['\"]?)(?P<value>[^'\"\s;]+)(?P=q)")
_INSTALL = re.compile(r"(?:^|[\s;&|!%(])(?:sudo\s+(?:-\S+\s+)*)?(?:\S*/)?(?:pip3?(?:\.\d+)?|python3?(?:\.\d+)?\s+-m\s+pip|"
                      r"uv\s+pip|uv|conda|mamba|micromamba|pipx|poetry)\s+(?:install|add|download|create)\b")


@dataclass(slots=True)
class IndexSetting:
    kind: str  # index | extra-index | find-links | trusted-host | channel | channel-alias | config-file
    url: str  # redacted
    origin: str  # pip.conf | requirements | project | shell-rc | history | ipython | process-env | condarc | conda-history
    path: str | None
    evidence: str
    user: str = ""
    when: datetime | None = None
    quality: TimestampQuality = TimestampQuality.FILE_TIME
    desc: str = "Config Modified"
    scope: str = "global"  # global | user:<name> | env:<prefix> | command | file | process:<pid>
    credential: str | None = None  # fingerprint of credentials removed from the URL
    text: str = ""  # the redacted line
    packages: list[str] = field(default_factory=list)  # for commands: what was installed

    @property
    def extra_source(self) -> bool:
        """A second place packages may come from, next to the primary index."""
        return self.kind in ("extra-index", "find-links")


@dataclass(slots=True)
class InstallCommand:
    tool: str
    packages: list[str]  # normalised names
    when: datetime | None
    quality: TimestampQuality
    user: str
    evidence: str
    cmdline: str  # redacted
    settings: list[IndexSetting] = field(default_factory=list)


@dataclass
class Provenance:
    settings: list[IndexSetting] = field(default_factory=list)
    commands: list[InstallCommand] = field(default_factory=list)
    problems: list[tuple[str, str, str]] = field(default_factory=list)  # (path, evidence, reason)


def _mtime(view: HostView, path: str) -> datetime | None:
    node = view.node(path)
    try:
        return from_epoch(node.mtime) if node.mtime is not None else None
    except (ValueError, OverflowError):
        return None


def make_setting(view: HostView, kind: str, value: str, origin: str, path: str | None, where: str,
             **kw: object) -> IndexSetting:
    url, cred = redact_url(value.strip())
    return IndexSetting(kind=kind, url=url, origin=origin, path=path,
                        evidence=view.evidence(path, where) if path else where, credential=cred, **kw)  # type: ignore[arg-type]


# -- pip.conf ---------------------------------------------------------------------------------

def pip_conf_scope(view: HostView, path: str) -> str:
    if path.startswith("/etc/"):
        return "global"
    user = view.user_for(path)
    if user and ("/.pip/" in path or "/.config/pip/" in path):
        return f"user:{user}"
    prefix = posixpath.dirname(path)
    if view.node(posixpath.join(prefix, "pyvenv.cfg")).kind != "missing" or \
            view.node(posixpath.join(prefix, "conda-meta")).kind == "dir":
        return f"env:{prefix}"
    return "file"


def parse_pip_conf(view: HostView, path: str, text: str) -> Iterator[IndexSetting]:
    """INI as pip reads it: sections, ``key = value``, indented continuation lines; keys may use
    ``_`` for ``-``. Written here rather than with configparser to keep line numbers."""
    scope = pip_conf_scope(view, path)
    user = view.user_for(path)
    when = _mtime(view, path)
    section = ""
    key: str | None = None
    for n, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", ";")):
            continue
        if stripped.startswith("[") and stripped.endswith("]"):
            section, key = stripped[1:-1].strip().lower(), None
            continue
        if line[:1].isspace() and key:
            values = stripped.split()
        else:
            k, sep, v = stripped.partition("=")
            if not sep:
                k, sep, v = stripped.partition(":")
            key = k.strip().lower().replace("_", "-") if sep else None
            values = v.split() if sep else []
        if key in PIP_KEYS and section in ("global", "install", "download", "wheel", ""):
            for value in values:
                yield make_setting(view, PIP_KEYS[key], value, "pip.conf", path, f"L{n}", user=user, when=when,
                               scope=scope, text=redact_text(stripped))


# -- requirements / project files -------------------------------------------------------------

def parse_requirements(view: HostView, path: str, text: str) -> Iterator[IndexSetting]:
    user = view.user_for(path)
    when = _mtime(view, path)
    for n, line in enumerate(text.splitlines(), 1):
        body = line.split(" #", 1)[0].strip()
        if not body.startswith("-"):
            continue
        try:
            tokens = shlex.split(body, comments=False)
        except ValueError:
            tokens = body.split()
        for kind, value in index_options(tokens):
            yield make_setting(view, kind, value, "requirements", path, f"L{n}", user=user, when=when,
                           desc="File Modified", scope="file", text=redact_text(body))


def index_options(tokens: list[str], conda: bool = False) -> Iterator[tuple[str, str]]:
    """(kind, value) for every index / channel option in a tokenised command or requirements line."""
    table = _CONDA_OPTS if conda else _PIP_INDEX_OPTS
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        opt, eq, val = tok.partition("=")
        if opt in table:
            if eq:
                yield table[opt], val
            elif i + 1 < len(tokens):
                yield table[opt], tokens[i + 1]
                i += 1
        elif not conda and len(tok) > 2 and tok[:2] in ("-i", "-f") and tok[1] != "-":
            yield table[tok[:2]], tok[2:]  # -ihttps://... (short option glued to its value)
        i += 1


def parse_project(view: HostView, path: str, data: bytes) -> Iterator[IndexSetting]:
    import tomllib

    base = posixpath.basename(path)
    try:
        doc = tomllib.loads(data.decode("utf-8", "replace"))
    except tomllib.TOMLDecodeError:
        return  # not ours to report: a broken pyproject says nothing about indexes
    user = view.user_for(path)
    when = _mtime(view, path)
    found: list[tuple[str, str, str]] = []
    if base == "Pipfile":
        for src in doc.get("source", []) if isinstance(doc.get("source"), list) else []:
            if isinstance(src, dict) and isinstance(src.get("url"), str):
                found.append(("index", src["url"], "source"))
    else:
        uv = doc if base == "uv.toml" else doc.get("tool", {}).get("uv", {}) if isinstance(doc.get("tool"), dict) else {}
        if isinstance(uv, dict):
            for idx in uv.get("index", []) if isinstance(uv.get("index"), list) else []:
                if isinstance(idx, dict) and isinstance(idx.get("url"), str):
                    found.append(("index" if idx.get("default") else "extra-index", idx["url"], "tool.uv.index"))
            for key, kind in (("index-url", "index"), ("extra-index-url", "extra-index"), ("find-links", "find-links")):
                val = uv.get(key)
                for v in (val if isinstance(val, list) else [val] if isinstance(val, str) else []):
                    if isinstance(v, str):
                        found.append((kind, v, f"tool.uv.{key}"))
        tool = doc.get("tool") if isinstance(doc.get("tool"), dict) else {}
        poetry = tool.get("poetry") if isinstance(tool.get("poetry"), dict) else {}
        for src in poetry.get("source", []) if isinstance(poetry.get("source"), list) else []:
            if isinstance(src, dict) and isinstance(src.get("url"), str):
                prio = str(src.get("priority", "primary" if src.get("default") else "supplemental"))
                found.append(("index" if prio in ("primary", "default") else "extra-index", src["url"],
                              "tool.poetry.source"))
    for kind, url, where in found:
        yield make_setting(view, kind, url, "project", path, where, user=user, when=when, desc="File Modified",
                       scope="file", text=f"{where} = {redact_url(url)[0]}")


# -- shell start-up files and environments ----------------------------------------------------

def parse_env_lines(view: HostView, path: str, text: str, origin: str) -> Iterator[IndexSetting]:
    user = view.user_for(path)
    when = _mtime(view, path)
    scope = f"user:{user}" if user else "global"
    for n, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("#"):
            continue
        for m in _ENV_ASSIGN.finditer(line):
            kind = ENV_KINDS[m.group("key")]
            for value in m.group("value").split():
                yield make_setting(view, kind, value, origin, path, f"L{n}", user=user, when=when, scope=scope,
                               text=redact_text(line.strip())[:500])


def process_settings(view: HostView, when: datetime | None) -> Iterator[IndexSetting]:
    for pid, name, env, evidence in view.process_environments():
        for key, kind in ENV_KINDS.items():
            value = env.get(key)
            if not value:
                continue
            for v in value.split():
                s = make_setting(view, kind, v, "process-env", None, evidence, when=when,
                             quality=TimestampQuality.ESTIMATED if when is None else TimestampQuality.EXACT,
                             desc="Process Observed", scope=f"process:{pid}",
                             text=f"{key}={redact_url(v)[0]} in {name or 'process'} (pid {pid})")
                yield s


# -- histories --------------------------------------------------------------------------------

def iter_history(text: str, kind: str) -> Iterator[tuple[int, str, float | None]]:
    """(line number, command, epoch or None) from bash / zsh extended / fish histories."""
    pending_time: float | None = None
    if kind == "fish":
        cmd: str | None = None
        cmd_line = 0
        for n, line in enumerate(text.splitlines(), 1):
            if line.startswith("- cmd: "):
                if cmd is not None:
                    yield cmd_line, cmd, pending_time
                cmd, cmd_line, pending_time = line[7:], n, None
            elif line.startswith("  when: ") and cmd is not None:
                try:
                    pending_time = float(line[8:].strip())
                except ValueError:
                    pending_time = None
        if cmd is not None:
            yield cmd_line, cmd, pending_time
        return
    zsh = re.compile(r"^: (\d+):\d+;(.*)$")
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith("#") and line[1:].strip().isdigit():
            pending_time = float(line[1:].strip())
            continue
        m = zsh.match(line)
        if m:
            yield n, m.group(2), float(m.group(1))
            pending_time = None
            continue
        if line.strip():
            yield n, line, pending_time
            pending_time = None


def parse_command(view: HostView, cmd: str, *, path: str, where: str, user: str, when: datetime | None,
                  quality: TimestampQuality, origin: str) -> tuple[InstallCommand | None, list[IndexSetting]]:
    """Index settings a command line sets, and the install it performs (if it is one)."""
    settings: list[IndexSetting] = []
    red = redact_text(cmd.strip())[:2000]
    common = dict(user=user, when=when, quality=quality, desc="Command Executed", text=red)
    for m in _ENV_ASSIGN.finditer(cmd):
        for value in m.group("value").split():
            settings.append(make_setting(view, ENV_KINDS[m.group("key")], value, origin, path, where,
                                     scope=f"user:{user}" if user else "command", **common))  # type: ignore[arg-type]
    cfg = re.search(r"pip3?\s+config\s+(?:--\S+\s+)*set\s+(?:global|install|user|site)\.([\w-]+)\s+(\S+)", cmd)
    if cfg and cfg.group(1).replace("_", "-") in PIP_KEYS:
        settings.append(make_setting(view, PIP_KEYS[cfg.group(1).replace("_", "-")], cfg.group(2).strip("'\""),
                                 origin, path, where, scope=f"user:{user}" if user else "global", **common))  # type: ignore[arg-type]
    m = _INSTALL.search(cmd)
    if not m:
        return None, settings
    rest = cmd[m.end():]
    rest = re.split(r"\s(?:&&|\|\||;|\|)\s", rest, maxsplit=1)[0]
    tool = m.group(0).strip().split()[0].lstrip("!%(;&|").rsplit("/", 1)[-1]
    is_conda = tool in ("conda", "mamba", "micromamba")
    try:
        tokens = shlex.split(rest, comments=True)
    except ValueError:
        tokens = rest.split()
    inline = list(index_options(tokens, conda=is_conda))
    with_arg = _CONDA_OPTS_WITH_ARG if is_conda else _PIP_OPTS_WITH_ARG | set(_PIP_INDEX_OPTS)
    packages: list[str] = []
    skip = False
    for tok in tokens:
        if skip:
            skip = False
            continue
        if tok.startswith("-"):
            skip = "=" not in tok and tok in with_arg
            continue
        nm = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)", tok)
        if nm and "://" not in tok and "/" not in tok:
            packages.append(normalize(nm.group(1)))
    ic = InstallCommand(tool=tool, packages=packages, when=when, quality=quality, user=user,
                        evidence=view.evidence(path, where), cmdline=red)
    for kind, value in inline:
        s = make_setting(view, kind, value, origin, path, where, scope="command", packages=packages,
                     **common)  # type: ignore[arg-type]
        settings.append(s)
        ic.settings.append(s)
    return ic, settings


def parse_history_file(view: HostView, path: str, text: str, prov: Provenance) -> None:
    user = view.user_for(path)
    kind = "fish" if posixpath.basename(path) == "fish_history" else "sh"
    file_time = _mtime(view, path)
    for n, cmd, epoch in iter_history(text, kind):
        if "pip" not in cmd and "uv" not in cmd and "conda" not in cmd and "mamba" not in cmd \
                and "INDEX" not in cmd and "poetry" not in cmd:
            continue
        when: datetime | None
        if epoch is not None:
            try:
                when, quality = from_epoch(epoch), TimestampQuality.EXACT
            except (ValueError, OverflowError):
                when, quality = file_time, TimestampQuality.FILE_TIME
        else:
            when, quality = file_time, TimestampQuality.FILE_TIME
        ic, settings = parse_command(view, cmd, path=path, where=f"L{n}", user=user, when=when,
                                     quality=quality, origin="history")
        prov.settings.extend(settings)
        if ic:
            prov.commands.append(ic)


def parse_ipython_history(view: HostView, path: str, data: bytes, prov: Provenance) -> None:
    """``!pip install`` / ``%pip install`` lines; read from an in-memory copy so the evidence file
    is never opened by SQLite (no -wal/-shm files, no locks)."""
    user = view.user_for(path)
    try:
        con = sqlite3.connect(":memory:")
        con.deserialize(data)
        rows = con.execute(
            "SELECT h.session, h.line, h.source_raw, s.start FROM history h "
            "LEFT JOIN sessions s ON s.session = h.session").fetchall()
    except (sqlite3.DatabaseError, OverflowError, ValueError) as exc:
        prov.problems.append((path, view.evidence(path), f"IPython history unreadable: {exc}"))
        return
    tz = view.tz
    for session, line, source, start in rows:
        if not isinstance(source, str) or "pip" not in source and "conda" not in source:
            continue
        when = None
        if isinstance(start, str):
            try:
                naive = datetime.fromisoformat(start)
                when = (naive if naive.tzinfo else naive.replace(tzinfo=tz or UTC)).astimezone(UTC)
            except ValueError:
                when = None
        for cmd in source.splitlines():
            if "pip" not in cmd and "conda" not in cmd:
                continue
            ic, settings = parse_command(view, cmd, path=path, where=f"history:session={session},line={line}",
                                         user=user, when=when, quality=TimestampQuality.ESTIMATED,
                                         origin="ipython")
            prov.settings.extend(settings)
            if ic:
                prov.commands.append(ic)


# -- conda ------------------------------------------------------------------------------------

def parse_condarc(view: HostView, path: str, data: bytes) -> Iterator[IndexSetting]:
    import yaml

    try:
        doc = yaml.safe_load(data.decode("utf-8", "replace"))
    except yaml.YAMLError:
        return
    if not isinstance(doc, dict):
        return
    user = view.user_for(path)
    when = _mtime(view, path)
    scope = f"user:{user}" if user else "global"
    for key, kind in (("channels", "channel"), ("default_channels", "channel")):
        vals = doc.get(key)
        if isinstance(vals, list):
            for v in vals:
                if isinstance(v, str):
                    yield make_setting(view, kind, v, "condarc", path, key, user=user, when=when, scope=scope,
                                   text=f"{key}: {redact_url(v)[0]}")
    alias = doc.get("channel_alias")
    if isinstance(alias, str):
        yield make_setting(view, "channel-alias", alias, "condarc", path, "channel_alias", user=user, when=when,
                       scope=scope, text=f"channel_alias: {redact_url(alias)[0]}")
    custom = doc.get("custom_channels")
    if isinstance(custom, dict):
        for name, url in custom.items():
            if isinstance(url, str):
                yield make_setting(view, "channel", f"{url.rstrip('/')}/{name}", "condarc", path,
                               f"custom_channels.{name}", user=user, when=when, scope=scope,
                               text=f"custom_channels: {name}: {redact_url(url)[0]}")


def collect(view: HostView, files: dict[str, list[str]], collected_at: datetime | None) -> Provenance:
    prov = Provenance()
    readers = {
        "pip_conf": lambda p, b: prov.settings.extend(parse_pip_conf(view, p, b.decode("utf-8", "replace"))),
        "requirements": lambda p, b: prov.settings.extend(parse_requirements(view, p, b.decode("utf-8", "replace"))),
        "project": lambda p, b: prov.settings.extend(parse_project(view, p, b)),
        "shell_rc": lambda p, b: prov.settings.extend(parse_env_lines(view, p, b.decode("utf-8", "replace"), "shell-rc")),
        "history": lambda p, b: parse_history_file(view, p, b.decode("utf-8", "replace"), prov),
        "ipython_history": lambda p, b: parse_ipython_history(view, p, b, prov),
        "condarc": lambda p, b: prov.settings.extend(parse_condarc(view, p, b)),
    }
    for kind, reader in readers.items():
        for path in sorted(set(files.get(kind, []))):
            try:
                data = view.read(path, 64 << 20)
            except ReadError as exc:
                prov.problems.append((path, view.evidence(path), str(exc)))
                continue
            try:
                reader(path, data)
            except (ValueError, TypeError, UnicodeError, RecursionError) as exc:
                prov.problems.append((path, view.evidence(path), f"{kind}: {exc}"))
    prov.settings.extend(process_settings(view, collected_at))
    return prov
