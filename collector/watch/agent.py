"""The long-running agent behind ``mlsleuth watch``.

One thread reads inotify and journals (it only ever waits in ``poll``: idle costs nothing), one
hashes and inspects, one fsyncs, and an optional one runs the ``--on-alert`` hook. Signals only set
a flag and wake ``poll`` through a pipe, so a line being written is always finished. On stop, the
events still queued in the kernel are journaled, queued hashes get a grace period, and a ``STOP``
line closes the run.

Tuning without new CLI options (environment): ``MLSLEUTH_WATCH_ROTATE_BYTES`` (default 64 MiB),
``MLSLEUTH_WATCH_KEEP`` (rotated files to keep, 0 = all), ``MLSLEUTH_WATCH_FSYNC_INTERVAL`` (seconds,
default 1), ``MLSLEUTH_WATCH_STOP_GRACE`` (seconds for pending hashes at stop, default 10),
``MLSLEUTH_WATCH_DEFAULTS=0`` (watch only the PATHS given).
"""

from __future__ import annotations

import logging
import os
import select
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlsleuth.collector.watch.locations import Target, default_targets

from mlsleuth import __version__

log = logging.getLogger("mlsleuth.watch")

EXIT_OK = 0
EXIT_ERROR = 2


@dataclass
class Config:
    journal: Path
    paths: list[Path]
    root: Path = Path("/")
    on_alert: str | None = None
    max_queue: int = 10_000
    rotate_bytes: int = 64 * 1024 * 1024
    keep: int = 0
    fsync_interval: float = 1.0
    stop_grace: float = 10.0
    defaults: bool = True

    @classmethod
    def from_env(cls, **kw: Any) -> Config:
        env = os.environ
        cfg = cls(**kw)
        cfg.rotate_bytes = int(env.get("MLSLEUTH_WATCH_ROTATE_BYTES", cfg.rotate_bytes))
        cfg.keep = int(env.get("MLSLEUTH_WATCH_KEEP", cfg.keep))
        cfg.fsync_interval = float(env.get("MLSLEUTH_WATCH_FSYNC_INTERVAL", cfg.fsync_interval))
        cfg.stop_grace = float(env.get("MLSLEUTH_WATCH_STOP_GRACE", cfg.stop_grace))
        cfg.defaults = env.get("MLSLEUTH_WATCH_DEFAULTS", "1") != "0"
        return cfg


def host_name(root: Path) -> str:
    if str(root.resolve()) == "/":
        return socket.gethostname()
    try:
        return (root / "etc/hostname").read_text(errors="replace").strip()[:255]
    except OSError:
        return ""


def explicit_target(path: Path, root: Path) -> Target:
    """A PATH from the command line: a host path resolved under --root, unless already under it."""
    absolute = Path(os.path.abspath(path))
    root_abs = Path(os.path.abspath(root))
    if root_abs != Path("/") and absolute.is_relative_to(root_abs):
        host, local = "/" + str(absolute.relative_to(root_abs)), absolute
    else:
        host, local = str(absolute), Path(str(root_abs).rstrip("/") + str(absolute))
    kind = "file" if local.is_file() and not local.is_symlink() else "tree"
    return Target.of(host, kind)


