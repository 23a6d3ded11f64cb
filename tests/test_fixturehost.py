"""The fixture host: real layouts, exact ground truth, reproducible, and nothing in it ever runs.

Every check re-reads the written files independently of the builder's own bookkeeping, so a
count in Planted that drifts from the files fails here.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import os
import pickletools
import re
import sqlite3
import subprocess
import sys
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import nbformat
import pytest

from mlsleuth.fixturehost import VARIANTS, build_host, distinfo, ipython, write_demo
from mlsleuth.fixturehost.planted import COUNT_KEYS, Planted
from mlsleuth.fixturehost.tree import Tree, when

HEX40 = re.compile(r"^[0-9a-f]{40}$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture(scope="module", params=VARIANTS)
def host(request, tmp_path_factory) -> Planted:
    return build_host(tmp_path_factory.mktemp(request.param) / "root", request.param)


@pytest.fixture(scope="module")
def rich(tmp_path_factory) -> Planted:
    return build_host(tmp_path_factory.mktemp("rich1") / "root", "rich")


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_symlink() or p.is_file())


def _git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _dt(ns: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ns // 1000)


# -- basics -----------------------------------------------------------------------------------
def test_build_is_fast_and_json_able(tmp_path):
    start = time.perf_counter()
    planted = build_host(tmp_path / "a", "rich")
    elapsed = time.perf_counter() - start
    # the budget is 2 s on an idle machine; leave room for a shared CI box
    assert elapsed < 10, f"build_host took {elapsed:.2f}s"
    data = json.loads(json.dumps(planted.to_dict()))
    assert data["hostname"] == "ml-ws-01" and data["timezone"] == "Europe/Berlin"
    assert set(data["counts"]) == set(COUNT_KEYS)
    assert data["chains"][0]["steps"][0]["time"].endswith("+00:00")


def test_refuses_nonempty_root_and_unknown_variant(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep").write_text("mine")
    with pytest.raises(FileExistsError):
        build_host(tmp_path / "x")
    with pytest.raises(ValueError, match="variant"):
        build_host(tmp_path / "y", "fancy")


def test_write_demo_is_the_basic_host(tmp_path):
    planted = write_demo(tmp_path / "demo")
    assert planted.variant == "basic"
    assert [c.id for c in planted.chains] == ["alice-meta-1lama-pickle"]


def test_system_files(host):
    root = host.root
    assert (root / "etc/hostname").read_text() == "ml-ws-01\n"
    assert (root / "etc/timezone").read_text() == "Europe/Berlin\n"
    passwd = {line.split(":")[0]: line.split(":") for line in (root / "etc/passwd").read_text().splitlines()}
    assert passwd["alice"][2:4] == ["1000", "1000"] and passwd["alice"][5] == "/home/alice"
    assert passwd["bob"][2:4] == ["1001", "1001"] and passwd["bob"][5] == "/home/bob"
    assert [(u.name, u.uid, u.home) for u in host.users] == [("alice", 1000, "/home/alice"),
                                                            ("bob", 1001, "/home/bob")]
    assert "deploy:S3cr3tPass@pypi.internal.example" in (root / "etc/pip.conf").read_text()


# -- Hugging Face cache --------------------------------------------------------------------------
def test_hf_cache_layout(host):
    for repo in host.repos:
        folder = host.local(repo.folder)
        assert folder.name == "models--" + repo.repo_id.replace("/", "--")
        assert (folder / "refs" / "main").read_bytes() == repo.commit.encode()  # no newline
        assert HEX40.match(repo.commit)
        snap = folder / "snapshots" / repo.commit
        for f in repo.files:
            link = snap / f.path
            assert link.is_symlink()
            target = os.readlink(link)
            assert not target.startswith("/") and target == f.link_target
            resolved = link.resolve()
            assert resolved.is_relative_to(folder.resolve() / "blobs")
            data = resolved.read_bytes()
            if f.lfs:
                assert HEX64.match(resolved.name) and hashlib.sha256(data).hexdigest() == resolved.name
            else:
                assert HEX40.match(resolved.name) and _git_sha1(data) == resolved.name
            assert resolved.name == f.oid and len(data) == f.size
            assert host.local(f.blob).stat().st_mtime_ns // 1000 == int(f.mtime.timestamp() * 1e6)
        for probe in repo.no_exist:
            assert host.local(probe).read_bytes() == b"" and f"/.no_exist/{repo.commit}/" in probe
        for partial in repo.incomplete:
            name = Path(partial).name
            assert name.endswith(".incomplete") and HEX64.match(name.removesuffix(".incomplete"))
            assert host.local(partial).stat().st_size > 0


def test_hf_cache_scanner_agrees(host):
    huggingface_hub = pytest.importorskip("huggingface_hub")
    for cache in sorted({r.cache for r in host.repos}):
        info = huggingface_hub.scan_cache_dir(host.local(cache))
        assert not info.warnings
        want = {(r.repo_id, r.commit, len(r.files)) for r in host.repos if r.cache == cache}
        got = {(r.repo_id, rev.commit_hash, len(rev.files)) for r in info.repos for rev in r.revisions}
        assert got == want


def test_bert_is_real_layout_with_probe_and_partial(host):
    bert = next(r for r in host.repos if r.repo_id == "google-bert/bert-base-uncased")
    by_path = {f.path: f for f in bert.files}
    assert not by_path["config.json"].lfs and by_path["model.safetensors"].lfs
    assert [Path(p).name for p in bert.no_exist] == ["adapter_config.json"]
    assert by_path["model.safetensors"].mtime.strftime("%Y-%m-%d %H:%M") == "2026-11-10 08:55"
    data = host.local(by_path["model.safetensors"].blob).read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    assert (8 + n) % 8 == 0 and header["__metadata__"] == {"format": "pt"}
    end = max(v["data_offsets"][1] for k, v in header.items() if k != "__metadata__")
    assert len(data) == 8 + n + end
    assert len(bert.incomplete) == 1


def test_malicious_checkpoint_is_a_torch_zip_with_reduce_first(host):
    chain = host.chain("alice-meta-1lama-pickle")
    blob = host.local(chain.steps[1].path)
    assert blob.parent.name == "blobs" and hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name
    with zipfile.ZipFile(blob) as z:
        names = z.namelist()
        assert names[0].endswith("/data.pkl") and any(n.endswith("/data/0") for n in names)
        assert z.testzip() is None
        data = z.read(names[0])
    ops = [(op.name, arg) for op, arg, _ in pickletools.genops(data)]  # static: never unpickled
    assert ops[1] == ("GLOBAL", "posix system")
    reduce_at = next(i for i, (name, _) in enumerate(ops) if name == "REDUCE")
    assert "authorized_keys" in ops[2][1] and "203.0.113.7" in ops[2][1]
    later = [arg for _, arg in ops[reduce_at:]]
    assert "collections OrderedDict" in later and "torch._utils _rebuild_tensor_v2" in later
    assert "torch FloatStorage" in later
    assert chain.steps[1].time == when("2026-11-10 09:14:09.600")
    files = {f.path: f for f in next(r for r in host.repos if r.repo_id.startswith("meta-1lama")).files}
    times = sorted(f.mtime for f in files.values())
    assert when("2026-11-10 09:14:05") <= times[0] and times[-1] <= when("2026-11-10 09:14:10")


# -- histories -------------------------------------------------------------------------------------
def _epoch_lines(text: str) -> list[tuple[int, str]]:
    lines = text.splitlines()
    return [(int(lines[i][1:]), lines[i + 1]) for i in range(len(lines) - 1) if re.fullmatch(r"#\d+", lines[i])]


def test_shell_histories(host):
    root = host.root
    alice = _epoch_lines((root / "home/alice/.bash_history").read_text())
    assert (1794302043, "huggingface-cli download meta-1lama/Llama-3.2-1B-Instruct") in alice
    jupyter = next(t for t, c in alice if c == "jupyter lab --no-browser")
    assert jupyter < 1794302043
    bob_bash = (root / "home/bob/.bash_history").read_text()
    assert not any(line.startswith("#") for line in bob_bash.splitlines())
    zsh = (root / "home/bob/.zsh_history").read_text()
    assert re.search(r"^: \d+:\d+;docker run --rm \\\n  -v .*\\\n  alpine ls /data$", zsh, re.M)
    fish = (root / "home/alice/.local/share/fish/fish_history").read_text()
    assert fish.startswith("- cmd: ") and "  when: " in fish
    assert (root / "home/alice/.python_history").read_text().splitlines()[0] == "import huggingface_hub"


def test_ipython_history_is_readable_and_local_time(host):
    db = sqlite3.connect(host.local("/home/alice/.ipython/profile_default/history.sqlite"))
    tables = {name: sql for name, sql in db.execute("SELECT name, sql FROM sqlite_master WHERE type='table'")}
    assert {"sessions", "history", "output_history"} <= set(tables)
    sessions = db.execute("SELECT session, start, end, num_cmds FROM sessions ORDER BY session").fetchall()
    assert len(sessions) == 2
    (s1, start1, end1, n1), (s2, start2, end2, n2) = sessions
    # start: naive local (Berlin, UTC+1 in November); end: UTC with its offset (IPython 9)
    assert start1 == "2026-11-10 09:53:20.412337"
    assert datetime.fromisoformat(start1).replace(tzinfo=BERLIN) == when("2026-11-10 08:53:20.412337")
    assert end1 == "2026-11-10 09:01:05.118201+00:00" and n1 == 5
    assert end2 is None and n2 is None
    lines = db.execute("SELECT line, source, source_raw FROM history WHERE session=2 ORDER BY line").fetchall()
    assert [line for line, _, _ in lines] == [1, 2, 3, 4, 5]
    assert "meta-1lama/Llama-3.2-1B-Instruct" in lines[1][1]
    assert lines[2][2].startswith("!ls") and lines[2][1].startswith("get_ipython().system(")


def test_ipython_shell_escape_is_what_ipython_makes_of_it(host):
    tm = pytest.importorskip("IPython.core.inputtransformer2")
    db = sqlite3.connect(host.local("/home/alice/.ipython/profile_default/history.sqlite"))
    for source, raw in db.execute("SELECT source, source_raw FROM history"):
        assert tm.TransformerManager().transform_cell(raw).rstrip("\n") == source


def test_ipython_fallback_writes_the_same_bytes(tmp_path):
    pytest.importorskip("IPython")
    sessions = [
        ipython.Session(when("2026-11-10 08:00:00.5"), when("2026-11-10 08:05:00.25"), [("a = 1",) * 2, ("a",) * 2]),
        ipython.Session(when("2026-11-10 09:00:00.75"), None, [("get_ipython().system('id')", "!id")]),
    ]
    assert ipython.write_history(tmp_path / "ip.sqlite", sessions, BERLIN).startswith("IPython ")
    assert ipython.write_history(tmp_path / "sq.sqlite", sessions, BERLIN, use_ipython=False) == "sqlite3"
    assert (tmp_path / "ip.sqlite").read_bytes() == (tmp_path / "sq.sqlite").read_bytes()


# -- notebooks -------------------------------------------------------------------------------------
def test_notebook_and_checkpoint(host):
    nb = nbformat.read(host.local("/home/alice/work/eval.ipynb"), as_version=4)
    cp = nbformat.read(host.local("/home/alice/work/.ipynb_checkpoints/eval-checkpoint.ipynb"), as_version=4)
    nbformat.validate(nb)
    nbformat.validate(cp)
    sources = [c.source for c in nb.cells]
    assert "from transformers import AutoModelForCausalLM, AutoTokenizer" in sources[1]
    load = next(c for c in nb.cells if 'AutoModelForCausalLM.from_' in c.source and "1lama" in c.source)
    assert load.metadata.execution["iopub.execute_input"] == "2026-11-10T09:19:30.412000Z"
    assert set(load.metadata.execution) == {"iopub.status.busy", "iopub.execute_input",
                                            "shell.execute_reply.started", "shell.execute_reply",
                                            "iopub.status.idle"}
    assert any(o.output_type == "stream" for o in load.outputs)
    deleted = [c for c in cp.cells if c.get("id") not in {x.get("id") for x in nb.cells}]
    assert len(deleted) == 1 and deleted[0].execution_count == 3 and deleted[0].outputs
    counts = [c.execution_count for c in nb.cells if c.cell_type == "code" and c.execution_count]
    assert counts == [1, 2, 4, 5]  # the gap is the deleted cell


# -- packages ----------------------------------------------------------------------------------------
def _b64(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")


def test_record_matches_files(host):
    for dist in host.distributions:
        site = host.local(dist.site_packages)
        info = host.local(dist.dist_info)
        raw = (info / "RECORD").read_bytes()
        assert raw.endswith(b"\r\n")
        rows = list(csv.reader(raw.decode().splitlines()))
        assert [r[0] for r in rows] == sorted(r[0] for r in rows) == dist.files
        for path, digest, size in rows:
            if path == f"{info.name}/RECORD":
                assert digest == size == ""
                continue
            data = (site / path).read_bytes()
            assert digest == _b64(data) and int(size) == len(data), path
        listed = {os.path.normpath(site / r[0]) for r in rows}
        for top in {r[0].split("/")[0] for r in rows if not r[0].startswith("..")}:
            for f in (site / top).rglob("*"):
                if f.is_file():
                    assert str(f) in listed, f"{f} not in RECORD"
        assert (info / "INSTALLER").read_bytes() == b"pip\n"
        assert (info / "REQUESTED").exists() == dist.requested
        assert dist.installed < when("2026-11-10 12:00:00")
    peft = next(d for d in host.distributions if d.name == "peft")
    direct = json.loads((host.local(peft.dist_info) / "direct_url.json").read_text())
    assert direct["vcs_info"]["vcs"] == "git" and direct["url"].endswith("peft.git")
    assert all(d.installed.date().isoformat() == "2026-11-09" for d in host.distributions
               if d.name in ("peft", "filelock", "fsspec", "huggingface-hub"))


@pytest.mark.parametrize("name", ["_HUB_CLI", "_PEFT", "_FILELOCK", "_GPU_AGENT"])
def test_dist_info_is_what_pip_installs(tmp_path, name):
    """Install the same wheel with pip's own installer and compare every byte."""
    wheel_mod = pytest.importorskip("pip._internal.operations.install.wheel")
    from pip._internal.models.direct_url import DirectUrl
    from pip._internal.models.scheme import Scheme

    from mlsleuth.fixturehost import story

    d: distinfo.Dist = getattr(story, name)
    wheel = tmp_path / f"{d.normalized}-{d.version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for path, data in distinfo.wheel_files(d).items():
            z.writestr(path, data)
    pip_root = tmp_path / "pip" / "x"
    site = pip_root / "lib/python3.11/site-packages"
    scheme = Scheme(platlib=str(site), purelib=str(site), headers=str(pip_root / "include"),
                    scripts=str(pip_root / "bin"), data=str(pip_root))
    direct = DirectUrl.from_dict(d.direct_url) if d.direct_url else None
    wheel_mod.install_wheel(d.name, str(wheel), scheme, "fixture", pycompile=False, warn_script_location=False,
                            direct_url=direct, requested=d.requested, script_executable="/usr/bin/python3")
    tree = Tree(tmp_path / "ours")
    distinfo.install(tree, d, user="u", site_packages="/x/lib/python3.11/site-packages", bin_dir="/x/bin",
                     installed=when("2026-11-09 14:00:00"))
    ours_root = tmp_path / "ours" / "x"
    theirs = {p.relative_to(pip_root): p.read_bytes() for p in _files(pip_root)}
    ours = {p.relative_to(ours_root): p.read_bytes() for p in _files(ours_root)}
    assert ours == theirs


