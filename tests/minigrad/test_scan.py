"""scan: the same values and gradients as the Python loop it replaces, to every order."""

import gc

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import loops as scan_module
from minigrad.ops import primitive, rows_elementwise


def scanned(step, carry, xs, reverse=False):
    """mg.scan with the outputs in the order (ys, carry) these tests compare."""
    final, ys = mg.scan(step, tuple(carry), tuple(xs), reverse=reverse)
    return ys, final


def unrolled(step, carry, xs, reverse=False):
    """The loop scan stands for, op by op on the tape."""
    final, ys = mg.scan(step, tuple(carry), tuple(xs), reverse=reverse, unroll=True)
    return ys, final


def gated_cell(w, u, b, peep):
    """A step exercising what cells do: matmuls with closed-over weights, a
    weight sliced and transposed inside the step (invariant ops), ops on the
    slice alone (hoisted: ``x @ w``, ``x @ w[:, :H]``) and the slice used again
    by a per-step op, a multi-output split, broadcasting against a vector,
    and a mask slice."""
    hidden = u.shape[1]

    def step(carry, inputs):
        h, c = carry
        x, inside = inputs
        pre = mg.addmm(x @ w, h, u.T) + b
        gate, cand = mg.split(pre, [hidden, hidden], axis=-1)
        gate = mg.sigmoid(gate + peep[0] * c)
        new_c = mg.addcmul(gate * c, 1 - gate, mg.tanh(cand))
        new_h = mg.addmm(mg.tanh(new_c) * gate + (x @ w[:, :hidden]) * h * 0.1, x, w[:, :hidden])
        return (mg.where(inside, new_h, h), mg.where(inside, new_c, c)), mg.where(inside, new_h, 0.0)

    return step


def make(rng, steps, batch, features, hidden, dtype=np.float64):
    def t(*shape, grad=True):
        return mg.Tensor(rng.standard_normal(shape).astype(dtype) * 0.5, requires_grad=grad)

    lengths = rng.integers(1, steps + 1, batch)
    inside = mg.Tensor(np.arange(steps)[:, None, None] < lengths[None, :, None])
    params = dict(w=t(features, 2 * hidden), u=t(2 * hidden, hidden), b=t(2 * hidden), peep=t(2, hidden))
    return t(steps, batch, features), (t(batch, hidden), t(batch, hidden)), inside, params


@given(steps=st.integers(1, 6), batch=st.integers(1, 3), features=st.integers(1, 3), hidden=st.integers(1, 3),
       reverse=st.booleans(), hoist_rows=st.sampled_from([1, 4, 1024]), seed=st.integers(0, 2**16))
def test_values_and_gradients_equal_the_python_loop(steps, batch, features, hidden, reverse, hoist_rows, seed):
    x, carry, inside, params = make(np.random.default_rng(seed), steps, batch, features, hidden)
    step = gated_cell(**params)
    leaves = [x, *carry, *params.values()]
    results = []
    default, scan_module.BLOCK_ROWS = scan_module.BLOCK_ROWS, hoist_rows  # (blocks of one or more steps)
    try:
        fast = scanned(step, carry, (x, inside), reverse=reverse)
    finally:
        scan_module.BLOCK_ROWS = default
    for ys, (h, c) in (fast, unrolled(step, carry, (x, inside), reverse=reverse)):
        loss = (ys * ys).sum() + (h * c).sum() * 0.5
        results.append((ys.data, h.data, c.data, mg.grad(loss, leaves)))
    (ys, h, c, grads), (ys_ref, h_ref, c_ref, grads_ref) = results
    np.testing.assert_allclose(ys, ys_ref, rtol=1e-12, atol=1e-14)  # (hoisted ops see all rows at once)
    np.testing.assert_allclose(h, h_ref, rtol=1e-12, atol=1e-14)
    for g, g_ref in zip(grads, grads_ref):
        np.testing.assert_allclose(g.data, g_ref.data, rtol=1e-10, atol=1e-12)


@given(steps=st.integers(1, 4), batch=st.integers(1, 2), reverse=st.booleans(), seed=st.integers(0, 2**16))
def test_gradcheck_and_gradgradcheck(steps, batch, reverse, seed):
    x, carry, inside, params = make(np.random.default_rng(seed), steps, batch, 2, 2)

    def fn(x, h0, c0, w, u, b, peep):
        ys, (h, c) = scanned(gated_cell(w, u, b, peep), (h0, c0), (x, inside), reverse=reverse)
        return ys.sum(axis=0) + h * c

    inputs = [x, *carry, *params.values()]
    assert mg.gradcheck(fn, inputs)
    assert mg.gradgradcheck(fn, inputs)


