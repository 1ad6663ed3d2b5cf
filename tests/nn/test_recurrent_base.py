"""nn.RecurrentLayer / nn.CellSpec / nn.RecurrentCell, the public recurrent base:
every layer built on it (RNN, LSTM, GRU and the minimal gated unit of
docs/writing-a-layer.md) equals the plain Python loop it stands for -- each
sequence alone, layer after layer, each direction a loop of its cell -- and
gradchecks; edge inputs (empty batch, lengths=[], lists of states, integer
inputs) and bad specs are handled as PyTorch would, or clearly refused."""

import pathlib
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
import nn
from minigrad import testing as mt

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "writing-a-layer.md"


def doc_namespace() -> dict:
    """What the code blocks of docs/writing-a-layer.md define (they run as written)."""
    namespace: dict = {}
    for block in re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S):
        exec(compile(block, str(DOC), "exec"), namespace)
    return namespace


DOC_NAMES = doc_namespace()
MGULayer, MGUCell = DOC_NAMES["MGULayer"], DOC_NAMES["MGUCell"]

KINDS = {
    "rnn_tanh": lambda i, h, **kw: nn.RNN(i, h, **kw),
    "rnn_relu": lambda i, h, **kw: nn.RNN(i, h, nonlinearity="relu", **kw),
    "lstm": lambda i, h, **kw: nn.LSTM(i, h, **kw),
    "lstm_peephole": lambda i, h, **kw: nn.LSTM(i, h, peephole=True, **kw),
    "gru": lambda i, h, **kw: nn.GRU(i, h, **kw),
    "mgu (docs)": lambda i, h, **kw: MGULayer(i, h, **kw),
}


def as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


def loop_reference(layer: nn.RecurrentLayer, x: np.ndarray, h0: list[np.ndarray], lengths) -> tuple:
    """What ``layer(x, h0, lengths)`` stands for, written out: every sequence
    alone (its real steps only), layer after layer, each direction a Python
    loop of a cell with that layer and direction's weights. x is (T, B, I)."""
    steps, batch, _ = x.shape
    hidden, directions, n_states = layer.hidden_size, layer.num_directions, layer.cell.states
    params = layer.state_dict()
    out = np.zeros((steps, batch, directions * hidden))
    finals = np.zeros((n_states, layer.num_layers * directions, batch, hidden))
    for b in range(batch):
        n = int(lengths[b])
        seq = x[:n, b:b + 1]  # (n, 1, features): this sequence alone
        for k in range(layer.num_layers):
            outputs = []
            for d in range(directions):
                suffix = f"_l{k}" + ("_reverse" if d else "")
                cell = nn.RecurrentCell(seq.shape[-1], hidden, bias=layer.bias, cell=layer.cell).to(np.float64)
                cell.load_state_dict({name[:-len(suffix)]: v for name, v in params.items() if name.endswith(suffix)
                                      and "_l" not in name[:-len(suffix)]})
                row = k * directions + d
                state = tuple(mg.tensor(h[row, b:b + 1]) for h in h0)
                ys = [None] * n
                for t in (range(n) if d == 0 else reversed(range(n))):
                    state = as_tuple(cell(mg.tensor(seq[t]), state if n_states > 1 else state[0]))
                    ys[t] = state[0].data
                outputs.append(np.stack(ys))
                for s in range(n_states):
                    finals[s, row, b] = state[s].data[0]
            seq = np.concatenate(outputs, axis=-1)
        out[:n, b] = seq[:, 0]
    return out, finals


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=6, deadline=None)
@given(data=st.data())
def test_layer_equals_the_loop_of_its_cell(kind, data):
    steps, batch = data.draw(st.integers(1, 4), label="T"), data.draw(st.integers(1, 3), label="B")
    layers, bi = data.draw(st.integers(1, 3), label="layers"), data.draw(st.booleans(), label="bidirectional")
    batch_first, bias = data.draw(st.booleans(), label="batch_first"), data.draw(st.booleans(), label="bias")
    with_h0, with_lengths = data.draw(st.booleans(), label="h0"), data.draw(st.booleans(), label="lengths")
    rng = np.random.default_rng(data.draw(st.integers(0, 1000), label="seed"))
    layer = KINDS[kind](2, 3, num_layers=layers, bidirectional=bi, batch_first=batch_first, bias=bias,
                        rng=rng).to(np.float64)
    x = rng.standard_normal((steps, batch, 2))
    rows = layers * layer.num_directions
    h0 = [0.5 * rng.standard_normal((rows, batch, 3)) for _ in range(layer.cell.states)]
    lengths = np.array(data.draw(mt.lengths(batch, steps), label="lengths values")) if with_lengths else None

    given_h0 = (tuple(map(mg.tensor, h0)) if len(h0) > 1 else mg.tensor(h0[0])) if with_h0 else None
    out, final = layer(mg.tensor(x.transpose(1, 0, 2) if batch_first else x), given_h0, lengths)
    expected_out, expected_finals = loop_reference(layer, x, h0 if with_h0 else [0 * h for h in h0],
                                                   lengths if with_lengths else [steps] * batch)
    got = out.data.transpose(1, 0, 2) if batch_first else out.data
    np.testing.assert_allclose(got, expected_out, rtol=1e-10, atol=1e-12)
    for s, expected in zip(as_tuple(final), expected_finals):
        np.testing.assert_allclose(s.data, expected, rtol=1e-10, atol=1e-12)
    if with_lengths:  # exactly zero past each end, not merely small
        for b, n in enumerate(lengths):
            assert not got[n:, b].any()


