"""Artifact definitions: what to collect, where, how big, and which parser reads it.

Each ``*.yaml`` file in this folder declares one artifact; adding an artifact is adding a file.
The schema (validated here, documented in docs/artifacts.md):

.. code-block:: yaml

    name: hf_cache                    # unique, also the manifest's "artifact"
    description: one line             # what the artifact is
    proves: what it shows an examiner # docs only
    timestamps: which times matter    # docs only
    limits: what it cannot show       # docs only
    parser: hf_cache                  # parser name in mlsleuth.parsers (null: collected, not parsed)
    parse_unit: file | root           # parser gets each file, or each resolved location root
    priority: 50                      # lower claims a file first when two artifacts reach it
    scope: user                       # default scope of the locations below:
                                      #   user      path relative to each home
                                      #   system    absolute path
                                      #   python_env / conda_env  relative to each Python / conda
                                      #             environment prefix the resolver finds
    locations:
      - path: .cache/huggingface/hub  # globs allowed per component (* ? [..] {a,b})
        env: [HF_HUB_CACHE, HF_HOME/hub]  # variables whose value (+ /suffix) is another place;
                                      # HISTFILE@zsh: only as set in zsh start-up files
        scope: system                 # optional, overrides the artifact's scope
        include: [...]                # optional, overrides the artifact's include/exclude/walk
      - sweep: true                   # user scope only: match `include` during the one shared
                                      # bounded walk of each home instead of walking a fixed path
    include: ["**"]                   # globs relative to the location root (files and symlinks)
    exclude: []                       # globs; a matching directory is not descended into
    walk: {max_depth: 12, max_entries: 200000}
    size: {copy_max: default, large: partial}   # default = --max-copy-size; large: hash|partial|skip
    secrets:                          # first matching rule wins, matched on the file name
      - {match: token, handler: whole}             # handlers: mlsleuth.redact.HANDLERS
    checks: [content_name]            # blobs named by their content hash are verified
    sqlite: false                     # copy SQLite databases with their -wal/-journal + snapshot

The resolver (:mod:`mlsleuth.artifacts.resolver`) turns definitions into files under a root; the
collector and ``parsers/evidence.py`` both use it, so a plain tree is read exactly as collected.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from mlsleuth.artifacts.globs import match as glob_match
from mlsleuth.redact import HANDLERS

DEFINITIONS_DIR = Path(__file__).parent
# libyaml's safe loader is ~20x faster than the pure-Python one (start-up time of every command).
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
SCOPES = ("user", "system", "python_env", "conda_env")
PARSE_UNITS = ("file", "root")
LARGE_ACTIONS = ("hash", "partial", "skip")
CHECKS = ("content_name",)
SHELLS = ("", "bash", "zsh", "fish")


class DefinitionError(ValueError):
    """An artifact definition that does not follow the schema (names the file and the field)."""


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3,
          "gb": 1000**3, "t": 1000**4, "tb": 1000**4, "ki": 1024, "kib": 1024, "mi": 1024**2,
          "mib": 1024**2, "gi": 1024**3, "gib": 1024**3, "ti": 1024**4, "tib": 1024**4}


def parse_size(value: str | int) -> int:
    """``"64MiB"`` -> 67108864; plain integers are bytes."""
    if isinstance(value, bool):
        raise ValueError(f"not a size: {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"negative size: {value}")
        return value
    m = _SIZE.match(str(value))
    if not m or (m.group(2) or "").lower() not in _UNITS:
        raise ValueError(f"not a size: {value!r} (use e.g. 64MiB, 1GB, 4096)")
    return int(float(m.group(1)) * _UNITS[(m.group(2) or "").lower()])


@dataclass(frozen=True, slots=True)
class Walk:
    max_depth: int = 16  # directory levels below the location root
    max_entries: int = 200_000  # directory entries looked at under one location root


@dataclass(frozen=True, slots=True)
class Location:
    path: str  # relative to the scope's base ("." = the base itself); absolute for system
    scope: str
    env: tuple[str, ...] = ()
    include: tuple[str, ...] | None = None
    exclude: tuple[str, ...] | None = None
    walk: Walk | None = None
    sweep: bool = False

    @staticmethod
    def split_env(spec: str) -> tuple[str, str]:
        """``"HF_HOME/hub"`` -> (``"HF_HOME"``, ``"hub"``); a ``@shell`` qualifier is dropped."""
        var, _, suffix = spec.partition("/")
        return var.partition("@")[0], suffix

    @staticmethod
    def env_shell(spec: str) -> str:
        """``"HISTFILE@zsh"`` -> ``"zsh"``: only values set in that shell's start-up files count."""
        return spec.partition("/")[0].partition("@")[2]


