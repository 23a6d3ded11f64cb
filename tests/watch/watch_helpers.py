"""Helpers for the watch agent tests: run the agent, read its journal, wait for lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlsleuth.collector.watch.journal import journal_files

REPO = Path(__file__).resolve().parents[2]

# Runs the agent with a stand-in inspector that flags a pickle naming posix/os.system, reading
# bytes only. It exercises the alert path whether or not the real inspector is installed.
STUB_AGENT = r"""
import sys
from pathlib import Path
from mlsleuth.collector.watch import verdicts
from mlsleuth.collector.watch.agent import run_watch_cli

def stub_inspect(path):
    data = Path(path).read_bytes()
    if b"posix" in data and b"system" in data:
        return {"verdict": "malicious", "format": "pickle",
                "findings": [{"rule_id": "pickle-dangerous-call", "severity": "critical",
                              "message": "calls posix.system", "indicators": ["touch"]}]}
    return {"verdict": "clean", "format": "unknown", "findings": []}

verdicts._inspect = stub_inspect
journal, root, on_alert = sys.argv[1], sys.argv[2], sys.argv[3] or None
sys.exit(run_watch_cli(Path(journal), [Path(p) for p in sys.argv[4:]], root=Path(root),
                       on_alert=on_alert, max_queue=1000))
"""


def read_journal(directory: Path) -> list[dict[str, Any]]:
    """Complete lines of every journal file, in order (a torn last line is left out)."""
    out: list[dict[str, Any]] = []
    for path in journal_files(directory):
        data = path.read_bytes()
        for line in data.split(b"\n")[:-1]:
            out.append(json.loads(line))
    return out


def wait_for(directory: Path, pred: Callable[[dict[str, Any]], bool], timeout: float = 15.0,
             proc: subprocess.Popen | None = None) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for rec in read_journal(directory):
            if pred(rec):
                return rec
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"agent exited {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
        time.sleep(0.02)
    raise AssertionError(f"no matching journal line within {timeout}s; journal: "
                         f"{[(r['seq'], r['event'], r.get('path')) for r in read_journal(directory)][-30:]}")


def env(**extra: str) -> dict[str, str]:
    e = dict(os.environ)
    e.update({"MLSLEUTH_WATCH_FSYNC_INTERVAL": "0.05", "MLSLEUTH_WATCH_STOP_GRACE": "10"})
    e.update(extra)
    return e


def start_agent(journal: Path, root: Path, *paths: Path, on_alert: str | None = None, stub: bool = False,
                extra_env: dict[str, str] | None = None, **popen: Any) -> subprocess.Popen:
    if stub:
        cmd = [sys.executable, "-c", STUB_AGENT, str(journal), str(root), on_alert or "", *map(str, paths)]
    else:
        cmd = [sys.executable, "-m", "mlsleuth", "watch", "--journal", str(journal), "--root", str(root),
               *map(str, paths)]
        if on_alert:
            cmd += ["--on-alert", on_alert]
    last = max((r["seq"] for r in read_journal(journal)), default=0)  # a restart: wait for the new READY
    proc = subprocess.Popen(cmd, env=env(**(extra_env or {})), stderr=subprocess.PIPE, text=True,
                            **popen)
    wait_for(journal, lambda r: r["event"] == "READY" and r["seq"] > last, proc=proc)
    return proc


def stop_agent(proc: subprocess.Popen, timeout: float = 30.0) -> tuple[int, str]:
    proc.terminate()
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError(f"agent did not stop on SIGTERM: {err}") from None
    return proc.returncode, err


class InProcessAgent:
    """The agent on a thread of the test process (no signal handlers), for fast behaviour tests."""

    def __init__(self, journal: Path, root: Path, *paths: Path, defaults: bool = False, **cfg: Any) -> None:
        from mlsleuth.collector.watch.agent import Agent, Config

        self.journal = journal
        self.agent = Agent(Config(journal=journal, paths=list(paths), root=root, defaults=defaults,
                                  fsync_interval=0.05, **cfg))
        self.code: int | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.code = self.agent.run()

    def __enter__(self) -> InProcessAgent:
        self.thread.start()
        assert self.agent.ready.wait(15)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> int | None:
        if self.thread.is_alive():
            self.agent.request_stop("test")
            self.thread.join(30)
        return self.code

    def wait(self, pred: Callable[[dict[str, Any]], bool], timeout: float = 10.0) -> dict[str, Any]:
        return wait_for(self.journal, pred, timeout)

    def lines(self) -> list[dict[str, Any]]:
        return read_journal(self.journal)
