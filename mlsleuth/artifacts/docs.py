"""Render docs/artifacts.md from the definitions, so the reference never drifts from the data.

    python -m mlsleuth.artifacts.docs > docs/artifacts.md
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from mlsleuth.artifacts import ArtifactDef, Location, load_definitions
from mlsleuth.artifacts.resolver import (
    RC_FILES_SYSTEM,
    RC_FILES_USER,
    SWEEP_PRUNE_NAMES,
    SWEEP_WALK_PERSON,
    SWEEP_WALK_SERVICE,
    SYSTEM_PYTHON_PREFIXES,
    USER_PYTHON_PREFIXES,
)

_SCOPE_TEXT = {
    "user": "each home (`~`)",
    "system": "absolute",
    "python_env": "each Python environment prefix",
    "conda_env": "each conda environment prefix",
}

HEADER = """# Artifact reference

Generated from `mlsleuth/artifacts/*.yaml` by `python -m mlsleuth.artifacts.docs > docs/artifacts.md`
(a test fails when this file and the definitions disagree). One YAML file per artifact; the schema
is in the docstring of `mlsleuth/artifacts/__init__.py`.

## How locations are resolved

The collector and the parsers (plain-tree input) use the same resolver
(`mlsleuth.artifacts.resolve(root)` / `iter_targets`, `iter_units`):

* **Homes**: every `/etc/passwd` account whose home exists under the root (system directories
  such as `/`, `/bin`, `/nonexistent` excluded; service homes such as `/usr/share/ollama` kept),
  plus `/home/*` and `/root`.
* **Environment overrides** add places, they never replace the defaults. Values come from the
  collector's own environment and every live process's environment (live root), and from
  `export VAR=value` lines of start-up files under the root ({rc_user} in homes;
  {rc_system}), so a cache moved to `/data/hf` is found on a dead box too. `$HOME` and `~` are
  expanded; other variables in a value are not guessed.
* **Symlinks** are resolved as a chroot would: an absolute target means `<root>/target`, `..`
  stops at the root. A walk never follows a symlink: links are recorded (`action: symlink`, the
  target as read) and stored as tar symlink members. Links crossed to reach a location root are
  recorded too.
