"""The fast pickle path (pickle_fast) must give exactly what the careful reader gives, or give up.

Differential: every stream the scanner reads in the whole corpus, and thousands of truncated and
byte-flipped variants of ordinary and malicious pickles, go through both readers; wherever the
fast path answers, its analysis (globals, calls with their arguments, builds, persistent ids,
result, offsets, op count, shared objects) must equal the careful reader's.
"""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest
from mlsleuth.parsers.models import inspect_file, pickle_vm
from mlsleuth.parsers.models.pickle_fast import FAST_MAX, fast_analyze
from mlsleuth.parsers.models.pickle_values import PickleAnalysis
from mlsleuth.parsers.models.pickle_vm import analyze, careful_analyze

from mlsleuth.fixturehost.formats import pickles as P
from mlsleuth.fixturehost.formats import sklearn_pickles as S
from mlsleuth.fixturehost.formats.corpus import adam_state, cnn_state, linear_state, lstm_state, sgd_state

_ATOMS = (str, bytes, int, bool, type(None))


def canon(a: PickleAnalysis) -> list:
    """A comparable snapshot; objects reached twice (memo, globals called) appear as references."""
    seen: dict[int, int] = {}

    def c(v):
        if isinstance(v, _ATOMS):
            return (type(v).__name__, v)
        if isinstance(v, float):
            return ("float", repr(v))
        if isinstance(v, tuple):
            return ("tuple", tuple(c(x) for x in v))
        if id(v) in seen:
            return ("ref", seen[id(v)])
        seen[id(v)] = len(seen)
        if isinstance(v, list):
            return ("list", [c(x) for x in v])
        names = getattr(type(v), "__slots__", None) or [f.name for f in dataclasses.fields(v)]
        return (type(v).__name__, [(n, c(getattr(v, n))) for n in names])

    names = [n for n in PickleAnalysis.__slots__ if not n.startswith("_")] + ["ops"]
    return [(n, c(getattr(a, n))) for n in names]


def check(buf, start: int = 0, end: int | None = None, joblib: bool = True) -> bool:
    """Both readers on one range; True when the fast path answered (and agreed)."""
    end = len(buf) if end is None else end
    fast = fast_analyze(buf, start, end, joblib)
    if fast is None:
        return False
    slow = careful_analyze(buf, start, end, joblib=joblib)
    assert canon(fast) == canon(slow), (bytes(buf[start:end])[:200], slow.errors)
    return True


def base_pickles() -> list[bytes]:
    pks = [P.benign_state_dict(linear_state())[0], P.benign_state_dict(*cnn_state())[0],
           P.benign_state_dict(lstm_state())[0],
           P.torch_pickle(adam_state([tuple(s.shape) for s in linear_state().values()]))[0],
           P.torch_pickle(sgd_state([(4, 3), (4,)]))[0],
           P.benign_state_dict(linear_state(), protocol=4)[0]]
    pks.append(P.prepend_call(pks[0], "os", "system", ("echo hi",)))
    rng = np.random.default_rng(0)
    for proto in (2, 4, 5):
        pks.append(S.dumps(S.logistic_regression(rng), protocol=proto))
    for proto in range(6):
        pks.append(pickle.dumps({"k": [1, 2.5, {"n": None}], "t": (True, b"x" * 9, "é" * 3),
                                 "big": 2**70, "neg": -300, "s": {1, 2}}, protocol=proto))
        pks.append(P.reduce_call("os", "system", ("id",), protocol=proto))
    return pks


def test_fast_path_takes_ordinary_checkpoints():
    for pk in base_pickles()[:10]:
        assert check(pk), "the fast path must handle torch.save and scikit-learn output"
    big = P.benign_state_dict({f"l{i}.weight": ("float32", (4, 4)) for i in range(2000)})[0]
    assert len(big) > FAST_MAX and fast_analyze(big, 0, len(big), True) is None  # careful reader's limits


def test_agrees_with_careful_reader_on_the_corpus(corpus, monkeypatch):
    root, _, samples = corpus
    real = pickle_vm.fast_analyze
    answered = []

    def both(buf, start, end, joblib):
        fast = real(buf, start, end, joblib)
        if fast is not None:
            answered.append(end - start)
            assert canon(fast) == canon(careful_analyze(buf, start, end, joblib=joblib))
        return fast

    monkeypatch.setattr(pickle_vm, "fast_analyze", both)
    for s in samples:
        inspect_file(root / s.name)
    assert len(answered) > 40  # the corpus's ordinary pickles do take the fast path


def test_agrees_on_truncated_pickles():
    for pk in base_pickles():
        for cut in range(1, len(pk) + 1):
            check(pk[:cut])


# torch state dict, Adam state, protocol-4 torch, injected call, scikit-learn protocol 5, stdlib p2/p5
MUTATED = (0, 3, 5, 6, 9, 14, 20)


@pytest.mark.parametrize("index", MUTATED)
def test_agrees_on_byte_flipped_pickles(index):
    pk = base_pickles()[index]
    assert check(pk)
    for pos in range(len(pk)):
        for val in {0x00, 0x2E, 0x71, pk[pos] ^ 1, pk[pos] ^ 0x80}:
            check(pk[:pos] + bytes([val]) + pk[pos + 1:])
    # the stream inside a larger buffer (a zip member): offsets stay absolute, bytes after it ignored
    assert check(b"PK" * 16 + pk + b"\x80\x02N.", 32, 32 + len(pk))


def test_analyze_uses_either_reader_transparently():
    pk = base_pickles()[0]
    a = analyze(pk)
    assert a.streams == 1 and not a.errors and a.ops > 100
    assert canon(a) == canon(careful_analyze(pk, 0, len(pk)))
