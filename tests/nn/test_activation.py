"""Activation modules: each equals its function, and nn.Sequential builds an MLP with them."""

import numpy as np
import pytest

import minigrad as mg
import nn
from nn import functional as F

X = np.array([[-2.0, -0.5, 0.0], [0.5, 1.0, 3.0]])


@pytest.mark.parametrize("module, expected", [
    (nn.ReLU(), np.maximum(X, 0)), (nn.Tanh(), np.tanh(X)), (nn.Sigmoid(), 1 / (1 + np.exp(-X))),
    (nn.Softplus(), np.logaddexp(0, X)), (nn.Softplus(beta=2), np.logaddexp(0, 2 * X) / 2),
    (nn.LogSigmoid(), -np.logaddexp(0, -X)), (nn.Identity(54, unused=1), X),
    (nn.Softmax(dim=-1), np.exp(X) / np.exp(X).sum(-1, keepdims=True)),
    (nn.Softmax(dim=0), np.exp(X) / np.exp(X).sum(0, keepdims=True)),
    (nn.LogSoftmax(dim=1), X - np.log(np.exp(X).sum(1, keepdims=True))),
    (nn.LogSoftmax(), X - np.log(np.exp(X).sum(-1, keepdims=True))),
    (nn.Softmax(0), np.exp(X) / np.exp(X).sum(0, keepdims=True)),
    (nn.LogSoftmax(axis=-2), X - np.log(np.exp(X).sum(0, keepdims=True))),
])
def test_each_activation_computes_its_function(module, expected):
    np.testing.assert_allclose(module(mg.tensor(X)).data, expected, rtol=1e-13, atol=1e-15)
    assert list(module.parameters()) == [] and module.state_dict() == {}


def test_sequential_builds_an_mlp_without_wrappers():
    rng = np.random.default_rng(0)
    mlp = nn.Sequential(nn.Linear(3, 8, rng=rng), nn.Tanh(), nn.Linear(8, 8, rng=rng), nn.ReLU(),
                        nn.Linear(8, 2, rng=rng), nn.LogSoftmax(dim=-1))
    x = mg.tensor(X.astype(np.float32))
    l1, _, l2, _, l3, _ = mlp
    by_hand = mg.log_softmax(l3(mg.relu(l2(mg.tanh(l1(x))))), -1)
    np.testing.assert_array_equal(mlp(x).data, by_hand.data)
    F.nll_loss(mlp(x), np.array([0, 1])).backward()
    assert all(p.grad is not None for p in mlp.parameters())
    assert "(1): Tanh()" in repr(mlp) and "(5): LogSoftmax(axis=-1)" in repr(mlp)


def test_activation_arguments_are_checked():
    with pytest.raises(TypeError, match="Softmax: axis must be an int, got float"):
        nn.Softmax(dim=1.0)
    with pytest.raises(TypeError, match="LogSoftmax: axis must be an int, got str"):
        nn.LogSoftmax("1")
    with pytest.raises(TypeError, match=r"give axis or dim \(its PyTorch name\), not both; got axis=0, dim=1"):
        nn.LogSoftmax(0, dim=1)
    with pytest.raises(ValueError, match="beta must be a positive number"):
        nn.Softplus(beta=0)


@pytest.mark.parametrize("function, reference", [
    (F.softmax, lambda a, k: np.exp(a) / np.exp(a).sum(k, keepdims=True)),
    (F.log_softmax, lambda a, k: a - np.log(np.exp(a).sum(k, keepdims=True))),
])
def test_functional_softmaxes_take_axis_or_its_pytorch_name_dim(function, reference):
    """The one rule for axes (README, "Axes"): ``axis=``, with ``dim=`` accepted as PyTorch's spelling."""
    x = mg.tensor(X)
    for k in (0, 1, -1, -2):
        expected = reference(X, k)
        for got in (function(x, k), function(x, axis=k), function(x, dim=k)):
            np.testing.assert_allclose(got.data, expected, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(function(x).data, reference(X, -1), rtol=1e-13, atol=1e-15)
    with pytest.raises(TypeError, match="give axis or dim"):
        function(x, 0, dim=0)
    with pytest.raises(TypeError, match="axis must be an int, got float"):
        function(x, dim=0.0)


@pytest.mark.parametrize("module", [nn.ReLU(), nn.Tanh(), nn.Sigmoid(), nn.Softmax(), nn.LogSoftmax(),
                                    nn.Softplus(), nn.LogSigmoid()])
@pytest.mark.parametrize("value", [X, X.tolist(), X.astype(np.float32), np.array([[1, -2, 0]])])
def test_activations_take_arrays_and_lists_as_tensors(module, value):
    """ReLU, Tanh, Sigmoid, Softmax and LogSoftmax handed a NumPy array or a list straight to the op, which
    runs bare NumPy on arrays: they returned an ndarray (a list came back float64, not the default float32),
    and integer input failed inside NumPy (Sigmoid: "Cannot cast ufunc 'exp' output", Softmax: "cannot
    convert float infinity to integer"). Like Linear (and Softplus), they take it as mg.tensor(value)."""
    if isinstance(module, (nn.Softplus, nn.LogSigmoid)) and np.asarray(value).dtype.kind != "f":
        return  # (these refuse integer input: a TypeError naming them)
    out = module(value)
    assert isinstance(out, mg.Tensor)
    expected = module(mg.tensor(value))
    assert out.dtype == expected.dtype
    np.testing.assert_array_equal(out.data, expected.data)
    assert isinstance(F.softmax(value), mg.Tensor) and isinstance(F.log_softmax(value, dim=0), mg.Tensor)
