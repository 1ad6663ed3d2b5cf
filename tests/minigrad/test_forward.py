"""Forward mode: every op's JVP is the transpose of its VJP (⟨J·v, u⟩ = ⟨v, Jᵀ·u⟩
for random u, v over generated shapes) and matches central differences in
float64; nesting (levels), reverse over forward, scan, custom Functions, errors."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
import nn
from minigrad import ops
from minigrad import random as mg_random
from minigrad import testing as mt
from minigrad.ops import Primitive
from minigrad.trees import flatten


def grid(shape, offset=0.0):
    """float64 arrays on a grid of step 0.1 in [-2, 2], shifted by ``offset``: two
    draws with offsets 0 and 0.05 never come closer than 0.05 (no ties, no kinks)."""
    return hnp.arrays(np.float64, shape, elements=st.integers(-20, 20).map(lambda k: k / 10 + offset))


def index_strategy(size):
    return st.lists(st.integers(-size, size - 1), min_size=1, max_size=6).map(np.array)


def axis_and_keepdims(data, ndim):
    if ndim == 0:
        return None, data.draw(st.booleans())
    choice = st.one_of(st.none(), st.integers(-ndim, ndim - 1),
                       st.lists(st.integers(-ndim, ndim - 1), min_size=1, max_size=ndim, unique_by=lambda a: a % ndim)
                       .map(tuple))
    return data.draw(choice), data.draw(st.booleans())


class Softplus(mg.Function):
    """A custom op with all three rules: y = ln(1 + eˣ), x̄ = ȳ·σ(x), ẏ = ẋ·σ(x)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.logaddexp(0.0, x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * mg.sigmoid(x)

    @staticmethod
    def jvp(ctx, tangent):
        (x,) = ctx.saved_tensors
        return tangent * mg.sigmoid(x)


# name -> data -> (f, [primal arrays], tolerance)
def binary(fn, a_range=None, b_range=None, apart=False):
    def case(data):  # (empty shapes too)
        shape_a, shape_b = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, min_side=0,
                                                                        max_side=4)).input_shapes
        if apart:
            a, b = data.draw(grid(shape_a)), data.draw(grid(shape_b, 0.05))
        else:
            a, b = data.draw(mt.arrays(shape_a, **(a_range or {}))), data.draw(mt.arrays(shape_b, **(b_range or {})))
        return fn, [a, b]
    return case


def unary(fn, **ranges):
    return lambda data: (fn, [data.draw(mt.arrays(mt.shapes(min_side=0), **ranges))])


def reduction(fn, distinct=False):
    def case(data):  # (sum may reduce empty axes; the others need elements)
        x = data.draw(grid(mt.shapes()) if distinct else mt.arrays(mt.shapes(min_side=0 if fn is mg.sum else 1)))
        if distinct:  # no ties: a grid point each, shuffled
            x = np.random.default_rng(0).permutation(np.arange(x.size) / 10.0 - 1).reshape(x.shape)
        axis, keepdims = axis_and_keepdims(data, x.ndim)
        return (lambda t: fn(t, axis, keepdims)), [x]
    return case


def softmax_case(fn):
    def case(data):
        shape = data.draw(mt.shapes(min_dims=1))
        axis = data.draw(st.integers(-len(shape), len(shape) - 1))
        return (lambda t: fn(t, axis)), [data.draw(mt.arrays(shape))]
    return case


def shape_ops(data):
    x = data.draw(mt.arrays(st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3))))
    perm = data.draw(st.permutations([0, 1, 2]))

    def f(t):
        a = t.transpose(*perm).reshape(-1, x.shape[perm[-1]])
        b = mg.swapaxes(t, -1, 0).unsqueeze(-1).squeeze(-1)
        c = t[:, :1].expand(x.shape[0], 4, x.shape[2])
        return a, b, c
    return f, [x]


def astype_case(data):
    x = data.draw(mt.arrays(mt.shapes()))
    return (lambda t: t.astype(np.float32).astype(np.float64) * 2.0), [x]


def getitem_case(data):
    x = data.draw(mt.arrays((4, 3)))
    rows = data.draw(index_strategy(4))
    mask = data.draw(hnp.arrays(bool, (4, 3)))
    return (lambda t: (t[1:, ::-2], t[rows], t[rows, rows % 3], t[..., None, -1], t[mask], t[mg.tensor(rows)])), [x]


def add_at_case(data):
    g = data.draw(mt.arrays((5, 2)))
    rows = data.draw(st.lists(st.integers(-3, 2), min_size=5, max_size=5).map(np.array))
    return (lambda t: mg.add_at(t, rows, (3, 2))), [g]


