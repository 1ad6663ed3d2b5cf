"""Issue 13: every wrong gradient found against PyTorch's semantics, each a
regression test that failed on the code before the fix, and the bug class
behind it tested generally (negative axes and indices, reused seeds, .grad
independence) under hypothesis."""

import re
import threading  # noqa: F401  (kept beside the other reliability suites)

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
import nn
from minigrad import testing as mt


def leaf(values, dtype=np.float64):
    return mg.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


# -- 1. integer-array indexing: a negative and a positive index naming the same element ----------------

def test_negative_and_positive_index_of_one_element_both_count():
    x = leaf([0.0, 1.0, 2.0])
    x[np.array([1, -2])].sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0, 2, 0])
    y = leaf([5.0])
    y[np.array([0, -1])].sum().backward()
    np.testing.assert_array_equal(y.grad.data, [2])


@given(data=st.data())
def test_integer_indices_with_repeats_and_negatives_sum_their_gradients(data):
    n = data.draw(st.integers(1, 5))
    rows = np.array(data.draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=8)))
    weights = np.arange(1.0, len(rows) + 1)
    x = leaf(np.zeros((n, 2)))
    (x[rows] * weights[:, None]).sum().backward()
    expected = np.zeros(n)
    np.add.at(expected, rows % n, weights)  # the brute force: one element at a time
    np.testing.assert_array_equal(x.grad.data, np.repeat(expected[:, None], 2, axis=1))
    cols = np.array(data.draw(st.lists(st.integers(-2, 1), min_size=len(rows), max_size=len(rows))))
    x.grad = None
    x[:, cols].sum().backward()  # the index array on the second axis, negatives included
    expected = np.zeros(2)
    np.add.at(expected, cols % 2, 1)
    np.testing.assert_array_equal(x.grad.data, np.repeat(expected[None], n, axis=0))


# -- 2. negative axes, in every op that takes an axis -------------------------------------------------

def test_permute_with_negative_axes_has_the_right_gradient():
    x = leaf(np.zeros((2, 2)))
    (x.permute(0, -1) * mg.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=np.float64)).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[1, 2], [3, 4]])
    rng = np.random.default_rng(0)
    for shape, axes in (((3, 3, 3), (-1, 0, 1)), ((2, 3, 4), (-1, 0, 1)), ((2, 3, 4), (1, -1, -3))):
        x = leaf(rng.standard_normal(shape))
        w = rng.standard_normal(np.transpose(x.data, axes).shape)
        (x.permute(*axes) * w).sum().backward()
        np.testing.assert_allclose(x.grad.data, np.transpose(w, np.argsort(np.array(axes) % 3)))


AXIS_OPS = {
    "transpose": lambda t, a, nd: t.transpose(*[a] + [i for i in range(nd) if i != a % nd]),
    "swapaxes": lambda t, a, nd: mg.swapaxes(t, a, -1),
    "sum": lambda t, a, nd: t.sum(axis=a),
    "sum_tuple": lambda t, a, nd: t.sum(axis=(a, -nd)) if a % nd != 0 else t.sum(axis=(a,)),
    "mean": lambda t, a, nd: t.mean(axis=a, keepdims=True),
    "max": lambda t, a, nd: t.max(axis=a),
    "min": lambda t, a, nd: t.min(axis=a),
    "logsumexp": lambda t, a, nd: t.logsumexp(axis=a),
    "softmax": lambda t, a, nd: mg.softmax(t, a),
    "log_softmax": lambda t, a, nd: mg.log_softmax(t, a),
    "concat": lambda t, a, nd: mg.concat([t, t * 2], axis=a),
    "stack": lambda t, a, nd: mg.stack([t, t * 2], axis=a - (a < 0)),
    "split": lambda t, a, nd: mg.split(t, 1, axis=a)[-1] * 3,
    "chunk": lambda t, a, nd: mg.chunk(t, 2, axis=a)[0] * 3,
    "unbind": lambda t, a, nd: mg.unbind(t, axis=a)[-1] * 3,
    "unsqueeze": lambda t, a, nd: t.unsqueeze(a - (a < 0)) * 2,
    "squeeze": lambda t, a, nd: t.reshape(*t.shape[:a % nd], 1, *t.shape[a % nd:]).squeeze(a - (a < 0)) * 2,
}


@pytest.mark.parametrize("name", AXIS_OPS)
@given(data=st.data())
def test_every_axis_taking_op_with_a_negative_axis_equals_the_positive_one(name, data):
    shape = data.draw(mt.shapes(min_dims=2, max_dims=3, min_side=1, max_side=3))
    nd = len(shape)
    axis = data.draw(st.integers(-nd, -1))
    x = data.draw(mt.arrays(shape, distinct=name in ("max", "min")))
    fn = AXIS_OPS[name]
    t = leaf(x)
    assert mg.gradcheck(lambda t: fn(t, axis, nd), [t])
    negative, positive = fn(leaf(x), axis, nd), fn(leaf(x), axis % nd, nd)
    np.testing.assert_allclose(negative.data, positive.data)


def test_axis_out_of_range_is_a_clear_error():
    x = mg.zeros(2, 3)
    for call in (lambda: x.permute(0, 2), lambda: x.sum(axis=-3), lambda: mg.softmax(x, 2),
                 lambda: mg.concat([x, x], axis=-3), lambda: x.unsqueeze(4)):
        with pytest.raises(ValueError, match="axis .* out of range"):
            call()
    with pytest.raises(ValueError, match="not a permutation"):
        x.permute(0, 0)


# -- 3. a second backward with a reused, mutated seed, for every kind of node ---------------------------

