"""Parsing benchmark: mlsleuth against plaso's ``psteal`` on the same generated host tree.

The tree is an ML workstation grown to ``MLSLEUTH_BENCH_PARSE_EVENTS`` mlsleuth events (default
20,000; the issue's figure is 1,000,000): big bash and zsh histories with times, an IPython
history.sqlite, a Hugging Face cache of many small repos, executed notebooks and installed
distributions. Each tool runs as its own process, one after the other:

* mlsleuth: ``parse_input(tree)``, every event consumed (streamed, counted);
* plaso: ``psteal --source tree -o json_line`` (skipped with the reason when plaso is absent).

Reported: wall time, events, events/s, peak RSS (the process tree's maximum resident set), and
how many *ML-relevant facts* each output holds, by kind: shell commands with their time, IPython
inputs, notebook cells run, Hugging Face files materialised with their repo and revision, and
installed distributions with their version. A fact counts when the output names it as such
(plaso's ``fs:stat`` rows for cache files carry paths, not repo/revision, and are counted apart).

Run: ``pytest tests/bench/bench_parse.py -m bench -s`` or ``python tests/bench/bench_parse.py``.
Assertions are on ratios only.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

EVENTS = int(os.environ.get("MLSLEUTH_BENCH_PARSE_EVENTS", "20000"))
PSTEAL = shutil.which("psteal") or str(Path(sys.executable).parent / "psteal")
T0 = datetime(2026, 11, 1, tzinfo=UTC)
EPOCH = int(T0.timestamp())
HOME = "home/alice"
FACT_KINDS = ("shell_commands", "ipython_inputs", "notebook_cells", "hf_files", "distributions")


# -- the host tree ----------------------------------------------------------------------------------
def _touch(path: Path, when: datetime) -> None:
    os.utime(path, (when.timestamp(), when.timestamp()), follow_symlinks=False)


def build_tree(root: Path, events: int) -> dict[str, int]:
    """Write the tree; return how many of each fact it holds (the ground truth)."""
    n_bash = int(events * 0.40)
    n_zsh = int(events * 0.20)
    n_ipython = int(events * 0.20)
    n_hf_files = max(int(events * 0.12) // 2, 4)  # each file: Download Completed + lock event
    n_cells = max(int(events * 0.05), 10)
    n_dists = max(int(events * 0.03), 4)
    home = root / HOME
    home.mkdir(parents=True)
    (root / "etc").mkdir()
    (root / "etc/hostname").write_text("bench-host\n")
    (root / "etc/timezone").write_text("UTC\n")
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n")

    with open(home / ".bash_history", "w") as fh:
        for i in range(n_bash):
            fh.write(f"#{EPOCH + i}\npython train.py --model org/m{i % 97} --seed {i}\n")
    with open(home / ".zsh_history", "w") as fh:
        for i in range(n_zsh):
            fh.write(f": {EPOCH + i}:0;huggingface-cli download org/m{i % 89} --revision r{i}\n")

    ipy = home / ".ipython/profile_default/history.sqlite"
    ipy.parent.mkdir(parents=True)
    db = sqlite3.connect(ipy)
    db.executescript("""CREATE TABLE sessions (session integer primary key autoincrement, start timestamp,
                        end timestamp, num_cmds integer, remark text);
                        CREATE TABLE history (session integer, line integer, source text, source_raw text,
                        PRIMARY KEY (session, line));
                        CREATE TABLE output_history (session integer, line integer, output text,
                        PRIMARY KEY (session, line));""")  # IPython's schema (core/history.py)
    per_session = 500
    sessions = max(n_ipython // per_session, 1)
    with db:
        for s in range(sessions):
            start = T0 + timedelta(hours=s)
            db.execute("INSERT INTO sessions VALUES (?, ?, ?, ?, '')",
                       (s + 1, start.strftime("%Y-%m-%d %H:%M:%S.%f"),
                        (start + timedelta(minutes=50)).isoformat(" "), per_session))
            db.executemany("INSERT INTO history VALUES (?, ?, ?, ?)",
                           [(s + 1, i + 1, f"m{i} = AutoModel.from_pretrained('org/m{i % 97}')",
                             f"m{i} = AutoModel.from_pretrained('org/m{i % 97}')") for i in range(per_session)])
    db.close()
    n_ipython = sessions * per_session

    hub = home / ".cache/huggingface/hub"
    files_per_repo = 20
    repos = max(n_hf_files // files_per_repo, 1)
    commit = "c1ce190d969af8fc385c71e0d1b5c451eaa1f503"
    for r in range(repos):
        folder = hub / f"models--org--repo{r}"
        (folder / "blobs").mkdir(parents=True)
        (folder / "refs").mkdir()
        (folder / f"snapshots/{commit}").mkdir(parents=True)
        (hub / ".locks" / folder.name).mkdir(parents=True)
        for f in range(files_per_repo):
            data = f"repo {r} file {f}\n".encode()
            oid = hashlib.sha256(data).hexdigest()
            (folder / "blobs" / oid).write_bytes(data)
            _touch(folder / "blobs" / oid, T0 + timedelta(seconds=r * 60 + f))
            os.symlink(f"../../blobs/{oid}", folder / f"snapshots/{commit}/shard-{f:05d}.safetensors")
            (hub / ".locks" / folder.name / f"{oid}.lock").write_bytes(b"")
        (folder / "refs/main").write_text(commit)
    n_hf_files = repos * files_per_repo

    work = home / "work"
    work.mkdir()
    cells_per_nb = 50
    notebooks = max(n_cells // cells_per_nb, 1)
    for n in range(notebooks):
        cells = []
        for c in range(cells_per_nb):
            t = (T0 + timedelta(minutes=n, seconds=c)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
            cells.append({"cell_type": "code", "execution_count": c + 1, "id": f"c{c}",
                          "metadata": {"execution": {"iopub.execute_input": t, "shell.execute_reply": t}},
                          "outputs": [], "source": f"x{c} = load('org/m{c}')"})
        (work / f"nb{n}.ipynb").write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4,
                                                        "nbformat_minor": 5}))
    n_cells = notebooks * cells_per_nb

    site = home / ".local/lib/python3.11/site-packages"
    for d in range(n_dists):
        dist = site / f"pkg{d}-1.{d}.dist-info"
        dist.mkdir(parents=True)
        (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: pkg{d}\nVersion: 1.{d}\n")
        (dist / "INSTALLER").write_text("pip\n")
        (dist / "RECORD").write_text(f"pkg{d}/__init__.py,,\n")
    return {"shell_commands": n_bash + n_zsh, "ipython_inputs": n_ipython, "notebook_cells": n_cells,
            "hf_files": n_hf_files, "distributions": n_dists}


# -- the two runs ------------------------------------------------------------------------------------
MLSLEUTH_CHILD = r"""
import json, resource, sys, time
from collections import Counter
from pathlib import Path
from mlsleuth.parsers import parse_input

