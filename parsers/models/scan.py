"""Format detection by content, dispatch to the format inspectors, files/dirs/evidence archives."""

from __future__ import annotations

import gc
import json
import os
import stat
import tarfile
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlsleuth.parsers.models import blob
from mlsleuth.parsers.models.context import Ctx
from mlsleuth.parsers.models.formats import (
    archive,
    code,
    gguf,
    keras,
    numpy_files,
    pickle_file,
    safetensors,
)
from mlsleuth.parsers.models.registry import FORMATS
from mlsleuth.parsers.models.result import ERROR, Finding, ScanResult, Severity, decide_verdict

HEAD = 4096
MAX_JSON = 64 * 1024 * 1024  # configs and notebooks are small; bigger JSON is data (datasets)
# Formats whose loaders can run code; finding one under a "safe" extension is a disguise.
CODE_FORMATS = ("pickle", "joblib", "pytorch", "torchscript", "torch.package", "npy (object)", "keras",
                "python", "notebook")
SAFE_EXTS = (".safetensors", ".gguf", ".onnx", ".json", ".txt", ".md", ".npy", ".msgpack")
TEXT_INERT_EXTS = (".txt", ".md", ".rst", ".csv", ".tsv", ".yaml", ".yml", ".cfg", ".ini", ".toml", ".gitattributes",
                   ".gitignore", ".html", ".model", ".vocab", ".merges", ".tiktoken", ".license", "")


def detect_and_inspect(buf: Any, ctx: Ctx) -> None:
    """Identify ``buf`` by its content (extension only as a hint) and run the inspector."""
    size = len(buf)
    if size == 0:
        ctx.format = "empty"
        ctx.add("empty-file", Severity.INFO, "empty file")
        return
    head = bytes(buf[:HEAD])
    for spec in FORMATS:
        if spec.detect(head, buf, ctx):
            spec.inspect(buf, ctx)
            break
    else:
        _unknown_binary(head, ctx)
    _check_disguise(ctx)


def inspect_text(buf: Any, head: bytes, ctx: Ctx) -> None:
    stripped = head.lstrip()
    if code.looks_like_python(ctx, head):
        code.inspect_python(buf, ctx)
        return
    if (ctx.ext in (".json", ".ipynb") or stripped[:1] in (b"{", b"[")) and len(buf) > MAX_JSON:
        ctx.format = "json"
        ctx.add("analysis-limit", Severity.LOW, f"JSON of {len(buf)} bytes not parsed (over {MAX_JSON})")
        return
    if ctx.ext in (".json", ".ipynb") or stripped[:1] in (b"{", b"["):
        try:
            doc = code.parse_json(buf)
        except (ValueError, RecursionError, UnicodeDecodeError) as exc:
            if ctx.ext in (".json", ".ipynb"):
                ctx.format = "json"
                ctx.add("json-malformed", Severity.LOW, f"not valid JSON: {str(exc)[:200]}")
                return
        else:
            code.inspect_json(doc, ctx)
            return
    if pickle_file.detect(head, ctx):  # protocol 0 pickles are text
        pickle_file.inspect(buf, ctx)
        if ctx.findings or ctx.format != "pickle":
            return
    if ctx.ext in (".sh", ".bash"):
        ctx.format = "shell"
        ctx.add("shell-script", Severity.LOW, "shell script (not analysed)")
        return
    ctx.format = "text"
    if ctx.ext in archive.MODEL_EXTS and ctx.ext not in (".json", ".py", ".ipynb", ".model"):
        ctx.add("text-under-model-extension", Severity.LOW, f"text content under a {ctx.ext} extension")


def _unknown_binary(head: bytes, ctx: Ctx) -> None:
    for magic, fmt in ((b"\x89PNG", "png"), (b"\xff\xd8\xff", "jpeg"), (b"GIF8", "gif"), (b"\x7fELF", "elf"),
                       (b"MZ", "pe"), (b"\xcf\xfa\xed\xfe", "mach-o")):
        if head.startswith(magic):
            ctx.format = fmt
            if fmt in ("elf", "pe", "mach-o"):
                ctx.add("native-executable", Severity.MEDIUM,
                        f"native {fmt} binary among the scanned files (custom ops / droppers)")
            return
    if ctx.ext in (".msgpack",):
        ctx.format = "msgpack"
        return
    ctx.format = "unknown"
    ctx.unsupported = True
    ctx.add("format-unrecognized", Severity.LOW,
            f"unrecognised binary content{f' under {ctx.ext}' if ctx.ext else ''}: not analysed",
            "", [head[:16].hex()])


