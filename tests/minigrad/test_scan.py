"""scan: the same values and gradients as the Python loop it replaces, to
every order -- or a TraceError at the line of the step it cannot replay.

The loop is ``mg.scan(..., unroll=True)``, scan's definition. Besides tests
of cells (what the recurrent layers do) and one named test per row of the
table of issue 12, a differential test runs random step programs drawn from
the whole op set (at the end of this file)."""

import builtins
import gc
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
import nn
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


def test_a_custom_function_s_gradient_of_the_wrong_shape_is_the_shape_error_in_scan_too():
    """Its (3, 2) gradient for a (2, 3) input was reshaped into place by the
    replayed backward (written out, for a kept program) as by the tape."""
    class Forgets(mg.Function):  # y = x, but the backward returns ȳ transposed
        @staticmethod
        def forward(ctx, x):
            return x.copy()

        @staticmethod
        def backward(ctx, g):
            return g.T

    def step(h, x_t, b):
        h = Forgets.apply(h * x_t + b)
        return h, h

    rng = np.random.default_rng(3)
    h0, x, b = leaf(rng, 2, 3), leaf(rng, 4, 2, 3), leaf(rng, 3)
    for _ in range(3):  # traced, then the program kept and reused
        _, ys = mg.scan(step, h0, x, consts=b)
        with pytest.raises(RuntimeError, match=r"'Forgets' in scan .*shape \(3, 2\) for its input 0, which has "
                                               r"shape \(2, 3\)"):
            ys.sum().backward()


def test_a_custom_function_with_an_integer_result_needs_no_grad_in_the_loop_either():
    """Its result required grad in the loop (every output of a recorded node
    did) and not in scan, whose flags follow float values only."""
    class Floor(mg.Function):
        @staticmethod
        def forward(ctx, x):
            return np.floor(x).astype(np.int64)

        @staticmethod
        def backward(ctx, g):
            return g * 0

    def step(h, x_t, u):
        h = mg.tanh(h @ u + x_t)
        return h, Floor.apply(h * 3)

    rng = np.random.default_rng(9)
    h0, x, u = leaf(rng, 2, 3), leaf(rng, 3, 2, 3), leaf(rng, 3, 3)
    _, ys = assert_same_as_the_loop(step, h0, x, [h0, x, u], consts=u)
    assert ys.dtype == np.int64 and not ys.requires_grad and not Floor.apply(h0).requires_grad


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


def test_a_second_backward_whose_replay_gives_other_outputs_is_an_error():
    """A custom op drawing noise from a NumPy generator of its own (no trace
    sees that): the loop's tape keeps the forward's noise, so a second
    backward (retain_graph) gives the first one's gradient. scan's replayed
    the forward, which drew other noise, and gave a gradient that belonged
    to no forward at all, without a word. The replay's outputs now must be
    the forward's, bit for bit."""
    noise = np.random.default_rng(0)

    class Noisy(mg.Function):
        @staticmethod
        def forward(ctx, x):
            drawn = noise.standard_normal(x.shape)
            ctx.save_for_backward(drawn)
            return x * drawn

        @staticmethod
        def backward(ctx, g):
            (drawn,) = ctx.saved_tensors
            return g * drawn

    x = mg.tensor(np.ones((3, 2)), requires_grad=True)
    for unroll in (True, False):
        c, _ = mg.scan(lambda c, x_t: (c + Noisy.apply(x_t), c.sum()), mg.zeros(2, dtype=np.float64), x,
                       unroll=unroll)
        (first,) = mg.grad(c.sum(), [x], retain_graph=True)
        np.testing.assert_allclose(first.data.sum(), c.data.sum(), rtol=1e-12)  # (dc/dx: the noise drawn)
        if unroll:
            (again,) = mg.grad(c.sum(), [x])
            np.testing.assert_array_equal(again.data, first.data)
        else:
            with pytest.raises(RuntimeError, match="replayed for a second backward"):
                mg.grad(c.sum(), [x])


def test_a_create_graph_backward_whose_replay_gives_other_outputs_is_an_error():
    """The same for create_graph: the steps replayed on the tape drew other
    noise (tanh(x_t + noise) here), so the gradient -- first order already,
    and the second derivative made from it -- was taken at values of no
    forward: [0.92 0.93 0.87 ...] where the forward's own gradient, from the
    same scan, is [0.34 0.51 0.14 ...]. The forward is now replayed first and
    must give the forward's outputs bit for bit, as for a second backward; a
    deterministic step's gradients of gradients are the loop's."""
    noise = np.random.default_rng(0)

    class Noisy(mg.Function):
        @staticmethod
        def forward(ctx, x):
            return x + noise.standard_normal(x.shape)

        @staticmethod
        def backward(ctx, g):
            return g

    x = mg.tensor(np.ones((3, 2)), requires_grad=True)
    for unroll in (True, False):
        c, _ = mg.scan(lambda c, x_t: (c + mg.tanh(Noisy.apply(x_t)), c.sum()), mg.zeros(2, dtype=np.float64), x,
                       unroll=unroll)
        (first,) = mg.grad(c.sum(), [x], retain_graph=True)
        if unroll:
            (graph,) = mg.grad(c.sum(), [x], create_graph=True)
            np.testing.assert_array_equal(graph.data, first.data)
        else:
            with pytest.raises(RuntimeError, match="replayed for a create_graph backward"):
                mg.grad(c.sum(), [x], create_graph=True)


@pytest.mark.parametrize("computed", [False, True], ids=["a leaf", "computed"])
@pytest.mark.parametrize("kept", [False, True], ids=["closed over", "consts"])
@pytest.mark.parametrize("unroll", [False, True], ids=["scan", "the loop"])
def test_a_weight_changed_in_place_after_a_create_graph_backward_makes_the_next_backward_raise(unroll, kept,
                                                                                                computed):
    """A gradient penalty ||dL/dx||² built with create_graph, then the
    weight changed in place (an optimizer step), then the penalty's
    backward: the loop's matmul saved w, so that raises. scan's create_graph
    VJP replayed the steps on copies of its inputs, which no change reaches:
    it gave the derivative at the old w without a word (e.g. [2.77 -0.36
    3.72 2.87] at w·1.5). The copies now share the version counter of the
    scan's input (also of a computed one, which the engine hands the VJP
    as a new Tensor)."""
    rng = np.random.default_rng(0)
    w, x = leaf(rng, 2, 2), leaf(rng, 3, 1, 2)
    if computed:
        w = w * 1.0
    if kept:
        _, ys = mg.scan(lambda c, x_t, w: (mg.tanh(c @ w + x_t),) * 2, mg.zeros(1, 2, dtype=np.float64), x, consts=w,
                        unroll=unroll)
    else:
        _, ys = mg.scan(lambda c, x_t: (mg.tanh(c @ w + x_t),) * 2, mg.zeros(1, 2, dtype=np.float64), x,
                        unroll=unroll)
    (g,) = mg.grad(ys.sum(), [x], create_graph=True)
    penalty = (g * g).sum()
    with mg.no_grad():
        w *= 1.5
    with pytest.raises(RuntimeError, match="'matmul': its input 1 .*changed in place"):
        mg.grad(penalty, [x])


@pytest.mark.parametrize("unroll", [False, True])
def test_a_carry_dict_returned_with_its_keys_in_another_order_is_the_same_carry(unroll):
    """init {'h': ..., 'c': ...}, the step returning {'c': ..., 'h': ...}
    (as an LSTM step might): a TypeError said the carry had not the
    structure it got ('same nesting and number of tensors: 2', which it
    had). A dict's key order is no part of its structure, as in JAX: each
    key keeps its own tensor, in the loop and in the trace."""
    rng = np.random.default_rng(0)
    w, x = leaf(rng, 2, 2), leaf(rng, 4, 1, 2)
    h0, c0 = leaf(rng, 1, 2), leaf(rng, 1, 2)

    def step(state, x_t, swapped):
        c = state["c"] * 0.5 + mg.tanh(x_t @ w)
        h = mg.tanh(c) * state["h"]
        return ({"c": c, "h": h} if swapped else {"h": h, "c": c}), h.sum()

    results = []
    for swapped in (False, True):
        final, ys = mg.scan(lambda s, x_t: step(s, x_t, swapped), {"h": h0, "c": c0}, x, unroll=unroll)
        assert list(final) == ["h", "c"]  # (the carry's own order)
        loss = (final["h"] * 2.0).sum() + final["c"].sum() + ys.sum()
        results.append([final["h"].data, final["c"].data, *(g.data for g in mg.grad(loss, [w, x, h0, c0]))])
    for got, want in zip(*results):
        np.testing.assert_array_equal(got, want)


def test_the_loop_stacks_each_y_by_its_dict_key_and_refuses_another_structure():
    """A step whose y dict came with its keys in another order at some steps
    ({'a': x, 'b': -x}, then {'b': -x, 'a': x}) had its ys stacked by
    position: ys['a'] was [x0, -x1, x2]; a y {'a': ...} then {'b': ...} was
    stacked as ys['a'] alike. The loop now keeps each key's tensors together
    and refuses a y of another structure, as it refuses such a carry."""
    x = mg.tensor(np.arange(6.0).reshape(3, 2))
    for swap, other_key in ((True, False), (False, True)):
        steps = []

        def step(h, x_t):
            steps.append(1)
            odd = len(steps) % 2 == 0
            if other_key and odd:
                return h + 1.0, {"b": -x_t}
            return h + 1.0, ({"b": -x_t, "a": x_t} if swap and odd else {"a": x_t, "b": -x_t})

        if other_key:
            with pytest.raises(TypeError, match="y in the same structure at every step"):
                mg.scan(step, mg.zeros(2, dtype=np.float64), x, unroll=True)
        else:
            _, ys = mg.scan(step, mg.zeros(2, dtype=np.float64), x, unroll=True)
            assert list(ys) == ["a", "b"]
            np.testing.assert_array_equal(ys["a"].data, x.data)
            np.testing.assert_array_equal(ys["b"].data, -x.data)
    # a single tensor first: its structure (None) was taken for "no step yet", and a pair at the next steps
    # ended in unflatten's IndexError (a 1-tuple would have come back as a tuple without a word)
    for later in (lambda x_t: (x_t * 10.0, x_t), lambda x_t: (x_t,)):
        steps = []

        def step(h, x_t):
            steps.append(1)
            return h + 1.0, (x_t if len(steps) == 1 else later(x_t))

        with pytest.raises(TypeError, match="y in the same structure at every step"):
            mg.scan(step, mg.zeros(2, dtype=np.float64), x, unroll=True)


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


# -- the loop as the reference: values, first and second derivatives ------------------------------

def _leaves_of(tree) -> list:
    if isinstance(tree, dict):
        return [leaf for key in tree for leaf in _leaves_of(tree[key])]
    if isinstance(tree, (tuple, list)):
        return [leaf for item in tree for leaf in _leaves_of(item)]
    return [] if tree is None else [tree]


def derivatives(outputs: list, leaves: list, seed: int) -> list:
    """The outputs' values and requires_grad flags, then the gradients of a
    random weighting of them (by a plain backward and by a create_graph one),
    then the gradients of a random weighting of those: arrays or None."""
    rng = np.random.default_rng(seed)
    results = [out.data.copy() for out in outputs] + [out.requires_grad for out in outputs]
    floats = [out for out in outputs if out.requires_grad]
    if not floats:
        return results
    loss = builtins.sum((out * rng.standard_normal(out.shape)).sum() for out in floats)
    plain = mg.grad(loss, leaves, allow_unused=True, retain_graph=True)
    graph = mg.grad(loss, leaves, create_graph=True, allow_unused=True)
    results += [g if g is None else g.data for g in (*plain, *graph)]
    second = [(g * rng.standard_normal(g.shape)).sum() for g in graph if g is not None and g.requires_grad]
    if second:
        results += [g if g is None else g.data for g in mg.grad(builtins.sum(second), leaves, allow_unused=True)]
    return results


