"""Gradient clipping: SPEC's example, and invariants over generated gradients."""

import math

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


# -- every norm type: hand-computed values, NumPy's vector norms, clear errors -----------------

@pytest.mark.parametrize("norm_type, expected", [
    (1, 8.0), (2, math.sqrt(26)), (3, 92 ** (1 / 3)), (0.5, (math.sqrt(3) + 2 + 1) ** 2),
    (math.inf, 4.0), ("inf", 4.0), (-math.inf, 0.0), (-1, 0.0),  # the zero element: min |x| = 0, Σ |x|⁻¹ = inf
])
def test_total_norm_by_hand(norm_type, expected):
    ps = params_with(np.array([3.0, 0.0, -4.0]), np.array([1.0]))
    assert nn.utils.clip_grad_norm_(ps, 1e9, norm_type=norm_type) == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize("norm_type, expected", [(-math.inf, 1.0), ("-inf", 1.0), (-1, 12 / 19),
                                                 (-2, (1 / 9 + 1 / 16 + 1) ** -0.5)])
def test_negative_norm_types_by_hand(norm_type, expected):
    ps = params_with(np.array([3.0, -4.0]), np.array([1.0]))
    assert nn.utils.clip_grad_norm_(ps, 1e9, norm_type=norm_type) == pytest.approx(expected, rel=1e-14)


def test_minus_inf_clips_to_the_smallest_magnitude():  # returned 1.0 and clipped nothing before
    ps = params_with(np.array([3.0, -4.0]), np.array([2.0]))
    assert nn.utils.clip_grad_norm_(ps, 1.0, norm_type=-math.inf) == 2.0
    np.testing.assert_allclose(ps[0].grad.data, np.array([3.0, -4.0]) / (2 + 1e-6))
    np.testing.assert_allclose(ps[1].grad.data, [2.0 / (2 + 1e-6)])


@pytest.mark.parametrize("bad", [0, 0.0, float("nan")])
def test_norm_type_zero_and_nan_are_value_errors(bad):  # 0 was a ZeroDivisionError
    ps = params_with(np.array([3.0, -4.0]))
    with pytest.raises(ValueError, match="norm_type must be a real p != 0"):
        nn.utils.clip_grad_norm_(ps, 1.0, norm_type=bad)
    np.testing.assert_array_equal(ps[0].grad.data, [3.0, -4.0])


@pytest.mark.parametrize("bad", ["2", None, True, [2]])
def test_norm_type_of_another_type_is_a_type_error(bad):
    with pytest.raises(TypeError, match="norm_type must be a real number"):
        nn.utils.clip_grad_norm_(params_with(np.array([1.0])), 1.0, norm_type=bad)


@pytest.mark.parametrize("bad", ["1", None])
def test_max_norm_and_clip_value_of_another_type_are_type_errors(bad):
    ps = params_with(np.array([1.0]))
    with pytest.raises(TypeError, match="max_norm must be a real number"):
        nn.utils.clip_grad_norm_(ps, bad)
    with pytest.raises(TypeError, match="clip_value must be a real number"):
        nn.utils.clip_grad_value_(ps, bad)


@given(st.lists(mt.arrays(mt.shapes(min_dims=0, max_dims=2), low=-10, high=10), min_size=1, max_size=3),
       st.sampled_from([1, 2, 3, 0.5, 1.5, -0.5, -1, -3, math.inf, -math.inf]), st.floats(0.01, 20))
def test_any_norm_type_matches_numpy_on_the_concatenated_gradients(grads, norm_type, max_norm):
    ps = params_with(*grads)
    flat = np.concatenate([np.ravel(g) for g in grads])
    with np.errstate(divide="ignore"):
        expected = np.linalg.norm(flat, ord=norm_type) if flat.size else 0.0
    total = nn.utils.clip_grad_norm_(ps, max_norm, norm_type=norm_type)
    assert total == pytest.approx(expected, rel=1e-10, abs=1e-300)
    after = np.concatenate([np.ravel(p.grad.data) for p in ps])
    scale = min(max_norm / (expected + 1e-6), 1.0)
    np.testing.assert_allclose(after, flat * scale, rtol=1e-12)


