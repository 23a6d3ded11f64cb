#!/usr/bin/env python3
"""Turn Jupyter notebooks into plain Python that Semgrep OSS can scan (it skips .ipynb files).

    python3 notebook_to_py.py NOTEBOOK_OR_DIR... --out DIR

Each notebook becomes DIR/<relative path>.ipynb.py holding its code cells in order, each under a
``# cell N (execution_count M)`` line so a finding maps back to the cell. IPython syntax is turned
into the calls IPython itself makes (``!cmd`` -> ``get_ipython().system('cmd')``, ``%%bash`` ->
``get_ipython().run_cell_magic('bash', '', ...)``), with IPython's own transformer when IPython
is installed and a small equivalent otherwise. Reads JSON only: nothing in a notebook is run.
Standard library only, so it runs on any responder box next to semgrep.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

_ASSIGN_BANG = re.compile(r"^(\s*)([\w.,\s]+?)\s*=\s*!(.*)$")
_BANG = re.compile(r"^(\s*)!(.*)$")
_LINE_MAGIC = re.compile(r"^(\s*)%(?!%)(\w+)\s?(.*)$")


def _fallback_transform(src: str) -> str:
    """The subset of IPython's input transformation that matters for scanning."""
    lines = src.splitlines()
    if lines and lines[0].startswith("%%"):
        head = lines[0][2:].split(None, 1)
        name, args = head[0] if head else "", head[1] if len(head) > 1 else ""
        body = "\n".join(lines[1:]) + "\n"
        return f"get_ipython().run_cell_magic({name!r}, {args!r}, {body!r})\n"
    out = []
    for line in lines:
        if m := _ASSIGN_BANG.match(line):
            out.append(f"{m[1]}{m[2]} = get_ipython().getoutput({m[3]!r})")
        elif m := _BANG.match(line):
            out.append(f"{m[1]}get_ipython().system({m[2]!r})")
        elif m := _LINE_MAGIC.match(line):
            out.append(f"{m[1]}get_ipython().run_line_magic({m[2]!r}, {m[3]!r})")
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def _transformer():
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except Exception:  # IPython absent or broken: the fallback covers what scanning needs
        return _fallback_transform
    manager = TransformerManager()

    def transform(src: str) -> str:
        try:
            return manager.transform_cell(src)
        except Exception:
            return _fallback_transform(src)

    return transform


def notebook_source(nb_path: Path, transform=None) -> str:
    """Python text for one notebook (code cells only); raises ValueError on a non-notebook."""
    transform = transform or _transformer()
    try:
        nb = json.loads(nb_path.read_text(encoding="utf-8", errors="replace"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{nb_path}: not JSON: {exc}") from exc
    if not isinstance(nb, dict) or not isinstance(nb.get("cells", []), list):
        raise ValueError(f"{nb_path}: no cells list")
    if "worksheets" in nb:  # nbformat 3 keeps cells one level down
        cells = [c for ws in nb.get("worksheets") or [] for c in ws.get("cells", [])]
    else:
        cells = nb.get("cells", [])
    parts = [f"# mlsleuth-notebook: {nb_path}\n"]
    for i, cell in enumerate(cells):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        src = cell.get("source", cell.get("input", ""))
        if isinstance(src, list):
            src = "".join(str(s) for s in src)
        parts.append(f"# cell {i} (execution_count {cell.get('execution_count')})\n")
        parts.append(transform(str(src)))
    return "".join(parts)


def _notebooks(paths: list[Path]) -> Iterator[tuple[Path, Path]]:
    for p in paths:
        if p.is_dir():
            for nb in sorted(p.rglob("*.ipynb")):
                if ".ipynb_checkpoints" not in nb.parts and not nb.is_symlink():
                    yield nb, nb.relative_to(p)
        elif p.is_file():
            yield p, Path(p.name)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    transform = _transformer()
    failed = 0
    for nb, rel in _notebooks(args.paths):
        target = args.out / rel.with_name(rel.name + ".py")
        try:
            text = notebook_source(nb, transform)
        except (OSError, ValueError) as exc:
            print(f"notebook_to_py: skipped {nb}: {exc}", file=sys.stderr)
            failed += 1
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
