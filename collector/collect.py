"""`mlsleuth collect`: capture an ML host (live ``/`` or a mounted/copied tree) into a verifiable
evidence archive.

Flow: host facts and users -> live state (live root only) -> the resolver walks the artifact
definitions (main thread) while a thread pool reads and hashes files (hashlib and file reads
release the GIL, so threads scale across cores without copying data between processes) -> the
main thread streams finished files into the ``.tar.gz`` -> bodyfile, manifest, host.json,
summary.json, collection.log and integrity.json close the archive -> ``.sha256`` sidecar.

The archive is written as ``.<name>.partial`` in the output folder and renamed when complete, so
a crash never leaves something that looks like finished evidence. A temporary work folder next to
it holds spooled copies and the growing manifest; it is removed at the end.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from mlsleuth.collector import fsmeta
from mlsleuth.collector import live as livemod
from mlsleuth.collector.archive import ArchiveWriter, OutOfSpace, host_path_text, member_name, write_sidecar
from mlsleuth.collector.fileread import FileResult, Policy, b64, base_row, collect_file
from mlsleuth.collector.hostinfo import host_facts
from mlsleuth.collector.progress import Progress, human
from mlsleuth.collector.records import Bodyfile, CollectionLog, JsonLines, Summary, now_iso
from mlsleuth.collector.resources import DISK_RESERVE, DiskGuard, lower_priority
from mlsleuth.collector.sqlite_copy import collect_database, is_sibling, main_db_of

from mlsleuth import __version__, selfinfo
from mlsleuth.artifacts import ArtifactDef, Resolver, Target, find_users, load_definitions, parse_size
from mlsleuth.artifacts.fsutil import Confined

DEFAULT_MAX_COPY = 64 << 20
BATCH_FILE_MAX = 256 << 10  # files up to this size are read in batches ...
BATCH_FILES = 64  # ... of at most this many files
BATCH_BYTES = 4 << 20  # ... or this many bytes
DEFAULT_COMPRESSLEVEL = 3  # most members are small text; level 3 is close to 6 in size, 2x faster


class CollectError(Exception):
    """The collection cannot start or cannot produce an archive (bad root, output exists ...)."""


@dataclass
class CollectResult:
    archive: Path
    sidecar: Path
    sha256: str
    summary: dict[str, Any]
    stopped: str | None
    duration: float
    files_read: int
    bytes_read: int
    manifest_rows: int
    live: bool
    warnings: int = 0
    errors: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "archive": str(self.archive), "sidecar": str(self.sidecar), "sha256": self.sha256,
            "stopped": self.stopped, "duration_s": round(self.duration, 3), "files_read": self.files_read,
            "bytes_read": self.bytes_read, "manifest_rows": self.manifest_rows, "live": self.live,
            "warnings": self.warnings, "errors": self.errors, "totals": self.summary.get("totals", {}),
            "tampered": self.summary.get("tampered", []),
        }


def default_output(hostname: str | None) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in (hostname or "host")) or "host"
    return Path.cwd() / f"mlsleuth-{safe}-{stamp}.tar.gz"


class _Run:
    """State of one collection (kept off the module so tests can run several at once)."""

    def __init__(self, root: Path, output: Path, *, live: bool | None, custody: dict[str, Any],
                 max_copy: int, time_limit: float, workers: int, include_secrets: bool,
                 definitions: Sequence[ArtifactDef], progress: Progress, compresslevel: int,
                 env: Mapping[str, Iterable[str]] | None, disk_reserve: int, nice: bool) -> None:
        self.root = root
        self.confined = Confined(root)
        self.output = output
        self.live = self.confined.live if live is None else live
        self.custody = custody
        self.max_copy = max_copy
        self.time_limit = time_limit
        self.workers = workers if workers > 0 else _cpus()
        self.include_secrets = include_secrets
        self.definitions = list(definitions)
        self.progress = progress
        self.compresslevel = compresslevel
        self.extra_env = env
        self.disk_reserve = disk_reserve
        self.nice = nice
        self.stop_reason: str | None = None
        self.deadline: float | None = None
        self.files_read = 0
        self.bytes_read = 0

    # -- the run --------------------------------------------------------------------------------
    def run(self) -> CollectResult:
        t0 = time.monotonic()
        if self.time_limit and self.time_limit > 0:
            self.deadline = t0 + self.time_limit
        out_dir = self.output.parent
        self.work = Path(tempfile.mkdtemp(prefix=f".{self.output.name}.work-", dir=out_dir))
        self.partial = out_dir / f".{self.output.name}.partial"
        guard = DiskGuard(out_dir, self.disk_reserve)
        self.guard = guard
        writer: ArchiveWriter | None = None
        try:
            self.log = CollectionLog(self.work / "collection.log")
            self.manifest = JsonLines(self.work / "manifest.jsonl")
            self.bodyfile = Bodyfile(self.work / "bodyfile.txt")
            self.summary = Summary([d.name for d in self.definitions])
            self.custody["start"] = now_iso()
            self.log.log("info", "collection_start", root=str(self.root), live=self.live,
                         output=str(self.output), tool_version=__version__, workers=self.workers,
                         max_copy_size=self.max_copy, time_limit=self.time_limit or None,
                         include_secrets=self.include_secrets, uid=os.getuid(), euid=os.geteuid(),
                         artifacts=[d.name for d in self.definitions], tool=selfinfo.describe())
            if self.include_secrets:
                self.log.log("warning", "secrets_included",
                             detail="--include-secrets: credentials are stored unredacted")
            if self.nice:
                self.log.log("info", "priority_lowered", done=lower_priority())
            if not guard.fits(0):
                raise CollectError(f"less than {human(self.disk_reserve)} free on {out_dir}")
            self._warn_same_filesystem(out_dir)
            users = find_users(self.confined, self.log.log)
            facts = host_facts(self.confined, self.live, users)
            writer = ArchiveWriter(self.partial, compresslevel=self.compresslevel, guard=guard)
            self.writer = writer
            env_values: dict[str, list[str]] = {}
            if self.live:
                env_values = self._live(writer)
            if self.extra_env:
                for k, v in self.extra_env.items():
                    env_values.setdefault(k, []).extend([v] if isinstance(v, str) else list(v))
            self._walk(users, env_values)
            return self._finish(writer, facts, t0)
        except BaseException:  # Ctrl-C included: never leave a half archive behind
            if writer is not None:
                writer.abort()
                self.partial.unlink(missing_ok=True)
            raise
        finally:
            for closer in ("log", "manifest", "bodyfile"):
                obj = getattr(self, closer, None)
                if obj is not None:
                    obj.close()
            shutil.rmtree(self.work, ignore_errors=True)

    def _warn_same_filesystem(self, out_dir: Path) -> None:
        if _under(self.output, self.root):
            self.log.log("warning", "output_inside_root", output=str(self.output),
                         detail="the archive and its work folder are excluded from the collection")
        try:
            same = os.stat(out_dir).st_dev == os.stat(self.root).st_dev
        except OSError:
            return
        if same and self.live:
            self.log.log("warning", "output_on_evidence_filesystem", output=str(out_dir),
                         detail="writing to the collected file system can overwrite deleted data; "
                                "prefer an external disk or network share")

    def _live(self, writer: ArchiveWriter) -> dict[str, list[str]]:
        wanted = {loc.split_env(spec)[0] for d in self.definitions for loc in d.locations
                  for spec in loc.env}
        self.progress.update(where="live state")
        try:
            state = livemod.gather(wanted, include_secrets=self.include_secrets)
        except Exception as exc:  # psutil trouble must not cost the file collection
            self.log.log("error", "live_state_failed", error=f"{type(exc).__name__}: {exc}")
            return {}
        for name, data in state.members().items():
            writer.add_meta_bytes(name, data)
        self.log.log("info", "live_state", processes=len(state.processes),
                     connections=len(state.connections), open_files=len(state.open_files),
                     users=len(state.users), errors=state.errors[:50])
        return state.env_values

    # -- walking and hashing ------------------------------------------------------------------
    def _should_stop(self) -> bool:
        if self.stop_reason is None and self.deadline is not None and time.monotonic() > self.deadline:
            self.stop_reason = "time limit"
            self.log.log("warning", "time_limit_reached", limit_s=self.time_limit)
        return self.stop_reason is not None

    def _policy(self, target: Target) -> Policy:
        a = target.artifact
        name = target.host_path.rsplit("/", 1)[-1]
        handler = None if self.include_secrets else a.secret_handler(name, target.rel)
        return Policy(copy_max=a.size.copy_max if a.size.copy_max is not None else self.max_copy,
                      large=a.size.large, secret_handler=handler,
                      content_check="content_name" in a.checks, spool_dir=self.work,
                      deadline=self.deadline, fits=self.guard.fits)

    def _walk(self, users: list[Any], env_values: dict[str, list[str]]) -> None:
        exclude = {self.confined.host(p) for p in (self.output, self.partial, self.work,
                                                     self.output.with_name(self.output.name + ".sha256"))
                   if _under(p, self.root)}
        resolver = Resolver(self.root, self.definitions, env=env_values, include_dirs=True,
                            exclude_paths=exclude, on_event=self._resolver_event,
                            stop=self._should_stop, users=users)
        max_inflight = max(4, self.workers * 4)
        inflight: dict[Future[Any], list[Target]] = {}
        self._done: queue.SimpleQueue[Future[Any]] = queue.SimpleQueue()
        self._batch: list[tuple[Target, Policy]] = []
        self._batch_bytes = 0
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="mlsleuth-hash") as pool:
            for target in resolver.targets():
                self.progress.update(seen=1, where=target.host_path[-60:])
                self._dispatch(target, pool, inflight)
                self._drain(inflight, block=len(inflight) >= max_inflight)
                if self._should_stop():
                    break
            if not self.stop_reason:
                self._flush_batch(pool, inflight)
            else:
                for target, _ in self._batch:
                    self._skipped_by_stop(target)
                self._batch = []
                for fut, targets in list(inflight.items()):
                    if fut.cancel():  # its done callback still fires: drained as cancelled below
                        for target in targets:
                            self._skipped_by_stop(target)
            while inflight:
                self._drain(inflight, block=True)
        self.log.log("info", "walk_done", users=[u.name for u in users],
                     python_prefixes=sorted(resolver.python_prefixes),
                     conda_prefixes=sorted(resolver.conda_prefixes),
                     env_overrides={k: [v for v, _, _ in vs] for k, vs in resolver.env_values.items()})

    def _skipped_by_stop(self, target: Target) -> None:
        row = base_row(target)
        self._meta(row, target)
        row.update(action="skipped", reason=self.stop_reason)
        self._record(row)

    def _flush_batch(self, pool: ThreadPoolExecutor, inflight: dict[Future[Any], list[Target]]) -> None:
        if self._batch:
            batch, self._batch, self._batch_bytes = self._batch, [], 0
            self._submit(pool, inflight, [t for t, _ in batch], _collect_batch, batch)

    def _resolver_event(self, level: str, event: str, **fields: Any) -> None:
        self.log.log(level, event, **fields)

    def _meta(self, row: dict[str, Any], target: Target) -> None:
        if target.stat is not None:
            row.update(fsmeta.stat_fields(target.stat, fsmeta.btime(target.local_path)))

    def _dispatch(self, target: Target, pool: ThreadPoolExecutor, inflight: dict[Future[Any], list[Target]]) -> None:
        kind = target.kind
        if kind == "dir":
            row = base_row(target)
            self._meta(row, target)
            if target.error:
                row.update(action="failed", error=target.error)
                self._record(row)
            else:
                self.bodyfile.add(row)
            return
        if target.error:
            row = base_row(target)
            self._meta(row, target)
            row.update(action="failed", error=target.error)
            self._record(row)
            return
        if kind == "symlink":
            self._symlink(target)
            return
        if kind != "file":
            row = base_row(target)
            self._meta(row, target)
            row.update(action="skipped", reason=f"{kind}: never opened")
            self._record(row)
            return
        a = target.artifact
        if a.sqlite and is_sibling(target.host_path):
            if os.path.lexists(self.confined.local(main_db_of(target.host_path))):
                return  # copied together with its database
        policy = self._policy(target)
        if a.sqlite and not is_sibling(target.host_path):
            self._submit(pool, inflight, [target], collect_database, target, policy)
            return
        size = target.stat.st_size if target.stat is not None else 0
        if size > BATCH_FILE_MAX:
            self._submit(pool, inflight, [target], collect_file, target, policy)
            return
        # Small files go to the workers in batches: one task per file costs more in thread
        # hand-offs than reading the file.
        self._batch.append((target, policy))
        self._batch_bytes += size
        if len(self._batch) >= BATCH_FILES or self._batch_bytes >= BATCH_BYTES:
            self._flush_batch(pool, inflight)

    def _symlink(self, target: Target) -> None:
        row = base_row(target)
        self._meta(row, target)
        try:
            link = os.readlink(target.local_path)
        except OSError as exc:
            row.update(action="failed", error=f"readlink: {exc.strerror}")
            self._record(row)
            return
        text, clean = host_path_text(link)
        row.update(action="symlink", link_target=text, member=member_name("fs", target.host_path))
        if not clean:
            row["link_target_b64"] = b64(os.fsencode(link))
        try:
            self.writer.add_symlink(row["member"], link, row)
        except OutOfSpace:
            self._out_of_space()
            row.update(action="skipped", member=None, reason="output disk full")
        self._record(row)

    def _submit(self, pool: ThreadPoolExecutor, inflight: dict[Future[Any], list[Target]],
                targets: list[Target], fn: Any, *args: Any) -> None:
        fut = pool.submit(fn, *args)
        inflight[fut] = targets
        fut.add_done_callback(self._done.put)

    def _drain(self, inflight: dict[Future[Any], list[Target]], *, block: bool) -> None:
        """Store finished results; with ``block``, wait for at least one."""
        if not inflight:
            return
        done: list[Future[Any]] = []
        if block:
            done.append(self._done.get())
        while True:
            try:
                done.append(self._done.get_nowait())
            except queue.Empty:
                break
        for fut in done:
            targets = inflight.pop(fut)
            if fut.cancelled():
                continue  # recorded as skipped when it was cancelled
            try:
                result = fut.result()
            except Exception as exc:  # a bug in a worker: record it, keep collecting
                for target in targets:
                    row = base_row(target)
                    self._meta(row, target)
                    row.update(action="failed", error=f"internal error: {type(exc).__name__}: {exc}")
                    self.log.log("error", "worker_error", path=row["path"], error=repr(exc))
                    self._record(row)
                continue
            for res in result if isinstance(result, list) else [result]:
                self._store(res)

    def _store(self, res: FileResult) -> None:
        row = res.row
        self.files_read += 1 if res.bytes_read or row.get("sha256") else 0
        self.bytes_read += res.bytes_read
        for entry in res.logs:
            self.log.log(entry.pop("level"), entry.pop("event"), **entry)
        need = sum(p.size for p in res.payloads)
        if res.payloads and (self.stop_reason == "output disk full" or not self.guard.fits(need)):
            self._out_of_space()
            res.close()
            dropped = [p.member for p in res.payloads]
            res.payloads = []
            if row["action"] == "copied":
                row.update(action="hashed", member=None, reason="not copied: output disk nearly full")
            elif row["action"] == "redacted":
                row.update(action="skipped", member=None, member_sha256=None,
                           reason="not copied: output disk nearly full")
            else:
                row["parts"] = [p for p in row["parts"] if p["member"] not in dropped]
                if row["action"] == "partial":
                    row.update(action="hashed", reason="parts dropped: output disk nearly full")
        try:
            for p in res.payloads:
                self.writer.add_data(p.member, p.data, p.size, row)
        except OutOfSpace:
            # Checked above; another writer on the disk raced us. The row must not point at a
            # member that is not there, so it is recorded as failed and the run stops.
            self._out_of_space()
            row.update(action="failed", member=None, parts=[], error="output disk full while writing")
        finally:
            res.close()
        self.progress.update(files=1, nbytes=res.bytes_read)
        self._record(row)

    def _out_of_space(self) -> None:
        if self.stop_reason != "output disk full":
            self.stop_reason = "output disk full"
            self.log.log("error", "output_disk_full", free=self.guard.free(), reserve=self.guard.reserve,
                         detail="stopping cleanly; the archive holds what was collected so far")

    def _record(self, row: dict[str, Any]) -> None:
        self.manifest.write(row)
        self.bodyfile.add(row)
        self.summary.add(row)
        action = row.get("action")
        if action == "failed":
            self.log.log("warning", "file_failed", path=row["path"], artifact=row["artifact"],
                         error=row.get("error"))
        elif action == "skipped":
            self.log.log("info", "file_skipped", path=row["path"], artifact=row["artifact"],
                         reason=row.get("reason"))
        elif action == "redacted":
            self.log.log("info", "secrets_redacted", path=row["path"], artifact=row["artifact"],
                         secrets=row.get("secrets"))

    # -- closing the archive ------------------------------------------------------------------
    def _finish(self, writer: ArchiveWriter, facts: dict[str, Any], t0: float) -> CollectResult:
        self.manifest.close()
        self.bodyfile.close()
        writer.add_meta_file("bodyfile.txt", self.bodyfile.path)
        writer.add_meta_file("manifest.jsonl", self.manifest.path)
        duration = time.monotonic() - t0
        self.custody["end"] = now_iso()
        host = dict(facts)
        host["custody"] = self.custody
        host["collector"] = {"tool": "mlsleuth", "version": __version__, "python": sys.version.split()[0],
                             "uid": os.getuid(), "euid": os.geteuid(), "workers": self.workers,
                             "max_copy_size": self.max_copy, "time_limit": self.time_limit or None,
                             "include_secrets": self.include_secrets, "stopped": self.stop_reason,
                             "self": selfinfo.describe()}
        summary = self.summary.to_dict()
        summary.update(stopped=self.stop_reason, duration_s=round(duration, 3), files_read=self.files_read,
                       bytes_read=self.bytes_read, manifest_rows=self.manifest.count,
                       bodyfile_lines=self.bodyfile.count, archive=self.output.name,
                       log_levels=dict(self.log.levels))
        writer.add_meta_bytes("host.json", _json_bytes(host))
        writer.add_meta_bytes("summary.json", _json_bytes(summary))
        self.log.log("info", "collection_end", duration_s=round(duration, 3), stopped=self.stop_reason,
                     files_read=self.files_read, bytes_read=self.bytes_read, rows=self.manifest.count)
        self.log.close()
        writer.add_meta_file("collection.log", self.log.path)
        integrity = {
            "algorithm": "sha256",
            "members": dict(sorted(writer.meta_hashes.items())),
            "data_members": writer.data_members,
            "manifest_rows": self.manifest.count,
            "created": now_iso(),
            "tool_version": __version__,
            "note": "fs/ and parts/ members are checked against manifest.jsonl; this file against the "
                    ".sha256 sidecar of the archive",
        }
        writer.add_meta_bytes("integrity.json", _json_bytes(integrity))
        sha = writer.close()
        _publish(self.partial, self.output)
        sidecar = write_sidecar(self.output, sha)
        return CollectResult(
            archive=self.output, sidecar=sidecar, sha256=sha, summary=summary, stopped=self.stop_reason,
            duration=duration, files_read=self.files_read, bytes_read=self.bytes_read,
            manifest_rows=self.manifest.count, live=self.live, warnings=self.log.levels.get("warning", 0),
            errors=self.log.levels.get("error", 0))


def _collect_batch(batch: list[tuple[Target, Policy]]) -> list[FileResult]:
    return [collect_file(target, policy) for target, policy in batch]


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=1, ensure_ascii=False, default=str) + "\n").encode("utf-8", "backslashreplace")


def _under(path: Path, root: Path) -> bool:
    try:
        Path(os.path.abspath(path)).relative_to(os.path.abspath(root))
        return True
    except ValueError:
        return False


def _publish(partial: Path, final: Path) -> None:
    """Move the finished archive to its name without ever replacing an existing file."""
    try:
        os.link(partial, final)
    except FileExistsError:
        raise CollectError(f"{final} appeared during the collection; archive left at {partial}") from None
    except OSError:
        if final.exists():
            raise CollectError(f"{final} exists; archive left at {partial}") from None
        os.rename(partial, final)
        return
    partial.unlink()


def collect(root: Path | str = Path("/"), output: Path | str | None = None, *, live: bool | None = None,
            no_live: bool = False, case: str = "", examiner: str = "", evidence_id: str = "",
            max_copy_size: int | str = DEFAULT_MAX_COPY, time_limit: float = 0.0, workers: int = 0,
            nice: bool = False, include_secrets: bool = False, quiet: bool = True,
            definitions: Sequence[ArtifactDef] | None = None, artifacts: Iterable[str] | None = None,
            compresslevel: int = DEFAULT_COMPRESSLEVEL, progress_stream: TextIO | None = None,
            argv: Sequence[str] | None = None, env: Mapping[str, Iterable[str]] | None = None,
            disk_reserve: int = DISK_RESERVE) -> CollectResult:
    """Collect ``root`` into the archive ``output`` (``.tar.gz``; its ``.sha256`` is written beside).

    ``live``: gather processes/network/users (default: when ``root`` is ``/``; never otherwise).
    ``artifacts`` limits the collection to the named definitions. ``nice`` lowers this process's
    CPU and I/O priority (the CLI does by default; a library caller decides). Raises
    :class:`CollectError` when no archive can be produced.
    """
    root_path = Path(os.path.abspath(root))
    if not root_path.is_dir():
        raise CollectError(f"root {root_path} is not a directory")
    defs = list(definitions) if definitions is not None else load_definitions(artifacts)
    try:
        max_copy = parse_size(max_copy_size)
    except ValueError as exc:
        raise CollectError(str(exc)) from None
    is_live_root = Confined(root_path).live
    if no_live:
        live = False
    if live and not is_live_root:
        live = False  # live state only describes this host when its own root is collected
    if live is None:
        live = is_live_root
    progress = Progress(progress_stream, enabled=not quiet)
    if output is None:
        output = default_output(livemod.hostname() if is_live_root else root_path.name)
    out = Path(os.path.abspath(output))
    if out.exists() or out.with_name(out.name + ".sha256").exists():
        raise CollectError(f"{out} (or its .sha256) exists: evidence is never overwritten")
    if out.with_name(f".{out.name}.partial").exists():
        raise CollectError(f"{out.with_name(f'.{out.name}.partial')} is left from an interrupted "
                           "collection: remove it or choose another output name")
    if not out.parent.is_dir():
        raise CollectError(f"output folder {out.parent} does not exist")
    custody = {"case": case, "examiner": examiner, "evidence_id": evidence_id, "tool": "mlsleuth",
               "tool_version": __version__, "argv": list(argv) if argv is not None else None,
               "hostname_collected_from": livemod.hostname(),
               "tool_sha256": selfinfo.describe().get("executable_sha256")}
    run = _Run(root_path, out, live=live, custody=custody, max_copy=max_copy, time_limit=time_limit,
               workers=workers, include_secrets=include_secrets, definitions=defs, progress=progress,
               compresslevel=compresslevel, env=env, disk_reserve=disk_reserve, nice=nice)
    result = run.run()
    progress.finish()
    return result


def run_collect_cli(*, root: Path, output: Path | None, no_live: bool, case: str, examiner: str,
                    evidence_id: str, max_copy_size: str, time_limit: float, workers: int, no_nice: bool,
                    include_secrets: bool, quiet: bool, json_summary: bool, **_: Any) -> int:
    try:
        result = collect(root, output, no_live=no_live, case=case, examiner=examiner,
                         evidence_id=evidence_id, max_copy_size=max_copy_size, time_limit=time_limit,
                         workers=workers, nice=not no_nice, include_secrets=include_secrets, quiet=quiet,
                         argv=sys.argv)
    except CollectError as exc:
        print(f"mlsleuth collect: error: {exc}", file=sys.stderr)
        return 2
    if json_summary:
        print(json.dumps(result.to_dict(), indent=1))
    else:
        print(f"{result.sha256}  {result.archive}")
        if not quiet:
            t = result.summary["totals"]
            print(f"mlsleuth collect: {result.manifest_rows} rows: {t['collected']} copied, "
                  f"{t['redacted']} redacted, {t['partial']} partial, {t['hashed']} hashed, "
                  f"{t['symlink']} symlinks, {t['skipped']} skipped, {t['failed']} failed"
                  + (f"; stopped: {result.stopped}" if result.stopped else "")
                  + (f"; {len(result.summary['tampered'])} TAMPERED blob(s)" if result.summary["tampered"] else ""),
                  file=sys.stderr)
    return 0
