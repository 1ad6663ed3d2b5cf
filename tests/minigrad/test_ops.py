"""Every op: gradcheck and gradgradcheck in float64 over generated shapes,
broadcasting on either side, axis/keepdims variants, and values against NumPy."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
from minigrad import testing as mt


def check(fn, *inputs, second_order=True):
    assert mg.gradcheck(fn, list(inputs))
    if second_order:
        assert mg.gradgradcheck(fn, list(inputs))


def tensor(a):
    return mg.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


BINARY = {
    "add": (lambda a, b: a + b, {}),
    "sub": (lambda a, b: a - b, {}),
    "mul": (lambda a, b: a * b, {}),
    "truediv": (lambda a, b: a / b, {"b": dict(low=0.5, high=2.0)}),
    "pow": (lambda a, b: a ** b, {"a": dict(low=0.5, high=2.0)}),
    "maximum": (mg.maximum, {}),
    "minimum": (mg.minimum, {}),
}


@pytest.mark.parametrize("name", BINARY)
@given(data=st.data())
def test_binary_ops_with_broadcasting(name, data):
    fn, ranges = BINARY[name]
    shape_a, shape_b = data.draw(mt.broadcastable_shapes())
    a = data.draw(mt.arrays(shape_a, **ranges.get("a", {})))
    b = data.draw(mt.arrays(shape_b, **ranges.get("b", {})))
    if name in ("maximum", "minimum"):  # keep the operands apart: no kinks
        b = np.where(np.abs(np.broadcast_to(a, np.broadcast_shapes(a.shape, b.shape)) - b) < 0.1, b + 0.5, b) \
            if b.shape == np.broadcast_shapes(a.shape, b.shape) else b + 5.0
    check(fn, tensor(a), tensor(b))
    np.testing.assert_allclose(fn(tensor(a), tensor(b)).data, fn(mg.tensor(a), mg.tensor(b)).data)


UNARY = {
    "neg": (mg.neg, {}), "exp": (mg.exp, {}), "log": (mg.log, dict(low=0.2, high=3)),
    "sqrt": (mg.sqrt, dict(low=0.2, high=3)), "tanh": (mg.tanh, {}), "sigmoid": (mg.sigmoid, {}),
    "relu": (mg.relu, dict(kinks=(0,))), "abs": (mg.abs, dict(kinks=(0,))),
    "clip": (lambda x: mg.clip(x, -1.0, 1.0), dict(kinks=(-1, 1))),
}
NUMPY = {"neg": np.negative, "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "tanh": np.tanh,
         "sigmoid": lambda x: 1 / (1 + np.exp(-x)), "relu": lambda x: np.maximum(x, 0), "abs": np.abs,
         "clip": lambda x: np.clip(x, -1, 1)}


@pytest.mark.parametrize("name", UNARY)
@given(data=st.data())
def test_unary_ops(name, data):
    fn, ranges = UNARY[name]
    x = data.draw(mt.arrays(mt.shapes(), **ranges))
    check(fn, tensor(x))
    np.testing.assert_allclose(fn(tensor(x)).data, NUMPY[name](x), rtol=1e-12)


def axis_and_keepdims(ndim):
    single = st.integers(-ndim, ndim - 1) if ndim else st.none()
    several = st.lists(st.integers(0, ndim - 1), unique=True, min_size=1).map(tuple) if ndim else st.none()
    return st.tuples(st.one_of(st.none(), single, several), st.booleans())


@pytest.mark.parametrize("name", ["sum", "mean", "logsumexp", "max", "min"])
@given(data=st.data())
def test_reductions(name, data):
    shape = data.draw(mt.shapes(min_dims=0, max_dims=3))
    axis, keepdims = data.draw(axis_and_keepdims(len(shape)))
    x = data.draw(mt.arrays(shape, distinct=name in ("max", "min")))
    fn = getattr(mg, name)
    check(lambda t: fn(t, axis, keepdims), tensor(x))
    reference = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min,
                 "logsumexp": lambda a, axis, keepdims: np.log(np.sum(np.exp(a), axis=axis, keepdims=keepdims))}
    np.testing.assert_allclose(fn(tensor(x), axis, keepdims).data, reference[name](x, axis=axis, keepdims=keepdims),
                               atol=1e-12)


def test_mean_of_float16_is_summed_in_float32():
    """The mean of 70000 float16 ones was inf (their float16 sum overflows); NumPy and PyTorch give 1."""
    x = mg.tensor(np.ones((2, 70000), np.float16), requires_grad=True)
    for y, expected in ((x.mean(), 1.0), (x.mean(axis=-1, keepdims=True), [[1.0], [1.0]])):
        assert y.dtype == np.float16
        np.testing.assert_array_equal(y.data, expected)
    x.mean().backward()
    assert x.grad.dtype == np.float16
    np.testing.assert_allclose(x.grad.data, np.float16(1 / 140000), rtol=1e-3)


def test_softmax_family_of_float16_sums_in_float32():
    """Over 70000 float16 zeros softmax gave 0 everywhere, logsumexp inf and log_softmax -inf: the float16 sum
    of the exponentials overflowed (PyTorch sums in float32)."""
    x = mg.tensor(np.zeros(70000, np.float16))
    for y, expected in ((x.softmax(), 1 / 70000), (x.logsumexp(), np.log(70000)), (x.log_softmax(), -np.log(70000))):
        assert y.dtype == np.float16
        np.testing.assert_allclose(y.data.astype(np.float64), expected, rtol=2e-3)


def test_log_softmax_backward_of_float16_sums_in_float32():
    """An upstream gradient of about 1000 over 100 float16 classes: the backward's Σ ȳ (about 100,000) overflowed
    float16's 65,504, and the gradient x̄ = ȳ − e^y·Σ ȳ came out -inf; now it matches float64 (the forward and
    softmax already summed in float32)."""
    rng = np.random.default_rng(0)
    x, g = (a.astype(np.float16) for a in (rng.normal(size=(3, 100)), rng.uniform(900, 1100, size=(3, 100))))
    x64, g64 = x.astype(np.float64), g.astype(np.float64)
    expected = g64 - np.exp(x64 - np.log(np.exp(x64).sum(-1, keepdims=True))) * g64.sum(-1, keepdims=True)
    x16 = mg.tensor(x, requires_grad=True)
    mg.log_softmax(x16).backward(mg.tensor(g))
    assert x16.grad.dtype == np.float16
    atol = 1e-3 * np.abs(expected).max()
    np.testing.assert_allclose(x16.grad.data.astype(np.float64), expected, rtol=2e-3, atol=atol)


def test_max_shares_the_gradient_between_ties():
    x = tensor([1.0, 3.0, 3.0, 2.0])
    x.max().backward()
    np.testing.assert_array_equal(x.grad.data, [0, 0.5, 0.5, 0])


@given(data=st.data())
def test_min_and_max_of_every_dtype_equal_numpy(data):
    """Over the whole range of each dtype: an unsigned 0 and a signed type's
    minimum too (min was -max(-x), which wraps around there), bools, and
    floats with inf and NaN."""
    dtype = data.draw(st.sampled_from([np.bool_, np.uint8, np.uint16, np.uint32, np.uint64, np.int8, np.int16,
                                       np.int32, np.int64, np.float32, np.float64]))
    shape = data.draw(mt.shapes(min_dims=0, max_dims=3))
    x = data.draw(hnp.arrays(dtype, shape))
    axis, keepdims = data.draw(axis_and_keepdims(len(shape)))
    for name in ("min", "max"):
        expected = getattr(np, name)(x, axis=axis, keepdims=keepdims)
        for got in (getattr(mg, name)(mg.tensor(x), axis, keepdims), getattr(mg.tensor(x), name)(axis, keepdims)):
            assert got.dtype == expected.dtype
            np.testing.assert_array_equal(got.data, expected)


@pytest.mark.parametrize("name", ["min", "max"])
@given(data=st.data())
def test_min_and_max_share_the_gradient_and_the_tangent_equally_between_ties(name, data):
    shape = data.draw(mt.shapes(min_dims=1, max_dims=3))
    axis, keepdims = data.draw(axis_and_keepdims(len(shape)))
    x = data.draw(hnp.arrays(np.float64, shape, elements=st.sampled_from([-1.0, 0.5, 2.0])))  # ties galore
    axes = tuple(range(x.ndim)) if axis is None else tuple(np.atleast_1d(axis) % x.ndim)
    rest = [k for k in range(x.ndim) if k not in axes]
    rows = np.moveaxis(x, rest + list(axes), range(x.ndim)).reshape(-1, int(np.prod([x.shape[k] for k in axes])))
    shares = np.zeros_like(rows)
    for row, share in zip(rows, shares):  # the brute force, one reduced slice at a time
        best = row.min() if name == "min" else row.max()
        picked = [k for k, value in enumerate(row) if value == best]
        share[picked] = 1 / len(picked)
    moved = shares.reshape([x.shape[k] for k in rest + list(axes)])
    shares = np.moveaxis(moved, range(x.ndim), rest + list(axes))
    fn = getattr(mg, name)
    t = tensor(x)
    y = fn(t, axis, keepdims)
    g = np.arange(1.0, y.size + 1).reshape(y.shape)
    y.backward(g)
    g_kept = g.reshape([1 if k in axes else n for k, n in enumerate(x.shape)])
    np.testing.assert_allclose(t.grad.data, shares * g_kept, rtol=1e-15)
    v = np.arange(1.0, x.size + 1).reshape(x.shape)
    _, tangent = mg.jvp(lambda a: fn(a, axis, keepdims), (mg.tensor(x),), (mg.tensor(v),))
    np.testing.assert_allclose(tangent.data, (shares * v).sum(axis=axes, keepdims=keepdims), rtol=1e-15)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@given(data=st.data())
def test_softmax_family(name, data):
    shape = data.draw(mt.shapes(min_dims=1, max_dims=3))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = data.draw(mt.arrays(shape))
    fn = getattr(mg, name)
    check(lambda t: fn(t, axis), tensor(x))
    if name == "softmax":
        np.testing.assert_allclose(fn(tensor(x), axis).data.sum(axis=axis), 1.0)
    else:
        expected = x - np.log(np.exp(x).sum(axis=axis, keepdims=True))
        np.testing.assert_allclose(fn(tensor(x), axis).data, expected, atol=1e-12)


@given(data=st.data())
def test_matmul_all_shape_rules(data):
    k = data.draw(st.integers(1, 3))
    left = data.draw(st.sampled_from([(k,), (2, k), (3, 2, k), (1, 2, k)]))
    right = data.draw(st.sampled_from([(k,), (k, 2), (3, k, 2), (2, 1, k, 2)][: 4 if len(left) <= 3 else 3]))
    a, b = data.draw(mt.arrays(left)), data.draw(mt.arrays(right))
    check(mg.matmul, tensor(a), tensor(b))
    np.testing.assert_allclose((tensor(a) @ tensor(b)).data, a @ b)


def test_addmm_and_addcmul():
    rng = np.random.default_rng(0)
    c, a, b = (tensor(rng.standard_normal(s)) for s in [(3,), (2, 4), (4, 3)])
    check(mg.addmm, c, a, b)
    np.testing.assert_allclose(mg.addmm(c, a, b).data, c.data + a.data @ b.data)
    t, u, v = (tensor(rng.standard_normal(s)) for s in [(2, 3), (2, 1), (3,)])
    check(mg.addcmul, t, u, v)
    np.testing.assert_allclose(mg.addcmul(t, u, v).data, t.data + u.data * v.data)


@given(data=st.data())
def test_shape_ops(data):
    x = data.draw(mt.arrays(st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3))))
    t = tensor(x)
    perm = data.draw(st.permutations([0, 1, 2]))
    check(lambda t: t.reshape(-1), t)
    check(lambda t: t.transpose(*perm), t)
    check(lambda t: mg.swapaxes(t, 0, 2), t)
    check(lambda t: t.reshape(x.shape[0], 1, -1).expand(x.shape[0], 4, x.size // x.shape[0]), t)
    t.astype(np.float32).sum().backward()  # the gradient comes back in the input's dtype
    assert t.grad.dtype == np.float64 and np.all(t.grad.data == 1)
    np.testing.assert_array_equal(t.transpose(*perm).data, x.transpose(perm))


@given(data=st.data())
def test_getitem_basic_and_integer_arrays_with_repeats(data):
    x = data.draw(mt.arrays((4, 3)))
    t = tensor(x)
    rows = np.array(data.draw(st.lists(st.integers(0, 3), min_size=1, max_size=6)))
    check(lambda t: t[1:, ::2], t)
    check(lambda t: t[rows], t)
    check(lambda t: t[rows, rows % 3] * 2, t)
    check(lambda t: t[..., None, 1], t)
    counts = np.bincount(rows, minlength=4)
    t[rows].sum().backward()
    np.testing.assert_array_equal(t.grad.data, np.repeat(counts[:, None], 3, axis=1))
    perm = np.array(data.draw(st.permutations(range(4))))  # no repeats: the transpose is a plain scatter
    check(lambda t: t[perm], t)
    g = np.arange(12.0).reshape(4, 3)
    t.grad = None
    (t[perm] * g).sum().backward()
    np.testing.assert_array_equal(t.grad.data[perm], g)


def test_an_empty_list_indexes_as_no_indices():
    """x[[]] picks nothing, as in NumPy and PyTorch (an empty list makes a
    float array, which was refused as a float index)."""
    x = tensor(np.arange(6.0).reshape(2, 3))
    for index, shape in (([], (0, 3)), ((slice(None), []), (2, 0)), ([[]], (1, 0, 3))):
        y = x[index]
        assert y.shape == np.zeros((2, 3))[index].shape == shape
        y.sum().backward()
        np.testing.assert_array_equal(x.grad.data, np.zeros((2, 3)))


@given(data=st.data())
def test_concat_stack_split_chunk_unbind(data):
    n = data.draw(st.integers(1, 3))
    xs = [tensor(data.draw(mt.arrays((2, data.draw(st.integers(1, 3)))))) for _ in range(n)]
    check(lambda *ts: mg.concat(ts, axis=1), *xs)
    same = [tensor(data.draw(mt.arrays((2, 3)))) for _ in range(n)]
    axis = data.draw(st.integers(-3, 2))
    check(lambda *ts: mg.stack(ts, axis=axis), *same)
    y = tensor(data.draw(mt.arrays((5, 2))))
    check(lambda t: mg.split(t, 2, axis=0)[1] * 3, y)  # only one piece used: the rest get zeros
    check(lambda t: mg.split(t, [1, 4], axis=0)[0].sum() + mg.chunk(t, 2, axis=0)[1].sum(), y)
    check(lambda t: mg.unbind(t, axis=1)[0] * mg.unbind(t, axis=1)[1], y)
    assert [p.shape for p in mg.split(y, 2)] == [(2, 2), (2, 2), (1, 2)]


@given(data=st.data())
def test_where_and_embedding(data):
    a, b = (tensor(data.draw(mt.arrays((3, 2)))) for _ in range(2))
    mask = np.array(data.draw(st.lists(st.booleans(), min_size=6, max_size=6))).reshape(3, 2)
    check(lambda a, b: mg.where(mask, a, b), a, b)
    weight = tensor(data.draw(mt.arrays((4, 2))))
    ids = np.array(data.draw(st.lists(st.integers(0, 3), min_size=1, max_size=5)))
    check(lambda w: mg.embedding(w, ids), weight)


def test_one_hot():
    out = mg.one_hot(np.array([[0, 2], [1, 1]]), 3)
    np.testing.assert_array_equal(out.data, [[[1, 0, 0], [0, 0, 1]], [[0, 1, 0], [0, 1, 0]]])
    assert not out.requires_grad


@pytest.mark.parametrize("dtype", [str, object, complex])
def test_one_hot_takes_the_dtypes_a_tensor_holds(dtype):
    """one_hot(..., dtype=str) made a tensor of strings ['', '1', ''], which no other way of making one allows."""
    with pytest.raises(TypeError, match="one_hot: dtype must be a bool, integer or float dtype, got"):
        mg.one_hot([1], 3, dtype=dtype)
    assert mg.one_hot([1], 3, dtype=bool).data.tolist() == [[False, True, False]]


def test_ops_on_plain_arrays_return_plain_arrays():
    a = np.array([1.0, 2.0])
    assert isinstance(mg.exp(a), np.ndarray) and isinstance(mg.sum(a), (np.ndarray, np.floating))


@given(data=st.data())
def test_argmax_argmin_match_numpy_on_every_axis(data):
    shape = data.draw(mt.shapes(min_dims=1, max_dims=3))
    x = data.draw(mt.arrays(shape, distinct=True))
    axis = data.draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)))
    for name in ("argmax", "argmin"):
        got = getattr(mg, name)(tensor(x), axis)
        assert not got.requires_grad
        np.testing.assert_array_equal(got.data, getattr(np, name)(x, axis=axis))


@st.composite
def picks_along_an_axis(draw):
    """(x, indices, axis) for take_along_axis: as many dimensions, the other
    axes equal or of size 1 on either side (NumPy broadcasts them against each
    other), indices anywhere in [-size, size) (repeats likely), axis negative
    or not."""
    ndim = draw(st.integers(1, 3))
    axis = draw(st.integers(-ndim, ndim - 1))
    x_shape, idx_shape = [], []
    for k in range(ndim):
        if k == axis % ndim:
            x_shape.append(draw(st.integers(1, 4)))
            idx_shape.append(draw(st.integers(0, 5)))
        else:
            n = draw(st.integers(2, 3))
            x_n, idx_n = draw(st.sampled_from([(n, n), (1, n), (n, 1), (1, 1)]))
            x_shape.append(x_n)
            idx_shape.append(idx_n)
    size = x_shape[axis]
    indices = draw(hnp.arrays(np.int64, tuple(idx_shape), elements=st.integers(-size, size - 1)))
    return draw(mt.arrays(tuple(x_shape))), indices, axis


@given(picks_along_an_axis())
def test_take_along_axis_and_gather_with_broadcasting_repeated_and_negative_indices(case):
    """x̄ is ȳ added into each picked element -- also one picked once per row of
    an axis that x broadcasts along (x of size 1 there) -- against the brute
    force, and finite differences to second order."""
    x, idx, axis = case
    y = np.take_along_axis(x, idx, axis)
    np.testing.assert_array_equal(mg.take_along_axis(tensor(x), idx, axis).data, y)
    g = np.arange(1.0, y.size + 1).reshape(y.shape)
    t = tensor(x)
    mg.take_along_axis(t, idx, axis).backward(g)
    expected = np.zeros_like(x)
    for position in np.ndindex(y.shape):  # the brute force, element by element
        target = [0 if n == 1 else i for i, n in zip(position, x.shape)]
        target[axis] = idx[tuple(0 if n == 1 else i for i, n in zip(position, idx.shape))] % x.shape[axis]
        expected[tuple(target)] += g[position]
    np.testing.assert_array_equal(t.grad.data, expected)
    check(lambda t: mg.take_along_axis(t, idx, axis), tensor(x))


@given(picks_along_an_axis())
def test_gather_follows_torch_gather_without_broadcasting(case):
    """y[p] = x[p with index[p] along axis], y of index's shape; an index larger
    than x along another axis is a ValueError. (gather broadcast the index as
    take_along_axis does: gather(x (3, 4), 1, [[2, 0]]) gave 3 rows, torch 1.)"""
    x, idx, axis = case
    along = axis % x.ndim
    if any(n > m for d, (n, m) in enumerate(zip(idx.shape, x.shape)) if d != along):
        with pytest.raises(ValueError, match="gather: index must have"):
            mg.gather(tensor(x), axis, idx)
        return
    picked = [x[tuple(idx[p] if d == along else i for d, i in enumerate(p))] for p in np.ndindex(idx.shape)]
    expected = np.array(picked, dtype=x.dtype).reshape(idx.shape)
    t = tensor(x)
    y = mg.gather(t, axis, idx)
    assert y.shape == idx.shape
    np.testing.assert_array_equal(y.data, expected)
    g = np.arange(1.0, y.size + 1).reshape(y.shape)
    y.backward(g)
    grad = np.zeros_like(x)
    for p in np.ndindex(idx.shape):
        grad[tuple(idx[p] if d == along else i for d, i in enumerate(p))] += g[p]
    np.testing.assert_array_equal(t.grad.data, grad)


def test_gather_by_an_index_smaller_than_x_picks_from_its_first_rows_only():
    x = mg.tensor(np.arange(12.0).reshape(3, 4))
    np.testing.assert_array_equal(mg.gather(x, 1, np.array([[2, 0]])).numpy(), [[2.0, 0.0]])
    np.testing.assert_array_equal(mg.gather(x, 0, [[2], [1]]).numpy(), [[8.0], [4.0]])
    assert mg.take_along_axis(x, np.array([[2, 0]]), 1).shape == (3, 2)  # NumPy's rule: the index broadcasts


def test_gather_names_itself_and_its_index_in_its_errors():
    """mg.gather with an index out of range (or of floats) said "take_along_axis: indices ...", a function
    and an argument the user did not name; inside a scan step too (the check runs on every step's values)."""
    x = mg.tensor(np.arange(6.0).reshape(2, 3))
    with pytest.raises(IndexError, match=r"gather: index must lie in \[-3, 3\) \(axis 1 has size 3\), got values "
                                         "from 0 to 5"):
        mg.gather(x, 1, np.array([[5], [0]]))
    with pytest.raises(IndexError, match="gather: index must be integers with x's 2 dimensions, got dtype float64"):
        mg.gather(x, 1, np.array([[1.0], [0.0]]))
    with pytest.raises(IndexError, match=r"take_along_axis: indices must lie in \[-3, 3\)"):
        mg.take_along_axis(x, np.array([[3]]), 1)
    with pytest.raises(IndexError, match=r"gather: index must lie in \[-3, 3\)"):
        mg.scan(lambda carry, i: (carry + mg.gather(x, 1, i).sum(), None), mg.zeros((), dtype=np.float64),
                np.array([[[0], [1]], [[2], [0]], [[7], [0]]]))


@given(data=st.data())
def test_scatters_with_and_without_repeats_equal_the_brute_force(data):
    """The transposes of lookups assign when nothing is picked twice and add
    up otherwise: x[rows, cols] (two index arrays, broadcast; a repeated row
    or column alone is no repeat) and take_along_axis with indices that are a
    permutation along the axis (broadcast over the other axis) or not."""
    x = data.draw(mt.arrays((4, 3)))
    g = np.arange(1.0, 13.0).reshape(4, 3)
    rows = np.array(data.draw(st.lists(st.integers(-4, 3), min_size=1, max_size=5)))
    cols = np.array(data.draw(st.lists(st.integers(-3, 2), min_size=len(rows), max_size=len(rows))))
    for index in [(rows, cols), (rows[:, None], cols[None, :]), (rows[:, None], slice(None))]:
        t = tensor(x)
        picked = t[index]
        picked.backward(np.ones(picked.shape))
        expected = np.zeros_like(x)
        np.add.at(expected, index, 1.0)
        np.testing.assert_array_equal(t.grad.data, expected)
        check(lambda t: t[index] * 2, tensor(x))
    unique = data.draw(st.booleans())
    columns = [data.draw(st.permutations(range(4))) if unique else
               data.draw(st.lists(st.integers(0, 3), min_size=4, max_size=4)) for _ in range(3)]
    idx = np.array(columns).T - 4 * np.array(data.draw(st.lists(st.booleans(), min_size=3, max_size=3)))
    for indices in [idx, idx[:, :1]]:  # (4, 3), or (4, 1) broadcast over the columns
        t = tensor(x)
        mg.take_along_axis(t, indices, axis=0).backward(g)
        expected = np.zeros_like(x)
        for r, c in np.ndindex(4, 3):  # the brute force, element by element
            expected[indices[r, c % indices.shape[1]] % 4, c] += g[r, c]
        np.testing.assert_array_equal(t.grad.data, expected)
        check(lambda t: mg.take_along_axis(t, indices, axis=0), tensor(x))


def test_third_derivative_through_a_scatter_without_repeats():
    """take_along_axis's VJP (put_along_axis when nothing repeats) and its VJP
    again are ops, so derivatives of any order go through: y = Σ picked³,
    each element picked once, so d³y/dx³ along w twice is 6·w²."""
    rng = np.random.default_rng(0)
    w = mg.tensor(rng.standard_normal((4, 3)))
    idx = np.array([[1, 0, 3], [0, 2, 1], [3, 1, 0], [2, 3, 2]])
    x = tensor(rng.standard_normal((4, 3)))
    (g1,) = mg.grad((mg.take_along_axis(x, idx, axis=0) ** 3).sum(), [x], create_graph=True)
    (g2,) = mg.grad((g1 * w).sum(), [x], create_graph=True)
    (g3,) = mg.grad((g2 * w).sum(), [x])
    np.testing.assert_allclose(g3.data, 6 * w.data ** 2, rtol=1e-12)


def test_masked_fill():
    x = tensor([1.0, 2.0, 3.0])
    y = x.masked_fill(mg.tensor([True, False, True]), -1.0)
    np.testing.assert_array_equal(y.data, [-1, 2, -1])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0, 1, 0])


