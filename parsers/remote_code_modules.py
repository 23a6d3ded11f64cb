"""Remote code copied out of Hub repos: ``$HF_HOME/modules/transformers_modules`` and
``datasets_modules``.

When remote code is trusted (the ``trust_remote_code`` flag), transformers copies a repo's ``*.py`` into
``transformers_modules/<org>/<name>/<commit>/`` (newer releases write ``-`` as ``_hyphen_`` and
``.`` as ``_dot_`` so the folder is an importable name), then imports it: the file's mtime is
when that repo's code landed on this host. datasets scripts go to
``datasets_modules/datasets/<org>--<name>/<script hash>/``. Each file is one event linked to the
repo and commit taken from its path, with a static summary of the code and the inspector's
verdict when it has one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from mlsleuth.parsers.pycode import summarize
from mlsleuth.parsers.registry import register
from mlsleuth.parsers.source import ContentUnavailable, ParseContext, Source
from mlsleuth.parsers.text import decode, loads_json
from mlsleuth.parsers.verdicts import inspect_source, verdict_events

from mlsleuth.events import UNKNOWN_TIME, Category, Event, TimestampQuality
from mlsleuth.redact import redact_url

_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_HASHLIKE = re.compile(r"^[0-9a-f]{16,64}$")
ROOTS = ("transformers_modules", "datasets_modules")


def unsanitize(name: str) -> str:
    return name.replace("_hyphen_", "-").replace("_dot_", ".")


def origin(host_path: str) -> dict[str, Any] | None:
    """Repo, revision and module path encoded in a modules-cache path."""
    parts = host_path.split("/")
    for root in ROOTS:
        if root in parts:
            rest = parts[parts.index(root) + 1:]
            break
    else:
        return None
    info: dict[str, Any] = {"cache": root, "module_path": "/".join(rest)}
    if root == "datasets_modules":
        if len(rest) >= 3 and rest[0] in ("datasets", "metrics"):
            repo = rest[1].replace("--", "/")
            info.update(model_repo=f"datasets/{repo}" if rest[0] == "datasets" else f"metrics/{repo}")
            if _HASHLIKE.match(rest[2]):
                info["script_hash"] = rest[2]
        return info
    for i, part in enumerate(rest):
        if _COMMIT.match(part):
            repo_parts = [unsanitize(p) for p in rest[:i]]
            if repo_parts and repo_parts != ["local"]:
                info["model_repo"] = "models/" + "/".join(repo_parts)
            elif repo_parts:
                info["local"] = True
            info["revision"] = part
            break
    return info


def torch_hub_origin(host_path: str) -> dict[str, Any] | None:
    """``.../torch/hub/<owner>_<repo>_<ref>/<file>.py`` -> github repo and ref."""
    parts = host_path.split("/")
    if "hub" not in parts:
        return None
    at = len(parts) - 1 - parts[::-1].index("hub")
    rest = parts[at + 1:]
    if len(rest) < 2 or rest[0] == "checkpoints":
        return None
    from mlsleuth.parsers.torch_hub import repo_of_dir

    repo = repo_of_dir(rest[0])
    info: dict[str, Any] = {"cache": "torch_hub", "module_path": "/".join(rest), "dir": rest[0]}
    if "owner" in repo:
        info.update(model_repo=f"github/{repo['owner']}/{repo['repo']}", revision=repo["ref"])
    return info


_HF_URL = re.compile(r"https?://[^/]+/(?:(datasets|spaces)/)?([^/]+/[^/]+?)/resolve/([^/]+)/")


def repo_of_url(url: str) -> tuple[str | None, str | None]:
    """``https://huggingface.co/datasets/org/name/resolve/<rev>/file`` -> ("datasets/org/name", rev)."""
    match = _HF_URL.match(url)
    if not match:
        return None, None
    kind = match.group(1) or "models"
    return f"{kind}/{match.group(2)}", match.group(3)


@register("remote_code_modules")
def parse(src: Source, ctx: ParseContext) -> Iterator[Event]:
    if "/datasets/" in src.host_path and "datasets_modules" not in src.host_path and src.name.endswith(".json"):
        yield from _datasets_json(src, ctx)
        return
    info = origin(src.host_path) or torch_hub_origin(src.host_path) or {"module_path": src.name}
    extra: dict[str, Any] = {k: v for k, v in info.items() if k not in ("model_repo", "revision")}
    is_init = src.name == "__init__.py"
    extra["init_file"] = is_init
    if src.name.endswith(".py"):
        try:
            extra["code"] = summarize(decode(src.read_bytes(4 << 20)))
        except ContentUnavailable as exc:
            extra["code"] = {"note": str(exc)}
    result = inspect_source(src, ctx, name=src.name) if not is_init else None
    verdict = result["verdict"] if result else None
    repo = info.get("model_repo")
    what = f"code from {repo}@{str(info.get('revision', ''))[:12] or '?'}" if repo else "remote code"
    when = src.mtime or src.ctime
    risky = extra.get("code", {}).get("risky") or []
    yield src.event(ctx, timestamp=when or UNKNOWN_TIME, desc="Remote Code Written",
                    category=Category.REMOTE_CODE,
                    message=f"{what} written: {info.get('module_path')}"
                            + (f" (calls: {', '.join(risky[:5])})" if risky else ""),
                    quality=TimestampQuality.EXACT if when else TimestampQuality.ESTIMATED,
                    model_repo=repo, revision=info.get("revision"), sha256=src.content_sha256(), verdict=verdict,
                    extra=extra)
    if result:
        yield from verdict_events(src, ctx, result=result, model_repo=repo, revision=info.get("revision"))


def _datasets_json(src: Source, ctx: ParseContext) -> Iterator[Event]:
    """datasets cache metadata: ``downloads/<hash>.json`` (the URL a file was fetched from) and
    ``dataset_info.json`` of a prepared dataset (builder, config, and the URLs it was built from)."""
    try:
        data = loads_json(src.read_bytes(16 << 20))
    except ValueError as exc:
        yield src.error(ctx, f"not JSON: {exc}")
        return
    if not isinstance(data, dict):
        return
    when = src.mtime or UNKNOWN_TIME
    quality = TimestampQuality.EXACT if src.mtime else TimestampQuality.ESTIMATED
    if src.name == "dataset_info.json":
        urls = list((data.get("download_checksums") or {}).keys()) if isinstance(
            data.get("download_checksums"), dict) else []
        repo, revision = next(((r, v) for r, v in map(repo_of_url, urls) if r), (None, None))
        name = data.get("dataset_name") or data.get("builder_name") or "?"
        yield src.event(ctx, timestamp=when, desc="Dataset Prepared", category=Category.MODEL_DOWNLOAD,
                        message=f"dataset {name} (config {data.get('config_name', '?')}) prepared"
                                + (f" from {repo}" if repo else ""),
                        quality=quality, model_repo=repo, revision=revision,
                        extra={"builder": data.get("builder_name"), "config": data.get("config_name"),
                               "version": str(data.get("version", {}).get("version_str", ""))
                               if isinstance(data.get("version"), dict) else None,
                               "urls": [redact_url(u)[0] for u in urls[:50]]})
        return
    url = data.get("url")
    if not isinstance(url, str):
        return
    clean = redact_url(url)[0]
    repo, revision = repo_of_url(clean)
    yield src.event(ctx, timestamp=when, desc="Dataset File Downloaded", category=Category.MODEL_DOWNLOAD,
                    message=f"datasets downloaded {clean}", quality=quality, model_repo=repo, revision=revision,
                    extra={"url": clean, "etag": data.get("etag")})
