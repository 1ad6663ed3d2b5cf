"""Losses: values against direct NumPy computations, gradients, stability, bad input."""

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
import nn
from minigrad import testing as mt
from nn import functional as F


def numpy_log_softmax(x):
    m = x.max(-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))


@given(st.integers(1, 4), st.integers(1, 3), st.integers(2, 5), st.data())
def test_cross_entropy_3d_with_ignore_index_is_mean_over_kept(n, t, c, data):
    logits = data.draw(mt.arrays((n, t, c)))
    target = np.array(data.draw(st.lists(st.integers(-1, c - 1), min_size=n * t, max_size=n * t))).reshape(n, t)
    target[0, 0] = 0  # at least one kept position
    x = mg.tensor(logits, requires_grad=True)
    loss = F.cross_entropy(x, target, ignore_index=-1)
    kept = target != -1
    expected = -numpy_log_softmax(logits)[kept, target[kept]].mean()
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-12)
    assert mg.gradcheck(lambda x: F.cross_entropy(x, target, ignore_index=-1), [x])


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_cross_entropy_reductions_2d(reduction):
    rng = np.random.default_rng(0)
    logits, target = rng.standard_normal((5, 4)), np.array([0, 3, 1, 1, 2])
    per = -numpy_log_softmax(logits)[np.arange(5), target]
    expected = {"none": per, "sum": per.sum(), "mean": per.mean()}[reduction]
    x = mg.tensor(logits, requires_grad=True)
    np.testing.assert_allclose(F.cross_entropy(x, target, reduction=reduction).data, expected, rtol=1e-12)
    assert mg.gradcheck(lambda x: F.cross_entropy(x, target, reduction=reduction), [x])


def test_cross_entropy_is_finite_at_huge_logits():
    for dtype in (np.float32, np.float64):
        x = mg.tensor(np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4]], dtype=dtype), requires_grad=True)
        loss = F.cross_entropy(x, np.array([1, 2]))
        loss.backward()
        assert np.isfinite(loss.item()) and np.isfinite(x.grad.data).all()
        np.testing.assert_allclose(loss.item(), 1e4, rtol=1e-6)  # row 0 costs 2e4, row 1 costs 0


def test_nll_loss_and_mse_loss():
    logp = np.log(np.array([[0.2, 0.8], [0.5, 0.5]]))
    assert F.nll_loss(mg.tensor(logp), np.array([1, 0])).item() == pytest.approx(-(np.log(0.8) + np.log(0.5)) / 2)
    a, b = mg.tensor([1.0, 2.0, 4.0], requires_grad=True, dtype=np.float64), np.array([1.0, 0.0, 1.0])
    assert F.mse_loss(a, b).item() == pytest.approx(13 / 3)
    assert mg.gradcheck(lambda a: F.mse_loss(a, b, reduction="sum"), [a])


def test_mse_loss_refuses_integer_input_instead_of_wrapping_around():
    """int8 (100 − (−100))² wrapped around to 64; like the binary losses, mse_loss wants floats."""
    for input in (mg.tensor(np.array([100, 3], np.int8)), np.array([100, 3])):
        with pytest.raises(TypeError, match="mse_loss: input must be floating point, got dtype int"):
            F.mse_loss(input, np.array([-100, 1], np.int8), reduction="sum")
    assert F.mse_loss(mg.tensor([100.0, 3.0]), np.array([-100, 1], np.int8), reduction="sum").item() == 40004


def test_all_ignored_mean_is_nan_like_pytorch():
    loss = F.cross_entropy(mg.zeros(2, 3), np.array([-100, -100]))
    assert np.isnan(loss.item())