class Softplus(mg.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.logaddexp(0, x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * mg.sigmoid(x)


def test_a_function_s_second_backward_uses_the_new_seed():
    x = leaf([-1.0, 0.5, 2.0])
    y = Softplus.apply(x)
    v = np.ones(3)
    y.backward(v, retain_graph=True)
    v *= 3
    y.backward(v)
    sigma = 1 / (1 + np.exp(-x.data))
    np.testing.assert_allclose(x.grad.data, 4 * sigma)


NODE_KINDS = {
    "fixed VJPs (mul)": lambda x: x * x,
    "closure VJPs (sum over an axis)": lambda x: mg.broadcast_to(x.sum(axis=0, keepdims=True), x.shape) * x,
    "a custom Function": lambda x: Softplus.apply(x),
    "scan": lambda x: mg.scan(lambda c, xt: (c + xt, c * xt), mg.zeros(x.shape[1], dtype=x.dtype), x)[1],
}


@pytest.mark.parametrize("kind", NODE_KINDS)
def test_grad_with_a_reused_mutated_grad_outputs_array_is_right_for_every_kind_of_node(kind):
    fn = NODE_KINDS[kind]
    x = leaf(np.arange(1.0, 7.0).reshape(3, 2) / 4)
    y = fn(x)
    seed = np.ones(y.shape)
    (first,) = mg.grad(y, x, seed, retain_graph=True)
    seed *= 3
    (second,) = mg.grad(y, x, seed, retain_graph=True)
    np.testing.assert_allclose(second.data, 3 * first.data, rtol=1e-12)
    seed_tensor = mg.tensor(np.ones(y.shape))
    y.backward(seed_tensor, retain_graph=True)
    seed_tensor.data *= 2
    y.backward(seed_tensor)
    np.testing.assert_allclose(x.grad.data, 3 * first.data, rtol=1e-12)


# -- 4. every .grad is a tensor of its own, writable, after both kinds of backward ----------------------

@pytest.mark.parametrize("create_graph", [False, True])
def test_grads_never_alias_each_other_or_the_seed(create_graph):
    x1, x2 = leaf([3.0, 0.0]), leaf([0.0, 4.0])
    v = mg.tensor([1.0, 1.0], dtype=np.float64)
    (x1 + x2).backward(v, create_graph=create_graph)
    assert x1.grad is not x2.grad and x1.grad is not v and x1.grad.data is not x2.grad.data
    assert not np.shares_memory(x1.grad.data, v.data) and not np.shares_memory(x1.grad.data, x2.grad.data)
    nn.utils.clip_grad_value_([x1, x2], 0.5)
    np.testing.assert_array_equal(v.data, [1, 1])  # the caller's seed is untouched


@given(st.sampled_from([np.float32, np.float64]), st.sampled_from([np.float32, np.float64, np.int64]),
       st.sampled_from(["leaf", "retained", "grad"]), st.booleans())
def test_a_seed_is_cast_to_its_output_s_dtype(dtype, seed_dtype, root, as_tensor):
    """As in PyTorch: a float64 seed of a float32 output gives float32
    gradients (a float64 Tensor seed gave a leaf that was the output a float64
    .grad), with the seed's values rounded to the output's dtype."""
    values = np.array([1 / 3, 2.0, -5.0]).astype(seed_dtype)
    seed = mg.tensor(values) if as_tensor else values
    expected = values.astype(dtype) * (1 if root == "leaf" else 2)
    x = leaf([1.0, 2.0, 3.0], dtype=dtype)
    out = x if root == "leaf" else x * 2
    if root == "grad":
        (got,) = mg.grad(out, [x], grad_outputs=[seed])
    else:
        out.retain_grad()
        out.backward(seed)
        got = x.grad
        assert out.grad.dtype == dtype
        np.testing.assert_array_equal(out.grad.data, values.astype(dtype))
    assert got.dtype == dtype
    np.testing.assert_array_equal(got.data, expected)


def test_a_seed_that_requires_grad_is_cast_on_the_tape():
    x = leaf([1.0, 2.0], dtype=np.float32)
    seed = leaf([3.0, 4.0])  # float64
    (g,) = mg.grad(x * x, [x], grad_outputs=[seed], create_graph=True)
    assert g.dtype == np.float32
    (g_seed,) = mg.grad(g.sum(), [seed])  # d(Σ 2·x·seed)/d seed = 2x, in the seed's own dtype
    assert g_seed.dtype == np.float64
    np.testing.assert_array_equal(g_seed.data, [2, 4])


@pytest.mark.parametrize("create_graph", [False, True])
def test_clip_grad_norm_scales_each_grad_once(create_graph):
    x1, x2 = leaf([0.0, 0.0]), leaf([0.0, 0.0])
    (x1 * mg.tensor([0.3, 0.4], dtype=np.float64) + x2 * mg.tensor([0.3, 0.4], dtype=np.float64)).sum().backward(
        create_graph=create_graph)
    nn.utils.clip_grad_norm_([x1, x2], 0.6)
    np.testing.assert_allclose(x1.grad.data, [0.3 * 0.6 / np.sqrt(0.5), 0.4 * 0.6 / np.sqrt(0.5)], rtol=1e-5)
    np.testing.assert_allclose(x2.grad.data, x1.grad.data)


@pytest.mark.parametrize("create_graph", [False, True])
def test_a_broadcast_gradient_is_writable(create_graph):
    y = leaf(np.ones((2, 3)))
    y.sum().backward(create_graph=create_graph)
    assert y.grad.data.flags.writeable
    nn.utils.clip_grad_norm_([y], 1.0)
    np.testing.assert_allclose(np.linalg.norm(y.grad.data), 1.0, rtol=1e-5)


def test_grad_results_do_not_alias_the_grad_outputs():
    x = leaf([1.0, 2.0])
    v = np.array([1.0, 1.0])
    (g,) = mg.grad(x + 0.0, x, v)
    g.data[0] = 99
    np.testing.assert_array_equal(v, [1, 1])


def test_a_create_graph_grad_stays_differentiable():
    x = leaf([1.0, 2.0])
    (x * x * x).sum().backward(create_graph=True)
    (gg,) = mg.grad(x.grad.sum(), x)
    np.testing.assert_allclose(gg.data, 6 * x.data)


# -- 5. pow at 0 --------------------------------------------------------------------------------------

def test_x_to_the_zero_at_zero_has_gradient_zero():
    x = leaf([0.0, 2.0])
    (x ** 0).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0, 0])
    a, b = leaf(0.0), leaf(0.0)
    (a ** b).backward()
    assert a.grad.item() == 0 and np.isfinite(b.grad.item())
    a = leaf([0.5, 1.5])  # and the second derivative in b at b = 0 is still right
    assert mg.gradgradcheck(lambda a, b: a ** b, [a, leaf(0.0)])