def test_embedding_gradient_with_repeated_ids_equals_the_brute_force():
    rng = np.random.default_rng(0)
    weight = tensor(rng.standard_normal((7, 3)))
    ids = rng.integers(-7, 7, (40,))
    g = rng.standard_normal((40, 3))
    (mg.embedding(weight, ids % 7) * g).sum().backward()
    expected = np.zeros((7, 3))
    for i, row in zip(ids % 7, g):
        expected[i] += row
    np.testing.assert_allclose(weight.grad.data, expected, rtol=1e-12)
    weight.grad = None
    (weight[ids] * g).sum().backward()  # getitem with negative ids scatters the same way
    np.testing.assert_allclose(weight.grad.data, expected, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16])
def test_repeated_ids_of_a_small_integer_dtype_scatter_into_their_own_rows(dtype):
    """The repeated-row scatter computed each element's flat position (row ·
    row width + column) in the ids' dtype, which wrapped around: int8 ids
    [10, 10] into rows of 20 gave row 10 a gradient of 8 instead of 40 and
    row 9 one of 32, without an error."""
    top = int(np.iinfo(dtype).max)
    rows = top // 10 + 2
    ids = np.array([rows - 2, rows - 2, 1], dtype=dtype)
    expected = np.zeros((rows, 20))
    np.add.at(expected, ids.astype(np.int64), 1.0)
    for lookup in (mg.embedding, lambda w, i: w[i], lambda w, i: w[mg.tensor(i)]):
        weight = tensor(np.zeros((rows, 20)))
        lookup(weight, ids).sum().backward()
        np.testing.assert_array_equal(weight.grad.data, expected)


