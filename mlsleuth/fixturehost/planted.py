"""What a fixture host holds: the ground truth tests of the collector, parsers and timeline assert.

Every value here is derived from what the builder actually wrote (the writers return their
counts), so a count can only drift from the files if a writer lies, which tests/test_fixturehost.py
checks by re-reading the files independently.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from mlsleuth.events import iso

# Keys of Planted.counts, in the order docs/fixture-host.md lists them.
COUNT_KEYS: tuple[str, ...] = (
    "bash_commands_with_epoch",  # bash entries preceded by a #<epoch> line
    "bash_commands_without_epoch",  # bash entries in files without any timestamp
    "zsh_commands",  # zsh extended-history entries (a multi-line command counts once)
    "fish_commands",
    "python_history_lines",
    "ipython_sessions",
    "ipython_sessions_unclosed",  # sessions with end NULL (kernel still running / crash)
    "ipython_input_lines",
    "notebooks",  # .ipynb files outside .ipynb_checkpoints
    "notebook_checkpoints",
    "notebook_cells",  # all cells of the notebooks (checkpoints not counted)
    "notebook_code_cells",
    "notebook_executed_cells",  # code cells with an execution_count
    "distributions",  # *.dist-info folders
    "hf_repos",
    "hf_revisions",  # snapshot folders
    "hf_files",  # snapshot entries (symlinks to blobs)
    "hf_blobs",  # complete blobs
    "hf_incomplete",  # blobs/*.incomplete
    "hf_no_exist",  # .no_exist/<commit>/<file> probes
    "hf_locks",  # .locks/<repo folder>/<oid>.lock
    "remote_code_files",  # every file under $HF_HOME/modules (incl. __init__.py)
    "remote_code_modules",  # the code files among them (not __init__.py)
    "persistence_files",  # authorized_keys, crontabs, systemd units (symlinks to units excluded)
    "secrets",
)


@dataclass
class User:
    name: str
    uid: int
    gid: int
    home: str
    shell: str


@dataclass
class Step:
    """One planted step of a chain, as the timeline should report it."""

    time: datetime  # UTC; for an estimated step, the true time the story placed it at
    kind: str  # "origin" | "load" | "follow-on"
    path: str  # host path of the evidence
    hint: str  # where in that file the fact is (line, row, cell, blob mtime ...)
    user: str
    essential: bool = True  # must be linked; False: corroborating evidence that may be linked
    time_quality: str = "exact"  # as mlsleuth.events.TimestampQuality values
    bounds: tuple[datetime, datetime] | None = None  # for estimated times: what a parser can know
    model_repo: str | None = None  # "models/org/name"
    revision: str | None = None
    sha256: str | None = None
    package: str | None = None
    version: str | None = None


@dataclass
class Chain:
    id: str
    user: str
    summary: str
    model_repo: str | None
    steps: list[Step]

    def essential_steps(self) -> list[Step]:
        return [s for s in self.steps if s.essential]


@dataclass
class Decoy:
    """Something near a chain in time that must NOT be linked to it."""

    id: str
    user: str
    time: datetime
    paths: list[str]  # host paths that belong to the decoy alone (never a chain step's path)
    reason: str
    hint: str = ""  # where else it shows (a history line in a file that chains also use)
    model_repo: str | None = None
    package: str | None = None


@dataclass
class Secret:
    kind: str  # hf_token / pip_index_password / jupyter_kernel_key
    path: str  # host path
    value: str  # must appear nowhere in a redacted archive


@dataclass
class RepoFile:
    path: str  # path inside the repo ("1_Pooling/config.json")
    oid: str  # blob name: sha256 (LFS) or git blob sha1
    lfs: bool
    size: int
    blob: str  # host path of the blob
    snapshot: str  # host path of the snapshot symlink
    link_target: str  # the relative target the symlink holds
    mtime: datetime


@dataclass
class Repo:
    user: str
    cache: str  # host path of the hub cache
    repo_type: str  # model / dataset / space
    repo_id: str
    folder: str  # host path of models--org--name
    commit: str
    refs: dict[str, str]
    files: list[RepoFile]
    no_exist: list[str] = field(default_factory=list)  # host paths
    incomplete: list[str] = field(default_factory=list)  # host paths
    locks: list[str] = field(default_factory=list)  # host paths

    @property
    def model_repo(self) -> str:
        return f"{self.repo_type}s/{self.repo_id}"


@dataclass
class Distribution:
    user: str
    site_packages: str  # host path
    name: str
    version: str
    dist_info: str  # host path
    installed: datetime
    installer: str
    requested: bool
    direct_url: dict[str, Any] | None
    files: list[str]  # RECORD paths as written in RECORD
    index_url: str | None = None  # the index the story says it came from


@dataclass
class HistoryFile:
    """One history file and how many entries a parser must find in it."""

    kind: str  # bash / zsh / fish / python / ipython
    user: str
    path: str
    entries: int
    timestamped: int  # entries with their own time (bash #epoch, zsh, fish)


@dataclass
class Planted:
    variant: str
    root: Path
    hostname: str
    timezone: str
    users: list[User]
    counts: dict[str, int]
    chains: list[Chain]
    decoys: list[Decoy]
    secrets: list[Secret]
    repos: list[Repo]
    distributions: list[Distribution]
    histories: list[HistoryFile]
    notebooks: list[str]  # host paths (checkpoints excluded)
    persistence: list[str]  # host paths counted in counts["persistence_files"]
    remote_code: list[str]  # host paths of every file under $HF_HOME/modules
    collection_time: datetime  # every planted time is before this

    def host_path(self, local: Path | str) -> str:
        """'/home/alice/x' for root/'home/alice/x'."""
        return "/" + Path(local).relative_to(self.root).as_posix()

    def local(self, host_path: str) -> Path:
        """The file under root for a host path."""
        return self.root / host_path.lstrip("/")

    def chain(self, chain_id: str) -> Chain:
        for c in self.chains:
            if c.id == chain_id:
                return c
        raise KeyError(chain_id)

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
