"""Linear, Embedding, Dropout, LayerNorm: values, gradients, bad input."""

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
import nn
from minigrad import testing as mt
from nn import functional as F


def float64(module):
    return module.to(np.float64)


@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 3), st.booleans())
def test_linear_gradcheck(n_in, n_out, batch, bias):
    layer = float64(nn.Linear(n_in, n_out, bias=bias))
    x = mg.tensor(np.random.default_rng(batch).standard_normal((batch, 2, n_in)), requires_grad=True)
    assert mg.gradcheck(lambda x, *ps: layer(x), [x, *layer.parameters()])


def test_linear_matches_numpy_and_pytorch_layout():
    layer = float64(nn.Linear(3, 2))
    x = np.arange(6.0).reshape(2, 3)
    expected = x @ layer.weight.data.T + layer.bias.data
    np.testing.assert_allclose(layer(mg.tensor(x)).data, expected)
    assert layer.weight.shape == (2, 3) and layer.bias.shape == (2,)


def test_linear_init_bounds():
    layer = nn.Linear(100, 50)
    bound = 1 / np.sqrt(100)
    assert np.abs(layer.weight.data).max() <= bound and np.abs(layer.weight.data).max() > 0.9 * bound


def test_linear_rejects_wrong_features():
    with pytest.raises(ValueError, match="input has 4 features.*expects 3"):
        nn.Linear(3, 2)(mg.zeros(5, 4))
    with pytest.raises(ValueError, match="in_features must be a positive int"):
        nn.Linear(0, 2)


def test_functional_linear_needs_a_2d_or_1d_weight():
    """A (1, 3, 5) weight said the weight expects 3 features; a 0-d one raised a bare IndexError."""
    x = mg.zeros(2, 5, dtype=np.float64)
    for shape in ((1, 3, 5), ()):
        with pytest.raises(ValueError, match=rf"linear: weight must be 2-D \(out_features, in_features\) or 1-D "
                                             rf"\(in_features,\), got shape {re.escape(str(shape))}"):
            F.linear(x, mg.zeros(*shape, dtype=np.float64))
    with pytest.raises(ValueError, match="linear: input must have a feature axis .* got a 0-d tensor"):
        F.linear(mg.tensor(1.0, dtype=np.float64), mg.zeros(2, 1, dtype=np.float64))  # (was a bare IndexError)


@pytest.mark.parametrize("x_shape", [(2, 3), (5, 2, 3)])
def test_functional_linear_bias_must_have_out_features_or_no_axes(x_shape):
    """A bias of shape (2, 4) for 2 rows of 4 outputs was broadcast into y, a bias per row, where PyTorch's
    F.linear documents (out_features,) or (); over 3-D input the same bias, or a (4, 1) one, raised addmm's
    error about shapes the user never made ((10, 4) and (2, 4))."""
    x, w = mg.tensor(np.ones(x_shape)), mg.tensor(np.ones((4, 3)))
    for shape in ((2, 4), (4, 1), (1,), (1, 4)):
        with pytest.raises(ValueError, match=r"linear: bias must have shape \(out_features,\) = \(4,\) or \(\), got "
                                             rf"shape {re.escape(str(shape))}"):
            F.linear(x, w, mg.tensor(np.ones(shape)))
    for shape in ((4,), ()):
        y = F.linear(x, w, mg.tensor(np.full(shape, 0.5)))
        np.testing.assert_array_equal(y.data, np.full((*x_shape[:-1], 4), 3.5))  # 3 ones + 0.5