def _check_disguise(ctx: Ctx) -> None:
    if ctx.ext in SAFE_EXTS and any(ctx.format.startswith(f) for f in CODE_FORMATS):
        if not (ctx.ext == ".npy" and ctx.format.startswith("npy")) and not (
                ctx.ext == ".json" and ctx.format in ("notebook",)):
            ctx.add("format-disguised", Severity.MEDIUM,
                    f"{ctx.format} content under a {ctx.ext} name (format that cannot run code)")


# -- entry points ------------------------------------------------------------------------------
def _run(buf: Any, ctx: Ctx) -> None:
    # The cyclic GC only re-scans the (host application's) heap during a scan: nothing here
    # builds cycles that need it, and hostile inputs create millions of small objects.
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        _run_inner(buf, ctx)
    finally:
        if paused:
            gc.enable()


def _run_inner(buf: Any, ctx: Ctx) -> None:
    try:
        detect_and_inspect(buf, ctx)
    except RecursionError:
        ctx.add("analysis-limit", Severity.MEDIUM, "structure nested too deeply to analyse")
    except MemoryError:
        ctx.add("analysis-limit", Severity.MEDIUM, "out of memory while analysing")
    except Exception as exc:  # noqa: BLE001 - an inspector bug must not hide the file
        ctx.error = f"{type(exc).__name__}: {exc}"
        ctx.add("internal-error", Severity.MEDIUM,
                f"inspector failed ({ctx.error}); the file is NOT verified",
                "", [traceback.format_exc(limit=3).splitlines()[-1]])


def _result(ctx: Ctx) -> ScanResult:
    return ScanResult(ctx.display, ctx.format, decide_verdict(ctx.findings, unsupported=ctx.unsupported,
                                                              error=ctx.error is not None), ctx.findings)


def inspect_bytes(data: bytes, name: str) -> ScanResult:
    """Inspect an in-memory file; ``name`` is shown and its extension used as a hint."""
    ctx = Ctx(display=name, name=name.rsplit("/", 1)[-1])
    _run(data, ctx)
    return _result(ctx)


def _normal(p: str) -> str:
    """``str(Path(p))`` without building a Path (which costs as much as reading a small file)
    when ``p`` is already in normal form."""
    if "//" in p or "./" in p or p.endswith(("/", "/.")) or p in (".", ""):
        return str(Path(p))
    return p


def inspect_file(path: Path | str, display_path: str | None = None) -> ScanResult:
    shown = _normal(os.fspath(path))
    name = shown.rpartition("/")[2]
    ctx = Ctx(display_path or shown, name if name != "." else "", path)
    try:
        buf = blob.load(path)
    except (OSError, ValueError) as exc:
        return ScanResult(ctx.display, "unreadable", ERROR,
                          [Finding("file-unreadable", Severity.INFO, f"cannot read: {exc}")])
    try:
        _run(buf, ctx)
    finally:
        if hasattr(buf, "close"):
            buf.close()
    return _result(ctx)


def inspect_member(data: Any, member: str, parent: Ctx) -> Ctx | None:
    """Inspect a container member; its findings land in the parent with a ``member:`` prefix."""
    child = parent.child(member, data)
    if child is None:
        return None
    _run(data, child)
    if child.unsupported and child.ext in archive.MODEL_EXTS:
        parent.add("archive-member-unsupported", Severity.LOW, f"member {member} ({child.format}) not analysed",
                   member)
    if child.error:
        parent.error = parent.error or child.error
    return child


# -- paths ---------------------------------------------------------------------------------------
def scan_paths(paths: list[Path]) -> Iterator[ScanResult]:
    """Files, directories (walked without following symlinks out of them) and evidence archives."""
    for p in paths:
        p = Path(p)
        shown = str(p)
        try:
            st = os.lstat(p)
        except OSError as exc:
            yield ScanResult(shown, "missing", ERROR, [Finding("path-missing", Severity.INFO, str(exc))])
            continue
        if stat.S_ISDIR(st.st_mode):
            yield from _scan_dir(p, shown)
        elif stat.S_ISREG(st.st_mode) and _is_evidence_archive(p):
            yield from scan_evidence(p, shown)
        elif stat.S_ISREG(st.st_mode):
            yield inspect_file(p, shown)
        elif stat.S_ISLNK(st.st_mode):
            target = p.resolve()
            if target.is_file():
                yield inspect_file(target, shown)
            else:
                yield ScanResult(shown, "symlink", ERROR, [Finding("path-dangling", Severity.INFO,
                                                                   f"symlink to {os.readlink(p)} (no file)")])
        else:
            yield _special(shown, st)