def test_multinomial_draws_in_proportion_and_without_replacement_once():
    probs = mg.tensor([[0.1, 0.2, 0.7], [0.5, 0.5, 0.0]], dtype=np.float64)
    draws = mg.multinomial(probs, 20000, replacement=True, rng=np.random.default_rng(0)).data
    for row, p in zip(draws, probs.data):
        frequencies = np.bincount(row, minlength=3) / row.size
        np.testing.assert_allclose(frequencies, p, atol=0.015)
    unique = mg.multinomial(mg.tensor(np.ones((50, 4))), 4, rng=np.random.default_rng(1)).data
    assert all(sorted(row) == [0, 1, 2, 3] for row in unique)
    first = mg.multinomial(probs, 2, rng=np.random.default_rng(2)).data
    assert (first[1] != 2).all()  # a class of probability 0 is never drawn while others remain
    with pytest.raises(ValueError, match="without replacement"):
        mg.multinomial(probs, 4)
    with pytest.raises(ValueError, match="non-negative"):
        mg.multinomial(mg.tensor([0.5, -0.1]))
    mg.manual_seed(3)
    a = mg.multinomial(probs, 5, replacement=True).data
    mg.manual_seed(3)
    np.testing.assert_array_equal(a, mg.multinomial(probs, 5, replacement=True).data)


