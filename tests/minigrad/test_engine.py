"""The tape and the reverse sweep: long chains, freeing, accumulation, modes, higher order."""

import gc
import re
import threading
import tracemalloc
import weakref

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad import testing as mt


def chain(n: int, w: mg.Tensor, x0: float = 0.5) -> mg.Tensor:
    x = mg.tensor(np.array([x0]))
    for _ in range(n):
        x = mg.tanh(x * w)
    return x


def numpy_chain_grad(n: int, w: float, x0: float = 0.5) -> float:
    xs = [np.array([x0])]
    for _ in range(n):
        xs.append(np.tanh(xs[-1] * w))
    g, gw = 1.0, 0.0
    for k in range(n, 0, -1):
        g = g * (1 - xs[k][0] ** 2)
        gw += g * xs[k - 1][0]
        g = g * w
    return gw


def test_100k_step_chain_backward_without_recursion():
    w = mg.tensor(np.array([1.1]), requires_grad=True)
    y = chain(100_000, w)
    y.sum().backward()
    assert np.isfinite(w.grad.data).all()


def test_chain_gradient_matches_hand_written_bptt():
    w = mg.tensor(np.array([1.3]), requires_grad=True)
    chain(50, w).sum().backward()
    assert w.grad.item() == pytest.approx(numpy_chain_grad(50, 1.3), rel=1e-12)


def test_backward_releases_saved_arrays():
    gc.collect()
    tracemalloc.start()
    w = mg.tensor(np.ones(1000), requires_grad=True)
    x = mg.tensor(np.full(1000, 0.5))
    probe = x * w  # an interior value whose array the tanh node saves (as its output)
    probe_array = weakref.ref(probe.data)
    y = mg.tanh(probe)
    del probe, x
    for _ in range(200):
        y = mg.tanh(y * w)
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    y.sum().backward()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert probe_array() is None  # the saved array is gone while y itself still lives
    assert after < before - 200 * 1000 * 8 * 0.9  # ~200 saved arrays of 8 kB each were released


def test_deleting_a_long_graph_without_backward_is_fine():
    w = mg.tensor(np.array([0.5]), requires_grad=True)
    y = chain(100_000, w)
    del y
    gc.collect()