@pytest.mark.parametrize("dtype, subnormal", [(np.float64, 5e-324), (np.float32, 1e-40)])
def test_higher_derivatives_of_integer_powers_at_a_subnormal_are_finite(dtype, subnormal):
    """x**1's second and x**2's third derivative at a subnormal x were NaN: the
    backward of x**0 took 0·x⁻¹ with x⁻¹ overflowing to inf (x = 0 itself was
    handled)."""
    x = leaf([0.0, subnormal, 1.0], dtype=dtype)
    for p, order in ((1, 2), (2, 3), (3, 3)):
        g = (x ** p).sum()
        for _ in range(order):
            (g,) = mg.grad(g.sum(), x, create_graph=True)
        np.testing.assert_array_equal(g.data, [0.0, 0.0, 0.0] if order > p else [6.0, 6.0, 6.0])


# -- edges where we follow NumPy and PyTorch ---------------------------------------------------------------

def test_mean_over_an_empty_axis_is_nan():
    x = leaf(np.zeros((0, 3)))
    out = x.mean(axis=0)
    assert out.shape == (3,) and np.isnan(out.data).all()
    assert np.isnan(mg.mean(mg.zeros(0)).item())


@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "logsumexp"])
@pytest.mark.parametrize("axis", [0, -1, (0,)])
def test_reductions_of_a_0d_tensor_accept_axis_0_and_minus_1(name, axis):
    x = leaf(2.5)
    out = getattr(mg, name)(x, axis)
    assert out.shape == () and out.item() == pytest.approx(2.5)
    out.backward()
    assert x.grad.item() == 1.0
    with pytest.raises(ValueError, match="0-d"):
        getattr(mg, name)(x, 1)


def test_chunk_of_an_empty_axis_gives_empty_pieces():
    pieces = mg.chunk(mg.zeros(0, 2), 3)
    assert len(pieces) == 3 and all(p.shape == (0, 2) for p in pieces)
    assert [p.shape for p in mg.split(mg.zeros(0, 2), 2)] == [(0, 2)]
    with pytest.raises(ValueError, match="chunks must be a positive int"):
        mg.chunk(mg.zeros(2), 0)


@pytest.mark.parametrize("make, expected", [
    (lambda: mg.tensor([1, 2]) * 2.5, np.float32),
    (lambda: mg.tensor([1.0, 2.0]) * mg.tensor(2.0, dtype=np.float64), np.float32),
    (lambda: mg.tensor([1.0, 2.0]) * np.float64(2.0), np.float32),
    (lambda: mg.tensor([1.0, 2.0]) * np.array(2.0), np.float32),
    (lambda: mg.tensor([1.0]) + mg.tensor([1.0], dtype=np.float64), np.float64),
    (lambda: mg.tensor([1, 2]) / mg.tensor([2, 2]), np.float32),
    (lambda: mg.exp(mg.tensor([1, 2])), np.float32),
    (lambda: mg.tensor([1, 2]) * mg.tensor(2.5, dtype=np.float64), np.float64),
    (lambda: mg.tensor([1, 2], dtype=np.int32) + 1, np.int32),
    (lambda: mg.tensor([1.0, 2.0]) * np.array([2.0, 3.0]), np.float64),
    (lambda: mg.where(mg.tensor([True, False]), mg.tensor([1.0, 2.0]), 0.0), np.float32),
])
def test_dtype_promotion_follows_pytorch(make, expected):
    assert make().dtype == expected


# PyTorch's result dtype for two tensors with dimensions (torch.result_type): the higher category
# (bool < integer < float) decides, and only the dtypes of that category combine.
PYTORCH_PAIRS = [
    (np.float32, np.int64, np.float32), (np.float32, np.int32, np.float32), (np.float32, np.int8, np.float32),
    (np.float32, np.uint8, np.float32), (np.float32, np.bool_, np.float32), (np.float64, np.int32, np.float64),
    (np.float32, np.float64, np.float64), (np.int32, np.int64, np.int64), (np.uint8, np.int8, np.int16),
    (np.int8, np.bool_, np.int8), (np.bool_, np.bool_, np.bool_),
]


@pytest.mark.parametrize("first, second, expected", PYTORCH_PAIRS)
def test_tensors_with_dimensions_meet_under_pytorch_s_category_rule(first, second, expected):
    a, b = np.array([1, 0], dtype=first), np.array([1, 1], dtype=second)
    for left, right in ((a, b), (b, a)):
        assert mg.equal(mg.tensor(left), mg.tensor(right)).data.tolist() == [True, False]
        assert mg.where(mg.tensor([True, False]), mg.tensor(left), mg.tensor(right)).dtype == expected
        if expected != np.bool_:
            total = mg.tensor(left) + mg.tensor(right)
            assert total.dtype == expected
            np.testing.assert_array_equal(total.data, left.astype(expected) + right.astype(expected))


def test_a_float32_tensor_meeting_an_integer_tensor_stays_float32_gradient_too():
    x = mg.tensor(np.array([1.5, 2.5], np.float32), requires_grad=True)
    y = x * mg.tensor(np.array([2, 3]))
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.data, [2, 3])


@given(st.lists(st.tuples(st.integers(-2 ** 62, 2 ** 62), st.integers(-1, 1)), min_size=1, max_size=4),
       st.sampled_from([list, tuple]))
def test_a_list_or_tuple_of_ints_is_an_int64_operand(pairs, kind):
    """(It was typed as a Python float: computed in float32, and neighbouring
    large integers compared equal.) The reference: NumPy on the int64 arrays."""
    a = np.array([v for v, _ in pairs])
    b = a + np.array([d for _, d in pairs])
    t, operand = mg.tensor(a), kind(b.tolist())
    for got, expected in [(t + operand, a + b), (operand - t, b - a), (t == operand, a == b),
                          (t != operand, a != b), (t < operand, a < b), (mg.maximum(t, operand), np.maximum(a, b))]:
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got.data, expected)


