"""The LSTM's fused kernel (nn/lstm_kernel.py) against its definition, the
composed scan of the LSTM step (``layer.fused = False``): values, final
states and every gradient, in every layer configuration; finite differences;
second derivatives; in-place changes; where the kernel steps aside."""

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
import nn
from minigrad import testing as mt


def run(layer, x, states, lengths, weights, fused: bool) -> list:
    """Outputs, final states and the gradients of x, the initial states and
    every parameter, of a loss that reads all outputs and both final states."""
    layer.fused = fused
    layer.zero_grad()
    for t in (x, *states):
        t.grad = None
    out, (h_n, c_n) = layer(x, tuple(states) or None, lengths)
    loss = (out * weights).sum() + (h_n * h_n).sum() + (c_n * 0.7).sum()
    loss.backward()
    grads = [t.grad.data for t in (x, *states)] + [p.grad.data for p in layer.parameters()]
    return [out.data, h_n.data, c_n.data, *grads]


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_the_kernel_gives_what_the_composed_layer_gives(data):
    steps, batch = data.draw(st.integers(1, 6), label="T"), data.draw(st.integers(0, 3), label="B")
    inputs, hidden = data.draw(st.integers(1, 4), label="I"), data.draw(st.integers(1, 4), label="H")
    layers, bidirectional = data.draw(st.integers(1, 2), label="layers"), data.draw(st.booleans(), label="bi")
    bias, batch_first = data.draw(st.booleans(), label="bias"), data.draw(st.booleans(), label="batch_first")
    scale = data.draw(st.sampled_from([0.5, 1.0, 8.0]), label="scale")  # 8: saturated gates
    lengths = np.array(data.draw(mt.lengths(batch, steps), label="lengths")) if batch and data.draw(
        st.booleans(), label="with lengths") else None
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    layer = nn.LSTM(inputs, hidden, num_layers=layers, bias=bias, batch_first=batch_first,
                    bidirectional=bidirectional, rng=rng).to(np.float64)
    for p in layer.parameters():
        p.data[...] *= scale
    d = 2 if bidirectional else 1
    shape = (batch, steps, inputs) if batch_first else (steps, batch, inputs)
    x = mg.tensor(rng.standard_normal(shape), requires_grad=True)
    states = [mg.tensor(rng.standard_normal((layers * d, batch, hidden)), requires_grad=True)
              for _ in range(2)] if data.draw(st.booleans(), label="with h0") else []
    weights = rng.standard_normal((*shape[:2], d * hidden))
    fused = run(layer, x, states, lengths, weights, fused=True)
    composed = run(layer, x, states, lengths, weights, fused=False)
    for got, want in zip(fused, composed, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-11)


def test_float32_agrees_with_the_composed_layer_to_float32_rounding():
    rng = np.random.default_rng(3)
    layer = nn.LSTM(5, 7, num_layers=2, bidirectional=True, rng=rng)
    x = mg.tensor(rng.standard_normal((9, 4, 5)).astype(np.float32), requires_grad=True)
    weights = rng.standard_normal((9, 4, 14)).astype(np.float32)
    fused = run(layer, x, [], np.array([9, 3, 1, 6]), weights, fused=True)
    composed = run(layer, x, [], np.array([9, 3, 1, 6]), weights, fused=False)
    for got, want in zip(fused, composed, strict=True):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("reverse_too", [False, True])
def test_gradcheck_and_gradgradcheck_through_the_kernel(reverse_too):
    """Finite differences of the kernel's values; the second derivatives
    (create_graph) are the composed definition's, run again in the backward."""
    rng = np.random.default_rng(4)
    layer = nn.LSTM(2, 3, bidirectional=reverse_too, rng=rng).to(np.float64)
    x = mg.tensor(rng.standard_normal((3, 2, 2)), requires_grad=True)
    h0 = mg.tensor(rng.standard_normal((layer.num_directions, 2, 3)), requires_grad=True)
    c0 = mg.tensor(rng.standard_normal((layer.num_directions, 2, 3)), requires_grad=True)

    def f(x, h0, c0, *params):
        out, (h_n, c_n) = layer(x, (h0, c0))
        return (out * out).sum() + (h_n * c_n).sum()

    params = list(layer.parameters())
    assert mg.gradcheck(f, [x, h0, c0, *params])
    assert mg.gradgradcheck(f, [x, h0, c0, *params[:2]])


def test_second_derivatives_equal_the_composed_layers():
    rng = np.random.default_rng(5)
    layer = nn.LSTM(3, 4, num_layers=2, rng=rng).to(np.float64)
    x = mg.tensor(rng.standard_normal((4, 2, 3)), requires_grad=True)

    def hessian_vector(fused: bool) -> list:
        layer.fused = fused
        out, (h_n, c_n) = layer(x, lengths=[4, 2])
        loss = (out ** 3).sum() + (c_n * h_n).sum()
        params = list(layer.parameters())
        first = mg.grad(loss, [x, *params], create_graph=True)
        total = sum((g * g).sum() for g in first)
        return [g.data for g in mg.grad(total, [x, *params])]

    for got, want in zip(hessian_vector(True), hessian_vector(False), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-11)