@pytest.mark.parametrize("x_shape", [(3,), (4, 3), (2, 4, 3)])
@pytest.mark.parametrize("bias", [False, True])
def test_functional_linear_takes_a_1d_weight_as_pytorch(x_shape, bias):
    """PyTorch's F.linear takes a weight (in_features,) and gives y = x·w + b without the last axis; this one
    refused it ("weight must be 2-D")."""
    rng = np.random.default_rng(0)
    x, w, b = rng.normal(size=x_shape), rng.normal(size=3), rng.normal()
    expected = (x * w).sum(-1) + (b if bias else 0.0)  # by hand
    xt, wt, bt = (mg.tensor(np.asarray(a), requires_grad=True) for a in (x, w, b))
    args = [xt, wt, bt] if bias else [xt, wt]
    y = F.linear(*args)
    assert y.shape == x_shape[:-1]
    np.testing.assert_allclose(y.data, expected, rtol=1e-12)
    assert mg.gradcheck(F.linear, args)
    with pytest.raises(ValueError, match=r"linear: with a 1-D weight the bias must be 0-d, got shape \(1,\)"):
        F.linear(xt, wt, mg.tensor(np.ones(1)))
    with pytest.raises(ValueError, match="linear: input has 3 features .* the weight expects 2"):
        F.linear(xt, mg.tensor(np.ones(2)))


def test_embedding_lookup_and_gradient_accumulates_for_repeats():
    emb = float64(nn.Embedding(5, 3))
    ids = np.array([[1, 1], [4, 0]])
    out = emb(ids)
    np.testing.assert_array_equal(out.data, emb.weight.data[ids])
    out.sum().backward()
    np.testing.assert_array_equal(emb.weight.grad.data[:, 0], [1, 2, 0, 0, 1])


def test_embedding_padding_row_gets_no_gradient():
    emb = float64(nn.Embedding(4, 2, padding_idx=0))
    assert np.all(emb.weight.data[0] == 0)
    emb.weight.data[0] = 5.0  # output keeps the row's value, as in PyTorch
    out = emb(np.array([0, 2, 0, 3]))
    np.testing.assert_array_equal(out.data[0], [5.0, 5.0])
    (out * out).sum().backward()
    np.testing.assert_array_equal(emb.weight.grad.data[0], [0, 0])
    assert np.all(emb.weight.grad.data[2] != 0)


def test_embedding_gradcheck():
    emb = float64(nn.Embedding(4, 3, padding_idx=1))
    ids = np.array([[0, 1, 3], [3, 3, 2]])
    assert mg.gradcheck(lambda w: emb(ids) * emb(ids), [emb.weight])


def test_embedding_bad_ids():
    emb = nn.Embedding(4, 2)
    with pytest.raises(IndexError, match=r"\[0, 4\)"):
        emb(np.array([0, 4]))
    with pytest.raises(TypeError, match="integers"):
        emb(np.array([0.5]))
    with pytest.raises(ValueError, match="padding_idx"):
        nn.Embedding(4, 2, padding_idx=7)
    for bad in (1.0, True, "1"):
        with pytest.raises(TypeError, match=f"Embedding: padding_idx must be an int, got {type(bad).__name__}"):
            nn.Embedding(4, 2, padding_idx=bad)
    assert nn.Embedding(4, 2, padding_idx=np.int64(-1)).padding_idx == 3


def test_dropout_inverted_scaling_and_eval_identity():
    drop = nn.Dropout(0.25, rng=np.random.default_rng(0))
    x = mg.ones(1000, 100)
    y = drop(x).data
    assert set(np.unique(y)) == {0.0, np.float32(1 / 0.75)}
    assert abs((y == 0).mean() - 0.25) < 0.01
    drop.eval()
    assert drop(x) is x


def test_dropout_gradient_is_the_mask():
    drop = nn.Dropout(0.5, rng=np.random.default_rng(1))
    x = mg.tensor(np.ones(50), requires_grad=True)
    y = drop(x)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, y.data)


@pytest.mark.parametrize("p", [-0.1, 1.5, "0.5"])
def test_dropout_rejects_bad_p(p):
    with pytest.raises(ValueError, match="probability"):
        nn.Dropout(p)
    with pytest.raises(ValueError, match="probability"):
        nn.functional.dropout(mg.ones(2), p)


