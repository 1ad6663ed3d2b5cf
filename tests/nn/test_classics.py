"""The classic pieces: Jordan network, time-delay layer, recursive NN over
trees, echo state network, RTRL."""

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
import nn
from nn.rtrl import rtrl_gradients
from nn.tree import flatten_trees


def rng_for(*seed):
    return np.random.default_rng(list(seed))


# -- Jordan ---------------------------------------------------------------------------------------
@given(st.integers(1, 4), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.booleans(),
       st.sampled_from([None, "tanh", "sigmoid"]))
def test_jordan_gradcheck(steps, batch, size, out_size, with_y0, activation):
    net = nn.Jordan(size, 3, out_size, output_activation=activation, rng=rng_for(steps, batch)).to(np.float64)
    x = mg.tensor(rng_for(size).standard_normal((steps, batch, size)), requires_grad=True)
    y0 = mg.tensor(rng_for(out_size).standard_normal((batch, out_size)), requires_grad=True) if with_y0 else None
    inputs = [x, *net.parameters()] + ([y0] if with_y0 else [])
    assert mg.gradcheck(lambda x, *rest: net(x, y0)[0], inputs)


def test_jordan_feeds_the_output_back_by_hand():
    net = nn.Jordan(1, 1, 1).to(np.float64)
    for name, value in (("weight_ih", 0.5), ("weight_oh", 2.0), ("bias_h", 0.1), ("weight_ho", 3.0), ("bias_o", -1)):
        getattr(net, name).data[...] = value
    out, last = net(mg.tensor([[[1.0]], [[-1.0]]], dtype=np.float64))
    y1 = 3 * np.tanh(0.5 + 0.1) - 1
    y2 = 3 * np.tanh(-0.5 + 2 * y1 + 0.1) - 1
    np.testing.assert_allclose(out.data.ravel(), [y1, y2], rtol=1e-12)
    assert last.item() == out.data[-1, 0, 0]
    assert [name for name, _ in net.named_parameters()] == ["weight_ih", "weight_oh", "bias_h", "weight_ho", "bias_o"]


def test_jordan_batch_first_and_bad_input():
    net = nn.Jordan(2, 3, 1, batch_first=True)
    x = np.random.default_rng(0).standard_normal((4, 5, 2)).astype(np.float32)
    time_major = nn.Jordan(2, 3, 1)
    time_major.load_state_dict(net.state_dict())
    np.testing.assert_allclose(net(x)[0].data, time_major(x.transpose(1, 0, 2))[0].data.transpose(1, 0, 2))
    with pytest.raises(ValueError, match=r"input must be \(T, B, 2\).*got shape \(4, 5, 3\)"):
        net(np.zeros((4, 5, 3)))
    with pytest.raises(ValueError, match=r"y0 must have shape \(4, 1\), got \(4, 2\)"):
        net(x, np.zeros((4, 2)))
    with pytest.raises(ValueError, match="output_activation"):
        nn.Jordan(2, 3, 1, output_activation="relu")


# -- TimeDelay ------------------------------------------------------------------------------------
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(1, 2), st.booleans())
def test_time_delay_gradcheck(batch, size, out_size, kernel, dilation, bias):
    layer = nn.TimeDelay(size, out_size, kernel, dilation, bias=bias, rng=rng_for(batch, size)).to(np.float64)
    steps = (kernel - 1) * dilation + 2
    x = mg.tensor(rng_for(kernel).standard_normal((steps, batch, size)), requires_grad=True)
    assert mg.gradcheck(lambda x, *ps: layer(x), [x, *layer.parameters()])