def assert_same_as_the_loop(step, init, xs=None, leaves=(), reverse=False, length=None, block_rows=None, seed=0,
                            consts=None):
    """scan and its loop agree to 1e-10 in values, requires_grad, first
    derivatives (both backward paths) and second derivatives. Returns scan's (final carry, ys)."""
    loop = mg.scan(step, init, xs, length=length, reverse=reverse, unroll=True, consts=consts)
    default = scan_module.BLOCK_ROWS
    scan_module.BLOCK_ROWS = block_rows or default
    try:
        fast = mg.scan(step, init, xs, length=length, reverse=reverse, consts=consts)
        ours = derivatives(_leaves_of(fast), list(leaves), seed)
    finally:
        scan_module.BLOCK_ROWS = default
    reference = derivatives(_leaves_of(loop), list(leaves), seed)
    assert len(ours) == len(reference)
    for k, (got, want) in enumerate(zip(ours, reference)):
        assert (got is None) == (want is None), f"result {k}: {got} but the loop gives {want}"
        if want is not None:
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10, err_msg=f"result {k}")
    return fast


def leaf(rng, *shape):
    return mg.Tensor(rng.standard_normal(shape), requires_grad=True)


# -- the table of issue 12: each row against the loop ------------------------------------------------

def test_a_comparison_on_the_carry_with_where():
    """mg.where(h > 1.5, h * 0.0, h + x): h goes 1, 2, 0, 1 (the trace once froze the comparison: 1, 2, 3, 4)."""
    h0 = mg.tensor(np.zeros(1), requires_grad=True)
    x = mg.tensor(np.ones((4, 1)), requires_grad=True)

    def step(h, x_t):
        h = mg.where(h > 1.5, h * 0.0, h + x_t)
        return h, h

    _, ys = assert_same_as_the_loop(step, h0, x, [h0, x])
    np.testing.assert_array_equal(ys.data[:, 0], [1, 2, 0, 1])


@pytest.mark.parametrize("batch", [1, 3])
def test_a_leaky_where(batch):
    """mg.where(pre > 0, pre, 0.1 * pre) on the carry's pre-activation (scan once differed by up to 2.05)."""
    rng = np.random.default_rng(1)
    h0, x, u, w = leaf(rng, batch, 3), leaf(rng, 6, batch, 2), leaf(rng, 3, 3), leaf(rng, 2, 3)

    def step(h, x_t):
        pre = h @ u + x_t @ w
        h = mg.where(pre > 0, pre, 0.1 * pre)
        return h, h

    assert_same_as_the_loop(step, h0, x, [h0, x, u, w])


LOOKUPS = {
    "table[i]": lambda table, i: table[i],
    "mg.embedding(table, i)": lambda table, i: mg.embedding(table, i),
    "mg.one_hot(i, n) @ table": lambda table, i: mg.one_hot(i, table.shape[0], dtype=np.float64) @ table,
}


@pytest.mark.parametrize("ids_shape", [(7, 3), (7,)], ids=["rows", "one id a step"])
@pytest.mark.parametrize("lookup", LOOKUPS.values(), ids=LOOKUPS.keys())
@pytest.mark.parametrize("reverse", [False, True])
def test_a_lookup_by_ids_from_an_integer_xs(lookup, ids_shape, reverse):
    """Every step looks up its own ids (once, every step used step 0's): with
    a zero recurrent weight y_t = tanh(table[ids_t]) exactly, by NumPy."""
    rng = np.random.default_rng(2)
    ids = mg.tensor(rng.integers(0, 5, ids_shape))
    table, u = leaf(rng, 5, 4), mg.tensor(np.zeros((4, 4)), requires_grad=True)
    h0 = leaf(rng, *ids_shape[1:], 4)

    def step(h, i):
        h = mg.tanh(h @ u + lookup(table, i))
        return h, h

    _, ys = assert_same_as_the_loop(step, h0, ids, [table, u, h0], reverse=reverse)
    np.testing.assert_allclose(ys.data, np.tanh(table.data[ids.data]), rtol=1e-12)


def test_dropout_inside_the_step_is_refused():
    """A mask drawn inside the step would be drawn once and reused for every
    step: F.dropout (minigrad's generator), mg.rand_like and a draw from the
    generator are TraceErrors naming the step; masks drawn outside and passed
    in through xs give the loop's answer."""
    rng = np.random.default_rng(3)
    h0, x = leaf(rng, 2, 3), leaf(rng, 4, 2, 3)
    refused = {
        "F.dropout": lambda h: nn.functional.dropout(h, 0.5),
        "rand_like": lambda h: h * (mg.rand_like(h) > 0.5),
        "generator": lambda h: h * mg.tensor(mg.get_rng().random(h.shape) > 0.5),
        "randn": lambda h: h + mg.randn(*h.shape, dtype=np.float64),
    }
    for dropped in refused.values():
        def step(h, x_t):
            h = mg.tanh(dropped(h) + x_t)
            return h, h

        with pytest.raises(mg.TraceError, match=r"(?=.*random numbers)(?=.*test_scan\.py:\d+).*pass them in"):
            mg.scan(step, h0, x)
        mg.scan(step, h0, x, unroll=True)  # (the loop draws every step)
    masks = mg.tensor(rng.random((4, 2, 3)) > 0.5)

    def masked(h, inputs):
        x_t, mask = inputs
        h = mg.tanh(h * mask * 2.0 + x_t)
        return h, h

    assert_same_as_the_loop(masked, h0, (x, masks), [h0, x])


def test_dropout_with_a_generator_of_its_own_inside_the_step_is_refused():
    rng = np.random.default_rng(3)
    h0, x, generator = leaf(rng, 2, 3), leaf(rng, 4, 2, 3), np.random.default_rng(0)

    def step(h, x_t):
        h = mg.tanh(nn.functional.dropout(h, 0.5, rng=generator) + x_t)
        return h, h

    with pytest.raises(mg.TraceError):
        mg.scan(step, h0, x)


@pytest.mark.parametrize("inner_reverse", [False, True])
def test_a_scan_inside_the_step(inner_reverse):
    """A scan over the step's values records into the outer trace; one over
    its own tensors that closes over the step's values runs as its loop."""
    rng = np.random.default_rng(4)
    h0, x, w, v0, vs = leaf(rng, 2, 3), leaf(rng, 5, 2, 3), leaf(rng, 3, 3), leaf(rng, 3), leaf(rng, 4, 3)

    def step(h, x_t):
        _, rows = mg.scan(lambda c, r: (mg.tanh(c + r @ w), c * r), v0, h * x_t, reverse=inner_reverse)
        closing, _ = mg.scan(lambda c, r: (mg.tanh(c * h[0] + r), c), v0, vs, reverse=inner_reverse)
        h = mg.tanh(rows + closing * 0.5)
        return h, rows

    assert_same_as_the_loop(step, h0, x, [h0, x, w, v0, vs])


@pytest.mark.parametrize("batch", [1, 3])
def test_h_detach_inside_the_step(batch):
    """h.detach() stops the gradient at every step (batch 1 was once silently wrong, batch > 1 an error)."""
    rng = np.random.default_rng(5)
    h0, x, u, w = leaf(rng, batch, 3), leaf(rng, 4, batch, 2), leaf(rng, 3, 3), leaf(rng, 2, 3)

    def step(h, x_t):
        h = mg.tanh(h.detach() @ u + x_t @ w) + 0.5 * h
        return h, h

    assert_same_as_the_loop(step, h0, x, [h0, x, u, w])


def test_a_softmax_over_axis_0_of_the_slices():
    """A softmax over the batch axis mixes rows, so it runs step by step (it was once hoisted: off by 0.39)."""
    rng = np.random.default_rng(6)
    h0, x = leaf(rng, 3, 2), leaf(rng, 5, 3, 2)
    for axis in (0, -2):
        def step(h, x_t, axis=axis):
            h = mg.tanh(h + mg.softmax(x_t, axis=axis))
            return h, h

        assert_same_as_the_loop(step, h0, x, [h0, x])


# -- what a trace cannot replay: a TraceError at the step's line ----------------------------------

READS = [  # each on a line of its own: the error must name that line
    lambda h: h * h.sum().item(),
    lambda h: h * float(h.sum()),
    lambda h: h * int(h.sum() > 0),
    lambda h: h * 2 if h.sum() > 0 else h,
    lambda h: h * bool(h.max() > 1),
    lambda h: h * np.asarray(h.detach()),
    lambda h: h * h.data,
    lambda h: h * h.numpy(),
    lambda h: h * h.detach().numpy(),
    lambda h: h * mg.tensor(h),
    lambda h: h * h.tolist()[0][0],
]


@pytest.mark.parametrize("read", READS, ids=[f"line {f.__code__.co_firstlineno}" for f in READS])
def test_reading_a_traced_value_is_a_trace_error_naming_the_line(read):
    rng = np.random.default_rng(7)
    h0, x = leaf(rng, 2, 3), leaf(rng, 4, 2, 3)

    def step(h, x_t):
        h = mg.tanh(read(h) + x_t)
        return h, h

    with pytest.raises(mg.TraceError, match=rf"test_scan\.py:{read.__code__.co_firstlineno} .*unroll=True"):
        mg.scan(step, h0, x)
    mg.scan(step, h0, x, unroll=True)  # (the loop reads them)


def test_an_op_with_several_outputs_whose_vjps_take_them_is_a_trace_error():
    @primitive(save_output=True, vjps=(lambda gs, ys: gs[0] * 2 + gs[1] * 3,))
    def double_and_triple(x):
        return 2 * x, 3 * x

    rng = np.random.default_rng(7)
    h0, x = leaf(rng, 2, 3), leaf(rng, 4, 2, 3)

    def step(h, x_t):
        a, b = double_and_triple(h)
        return mg.tanh(a + b + x_t), h

    (g,) = mg.grad(mg.scan(step, h0, x, unroll=True)[0].sum(), [h0])  # (the loop takes it)
    with pytest.raises(mg.TraceError, match="'double_and_triple' has several outputs.*unroll=True"):
        mg.scan(step, h0, x)


def test_backward_inside_the_step_is_a_trace_error():
    rng = np.random.default_rng(7)
    h0, x = leaf(rng, 2, 3), leaf(rng, 4, 2, 3)

    def step(h, x_t):
        h.sum().backward()
        return h + x_t, h

    with pytest.raises(mg.TraceError, match="backward"):
        mg.scan(step, h0, x)


def test_a_traced_value_kept_after_the_step_is_a_trace_error():
    rng = np.random.default_rng(7)
    h0, x, kept = leaf(rng, 2, 3), leaf(rng, 4, 2, 3), []

    def step(h, x_t):
        kept.append(h)
        return h + x_t, h

    mg.scan(step, h0, x)
    with pytest.raises(mg.TraceError, match="step that is over"):
        kept[0] * 2


# -- detect_anomaly names the op inside the step and the user's line ----------------------------

@pytest.mark.parametrize("create_graph", [False, True])
@pytest.mark.parametrize("where", ["per step", "hoisted"])
def test_detect_anomaly_names_the_op_and_the_line_in_the_step(where, create_graph):
    """sqrt(0)'s gradient is inf: on the carry (a per-step VJP) or on the
    slices alone (hoisted: its VJP runs on a block of steps), and under
    create_graph (the steps replayed on the tape), the error names 'sqrt'
    and the step's line -- as the loop's does."""
    rng = np.random.default_rng(8)
    h0, x = leaf(rng, 2, 3), leaf(rng, 4, 2, 3)

    def step(h, x_t):
        zero = (h - h) if where == "per step" else (x_t - x_t)
        h = mg.tanh(h + x_t) + mg.sqrt(zero)
        return h, h

    line = step.__code__.co_firstlineno + 2
    for unroll in (True, False):
        with pytest.raises(RuntimeError, match=rf"detect_anomaly.*'sqrt'.*test_scan\.py:{line} in step"):
            with mg.detect_anomaly():
                final, ys = mg.scan(step, h0, x, unroll=unroll)
                mg.grad(ys.sum() + final.sum(), [h0, x], create_graph=create_graph)


