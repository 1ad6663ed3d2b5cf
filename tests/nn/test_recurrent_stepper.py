"""The stepper and the layers' arguments, as users get them wrong (found by an
outside audit; each test failed before the fix). References are plain NumPy
loops written from PyTorch's documented equations."""

import numpy as np
import pytest

import minigrad as mg
import nn

LAYERS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def _sig(a):
    return 1 / (1 + np.exp(-a))


def _lstm_step(x, h, c, sd, suffix):
    """PyTorch's LSTM step, gates i, f, g, o."""
    a = (x @ sd["weight_ih" + suffix].T + sd["bias_ih" + suffix]
         + h @ sd["weight_hh" + suffix].T + sd["bias_hh" + suffix])
    i, f, g, o = np.split(a, 4, axis=-1)
    c = _sig(f) * c + _sig(i) * np.tanh(g)
    return _sig(o) * np.tanh(c), c


def _zeros_states(kind, layers, batch, hidden):
    count = 2 if kind == "lstm" else 1
    return [tuple(mg.zeros(batch, hidden, dtype=np.float64) for _ in range(count)) for _ in range(layers)]


# -- 1. the stepper takes states in a wrong layout and computes silently ------------------------------

@pytest.mark.parametrize("kind", list(LAYERS))
def test_stepper_with_states_for_fewer_layers_than_num_layers_is_an_error(kind):
    """A 3-layer stepper given the states of one layer runs one layer (zip
    truncates) and returns layer 0's h as "the last layer's h": silently wrong."""
    layer = LAYERS[kind](3, 4, 3, rng=np.random.default_rng(0)).to(np.float64)
    step = layer.stepper()
    x = mg.tensor(np.random.default_rng(1).standard_normal((2, 3)))
    with pytest.raises((ValueError, TypeError)):
        step(x, _zeros_states(kind, 1, 2, 4))


def test_stepper_given_the_layers_h0_c0_instead_of_split_states_is_an_error():
    """A 2-layer LSTM stepper given (h0, c0) in the layer's format, (num_layers, B, H)
    each, instead of split_states(...): it takes h0's two rows as layer 0's (h, c)
    and c0's as layer 1's and computes a wrong output without an error."""
    rng = np.random.default_rng(2)
    layer = nn.LSTM(3, 4, 2, rng=np.random.default_rng(3)).to(np.float64)
    x = rng.standard_normal((5, 3))
    h0, c0 = rng.standard_normal((2, 5, 4)), rng.standard_normal((2, 5, 4))
    sd = {k: np.asarray(v, np.float64) for k, v in layer.state_dict().items()}
    h_a, _ = _lstm_step(x, h0[0], c0[0], sd, "_l0")
    expected, _ = _lstm_step(h_a, h0[1], c0[1], sd, "_l1")
    step = layer.stepper()
    try:
        out, _ = step(mg.tensor(x), (mg.tensor(h0), mg.tensor(c0)))
    except (ValueError, TypeError):
        return  # a clear error is fine
    np.testing.assert_allclose(out.data, expected, atol=1e-10)  # (was off by ~0.3)


@pytest.mark.parametrize("kind", list(LAYERS))
def test_split_states_checks_the_number_of_layers(kind):
    """split_states(h0) takes rows 0..num_layers-1 of whatever it gets: an h0 of a
    bidirectional or deeper layer (more rows) is cut silently."""
    layer = LAYERS[kind](3, 4, 2, rng=np.random.default_rng(0)).to(np.float64)
    h0 = mg.zeros(3, 2, 4, dtype=np.float64)  # 3 rows for a 2-layer layer
    with pytest.raises(ValueError):
        layer.split_states((h0, h0) if kind == "lstm" else h0)


# -- 2. the stepper skips the input checks the layer and the cells make -------------------------------

@pytest.mark.parametrize("kind", list(LAYERS))
def test_stepper_x_batch_must_match_the_states_batch(kind):
    """x (1, I) with states (3, H): broadcast silently to 3 sequences all reading
    the same input (forward and the cells raise: "h must have shape (1, 4)")."""
    layer = LAYERS[kind](3, 4, 1, rng=np.random.default_rng(0)).to(np.float64)
    step = layer.stepper()
    with pytest.raises(ValueError):
        step(mg.tensor(np.ones((1, 3))), _zeros_states(kind, 1, 3, 4))


@pytest.mark.parametrize("kind", list(LAYERS))
def test_stepper_input_dtype_is_checked_as_in_forward(kind):
    """float64 x into a float32 layer's stepper: float64 states come back (a
    silent cast); forward and the cells raise a TypeError naming both dtypes."""
    layer = LAYERS[kind](3, 4, 1, rng=np.random.default_rng(0))  # float32
    assert layer.weight_hh_l0.dtype == np.float32
    count = 2 if kind == "lstm" else 1
    states = [tuple(mg.zeros(2, 4, dtype=np.float32) for _ in range(count))]
    with pytest.raises(TypeError):
        layer(mg.tensor(np.ones((1, 2, 3))))  # the rule, as forward applies it
    with pytest.raises(TypeError):
        layer.stepper()(mg.tensor(np.ones((2, 3))), states)