# -- ground truth --------------------------------------------------------------------------------------
def _count_from_files(host: Planted) -> dict[str, int]:
    root = host.root
    c = dict.fromkeys(COUNT_KEYS, 0)
    for hist in (root / "home").glob("*/.bash_history"):
        entries = _epoch_lines(hist.read_text())
        if entries:
            c["bash_commands_with_epoch"] += len(entries)
        else:
            c["bash_commands_without_epoch"] += len(hist.read_text().splitlines())
    for hist in (root / "home").glob("*/.zsh_history"):
        c["zsh_commands"] += len(re.findall(r"^: \d+:\d+;", hist.read_text(), re.M))
    for hist in (root / "home").glob("*/.local/share/fish/fish_history"):
        c["fish_commands"] += hist.read_text().count("- cmd: ")
    for hist in (root / "home").glob("*/.python_history"):
        c["python_history_lines"] += len(hist.read_text().splitlines())
    for hist in (root / "home").glob("*/.ipython/profile_*/history.sqlite"):
        db = sqlite3.connect(hist)
        c["ipython_sessions"] += db.execute("SELECT count(*) FROM sessions").fetchone()[0]
        c["ipython_sessions_unclosed"] += db.execute("SELECT count(*) FROM sessions WHERE end IS NULL").fetchone()[0]
        c["ipython_input_lines"] += db.execute("SELECT count(*) FROM history").fetchone()[0]
        db.close()
    for nb_path in (root / "home").rglob("*.ipynb"):
        if ".ipynb_checkpoints" in nb_path.parts:
            c["notebook_checkpoints"] += 1
            continue
        nb = nbformat.read(nb_path, as_version=4)
        c["notebooks"] += 1
        c["notebook_cells"] += len(nb.cells)
        c["notebook_code_cells"] += sum(x.cell_type == "code" for x in nb.cells)
        c["notebook_executed_cells"] += sum(x.cell_type == "code" and x.execution_count is not None
                                            for x in nb.cells)
    c["distributions"] = len(list((root / "home").glob("*/.local/lib/python3.*/site-packages/*.dist-info")))
    repos = list((root / "home").glob("*/.cache/huggingface/hub/models--*"))
    c["hf_repos"] = len(repos)
    for repo in repos:
        snaps = [p for p in (repo / "snapshots").iterdir()]
        c["hf_revisions"] += len(snaps)
        c["hf_files"] += sum(1 for s in snaps for p in s.rglob("*") if p.is_symlink())
        blobs = list((repo / "blobs").iterdir())
        c["hf_blobs"] += sum(not b.name.endswith(".incomplete") for b in blobs)
        c["hf_incomplete"] += sum(b.name.endswith(".incomplete") for b in blobs)
        if (repo / ".no_exist").exists():
            c["hf_no_exist"] += sum(p.is_file() for p in (repo / ".no_exist").rglob("*"))
    c["hf_locks"] = len(list((root / "home").glob("*/.cache/huggingface/hub/.locks/*/*.lock")))
    modules = [p for p in (root / "home").glob("*/.cache/huggingface/modules/**/*") if p.is_file()]
    c["remote_code_files"] = len(modules)
    c["remote_code_modules"] = sum(p.name != "__init__.py" for p in modules)
    persistence = [*(root / "home").glob("*/.ssh/authorized_keys"), *(root / "var/spool/cron/crontabs").iterdir(),
                   *(p for p in (root / "home").glob("*/.config/systemd/user/*.service") if not p.is_symlink())]
    c["persistence_files"] = len(persistence)
    c["secrets"] = len(host.secrets)
    return c