def test_a_weight_changed_in_place_before_the_backward_raises():
    layer = nn.LSTM(2, 3)
    out, _ = layer(mg.randn(4, 2, 2))
    with mg.no_grad():
        layer.weight_hh_l0 += 1.0  # e.g. optimizer.step() before backward
    with pytest.raises(RuntimeError, match="lstm_sequence.*changed in place"):
        out.sum().backward()


@pytest.mark.parametrize("fused", [False, True], ids=["composed", "kernel"])
def test_an_input_changed_in_place_after_a_create_graph_backward_makes_the_next_backward_raise(fused):
    """A penalty ||dL/dW_hh||² built with create_graph, then the layer's
    input (computed: x = 1.0 * leaf) changed in place, then the penalty's
    backward: through the composed layer the scan's replayed ops saved x,
    so that raises. The kernel's create_graph VJP ran the composed
    definition on copies of its inputs, which no change reaches, and gave
    the derivative at the old x without a word. Its copies now share the
    inputs' version counters, as scan's do."""
    rng = np.random.default_rng(0)
    layer = nn.LSTM(2, 3, rng=rng).to(np.float64)
    layer.fused = fused
    leaf = mg.tensor(rng.standard_normal((3, 1, 2)), requires_grad=True)
    x = leaf * 1.0
    out, _ = layer(x)
    (g,) = mg.grad(out.sum(), [layer.weight_hh_l0], create_graph=True)
    penalty = (g * g).sum()
    with mg.no_grad():
        x *= 1.5
    with pytest.raises(RuntimeError, match="changed in place"):
        mg.grad(penalty, [leaf])


def test_an_output_changed_in_place_before_the_backward_raises():
    layer = nn.LSTM(2, 3)
    out, _ = layer(mg.randn(4, 2, 2))
    loss = out.sum()  # (sum keeps nothing: only the kernel saved out)
    with mg.no_grad():
        out += 1.0
    with pytest.raises(RuntimeError, match="lstm_sequence.*its output.*changed in place"):
        loss.backward()


def test_retain_graph_gives_the_same_gradients_twice():
    layer = nn.LSTM(2, 3, bidirectional=True).to(np.float64)
    out, (h_n, c_n) = layer(mg.randn(5, 2, 2, dtype=np.float64), lengths=[5, 3])
    loss = (out * out).sum() + c_n.sum()
    loss.backward(retain_graph=True)
    first = [p.grad.data.copy() for p in layer.parameters()]
    layer.zero_grad()
    loss.backward()
    for got, want in zip([p.grad.data for p in layer.parameters()], first, strict=True):
        np.testing.assert_array_equal(got, want)


def test_the_kernel_is_used_and_can_be_turned_off():
    layer = nn.LSTM(2, 3)
    x = mg.randn(4, 1, 2)
    out, (h_n, c_n) = layer(x)
    assert c_n._node.name == "stack" and out._node.name == "lstm_sequence"
    layer.fused = False
    out, _ = layer(x)
    assert out._node.name == "scan"
    assert nn.LSTM(2, 3, peephole=True)(x)[0]._node.name == "scan"  # no kernel: the composed cell


def test_forward_mode_and_traced_steps_take_the_composed_path():
    """Duals (mg.jvp) and a scan tracer cannot enter NumPy: the layer runs the
    composed cell for them, and gives what it gives outside."""
    rng = np.random.default_rng(6)
    layer = nn.LSTM(2, 3, rng=rng).to(np.float64)
    x = rng.standard_normal((4, 1, 2))
    v = rng.standard_normal((4, 1, 2))
    _, tangent = mg.jvp(lambda x: layer(x)[0], (mg.tensor(x),), (mg.tensor(v),))
    eps = 1e-6
    numeric = (layer(mg.tensor(x + eps * v))[0].data - layer(mg.tensor(x - eps * v))[0].data) / (2 * eps)
    np.testing.assert_allclose(tangent.data, numeric, rtol=1e-6, atol=1e-8)

    def step(h, x_t, consts):  # an LSTM over a window, inside another scan's step
        out, _ = layer(x_t)
        return h + out.sum(), out[-1]

    total, ys = mg.scan(step, mg.tensor(0.0, dtype=np.float64), mg.tensor(np.stack([x, 2 * x])), consts={})
    np.testing.assert_allclose(total.data, layer(mg.tensor(x))[0].data.sum() + layer(mg.tensor(2 * x))[0].data.sum())


def test_two_threads_get_what_one_gets():
    rng = np.random.default_rng(7)
    layer = nn.LSTM(3, 4, bidirectional=True, rng=rng).to(np.float64)
    xs = [mg.tensor(rng.standard_normal((6, 2, 3))) for _ in range(2)]

    def gradients(x):
        out, _ = layer(x, lengths=[6, 4])
        return [g.data for g in mg.grad((out * out).sum(), list(layer.parameters()))]

    alone = [gradients(x) for x in xs]
    together = [None, None]

    def work(k):
        for _ in range(20):
            together[k] = gradients(xs[k])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want in zip(together, alone):
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)