@pytest.mark.parametrize("p", [True, float("nan"), None])
def test_dropout_rejects_bools_nan_and_none(p):
    with pytest.raises(ValueError, match="probability"):
        nn.Dropout(p)
    with pytest.raises(ValueError, match="probability"):
        F.dropout(mg.ones(2), p)


def test_dropout_checks_its_rng_when_made():
    """nn.Dropout(0.5, rng=42) was taken, and failed only at the first forward
    in training mode (never in eval mode)."""
    with pytest.raises(TypeError, match="Dropout: rng must be a numpy.random.Generator, got int"):
        nn.Dropout(0.5, rng=42)


@pytest.mark.parametrize("training, p", [(False, 0.5), (True, 0.0), (True, 0.5)])
def test_functional_dropout_checks_its_rng_in_every_mode(training, p):
    """F.dropout(x, rng=42) was taken in eval mode and with p = 0, and failed without naming dropout otherwise."""
    with pytest.raises(TypeError, match="dropout: rng must be a numpy.random.Generator, got int"):
        F.dropout(mg.ones(3), p, training=training, rng=42)


@pytest.mark.parametrize("training", ["False", 0, None, 1.0])
def test_dropout_training_must_be_a_bool(training):
    """Any truthy value used to mean training: "False" dropped half the elements."""
    with pytest.raises(TypeError, match=f"dropout: training must be True or False, got {type(training).__name__}"):
        F.dropout(mg.ones(2, 3), 0.5, training, rng=np.random.default_rng(0))
    assert F.dropout(mg.ones(2, 3), 0.5, np.False_).data.all()


@pytest.mark.parametrize("p", [np.float32(0.5), np.float64(1.0), np.int64(0)])
def test_dropout_takes_numpy_scalars(p):
    assert nn.Dropout(p).p == float(p)
    assert F.dropout(mg.ones(2, 3), p, rng=np.random.default_rng(0)).shape == (2, 3)


@given(mt.arrays(st.tuples(st.integers(1, 3), st.integers(2, 5))))
def test_layernorm_gradcheck_and_statistics(x):
    norm = float64(nn.LayerNorm(x.shape[-1]))
    norm.weight.data[:] = np.linspace(0.5, 1.5, x.shape[-1])
    norm.bias.data[:] = 0.1
    xt = mg.tensor(x + np.arange(x.shape[-1]), requires_grad=True)  # not constant rows
    assert mg.gradcheck(lambda x, w, b: norm(x), [xt, norm.weight, norm.bias])
    plain = nn.functional.layer_norm(xt, (x.shape[-1],)).data
    np.testing.assert_allclose(plain.mean(-1), 0, atol=1e-9)
    np.testing.assert_allclose(plain.var(-1), 1, rtol=1e-3)


def test_layernorm_rejects_wrong_shape():
    with pytest.raises(ValueError, match="normalized_shape"):
        nn.LayerNorm(4)(mg.zeros(2, 3))


@pytest.mark.parametrize("weight_shape, bias_shape", [((3, 4), None), ((1,), None), ((2, 1, 4), None),
                                                      (None, (5, 3, 4)), ((4,), (1, 4))])
def test_layer_norm_weight_and_bias_must_have_the_normalized_shape(weight_shape, bias_shape):
    """They used to broadcast: a (2, 1, 4) weight turned a (3, 4) output into (2, 3, 4)."""
    x = mg.tensor(np.random.default_rng(0).normal(size=(3, 4)))
    weight = None if weight_shape is None else mg.ones(*weight_shape, dtype=np.float64)
    bias = None if bias_shape is None else mg.zeros(*bias_shape, dtype=np.float64)
    name, shape = ("weight", weight_shape) if bias_shape is None else ("bias", bias_shape)
    with pytest.raises(ValueError, match=rf"layer_norm: {name} must have shape normalized_shape \(4,\), "
                                         rf"got {re.escape(str(shape))}"):
        F.layer_norm(x, (4,), weight, bias)