def test_every_call_of_a_program_computes_each_step_the_same_way():
    """x_t @ w is hoisted: one product on a block of steps' rows, which need not round like
    the product on one step's rows (here it does not). The first call replays its first step
    too, instead of taking the trace's values, so a kept program's later calls give bit for
    bit what the first gave -- and every step is computed the same way."""
    rng = np.random.default_rng(0)
    x, w, h0 = leaf(rng, 4, 3, 37), leaf(rng, 37), leaf(rng, 3)
    assert not np.array_equal((x.data.reshape(-1, 37) @ w.data)[:3], x.data[0] @ w.data)  # (the premise)

    def step(h, x_t, w):
        projected = x_t @ w
        return mg.tanh(h + projected), projected

    scan_module._programs.clear()
    calls = [mg.scan(step, h0, x, consts=w) for _ in range(3)]
    assert len(scan_module._programs._programs) == 1
    for final, ys in calls[1:]:
        np.testing.assert_array_equal(final.data, calls[0][0].data)
        np.testing.assert_array_equal(ys.data, calls[0][1].data)


class _Doubled(mg.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, g):
        return g * 2


_Doubled.__name__ = "doubled\nwith a newline"


def test_unusual_ops_in_a_kept_program():
    """unbind of an empty axis gives no pieces, and a user's op may have a newline in its
    name: their written-out lines (a kept program's second and later runs) must still be
    Python, and the values and gradients those of the loop."""
    rng = np.random.default_rng(4)
    h0, x = leaf(rng, 2, 3), leaf(rng, 4, 2, 3)
    u = leaf(rng, 3, 3)

    def step(h, x_t, u):
        assert mg.unbind(h[:, :0], 1) == ()
        h = mg.tanh(_Doubled.apply(h @ u) + x_t)
        return h, h

    scan_module._programs.clear()
    for _ in range(3):
        assert_same_as_the_loop(step, h0, x, [h0, x, u], consts=u)
    (program,) = scan_module._programs._programs.values()
    assert "# doubled with a newline" in program.sources["step"]


def test_detect_anomaly_in_an_instruction_run_once_per_call():
    """sqrt(w) made from consts runs once per call, its VJP once after the steps: an inf
    there (w = 0) is named with the step's line, in a first call and in a later one (a
    kept program, which would write its VJPs out without the checks)."""
    rng = np.random.default_rng(8)
    h0, x = leaf(rng, 2, 3), leaf(rng, 4, 2, 3)
    w = mg.tensor(np.array([0.0, 1.0, 2.0]), requires_grad=True)

    def step(h, x_t, w):
        h = mg.tanh(h * mg.sqrt(w) + x_t)
        return h, h

    line = step.__code__.co_firstlineno + 1
    scan_module._programs.clear()
    for _ in range(3):
        with pytest.raises(RuntimeError, match=rf"'sqrt'.*test_scan\.py:{line} in step\) in scan \(run once for all"):
            with mg.detect_anomaly():
                final, ys = mg.scan(step, h0, x, consts=w)
                mg.grad(ys.sum(), [w])


def test_detect_anomaly_in_a_weight_gradient_taken_on_many_steps_at_once():
    """w's gradient g·h is taken once per block, on the steps stacked: an inf
    in h0 where the mask drops it makes it NaN (0·inf), named like the loop's."""
    h0 = mg.tensor(np.array([[1.0, np.inf]]))
    w = mg.tensor(np.array([0.5, 0.5]), requires_grad=True)
    keep = mg.tensor(np.array([[True, False]]))
    x = mg.tensor(np.ones((3, 1, 2)))

    def step(h, x_t):
        h = mg.where(keep, h * w, 0.0) + x_t
        return h, h

    line = step.__code__.co_firstlineno + 1
    for unroll in (True, False):
        with pytest.raises(RuntimeError, match=rf"detect_anomaly.*'mul'.*test_scan\.py:{line} in step"):
            with mg.detect_anomaly():
                final, ys = mg.scan(step, h0, x, unroll=unroll)
                mg.grad(ys.sum(), [w])


# -- what only the loop can do: scan runs the loop ----------------------------------------------------

def test_shapes_that_depend_on_the_data_run_as_the_loop():
    """h[:, mask_t] picks a different number of columns each step."""
    rng = np.random.default_rng(9)
    h0, x = leaf(rng, 2, 4), leaf(rng, 5, 2, 4)
    masks = mg.tensor(rng.random((5, 4)) > 0.5)

    def step(h, inputs):
        x_t, mask = inputs
        h = mg.tanh(h + x_t * h[:, mask].sum(axis=-1, keepdims=True))
        return h, h

    assert_same_as_the_loop(step, h0, (x, masks), [h0, x])


def test_a_table_looked_up_by_a_mask_from_xs():
    """table[mask_t] picks as many rows as mask_t has True: never hoisted."""
    rng = np.random.default_rng(9)
    table, h0 = leaf(rng, 4, 3), leaf(rng, 3)
    masks = mg.tensor(np.array([[True, True, False, False], [False, True, True, False], [True, False, False, True],
                                [True, True, True, True], [False, False, False, False]]))

    def step(h, mask):
        h = mg.tanh(h + table[mask].sum(axis=0))
        return h, h

    assert_same_as_the_loop(step, h0, masks, [table, h0])


@pytest.mark.parametrize("reverse", [False, True])
def test_batched_products_on_the_slices(reverse):
    """(B, M, K) @ (B, K, N) slices, a constant matrix or vector on either
    side, and operands whose batch axes do not line up with the rows."""
    rng = np.random.default_rng(18)
    a, b, w, v, h0 = leaf(rng, 4, 2, 3, 2), leaf(rng, 4, 2, 2, 3), leaf(rng, 3, 3), leaf(rng, 2), leaf(rng, 2, 3, 3)
    c = leaf(rng, 4, 2, 2, 2, 3)

    def step(h, inputs):
        a_t, b_t, c_t = inputs  # (2, 3, 2), (2, 2, 3), (2, 2, 2, 3)
        products = a_t @ b_t + (w @ a_t) @ (b_t @ w) * 0.1 + (v @ b_t)[:, None, :] * (a_t @ v)[:, :, None]
        twisted = (a_t @ c_t).sum(axis=1)  # (B, M, K) @ (B, 2, K, N): a_t's rows meet c_t's second axis
        h = mg.tanh(h + products + twisted)
        return h, h

    assert_same_as_the_loop(step, h0, (a, b, c), [a, b, c, w, v, h0], reverse=reverse, block_rows=4)


def test_enable_grad_inside_a_step_under_no_grad_records_as_the_loop_does():
    """The loop records the step's ops (so the final carry requires grad), not the stacking of the ys."""
    rng = np.random.default_rng(10)
    h0, x, w = leaf(rng, 2, 3), leaf(rng, 4, 2, 3), leaf(rng, 3, 3)

    def step(h, x_t):
        with mg.enable_grad():
            h = mg.tanh(h @ w + x_t)
        return h, h

    with mg.no_grad():
        (final, ys), (final_loop, ys_loop) = mg.scan(step, h0, x), mg.scan(step, h0, x, unroll=True)
    assert final.requires_grad and not ys.requires_grad and not ys_loop.requires_grad
    np.testing.assert_allclose(mg.grad(final.sum(), [w])[0].data, mg.grad(final_loop.sum(), [w])[0].data)


# -- regressions -------------------------------------------------------------------------------------

def test_an_op_under_no_grad_inside_the_step_passes_no_gradient():
    rng = np.random.default_rng(11)
    h0, x, w = leaf(rng, 2, 3), leaf(rng, 4, 2, 3), leaf(rng, 3, 3)

    def step(h, x_t):
        with mg.no_grad():
            scale = mg.sigmoid(h @ w)
        h = mg.tanh(h * scale + x_t)
        return h, h

    assert_same_as_the_loop(step, h0, x, [h0, x, w])


@pytest.mark.parametrize("steps", [1, 2, 3])
def test_outputs_require_grad_exactly_when_the_loop_s_do(steps):
    """(a, b, c) -> (a·w, a, b): b needs grad from step 2 on, c from step 3;
    and the swap (p, q) -> (q, p) alternates."""
    rng = np.random.default_rng(12)
    w, a, b, c = leaf(rng, 2), mg.tensor(np.ones(2)), mg.tensor(np.ones(2)), mg.tensor(np.ones(2))
    assert_same_as_the_loop(lambda carry, _: ((carry[0] * w, carry[0], carry[1]), carry[2] * 1.0),
                            (a, b, c), length=steps, leaves=[w])
    p = leaf(rng, 2)
    assert_same_as_the_loop(lambda carry, _: ((carry[1] * 1.0, carry[0] * 2.0), carry[0] + 0.0),
                            (p, mg.tensor(np.ones(2))), length=steps, leaves=[p])


def test_an_in_place_change_of_a_closed_over_tensor_before_backward_is_caught():
    """The mask needs no gradient, but the backward uses it: like the loop, raise."""
    rng = np.random.default_rng(13)
    h0, x = leaf(rng, 2, 3), leaf(rng, 4, 2, 3)
    mask = mg.tensor(np.array([1.0, 0.0, 1.0]))

    def step(h, x_t):
        h = mg.tanh(h * mask + x_t)
        return h, h

    for unroll in (True, False):
        _, ys = mg.scan(step, h0, x, unroll=unroll)
        with mg.no_grad():
            mask += 1.0
        with pytest.raises(RuntimeError, match="changed in place"):
            ys.sum().backward()


@pytest.mark.parametrize("batch, width", [(0, 3), (2, 0)])
def test_empty_rows_and_empty_features(batch, width):
    rng = np.random.default_rng(14)
    h0, x, w = leaf(rng, batch, 3), leaf(rng, 4, batch, width), leaf(rng, width, 3)

    def step(h, x_t):
        h = mg.tanh(h + x_t @ w + x_t.sum(axis=-1, keepdims=True))
        return h, (h, x_t.reshape(batch, width))

    assert_same_as_the_loop(step, h0, x, [h0, x, w], block_rows=4)


def test_an_op_with_no_outputs_in_the_step():
    """unbind over an empty axis gives nothing; create_graph once failed on it."""
    rng = np.random.default_rng(15)
    h0, x = leaf(rng, 2, 3), leaf(rng, 4, 2, 3)

    def step(h, x_t):
        assert mg.unbind(x_t[:, :0], axis=1) == ()
        h = mg.tanh(h + x_t)
        return h, h

    assert_same_as_the_loop(step, h0, x, [h0, x])


@pytest.mark.parametrize("reverse", [False, True])
def test_hoisted_ops_whose_vjps_are_closures_run_block_by_block(monkeypatch, reverse):
    """An op on the slices alone whose VJP closes over what its forward
    worked out (max over the features, a lookup, a custom op) is hoisted: one
    call per block of BLOCK_ROWS rows, each block keeping its closures."""
    monkeypatch.setattr(scan_module, "BLOCK_ROWS", 6)  # 3 steps of 2 rows
    calls = []

    @primitive(rows=rows_elementwise)
    def scaled(x):
        calls.append(x.shape)
        factor = 1.5
        return x * factor, lambda g: g * factor

    rng = np.random.default_rng(16)
    h0, x = leaf(rng, 2, 3), leaf(rng, 7, 2, 4)

    def step(h, x_t):
        h = mg.tanh(h * scaled(x_t).max(axis=-1, keepdims=True) + x_t[:, 1:])
        return h, h

    mg.scan(step, h0, x, reverse=reverse)
    blocks = [(6, 4), (6, 4), (2, 4)]
    assert calls == [(2, 4)] + (blocks[::-1] if reverse else blocks)  # (the trace, then the blocks)
    assert_same_as_the_loop(step, h0, x, [h0, x], reverse=reverse, block_rows=6)


