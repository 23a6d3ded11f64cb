"""Judge pickle globals against the allowlist / dangerous list (data/pickle_globals.yaml)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from mlsleuth.parsers.models.result import Severity

DATA = Path(__file__).with_name("data") / "pickle_globals.yaml"


@dataclass(frozen=True)
class Judgement:
    allowed: bool
    severity: Severity | None
    rule: str  # the allow/deny entry that decided, or "default"
    reason: str
    qualname: str  # normalized module.name


@dataclass
class Policy:
    default: Severity
    aliases: dict[str, str]
    allow_exact: frozenset[str]
    allow_prefixes: tuple[str, ...]
    deny: dict[str, tuple[Severity, str]]
    _cache: dict[tuple[str, str], Judgement] = field(default_factory=dict, repr=False)

    def normalize(self, module: str, name: str) -> str:
        mod = module
        # longest alias first: "numpy.core.multiarray" -> "numpy._core.multiarray"
        for alias in sorted(self.aliases, key=len, reverse=True):
            if mod == alias or mod.startswith(alias + "."):
                mod = self.aliases[alias] + mod[len(alias):]
                break
        return f"{mod}.{name}" if name else mod

    def judge(self, module: str, name: str) -> Judgement:
        key = (module, name)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._judge(module, name)
            if len(self._cache) < 65536:
                self._cache[key] = hit
        return hit

    def _judge(self, module: str, name: str) -> Judgement:
        qual = self.normalize(module, name)
        if qual in self.allow_exact:
            return Judgement(True, None, qual, "allowlisted", qual)
        if qual in self.deny:
            sev, reason = self.deny[qual]
            return Judgement(False, sev, qual, reason, qual)
        best_deny = ""
        parts = qual.split(".")
        for i in range(len(parts) - 1, 0, -1):
            prefix = ".".join(parts[:i])
            if prefix in self.deny:
                best_deny = prefix
                break
        mod_part = qual[: len(qual) - len(name) - 1] if name else qual
        best_allow = ""
        if name and "." not in name:
            for prefix in self.allow_prefixes:
                if (mod_part + ".").startswith(prefix) and len(prefix) > len(best_allow):
                    best_allow = prefix
        if best_deny and len(best_deny) + 1 >= len(best_allow):
            sev, reason = self.deny[best_deny]
            return Judgement(False, sev, best_deny, reason, qual)
        if best_allow:
            return Judgement(True, None, best_allow, "allowlisted module", qual)
        return Judgement(False, self.default, "default", "not on the allowlist", qual)


def _load(path: Path) -> Policy:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~10x faster start-up
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 - safe loader
    deny: dict[str, tuple[Severity, str]] = {}
    for entry in data.get("deny", []):
        deny[entry["match"]] = (Severity.parse(entry["severity"]), entry.get("reason", ""))
    allow = data.get("allow", {})
    return Policy(
        default=Severity.parse(data.get("default_severity", "medium")),
        aliases=dict(data.get("aliases", {})),
        allow_exact=frozenset(allow.get("exact", [])),
        allow_prefixes=tuple(allow.get("modules", [])),
        deny=deny,
    )


@functools.cache
def policy() -> Policy:
    return _load(DATA)


def load_policy(path: Path) -> Policy:
    """A policy from another file (tests, site-specific allowlists)."""
    return _load(path)