class _TopDraws(np.random.Generator):
    """A Generator whose uniform draws are all 1 - 2**-53, the largest rng.random() returns."""

    def random(self, size=None, dtype=np.float64, out=None):
        return np.full(size, 1.0 - 2.0 ** -53)


def test_multinomial_with_replacement_at_the_largest_uniform_draw_stays_in_its_row():
    """It searched all rows at once, row r shifted to [r, r + 1]: u + r rounded to r + 1 for r >= 1,
    ended in the next row and was clamped to the last class, of probability 0 here."""
    probs = mg.tensor(np.tile([0.5, 0.5, 0.0], (8, 1)))
    drawn = mg.multinomial(probs, 3, replacement=True, rng=_TopDraws(np.random.PCG64(0))).data
    np.testing.assert_array_equal(drawn, np.ones((8, 3)))  # the last class of positive probability


@pytest.mark.parametrize("probs, available", [([0.5, 0.5, 0.0], 2), ([[0.2, 0.8, 0.0], [0.0, 0.0, 1.0]], 1)])
def test_multinomial_without_replacement_refuses_more_draws_than_classes_of_positive_probability(probs, available):
    """As torch; it drew classes of probability 0 ([0.5, 0.5, 0] with 3 draws gave [0, 1, 2])."""
    probs = mg.tensor(np.array(probs))
    with pytest.raises(ValueError, match=f"cannot draw {available + 1} classes without replacement from a row "
                                         f"with only {available} of positive probability"):
        mg.multinomial(probs, available + 1, rng=np.random.default_rng(0))
    for seed in range(20):
        drawn = mg.multinomial(probs, available, rng=np.random.default_rng(seed)).data
        assert (np.take_along_axis(probs.data.reshape(-1, 3), drawn.reshape(-1, available), axis=-1) > 0).all()