def test_layernorm_over_no_axes_is_refused():
    """normalized_shape () normalised over no axes: x − x, all zeros (PyTorch refuses it too)."""
    with pytest.raises(ValueError, match="LayerNorm: normalized_shape must have at least one dimension"):
        nn.LayerNorm(())
    with pytest.raises(ValueError, match="layer_norm: normalized_shape must have at least one dimension"):
        F.layer_norm(mg.ones(1, 3), ())


def test_layer_norm_takes_an_int_normalized_shape_as_layernorm_does():
    """F.layer_norm(x, 4) raised "'int' object is not iterable", naming nothing, where nn.LayerNorm(4) works;
    another type is a TypeError naming normalized_shape."""
    x = mg.tensor(np.arange(8.0).reshape(2, 4))
    np.testing.assert_array_equal(F.layer_norm(x, 4).data, F.layer_norm(x, (4,)).data)
    np.testing.assert_array_equal(F.layer_norm(x, np.int64(4)).data, F.layer_norm(x, [4]).data)
    with pytest.raises(TypeError, match="layer_norm: normalized_shape must be an int or a tuple of ints, got float"):
        F.layer_norm(x, 4.0)


def test_layer_norm_takes_a_1d_array_normalized_shape():
    """nn.LayerNorm(np.array([4])) (a shape kept as an array) worked until the int/tuple check refused
    every ndarray with a TypeError; a 1-D integer array is a shape, as PyTorch's tuple() of it is."""
    x = mg.tensor(np.arange(8.0).reshape(2, 4))
    assert nn.LayerNorm(np.array([4])).normalized_shape == (4,)
    np.testing.assert_array_equal(F.layer_norm(x, np.array([4])).data, F.layer_norm(x, (4,)).data)
    with pytest.raises(TypeError, match="layer_norm: normalized_shape must be an int or a tuple of ints"):
        F.layer_norm(x, np.array([[4]]))


def test_init_functions():
    rng = np.random.default_rng(0)
    w = nn.Parameter(np.zeros((64, 32)))
    nn.init.xavier_uniform_(w, rng=rng)
    assert np.abs(w.data).max() <= np.sqrt(6 / 96)
    nn.init.orthogonal_(w, rng=rng)
    np.testing.assert_allclose(w.data.T @ w.data, np.eye(32), atol=1e-10)
    nn.init.kaiming_uniform_(w, a=np.sqrt(5), rng=rng)
    assert np.abs(w.data).max() <= 1 / np.sqrt(32)
    nn.init.zeros_(w)
    assert not w.data.any()


@pytest.mark.parametrize("shape", [(0, 0), (0, 0, 3), (0, 3), (3, 0, 2)])
@pytest.mark.parametrize("initialise", [nn.init.xavier_uniform_, nn.init.kaiming_uniform_, nn.init.orthogonal_])
def test_init_of_a_tensor_without_elements_does_nothing(initialise, shape):
    """(xavier_uniform_ of a (0, 0) weight raised ZeroDivisionError: fan_in + fan_out is 0; PyTorch warns.)"""
    assert initialise(mg.zeros(*shape), rng=np.random.default_rng(0)).shape == shape


@pytest.mark.parametrize("name, initialise", [
    ("uniform_", lambda t, rng: nn.init.uniform_(t, 0.0, 5.0, rng=rng)),
    ("normal_", lambda t, rng: nn.init.normal_(t, rng=rng)),
    ("xavier_uniform_", lambda t, rng: nn.init.xavier_uniform_(t, rng=rng)),
    ("kaiming_uniform_", lambda t, rng: nn.init.kaiming_uniform_(t, rng=rng)),
    ("orthogonal_", lambda t, rng: nn.init.orthogonal_(t, rng=rng)),
])
@pytest.mark.parametrize("dtype", [np.int64, np.uint8, np.bool_])
def test_random_init_of_a_non_float_tensor_is_a_type_error(name, initialise, dtype):
    """The values were truncated into the tensor (normal_ gave mostly zeros); PyTorch refuses too."""
    t = mg.zeros(4, 3, dtype=dtype)
    with pytest.raises(TypeError, match=f"{name}: random values need a floating-point tensor, got dtype "
                                        f"{np.dtype(dtype)}"):
        initialise(t, np.random.default_rng(0))
    assert not t.data.any()
    assert nn.init.constant_(t, 1).data.all()  # a constant is exact in any dtype