def test_the_minimal_gated_unit_of_the_docs():
    """What docs/writing-a-layer.md teaches, in float64, both directions."""

    class MGU(nn.Module):
        def __init__(self, input_size, hidden_size):
            super().__init__()
            self.inputs = nn.Linear(input_size, 2 * hidden_size)
            self.forget = nn.Linear(hidden_size, hidden_size, bias=False)
            self.candidate = nn.Linear(hidden_size, hidden_size, bias=False)

        def step(self, h, x):
            x_f, x_h = mg.split(self.inputs(x), self.forget.in_features, axis=-1)
            f = mg.sigmoid(x_f + self.forget(h))
            h = h + f * (mg.tanh(x_h + self.candidate(f * h)) - h)
            return h, h

    mgu = MGU(3, 4).to(np.float64)
    rng = np.random.default_rng(17)
    x, h0 = leaf(rng, 6, 2, 3), leaf(rng, 2, 4)
    for reverse in (False, True):
        assert_same_as_the_loop(mgu.step, h0, x, [x, h0, *mgu.parameters()], reverse=reverse, block_rows=4)


# -- random step programs: the differential test -------------------------------------------------
#
# A program is what hypothesis draws while the step runs once on plain
# tensors (the first slices): which op, on which values of a pool, with which
# axes, settings and closed-over weights. Every later call of the step replays
# those answers, so the fast path (which traces the step once) and the loop
# (which calls it T times) run the same program. The pool starts with the
# float leaves of the carry and of x; half of the ops work on values made
# from the slices alone (so that they can be hoisted).

MAX_SIZE = 48  # ops that grow a value skip values larger than this (each example stays cheap)
IDS = 2  # integer xs hold ids in [0, IDS): they index tables and any value with at least IDS rows


class StepProgram:
    """The answers of one random step program: drawn the first time, replayed after."""

    def __init__(self, data):
        self.data, self.answers, self.replaying, self.weights = data, [], None, None

    def replay(self, weights=None) -> "StepProgram":
        """The program again; with ``weights``, those in place of the weights drawn."""
        replay = StepProgram(None)
        replay.answers, replay.replaying = self.answers, iter(self.answers)
        replay.weights = None if weights is None else iter(weights)
        return replay

    def __call__(self, strategy):
        if self.replaying is not None:
            return next(self.replaying)
        value = self.data.draw(strategy)
        self.answers.append(value)
        return value

    def pick(self, values: list):
        return values[self(st.integers(0, len(values) - 1))]

    def weight(self, *shape):
        """A closed-over tensor (a weight) of ``shape``: made on the first run, the same tensor after
        (or the next of the replay's ``weights``)."""
        if self.replaying is not None:
            drawn = next(self.replaying)
            return drawn if self.weights is None else next(self.weights)
        seed, requires_grad = self.data.draw(st.integers(0, 2**16)), self.data.draw(st.integers(0, 3)) > 0
        tensor = mg.Tensor(np.random.default_rng(seed).standard_normal(shape) * 0.7, requires_grad=requires_grad)
        self.answers.append(tensor)
        return tensor

    def axis(self, ndim: int, extra: int = 0) -> int:
        """An axis of an ndim-dimensional value (of the result for extra = 1), negative half of the time."""
        return self(st.integers(-(ndim + extra), ndim + extra - 1))


class ScaledTanh(mg.Function):
    """y = tanh(scale·x), a custom op with a setting that saves its output."""

    @staticmethod
    def forward(ctx, x, *, scale):
        y = np.asarray(np.tanh(scale * x))  # (a 0-d x gives a NumPy scalar)
        ctx.save_for_backward(y)
        ctx.scale = scale
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * ctx.scale * (1 - y * y)


def _broadcasts(a: tuple, b: tuple) -> bool:
    try:
        np.broadcast_shapes(a, b)
        return True
    except ValueError:
        return False


def _unary(p, a, pool, ids):
    kind = p(st.sampled_from(["tanh", "sigmoid", "exp", "neg", "abs", "relu", "square", "log", "sqrt", "clip",
                              "scalar"]))
    if kind == "exp":
        return mg.exp(mg.tanh(a))
    if kind == "log":
        return mg.log(a * a + 1)
    if kind == "sqrt":
        return mg.sqrt(a * a + 0.5)
    if kind == "square":
        return a**2
    if kind == "clip":
        return mg.clip(a, -0.5, 0.7)
    if kind == "scalar":
        return 1.5 - a * 0.5 if p(st.booleans()) else a / 2.0
    return {"tanh": mg.tanh, "sigmoid": mg.sigmoid, "neg": mg.neg, "abs": mg.abs, "relu": mg.relu}[kind](a)


def _binary(p, a, pool, ids):
    partners = [v for v in pool if _broadcasts(a.shape, v.shape) and np.broadcast_shapes(a.shape, v.shape) == a.shape]
    if p(st.booleans()):  # a closed-over tensor that broadcasts against a
        b = p.weight(*a.shape[p(st.integers(0, a.ndim)):])
    else:
        b = p.pick(partners)
    kind = p(st.sampled_from(["add", "sub", "mul", "div", "maximum", "minimum", "addcmul", "pow"]))
    if kind == "div":
        return a / (b * b + 1)
    if kind == "addcmul":
        return mg.addcmul(a, b, mg.tanh(a))
    if kind == "pow":
        return (mg.sigmoid(a) + 0.5) ** mg.tanh(b)
    return {"add": mg.add, "sub": mg.sub, "mul": mg.mul, "maximum": mg.maximum, "minimum": mg.minimum}[kind](a, b)


def _where(p, a, pool, ids):
    kind = p(st.sampled_from(["leaky", "threshold", "compare", "logic"]))
    if kind == "leaky":  # mg.where(pre > 0, pre, 0.1 * pre)
        return mg.where(a > 0, a, 0.1 * a)
    if kind == "threshold":  # mg.where(h > 1.5, h * 0.0, h + x)
        return mg.where(a > 0.3, a * 0.0, a + 1)
    b = p.pick([v for v in pool if v.shape == a.shape])
    if kind == "compare":
        return mg.where(a >= b, a, b * 0.5)
    return mg.where(mg.logical_or(a < -0.2, mg.logical_not(b > 0.1)), mg.tanh(b), a)


def _matmul(p, a, pool, ids):
    if a.ndim == 0 or a.size > MAX_SIZE:
        return mg.tanh(a)
    kind = p(st.sampled_from(["weight", "vector", "left", "self", "addmm"]))
    if kind == "vector":
        return a @ p.weight(a.shape[-1])
    if kind == "left" and a.ndim >= 2:
        return p.weight(p(st.integers(1, 3)), a.shape[-2]) @ a
    if kind == "self" and a.ndim >= 2:
        return a @ a.swapaxes(-1, -2)
    if kind == "addmm" and a.ndim == 2:
        k = p(st.integers(1, 3))
        return mg.addmm(p.weight(k), a, p.weight(a.shape[-1], k))
    return a @ p.weight(a.shape[-1], p(st.integers(1, 3)))


def _cell(p, a, pool, ids):
    """A recurrent cell's pre-activation: addmm(projected slices, a, U) (with the projection hoisted)."""
    rows = [v for v in p.x_pool if v.ndim == 2 and a.ndim == 2 and v.shape[0] == a.shape[0] and v.size <= MAX_SIZE]
    if not rows:
        return mg.tanh(a)
    k = p(st.integers(1, 3))
    v = p.pick(rows)
    projected = mg.tanh(v @ p.weight(v.shape[1], k))
    if p(st.booleans()) or not a.shape[1]:  # (a column of a to scale needs one: a mask may have picked none)
        return mg.addmm(projected, a, p.weight(a.shape[1], k))
    return mg.addcmul(projected, a[:, :1], p.weight(k))


def _reduce(p, a, pool, ids):
    kind = p(st.sampled_from(["sum", "mean", "max", "min", "logsumexp"])) if a.size else "sum"  # (max of nothing)
    if a.ndim and p(st.booleans()):
        axis = p.axis(a.ndim)
        if a.ndim >= 2 and p(st.booleans()):
            other = (axis + p(st.integers(1, a.ndim - 1))) % a.ndim
            axis = (axis, other)
    else:
        axis = p(st.sampled_from([None, 0, -1])) if a.ndim == 0 else None
    return getattr(mg, kind)(a, axis=axis, keepdims=p(st.booleans()))


def _softmax(p, a, pool, ids):
    if a.ndim == 0 or a.size == 0:
        return mg.sigmoid(a)
    return (mg.softmax if p(st.booleans()) else mg.log_softmax)(a, p.axis(a.ndim))


def _reshape(p, a, pool, ids):
    kind = p(st.sampled_from(["flatten", "rows", "unsqueeze", "squeeze", "reverse"]))
    if kind == "flatten" or a.ndim == 0:
        return a.flatten()
    if kind == "rows":
        return a.reshape(a.shape[0], -1) if a.size else a.reshape(a.shape[0], 0)
    if kind == "unsqueeze":
        return mg.unsqueeze(a, p.axis(a.ndim, extra=1))
    if kind == "squeeze":
        return mg.squeeze(mg.unsqueeze(a, -1))
    return a.reshape(*reversed(a.shape))


def _transpose(p, a, pool, ids):
    if a.ndim < 2:
        return a * 1.0
    kind = p(st.sampled_from(["permute", "T", "swapaxes"]))
    if kind == "permute":
        axes = p(st.permutations(range(a.ndim)))
        return a.permute(*[ax - a.ndim if p(st.booleans()) else ax for ax in axes])
    if kind == "T":
        return a.T
    return a.swapaxes(-1, 0)


def _join(p, a, pool, ids):
    if a.size > MAX_SIZE:
        return mg.sigmoid(a)
    kind = p(st.sampled_from(["concat", "stack"]))
    if kind == "stack" or a.ndim == 0:
        return mg.stack([a, mg.tanh(a)], axis=p.axis(a.ndim, extra=1))
    axis = p.axis(a.ndim)
    others = [v for v in pool if v.ndim == a.ndim and
              builtins.all(n == m for k, (n, m) in enumerate(zip(v.shape, a.shape)) if k != axis % a.ndim)]
    return mg.concat([a, p.pick(others)], axis=axis)


def _take_apart(p, a, pool, ids):
    if a.ndim == 0:
        return [a * a]
    axis = p.axis(a.ndim)
    if p(st.booleans()):
        return list(mg.unbind(a, axis))
    n = a.shape[axis]
    first = p(st.integers(0, n))
    return list(mg.split(a, [first, n - first], axis=axis)) if p(st.booleans()) else \
        list(mg.split(a, p(st.integers(1, builtins.max(n, 1))), axis=axis))


def _stop(p, a, pool, ids):
    kind = p(st.sampled_from(["detach", "no_grad"]))
    if kind == "detach":
        return a.detach() * a
    with mg.no_grad():
        k = a * 2.0 + 1.0
    return k * a


def _in_place(p, a, pool, ids):
    """An in-place change of a value the step made (a new value in the trace, as in the graph)."""
    out = a * 1.0
    b = p.pick([v for v in pool if _broadcasts(a.shape, v.shape) and np.broadcast_shapes(a.shape, v.shape) == a.shape])
    kind = p(st.sampled_from(["add", "sub", "mul", "div"]))
    if kind == "add":
        out += b
    elif kind == "sub":
        out -= b
    elif kind == "mul":
        out *= b
    else:
        out /= b * b + 1
    return out


def _cast(p, a, pool, ids):
    kind = p(st.sampled_from(["float32", "bool", "int"]))
    if kind == "float32":
        return a.astype(np.float32).astype(np.float64)
    if kind == "bool":
        return (a > 0).astype(np.float64) * a
    return (a * 3).astype(np.int64).astype(np.float64) + a


def _index(p, a, pool, ids):
    if a.ndim == 0:
        return a * 2.0
    kind = p(st.sampled_from(["slice", "first", "last", "rows", "columns", "mask", "ellipsis"]))
    if kind == "slice":
        return a[p(st.integers(0, a.shape[0])):]
    if kind == "first":
        return a[0] if a.shape[0] else a.sum()
    if kind == "last":
        return a[-1] if a.shape[0] else a.sum()
    if kind == "rows" and a.shape[0]:
        n = a.shape[0]
        return a[[p(st.integers(-n, n - 1)) for _ in range(p(st.integers(1, 3)))]]  # repeated rows too
    if kind == "columns" and a.ndim >= 2 and a.shape[-1]:
        return a[:, [0, -1, 0]] if a.ndim == 2 else a[..., [0, -1, 0]]
    if kind == "mask":
        mask = np.array([p(st.booleans()) for _ in range(a.shape[-1])], dtype=bool)
        return a[..., mask] if a.ndim >= 2 else a[mask]
    return a[..., :1]