def put_along_axis_case(data):
    """take_along_axis's transpose when nothing is picked twice (its VJP uses it)."""
    g = data.draw(mt.arrays((4, 3)))
    picks = np.array([data.draw(st.permutations(range(4))) for _ in range(3)]).T
    return (lambda t: ops._put_along_axis(t, picks, axis=0, shape=(4, 3))), [g]


def lookups_case(data):
    weight = data.draw(mt.arrays((4, 3)))
    ids = data.draw(index_strategy(4)) % 4
    axis = data.draw(st.integers(-2, 1))
    picks = data.draw(hnp.arrays(np.int64, (2, 3) if axis % 2 == 0 else (4, 2), elements=st.integers(-3, 2)))
    mask = data.draw(hnp.arrays(bool, (4, 3)))
    return (lambda w: (mg.embedding(w, ids), mg.take_along_axis(w, picks, axis), mg.gather(w, axis, picks),
                       mg.masked_fill(w, mask, 0.5))), [weight]


def joining_case(data):
    n = data.draw(st.integers(1, 3))
    widths = [data.draw(st.integers(1, 3)) for _ in range(n)]
    xs = [data.draw(mt.arrays((2, w))) for w in widths]
    axis = data.draw(st.integers(-3, 2))
    return (lambda *ts: (mg.concat(ts, axis=-1), mg.stack([t[:, :1] for t in ts], axis=axis))), xs


def splitting_case(data):
    y = data.draw(mt.arrays((5, 2)))
    axis = data.draw(st.integers(-2, 1))
    return (lambda t: (*mg.split(t, [1, 4], axis=0), *mg.chunk(t, 2, axis=0), *mg.unbind(t, axis=axis))), [y]


def matmul_case(data):
    k = data.draw(st.integers(0, 3))  # (k = 0: an empty product, zeros)
    left = data.draw(st.sampled_from([(k,), (2, k), (3, 2, k), (1, 2, k)]))
    right = data.draw(st.sampled_from([(k,), (k, 2), (3, k, 2), (2, 1, k, 2)][: 4 if len(left) <= 3 else 3]))
    return mg.matmul, [data.draw(mt.arrays(left)), data.draw(mt.arrays(right))]


def addmm_case(data):
    n, k, m = (data.draw(st.integers(1, 3)) for _ in range(3))
    c = data.draw(mt.arrays(data.draw(st.sampled_from([(m,), (n, m), (1, m), ()]))))
    return mg.addmm, [c, data.draw(mt.arrays((n, k))), data.draw(mt.arrays((k, m)))]


def addcmul_case(data):
    shapes = data.draw(mt.broadcastable_shapes(num_shapes=3))
    return mg.addcmul, [data.draw(mt.arrays(s)) for s in shapes]


def where_case(data):
    shape_a, shape_b = data.draw(mt.broadcastable_shapes())
    mask = data.draw(hnp.arrays(bool, np.broadcast_shapes(shape_a, shape_b)))
    return (lambda a, b: mg.where(mask, a, b)), [data.draw(mt.arrays(shape_a)), data.draw(mt.arrays(shape_b))]


def scalars_case(data):
    x = data.draw(mt.arrays(mt.shapes(), low=0.5, high=2.0))
    return (lambda t: (t * 2.0, 3.0 - t, t / 4.0, 1.5 / t, t ** 2, 2.0 ** t, t ** 0.5, -t + 1)), [x]