@pytest.mark.parametrize("value, dtype, message", [(2.5, np.int64, "whole numbers"), (np.nan, np.int64, "whole"),
                                                   (300, np.uint8, "whole numbers"), (1e300, np.float32, "overflows")])
def test_constant_refuses_a_value_the_tensor_cannot_hold(value, dtype, message):
    """(constant_ wrote 2 for 2.5, -2**63 for NaN, 44 for 300 and inf for 1e300, as mg.full refuses to.)"""
    t = mg.zeros(2, 3, dtype=dtype)
    with pytest.raises(ValueError, match=f"constant_: value .*{message}.* {np.dtype(dtype)}"):
        nn.init.constant_(t, value)
    assert not t.data.any() and t._version == [0]  # (nothing written)
    assert nn.init.constant_(t, 3).data.tolist() == [[3] * 3] * 2


# -- dtypes: an input of another dtype than the parameters is a clear TypeError -------------------

@pytest.mark.parametrize("make, shape", [
    (lambda: nn.Linear(3, 2), (4, 3)), (lambda: nn.LayerNorm(3), (4, 3)),
    (lambda: nn.RNN(3, 2), (5, 4, 3)), (lambda: nn.LSTM(3, 2, bidirectional=True), (5, 4, 3)),
    (lambda: nn.GRU(3, 2, batch_first=True), (4, 5, 3)), (lambda: nn.RNNCell(3, 2), (4, 3)),
    (lambda: nn.LSTMCell(3, 2), (4, 3)), (lambda: nn.GRUCell(3, 2), (4, 3)),
    (lambda: nn.RecurrentLayer(3, 2, cell=nn.GRU.cell), (5, 4, 3)),
    (lambda: nn.Jordan(3, 4, 2), (5, 4, 3)), (lambda: nn.TimeDelay(3, 2, 2), (5, 4, 3))])
def test_layers_reject_inputs_of_another_dtype(make, shape):
    """The same check, and message, in every layer with parameters (``_checks.check_dtype``)."""
    layer = make()
    first = lambda out: out[0] if isinstance(out, tuple) else out  # noqa: E731  (recurrent layers: out, state)
    name = type(layer).__name__
    with pytest.raises(TypeError, match=f"{name}: input has dtype float64 but the parameters are float32; "
                                        r"cast one to the other \(x.astype\(np.float32\) or layer.to\(np.float64\)\)"):
        layer(np.zeros(shape))  # a NumPy array keeps its float64
    with pytest.raises(TypeError, match=f"{name}: input has dtype int64 but the parameters are float32; "
                                        r"cast it to floating point \(x.astype\(np.float32\)\)"):
        layer(np.zeros(shape, dtype=np.int64))
    assert first(layer(np.zeros(shape, dtype=np.float32))).dtype == np.float32
    assert first(layer.to(np.float64)(np.zeros(shape))).dtype == np.float64


def test_functional_forms_check_dtypes_too():
    w, b = mg.zeros(2, 3), mg.zeros(2)
    with pytest.raises(TypeError, match="linear: input has dtype float64"):
        F.linear(mg.zeros(4, 3, dtype=np.float64), w, b)
    with pytest.raises(TypeError, match="linear: bias has dtype float64"):
        F.linear(mg.zeros(4, 3), w, mg.zeros(2, dtype=np.float64))
    with pytest.raises(TypeError, match="layer_norm: input has dtype float64"):
        F.layer_norm(mg.zeros(4, 3, dtype=np.float64), (3,), mg.ones(3))
    assert F.layer_norm(mg.zeros(4, 3, dtype=np.float64), (3,)).dtype == np.float64  # no parameters: any float