@pytest.mark.parametrize("tensor_dtype, operand, expected", [
    (np.int64, [0.5, 1.0], np.float32), (np.int32, [1, 2], np.int64), (np.bool_, [True, False], np.bool_),
    (np.int64, (True, False), np.int64), (np.float32, [1, 2], np.float32), (np.float64, [0.5, 1.0], np.float64),
    (np.float32, [0.5, 1.0], np.float32),
])
def test_a_list_operand_counts_by_the_dtype_its_array_gets_as_a_tensor_with_dimensions(tensor_dtype, operand,
                                                                                       expected):
    t = mg.tensor(np.array([1, 0], dtype=tensor_dtype))
    assert mg.where(mg.tensor([True, False]), t, operand).dtype == expected
    assert mg.where(mg.tensor([True, False]), t, mg.tensor(operand)).dtype == expected


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.bool_])
@pytest.mark.parametrize("default", [np.float32, np.float64])
def test_clip_of_integers_by_a_float_bound_gives_the_default_float(dtype, default):
    """As any Python float meeting an integer tensor (it gave float64, NumPy's clip)."""
    x = np.array([0, 1, 1, 0], dtype=dtype)
    mg.set_default_dtype(default)
    try:
        for low, high in [(0.5, 1.5), (0.5, None), (None, 0.5)]:
            y = mg.clip(mg.tensor(x), low, high)
            assert y.dtype == default
            np.testing.assert_array_equal(y.data, np.clip(x.astype(default), low, high))
    finally:
        mg.set_default_dtype(np.float32)


def test_clip_keeps_the_tensor_s_dtype_for_bounds_that_do_not_widen_it():
    x32 = mg.tensor(np.array([-2.0, 0.25, 3.0], np.float32), requires_grad=True)
    y = mg.clip(x32, np.float64(-1.0), np.array(1.0))  # 0-d bounds: no wider than a float tensor
    assert y.dtype == np.float32
    y.sum().backward()
    assert x32.grad.dtype == np.float32
    np.testing.assert_array_equal(x32.grad.data, [0, 1, 0])
    ints = mg.tensor(np.array([-3, 0, 300], np.int16))
    for low, high in [(-1, 1), (np.int64(-1), np.int64(1)), (-100000, 100000)]:
        assert mg.clip(ints, low, high).dtype == np.int16
        np.testing.assert_array_equal(mg.clip(ints, low, high).data, np.clip(ints.data, low, high))


def test_a_python_number_keeps_its_precision_until_it_meets_a_dtype():
    x = leaf([3.0])
    np.testing.assert_allclose((x * (1 / 3)).data, [1.0], rtol=1e-15)
    x32 = mg.tensor([0.1])
    assert (x32 < 0.1).item() is False  # compared in float32, as in PyTorch


def test_max_with_a_nan_propagates_it_and_sends_the_gradient_to_it():
    x = leaf([1.0, np.nan, 3.0])
    out = x.max()
    assert np.isnan(out.item())
    out.backward()
    np.testing.assert_array_equal(x.grad.data, [0, 1, 0])


def test_relu_of_nan_is_nan_with_gradient_zero():
    x = leaf([np.nan, 1.0])
    y = mg.relu(x)
    assert np.isnan(y.data[0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0, 1])


def test_softmax_with_an_infinite_logit_gives_the_limit():
    x = leaf([1.0, np.inf, 2.0, np.inf])
    y = mg.softmax(x)
    np.testing.assert_array_equal(y.data, [0, 0.5, 0, 0.5])
    (y * mg.tensor([1.0, 2.0, 3.0, 4.0], dtype=np.float64)).sum().backward()
    assert np.isfinite(x.grad.data).all()


# -- custom Functions, for the people who write them ---------------------------------------------------

class SiLUSavingSigmoid(mg.Function):
    """Saves σ(x), an intermediate: fine once, wrong under create_graph -- which says so."""

    @staticmethod
    def forward(ctx, x):
        s = 1 / (1 + np.exp(-x))
        ctx.save_for_backward(x, s)
        return x * s

    @staticmethod
    def backward(ctx, g):
        x, s = ctx.saved_tensors
        return g * (s + x * s * (1 - s))


def test_a_saved_intermediate_passes_gradcheck_and_explains_itself_under_create_graph():
    x = leaf([-0.5, 0.3, 1.2])
    assert mg.gradcheck(SiLUSavingSigmoid.apply, [x])
    with pytest.raises(RuntimeError, match="neither an input nor the output.*second derivative"):
        mg.gradgradcheck(SiLUSavingSigmoid.apply, [x])


def test_a_once_differentiable_function_refuses_create_graph():
    class Once(Softplus):
        once_differentiable = True

    x = leaf([0.5])
    (g,) = mg.grad(Once.apply(x).sum(), x)  # first order is fine
    assert g.item() == pytest.approx(1 / (1 + np.exp(-0.5)))
    with pytest.raises(RuntimeError, match="once_differentiable"):
        mg.grad(Once.apply(x).sum(), x, create_graph=True)


