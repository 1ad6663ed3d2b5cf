"""softplus, logsigmoid, binary cross-entropy (on probabilities and on logits)
and the Gaussian KL: known values, NumPy references, finite differences
(float64 gradcheck), stability at ±1e4, kinks, scan, bad input."""

import math
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
import nn
from minigrad import testing as mt
from nn import functional as F


def t64(values, requires_grad=True):
    return mg.tensor(np.asarray(values, dtype=np.float64), requires_grad=requires_grad)


def value_and_grad(fn, x):
    x = mg.tensor(x.data.copy(), requires_grad=True) if isinstance(x, mg.Tensor) else t64(x)
    y = fn(x)
    y.sum().backward()
    return y.data, x.grad.data


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


# -- softplus and logsigmoid ------------------------------------------------------------------

def assert_within_2_eps(got, expected, dtype=np.float64):
    """|got − expected| <= 2ε·max(1, |expected|): softplus' documented precision."""
    bound = 2 * np.finfo(dtype).eps * np.maximum(1, np.abs(expected))
    assert (np.abs(np.asarray(got, dtype=np.float64) - expected) <= bound).all()


@given(mt.arrays(mt.shapes(), low=-60, high=60))
def test_softplus_and_logsigmoid_match_numpy(x):
    assert_within_2_eps(F.softplus(t64(x)).data, np.logaddexp(0, x))
    assert_within_2_eps(F.logsigmoid(t64(x)).data, -np.logaddexp(0, -x))
    assert_within_2_eps(F.softplus(t64(x), beta=2.5).data, np.logaddexp(0, 2.5 * x) / 2.5)
    assert_within_2_eps(F.softplus(t64(x)).data.astype(np.float32), np.logaddexp(0, x), np.float32)
    np.testing.assert_allclose(value_and_grad(F.softplus, x)[1], sigmoid(x), rtol=1e-14)


@given(mt.tensors(mt.shapes(max_dims=2)), st.sampled_from([1.0, 0.5, 3]))
def test_softplus_and_logsigmoid_gradcheck(x, beta):
    assert mg.gradcheck(lambda x: F.softplus(x, beta), [x])
    assert mg.gradcheck(F.logsigmoid, [x])
    assert mg.gradgradcheck(F.logsigmoid, [x])


