"""Every op: gradcheck and gradgradcheck in float64 over generated shapes,
broadcasting on either side, axis/keepdims variants, and values against NumPy."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

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


def test_max_shares_the_gradient_between_ties():
    x = tensor([1.0, 3.0, 3.0, 2.0])
    x.max().backward()
    np.testing.assert_array_equal(x.grad.data, [0, 0.5, 0.5, 0])


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


def test_ops_on_plain_arrays_return_plain_arrays():
    a = np.array([1.0, 2.0])
    assert isinstance(mg.exp(a), np.ndarray) and isinstance(mg.sum(a), (np.ndarray, np.floating))