@given(st.integers(1, 4), st.integers(1, 3), st.integers(0, 4))
def test_time_delay_is_a_valid_convolution_over_time(kernel, dilation, extra):
    layer = nn.TimeDelay(3, 2, kernel, dilation, rng=rng_for(kernel, dilation, extra)).to(np.float64)
    steps = (kernel - 1) * dilation + 1 + extra
    x = rng_for(kernel, dilation).standard_normal((steps, 2, 3))
    w, b = layer.weight.data, layer.bias.data
    expected = np.stack([b + sum(x[t + k * dilation] @ w[:, :, k].T for k in range(kernel))
                         for t in range(extra + 1)])
    # (atol too: with rtol alone, an output near 0 failed on the rounding of a sum in another order)
    np.testing.assert_allclose(layer(mg.tensor(x)).data, expected, rtol=1e-12, atol=1e-13)


def test_time_delay_bad_input():
    layer = nn.TimeDelay(3, 2, kernel_size=3, dilation=2)
    with pytest.raises(ValueError, match="needs at least 5 time steps.*got 4"):
        layer(np.zeros((4, 1, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"input must be \(T, B, 3\)"):
        layer(np.zeros((6, 3)))
    with pytest.raises(ValueError, match="kernel_size must be a positive int"):
        nn.TimeDelay(3, 2, kernel_size=0)


# -- RecursiveNN ----------------------------------------------------------------------------------
def random_tree(rng, leaves, vocab):
    if leaves == 1:
        return int(rng.integers(vocab))
    split = int(rng.integers(1, leaves))
    return (random_tree(rng, split, vocab), random_tree(rng, leaves - split, vocab))


def compose_by_hand(model, tree):
    if isinstance(tree, int):
        return model.leaf.weight.data[tree]
    pair = np.concatenate([compose_by_hand(model, tree[0]), compose_by_hand(model, tree[1])])
    return np.tanh(model.compose.weight.data @ pair + model.compose.bias.data)


@given(st.lists(st.integers(1, 7), min_size=1, max_size=4), st.integers(0, 100))
def test_recursive_nn_equals_composing_each_tree_by_hand(sizes, seed):
    rng = np.random.default_rng(seed)
    model = nn.RecursiveNN(5, 3, rng=rng).to(np.float64)
    trees = [random_tree(rng, n, 5) for n in sizes]
    expected = np.stack([compose_by_hand(model, t) for t in trees])
    np.testing.assert_allclose(model(trees).data, expected, rtol=1e-12, atol=1e-15)


@given(st.lists(st.integers(1, 5), min_size=1, max_size=3), st.integers(0, 100))
def test_recursive_nn_gradcheck(sizes, seed):
    rng = np.random.default_rng(seed)
    model = nn.RecursiveNN(4, 2, rng=rng).to(np.float64)
    trees = [random_tree(rng, n, 4) for n in sizes]
    weights = mg.tensor(rng.standard_normal((len(trees), 2)))
    assert mg.gradcheck(lambda *ps: (model(trees) * weights).sum(), list(model.parameters()))


def test_flatten_trees_orders_children_before_parents_without_recursion():
    tokens, levels, roots = flatten_trees([((1, 2), 3), 4], vocab_size=5)
    assert tokens.tolist() == [1, 2, 3, 4] and [lv.tolist() for lv in levels] == [[[0, 1]], [[4, 2]]]
    assert roots.tolist() == [5, 3]
    deep = 0
    for _ in range(5000):  # a 5000-deep tree would overflow a recursive walk
        deep = (deep, 1)
    tokens, levels, roots = flatten_trees([deep], vocab_size=2)
    assert len(levels) == 5000 and roots.tolist() == [10000]


def test_recursive_nn_bad_trees():
    model = nn.RecursiveNN(3, 2)
    with pytest.raises(ValueError, match="tree leaf 3 is not a token id in 0..2"):
        model([(0, 3)])
    with pytest.raises(TypeError, match="pair"):
        model([(0, 1, 2)])
    with pytest.raises(ValueError, match="non-empty list"):
        model([])


# -- EchoStateNetwork -----------------------------------------------------------------------------
def test_esn_reservoir_has_the_requested_spectral_radius_and_stays_fixed():
    esn = nn.EchoStateNetwork(2, 50, spectral_radius=0.9, rng=np.random.default_rng(0))
    assert np.isclose(np.abs(np.linalg.eigvals(esn.w)).max(), 0.9)
    w = esn.w.copy()
    u = np.random.default_rng(1).standard_normal((300, 2))
    esn.fit(u, u[:, :1] * 2, washout=20)
    np.testing.assert_array_equal(esn.w, w)


def test_esn_readout_is_the_ridge_solution():
    # Targets that are exactly linear in [1; u] are fitted exactly.
    esn = nn.EchoStateNetwork(2, 30, ridge=1e-12, rng=np.random.default_rng(0))
    u = np.random.default_rng(1).standard_normal((400, 2))
    y = 0.5 + u @ np.array([[1.0], [-2.0]])
    fitted = esn.fit(u, y, washout=10)
    np.testing.assert_allclose(fitted, y[10:], atol=1e-6)
    # predict continues from the current state: the next step equals the features' readout
    esn_state = esn.state.copy()
    nxt = esn.predict(u[:1])
    np.testing.assert_allclose(nxt, 0.5 + u[:1] @ np.array([[1.0], [-2.0]]), atol=1e-5)
    assert not np.array_equal(esn_state, esn.state)


def test_esn_generate_feeds_outputs_back_and_errors():
    esn = nn.EchoStateNetwork(1, 20, rng=np.random.default_rng(0))
    with pytest.raises(RuntimeError, match="fit"):
        esn.generate(3)
    series = np.sin(np.arange(300) * 0.2)
    esn.fit(series[:-1], series[1:], washout=50)
    out = esn.generate(50, first_input=series[-1])
    assert out.shape == (50, 1) and np.abs(out[:, 0] - np.sin((np.arange(50) + 300) * 0.2)).max() < 0.05
    with pytest.raises(ValueError, match=r"inputs must be \(T, 1\), got shape \(5, 2\)"):
        esn.predict(np.zeros((5, 2)))
    with pytest.raises(ValueError, match="leak"):
        nn.EchoStateNetwork(1, 10, leak=0)


def test_esn_refuses_targets_not_shaped_like_the_inputs_steps():
    """A transposed (output_size, T) target used to be reshaped to (T, ·),
    scrambling its values across steps; the fit is refused before it starts."""
    u = np.sin(np.arange(200) * 0.2)[:, None]
    esn = nn.EchoStateNetwork(1, 30, rng=np.random.default_rng(0))
    for targets in (np.ones((2, 200)), np.ones((199, 2)), np.ones((200, 2, 1)), np.ones((200, 0))):
        with pytest.raises(ValueError, match=rf"targets must be \(T, output_size\) with T = 200.*got shape "
                                             rf"{re.escape(str(targets.shape))}"):
            esn.fit(u, targets, washout=20)
    assert esn.w_out is None and not esn.state.any()
    assert esn.fit(u, np.ones(200), washout=20).shape == (180, 1)  # (T,): one output


def test_esn_output_size_is_checked_and_held_to():
    """output_size was taken from the targets whatever it said (3 declared, 2 fitted: no error), and 0 or
    -1 were accepted (0 meant input_size)."""
    u = np.sin(np.arange(200) * 0.2)[:, None]
    for value in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match=f"output_size must be a positive int, got {value!r}"):
            nn.EchoStateNetwork(1, 10, output_size=value)
    esn = nn.EchoStateNetwork(1, 30, output_size=3, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="targets have 2 outputs per step but output_size is 3"):
        esn.fit(u, np.ones((200, 2)), washout=20)
    assert esn.w_out is None
    assert esn.fit(u, np.ones((200, 3)), washout=20).shape == (180, 3)
    free = nn.EchoStateNetwork(1, 30, rng=np.random.default_rng(0))  # None: from the targets
    assert free.fit(u, np.ones((200, 2)), washout=20).shape == (180, 2) and free.output_size == 2


@pytest.mark.parametrize("name", ["spectral_radius", "input_scaling", "leak", "ridge"])
def test_esn_refuses_non_finite_settings(name):
    for value in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match=f"{name} must be finite, got {value}"):
            nn.EchoStateNetwork(1, 5, **{name: value})
    with pytest.raises(TypeError, match=f"{name} must be a real number"):
        nn.EchoStateNetwork(1, 5, **{name: "1"})


