"""Run osquery pack SQL without osquery: SQLite tables built from osquery's own Linux schemas.

What is emulated, and how faithfully (osquery commit of ../shared/osquery/linux_tables.json):

* Every Linux table exists with exactly its spec's columns (hidden ones too), so a query naming a
  column osquery lacks fails to prepare, as it would in osqueryi. Aliases (``yara``) are views.
* osquery's SQL functions the packs may use are registered with osquery's semantics
  (osquery/sql/sqlite_string.cpp): ``split`` (any-of tokens, empty parts dropped, trimmed),
  ``regex_split``, ``regex_match`` (search, group index, NULL when no match, 256-byte regex cap),
  ``concat``, ``concat_ws`` (NULLs skipped), ``inet_aton``. Any other function call must be one
  SQLite 3.x in osquery knows: the test checks calls against an allow-list.
* ``file``/``hash``/``yara`` generate rows from their ``path`` constraint. osquery turns a
  ``path LIKE`` pattern into a glob (``%`` -> ``*`` within one level, leading dot not matched;
  a trailing ``%%`` walks recursively; ``%%`` elsewhere is one level; ``_`` stays literal), lists
  what matches, and SQLite then re-checks the LIKE. Here the tables hold every file of the fixture
  host and each ``<alias>.path LIKE <expr>`` on those tables is rewritten to
  ``(<alias>.path LIKE <expr> AND osq_glob(<alias>.path, <expr>))``: the same intersection.
  A ``file``/``hash`` use without a path or directory constraint, or a ``yara`` use without a
  signature constraint, is reported (osquery would return nothing or an error).
* ``yara`` rows are computed with yara-python from packaging/yara for the sigfile the pack names.
* A fixture tree cannot carry a host's ctime; ``file.ctime`` is reported equal to mtime, as on
  the host the story describes. ``time`` holds one row at the given "now".
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import stat as statmod
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

OSQUERY_FUNCTIONS = {"split", "regex_split", "regex_match", "concat", "concat_ws", "inet_aton"}
# Core SQLite functions present in osquery's SQLite (3.4x), which the packs may call.
SQLITE_FUNCTIONS = {
    "abs", "coalesce", "count", "group_concat", "hex", "ifnull", "iif", "instr", "length", "like",
    "lower", "ltrim", "max", "min", "nullif", "printf", "quote", "replace", "round", "rtrim",
    "substr", "substring", "sum", "trim", "typeof", "upper", "datetime", "date", "strftime",
    "unixepoch", "json_extract", "cast", "avg", "total", "char", "unicode", "glob",
}
SQL_KEYWORDS_BEFORE_PAREN = {"in", "exists", "values", "as", "on", "using", "from", "join", "where",
                             "and", "or", "not", "select", "union", "all", "over", "filter", "when",
                             "then", "else", "case", "between", "is", "null"}
GENERATED = ("file", "hash", "yara_file", "yara")
REGEX_MAX = 256

_TYPES = {"TEXT": "TEXT", "INTEGER": "INTEGER", "BIGINT": "INTEGER", "UNSIGNED_BIGINT": "INTEGER",
          "DOUBLE": "REAL", "BLOB": "BLOB"}


# -- osquery's SQL functions ---------------------------------------------------------------------
def _split(value: Any, tokens: Any, index: Any) -> str | None:
    if value is None or tokens is None or index is None:
        return None
    if tokens == "":
        raise ValueError("Invalid input to split function")
    parts = [p.strip() for p in re.split("[" + re.escape(str(tokens)) + "]", str(value)) if p != ""]
    i = int(index)
    return parts[i] if 0 <= i < len(parts) else None


def _regex_split(value: Any, pattern: Any, index: Any) -> str | None:
    if value is None or pattern is None or index is None:
        return None
    if len(str(pattern).encode()) > REGEX_MAX:
        raise ValueError("Invalid regex: too big")
    parts = re.split(str(pattern), str(value))
    i = int(index)
    return parts[i] if 0 <= i < len(parts) else None


def _regex_match(value: Any, pattern: Any, index: Any) -> str | None:
    if value is None or pattern is None or index is None:
        return None
    if len(str(pattern).encode()) >= REGEX_MAX:
        raise ValueError(f"Invalid regex: too big, max size is {REGEX_MAX} bytes")
    m = re.search(str(pattern), str(value))
    if not m:
        return None
    i = int(index)
    if i > (m.re.groups):
        return None
    return m.group(i) if m.group(i) is not None else ""


def _concat(*args: Any) -> str:
    return "".join(str(a) for a in args if a is not None)


def _concat_ws(sep: Any, *args: Any) -> str:
    # osquery appends the separator after every argument but the last, NULLs skipped
    out = ""
    for i, a in enumerate(args):
        if a is None:
            continue
        out += str(a)
        if sep and i + 1 < len(args):
            out += str(sep)
    return out


def _inet_aton(addr: Any) -> int | None:
    import ipaddress

    if addr is None or ":" in str(addr):
        return None
    try:
        return int(ipaddress.IPv4Address(str(addr)))
    except ValueError:
        return None


def glob_regex(pattern: str) -> re.Pattern[str]:
    """Regex for the paths osquery's file table generates for ``path LIKE pattern``."""
    pat = pattern.replace("%", "*")
    recursive = pat.endswith("**")
    if recursive:
        pat = pat[:-1]  # osquery globs "<base>*" then walks every directory found
    parts = []
    for comp in pat.split("/"):
        rx = ""
        for i, ch in enumerate(comp):
            if ch == "*":
                rx += ("(?!\\.)" if i == 0 else "") + "[^/]*"
            else:
                rx += re.escape(ch)
        parts.append(rx)
    body = "/".join(parts)
    return re.compile("^" + body + ("(/.*)?" if recursive else "") + "$", re.DOTALL)


