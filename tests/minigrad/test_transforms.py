"""vjp, jacfwd, jacrev, hessian, hvp and value_and_grad: against central
differences in float64 and against each other, nested in each other and in
a loss that is differentiated again (closed-over parameters), over generated shapes."""

from collections import namedtuple

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import testing as mt


def numeric_jacobian(f, args, p, eps=1e-6):
    """d f(*args) / d args[p] by central differences: shape out.shape + args[p].shape."""
    x = np.array(args[p], dtype=np.float64)
    call = lambda value: np.asarray(f(*[mg.tensor(value) if k == p else mg.tensor(a)
                                        for k, a in enumerate(args)]).data)
    out_shape = call(x).shape
    columns = []
    for j in range(x.size):
        step = np.zeros(x.size)
        step[j] = eps
        step = step.reshape(x.shape)
        columns.append((call(x + step) - call(x - step)) / (2 * eps))
    if not columns:
        return np.zeros(out_shape + x.shape)
    return np.stack(columns, axis=-1).reshape(out_shape + x.shape)


def numeric_gradient(f, x, eps=1e-6):
    return numeric_jacobian(f, [x], 0, eps)


def model(x, y):
    """R^{x.size + y.size} -> R^{(2, y.size)}: broadcasting, a reduction with a negative axis, a matmul."""
    h = mg.tanh(x[..., None] * y + 0.5).reshape(-1, y.shape[0])
    return mg.stack([h.sum(axis=-2), mg.exp(y) * mg.logsumexp(x, axis=None)], axis=0)


def scalar_model(x, y):
    return (model(x, y) ** 2).sum() + (x * x * x).sum()


shapes = st.sampled_from([(), (1,), (3,), (2, 3)])