def test_embedding_takes_integer_ids_only():
    with pytest.raises(TypeError, match="indices must be integers, got dtype float64"):
        nn.Embedding(5, 2)(np.array([1.0, 2.0]))


@pytest.mark.parametrize("make, message", [
    (lambda: nn.Linear(2, 2, bias="no"), "Linear: bias must be True or False, got str 'no'"),
    (lambda: nn.LayerNorm(3, elementwise_affine="no"), "LayerNorm: elementwise_affine must be True or False"),
    (lambda: nn.LayerNorm(3, eps="small"), "LayerNorm: eps must be a real number, got str 'small'"),
    (lambda: nn.LayerNorm(3.0), "LayerNorm: normalized_shape must be an int or a tuple of ints, got float 3.0")])
def test_layer_settings_of_the_wrong_type_are_type_errors(make, message):
    """bias="no" and elementwise_affine="no" are true: a layer with the parameters it was told not to have."""
    with pytest.raises(TypeError, match=re.escape(message)):
        make()


@pytest.mark.parametrize("eps", [-1.0, np.nan, np.inf])
def test_layernorm_eps_must_be_finite_and_non_negative(eps):
    """eps = -1 made √(var − 1) NaN for every row of variance below 1, silently."""
    with pytest.raises(ValueError, match=re.escape(f"LayerNorm: eps must be finite and >= 0.0, got {eps!r}")):
        nn.LayerNorm(3, eps=eps)


@pytest.mark.parametrize("call, error, message", [
    (lambda t: nn.init.uniform_(t, 1.0, 0.0), ValueError, "uniform_: a must be <= b, got a=1.0, b=0.0"),
    (lambda t: nn.init.uniform_(t, np.nan, 1.0), ValueError, "uniform_: a must be finite"),
    (lambda t: nn.init.uniform_(t, 0.0, np.inf), ValueError, "uniform_: b must be finite"),
    (lambda t: nn.init.normal_(t, 0.0, np.nan), ValueError, "normal_: std must be finite and >= 0.0, got nan"),
    (lambda t: nn.init.normal_(t, 0.0, -1.0), ValueError, "normal_: std must be finite and >= 0.0, got -1.0"),
    (lambda t: nn.init.normal_(t, np.inf), ValueError, "normal_: mean must be finite"),
    (lambda t: nn.init.xavier_uniform_(t, gain="1"), TypeError, "xavier_uniform_: gain must be a real number"),
    (lambda t: nn.init.xavier_uniform_(t, gain=-1.0), ValueError, "xavier_uniform_: gain must be finite and >= 0"),
    (lambda t: nn.init.kaiming_uniform_(t, a="x"), TypeError, "kaiming_uniform_: a must be a real number"),
    (lambda t: nn.init.orthogonal_(t, gain=np.nan), ValueError, "orthogonal_: gain must be finite")])
def test_init_arguments_are_checked_before_anything_is_written(call, error, message):
    """normal_(t, 0, nan) filled the weights with NaN silently; the others raised NumPy's or Python's
    errors that name no argument ("high - low < 0", "can't multiply sequence by non-int")."""
    t = nn.Parameter(np.ones((3, 2)))
    with pytest.raises(error, match=re.escape(message)):
        call(t)
    np.testing.assert_array_equal(t.data, 1.0)


def test_kaiming_uniform_of_an_empty_weight_is_a_no_op():
    """fan_in 0 divided by zero (PyTorch: a no-op for a zero-element tensor; xavier_uniform_ already was)."""
    assert nn.init.kaiming_uniform_(nn.Parameter(np.zeros((3, 0)))).shape == (3, 0)


@pytest.mark.parametrize("make, flag", [
    (lambda v: nn.LSTM(2, 3, peephole=v), "peephole"), (lambda v: nn.LSTMCell(2, 3, peephole=v), "peephole"),
    (lambda v: nn.Jordan(2, 3, 1, batch_first=v), "batch_first"),
    (lambda v: nn.TimeDelay(2, 3, batch_first=v), "batch_first"), (lambda v: nn.TimeDelay(2, 3, bias=v), "bias"),
    (lambda v: nn.AttentionDecoder(5, 4, 6, 6, input_feeding=v), "input_feeding"),
    (lambda v: nn.Seq2Seq(5, 5, input_feeding=v), "input_feeding")])