@dataclass(frozen=True, slots=True)
class SecretRule:
    match: str  # glob on the file name, or on the path below the location root if it holds '/'
    handler: str  # a key of mlsleuth.redact.HANDLERS


@dataclass(frozen=True, slots=True)
class SizePolicy:
    copy_max: int | None = None  # None: the collector's --max-copy-size
    large: str = "hash"  # what happens above copy_max: hash | partial | skip


@dataclass(frozen=True, slots=True)
class ArtifactDef:
    name: str
    description: str
    parser: str | None
    parse_unit: str
    scope: str
    locations: tuple[Location, ...]
    include: tuple[str, ...] = ("**",)
    exclude: tuple[str, ...] = ()
    walk: Walk = field(default_factory=Walk)
    size: SizePolicy = field(default_factory=SizePolicy)
    secrets: tuple[SecretRule, ...] = ()
    checks: tuple[str, ...] = ()
    sqlite: bool = False
    priority: int = 50
    proves: str = ""
    timestamps: str = ""
    limits: str = ""
    source_file: str = ""

    def include_for(self, loc: Location) -> tuple[str, ...]:
        return self.include if loc.include is None else loc.include

    def exclude_for(self, loc: Location) -> tuple[str, ...]:
        return self.exclude if loc.exclude is None else loc.exclude

    def walk_for(self, loc: Location) -> Walk:
        return loc.walk or self.walk

    def secret_handler(self, name: str, rel_path: str = "") -> str | None:
        """The redaction handler for a file (by name, or path below its location root)."""
        for rule in self.secrets:
            target = rel_path if "/" in rule.match and rel_path else name
            if glob_match(rule.match, target):
                return rule.handler
        return None


# -- loading ---------------------------------------------------------------------------------------

def _str_list(raw: Any, where: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if isinstance(raw, str):
        return (raw,)
    if not isinstance(raw, list) or not all(isinstance(x, str) and x for x in raw):
        raise DefinitionError(f"{where}: expected a list of strings, got {raw!r}")
    return tuple(raw)


def _walk(raw: Any, where: str) -> Walk | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) - {"max_depth", "max_entries"}:
        raise DefinitionError(f"{where}: walk takes max_depth and max_entries, got {raw!r}")
    values = {k: v for k, v in raw.items()}
    for k, v in values.items():
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise DefinitionError(f"{where}: walk.{k} must be a non-negative integer")
    return Walk(**values)


