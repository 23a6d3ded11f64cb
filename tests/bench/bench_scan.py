"""Model scanning benchmark: mlsleuth vs picklescan, modelscan, fickling and ModelAudit, one run.

Three measurements on generated files (mlsleuth.fixturehost.formats), every tool in the same
process through its own Python API (tests/bench/scan_peers.py), after one warm-up file each:

* detection / false positives / errors / time on the full scanner corpus (every technique,
  plus the realistic benign files);
* files per second on many small torch checkpoints (benign state dicts and optimizer states of
  real module shapes, 10 % injected);
* seconds on one multi-GB checkpoint (sparse file: a tiny data.pkl and a huge storage), next to
  the same checkpoint with a tiny storage: mlsleuth's cost must follow the pickle, not the file.

Scale with ``MLSLEUTH_BENCH_SCALE`` (default 1: 60 small files, 2 GiB large file; ModelAudit,
which takes seconds per file, gets a 12-file slice of the corpus below scale 3).
``MLSLEUTH_BENCH_OUT=path.json`` also writes the raw numbers.

Run: ``pytest tests/bench/bench_scan.py -m bench -s`` or ``python tests/bench/bench_scan.py``.
Times are CPU seconds of the benchmark process (``time.process_time``): every tool runs in the
same process, and on a shared machine wall time mostly measures the neighbours.
Assertions are on ratios (and on mlsleuth's own detection/false positives), never absolute times.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import scan_peers  # noqa: E402

from mlsleuth.fixturehost.formats import pickles as P  # noqa: E402
from mlsleuth.fixturehost.formats import torch_zip as Z  # noqa: E402
from mlsleuth.fixturehost.formats.corpus import (  # noqa: E402
    CLEAN,
    adam_state,
    build_corpus,
    cnn_state,
    linear_state,
    lstm_state,
)

SCALE = max(1, int(os.environ.get("MLSLEUTH_BENCH_SCALE", "1")))
SMALL_FILES = 60 * SCALE
LARGE_BYTES = 2 * SCALE << 30
SLOW_TOOLS = {"modelaudit"}  # seconds per file: sliced below scale 3
TOOLS = os.environ.get("MLSLEUTH_BENCH_TOOLS", "mlsleuth,picklescan,modelscan,fickling,modelaudit").split(",")


def small_checkpoints(root: Path) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    makers = [lambda: P.benign_state_dict(linear_state()),
              lambda: P.benign_state_dict(*cnn_state()),
              lambda: P.benign_state_dict(lstm_state()),
              lambda: P.torch_pickle(adam_state([tuple(s.shape) for s in linear_state().values()]))]
    out = []
    for i in range(SMALL_FILES):
        pk, st = makers[i % len(makers)]()
        if i % 10 == 9:
            pk = P.prepend_call(pk, "os", "system", ("echo bench",))
        path = root / f"ckpt_{i:04d}.pt"
        Z.write_torch_checkpoint(path, pk, st)
        out.append(path)
    return out


def large_checkpoint(root: Path, size: int, name: str) -> Path:
    pk, _ = P.benign_state_dict({"embed.weight": P.TensorSpec("float32", (size // 4,))})
    path = root / name
    Z.write_torch_checkpoint(path, pk, {"0": size})  # int: sparse hole of that many bytes
    return path


def _timed(fn, files: list[str]) -> tuple[float, list[tuple[bool, bool]]]:
    """CPU seconds of this process (all threads): the shared 2-core machine makes wall time
    depend on the other jobs, CPU time does not; every tool runs in this same process."""
    t = time.process_time()
    out = [fn(f) for f in files]
    return time.process_time() - t, out


def _interleaved_small(small: list[Path], rounds: int = 3) -> dict[str, tuple[float, int]]:
    """files/s per tool, tools taking turns file by file (so load changes hit all of them alike);
    each tool's best round counts. Slow tools get a slice below scale 3."""
    fns = {name: scan_peers.load(name) for name in TOOLS}
    fns = {k: v for k, v in fns.items() if v is not None}
    for fn in fns.values():
        fn(str(small[0]))
    sets = {k: small[: max(6, SMALL_FILES // 10)] if (k in SLOW_TOOLS and SCALE < 3) else small for k in fns}
    best = {k: float("inf") for k in fns}
    for r in range(rounds):
        spent = dict.fromkeys(fns, 0.0)
        for i, path in enumerate(small):
            for name, fn in fns.items():
                if i < len(sets[name]) and (r == 0 or name not in SLOW_TOOLS):
                    t = time.process_time()
                    fn(str(path))
                    spent[name] += time.process_time() - t
        for name in fns:
            if r == 0 or name not in SLOW_TOOLS:
                best[name] = min(best[name], spent[name])
    return {k: (len(sets[k]) / max(best[k], 1e-9), len(sets[k])) for k in fns}


def run_all(workdir: Path) -> dict:
    corpus_root = workdir / "corpus"
    samples = build_corpus(corpus_root, workdir / "markers")
    small = small_checkpoints(workdir / "small")
    large = large_checkpoint(workdir, LARGE_BYTES, "large.pt")
    tiny = large_checkpoint(workdir, 4096, "tiny.pt")
    results: dict = {"scale": SCALE, "tools": {}, "corpus_size": len(samples), "small_files": len(small),
                     "large_bytes": LARGE_BYTES}
    small_rate = _interleaved_small(small)
    for name in TOOLS:
        fn = scan_peers.load(name)
        if fn is None:
            results["tools"][name] = {"skipped": "not installed"}
            continue
        t0 = time.process_time()
        fn(str(small[0]))  # warm-up: imports, rule tables
        warm = time.process_time() - t0
        sliced = name in SLOW_TOOLS and SCALE < 3
        chosen = samples[::10] + [s for s in samples[5::10] if s.benign][:2] if sliced else samples
        t_corpus, verdicts = _timed(fn, [str(corpus_root / s.name) for s in chosen])
        bad = [s for s in chosen if not s.benign]
        good = [s for s in chosen if s.benign]
        by_name = dict(zip([s.name for s in chosen], verdicts, strict=True))
        missed = [s.name for s in bad if not by_name[s.name][0]]
        fps = [s.name for s in good if by_name[s.name][0]]
        errors = [n for n, (_, err) in by_name.items() if err]
        t_large, large_v = _timed(fn, [str(large)])
        t_tiny, _ = _timed(fn, [str(tiny)])
        results["tools"][name] = {
            "warmup_s": round(warm, 3), "corpus_files": len(chosen), "corpus_s": round(t_corpus, 3),
            "malicious": len(bad), "detected": len(bad) - len(missed), "missed": missed,
            "benign": len(good), "false_positives": fps, "errors": errors,
            "small_files": small_rate[name][1], "small_files_per_s": round(small_rate[name][0], 1),
            "large_s": round(t_large, 6), "tiny_s": round(t_tiny, 6), "large_flagged": large_v[0][0],
            "sliced": sliced,
        }
    results["expected"] = {s.name: s.expect for s in samples}
    return results


def report(res: dict) -> str:
    lines = [f"scale {res['scale']}: corpus {res['corpus_size']} files, {res['small_files']} small checkpoints, "
             f"large checkpoint {res['large_bytes'] / 2**30:.0f} GiB (sparse)", "",
             f"{'tool':<11}{'detected':>12}{'false pos':>11}{'errors':>8}{'corpus s':>10}{'small f/s':>11}"
             f"{'large ms':>10}{'tiny ms':>9}   (CPU time)"]
    for name, t in res["tools"].items():
        if "skipped" in t:
            lines.append(f"{name:<11}  skipped: {t['skipped']}")
            continue
        star = "*" if t["sliced"] else " "
        lines.append(f"{name:<10}{star}{t['detected']:>5}/{t['malicious']:<6}{len(t['false_positives']):>4}/{t['benign']:<6}"
                     f"{len(t['errors']):>8}{t['corpus_s']:>10.2f}{t['small_files_per_s']:>11.1f}{t['large_s'] * 1000:>10.2f}"
                     f"{t['tiny_s'] * 1000:>9.2f}")
    me = res["tools"].get("mlsleuth", {})
    lines.append("")
    for peer in TOOLS[1:]:
        t = res["tools"].get(peer, {})
        if "small_files_per_s" in t and "small_files_per_s" in me:
            lines.append(f"mlsleuth / {peer}: {me['small_files_per_s'] / t['small_files_per_s']:.1f}x files/s on small "
                         f"checkpoints, {t['large_s'] / max(me['large_s'], 1e-6):.1f}x faster on the large one")
    if "large_s" in me:
        lines.append(f"mlsleuth large/tiny time ratio: {me['large_s'] / max(me['tiny_s'], 1e-6):.2f} (cost follows the pickle)")
    if any(t.get("sliced") for t in res["tools"].values()):
        lines.append("* ran on a slice (every 10th corpus file + 2 benign, 6 small files) below scale 3")
    return "\n".join(lines)


@pytest.mark.bench
def test_bench_scan(tmp_path: Path) -> None:
    res = run_all(tmp_path)
    print("\n" + report(res))
    if os.environ.get("MLSLEUTH_BENCH_OUT"):
        Path(os.environ["MLSLEUTH_BENCH_OUT"]).write_text(json.dumps(res, indent=2))
    me = res["tools"]["mlsleuth"]
    assert not me["missed"] and not me["false_positives"] and not me["errors"]
    assert me["large_s"] / max(me["tiny_s"], 1e-6) < 20  # not proportional to 2 GiB of tensors
    ps, ms = res["tools"].get("picklescan", {}), res["tools"].get("modelscan", {})
    if "small_files_per_s" not in ps and "small_files_per_s" not in ms:
        pytest.skip("no peer scanner installed (pip install 'mlsleuth[bench]')")
    # Targets: faster than picklescan, 10x modelscan. Measured (docs/benchmarks.md): ~3x and ~5x;
    # the assertions guard what is achieved, the gap to 10x is documented there.
    if "small_files_per_s" in ps:
        assert me["small_files_per_s"] > 1.5 * ps["small_files_per_s"]
    if "small_files_per_s" in ms:
        assert me["small_files_per_s"] > 3 * ms["small_files_per_s"]


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        out = run_all(Path(d))
        print(report(out))
        if os.environ.get("MLSLEUTH_BENCH_OUT"):
            Path(os.environ["MLSLEUTH_BENCH_OUT"]).write_text(json.dumps(out, indent=2))
    _ = CLEAN
