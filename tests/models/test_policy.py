"""The allowlist and dangerous list are data: check the data, and the precedence rules."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from mlsleuth.parsers.models.pickle_policy import DATA, load_policy, policy
from mlsleuth.parsers.models.result import Severity

NAME = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")


def test_data_file_is_well_formed():
    data = yaml.safe_load(DATA.read_text())
    exact = data["allow"]["exact"]
    assert len(exact) == len(set(exact)), "duplicate allow entries"
    for name in exact:
        assert NAME.match(name), name
    for prefix in data["allow"]["modules"]:
        assert prefix.endswith("."), prefix
    matches = [d["match"] for d in data["deny"]]
    assert len(matches) == len(set(matches)), "duplicate deny entries"
    for d in data["deny"]:
        Severity.parse(d["severity"])
        assert d.get("reason"), d


def test_no_allow_entry_equals_a_deny_entry():
    data = yaml.safe_load(DATA.read_text())
    assert not set(data["allow"]["exact"]) & {d["match"] for d in data["deny"]}


REQUIRED_DANGEROUS = [
    ("os", "system"), ("posix", "system"), ("nt", "system"), ("subprocess", "Popen"), ("pty", "spawn"),
    ("socket", "socket"), ("runpy", "run_path"), ("pdb", "run"), ("bdb", "Bdb"), ("profile", "run"),
    ("cProfile", "run"), ("timeit", "timeit"), ("code", "InteractiveInterpreter"), ("importlib", "import_module"),
    ("pkgutil", "resolve_name"), ("inspect", "getsource"), ("ctypes", "CDLL"), ("marshal", "loads"),
    ("types", "FunctionType"), ("multiprocessing.process", "BaseProcess"), ("builtins", "eval"),
    ("builtins", "exec"), ("builtins", "compile"), ("builtins", "getattr"), ("builtins", "__import__"),
    ("builtins", "open"), ("builtins", "breakpoint"), ("__builtin__", "eval"), ("operator", "attrgetter"),
    ("operator", "methodcaller"), ("_operator", "methodcaller"), ("pip", "main"), ("pip._internal", "main"),
    ("webbrowser", "open"), ("shutil", "rmtree"), ("asyncio", "create_subprocess_shell"),
    ("asyncio.unix_events", "_UnixSubprocessTransport"), ("torch.hub", "load"), ("torch", "load"),
    ("torch.jit", "load"), ("numpy.testing._private.utils", "runstring"), ("pandas", "read_csv"),
    ("pandas.io.parsers.readers", "read_csv"), ("functools", "partial"),
]


@pytest.mark.parametrize("module,name", REQUIRED_DANGEROUS)
def test_required_dangerous_globals(module, name):
    j = policy().judge(module, name)
    assert not j.allowed and j.severity is not None and j.severity >= Severity.MEDIUM, (module, name, j)


BENIGN = [
    ("collections", "OrderedDict"), ("torch._utils", "_rebuild_tensor_v2"), ("torch", "FloatStorage"),
    ("torch", "BFloat16Storage"), ("torch._utils", "_rebuild_parameter"), ("torch", "Size"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"), ("numpy", "ndarray"),
    ("numpy", "dtype"), ("numpy._core.numeric", "_frombuffer"), ("_codecs", "encode"), ("__builtin__", "set"),
    ("copy_reg", "_reconstructor"), ("sklearn.linear_model._logistic", "LogisticRegression"),
    ("sklearn.tree._tree", "Tree"), ("joblib.numpy_pickle", "NumpyArrayWrapper"),
    ("torch.nn.modules.linear", "Linear"), ("argparse", "Namespace"),
    ("transformers.training_args", "TrainingArguments"), ("__torch__", "Model"),
]


@pytest.mark.parametrize("module,name", BENIGN)
def test_benign_globals_allowed(module, name):
    assert policy().judge(module, name).allowed


def test_unknown_is_medium_and_dotted_names_never_ride_a_prefix():
    j = policy().judge("__main__", "Net")
    assert not j.allowed and j.severity == Severity.MEDIUM and j.rule == "default"
    j = policy().judge("sklearn.tree._tree", "Tree.__init__.__globals__")
    assert not j.allowed


def test_deny_beats_allow_prefix():
    j = policy().judge("sklearn.datasets", "fetch_openml")
    assert not j.allowed and j.severity == Severity.HIGH


def test_site_policy_file(tmp_path: Path):
    f = tmp_path / "p.yaml"
    f.write_text("default_severity: low\nallow: {exact: [mypkg.Model], modules: []}\n"
                 "deny: [{match: mypkg.evil, severity: critical, reason: test}]\n")
    p = load_policy(f)
    assert p.judge("mypkg", "Model").allowed
    assert p.judge("mypkg", "evil").severity == Severity.CRITICAL
    assert p.judge("other", "x").severity == Severity.LOW
