"""Shell start-up files (``.bashrc``, ``.profile``, ``.zshrc``, ``/etc/profile.d/*`` ...).

They run at every login or new shell, so the file's write is a PERSISTENCE event. Lines that
matter for an ML host are events of their own, at the file's mtime (inferred): environment that
redirects model or package downloads (``HF_ENDPOINT``, ``PIP_INDEX_URL``, ``HF_HOME`` ...) or
code loading (``PYTHONPATH``, ``PYTHONSTARTUP``, ``LD_PRELOAD``), aliases that shadow ``python``
or ``pip``, and the shapes of a dropper (``curl … | sh``, ``/dev/tcp/``, ``base64 -d``).
Secrets on those lines are fingerprinted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from mlsleuth.parsers.filetimes import best_file_time
from mlsleuth.parsers.registry import register
from mlsleuth.parsers.source import ParseContext, Source
from mlsleuth.parsers.text import decode, iter_lines, one_line

from mlsleuth.events import UNKNOWN_TIME, Category, Event, TimestampQuality
from mlsleuth.redact import redact_text, redact_url

ML_ENV = re.compile(
    r"^\s*(?:export\s+|set\s+-gx\s+|setenv\s+|declare\s+-x\s+)?"
    r"(?P<var>(?:HF|HUGGING_?FACE|TRANSFORMERS|DIFFUSERS|TORCH|KERAS|OLLAMA|PIP|UV|CONDA|PYTHON|LD|"
    r"CUDA|TFHUB|KAGGLE|WANDB|MLFLOW|OPENAI|JUPYTER|IPYTHON|REQUESTS|CURL|SSL)_?[A-Z0-9_]*|"
    r"https?_proxy|HTTPS?_PROXY|no_proxy|NO_PROXY|PATH)\s*[=\s]\s*(?P<value>.+?)\s*$")
ALIAS = re.compile(r"^\s*alias\s+(?P<name>python3?|pip3?|conda|jupyter|ipython|huggingface-cli|hf|sudo|ls|cd)"
                   r"\s*=\s*(?P<value>.+)$")
DROPPER = re.compile(r"(curl|wget)[^|#]*\|\s*(ba|z|da)?sh\b|/dev/(tcp|udp)/|base64\s+(-d|--decode)|"
                     r"\bnc\b[^#]*\s-e\s|python3?\s+-c\s+['\"].*(socket|urllib|exec)|mkfifo|chmod\s+\+x\s+/tmp/")


@register("shell_rc")
def parse(src: Source, ctx: ParseContext) -> Iterator[Event]:
    when, _ = best_file_time(src)
    quality = TimestampQuality.FILE_TIME if when else TimestampQuality.ESTIMATED
    notable = 0
    lines = 0
    with src.open() as fh:
        for number, raw, _ in iter_lines(fh):
            lines += 1
            line = decode(raw)
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            kind, category, extra = _classify(stripped)
            if kind is None:
                continue
            notable += 1
            shown, _found = redact_text(stripped)
            if "index_url" in extra:
                extra["index_url"] = redact_url(extra["index_url"])[0]
            yield src.event(ctx, timestamp=when or UNKNOWN_TIME, desc="Shell Config Line",
                            category=category, message=f"{src.host_path}:{number}: {kind}: {one_line(shown, 400)}",
                            quality=quality, loc=f"L{number}", cmdline=shown,
                            index_url=extra.pop("index_url", None), extra={"kind": kind, **extra})
    if when is not None:
        yield src.event(ctx, timestamp=when, desc="File Modified", category=Category.PERSISTENCE,
                        message=f"shell start-up file {src.host_path} written ({lines} lines, {notable} notable)",
                        extra={"lines": lines, "notable": notable, "macb": "m"})


def _classify(line: str) -> tuple[str | None, Category, dict]:
    if DROPPER.search(line):
        return "dropper-like command", Category.PERSISTENCE, {}
    match = ALIAS.match(line)
    if match:
        return f"alias {match.group('name')}", Category.PERSISTENCE, {"alias": match.group("name")}
    match = ML_ENV.match(line)
    if match:
        var = match.group("var")
        value = match.group("value").strip("\"'")
        extra: dict = {"variable": var}
        if var.upper() in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "UV_INDEX_URL", "UV_EXTRA_INDEX_URL",
                           "HF_ENDPOINT", "CONDA_CHANNEL_ALIAS"):
            extra["index_url"] = value
        category = Category.PERSISTENCE if var.upper() in ("LD_PRELOAD", "PYTHONSTARTUP", "PYTHONPATH") \
            else Category.CONFIG
        if var == "PATH" and not any(d in value for d in ("/tmp", "/dev/shm", "/var/tmp")):
            return None, Category.CONFIG, {}
        return f"sets {var}", category, extra
    return None, Category.CONFIG, {}