def test_second_backward_through_freed_graph_names_the_op():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = mg.tanh(x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="'sum' a second time.*retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward_and_grads_accumulate():
    x = mg.tensor([1.0, 2.0], requires_grad=True, dtype=np.float64)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    np.testing.assert_array_equal(x.grad.data, [2, 4])
    y.backward()
    np.testing.assert_array_equal(x.grad.data, [4, 8])
    (3 * x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [7, 11])


def test_nothing_is_recorded_under_no_grad():
    x = mg.tensor([1.0], requires_grad=True)
    with mg.no_grad():
        y = x * 2
        with mg.enable_grad():
            z = x * 2
    assert not y.requires_grad and y._node is None
    assert z.requires_grad

    @mg.no_grad()
    def f(t):
        return t * 3

    assert not f(x).requires_grad and mg.is_grad_enabled()
    mode = mg.no_grad()
    with mode:
        with mode:  # the same object entered twice restores each block's mode
            pass
        assert not mg.is_grad_enabled()
    assert mg.is_grad_enabled()


@pytest.mark.parametrize("decorator, inside", [(mg.no_grad, False), (mg.enable_grad, True),
                                               (lambda: mg.set_grad_enabled(False), False)])
def test_a_grad_mode_decorator_on_a_generator_function_holds_in_each_step(decorator, inside):
    """As in PyTorch: @no_grad() on a generator function once applied only
    while the generator object was made, so every step recorded."""
    x = mg.tensor([1.0], requires_grad=True)
    seen = []

    @decorator()
    def steps(n):
        for _ in range(n):
            received = yield (x * 2).requires_grad, mg.is_grad_enabled()
            seen.append((received, mg.is_grad_enabled()))
        return "done"

    outside = not inside
    with mg.set_grad_enabled(outside):
        generator = steps(3)
        assert next(generator) == (inside, inside)
        assert mg.is_grad_enabled() is outside  # the caller's mode between the steps
        assert generator.send("a") == (inside, inside)
        assert mg.is_grad_enabled() is outside
        with pytest.raises(StopIteration) as stop:
            generator.send("b")
            generator.send("c")
        assert stop.value.value == "done" and seen == [("a", inside), ("b", inside), ("c", inside)]
        assert mg.is_grad_enabled() is outside


def test_a_generator_under_a_grad_mode_decorator_gets_what_is_thrown_in_and_closed():
    events = []

    @mg.no_grad()
    def steps():
        try:
            while True:
                try:
                    yield 1
                except ValueError:
                    events.append(("caught", mg.is_grad_enabled()))
        finally:
            events.append(("closed", mg.is_grad_enabled()))

    generator = steps()
    next(generator)
    assert generator.throw(ValueError("x")) == 1
    generator.close()
    assert events == [("caught", False), ("closed", False)] and mg.is_grad_enabled()
    with pytest.raises(KeyError):
        generator = steps()
        next(generator)
        generator.throw(KeyError("not handled"))  # goes out of the generator, and out of the wrapper
    assert mg.is_grad_enabled()


@pytest.mark.parametrize("decorator", [mg.no_grad, mg.enable_grad, lambda: mg.set_grad_enabled(False)])
def test_a_grad_mode_decorator_refuses_async_functions(decorator):
    """A coroutine's body runs when it is awaited, after the decorator's block
    has closed (and the mode is the thread's, which other coroutines share
    while this one waits): @no_grad() on an async def recorded everything."""

    async def coroutine():
        return None

    async def async_generator():
        yield None

    for function in (coroutine, async_generator):
        with pytest.raises(TypeError, match=f"cannot decorate the async function {re.escape(function.__qualname__)}"):
            decorator()(function)


@pytest.mark.parametrize("mode, inside", [(mg.no_grad, False), (mg.enable_grad, True)])
def test_a_grad_mode_decorates_without_parentheses_too(mode, inside):
    """As in PyTorch 2: @mg.no_grad without parentheses was a TypeError (no_grad() takes 0 positional
    arguments); it now decorates as @mg.no_grad() does -- generators step by step, async refused."""
    x = mg.tensor([1.0], requires_grad=True)

    @mode
    def f(t):
        return (t * 2).requires_grad, mg.is_grad_enabled()

    @mode
    def steps():
        yield (x * 2).requires_grad, mg.is_grad_enabled()

    async def coroutine():
        return None

    with mg.set_grad_enabled(not inside):
        assert f(x) == (inside, inside) and mg.is_grad_enabled() is not inside
        generator = steps()
        assert next(generator) == (inside, inside) and mg.is_grad_enabled() is not inside
    assert f.__name__ == "f"
    with pytest.raises(TypeError, match="cannot decorate the async function"):
        mode(coroutine)
    for decorate in (mode, mode()):
        with pytest.raises(TypeError, match="a grad mode decorates a function, got int 5"):
            decorate(5)


@pytest.mark.parametrize("enabled", ["False", 0, None, 1.0])
def test_set_grad_enabled_wants_a_bool(enabled):
    """set_grad_enabled('False') (a flag read from a config) turned recording on."""
    with pytest.raises(TypeError, match="set_grad_enabled: enabled must be a bool, got"):
        mg.set_grad_enabled(enabled)
    with mg.set_grad_enabled(np.bool_(False)):
        assert not mg.is_grad_enabled()


def test_set_grad_enabled_called_as_a_function_sets_the_mode():
    """As PyTorch's: mg.set_grad_enabled(False) on its own line did nothing, so an evaluation script
    written the PyTorch way kept recording. As a `with` block it restores the mode from before the
    call, and as a decorator it changes no mode until the function runs."""
    x = mg.tensor([1.0], requires_grad=True)
    try:
        mg.set_grad_enabled(False)
        assert not mg.is_grad_enabled() and not (x * 2).requires_grad
        mg.set_grad_enabled(True)
        assert mg.is_grad_enabled() and (x * 2).requires_grad
        with mg.set_grad_enabled(False):
            assert not mg.is_grad_enabled()
        assert mg.is_grad_enabled()

        @mg.set_grad_enabled(False)
        def f():
            return mg.is_grad_enabled()

        assert mg.is_grad_enabled() and f() is False and mg.is_grad_enabled()
        with mg.no_grad():
            mg.enable_grad()  # (no_grad() and enable_grad() only as blocks and decorators, as in PyTorch)
            assert not mg.is_grad_enabled()
    finally:
        mg.set_grad_enabled(True)


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(TypeError, match="only float tensors can require grad, got dtype int64"):
        mg.tensor([1, 2], requires_grad=True)
    with pytest.raises(TypeError, match="only float"):
        mg.tensor([1, 2]).requires_grad_()


def test_setting_requires_grad_is_checked_as_requires_grad__is():
    """t.requires_grad = True (PyTorch's idiom) was a bare attribute: an integer
    tensor took it and got its gradient cut to integers ((x * 2.5).sum() gave
    x.grad [2, 2]), and an op's output could be cut off the tape unseen."""
    x = mg.tensor([1, 2])
    with pytest.raises(TypeError, match="only float tensors can require grad, got dtype int64"):
        x.requires_grad = True
    assert not x.requires_grad
    w = mg.tensor([1.0, 2.0])
    w.requires_grad = True
    (w * 2.5).sum().backward()
    np.testing.assert_array_equal(w.grad.data, [2.5, 2.5])
    with pytest.raises(RuntimeError, match="leaves only"):
        (w * 2).requires_grad = False
    w.requires_grad = False
    assert not (w * 2).requires_grad


def test_a_grad_of_another_shape_is_not_broadcast_into():
    """A .grad of another shape (set by hand, or left from before a .data of
    another shape) was added to by broadcasting: x.grad came out (2, 3) for x
    of shape (3,), or a (3,) gradient stretched over a new (2, 3) parameter.
    Then backward refused it, but only after its sweep had freed the graph, so
    its advice (set .grad = None and retry) could not work: .grad and .data
    now check each other when assigned, before anything changes."""
    x, w = mg.tensor([1.0, 2.0, 3.0], requires_grad=True), mg.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match=r"shape \(3,\), got shape \(2, 3\)"):
        x.grad = mg.zeros((2, 3))
    with pytest.raises(TypeError, match="Tensor or None, got ndarray"):
        x.grad = np.zeros(3)
    with pytest.raises(TypeError, match="float tensor, got dtype int64"):
        x.grad = mg.tensor([1, 2, 3])
    assert x.grad is None
    loss = (x * w).sum()
    loss.backward(retain_graph=True)  # (the advice works: nothing was freed)
    np.testing.assert_array_equal(x.grad.data, [1.0, 1.0, 1.0])
    with mg.no_grad(), pytest.raises(ValueError, match=r"shape \(2, 3\) for a tensor whose .grad has shape \(3,\)"):
        x.data = np.ones((2, 3))
    np.testing.assert_array_equal(x.data, [1.0, 2.0, 3.0])
    x.grad.data = np.zeros((2, 3))  # (the one way left to give .grad another shape)
    with pytest.raises(RuntimeError, match=r"shape \(3,\) has a .grad of shape \(2, 3\)"):
        loss.backward(retain_graph=True)
    assert x.grad.shape == (2, 3) and w.grad.shape == (1,) and w.grad.data[0] == 6.0  # (nothing accumulated)
    x.grad, total = None, (x + 1.0).sum()  # (add saves no input: no version check stops this one)
    with mg.no_grad():
        x.data = np.ones((2, 3))
    with pytest.raises(RuntimeError, match=r"used with shape \(3,\) and has shape \(2, 3\) now"):
        total.backward()
    assert x.grad is None


