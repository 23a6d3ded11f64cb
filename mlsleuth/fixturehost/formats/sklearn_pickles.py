"""Pickles as scikit-learn and joblib write them, without scikit-learn or joblib installed.

The bytes come from CPython's own (pure-Python) pickler: estimators are stand-in objects whose
classes *pickle as* ``sklearn.<module>.<Class>`` (the name is written, never imported), their
state holds real numpy arrays, and ``JoblibPickler`` reproduces joblib's ``NumpyPickler``
(NumpyArrayWrapper + raw array bytes after BUILD, 16-byte alignment padding, frame commit for
protocol >= 4). Only benign data objects are pickled here.
"""

from __future__ import annotations

import copyreg
import io
import pickle
from typing import Any

import numpy as np

NUMPY_ARRAY_ALIGNMENT_BYTES = 16


class _NamedClassMeta(type):
    pass


def fake_class(module: str, qualname: str, reduce: Any = None) -> type:
    """A class that pickles as ``module.qualname``; ``reduce(obj)`` may override __reduce_ex__."""
    ns: dict[str, Any] = {"__module__": module, "__qualname__": qualname, "_mlsleuth_fake": True}
    if reduce is not None:
        ns["__reduce_ex__"] = lambda self, proto: reduce(self)
    cls = _NamedClassMeta(qualname.rsplit(".", 1)[-1], (object,), ns)
    return cls


class FakeNamePickler(pickle._Pickler):  # type: ignore[name-defined]
    """The pure-Python pickler, writing fake classes by name instead of verifying the import."""

    dispatch = pickle._Pickler.dispatch.copy()  # type: ignore[attr-defined]

    def save_global(self, obj: Any, name: str | None = None) -> None:
        if not getattr(obj, "_mlsleuth_fake", False):
            return super().save_global(obj, name)
        module, qual = obj.__module__, obj.__qualname__
        if self.proto >= 4:
            self.save(module)
            self.save(qual)
            self.write(pickle.STACK_GLOBAL)
        else:
            self.write(pickle.GLOBAL + module.encode("utf-8") + b"\n" + qual.encode("utf-8") + b"\n")
        self.memoize(obj)

    dispatch[_NamedClassMeta] = save_global


def dumps(obj: Any, protocol: int = 4) -> bytes:
    buf = io.BytesIO()
    FakeNamePickler(buf, protocol=protocol).dump(obj)
    return buf.getvalue()


# -- scikit-learn stand-ins -------------------------------------------------------------------
SKLEARN_VERSION = "1.5.2"


def estimator(module: str, name: str, **params: Any) -> Any:
    """An estimator instance: object.__reduce_ex__ gives (copyreg.__newobj__, (cls,), state)."""
    cls = fake_class(module, name)
    obj = cls.__new__(cls)
    state = dict(params)
    state["_sklearn_version"] = SKLEARN_VERSION  # BaseEstimator.__getstate__ adds it
    obj.__dict__.update(state)
    return obj


def _tree_reduce(tree: Any) -> tuple:
    return (type(tree), (tree.n_features, tree.n_classes, tree.n_outputs), tree.state)


TREE_CLASS = fake_class("sklearn.tree._tree", "Tree", reduce=_tree_reduce)


def tree(n_features: int, n_classes: int, rng: np.random.Generator, node_count: int = 7) -> Any:
    """sklearn.tree._tree.Tree: Cython class reducing to (Tree, (n_features, n_classes, n_outputs), state)."""
    node_dtype = np.dtype([("left_child", "<i8"), ("right_child", "<i8"), ("feature", "<i8"),
                           ("threshold", "<f8"), ("impurity", "<f8"), ("n_node_samples", "<i8"),
                           ("weighted_n_node_samples", "<f8"), ("missing_go_to_left", "u1")])
    nodes = np.zeros(node_count, dtype=node_dtype)
    nodes["left_child"] = -1
    nodes["right_child"] = -1
    nodes["threshold"] = rng.normal(size=node_count)
    t = TREE_CLASS.__new__(TREE_CLASS)
    t.n_features = n_features
    t.n_classes = np.array([n_classes], dtype=np.intp)
    t.n_outputs = 1
    t.state = {"max_depth": 3, "node_count": node_count, "nodes": nodes,
               "values": rng.random((node_count, 1, n_classes))}
    return t


def logistic_regression(rng: np.random.Generator, n_features: int = 4, n_classes: int = 3) -> Any:
    return estimator(
        "sklearn.linear_model._logistic", "LogisticRegression",
        penalty="l2", dual=False, tol=1e-4, C=1.0, fit_intercept=True, intercept_scaling=1, class_weight=None,
        random_state=None, solver="lbfgs", max_iter=100, multi_class="deprecated", verbose=0,
        warm_start=False, n_jobs=None, l1_ratio=None, n_features_in_=n_features,
        classes_=np.arange(n_classes), n_iter_=np.array([12], dtype=np.int32),
        coef_=rng.normal(size=(n_classes, n_features)), intercept_=rng.normal(size=n_classes))


