"""Issue 14.5: a Tensor speaks Python's protocols as NumPy arrays and PyTorch
tensors do: iteration, unpacking, truth value, numbers, indices, NumPy
conversion, IndexError out of range, elementwise ==."""

import copy
import pickle
import re

import numpy as np
import pytest

import minigrad as mg
import nn


def test_iteration_unpacking_and_sum():
    t = mg.tensor([[1.0, 2.0], [3.0, 4.0]])
    rows = list(t)
    assert len(rows) == 2 and all(isinstance(r, mg.Tensor) for r in rows)
    np.testing.assert_array_equal(rows[1].data, [3, 4])
    a, b = t
    np.testing.assert_array_equal(a.data, [1, 2])
    assert sum(mg.tensor([1.0, 2.0, 3.0])).item() == 6
    assert [float(v) for v in mg.tensor([1.5, 2.5])] == [1.5, 2.5]
    with pytest.raises(TypeError, match="0-d"):
        iter(mg.tensor(1.0))
    with pytest.raises(TypeError, match="0-d"):
        len(mg.tensor(1.0))


def test_iteration_is_differentiable():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    total = sum(v * v for v in x)
    total.backward()
    np.testing.assert_array_equal(x.grad.data, [2, 4])


def test_truth_value_needs_one_element():
    assert mg.tensor(1.0) > 0
    if mg.tensor([0.0]):
        raise AssertionError("a zero is false")
    with pytest.raises(ValueError, match="one element.*shape \\(2,\\)"):
        bool(mg.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="one element"):
        bool(mg.tensor([]))


def test_numbers_and_indices():
    assert float(mg.tensor([2.5])) == 2.5 and int(mg.tensor(3.7)) == 3
    assert [10, 20, 30][mg.tensor(1)] == 20
    assert range(10)[mg.tensor([4])] == 4
    with pytest.raises(ValueError, match="float\\(\\) needs a tensor with one element"):
        float(mg.tensor([1.0, 2.0]))
    with pytest.raises(TypeError, match="only integer tensors"):
        [1, 2][mg.tensor(1.0)]


def test_numpy_conversion():
    t = mg.tensor([1.0, 2.0])
    a = np.asarray(t)
    assert a is t.data
    copy = np.array(t)
    copy[0] = 5
    assert t.data[0] == 1
    assert np.array(t, dtype=np.float64).dtype == np.float64
    with pytest.raises(TypeError, match="requires grad.*detach"):
        np.asarray(mg.tensor([1.0], requires_grad=True))


def test_out_of_range_indexing_is_an_index_error():
    t = mg.tensor([1.0, 2.0, 3.0])
    with pytest.raises(IndexError, match="does not fit shape"):
        t[3]
    with pytest.raises(IndexError):
        t[np.array([0, -4])]
    assert t[-1].item() == 3


def test_equality_is_elementwise_and_hashing_by_identity():
    a, b = mg.tensor([1.0, 2.0]), mg.tensor([1.0, 3.0])
    np.testing.assert_array_equal((a == b).data, [True, False])
    np.testing.assert_array_equal((a != b).data, [False, True])
    assert (a == 1.0).data.tolist() == [True, False]
    assert len({a, b}) == 2 and {a: 1}[a] == 1  # tensors are still usable as keys
    assert 2.0 in a and 5.0 not in a
    assert (a == None) is False  # noqa: E711  (not an array: plain identity, as PyTorch)


def test_numpy_arithmetic_with_tensors_gives_tensors():
    t = mg.tensor([1.0, 2.0], requires_grad=True)
    out = np.array([3.0, 4.0]) * t
    assert isinstance(out, mg.Tensor) and out.requires_grad
    assert isinstance(np.array([1.0, 2.0]) < mg.tensor([2.0, 1.0]), mg.Tensor)
    with pytest.raises(TypeError, match="NumPy's sin was called on a minigrad Tensor"):
        np.sin(t)


def test_a_numpy_function_on_a_tensor_names_an_op_that_exists():
    """np.abs(t) said "use mg.absolute", np.prod(t) "mg.multiply" and np.sin(t) "mg.sin": none exists."""
    t = mg.tensor([1.0, -2.0])
    for call, hint in ((np.abs, "mg.abs"), (np.add.reduce, "mg.sum"), (np.maximum.reduce, "mg.max"),
                       (np.prod, None), (np.sin, None)):
        with pytest.raises(TypeError, match="was called on a minigrad Tensor") as error:
            call(t)
        message = str(error.value)
        names = re.findall(r"mg\.(\w+)", message)
        assert all(hasattr(mg, name) for name in names), message
        assert (hint in message) if hint else ("no such op" in message), message


def test_numpy_reductions_on_a_tensor_say_which_op_to_use():
    """np.sum(t) raised "Tensor.sum() got an unexpected keyword argument 'out'" (NumPy hands its own
    arguments to a method of the same name); np.mean, np.max and np.min alike."""
    t = mg.tensor([1.0, -2.0])
    for call, op in ((np.sum, "sum"), (np.mean, "mean"), (np.max, "max"), (np.min, "min"), (np.amax, "max")):
        with pytest.raises(TypeError, match=f"NumPy's {call.__name__} was called on a minigrad Tensor: use mg.{op}"):
            call(t)
    assert isinstance(np.concatenate([t, t]), np.ndarray)  # other functions still take its array, as np.asarray
    assert np.argmax(t) == 0 and np.shape(t) == (2,)


def test_logical_operators_on_masks():
    a, b = mg.tensor([True, False, True]), mg.tensor([True, True, False])
    np.testing.assert_array_equal((a & b).data, [True, False, False])
    np.testing.assert_array_equal((a | b).data, [True, True, True])
    np.testing.assert_array_equal((a ^ b).data, [False, True, True])
    np.testing.assert_array_equal((~a).data, [False, True, False])
    assert (a & b).dtype == bool and (~a).dtype == bool


