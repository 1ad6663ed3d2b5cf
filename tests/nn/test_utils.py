"""Gradient clipping: SPEC's example, and invariants over generated gradients."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
import nn
from minigrad import testing as mt


def params_with(*grads):
    ps = []
    for g in grads:
        p = nn.Parameter(np.zeros_like(g))
        p.grad = mg.tensor(np.array(g, dtype=np.float64))
        ps.append(p)
    return ps


def test_spec_example():
    ps = params_with(np.array([3.0, 0, 0]), np.array([0, 4.0, 0, 0]))
    assert nn.utils.clip_grad_norm_(ps, 1.0) == pytest.approx(5.0)
    np.testing.assert_allclose(ps[0].grad.data, [0.6, 0, 0], atol=1e-6)
    np.testing.assert_allclose(ps[1].grad.data, [0, 0.8, 0, 0], atol=1e-6)


@given(st.lists(mt.arrays(mt.shapes(min_dims=1, max_dims=2), low=-10, high=10), min_size=1, max_size=3),
       st.floats(0.01, 20))
def test_clip_norm_invariants(grads, max_norm):
    ps = params_with(*grads)
    before = np.concatenate([g.ravel() for g in grads])
    total = nn.utils.clip_grad_norm_(ps, max_norm)
    after = np.concatenate([p.grad.data.ravel() for p in ps])
    assert total == pytest.approx(np.linalg.norm(before))
    assert np.linalg.norm(after) <= max_norm * (1 + 1e-9) + 1e-12
    if max_norm / (total + 1e-6) < 1:  # scaled down (also at total == max_norm: the 1e-6), same direction
        np.testing.assert_allclose(after * total, before * np.linalg.norm(after), rtol=1e-9, atol=1e-9)
    else:
        np.testing.assert_array_equal(after, before)


def test_clip_value_and_inf_norm():
    ps = params_with(np.array([3.0, -0.5, -7.0]))
    assert nn.utils.clip_grad_norm_(ps, 100.0, norm_type=np.inf) == 7.0
    nn.utils.clip_grad_value_(ps, 1.0)
    np.testing.assert_array_equal(ps[0].grad.data, [1.0, -0.5, -1.0])
    with pytest.raises(ValueError, match="max_norm"):
        nn.utils.clip_grad_norm_(ps, 0)
    with pytest.raises(ValueError, match="clip_value"):
        nn.utils.clip_grad_value_(ps, -1)
