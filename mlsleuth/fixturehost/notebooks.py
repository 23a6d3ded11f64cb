"""Jupyter notebooks written with nbformat, carrying JupyterLab's per-cell execution timings.

JupyterLab (``recordTiming``) stores the kernel's message times per cell in
``metadata.execution``: ``iopub.status.busy``, ``iopub.execute_input``,
``shell.execute_reply.started``, ``shell.execute_reply``, ``iopub.status.idle``, as ISO 8601 UTC
with microseconds and ``Z`` (jupyter_client's date format).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import nbformat
from nbformat import v4

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
LANGUAGE_INFO = {
    "codemirror_mode": {"name": "ipython", "version": 3},
    "file_extension": ".py",
    "mimetype": "text/x-python",
    "name": "python",
    "nbconvert_exporter": "python",
    "pygments_lexer": "ipython3",
    "version": "3.11.2",
}


def stable_uuid(seed: str) -> str:
    return str(uuid.UUID(bytes=hashlib.sha256(seed.encode()).digest()[:16], version=4))


def _jtime(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Cell:
    source: str
    kind: str = "code"  # code / markdown
    execution_count: int | None = None
    ran: tuple[datetime, datetime] | None = None  # execute_input, execute_reply (UTC)
    outputs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def executed(self) -> bool:
        return self.execution_count is not None


def stream(name: str, text: str) -> dict[str, Any]:
    return {"output_type": "stream", "name": name, "text": text}


def result(count: int, text: str) -> dict[str, Any]:
    return {"output_type": "execute_result", "execution_count": count, "data": {"text/plain": text},
            "metadata": {}}


def notebook_text(cells: list[Cell], seed: str) -> str:
    """The notebook file's text exactly as Jupyter's contents manager saves it."""
    nb = v4.new_notebook(metadata={"kernelspec": KERNELSPEC, "language_info": LANGUAGE_INFO})
    for c in cells:
        cell_id = stable_uuid(f"{seed}:{c.source}")
        if c.kind == "markdown":
            nb.cells.append(v4.new_markdown_cell(c.source, id=cell_id))
            continue
        metadata: dict[str, Any] = {}
        if c.ran is not None:
            start, end = c.ran
            ms = timedelta(milliseconds=1)
            metadata["execution"] = {
                "iopub.status.busy": _jtime(start - 2 * ms),
                "iopub.execute_input": _jtime(start),
                "shell.execute_reply.started": _jtime(start + ms),
                "shell.execute_reply": _jtime(end),
                "iopub.status.idle": _jtime(end + 2 * ms),
            }
        outputs = [v4.output_from_msg({"header": {"msg_type": o["output_type"]}, "content": _content(o)})
                   for o in c.outputs]
        nb.cells.append(v4.new_code_cell(c.source, id=cell_id, execution_count=c.execution_count,
                                         metadata=metadata, outputs=outputs))
    nbformat.validate(nb)
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def _content(output: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in output.items() if k != "output_type"}