CASES = {
    "add": binary(mg.add), "sub": binary(mg.sub), "mul": binary(mg.mul),
    "truediv": binary(mg.truediv, b_range=dict(low=0.5, high=2.0)),
    "pow": binary(mg.pow, a_range=dict(low=0.5, high=2.0)),
    "maximum": binary(mg.maximum, apart=True), "minimum": binary(mg.minimum, apart=True),
    "neg": unary(mg.neg), "exp": unary(mg.exp), "log": unary(mg.log, low=0.2, high=3),
    "sqrt": unary(mg.sqrt, low=0.2, high=3), "tanh": unary(mg.tanh), "sigmoid": unary(mg.sigmoid),
    "relu": unary(mg.relu, kinks=(0,)), "abs": unary(mg.abs, kinks=(0,)),
    "clip": unary(lambda t: (mg.clip(t, -1.0, 1.0), mg.clip(t, None, 0.5), mg.clip(t, -0.5)), kinks=(-1, -0.5, 0.5, 1)),
    "clone": unary(mg.clone), "custom Function": unary(Softplus.apply),
    "sum": reduction(mg.sum), "mean": reduction(mg.mean), "logsumexp": reduction(mg.logsumexp),
    "max": reduction(mg.max, distinct=True), "min": reduction(mg.min, distinct=True),
    "softmax": softmax_case(mg.softmax), "log_softmax": softmax_case(mg.log_softmax),
    "reshape, transpose, broadcast": shape_ops, "astype": astype_case,
    "getitem": getitem_case, "add_at": add_at_case, "put_along_axis": put_along_axis_case,
    "embedding, take_along_axis, masked_fill": lookups_case,
    "concat, stack": joining_case, "split, chunk, unbind": splitting_case,
    "matmul": matmul_case, "addmm": addmm_case, "addcmul": addcmul_case, "where": where_case,
    "python numbers": scalars_case,
}
TOLERANCE = {"astype": 1e-6}  # through float32 (so its central differences take a larger step)
STEP = {"astype": 1e-2}


def inner(a, b) -> float:
    return float(sum(np.sum(x.data * y.data) for x, y in zip(a, b)))


@pytest.mark.parametrize("name", sorted(CASES))
@given(data=st.data())
def test_jvp_is_the_transpose_of_the_vjp_and_matches_central_differences(name, data):
    fn, arrays = CASES[name](data)
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 16)))
    xs = [mg.tensor(a) for a in arrays]
    vs = [mg.tensor(rng.standard_normal(a.shape)) for a in arrays]
    out, tangent = mg.jvp(fn, xs, vs)
    outs, _ = flatten(out, "out")
    tangents, _ = flatten(tangent, "tangent")
    plain, _ = flatten(fn(*xs), "plain")
    for o, p, t in zip(outs, plain, tangents):  # the primal is the plain call's value; tangents keep its dtype
        np.testing.assert_array_equal(o.data, p.data)
        assert t.shape == o.shape and t.dtype == o.dtype
    us = [mg.tensor(rng.standard_normal(o.shape)) for o in outs]
    _, pullback = mg.vjp(fn, *xs)
    grads = pullback(type(out)(us) if isinstance(out, tuple) else us[0])
    tol = TOLERANCE.get(name, 1e-9)
    assert abs(inner(tangents, us) - inner(vs, grads)) <= tol * (1 + abs(inner(vs, grads)))
    eps = STEP.get(name, 1e-6)
    plus, _ = flatten(fn(*[mg.tensor(a + eps * v.data) for a, v in zip(arrays, vs)]), "plus")
    minus, _ = flatten(fn(*[mg.tensor(a - eps * v.data) for a, v in zip(arrays, vs)]), "minus")
    for p, m, t in zip(plus, minus, tangents):
        np.testing.assert_allclose(t.data, (p.data - m.data) / (2 * eps), rtol=1e-4, atol=max(10 * tol, 1e-6))


def softmax_reference(x, axes):
    """NumPy's softmax of x over ``axes``, 0 on a slice of -inf only (where
    the gradients take the limit, 0, as for a slice that is -inf but one)."""
    top = np.max(x, axis=axes, keepdims=True)
    e = np.exp(x - np.where(np.isneginf(top), 0, top))
    total = e.sum(axis=axes, keepdims=True)
    return np.divide(e, total, out=np.zeros_like(e), where=total > 0)


@st.composite
def with_minus_infinities(draw, whole_slices: bool):
    """(x, axis): float64 x with -inf entries anywhere (``whole_slices``: whole
    slices along axis too; else at least one finite entry in each), an int axis."""
    x = draw(mt.arrays(mt.shapes(min_dims=1, max_dims=3)))
    axis = draw(st.integers(-x.ndim, x.ndim - 1))
    dead = draw(hnp.arrays(bool, x.shape))
    if not whole_slices:
        dead &= ~dead.all(axis=axis, keepdims=True)
    return np.where(dead, -np.inf, x), axis