def test_gradients_through_the_carry_only_and_constant_inputs():
    """h0 requires grad but x and the weights do not (and the other way round)."""
    rng = np.random.default_rng(0)
    x, (h0, c0), inside, params = make(rng, 5, 2, 3, 2)
    for name in ("w", "u", "b", "peep"):
        params[name].requires_grad = False
    x.requires_grad = c0.requires_grad = False
    step = gated_cell(**params)
    for run in (scanned, unrolled):
        ys, (h, _) = run(step, (h0, c0), (x, inside))
        (g,) = mg.grad(ys.sum() + h.sum(), [h0])
        if run is scanned:
            first = g.data
    np.testing.assert_allclose(first, g.data, rtol=1e-12)


def test_the_weight_gradient_is_batched_over_many_steps(monkeypatch):
    """More steps than one chunk of rows: the chunked VJPs add up to the loop's."""
    monkeypatch.setattr(scan_module, "BLOCK_ROWS", 8)
    rng = np.random.default_rng(1)
    x, carry, inside, params = make(rng, 3 * 4 + 1, 2, 2, 3)  # 4 steps of 2 rows a chunk: 4 chunks
    step = gated_cell(**params)
    grads = []
    for run in (scanned, unrolled):
        ys, _ = run(step, carry, (x, inside))
        grads.append(mg.grad(ys.sum(), [params["u"], params["peep"]]))
    for g, g_ref in zip(*grads):
        np.testing.assert_allclose(g.data, g_ref.data, rtol=1e-10)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("hoist_rows, double_first, blocks", [
    (1024, False, [(15, 2)]),
    (6, False, [(6, 2), (6, 2), (3, 2)]),
    (6, True, [(6, 2), (6, 2), (3, 2)]),  # (w's VJP needs double's output: each block keeps its own)
])
def test_ops_on_the_slices_alone_run_once_on_all_rows(monkeypatch, reverse, hoist_rows, double_first, blocks):
    """The input projection of a cell is hoisted: after the trace's call on
    the first slice, one call per block of BLOCK_ROWS rows (T·B rows if they
    fit), in loop order, with the loop's values and gradients."""
    monkeypatch.setattr(scan_module, "BLOCK_ROWS", hoist_rows)
    calls = []

    @primitive(vjps=lambda g: 2 * g, rows=rows_elementwise)  # it says it treats rows alike: hoistable
    def double(x):
        calls.append(x.shape)
        return 2 * x

    x, carry, inside, params = make(np.random.default_rng(6), 5, 3, 2, 2)
    w = params["w"]

    def step(carry, inputs):
        (h,) = carry
        projected = double(inputs[0]) @ w[:, :2] if double_first else double(inputs[0] @ w[:, :2])
        new_h = mg.tanh(mg.addmm(projected, h, params["u"][:2]))
        return (new_h,), new_h

    ys, (h,) = scanned(step, carry[:1], (x,), reverse=reverse)
    assert calls == [(3, 2)] + (blocks[::-1] if reverse else blocks)
    ys_ref, (h_ref,) = unrolled(step, carry[:1], (x,), reverse=reverse)
    np.testing.assert_allclose(ys.data, ys_ref.data, rtol=1e-12)
    grads, grads_ref = (mg.grad((out * out).sum(), [x, w, carry[0]]) for out in (ys, ys_ref))
    for g, g_ref in zip(grads, grads_ref):
        np.testing.assert_allclose(g.data, g_ref.data, rtol=1e-10)


