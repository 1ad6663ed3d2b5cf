"""Scan against the plain loop it stands for (``unroll=True``), where the two
once differed silently or scan failed on a legitimate step (found by an
outside audit; each test failed before the fix): integer dtypes decided by a
0-d integer's value, random draws with rng=, mg.grad and requires_grad
inside a step. In each case scan now runs the loop, or refuses."""

import numpy as np
import pytest

import minigrad as mg


def _both(step, init, xs=None, **kw):
    """(loop's result or exception, scan's result or exception)."""
    out = []
    for unroll in (True, False):
        try:
            out.append(mg.scan(step, init, xs, unroll=unroll, **kw))
        except Exception as error:  # noqa: BLE001
            out.append(error)
    return out


# -- 1. integer dtype widening decided on the traced step's values ------------------------------

def test_an_integer_counter_compared_with_uint8_tokens_past_255():
    """``tok == i`` with a uint8 tok and an int64 counter carry: the dtype rule
    compares exactly (widening) when i does not fit uint8. The trace saw i = 255
    (fits), so the replay casts i to uint8 and 256 becomes 0: a silent hit."""
    tok = mg.tensor(np.array([0, 1], dtype=np.uint8))

    def step(i, x):
        return i + 1, (tok == i).astype(np.float32).sum()

    init = mg.tensor(np.array(255, dtype=np.int64))
    (_, loop), (_, fast) = _both(step, init, length=3)
    assert loop.numpy().tolist() == [0.0, 0.0, 0.0]
    np.testing.assert_array_equal(fast.numpy(), loop.numpy())  # (scan gave [0, 1, 1])


def test_an_int64_id_from_xs_compared_with_a_uint8_carry():
    def step(c, k):
        return c, (c == k).astype(np.float32)

    c = mg.tensor(np.array([44, 5], dtype=np.uint8))
    ks = mg.tensor(np.array([5, 300], dtype=np.int64))  # 300 wraps to 44 in uint8
    (_, loop), (_, fast) = _both(step, c, ks)
    assert loop.numpy().tolist() == [[0.0, 1.0], [0.0, 0.0]]
    np.testing.assert_array_equal(fast.numpy(), loop.numpy())  # (scan gave [[0, 1], [1, 0]])


def test_an_integer_that_does_not_fit_is_an_error_in_scan_too():
    """The loop raises (add: the integer 300 does not fit uint8); scan wrapped
    300 to 44 silently and returned numbers."""
    def step(c, k):
        return c, (c + k).astype(np.float32)

    c = mg.tensor(np.array([44, 5], dtype=np.uint8))
    ks = mg.tensor(np.array([5, 300], dtype=np.int64))
    loop, fast = _both(step, c, ks)
    assert isinstance(loop, ValueError)
    assert isinstance(fast, Exception), f"scan gave {fast[1].numpy().tolist()} where the loop raises {loop}"


def test_a_kept_program_compares_exactly_for_a_counter_that_no_longer_fits():
    """Same with consts (a kept trace): the first call's counter fits uint8, the second's does not."""
    tok = mg.tensor(np.array([0, 1], dtype=np.uint8))

    def step(i, x, k):
        return i + 1, (k == i).astype(np.float32).sum()

    for start in (10, 256):
        init = mg.tensor(np.array(start, dtype=np.int64))
        (_, loop), (_, fast) = _both(step, init, length=2, consts=tok)
        np.testing.assert_array_equal(fast.numpy(), loop.numpy())


# -- 2. mg.grad inside a step --------------------------------------------------------------------

def test_mg_grad_of_the_carry_inside_a_step_runs_as_the_loop():
    """An unrolled inner gradient step (h <- h - lr * dE/dh): the loop runs;
    scan raised 'grad: inputs[0] must be a Tensor that requires grad' (h
    requires grad in the loop). mg.value_and_grad in the same place works."""
    rng = np.random.default_rng(4)
    W = mg.tensor(rng.standard_normal((3, 3)), requires_grad=True)

    def step(h, x):
        g, = mg.grad((mg.tanh(h @ W) ** 2).sum(), [h], create_graph=True)
        return h - 0.1 * g + x, g.sum()

    h0 = mg.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    xs = mg.tensor(rng.standard_normal((4, 2, 3)))
    (c_loop, y_loop), fast = _both(step, h0, xs)
    assert not isinstance(fast, Exception), f"scan raised {type(fast).__name__}: {fast}"
    np.testing.assert_allclose(fast[1].numpy(), y_loop.numpy(), rtol=1e-6)
    np.testing.assert_allclose(fast[0].numpy(), c_loop.numpy(), rtol=1e-6)


def test_mg_grad_of_a_closed_over_weight_inside_a_step_runs_as_the_loop():
    rng = np.random.default_rng(4)
    W = mg.tensor(rng.standard_normal((3, 3)), requires_grad=True)

    def step(h, x):
        g, = mg.grad((mg.tanh(h @ W) ** 2).sum(), [W], create_graph=True)
        return h + x, g.sum()

    h0 = mg.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    xs = mg.tensor(rng.standard_normal((4, 2, 3)))
    (_, y_loop), fast = _both(step, h0, xs)
    assert not isinstance(fast, Exception), f"scan raised {type(fast).__name__}: {fast}"
    np.testing.assert_allclose(fast[1].numpy(), y_loop.numpy(), rtol=1e-6)


# -- 3. requires_grad read inside a traced step ---------------------------------------------------