def test_retain_grad_on_a_tensor_that_does_not_require_grad_is_an_error():
    """It did nothing: .grad stayed None after every backward (PyTorch raises)."""
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    for t in (mg.tensor([1.0]), x.detach(), (x * 2).detach()):
        with pytest.raises(RuntimeError, match=r"retain_grad on a tensor \(shape .*\) that does not require grad"):
            t.retain_grad()
    x.retain_grad()  # a leaf that requires grad: fine, it gets .grad anyway


def test_retain_grad_on_an_interior_tensor():
    x = mg.tensor([1.0, 2.0], requires_grad=True, dtype=np.float64)
    h = x * 3
    h.retain_grad()
    (h * h).sum().backward()
    np.testing.assert_array_equal(h.grad.data, 2 * h.data)
    np.testing.assert_array_equal(x.grad.data, 18 * x.data)


def test_grad_leaves_dot_grad_alone_and_handles_unused_inputs():
    x = mg.tensor([1.0, 2.0], requires_grad=True, dtype=np.float64)
    u = mg.tensor([5.0], requires_grad=True, dtype=np.float64)
    h = x * x
    y = h.sum()
    gx, gh, gu = mg.grad(y, [x, h, u], allow_unused=True, retain_graph=True)
    np.testing.assert_array_equal(gx.data, [2, 4])
    np.testing.assert_array_equal(gh.data, [1, 1])
    assert gu is None and x.grad is None
    with pytest.raises(ValueError, match="do not depend on inputs\\[1\\]"):
        mg.grad(y, [x, u])