@pytest.mark.parametrize("name", ["logsumexp", "softmax", "log_softmax"])
@given(data=st.data())
def test_jvp_and_vjp_through_minus_infinities_are_the_limits_not_nan(name, data):
    """logsumexp of a slice of -inf only is -inf and its derivatives the
    limit, 0 (the JVP gave NaN there: -inf - -inf); softmax and log_softmax
    (NaN on such a slice, as in PyTorch) with -inf entries beside finite
    ones. Against NumPy's formulas with s = softmax: logsumexp ẏ = Σ ẋ·s,
    x̄ = ȳ·s; softmax ẏ = s·(ẋ − Σ ẋ·s), the same for x̄; log_softmax
    ẏ = ẋ − Σ ẋ·s, x̄ = ȳ − s·Σ ȳ."""
    x, axis = data.draw(with_minus_infinities(whole_slices=name == "logsumexp"))
    axes = axis % x.ndim
    fn = {"logsumexp": lambda t: mg.logsumexp(t, axis), "softmax": lambda t: mg.softmax(t, axis),
          "log_softmax": lambda t: mg.log_softmax(t, axis)}[name]
    s = softmax_reference(x, axes)
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 16)))
    v = rng.standard_normal(x.shape)
    y, tangent = mg.jvp(fn, (mg.tensor(x),), (mg.tensor(v),))
    u = rng.standard_normal(y.shape)
    _, pullback = mg.vjp(fn, mg.tensor(x))
    (grad,) = pullback(mg.tensor(u))
    if name == "logsumexp":
        u_kept = np.expand_dims(u, axes)
        expected = (v * s).sum(axis=axes), u_kept * s
    elif name == "softmax":
        expected = s * (v - (v * s).sum(axis=axes, keepdims=True)), s * (u - (u * s).sum(axis=axes, keepdims=True))
    else:
        expected = v - (v * s).sum(axis=axes, keepdims=True), u - s * u.sum(axis=axes, keepdims=True)
    np.testing.assert_allclose(tangent.data, expected[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad.data, expected[1], rtol=1e-12, atol=1e-12)
    if name == "logsumexp":  # second order: forward over reverse is reverse over reverse, finite
        w = mg.tensor(rng.uniform(0.5, 2.0, y.shape))  # (of one sign: -inf times weights of both would be NaN)
        total = lambda t: (mg.logsumexp(t, axis) * w).sum()
        hessian = mg.hessian(total)(mg.tensor(x)).data
        assert np.isfinite(hessian).all()
        np.testing.assert_allclose(hessian, mg.jacrev(mg.jacrev(total))(mg.tensor(x)).data, atol=1e-12)


class Spy(mg.Tensor):
    """Writes down the name of every primitive called on it (and computes it as usual)."""

    __slots__ = ()
    seen: set = set()

    @staticmethod
    def __minigrad_dispatch__(op, args, settings):
        Spy.seen.add(op.spec.name)
        out = op(*[mg.Tensor._make(a._data) if isinstance(a, Spy) else a for a in args], **settings)
        return tuple(Spy._make(o._data) for o in out) if isinstance(out, tuple) else Spy._make(out._data)


def primitives():
    for module in (ops, mg_random):
        for value in vars(module).values():
            if isinstance(getattr(value, "spec", None), Primitive):
                yield value.spec


def test_every_primitive_has_a_jvp_or_no_derivative_and_a_case_above_calls_it():
    assert [s.name for s in primitives() if s.differentiable and s.jvp is None] == []
    Spy.seen.clear()
    for case in CASES.values():
        @given(data=st.data())
        def run(data):
            fn, arrays = case(data)
            fn(*[Spy._make(a) for a in arrays])
        run()
    differentiable = {s.name for s in primitives() if s.differentiable}
    assert differentiable - Spy.seen == set()


def test_ops_without_a_derivative_give_plain_values_and_zero_tangents():
    x = mg.tensor(np.array([0.3, -1.2, 2.0]))

    def f(t):
        flags = (t > 0, t == t, ~(t < 1), mg.argmax(t), mg.one_hot(mg.argmin(t), 3), t.astype(np.int64))
        for flag in flags:
            assert type(flag) is mg.Tensor  # no tangent rides on them
        noise = mg.rand_like(t) + mg.randn_like(t)
        assert type(noise) is mg.Tensor
        return t.detach() * 2 + noise * 0, mg.stop_gradient(t), t * (t > 0)

    (a, b, c), (ta, tb, tc) = mg.jvp(f, (x,), (mg.ones(3, dtype=np.float64),))
    np.testing.assert_array_equal(ta.data, 0)
    np.testing.assert_array_equal(tb.data, 0)
    np.testing.assert_array_equal(tc.data, [1, 0, 1])


def test_tangents_follow_the_dtype_rule_of_their_primals():
    x32 = mg.tensor(np.array([1.0, 2.0], dtype=np.float32))
    y64 = mg.tensor(np.array([3.0, 4.0]))
    out, t = mg.jvp(lambda a, b: (a + b, a * 2.0, a[0] * b), (x32, y64), (np.ones(2), np.ones(2)))
    assert [o.dtype for o in out] == [np.float64, np.float32, np.float64]
    assert [d.dtype for d in t] == [o.dtype for o in out]
    np.testing.assert_array_equal(t[0].data, [2, 2])
    np.testing.assert_array_equal(t[2].data, [1 * 3 + 1, 1 * 4 + 1])


# -- nesting --------------------------------------------------------------------------------------

def cubic(x):
    return (x ** 3 * mg.exp(-x)).sum()


def test_forward_over_forward_gives_second_directional_derivatives():
    x = mg.tensor(np.array([0.5, 1.5]))
    u, v = mg.tensor(np.array([1.0, 2.0])), mg.tensor(np.array([-1.0, 0.5]))
    _, second = mg.jvp(lambda a: mg.jvp(cubic, (a,), (u,))[1], (x,), (v,))
    # uᵀHv by central differences of the analytic gradient
    eps = 1e-5
    grad = lambda a: mg.jacrev(cubic)(mg.tensor(a)).data
    expected = float(u.data @ ((grad(x.data + eps * v.data) - grad(x.data - eps * v.data)) / (2 * eps)))
    assert abs(second.item() - expected) < 1e-7


def test_perturbations_of_different_levels_are_not_confused():
    """d/dx [x · d/dy (x + y)] = 1: the inner derivative must not see the outer x's tangent (Siskind & Pearlmutter)."""
    x, y = mg.tensor(np.array(1.0)), mg.tensor(np.array(2.0))
    inner_derivative = lambda a: mg.jvp(lambda b: a + b, (y,), (mg.tensor(np.array(1.0)),))[1]
    _, tangent = mg.jvp(lambda a: a * inner_derivative(a), (x,), (mg.tensor(np.array(1.0)),))
    assert tangent.item() == 1.0


def test_reverse_over_forward():
    x = mg.tensor(np.array([0.5, 1.5]), requires_grad=True)
    v = mg.tensor(np.array([1.0, 2.0]))
    _, tangent = mg.jvp(cubic, (x,), (v,))
    (hv,) = mg.grad(tangent, x)  # ∇(∇f·v) = H v
    np.testing.assert_allclose(hv.data, mg.hessian(cubic)(x.detach()).data @ v.data, rtol=1e-12)


def test_a_dual_used_after_its_jvp_returned_is_an_error():
    kept = []
    mg.jvp(lambda t: kept.append(t) or t * 2, (mg.tensor(np.array([1.0])),), (mg.tensor(np.array([1.0])),))
    with pytest.raises(RuntimeError, match="whose mg.jvp has already returned"):
        kept[0] + 1


# -- through loops, layers and custom ops -----------------------------------------------------------

def test_jvp_through_scan_equals_the_plain_loop_whether_carried_or_closed_over():
    rng = np.random.default_rng(0)
    w = mg.tensor(rng.standard_normal((3, 3)) * 0.5)
    xs = mg.tensor(rng.standard_normal((6, 2, 3)))
    h0 = mg.tensor(rng.standard_normal((2, 3)))
    step = lambda w: (lambda h, x: (mg.tanh(h @ w + x),) * 2)

    def scanned(w, h0, xs, unroll):
        final, ys = mg.scan(step(w), h0, xs, unroll=unroll)
        return final, ys.sum(axis=-1)

    directions = [mg.tensor(rng.standard_normal(t.shape)) for t in (w, h0, xs)]
    fast = mg.jvp(lambda *a: scanned(*a, unroll=False), (w, h0, xs), directions)
    loop = mg.jvp(lambda *a: scanned(*a, unroll=True), (w, h0, xs), directions)
    for a, b in zip(flatten(fast, "")[0], flatten(loop, "")[0]):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-12)
    # only the closed-over weight moves (the scan's own inputs are plain): the trace gives way to the loop
    closed = mg.jvp(lambda w: scanned(w, h0, xs, False), (w,), (directions[0],))
    np.testing.assert_allclose(closed[1][1].data, mg.jvp(lambda w: scanned(w, h0, xs, True), (w,),
                                                         (directions[0],))[1][1].data, rtol=1e-12)