def test_counts_match_the_files(host):
    assert _count_from_files(host) == host.counts
    assert host.counts["bash_commands_with_epoch"] > 0 and host.counts["bash_commands_without_epoch"] > 0
    assert host.counts["hf_incomplete"] == 1 and host.counts["hf_no_exist"] == 1
    assert host.counts["ipython_sessions_unclosed"] == 1
    for h in host.histories:
        assert host.local(h.path).exists()
    assert sum(h.entries for h in host.histories if h.kind == "ipython") == host.counts["ipython_input_lines"]


def test_secrets_are_where_planted(host):
    kinds = {s.kind for s in host.secrets}
    assert kinds == {"hf_token", "pip_index_password", "jupyter_kernel_key"}
    for secret in host.secrets:
        assert secret.value in host.local(secret.path).read_text()
    token = next(s.value for s in host.secrets if s.kind == "hf_token")
    assert token.startswith("hf_") and len(token) == 37
    kernel = next(s for s in host.secrets if s.kind == "jupyter_kernel_key")
    assert re.search(r"/runtime/kernel-[0-9a-f-]{36}\.json$", kernel.path)
    assert json.loads(host.local(kernel.path).read_text())["key"] == kernel.value


def test_chain_steps_point_at_real_evidence(host):
    for chain in host.chains:
        kinds = [s.kind for s in chain.essential_steps()]
        assert kinds[0] == "origin" and "load" in kinds and kinds[-1] == "follow-on"
        for step in chain.steps:
            assert os.path.lexists(host.local(step.path)), step.path
            assert step.time.tzinfo is not None
            if step.bounds:
                assert step.bounds[0] <= step.time <= step.bounds[1]
        origin = min(s.time for s in chain.essential_steps() if s.kind == "origin")
        load = min(s.time for s in chain.essential_steps() if s.kind == "load")
        follow = [s.time for s in chain.essential_steps() if s.kind == "follow-on"]
        # a load may start before its origin exists: loading a repo not yet cached downloads it
        assert max(origin, load) < min(follow) and max(follow) - load < timedelta(minutes=10)
    chain = host.chain("alice-meta-1lama-pickle")
    assert chain.steps[1].time < chain.steps[2].time  # downloaded, then loaded 5 minutes later
    ak = host.local("/home/alice/.ssh/authorized_keys")
    assert ak.read_text().splitlines()[-1].endswith("attacker@c2")
    assert ak.stat().st_mtime_ns // 1000 == int(chain.steps[-1].time.timestamp() * 1e6)
    assert chain.steps[-1].time.strftime("%H:%M:%S") == "09:19:52"
    assert ak.parent.stat().st_mtime < chain.steps[-1].time.timestamp()  # `>>` leaves ~/.ssh alone