def test_derivatives_at_exactly_zero_have_no_kink():
    # softplus'(0) = σ(0) = 1/2, softplus''(0) = σ'(0) = 1/4; a relu/abs composition gives 0 or 1 here
    for fn, first, second in ((F.softplus, 0.5, 0.25), (F.logsigmoid, 0.5, -0.25)):
        x = t64([0.0])
        (g,) = mg.grad(fn(x).sum(), x, create_graph=True)
        (gg,) = mg.grad(g.sum(), x)
        assert g.item() == first and gg.item() == second
    assert F.softplus(t64([0.0])).item() == math.log(2) and F.logsigmoid(t64([0.0])).item() == -math.log(2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softplus_and_logsigmoid_are_finite_at_1e4(dtype):
    x = np.array([-1e4, -100.0, 0.0, 100.0, 1e4], dtype=dtype)
    sp, sp_grad = value_and_grad(F.softplus, mg.tensor(x))
    ls, ls_grad = value_and_grad(F.logsigmoid, mg.tensor(x))
    np.testing.assert_allclose(sp, [0, 0, math.log(2), 100, 1e4], atol=1e-30)
    np.testing.assert_allclose(ls, [-1e4, -100, -math.log(2), 0, 0], atol=1e-30)
    np.testing.assert_allclose(sp_grad, [0, sigmoid(-100.0), 0.5, 1, 1], rtol=1e-6, atol=1e-40)
    np.testing.assert_allclose(ls_grad, [1, 1, 0.5, sigmoid(-100.0), 0], rtol=1e-6, atol=1e-40)
    assert sp.dtype == dtype and sp_grad.dtype == dtype


def test_softplus_tail_error_is_below_epsilon_and_its_gradient_exact():
    x = np.array([-40.0, -60.0, -700.0])  # below ln ε: 1 + eˣ rounds to 1
    value, grad = value_and_grad(F.softplus, x)
    assert np.all(np.abs(value - np.exp(x)) < np.finfo(np.float64).eps)
    np.testing.assert_allclose(grad, np.exp(x), rtol=1e-13)


def test_softplus_with_a_large_beta_is_exact_where_beta_x_overflows():
    """β·x overflowed to inf and (1/β)·ln(1 + e^inf) = inf·(1/β) came out inf: softplus(50, β=1e308) was inf,
    softplus(1e35, β=1e4) in float32 too, instead of x itself; a β beyond float32 (1e39) was inf there and
    gave NaN at x = 0 (inf·0). The relu part is now x itself, and such a β is refused."""
    x = np.array([-50.0, 0.0, 50.0])
    np.testing.assert_array_equal(F.softplus(t64(x), beta=1e308).data, [0.0, math.log(2) / 1e308, 50.0])
    big = mg.tensor(np.array([-1e35, 1e35], dtype=np.float32), requires_grad=True)
    value, grad = value_and_grad(lambda x: F.softplus(x, beta=1e4), big)
    np.testing.assert_array_equal(value, np.array([0.0, 1e35], dtype=np.float32))
    np.testing.assert_array_equal(grad, [0.0, 1.0])
    for beta in (1e39, 1e-39):
        message = ("softplus: beta must lie in [2.939e-39, 3.403e+38] for an input of dtype float32 (beta and 1/beta "
                   f"must fit it), got {beta!r}")
        with pytest.raises(ValueError, match=re.escape(message)):
            F.softplus(mg.tensor(np.zeros(2, dtype=np.float32)), beta=beta)
    assert np.isfinite(F.softplus(t64([0.0]), beta=1e39).data).all()


def test_bad_softplus_arguments():
    with pytest.raises(ValueError, match="beta must be a positive number"):
        F.softplus(t64([1.0]), beta=0)
    with pytest.raises(ValueError, match="beta"):
        nn.Softplus(beta=-1.0)
    with pytest.raises(TypeError, match="softplus: input must be floating point, got dtype int64"):
        F.softplus(mg.tensor(np.array([1, 2])))
    with pytest.raises(TypeError, match="logsigmoid: input must be floating point"):
        F.logsigmoid(mg.tensor(np.array([1, 2])))


# -- binary cross-entropy -----------------------------------------------------------------------

def bce_reference(p, y, w=1.0):
    """PyTorch's definition, in NumPy: logs clamped to >= -100."""
    with np.errstate(divide="ignore"):
        return -w * (y * np.maximum(np.log(p), -100) + (1 - y) * np.maximum(np.log(1 - p), -100))


def bce_logits_reference(x, y, w=1.0, pos_weight=1.0):
    """−w·[p·y·ln σ(x) + (1 − y)·ln(1 − σ(x))], written directly (fine for |x| < 30)."""
    return -w * (pos_weight * y * np.log(sigmoid(x)) + (1 - y) * np.log(1 - sigmoid(x)))


@pytest.mark.parametrize("p, y, expected", [(0.5, 1, math.log(2)), (0.5, 0, math.log(2)), (0.0, 1, 100.0),
                                            (1.0, 0, 100.0), (0.0, 0, 0.0), (1.0, 1, 0.0), (0.25, 0.5, None)])
def test_binary_cross_entropy_known_values(p, y, expected):
    expected = bce_reference(np.float64(p), y) if expected is None else expected
    assert F.binary_cross_entropy(t64([p]), np.array([y])).item() == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_cross_entropy_at_0_and_1_has_finite_gradients(dtype):
    p = mg.tensor(np.array([0.0, 1.0, 0.0, 1.0, 0.5], dtype=dtype), requires_grad=True)
    y = np.array([1.0, 0.0, 0.0, 1.0, 0.3])
    loss = F.binary_cross_entropy(p, y, reduction="none")
    loss.sum().backward()
    np.testing.assert_allclose(loss.data, bce_reference(p.data.astype(np.float64), y), rtol=1e-6)
    # where the log is clamped the loss is constant (gradient 0); elsewhere (p − y)/(p(1 − p))
    np.testing.assert_allclose(p.grad.data, [0.0, 0.0, 1.0, -1.0, (0.5 - 0.3) / 0.25], rtol=1e-6)
    assert loss.dtype == dtype and p.grad.dtype == dtype


@given(st.data(), st.sampled_from(["none", "mean", "sum"]))
def test_binary_cross_entropy_matches_numpy_and_gradchecks(data, reduction):
    shape = data.draw(mt.shapes(max_dims=2))
    p = data.draw(mt.arrays(shape, low=0.02, high=0.98))
    y = data.draw(mt.arrays(shape, low=0, high=1))
    w = data.draw(mt.arrays(shape[-1:], low=0, high=2))  # one weight per last-axis entry
    per = bce_reference(p, y, w)
    expected = {"none": per, "mean": per.mean(), "sum": per.sum()}[reduction]
    np.testing.assert_allclose(F.binary_cross_entropy(t64(p), y, w, reduction).data, expected, rtol=1e-12)
    assert mg.gradcheck(lambda p: F.binary_cross_entropy(p, y, w, reduction), [t64(p)])


@given(st.data(), st.sampled_from(["none", "mean", "sum"]))
def test_binary_cross_entropy_with_logits_matches_numpy_and_gradchecks(data, reduction):
    shape = data.draw(mt.shapes(min_dims=1, max_dims=2))
    x = data.draw(mt.arrays(shape, low=-20, high=20))
    y = data.draw(mt.arrays(shape, low=0, high=1))
    w = data.draw(mt.arrays(shape, low=0, high=2))
    pos = data.draw(mt.arrays(shape[-1:], low=0.1, high=5))  # one per class, as PyTorch's pos_weight
    per = bce_logits_reference(x, y, w, pos)
    expected = {"none": per, "mean": per.mean(), "sum": per.sum()}[reduction]
    got = F.binary_cross_entropy_with_logits(t64(x), y, w, reduction, pos_weight=pos)
    np.testing.assert_allclose(got.data, expected, rtol=1e-10, atol=1e-14)
    assert mg.gradcheck(lambda x: F.binary_cross_entropy_with_logits(x, y, w, reduction, pos_weight=pos), [t64(x)])
    soft = np.clip(y, 0.05, 0.95)  # (so that finite differences stay inside [0, 1])
    assert mg.gradcheck(lambda y: F.binary_cross_entropy_with_logits(t64(x, False), y, reduction=reduction),
                        [t64(soft)])  # the target is differentiable too (soft labels from a model)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_cross_entropy_with_logits_is_finite_at_1e4(dtype):
    x = mg.tensor(np.array([1e4, -1e4, 1e4, -1e4, 0.0], dtype=dtype), requires_grad=True)
    y = np.array([1.0, 0.0, 0.0, 1.0, 1.0])
    loss = F.binary_cross_entropy_with_logits(x, y, reduction="none", pos_weight=np.array(2.0))
    loss.sum().backward()
    np.testing.assert_allclose(loss.data, [0.0, 0.0, 1e4, 2e4, 2 * math.log(2)], rtol=1e-6)
    # d/dx = (1 + (p − 1)y)·σ(x) − p·y  (p = pos_weight = 2)
    np.testing.assert_allclose(x.grad.data, [0.0, 0.0, 1.0, -2.0, -1.0], atol=1e-6)
    assert loss.dtype == dtype


def test_logits_and_probabilities_agree():
    x = np.linspace(-6, 6, 13)
    y = np.linspace(0, 1, 13)
    np.testing.assert_allclose(F.binary_cross_entropy_with_logits(t64(x), y).item(),
                               F.binary_cross_entropy(mg.sigmoid(t64(x)), y).item(), rtol=1e-12)


def test_bce_empty_mean_is_nan_like_pytorch():
    assert np.isnan(F.binary_cross_entropy_with_logits(t64(np.zeros(0)), np.zeros(0)).item())
    assert F.binary_cross_entropy(t64(np.zeros(0)), np.zeros(0), reduction="sum").item() == 0


def test_bad_binary_inputs_are_named():
    p = t64([0.2, 0.7])
    with pytest.raises(ValueError, match=r"input must hold probabilities in \[0, 1\].*with_logits.*1.5"):
        F.binary_cross_entropy(t64([0.2, 1.5]), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="got NaN"):
        F.binary_cross_entropy(t64([0.2, np.nan]), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"target shape \(3,\) must equal the input shape \(2,\)"):
        F.binary_cross_entropy(p, np.zeros(3))
    with pytest.raises(ValueError, match=r"target values must lie in \[0, 1\], got values from -1.0 to 1.0"):
        F.binary_cross_entropy_with_logits(p, np.array([-1.0, 1.0]))
    with pytest.raises(ValueError, match="weight of shape \\(3,\\) does not broadcast"):
        F.binary_cross_entropy(p, np.zeros(2), weight=np.ones(3))
    with pytest.raises(ValueError, match="pos_weight of shape \\(2, 2\\) does not broadcast"):
        F.binary_cross_entropy_with_logits(p, np.zeros(2), pos_weight=np.ones((2, 2)))
    with pytest.raises(TypeError, match="target has dtype float32 but the input is float64"):
        F.binary_cross_entropy_with_logits(p, mg.tensor(np.zeros(2, dtype=np.float32)))
    with pytest.raises(TypeError, match="target must hold numbers"):
        F.binary_cross_entropy_with_logits(p, np.array(["a", "b"]))
    with pytest.raises(ValueError, match="reduction"):
        F.binary_cross_entropy(p, np.zeros(2), reduction="batchmean")
    assert F.binary_cross_entropy_with_logits(p, np.array([0, 1])).dtype == np.float64  # int labels are fine


# -- Gaussian KL ----------------------------------------------------------------------------------

def kl_reference(mu, logvar, mu0=0.0, logvar0=0.0):
    """KL(N(μ, σ²) ‖ N(μ₀, σ₀²)) = ln(σ₀/σ) + (σ² + (μ − μ₀)²)/(2σ₀²) − ½, with variances."""
    var, var0 = np.exp(logvar), np.exp(logvar0)
    return 0.5 * np.log(var0 / var) + (var + (mu - mu0) ** 2) / (2 * var0) - 0.5


@pytest.mark.parametrize("mu, logvar, expected", [(0.0, 0.0, 0.0), (1.0, 0.0, 0.5), (-2.0, 0.0, 2.0),
                                                  (0.0, math.log(2), 0.5 * (1 - math.log(2)))])
def test_kl_normal_known_values(mu, logvar, expected):
    assert F.kl_normal(t64([mu]), t64([logvar])).item() == pytest.approx(expected, abs=1e-15)


@given(st.data(), st.sampled_from(["none", "mean", "sum"]))
def test_kl_normal_matches_the_formula_and_gradchecks(data, reduction):
    shape = data.draw(mt.shapes(min_dims=1, max_dims=2))
    mu, logvar, mu0, logvar0 = (data.draw(mt.arrays(shape, low=-3, high=3)) for _ in range(4))
    per = kl_reference(mu, logvar, mu0, logvar0)
    expected = {"none": per, "mean": per.mean(), "sum": per.sum()}[reduction]
    got = F.kl_normal(t64(mu), t64(logvar), t64(mu0), t64(logvar0), reduction)
    np.testing.assert_allclose(got.data, expected, rtol=1e-10, atol=1e-12)
    assert (per >= -1e-12).all()  # a KL divergence is never negative
    assert mg.gradcheck(lambda *a: F.kl_normal(*a, reduction=reduction), [t64(v) for v in (mu, logvar, mu0, logvar0)])
    standard = kl_reference(mu, logvar)
    np.testing.assert_allclose(F.kl_normal(t64(mu), t64(logvar), reduction="none").data, standard, rtol=1e-10,
                               atol=1e-12)


def test_kl_normal_is_finite_at_1e4_where_the_true_value_is():
    mu, logvar = t64([1e4, -1e4, 0.0]), t64([0.0, 0.0, -1e4])
    kl = F.kl_normal(mu, logvar, reduction="none")
    kl.sum().backward()
    np.testing.assert_allclose(kl.data, [5e7, 5e7, 0.5 * (1e4 - 1)], rtol=1e-12)
    np.testing.assert_allclose(mu.grad.data, [1e4, -1e4, 0.0])
    np.testing.assert_allclose(logvar.grad.data, [0.0, 0.0, -0.5])
    # equal huge variances: e^(v − v₀) = 1, not inf/inf
    mu, logvar = t64([3.0]), t64([1e4])
    kl = F.kl_normal(mu, logvar, t64([3.0], False), t64([1e4], False))
    kl.backward()
    assert kl.item() == 0.0 and np.isfinite(mu.grad.data).all() and np.isfinite(logvar.grad.data).all()


def test_kl_normal_bad_input():
    with pytest.raises(ValueError, match=r"logvar shape \(1,\) must equal the mu shape \(2,\)"):
        F.kl_normal(t64([0.0, 1.0]), t64([0.0]))
    with pytest.raises(TypeError, match="logvar has dtype float32 but mu is float64"):
        F.kl_normal(t64([0.0]), mg.tensor(np.zeros(1, dtype=np.float32)))
    with pytest.raises(ValueError, match="both prior_mu and prior_logvar"):
        F.kl_normal(t64([0.0]), t64([0.0]), prior_mu=t64([0.0]))
    with pytest.raises(ValueError, match="prior_logvar of shape \\(3,\\) does not broadcast"):
        F.kl_normal(t64([0.0]), t64([0.0]), t64([0.0]), t64([0.0, 1, 2]))


# -- inside mg.scan: no branch on the data, so every step is exact ------------------------------

def test_the_new_functions_are_exact_inside_scan():
    rng = np.random.default_rng(0)
    xs = rng.normal(0, 3, (6, 4, 3))
    xs[1:, 0, 0] = -xs[0, 0, 0] * np.array([1, -1, 1, -1, 1])  # the sign flips from step to step
    probs = sigmoid(xs)
    targets = rng.uniform(0, 1, (6, 4, 3))

    def step(carry, inputs):
        x, p, targets = inputs
        (h,) = carry
        y = (F.softplus(x + h) + F.logsigmoid(x) + F.binary_cross_entropy_with_logits(x, targets, reduction="none")
             + F.binary_cross_entropy(p, targets, reduction="none") + F.kl_normal(x, h, reduction="none"))
        return (mg.tanh(y),), y

    h0 = t64(np.zeros((4, 3)))
    _, scanned = mg.scan(step, (h0,), (t64(xs, False), t64(probs, False), t64(targets, False)))
    carry, looped = (h0,), []
    for x, p, target in zip(xs, probs, targets):
        carry, y = step(carry, (t64(x, False), t64(p, False), t64(target, False)))
        looped.append(y.data)
    np.testing.assert_allclose(scanned.data, np.stack(looped), rtol=1e-12)


# -- the loss modules -----------------------------------------------------------------------------

def test_loss_modules_equal_the_functions_and_save_their_weights():
    x, y = t64([[0.5, -2.0], [3.0, 0.0]]), np.array([[1.0, 0.0], [0.0, 1.0]])
    weight, pos_weight = np.array([1.0, 2.0]), np.array([3.0, 0.5])
    module = nn.BCEWithLogitsLoss(weight=weight, reduction="sum", pos_weight=pos_weight)
    assert module(x, y).item() == F.binary_cross_entropy_with_logits(x, y, weight, "sum", pos_weight).item()
    assert list(module.state_dict()) == ["weight", "pos_weight"]
    p = mg.sigmoid(x)
    assert nn.BCELoss()(p, y).item() == F.binary_cross_entropy(p, y).item()
    assert list(nn.BCELoss().state_dict()) == []
    with pytest.raises(ValueError, match="reduction"):
        nn.BCELoss(reduction="avg")
    with pytest.raises(TypeError, match="pos_weight must hold numbers"):
        nn.BCEWithLogitsLoss(pos_weight=np.array(["x"]))


def test_infinite_inputs_give_pytorchs_limits():
    values = F.softplus(t64([np.inf, -np.inf], False)).data
    np.testing.assert_array_equal(values, [np.inf, 0.0])
    np.testing.assert_array_equal(F.logsigmoid(t64([np.inf, -np.inf], False)).data, [0.0, -np.inf])
    assert np.isnan(F.softplus(t64([np.nan], False)).item())