def test_a_function_backward_returning_arrays_refuses_create_graph():
    """A backward on .numpy() of grad and the saved input (y = x², x̄ =
    2·x·ȳ): under create_graph its array became a constant, so gradgradcheck
    found 0 where 2 is due and the gradient penalty (x̄·w).sum() lost its
    dependence on x (d/dx = 0 + 2x from Σx², not 2x + 2w). Now the
    create_graph backward names the Function and what to do."""
    class Square(mg.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g.numpy() * 2 * x.numpy()

    x = leaf([1.0, 2.0, 3.0])
    assert np.array_equal(mg.grad(Square.apply(x).sum(), x)[0].data, [2.0, 4.0, 6.0])  # first order: fine
    with pytest.raises(RuntimeError, match=r"Square.backward returned a plain ndarray for input 0 under create_graph"):
        mg.grad(Square.apply(x).sum(), x, create_graph=True)


def test_numpy_on_a_tensor_inside_backward_says_what_to_do():
    class NumpyInBackward(Softplus):
        @staticmethod
        def backward(ctx, g):
            return np.exp(g)

    with pytest.raises(TypeError, match="NumPy's exp was called on a minigrad Tensor.*mg.exp"):
        NumpyInBackward.apply(leaf([1.0])).sum().backward()


def test_a_wrongly_shaped_gradient_is_named_with_both_shapes():
    class WrongShape(Softplus):
        @staticmethod
        def backward(ctx, g):
            return mg.zeros(4, dtype=np.float64)

    with pytest.raises(RuntimeError, match=r"WrongShape.*shape \(4,\).*input 0.*shape \(3,\)"):
        WrongShape.apply(leaf([1.0, 2.0, 3.0])).sum().backward()


def returning(grad: np.ndarray, out_shape: tuple | None = None):
    """A custom op y = x (broadcast to ``out_shape`` if given) whose backward returns ``grad``, whatever x's shape."""
    class Returns(mg.Function):
        @staticmethod
        def forward(ctx, x):
            return x.copy() if out_shape is None else np.broadcast_to(x, out_shape).copy()

        @staticmethod
        def backward(ctx, g):
            return grad

    return Returns


def broadcasts(shape: tuple, to: tuple) -> bool:
    """NumPy's word on whether an array of ``shape`` broadcasts to ``to``."""
    try:
        np.broadcast_to(np.zeros(shape), to)
    except ValueError:
        return False
    return True


@given(data=st.data())
def test_a_gradient_is_summed_over_broadcast_axes_only_and_any_other_shape_is_an_error(data):
    """A gradient with extra leading axes or stretched size-1 axes that the
    output has (the forward broadcast the input) is summed back (against the
    brute force); the same gradient for an output of the input's shape, or
    one of any other shape -- the same size in another order, say -- is the
    shape error, never summed or reshaped into place (a (3, 2) gradient for
    a (2, 3) input was reshaped to (2, 3); a (5, 5) one for a (5,) input and
    output was summed to (5,))."""
    shape = data.draw(mt.shapes(min_dims=0, max_dims=3))
    grad_shape = (*data.draw(st.lists(st.integers(1, 3), max_size=2)),
                  *[data.draw(st.integers(0, 3)) if n == 1 else n for n in shape])
    grad = np.arange(1.0, np.prod(grad_shape) + 1).reshape(grad_shape)
    x = leaf(np.zeros(shape))
    returning(grad, grad_shape).apply(x).sum().backward()
    expected = np.zeros(shape)
    lead = len(grad_shape) - len(shape)
    for position in np.ndindex(grad_shape):  # the brute force, element by element
        expected[tuple(0 if n == 1 else i for i, n in zip(position[lead:], shape))] += grad[position]
    np.testing.assert_array_equal(x.grad.data, expected)
    if grad_shape != shape:  # the output does not have those axes: a mistake in the backward, not a broadcast
        with pytest.raises(RuntimeError, match=rf"Returns.*shape {re.escape(str(grad_shape))}.*input 0.*"
                                               rf"shape {re.escape(str(shape))}"):
            returning(grad).apply(leaf(np.zeros(shape))).sum().backward()
    size = int(np.prod(shape))
    for wrong in {shape[::-1], (size,), (*shape, 1), (size, 1), (2, *shape[1:])}:
        if not broadcasts(shape, wrong):
            with pytest.raises(RuntimeError, match=rf"Returns.*shape {re.escape(str(wrong))}.*input 0.*"
                                                   rf"shape {re.escape(str(shape))}"):
                returning(np.ones(wrong)).apply(leaf(np.zeros(shape))).sum().backward()


def test_function_settings_go_to_forward_as_keywords():
    class Scale(mg.Function):
        @staticmethod
        def forward(ctx, x, *, factor):
            ctx.factor = factor
            return x * factor

        @staticmethod
        def backward(ctx, g):
            return g * ctx.factor

    x = leaf([1.0, 2.0])
    Scale.apply(x, factor=3.0).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [3, 3])


def test_a_primitive_whose_vjp_closes_over_a_float_array_refuses_create_graph():
    @mg.primitive
    def silu(x):
        s = 1 / (1 + np.exp(-x))
        return x * s, lambda g: g * (s + x * s * (1 - s))  # s and x: constants to the graph

    x = leaf([-0.5, 0.3, 1.2])
    assert mg.gradcheck(silu, [x])
    with pytest.raises(RuntimeError, match="'silu'.*closes over a float array"):
        mg.gradgradcheck(silu, [x])
    # built-in ops with closures (max's winners and counts) keep their second derivatives
    assert mg.gradgradcheck(lambda t: t.max() * t.sum(), [leaf([1.0, 3.0, 2.0])])


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_family_over_an_empty_axis_is_empty(name):
    x = leaf(np.zeros((2, 0)))
    out = getattr(mg, name)(x, -1)
    assert out.shape == (2, 0)
    out.sum().backward()
    assert x.grad.shape == (2, 0)


def test_logsumexp_over_an_empty_axis_is_minus_infinity():
    out = mg.logsumexp(leaf(np.zeros((2, 0))), axis=1)
    np.testing.assert_array_equal(out.data, [-np.inf, -np.inf])
    np.testing.assert_array_equal(mg.logsumexp(leaf([-np.inf, -np.inf])).data, -np.inf)


def test_a_function_saving_its_0d_output_keeps_its_second_derivative():
    class Tanh(mg.Function):
        @staticmethod
        def forward(ctx, x):
            y = np.tanh(x)  # a NumPy scalar for a 0-d x
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, g):
            (y,) = ctx.saved_tensors
            return g * (1 - y * y)

    assert mg.gradgradcheck(Tanh.apply, [leaf(0.3)])


@pytest.mark.parametrize("fused,where", [(True, "lstm_kernel"), (False, "recurrent")])
def test_anomaly_names_the_library_line_and_the_user_s_line(fused, where):
    lstm = nn.LSTM(2, 3)
    lstm.fused = fused
    x = mg.tensor(np.full((4, 1, 2), np.nan, dtype=np.float32), requires_grad=True)
    with mg.detect_anomaly():
        out, _ = lstm(x)  # this line
        with pytest.raises(RuntimeError, match=rf"nn/{where}.py:\d+ .*<- .*test_core_regressions.py:\d+"):
            out.sum().backward()


def test_logsumexp_of_minus_infinities_has_gradient_zero_not_nan():
    x = leaf([[-np.inf, -np.inf], [0.0, -np.inf]])
    mg.logsumexp(x, axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[0, 0], [1, 0]])


# -- a number that does not fit an integer tensor's dtype (review, stop 26) -------------------------

INT_DTYPES = [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32]