class Cube(mg.Function):
    """y = x³, a custom op: scan logs and replays it like a primitive."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x * x


def test_custom_functions_run_inside_the_step():
    x, carry, inside, params = make(np.random.default_rng(7), 5, 2, 2, 2)
    w, u = params["w"], params["u"]

    def step(carry, inputs):
        (h,) = carry
        pre = Cube.apply(inputs[0] @ w[:, :2]) * 0.1 + h @ u[:2]  # a Function on the slice alone: hoisted
        new_h = Cube.apply(mg.tanh(pre))  # and on the carry: per step
        return (new_h,), new_h

    results = []
    for run in (scanned, unrolled):
        ys, (h,) = run(step, carry[:1], (x,))
        results.append((ys.data, mg.grad((ys * ys).sum() + h.sum(), [x, w, u, carry[0]])))
    (ys, grads), (ys_ref, grads_ref) = results
    np.testing.assert_allclose(ys, ys_ref, rtol=1e-12, atol=1e-14)
    for g, g_ref in zip(grads, grads_ref):
        np.testing.assert_allclose(g.data, g_ref.data, rtol=1e-10, atol=1e-12)


def test_a_step_may_return_what_it_closes_over():
    x, carry, inside, params = make(np.random.default_rng(8), 4, 2, 2, 2)
    results = []
    for run in (scanned, unrolled):
        w = params["u"][:2] * 1.0  # (a tensor from outside the step, depending on a leaf)

        def step(carry, inputs, w=w):
            return (w, carry[1] * inputs[0].sum(axis=-1, keepdims=True)), w

        ys, (h, c) = run(step, carry, (x,))
        results.append(mg.grad((ys * ys).sum() + (h * c).sum(), [params["u"], x, carry[1]]))
    for g, g_ref in zip(*results):
        np.testing.assert_allclose(g.data, g_ref.data, rtol=1e-10, atol=1e-12)


def test_retain_graph_replays_the_forward_for_a_second_backward():
    x, carry, inside, params = make(np.random.default_rng(2), 4, 2, 2, 2)
    ys, _ = scanned(gated_cell(**params), carry, (x, inside))
    loss = (ys * ys).sum()
    loss.backward(retain_graph=True)
    first = params["u"].grad.data.copy()
    loss.backward()
    np.testing.assert_allclose(params["u"].grad.data, 2 * first, rtol=1e-12)


def test_no_grad_runs_the_loop_without_recording():
    x, carry, inside, params = make(np.random.default_rng(3), 4, 2, 2, 2)
    step = gated_cell(**params)
    with mg.no_grad():
        ys, (h, _) = scanned(step, carry, (x, inside))
    assert not ys.requires_grad and not h.requires_grad
    np.testing.assert_allclose(ys.data, unrolled(step, carry, (x, inside))[0].data, rtol=1e-12, atol=1e-14)


def test_one_node_on_the_tape_and_nothing_left_after_backward():
    x, carry, inside, params = make(np.random.default_rng(4), 50, 2, 2, 2)
    ys, (h, _) = scanned(gated_cell(**params), carry, (x, inside))
    assert ys._node.name == "scan" and h._node is ys._node
    node = ys._node
    ys.sum().backward()
    assert node.vjps is None and node.saved is None  # the frames went with the closures
    del ys, h, node
    gc.collect()


def test_bad_calls_are_explained():
    x, carry, inside, params = make(np.random.default_rng(5), 3, 2, 2, 2)
    step = gated_cell(**params)
    with pytest.raises(TypeError, match="init must be a Tensor"):
        mg.scan(step, ("h",), (x,))
    with pytest.raises(ValueError, match="same number of steps"):
        mg.scan(step, carry, (x, inside[:2]))
    with pytest.raises(ValueError, match="carry\\[0\\] goes in as"):
        mg.scan(lambda carry, inputs: ((carry[0][:1], carry[1]), carry[0]), carry, (x,))
    with pytest.raises(TypeError, match="must return a pair \\(carry, y\\)"):
        mg.scan(lambda carry, inputs: carry[0], carry, (x,))
    with pytest.raises(TypeError, match="in the structure it got"):
        mg.scan(lambda carry, inputs: ([carry[0], carry[1]], carry[0]), carry, (x,))
    with pytest.raises(ValueError, match="at least one step"):
        mg.scan(step, carry, (x[:0],))
    with pytest.raises(ValueError, match="length="):
        mg.scan(lambda c, _: (c, c), carry[0])


@pytest.mark.parametrize("name, step", [
    ("mixes the rows", lambda carry, inputs: ((carry[0], carry[1]), carry[0].sum(axis=0, keepdims=True))),
    ("reshapes with the batch size", lambda carry, inputs: (carry, inputs[0].reshape(2, 1, 2)[:, 0] + carry[0])),
    ("adds a closed-over (2, 2) tensor row by row", lambda carry, inputs: (carry, carry[0] + CLOSED[0][:2])),
    ("softmax over the batch axis of x_t", lambda carry, inputs: ((carry[0] * mg.softmax(inputs[0], axis=0),
                                                                     carry[1]), carry[0])),
])
def test_steps_that_treat_rows_differently_give_the_loop_s_answer(name, step):
    """Once contract violations, these are now simply run per step: right."""
    x, carry, inside, params = make(np.random.default_rng(5), 3, 2, 2, 2)
    CLOSED[:] = [params["u"]]
    leaves = [x, *carry, params["u"]]
    results = []
    for run in (scanned, unrolled):
        ys, (h, c) = run(step, carry, (x,))
        loss = (ys * ys).sum() + (h * c).sum()
        results.append((ys.data, mg.grad(loss, leaves, allow_unused=True)))
    (ys, grads), (ys_ref, grads_ref) = results
    np.testing.assert_allclose(ys, ys_ref, rtol=1e-12)
    for g, g_ref in zip(grads, grads_ref):
        assert (g is None) == (g_ref is None)
        if g is not None:
            np.testing.assert_allclose(g.data, g_ref.data, rtol=1e-10, atol=1e-12)


CLOSED: list = []