@pytest.mark.parametrize("call", [
    lambda x, t, w: F.cross_entropy(x, t, w),
    lambda x, t, w: F.nll_loss(mg.log_softmax(x, -1), t, w),
    lambda x, t, w: nn.CrossEntropyLoss(w)(x, t),
    lambda x, t, w: nn.NLLLoss(w)(mg.log_softmax(x, -1), t),
])
def test_a_positional_class_weight_is_a_type_error_not_an_ignore_index(call):
    """PyTorch's next positional argument is a class weight: once it became
    ignore_index and hid the targets equal to one of its entries (2 here)."""
    x, t, w = mg.tensor(np.random.default_rng(0).normal(size=(3, 3))), np.array([0, 2, 1]), np.array([1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match="positional argument"):
        call(x, t, w)


@pytest.mark.parametrize("ignore_index", [True, 1.5, "a", np.array([1])])
@pytest.mark.parametrize("call", [
    lambda x, t, i: F.cross_entropy(x, t, ignore_index=i),
    lambda x, t, i: F.nll_loss(mg.log_softmax(x, -1), t, ignore_index=i),
    lambda x, t, i: nn.CrossEntropyLoss(ignore_index=i),
    lambda x, t, i: nn.NLLLoss(ignore_index=i),
])
def test_ignore_index_must_be_an_int(call, ignore_index):
    """True used to skip class 1 silently; 1.5 and "a" skipped nothing."""
    with pytest.raises(TypeError, match="ignore_index must be an int"):
        call(mg.zeros(3, 3), np.array([0, 2, 1]), ignore_index)


def test_loss_modules_pass_ignore_index_and_reduction_on():
    x, t = mg.tensor(np.random.default_rng(0).normal(size=(3, 3))), np.array([0, -1, 1])
    expected = F.cross_entropy(x, t, ignore_index=-1, reduction="sum").item()
    assert nn.CrossEntropyLoss(ignore_index=np.int64(-1), reduction="sum")(x, t).item() == expected
    assert nn.NLLLoss(ignore_index=-1, reduction="sum")(mg.log_softmax(x, -1), t).item() == expected


def test_bad_targets_are_named():
    x = mg.zeros(2, 3)
    with pytest.raises(ValueError, match=r"\[0, 3\).*\[3\]"):
        F.cross_entropy(x, np.array([0, 3]))
    with pytest.raises(ValueError, match="target shape"):
        F.cross_entropy(x, np.array([0, 1, 2]))
    with pytest.raises(TypeError, match="integer"):
        F.cross_entropy(x, np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(x, np.array([0, 1]), reduction="avg")
    with pytest.raises(ValueError, match="shape"):
        F.mse_loss(x, np.zeros(3))


def test_losses_and_embedding_inside_a_scan_step_equal_the_loop():
    """Targets and ids that come in through xs are traced: the losses use ops, not their values."""
    rng = np.random.default_rng(0)
    logits = mg.tensor(rng.standard_normal((5, 3, 4)), requires_grad=True)
    targets = mg.tensor(rng.integers(0, 4, (5, 3)))
    targets.data[1, 0] = targets.data[3, 2] = -100  # ignored positions
    targets.data[2] = -100  # a step with nothing kept: its mean is NaN, as in PyTorch
    table = mg.tensor(rng.standard_normal((4, 2)), requires_grad=True)

    def step(total, inputs):
        z, y = inputs
        loss = F.cross_entropy(z, y, reduction="sum") + F.embedding(mg.maximum(y, 0), table, padding_idx=0).sum()
        return total + loss, F.cross_entropy(z, y)

    results = []
    for unroll in (False, True):
        total, means = mg.scan(step, mg.tensor(0.0, dtype=np.float64), (logits, targets), unroll=unroll)
        results.append((total.data, means.data, mg.grad(total, [logits, table])))
    (total, means, grads), (total_ref, means_ref, grads_ref) = results
    np.testing.assert_allclose(total, total_ref, rtol=1e-12)
    np.testing.assert_allclose(means, means_ref, rtol=1e-12)
    assert np.isnan(means[2]) and np.isfinite(means[[0, 1, 3, 4]]).all()
    for g, g_ref in zip(grads, grads_ref):
        np.testing.assert_allclose(g.data, g_ref.data, rtol=1e-12)


@pytest.mark.parametrize("shape", [(), (2, 0)])
@pytest.mark.parametrize("call", [F.cross_entropy, F.nll_loss])
def test_input_without_a_class_axis_is_named(call, shape):
    """A 0-d input raised IndexError 'tuple index out of range' in nll_loss (cross_entropy: a log_softmax
    axis error); a (2, 0) input with every target ignored raised take_along_axis's IndexError."""
    target = np.full(shape[:-1], -100)
    with pytest.raises(ValueError, match=rf"{call.__name__}: input must hold class scores on its last axis.*"
                                         rf"got shape {re.escape(str(shape))}"):
        call(mg.zeros(*shape), target)



@pytest.mark.parametrize("shape, target, kwargs", [
    ((2, 4, 3), np.zeros((2, 3), np.int64), {}),  # (N, C, T) classes on axis 1, as in PyTorch
    ((2, 3), np.array([0, 3]), {}),
    ((2, 3), np.array([0.0, 1.0]), {}),
    ((2, 3), np.array([0, 1]), {"ignore_index": 1.0})])
def test_cross_entropy_errors_name_cross_entropy(shape, target, kwargs):
    """cross_entropy's target checks said "nll_loss: ...", a function the caller never called."""
    with pytest.raises((ValueError, TypeError), match="^cross_entropy: "):
        F.cross_entropy(mg.zeros(*shape), target, **kwargs)


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_losses_gradgradcheck(reduction):
    """Second derivatives of every loss (a gradient penalty through it), w.r.t. its input and a target that
    requires grad."""
    rng = np.random.default_rng(0)
    x, y = (mg.tensor(rng.standard_normal((3, 4)), requires_grad=True) for _ in range(2))
    classes = np.array([0, -100, 3])
    weight, pos_weight = rng.uniform(0.5, 2, (3, 4)), rng.uniform(0.5, 2, 4)
    losses = {
        "mse": lambda x, y: F.mse_loss(x, y, reduction=reduction),
        "cross_entropy": lambda x, y: F.cross_entropy(x * y, classes, reduction=reduction),
        "nll": lambda x, y: F.nll_loss(mg.log_softmax(x * y, -1), classes, reduction=reduction),
        "bce": lambda x, y: F.binary_cross_entropy(mg.sigmoid(x), mg.sigmoid(y), weight, reduction=reduction),
        "bce_logits": lambda x, y: F.binary_cross_entropy_with_logits(x, mg.sigmoid(y), weight, reduction=reduction,
                                                                      pos_weight=pos_weight),
        "kl_normal": lambda x, y: F.kl_normal(x, y, x[::-1] * 0.5, y[::-1] * 0.5, reduction=reduction),
    }
    for name, loss in losses.items():
        assert mg.gradgradcheck(loss, [x, y]), name
