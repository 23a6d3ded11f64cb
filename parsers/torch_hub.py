"""``$TORCH_HOME/hub`` (default ``~/.cache/torch/hub``).

* ``checkpoints/<name>-<sha256 prefix>.pth``: weights from ``torch.hub.load_state_dict_from_url``
  (mtime = download end). torch checks the hex suffix against the content's sha256 when asked;
  a suffix that does not match the hash we have is reported as tampering.
* ``<owner>_<repo>_<ref>/``: a GitHub repo checkout whose ``hubconf.py`` ``torch.hub.load``
  imports: remote code, linked to ``github/<owner>/<repo>`` at ``<ref>``.
* ``trusted_list``: repos the user trusted (``trust_repo``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from mlsleuth.parsers.filetimes import best_file_time
from mlsleuth.parsers.model_files import model_file_events
from mlsleuth.parsers.pycode import summarize
from mlsleuth.parsers.registry import register
from mlsleuth.parsers.source import ContentUnavailable, ParseContext, Source
from mlsleuth.parsers.text import decode

from mlsleuth.events import UNKNOWN_TIME, Category, Event, TimestampQuality

_HASH_SUFFIX = re.compile(r"-([0-9a-f]{8,64})\.[A-Za-z0-9]+$")


def repo_of_dir(name: str) -> dict[str, str]:
    """``pytorch_vision_main`` -> owner/repo/ref (torch joins them with ``_``: best effort)."""
    pieces = name.split("_")
    if len(pieces) < 3:
        return {"dir": name}
    return {"dir": name, "owner": pieces[0], "repo": "_".join(pieces[1:-1]), "ref": pieces[-1]}


@register("torch_hub")
def parse(src: Source, ctx: ParseContext) -> Iterator[Event]:
    parts = src.host_path.split("/")
    if "hub" not in parts:
        yield from model_file_events(src, ctx, what="torch checkpoint")
        return
    inner = parts[len(parts) - 1 - parts[::-1].index("hub") + 1:]
    if not inner:
        return
    if inner[0] == "checkpoints":
        yield from _checkpoint(src, ctx)
    elif inner == ["trusted_list"]:
        yield from _trusted(src, ctx)
    elif len(inner) >= 2:
        yield from _repo_file(src, ctx, repo_of_dir(inner[0]), "/".join(inner[1:]))


def _checkpoint(src: Source, ctx: ParseContext) -> Iterator[Event]:
    yield from model_file_events(src, ctx, desc="Checkpoint Downloaded", what="torch hub checkpoint")
    match = _HASH_SUFFIX.search(src.name)
    actual = src.content_sha256()
    if match and actual and not actual.startswith(match.group(1)):
        when = src.mtime or UNKNOWN_TIME
        yield src.event(ctx, timestamp=when, desc="Tampered Checkpoint", category=Category.FINDING,
                        message=f"{src.host_path}: name says sha256 {match.group(1)}…, content is {actual[:12]}…",
                        quality=TimestampQuality.EXACT if src.mtime else TimestampQuality.ESTIMATED,
                        sha256=actual, verdict="suspicious",
                        extra={"rule": "torch_hub_hash_mismatch", "expected_prefix": match.group(1)})


def _trusted(src: Source, ctx: ParseContext) -> Iterator[Event]:
    when, _ = best_file_time(src)
    repos = [line.strip() for line in decode(src.read_bytes(1 << 20)).splitlines() if line.strip()]
    yield src.event(ctx, timestamp=when or UNKNOWN_TIME, desc="Config Modified", category=Category.CONFIG,
                    message=f"torch hub trusted repos: {', '.join(repos[:20]) or 'none'}",
                    quality=TimestampQuality.EXACT if when else TimestampQuality.ESTIMATED,
                    extra={"trusted_repos": repos[:200]})


def _repo_file(src: Source, ctx: ParseContext, repo: dict[str, str], rel: str) -> Iterator[Event]:
    if not rel.endswith(".py"):
        return  # docs, images, CI files of the checkout are not code that torch imports
    extra: dict[str, Any] = {**repo, "module_path": rel}
    try:
        extra["code"] = summarize(decode(src.read_bytes(4 << 20)))
    except ContentUnavailable as exc:
        extra["code"] = {"note": str(exc)}
    model_repo = f"github/{repo['owner']}/{repo['repo']}" if "owner" in repo else None
    when = src.mtime or UNKNOWN_TIME
    risky = extra["code"].get("risky") or []
    yield src.event(ctx, timestamp=when, desc="Remote Code Written", category=Category.REMOTE_CODE,
                    message=f"torch hub code from {model_repo or repo['dir']} written: {rel}"
                            + (f" (calls: {', '.join(risky[:5])})" if risky else ""),
                    quality=TimestampQuality.EXACT if src.mtime else TimestampQuality.ESTIMATED,
                    model_repo=model_repo, revision=repo.get("ref"), sha256=src.content_sha256(), extra=extra)
