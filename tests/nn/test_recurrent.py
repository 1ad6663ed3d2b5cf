"""RNN, LSTM (+peephole), GRU and cells: gradients in every configuration,
packed-sequence semantics of lengths, hand-computed steps, PyTorch layouts."""

import dataclasses
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
import nn
from minigrad import testing as mt

KINDS = {
    "rnn_tanh": lambda i, h, **kw: nn.RNN(i, h, **kw),
    "rnn_relu": lambda i, h, **kw: nn.RNN(i, h, nonlinearity="relu", **kw),
    "lstm": lambda i, h, **kw: nn.LSTM(i, h, **kw),
    "lstm_composed": lambda i, h, **kw: composed(nn.LSTM(i, h, **kw)),  # without its kernel: the definition
    "lstm_peephole": lambda i, h, **kw: nn.LSTM(i, h, peephole=True, **kw),
    "gru": lambda i, h, **kw: nn.GRU(i, h, **kw),
}


def composed(layer):
    layer.fused = False
    return layer


def make(kind, i, h, seed=0, **kw):
    return KINDS[kind](i, h, rng=np.random.default_rng(seed), **kw).to(np.float64)


def states_of(result):
    """(h_n,) or (h_n, c_n)."""
    return result if isinstance(result, tuple) else (result,)


CONFIGS = list(itertools.product(KINDS, [1, 2], [False, True], [False, True], [False, True], [False, True]))


@pytest.mark.parametrize("kind,layers,bi,batch_first,with_h0,with_lengths", CONFIGS)
@settings(max_examples=2, deadline=None)
@given(data=st.data())
def test_gradcheck_every_configuration(kind, layers, bi, batch_first, with_h0, with_lengths, data):
    T, B, I, H = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 2)), 2, 2
    model = make(kind, I, H, num_layers=layers, bidirectional=bi, batch_first=batch_first)
    directions = 2 if bi else 1
    rng = np.random.default_rng(data.draw(st.integers(0, 100)))
    x = mg.tensor(rng.standard_normal((B, T, I) if batch_first else (T, B, I)), requires_grad=True)
    n_states = 2 if "lstm" in kind else 1
    h0 = [mg.tensor(0.5 * rng.standard_normal((layers * directions, B, H)), requires_grad=True)
          for _ in range(n_states)] if with_h0 else []
    lengths = np.array(data.draw(mt.lengths(B, T))) if with_lengths else None
    weights = rng.standard_normal((T, B, directions * H))
    params = list(model.parameters())

    def loss(x, *rest):
        start = tuple(rest[:n_states]) if with_h0 else None
        out, final = model(x, (start if n_states == 2 else start[0]) if with_h0 else None, lengths)
        out = out.transpose(1, 0, 2) if batch_first else out
        total = (out * weights).sum()
        for s in states_of(final):
            total = total + (s * s).sum()
        return total

    assert mg.gradcheck(loss, [x, *h0, *params], fast_mode=kind == "rnn_relu" or layers == 2)


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=4, deadline=None)
@given(data=st.data())
def test_a_gradient_penalty_has_the_derivative_of_its_central_differences(kind, data):
    """WGAN-GP's penalty P = ||∂L/∂x||² (built with create_graph) through
    every kind of layer, stacked or bidirectional, with lengths, batch 1 and
    T = 1 included: P's gradient -- second derivatives of L, w.r.t. the
    parameters, h0 and x -- against central differences of P itself, in
    random directions (float64)."""
    T, B, layers, bi = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2)), \
        data.draw(st.booleans())
    model = make(kind, 2, 2, seed=data.draw(st.integers(0, 100)), num_layers=layers, bidirectional=bi)
    rng = np.random.default_rng(data.draw(st.integers(0, 100)))
    n_states = 2 if "lstm" in kind else 1
    x = mg.tensor(rng.standard_normal((T, B, 2)), requires_grad=True)
    h0 = [mg.tensor(0.5 * rng.standard_normal((layers * (2 if bi else 1), B, 2)), requires_grad=True)
          for _ in range(n_states)]
    lengths = np.array(data.draw(mt.lengths(B, T))) if data.draw(st.booleans()) else None
    weights = rng.standard_normal((T, B, 2 * (2 if bi else 1)))
    inputs = [x, *h0, *model.parameters()]

    def penalty() -> mg.Tensor:
        out, final = model(x, tuple(h0) if n_states == 2 else h0[0], lengths)
        loss = (out * weights).sum() + sum((s * s * s).sum() for s in states_of(final))
        (g,) = mg.grad(loss, [x], create_graph=True)
        return (g * g).sum()

    analytic = mg.grad(penalty(), inputs)
    for _ in range(2):
        u = [rng.standard_normal(t.shape) for t in inputs]
        eps, values = 1e-6, []
        for sign in (1, -1):
            for t, du in zip(inputs, u):
                t.data[...] += sign * eps * du
            values.append(penalty().item())
            for t, du in zip(inputs, u):
                t.data[...] -= sign * eps * du
        numeric = (values[0] - values[1]) / (2 * eps)
        along = sum(float(np.sum(g.data * du)) for g, du in zip(analytic, u))
        assert abs(along - numeric) <= 1e-6 + 1e-5 * abs(numeric), (along, numeric)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bi", [False, True])
