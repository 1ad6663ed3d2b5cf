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
    assert "(1): Tanh()" in repr(mlp) and "(5): LogSoftmax(dim=-1)" in repr(mlp)


def test_activation_arguments_are_checked():
    with pytest.raises(TypeError, match="Softmax: dim must be an int, got float"):
        nn.Softmax(dim=1.0)
    with pytest.raises(TypeError, match="LogSoftmax: dim must be an int, got NoneType"):
        nn.LogSoftmax(dim=None)
    with pytest.raises(ValueError, match="beta must be a positive number"):
        nn.Softplus(beta=0)