def _special(shown: str, st: os.stat_result) -> ScanResult:
    return ScanResult(shown, "special-file", "unsupported",
                      [Finding("special-file-skipped", Severity.LOW,
                               f"not a regular file (mode {stat.filemode(st.st_mode)}): never opened")])


def _scan_dir(root: Path, shown: str) -> Iterator[ScanResult]:
    real_root = os.path.realpath(root)
    seen: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        # Regular files before symlinks: a file is reported under its own name, not an alias.
        names = sorted(filenames) + sorted(d for d in dirnames if os.path.islink(os.path.join(dirpath, d)))
        names.sort(key=lambda n: os.path.islink(os.path.join(dirpath, n)))
        for fn in names:
            full = os.path.join(dirpath, fn)
            rel = os.path.relpath(full, root)
            disp = os.path.join(shown, rel)
            try:
                st = os.lstat(full)
                if stat.S_ISLNK(st.st_mode):
                    target = os.path.realpath(full)
                    if os.path.commonpath([real_root, target]) != real_root:
                        yield ScanResult(disp, "symlink", "unsupported", [Finding(
                            "symlink-outside-root", Severity.LOW,
                            f"symlink to {os.readlink(full)} leaves the scanned tree: not followed")])
                        continue
                    st = os.stat(target)
                    if not stat.S_ISREG(st.st_mode):
                        continue
                    full = target
            except OSError as exc:
                yield ScanResult(disp, "unreadable", ERROR, [Finding("file-unreadable", Severity.INFO, str(exc))])
                continue
            if not stat.S_ISREG(st.st_mode):
                yield _special(disp, st)
                continue
            key = (st.st_dev, st.st_ino)
            if key in seen:
                continue  # hard link / symlink to a file already reported under another name
            seen.add(key)
            if _is_evidence_archive(Path(full)):
                yield from scan_evidence(Path(full), disp)
            else:
                yield inspect_file(Path(full), disp)


# -- evidence archives (mlsleuth collect) --------------------------------------------------------
MAX_EVIDENCE_MEMBER = 1 << 30
KNOWN_PART_SUFFIXES = ("header.json", "gguf-header.bin", "model_config.json", "training_config.json",
                       "config.json", "metadata.json", "storages.pickles", "sys_info", "pickle", "tensors",
                       "npy-header", "object-array.npy")


def _is_evidence_archive(p: Path) -> bool:
    name = p.name.lower()
    if not (name.endswith(".tar.gz") or name.endswith(".tgz") or name.endswith(".tar")):
        return False
    try:
        with tarfile.open(p, "r:*") as tar:
            for _ in range(64):
                m = tar.next()
                if m is None:
                    break
                if m.name in ("manifest.jsonl", "host.json", "collection.log") or m.name.startswith(("fs/", "parts/")):
                    return True
    except (tarfile.TarError, OSError, EOFError):
        return False
    return False


def scan_evidence(path: Path, shown: str) -> Iterator[ScanResult]:
    """One result per collected file (fs/...) and per partially kept file (parts/<host path>/...)."""
    parts: dict[str, bytes] = {}
    manifest: dict[str, tuple[str, str]] = {}  # part member -> (host path, part name)
    try:
        tar = tarfile.open(path, "r:*")
    except (tarfile.TarError, OSError) as exc:
        yield ScanResult(shown, "evidence-archive", ERROR, [Finding("archive-unreadable", Severity.INFO, str(exc))])
        return
    with tar:
        try:
            for m in tar:
                name = m.name
                if m.isfile() and name == "manifest.jsonl":
                    _read_manifest(tar, m, manifest)
                    continue
                if not m.isfile() or not name.startswith(("fs/", "parts/")):
                    continue
                fh = tar.extractfile(m)
                if fh is None:
                    continue
                data = fh.read(min(m.size, MAX_EVIDENCE_MEMBER))
                if name.startswith("parts/"):
                    parts[name] = data
                    continue
                host = "/" + name[3:]
                res = inspect_bytes(data, f"{shown}/{name}")
                if m.size > MAX_EVIDENCE_MEMBER:
                    res.findings.append(Finding("analysis-limit", Severity.MEDIUM,
                                                f"analysed the first {MAX_EVIDENCE_MEMBER} bytes"))
                    res.verdict = decide_verdict(res.findings)
                res.host_path, res.member = host, name
                yield res
        except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
            yield ScanResult(shown, "evidence-archive", ERROR,
                             [Finding("archive-truncated", Severity.MEDIUM, f"evidence archive damaged: {exc}")])
    groups: dict[str, dict[str, bytes]] = {}
    for member, data in parts.items():
        host, part = manifest.get(member) or _split_part_member(member)
        groups.setdefault(host, {})[part] = data
    for host, group in sorted(groups.items()):
        res = inspect_parts(group, f"{shown}/parts{host}", host)
        res.member = f"parts{host}"
        yield res