def _lookup(p, a, pool, ids):
    """Indexing with traced integer ids (a slice of an integer xs)."""
    if not ids:
        return mg.tanh(a)
    i = p.pick(ids)
    kind = p(st.sampled_from(["table", "embedding", "one_hot", "rows", "float"]))
    if kind == "rows" and a.ndim and a.shape[0] >= IDS:
        return a[i]
    if kind == "float":  # (with the integer counter of the carry, if there is one)
        f = (p.pick(ids + p.counters) * 0.1).astype(np.float64)  # (int times a Python float: the default dtype)
        return f.sum() * a + mg.where(f.max() > 0.5, a, -a)
    table = p.weight(IDS + p(st.integers(0, 2)), p(st.integers(1, 3)))
    if kind == "embedding":
        return mg.embedding(table, i)
    if kind == "one_hot":
        return mg.one_hot(i, table.shape[0], dtype=np.float64) @ table
    return table[i]


def _nested_scan(p, a, pool, ids):
    if a.ndim == 0 or a.shape[0] == 0:
        return mg.tanh(a)
    reverse = p(st.booleans())
    if p(st.booleans()):  # over a traced value: the inner loop records into the outer trace
        final, ys = mg.scan(lambda c, r: (mg.tanh(c * 0.5 + r), c * r), p.weight(*a.shape[1:]), a, reverse=reverse)
    else:  # over its own tensors, closing over a traced value: the inner scan falls back to its loop
        row = a[0]
        final, ys = mg.scan(lambda c, r: (mg.tanh(c * row + r), c + row), p.weight(*a.shape[1:]),
                            p.weight(2, *a.shape[1:]), reverse=reverse)
    return [final, ys]


def _function(p, a, pool, ids):
    return Cube.apply(mg.tanh(a)) if p(st.booleans()) else ScaledTanh.apply(a, scale=0.7)


OPS = [_unary, _binary, _where, _matmul, _cell, _reduce, _softmax, _reshape, _transpose, _join, _take_apart, _stop,
       _in_place, _cast, _index, _lookup, _nested_scan, _function]


def _refused(p, a):
    """Something a trace cannot replay faithfully (the loop runs it fine)."""
    kind = p(st.sampled_from(["item", "float", "if", "numpy", "asarray", "data", "tensor", "rand_like", "global"]))
    if kind == "item":
        return a.sum().item() * a
    if kind == "float":
        return float(a.sum()) * a
    if kind == "if":
        return a * 2 if a.sum() > 0 else a
    if kind == "numpy":
        return a.detach().numpy() * a
    if kind == "asarray":
        return np.asarray(a.detach()) * a
    if kind == "data":
        return a.data * a
    if kind == "tensor":
        return mg.tensor(a) * a
    if kind == "rand_like":
        return mg.rand_like(a) * a
    return mg.get_rng().random() * a  # a draw from minigrad's generator


def _rebuild(tree, leaves: list):
    if isinstance(tree, dict):
        return {key: _rebuild(tree[key], leaves) for key in tree}
    if isinstance(tree, (tuple, list)):
        return type(tree)(_rebuild(item, leaves) for item in tree)
    return None if tree is None else leaves.pop(0)


def _fit(p, value, like):
    """A new carry leaf shaped like the old one, from any value of the pool."""
    if value.shape != like.shape:
        value = value.mean() if value.size else value.sum()
        value = mg.broadcast_to(value, like.shape) if p(st.booleans()) else value + like * 0.0
    kind = p(st.sampled_from(["tanh", "mix", "keep"]))
    if kind == "keep":  # (the carry leaf as it came in)
        return like
    value = mg.tanh(value)
    return value * 0.8 + like * 0.2 if kind == "mix" else value


def random_step(p, carry, x, refuse: bool):
    """Ops drawn from the whole op set on a pool of values (the float leaves
    of carry and x first); the new carry and the ys are drawn from the pool."""
    carry_leaves, x_leaves = _leaves_of(carry), _leaves_of(x)
    ids = [v for v in x_leaves if v.dtype.kind in "iu"]
    x_pool = [v for v in x_leaves if v.dtype.kind == "f"]  # values that do not depend on the carry
    pool = [v for v in carry_leaves if v.dtype.kind == "f"] + x_pool or [p.weight(2)]
    p.x_pool, p.counters = x_pool, [v for v in carry_leaves if v.dtype.kind in "iu"]
    made = []  # what the ops make: most of it becomes a y, so that a wrong value shows
    count = p(st.integers(1, 8))
    for k in range(count):
        source = x_pool if x_pool and p(st.booleans()) else pool  # (chains on the slices alone: hoisting)
        out = p(st.sampled_from(OPS))(p, p.pick(source), source, ids)
        out = out if isinstance(out, list) else [out]
        pool.extend(out)
        made.extend(out)
        if source is x_pool:
            x_pool.extend(out)
        if refuse and k == count // 2:
            pool.append(_refused(p, p.pick(pool)))
    new = [leaf + 1 if leaf.dtype.kind in "iu" else _fit(p, p.pick(pool), leaf) for leaf in carry_leaves]
    ys = tuple(v for v in made if p(st.integers(0, 3))) + (tuple(ids[:1]) if p(st.booleans()) else ()) + \
        ((p.pick(pool),) if p(st.booleans()) else ())  # (a carry leaf or a slice, as it came in)
    return _rebuild(carry, new), ys


def random_loop(data) -> tuple:
    """T, a carry (a tensor, a tuple or a dict with an integer counter) and
    xs (float slices of shape (B, F), (F,) or (), integer ids of shape (B,)
    or (), or none: length=T), each leaf requiring grad or not, and reverse."""
    steps, batch = data.draw(st.integers(1, 5), "T"), data.draw(st.integers(1, 3), "B")
    hidden, features = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))

    def t(*shape):
        return mg.Tensor(rng.standard_normal(shape) * 0.7, requires_grad=data.draw(st.integers(0, 3)) > 0)

    h, extra = t(batch, hidden), data.draw(st.sampled_from([(hidden,), ()]))
    carry = data.draw(st.sampled_from([
        lambda: h, lambda: (h, t(*extra)), lambda: {"h": h, "rest": [t(*extra), mg.tensor(np.int64(0))]}]))()
    x_slice = data.draw(st.sampled_from([(batch, features), (batch, features), (features,), (), None]))
    id_slice = data.draw(st.sampled_from([(batch,), (), None]))
    xs = {}
    if x_slice is not None:
        xs["x"] = t(steps, *x_slice)
    if id_slice is not None:
        xs["ids"] = mg.tensor(rng.integers(0, IDS, (steps, *id_slice)))
    if xs and data.draw(st.booleans()):
        xs = tuple(xs.values())
    return steps, carry, xs or None, data.draw(st.booleans(), "reverse")


def check_a_random_program(data) -> None:
    """A random step program over a random loop: scan gives the loop's values,
    first and second derivatives -- or, for a program that reads a traced value
    or draws random numbers (one in eight), a TraceError naming the line."""
    steps, carry, xs, reverse = random_loop(data)
    refuse = data.draw(st.integers(0, 7)) == 0
    program = StepProgram(data)
    random_step(program, carry, None if xs is None else _rebuild(xs, [x[0] for x in _leaves_of(xs)]), refuse)

    def step(c, x):
        return random_step(program.replay(), c, x, refuse)

    leaves = [v for v in (*_leaves_of(carry), *_leaves_of(xs), *program.answers)
              if isinstance(v, mg.Tensor) and v.requires_grad]
    length = steps if xs is None else None
    if refuse:
        mg.manual_seed(0)
        try:
            got = mg.scan(step, carry, xs, length=length, reverse=reverse)
        except mg.TraceError as error:
            assert re.search(r"test_scan\.py:\d+", str(error)), str(error)
            got = None
        mg.manual_seed(0)
        want = mg.scan(step, carry, xs, length=length, reverse=reverse, unroll=True)
        if got is not None:  # (an op before the refused line, whose dtype a value decides, sent scan to the loop)
            for a, b in zip(_leaves_of(got), _leaves_of(want)):
                np.testing.assert_array_equal(a.data, b.data)
        return
    assert_same_as_the_loop(step, carry, xs, leaves, reverse=reverse, length=length,
                            block_rows=data.draw(st.sampled_from([1, 5, 1024]), "BLOCK_ROWS"),
                            seed=data.draw(st.integers(0, 2**16)))


def check_a_random_program_with_consts(data) -> None:
    """The weights of a random step program passed as scan's consts: scan
    gives the loop's values and derivatives, in a first call (traced) and in
    a second with other weights (the trace reused, when it could be kept),
    and the second call gives bit for bit what a fresh trace gives."""
    steps, carry, xs, reverse = random_loop(data)
    program = StepProgram(data)
    random_step(program, carry, None if xs is None else _rebuild(xs, [x[0] for x in _leaves_of(xs)]), False)
    weights = [a for a in program.answers if isinstance(a, mg.Tensor)]

    def step(c, x, consts):
        return random_step(program.replay(consts), c, x, False)

    length = steps if xs is None else None
    inputs = [v for v in (*_leaves_of(carry), *_leaves_of(xs)) if isinstance(v, mg.Tensor) and v.requires_grad]
    scan_module._programs.clear()
    for call in range(2):
        if call:  # other weights, the same shapes and flags
            weights = [mg.Tensor(w.data * 1.25 + 0.1, requires_grad=w.requires_grad) for w in weights]
        fast = assert_same_as_the_loop(step, carry, xs, inputs + [w for w in weights if w.requires_grad],
                                       reverse=reverse, length=length, consts=weights)
    scan_module._programs.clear()
    fresh = mg.scan(step, carry, xs, length=length, reverse=reverse, consts=weights)
    for got, want in zip(_leaves_of(fast), _leaves_of(fresh)):
        np.testing.assert_array_equal(got.data, want.data)


@settings(max_examples=4 * settings.default.max_examples)  # (each example takes a few ms)
@given(data=st.data())
def test_random_step_programs_with_consts_equal_the_loop(data):
    check_a_random_program_with_consts(data)


@settings(max_examples=4 * settings.default.max_examples)  # (each example takes a few ms)
@given(data=st.data())
def test_random_step_programs_equal_the_loop(data):
    check_a_random_program(data)


@pytest.mark.slow
@settings(max_examples=2000)
@given(data=st.data())
def test_many_random_step_programs_equal_the_loop(data):
    check_a_random_program(data)


@pytest.mark.slow
@settings(max_examples=1000)
@given(data=st.data())
def test_many_random_step_programs_with_consts_equal_the_loop(data):
    check_a_random_program_with_consts(data)


# -- consts: a trace reused across calls --------------------------------------------------------------

def _tanh_cell(h, x, consts):
    w, u = consts["w"], consts["u"]
    h = mg.tanh(mg.addmm(x @ w, h, u))
    return h, h


def test_consts_reach_the_step_and_a_second_call_reuses_the_trace(monkeypatch):
    rng = np.random.default_rng(0)
    h0, x = leaf(rng, 2, 3), leaf(rng, 5, 2, 4)
    consts = {"w": leaf(rng, 4, 3), "u": leaf(rng, 3, 3)}
    scan_module._programs.clear()
    assert_same_as_the_loop(_tanh_cell, h0, x, [h0, x, *consts.values()], consts=consts)
    traced, trace = [], scan_module.trace
    monkeypatch.setattr(scan_module, "trace", lambda *args, **kw: traced.append(1) or trace(*args, **kw))
    other = {"w": leaf(rng, 4, 3), "u": leaf(rng, 3, 3)}  # new tensors, the same shapes: no new trace
    assert_same_as_the_loop(_tanh_cell, h0, x, [h0, x, *other.values()], consts=other)
    assert traced == []
    assert_same_as_the_loop(_tanh_cell, leaf(rng, 1, 3), x[:, :1], consts=other)  # another batch: a new trace
    assert traced == [1]