def test_bitwise_operators_on_integers_are_bitwise_as_in_numpy():
    """& | ^ ~ were logical: mg.tensor([6, 5]) & mg.tensor([3, 1]) gave [True, True] (NumPy: [2, 1])."""
    a, b = np.array([6, 5]), np.array([3, 1])
    ta, tb = mg.tensor(a), mg.tensor(b)
    for got, expected in ((ta & tb, a & b), (ta | tb, a | b), (ta ^ tb, a ^ b), (~ta, ~a), (ta & 3, a & 3),
                          (3 | ta, 3 | a), (a ^ tb, a ^ b), (mg.bitwise_not(ta), ~a)):
        assert isinstance(got, mg.Tensor) and got.dtype == expected.dtype
        np.testing.assert_array_equal(got.numpy(), expected)
    small = mg.tensor(np.array([12, 10], np.uint8))
    assert (small & mg.tensor(np.array([10, 6], np.uint8))).tolist() == [8, 2] and (~small).dtype == np.uint8


@pytest.mark.parametrize("op", [lambda x: x & 300, lambda x: 256 | x, lambda x: x ^ -1,
                                lambda x: mg.bitwise_and(x, 2**40)])
def test_bitwise_operators_with_a_number_that_does_not_fit_are_a_value_error(op):
    """uint8 & 300 gave a uint16 tensor (the widening that makes uint8 == 300 exact; a bitwise result
    keeps the operands' dtype, so NumPy 2 raises): a ValueError naming the number and the dtype."""
    small = mg.tensor(np.array([12, 10], np.uint8))
    with pytest.raises(ValueError, match=r"bitwise_.*integer (300|256|-1|1099511627776) does not fit.*uint8"):
        op(small)
    assert (small == 300).tolist() == [False, False] and (small != -1).tolist() == [True, True]  # (exact, as before)


@pytest.mark.parametrize("op", [lambda x: x & x, lambda x: x | True, lambda x: x ^ mg.tensor([1, 2]), lambda x: ~x,
                                lambda x: np.array([True, False]) & x])
def test_bitwise_operators_on_floats_are_a_type_error(op):
    with pytest.raises(TypeError, match="bitwise_.*bool or integer.*float32"):
        op(mg.tensor([0.5, 2.0]))


def test_copying_or_pickling_a_tensor_made_by_an_op_is_refused():
    """As PyTorch's deepcopy: a copy of a tensor in the graph copied the graph
    with it, leaves included, so a backward from the copy filled the copies'
    .grad and left the leaves' None (and a long graph hit the recursion
    limit); pickling failed on a VJP's lambda. A leaf is copied and pickled."""
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    x.grad = mg.tensor([0.5, 0.5])
    y = x * 2
    for copy_it in (copy.copy, copy.deepcopy, lambda t: pickle.loads(pickle.dumps(t))):
        with pytest.raises(RuntimeError, match=r"made by an op \(mul\).*detach\(\)"):
            copy_it(y)
        leaf = copy_it(x)
        assert leaf is not x and leaf.requires_grad and leaf.is_leaf
        np.testing.assert_array_equal(leaf.data, x.data)
        np.testing.assert_array_equal(leaf.grad.data, x.grad.data)
    deep = copy.deepcopy(x)
    deep.data[0] = 7.0  # a deep copy has its own array
    assert x.data[0] == 1.0
    again = pickle.loads(pickle.dumps(y.detach()))
    assert not again.requires_grad and again.is_leaf
    np.testing.assert_array_equal(again.data, [2.0, 4.0])


def test_numpy_equality_functions_refuse_a_tensor_that_requires_grad():
    """np.array_equal(t, t) was False for a tensor that requires grad: NumPy answers False when
    np.asarray fails, so the refusal to convert became a wrong answer without a word."""
    t = mg.tensor([1.0, 2.0], requires_grad=True)
    for call in (np.array_equal, np.array_equiv):
        with pytest.raises(TypeError, match="requires grad cannot become a NumPy array"):
            call(t, t)
        with pytest.raises(TypeError, match="requires grad cannot become a NumPy array"):
            call(a1=np.ones(2), a2=t)
        assert call(t.detach(), [1.0, 2.0])


def test_numpy_all_and_any_on_a_tensor_do_not_suggest_an_elementwise_op():
    """np.all(t) said "use mg.logical_and": an elementwise op, not the reduction asked for."""
    t = mg.tensor([True, False])
    for call in (np.all, np.any):
        with pytest.raises(TypeError, match="was called on a minigrad Tensor: minigrad has no such op"):
            call(t)


class _PickledBeforeTheProperty:
    """Pickles as a Tensor pickled when requires_grad was a slot of its own (before it became a property)."""

    def __init__(self, cls: type):
        self.cls = cls

    def __reduce__(self):
        slots = {"_data": np.array([1.0, 2.0]), "grad": None, "requires_grad": True, "_node": None, "_index": 0,
                 "_version": [0]}
        return object.__new__, (self.cls,), (None, slots)


def test_a_tensor_pickled_before_requires_grad_became_a_property_loads():
    """Unpickling one raised AttributeError '_node': its state set requires_grad, now a property whose
    setter checks _node, not yet restored."""
    for cls in (mg.Tensor, nn.Parameter):
        t = pickle.loads(pickle.dumps(_PickledBeforeTheProperty(cls)))
        assert type(t) is cls and t.requires_grad and t.is_leaf and t.grad is None
        np.testing.assert_array_equal(t.data, [1.0, 2.0])