def _location(raw: Any, scope: str, where: str) -> Location:
    if isinstance(raw, str):
        raw = {"path": raw}
    if not isinstance(raw, dict):
        raise DefinitionError(f"{where}: a location is a path or a mapping, got {raw!r}")
    unknown = set(raw) - {"path", "scope", "env", "include", "exclude", "walk", "sweep"}
    if unknown:
        raise DefinitionError(f"{where}: unknown location keys {sorted(unknown)}")
    loc_scope = raw.get("scope", scope)
    if loc_scope not in SCOPES:
        raise DefinitionError(f"{where}: scope must be one of {SCOPES}, got {loc_scope!r}")
    sweep = bool(raw.get("sweep", False))
    path = raw.get("path", "." if sweep else None)
    if not isinstance(path, str) or not path:
        raise DefinitionError(f"{where}: location needs a path")
    if sweep and (loc_scope != "user" or path != "."):
        raise DefinitionError(f"{where}: sweep locations are user scope with path '.'")
    if loc_scope == "system" and not path.startswith("/"):
        raise DefinitionError(f"{where}: system path {path!r} must be absolute")
    if loc_scope != "system" and path.startswith("/"):
        raise DefinitionError(f"{where}: {loc_scope} path {path!r} must be relative")
    if ".." in path.split("/"):
        raise DefinitionError(f"{where}: '..' is not allowed in {path!r}")
    env = _str_list(raw.get("env"), f"{where}.env")
    for spec in env:
        var, suffix = Location.split_env(spec)
        if (not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", var) or ".." in suffix.split("/")
                or Location.env_shell(spec) not in SHELLS):
            raise DefinitionError(f"{where}: bad env override {spec!r} (VAR, VAR/sub/path, VAR@bash|zsh|fish)")
    return Location(
        path=path,
        scope=loc_scope,
        env=env,
        include=_str_list(raw["include"], f"{where}.include") if "include" in raw else None,
        exclude=_str_list(raw["exclude"], f"{where}.exclude") if "exclude" in raw else None,
        walk=_walk(raw.get("walk"), f"{where}.walk"),
        sweep=sweep,
    )


def _size(raw: Any, where: str) -> SizePolicy:
    if raw is None:
        return SizePolicy()
    if not isinstance(raw, dict) or set(raw) - {"copy_max", "large"}:
        raise DefinitionError(f"{where}: size takes copy_max and large, got {raw!r}")
    copy_max = raw.get("copy_max", "default")
    try:
        limit = None if copy_max in (None, "default") else parse_size(copy_max)
    except ValueError as exc:
        raise DefinitionError(f"{where}: {exc}") from None
    large = raw.get("large", "hash")
    if large not in LARGE_ACTIONS:
        raise DefinitionError(f"{where}: size.large must be one of {LARGE_ACTIONS}, got {large!r}")
    return SizePolicy(limit, large)