@pytest.mark.parametrize("dtype", [np.int8, np.int16])
def test_negative_indices_of_a_small_integer_dtype_on_an_axis_longer_than_it_holds(dtype):
    """Counting a negative index from the end of an axis longer than the
    index dtype's maximum (int8 -1 on 200 elements) was done in that dtype:
    x[ids] worked but its backward, and take_along_axis itself, raised
    NumPy 2's OverflowError."""
    n = int(np.iinfo(dtype).max) + 73
    ids = np.array([-1, 5, -1], dtype=dtype)
    x = tensor(np.arange(float(n)))
    x[ids].sum().backward()
    expected = np.zeros(n)
    np.add.at(expected, ids.astype(np.int64), 1)
    np.testing.assert_array_equal(x.grad.data, expected)
    x.grad = None
    y = mg.take_along_axis(x, ids, 0)
    np.testing.assert_array_equal(y.data, [n - 1, 5, n - 1])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, expected)


def test_take_along_axis_out_of_range_names_the_index_given():
    """An index below -n was reported after shifting by n (-4 on 3 elements as -1)."""
    with pytest.raises(IndexError, match=r"\[-3, 3\).* from -4 to 0"):
        mg.take_along_axis(mg.zeros(2, 3), [[-4, 0]], 1)


def test_a_tensor_subclass_computes_as_a_tensor_until_its_class_takes_over_ops():
    """Subclasses without ``__minigrad_dispatch__`` (nn.Parameter, a user's) take the op's fast
    path: the same values and gradients as Tensors; a hook given to the class later, even
    after ops ran on it, receives every op from then on (nothing is cached per class)."""

    class Mine(mg.Tensor):
        __slots__ = ()

    a, b = Mine(np.array([1.0, -2.0]), requires_grad=True), mg.tensor([3.0, 4.0], requires_grad=True)
    out = mg.add(a * b, mg.exp(a))
    out.sum().backward()
    np.testing.assert_array_equal(out.data, [3.0 + np.exp(1.0), -8.0 + np.exp(-2.0)])
    np.testing.assert_array_equal(a.grad.data, [3.0 + np.exp(1.0), 4.0 + np.exp(-2.0)])
    np.testing.assert_array_equal(b.grad.data, [1.0, -2.0])
    seen = []
    Mine.__minigrad_dispatch__ = staticmethod(lambda op, args, settings: seen.append(op.spec.name) or "taken")
    assert mg.add(b, a) == "taken" and a * 2 == "taken" and seen == ["add", "mul"]
    del Mine.__minigrad_dispatch__
    np.testing.assert_array_equal(mg.add(b, a).data, [4.0, 2.0])


