"""pip's ``--log`` file (always written at debug level): which indexes were in force, which link
was chosen for each project, and what was installed when.

Lines look like ``2026-11-21T21:11:17,141 Looking in indexes: https://a/simple, https://b/simple``
(local time, pip's own ``%Y-%m-%dT%H:%M:%S,mmm`` format). One pip run is a session; a session's
``Successfully installed`` line names what the run installed, and its ``Found link`` /
``Downloading`` / ``Processing`` / ``Added ... to build tracker`` lines say from where.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from urllib.parse import unquote, urlsplit

from mlsleuth.parsers.packages.names import index_base, normalize, redact_url

from mlsleuth.events import TimestampQuality

_LINE = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:,(\d{1,6}))?\s(.*)$")
_FOUND = re.compile(r"Found link (\S+) \(from (\S+?)\)(?: \(requires-python:[^)]*\))?, version: (\S+)")
_CHOSEN = re.compile(r"^\s*(?:Downloading|Processing|Using cached|File was already downloaded)\s+(\S+)")
_TRACKER = re.compile(r"Added (.+?) from (\S+) to build tracker")
_WHEEL = re.compile(r"^(?P<name>[^-]+)-(?P<ver>[^-]+)(?:-\d[^-]*)?-[^-]+-[^-]+-[^-]+\.whl$")
_SDIST = re.compile(r"^(?P<name>.+)-(?P<ver>[^-]+?)\.(?:tar\.gz|tar\.bz2|tar\.xz|zip|tgz)$")
_WHAT = re.compile(r"^\s*(?:Collecting|Obtaining)\s+(.+)$")


@dataclass(slots=True)
class PipLogInstall:
    name: str
    version: str
    when: datetime | None
    quality: TimestampQuality
    line: int  # the "Successfully installed" line
    source_url: str | None = None  # redacted
    source_line: int | None = None
    index: str | None = None  # index base the file was found on (redacted)
    indexes: list[str] = field(default_factory=list)  # in force for the run (redacted)
    requested: bool | None = None  # a top-level requirement of the run (not "from" another)


@dataclass(slots=True)
class PipLogIndexes:
    when: datetime | None
    quality: TimestampQuality
    line: int
    indexes: list[str]
    links: list[str]


@dataclass
class PipLog:
    installs: list[PipLogInstall] = field(default_factory=list)
    index_lines: list[PipLogIndexes] = field(default_factory=list)
    lines: int = 0


def _filename_key(filename: str) -> tuple[str, str] | None:
    base = unquote(filename.rsplit("/", 1)[-1].split("#", 1)[0].split("?", 1)[0])
    m = _WHEEL.match(base) or _SDIST.match(base)
    if not m:
        return None
    return normalize(m.group("name")), m.group("ver").lower()


def _ver_key(version: str) -> str:
    return version.lower()


def parse_pip_log(text: str, tz: tzinfo | None) -> PipLog:
    out = PipLog()
    quality = TimestampQuality.EXACT if tz else TimestampQuality.ESTIMATED
    indexes: list[str] = []
    found: dict[tuple[str, str], tuple[str, str, int]] = {}  # (name, ver) -> (url, page, line)
    chosen: dict[tuple[str, str], tuple[str, int]] = {}
    top_level: set[str] = set()
    deps: set[str] = set()
    when: datetime | None = None
    for n, raw in enumerate(text.splitlines(), 1):
        out.lines = n
        m = _LINE.match(raw)
        if m:
            try:
                naive = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")
                frac = (m.group(2) or "0").ljust(6, "0")[:6]
                when = naive.replace(microsecond=int(frac), tzinfo=tz or UTC).astimezone(UTC)
            except ValueError:
                pass
            msg = m.group(3)
        else:
            msg = raw
        if msg.startswith("Using pip "):
            indexes, found, chosen, top_level, deps = [], {}, {}, set(), set()
            continue
        if msg.startswith("Looking in indexes:"):
            indexes = [redact_url(u.strip())[0] for u in msg.split(":", 1)[1].split(",") if u.strip()]
            out.index_lines.append(PipLogIndexes(when, quality, n, indexes, []))
            continue
        if msg.startswith("Looking in links:") and out.index_lines and out.index_lines[-1].line == n - 1:
            out.index_lines[-1].links = [u.strip() for u in msg.split(":", 1)[1].split(",") if u.strip()]
            continue
        fm = _FOUND.search(msg)
        if fm:
            key = _filename_key(fm.group(1))
            if key:
                found[key] = (fm.group(1), fm.group(2), n)
            continue
        tm = _TRACKER.search(msg)
        if tm:
            key = _filename_key(tm.group(2))
            if key:
                chosen[key] = (tm.group(2), n)
            continue
        cm = _CHOSEN.match(msg)
        if cm:
            key = _filename_key(cm.group(1))
            if key:
                chosen[key] = (cm.group(1), n)
            continue
        wm = _WHAT.match(msg)
        if wm:
            req = wm.group(1)
            name_m = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)", req)
            if name_m:
                (deps if "(from " in req and "(from -r" not in req else top_level).add(normalize(name_m.group(1)))
            continue
        if msg.startswith("Successfully installed "):
            for item in msg[len("Successfully installed "):].split():
                name, sep, version = item.rpartition("-")
                if not sep:
                    continue
                key = (normalize(name), _ver_key(version))
                inst = PipLogInstall(name=name, version=version, when=when, quality=quality, line=n,
                                     indexes=list(indexes))
                if key[0] in top_level:
                    inst.requested = True
                elif key[0] in deps:
                    inst.requested = False
                src = chosen.get(key)
                fnd = found.get(key)
                url = None
                if src and "://" in src[0]:
                    url, inst.source_line = src
                elif fnd:
                    url, inst.source_line = fnd[0], fnd[2]
                elif src:
                    url, inst.source_line = src
                if url:
                    inst.source_url = redact_url(url.split("#", 1)[0])[0]
                if fnd:
                    inst.index = _index_for(fnd[1], indexes)
                elif url and "://" in url:
                    inst.index = _index_for(url, indexes)
                out.installs.append(inst)
    return out


def _index_for(page: str, indexes: list[str]) -> str:
    """The configured index a project page or file URL belongs to (longest matching prefix)."""
    base = index_base(page)
    best, best_len = "", -1
    for idx in indexes:
        ib = index_base(idx)
        if (base == ib or base.startswith(ib + "/")) and len(ib) > best_len:
            best, best_len = idx.rstrip("/"), len(ib)
    if best:
        return best
    parts = urlsplit(base)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else base