_GLOB_CACHE: dict[str, re.Pattern[str]] = {}


def _osq_glob(value: Any, pattern: Any) -> int:
    if value is None or pattern is None:
        return 0
    rx = _GLOB_CACHE.get(pattern)
    if rx is None:
        rx = _GLOB_CACHE[pattern] = glob_regex(str(pattern))
    return 1 if rx.match(str(value)) else 0


# -- query inspection ----------------------------------------------------------------------------
_STRING = r"'(?:[^']|'')*'"
_OPERAND = rf"(?:{_STRING}|[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)?)"
_RHS = rf"{_OPERAND}(?:\s*\|\|\s*{_OPERAND})*"


def branches(sql: str) -> list[str]:
    """The SELECTs of a compound query (split at top-level UNION [ALL], separators kept)."""
    out, depth, start, i, n = [], 0, 0, 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch == "'":
            i = sql.index("'", i + 1) + 1
            while i < n and sql[i] == "'":  # '' inside a literal
                i = sql.index("'", i + 1) + 1
            continue
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and (m := re.match(r"\bUNION(\s+ALL)?\b", sql[i:], re.IGNORECASE)) and (
                i == 0 or not (sql[i - 1].isalnum() or sql[i - 1] == "_")):
            out.append(sql[start:i])
            out.append(m.group(0))
            i += len(m.group(0))
            start = i
            continue
        i += 1
    out.append(sql[start:])
    return out


def generated_aliases(sql: str) -> dict[str, str]:
    """alias -> table for every FROM/JOIN of file, hash, yara, yara_file."""
    out = {}
    for m in re.finditer(r"\b(?:FROM|JOIN)\s+(file|hash|yara_file|yara)\b(?:\s+(?:AS\s+)?([A-Za-z_]\w*))?",
                         sql, re.IGNORECASE):
        alias = m.group(2)
        if alias is None or alias.upper() in {"WHERE", "ON", "USING", "CROSS", "JOIN", "LEFT", "INNER", "UNION"}:
            alias = m.group(1)
        out[alias] = m.group(1).lower()
    return out


def table_uses(sql: str) -> int:
    return len(re.findall(r"\b(?:FROM|JOIN)\s+(?:file|hash|yara_file|yara)\b", sql, re.IGNORECASE))


def constraint_problems(query: str) -> list[str]:
    """Uses of generated tables osquery could not satisfy (no path/directory/sig constraint)."""
    problems = []
    for sql in branches(query)[::2]:
        problems += _branch_problems(sql)
    return problems


def _branch_problems(sql: str) -> list[str]:
    problems = []
    aliases = generated_aliases(sql)
    if len(aliases) != table_uses(sql):
        problems.append("a generated table is used twice under one alias or without FROM/JOIN")
    for alias, table in aliases.items():
        a = re.escape(alias)
        if not re.search(rf"\b{a}\.(path|directory)\s*(=|LIKE\b)", sql, re.IGNORECASE):
            problems.append(f"{table} {alias}: no path/directory constraint")
        if table in ("yara", "yara_file") and not re.search(rf"\b{a}\.(sigfile|sig_group|sigrule|sigurl)\s*=", sql,
                                                             re.IGNORECASE):
            problems.append(f"{table} {alias}: no sigfile/sig_group/sigrule constraint")
        for m in re.finditer(rf"\b{a}\.(?:path|directory)\s+LIKE\s+({_RHS})", sql, re.IGNORECASE):
            if "{" in m.group(1):
                problems.append(f"{alias}: brace patterns are globbed by osquery but then fail SQLite's LIKE")
            lit = "".join(re.findall(_STRING, m.group(1)))
            if "%%" in lit.rstrip("'").rstrip("%").rstrip("'") and not lit.rstrip("'").endswith("%%"):
                problems.append(f"{alias}: %% only recurses at the end of a pattern")
        if re.search(rf"\b{a}\.directory\s+LIKE\b", sql, re.IGNORECASE):
            problems.append(f"{alias}: directory LIKE is not emulated")
    return problems


