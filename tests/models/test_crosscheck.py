"""Optional cross-checks against the real producing libraries (skipped when they are absent).

torch, scikit-learn and Keras are not test dependencies. When present, their own output must be
classified clean, and for torch our writer must produce the same pickle bytes torch does.
Nothing here loads an untrusted file: the libraries only *write* benign objects.
"""

from __future__ import annotations

import io
import pickle
import sys
import zipfile

import numpy as np
import pytest
from mlsleuth.parsers.models import inspect_bytes, inspect_file

from mlsleuth.fixturehost.formats import pickles as P
from mlsleuth.fixturehost.formats import torch_zip as Z


def test_torch_save_state_dict_matches_our_writer(tmp_path):
    torch = pytest.importorskip("torch")
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    path = tmp_path / "m.pt"
    torch.save(model.state_dict(), path)
    assert inspect_file(path).verdict == "clean"
    with zipfile.ZipFile(path) as z:
        theirs = z.read(next(n for n in z.namelist() if n.endswith("data.pkl")))
    specs = {k: P.TensorSpec("float32", tuple(v.shape)) for k, v in model.state_dict().items()}
    meta = {"": {"version": 1}, "0": {"version": 1}, "1": {"version": 1}, "2": {"version": 1}}
    ours, _ = P.benign_state_dict(specs, metadata=meta)
    assert ours == theirs
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.ones(2, 8)).sum().backward()
    optimizer.step()
    buf = io.BytesIO()
    torch.save(optimizer.state_dict(), buf)
    assert inspect_bytes(buf.getvalue(), "opt.pt").verdict == "clean"


def test_sklearn_estimators_are_clean(tmp_path):
    sklearn = pytest.importorskip("sklearn")
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    del sklearn
    x, y = np.random.default_rng(0).normal(size=(30, 4)), np.arange(30) % 3
    for est in (make_pipeline(StandardScaler(), LogisticRegression()), RandomForestClassifier(n_estimators=3)):
        est.fit(x, y)
        for proto in (2, 4, 5):
            assert inspect_bytes(pickle.dumps(est, protocol=proto), "m.pkl").verdict == "clean"
    joblib = pytest.importorskip("joblib")
    joblib.dump(est, tmp_path / "m.joblib")
    assert inspect_file(tmp_path / "m.joblib").verdict == "clean"


def test_keras_models_are_clean(tmp_path):
    keras = pytest.importorskip("keras")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dense(2)])
    model.save(tmp_path / "m.keras")
    assert inspect_file(tmp_path / "m.keras").verdict == "clean"


def test_7z_wrapper_with_and_without_py7zr(tmp_path, monkeypatch):
    py7zr = pytest.importorskip("py7zr")
    pk, st = P.benign_state_dict({"w": ("float32", (2,))})
    evil = Z.torch_checkpoint_bytes(P.prepend_call(pk, "os", "system", ("id",)), st)
    path = tmp_path / "m.7z"
    with py7zr.SevenZipFile(path, "w") as z:
        z.writestr(evil, "model.pt")
    r = inspect_file(path)
    assert r.verdict == "malicious" and any(f.location.startswith("model.pt:") for f in r.findings)
    monkeypatch.setitem(sys.modules, "py7zr", None)  # import now fails: the optional extra is absent
    r = inspect_file(path)
    assert r.verdict == "unsupported" and r.findings[0].rule_id == "archive-unsupported"


def test_stdlib_pickles_of_torch_free_containers_agree_with_pickletools():
    import pickletools

    from mlsleuth.parsers.models.pickle_vm import analyze

    for proto in range(6):
        data = pickle.dumps({"k": [1, 2, {"n": None}], "t": (1.5, b"x")}, protocol=proto)
        ops = list(pickletools.genops(data))
        a = analyze(data)
        assert a.ops == len(ops) and a.end == len(data)