def test_flags_of_layers_must_be_bools(make, flag):
    """peephole="False" made a peephole LSTM (bool("False") is True), and so for Jordan's and TimeDelay's
    batch_first, TimeDelay's bias and the decoder's input_feeding; the other layers' flags were checked."""
    with pytest.raises(TypeError, match=f"{flag} must be True or False, got str 'False'"):
        make("False")
    make(np.bool_(False))


def test_functional_layer_norm_names_a_bad_dimension():
    """F.layer_norm(x, (0,)) or (4.0,) blamed the input: 'the input's last axes (3, 4) must be normalized_shape
    (4.0,)' (LayerNorm checked each dimension, the functional form did not)."""
    x = mg.tensor(np.random.default_rng(0).normal(size=(3, 4)))
    np.testing.assert_array_equal(F.layer_norm(x, 4).data, F.layer_norm(x, (4,)).data)
    np.testing.assert_array_equal(F.layer_norm(x, [3, 4]).data, F.layer_norm(x, (3, 4)).data)
    with pytest.raises(TypeError, match="layer_norm: normalized_shape must be an int or a tuple of ints, got str"):
        F.layer_norm(x, "4")
    for shape in ((4.0,), (0,), (True,)):
        with pytest.raises(ValueError, match=rf"normalized_shape must be a positive int, got {shape[0]!r}"):
            F.layer_norm(x, shape)


@pytest.mark.parametrize("eps", [-1.0, float("nan"), float("inf")])
def test_functional_layer_norm_checks_eps_as_layernorm_does(eps):
    """F.layer_norm(x, 3, eps=-1) gave NaN for every row of variance below 1 (LayerNorm refuses that eps)."""
    with pytest.raises(ValueError, match=re.escape(f"layer_norm: eps must be finite and >= 0.0, got {eps!r}")):
        F.layer_norm(mg.tensor(np.eye(3)), 3, eps=eps)
    with pytest.raises(TypeError, match="layer_norm: eps must be a real number, got str"):
        F.layer_norm(mg.tensor(np.eye(3)), 3, eps="1e-5")


def test_functional_forms_take_list_weights_as_tensors():
    """F.linear(x, [[1, 2], [3, 4]]) raised "'list' object has no attribute 'ndim'", a list bias or a list
    LayerNorm weight "... no attribute 'dtype'" (NumPy arrays worked)."""
    x = mg.tensor(np.array([[1.0, 2.0]], dtype=np.float32))
    np.testing.assert_array_equal(F.linear(x, [[1.0, 2.0], [3.0, 4.0]], [0.5, 0.5]).data, [[5.5, 11.5]])
    np.testing.assert_allclose(F.layer_norm(x, 2, [2.0, 2.0], [1.0, 1.0]).data, [[-1.0, 3.0]], atol=1e-4)


@pytest.mark.parametrize("dtype", [np.int64, np.int8, np.uint8, np.bool_])
@pytest.mark.parametrize("layer", [lambda: nn.Dropout(0.5), lambda: nn.Dropout(0.5).eval(), lambda: nn.Dropout(0.0),
                                   lambda: nn.LayerNorm(4, elementwise_affine=False), lambda: nn.LayerNorm(4)])
def test_dropout_and_layer_norm_refuse_integer_input(layer, dtype):
    """Dropout (training) and LayerNorm without weights turned an int64 input into float32 without a word;
    PyTorch refuses integer input to both. Dropout refuses it in eval mode too (else eval would pass what
    training refuses), LayerNorm with weights names the parameters' dtype."""
    x = mg.tensor(np.arange(8).reshape(2, 4).astype(dtype))
    with pytest.raises(TypeError, match=f"(dropout|layer_norm): input must be floating point, got dtype "
                                        f"{np.dtype(dtype)}|LayerNorm: input has dtype {np.dtype(dtype)} but"):
        layer()(x)
    with pytest.raises(TypeError, match="input must be floating point"):
        F.layer_norm(x, 4)