def test_lengths_equal_running_each_sequence_alone(kind, bi):
    T, B, I, H = 5, 3, 2, 3
    model = make(kind, I, H, num_layers=2, bidirectional=bi)
    x = mg.tensor(np.random.default_rng(1).standard_normal((T, B, I)), requires_grad=True)
    lengths = np.array([5, 2, 4])
    out, final = model(x, lengths=lengths)
    for b, n in enumerate(lengths):
        assert np.all(out.data[n:, b] == 0.0)  # exactly zero past the end
        alone_out, alone_final = model(x.data[:n, b:b + 1])
        np.testing.assert_allclose(out.data[:n, b], alone_out.data[:, 0], rtol=1e-12, atol=1e-14)
        for s, s_alone in zip(states_of(final), states_of(alone_final)):
            np.testing.assert_allclose(s.data[:, b], s_alone.data[:, 0], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_lengths_gradients_equal_sum_of_per_sequence_gradients(kind):
    T, B, I, H = 4, 3, 2, 2
    model = make(kind, I, H, bidirectional=True)
    x_data = np.random.default_rng(2).standard_normal((T, B, I))
    lengths = np.array([4, 1, 3])

    def loss(out, final):
        return (out * out).sum() + sum((s * s).sum() for s in states_of(final))

    x = mg.tensor(x_data, requires_grad=True)
    loss(*model(x, lengths=lengths)).backward()
    batched = {name: p.grad.data.copy() for name, p in model.named_parameters()}
    x_grad = x.grad.data.copy()
    model.zero_grad()
    per_x = np.zeros_like(x_data)
    for b, n in enumerate(lengths):
        xb = mg.tensor(x_data[:n, b:b + 1], requires_grad=True)
        loss(*model(xb)).backward()
        per_x[:n, b:b + 1] = xb.grad.data
    for name, p in model.named_parameters():
        np.testing.assert_allclose(batched[name], p.grad.data, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(x_grad, per_x, rtol=1e-10, atol=1e-12)


BOUNDED = [kind for kind in KINDS if kind != "rnn_relu"]


def test_the_bounded_cells_are_the_ones_whose_state_cannot_grow():
    assert {kind: make(kind, 2, 3).cell.bounded for kind in KINDS} == {kind: kind in BOUNDED for kind in KINDS}


@pytest.mark.parametrize("kind", BOUNDED)
@settings(max_examples=6, deadline=None)
@given(data=st.data())
def test_bounded_cells_run_past_the_ends_and_equal_the_per_step_masks(kind, data):
    """With lengths, a bounded cell runs every sequence unmasked (the reverse
    direction reversed within each length) and masks once; the same cell
    marked unbounded keeps each ended state step by step (the plain way).
    Outputs, final states and every gradient agree."""
    T, B = data.draw(st.integers(1, 6)), data.draw(st.integers(1, 4))
    layers, bi = data.draw(st.integers(1, 2)), data.draw(st.booleans())
    lengths = np.array(data.draw(mt.lengths(B, T)))
    rng = np.random.default_rng(data.draw(st.integers(0, 100)))
    x_data = rng.standard_normal((T, B, 3))
    n_states = 2 if "lstm" in kind else 1
    h0_data = [0.5 * rng.standard_normal((layers * (2 if bi else 1), B, 4)) for _ in range(n_states)]
    weights = rng.standard_normal((T, B, (2 if bi else 1) * 4))
    results = []
    for bounded in (True, False):
        model = make(kind, 3, 4, num_layers=layers, bidirectional=bi)
        model.cell = dataclasses.replace(model.cell, bounded=bounded)
        x = mg.tensor(x_data, requires_grad=True)
        h0 = [mg.tensor(h, requires_grad=True) for h in h0_data]
        out, final = model(x, tuple(h0) if n_states == 2 else h0[0], lengths)
        ((out * weights).sum() + sum((s * s * s).sum() for s in states_of(final))).backward()
        results.append([out.data, *(s.data for s in states_of(final)), x.grad.data, *(h.grad.data for h in h0),
                        *(p.grad.data for p in model.parameters())])
        assert all(np.all(out.data[n:, b] == 0.0) for b, n in enumerate(lengths))  # exactly 0 past the ends
    for fast, plain in zip(*results, strict=True):
        np.testing.assert_allclose(fast, plain, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bi", [False, True])
def test_padding_never_enters_even_when_it_holds_nan_or_inf(kind, bi):
    """Whatever the padding holds, outputs, final states and gradients are
    those of zero padding, and the padding's gradient is 0."""
    lengths = np.array([5, 2, 4, 1])
    clean = np.random.default_rng(3).standard_normal((5, 4, 2))
    inside = np.arange(5)[:, None] < lengths
    clean[~inside] = 0.0
    dirty = clean.copy()
    dirty[~inside] = np.array([np.nan, np.inf, -np.inf, 1e300])[np.arange((~inside).sum()) % 4, None]
    results = []
    for data in (clean, dirty):
        model = make(kind, 2, 3, num_layers=2, bidirectional=bi)
        x = mg.tensor(data, requires_grad=True)
        out, final = model(x, lengths=lengths)
        ((out * out).sum() + sum((s * s).sum() for s in states_of(final))).backward()
        results.append([out.data, *(s.data for s in states_of(final)), x.grad.data,
                        *(p.grad.data for p in model.parameters())])
    for got, want in zip(*results, strict=True):
        np.testing.assert_array_equal(got, want)
    assert np.all(results[1][-len(list(model.parameters())) - 1][~inside] == 0.0)


# -- hand-computed single steps ----------------------------------------------------------------

def sigmoid(v):
    return 1 / (1 + np.exp(-v))


def load(cell, **arrays):
    cell.load_state_dict({k: np.asarray(v, dtype=np.float64) for k, v in arrays.items()})
    return cell


X = np.array([[0.5, -1.0]])
H0 = np.array([[0.2, -0.3]])
C0 = np.array([[0.4, 0.1]])


def small_weights(rows, cols, scale):
    return scale * np.arange(rows * cols, dtype=np.float64).reshape(rows, cols) / (rows * cols) - scale / 2


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_cell_by_hand(nonlinearity):
    w_ih, w_hh, b_ih, b_hh = small_weights(2, 2, 1.0), small_weights(2, 2, 0.5), np.array([0.1, 0.2]), [0.3, -0.1]
    cell = load(nn.RNNCell(2, 2, nonlinearity=nonlinearity).to(np.float64), weight_ih=w_ih, weight_hh=w_hh,
                bias_ih=b_ih, bias_hh=b_hh)
    pre = X @ w_ih.T + b_ih + H0 @ w_hh.T + np.array(b_hh)
    expected = np.tanh(pre) if nonlinearity == "tanh" else np.maximum(pre, 0)
    np.testing.assert_allclose(cell(mg.tensor(X), mg.tensor(H0)).data, expected, rtol=1e-14)


@pytest.mark.parametrize("peephole", [False, True])
def test_lstm_cell_by_hand(peephole):
    w_ih, w_hh = small_weights(8, 2, 1.0), small_weights(8, 2, 0.6)
    b_ih, b_hh, peep = np.linspace(-0.4, 0.4, 8), np.linspace(0.3, -0.3, 8), np.array([[0.5, -0.2], [0.3, 0.1],
                                                                                       [-0.4, 0.6]])
    arrays = dict(weight_ih=w_ih, weight_hh=w_hh, bias_ih=b_ih, bias_hh=b_hh)
    if peephole:
        arrays["weight_peep"] = peep
    cell = load(nn.LSTMCell(2, 2, peephole=peephole).to(np.float64), **arrays)
    gates = X @ w_ih.T + b_ih + H0 @ w_hh.T + b_hh
    i, f, g, o = np.split(gates, 4, axis=1)  # PyTorch's order: i, f, g, o
    if peephole:
        i, f = i + peep[0] * C0, f + peep[1] * C0
    c = sigmoid(f) * C0 + sigmoid(i) * np.tanh(g)
    if peephole:
        o = o + peep[2] * c
    h = sigmoid(o) * np.tanh(c)
    got_h, got_c = cell(mg.tensor(X), (mg.tensor(H0), mg.tensor(C0)))
    np.testing.assert_allclose(got_h.data, h, rtol=1e-14)
    np.testing.assert_allclose(got_c.data, c, rtol=1e-14)


def test_gru_cell_by_hand():
    w_ih, w_hh = small_weights(6, 2, 1.0), small_weights(6, 2, 0.7)
    b_ih, b_hh = np.linspace(-0.3, 0.3, 6), np.linspace(0.2, -0.2, 6)
    cell = load(nn.GRUCell(2, 2).to(np.float64), weight_ih=w_ih, weight_hh=w_hh, bias_ih=b_ih, bias_hh=b_hh)
    xi, hh = X @ w_ih.T + b_ih, H0 @ w_hh.T + b_hh
    r = sigmoid(xi[:, 0:2] + hh[:, 0:2])  # PyTorch's order: r, z, n
    z = sigmoid(xi[:, 2:4] + hh[:, 2:4])
    n = np.tanh(xi[:, 4:6] + r * hh[:, 4:6])
    np.testing.assert_allclose(cell(mg.tensor(X), mg.tensor(H0)).data, (1 - z) * n + z * H0, rtol=1e-14)


@pytest.mark.parametrize("kind,cell", [("rnn_tanh", nn.RNNCell), ("lstm", nn.LSTMCell), ("gru", nn.GRUCell)])
def test_layer_step_equals_cell_step(kind, cell):
    layer = make(kind, 2, 3)
    c = cell(2, 3).to(np.float64)
    c.load_state_dict({k.replace("_l0", ""): v for k, v in layer.state_dict().items()})
    x = np.random.default_rng(3).standard_normal((1, 4, 2))
    out, _ = layer(mg.tensor(x))
    step = c(mg.tensor(x[0]))
    np.testing.assert_allclose(out.data[0], (step[0] if isinstance(step, tuple) else step).data, rtol=1e-13)


# -- PyTorch's layout ----------------------------------------------------------------------------

def test_state_dict_keys_and_shapes():
    lstm = nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    expected = []
    for layer, width in ((0, 3), (1, 8)):
        for suffix in ("", "_reverse"):
            expected += [(f"weight_ih_l{layer}{suffix}", (16, width)), (f"weight_hh_l{layer}{suffix}", (16, 4)),
                         (f"bias_ih_l{layer}{suffix}", (16,)), (f"bias_hh_l{layer}{suffix}", (16,))]
    assert [(k, v.shape) for k, v in lstm.state_dict().items()] == expected
    assert [(k, v.shape) for k, v in nn.GRU(3, 4).state_dict().items()] == [
        ("weight_ih_l0", (12, 3)), ("weight_hh_l0", (12, 4)), ("bias_ih_l0", (12,)), ("bias_hh_l0", (12,))]
    assert [(k, v.shape) for k, v in nn.RNN(3, 4, bias=False).state_dict().items()] == [
        ("weight_ih_l0", (4, 3)), ("weight_hh_l0", (4, 4))]
    assert list(nn.LSTM(3, 4, peephole=True).state_dict())[-1] == "weight_peep_l0"
    assert nn.LSTM(3, 4, peephole=True).state_dict()["weight_peep_l0"].shape == (3, 4)
    assert list(nn.LSTMCell(3, 4).state_dict()) == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]


@pytest.mark.parametrize("kind", ["rnn_tanh", "lstm", "gru"])
def test_output_layout_and_final_state_indexing(kind):
    model = make(kind, 2, 3, num_layers=2, bidirectional=True)
    x = mg.tensor(np.random.default_rng(4).standard_normal((5, 2, 2)))
    out, final = model(x)
    h_n = states_of(final)[0]
    assert out.shape == (5, 2, 6) and h_n.shape == (4, 2, 3)
    np.testing.assert_array_equal(h_n.data[-2], out.data[-1, :, :3])  # last layer, forward: its last step
    np.testing.assert_array_equal(h_n.data[-1], out.data[0, :, 3:])  # last layer, reverse: its first step
    out_bf, final_bf = make(kind, 2, 3, num_layers=2, bidirectional=True, batch_first=True)(x.transpose(1, 0, 2))
    np.testing.assert_allclose(out_bf.data.transpose(1, 0, 2), out.data)
    np.testing.assert_allclose(states_of(final_bf)[0].data, h_n.data)


def test_weights_transfer_through_state_dict():
    a, b = make("lstm", 3, 4, seed=1), make("lstm", 3, 4, seed=2)
    x = mg.tensor(np.random.default_rng(5).standard_normal((3, 2, 3)))
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(a(x)[0].data, b(x)[0].data)


def test_init_is_uniform_in_one_over_sqrt_h_and_seeded():
    model = nn.LSTM(10, 100, rng=np.random.default_rng(0))
    bound = 1 / np.sqrt(100)
    for p in model.parameters():
        assert np.abs(p.data).max() <= bound
        assert abs(p.data.std() - bound / np.sqrt(3)) < 0.1 * bound
    mg.manual_seed(7)
    first = nn.GRU(2, 3).state_dict()
    mg.manual_seed(7)
    for k, v in nn.GRU(2, 3).state_dict().items():
        np.testing.assert_array_equal(v, first[k])


def test_dropout_between_layers():
    model = make("lstm", 2, 8, num_layers=2, dropout=0.5)
    x = mg.tensor(np.random.default_rng(6).standard_normal((4, 3, 2)))
    assert not np.allclose(model(x)[0].data, model(x)[0].data)
    model.eval()
    plain = make("lstm", 2, 8, num_layers=2)
    plain.load_state_dict(model.state_dict())
    np.testing.assert_array_equal(model(x)[0].data, plain(x)[0].data)
    with pytest.warns(UserWarning, match="num_layers=1"):
        nn.LSTM(2, 3, dropout=0.2)
    with pytest.raises(ValueError, match="dropout must be a probability"):
        nn.GRU(2, 3, num_layers=2, dropout=1.0)


def test_truncated_bptt_with_detached_state():
    model = make("lstm", 2, 3)
    x = np.random.default_rng(7).standard_normal((6, 1, 2))
    whole, _ = model(mg.tensor(x))
    first = mg.tensor(x[:3], requires_grad=True)
    out1, state = model(first)
    out2, _ = model(mg.tensor(x[3:]), nn.detach_state(state))
    np.testing.assert_allclose(np.concatenate([out1.data, out2.data]), whole.data, rtol=1e-13)
    out2.sum().backward()
    assert first.grad is None  # the second chunk's loss does not reach the first chunk


@pytest.mark.parametrize("bad,message", [
    (lambda m: m(mg.zeros(3, 2, 5)), "expected input_size 4 features, got 5"),
    (lambda m: m(mg.zeros(3, 2, 4), mg.zeros(1, 3, 6)), r"h0 must have shape \(1, 2, 6\)"),
    (lambda m: m(mg.zeros(3, 2, 4), lengths=[0, 2]), r"lengths must lie in 1..3"),
    (lambda m: m(mg.zeros(3, 2, 4), lengths=[1, 4]), r"lengths must lie in 1..3"),
    (lambda m: m(mg.zeros(3, 2, 4), lengths=[1, 2, 3]), r"expected shape \(2,\)"),
    (lambda m: m(mg.zeros(3, 2, 4), lengths=[1.0, 2.0]), "GRU: lengths must hold integers, got dtype float64"),
    (lambda m: m(mg.zeros(1, 3, 2, 4)), r"input must be \(T, B, 4\)"),
    (lambda m: m(mg.zeros(3, 2, 4, dtype=np.float64)), "input has dtype float64 but the parameters are float32"),
    (lambda m: m(mg.zeros(3, 2, 4), mg.zeros(1, 2, 6, dtype=np.float64)), "h0 has dtype float64"),
])
def test_bad_input(bad, message):
    with pytest.raises((ValueError, TypeError), match=message):
        bad(nn.GRU(4, 6))


def test_bad_construction_and_cell_input():
    with pytest.raises(ValueError, match="hidden_size must be a positive int"):
        nn.LSTM(3, 0)
    with pytest.raises(ValueError, match="nonlinearity must be 'tanh' or 'relu'"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match=r"LSTM: the state must be a tuple \(h0, c0\), got a Tensor"):
        nn.LSTM(3, 4)(mg.zeros(2, 1, 3), mg.zeros(1, 1, 4))
    with pytest.raises(ValueError, match=r"input must be \(batch, 3\)"):
        nn.LSTMCell(3, 4)(mg.zeros(2, 5))
    with pytest.raises(TypeError, match="LSTMCell: input has dtype float64 but the parameters are float32"):
        nn.LSTMCell(3, 4)(mg.zeros(2, 3, dtype=np.float64))
    with pytest.raises(TypeError, match="RNNCell: h has dtype float64"):
        nn.RNNCell(3, 4)(mg.zeros(2, 3), mg.zeros(2, 4, dtype=np.float64))
    with pytest.raises(ValueError, match=r"GRUCell: h must have shape \(2, 4\)"):
        nn.GRUCell(3, 4)(mg.zeros(2, 3), mg.zeros(2, 5))


def test_long_sequence_has_no_recursion():
    model = nn.LSTM(2, 3)
    out, _ = model(mg.randn(2000, 1, 2))
    out.sum().backward()
    assert np.isfinite(model.weight_hh_l0.grad.data).all()


def tape_size(tensor) -> int:
    """Nodes the tensor's graph holds."""
    seen, todo = set(), [tensor._node]
    while todo:
        node = todo.pop()
        if node is not None and id(node) not in seen:
            seen.add(id(node))
            todo.extend(p[0] for p in node.parents if p is not None and isinstance(p[0], type(node)))
    return len(seen)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh"])
def test_the_tape_does_not_grow_with_the_sequence(kind):
    """Each layer and direction is one scan node, the input projection inside it."""
    sizes = [tape_size(make(kind, 3, 4, num_layers=2, bidirectional=True)(mg.randn(steps, 2, 3, dtype=np.float64))[0])
             for steps in (3, 60)]
    assert sizes[0] == sizes[1] < 40


def test_unbatched_input():
    model = make("gru", 2, 3)
    x = np.random.default_rng(8).standard_normal((4, 2))
    out, h = model(mg.tensor(x))
    batched, hb = model(mg.tensor(x[:, None]))
    assert out.shape == (4, 3) and h.shape == (1, 3)
    np.testing.assert_allclose(out.data, batched.data[:, 0])


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_reused_trace_gives_bit_for_bit_what_a_fresh_one_gives(kind):
    """The layers pass their weights to mg.scan as consts, so a call traces
    its step only when shapes change. Training steps that reuse the traces
    give exactly what traces made afresh at every call give."""
    from minigrad import loops

    rng = np.random.default_rng(5)
    x = mg.tensor(rng.standard_normal((6, 3, 4)))
    lengths = np.array([6, 2, 4])

    def train(fresh: bool) -> list:
        layer = make(kind, 4, 5, seed=1, num_layers=2, bidirectional=True)
        opt = nn.optim.SGD(layer.parameters(), lr=0.1)
        seen = []
        loops._programs.clear()
        for _ in range(3):
            if fresh:
                loops._programs.clear()
            out, _ = layer(x, lengths=lengths)
            opt.zero_grad()
            (out * out).sum().backward()
            seen += [out.data.copy()] + [p.grad.data.copy() for p in layer.parameters()]
            opt.step()
        with mg.no_grad():
            seen.append(layer(x[:, :1])[0].data)  # another batch size, under no_grad
        return seen

    for got, want in zip(train(fresh=False), train(fresh=True), strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("make", [lambda: nn.LSTM(3, 4, peephole="False"), lambda: nn.LSTMCell(3, 4, peephole="no")])
def test_peephole_refuses_a_string(make):
    """peephole="False" built a peephole LSTM (bool("False") is True), silently
    another model with other parameters: a TypeError naming the flag, as for
    bidirectional, batch_first and bias."""
    with pytest.raises(TypeError, match="peephole must be True or False"):
        make()
