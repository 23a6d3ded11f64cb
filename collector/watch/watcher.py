"""The watch table and what each inotify event becomes in the journal.

Three kinds of watched directory:

* **tree** directories (a location and everything below it): every event is journaled, new
  subdirectories are watched at once and then listed, so files created before their watch existed
  (``mkdir -p a/b && touch a/b/f``) are journaled as ``SCAN`` lines instead of being missed;
* **anchor** directories (every directory on the way from the root to a location): only events for
  names that lead to a location are acted on, so a location that appears later is picked up;
* anchors that also hold **file** locations (``~/.bashrc`` in a home): events for those names are
  journaled.

Symlinks are never followed: only real directories get watches, and trees are walked with
``follow_symlinks=False``.
"""

from __future__ import annotations

import errno
import fnmatch
import logging
import os
import stat
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mlsleuth.collector.watch import inotify as ino
from mlsleuth.collector.watch.hasher import Hasher, Job
from mlsleuth.collector.watch.journal import Journal
from mlsleuth.collector.watch.locations import Target, classify, has_glob

log = logging.getLogger("mlsleuth.watch")

Spec = tuple[tuple[str, ...], str]  # remaining path components below a directory, kind
# An IN_MOVED_FROM without its IN_MOVED_TO by then moved out of sight. The pair is usually adjacent
# but inotify(7) does not promise it, so events from inside a directory being moved are held until
# it is known where it went (renamed under the new path, or dropped when it left the watched area).
MOVE_PAIR_SECONDS = 0.5
RESCAN_SLACK_NS = 2_000_000_000  # changes this close before an overflow are re-examined too

_NAMES = (
    (ino.IN_CREATE, "CREATE"), (ino.IN_CLOSE_WRITE, "CLOSE_WRITE"), (ino.IN_MOVED_FROM, "MOVED_FROM"),
    (ino.IN_MOVED_TO, "MOVED_TO"), (ino.IN_DELETE, "DELETE"), (ino.IN_ATTRIB, "ATTRIB"),
)


@dataclass(slots=True)
class Watch:
    path: str  # local path (under --root)
    tree: bool = False
    specs: set[Spec] = field(default_factory=set)


@dataclass(slots=True)
class PendingMove:
    local: str
    is_dir: bool
    relevant: bool
    since: float


