"""Hashing and static inspection in a child process.

Two reasons. A crafted model file that crashes a C extension under the inspector (HDF5, protobuf)
or makes it loop must cost one verdict, not the agent: here it kills a child, which is forked
again for the next file, and the file is reported. And CPU-bound inspection in the agent's own
process holds the GIL against the event thread (measured: p99 close-to-journal latency went from
tens to hundreds of milliseconds with 10,000 model files arriving).

The child is forked (no re-exec, so it works in the single-file binary too) from the hasher
thread; it touches nothing the other threads may hold a lock on: it reads jobs and writes results
as JSON lines on its own pipes. The inspector is imported in the parent before the first fork.
"""

from __future__ import annotations

import faulthandler
import json
import os
import select
import signal
import time
from collections.abc import Callable
from typing import Any

from mlsleuth.collector.watch.verdicts import Stopping, sha256_file, verdict_of

JOB_TIMEOUT_BASE = 120.0  # seconds per file, plus time to read it at 20 MiB/s
_READ_RATE = 20 * 1024 * 1024


class WorkerFailed(Exception):
    """The child died or hung on a file; ``partial`` holds what it reported before (the hash)."""

    def __init__(self, reason: str, partial: dict[str, Any]) -> None:
        super().__init__(reason)
        self.reason = reason
        self.partial = partial


def _child(jobs: int, results: int) -> None:
    faulthandler.disable()  # a crash is reported by the parent, from the exit status
    signal.set_wakeup_fd(-1)  # the parent's wake-up pipe is not ours
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the agent; EOF ends us
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        os.nice(5)
    except OSError:
        pass
    reader = os.fdopen(jobs, "rb")
    for line in reader:
        job = json.loads(line)
        try:
            digest, size, changed = sha256_file(job["local"])
            first = {"sha256": digest, "size": size, "changed": changed}
        except OSError as exc:
            first = {"error": f"{type(exc).__name__}: {exc}", "missing": isinstance(exc, FileNotFoundError)}
        _send(results, first)
        if "sha256" in first and not first["changed"] and job["inspect"]:
            _send(results, verdict_of(job["local"]))
    os._exit(0)


def _send(fd: int, message: dict[str, Any]) -> None:
    data = (json.dumps(message, default=str) + "\n").encode()
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class Worker:
    """One child at a time; used from the hasher thread only."""

    def __init__(self) -> None:
        self.pid = 0
        self._jobs = -1
        self._results = -1
        self._buf = b""

    def _start(self) -> None:
        job_r, job_w = os.pipe2(os.O_CLOEXEC)
        res_r, res_w = os.pipe2(os.O_CLOEXEC)
        pid = os.fork()
        if pid == 0:  # child
            try:
                os.close(job_w)
                os.close(res_r)
                _child(job_r, res_w)
            finally:
                os._exit(1)
        os.close(job_r)
        os.close(res_w)
        self.pid, self._jobs, self._results, self._buf = pid, job_w, res_r, b""

    def analyse(self, local: str, inspect: bool, size_hint: int,
                stopping: Callable[[], bool]) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """(hash result, verdict or None); raises WorkerFailed or Stopping."""
        if not self.pid:
            self._start()
        deadline = time.monotonic() + JOB_TIMEOUT_BASE + size_hint / _READ_RATE
        try:
            _send(self._jobs, {"local": local, "inspect": inspect})
        except OSError:  # the idle child died (OOM killer, kill by hand): start another, once
            self._reap()
            self._start()
            _send(self._jobs, {"local": local, "inspect": inspect})
        first = self._receive(deadline, stopping, {})
        if "sha256" not in first or first.get("changed") or not inspect:
            return first, None
        return first, self._receive(deadline, stopping, first)

    def _receive(self, deadline: float, stopping: Callable[[], bool], partial: dict[str, Any]) -> dict[str, Any]:
        while b"\n" not in self._buf:
            if stopping():
                self._kill()
                raise Stopping
            left = deadline - time.monotonic()
            if left <= 0:
                self._kill()
                raise WorkerFailed(f"inspection timed out after {JOB_TIMEOUT_BASE:.0f}+ s", partial)
            ready, _, _ = select.select([self._results], [], [], min(left, 0.25))
            if ready:
                chunk = os.read(self._results, 65536)
                if not chunk:
                    raise WorkerFailed(self._reap(), partial)
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def _kill(self) -> None:
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._reap()

    def _reap(self) -> str:
        """Collect the dead child; returns how it ended."""
        how = "inspection process exited"
        if self.pid:
            _, status = os.waitpid(self.pid, 0)
            if os.WIFSIGNALED(status):
                how = f"inspection process killed by {signal.Signals(os.WTERMSIG(status)).name}"
            elif os.WIFEXITED(status):
                how = f"inspection process exited with status {os.WEXITSTATUS(status)}"
        for fd in (self._jobs, self._results):
            if fd >= 0:
                os.close(fd)
        self.pid, self._jobs, self._results, self._buf = 0, -1, -1, b""
        return how

    def close(self) -> None:
        if not self.pid:
            return
        os.close(self._jobs)  # EOF: an idle child exits at once
        self._jobs = -1
        for _ in range(20):
            if os.waitpid(self.pid, os.WNOHANG)[0]:
                os.close(self._results)
                self.pid, self._results = 0, -1
                return
            time.sleep(0.05)
        self._kill()
