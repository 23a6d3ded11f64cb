"""Timeline benchmark: events from 10 hosts merged, correlated and exported to every format.

``MLSLEUTH_BENCH_TIMELINE_EVENTS`` events in total (default 100000; the issue's figure is
1000000) are generated as one events.jsonl per host: shell/IPython/notebook commands, bodyfile
rows, process trees, connections, package installs, benign model downloads and their loads,
plus on every host one planted chain (malicious model -> notebook load -> authorized_keys write)
and its decoys. Each measured run is its own process, so peak RSS is that run's alone.

In the same run:
* mlsleuth at N/4 and at N events: wall time per stage and peak RSS; the ratio of correlation
  times shows it is not quadratic (linear: ~4x for 4x the events);
* peers on the same frame: pandas ``DataFrame.to_csv`` against timeline.csv (which neutralises
  formula triggers cell by cell) at N events, and pandas ``to_excel`` with openpyxl (which
  holds the whole sheet in memory) against the streaming XlsxWriter workbook at N/4 events.

Run: ``pytest tests/bench/bench_timeline.py -m bench -s`` or ``python tests/bench/bench_timeline.py``.
Assertions are on ratios and on what was linked (one chain per host, no decoy), never on times.
"""

from __future__ import annotations

import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mlsleuth.events import Category, Event, write_jsonl

EVENTS = int(os.environ.get("MLSLEUTH_BENCH_TIMELINE_EVENTS", "40000"))
# openpyxl holds a whole sheet in memory and is slow: beyond this many rows its run is skipped
XLSX_PEER_MAX = int(os.environ.get("MLSLEUTH_BENCH_TIMELINE_XLSX_PEER_MAX", "50000"))
HOSTS = 10
T0 = datetime(2026, 11, 1, tzinfo=UTC)
WORDS = ["ls", "cd", "git status", "vim notes.md", "python train.py --epochs 3", "nvidia-smi",
         "import numpy as np", "df = pd.read_csv('data.csv')", "htop", "pip list", "make test"]