class Watcher:
    def __init__(self, inotify: ino.Inotify, journal: Journal, hasher: Hasher, root: str,
                 targets: Iterable[Target], exclude: Iterable[str] = ()) -> None:
        self.inotify = inotify
        self.journal = journal
        self.hasher = hasher
        self.root = os.path.abspath(root).rstrip("/")  # "" for the live root
        self.root_local = self.root or "/"
        self.targets = list(targets)
        self.exclude = tuple(os.path.abspath(p).rstrip("/") + "/" for p in exclude)
        self.watches: dict[int, Watch] = {}
        self.by_path: dict[str, int] = {}
        self.moves: dict[int, PendingMove] = {}
        self.held: list[tuple[ino.RawEvent, int]] = []  # events from inside a directory in flight
        self.limit_reported = False
        self.unwatched = 0
        self.rescan_needed = False
        self.last_event_ns = time.time_ns()
        self._overflow_since: int | None = None

    # -- paths -------------------------------------------------------------------------------
    def host(self, local: str) -> str:
        if not self.root:
            return local
        rest = local[len(self.root):]
        return rest or "/"

    @staticmethod
    def join(parent: str, name: str) -> str:
        return f"/{name}" if parent == "/" else f"{parent}/{name}"

    def _excluded(self, local: str) -> bool:
        return bool(self.exclude) and (local + "/").startswith(self.exclude)

    # -- setting watches ---------------------------------------------------------------------
    def start(self) -> dict[str, Any]:
        specs = {(t.parts, t.kind) for t in self.targets}
        self.apply(self.root_local, specs, reason=None)
        return {"watches": len(self.watches), "unwatched": self.unwatched,
                "targets": sorted(t.pattern + ("/" if t.kind == "tree" else "") for t in self.targets)}

    def ensure_watch(self, local: str, tree: bool = False) -> Watch | None:
        wd = self.by_path.get(local)
        if wd is not None and wd in self.watches:
            w = self.watches[wd]
            w.tree = w.tree or tree
            return w
        if self._excluded(local):
            return None
        try:
            wd = self.inotify.add_watch(local)
        except OSError as exc:
            self._watch_failed(local, exc)
            return None
        w = self.watches.get(wd)
        if w is None:
            w = self.watches[wd] = Watch(local, tree)
        else:  # the same directory under a path we lost track of (an unpaired move)
            self.by_path.pop(w.path, None)
            w.path, w.tree = local, w.tree or tree
        self.by_path[local] = wd
        return w

    def _watch_failed(self, local: str, exc: OSError) -> None:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            return  # gone again, or not a directory: its parent's events tell the story
        if exc.errno == errno.ENOSPC:
            self.unwatched += 1
            if not self.limit_reported:
                self.limit_reported = True
                limit = ino.read_limit("max_user_watches")
                fix = ino.watch_limit_fix(limit, len(self.watches))
                self.journal.write("WATCH_LIMIT", {
                    "path": self.host(local), "limit": limit, "watches": len(self.watches),
                    "error": "inotify watch limit reached (fs.inotify.max_user_watches): directories "
                             "from here on are NOT watched", "fix": fix})
                log.error("inotify watch limit %s reached after %d watches; %s is not watched. Fix: %s",
                          limit, len(self.watches), local, fix)
            return
        self.journal.write("ERROR", {"path": self.host(local), "error": f"cannot watch: {exc.strerror}",
                                     "errno": errno.errorcode.get(exc.errno or 0, str(exc.errno))})
        log.warning("cannot watch %s: %s", local, exc.strerror)

    def apply(self, local: str, specs: set[Spec], reason: str | None, since_ns: int | None = None,
              force: bool = False) -> None:
        """Watch ``local`` for ``specs`` and follow them into what already exists below it."""
        stack: list[tuple[str, set[Spec]]] = [(local, specs)]
        while stack:
            directory, wanted = stack.pop()
            w = self.ensure_watch(directory)
            if w is None:
                continue
            todo = wanted if force else wanted - w.specs
            w.specs |= wanted
            for parts, kind in todo:
                head, rest = parts[0], parts[1:]
                if not rest and kind == "file":
                    if reason is not None:
                        for path in self._matching(directory, head, dirs_only=False):
                            self._scan_one(path, reason, since_ns)
                    continue
                for child in self._matching(directory, head):
                    if rest:
                        stack.append((child, {(rest, kind)}))
                    else:
                        if reason is not None:
                            self._scan_one(child, reason, since_ns)
                        self.add_tree(child, reason, since_ns)

    def _matching(self, directory: str, pattern: str, dirs_only: bool = True) -> list[str]:
        """Entries of ``directory`` matching one component pattern (real directories only,
        unless ``dirs_only`` is false); a literal name costs one lstat, not a listing."""
        if not has_glob(pattern):
            child = self.join(directory, pattern)
            try:
                st = os.lstat(child)
            except OSError:
                return []
            return [child] if stat.S_ISDIR(st.st_mode) or not dirs_only else []
        try:
            with os.scandir(directory) as it:
                return [e.path for e in it if fnmatch.fnmatchcase(e.name, pattern)
                        and (not dirs_only or e.is_dir(follow_symlinks=False))]
        except OSError:
            return []

    def add_tree(self, local: str, reason: str | None, since_ns: int | None = None) -> None:
        """Watch ``local`` and every directory below it; with ``reason``, journal what is inside.

        The watch is added before the listing, so an entry created meanwhile is either listed or
        reported by the kernel (possibly both: a duplicate is better than a gap)."""
        stack = [local]
        while stack:
            directory = stack.pop()
            if self.ensure_watch(directory, tree=True) is None:
                continue
            try:
                with os.scandir(directory) as it:
                    entries = list(it)
            except OSError as exc:
                if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
                    self.journal.write("ERROR", {"path": self.host(directory),
                                                 "error": f"cannot list: {exc.strerror}"})
                continue
            for entry in entries:
                try:
                    is_dir = entry.is_dir(follow_symlinks=False)
                except OSError:
                    is_dir = False
                if is_dir:
                    stack.append(entry.path)
                if reason is not None:
                    self._scan_one(entry.path, reason, since_ns)

    def _scan_one(self, local: str, reason: str, since_ns: int | None) -> None:
        try:
            st = os.lstat(local)
        except OSError:
            return
        if since_ns is not None and max(st.st_mtime_ns, st.st_ctime_ns) < since_ns:
            return
        fields = {"reason": reason, **self._stat_fields(local, st)}
        seq = self.journal.write("SCAN", fields)
        if stat.S_ISREG(st.st_mode):
            self._maybe_hash(local, seq)

    # -- events ------------------------------------------------------------------------------
    def handle(self, events: list[ino.RawEvent], read_ns: int) -> None:
        for ev in events:
            self._handle(ev, read_ns)
        if events:
            self.last_event_ns = read_ns

    def _handle(self, ev: ino.RawEvent, read_ns: int) -> None:
        mask = ev.mask
        if mask & ino.IN_Q_OVERFLOW:
            self._overflow(read_ns)
            return
        if mask & ino.IN_IGNORED:
            w = self.watches.pop(ev.wd, None)
            if w is not None and self.by_path.get(w.path) == ev.wd:
                del self.by_path[w.path]
            return
        w = self.watches.get(ev.wd)
        if w is None or not ev.name:
            return  # a watch we already dropped, or an event about the watched directory itself
        if self.moves and self._in_flight(w.path):
            self.held.append((ev, read_ns))
            return
        local = self.join(w.path, ev.name)
        is_dir = bool(mask & ino.IN_ISDIR)
        file_match = tree_match = False
        deeper: set[Spec] = set()
        for parts, kind in w.specs:
            if not fnmatch.fnmatchcase(ev.name, parts[0]):
                continue
            if len(parts) > 1:
                deeper.add((parts[1:], kind))
            elif kind == "file":
                file_match = True
            else:
                tree_match = True
        name = next((n for bit, n in _NAMES if mask & bit), None)
        if name is None:
            return
        src = self.moves.pop(ev.cookie, None) if name == "MOVED_TO" else None
        relevant = ((w.tree or file_match or (is_dir and tree_match) or (src is not None and src.relevant))
                    and not self._excluded(local))
        seq = 0
        if relevant:
            seq = self._record(name, local, ev, is_dir, read_ns, src)
        if name == "MOVED_FROM":
            self.moves[ev.cookie] = PendingMove(local, is_dir, relevant, time.monotonic())
        elif name == "DELETE":
            if is_dir:
                self.by_path.pop(local, None)
            else:
                self.hasher.forget(local)
        if is_dir and name in ("CREATE", "MOVED_TO"):
            reason = "new_dir" if name == "CREATE" else "moved_in"
            if name == "MOVED_TO" and self._rename_tree(src, local, w.tree):
                pass  # moved within watched trees: the same watches, renamed
            elif w.tree or tree_match:
                self.add_tree(local, reason)
            if deeper:
                self.apply(local, deeper, reason)
            if src is not None and src.is_dir:
                self._release()
        elif relevant and not is_dir and name in ("CLOSE_WRITE", "MOVED_TO"):
            self._maybe_hash(local, seq)

    def _record(self, name: str, local: str, ev: ino.RawEvent, is_dir: bool, read_ns: int,
                src: PendingMove | None) -> int:
        fields: dict[str, Any] = {"path": self.host(local)}
        if is_dir:
            fields["is_dir"] = True
        if name in ("MOVED_FROM", "MOVED_TO"):
            fields["cookie"] = ev.cookie
            if src is not None:
                fields["src_path"] = self.host(src.local)
        if name not in ("DELETE", "MOVED_FROM"):
            try:
                fields.update(self._stat_fields(local, os.lstat(local), with_path=False))
            except OSError:
                fields["gone"] = True  # already removed or renamed again when we looked
        return self.journal.write(name, fields, read_ns)

    def _stat_fields(self, local: str, st: os.stat_result, with_path: bool = True) -> dict[str, Any]:
        fields: dict[str, Any] = {"path": self.host(local)} if with_path else {}
        if stat.S_ISDIR(st.st_mode):
            fields["is_dir"] = True
        else:
            fields["size"] = st.st_size
        fields.update(mode=stat.S_IMODE(st.st_mode), uid=st.st_uid, inode=st.st_ino,
                      mtime=round(st.st_mtime_ns / 1e9, 6))
        if stat.S_ISLNK(st.st_mode):
            try:
                fields["link_target"] = os.readlink(local)
            except OSError:
                pass
        return fields

    def _maybe_hash(self, local: str, seq: int) -> None:
        host = self.host(local)
        kind = classify(host).hash_kind
        if kind is not None:
            self.hasher.submit(Job(local, host, kind, seq))

    # -- moves -------------------------------------------------------------------------------
    def _rename_tree(self, src: PendingMove | None, dest: str, dest_in_tree: bool) -> bool:
        """Keep the watches of a directory moved between tree directories, under its new path."""
        if src is None or not src.is_dir:
            return False
        src_watch = self.watches.get(self.by_path.get(src.local, -1))
        if src_watch is None:
            return False
        if not (dest_in_tree and src_watch.tree and not self._has_specs_below(src.local)):
            self._drop_subtree(src.local)
            return False
        prefix = src.local + "/"
        for wd, w in self.watches.items():
            if w.path == src.local or w.path.startswith(prefix):
                self.by_path.pop(w.path, None)
                w.path = dest + w.path[len(src.local):]
                self.by_path[w.path] = wd
        return True

    def _in_flight(self, local: str) -> bool:
        return any(mv.is_dir and (local == mv.local or local.startswith(mv.local + "/"))
                   for mv in self.moves.values())

    def _release(self) -> None:
        held, self.held = self.held, []
        for ev, read_ns in held:
            self._handle(ev, read_ns)  # held again if still inside a directory in flight

    def _has_specs_below(self, local: str) -> bool:
        prefix = local + "/"
        return any(w.specs for w in self.watches.values()
                   if w.path == local or w.path.startswith(prefix))

    def _drop_subtree(self, local: str) -> None:
        prefix = local + "/"
        for wd, w in list(self.watches.items()):
            if w.path == local or w.path.startswith(prefix):
                self.inotify.rm_watch(wd)
                self.watches.pop(wd, None)
                self.by_path.pop(w.path, None)

    def expire_moves(self) -> float | None:
        """Forget moves whose other half never came; returns seconds until the next check."""
        if not self.moves:
            return None
        now = time.monotonic()
        for cookie, mv in list(self.moves.items()):
            if now - mv.since >= MOVE_PAIR_SECONDS:
                del self.moves[cookie]
                if mv.is_dir:  # moved out of sight: its watches would report under a stale path
                    self._drop_subtree(mv.local)
                    self._release()
        if not self.moves:
            return None
        return max(0.05, MOVE_PAIR_SECONDS - (now - min(m.since for m in self.moves.values())))

    # -- overflow ----------------------------------------------------------------------------
    def _overflow(self, read_ns: int) -> None:
        since = self.last_event_ns - RESCAN_SLACK_NS
        if self._overflow_since is None or since < self._overflow_since:
            self._overflow_since = since
        self.rescan_needed = True
        self.journal.write("OVERFLOW", {
            "error": "kernel event queue overflowed (fs.inotify.max_queued_events): events were lost; "
                     "rescanning every watched tree", "limit": ino.read_limit("max_queued_events")},
            read_ns)
        log.error("inotify queue overflow: rescanning watched trees")

    def rescan(self) -> dict[str, Any]:
        """Reconcile after an overflow: watch what is new, journal what changed or vanished."""
        since = self._overflow_since if self._overflow_since is not None else self.last_event_ns
        self.rescan_needed, self._overflow_since = False, None
        started = time.monotonic()
        before = self.journal.seq
        gone = 0
        for wd, w in list(self.watches.items()):
            try:
                alive = stat.S_ISDIR(os.lstat(w.path).st_mode)
            except OSError:
                alive = False
            if not alive:
                gone += 1
                self.journal.write("GONE", {"path": self.host(w.path), "is_dir": True, "reason": "rescan"})
                self.inotify.rm_watch(wd)
                self.watches.pop(wd, None)
                self.by_path.pop(w.path, None)
        for local, host in self.hasher.known_files():
            if not os.path.lexists(local):
                gone += 1
                self.journal.write("GONE", {"path": host, "reason": "rescan"})
                self.hasher.forget(local)
        specs = {(t.parts, t.kind) for t in self.targets}
        self.apply(self.root_local, specs, reason="rescan", since_ns=since, force=True)
        summary = {"found": self.journal.seq - before - gone, "gone": gone, "since_ns": since,
                   "watches": len(self.watches), "unwatched": self.unwatched,
                   "seconds": round(time.monotonic() - started, 3)}
        self.journal.write("RESCAN", summary)
        return summary