def test_jvp_inside_a_traced_scan_step_is_traced_faithfully():
    rng = np.random.default_rng(1)
    w = mg.tensor(rng.standard_normal((3, 3)) * 0.5)
    xs = mg.tensor(rng.standard_normal((5, 3)))
    cell = lambda h, x: mg.tanh(h @ w + x)

    def step(carry, x):  # RTRL in miniature: carry the state and its derivative along one direction
        h, dh = carry
        h, dh = mg.jvp(lambda h: cell(h, x), (h,), (dh,))
        return (h, dh), dh.sum()

    init = (mg.zeros(3, dtype=np.float64), mg.ones(3, dtype=np.float64))
    fast = mg.scan(step, init, xs)
    loop = mg.scan(step, init, xs, unroll=True)
    np.testing.assert_allclose(fast[1].data, loop[1].data, rtol=1e-12)


def test_jvp_through_an_lstm_layer_matches_central_differences():
    rng = np.random.default_rng(2)
    lstm = nn.LSTM(2, 3, rng=rng).to(np.float64)
    x = mg.tensor(rng.standard_normal((4, 1, 2)))
    v = mg.tensor(rng.standard_normal(x.shape))
    out, tangent = mg.jvp(lambda x: lstm(x)[0], (x,), (v,))
    eps = 1e-6
    numeric = (lstm(mg.tensor(x.data + eps * v.data))[0].data - lstm(mg.tensor(x.data - eps * v.data))[0].data) / (
        2 * eps)
    np.testing.assert_allclose(tangent.data, numeric, atol=1e-8)