def _host_events(h: int, n: int, rnd: random.Random) -> list[Event]:
    host = f"ml-{h:02d}"
    users = ["alice", "bob", "carol"]
    out: list[Event] = []
    span = 14 * 86400

    def ev(t: float, cat: Category, msg: str, **kw) -> Event:
        kw.setdefault("host", host)
        kw.setdefault("timestamp_desc", "Bench Time")
        kw.setdefault("source", "bench")
        kw.setdefault("evidence", f"fs/bench/{host}#L{len(out)}")
        return Event(timestamp=T0 + timedelta(seconds=t), category=cat, message=msg, **kw)

    # the planted chain and its decoys, at a random time
    a = rnd.uniform(86400, span - 86400)
    hub = "/home/alice/.cache/huggingface/hub"
    evil = f"{hub}/models--evil-{h}--tiny/snapshots/{'1' * 40}/pytorch_model.bin"
    sha = f"{h:02d}" + "e" * 62
    cmd = "echo key >> ~/.ssh/authorized_keys"
    out += [
        ev(a, Category.MODEL_DOWNLOAD, "evil download", user="alice", model_repo=f"models/evil-{h}/tiny",
           file_path=evil, sha256=sha),
        ev(a, Category.FINDING, f"posix.system({cmd!r})", user="alice", file_path=evil, sha256=sha,
           verdict="malicious", extra={"indicators": [cmd]}),
        ev(a + 30, Category.COMMAND, "cell", user="alice", source="notebook", file_path="/home/alice/eval.ipynb",
           cmdline=f'model = AutoModel.from_pretrained("evil-{h}/tiny")'),
        ev(a + 40, Category.PERSISTENCE, "authorized_keys written", user="alice",
           timestamp_desc="File Modified", file_path="/home/alice/.ssh/authorized_keys"),
        ev(a + 35, Category.MODEL_DOWNLOAD, "decoy download", user="bob", model_repo="models/good/decoy",
           file_path=f"/home/bob/.cache/huggingface/hub/models--good--decoy/snapshots/{'2' * 40}/model.safetensors",
           sha256="d" * 64),
        ev(a + 1800, Category.PACKAGE_INSTALL, "decoy install", user="alice", package="tqdm", version="4.67.1",
           file_path="/home/alice/.local/lib/python3.11/site-packages/tqdm-4.67.1.dist-info"),
    ]
    repos = [f"org{i}/model{i}" for i in range(200)]
    pid = 1000
    while len(out) < n:
        t = rnd.uniform(0, span)
        user = rnd.choice(users)
        k = rnd.random()
        if k < 0.45:
            text = rnd.choice(WORDS)
            out.append(ev(t, Category.COMMAND, text, user=user, cmdline=text, source="bash_history",
                          file_path=f"/home/{user}/.bash_history"))
        elif k < 0.70:
            out.append(ev(t, Category.FILE, "bodyfile", timestamp_desc=rnd.choice(["File Modified", "File Accessed"]),
                          file_path=f"/home/{user}/data/f{rnd.randrange(10**6)}.csv"))
        elif k < 0.85:
            pid += 1
            out.append(ev(t, Category.PROCESS, "process", user=user, pid=pid, ppid=rnd.randrange(1000, pid),
                          process="python3", cmdline=f"python3 job{rnd.randrange(100)}.py"))
        elif k < 0.90:
            out.append(ev(t, Category.NETWORK, "conn", pid=rnd.randrange(1000, pid + 1),
                          remote_addr=f"198.51.100.{rnd.randrange(255)}:{rnd.choice([443, 8080])}"))
        elif k < 0.93:
            name = f"pkg{rnd.randrange(500)}"
            out.append(ev(t, Category.PACKAGE_INSTALL, name, user=user, package=name, version="1.0",
                          file_path=f"/home/{user}/.local/lib/python3.11/site-packages/{name}-1.0.dist-info"))
        elif k < 0.97:
            repo = rnd.choice(repos)
            org, name = repo.split("/")
            out.append(ev(t, Category.MODEL_DOWNLOAD, repo, user=user, model_repo=f"models/{repo}",
                          file_path=f"/home/{user}/.cache/huggingface/hub/models--{org}--{name}/snapshots/"
                                    f"{'3' * 40}/model.safetensors", sha256=f"{rnd.getrandbits(256):064x}"))
        else:
            repo = rnd.choice(repos)
            out.append(ev(t, Category.COMMAND, "load", user=user, source="ipython_history",
                          cmdline=f'pipe = pipeline("text-classification", model="{repo}")'))
    return out