def _settings(value):
    """Each kind of real setting, given ``value``: the checks check_real, check_probability, the
    optimisers', clip_grad's and softplus's."""
    x = mg.tensor(np.array([[-1.0, 0.5, 2.0]]))
    param = nn.Parameter(np.array([1.0, -2.0]))
    param.grad = mg.tensor(np.array([3.0, 4.0]))
    return {
        "layer_norm: eps": lambda: F.layer_norm(x, 3, eps=value).data,
        "Dropout: p": lambda: nn.Dropout(value).p,
        "dropout must be a probability": lambda: nn.GRU(1, 1, num_layers=2, dropout=value).dropout,
        "SGD: lr": lambda: nn.optim.SGD([param], lr=value).param_groups[0]["lr"],
        "Adam: betas[0]": lambda: nn.optim.Adam([param], betas=(value, 0.999)).param_groups[0]["betas"],
        "clip_grad_norm_: max_norm": lambda: nn.utils.clip_grad_norm_([mg.tensor(param.data)], value),
        "softplus: beta": lambda: F.softplus(x, beta=value).data,
    }


@pytest.mark.parametrize("setting", list(_settings(0.5)))
def test_real_settings_take_numpy_scalars_and_0d_arrays(setting):
    """check_real (LayerNorm's eps), check_probability (Dropout's p), the optimisers' and clip_grad's checks
    refused a 0-d array (np.array(0.5), e.g. a value read from an .npz) as "not a real number"; they share
    one type check now, which takes it as the float it holds, and still refuses bools, NaN, 1-element
    arrays and complex numbers, naming the setting."""
    expected = _settings(0.5)[setting]()
    for value in (np.float64(0.5), np.float32(0.5), np.array(0.5), np.array(0.5, np.float16)):
        np.testing.assert_array_equal(_settings(value)[setting](), expected)
    error = ValueError if setting in ("Dropout: p", "dropout must be a probability") else TypeError
    for bad in (np.array(True), np.array([0.5]), np.array(0.5 + 0j), "0.5"):
        with pytest.raises(error, match=re.escape(setting)):
            _settings(bad)[setting]()
    with pytest.raises(ValueError, match=re.escape(setting)):
        _settings(np.array(np.nan))[setting]()


LAYERS = {  # name -> (layer, input shape)
    "linear": (lambda: nn.Linear(3, 2), (1, 3)),
    "linear_no_bias_3d": (lambda: nn.Linear(3, 2, bias=False), (2, 2, 3)),
    "layernorm": (lambda: nn.LayerNorm(3), (2, 3)),
    "layernorm_2d_plain": (lambda: nn.LayerNorm((2, 3), elementwise_affine=False), (2, 2, 3)),
    "dropout_eval": (lambda: nn.Dropout(0.5).eval(), (2, 3)),
}


@pytest.mark.parametrize("name", LAYERS)
def test_layers_gradgradcheck(name):
    """Second derivatives (a gradient penalty's) w.r.t. input and parameters, the affine ones moved off 1 and 0."""
    make, shape = LAYERS[name]
    layer, rng = float64(make()), np.random.default_rng(0)
    with mg.no_grad():
        for p in layer.parameters():
            p.data[...] = rng.standard_normal(p.shape)
    x = mg.tensor(rng.standard_normal(shape), requires_grad=True)
    assert mg.gradgradcheck(lambda x, *ps: mg.tanh(layer(x)), [x, *layer.parameters()])


def test_embedding_gradgradcheck():
    emb = float64(nn.Embedding(4, 3, padding_idx=0))
    ids = np.array([[0, 2, 2], [3, 1, 0]])
    assert mg.gradgradcheck(lambda w: mg.tanh(emb(ids)), [emb.weight])