class Agent:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self._stop = threading.Event()
        self._stop_reason = "requested"
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.ready = threading.Event()
        self.stats: dict[str, Any] = {}

    def request_stop(self, reason: str = "requested") -> None:
        self._stop_reason = reason
        self._stop.set()
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self._stop_reason = signal.Signals(signum).name
        self._stop.set()  # the wakeup fd (set below) interrupts poll

    def install_signals(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a file size limit becomes EFBIG, handled
        signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)

    def run(self) -> int:
        from mlsleuth.collector.watch import inotify as ino
        from mlsleuth.collector.watch.hasher import Alerts, Hasher
        from mlsleuth.collector.watch.journal import Journal, JournalFull
        from mlsleuth.collector.watch.verdicts import inspector
        from mlsleuth.collector.watch.watcher import Watcher

        cfg = self.cfg
        root = os.path.abspath(cfg.root)
        targets = default_targets() if cfg.defaults else []
        targets += [explicit_target(p, cfg.root) for p in cfg.paths]
        header = {"agent": "mlsleuth watch", "version": __version__, "host": host_name(cfg.root),
                  "root": root, "pid": os.getpid()}
        journal = Journal(cfg.journal, header, rotate_bytes=cfg.rotate_bytes,
                          fsync_interval=cfg.fsync_interval, keep=cfg.keep,
                          on_failure=lambda _exc: self.request_stop("journal failure"))
        try:
            journal.open()
        except OSError as exc:
            log.error("cannot open the journal in %s: %s", cfg.journal, exc)
            return EXIT_ERROR
        try:
            notify = ino.Inotify()
        except OSError as exc:
            log.error("cannot start inotify: %s", exc)
            journal.close()
            return EXIT_ERROR
        alerts = Alerts(journal, cfg.on_alert)
        hasher = Hasher(journal, alerts, cfg.max_queue)
        watcher = Watcher(notify, journal, hasher, root, targets, exclude=[str(cfg.journal)])
        code = EXIT_OK
        reported = False
        try:
            journal.write("START", {**header, "resumed_from": journal.resumed_from,
                                    "max_queue": cfg.max_queue, "on_alert": bool(cfg.on_alert)})
            inspector()  # imported once here, before the first inspection child is forked
            hasher.start()
            started = time.monotonic()
            summary = watcher.start()
            journal.write("READY", {**summary, "seconds": round(time.monotonic() - started, 3)})
            log.info("watching %d directories (%d locations); journal %s", summary["watches"],
                     len(targets), journal.path)
            self.ready.set()
            self._loop(notify, watcher)
            self._drain(notify, watcher)  # what the kernel queued before the stop request
        except JournalFull as exc:
            log.error("%s", exc)
            code, reported = EXIT_ERROR, True
        except Exception:
            log.exception("watch agent failed")
            code = EXIT_ERROR
        finally:
            self.ready.set()
            hasher.stop(cfg.stop_grace)
            alerts.stop(cfg.stop_grace)
            self.stats = {"watches": len(watcher.watches), "unwatched": watcher.unwatched}
            if journal.failed is None:
                try:
                    journal.write("STOP", {"reason": self._stop_reason, **self.stats})
                except JournalFull:
                    pass
            if journal.failed is not None:
                code = EXIT_ERROR
                if not reported:
                    log.error("%s", journal.failed)
            journal.close()
            notify.close()
        return code

    def _loop(self, notify: Any, watcher: Any) -> None:
        poller = select.poll()
        poller.register(notify.fd, select.POLLIN)
        poller.register(self._wake_r, select.POLLIN)
        timeout: float | None = None
        while not self._stop.is_set():
            ready = poller.poll(None if timeout is None else int(timeout * 1000) + 1)
            for fd, _ in ready:
                if fd == self._wake_r:
                    self._drain_wake()
                elif fd == notify.fd:
                    self._read(notify, watcher)
            timeout = watcher.expire_moves()
            if watcher.rescan_needed and not self._stop.is_set():
                watcher.rescan()

    def _read(self, notify: Any, watcher: Any) -> int:
        events = notify.read()
        if events:
            watcher.handle(events, time.time_ns())
        return len(events)

    def _drain(self, notify: Any, watcher: Any) -> None:
        deadline = time.monotonic() + 5.0
        while self._read(notify, watcher) and time.monotonic() < deadline:
            pass
        if watcher.rescan_needed:
            watcher.rescan()

    def _drain_wake(self) -> None:
        try:
            while os.read(self._wake_r, 512):
                pass
        except BlockingIOError:
            pass


def _setup_logging() -> None:
    if not logging.getLogger().handlers and not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s mlsleuth-watch %(levelname)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False


def run_watch_cli(journal: Path, paths: list[Path], root: Path = Path("/"), on_alert: str | None = None,
                  max_queue: int = 10_000) -> int:
    _setup_logging()
    if not sys.platform.startswith("linux"):
        log.error("mlsleuth watch needs Linux inotify")
        return EXIT_ERROR
    if not Path(root).is_dir():
        log.error("--root %s is not a directory", root)
        return EXIT_ERROR
    try:
        cfg = Config.from_env(journal=Path(journal), paths=[Path(p) for p in paths], root=Path(root),
                              on_alert=on_alert, max_queue=max_queue)
    except ValueError as exc:
        log.error("bad MLSLEUTH_WATCH_* setting: %s", exc)
        return EXIT_ERROR
    agent = Agent(cfg)
    agent.install_signals()
    return agent.run()
