"""Bad input gives a clear error naming the op, the shapes or the values."""

import numpy as np
import pytest

import minigrad as mg


def test_matmul_shape_mismatch_names_op_and_shapes():
    with pytest.raises(ValueError, match=r"matmul.*\(3, 4\), \(5, 2\)"):
        mg.zeros(3, 4) @ mg.zeros(5, 2)


def test_broadcast_mismatch_names_op_and_shapes():
    with pytest.raises(ValueError, match=r"add.*\(2, 3\), \(4,\)"):
        mg.zeros(2, 3) + mg.zeros(4)


def test_nonscalar_backward_without_grad():
    y = mg.tensor([1.0, 2.0], requires_grad=True) * 2
    with pytest.raises(ValueError, match=r"shape \(2,\), so pass grad="):
        y.backward()
    with pytest.raises(ValueError, match=r"grad has shape \(3,\) but the output has shape \(2,\)"):
        y.backward(np.ones(3))


def test_backward_on_something_without_grad():
    with pytest.raises(RuntimeError, match="does not require grad"):
        mg.tensor([1.0]).sum().backward()


@pytest.mark.parametrize("data", [["a", "b"], [object()], np.array([1 + 2j])])
def test_bad_dtypes(data):
    with pytest.raises(TypeError, match="must be bool, integer or float"):
        mg.tensor(data)


def test_index_errors():
    with pytest.raises(ValueError, match=r"one_hot.*\[0, 3\)"):
        mg.one_hot(np.array([0, 3]), 3)
    with pytest.raises(IndexError, match=r"embedding.*\[0, 2\)"):
        mg.embedding(mg.zeros(2, 3), np.array([2]))
    with pytest.raises(IndexError, match="getitem.*does not fit shape"):
        mg.zeros(2, 3)[5]


def test_shape_op_errors():
    with pytest.raises(ValueError, match="reshape.*size 6.*input shapes \\(2, 3\\)"):
        mg.zeros(2, 3).reshape(4)
    with pytest.raises(ValueError, match="add up to 5"):
        mg.split(mg.zeros(5), [2, 2])
    with pytest.raises(ValueError, match="axis 3 is out of range"):
        mg.zeros(2, 3).sum(axis=3)
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        mg.manual_seed(-1)


@pytest.mark.parametrize("ids", [[0, 1, 2], [0, 0, 1]], ids=["distinct", "repeated"])
def test_add_at_refuses_a_g_that_does_not_broadcast_to_what_the_index_picks(ids):
    """With a repeated row, a g of the right size but the wrong shape was
    flattened into place ((2, 3) for (3, 2) rows: [[2, 4], [4, 5], [0, 0]])."""
    g = mg.tensor(np.arange(6.0).reshape(2, 3))
    with pytest.raises(ValueError, match=r"add_at.*\(2, ?3\).*\(3, ?2\)"):
        mg.add_at(g, np.array(ids), (3, 2))
    broadcast = mg.add_at(mg.tensor([1.0, 2.0]), np.array(ids), (3, 2))  # a g that broadcasts is fine, as in np.add.at
    expected = np.zeros((3, 2))
    np.add.at(expected, np.array(ids), [1.0, 2.0])
    np.testing.assert_array_equal(broadcast.numpy(), expected)


@pytest.mark.parametrize("condition", [mg.tensor([0.0, 0.2, 1.0]), np.array([0, 2, 1]), [0, 1, 1],
                                       mg.tensor(np.array([0, 1, 1], np.uint8))], ids=["float", "int", "list", "uint8"])
def test_where_and_masked_fill_take_bool_conditions_only(condition):
    """A float mask [0, .2, 1] was taken as != 0 (masked_fill gave [1, 9, 9]):
    more likely a mistake, or torch's additive mask, than meant."""
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with pytest.raises(TypeError, match="where: condition must be a bool.*got dtype"):
        mg.where(condition, x, 0.0)
    with pytest.raises(TypeError, match="masked_fill: mask must be a bool.*got dtype"):
        mg.masked_fill(x, condition, 9.0)
    with pytest.raises(TypeError, match="masked_fill: mask"):
        x.masked_fill(condition, 9.0)
    bools = np.asarray(condition.numpy() if isinstance(condition, mg.Tensor) else condition) != 0
    np.testing.assert_array_equal(mg.masked_fill(x, bools, 9.0).detach().numpy(), [1.0, 9.0, 9.0])


@pytest.mark.parametrize("shape", [(1.9, 3), (True, 3), (np.float64(3.0),), 3.0])
def test_shapes_must_be_whole_numbers(shape):
    """reshape took int() of each size: x of 3 elements reshaped to (1.9, 3) became (1, 3) without a word."""
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with pytest.raises(TypeError, match=r"reshape: shape must be an int or a sequence of ints, got"):
        mg.reshape(x, shape)
    with pytest.raises(TypeError, match=r"broadcast_to: shape must be an int or a sequence of ints, got"):
        mg.broadcast_to(x, shape)


