"""`mlsleuth osquery-extension` over osquery's real Thrift protocol.

The test plays osqueryd: it serves the ExtensionManager service (the osquery package's generated
Thrift code) on a UNIX socket, starts the extension as osqueryd's autoloader would (a child
process with --socket/--timeout/--interval), takes its registration, then calls the table
plugins on ``<socket>.<uuid>`` exactly as osqueryd does (``call("table", name, {"action":
"generate", "context": <JSON>})``) and checks the rows against the fixture host.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time

import pytest
from fleet_host import build_fleet_host

osquery = pytest.importorskip("osquery", reason="osquery (osquery-python) not installed")
from osquery.extensions import Extension, ExtensionManager  # noqa: E402
from osquery.extensions.ttypes import ExtensionResponse, ExtensionStatus  # noqa: E402
from thrift.protocol import TBinaryProtocol  # noqa: E402
from thrift.server import TServer  # noqa: E402
from thrift.transport import TSocket, TTransport  # noqa: E402


class FakeOsqueryd(ExtensionManager.Iface):
    """The extension manager side of osqueryd: registrations, pings, the options it hands out."""

    def __init__(self) -> None:
        self.registered = threading.Event()
        self.info = None
        self.registry: dict = {}
        self.pings = 0

    def ping(self):
        self.pings += 1
        return ExtensionStatus(code=0, message="OK")

    def call(self, registry, item, request):
        return ExtensionResponse(status=ExtensionStatus(code=1, message="core plugins not emulated"), response=[])

    def shutdown(self):
        return None

    def extensions(self):
        return {}

    def options(self):
        return {}

    def registerExtension(self, info, registry):
        self.info, self.registry = info, registry
        self.registered.set()
        return ExtensionStatus(code=0, message="OK", uuid=4242)

    def deregisterExtension(self, uuid):
        return ExtensionStatus(code=0, message="OK")

    def query(self, sql):
        return ExtensionResponse(status=ExtensionStatus(code=1, message="not emulated"), response=[])

    def getQueryColumns(self, sql):
        return self.query(sql)


def _serve_manager(path: str, handler: FakeOsqueryd) -> TServer.TThreadedServer:
    transport = TSocket.TServerSocket(unix_socket=path)
    server = TServer.TThreadedServer(ExtensionManager.Processor(handler), transport,
                                     TTransport.TBufferedTransportFactory(),
                                     TBinaryProtocol.TBinaryProtocolFactory(), daemon=True)
    threading.Thread(target=server.serve, daemon=True).start()
    deadline = time.monotonic() + 10
    while not os.path.exists(path):  # listening before the extension starts, as osqueryd is
        assert time.monotonic() < deadline, "manager socket never appeared"
        time.sleep(0.02)
    return server


def _client(path: str, wait: float = 20.0):
    deadline = time.monotonic() + wait
    while True:
        try:
            sock = TSocket.TSocket(unix_socket=path)
            trans = TTransport.TBufferedTransport(sock)
            trans.open()
            return trans, Extension.Client(TBinaryProtocol.TBinaryProtocol(trans))
        except TTransport.TTransportException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def ctx(cols=None, **equals) -> str:
    constraints = [{"name": k, "list": [{"op": 2, "expr": v}], "affinity": "TEXT"} for k, v in equals.items()]
    c: dict = {"constraints": constraints}
    if cols:
        c["colsUsed"] = cols
    return json.dumps(c)


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    root = tmp_path_factory.mktemp("ext-host") / "host"
    planted, extra, marker = build_fleet_host(root)
    sockdir = tempfile.mkdtemp(prefix="osq")  # UNIX socket paths are limited to 107 bytes
    sock = os.path.join(sockdir, "osquery.em")
    manager = FakeOsqueryd()
    server = _serve_manager(sock, manager)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    # osqueryd launches autoloaded extensions with --verbose first, then socket/timeout/interval
    proc = subprocess.Popen([sys.executable, "-m", "mlsleuth", "osquery-extension", "--verbose",
                             "--socket", sock, "--timeout", "5", "--interval", "1", "--root", str(root)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert manager.registered.wait(30), proc.stderr.read() if proc.poll() is not None else "no registration"
        trans, client = _client(f"{sock}.4242")
        yield {"client": client, "manager": manager, "proc": proc, "planted": planted, "extra": extra,
               "sock": sock}
        trans.close()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        server.serverTransport.close()
    assert not marker.exists(), "a model payload was executed"


def rows(running, table, context=None):
    resp = running["client"].call("table", table, {"action": "generate", "context": context or ctx()})
    assert resp.status.code == 0, resp.status.message
    return resp.response


def test_registers_three_tables_with_typed_columns(running):
    m = running["manager"]
    assert m.info.name == "mlsleuth"
    tables = m.registry["table"]
    assert set(tables) == {"ml_models", "ml_remote_code", "ml_findings"}
    cols = {c["name"]: c["type"] for c in tables["ml_models"]}
    assert cols["sha256"] == "TEXT" and cols["size"] == "INTEGER"
    resp = running["client"].call("table", "ml_models", {"action": "columns"})
    assert [c["name"] for c in resp.response] == [c["name"] for c in tables["ml_models"]]


def test_ml_models_rows_name_repo_revision_hash_and_verdict(running):
    planted = running["planted"]
    got = {(r["model_repo"], r["file"]): r for r in rows(running, "ml_models")}
    evil = next(r for r in planted.repos if r.repo_id == "meta-1lama/Llama-3.2-1B-Instruct")
    f = next(f for f in evil.files if f.path == "pytorch_model.bin")
    row = got[("models/meta-1lama/Llama-3.2-1B-Instruct", "pytorch_model.bin")]
    assert (row["path"], row["revision"], row["sha256"], row["blob_id"]) == (f.blob, evil.commit, f.oid, f.oid)
    assert row["verdict"] == "malicious" and row["sha256_matches_name"] == "1" and row["user"] == "alice"
    assert int(row["size"]) == f.size
    bert = got[("models/google-bert/bert-base-uncased", "model.safetensors")]
    assert bert["verdict"] == "clean"
    for repo in planted.repos:
        for rf in repo.files:
            assert (repo.model_repo, rf.path) in got
    caches = {r["cache"] for r in got.values()}
    assert caches == {"huggingface", "torch_hub", "keras", "ollama"}


def test_tampered_blob_and_weaponised_files_are_findings(running):
    x = running["extra"]
    findings = rows(running, "ml_findings")
    by_path: dict[str, set[str]] = {}
    for r in findings:
        by_path.setdefault(r["path"], set()).add(r["verdict"])
    assert "tampered" in by_path[x.tampered_blob]
    assert "malicious" in by_path[x.torch_evil] and "malicious" in by_path[x.keras_evil]
    bob_code = [p for p in running["planted"].remote_code if p.endswith("modeling_phi3.py")][0]
    assert by_path[bob_code] == {"suspicious"} and by_path[x.hubconf] == {"suspicious"}
    assert x.torch_checkpoints[0] not in by_path  # the benign resnet checkpoint
    assert not any("bert-base-uncased" in p for p in by_path)


def test_ml_remote_code_names_repo_and_risky_calls(running):
    code = {r["path"]: r for r in rows(running, "ml_remote_code")}
    phi = next(r for p, r in code.items() if p.endswith("modeling_phi3.py"))
    assert phi["model_repo"] == "models/tiny-random/phi3-custom" and len(phi["revision"]) == 40
    assert "exec" in phi["risky_calls"].split(",") and phi["kind"] == "transformers_modules"
    assert code[running["extra"].hubconf]["model_repo"] == "github/evil/vision"
    assert not any(p.endswith("__init__.py") for p in code)


def test_constraints_narrow_the_work(running):
    x = running["extra"]
    only = rows(running, "ml_models", ctx(["path", "sha256"], path=x.torch_evil))
    assert [r["path"] for r in only] == [x.torch_evil]
    assert only[0]["sha256"] == x.sha256[x.torch_evil]
    by_hash = rows(running, "ml_models", ctx(["path"], sha256=x.sha256[x.torch_evil]))
    # the same bytes sit in the nested decoy folder too: a hash pivot finds both copies
    assert {r["path"] for r in by_hash} == {x.torch_evil, x.decoys["torch_nested"]}


def test_unknown_table_and_bad_context_are_errors_not_crashes(running):
    resp = running["client"].call("table", "no_such_table", {"action": "generate"})
    assert resp.status.code == 1
    resp = running["client"].call("table", "ml_models", {"action": "generate", "context": "{not json"})
    assert resp.status.code == 1
    assert running["client"].ping().code == 0
    assert running["proc"].poll() is None


def test_pings_manager_and_leaves_on_shutdown(running):
    deadline = time.monotonic() + 10
    while running["manager"].pings < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert running["manager"].pings >= 1
    running["client"].shutdown()
    assert running["proc"].wait(15) == 0
    assert not os.path.exists(running["sock"] + ".4242")


def test_exits_with_error_when_no_osqueryd(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mlsleuth", "osquery-extension", "--socket",
                           str(tmp_path / "none.em"), "--timeout", "1", "--root", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "no osquery extension manager" in proc.stderr


def test_inventory_cache_rehashes_only_changed_files(tmp_path):
    from mlsleuth.collector.osquery_extension import Inventory

    root = tmp_path / "host"
    _, x, _ = build_fleet_host(root)
    clock = [0.0]
    inv = Inventory(root, ttl=60, clock=lambda: clock[0])
    first = {r["path"]: r["sha256"] for r in inv.model_rows()}
    hashed = inv.stats["hashed"]
    assert inv.model_rows() and inv.stats == {"walks": 1, "hashed": hashed, "inspected": inv.stats["inspected"]}
    p = root / x.torch_checkpoints[0].lstrip("/")
    p.write_bytes(p.read_bytes() + b"\x00")
    clock[0] = 61.0  # past the TTL: walk again, rehash only the changed file
    again = {r["path"]: r["sha256"] for r in inv.model_rows()}
    assert inv.stats["walks"] == 2 and inv.stats["hashed"] == hashed + 1
    assert again[x.torch_checkpoints[0]] != first[x.torch_checkpoints[0]]
    # columns not asked for are not computed
    inv2 = Inventory(root)
    inv2.model_rows({"colsUsed": ["path", "model_repo"]})
    assert inv2.stats["hashed"] == 0 and inv2.stats["inspected"] == 0