def generate(directory: Path, total: int) -> list[Path]:
    rnd = random.Random(1234)
    paths = []
    for h in range(HOSTS):
        p = directory / f"host{h:02d}.events.jsonl"
        with open(p, "w", encoding="utf-8") as fh:
            write_jsonl(_host_events(h, total // HOSTS, rnd), fh)
        paths.append(p)
    return paths


def _child(mode: str, out: Path, inputs: list[Path]) -> dict:
    """One measured run in this process (called in a subprocess)."""
    t0 = time.perf_counter()
    if mode == "mlsleuth":
        from mlsleuth.timelines.run import build_timeline

        res = build_timeline(inputs, out, parquet=False)
        result = {"events": res.events, "chains": [c["summary"] for c in res.chains], "stages": res.seconds}
    else:
        from mlsleuth.timelines.run import load_timeline

        tl = load_timeline(inputs)
        frame = tl.frame.drop(columns=["timestamp_us"])
        t1 = time.perf_counter()
        frame.to_csv(out / "peer.csv", index=False)
        t2 = time.perf_counter()
        result = {"events": len(frame), "stages": {"load": t1 - t0, "csv": t2 - t1}}
        if mode == "peer-xlsx":
            frame.to_excel(out / "peer.xlsx", index=False, engine="openpyxl")
            result["stages"]["xlsx"] = time.perf_counter() - t2
    result["wall"] = time.perf_counter() - t0
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def measure(mode: str, inputs: list[Path], out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([sys.executable, __file__, "--child", mode, str(out), *map(str, inputs)],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_bench(total: int = EVENTS) -> dict:
    with tempfile.TemporaryDirectory(prefix="mlsleuth-bench-tl-") as tmp:
        tmp_path = Path(tmp)
        small_dir, big_dir = tmp_path / "small", tmp_path / "big"
        small_dir.mkdir()
        big_dir.mkdir()
        small = generate(small_dir, total // 4)
        big = generate(big_dir, total)
        r_small = measure("mlsleuth", small, tmp_path / "o-small")
        r_big = measure("mlsleuth", big, tmp_path / "o-big")
        peer = measure("peer-csv", big, tmp_path / "o-peer")
        peer_xlsx = (measure("peer-xlsx", small, tmp_path / "o-peer-small") if total // 4 <= XLSX_PEER_MAX
                     else None)
        sizes = {p.name: (tmp_path / "o-big" / p.name).stat().st_size
                 for p in (tmp_path / "o-big").iterdir()}
    report = {"events": total, "hosts": HOSTS, "small": r_small, "big": r_big, "peer": peer,
              "peer_xlsx": peer_xlsx,
              "correlate_ratio_4x": r_big["stages"]["correlate"] / max(r_small["stages"]["correlate"], 1e-9),
              "csv_vs_pandas": r_big["stages"]["csv+json"] / max(peer["stages"]["csv"], 1e-9),
              "output_bytes": sizes}
    if peer_xlsx:
        report["xlsx_vs_openpyxl"] = r_small["stages"]["xlsx"] / max(peer_xlsx["stages"]["xlsx"], 1e-9)
    return report


def print_report(r: dict) -> None:
    b = r["big"]
    print(f"\ntimeline bench: {r['events']} events from {r['hosts']} hosts")
    for name, res in (("mlsleuth N/4", r["small"]), ("mlsleuth N", b), ("pandas N", r["peer"]),
                      ("pandas N/4", r["peer_xlsx"])):
        if res is None:
            print(f"  {name:<13} skipped: openpyxl peer above {XLSX_PEER_MAX} rows")
            continue
        stages = ", ".join(f"{k} {v:.2f}s" for k, v in res["stages"].items())
        print(f"  {name:<13} wall {res['wall']:.2f}s  peak RSS {res['peak_rss_mb']:.0f} MiB  ({stages})")
    print(f"  chains linked at N: {len(b['chains'])} (planted: {r['hosts']}, one per host)")
    print(f"  correlation time ratio for 4x the events: {r['correlate_ratio_4x']:.2f} (linear ~4)")
    print(f"  timeline.csv+findings.json vs pandas to_csv: {r['csv_vs_pandas']:.2f}x")
    if "xlsx_vs_openpyxl" in r:
        print(f"  timeline.xlsx (5 sheets, streaming) vs pandas to_excel/openpyxl (1 sheet), N/4: "
              f"{r['xlsx_vs_openpyxl']:.2f}x")
    print("  outputs: " + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in sorted(r["output_bytes"].items())))


@pytest.mark.bench
def test_timeline_bench():
    pytest.importorskip("openpyxl")
    r = run_bench()
    print_report(r)
    assert r["big"]["events"] == r["events"] // HOSTS * HOSTS
    assert len(r["big"]["chains"]) == HOSTS  # one planted chain per host, decoys not linked
    assert not any("decoy" in s for s in r["big"]["chains"])
    assert r["correlate_ratio_4x"] < 8  # quadratic would be ~16
    assert r["csv_vs_pandas"] < 10
    if "xlsx_vs_openpyxl" in r:
        assert r["xlsx_vs_openpyxl"] < 2


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(_child(sys.argv[2], Path(sys.argv[3]), [Path(p) for p in sys.argv[4:]])))
    else:
        print_report(run_bench(int(sys.argv[1]) if len(sys.argv) > 1 else EVENTS))
