"""The opcode reader: resolution through memo and stack, tolerance, limits, joblib layout."""

from __future__ import annotations

import collections
import pickle
import pickletools

import numpy as np
import pytest
from mlsleuth.parsers.models.pickle_findings import findings_for, render, scan_pickle_bytes
from mlsleuth.parsers.models.pickle_vm import CallVal, GlobalRef, analyze, is_probably_pickle
from mlsleuth.parsers.models.result import Severity

from mlsleuth.fixturehost.formats import pickles as P
from mlsleuth.fixturehost.formats import sklearn_pickles as S


def quals(analysis) -> set[str]:
    return {g.qualname for g in analysis.globals}


@pytest.mark.parametrize("proto", range(6))
def test_stdlib_pickles_of_plain_data_parse_cleanly(proto):
    obj = {"a": [1, 2.5, "x", b"yy", (1, 2), None, True], "b": collections.OrderedDict(z={1}),
           "c": frozenset([2]), "big": 2**70, "neg": -5, "s": "é" * 300, "t": tuple(range(10))}
    data = pickle.dumps(obj, protocol=proto)
    a = analyze(data)
    assert a.ok and a.streams == 1 and a.end == len(data)
    assert all(f.severity < Severity.MEDIUM for f in findings_for(a))


@pytest.mark.parametrize("proto", range(6))
def test_reduce_resolves_callable_and_arguments(proto):
    a = analyze(P.reduce_call("os", "system", ("echo hi",), protocol=proto))
    [call] = a.calls
    assert isinstance(call.func, GlobalRef) and call.func.qualname == "os.system"
    assert call.args == ("echo hi",)
    assert render(call) == "os.system('echo hi')"


def test_stack_global_operands_through_memo():
    raw = (b"\x80\x04\x8c\x02os\x94\x8c\x06system\x94" b"00" b"h\x00h\x01\x93" b"\x8c\x02id\x85R.")
    a = analyze(raw)
    assert quals(a) == {"os.system"}
    assert a.calls[0].args == ("id",)


def test_stack_global_with_non_string_operands_is_an_error():
    a = analyze(b"\x80\x04K\x01K\x02\x93.")
    assert a.errors and "STACK_GLOBAL requires str" in a.errors[0][1]


def test_inst_obj_newobj_newobj_ex_are_calls():
    inst = analyze(b"(S'a'\nimod\nCls\n.")
    assert inst.calls[0].kind == "inst" and inst.calls[0].args == ("a",)
    obj = analyze(b"\x80\x02(cmod\nCls\nK\x01o.")
    assert obj.calls[0].kind == "obj" and obj.calls[0].args == (1,)
    newobj = analyze(b"\x80\x02cmod\nCls\nK\x01\x85\x81.")
    assert newobj.calls[0].kind == "newobj"
    ex = analyze(b"\x80\x04\x8c\x03mod\x8c\x03Cls\x93)}\x92.")
    assert ex.calls[0].kind == "newobj_ex"


def test_calls_before_an_error_are_kept():
    data = P.reduce_call("os", "system", ("id",), protocol=2)[:-1] + b"\xff garbage"
    a = analyze(data)
    assert quals(a) == {"os.system"} and a.errors
    with pytest.raises(ValueError):
        list(pickletools.genops(data))  # the stdlib walker gives up: this reader does not


@pytest.mark.parametrize("cut", [3, 10, -5, -1])
def test_truncation_is_reported_not_clean(cut):
    data = P.reduce_call("os", "system", ("id",), protocol=2)
    _, findings = scan_pickle_bytes(data[:cut])
    assert any(f.rule_id == "pickle-parse-error" for f in findings)


def test_several_pickles_in_one_stream():
    data = P.dumps([1], 2) + P.dumps({"x": 2}, 4) + P.reduce_call("posix", "system", ("id",), 3)
    a = analyze(data)
    assert a.streams == 3 and quals(a) == {"posix.system"}


def test_trailing_garbage_is_not_an_error():
    a = analyze(P.dumps([1], 2) + b"\x00\x01binary tail")
    assert a.ok and a.streams == 1 and a.trailing == (len(P.dumps([1], 2)), 13)


def test_nested_pickle_in_bytes_constant_is_analysed():
    inner = P.reduce_call("subprocess", "check_output", (["id"],), protocol=4)
    a = analyze(P.reduce_call("pickle", "loads", (inner,), protocol=4))
    assert quals(a) == {"pickle.loads"}
    assert {g.qualname for n in a.nested for g in n.analysis.globals} == {"subprocess.check_output"}


def test_indirect_call_and_attribute_write_rules():
    chain = P.Call(P.Call(P.Global("builtins", "getattr"), (P.Global("os", "path"), "join")), ("a",))
    rules = {f.rule_id for f in scan_pickle_bytes(P.dumps(chain, 4))[1]}
    assert "pickle-indirect-call" in rules
    build = b"\x80\x02ccollections\nOrderedDict\nN}X\x01\x00\x00\x00aK\x01s\x86b."
    rules = {f.rule_id for f in scan_pickle_bytes(build)[1]}
    assert "pickle-attribute-write" in rules


def test_partial_over_dangerous_target_is_critical():
    data = P.dumps(P.Call(P.Global("functools", "partial"), (P.Global("os", "system"), "id")), 4)
    crit = [f for f in scan_pickle_bytes(data)[1] if f.rule_id == "pickle-partial-dangerous"]
    assert crit and crit[0].severity == Severity.CRITICAL


def test_torch_state_dict_layout_and_persistent_ids():
    data, storages = P.benign_state_dict({"w": ("float32", (2, 3)), "b": ("float32", (2,))})
    a = analyze(data)
    assert a.ok and a.persistent_ids == 2 and set(storages) == {"0", "1"}
    assert quals(a) == {"collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch.FloatStorage"}
    assert not findings_for(a)


def test_joblib_inline_arrays_are_skipped_and_later_opcodes_read():
    data = S.joblib_dumps({"a": np.arange(1000, dtype="float64"), "b": np.ones((3, 3), "int8"), "tail": "end"})
    a = analyze(data)
    assert a.ok and a.joblib_arrays == 2 and a.end == len(data)
    assert "end" in render(a.result)


def test_joblib_object_array_embeds_a_pickle():
    arr = np.empty(2, dtype=object)
    arr[:] = ["x", "y"]
    a = analyze(S.joblib_dumps({"o": arr}))
    assert a.ok and len(a.nested) == 1 and a.nested[0].analysis.streams == 1


def test_limits_bound_hostile_inputs():
    deep = analyze(b"\x80\x02" + b"(" * 300_000 + b".")
    assert deep.errors and "MARK nesting" in deep.errors[0][1]
    wide = analyze(b"\x80\x02N" + b"2" * 600_000 + b".")
    assert wide.errors and "stack too deep" in wide.errors[0][1]


def test_is_probably_pickle():
    assert is_probably_pickle(P.dumps([1], 2))
    assert is_probably_pickle(pickle.dumps({"a": 1}, protocol=0))
    assert not is_probably_pickle(b"hello world, just text\n")
    assert not is_probably_pickle(b"\x00\x01\x02")


def test_symbolic_values_never_import_anything():
    a = analyze(P.reduce_call("this_module_does_not_exist", "boom", (), 4))
    assert isinstance(a.calls[0], CallVal) and quals(a) == {"this_module_does_not_exist.boom"}