def rewrite_globs(query: str) -> str:
    parts = branches(query)
    return "".join(_rewrite_branch(p) if i % 2 == 0 else p for i, p in enumerate(parts))


def _rewrite_branch(sql: str) -> str:
    for alias in generated_aliases(sql):
        a = re.escape(alias)

        def repl(m: re.Match[str]) -> str:
            col, rhs = m.group(1), m.group(2)
            return f"({col} LIKE {rhs} AND osq_glob({col}, {rhs}))"

        sql = re.sub(rf"\b({a}\.path)\s+LIKE\s+({_RHS})", repl, sql, flags=re.IGNORECASE)
    return sql


def function_calls(sql: str) -> set[str]:
    no_strings = re.sub(_STRING, "''", sql)
    return {m.lower() for m in re.findall(r"\b([A-Za-z_]\w*)\s*\(", no_strings)} - SQL_KEYWORDS_BEFORE_PAREN


def regex_literals(sql: str) -> list[str]:
    return [m.group(1) for m in re.finditer(r"regex_(?:match|split)\([^,]+,\s*'((?:[^']|'')*)'", sql)]


# -- the database ----------------------------------------------------------------------------------
class OsqueryEmulator:
    def __init__(self, schema_path: Path, now: int):
        self.schema = json.loads(Path(schema_path).read_text())
        self.db = sqlite3.connect(":memory:")
        self.db.row_factory = sqlite3.Row
        for name, spec in self.schema.items():
            cols = ", ".join(f'"{c["name"]}" {_TYPES.get(c["type"], "TEXT")}' for c in spec["columns"])
            self.db.execute(f'CREATE TABLE "{name}" ({cols})')
        for name, spec in self.schema.items():
            for alias in spec.get("aliases") or []:
                self.db.execute(f'CREATE VIEW "{alias}" AS SELECT * FROM "{name}"')
        for fname, n, fn in (("split", 3, _split), ("regex_split", 3, _regex_split),
                             ("regex_match", 3, _regex_match), ("concat", -1, _concat),
                             ("concat_ws", -1, _concat_ws), ("inet_aton", 1, _inet_aton),
                             ("osq_glob", 2, _osq_glob)):
            self.db.create_function(fname, n, fn, deterministic=True)
        self.insert("time", [{"unix_time": now, "timestamp": str(now)}])

    def columns(self, table: str) -> list[str]:
        return [c["name"] for c in self.schema[table]["columns"]]

    def insert(self, table: str, rows: Iterable[dict[str, Any]]) -> None:
        cols = set(self.columns(table))
        for row in rows:
            unknown = set(row) - cols
            if unknown:
                raise KeyError(f"{table} has no column {sorted(unknown)}")
            keys = list(row)
            self.db.execute(f'INSERT INTO "{table}" ({", ".join(keys)}) VALUES ({", ".join("?" * len(keys))})',
                            [row[k] for k in keys])

    def query(self, sql: str) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.execute(rewrite_globs(sql))]

    def prepare(self, sql: str) -> None:
        """Raise sqlite3.OperationalError when a table, column or function does not exist."""
        self.db.execute("EXPLAIN " + rewrite_globs(sql)).fetchall()

    # -- filling from a host tree ------------------------------------------------------------------
    def load_tree(self, root: Path, sigfile: str | None = None, yara_rules: Path | None = None) -> None:
        rules = None
        if sigfile and yara_rules is not None:
            import yara

            rules = yara.compile(filepath=str(yara_rules))
        for host, local, lst in _walk(root):
            st, real = _stat_follow(root, local, lst)
            st = st or lst
            is_link = statmod.S_ISLNK(lst.st_mode)
            kind = _kind(st.st_mode)
            self.insert("file", [{
                "path": host, "directory": os.path.dirname(host) or "/", "filename": os.path.basename(host),
                "inode": st.st_ino, "uid": st.st_uid, "gid": st.st_gid, "mode": oct(statmod.S_IMODE(st.st_mode))[2:].zfill(4),
                "device": 0, "size": st.st_size, "block_size": 4096, "atime": int(st.st_atime),
                "mtime": int(st.st_mtime), "ctime": int(st.st_mtime), "btime": 0, "hard_links": st.st_nlink,
                "symlink": 1 if is_link else 0, "type": kind,
                "symlink_target_path": os.readlink(local) if is_link else None}])
            if kind != "regular":
                continue
            data = real.read_bytes()
            self.insert("hash", [{"path": host, "directory": os.path.dirname(host),
                                  "md5": hashlib.md5(data).hexdigest(), "sha1": hashlib.sha1(data).hexdigest(),
                                  "sha256": hashlib.sha256(data).hexdigest()}])
            if rules is not None:
                matches = rules.match(data=data)
                self.insert("yara_file", [{
                    "path": host, "matches": ",".join(m.rule for m in matches), "count": len(matches),
                    "sigfile": sigfile, "strings": "", "tags": ",".join(t for m in matches for t in m.tags)}])

    def load_users(self, root: Path) -> list[dict[str, Any]]:
        rows = []
        for line in (root / "etc" / "passwd").read_text().splitlines():
            f = line.split(":")
            if len(f) >= 7:
                rows.append({"username": f[0], "uid": int(f[2]), "gid": int(f[3]), "uid_signed": int(f[2]),
                             "gid_signed": int(f[3]), "description": f[4], "directory": f[5], "shell": f[6]})
        self.insert("users", rows)
        return rows

    def load_shell_history(self, root: Path, users: list[dict[str, Any]]) -> None:
        """bash (with and without #epoch lines) and zsh extended history, as osquery parses them."""
        for u in users:
            home = root / u["directory"].lstrip("/")
            for name in (".bash_history", ".zsh_history", ".sh_history", ".history"):
                p = home / name
                if not p.is_file():
                    continue
                host = f"{u['directory']}/{name}"
                t = 0
                for line in p.read_text(errors="replace").splitlines():
                    if m := re.fullmatch(r"#(\d{9,11})", line):
                        t = int(m[1])
                        continue
                    if m := re.match(r"^: (\d+):\d+;(.*)$", line):
                        self.insert("shell_history", [{"uid": u["uid"], "time": int(m[1]), "command": m[2],
                                                       "history_file": host}])
                        continue
                    if line.strip():
                        self.insert("shell_history", [{"uid": u["uid"], "time": t, "command": line,
                                                       "history_file": host}])
                        t = 0

    def load_authorized_keys(self, root: Path, users: list[dict[str, Any]]) -> None:
        for u in users:
            for name in ("authorized_keys", "authorized_keys2"):
                p = root / u["directory"].lstrip("/") / ".ssh" / name
                if not p.is_file():
                    continue
                for line in p.read_text().splitlines():
                    m = re.match(r"^(?:(\S+)\s+)?(ssh-\S+|ecdsa-\S+|sk-\S+)\s+(\S+)\s*(.*)$", line.strip())
                    if not m or line.lstrip().startswith("#"):
                        continue
                    self.insert("authorized_keys", [{"uid": u["uid"], "algorithm": m[2], "key": m[3],
                                                     "options": m[1] or "", "comment": m[4],
                                                     "key_file": f"{u['directory']}/.ssh/{name}"}])

    def load_crontabs(self, root: Path) -> None:
        """As osquery's crontab table: /etc/crontab, /etc/cron.d, /var/spool/cron[/crontabs]; five
        time fields then the rest as command (a system crontab's user stays in it)."""
        paths = [root / "etc/crontab"]
        for d in ("etc/cron.d", "var/spool/cron", "var/spool/cron/crontabs"):
            paths += sorted(p for p in (root / d).glob("*") if p.is_file())
        for p in paths:
            if not p.is_file():
                continue
            for line in p.read_text().splitlines():
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                row: dict[str, Any] = {"path": "/" + str(p.relative_to(root))}
                names = ["minute", "hour", "day_of_month", "month", "day_of_week"]
                toks = line.split()
                i = 0
                if toks[0].startswith("@"):
                    row["event"], toks, i = toks[0], toks[1:], 5
                for tok in toks:
                    if i < 5:
                        row[names[i]] = tok
                    elif i == 5:
                        row["command"] = tok
                    else:
                        row["command"] += " " + tok
                    i += 1
                if row.get("command"):
                    self.insert("crontab", [row])


def _walk(root: Path) -> Iterator[tuple[str, Path, os.stat_result]]:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            local = Path(dirpath) / name
            host = "/" + str(local.relative_to(root))
            yield host, local, local.lstat()


def _stat_follow(root: Path, p: Path, lst: os.stat_result) -> tuple[os.stat_result | None, Path]:
    """stat() as on the host: an absolute link target is resolved under the tree, never outside."""
    if not statmod.S_ISLNK(lst.st_mode):
        return lst, p
    target = os.readlink(p)
    dest = root / target.lstrip("/") if target.startswith("/") else p.parent / target
    try:
        resolved = dest.resolve()
        resolved.relative_to(root.resolve())
        return resolved.stat(), resolved
    except (OSError, ValueError, RuntimeError):
        return None, p


def _kind(mode: int) -> str:
    if statmod.S_ISREG(mode):
        return "regular"
    if statmod.S_ISDIR(mode):
        return "directory"
    if statmod.S_ISLNK(mode):
        return "symlink"
    return "unknown"