@pytest.mark.parametrize("create_graph", [False, True])
def test_grad_of_an_input_listed_twice(create_graph):
    """A leaf, an interior tensor or one output of a split listed twice gets
    its gradient in every place (an interior tensor got it only in its last
    place: None, or 'does not depend on inputs[0]'), each a buffer of its own."""
    x = mg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = x * 3
    p, q = mg.split(x, 1)
    y = (h * h).sum() + (p * q * 5).sum()  # dy/dh = 2h, dy/dp = 5q, dy/dq = 5p
    grads = mg.grad(y, [h, x, h, q, p, q, x], create_graph=create_graph)
    want = [[6.0, 12.0], [1.0 * 18 + 10, 2.0 * 18 + 5], [6.0, 12.0], [5.0], [10.0], [5.0]]
    want.append(want[1])
    for got, expected in zip(grads, want):
        np.testing.assert_allclose(got.data, expected)
    assert len({id(g.data) for g in grads}) == len(grads)


def test_value_and_grad():
    f = mg.value_and_grad(lambda a, b: (a * b * b).sum(), argnums=(0, 1))
    value, (ga, gb) = f(np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    assert value.item() == 1 * 9 + 2 * 16
    np.testing.assert_array_equal(ga.data, [9, 16])
    np.testing.assert_array_equal(gb.data, [6, 16])


def test_third_derivative_via_create_graph():
    x = mg.tensor(np.array([0.5, 2.0]), requires_grad=True)
    (g1,) = mg.grad((x ** 4).sum(), x, create_graph=True)
    (g2,) = mg.grad(g1.sum(), x, create_graph=True)
    (g3,) = mg.grad(g2.sum(), x)
    np.testing.assert_allclose(g3.data, 24 * x.data)


def test_hessian_vector_product_matches_finite_differences():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 3))

    def f(x):
        return (mg.tanh(mg.tensor(a) @ x) ** 2).sum()

    x0, v = rng.standard_normal(3), rng.standard_normal(3)
    x = mg.tensor(x0, requires_grad=True)
    (g,) = mg.grad(f(x), x, create_graph=True)
    (hv,) = mg.grad((g * mg.tensor(v)).sum(), x)

    def grad_at(p):
        t = mg.tensor(p, requires_grad=True)
        return mg.grad(f(t), t)[0].data

    eps = 1e-6
    numeric = (grad_at(x0 + eps * v) - grad_at(x0 - eps * v)) / (2 * eps)
    np.testing.assert_allclose(hv.data, numeric, rtol=1e-6, atol=1e-8)


def test_diamond_and_reused_tensor():
    x = mg.tensor([2.0], requires_grad=True, dtype=np.float64)
    a = x * 3
    y = a * a + mg.exp(a) + a  # a used three times
    y.backward()
    assert x.grad.item() == pytest.approx(3 * (2 * 6 + np.exp(6) + 1))


def test_only_some_outputs_of_a_multi_output_op_used():
    x = mg.tensor(np.arange(6.0), requires_grad=True)
    parts = mg.split(x, 2)
    (parts[1] * 5).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0, 0, 5, 5, 0, 0])


def test_grad_is_a_buffer_of_its_own():
    a = mg.tensor([1.0], requires_grad=True)
    b = mg.tensor([1.0], requires_grad=True)
    (a + b).backward()  # both receive the very same gradient array
    a.grad.data *= 10  # an optimiser clipping in place must not touch b's
    assert b.grad.item() == 1.0


def test_detect_anomaly_names_the_op_and_the_line():
    x = mg.tensor([0.0, 1.0], requires_grad=True, dtype=np.float64)
    with mg.detect_anomaly():
        y = mg.sqrt(x)  # d sqrt / dx at 0 is inf
        with pytest.raises(RuntimeError, match=r"'sqrt'.*test_engine.py:\d+ in test_detect_anomaly"):
            y.sum().backward()


def test_to_dot_describes_the_graph():
    x = mg.tensor([1.0], requires_grad=True)
    dot = mg.to_dot(mg.tanh(x * 2) + x)
    assert dot.startswith("digraph") and "tanh" in dot and "mul" in dot and "leaf (1,)" in dot
    with pytest.raises(TypeError, match="to_dot: t must be a Tensor, got ndarray"):  # (was an AttributeError)
        mg.to_dot(np.ones(2))