def test_a_shape_may_be_one_int():
    """mg.reshape(x, 3) (as np.reshape) failed with "'int' object is not iterable"."""
    x = mg.tensor([[1.0, 2.0, 3.0]])
    assert mg.reshape(x, 3).shape == (3,)
    assert mg.reshape(x, np.int64(-1)).shape == (3,)
    assert mg.broadcast_to(mg.tensor([1.0]), 4).shape == (4,)


@pytest.mark.parametrize("bounds", [dict(low=mg.tensor([0.0, 0.0])), dict(high=mg.tensor(1.0, requires_grad=True))])
def test_clip_bounds_that_are_tensors_are_a_clear_error(bounds):
    """A Tensor bound failed deep inside with "NumPy's bitwise_and was called on a minigrad Tensor"."""
    x = mg.tensor([-1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match=r"clip: low and high must be numbers or NumPy arrays.*mg.maximum"):
        mg.clip(x, **bounds)
    with pytest.raises(TypeError, match=r"clip: low and high"):
        x.clip(**bounds)


@pytest.mark.parametrize("op", [mg.sum, mg.mean, mg.max, mg.min, mg.logsumexp, mg.squeeze])
@pytest.mark.parametrize("axis", [1.0, (0.0,), "0"])
def test_an_axis_that_is_not_an_int_is_a_type_error_naming_the_op(op, axis):
    """x.sum(1.0) failed with "'float' object is not iterable"; on a 0-d tensor axis (0.0,) was taken as 0."""
    for x in (mg.zeros(2, 3), mg.zeros(())):
        with pytest.raises(TypeError, match=rf"^{op.__name__}: axis must be an int"):
            op(x, axis)


def test_an_error_raised_in_an_op_names_it_once():
    with pytest.raises(ValueError, match=r"^sum: axis 2 is out of range"):
        mg.zeros(2, 3).sum(2)
    with pytest.raises(ValueError, match=r"^one_hot: indices must lie in"):
        mg.one_hot([3], 3)


def test_split_sizes_must_be_ints():
    with pytest.raises(TypeError, match=r"split: split_size_or_sections must be an int or a sequence of ints, got 1.5"):
        mg.split(mg.zeros(3), 1.5)
    with pytest.raises(TypeError, match=r"split: split_size_or_sections must be .*got \[2.5, 1\]"):
        mg.split(mg.zeros(3), [2.5, 1])  # (was split as (2, 1))


@pytest.mark.parametrize("op", [mg.concat, mg.stack])
@pytest.mark.parametrize("tensors", [mg.tensor([[5.0]]), mg.tensor([1.0, 2.0]), np.zeros((1, 2)), "generator"])
def test_concat_and_stack_take_a_list_or_tuple(op, tensors):
    """A tensor in place of the list was taken apart into its rows (stack(tensor([[5.]])) gave it back)
    or failed with 'the truth value of a tensor'; a generator with "'generator' object is not subscriptable"."""
    if isinstance(tensors, str):
        tensors = (t for t in [mg.zeros(2), mg.zeros(2)])
    with pytest.raises(TypeError, match=rf"{op.__name__}: tensors must be a list or tuple of tensors, got"):
        op(tensors)


@pytest.mark.parametrize("index, shape", [([-5], (3,)), ([-4, 0], (3,)), ((np.array([0]), np.array([-4])), (3, 3)),
                                          ((0, np.array([-1])), (3,))])
def test_add_at_refuses_an_index_out_of_range_below_minus_n(index, shape):
    """mg.add_at(g, [-5], (3,)) added g into element 1 (-5 counted from the end was -2, which NumPy
    then counted from the end again); np.add.at raises."""
    with pytest.raises(IndexError, match=r"add_at: index .* out of range|too many indices"):
        mg.add_at(mg.tensor([1.0]), index, shape)


def test_grad_names_its_grad_outputs_argument():
    """mg.grad of a non-scalar without grad_outputs said "pass grad= of that shape", and a wrong-shaped one
    "grad has shape ...": mg.grad has no argument grad (that is backward's)."""
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match=r"grad: grad_outputs\[0\] can be left out only .* pass grad_outputs= "):
        mg.grad(x * 2, x)
    with pytest.raises(ValueError, match=r"grad: grad_outputs\[1\] has shape \(3,\) but the output has shape \(2,\)"):
        mg.grad([x * 2, x * 3], x, grad_outputs=[mg.ones(2), mg.ones(3)])


@pytest.mark.parametrize("op", [lambda t: t + 2**70, lambda t: t == 2**70, lambda t: mg.maximum(t, -2**70)])
def test_an_integer_beyond_64_bits_with_an_integer_tensor_is_named(op):
    """int64_tensor + 2**70 raised NumPy's bare "OverflowError: Python int too large to convert to C long";
    a float tensor still takes it as a float."""
    with pytest.raises(ValueError, match=r"the integer -?1180591620717411303424 does not fit 64 bits, nor .* int64"):
        op(mg.tensor([1, 2]))
    np.testing.assert_allclose((mg.tensor([1.0, 2.0]) * 2**70).data, [2.0**70, 2.0**71], rtol=1e-7)