def _read_manifest(tar: tarfile.TarFile, m: tarfile.TarInfo, out: dict[str, tuple[str, str]]) -> None:
    fh = tar.extractfile(m)
    if fh is None:
        return
    for line in fh.read(256 * 1024 * 1024).splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        for part in row.get("parts") or []:
            if isinstance(part, dict) and part.get("member") and part.get("name"):
                out[part["member"]] = (row.get("path", ""), part["name"])


def _split_part_member(member: str) -> tuple[str, str]:
    rest = member[len("parts"):]
    segs = rest.split("/")
    # torch zip parts: <host path>/<archive name>/data.pkl (or code/...): find the model file segment
    for i in range(len(segs) - 1, 0, -1):
        tail = "/".join(segs[i:])
        if tail in KNOWN_PART_SUFFIXES:
            return "/".join(segs[:i]), tail
    for i, seg in enumerate(segs):
        if i and "." in seg and i + 1 < len(segs):
            # first segment that looks like a file name (model.pt) ends the host path
            return "/".join(segs[:i + 1]), "/".join(segs[i + 1:])
    return "/".join(segs[:-1]), segs[-1]


def inspect_parts(parts: dict[str, bytes], display: str, host_path: str | None = None) -> ScanResult:
    """Verdict for a large file from the parts the collector kept (see analysis_parts)."""
    from mlsleuth.parsers.models.formats import torch as torch_fmt
    from mlsleuth.parsers.models.pickle_findings import findings_for
    from mlsleuth.parsers.models.pickle_vm import analyze

    ctx = Ctx(display=display, name=(host_path or display).rsplit("/", 1)[-1])
    formats: list[str] = []
    try:
        for name, data in sorted(parts.items()):
            base = name.rsplit("/", 1)[-1]
            if base.endswith((".pkl", "debug_pkl")) or base in ("pickle", "sys_info", "tensors", "storages.pickles"):
                formats.append("pytorch-zip" if base.endswith("pkl") else "pytorch-legacy")
                ctx.extend(findings_for(analyze(data, multi=True), name, trailing_ok=base != "pickle"))
            elif "/code/" in f"/{name}" and name.endswith(".py"):
                formats.append("torchscript")
                _torchscript_text(data, name, ctx, torch_fmt)
            elif base == "header.json":
                formats.append("safetensors")
                safetensors.check_header(data, ctx, data_len=None)
            elif base == "gguf-header.bin":
                formats.append("gguf")
                gguf.inspect(data, ctx, partial=True)
            elif base in ("model_config.json", "training_config.json", "config.json"):
                formats.append("keras")
                keras.check_config_json(data, ctx, base)
            elif base == "metadata.json":
                formats.append("keras")
            elif base == "npy-header":
                formats.append("npy")
                try:
                    numpy_files.parse_header(data)
                except (ValueError, SyntaxError) as exc:
                    ctx.add("npy-malformed", Severity.MEDIUM, f".npy header unreadable: {exc}", name)
            elif base == "header-prefix.bin":
                formats.append("safetensors")
                safetensors.inspect(data, ctx)
            else:
                child = inspect_member(data, name, ctx)
                if child is not None:
                    formats.append(child.format)
    except Exception as exc:  # noqa: BLE001
        ctx.error = f"{type(exc).__name__}: {exc}"
        ctx.add("internal-error", Severity.MEDIUM, f"inspector failed on parts ({ctx.error})")
    ctx.format = (sorted(set(formats))[0] if len(set(formats)) == 1 else "+".join(sorted(set(formats)))) + " (parts)"
    res = _result(ctx)
    res.host_path = host_path
    return res


def _torchscript_text(data: bytes, name: str, ctx: Ctx, torch_fmt: Any) -> None:
    text = data.decode("utf-8", "replace")
    for rx, sev, why in torch_fmt.TS_DANGEROUS:
        hits = [m.group(0) for m in rx.finditer(text)][:5]
        if hits:
            ctx.add("torchscript-dangerous-op", sev, f"TorchScript code {name}: {why}", name, hits)