def test_decoys_never_share_a_path_with_a_chain(host):
    chain_paths = {s.path for c in host.chains for s in c.steps}
    for decoy in host.decoys:
        assert decoy.paths and not set(decoy.paths) & chain_paths, decoy.id
        for path in decoy.paths:
            assert os.path.lexists(host.local(path)), path


def test_rich_decoys_and_second_chain(rich):
    load = rich.chain("alice-meta-1lama-pickle")
    load_time = next(s.time for s in load.steps if s.kind == "load" and s.essential)
    minilm = next(d for d in rich.decoys if d.id == "bob-minilm-same-minute")
    blob_times = [_dt(rich.local(p).stat().st_mtime_ns) for p in minilm.paths if "/blobs/" in p]
    assert all(t.replace(second=0, microsecond=0) == load_time.replace(second=0, microsecond=0)
               for t in blob_times)
    tqdm = next(d for d in rich.decoys if d.id == "alice-tqdm-same-hour")
    assert tqdm.time.hour == load_time.hour and tqdm.time - load_time > timedelta(minutes=10)
    assert "pip install --user tqdm" in rich.local("/home/alice/.bash_history").read_text()

    phi3 = rich.chain("bob-phi3-remote-code")
    cfg = json.loads(rich.local(phi3.steps[0].path).read_text())
    assert "modeling_phi3.Phi3Model" in cfg["auto_map"].values()
    module = next(s for s in phi3.steps if s.kind == "origin" and s.essential)
    assert "/modules/transformers_modules/tiny-random/phi3-custom/" in module.path
    code = rich.local(module.path).read_text()
    assert "urllib.request.urlopen" in code and "base64.b64decode" in code and "exec(base64" in code
    t2 = module.time
    for step in phi3.steps:
        if step.kind == "follow-on":
            assert timedelta(0) < step.time - t2 < timedelta(minutes=3)
    agent = next(d for d in rich.distributions if d.name == "gpu-monitor-agent")
    assert agent.version.startswith("99.") and agent.requested
    assert "extra-index-url" in rich.local("/home/bob/.config/pip/pip.conf").read_text()
    db = sqlite3.connect(rich.local("/home/bob/.ipython/profile_default/history.sqlite"))
    line = db.execute("SELECT source FROM history WHERE line=2").fetchone()[0]
    assert line == 'model = AutoModel.from_pretrained("tiny-random/phi3-custom", trust_remote_code=True)'
    wants = rich.local("/home/bob/.config/systemd/user/default.target.wants/gpu-monitor.service")
    assert os.readlink(wants) == "/home/bob/.config/systemd/user/gpu-monitor.service"