def test_custom_function_jvp_nests():
    x = mg.tensor(np.linspace(-2, 2, 5))
    f = lambda t: Softplus.apply(t).sum()
    np.testing.assert_allclose(mg.hessian(f)(x).data, np.diag(np.exp(-np.logaddexp(0, -x.data)) *
                                                              np.exp(-np.logaddexp(0, x.data))), atol=1e-12)


class NoJvp(mg.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, grad):
        return grad * 2


class SavesAFloat(mg.Function):
    @staticmethod
    def forward(ctx, x):
        s = 1 / (1 + np.exp(-x))
        ctx.save_for_backward(s)
        return x * s

    @staticmethod
    def backward(ctx, grad):
        (s,) = ctx.saved_tensors
        return grad * s

    @staticmethod
    def jvp(ctx, tangent):
        (s,) = ctx.saved_tensors
        return tangent * s * 0  # (wrong on purpose; the point is which calls may use s)


def test_custom_function_errors_in_forward_mode():
    x = mg.tensor(np.array([1.0, 2.0]))
    with pytest.raises(TypeError, match="NoJvp has no jvp"):
        mg.jvp(NoJvp.apply, (x,), (x,))
    mg.jvp(SavesAFloat.apply, (x,), (x,))  # one level: the saved σ(x) is a fine constant
    with pytest.raises(RuntimeError, match="SavesAFloat saved a float array"):
        mg.hessian(lambda t: SavesAFloat.apply(t).sum())(x)


# -- what users get wrong -----------------------------------------------------------------------------

def test_bad_arguments_are_clear_errors():
    x = mg.tensor(np.array([1.0, 2.0]))
    with pytest.raises(TypeError, match="primals must be a tuple or list"):
        mg.jvp(mg.exp, x, (x,))
    with pytest.raises(ValueError, match="one tangent per primal"):
        mg.jvp(mg.exp, (x,), (x, x))
    with pytest.raises(ValueError, match=r"tangents\[0\] has shape \(3,\) but primals\[0\] has shape \(2,\)"):
        mg.jvp(mg.exp, (x,), (np.ones(3),))
    with pytest.raises(TypeError, match=r"primals\[0\] has dtype int64"):
        mg.jvp(mg.exp, (np.arange(2),), (np.ones(2),))
    with pytest.raises(TypeError, match="f must be callable"):
        mg.jvp(3, (x,), (x,))
    with pytest.raises(TypeError, match="what f returns must be a Tensor"):
        mg.jvp(lambda t: 3.0, (x,), (x,))


def test_what_would_drop_a_tangent_is_an_error():
    x = mg.tensor(np.array([1.0, 2.0]))

    def f(t):
        assert float(t.sum()) == 3.0 and t.numpy().shape == (2,)  # reading the value is fine
        for bad in (lambda: np.asarray(t), lambda: t.backward(), lambda: t.copy_(t)):
            with pytest.raises(TypeError, match="dual tensor"):
                bad()
        with pytest.raises(TypeError, match=r"grad: outputs\[0\] is a dual tensor"):
            mg.grad(t.sum(), x)
        w = mg.tensor(np.array([1.0, 1.0]), requires_grad=True)
        with pytest.raises(TypeError, match=r"grad: grad_outputs\[0\] is a dual tensor"):
            mg.grad(w * 2, w, grad_outputs=t)  # (the seed's tangent would be dropped)
        t += 1  # in place on a dual: a new dual, as in JAX
        return t

    out, tangent = mg.jvp(f, (x,), (mg.tensor(np.array([1.0, 1.0])),))
    np.testing.assert_array_equal(out.data, [2, 3])
    np.testing.assert_array_equal(tangent.data, [1, 1])