def standard_scaler(rng: np.random.Generator, n_features: int = 4) -> Any:
    return estimator("sklearn.preprocessing._data", "StandardScaler", with_mean=True, with_std=True, copy=True,
                     n_features_in_=n_features, n_samples_seen_=np.int64(150), mean_=rng.normal(size=n_features),
                     var_=rng.random(n_features), scale_=rng.random(n_features))


def pipeline(rng: np.random.Generator) -> Any:
    return estimator("sklearn.pipeline", "Pipeline",
                     steps=[("scaler", standard_scaler(rng)), ("clf", logistic_regression(rng))],
                     transform_input=None, memory=None, verbose=False)


def random_forest(rng: np.random.Generator, n_estimators: int = 3) -> Any:
    trees = []
    for i in range(n_estimators):
        trees.append(estimator(
            "sklearn.tree._classes", "DecisionTreeClassifier", criterion="gini", splitter="best", max_depth=3,
            min_samples_split=2, min_samples_leaf=1, min_weight_fraction_leaf=0.0, max_features="sqrt",
            max_leaf_nodes=None, random_state=int(rng.integers(2**31)), min_impurity_decrease=0.0,
            class_weight=None, ccp_alpha=0.0, monotonic_cst=None, n_features_in_=4, n_outputs_=1,
            classes_=np.arange(3), n_classes_=np.int64(3), max_features_=2, tree_=tree(4, 3, rng)))
        del i
    return estimator(
        "sklearn.ensemble._forest", "RandomForestClassifier", n_estimators=n_estimators, criterion="gini",
        max_depth=3, bootstrap=True, oob_score=False, n_jobs=None, random_state=0, verbose=0, warm_start=False,
        class_weight=None, max_samples=None, estimator_=estimators_template(), estimators_=trees,
        n_features_in_=4, n_outputs_=1, classes_=np.arange(3), n_classes_=3)


def estimators_template() -> Any:
    return estimator("sklearn.tree._classes", "DecisionTreeClassifier", criterion="gini", splitter="best",
                     max_depth=None, random_state=None)


# -- joblib -------------------------------------------------------------------------------------
NUMPY_ARRAY_WRAPPER = fake_class("joblib.numpy_pickle", "NumpyArrayWrapper")


class JoblibPickler(FakeNamePickler):
    """joblib.numpy_pickle.NumpyPickler: arrays become NumpyArrayWrapper + inline raw bytes."""

    dispatch = FakeNamePickler.dispatch.copy()

    def __init__(self, fh: Any, protocol: int = 4) -> None:
        self.file_handle = fh
        super().__init__(fh, protocol=protocol)

    def save(self, obj: Any, save_persistent_id: bool = True) -> None:
        if type(obj) is np.ndarray:
            order = "F" if (obj.flags.f_contiguous and not obj.flags.c_contiguous) else "C"
            wrapper = NUMPY_ARRAY_WRAPPER.__new__(NUMPY_ARRAY_WRAPPER)
            wrapper.__dict__.update({"subclass": np.ndarray, "shape": obj.shape, "order": order,
                                     "dtype": obj.dtype, "allow_mmap": not obj.dtype.hasobject,
                                     "numpy_array_alignment_bytes": NUMPY_ARRAY_ALIGNMENT_BYTES})
            super().save(wrapper)
            if self.proto >= 4:
                self.framer.commit_frame(force=True)
            self._write_array(obj)
            return
        super().save(obj, save_persistent_id)

    def _write_array(self, array: np.ndarray) -> None:
        fh = self.file_handle
        if array.dtype.hasobject:
            fh.write(dumps(array, protocol=2))  # joblib: pickle.dump(array, fh, protocol=2)
            return
        pos_after_padding_byte = fh.tell() + 1
        padding = NUMPY_ARRAY_ALIGNMENT_BYTES - pos_after_padding_byte % NUMPY_ARRAY_ALIGNMENT_BYTES
        fh.write(int.to_bytes(padding, length=1, byteorder="little"))
        if padding:
            fh.write(b"\xff" * padding)
        fh.write(np.ascontiguousarray(array).tobytes("C"))


def joblib_dumps(obj: Any, protocol: int = 4) -> bytes:
    buf = io.BytesIO()
    JoblibPickler(buf, protocol=protocol).dump(obj)
    return buf.getvalue()


copyreg  # noqa: B018 - copyreg.__newobj__ is what object.__reduce_ex__ emits; imported for readers
