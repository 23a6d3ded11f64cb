"""Artifact definitions (schema, contract names) and the resolver shared by collector and parsers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from collector_helpers import write

from mlsleuth.artifacts import (
    DefinitionError,
    find_users,
    iter_targets,
    iter_units,
    load_definitions,
    parse_definition,
    parse_size,
    resolve,
)
from mlsleuth.artifacts.globs import match

# Parser names the parsers helper implements (the contract of issue 3).
CONTRACT_PARSERS = {
    "hf_cache", "remote_code_modules", "hf_token", "torch_hub", "keras_home", "ollama", "model_files",
    "notebook", "ipython_history", "ipython_startup", "jupyter_config", "jupyter_runtime", "bash_history",
    "zsh_history", "fish_history", "python_history", "shell_rc", "python_dist", "python_startup_hooks",
    "pip_config", "pip_log", "conda_history", "conda_meta", "conda_config", "netrc", "persistence",
    "watch_journal",
}


def by_name() -> dict[str, object]:
    return {d.name: d for d in load_definitions()}


def test_every_contract_parser_has_an_artifact() -> None:
    parsers = {d.parser for d in load_definitions() if d.parser}
    assert CONTRACT_PARSERS <= parsers
    assert parsers - CONTRACT_PARSERS == set()  # no parser name nobody implements


def test_unit_roots() -> None:
    defs = by_name()
    assert defs["hf_cache"].parse_unit == "root"
    assert defs["python_dist"].parse_unit == "root"
    assert defs["notebook"].parse_unit == "file"


def test_every_definition_documents_itself() -> None:
    for d in load_definitions():
        assert d.description and d.proves and d.timestamps and d.limits, d.name


def test_schema_rejects_mistakes() -> None:
    good = {"name": "x", "parser": "x", "locations": [".x"]}
    parse_definition(good)
    for bad in (
        {**good, "name": "Bad-Name"},
        {**good, "scope": "galaxy"},
        {**good, "locations": []},
        {**good, "locations": ["/abs"]},  # user scope must be relative
        {**good, "locations": [{"path": "/etc/x", "scope": "system", "env": ["1BAD"]}]},
        {**good, "locations": ["../escape"]},
        {**good, "size": {"copy_max": "lots"}},
        {**good, "size": {"large": "shred"}},
        {**good, "secrets": [{"match": "*", "handler": "nope"}]},
        {**good, "checks": ["astrology"]},
        {**good, "surprise": 1},
    ):
        with pytest.raises(DefinitionError):
            parse_definition(bad)


def test_parse_size() -> None:
    assert parse_size("64MiB") == 64 << 20 and parse_size("1GB") == 10**9 and parse_size(4096) == 4096
    with pytest.raises(ValueError):
        parse_size("-1")


@pytest.mark.parametrize("pattern,path,ok", [
    ("*.py", "a.py", True), ("*.py", "x/a.py", False), ("**/*.py", "a.py", True),
    ("**/*.py", "x/y/a.py", True), ("hub/**", "hub/x/y", True), ("*/**/*.py", "repo/a.py", True),
    ("*/**/*.py", "a.py", False), ("**/*.{pt,bin}", "m/a.bin", True), ("**/*.{pt,bin}", "a.pth", False),
    ("profile_*/history.sqlite", "profile_default/history.sqlite", True),
])
def test_globs(pattern: str, path: str, ok: bool) -> None:
    assert match(pattern, path) is ok


def test_users_from_passwd_home_and_root(tmp_path: Path) -> None:
    root = tmp_path / "r"
    write(root, "/etc/passwd", "root:x:0:0::/root:/bin/bash\nbin:x:2:2::/bin:/usr/sbin/nologin\n"
                               "ollama:x:998:998::/usr/share/ollama:/bin/false\nalice:x:1000:1000::/home/alice:/bin/bash\n")
    for d in ("root", "bin", "usr/share/ollama", "home/alice", "home/orphan"):
        (root / d).mkdir(parents=True)
    users = {u.name: u for u in find_users(root)}
    assert set(users) == {"root", "ollama", "alice", "orphan"}  # /bin is a system dir, not a home
    assert users["alice"].uid == 1000 and users["orphan"].from_passwd is False
    assert not users["ollama"].person and users["alice"].person


def test_targets_unpack_and_env_override_from_rc(host: Path) -> None:
    write(host, "/home/alice/.bashrc", "export HF_HOME=$HOME/../../data/hf\n")
    write(host, "/home/alice/.profile", 'export HF_HUB_CACHE="/srv/cache"\n')
    write(host, "/data/hf/hub/models--o--m/refs/main", "a" * 40)
    write(host, "/srv/cache/models--o--n/refs/main", "b" * 40)
    write(host, "/home/alice/.cache/huggingface/hub/models--o--p/refs/main", "c" * 40)
    seen = {}
    for artifact, host_path, user, local in resolve(host):
        assert local == host / host_path.lstrip("/")
        seen[host_path] = (artifact.name, user)
    assert seen["/data/hf/hub/models--o--m/refs/main"] == ("hf_cache", "alice")
    assert seen["/srv/cache/models--o--n/refs/main"] == ("hf_cache", "alice")
    assert seen["/home/alice/.cache/huggingface/hub/models--o--p/refs/main"] == ("hf_cache", "alice")
    units = {u.host_root for u in iter_units(host) if u.artifact.name == "hf_cache"}
    assert units == {"/data/hf/hub", "/srv/cache", "/home/alice/.cache/huggingface/hub"}


def test_given_env_values_are_used(host: Path) -> None:
    write(host, "/opt/models/torch/hub/checkpoints/r.pth", b"x")
    found = [t.host_path for t in iter_targets(host, env={"TORCH_HOME": ["/opt/models/torch"]})]
    assert "/opt/models/torch/hub/checkpoints/r.pth" in found


def test_symlinked_cache_is_followed_inside_root_only(host: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside-secret"
    outside.mkdir()
    (outside / "keras.json").write_text("OUTSIDE")
    write(host, "/data/cache/huggingface/hub/models--o--m/refs/main", "a" * 40)
    os.symlink("/data/cache", host / "home/alice/.cache")  # absolute: means <root>/data/cache
    os.symlink(str(outside), host / "home/alice/.keras")  # absolute path outside the root
    os.symlink("../../../../../../../../" + str(outside).lstrip("/"), host / "home/alice/.ollama")
    targets = list(iter_targets(host, kinds=("file", "symlink")))
    paths = {t.host_path: t for t in targets}
    assert "/data/cache/huggingface/hub/models--o--m/refs/main" in paths
    assert paths["/home/alice/.cache"].kind == "symlink"
    for t in targets:
        assert str(t.local_path).startswith(str(host)), t
        assert "outside-secret" not in t.host_path or t.kind == "symlink"


def test_sweep_finds_notebooks_models_and_venvs_but_skips_package_trees(host: Path) -> None:
    write(host, "/home/alice/proj/a.ipynb", "{}")
    write(host, "/home/alice/proj/.ipynb_checkpoints/a-checkpoint.ipynb", "{}")
    write(host, "/home/alice/proj/weights/model.safetensors", b"\0" * 16)
    write(host, "/home/alice/proj/.venv/pyvenv.cfg", "home = /usr/bin\n")
    write(host, "/home/alice/proj/.venv/lib/python3.11/site-packages/x-1.0.dist-info/METADATA", "Name: x\n")
    write(host, "/home/alice/proj/.venv/lib/python3.11/site-packages/x/evil.pt", b"\0")
    write(host, "/home/alice/proj/node_modules/pkg/model.onnx", b"\0")
    write(host, "/home/alice/.cache/huggingface/hub/models--o--m/blobs/" + "a" * 64, b"\0")
    got = {t.host_path: t.artifact.name for t in iter_targets(host)}
    assert got["/home/alice/proj/a.ipynb"] == "notebook"
    assert got["/home/alice/proj/.ipynb_checkpoints/a-checkpoint.ipynb"] == "notebook"
    assert got["/home/alice/proj/weights/model.safetensors"] == "model_files"
    assert got["/home/alice/proj/.venv/lib/python3.11/site-packages/x-1.0.dist-info/METADATA"] == "python_dist"
    assert "/home/alice/proj/node_modules/pkg/model.onnx" not in got
    # package trees are not swept for models; their files are hashed for RECORD checks instead
    assert got.get("/home/alice/proj/.venv/lib/python3.11/site-packages/x/evil.pt") == "python_package_files"
    # the HF blob is claimed by hf_cache (priority), not by the model sweep
    assert got["/home/alice/.cache/huggingface/hub/models--o--m/blobs/" + "a" * 64] == "hf_cache"


def test_conda_envs_from_environments_txt(host: Path) -> None:
    write(host, "/opt/envs/ml/conda-meta/history", "==> 2024-01-01 00:00:00 <==\n")
    write(host, "/opt/envs/ml/conda-meta/torch-2.1-py.json", "{}")
    write(host, "/home/alice/.conda/environments.txt", "/opt/envs/ml\n")
    got = {t.host_path: t.artifact.name for t in iter_targets(host)}
    assert got["/opt/envs/ml/conda-meta/history"] == "conda_history"
    assert got["/opt/envs/ml/conda-meta/torch-2.1-py.json"] == "conda_meta"


def test_each_path_claimed_once(host: Path) -> None:
    write(host, "/home/alice/.bash_history", "ls\n")
    paths = [t.host_path for t in iter_targets(host, env={"HISTFILE": ["/home/alice/.bash_history"]})]
    assert paths.count("/home/alice/.bash_history") == 1


def test_walk_bounds_are_reported(host: Path) -> None:
    for i in range(30):
        write(host, f"/home/alice/.ipython/profile_{i}/history.sqlite", b"")
    events: list[tuple[str, dict]] = []
    defs = [d for d in load_definitions(["ipython_history"])]
    import dataclasses

    from mlsleuth.artifacts import Walk

    small = dataclasses.replace(defs[0], walk=Walk(max_depth=2, max_entries=10))
    list(iter_targets(host, [small], on_event=lambda lvl, ev, **f: events.append((ev, f))))
    assert any(ev == "walk_bound" and "max_entries" in f["bound"] for ev, f in events)


def test_docs_list_every_artifact() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "artifacts.md").read_text(encoding="utf-8")
    from mlsleuth.artifacts.docs import render

    assert doc == render(load_definitions()), "regenerate: python -m mlsleuth.artifacts.docs > docs/artifacts.md"