@pytest.mark.parametrize("norm_type", [300, 1000, -300])
def test_large_p_does_not_overflow(norm_type):
    grads = [np.array([1e3, -2e3]), np.array([5e2])]
    flat = np.abs(np.concatenate(grads))
    scale = flat.max() if norm_type > 0 else flat.min()
    expected = scale * np.sum((flat / scale) ** norm_type) ** (1 / norm_type)
    total = nn.utils.clip_grad_norm_(params_with(*grads), 1e9, norm_type=norm_type)
    assert math.isfinite(total) and total == pytest.approx(expected, rel=1e-12)
    assert total == pytest.approx(2e3 if norm_type > 0 else 5e2, rel=0.01)  # close to max / min for large |p|


def test_nan_gradient_gives_a_nan_norm_and_changes_nothing():
    ps = params_with(np.array([1.0, np.nan]), np.array([3.0]))
    for norm_type in (2, 1, math.inf, -math.inf, -1):
        assert math.isnan(nn.utils.clip_grad_norm_(ps, 0.1, norm_type=norm_type))
        np.testing.assert_array_equal(ps[1].grad.data, [3.0])


@pytest.mark.parametrize("clip", [lambda ps: nn.utils.clip_grad_norm_(ps, 1.0),
                                  lambda ps: nn.utils.clip_grad_value_(ps, 1.0)])
def test_clipping_a_gradient_a_graph_saved_is_seen_by_that_graph(clip):
    """With create_graph=True, .grad is part of a graph; clipping changed its array without a version bump,
    and a penalty's backward then used the clipped values silently ([2.91, 23.28] for [36, 288]). As in
    PyTorch, that backward now raises; a plain gradient is clipped as before."""
    x = nn.Parameter(np.array([1.0, 2.0]))
    (x * x * x).sum().backward(create_graph=True)
    penalty = (x.grad * x.grad).sum()
    clip([x])
    x.grad = None
    with pytest.raises(RuntimeError, match="changed in place"):
        penalty.backward()
    y = nn.Parameter(np.array([3.0, 4.0]))
    (y * y).sum().backward()
    clip([y])
    assert np.linalg.norm(y.grad.numpy()) <= 1.0 + 1e-6 or np.abs(y.grad.numpy()).max() <= 1.0


def test_a_parameter_listed_twice_counts_and_is_scaled_once():
    """list(a.parameters()) + list(b.parameters()) lists a shared (tied) parameter twice: its gradient
    counted twice in the norm (3·√2 for (3, 0)) and was scaled twice (to 1/6 instead of 1/3 of itself)."""
    p, q = params_with(np.array([3.0, 0.0]), np.array([0.0, 4.0]))
    assert nn.utils.clip_grad_norm_([p, q, p], 1.0) == pytest.approx(5.0)
    np.testing.assert_allclose(p.grad.data, [0.6, 0.0], atol=1e-6)
    np.testing.assert_allclose(q.grad.data, [0.0, 0.8], atol=1e-6)
    r = nn.Parameter(np.zeros(2))
    r.grad = p.grad  # one gradient tensor under two parameters: scaled once
    nn.utils.clip_grad_norm_([p, r], 0.3)
    np.testing.assert_allclose(p.grad.data, [0.3, 0.0], atol=1e-6)


@pytest.mark.parametrize("clip", [lambda ps: nn.utils.clip_grad_norm_(ps, 1.0),
                                  lambda ps: nn.utils.clip_grad_value_(ps, 1.0)])
def test_parameters_that_are_not_tensors_are_named(clip):
    """A list holding a float raised AttributeError: 'float' object has no attribute 'grad'; None raised
    'NoneType' object is not iterable."""
    p = params_with(np.array([3.0]))[0]
    with pytest.raises(TypeError, match="parameters must be Tensors or an iterable of Tensors, got an item float"):
        clip([p, 1.0])
    with pytest.raises(TypeError, match="parameters must be Tensors or an iterable of Tensors, got NoneType"):
        clip(None)
    assert p.grad.data[0] == 3.0  # checked before anything is clipped