def test_multi_output_op_with_a_single_output():
    x = mg.tensor(np.arange(3.0).reshape(1, 3), requires_grad=True)
    (only,) = mg.unbind(x, axis=0)
    (only * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[2, 2, 2]])


def test_create_graph_records_the_gradients_handed_out_under_no_grad_too():
    """create_graph=True records the backward whatever the caller's grad mode
    (as in PyTorch); the copies handed out (mg.grad's results, a leaf's .grad)
    were made under the caller's no_grad, cut off from the graph: the second
    derivative was silently lost (x.grad.requires_grad False)."""
    x = mg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (x ** 3).sum()
    with mg.no_grad():
        (g,) = mg.grad(y, x, create_graph=True)
        y.backward(create_graph=True)
        y.backward(create_graph=True)  # accumulating into a .grad that has a graph
    assert g.requires_grad and x.grad.requires_grad
    (h,) = mg.grad(g.sum(), x)
    np.testing.assert_allclose(h.data, 6 * x.data)
    (h,) = mg.grad(x.grad.sum(), x)
    np.testing.assert_allclose(h.data, 12 * x.data)
    v = mg.tensor(np.array([1.0, 1.0], dtype=np.float32), requires_grad=True)  # a seed cast to float64
    y = x * x
    with mg.no_grad():
        (g,) = mg.grad(y, x, grad_outputs=v, create_graph=True)
    (h,) = mg.grad(g.sum(), v)  # (was None: the cast was made under no_grad)
    np.testing.assert_allclose(h.data, 2 * x.data)


def _third_order_check(fn, xs: list) -> bool:
    """gradgradcheck of (x, v) -> v·∂fn/∂x built with create_graph: the third derivatives of fn."""
    n = len(xs)

    def first(*args):
        grads = mg.grad(fn(*args[:n]), list(args[:n]), grad_outputs=args[n], create_graph=True, allow_unused=True)
        return tuple(mg.zeros(x.shape, dtype=np.float64) if g is None else g for g, x in zip(grads, args[:n]))

    v = mg.tensor(np.linspace(-1.0, 1.0, fn(*xs).size).reshape(fn(*xs).shape), requires_grad=True)
    return mg.gradgradcheck(first, [*xs, v], atol=1e-4)


THIRD_ORDER = {  # (fn, input shapes, [low, high]); kinks and ties kept away by the ranges and shapes
    "div": (lambda a, b: a / b, [(2, 3), (3,)], (0.5, 2.0)),
    "pow_tensor": (lambda a, b: a ** b, [(2, 3), (3,)], (0.5, 2.0)),
    "log_sqrt": (lambda a: mg.log(a) * mg.sqrt(a), [(2, 3)], (0.5, 2.0)),
    "tanh_sigmoid_exp": (lambda a: mg.tanh(a) * mg.sigmoid(a) + mg.exp(a), [(2, 3)], (-2.0, 2.0)),
    "softmax_log_softmax": (lambda a: mg.softmax(a, axis=0) * mg.log_softmax(a, axis=-1), [(2, 3)], (-2.0, 2.0)),
    "logsumexp": (lambda a: mg.logsumexp(a, axis=-2, keepdims=True) ** 2, [(2, 3)], (-2.0, 2.0)),
    "matmul_1d_rules": (lambda a, b: ((a @ b) ** 2).sum() + (b.T @ a) ** 3, [(3,), (3, 2)], (-1.0, 1.0)),
    "getitem_repeated": (lambda a: a[np.array([0, 0, 1])][:, [2, 2, 0]] ** 3, [(2, 3)], (-1.0, 1.0)),
    "mean_negative_axes": (lambda a: a.mean(axis=(-1, -3)) ** 3, [(2, 2, 3)], (-1.0, 1.0)),
    "concat_stack_split": (lambda a, b: mg.split(mg.concat([a ** 2, mg.stack([b, b], 0) ** 3], 1), [2, 3], 1)[1]
                           * a[:, :1], [(2, 3), (2,)], (-1.0, 1.0)),
    "embedding": (lambda w: mg.embedding(w, mg.tensor([2, 0, 2])) ** 3, [(3, 2)], (-1.0, 1.0)),
    "where_clip": (lambda a: mg.where(a > 0, a ** 3, mg.clip(a, -0.5, None) ** 2), [(2, 3)], (0.1, 1.0)),
}