# -- RTRL -----------------------------------------------------------------------------------------
@given(st.integers(1, 12), st.integers(1, 3), st.integers(1, 3), st.integers(1, 5), st.integers(1, 2),
       st.booleans())
def test_rtrl_equals_bptt_from_the_tape(steps, batch, in_size, hidden, out_size, with_h0):
    rng = rng_for(steps, batch, in_size, hidden)
    cell = nn.RNNCell(in_size, hidden, rng=rng).to(np.float64)
    readout = nn.Linear(hidden, out_size, rng=rng).to(np.float64)
    x, y = rng.standard_normal((steps, batch, in_size)), rng.standard_normal((steps, batch, out_size))
    h0 = rng.standard_normal((batch, hidden)) if with_h0 else None
    loss, grads = rtrl_gradients(cell, readout, x, y, h0)

    h, tape_loss = mg.tensor(np.zeros((batch, hidden)) if h0 is None else h0), 0.0
    for t in range(steps):
        h = cell(x[t], h)
        error = readout(h) - y[t]
        tape_loss = tape_loss + 0.5 * (error * error).sum()
    tape_loss.backward()
    assert abs(loss - tape_loss.item()) <= 1e-10 * max(1.0, abs(loss))
    named = dict(cell.named_parameters()) | {f"readout.{k}": v for k, v in readout.named_parameters()}
    assert named.keys() == grads.keys()
    for name, p in named.items():
        np.testing.assert_allclose(grads[name], p.grad.data, rtol=0, atol=1e-10, err_msg=name)


