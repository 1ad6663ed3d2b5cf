"""Stable ops: finite values and gradients for inputs of magnitude 1e4."""

import numpy as np
import pytest

import minigrad as mg

EXTREMES = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4, 3.0]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", ["sigmoid", "tanh", "softmax", "log_softmax", "logsumexp"])
def test_finite_values_and_gradients(op, dtype):
    x = mg.tensor(EXTREMES.astype(dtype), requires_grad=True)
    fn = {"logsumexp": lambda t: mg.logsumexp(t, axis=-1)}.get(op, getattr(mg, op))
    y = fn(x)
    (y * mg.tensor(np.ones(y.shape, dtype=dtype))).sum().backward()
    assert np.isfinite(y.data).all() and np.isfinite(x.grad.data).all()


def test_limits():
    x = mg.tensor(np.array([1e4, -1e4]))
    np.testing.assert_array_equal(mg.sigmoid(x).data, [1.0, 0.0])
    np.testing.assert_allclose(mg.log_softmax(x).data, [0.0, -2e4])
    np.testing.assert_allclose(mg.softmax(x).data, [1.0, 0.0])
    np.testing.assert_allclose(mg.logsumexp(x).data, 1e4)
    assert mg.sigmoid(mg.tensor(np.float32(-100))).item() == pytest.approx(3.7200760e-44, rel=1e-2)