* **The home sweep**: one bounded walk per home (depth {sweep_depth}, {sweep_entries} entries for
  people's homes; depth {svc_depth}, {svc_entries} for service homes) feeds every `sweep: true`
  location (notebooks, stray model files) and finds virtualenvs (`pyvenv.cfg`) and conda
  environments (`conda-meta/`). It does not enter {prune}, the internals of an environment it
  found, or any directory another artifact's location already covers.
* **Python environment prefixes** (`python_env` scope): {sys_prefixes}; in homes {user_prefixes};
  `envs/*` of every conda root; the entries of `~/.conda/environments.txt`; and the sweep's finds.
  `conda_env` scope: those of them holding `conda-meta/`.
* A host path is taken once, by the artifact with the lowest `priority`.

## Size policy, hashing and secrets

Every regular file is read once (O_NOATIME, never through a symlink, never a FIFO or device)
and SHA-256'd. Up to the artifact's copy limit (`default` = `--max-copy-size`, 64 MiB) it is
copied to `fs/<host path>`; above it, `large: hash` keeps hash and metadata (`action: hashed`),
`large: partial` also keeps the analysable parts the static model inspector extracts
(`parts/<host path>/<part>`, `action: partial`), `large: skip` records metadata only. Files that
changed while read are `failed`, never given a hash.

A `secrets` rule names a `mlsleuth.redact` handler (`whole`: the file is a secret; `text`: token
formats, URL credentials, `*_TOKEN=` assignments, auth headers, `--token` flags; `ini`: `text` plus
`password = ...` style lines; `json`: named keys such as a kernel's `key`; `netrc`;
`jupyter_config`). A copy with something taken out is `action: redacted` (its `sha256` is withheld,
`member_sha256` hashes the stored copy and `secrets` lists kind + fingerprint of each). Nothing is
redacted with `--include-secrets`.

`checks: [content_name]` verifies blobs named by their content hash (Hugging Face LFS
`blobs/<sha256>`, small files `blobs/<git blob sha1>`, Ollama `blobs/sha256-<hex>`); a mismatch
sets `tampered: true` and `content_check` in the manifest row and logs `content_mismatch`.

`sqlite: true` copies a database with its `-wal`/`-journal`/`-shm` raw and adds a consistent
snapshot made with SQLite's backup API from that copy (`parts/<db>/sqlite/backup.sqlite`).

"""


def _loc(d: ArtifactDef, loc: Location) -> str:
    if loc.sweep:
        where = "home sweep"
    else:
        where = f"`{loc.path}` ({_SCOPE_TEXT[loc.scope]})" if loc.scope != "system" else f"`{loc.path}`"
    bits = [where]
    if loc.env:
        bits.append("env: " + ", ".join(f"`${spec}`" for spec in loc.env))
    if loc.include is not None:
        bits.append("include " + ", ".join(f"`{p}`" for p in loc.include))
    return "; ".join(bits)


def _size(d: ArtifactDef) -> str:
    limit = "`--max-copy-size`" if d.size.copy_max is None else (
        "nothing (hash only)" if d.size.copy_max == 0 else _human(d.size.copy_max))
    return f"copy up to {limit}; larger: {d.size.large}"


def _human(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} bytes"


def render(definitions: Sequence[ArtifactDef]) -> str:
    out = [HEADER.format(
        rc_user=", ".join(f"`{f}`" for f in RC_FILES_USER),
        rc_system=", ".join(f"`{f}`" for f in RC_FILES_SYSTEM),
        sweep_depth=SWEEP_WALK_PERSON[0], sweep_entries=SWEEP_WALK_PERSON[1],
        svc_depth=SWEEP_WALK_SERVICE[0], svc_entries=SWEEP_WALK_SERVICE[1],
        prune=", ".join(f"`{n}`" for n in sorted(SWEEP_PRUNE_NAMES)),
        sys_prefixes=", ".join(f"`{p}`" for p in SYSTEM_PYTHON_PREFIXES),
        user_prefixes=", ".join(f"`~/{p}`" for p in USER_PYTHON_PREFIXES),
    )]
    out.append("## Artifacts\n")
    out.append("| artifact | parser (unit) | what |")
    out.append("|---|---|---|")
    for d in definitions:
        parser = f"`{d.parser}` ({d.parse_unit})" if d.parser else "none (bodyfile, hashes)"
        out.append(f"| [`{d.name}`](#{d.name}) | {parser} | {d.description} |")
    out.append("")
    for d in definitions:
        out.append(f"### {d.name}\n")
        out.append(f"{d.description}\n")
        out.append(f"* **parser**: {('`' + d.parser + '`') if d.parser else 'none'}, "
                   f"unit: {'each file' if d.parse_unit == 'file' else 'each resolved location root'}; "
                   f"priority {d.priority}")
        out.append("* **locations**:")
        for loc in d.locations:
            out.append(f"  * {_loc(d, loc)}")
        if d.include != ("**",):
            out.append("* **include**: " + ", ".join(f"`{p}`" for p in d.include))
        if d.exclude:
            out.append("* **exclude**: " + ", ".join(f"`{p}`" for p in d.exclude))
        out.append(f"* **walk**: depth {d.walk.max_depth}, {d.walk.max_entries} entries per location")
        out.append(f"* **size**: {_size(d)}")
        if d.secrets:
            out.append("* **secrets**: " + "; ".join(f"`{r.match}` -> {r.handler}" for r in d.secrets))
        if d.checks:
            out.append("* **checks**: " + ", ".join(d.checks))
        if d.sqlite:
            out.append("* **sqlite**: raw copy with -wal/-journal + backup-API snapshot")
        out.append(f"* **proves**: {d.proves}")
        out.append(f"* **timestamps**: {d.timestamps}")
        out.append(f"* **limits**: {d.limits}")
        out.append("")
    return "\n".join(out)


def main() -> int:
    sys.stdout.write(render(load_definitions()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