def test_rtrl_bad_input():
    cell, readout = nn.RNNCell(2, 3).to(np.float64), nn.Linear(3, 1).to(np.float64)
    with pytest.raises(ValueError, match=r"inputs must be \(T, B, 2\)"):
        rtrl_gradients(cell, readout, np.zeros((4, 1, 3)), np.zeros((4, 1, 1)))
    with pytest.raises(ValueError, match="tanh RNNCell"):
        rtrl_gradients(nn.RNNCell(2, 3, nonlinearity="relu"), readout, np.zeros((4, 1, 2)), np.zeros((4, 1, 1)))
    for h0 in (np.zeros(3), np.zeros((1, 3)), np.zeros((2, 4))):  # an (H,) or (1, H) h0 was broadcast
        with pytest.raises(ValueError, match=rf"h0 must be \(B, H\) = \(2, 3\), got shape {re.escape(str(h0.shape))}"):
            rtrl_gradients(cell, readout, np.zeros((4, 2, 2)), np.zeros((4, 2, 1)), h0)


@pytest.mark.parametrize("make", [lambda: nn.Jordan(3, 4, 2), lambda: nn.TimeDelay(3, 2, kernel_size=2)])
def test_sequence_classics_reject_inputs_of_another_dtype(make):
    layer = make()
    name = type(layer).__name__
    with pytest.raises(TypeError, match=f"{name}: input has dtype float64 but the parameters are float32"):
        layer(np.zeros((5, 2, 3)))
    assert layer.to(np.float64)(np.zeros((5, 2, 3))) is not None


def test_jordan_y0_must_have_the_parameters_dtype():
    with pytest.raises(TypeError, match="Jordan: y0 has dtype float64 but the parameters are float32"):
        nn.Jordan(3, 4, 2)(mg.zeros(5, 2, 3), mg.zeros(2, 2, dtype=np.float64))