def _gated_cell(c, x, consts):
    """Multi-output ops (split), an op with one VJP for all inputs (concat), settings, a
    batched weight (addmm), a weight read by an elementwise op and one made once per call
    (the transpose): every kind of backward line."""
    w, u_t, gain = consts
    a, b = mg.split(mg.addmm(x @ w, c, u_t.T), [3, 3], axis=-1)
    c = mg.sigmoid(a) * c + mg.tanh(b) * gain
    return c, mg.concat([c, a], axis=-1).sum(axis=-1)


def test_a_kept_programs_written_out_backward_equals_the_interpreted_one():
    """A program's first run interprets its instructions' backward (per step and run once),
    later runs run it written out: the same gradients, bit for bit, with sources that name
    the ops."""
    rng = np.random.default_rng(3)
    c0, x = leaf(rng, 2, 3), leaf(rng, 5, 2, 4)
    consts = [leaf(rng, 4, 6), leaf(rng, 6, 3), leaf(rng, 3)]
    scan_module._programs.clear()
    grads = []
    for _ in range(3):
        carry, ys = mg.scan(_gated_cell, c0, x, consts=consts)
        grads.append(mg.grad((carry * 1.5).sum() + (ys ** 2).sum(), [c0, x, *consts]))
    (program,) = [p for p in scan_module._programs._programs.values()]
    source = program.sources["step backward"]
    assert "split" in source and "concat" in source and "transpose" in program.sources["once backward"]
    for first, *written in zip(*grads):
        for again in written:
            np.testing.assert_array_equal(first.data, again.data)


def test_a_step_that_also_closes_over_a_tensor_is_not_kept():
    """The next call may close over another tensor: the trace is not reused, so it is never stale."""
    rng = np.random.default_rng(1)
    h0, x, u = leaf(rng, 2, 3), leaf(rng, 4, 2, 3), leaf(rng, 3, 3)
    scan_module._programs.clear()
    for bias in (leaf(rng, 3), leaf(rng, 3)):
        def step(h, x_t, consts):
            h = mg.tanh(h @ consts + x_t + bias)
            return h, h

        assert_same_as_the_loop(step, h0, x, [h0, x, u, bias], consts=u)
    assert len(scan_module._programs._programs) == 0


def test_a_kept_trace_follows_requires_grad_and_the_number_of_steps():
    """A zero carry that needs no grad gets it after one step; T = 1 and T = 4,
    weights frozen or not, each give the loop's outputs, flags and gradients."""
    rng = np.random.default_rng(2)
    scan_module._programs.clear()
    for steps, frozen in [(4, False), (1, False), (4, True), (3, False), (1, True)]:
        h0, x = mg.tensor(np.zeros((2, 3))), leaf(rng, steps, 2, 4)
        consts = {"w": leaf(rng, 4, 3), "u": leaf(rng, 3, 3)}
        if frozen:
            consts = {k: v.detach() for k, v in consts.items()}
        leaves = [x] if frozen else [x, *consts.values()]
        final, ys = assert_same_as_the_loop(_tanh_cell, h0, x, leaves, consts=consts)
        assert final.requires_grad and ys.requires_grad  # (x requires grad)


def test_the_kept_traces_are_bounded():
    rng = np.random.default_rng(3)
    scan_module._programs.clear()
    for batch in range(1, scan_module._ProgramCache.SIZE + 10):
        mg.scan(_tanh_cell, leaf(rng, batch, 2), leaf(rng, 2, batch, 2),
                consts={"w": leaf(rng, 2, 2), "u": leaf(rng, 2, 2)})
    assert len(scan_module._programs._programs) == scan_module._ProgramCache.SIZE


def test_consts_must_be_a_tree_of_tensors():
    with pytest.raises(TypeError, match="scan: consts must be a Tensor or tuples, lists and dicts of Tensors"):
        mg.scan(_tanh_cell, mg.zeros(2, 3), mg.zeros(4, 2, 4), consts={"w": 3.0})


@pytest.mark.parametrize("where", ["per step", "run once"])
def test_a_lookup_by_a_mask_from_consts_that_changes_between_calls(where):
    """A kept program meets another mask of the same shape: the lookup picks
    another number of entries (a single pick was broadcast silently into the
    traced three), so the call runs as the loop does."""
    rng = np.random.default_rng(5)
    h0, x, w = leaf(rng, 2, 3), leaf(rng, 4, 2, 3), leaf(rng, 3, 3)

    def step(h, x_t, consts):
        mask = consts["mask"]
        picked = h[:, mask] if where == "per step" else consts["w"][mask] * 1.0
        h = mg.tanh(h @ consts["w"] + x_t + picked.sum())
        return h, picked

    scan_module._programs.clear()
    for picks in ([0, 1, 2], [0, 1, 2], [2], [2], [], [0, 1]):
        mask = mg.tensor(np.isin(np.arange(3), picks))
        final, ys = assert_same_as_the_loop(step, h0, x, [h0, x, w], consts={"mask": mask, "w": w})
        assert ys.shape == ((4, 2, len(picks)) if where == "per step" else (4, len(picks), 3))


def test_a_step_looking_up_by_a_list_or_an_array_is_kept(monkeypatch):
    """h[:, [0, 2]] and h[:, mask]: index arrays the step makes or reads are
    constants (the step was traced at every call when they became tensors);
    a NumPy mask the step reads and that changes in place between calls
    picks another number of columns, and the call runs as the loop does."""
    rng = np.random.default_rng(7)
    mask = np.array([True, False, True])

    def step(h, x_t, w):
        h = mg.tanh(h @ w + x_t)
        return h, (mg.concat([h[:, [0, 2]], h[:, np.array([1])]], axis=-1), h[:, mask])

    scan_module._programs.clear()
    traced, trace = [], scan_module.trace
    monkeypatch.setattr(scan_module, "trace", lambda *args, **kw: traced.append(1) or trace(*args, **kw))
    h0, w = leaf(rng, 2, 3), leaf(rng, 3, 3)
    for picks in ([0, 2], [0, 2], [1], [1]):
        mask[:] = np.isin(np.arange(3), picks)
        x = leaf(rng, 4, 2, 3)
        _, ys = assert_same_as_the_loop(step, h0, x, [h0, x, w], consts=w)
        assert [y.shape for y in ys] == [(4, 2, 3), (4, 2, len(picks))]
    assert len(traced) == 1  # (once the mask changed, the kept program saw the shape change and the loop ran)


def test_a_numpy_array_in_consts_is_a_constant_tensor_in_the_loop_too():
    """int array / 3 is the default float dtype for a Tensor, float64 for NumPy:
    the loop's step got the bare array, the traced one a Tensor (1e-8 apart)."""
    rng = np.random.default_rng(8)
    h0, x = leaf(rng, 2, 3), leaf(rng, 4, 2, 3)
    consts = {"u": leaf(rng, 3, 3), "k": np.array([1, 2, 4])}

    def step(h, x_t, c):
        h = mg.tanh(h @ c["u"] + x_t * (c["k"] / 3))
        return h, h

    assert_same_as_the_loop(step, h0, x, [h0, x, consts["u"]], consts=consts)


def test_a_kept_trace_is_not_used_for_fewer_steps_than_its_flags_took_to_settle():
    """(a, b) -> (b, tanh(x w)): the carry needs no grad at first, b after one
    step, a after two: the final a needs grad from T = 2 on, the ys from T = 3."""
    def step(carry, x_t, w):
        a, b = carry
        return (b, mg.tanh(x_t @ w)), a

    rng = np.random.default_rng(4)
    scan_module._programs.clear()
    carry = (mg.tensor(np.zeros((2, 3))), mg.tensor(np.zeros((2, 3))))
    w = leaf(rng, 4, 3)
    for steps in (4, 1, 2, 3, 1, 2, 5, 3):
        x = mg.tensor(rng.standard_normal((steps, 2, 4)))
        (a, b), ys = assert_same_as_the_loop(step, carry, x, [w], consts=w)
        assert (a.requires_grad, b.requires_grad, ys.requires_grad) == (steps >= 2, True, steps >= 3)


def test_a_program_whose_flags_had_not_settled_is_kept_for_its_number_of_steps(monkeypatch):
    """A zero h0 needs no grad, h after one step does: a program traced on
    one step holds for one step only, and is kept for that (a layer called
    on T = 1 again and again is not traced at every call)."""
    rng = np.random.default_rng(6)
    scan_module._programs.clear()
    traced, trace = [], scan_module.trace
    monkeypatch.setattr(scan_module, "trace", lambda *args, **kw: traced.append(1) or trace(*args, **kw))
    h0, consts = mg.tensor(np.zeros((2, 3))), {"w": leaf(rng, 4, 3), "u": leaf(rng, 3, 3)}
    for steps in (1, 1, 4, 1, 4, 2):
        x = leaf(rng, steps, 2, 4)
        assert_same_as_the_loop(_tanh_cell, h0, x, [x, *consts.values()], consts=consts)
    assert len(traced) == 2  # T = 1, then T >= 2 (the flags settle after one step)


def test_explain_shows_what_runs_once_per_call():
    """A weight's transpose made from consts runs once per call; the product with the carry per step."""
    def step(h, x_t, w):
        h = mg.tanh(h @ w.T + x_t)
        return h, h

    rng = np.random.default_rng(6)
    text = scan_module.explain(step, leaf(rng, 2, 3), leaf(rng, 4, 2, 3), consts=leaf(rng, 3, 3))
    assert "transpose(2) -> 3                    once per call" in text
    assert "matmul(0, 3) -> 4                    per step; gradient of 3 per block" in text


# -- what the step reads from outside, and what it changes in place --------------------------------

@pytest.mark.parametrize("kept", [False, True], ids=["traced at the call", "kept program"])
def test_a_numpy_array_the_step_reads_is_the_forwards_in_every_later_backward(kept):
    """Arrays changed after the forward: a second backward (retain_graph)
    replays the forward, a create_graph backward replays the step on the
    tape; both read the arrays as the forward did, as the loop's ops keep
    what they saved (they read the changed ones: ``scale``, which mul saves,
    and ``offset``, which no VJP saves but the replayed tanh reads)."""
    scale, offset = np.array([1.0, 2.0]), np.array([0.5, -0.5])

    def step(h, x_t, w):
        h = mg.tanh(h @ w + x_t + offset) * scale
        return h, h

    rng = np.random.default_rng(0)
    w, x, h0 = leaf(rng, 2, 2), leaf(rng, 3, 1, 2), mg.tensor(np.zeros((1, 2)))

    def gradients(unroll: bool) -> list:
        scale[:], offset[:] = [1.0, 2.0], [0.5, -0.5]
        if kept:
            h, ys = mg.scan(step, h0, x, consts=w, unroll=unroll)
        else:
            h, ys = mg.scan(lambda h, x_t: step(h, x_t, w), h0, x, unroll=unroll)
        loss = (h * h).sum() + ys.sum()
        first = mg.grad(loss, [w, x], retain_graph=True)
        scale[:], offset[:] = 3.0, 7.0
        again = mg.grad(loss, [w, x], retain_graph=True)
        graphs = mg.grad(loss, [w, x], create_graph=True)
        second = mg.grad(sum((g * g).sum() for g in graphs), [w, x])
        return [g.data for g in (*first, *again, *graphs, *second)]

    want = gradients(unroll=True)
    for again, first in zip(want[2:4], want[:2]):  # (the loop: as before the change)
        np.testing.assert_allclose(again, first, rtol=1e-12)
    scan_module._programs.clear()
    for _ in range(3 if kept else 1):  # a kept program: its first run, then written out
        for got, wanted in zip(gradients(unroll=False), want):
            np.testing.assert_allclose(got, wanted, rtol=1e-10, atol=1e-12)