@settings(max_examples=4, deadline=None)
@given(data=st.data())
def test_the_docs_mgu_layer_gradchecks_stacked_bidirectional_with_lengths_and_h0(data):
    steps, batch = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    rng = np.random.default_rng(data.draw(st.integers(0, 1000)))
    layer = MGULayer(2, 2, num_layers=2, bidirectional=True, rng=rng).to(np.float64)
    x = mg.tensor(rng.standard_normal((steps, batch, 2)), requires_grad=True)
    h0 = mg.tensor(0.5 * rng.standard_normal((4, batch, 2)), requires_grad=True)
    lengths = np.array(data.draw(mt.lengths(batch, steps)))
    weights = rng.standard_normal((steps, batch, 4))

    def loss(x, h0, *params):
        out, h_n = layer(x, h0, lengths)
        return (out * weights).sum() + (h_n * h_n).sum()

    assert mg.gradcheck(loss, [x, h0, *layer.parameters()])


def test_the_docs_mgu_step_is_the_mgu_by_hand():
    """One step against the equations in NumPy, with PyTorch-style stacked weights."""
    cell = MGUCell(2, 3, rng=np.random.default_rng(0)).to(np.float64)
    p = {k: v.copy() for k, v in cell.state_dict().items()}
    x, h = np.array([[0.3, -0.7]]), np.array([[0.1, -0.4, 0.6]])
    pre_x = x @ p["weight_ih"].T + p["bias_ih"] + p["bias_hh"]
    w_f, w_h = p["weight_hh"][:3], p["weight_hh"][3:]
    f = 1 / (1 + np.exp(-(pre_x[:, :3] + h @ w_f.T)))
    expected = (1 - f) * h + f * np.tanh(pre_x[:, 3:] + (f * h) @ w_h.T)
    np.testing.assert_allclose(cell(mg.tensor(x), mg.tensor(h)).data, expected, rtol=1e-13)