@given(data=st.data())
def test_jacfwd_equals_jacrev_equals_central_differences(data):
    x = data.draw(mt.arrays(data.draw(shapes)))
    y = data.draw(mt.arrays(data.draw(st.sampled_from([(1,), (4,)]))))
    argnums = data.draw(st.sampled_from([0, 1, -1, (0, 1), (1, -2)]))
    forward = mg.jacfwd(model, argnums)(mg.tensor(x), mg.tensor(y))
    reverse = mg.jacrev(model, argnums)(mg.tensor(x), mg.tensor(y))
    positions = [a % 2 for a in (argnums if isinstance(argnums, tuple) else (argnums,))]
    forward, reverse = (j if isinstance(argnums, tuple) else (j,) for j in (forward, reverse))
    for p, jf, jr in zip(positions, forward, reverse):
        expected = numeric_jacobian(model, [x, y], p)
        assert jf.shape == jr.shape == expected.shape
        np.testing.assert_allclose(jf.data, jr.data, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(jf.data, expected, rtol=1e-6, atol=1e-7)


def test_jacobians_of_several_outputs_and_of_empty_inputs():
    x = mg.tensor(np.array([0.3, -0.7]))
    f = lambda x: {"sum": x.sum(), "pair": (x * 2, mg.exp(x[:1]))}
    for jac in (mg.jacfwd(f)(x), mg.jacrev(f)(x)):
        np.testing.assert_array_equal(jac["sum"].data, [1, 1])
        np.testing.assert_array_equal(jac["pair"][0].data, 2 * np.eye(2))
        np.testing.assert_allclose(jac["pair"][1].data, [[np.exp(0.3), 0]])
    empty = mg.tensor(np.zeros((0, 2)))
    for jacobian in (mg.jacfwd, mg.jacrev):
        assert jacobian(lambda e: mg.concat([e.sum(axis=0), x]))(empty).shape == (4, 0, 2)


Pair = namedtuple("Pair", "a b")
PairWithDefault = namedtuple("PairWithDefault", "a b", defaults=(None,))
Single = namedtuple("Single", "a")


@pytest.mark.parametrize("kind", [Pair, PairWithDefault, Single])
def test_namedtuple_outputs_come_back_as_the_same_namedtuple(kind):
    """(unflatten called kind(items): PairWithDefault(a=[...], b=None), Single(a=[...]), and for Pair
    '__new__() missing 1 required positional argument'.)"""
    x, v = mg.tensor(np.array([0.3, -0.7])), mg.tensor(np.array([1.0, 2.0]))
    f = lambda t: kind(*[t * (k + 2.0) for k in range(len(kind._fields))])
    scales = [k + 2.0 for k in range(len(kind._fields))]
    out, tangent = mg.jvp(f, (x,), (v,))
    results = {"jvp values": out, "jvp tangents": tangent, "jacfwd": mg.jacfwd(f)(x), "jacrev": mg.jacrev(f)(x)}
    expected = {"jvp values": [s * x.data for s in scales], "jvp tangents": [s * v.data for s in scales],
                "jacfwd": [s * np.eye(2) for s in scales], "jacrev": [s * np.eye(2) for s in scales]}
    for name, result in results.items():
        assert type(result) is kind, name
        for field, want in zip(result, expected[name]):
            np.testing.assert_array_equal(field.data, want)


def test_a_tuple_subclass_that_cannot_be_rebuilt_from_its_items_is_a_type_error_naming_it():
    class Point(tuple):
        def __new__(cls, x, y):
            return super().__new__(cls, (x, y))

    x = mg.tensor(np.array([0.3, -0.7]))
    with pytest.raises(TypeError, match="cannot rebuild a Point"):
        mg.jacrev(lambda t: Point(t, t * 2.0))(x)


@given(data=st.data())
def test_hessian_three_ways_and_hvp_equal_central_differences_of_the_gradient(data):
    x = data.draw(mt.arrays(data.draw(shapes)))
    y = mg.tensor(data.draw(mt.arrays((3,))))
    f = lambda t: scalar_model(t, y)
    hessian = mg.hessian(f)(mg.tensor(x))
    gradient = lambda t: mg.jacrev(f)(t)
    expected = numeric_jacobian(gradient, [x], 0)
    assert hessian.shape == x.shape * 2
    np.testing.assert_allclose(hessian.data, expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(mg.jacrev(mg.jacrev(f))(mg.tensor(x)).data, hessian.data, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(mg.jacfwd(mg.jacfwd(f))(mg.tensor(x)).data, hessian.data, rtol=1e-10, atol=1e-10)
    flat = hessian.data.reshape(x.size, x.size)
    np.testing.assert_allclose(flat, flat.T, rtol=1e-10, atol=1e-10)
    v = np.random.default_rng(x.size).standard_normal(x.shape)
    grad, hv = mg.hvp(f, (mg.tensor(x),), (mg.tensor(v),))
    np.testing.assert_allclose(grad.data, gradient(mg.tensor(x)).data, rtol=1e-12)
    np.testing.assert_allclose(hv.data, (flat @ v.ravel()).reshape(x.shape), rtol=1e-9, atol=1e-9)


def test_hessian_with_several_arguments_and_third_derivatives():
    x, y = mg.tensor(np.array([0.4, -0.2])), mg.tensor(np.array([1.1, 0.3, -0.5]))
    blocks = mg.hessian(scalar_model, argnums=(0, 1))(x, y)
    for i, a in enumerate((x, y)):
        for j, b in enumerate((x, y)):
            expected = numeric_jacobian(lambda *args: mg.jacrev(scalar_model, j)(*args), [x.data, y.data], i)
            np.testing.assert_allclose(blocks[j][i].data, expected, rtol=1e-6, atol=1e-6)
            assert blocks[i][j].shape == a.shape + b.shape
    f = lambda t: (t ** 4).sum() * mg.exp(t[0])
    third = mg.jacfwd(mg.hessian(f))(x)
    np.testing.assert_allclose(third.data, mg.jacrev(mg.jacrev(mg.jacrev(f)))(x).data, rtol=1e-10)
    np.testing.assert_allclose(third.data, numeric_jacobian(mg.hessian(f), [x.data], 0), rtol=1e-6, atol=1e-6)


def test_vjp_pullbacks_repeat_and_match_the_transposed_jacobian():
    x, y = np.array([0.2, -1.0, 0.5]), np.array([0.7, 1.3])
    out, pullback = mg.vjp(model, mg.tensor(x), mg.tensor(y))
    np.testing.assert_array_equal(out.data, model(mg.tensor(x), mg.tensor(y)).data)
    jx, jy = numeric_jacobian(model, [x, y], 0), numeric_jacobian(model, [x, y], 1)
    for seed in range(2):
        u = np.random.default_rng(seed).standard_normal(out.shape)
        gx, gy = pullback(u)
        np.testing.assert_allclose(gx.data, np.tensordot(u, jx, axes=2), rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(gy.data, np.tensordot(u, jy, axes=2), rtol=1e-6, atol=1e-8)
    _, unused = mg.vjp(lambda a, b: a * 2, mg.tensor(x), mg.tensor(y))
    np.testing.assert_array_equal(unused(np.ones(3))[1].data, [0, 0])  # zeros, not None, as in JAX


def test_a_cotangent_dict_with_the_keys_in_another_order_is_the_same_structure():
    """f returns {'u': 2a, 'v': 3a}; the cotangent {'v': 1, 'u': 0} -- the
    same keys, in another order -- was refused as 'another structure' (a
    dict's key order is no part of its structure, as in JAX). Now each
    cotangent goes with its own key: 3, not 2."""
    out, pullback = mg.vjp(lambda a: {"u": a * 2.0, "v": a * 3.0}, mg.tensor(np.array([1.0, -1.0])))
    (got,) = pullback({"v": mg.tensor(np.array([1.0, 1.0])), "u": mg.tensor(np.zeros(2))})
    np.testing.assert_array_equal(got.data, [3.0, 3.0])
    (got,) = pullback({"v": mg.tensor(np.zeros(2)), "u": mg.tensor(np.array([1.0, 1.0]))})
    np.testing.assert_array_equal(got.data, [2.0, 2.0])
    with pytest.raises(ValueError, match="another structure"):  # (other keys are another structure)
        pullback({"v": mg.tensor(np.zeros(2)), "w": mg.tensor(np.zeros(2))})


def test_value_and_grad_detaches_alone_and_composes_when_nested():
    x = mg.tensor(np.array([0.5, 2.0]))
    value, grad = mg.value_and_grad(lambda t: (t ** 3).sum())(x)
    assert not value.requires_grad and not grad.requires_grad
    np.testing.assert_allclose(grad.data, 3 * x.data ** 2)
    # reverse over reverse: the gradient of a gradient norm
    w = mg.tensor(np.array([1.5, -0.5]), requires_grad=True)
    penalty = lambda w: (mg.value_and_grad(lambda t: (mg.tanh(t * w) ** 2).sum())(x)[1] ** 2).sum()
    (dw,) = mg.grad(penalty(w), w)
    np.testing.assert_allclose(dw.data, numeric_gradient(penalty, w.data), rtol=1e-6)
    # forward over reverse, through value_and_grad
    gradient = lambda t: mg.value_and_grad(lambda s: (s ** 3).sum())(t)[1]
    _, tangent = mg.jvp(gradient, (x,), (mg.ones(2, dtype=np.float64),))
    np.testing.assert_allclose(tangent.data, 6 * x.data)


@pytest.mark.parametrize("jacobian", [mg.jacfwd, mg.jacrev, mg.hessian])
def test_a_jacobian_inside_a_loss_is_differentiated_through_the_parameters_it_closes_over(jacobian):
    """A Jacobian penalty (as in contractive autoencoders): its gradient with
    respect to the weights the model closes over, against central differences."""
    rng = np.random.default_rng(3)
    x = mg.tensor(rng.standard_normal(3))
    w0 = rng.standard_normal((2, 3))

    def penalty(w):
        f = (lambda t: mg.tanh(w @ t).sum()) if jacobian is mg.hessian else (lambda t: mg.tanh(w @ t))
        return (jacobian(f)(x) ** 2).sum()

    w = mg.tensor(w0, requires_grad=True)
    (dw,) = mg.grad(penalty(w), w)
    np.testing.assert_allclose(dw.data, numeric_gradient(penalty, w0), rtol=1e-6, atol=1e-8)
    w.grad = None
    penalty(w).backward()  # and through .backward(), into .grad
    np.testing.assert_allclose(w.grad.data, dw.data, rtol=1e-12)


def test_vjp_inside_a_traced_scan_step_runs_as_the_loop():
    w = mg.tensor(np.array([[0.5, -0.3], [0.2, 0.8]]))
    xs = mg.tensor(np.random.default_rng(0).standard_normal((4, 2)))

    def step(h, x):  # a gradient step inside the step: the trace gives way to the plain loop
        (g,) = mg.vjp(lambda h: (mg.tanh(h @ w + x) ** 2).sum(), h)[1](1.0)
        return h - 0.1 * g, g.sum()

    fast, loop = mg.scan(step, mg.zeros(2, dtype=np.float64) + 0.3, xs), \
        mg.scan(step, mg.zeros(2, dtype=np.float64) + 0.3, xs, unroll=True)
    np.testing.assert_array_equal(fast[1].data, loop[1].data)


def test_hvp_names_itself_and_its_argument_in_its_errors():
    """hvp's bad tangents or primals were reported as jvp's ("jvp: tangents[0] has shape (4,)"), a function
    the user did not call."""
    x, f = mg.tensor(np.array([1.0, 2.0, 3.0])), lambda t: (t * t).sum()
    for primals, tangents, error, message in [
            ((x,), (np.ones(4),), ValueError, r"hvp: tangents\[0\] has shape \(4,\) but primals\[0\] has shape \(3,\)"),
            ((x,), x, ValueError, "hvp: tangents must be a tuple or list with one tangent per primal"),
            ((x,), (np.arange(3),), TypeError, r"hvp: tangents\[0\] has dtype int64"),
            (x, (x,), TypeError, "hvp: primals must be a tuple or list"),
            ((np.arange(3),), (x,), TypeError, r"hvp: primals\[0\] has dtype int64")]:
        with pytest.raises(error, match=message):
            mg.hvp(f, primals, tangents)


def test_bad_arguments_are_clear_errors():
    x = mg.tensor(np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="argnums 2 but only 1 positional arguments"):
        mg.jacfwd(mg.exp, argnums=2)(x)
    with pytest.raises(ValueError, match="argnums must name each argument once"):
        mg.jacrev(lambda a, b: a * b, argnums=(0, -2))(x, x)
    with pytest.raises(TypeError, match="argnums must be an int"):
        mg.jacrev(mg.exp, argnums=0.5)(x)
    with pytest.raises(ValueError, match="hvp: f must return a one-element Tensor"):
        mg.hvp(mg.exp, (x,), (x,))
    _, pullback = mg.vjp(mg.exp, x)
    with pytest.raises(ValueError, match=r"cotangent 0 has shape \(3,\) but output 0 has shape \(2,\)"):
        pullback(np.ones(3))
    _, pullback = mg.vjp(lambda t: (t, t), x)
    with pytest.raises(ValueError, match="structure of f's output"):
        pullback(x)
    with pytest.raises(TypeError, match="vjp: f must be callable"):
        mg.vjp(None, x)
    with pytest.raises(TypeError, match=r"vjp: primals\[0\] has dtype int64"):
        mg.vjp(mg.exp, np.arange(2))


def test_grad_refuses_flags_that_are_not_bools():
    """allow_unused='False' was true, so an unused input came back None instead of the error asked for."""
    x, u = mg.tensor([1.0, 2.0], requires_grad=True), mg.tensor([1.0], requires_grad=True)
    y = (x * x).sum()
    with pytest.raises(TypeError, match="grad: allow_unused must be a bool, got str 'False'"):
        mg.grad(y, [x, u], allow_unused="False")
    with pytest.raises(TypeError, match="grad: create_graph must be a bool, got NoneType"):
        mg.grad(y, x, create_graph=None)
    (g,) = mg.grad(y, x, retain_graph=None)  # (None: the default, create_graph's value)
    np.testing.assert_array_equal(g.data, [2.0, 4.0])


def test_a_pullback_is_taken_at_the_point_vjp_saw_even_if_the_input_changes_later():
    x = mg.tensor(np.array([1.0, 2.0]))
    _, pullback = mg.vjp(lambda t: (t * t).sum(), x)
    with mg.no_grad():
        x += 1
    np.testing.assert_array_equal(pullback(1.0)[0].data, [2.0, 4.0])


def test_second_derivatives_under_no_grad_are_not_zero():
    """Under no_grad, hessian / hvp / forward-over-reverse gave zeros (the gradient too): the pullback's
    Σ ūᵀf over duals was built in the caller's grad mode, so its parts required no grad (outside audit)."""
    f = lambda t: (t ** 3).sum()  # noqa: E731
    x, v = mg.tensor([1.0, 2.0], dtype=np.float64), mg.tensor([1.0, 0.0], dtype=np.float64)
    with mg.no_grad():
        hessian = mg.hessian(f)(x)
        gradient, hv = mg.hvp(f, (x,), (v,))
        jacobian = mg.jacfwd(mg.jacrev(f))(x)
        tangent = mg.jvp(lambda t: mg.value_and_grad(f)(t)[1], (x,), (v,))[1]
        assert not mg.is_grad_enabled()  # (left as it was)
    np.testing.assert_array_equal(hessian.numpy(), np.diag([6.0, 12.0]))
    np.testing.assert_array_equal(jacobian.numpy(), np.diag([6.0, 12.0]))
    np.testing.assert_array_equal(gradient.numpy(), [3.0, 12.0])
    np.testing.assert_array_equal(hv.numpy(), [6.0, 0.0])
    np.testing.assert_array_equal(tangent.numpy(), [6.0, 0.0])