@given(st.sampled_from(INT_DTYPES), st.integers(-2 ** 40, 2 ** 40), st.booleans())
def test_an_integer_that_does_not_fit_an_integer_tensor_is_compared_exactly_else_refused(dtype, number, as_numpy):
    """A Python (or 0-d NumPy) int meets an integer tensor in the tensor's dtype;
    out of its range it wrapped around (uint8 [44] == 300 was True). Now a
    comparison is exact (as NumPy 2's) and arithmetic a ValueError; in range,
    NumPy's results on the exact values."""
    limits = np.iinfo(dtype)
    values = np.array([limits.min, 0, limits.max], dtype)
    x = mg.tensor(values)
    other = np.int64(number) if as_numpy else number
    exact = [int(v) for v in values]
    for op, compare in ((lambda a, b: a == b, lambda a, b: a == b), (lambda a, b: a < b, lambda a, b: a < b),
                        (mg.greater_equal, lambda a, b: a >= b), (mg.not_equal, lambda a, b: a != b)):
        np.testing.assert_array_equal(op(x, other).data, [compare(v, number) for v in exact])
    if limits.min <= number <= limits.max:
        np.testing.assert_array_equal(mg.maximum(x, other).data, np.maximum(values.astype(np.int64), number))
    else:
        for op in (lambda: mg.maximum(x, other), lambda: x + other, lambda: mg.where(values > 0, x, other)):
            with pytest.raises(ValueError, match=f"integer {number} does not fit .*{np.dtype(dtype).name}"):
                op()


@pytest.mark.parametrize("dtype", INT_DTYPES)
@pytest.mark.parametrize("number", [2 ** 32, 2 ** 40 + 1, 2 ** 63 - 1, -2 ** 31 - 1, -2 ** 63])
def test_a_comparison_with_an_integer_beyond_32_bits_is_exact(dtype, number):
    """(int8 == 4294967296 raised 'does not fit': NumPy's smallest type for 2**32 is uint64, which
    int8 meets in float64; the hypothesis test above hit it once in a while.)"""
    values = np.array([np.iinfo(dtype).min, 0, np.iinfo(dtype).max], dtype)
    x = mg.tensor(values)
    for op, compare in ((lambda a, b: a == b, lambda a, b: a == b), (lambda a, b: a < b, lambda a, b: a < b),
                        (lambda a, b: a >= b, lambda a, b: a >= b)):
        np.testing.assert_array_equal(op(x, number).data, [compare(int(v), number) for v in values])


def test_nll_loss_with_uint8_labels_in_a_scan_step_is_the_loops():
    """The default ignore_index=-100 meets uint8 labels: inside a traced step
    the comparison runs on the tensors (it wrapped -100 to 156, then raised)."""
    rng = np.random.default_rng(0)
    logits = mg.tensor(rng.standard_normal((4, 3, 5)), requires_grad=True)
    labels = mg.tensor(rng.integers(0, 5, (4, 3)).astype(np.uint8))

    def step(total, inputs):
        z, y = inputs
        loss = nn.functional.nll_loss(mg.log_softmax(z, axis=-1), y)
        return total + loss, loss

    totals = [mg.scan(step, mg.tensor(0.0, dtype=np.float64), (logits, labels), unroll=unroll)[0].item()
              for unroll in (True, False)]
    np.testing.assert_allclose(totals[0], totals[1], rtol=1e-12)


def test_in_place_arithmetic_with_a_python_number_keeps_float64():
    """x64 *= 0.1 (and +=, copy_) outside the graph took the Python 0.1 as the default float32: x became
    0.10000000149 (clip_grad_norm_ scaled float64 gradients by a float32 factor; optimisers' in-place steps)."""
    x = mg.tensor([1.0, 3.0], dtype=np.float64)
    with mg.no_grad():
        x *= 0.1
        assert x.numpy().tolist() == [0.1, 0.30000000000000004]
        x += 1e-17 + 0.1
        x.copy_([0.1, 0.7])
    assert x.numpy().tolist() == [0.1, 0.7] and x.dtype == np.float64
    y = mg.tensor([1.0], dtype=np.float32)
    with mg.no_grad():
        y *= 0.1
    assert y.dtype == np.float32 and y.item() == np.float32(0.1)
    z = mg.tensor([1, 2], dtype=np.int64)
    with pytest.raises(TypeError, match="would change the dtype"):
        z += 0.5


def test_in_place_with_a_python_number_checks_its_kind_and_that_it_fits():
    """The weak Python number of an in-place change: None, '1.5' and [None, 1.0] became NaN or were parsed
    (found by review); int32 += 2**40 left the tensor unchanged, int8 *= 1000 wrapped to -24, int32.copy_(2**40)
    gave 0 (outside audit), while uint8 += 1 was refused. Out of place, the ops' rule refuses what does not fit."""
    x = mg.tensor([1.0, 2.0], dtype=np.float64)
    for value in (None, "1.5", [None, 1.0], 1j):
        with pytest.raises(TypeError, match="the other operand must be bool, integer or float"):
            with mg.no_grad():
                x += value
    assert x.numpy().tolist() == [1.0, 2.0]
    t = mg.tensor([1, 2], dtype=np.int32)
    with pytest.raises(ValueError, match="does not fit a int32 tensor"):
        t += 2 ** 40
    with pytest.raises(ValueError, match="does not fit a int32 tensor"):
        t.copy_(2 ** 40)
    with pytest.raises(ValueError, match="1000 does not fit a int8 tensor"):
        small = mg.tensor([100, 2], dtype=np.int8)
        small *= 1000
    assert t.numpy().tolist() == [1, 2]
    u = mg.tensor([250, 2], dtype=np.uint8)
    u += 1
    assert u.numpy().tolist() == [251, 3] and u.dtype == np.uint8
    # a NumPy scalar or a 0-d tensor is a number too: it wrapped (int8 += np.int64(1000) gave [-23, -22]), and
    # uint8 -= np.int64(3) was refused as a dtype change (found by review)
    for number in (np.int64(1000), mg.tensor(1000)):
        with pytest.raises(ValueError, match="does not fit a int8 tensor"):
            small = mg.tensor([1, 2], dtype=np.int8)
            small += number
    u -= np.int64(3)
    assert u.numpy().tolist() == [248, 0] and u.dtype == np.uint8



@pytest.mark.parametrize("other", [np.array([2 ** 40, 1]), mg.tensor([1000, 1]), [[1000, 1]]],
                         ids=["array", "tensor", "nested list"])