def test_esn_generate_and_fit_check_steps_first_input_and_washout():
    """generate(first_input=(2, 2)) used row 0 only; generate(-1) / generate(2.5) raised NumPy's messages;
    fit(washout=True) washed out one step (outside audit)."""
    rng = np.random.default_rng(0)
    esn = nn.EchoStateNetwork(2, 10, rng=rng)
    u = rng.standard_normal((30, 2))
    for washout in (True, 2.0):
        with pytest.raises(ValueError, match=f"washout must be an int in 0..29, got {washout!r}"):
            esn.fit(u, u, washout=washout)
    esn.fit(u, u, washout=2)
    with pytest.raises(ValueError, match=r"first_input must be \(2,\) or \(1, 2\), got shape \(2, 2\)"):
        esn.generate(2, first_input=np.zeros((2, 2)))
    for steps in (-1, 0, 2.5):
        with pytest.raises(ValueError, match=f"steps must be a positive int, got {steps!r}"):
            esn.generate(steps)
    state = esn.state.copy()
    one = esn.generate(3, first_input=np.ones((1, 2)))
    esn.state = state
    np.testing.assert_array_equal(one, esn.generate(3, first_input=np.ones(2)))


def test_jordan_output_activation_of_another_type_is_named():
    """output_activation=['tanh'] raised Python's 'unhashable type: list' (the dict lookup)."""
    for value in (["tanh"], {"tanh": 1}, mg.tanh):
        with pytest.raises(ValueError, match="output_activation must be None, 'tanh' or 'sigmoid', got"):
            nn.Jordan(2, 3, 1, output_activation=value)


def test_rtrl_names_what_is_wrong_with_its_model_and_input_shapes():
    """A 2-D input said 'not enough values to unpack', a readout of the wrong width gave a matmul error about
    shapes (31, 2, 3) of the internal copies, an LSTMCell or a non-Linear readout an AttributeError."""
    cell, readout = nn.RNNCell(2, 3).to(np.float64), nn.Linear(3, 1).to(np.float64)
    x, y = np.zeros((4, 2, 2)), np.zeros((4, 2, 1))
    with pytest.raises(ValueError, match=r"inputs must be \(T, B, 2\) and targets \(T, B, 1\), got \(4, 2\) and"):
        rtrl_gradients(cell, readout, x[:, 0], y[:, 0])
    with pytest.raises(ValueError, match=r"got \(4, 2, 2\) and \(4, 2\)"):
        rtrl_gradients(cell, readout, x, y[..., 0])
    with pytest.raises(ValueError, match="the readout takes 4 features but the cell's hidden_size is 3"):
        rtrl_gradients(cell, nn.Linear(4, 1), x, y)
    with pytest.raises(TypeError, match="needs an nn.RNNCell and an nn.Linear readout, got LSTMCell and Linear"):
        rtrl_gradients(nn.LSTMCell(2, 3), readout, x, y)
    with pytest.raises(TypeError, match="got RNNCell and Tanh"):
        rtrl_gradients(cell, nn.Tanh(), x, y)


def test_esn_with_no_time_steps():
    """predict(np.zeros((0, I))) raised NumPy's 'need at least one array to stack', fit with no steps
    'cannot reshape array of size 0'. No steps in, no rows out; fitting needs at least one step."""
    esn = nn.EchoStateNetwork(2, 10, output_size=1, rng=np.random.default_rng(0))
    assert esn.features(np.zeros((0, 2))).shape == (0, 13)
    with pytest.raises(ValueError, match=r"fit: the inputs have no time steps \(shape \(0, 2\)\)"):
        esn.fit(np.zeros((0, 2)), np.zeros(0))
    u = np.random.default_rng(1).standard_normal((20, 2))
    esn.fit(u, u[:, 0], washout=2)
    state = esn.state.copy()
    assert esn.predict(np.zeros((0, 2))).shape == (0, 1)
    np.testing.assert_array_equal(esn.state, state)


def test_flatten_trees_of_no_trees_is_empty():
    """flatten_trees([]) raised Python's 'max() arg is an empty sequence'."""
    tokens, levels, roots = flatten_trees([], vocab_size=5)
    assert tokens.shape == (0,) and levels == [] and roots.shape == (0,)
    assert tokens.dtype == roots.dtype == np.int64