def test_a_numpy_array_in_an_ops_settings_is_the_forwards_in_every_later_backward_and_seen_at_every_call():
    """mg.clip(h + x_t, low=low) with a NumPy array ``low``: a second
    backward (retain_graph) replays the forward, and read the caller's array
    refilled after the forward (the instruction kept the settings by
    reference; positional arrays were copied per call already); a program
    kept for calls with consts must still see the array changed in place,
    or replaced, between calls."""
    bounds = {"low": np.zeros(2)}

    def step(h, x_t, w):
        h = mg.clip(h @ w + x_t, low=bounds["low"])
        return h, h

    rng = np.random.default_rng(0)
    w, x, h0 = leaf(rng, 2, 2), leaf(rng, 3, 1, 2), mg.tensor(np.zeros((1, 2)))

    def gradients(unroll: bool, kept: bool) -> list:
        bounds["low"][:] = 0.0
        if kept:
            _, ys = mg.scan(step, h0, x, consts=w, unroll=unroll)
        else:
            _, ys = mg.scan(lambda h, x_t: step(h, x_t, w), h0, x, unroll=unroll)
        loss = (ys * ys).sum()
        first = mg.grad(loss, [w, x], retain_graph=True)
        bounds["low"][:] = -10.0  # (the caller refills its array after the forward)
        again = mg.grad(loss, [w, x], retain_graph=True)
        graphs = mg.grad(loss, [w, x], create_graph=True)
        return [g.data for g in (*first, *again, *graphs)]

    scan_module._programs.clear()
    for kept in (False, True):
        want = gradients(unroll=True, kept=kept)
        for again, first in zip(want[2:4], want[:2]):  # (the loop: as before the change)
            np.testing.assert_array_equal(again, first)
        for got, wanted in zip(gradients(unroll=False, kept=kept), want):
            np.testing.assert_allclose(got, wanted, rtol=1e-12)
    for low in ([0.0, 0.0], [-0.3, 0.1], [0.2, -1.0]):  # between calls: changed in place, then replaced
        bounds["low"][:] = low
        assert_same_as_the_loop(step, h0, x, [w, x], consts=w)
        bounds["low"] = np.array(low) + 0.05
        assert_same_as_the_loop(step, h0, x, [w, x], consts=w)


@pytest.mark.parametrize("unroll", [False, True], ids=["scan", "the loop"])
@pytest.mark.parametrize("given", ["xs", "init", "consts"])
def test_numpy_arrays_given_to_scan_are_the_forwards_in_the_backward(given, unroll):
    """xs, init or consts given as a NumPy array that the caller refills
    after the forward: the gradient is the one at the array the forward
    read, as when the ops get it (they copy what they save; scan and its
    loop kept the caller's array)."""
    rng = np.random.default_rng(0)
    w = leaf(rng, 2, 2)
    arrays = {"xs": rng.standard_normal((3, 1, 2)), "init": rng.standard_normal((1, 2)),
              "consts": rng.standard_normal(2)}

    def step(h, x_t, c):
        h = mg.tanh(h @ w) * x_t * c + x_t
        return h, h

    def gradient(trees: dict, refill: bool) -> np.ndarray:
        h, ys = mg.scan(step, trees["init"], trees["xs"], consts=trees["consts"], unroll=unroll)
        if refill:
            arrays[given][...] = 5.0
        return mg.grad((h * h).sum() + ys.sum(), [w])[0].data

    want = gradient({k: mg.tensor(a) for k, a in arrays.items()}, refill=False)
    got = gradient({k: a if k == given else mg.tensor(a) for k, a in arrays.items()}, refill=True)
    np.testing.assert_allclose(got, want, rtol=1e-12)


def _counts_in_place(carry, x_t, c):
    i, h = carry
    i += 1  # an int counter (needs no grad: the loop changes the caller's init, and every y is it)
    return (i, h), i * 1


def _adds_to_the_carry_in_place(carry, x_t, c):
    i, h = carry
    h += x_t
    return (i, h), h


def _scales_the_slice_in_place(carry, x_t, c):
    i, h = carry
    x_t *= 2.0
    return (i, h + x_t), x_t


def _changes_a_const_in_place(carry, x_t, c):
    i, h = carry
    c -= 0.5
    return (i, h * c), c


def _changes_a_view_of_the_carry_in_place(carry, x_t, c):
    h = carry[1].reshape(1, 2)
    h /= 2.0
    return carry, h[0]


def _changes_a_detached_carry_in_place(carry, x_t, c):
    i, h = carry[0], carry[1].detach()  # (which shares the carry's data in the loop)
    h += x_t
    return (i, h), h


CHANGES_OF_INPUTS = [_counts_in_place, _adds_to_the_carry_in_place, _scales_the_slice_in_place,
                     _changes_a_const_in_place, _changes_a_view_of_the_carry_in_place,
                     _changes_a_detached_carry_in_place]


@pytest.mark.parametrize("step", CHANGES_OF_INPUTS, ids=[f.__name__ for f in CHANGES_OF_INPUTS])
def test_a_step_changing_its_inputs_in_place_is_a_trace_error_naming_the_line(step):
    """The loop changes the caller's tensors (and every y that holds them);
    a replay cannot: a TraceError at the line, saying what to write instead
    (scan once replayed the change as a new value: not the loop's answer)."""
    carry = (mg.tensor(np.array(0)), mg.tensor(np.zeros(2)))
    x, c = mg.tensor(np.arange(6.0).reshape(3, 2)), mg.tensor(np.ones(2))
    line = step.__code__.co_firstlineno + 2
    with pytest.raises(mg.TraceError, match=rf"test_scan\.py:{line} .*changes an input.*i = i \+ 1"):
        mg.scan(step, carry, x, consts=c)


def _adds_to_the_carry(h, x_t, c):
    h += x_t
    return h, h * 1.0


def _scales_the_slice(h, x_t, c):
    x_t *= c
    return h + x_t, x_t


def _scales_a_view_of_the_carry(h, x_t, c):
    v = h.reshape(-1)
    v *= c.sum()
    return h * 1.0, mg.tanh(v) + x_t.sum()


def _adds_to_a_detached_carry(h, x_t, c):
    d = h.detach()
    d += x_t
    return h + d * c, d


def _changes_a_const(h, x_t, c):
    c -= x_t.sum(0)
    return h + c, c


IN_GRAPH_CHANGES_OF_INPUTS = {  # step: the inputs that require grad, enough for += to be functional at every step
    _adds_to_the_carry: ["xs"], _scales_the_slice: ["xs"], _scales_a_view_of_the_carry: ["c"],
    _adds_to_a_detached_carry: ["xs"], _changes_a_const: ["xs"],
}


@pytest.mark.parametrize("step", IN_GRAPH_CHANGES_OF_INPUTS, ids=[f.__name__ for f in IN_GRAPH_CHANGES_OF_INPUTS])
def test_changing_an_input_in_place_in_the_graph_at_every_step_is_the_loops_new_tensor(step):
    """h += x_t with x_t requiring grad: in the graph, the loop's += makes a
    new tensor at every step and never touches the caller's, so scan gives
    the loop's values and gradients (it raised 'changes an input'); with
    nothing requiring grad, or grad mode off, it is the TraceError."""
    rng = np.random.default_rng(0)
    arrays = {"h0": rng.standard_normal((2, 3)), "xs": rng.standard_normal((4, 2, 3)), "c": rng.standard_normal(3)}
    tensors = {k: mg.tensor(a, requires_grad=k in IN_GRAPH_CHANGES_OF_INPUTS[step]) for k, a in arrays.items()}
    wanted = [t for t in tensors.values() if t.requires_grad]
    assert_same_as_the_loop(step, tensors["h0"], tensors["xs"], wanted, consts=tensors["c"])
    for k, a in arrays.items():  # the caller's tensors are as they were
        np.testing.assert_array_equal(tensors[k].data, a)
    plain = {k: mg.tensor(a) for k, a in arrays.items()}
    line = step.__code__.co_firstlineno + (2 if step in (_scales_a_view_of_the_carry, _adds_to_a_detached_carry)
                                           else 1)
    for grad_mode, inputs in ((True, plain), (False, tensors)):
        with mg.set_grad_enabled(grad_mode), pytest.raises(mg.TraceError, match=rf"test_scan\.py:{line} "
                                                                                 r".*changes an input"):
            mg.scan(step, inputs["h0"], inputs["xs"], consts=inputs["c"])


def test_changing_an_input_in_place_is_checked_at_every_step_of_the_loop():
    """Whether x += y makes a new tensor can change from step to step: the
    carry (a, b) -> (b, a + x) needs grad in a after one step if only a
    starts requiring grad, and the second step would change the caller's b;
    h += x_t; h = h @ w changes the caller's h0 in the first step only. A
    leaf that requires grad (h0 itself) is the loop's error, as in the loop."""
    rng = np.random.default_rng(1)
    x, w = mg.tensor(rng.standard_normal((3, 2))), leaf(rng, 2, 2)

    def swaps(carry, x_t):
        a, b = carry
        a += x_t
        return (b, a), a

    def then_multiplies(h, x_t):
        h += x_t
        return h @ w, h

    a0, b0 = mg.tensor(np.ones(2), requires_grad=True) * 1.0, mg.tensor(np.ones(2))
    with pytest.raises(mg.TraceError, match=rf"test_scan\.py:{swaps.__code__.co_firstlineno + 2} .*changes an input"):
        mg.scan(swaps, (a0, b0), x)
    assert_same_as_the_loop(swaps, (a0, b0 * a0), x, [a0])  # (both need grad at every step)
    with pytest.raises(mg.TraceError, match=rf"test_scan\.py:{then_multiplies.__code__.co_firstlineno + 1} "):
        mg.scan(then_multiplies, mg.tensor(np.zeros(2)), x)
    h0 = mg.tensor(np.zeros(2), requires_grad=True)
    for unroll in (True, False):
        with pytest.raises(RuntimeError, match="in-place update of a leaf that requires grad"):
            mg.scan(then_multiplies, h0, x, unroll=unroll)
    np.testing.assert_array_equal(b0.data, [1.0, 1.0])
    np.testing.assert_array_equal(h0.data, [0.0, 0.0])


def test_a_step_changing_a_closed_over_tensor_in_place_is_a_trace_error():
    """The loop changes it at every step, a replay never: a TraceError at the line."""
    count, x = mg.tensor(np.zeros(1)), mg.tensor(np.ones((3, 2)))

    def counts(h, x_t):
        nonlocal count
        count += 1
        return h + x_t * count, h

    def assigns(h, x_t):
        count.data = count.data + 1
        return h + x_t * count, h

    for step, line in ((counts, counts.__code__.co_firstlineno + 2), (assigns, assigns.__code__.co_firstlineno + 1)):
        with pytest.raises(mg.TraceError, match=rf"test_scan\.py:{line} .*in place"):
            mg.scan(step, mg.tensor(np.zeros(2)), x)
    assert count.item() == 0


def test_a_step_changing_a_tensor_it_makes_from_constants_is_a_trace_error():
    """A tensor made from constants in the step -- afresh at every step, or once
    and kept (state the loop changes at every step and a replay never) -- looks
    the same to a trace: both are refused, saying so, never replayed wrongly."""
    x = mg.tensor(np.ones((3, 2)))

    def fresh(h, x_t):
        buffer = mg.zeros(2)
        with mg.no_grad():
            buffer += 1
        return h + x_t * buffer, h

    kept = {}

    def lazily_kept(h, x_t):
        if "total" not in kept:
            kept["total"] = mg.zeros(2)
        kept["total"] += 1  # (the loop counts 1, 2, 3; a replay would add 1 at every step)
        return h + x_t * kept["total"], h

    for step in (fresh, lazily_kept):
        with pytest.raises(mg.TraceError, match="makes from constants"):
            mg.scan(step, mg.tensor(np.zeros(2)), x)
    kept.clear()
    carry, _ = mg.scan(lazily_kept, mg.tensor(np.zeros(2)), x, unroll=True)
    np.testing.assert_array_equal(carry.data, [6, 6])


def _writes_into_data(w, h, x_t):
    w.data -= 0.5  # (the getter's array, changed in place, then the setter)
    return h + w * x_t, h


def _writes_into_a_slice_of_data(w, h, x_t):
    w.data[...] += 1
    return h + w * x_t, h


def _writes_out_into_numpy(w, h, x_t):
    np.add(w.numpy(), 1, out=w.numpy())
    return h + w * x_t, h


WRITES_INTO_ARRAYS = [_writes_into_data, _writes_into_a_slice_of_data, _writes_out_into_numpy]