def test_in_place_with_integers_of_a_wider_dtype_checks_that_they_fit(other):
    """Only a number was checked: int32 += np.array([2**40, 1]) and int8.copy_(mg.tensor([1000, 1]))
    wrapped around without a word (int8 [1, 2] += [1000, 1] gave [-23, 3]); values that fit still work."""
    for dtype in (np.int32, np.int8):
        limits = np.iinfo(dtype)
        if np.all(np.asarray(other.numpy() if isinstance(other, mg.Tensor) else other) <= limits.max):
            continue
        t = mg.tensor([1, 2], dtype=dtype)
        with pytest.raises(ValueError, match=f"does not fit a {np.dtype(dtype).name} tensor"):
            t += other
        with pytest.raises(ValueError, match=f"does not fit a {np.dtype(dtype).name} tensor"):
            t.copy_(other)
        assert t.numpy().tolist() == [1, 2]
    t = mg.tensor([1, 2], dtype=np.int8)
    t += np.array([100, 1])  # int64 values that fit
    t.copy_(mg.tensor([[-128, 127]])[0])
    assert t.numpy().tolist() == [-128, 127] and t.dtype == np.int8

def test_in_place_power_changes_the_tensor():
    """x **= 2 made a new tensor (no __ipow__): another name for x kept the old values, where PyTorch
    changes x in place (pow_), as += does here. An integer tensor **= -1 says what NumPy refuses, not
    that the operand does not broadcast."""
    x = mg.tensor([1.0, 2.0, 3.0])
    alias = x
    x **= 2
    assert alias is x and x.numpy().tolist() == [1.0, 4.0, 9.0]
    leaf = mg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place update of a leaf that requires grad"):
        leaf **= 2
    y = leaf * 1
    y **= 3  # in the graph: a new tensor, as for +=
    y.sum().backward()
    assert leaf.grad.numpy().tolist() == [3.0, 12.0]
    ints = mg.tensor([1, 2], dtype=np.int64)
    with pytest.raises(ValueError, match="in-place power: Integers to negative integer powers are not allowed"):
        ints **= -1
    with pytest.raises(ValueError, match=r"in-place add: an operand of shape \(3,\) does not broadcast"):
        ints += np.ones(3, np.int64)
    assert ints.numpy().tolist() == [1, 2]

def test_in_place_bitwise_operators_change_the_tensor():
    """mask |= other made a new tensor (no __ior__): another name for the mask kept the old values, where
    PyTorch changes it (found by review)."""
    mask = mg.tensor([True, False, False])
    alias = mask
    mask |= mg.tensor([False, True, False])
    mask &= np.array([True, True, False])
    assert alias is mask and alias.numpy().tolist() == [True, True, False]
    t = mg.tensor([6, 5], dtype=np.int64)
    t ^= 3
    assert t.numpy().tolist() == [5, 6]
    with pytest.raises(TypeError, match="bool or integer tensors only"):
        x = mg.tensor([1.0])
        x |= 1


# -- custom Functions: what backward reads from ctx (audit B) -------------------------------------------

class CubeKeepingXOnCtx(mg.Function):
    """y = x³, keeping x as a ctx attribute instead of saving it: right once, a
    constant to the graph under create_graph (and to forward mode nested in it)."""

    @staticmethod
    def forward(ctx, x, scale=None):
        ctx.x, ctx.scale, ctx.positive = x, scale, x > 0  # (a setting and a mask are fine)
        return x ** 3

    @staticmethod
    def backward(ctx, g):
        return g * 3 * ctx.x ** 2

    @staticmethod
    def jvp(ctx, t):
        return t * 3 * ctx.x ** 2


def test_a_float_array_kept_on_ctx_is_refused_where_it_would_be_a_constant():
    """The second derivative through ctx.x was silently 0 (hessian all zeros,
    gradgradcheck 'analytic 0'), where a saved intermediate raised."""
    x = leaf([0.3, -0.2])
    assert mg.gradcheck(CubeKeepingXOnCtx.apply, [x])
    first_order = mg.jacfwd(CubeKeepingXOnCtx.apply)(x.detach())  # (x itself requires grad: nested in the tape)
    np.testing.assert_allclose(first_order.data, np.diag(3 * x.data ** 2))
    with pytest.raises(RuntimeError, match=r"CubeKeepingXOnCtx keeps a float array on ctx \(ctx.x, shape \(2,\)\)"):
        mg.grad(CubeKeepingXOnCtx.apply(x).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="ctx.x"):
        mg.hessian(lambda t: CubeKeepingXOnCtx.apply(t).sum())(x)


class ScaledBySumKeptOnCtx(mg.Function):
    """y = x·Σx, keeping Σx (a NumPy scalar, not an array) as a ctx attribute."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        ctx.total = x.sum()
        return x * ctx.total

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * ctx.total + (g * x).sum()


def test_a_float_scalar_kept_on_ctx_is_refused_where_it_would_be_a_constant():
    """ctx.total = x.sum() is a NumPy scalar, which the check for float arrays let
    through: the second derivative of (Σx)² came out 2, not 2n, without a word."""
    x = leaf([1.0, 2.0])
    assert mg.gradcheck(ScaledBySumKeptOnCtx.apply, [x])
    with pytest.raises(RuntimeError, match=r"keeps a float array on ctx \(ctx.total, shape \(\)\)"):
        mg.grad(ScaledBySumKeptOnCtx.apply(x).sum(), x, create_graph=True)


def test_a_float_setting_kept_on_ctx_is_no_constant_of_the_graph():
    class Scaled(CubeKeepingXOnCtx):
        @staticmethod
        def forward(ctx, x, scale):
            ctx.save_for_backward(x)
            ctx.scale = scale
            return scale * x ** 3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * ctx.scale * x ** 2

    scale = np.array([2.0, 5.0])
    assert mg.gradgradcheck(lambda t: Scaled.apply(t, scale=scale), [leaf([0.3, -0.2])])


def test_a_function_forward_writing_into_its_input_is_refused():
    """forward got the input tensors' own arrays: x *= 2 in it changed the
    caller's tensor (a leaf that requires grad) without a version bump, so
    every value saved from it was silently wrong."""
    class DoubleInPlace(Softplus):
        @staticmethod
        def forward(ctx, x):
            x *= 2
            return x

    x = leaf([1.0, 2.0])
    y = x * x
    with pytest.raises(ValueError, match="DoubleInPlace.forward writes into its input"):
        DoubleInPlace.apply(x)
    np.testing.assert_array_equal(x.data, [1.0, 2.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, 4.0])


@pytest.mark.parametrize("returned", ["abc", np.array([None, 1.0]), [None, 1.0]])
def test_a_function_backward_returning_no_numbers_is_named(returned):
    """A str gave 'a gradient of shape ()... no broadcast'; an object array
    with a None in it became NaN without a word."""
    class Nonsense(Softplus):
        @staticmethod
        def backward(ctx, g):
            return returned

    with pytest.raises(TypeError, match="Nonsense.backward returned a .* for input 0.*an array of numbers or None"):
        Nonsense.apply(leaf([1.0, 2.0])).sum().backward()


def test_a_function_backward_returning_a_list_of_gradients_says_to_return_a_tuple():
    """A two-input Function whose backward returned [ga, gb] was told it 'returned 1 gradient(s) for
    2 input(s)', which it had not written."""

    class Product(mg.Function):
        @staticmethod
        def forward(ctx, a, b):
            ctx.save_for_backward(a, b)
            return a * b

        @staticmethod
        def backward(ctx, g):
            a, b = ctx.saved_tensors
            return [g * b, g * a]

    with pytest.raises(RuntimeError, match=r"returned 1 gradient\(s\) for 2 input\(s\) \(a list is one gradient"):
        Product.apply(leaf([1.0, 2.0]), leaf([3.0, 4.0])).sum().backward()