# Counted, not kept: the child's peak RSS is the parser's, not the benchmark's bookkeeping.
facts = Counter()
start = time.perf_counter()
events = 0
for e in parse_input(Path(sys.argv[1])):
    events += 1
    if e.source in ("bash_history", "zsh_history") and e.category == "command" and e.timestamp_quality == "exact":
        facts["shell_commands"] += 1
    elif e.source == "ipython_history" and e.timestamp_desc == "Command Executed":
        facts["ipython_inputs"] += 1
    elif e.source == "notebook" and e.timestamp_desc == "Cell Executed":
        facts["notebook_cells"] += 1
    elif e.timestamp_desc == "Download Completed" and e.model_repo and e.revision and e.extra.get("repo_file"):
        facts["hf_files"] += 1
    elif e.source == "python_dist" and e.package and e.version:
        facts["distributions"] += 1
wall = time.perf_counter() - start
print(json.dumps({"wall_s": wall, "events": events,
                  "facts": {k: facts[k] for k in ("shell_commands", "ipython_inputs", "notebook_cells",
                                                   "hf_files", "distributions")},
                  "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""

RSS_WRAPPER = r"""
import json, resource, subprocess, sys, time
start = time.perf_counter()
with open(sys.argv[1], "wb") as log:
    code = subprocess.run(sys.argv[2:], stdout=log, stderr=subprocess.STDOUT).returncode
wall = time.perf_counter() - start
print(json.dumps({"returncode": code, "wall_s": wall,
                  "peak_rss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def run_mlsleuth(tree: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", MLSLEUTH_CHILD, str(tree)], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_psteal(tree: Path, workdir: Path) -> dict:
    output = workdir / "psteal.jsonl"
    # Defaults, except that plaso may not kill its own workers: on a shared machine the 1M run was
    # aborted by the foreman (worker timeout/memory limit) after 80 minutes.
    cmd = [PSTEAL, "--source", str(tree), "-o", "json_line", "-w", str(output), "--unattended",
           "--status_view", "none", "--storage_file", str(workdir / "psteal.plaso"),
           "--worker_timeout", "600", "--worker_memory_limit", "0", "--process_memory_limit", "0"]
    console = workdir / "psteal.console"
    wrapped = subprocess.run([sys.executable, "-c", RSS_WRAPPER, str(console), *cmd], capture_output=True,
                             text=True, cwd=workdir)
    result = json.loads(wrapped.stdout.strip().splitlines()[-1])
    if result["returncode"] != 0:
        tail = console.read_bytes()[-3000:].decode("utf-8", "replace")
        raise RuntimeError(f"psteal exited {result['returncode']}: {tail}")
    facts = {k: 0 for k in FACT_KINDS}
    commands: set = set()
    events = cache_paths = 0
    with open(output, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            events += 1
            record = json.loads(line)
            data_type = record.get("data_type", "")
            if data_type in ("bash:history:entry", "shell:zsh:history") and record.get("command"):
                commands.add((record["command"], record.get("timestamp")))
            elif "ipython" in data_type:
                facts["ipython_inputs"] += 1
            elif "jupyter" in data_type or "notebook" in data_type:
                facts["notebook_cells"] += 1
            elif data_type.startswith("fs:stat") and "/huggingface/hub/" in str(record.get("filename", "")):
                cache_paths += 1
    facts["shell_commands"] = len(commands)
    return {**result, "events": events, "facts": facts, "hf_cache_stat_rows": cache_paths}


def report(truth: dict, ours: dict, peer: dict | None) -> str:
    lines = [f"generated facts: {truth}",
             f"mlsleuth: {ours['events']} events in {ours['wall_s']:.1f} s = {ours['events'] / ours['wall_s']:.0f} "
             f"events/s, peak RSS {ours['peak_rss_kib'] / 1024:.1f} MiB, facts {ours['facts']}"]
    if peer:
        lines.append(f"psteal: {peer['events']} events in {peer['wall_s']:.1f} s = "
                     f"{peer['events'] / peer['wall_s']:.0f} events/s, peak RSS {peer['peak_rss_kib'] / 1024:.1f} MiB, "
                     f"facts {peer['facts']} (+{peer['hf_cache_stat_rows']} fs:stat rows of HF cache paths)")
        ours_total, peer_total = sum(ours["facts"].values()), sum(peer["facts"].values())
        lines.append(f"ratio mlsleuth/psteal: wall {ours['wall_s'] / peer['wall_s']:.2f}x, "
                     f"ML facts {ours_total}/{peer_total} = {ours_total / max(peer_total, 1):.2f}x")
    return "\n".join(lines)


@pytest.mark.bench
def test_parse_benchmark_against_psteal(tmp_path):
    tree = tmp_path / "root"
    truth = build_tree(tree, EVENTS)
    ours = run_mlsleuth(tree)
    assert ours["facts"] == truth, "mlsleuth must report every generated fact"
    if not Path(PSTEAL).exists():
        print("\n" + report(truth, ours, None))
        pytest.skip("plaso (psteal) is not installed: pip install 'mlsleuth[plaso]'")
    peer = run_psteal(tree, tmp_path)
    print("\n" + report(truth, ours, peer))
    assert all(ours["facts"][kind] >= peer["facts"][kind] for kind in FACT_KINDS)
    assert sum(ours["facts"].values()) / max(sum(peer["facts"].values()), 1) > 1.0
    assert ours["wall_s"] / peer["wall_s"] < 1.0


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="mlsleuth-bench-parse-") as tmp:
        root = Path(tmp) / "root"
        built = time.perf_counter()
        truth = build_tree(root, EVENTS)
        print(f"tree built in {time.perf_counter() - built:.1f} s", flush=True)
        ours = run_mlsleuth(root)
        print(report(truth, ours, None), flush=True)
        peer = run_psteal(root, Path(tmp)) if Path(PSTEAL).exists() else None
        print(report(truth, ours, peer))