@pytest.mark.parametrize("write", WRITES_INTO_ARRAYS, ids=[f.__name__ for f in WRITES_INTO_ARRAYS])
def test_a_step_writing_into_the_array_of_a_closed_over_tensor_is_a_trace_error_changing_nothing(write):
    """w.data -= 0.5 inside a step: the array a value read hands out while
    a step is traced is read-only, so the write fails at the line and w is
    unchanged (the .data setter refused it only after NumPy had changed w,
    unseen by the version check: an earlier graph that saved w then gave the
    wrong gradient; the other writes went through, once, where the loop
    makes them at every step)."""
    w = mg.tensor(np.array([1.0, 1.0]))
    a = mg.tensor(np.array([3.0, 3.0]), requires_grad=True)
    saved = (a * w).sum()  # (mul saves w)
    line = write.__code__.co_firstlineno + 1
    with pytest.raises(mg.TraceError, match=rf"test_scan\.py:{line} .*read-only.*unroll=True"):
        mg.scan(lambda h, x_t: write(w, h, x_t), mg.tensor(np.zeros(2)), mg.tensor(np.ones((3, 2))))
    np.testing.assert_array_equal(w.data, [1.0, 1.0])
    saved.backward()
    np.testing.assert_array_equal(a.grad.data, [1.0, 1.0])


@pytest.mark.parametrize("grad", [False, True])
def test_in_place_changes_of_the_steps_own_values_are_new_values(grad):
    """h = h * 1.0; h += x_t: the loop changes a tensor the step made (or,
    in the graph, makes a new one), which a replay can do."""
    rng = np.random.default_rng(0)
    h0, x, w = mg.tensor(rng.standard_normal((2, 3)), requires_grad=grad), leaf(rng, 4, 2, 3), leaf(rng, 3, 3)

    def step(h, x_t):
        h = h @ w
        h *= 0.5
        h += x_t
        h = mg.tanh(h)
        return h, h

    assert_same_as_the_loop(step, h0, x, [x, w, h0] if grad else [x, w])
    with mg.no_grad():  # (the loop changes them in place)
        np.testing.assert_allclose(mg.scan(step, h0, x)[1].data, mg.scan(step, h0, x, unroll=True)[1].data,
                                   rtol=1e-12)


@pytest.mark.parametrize("other", ["float64", "wider"])
def test_an_in_place_change_that_changes_the_dtype_or_shape_is_a_trace_error(other):
    """h32 += x64 keeps float32 outside the graph and makes float64 inside it
    (h += a wider value fails outside): the trace cannot tell which."""
    h0 = mg.tensor(np.zeros((1, 2), np.float32))
    x = mg.tensor(np.ones((3, 1, 2)) if other == "float64" else np.ones((3, 2, 2), np.float32))

    def step(h, x_t):
        h = h * 1.0
        h += x_t
        return h[:1], h

    with pytest.raises(mg.TraceError, match=r"in-place add at .*test_scan\.py.*(float64|shape \(2, 2\))"):
        mg.scan(step, h0, x)


@pytest.mark.parametrize("other_name", ["the same tensor", "a view"])
def test_reading_a_value_changed_in_place_through_another_name_is_a_trace_error(other_name):
    """y = h; h += x_t: in the loop y is the changed h (or, in the graph, the
    old one); a replay keeps one of them, so reading y is a TraceError."""
    def step(h, x_t):
        h = h * 1.0
        y, v = h, h[0]
        h += x_t
        return h, y if other_name == "the same tensor" else v * 2

    with pytest.raises(mg.TraceError, match="changed in place"):
        mg.scan(step, mg.tensor(np.zeros((2, 2))), mg.tensor(np.ones((3, 2, 2))))


@pytest.mark.parametrize("source", ["the slice", "a number", "an array", "a closed-over tensor"])
def test_copy_into_a_value_the_step_made_is_the_loops(source):
    """h = h * 1.0; h.copy_(...): every name for h sees the copy, as in the
    loop (scan crashed: '_Unread' object has no attribute 'flags')."""
    other = {"a number": 2.0, "an array": np.array([1.0, -1.0]), "a closed-over tensor": mg.tensor([3.0, 4.0])}

    def step(h, x_t):
        h = h * 1.0
        y = h
        h.copy_(x_t if source == "the slice" else other[source])
        return h * 2.0, y

    h0, x = mg.tensor(np.zeros(2)), mg.tensor(np.arange(6.0).reshape(3, 2))
    for kept in (False, True):  # (grad mode off, and on with nothing that requires grad)
        with mg.set_grad_enabled(kept):
            loop, fast = mg.scan(step, h0, x, unroll=True), mg.scan(step, h0, x)
        for got, want in zip(fast, loop):
            np.testing.assert_array_equal(got.data, want.data)


@pytest.mark.parametrize("change", ["+=", "*=", "copy_"])
def test_an_in_place_change_under_no_grad_inside_a_step_keeps_the_gradient_as_the_loop_does(change):
    """h = c * 0.5 + x_t, then under mg.no_grad() h += 1 (or h *= 2, or a
    straight-through h.copy_(clip(h))): the loop changes h in place and h
    keeps its place in the graph, its gradient passing the change by. The
    trace recorded the new value as made under no_grad, with no gradient at
    all: d(final carry)/d(init) came out 0 instead of 0.125 -- here an error
    ('does not require grad'); beside another path to the inputs, a wrong
    gradient without a word. Such a step now runs the loop."""
    def step(c, x_t):
        h = c * 0.5 + x_t
        with mg.no_grad():
            if change == "+=":
                h += 1.0
            elif change == "*=":
                h *= 2.0
            else:
                h.copy_(mg.clip(h, -1.0, 1.0))
        return h, h * x_t

    rng = np.random.default_rng(0)
    c0, x = leaf(rng, 2), leaf(rng, 3, 2)
    results = []
    for unroll in (True, False):
        c, ys = mg.scan(step, c0, x, unroll=unroll)
        loss = (c * c).sum() + ys.sum() + (c0 * x[0]).sum()  # (another path to both inputs)
        results.append([c.data, ys.data, *(g.data for g in mg.grad(loss, [c0, x]))])
    for got, want in zip(results[1], results[0]):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    with mg.no_grad():  # (nothing to keep: the trace stands)
        np.testing.assert_allclose(mg.scan(step, c0, x)[0].data, results[0][0], rtol=1e-12)


def test_copy_into_an_input_is_a_trace_error_and_in_the_graph_the_loops_error():
    """copy_ into the carry changes the caller's tensor in the loop (item of
    in-place changes); a copy_ in the graph is refused by the loop, so scan
    runs the loop and says so; a copy that would change the dtype, too."""
    x = mg.tensor(np.arange(6.0).reshape(3, 2))

    def into_the_carry(h, x_t):
        h.copy_(x_t)
        return h * 1.0, h * 1.0

    with pytest.raises(mg.TraceError, match=rf"test_scan\.py:{into_the_carry.__code__.co_firstlineno + 1} "
                                            r".*changes an input"):
        mg.scan(into_the_carry, mg.tensor(np.zeros(2)), x)

    def into_a_new_value(h, x_t):
        new = h + 0
        new.copy_(x_t)
        return new, new

    with pytest.raises(RuntimeError, match="copy_ on a tensor in the graph"):
        mg.scan(into_a_new_value, mg.tensor(np.zeros(2), requires_grad=True), x)
    with pytest.raises(TypeError, match="in-place copy_ would change the dtype of a int64 tensor"):
        mg.scan(into_a_new_value, mg.tensor(np.zeros(2, np.int64)), x)


VALUE_READS = {  # of a closed-over tensor t, inside a step whose weights are consts
    "item": lambda t: t.item(),
    "float": lambda t: float(t),
    "numpy": lambda t: t.numpy()[0],
    "data": lambda t: t.data[0],
    "tolist": lambda t: t.tolist()[0],
    "tensor": lambda t: mg.tensor(t),
    "asarray": lambda t: np.asarray(t)[0],
}


@pytest.mark.parametrize("read", VALUE_READS.values(), ids=VALUE_READS.keys())
def test_a_step_reading_the_value_of_a_tensor_from_outside_is_traced_at_every_call(read):
    """temperature.item() inside the step: the value is baked into the
    trace, so the trace stands for that call only (a kept program went on
    using the first call's value after the tensor changed)."""
    temperature = mg.tensor([1.0])

    def step(h, x_t, w):
        h = mg.tanh(h @ w + x_t) / read(temperature)
        return h, h

    rng = np.random.default_rng(0)
    w, x, h0 = leaf(rng, 2, 2), leaf(rng, 3, 1, 2), mg.tensor(np.zeros((1, 2)))
    scan_module._programs.clear()
    for value in (1.0, 4.0, 0.5):
        with mg.no_grad():
            temperature.copy_([value])  # (an annealing schedule, say)
        assert_same_as_the_loop(step, h0, x, [w, x], consts=w)
    assert len(scan_module._programs._programs) == 0


def test_changing_in_place_a_carry_the_step_replaces_by_a_const_leaf_is_the_loops_error():
    """Step 0 changes the caller's init (fine in the graph); the step then hands
    a const (a leaf that requires grad) on as the next carry, which step 1
    changes in place: the loop refuses that, and so must scan (it answered)."""
    w = mg.tensor(np.ones(2), requires_grad=True)
    xs = mg.tensor(np.ones((3, 2)), requires_grad=True)

    def step(h, x_t, c):
        h += x_t
        return c, h

    for unroll in (True, False):
        with pytest.raises(RuntimeError, match="in-place update of a leaf that requires grad"):
            mg.scan(step, mg.tensor(np.zeros(2)), xs, consts=w, unroll=unroll)


def test_forward_mode_through_a_custom_function_in_a_step_is_the_loops():
    """mg.jvp through an mg.Function with a jvp inside a step: its jvp runs
    forward again on the inputs' values, which a trace does not know, so the
    call goes to the plain loop (scan raised a TypeError about '_Unread')."""

    class Cube(mg.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x * x

        @staticmethod
        def jvp(ctx, t):
            (x,) = ctx.saved_tensors
            return t * 3 * x * x

    def step(h, x_t):
        y, dy = mg.jvp(lambda u: Cube.apply(u) + h, (x_t,), (mg.ones_like(x_t),))
        return h + dy, y

    h0, xs = mg.tensor(np.zeros(2)), mg.tensor(np.arange(6.0).reshape(3, 2))
    loop, fast = mg.scan(step, h0, xs, unroll=True), mg.scan(step, h0, xs)
    np.testing.assert_array_equal(loop[0].data, 3 * (xs.data ** 2).sum(axis=0))
    for got, want in zip(fast, loop):
        np.testing.assert_array_equal(got.data, want.data)


def test_a_user_op_with_no_vjp_for_a_closed_over_weight_gives_it_no_gradient_in_scan():
    """vjps=(vjp, None) -- no gradient for the second input -- with W, which
    requires grad, closed over by the step: the backward failed ('NoneType'
    object is not callable; hoisted, 'NoneType' object has no attribute
    'shape'). Now W gets none, as in the loop, and xs theirs."""
    rng = np.random.default_rng(0)
    w = mg.tensor(rng.standard_normal(4), requires_grad=True)
    xs = mg.tensor(rng.standard_normal((6, 2, 4)), requires_grad=True)
    scale = mg.primitive(save_inputs=True, vjps=(lambda g, a, b: g * b, None),
                         rows=mg.ops.rows_elementwise)(lambda a, b: a * b)

    def step(h, x):
        h = mg.tanh(scale(h + x, w))
        return h, h

    h0 = mg.zeros(2, 4, dtype=np.float64)
    w_grad, xs_grad = mg.grad(mg.scan(step, h0, xs)[1].sum(), [w, xs], allow_unused=True)
    h, loop = h0, []
    for t in range(6):
        h, y = step(h, xs[t])
        loop.append(y)
    expected = mg.grad(mg.stack(loop).sum(), [w, xs], allow_unused=True)
    assert w_grad is None and expected[0] is None
    np.testing.assert_allclose(xs_grad.data, expected[1].data, rtol=1e-12)