def test_dropout_between_layers_is_functional_dropout_on_every_layer_but_the_last():
    layer = nn.GRU(2, 3, num_layers=3, dropout=0.4, rng=np.random.default_rng(0)).to(np.float64)
    x = mg.tensor(np.random.default_rng(1).standard_normal((4, 2, 2)))
    singles = [nn.GRU(2 if k == 0 else 3, 3).to(np.float64) for k in range(3)]
    for k, single in enumerate(singles):
        single.load_state_dict({name.replace(f"_l{k}", "_l0"): v for name, v in layer.state_dict().items()
                                if name.endswith(f"_l{k}")})
    layer.rng = np.random.default_rng(5)
    got, _ = layer(x)
    rng, y = np.random.default_rng(5), x
    for k, single in enumerate(singles):
        y = single(y if k == 0 else nn.functional.dropout(y, 0.4, True, rng))[0]
    np.testing.assert_array_equal(got.data, y.data)
    layer.eval()
    deterministic = [layer(x)[0].data for _ in range(2)]
    np.testing.assert_array_equal(deterministic[0], deterministic[1])


@pytest.mark.parametrize("kind", KINDS)
def test_stepper_equals_the_layer(kind):
    layer = KINDS[kind](2, 3, num_layers=2, rng=np.random.default_rng(2)).to(np.float64)
    x = mg.tensor(np.random.default_rng(3).standard_normal((5, 2, 2)))
    out, final = layer(x)
    step, states = layer.stepper(), layer.split_states([mg.zeros(2, 2, 3, dtype=np.float64)] * layer.cell.states)
    for t in range(5):
        y, states = step(x[t], states)
        np.testing.assert_allclose(y.data, out.data[t], rtol=1e-12)
    for s, whole in zip(zip(*states), as_tuple(final)):
        np.testing.assert_allclose(mg.stack(s).data, whole.data, rtol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_a_stepper_steps_with_the_parameters_as_they_are_after_an_optimizer_step(kind):
    """The stepper's prepared weights (transposed views, folded biases, reordered
    gates) are made again after an in-place change: never a mix of old and new."""
    layer = KINDS[kind](2, 3, num_layers=2, rng=np.random.default_rng(4)).to(np.float64)
    x = mg.tensor(np.random.default_rng(5).standard_normal((1, 2, 2)))
    step = layer.stepper()
    states = layer.split_states([mg.zeros(2, 2, 3, dtype=np.float64)] * layer.cell.states)
    step(x[0], states)
    for p in layer.parameters():
        p.grad = mg.ones(*p.shape, dtype=np.float64)
    nn.optim.SGD(layer.parameters(), lr=0.5).step()
    y, _ = step(x[0], states)
    np.testing.assert_allclose(y.data, layer(x)[0].data[0], rtol=1e-12)


def _step_gradients(layer, step, x, states) -> dict:
    """Every parameter's gradient of one step's squared output, through ``step``."""
    layer.zero_grad()
    y, _ = step(x, states)
    (y ** 2).sum().backward()
    return {name: None if p.grad is None else p.grad.data.copy() for name, p in layer.named_parameters()}


@pytest.mark.parametrize("kind", KINDS)
def test_a_stepper_reused_across_grad_modes_and_backwards_gives_a_fresh_steppers_gradients(kind):
    """A stepper whose weights were prepared under no_grad (a validation decode)
    prepares them again in grad mode (it kept no-grad weights: no gradient
    reached the weights, silently); one reused for a second backward (gradient
    accumulation) prepares them again after the first freed their graph."""
    layer = KINDS[kind](2, 3, num_layers=2, rng=np.random.default_rng(6)).to(np.float64)
    rng = np.random.default_rng(7)
    x = mg.tensor(rng.standard_normal((2, 2)))
    states = layer.split_states([mg.tensor(rng.standard_normal((2, 2, 3)))] * layer.cell.states)
    expected = _step_gradients(layer, layer.stepper(), x, states)
    step = layer.stepper()
    with mg.no_grad():
        step(x, states)
    for _ in range(2):  # after no_grad, then after a backward through the same stepper
        got = _step_gradients(layer, step, x, states)
        for name, g in expected.items():
            np.testing.assert_allclose(got[name], g, rtol=1e-12, err_msg=name)


@pytest.mark.parametrize("kind", KINDS)
def test_a_stepper_follows_parameters_frozen_and_unfrozen(kind):
    """Weights prepared while the layer was frozen carry no graph: after
    unfreezing, a reused stepper must give a fresh stepper's gradients (it gave
    none, silently); frozen again, no gradient may reach the frozen weights."""
    layer = KINDS[kind](2, 3, rng=np.random.default_rng(10)).to(np.float64)
    rng = np.random.default_rng(11)
    x = mg.tensor(rng.standard_normal((2, 2)))
    states = layer.split_states([mg.tensor(rng.standard_normal((1, 2, 3)))] * layer.cell.states)
    step = layer.stepper()
    for frozen in (True, False, True):
        for p in layer.parameters():
            p.requires_grad_(not frozen)
        x.requires_grad_(True)  # (so that a frozen layer's output still has a graph)
        got = _step_gradients(layer, step, x, states)
        expected = _step_gradients(layer, layer.stepper(), x, states)
        for name, g in expected.items():
            assert (got[name] is None) == (g is None) == frozen, name
            if g is not None:
                np.testing.assert_allclose(got[name], g, rtol=1e-12, err_msg=name)


@pytest.mark.parametrize("kind", KINDS)
def test_a_stepper_steps_with_a_parameter_replaced_by_assignment(kind):
    layer = KINDS[kind](2, 3, rng=np.random.default_rng(8)).to(np.float64)
    x = mg.tensor(np.random.default_rng(9).standard_normal((1, 2, 2)))
    states = layer.split_states([mg.zeros(1, 2, 3, dtype=np.float64)] * layer.cell.states)
    step = layer.stepper()
    step(x[0], states)
    layer.weight_hh_l0 = nn.Parameter(layer.weight_hh_l0.data + 0.5)
    y, _ = step(x[0], states)
    np.testing.assert_allclose(y.data, layer(x)[0].data[0], rtol=1e-12)


# -- edge inputs (issue 14.11) ---------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("batch_first", [False, True])
def test_an_empty_batch_gives_empty_outputs_and_zero_gradients(kind, batch_first):
    layer = KINDS[kind](3, 4, num_layers=2, bidirectional=True, batch_first=batch_first)
    x = mg.zeros(0, 5, 3) if batch_first else mg.zeros(5, 0, 3)
    for lengths in (None, [], np.zeros(0, dtype=np.int64)):
        out, final = layer(x, lengths=lengths)
        assert out.shape == ((0, 5, 8) if batch_first else (5, 0, 8))
        assert all(s.shape == (4, 0, 4) for s in as_tuple(final))
    out.sum().backward()
    assert all(p.grad is not None and not p.grad.data.any() for p in layer.parameters())


def test_lengths_edge_cases_are_clear_errors():
    layer = nn.LSTM(3, 4)
    with pytest.raises(ValueError, match=r"LSTM: lengths must hold one length per sequence: expected shape \(2,\), "
                                         r"got shape \(0,\)"):
        layer(mg.zeros(5, 2, 3), lengths=[])
    with pytest.raises(TypeError, match="LSTM: lengths must hold integers, got dtype bool"):
        layer(mg.zeros(5, 2, 3), lengths=[True, True])
    with pytest.raises(ValueError, match="LSTM: the input has no time steps"):
        layer(mg.zeros(0, 2, 3))


def test_a_layer_of_your_own_makes_the_dtype_check_of_every_layer():
    """(tests/nn/test_layers.py checks the built-in layers the same way.)"""
    layer = MGULayer(3, 4)
    with pytest.raises(TypeError, match=r"MGULayer: input has dtype int64 but the parameters are float32; cast it "
                                        r"to floating point \(x.astype\(np.float32\)\)"):
        layer(np.zeros((5, 2, 3), dtype=np.int64))
    with pytest.raises(TypeError, match=r"MGULayer: h0 has dtype float64 but the parameters are float32"):
        layer(mg.zeros(5, 2, 3), np.zeros((1, 2, 4)))


def test_states_as_lists_like_tuples_as_pytorch_takes_them():
    lstm = nn.LSTM(3, 4, num_layers=2, rng=np.random.default_rng(0))
    x = mg.randn(5, 2, 3, rng=np.random.default_rng(1))
    h0, c0 = mg.randn(2, 2, 4, rng=np.random.default_rng(2)), mg.randn(2, 2, 4, rng=np.random.default_rng(3))
    as_tuple_out, (h, c) = lstm(x, (h0, c0))
    as_list_out, (h_l, c_l) = lstm(x, [h0, c0])
    np.testing.assert_array_equal(as_tuple_out.data, as_list_out.data)
    np.testing.assert_array_equal(c.data, c_l.data)
    cell = nn.LSTMCell(3, 4)
    np.testing.assert_array_equal(cell(x[0], [h0[0], c0[0]])[1].data, cell(x[0], (h0[0], c0[0]))[1].data)
    with pytest.raises(ValueError, match=r"LSTM: the state must be a tuple \(h0, c0\), got a list of 1"):
        lstm(x, [h0])
    with pytest.raises(ValueError, match=r"LSTM: the state must be a tuple \(h0, c0\), got a tuple of 3"):
        lstm(x, (h0, c0, c0))
    with pytest.raises(ValueError, match="GRU: the state must be one tensor, got a tuple of 2"):
        nn.GRU(3, 4)(x, (h0[:1], h0[:1]))
    with pytest.raises(ValueError, match=r"LSTMCell: the state must be a tuple \(h, c\), got a Tensor"):
        cell(x[0], h0[0])
    with pytest.raises(TypeError, match="LSTM: c0 must be a Tensor or an array of numbers, got NoneType"):
        lstm(x, (h0, None))


@pytest.mark.parametrize("make", [lambda: nn.LSTM(3, 4), lambda: nn.LSTMCell(3, 4)])
def test_a_parameter_set_to_none_is_named(make):
    module = make()
    name = "bias_hh_l0" if isinstance(module, nn.LSTM) else "bias_hh"
    setattr(module, name, None)  # allowed, as in PyTorch; computing with it is not
    with pytest.raises(ValueError, match=f"parameter {name} is None"):
        module(mg.randn(5, 2, 3) if isinstance(module, nn.LSTM) else mg.randn(2, 3))


# -- the contract ---------------------------------------------------------------------------------

def identity_step(projected, state, weights):
    return state


@pytest.mark.parametrize("spec,error,message", [
    (lambda: nn.CellSpec(0, 1, identity_step), ValueError, "CellSpec: gates must be a positive int, got 0"),
    (lambda: nn.CellSpec(2, 0, identity_step), ValueError, "CellSpec: states must be a positive int, got 0"),
    (lambda: nn.CellSpec(2, 1, "step"), TypeError, "CellSpec: step must be a function"),
    (lambda: nn.CellSpec(2, 1, identity_step, order=(0, 0)), ValueError, r"order must be a permutation of range\(2\)"),
    (lambda: nn.CellSpec(2, 1, identity_step, bounded="yes"), TypeError, "CellSpec: bounded must be True or False, "
     "got 'yes'"),
    (lambda: nn.CellSpec(2, 1, identity_step, pure=1), TypeError, "CellSpec: pure must be True or False, got 1"),
    (lambda: nn.CellSpec(2, 1, identity_step, extra={"weight_hh": lambda h: (h,)}), ValueError,
     "extra must map new parameter names"),
    (lambda: nn.RecurrentLayer(2, 3), TypeError, "RecurrentLayer: a recurrent module needs a CellSpec"),
    (lambda: nn.RecurrentCell(2, 3), TypeError, "RecurrentCell: a recurrent module needs a CellSpec"),
])
def test_bad_specs_are_refused(spec, error, message):
    with pytest.raises(error, match=message):
        spec()


def test_a_step_returning_the_wrong_state_is_named():
    too_many = nn.CellSpec(1, 1, lambda projected, state, weights: (state[0], state[0]))
    wrong_shape = nn.CellSpec(2, 1, lambda projected, state, weights: projected)
    with pytest.raises(ValueError, match=r"RecurrentLayer: the cell's step must return 1 state tensor\(s\) of shape "
                                         r"\(2, 3\), got \[\(2, 3\), \(2, 3\)\]"):
        nn.RecurrentLayer(2, 3, cell=too_many)(mg.zeros(4, 2, 2))
    with pytest.raises(ValueError, match=r"got \[\(2, 6\)\]"):
        nn.RecurrentCell(2, 3, cell=wrong_shape)(mg.zeros(2, 2))


def test_extra_parameters_and_peephole_belong_to_their_spec():
    spec = nn.CellSpec(1, 1, lambda projected, state, weights: (mg.tanh(projected + weights["scale"] * state[0]),),
                       extra={"scale": lambda hidden: (hidden,)})
    layer = nn.RecurrentLayer(2, 3, num_layers=2, bidirectional=True, cell=spec)
    assert [name for name in layer.state_dict() if "scale" in name] == [
        "scale_l0", "scale_l0_reverse", "scale_l1", "scale_l1_reverse"]
    assert layer(mg.zeros(4, 2, 2))[0].shape == (4, 2, 6)
    with pytest.raises(TypeError, match="peephole"):
        nn.GRU(2, 3, peephole=True)
    assert "weight_peep_l0" in nn.LSTM(2, 3, peephole=True).state_dict()
    assert repr(nn.LSTM(2, 3, peephole=True)) == "LSTM(2, 3, peephole=True)"


def test_a_cell_repr_shows_what_changes_its_step():
    """RNNCell(3, 4, nonlinearity='relu') showed as RNNCell(3, 4), a peephole LSTMCell as LSTMCell(3, 4):
    a printed model hid that its cell was not the default one (the layers showed both)."""
    assert repr(nn.RNNCell(3, 4, nonlinearity="relu")) == "RNNCell(3, 4, nonlinearity='relu')"
    assert repr(nn.LSTMCell(3, 4, bias=False, peephole=True)) == "LSTMCell(3, 4, bias=False, peephole=True)"
    assert repr(nn.RNNCell(3, 4)) == "RNNCell(3, 4)" and repr(nn.LSTMCell(3, 4)) == "LSTMCell(3, 4)"


def test_a_cell_that_reads_python_state_is_traced_at_every_call():
    """A step that reads a global (not pure: the default) sees its value at
    every call; the same step promised pure is traced once per shapes."""
    from minigrad import loops

    setting = {"scale": 1.0}

    def scaled_step(projected, state, weights):
        (h,) = state
        return (mg.tanh(projected + h @ weights["recurrent"]) * setting["scale"],)

    rng = np.random.default_rng(0)
    x = mg.tensor(rng.standard_normal((4, 2, 3)))
    plain = nn.RecurrentLayer(3, 5, cell=nn.CellSpec(1, 1, scaled_step), rng=np.random.default_rng(1)).to(np.float64)
    pure = nn.RecurrentLayer(3, 5, cell=nn.CellSpec(1, 1, scaled_step, pure=True),
                             rng=np.random.default_rng(1)).to(np.float64)
    loops._programs.clear()
    first, _ = plain(x)
    setting["scale"] = 0.5
    second, _ = plain(x)
    setting["scale"] = 1.0
    with mg.no_grad():  # what the loop gives at scale 0.5
        step = plain._scan_step("plain")
        params = plain._parameters_of(0, 0)
        setting["scale"] = 0.5
        _, expected = mg.scan(lambda s, i: step(s, i, params), (mg.tensor(np.zeros((2, 5))),), (x,), unroll=True)
        setting["scale"] = 1.0
    np.testing.assert_allclose(second.data, expected.data, rtol=1e-12)
    assert not np.allclose(first.data, second.data)
    assert len(loops._programs._programs) == 0  # nothing kept for a cell that is not pure
    pure(x)
    pure(x)
    assert len(loops._programs._programs) == 1


def test_pure_must_be_a_bool():
    with pytest.raises(TypeError, match="CellSpec: pure must be True or False, got 1"):
        nn.CellSpec(1, 1, lambda p, s, w: s, pure=1)
