"""The tape and the reverse sweep: long chains, freeing, accumulation, modes, higher order."""

import gc
import re
import tracemalloc
import weakref

import numpy as np
import pytest

import minigrad as mg


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


@pytest.mark.parametrize("enabled", ["False", None, 0, 1.0])
def test_set_grad_enabled_takes_true_or_false(enabled):
    """set_grad_enabled("False") recorded (bool of a string is True)."""
    with pytest.raises(TypeError, match=f"set_grad_enabled: enabled must be True or False, got {enabled!r}"):
        mg.set_grad_enabled(enabled)
    with mg.set_grad_enabled(np.bool_(False)):
        assert not mg.is_grad_enabled()
    assert mg.is_grad_enabled()


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(TypeError, match="only float tensors can require grad, got dtype int64"):
        mg.tensor([1, 2], requires_grad=True)
    with pytest.raises(TypeError, match="only float"):
        mg.tensor([1, 2]).requires_grad_()


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


def test_multi_output_op_with_a_single_output():
    x = mg.tensor(np.arange(3.0).reshape(1, 3), requires_grad=True)
    (only,) = mg.unbind(x, axis=0)
    (only * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[2, 2, 2]])