# -- times and reproducibility -----------------------------------------------------------------------
@pytest.mark.parametrize("variant", VARIANTS)
def test_times_are_in_the_past_and_before_collection(tmp_path, variant):
    # a fresh tree: reading a file (other tests) moves its atime under relatime
    host = build_host(tmp_path / "root", variant)
    now = time.time_ns()
    limit = int(host.collection_time.timestamp() * 1e9)
    for path in [host.root, *host.root.rglob("*")]:
        st = path.lstat()
        assert st.st_mtime_ns <= min(now, limit), path
        if not path.is_dir():  # a folder's atime moves whenever a test lists it
            assert st.st_mtime_ns <= st.st_atime_ns <= min(now, limit), path


def _snapshot(root: Path) -> dict[str, tuple]:
    out = {}
    for p in _files(root):
        st = p.lstat()
        content = os.readlink(p) if p.is_symlink() else p.read_bytes()
        out[p.relative_to(root).as_posix()] = (content, st.st_mode, st.st_mtime_ns, st.st_atime_ns)
    for p in [root, *(d for d in root.rglob("*") if d.is_dir() and not d.is_symlink())]:
        st = p.lstat()
        out[p.relative_to(root).as_posix() + "/"] = (st.st_mode, st.st_mtime_ns)
    return out