def test_a_step_reading_requires_grad_is_the_loop_or_an_error():
    """A traced value says requires_grad=False whatever the loop's tensor says:
    a step that reads the flag is silently traced on the wrong branch."""
    rng = np.random.default_rng(4)

    def step(h, x):
        y = h * 2
        flag = 1.0 if y.requires_grad else 0.0
        return h + x * flag, y.sum()

    h0 = mg.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    xs = mg.tensor(rng.standard_normal((4, 2, 3)))
    (c_loop, y_loop), fast = _both(step, h0, xs)
    if isinstance(fast, Exception):
        assert isinstance(fast, mg.TraceError)
        return
    np.testing.assert_allclose(fast[1].numpy(), y_loop.numpy())  # (scan: y constant, h never moved)
    np.testing.assert_allclose(fast[0].numpy(), c_loop.numpy())


def test_ctc_loss_inside_a_scan_step_has_the_loops_gradient():
    """nn.ctc_loss decides need_grad from log_probs.requires_grad, False on a
    traced value: the loop's gradient is fine, scan's backward failed with
    "TypeError: unsupported operand type(s) for *: 'float' and 'NoneType'"."""
    from nn.ctc import ctc_loss

    rng = np.random.default_rng(0)
    lp = mg.tensor(np.log(rng.dirichlet(np.ones(4), size=(3, 6, 2))), requires_grad=True)
    targets = np.array([[1, 2], [3, 1]])

    def step(acc, chunk):
        return acc + ctc_loss(chunk, targets, [6, 6], [2, 2]), None

    grads = []
    for unroll in (True, False):
        lp.grad = None
        total, _ = mg.scan(step, mg.tensor(np.array(0.0)), lp, unroll=unroll)
        total.backward()
        grads.append(lp.grad.numpy())
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-5, atol=1e-7)


# -- 4. mg.randn / mg.rand with a generator of one's own inside a step ------------------------------

@pytest.mark.parametrize("draw", ["randn", "rand", "multinomial", "rand_like"])
def test_a_draw_with_a_generator_of_ones_own_inside_a_step_is_refused(draw):
    """mg.randn(..., rng=g) in a step was drawn once, at the trace, and the same noise added at every step;
    a random op on a closed-over tensor (multinomial(P, rng=g), rand_like(P, rng=g)) is not dispatched to the
    trace, so it was frozen too. The loop draws at every step; scan now refuses, as for the global generator."""
    P = mg.tensor(np.ones((2, 3)) / 3)
    noises = {"randn": lambda g: mg.randn(2, 1, dtype=np.float64, rng=g),
              "rand": lambda g: mg.rand(2, 1, dtype=np.float64, rng=g),
              "multinomial": lambda g: mg.multinomial(P, rng=g).astype(np.float64),
              "rand_like": lambda g: mg.rand_like(P, rng=g)[:, :1].astype(np.float64)}

    def step(h, x):
        return h + noises[draw](g) + x, h.sum()

    h0, xs = mg.zeros((2, 1), dtype=np.float64), mg.zeros((4, 2, 1), dtype=np.float64)
    g = np.random.default_rng(0)
    _, loop = mg.scan(step, h0, xs, unroll=True)
    assert len(set(loop.numpy().tolist())) > 1  # (the loop draws anew at every step)
    with pytest.raises(mg.TraceError, match="drew random numbers"):
        mg.scan(step, h0, xs)


def test_in_place_add_of_a_step_value_to_a_tensor_the_step_made_is_the_loops():
    """acc = zeros(); acc += h @ w in grad mode: the loop makes a new tensor (w requires grad); scan took the
    in-place path (a traced value's requires_grad said False) and raised a TraceError. It now runs the loop."""
    rng = np.random.default_rng(0)
    w = mg.tensor(rng.standard_normal((3, 3)), requires_grad=True)

    def step(h, x):
        acc = mg.zeros((2, 3), dtype=np.float64)
        acc += h @ w
        acc += x
        return mg.tanh(acc), acc.sum()

    grads, xs = [], mg.tensor(rng.standard_normal((4, 2, 3)))
    for unroll in (True, False):
        w.grad = None
        _, ys = mg.scan(step, mg.zeros((2, 3), dtype=np.float64), xs, unroll=unroll)
        ys.sum().backward()
        grads.append(w.grad.numpy())
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-12)


@pytest.mark.parametrize("counter, lengths", [(np.int32, np.int64), (np.uint8, np.int64), (np.int64, np.int64)])
def test_a_counter_whose_cast_is_safe_is_traced_not_looped(counter, lengths, monkeypatch):
    """The first fix for the value-decided cast sent every step where two integer dtypes meet to the loop (5x
    slower: an int32 counter + 1, an int32 step index < int64 lengths), though a safe cast decides nothing
    (found by review). Only a cast that cannot hold every value of the 0-d integer tensor hands over."""
    lens = mg.tensor(np.array([2, 5], dtype=lengths))

    def step(t, x):
        return t + 1, (t < lens).astype(np.float64) + x

    def no_loop(*args):
        raise AssertionError("scan ran the plain loop")

    t0, xs = mg.tensor(np.array(0, dtype=counter)), mg.zeros((6, 2), dtype=np.float64)
    expected = mg.scan(step, t0, xs, unroll=True)[1].numpy()
    monkeypatch.setattr(mg.loops, "_loop", no_loop)
    np.testing.assert_array_equal(mg.scan(step, t0, xs)[1].numpy(), expected)
