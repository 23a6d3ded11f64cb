"""SHA-256 and static verdicts for files that landed, off the event thread, and the alerts.

The event thread only enqueues; a bounded queue (``--max-queue``) keeps memory fixed, and a file
already waiting is not queued twice (the worker hashes whatever is there when it gets to it). A
job that does not fit is journaled as ``HASH_SKIPPED``: never silently dropped. The hashing and
the inspection run in a child process (``isolate.py``); this thread waits on it and journals.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import subprocess
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from mlsleuth.collector.watch.isolate import Worker, WorkerFailed
from mlsleuth.collector.watch.journal import Journal, JournalFull
from mlsleuth.collector.watch.verdicts import MAX_TEXT, Stopping

log = logging.getLogger("mlsleuth.watch")

FLAGGED = frozenset({"malicious", "suspicious"})
PERSISTENCE_MAX_BYTES = 16 * 1024 * 1024  # persistence files are small; a huge one is hashed never
KNOWN_FILES = 100_000  # bound on the index of hashed files kept for overflow reconciliation
HOOK_TIMEOUT = 30.0


@dataclass(slots=True)
class Job:
    local: str  # where to read it (under --root)
    path: str  # host path, as journaled
    kind: str  # "model", "code" (hash + verdict) or "persistence" (hash only)
    for_seq: int  # the journal line that triggered it


class Alerts:
    """Error log line per flagged file and the optional ``--on-alert`` hook, on its own thread."""

    def __init__(self, journal: Journal, command: str | None) -> None:
        self.journal = journal
        self.command = command
        self._queue: queue.Queue[tuple[int, dict[str, Any]] | None] = queue.Queue(maxsize=1000)
        self._thread: threading.Thread | None = None
        if command:
            self._thread = threading.Thread(target=self._run, name="watch-alert-hook", daemon=True)
            self._thread.start()

    def raise_alert(self, finding: dict[str, Any]) -> None:
        seq = self.journal.write("ALERT", finding)
        first = next((f.get("message") for f in finding.get("findings", []) if isinstance(f, dict)
                      and f.get("message")), "")
        # json.dumps: attacker-chosen names must not forge log lines
        log.error("ALERT %s file %s sha256=%s%s", finding.get("verdict"), json.dumps(finding["path"]),
                  finding.get("sha256"), f": {json.dumps(first)}" if first else "")
        if self._thread is not None:
            try:
                self._queue.put_nowait((seq, {"seq": seq, **finding}))
            except queue.Full:
                log.error("alert hook backlog full; hook not run for journal seq %d", seq)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            seq, finding = item
            result: dict[str, Any] = {"for_seq": seq}
            try:
                done = subprocess.run(["/bin/sh", "-c", self.command or ""],
                                      input=json.dumps(finding).encode(), timeout=HOOK_TIMEOUT,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
                result["returncode"] = done.returncode
                if done.returncode:
                    result["stderr"] = done.stderr[-MAX_TEXT:].decode(errors="replace")
                    log.error("--on-alert command exited %d for journal seq %d", done.returncode, seq)
            except (OSError, subprocess.SubprocessError) as exc:
                result["error"] = str(exc)
                log.error("--on-alert command failed for journal seq %d: %s", seq, exc)
            try:
                self.journal.write("ALERT_HOOK", result)
            except JournalFull:
                return

    def stop(self, timeout: float) -> None:
        if self._thread is not None:
            try:
                self._queue.put(None, timeout=timeout)
            except queue.Full:
                return
            self._thread.join(timeout)


class Hasher:
    def __init__(self, journal: Journal, alerts: Alerts, max_queue: int) -> None:
        self.journal = journal
        self.alerts = alerts
        self.max_queue = max(1, max_queue)
        self._queue: queue.Queue[Job | None] = queue.Queue(maxsize=self.max_queue)
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self._deadline: float | None = None
        self.known: OrderedDict[str, str] = OrderedDict()  # local path -> host path, hashed files
        self.worker = Worker()
        self._thread = threading.Thread(target=self._run, name="watch-hasher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, job: Job) -> None:
        with self._lock:
            if job.local in self._pending:
                return
            try:
                self._queue.put_nowait(job)
            except queue.Full:
                pass
            else:
                self._pending.add(job.local)
                return
        self.journal.write("HASH_SKIPPED", {"path": job.path, "for_seq": job.for_seq,
                                            "reason": f"hash queue full (--max-queue {self.max_queue})"})

    def known_files(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self.known.items())

    def forget(self, local: str) -> None:
        with self._lock:
            self.known.pop(local, None)

    def stop(self, grace: float) -> None:
        """Finish queued work within ``grace`` seconds; what is left is journaled as skipped."""
        self._deadline = time.monotonic() + grace
        while self._thread.is_alive():  # past the deadline the worker only journals skips: room soon
            try:
                self._queue.put(None, timeout=0.5)
            except queue.Full:
                continue
            self._thread.join()

    def _late(self) -> bool:
        return self._deadline is not None and time.monotonic() > self._deadline

    def _run(self) -> None:
        try:
            while (job := self._queue.get()) is not None:
                with self._lock:
                    self._pending.discard(job.local)
                try:
                    self._process(job)
                except JournalFull:
                    return  # the agent's main loop reports it and stops
                finally:
                    self._queue.task_done()
        finally:
            self.worker.close()

    def _process(self, job: Job) -> None:
        base = {"path": job.path, "for_seq": job.for_seq}
        if self._late():
            self.journal.write("HASH_SKIPPED", {**base, "reason": "agent stopping"})
            return
        try:
            size = os.lstat(job.local).st_size
        except OSError:
            self.journal.write("HASH_SKIPPED", {**base, "reason": "gone before it could be hashed"})
            return
        if job.kind == "persistence" and size > PERSISTENCE_MAX_BYTES:
            self.journal.write("HASH_SKIPPED", {**base, "reason": f"larger than {PERSISTENCE_MAX_BYTES} bytes"})
            return
        inspect = job.kind in ("model", "code")
        try:
            hashed, verdict = self.worker.analyse(job.local, inspect, size, self._late)
        except Stopping:
            self.journal.write("HASH_SKIPPED", {**base, "reason": "agent stopping"})
            return
        except WorkerFailed as exc:
            if "sha256" not in exc.partial:
                self.journal.write("HASH_SKIPPED", {**base, "reason": exc.reason})
                return
            # A file that kills or hangs the analyser is itself a finding: it must not pass quietly.
            hashed, verdict = exc.partial, {
                "verdict": "suspicious", "verdict_detail": exc.reason, "format": None,
                "findings": [{"rule_id": "watch.inspector-failed", "severity": "medium",
                              "message": f"static inspection failed on this file ({exc.reason})"}]}
        if "error" in hashed:
            reason = "gone before it could be hashed" if hashed.get("missing") else hashed["error"]
            self.journal.write("HASH_SKIPPED", {**base, "reason": reason})
            return
        if hashed["changed"]:  # its next CLOSE_WRITE queues it again
            self.journal.write("HASH_SKIPPED", {**base, "reason": "changed while being hashed"})
            return
        record: dict[str, Any] = {**base, "sha256": hashed["sha256"], "size": hashed["size"],
                                  "kind": job.kind}
        if verdict is not None:
            record.update(verdict)
        with self._lock:
            self.known[job.local] = job.path
            self.known.move_to_end(job.local)
            while len(self.known) > KNOWN_FILES:
                self.known.popitem(last=False)
        self.journal.write("HASH", record)
        if record.get("verdict") in FLAGGED:
            self.alerts.raise_alert({k: record[k] for k in ("path", "sha256", "size", "verdict",
                                                            "format", "findings", "for_seq")
                                     if k in record})
