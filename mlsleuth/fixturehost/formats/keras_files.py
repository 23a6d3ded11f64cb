"""Keras model files in Keras' own layouts, written with h5py and zipfile (Keras not needed).

* Keras 2 HDF5 (``model.save("m.h5")``, keras/saving/legacy/hdf5_format.py): root attributes
  ``keras_version``, ``backend``, ``model_config`` (JSON, utf-8 bytes), ``training_config``;
  group ``model_weights`` with ``layer_names``/``backend``/``keras_version`` attributes and one
  group per layer holding ``weight_names`` and datasets ``<layer>/<layer>/kernel:0``.
* Keras 3 ``.keras`` zip (keras/src/saving/saving_lib.py): ``metadata.json``, ``config.json``,
  ``model.weights.h5`` (``layers/<name>/vars/<i>``).

Lambda bytecode is produced like Keras' ``func_dump``: base64 of ``marshal.dumps(code)``.
"""

from __future__ import annotations

import base64
import codecs
import json
import marshal
import zipfile
from pathlib import Path

import h5py
import numpy as np

KERAS2_VERSION = "2.13.1"
KERAS3_VERSION = "3.6.0"


def lambda_code_b64(source: str) -> str:
    """Keras func_dump of a lambda given as source text (compiled, never called)."""
    module_code = compile(source, "<lambda>", "eval")
    fn_code = next(c for c in module_code.co_consts if hasattr(c, "co_code"))
    return codecs.encode(marshal.dumps(fn_code), "base64").decode("ascii")


# -- Keras 2 -----------------------------------------------------------------------------------
def dense2(name: str, units: int, activation: str = "relu") -> dict:
    return {"class_name": "Dense", "config": {
        "name": name, "trainable": True, "dtype": "float32", "units": units, "activation": activation,
        "use_bias": True, "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
        "bias_initializer": {"class_name": "Zeros", "config": {}}, "kernel_regularizer": None,
        "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None,
        "bias_constraint": None}}


def lambda2(name: str, source: str) -> dict:
    return {"class_name": "Lambda", "config": {
        "name": name, "trainable": True, "dtype": "float32", "function": [lambda_code_b64(source), None, None],
        "function_type": "lambda", "module": "__main__", "output_shape": None, "output_shape_type": "raw",
        "output_shape_module": None, "arguments": {}}}


def sequential2(layers: list[dict], n_in: int, name: str = "sequential") -> dict:
    inp = {"class_name": "InputLayer", "config": {"batch_input_shape": [None, n_in], "dtype": "float32",
                                                  "sparse": False, "ragged": False, "name": f"{name}_input"}}
    return {"class_name": "Sequential", "config": {"name": name, "layers": [inp] + layers}}


TRAINING_CONFIG2 = {"loss": "mse", "metrics": None, "weighted_metrics": None, "loss_weights": None,
                    "optimizer_config": {"class_name": "Custom>Adam", "config": {
                        "name": "Adam", "weight_decay": None, "clipnorm": None, "global_clipnorm": None,
                        "clipvalue": None, "use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None,
                        "jit_compile": False, "is_legacy_optimizer": False, "learning_rate": 0.001,
                        "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07, "amsgrad": False}}}


def write_keras2_h5(path: Path | str, model_config: dict, weights: dict[str, dict[str, np.ndarray]],
                    training_config: dict | None = TRAINING_CONFIG2) -> None:
    """``weights``: layer name -> {weight name ("kernel:0") -> array}, in layer order."""
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = KERAS2_VERSION
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps(model_config).encode("utf8")
        if training_config is not None:
            f.attrs["training_config"] = json.dumps(training_config).encode("utf8")
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = np.array([n.encode("utf8") for n in weights])
        g.attrs["backend"] = b"tensorflow"
        g.attrs["keras_version"] = KERAS2_VERSION.encode("utf8")
        for layer in sorted(weights):
            lg = g.create_group(layer)
            names = [f"{layer}/{w}".encode() for w in weights[layer]]
            lg.attrs["weight_names"] = np.array(names)
            for wname, value in weights[layer].items():
                lg.create_dataset(f"{layer}/{wname}", data=value)


def dense_weights(rng: np.random.Generator, sizes: list[int], prefix: str = "dense") -> dict:
    out = {}
    for i, (a, b) in enumerate(zip(sizes, sizes[1:], strict=False)):
        name = prefix if i == 0 else f"{prefix}_{i}"
        out[name] = {"kernel:0": rng.normal(size=(a, b)).astype("float32"), "bias:0": np.zeros(b, "float32")}
    return out


# -- Keras 3 -----------------------------------------------------------------------------------
def _dtype_policy() -> dict:
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": None}


def dense3(name: str, units: int, n_in: int, activation: str = "relu") -> dict:
    return {"module": "keras.layers", "class_name": "Dense", "config": {
        "name": name, "trainable": True, "dtype": _dtype_policy(), "units": units, "activation": activation,
        "use_bias": True, "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform",
                                                 "config": {"seed": None}, "registered_name": None},
        "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {},
                             "registered_name": None},
        "kernel_regularizer": None, "bias_regularizer": None, "kernel_constraint": None, "bias_constraint": None},
        "registered_name": None, "build_config": {"input_shape": [None, n_in]}}


def lambda3(name: str, source: str) -> dict:
    return {"module": "keras.layers", "class_name": "Lambda", "config": {
        "name": name, "trainable": True, "dtype": _dtype_policy(),
        "function": {"class_name": "__lambda__", "config": {"code": lambda_code_b64(source), "defaults": None,
                                                          "closure": None}},
        "arguments": {}}, "registered_name": None}


def sequential3(layers: list[dict], n_in: int, name: str = "sequential") -> dict:
    inp = {"module": "keras.layers", "class_name": "InputLayer", "config": {
        "batch_shape": [None, n_in], "dtype": "float32", "sparse": False, "name": "input_layer"},
        "registered_name": None}
    return {"module": "keras", "class_name": "Sequential", "config": {
        "name": name, "trainable": True, "dtype": _dtype_policy(), "layers": [inp] + layers},
        "registered_name": None, "build_config": {"input_shape": [None, n_in]},
        "compile_config": {"optimizer": {"module": "keras.optimizers", "class_name": "Adam", "config": {
            "name": "adam", "learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07,
            "amsgrad": False}, "registered_name": None}, "loss": "mse", "metrics": None}}


def write_keras3(path: Path | str, config: dict, weights: dict[str, list[np.ndarray]] | None = None,
                 extra_members: dict[str, bytes] | None = None) -> None:
    import io

    wbuf = io.BytesIO()
    with h5py.File(wbuf, "w") as f:
        layers = f.create_group("layers")
        for lname, values in (weights or {}).items():
            vg = layers.create_group(lname).create_group("vars")
            for i, v in enumerate(values):
                vg.create_dataset(str(i), data=v)
        f.create_group("optimizer").create_group("vars")
    meta = {"keras_version": KERAS3_VERSION, "date_saved": "2026-11-02@10:14:55"}
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("metadata.json", json.dumps(meta))
        z.writestr("config.json", json.dumps(config))
        z.writestr("model.weights.h5", wbuf.getvalue())
        for name, data in (extra_members or {}).items():
            z.writestr(name, data)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