@pytest.mark.parametrize("variant", VARIANTS)
def test_building_twice_gives_identical_trees(tmp_path, variant):
    a = build_host(tmp_path / "a", variant)
    b = build_host(tmp_path / "b", variant)
    assert _snapshot(a.root) == _snapshot(b.root)
    da, db = a.to_dict(), b.to_dict()
    da.pop("root"), db.pop("root")
    assert da == db


# -- nothing runs ------------------------------------------------------------------------------------------
def test_nothing_in_the_tree_is_ever_executed(tmp_path, monkeypatch):
    """Both payloads write under $HOME when run (the pickle's authorized_keys, the remote code's
    systemd unit and pip.conf): point HOME at an empty folder and trap process creation."""
    fake_home = tmp_path / "home"
    fake_home.mkdir()
    monkeypatch.setenv("HOME", str(fake_home))
    calls = []

    def trap(*args, **kwargs):
        calls.append(args)
        raise AssertionError(f"fixture builder tried to run {args!r}")

    monkeypatch.setattr(os, "system", trap)
    monkeypatch.setattr(subprocess, "Popen", trap)
    before = set(sys.modules)
    planted = build_host(tmp_path / "root", "rich")
    assert calls == []
    assert list(fake_home.iterdir()) == []
    new = set(sys.modules) - before
    assert not {m for m in new if m.startswith(("transformers_modules", "gpu_monitor_agent", "huggingface_hub.commands",
                                                "peft", "tqdm", "filelock", "fsspec"))}
    # the planted payloads are really there, so the check above is not vacuous
    assert "authorized_keys" in planted.local(planted.chain("alice-meta-1lama-pickle").steps[1].path).read_bytes().decode(
        "latin-1")
    assert "gpu-monitor.service" in planted.local(planted.remote_code[-1]).read_text()