# -- 3. the stepper's prepared weights tie independent graphs together ------------------------------

def _grads(layer):
    return [np.array(getattr(p.grad, "data", p.grad)).copy() for p in layer.parameters()]


@pytest.mark.parametrize("kind", list(LAYERS))
def test_two_independent_losses_from_one_stepper_backward_separately(kind):
    """Two sequences stepped with one stepper, each loss backpropagated on its own
    (independent graphs): works in PyTorch and with forward(); here the second
    backward raises "backward through 'add' a second time ... call the first
    backward with retain_graph=True" because both graphs share the stepper's
    prepared (interior) weight tensors."""
    rng = np.random.default_rng(4)
    layer = LAYERS[kind](3, 4, 1, rng=np.random.default_rng(5)).to(np.float64)
    xa, xb = rng.standard_normal((1, 2, 3)), rng.standard_normal((1, 2, 3))
    layer.zero_grad()
    oa, ob = layer(mg.tensor(xa))[0], layer(mg.tensor(xb))[0]
    (oa * oa).sum().backward()
    (ob * ob).sum().backward()
    expected = _grads(layer)
    layer.zero_grad()
    step = layer.stepper()
    oa, _ = step(mg.tensor(xa[0]), _zeros_states(kind, 1, 2, 4))
    ob, _ = step(mg.tensor(xb[0]), _zeros_states(kind, 1, 2, 4))
    (oa * oa).sum().backward()
    (ob * ob).sum().backward()  # (was: RuntimeError, backward a second time)
    for got, want in zip(_grads(layer), expected):
        np.testing.assert_allclose(got, want, atol=1e-12)


@pytest.mark.parametrize("kind", list(LAYERS))
def test_stepper_keeps_working_after_mg_grad_went_through_its_steps(kind):
    """mg.grad (a backward that frees the graph but sets no .grad) through the
    steps does not count as "spent": the next, unrelated sequence's backward
    raises "backward ... a second time"."""
    rng = np.random.default_rng(6)
    layer = LAYERS[kind](3, 4, 2, rng=np.random.default_rng(7)).to(np.float64)
    step = layer.stepper()
    x0 = mg.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    o, _ = step(x0, _zeros_states(kind, 2, 2, 4))
    mg.grad([(o * o).sum()], [x0])
    x1 = rng.standard_normal((2, 3))
    layer.zero_grad()
    o, _ = step(mg.tensor(x1), _zeros_states(kind, 2, 2, 4))
    (o * o).sum().backward()  # (was: RuntimeError, backward a second time)
    got = _grads(layer)
    layer.zero_grad()
    o, _ = layer.stepper()(mg.tensor(x1), _zeros_states(kind, 2, 2, 4))
    (o * o).sum().backward()
    for g, want in zip(got, _grads(layer)):
        np.testing.assert_allclose(g, want, atol=1e-12)


# -- 4. constructor arguments -----------------------------------------------------------------------

@pytest.mark.parametrize("kind", list(LAYERS))
def test_dropout_as_a_numpy_float32_is_accepted(kind):
    """dropout=np.float32(0.2) (from a NumPy config or np.linspace sweep) is
    refused with "dropout must be a probability in [0, 1), got np.float32(0.2)":
    a misleading error for a valid probability (np.float64(0.2) is accepted;
    nn.functional.dropout accepts both)."""
    layer = LAYERS[kind](3, 4, 2, dropout=np.float32(0.2))
    assert layer.dropout == pytest.approx(0.2)


@pytest.mark.parametrize("flag", ["bidirectional", "batch_first", "bias"])
def test_boolean_flags_refuse_strings(flag):
    """bidirectional="False" builds a bidirectional layer (bool("False") is True):
    the project's rule is a TypeError naming the argument (as CellSpec and the
    optimisers do for their flags)."""
    with pytest.raises(TypeError, match=flag):
        nn.LSTM(3, 4, **{flag: "False"})


@pytest.mark.parametrize("kind", list(LAYERS))
def test_a_one_graph_stepper_keeps_its_weights_in_grad_mode_and_gives_the_same_gradients(kind):
    """A decoder's forward makes a stepper per batch and puts every step into one graph: one_graph=True keeps
    the weights there too (making them at every step doubled an LSTM step's time; found by review). Gradients
    equal a per-step stepper's; a new optimizer step is seen."""
    rng = np.random.default_rng(8)
    layer = LAYERS[kind](3, 4, 2, rng=np.random.default_rng(9)).to(np.float64)
    xs = [mg.tensor(rng.standard_normal((2, 3))) for _ in range(3)]
    grads = []
    for one_graph in (False, True):
        layer.zero_grad()
        step, states = layer.stepper(one_graph=one_graph), _zeros_states(kind, 2, 2, 4)
        total = 0
        for x in xs:
            out, states = step(x, states)
            total = total + (out * out).sum()
        total.backward()
        grads.append(_grads(layer))
    for got, want in zip(grads[1], grads[0]):
        np.testing.assert_allclose(got, want, atol=1e-12)
    with pytest.raises(TypeError, match="one_graph must be True or False"):
        layer.stepper(one_graph="yes")