def test_a_primitive_without_vjps_returning_just_its_output_is_an_error_not_its_rows():
    """@mg.primitive without vjps= (forgotten) on a forward returning x * 2
    of shape (2, 3): the op took the array's two rows for (output, VJP) and
    returned [2, 2, 2] -- the first row -- without a word."""
    twice = mg.primitive(lambda x: x * 2)
    with pytest.raises(TypeError, match=r"without vjps=.*\(output, vjp\).*an array of shape \(2, 3\)"):
        twice(mg.ones(2, 3))
    with pytest.raises(TypeError, match=r"an array of shape \(2,\)"):
        twice(mg.ones(2, requires_grad=True))


def test_an_op_without_gradient_needs_no_vjps():
    """differentiable=False with no vjps=: the forward returns just its output
    (it was taken for (output, VJP): an argsort of shape (2, 3) came back as
    its first row)."""
    order = mg.primitive(differentiable=False)(lambda x: np.argsort(x, axis=-1))
    x = np.array([[3.0, 1.0, 2.0], [0.0, 5.0, 4.0]])
    out = order(mg.tensor(x, requires_grad=True))
    np.testing.assert_array_equal(out.data, np.argsort(x, axis=-1))
    assert not out.requires_grad


@pytest.mark.parametrize("vjps", [(), lambda g: g])
def test_an_op_without_gradient_returning_vjps_as_before_is_a_type_error(vjps):
    """differentiable=False without vjps= once needed the forward to return
    (output, VJPs); such a forward, (argsort, ()), now that the op needs none,
    crashed in "AttributeError: 'tuple' object has no attribute 'base'". Now
    a TypeError naming the op and what to return; two array outputs still work."""
    order = mg.primitive(differentiable=False)(lambda x: (np.argsort(x), vjps))
    with pytest.raises(TypeError, match=r"<lambda>: an op with differentiable=False returns just its output"):
        order(mg.tensor([3.0, 1.0, 2.0], requires_grad=True))
    both = mg.primitive(differentiable=False)(lambda x: (np.argsort(x), np.argmax(x)))
    first, best = both(mg.tensor([3.0, 1.0, 2.0]))
    np.testing.assert_array_equal(first.data, [1, 2, 0])
    assert best.item() == 0


@pytest.mark.parametrize("returned", [False, True])
def test_a_primitive_needs_one_vjp_per_input(returned):
    """A two-input op with one VJP, given to the decorator or returned by the
    forward: the backward failed with 'IndexError: tuple index out of range',
    naming nothing. Now the call is the TypeError naming the op and both
    counts; one VJP per input (None for one without) works."""
    if returned:
        mul = mg.primitive(lambda a, b: (a * b, (lambda g: g * b,)))
    else:
        mul = mg.primitive(save_inputs=True, vjps=(lambda g, a, b: g * b,))(lambda a, b: a * b)
    a, b = mg.tensor([1.0, 2.0], requires_grad=True), mg.tensor([3.0, 4.0], requires_grad=True)
    with pytest.raises(TypeError, match=r"<lambda>: 1 VJP\(s\) for 2 input\(s\)"):
        mul(a, b)
    mul = mg.primitive(save_inputs=True, vjps=(lambda g, a, b: g * b, None))(lambda a, b: a * b)
    mul(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad.data, [3.0, 4.0])
    assert b.grad is None