@pytest.mark.parametrize("name", THIRD_ORDER)
@settings(max_examples=5, deadline=None)
@given(data=st.data())
def test_third_derivatives_equal_central_differences_of_the_second(name, data):
    fn, shapes, (low, high) = THIRD_ORDER[name]
    xs = [mg.tensor(data.draw(mt.arrays(shape, low=low, high=high)), requires_grad=True) for shape in shapes]
    assert _third_order_check(fn, xs)


def test_the_output_of_an_op_keeps_its_shape():
    """An interior tensor that asked for retain_grad, given .data of another shape, failed halfway through the
    backward with the .grad setter's error about an assignment the user never made (before: a (3,) gradient stored
    on a (4,) tensor). An op's output cannot change shape: its gradients have the old one."""
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    y.retain_grad()
    loss = y.sum()
    with pytest.raises(ValueError, match=r"shape \(4,\) for the output of mul of shape \(3,\)"):
        y.data = np.zeros(4, np.float32)
    y.data = np.zeros(3)  # (the same shape: allowed, as before)
    loss.backward()
    np.testing.assert_array_equal(y.grad.data, [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(x.grad.data, [2.0, 2.0, 2.0])


def test_detect_anomaly_as_a_decorator():
    """@mg.detect_anomaly() on a generator or async function did nothing without a word (the body runs after the
    call returns, outside the mode); on a plain function it sets the mode for the call, in that thread only."""
    @mg.detect_anomaly()
    def plain():
        return mg.is_anomaly_enabled()

    assert plain() and not mg.is_anomaly_enabled()
    seen = []
    thread = threading.Thread(target=lambda: seen.append(mg.is_anomaly_enabled()))
    with mg.detect_anomaly():
        thread.start()
        thread.join()
    assert seen == [False]

    def steps():
        yield mg.is_anomaly_enabled()

    async def later():
        return mg.is_anomaly_enabled()

    for function in (steps, later):
        with pytest.raises(TypeError, match=f"cannot decorate the generator or async function .*{function.__name__}:"):
            mg.detect_anomaly()(function)


def _user_ops(vjp):
    """The identity y = x as a user would write it three ways -- a primitive, a
    Function, and the primitive inside a scan step -- all with backward ``vjp(g)``."""
    op = mg.primitive(vjps=lambda g: vjp(g))(lambda x: x * 1.0)

    class Identity(mg.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1.0

        @staticmethod
        def backward(ctx, g):
            return vjp(g.data)

    def scanned(x):  # one step over x
        return mg.scan(lambda c, x_t: (c, op(x_t)), mg.zeros(1, dtype=x.dtype), mg.stack([x]))[1][0]

    return {"primitive": op, "Function": Identity.apply, "scan": scanned}


@pytest.mark.parametrize("way", ["primitive", "Function", "scan"])
def test_a_user_vjp_with_axes_the_output_lacks_is_an_error_not_summed(way):
    """y = x with a VJP that gives an outer product, (4, 4) for a (4,) input and
    output: the engine summed it over axis 0 to (4,) -- a gradient of 4·ḡ_j
    in place of ḡ_j, without a word -- as if the forward had broadcast x.
    Only axes the output has are broadcasting's; the rest is an error naming
    the op and the shapes."""
    f = _user_ops(lambda g: g[None, :] * np.ones((4, 1)))[way]
    x = mg.tensor(np.arange(1.0, 5.0), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"shape \(4, 4\) for its input 0, which has shape \(4,\)"):
        f(x).sum().backward()
    assert x.grad is None
    # a stretched size-1 axis the output does not have: (3, 4) for a (1, 4) input and output
    f = _user_ops(lambda g: np.broadcast_to(g, (3, 4)))[way]
    x = mg.tensor(np.ones((1, 4)), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"shape \(3, 4\) for its input 0, which has shape \(1, 4\)"):
        f(x).sum().backward()


@pytest.mark.parametrize("used", [0, 1])
def test_a_two_output_op_whose_vjp_has_axes_no_output_has_is_an_error_too(used):
    """y₁, y₂ = x, 2x with a VJP giving the outer product, (4, 4) for a (4,)
    input: the axis check was skipped for ops of several outputs, and x.grad
    came out [4, 4, 4, 4] where [1, 1, 1, 1] (or 2s) is due, without a word.
    Now the error naming the shapes; one of an output's shape is summed back."""
    def pair(vjp):
        return mg.primitive(vjps=vjp)(lambda x: (x * 1.0, x * 2.0))

    def outer(gs):
        g = gs[0] if gs[0] is not None else 2 * gs[1]
        return g[None, :] * np.ones((4, 1))

    x = mg.tensor(np.arange(1.0, 5.0), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"shape \(4, 4\) for its input 0, which has shape \(4,\)"):
        pair(outer)(x)[used].sum().backward()
    assert x.grad is None
    y = mg.tensor(np.ones((1, 4)), requires_grad=True)  # (1, 4) in, (3, 4) out: broadcast, summed back
    wide = mg.primitive(vjps=lambda gs: (0 if gs[0] is None else gs[0]) + (0 if gs[1] is None else 2 * gs[1]))(
        lambda x: (np.broadcast_to(x, (3, 4)) * 1.0, np.broadcast_to(x, (3, 4)) * 2.0))
    wide(y)[used].sum().backward()
    np.testing.assert_array_equal(y.grad.data, np.full((1, 4), 3.0 * (1 + used)))


@pytest.mark.parametrize("way", ["primitive", "Function", "scan"])
def test_a_user_loss_of_inputs_broadcast_together_gets_its_gradient_summed(way):
    """L = Σ (x − y)² with x (1, 4) broadcast against y (3, 4): the VJP's
    2(x − y)·ḡ has y's shape, an axis the scalar output lacks but the inputs'
    broadcast has (torch.autograd.Function sums it as well). The axis check
    refused it ("a VJP gives the input's shape, or the input broadcast to the
    output's"); it is summed to x's shape, as by hand."""
    op = mg.primitive(save_inputs=True, vjps=(lambda g, x, y: 2 * (x - y) * g,
                                              lambda g, x, y: -2 * (x - y) * g))(lambda x, y: ((x - y) ** 2).sum())

    class SquaredError(mg.Function):
        @staticmethod
        def forward(ctx, x, y):
            ctx.save_for_backward(x, y)
            return ((x - y) ** 2).sum()

        @staticmethod
        def backward(ctx, g):
            x, y = ctx.saved_tensors
            return 2 * (x - y) * g, -2 * (x - y) * g

    def scanned(x, y):  # one step
        return mg.scan(lambda c, y_t: (c + op(x, y_t), None), mg.zeros((), dtype=x.dtype), mg.stack([y]))[0]

    f = {"primitive": op, "Function": SquaredError.apply, "scan": scanned}[way]
    x0, y0 = np.array([[0.5, -1.0, 2.0, 0.0]]), np.arange(12.0).reshape(3, 4) / 7
    x = mg.tensor(x0, requires_grad=True)
    for y in (mg.tensor(y0), mg.tensor(y0, requires_grad=True)):
        x.grad = None
        f(x, y).backward()
        np.testing.assert_allclose(x.grad.data, (2 * (x0 - y0)).sum(axis=0, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(y.grad.data, -2 * (x0 - y0), rtol=1e-12)


@pytest.mark.parametrize("way", ["primitive", "Function", "scan"])
def test_a_user_vjp_computing_in_float32_for_float64_is_an_error(way):
    """A VJP that returns float32 for a float64 input and output: the engine
    cast it back to float64, the digits lost (1 + 1e-12 came back as 1.0)."""
    f = _user_ops(lambda g: g.astype(np.float32))[way]
    x = mg.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(TypeError, match=r"float32 gradient for its input 0, of dtype float64"):
        mg.grad((f(x) * (1 + 1e-12)).sum(), x)


def test_gradients_summed_over_the_outputs_broadcast_axes_and_cast_by_promotion_still_work():
    """What the checks above leave alone (against NumPy by hand): a user op
    that broadcasts its input gives a gradient of the output's shape, summed
    back; a float32 gradient of a float32 output for a float64 0-d input (the
    op computed in float32) is cast up."""
    op = mg.primitive(vjps=lambda g: g)(lambda x: np.broadcast_to(x, (3, 2, 4)) * 1.0)
    x = mg.tensor(np.ones((2, 1)), requires_grad=True)
    weights = np.arange(24.0).reshape(3, 2, 4)
    (op(x) * mg.tensor(weights)).sum().backward()
    np.testing.assert_array_equal(x.grad.data, weights.sum(axis=(0, 2))[:, None])
    s = mg.tensor(np.float64(2.0), requires_grad=True)
    v = mg.tensor(np.array([1.0, 2.0], np.float32))
    (s * v).sum().backward()
    assert s.grad.dtype == np.float64 and s.grad.item() == 3.0


def test_a_multi_output_vjp_computing_on_plain_arrays_is_an_error_when_its_first_output_is_unused():
    """y₊, y₂ = max(x, 0), x² with a VJP reading .data: under create_graph the
    check looked at ḡ₊ alone, None when only y₂ is used, so mg.grad(y₂.sum(),
    x, create_graph=True) gave the constant [-3, 1, 4] (requires_grad False)
    and the penalty's second derivative was lost. Now an error, as when y₊ is
    used; the VJP written with ops gives d/dx Σ w·2x = 2w."""
    def parts(vjp_of):
        def vjp(gs, x):
            up, down = gs
            return (0 if up is None else vjp_of(up) * (vjp_of(x) > 0)) + (0 if down is None else
                                                                         vjp_of(down) * 2 * vjp_of(x))
        return mg.primitive(save_inputs=True, vjps=vjp)(lambda x: (np.maximum(x, 0), x * x))

    x = mg.tensor(np.array([-1.5, 0.5, 2.0]), requires_grad=True)
    w = np.array([0.5, -1.0, 2.0])
    plain = parts(lambda t: t.data if isinstance(t, mg.Tensor) else t)
    for used in (0, 1):
        with pytest.raises(RuntimeError, match=r"create_graph through '<lambda>': its VJP gave a plain ndarray"):
            mg.grad(plain(x)[used].sum(), x, create_graph=True)
    (gx,) = mg.grad(parts(lambda t: t)(x)[1].sum(), x, create_graph=True)
    np.testing.assert_array_equal(gx.data, 2 * x.data)
    np.testing.assert_array_equal(mg.grad((gx * mg.tensor(w)).sum(), x)[0].data, 2 * w)


def test_a_vjp_computing_on_plain_arrays_under_create_graph_is_an_error():
    """A VJP that reads g.data and x.data: under create_graph its gradient was
    a constant, so the gradient penalty (ẋ·w).sum() + Σx² with ẋ = 2x gave
    d/dx = 2x (the Σx² alone) where 2x + 2w is due, without a word. Now
    the create_graph backward names the op; the same VJP written with ops
    gives 2x + 2w."""
    def square(vjp):
        return mg.primitive(save_inputs=True, vjps=vjp)(lambda x: x * x)

    plain = square(lambda g, x: (g.data if isinstance(g, mg.Tensor) else g) * 2 *
                   (x.data if isinstance(x, mg.Tensor) else x))
    x = mg.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    w = mg.tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
    assert np.array_equal(mg.grad(plain(x).sum(), x)[0].data, 2 * x.data)  # first order: fine
    with pytest.raises(RuntimeError, match=r"create_graph through '<lambda>': its VJP gave a plain ndarray"):
        mg.grad(plain(x).sum(), x, create_graph=True)
    ops = square(lambda g, x: g * 2 * x)
    (gx,) = mg.grad(ops(x).sum(), x, create_graph=True)
    np.testing.assert_array_equal(mg.grad((gx * w).sum() + (x ** 2).sum(), x)[0].data, 2 * x.data + 2 * w.data)


def test_a_vjp_giving_plain_zeros_under_create_graph_is_a_constant_zero():
    """A step function's VJP (np.zeros_like) or a Function's backward returning 0.0 is right at every
    ḡ (a VJP is linear in it), so create_graph takes it as a constant; only nonzero plain arrays lose
    a derivative (the review of the check that refused them all)."""
    step = mg.primitive(vjps=lambda g: np.zeros(np.shape(g)))(lambda x: np.floor(x))

    class Floor(mg.Function):
        @staticmethod
        def forward(ctx, x):
            return np.floor(x)

        @staticmethod
        def backward(ctx, g):
            return np.zeros(g.shape)

    x = mg.tensor(np.array([0.5, 1.5, -2.5]), requires_grad=True)
    for f in (step, Floor.apply):
        (gx,) = mg.grad((f(x) + x * x).sum(), x, create_graph=True)
        np.testing.assert_array_equal(gx.data, 2 * x.data)
        np.testing.assert_array_equal(mg.grad(gx.sum(), x)[0].data, [2.0, 2.0, 2.0])