def _secrets(raw: Any, where: str) -> tuple[SecretRule, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise DefinitionError(f"{where}: secrets is a list of {{match, handler}}")
    rules = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or set(item) != {"match", "handler"}:
            raise DefinitionError(f"{where}[{i}]: a secret rule is {{match: glob, handler: name}}")
        if item["handler"] not in HANDLERS:
            raise DefinitionError(f"{where}[{i}]: unknown handler {item['handler']!r}; "
                                  f"known: {sorted(HANDLERS)}")
        rules.append(SecretRule(str(item["match"]), str(item["handler"])))
    return tuple(rules)


_KEYS = {"name", "description", "proves", "timestamps", "limits", "parser", "parse_unit", "priority",
         "scope", "locations", "include", "exclude", "walk", "size", "secrets", "checks", "sqlite"}


def parse_definition(doc: Any, source: str = "<memory>") -> ArtifactDef:
    """Validate one definition (the YAML document as loaded) into an :class:`ArtifactDef`."""
    if not isinstance(doc, dict):
        raise DefinitionError(f"{source}: not a mapping")
    unknown = set(doc) - _KEYS
    if unknown:
        raise DefinitionError(f"{source}: unknown keys {sorted(unknown)}")
    name = doc.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise DefinitionError(f"{source}: name must be lower_snake_case, got {name!r}")
    where = f"{source} ({name})"
    scope = doc.get("scope", "user")
    if scope not in SCOPES:
        raise DefinitionError(f"{where}: scope must be one of {SCOPES}")
    parse_unit = doc.get("parse_unit", "file")
    if parse_unit not in PARSE_UNITS:
        raise DefinitionError(f"{where}: parse_unit must be one of {PARSE_UNITS}")
    parser = doc.get("parser")
    if parser is not None and not isinstance(parser, str):
        raise DefinitionError(f"{where}: parser is a name or null")
    raw_locations = doc.get("locations")
    if not isinstance(raw_locations, list) or not raw_locations:
        raise DefinitionError(f"{where}: locations must be a non-empty list")
    locations = tuple(_location(r, scope, f"{where}.locations[{i}]") for i, r in enumerate(raw_locations))
    checks = _str_list(doc.get("checks"), f"{where}.checks")
    for check in checks:
        if check not in CHECKS:
            raise DefinitionError(f"{where}: unknown check {check!r}; known: {CHECKS}")
    priority = doc.get("priority", 50)
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise DefinitionError(f"{where}: priority must be an integer")
    return ArtifactDef(
        name=name,
        description=str(doc.get("description", "")).strip(),
        parser=parser,
        parse_unit=parse_unit,
        scope=scope,
        locations=locations,
        include=_str_list(doc.get("include", ["**"]), f"{where}.include"),
        exclude=_str_list(doc.get("exclude"), f"{where}.exclude"),
        walk=_walk(doc.get("walk"), f"{where}.walk") or Walk(),
        size=_size(doc.get("size"), f"{where}.size"),
        secrets=_secrets(doc.get("secrets"), f"{where}.secrets"),
        checks=checks,
        sqlite=bool(doc.get("sqlite", False)),
        priority=priority,
        proves=str(doc.get("proves", "")).strip(),
        timestamps=str(doc.get("timestamps", "")).strip(),
        limits=str(doc.get("limits", "")).strip(),
        source_file=source,
    )


def load_file(path: Path) -> ArtifactDef:
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)  # safe loaders only
    except yaml.YAMLError as exc:
        raise DefinitionError(f"{path.name}: not valid YAML: {exc}") from None
    definition = parse_definition(doc, path.name)
    if path.stem != definition.name:
        raise DefinitionError(f"{path.name}: file name must be {definition.name}.yaml")
    return definition


@lru_cache(maxsize=4)
def _load_dir(directory: Path) -> tuple[ArtifactDef, ...]:
    defs = [load_file(p) for p in sorted(directory.glob("*.yaml"))]
    return tuple(sorted(defs, key=lambda d: (d.priority, d.name)))


def load_definitions(names: Iterable[str] | None = None,
                     directory: Path | None = None) -> list[ArtifactDef]:
    """Every definition (or the named ones), ordered by priority then name."""
    defs = _load_dir(Path(directory or DEFINITIONS_DIR).resolve())
    if names is None:
        return list(defs)
    wanted = list(names)
    known = {d.name for d in defs}
    missing = [n for n in wanted if n not in known]
    if missing:
        raise DefinitionError(f"unknown artifacts {missing}; known: {sorted(known)}")
    return [d for d in defs if d.name in wanted]


def get_definition(name: str) -> ArtifactDef:
    return load_definitions([name])[0]


# The resolver is re-exported so callers need one import: `from mlsleuth.artifacts import ...`.
from mlsleuth.artifacts.resolver import (  # noqa: E402
    HomeUser,
    Resolver,
    Target,
    Unit,
    find_users,
    iter_targets,
    iter_units,
)

# Names other modules may reach for.
load_artifacts = load_definitions


def resolve(root: Path | str, definitions: Iterable[ArtifactDef] | None = None,
            **options: Any) -> Iterable[Target]:
    """``(artifact, host_path, user, local_path)`` of every file and symlink a collection of
    ``root`` takes (see :func:`iter_targets` for the options)."""
    return iter_targets(root, list(definitions) if definitions is not None else None,
                        kinds=options.pop("kinds", ("file", "symlink")), **options)


__all__ = [
    "ArtifactDef", "DefinitionError", "HomeUser", "Location", "Resolver", "SecretRule",
    "SizePolicy", "Target", "Unit", "Walk", "find_users", "get_definition", "iter_targets",
    "iter_units", "load_artifacts", "load_definitions", "parse_definition", "parse_size", "resolve",
]