def test_a_function_backward_writing_into_its_gradient_or_saved_input_is_refused():
    """backward got the tape's own arrays: g *= 2 changed the gradient another
    op shared (b.grad came out doubled), and x *= 2 on a saved input changed
    the leaf x itself, without a word."""
    class DoublesG(Softplus):
        @staticmethod
        def backward(ctx, g):
            g *= 2
            return g

    class DoublesX(Softplus):
        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            x *= 2
            return g * x

    a, b = leaf([1.0, 2.0]), leaf([1.0, 2.0])
    for f in (DoublesG.apply, DoublesX.apply):
        with pytest.raises(ValueError, match="in-place multiply on a tensor whose data is a view or read-only"):
            (b * 1 + f(a)).backward(mg.tensor(np.ones(2)))
        np.testing.assert_array_equal(a.data, [1.0, 2.0])


def test_under_create_graph_a_function_backward_cannot_write_into_a_constant_input():
    class TimesDoubledC(mg.Function):
        @staticmethod
        def forward(ctx, x, c):
            ctx.save_for_backward(x, c)
            return x * c

        @staticmethod
        def backward(ctx, g):
            x, c = ctx.saved_tensors
            c *= 2
            return g * c, None

    x, c = leaf([1.0, 2.0]), mg.tensor(np.array([3.0, 4.0]))
    with pytest.raises(ValueError, match="read-only"):
        mg.grad(TimesDoubledC.apply(x, c).sum(), x, create_graph=True)
    np.testing.assert_array_equal(c.data, [3.0, 4.0])


def test_a_function_whose_forward_draws_random_numbers_is_refused_by_forward_mode():
    """jvp runs forward again to fill its ctx: a forward drawing a new dropout
    mask gave the output of one mask and the tangent of another, silently."""
    rng = np.random.default_rng(0)

    class RandomMask(mg.Function):
        @staticmethod
        def forward(ctx, x):
            mask = rng.random(x.shape) > 0.5
            ctx.save_for_backward(mask)
            return x * mask

        @staticmethod
        def backward(ctx, g):
            (mask,) = ctx.saved_tensors
            return g * mask

        @staticmethod
        def jvp(ctx, t):
            (mask,) = ctx.saved_tensors
            return t * mask

    x = mg.tensor(np.arange(1.0, 17.0))
    with pytest.raises(RuntimeError, match="RandomMask.forward gave another output when run again for its jvp"):
        mg.jvp(RandomMask.apply, (x,), (mg.ones(16, dtype=np.float64),))


def test_a_user_primitive_gets_read_only_views_of_the_tapes_arrays():
    """A user's mg.primitive got the tape's own arrays: a VJP doing g *= 2 doubled the gradient another op shared
    (x·3 + double(x), then ·w: x.grad [8, 8] instead of [5, 5], without a word), and a forward doing x *= 10
    changed the caller's tensor. Now a ValueError naming the op; what the user makes is theirs to write into."""
    def doubling_in_place(g, x):
        g *= 2
        return g

    @mg.primitive(save_inputs=True, vjps=doubling_in_place)
    def double(x):
        return 2 * x

    x = mg.tensor([1.0, 2.0], requires_grad=True, dtype=np.float64)
    w = mg.tensor([1.0, 1.0], dtype=np.float64)
    with pytest.raises(ValueError, match="double: its VJP writes into an array minigrad handed it"):
        ((x * 3 + double(x)) * w).sum().backward()

    @mg.primitive(save_inputs=True, vjps=lambda g, x: g * 10)
    def scale(x):
        x *= 10
        return x

    a = mg.tensor([1.0, 2.0], dtype=np.float64)
    with pytest.raises(ValueError, match="scale: its forward writes into an array"):
        scale(a)
    np.testing.assert_array_equal(a.data, [1.0, 2.0])

    @mg.primitive()  # (a forward returning its VJP: run on views too)
    def cube(x):
        def vjp(g):
            g *= 3 * x * x
            return g
        return x ** 3, vjp

    with pytest.raises(ValueError, match="cube: its VJP writes"):
        ((x * 3 + cube(x)) * w).sum().backward()

    @mg.primitive()
    def square(x):
        out = np.empty_like(x)  # (its own array: writing into it is fine)
        np.multiply(x, x, out=out)
        return out, lambda g: 2 * x * g

    y = mg.tensor([1.0, -3.0], requires_grad=True, dtype=np.float64)
    ((y * 3 + square(y)) * w).sum().backward()
    np.testing.assert_array_equal(y.grad.data, [5.0, -3.0])
    assert mg.gradcheck(square, [mg.tensor([0.5, 2.0], requires_grad=True, dtype=np.float64)])