def test_add_at_sums_repeats_given_as_a_list_or_as_negative_indices():
    """(a bug the adjoint test above found: a list, or -1 beside 2 on three rows, was taken as repeat-free
    and assigned instead of added)"""
    g = mg.tensor(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(mg.add_at(g, [0, 0], (3,)).data, [3, 0, 0])
    np.testing.assert_array_equal(mg.add_at(g, np.array([2, -1]), (3,)).data, [0, 0, 3])
    np.testing.assert_array_equal(mg.add_at(g, (mg.tensor(np.array([1, -2])),), (3,)).data, [0, 3, 0])


def test_backward_with_a_dual_seed_refuses_instead_of_dropping_its_tangent():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3

    def f(v):
        with pytest.raises(TypeError, match="dual value"):
            y.backward(v, retain_graph=True)
        return v

    mg.jvp(f, (mg.tensor([1.0, 1.0]),), (mg.tensor([1.0, 0.0]),))


def test_taking_the_array_of_a_dual_is_an_error_not_a_lost_tangent():
    """mg.tensor(dual), x += dual on a plain tensor, x.copy_(dual) and x.data = dual read the dual's array
    and dropped its tangent silently (tangent 2 instead of 4, 0 instead of 1; outside audit)."""
    x, one = mg.tensor([2.0], dtype=np.float64), mg.tensor([1.0], dtype=np.float64)

    def accumulate(t):
        acc = mg.zeros(1, dtype=np.float64)
        acc += t
        return acc

    def copied(t):
        acc = mg.zeros(1, dtype=np.float64)
        acc.copy_(t)
        return acc

    def assigned(t):
        acc = mg.zeros(1, dtype=np.float64)
        acc.data = t
        return acc

    for f in (lambda t: mg.tensor(t) * t, lambda t: mg.Tensor(t) * t, accumulate, copied, assigned):
        with pytest.raises(TypeError, match="dual tensor .* would lose its tangent"):
            mg.jvp(f, (x,), (one,))
    assert mg.jvp(lambda t: t * t, (x,), (one,))[1].item() == 4.0
    # reading a dual's value stays fine (no tangent is lost): `in`, comparisons, item()
    found = mg.jvp(lambda t: t * float(t in mg.tensor([2.0, 3.0], dtype=np.float64) and t.item() > 1), (x,), (one,))
    assert found[1].item() == 1.0


def test_float64_forward_mode_does_not_pass_through_float32():
    """A Python tangent went through the default float32 (0.1 -> 0.10000000149, 1e8 + 1 -> 1e8), and pow's JVP
    in the exponent took log of an int64 base in float32 (2e-8 relative off; outside audit)."""
    x = mg.tensor([1.0], dtype=np.float64)
    assert mg.jvp(lambda t: t * 1.0, (x,), ([0.1],))[1].item() == 0.1
    assert mg.jvp(lambda t: t * 1.0, (x,), ([1e8 + 1],))[1].item() == 1e8 + 1
    base = mg.tensor([3, 7], dtype=np.int64)
    b = mg.tensor([1.5, 2.5], dtype=np.float64)
    tangent = mg.jvp(lambda e: base ** e, (b,), (np.ones(2),))[1].numpy()
    np.testing.assert_allclose(tangent, np.array([3.0, 7.0]) ** b.numpy() * np.log([3.0, 7.0]), rtol=1e-15)
    reverse = mg.jacrev(lambda e: base ** e)(b).numpy()
    np.testing.assert_allclose(np.diag(reverse), tangent, rtol=1e-15)


def _sin_cos(jvp):
    """y₁, y₂ = sin x, cos x as a two-output primitive with the given ``jvp``."""
    return mg.primitive(save_inputs=True, jvp=jvp,
                        vjps=lambda gs, x: (0 if gs[0] is None else gs[0] * np.cos(x)) -
                        (0 if gs[1] is None else gs[1] * np.sin(x)))(lambda x: (np.sin(x), np.cos(x)))


def test_a_two_output_op_whose_jvp_gives_no_tuple_of_two_is_an_error():
    """A JVP giving one Tensor for two outputs had its rows zipped with the
    outputs: cos's tangent at [0.5, 1, 2] along ones came out as the
    constant row 0.878 (the first row of cos x, broadcast) where −sin x is
    due; one tangent in a tuple dropped the second output (an IndexError
    at f's [1]). Now both are the TypeError naming the op and the counts;
    a tuple of two (None for a zero) is right against −sin x."""
    x = mg.tensor(np.array([0.5, 1.0, 2.0]))
    for jvp, got in [(lambda ts, ys, x: ts[0] * ys[1], "a Tensor"), (lambda ts, ys, x: (ts[0] * ys[1],), "1 tangents")]:
        with pytest.raises(TypeError, match=rf"'<lambda>' has 2 outputs and its JVP gave {got}"):
            mg.jvp(lambda x: _sin_cos(jvp)(x)[1], (x,), (mg.ones_like(x),))
    good = _sin_cos(lambda ts, ys, x: (ts[0] * ys[1], -ts[0] * mg.tensor(np.sin(x.data))))
    _, tangent = mg.jvp(lambda x: good(x)[1], (x,), (mg.ones_like(x),))
    np.testing.assert_allclose(tangent.data, -np.sin(x.data), rtol=1e-12)
    only_first = _sin_cos(lambda ts, ys, x: (ts[0] * ys[1], None))
    _, (t_sin, t_cos) = mg.jvp(only_first, (x,), (mg.ones_like(x),))
    np.testing.assert_allclose(t_sin.data, np.cos(x.data), rtol=1e-12)
    np.testing.assert_array_equal(t_cos.data, 0.0)


def test_a_two_output_op_with_one_jvp_per_input_sums_the_shares_output_by_output():
    """y₁, y₂ = a·b, 2a with jvps= (one per input, each a tuple of its
    shares of ẏ₁, ẏ₂; None for a zero one): with tangents on both inputs the
    shares were summed by ``+``, which joined the tuples -- "its JVP gave 4
    tangents", and before that check the first input's shares alone, without
    a word. Now summed output by output, against float64 central differences."""
    op = mg.primitive(save_inputs=True, vjps=(lambda gs, a, b: gs[0] * b + 2 * gs[1], lambda gs, a, b: gs[0] * a),
                      jvps=(lambda t, ys, a, b: (t * b, 2 * t), lambda t, ys, a, b: (a * t, None)))(
        lambda a, b: (a * b, 2 * a))
    a0, b0 = np.array([1.0, -2.0, 0.5]), np.array([3.0, 0.25, -4.0])
    ta, tb = np.array([1.0, 0.5, -1.0]), np.array([-2.0, 1.0, 3.0])
    _, (t_prod, t_double) = mg.jvp(op, (mg.tensor(a0), mg.tensor(b0)), (mg.tensor(ta), mg.tensor(tb)))
    eps = 1e-6
    up, down = (a0 + eps * ta) * (b0 + eps * tb), (a0 - eps * ta) * (b0 - eps * tb)
    np.testing.assert_allclose(t_prod.data, (up - down) / (2 * eps), rtol=1e-8)
    np.testing.assert_allclose(t_double.data, 2 * ta, rtol=1e-12)


def test_a_jvp_computing_in_float32_for_float64_is_an_error():
    """A JVP (a primitive's jvps=, a Function's jvp) returning float32 for a
    float64 input and output: forward mode cast it back to float64, the
    digits lost (1 + 1e-12 came back as 1.0). A float32 input's tangent into
    a float64 output stays fine: it is exact."""
    scaled = mg.primitive(vjps=lambda g: g * (1 + 1e-12),
                          jvps=lambda t, y, x: (t * (1 + 1e-12)).astype(np.float32))(lambda x: x * (1 + 1e-12))

    class Scaled(mg.Function):
        @staticmethod
        def forward(ctx, x):
            return x * (1 + 1e-12)

        @staticmethod
        def jvp(ctx, t):
            return (t * (1 + 1e-12)).astype(np.float32)

    x = mg.tensor(np.ones(3))
    for f in (scaled, Scaled.apply):
        with pytest.raises(TypeError, match="JVP gave a float32 tangent for a float64 output"):
            mg.jvp(f, (x,), (mg.ones_like(x),))
    x32, y64 = mg.tensor(np.ones(3, np.float32)), mg.tensor(np.full(3, 1 + 1e-12))
    _, tangent = mg.jvp(lambda x: x + y64, (x32,), (mg.ones_like(x32),))
    assert tangent.dtype == np.float64 and np.array_equal(tangent.data, np.ones(3))
