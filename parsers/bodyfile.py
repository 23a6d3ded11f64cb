"""``bodyfile.txt`` of an evidence archive: the TSK 3.x body file of every location the
collector saw (``MD5|name|inode|mode|UID|GID|size|atime|mtime|ctime|crtime``), as MACB FILE
events, one per non-zero time. Names may contain ``|``: the nine numeric fields are taken from
the right. A symlink's name carries `` -> target``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mlsleuth.parsers.filetimes import MACB
from mlsleuth.parsers.registry import register
from mlsleuth.parsers.source import ParseContext, Source
from mlsleuth.parsers.text import decode, iter_lines

from mlsleuth.events import Category, Event, TimestampQuality, from_epoch

_TIME_FIELDS = {"atime": 6, "mtime": 7, "ctime": 8, "btime": 9}  # index after the MD5 column


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value > 0 and value < 1 << 34 else None


@register("bodyfile")
def parse(src: Source, ctx: ParseContext) -> Iterator[Event]:
    users = _uid_names(ctx)
    bad = 0
    first_bad = 0
    with src.open() as fh:
        for number, raw, _ in iter_lines(fh):
            if not raw:
                continue
            line = decode(raw)
            md5, sep, rest = line.partition("|")
            fields = rest.rsplit("|", 9) if sep else []
            if len(fields) != 10:
                bad += 1
                first_bad = first_bad or number
                continue
            name = fields[0]
            link = None
            if " -> " in name:
                name, link = name.split(" -> ", 1)
            uid = fields[3]
            extra: dict[str, Any] = {"inode": fields[1], "mode": fields[2], "uid": uid, "gid": fields[4],
                                     "size": fields[5]}
            if link:
                extra["link_target"] = link
            for key, letter, desc in MACB:
                value = _number(fields[_TIME_FIELDS[key]])
                if value is None:
                    continue
                yield Event(timestamp=from_epoch(value), timestamp_desc=desc, source="bodyfile",
                            category=Category.FILE, message=f"{name} ({letter})",
                            timestamp_quality=TimestampQuality.EXACT, host=ctx.host,
                            user=users.get(uid, ""), evidence=f"{src.evidence_name}#L{number}",
                            file_path=name, extra={**extra, "macb": letter})
    if bad:
        yield src.error(ctx, f"{bad} line(s) not in bodyfile format (first at line {first_bad})")


def _uid_names(ctx: ParseContext) -> dict[str, str]:
    evidence = ctx.evidence
    users = evidence.host.get("users") if evidence is not None else None
    out: dict[str, str] = {}
    for user in users if isinstance(users, list) else []:
        if isinstance(user, dict) and user.get("uid") is not None and user.get("name"):
            out[str(user["uid"])] = str(user["name"])
    return out
