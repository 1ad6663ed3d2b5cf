"""Functional forms (torch.nn.functional's names): layers and losses as
plain functions of tensors, composed from minigrad ops.

One difference from PyTorch, as the SPEC asks: for sequences, class scores
come last -- cross_entropy takes (N, T, C) logits with (N, T) targets.
"""

from __future__ import annotations

import math

import numpy as np

import minigrad as mg
from minigrad import Tensor

from ._checks import (
    axis_or_dim,
    check_dtype,
    check_flag,
    check_index,
    check_normalized_shape,
    check_probability,
    check_real,
    check_reduction,
    check_rng,
    real_number,
)
from .ctc import ctc_loss  # noqa: F401  (CTC lives in nn.ctc; this is its functional name)


def _as_tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def _float_input(function: str, x) -> Tensor:
    x = _as_tensor(x)
    if x.dtype.kind != "f":
        raise TypeError(f"{function}: input must be floating point, got dtype {x.dtype}")
    return x


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x Wᵀ + b over the last axis of x (any leading shape, one matmul); a 1-D weight w
    (in_features,) gives y = x·w + b without that axis, b then 0-d, as PyTorch's."""
    x, weight, bias = _as_tensor(x), _as_tensor(weight), None if bias is None else _as_tensor(bias)
    if weight.ndim not in (1, 2):
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features) or 1-D (in_features,), got "
                         f"shape {weight.shape}")
    check_dtype("linear", "input", x, weight.dtype)
    if bias is not None:
        check_dtype("linear", "bias", bias, weight.dtype)
    if x.ndim == 0:
        raise ValueError("linear: input must have a feature axis (at least 1-D), got a 0-d tensor")
    if x.shape[-1] != weight.shape[-1]:
        raise ValueError(f"linear: input has {x.shape[-1]} features (shape {x.shape}), "
                         f"the weight expects {weight.shape[-1]}")
    if weight.ndim == 1:
        if bias is not None and bias.ndim != 0:
            raise ValueError(f"linear: with a 1-D weight the bias must be 0-d, got shape {bias.shape}")
        return x @ weight if bias is None else x @ weight + bias
    if bias is not None and bias.shape not in ((weight.shape[0],), ()):  # (another would broadcast into y)
        raise ValueError(f"linear: bias must have shape (out_features,) = ({weight.shape[0]},) or (), got shape "
                         f"{bias.shape}")
    flat = x.reshape(-1, x.shape[-1]) if x.ndim != 2 else x
    y = mg.addmm(bias, flat, weight.T) if bias is not None else flat @ weight.T
    return y if x.ndim == 2 else y.reshape(*x.shape[:-1], weight.shape[0])


def dropout(x: Tensor, p: float = 0.5, training: bool = True, rng: np.random.Generator | None = None) -> Tensor:
    """Inverted dropout: zero each element with probability p and scale the
    rest by 1/(1 − p), so nothing changes at evaluation time (identity).
    ``training`` must be a bool: a string "False" would be true. The input
    must be floating point (integers became float32; PyTorch refuses them),
    in either mode, so that eval does not pass what training refuses."""
    p = check_probability("dropout: p", p)
    check_flag("dropout", "training", training)
    check_rng("dropout", rng)
    x = _float_input("dropout", x)
    if not training or p == 0:
        return x
    if p == 1:
        return x * 0.0
    keep = mg.rand_like(x, rng=rng) >= p  # a random op: a traced scan step refuses it instead of freezing one mask
    return mg.where(keep, x * (1.0 / (1 - p)), 0.0)


def softmax(x: Tensor, axis: int | None = None, *, dim: int | None = None) -> Tensor:
    """``mg.softmax`` along ``axis`` (the last by default); ``dim=`` is the same argument under PyTorch's name."""
    return mg.softmax(_as_tensor(x), axis_or_dim(axis, dim, "softmax"))


def log_softmax(x: Tensor, axis: int | None = None, *, dim: int | None = None) -> Tensor:
    """``mg.log_softmax`` along ``axis`` (the last by default); ``dim=`` is the same argument under PyTorch's name."""
    return mg.log_softmax(_as_tensor(x), axis_or_dim(axis, dim, "log_softmax"))


def layer_norm(x: Tensor, normalized_shape: int | tuple, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """(x − mean) / √(var + eps) over the last len(normalized_shape) axes
    (biased variance, as PyTorch), then · weight + bias, each of shape
    normalized_shape (another shape could broadcast to a bigger output).
    The input must be floating point, with or without weights (PyTorch's rule)."""
    x = _as_tensor(x)
    weight, bias = (None if t is None else _as_tensor(t) for t in (weight, bias))
    normalized_shape = check_normalized_shape("layer_norm", normalized_shape)
    eps = check_real("layer_norm", "eps", eps, low=0.0)  # (a negative eps makes rows of variance < -eps NaN)
    if x.shape[x.ndim - len(normalized_shape):] != normalized_shape:
        raise ValueError(f"layer_norm: the input's last axes {x.shape} must be normalized_shape {normalized_shape}")
    for name, parameter in (("weight", weight), ("bias", bias)):
        if parameter is not None:
            check_dtype("layer_norm", "input", x, parameter.dtype)
            if parameter.shape != normalized_shape:
                raise ValueError(f"layer_norm: {name} must have shape normalized_shape {normalized_shape}, "
                                 f"got {parameter.shape}")
    _float_input("layer_norm", x)  # (after the weights' check, whose message says what to cast to)
    axes = tuple(range(x.ndim - len(normalized_shape), x.ndim))
    centered = x - x.mean(axis=axes, keepdims=True)
    y = centered / mg.sqrt((centered * centered).mean(axis=axes, keepdims=True) + eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def _known(t) -> np.ndarray | None:
    """The values of ``t`` for checking them, or None inside a traced scan
    step, where they are not known (the checks that need them are skipped
    there; what the ops check themselves still raises, step by step)."""
    if not isinstance(t, Tensor):
        return np.asarray(t)
    try:
        return t.data
    except mg.TraceError:
        return None


def embedding(indices, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """Rows of ``weight`` picked by integer ``indices``; the ``padding_idx`` row
    (negative counts from the end) is returned as it is but receives no
    gradient. The gradient is cut where that is cheaper: in the table (a
    where over its V rows, before the lookup) when there are at least V ids,
    else in the output (a where over the rows picked)."""
    indices, weight = _as_tensor(indices), _as_tensor(weight)
    if padding_idx is None:
        return mg.embedding(weight, indices)
    rows = weight.shape[0]
    padding_idx = check_index("padding_idx", padding_idx, rows, "embedding: ", negative=True) % rows
    values = _known(indices)
    if values is not None and not (values == padding_idx).any():
        return mg.embedding(weight, indices)
    if rows <= math.prod(indices.shape):
        frozen = (np.arange(rows) == padding_idx)[:, None]
        return mg.embedding(mg.where(frozen, weight.detach(), weight), indices)
    out = mg.embedding(weight, indices)
    return mg.where((indices == padding_idx).unsqueeze(-1), out.detach(), out)


def _reduce(losses: Tensor, reduction: str, count: int | Tensor | None = None) -> Tensor:
    """'none', 'sum', or 'mean' over ``count`` elements (all by default, or a
    tensor of how many count; NaN when there are none, as in PyTorch)."""
    if reduction == "none":
        return losses
    total = losses.sum()
    if reduction == "sum":
        return total
    count = losses.size if count is None else count
    if isinstance(count, Tensor):
        return mg.where(count > 0, total / mg.maximum(count, 1), float("nan"))
    return total * (1.0 / count) if count else total * float("nan")


def mse_loss(input: Tensor, target, reduction: str = "mean") -> Tensor:
    """(input − target)², reduced. The input must be floating point (integers would wrap around)."""
    check_reduction(reduction)
    input, target = _float_input("mse_loss", input), _as_tensor(target)
    if input.shape != target.shape:
        raise ValueError(f"mse_loss: input shape {input.shape} and target shape {target.shape} differ")
    diff = input - target
    return _reduce(diff * diff, reduction)


def _check_ignore_index(owner: str, ignore_index) -> int:
    """``ignore_index`` as an int, if it is one (not a bool); else TypeError."""
    if isinstance(ignore_index, (bool, np.bool_)) or not isinstance(ignore_index, (int, np.integer)):
        raise TypeError(f"{owner}: ignore_index must be an int (the target to skip), got "
                        f"{type(ignore_index).__name__} {ignore_index!r}")
    return int(ignore_index)


def _class_scores(function: str, x) -> Tensor:
    """``x`` as a Tensor with at least one class on its last axis (else ValueError naming ``function``)."""
    x = _as_tensor(x)
    if x.ndim == 0 or x.shape[-1] == 0:
        raise ValueError(f"{function}: input must hold class scores on its last axis, (C,), (N, C) or (N, T, C) "
                         f"with C >= 1, got shape {x.shape}")
    return x


def nll_loss(log_probs: Tensor, target, *, ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """−log_probs[..., target] for class scores on the last axis: (N, C) with
    targets (N,), or (N, T, C) with (N, T). Positions whose target is
    ``ignore_index`` count for nothing; 'mean' averages over the others.
    Both are keyword-only: PyTorch's third positional argument is a class
    weight (not supported here), which must not land in ignore_index."""
    check_reduction(reduction)
    return _nll_loss("nll_loss", _class_scores("nll_loss", log_probs), target, ignore_index, reduction)


def _nll_loss(function: str, log_probs: Tensor, target, ignore_index, reduction: str) -> Tensor:
    """nll_loss after the checks of ``log_probs`` and ``reduction``; errors name ``function``, the caller's."""
    ignore_index = _check_ignore_index(function, ignore_index)
    target = _as_tensor(target)
    classes = log_probs.shape[-1]
    if target.dtype.kind not in "iu":
        raise TypeError(f"{function}: target must hold integer class indices, got dtype {target.dtype}")
    if target.shape != log_probs.shape[:-1]:
        raise ValueError(f"{function}: target shape {target.shape} must be the input shape {log_probs.shape} "
                         "without its last (class) axis")
    values = _known(target)
    if values is not None:
        bad = (values != ignore_index) & ((values < 0) | (values >= classes))
        if bad.any():
            raise ValueError(f"{function}: targets must lie in [0, {classes}) or be ignore_index={ignore_index}; "
                             f"got {values[bad].ravel()[:5].tolist()}")
        if (values != ignore_index).all():  # (the common case: nothing to mask)
            picked = mg.take_along_axis(log_probs, target.unsqueeze(-1), -1).squeeze(-1)
            return _reduce(-picked, reduction)
    kept = target != ignore_index
    picked = mg.take_along_axis(log_probs, mg.where(kept, target, 0).unsqueeze(-1), -1).squeeze(-1)
    return _reduce(mg.where(kept, -picked, 0.0), reduction, count=kept.sum())


def cross_entropy(input: Tensor, target, *, ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy of logits ``input`` (classes on the last axis)
    with integer targets: nll_loss(log_softmax(input)). Finite for logits of
    any magnitude (log_softmax subtracts the row maximum)."""
    check_reduction(reduction)
    input = _class_scores("cross_entropy", input)
    return _nll_loss("cross_entropy", mg.log_softmax(input, -1), target, ignore_index, reduction)


# -- softplus and friends: ln(1 + eˣ) as logsumexp over (0, x) ---------------------------------
# These are built from minigrad ops only, with no branch on the data (no mask
# computed from .data), so they are exact inside a mg.scan step too.

def _log1p_exp(z: Tensor) -> Tensor:
    """ln(1 + eᶻ) = max(z, 0) + ln(e^min(−z, 0) + e^min(z, 0)).

    Both exponents are ≤ 0, so nothing overflows (z = ±1e4, even ±inf, are
    exact). Unlike max(z, 0) + ln(1 + e^−|z|), whose derivative at the kink
    z = 0 comes out 0 or 1 (relu'(0) = sign(0) = 0), every piece here has its
    kink at 0 too and they cancel: maximum and minimum split a tie ½/½, so
    the derivative is σ(0) = ½ exactly and the second derivative σ'(0) = ¼.
    (A logsumexp over a stacked (0, z) is also kink-free, but 2.5-4x slower.)
    Precision: the error is below 2ε·max(1, value) (measured 1.25ε over
    [−60, 60]), but it is absolute where the value is small: for z < 0
    ln(1 + eᶻ) is rounded like 1 + eᶻ, so the relative error grows as ε·e^−z,
    and for z < ln(ε/2) (−36.7 in float64, −16.6 in float32) the value is 0
    instead of eᶻ. An exact tail needs log1p, which the core does not have. The
    gradient eᶻ/(1 + eᶻ) is exact to a few ε everywhere."""
    return mg.maximum(z, 0.0) + _log1p_exp_excess(z)


def _log1p_exp_excess(z: Tensor) -> Tensor:
    """ln(1 + eᶻ) − max(z, 0) = ln(e^min(−z, 0) + e^min(z, 0)), in [0, ln 2]
    (0, not NaN, at z = ±inf)."""
    return mg.log(mg.exp(mg.minimum(-z, 0.0)) + mg.exp(mg.minimum(z, 0.0)))


def softplus(x: Tensor, beta: float = 1.0) -> Tensor:
    """(1/β)·ln(1 + e^(βx)), a smooth relu (see _log1p_exp for the tails).
    PyTorch also switches to x itself where βx > threshold (20), for speed;
    this form is exact there, so it takes no threshold (the two differ by
    less than e^−20/β, i.e. not at all in float32). With β ≠ 1 it is
    max(x, 0) + (1/β)·ln(1 + e^−β|x|), with βx kept finite (where it is
    clipped the second term is 0 anyway): exact for any x. β and 1/β must
    fit the input's dtype (an inf β would make β·0 NaN)."""
    x = _float_input("softplus", x)
    beta = real_number("softplus", "beta", beta)
    if not 0 < beta < np.inf:
        raise ValueError(f"softplus: beta must be a positive number, got {beta!r}")
    if beta == 1:
        return _log1p_exp(x)
    largest = float(np.finfo(x.dtype).max)
    if not 1 / largest <= beta <= largest:
        raise ValueError(f"softplus: beta must lie in [{1 / largest:.4g}, {largest:.4g}] for an input of dtype "
                         f"{x.dtype} (beta and 1/beta must fit it), got {beta!r}")
    bound = min(largest, largest / beta / 2)  # |βx| <= max/2: finite
    return mg.maximum(x, 0.0) + _log1p_exp_excess(mg.clip(x, -bound, bound) * beta) * (1.0 / beta)


def logsigmoid(x: Tensor) -> Tensor:
    """ln σ(x) = −ln(1 + e^−x), finite for any x (ln σ(−1e4) = −1e4, not −inf)."""
    return -_log1p_exp(-_float_input("logsigmoid", x))


# -- binary cross-entropy -----------------------------------------------------------------------

def _binary_target(function: str, input: Tensor, target) -> Tensor:
    """target checked (the input's shape, values in [0, 1]: probabilities or
    soft labels) as a Tensor of the input's dtype."""
    dtype, shape = (target.dtype, target.shape) if isinstance(target, Tensor) else (np.asarray(target).dtype,
                                                                                    np.shape(target))
    if dtype.kind not in "biuf":
        raise TypeError(f"{function}: target must hold numbers, got dtype {dtype}")
    if shape != input.shape:
        raise ValueError(f"{function}: target shape {shape} must equal the input shape {input.shape}")
    values = _known(target)
    if values is not None and not ((values >= 0) & (values <= 1)).all():
        raise ValueError(f"{function}: target values must lie in [0, 1], got {_value_range(values)}")
    return _like_input(function, "target", target, input)


def _broadcast_operand(function: str, name: str, value, input: Tensor) -> Tensor | None:
    """None, or ``value`` as a Tensor of the input's dtype whose shape broadcasts
    to the input's without changing it (a weight per element, per class, ...)."""
    if value is None:
        return None
    shape = value.shape if isinstance(value, Tensor) else np.shape(value)
    try:
        fits = np.broadcast_shapes(shape, input.shape) == input.shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"{function}: {name} of shape {shape} does not broadcast to the input shape {input.shape}")
    return _like_input(function, name, value, input)


def _like_input(function: str, name: str, value, input: Tensor) -> Tensor:
    """``value`` as a Tensor of the input's dtype: arrays and integer Tensors are
    converted; a float Tensor of another dtype is an error (it may carry a gradient)."""
    if isinstance(value, Tensor):
        if value.dtype == input.dtype:
            return value
        if value.dtype.kind == "f":
            raise TypeError(f"{function}: {name} has dtype {value.dtype} but the input is {input.dtype}")
        value = value.data
    values = np.asarray(value)
    if values.dtype.kind not in "biuf":
        raise TypeError(f"{function}: {name} must hold numbers, got dtype {values.dtype}")
    return Tensor(values.astype(input.dtype))


def _value_range(values: np.ndarray) -> str:
    if np.isnan(values).any():
        return "NaN"
    return f"values from {values.min()} to {values.max()}"


def _clamped_log(u: Tensor) -> Tensor:
    """max(ln u, −100), PyTorch's clamp in binary_cross_entropy, so u = 0 costs
    100, not inf. Computed as ln max(u, e^−100) in float64 (and returned in u's
    dtype): there 1/e^−100 is finite, so at u = 0 the gradient is 0 (the clamp
    is constant), not 0·inf = NaN as in float32. Where u is a float32
    subnormal above e^−100 the true derivative 1/u exceeds float32 and is inf."""
    wide = mg.astype(u, np.float64)
    return mg.astype(mg.log(mg.maximum(wide, math.exp(-100))), u.dtype)


def binary_cross_entropy(input: Tensor, target, weight=None, reduction: str = "mean") -> Tensor:
    """−w·[y·ln x + (1 − y)·ln(1 − x)] for probabilities x in [0, 1] (each log
    clamped to ≥ −100, as PyTorch), reduced. For logits use
    binary_cross_entropy_with_logits: it is exact where σ(x) rounds to 0 or 1."""
    check_reduction(reduction)
    x = _float_input("binary_cross_entropy", input)
    values = _known(x)
    if values is not None and not ((values >= 0) & (values <= 1)).all():
        raise ValueError("binary_cross_entropy: input must hold probabilities in [0, 1] (for logits use "
                         f"binary_cross_entropy_with_logits), got {_value_range(values)}")
    y = _binary_target("binary_cross_entropy", x, target)
    w = _broadcast_operand("binary_cross_entropy", "weight", weight, x)
    losses = -(y * _clamped_log(x) + (1 - y) * _clamped_log(1 - x))
    return _reduce(losses if w is None else losses * w, reduction)


def binary_cross_entropy_with_logits(input: Tensor, target, weight=None, reduction: str = "mean",
                                     pos_weight=None) -> Tensor:
    """−w·[p·y·ln σ(x) + (1 − y)·ln(1 − σ(x))] for logits x, with ``pos_weight`` p
    (weighting positives; broadcast over the input, e.g. one per class on the
    last axis), reduced. Computed as (1 − y)·x + (1 + (p − 1)·y)·ln(1 + e^−x),
    finite with finite gradients for logits of any size."""
    check_reduction(reduction)
    function = "binary_cross_entropy_with_logits"
    x = _float_input(function, input)
    y = _binary_target(function, x, target)
    w, p = (_broadcast_operand(function, name, value, x) for name, value in (("weight", weight),
                                                                            ("pos_weight", pos_weight)))
    log_weight = 1.0 if p is None else 1 + (p - 1) * y
    losses = (1 - y) * x + log_weight * _log1p_exp(-x)
    return _reduce(losses if w is None else losses * w, reduction)


# -- Gaussian KL divergence -------------------------------------------------------------------

def kl_normal(mu: Tensor, logvar: Tensor, prior_mu=None, prior_logvar=None, reduction: str = "mean") -> Tensor:
    """KL(N(μ, e^v) ‖ N(μ₀, e^v₀)) per element, for diagonal Gaussians given by
    mean and log-variance (the prior defaults to N(0, 1)):
        ½·[v₀ − v + e^(v − v₀) + (μ − μ₀)²·e^(−v₀) − 1]
    (with N(0, 1): ½·[μ² + e^v − v − 1]). Reduced like the losses; a VAE's KL
    term per example is ``kl_normal(mu, logvar, reduction="none").sum(-1)``.
    Exact for any finite inputs whose true KL is within float range (e^(v − v₀)
    is formed directly, so v = v₀ = 1e4 gives 0, not inf/inf = NaN)."""
    check_reduction(reduction)
    mu = _float_input("kl_normal", mu)
    logvar = _float_input("kl_normal", logvar)
    if logvar.shape != mu.shape:
        raise ValueError(f"kl_normal: logvar shape {logvar.shape} must equal the mu shape {mu.shape}")
    if logvar.dtype != mu.dtype:
        raise TypeError(f"kl_normal: logvar has dtype {logvar.dtype} but mu is {mu.dtype}")
    if (prior_mu is None) != (prior_logvar is None):
        raise ValueError("kl_normal: give both prior_mu and prior_logvar, or neither (for N(0, 1))")
    if prior_mu is None:
        losses = 0.5 * (mu * mu + mg.exp(logvar) - logvar - 1)
    else:
        prior_mu = _broadcast_operand("kl_normal", "prior_mu", prior_mu, mu)
        prior_logvar = _broadcast_operand("kl_normal", "prior_logvar", prior_logvar, mu)
        diff = mu - prior_mu
        losses = 0.5 * (prior_logvar - logvar + mg.exp(logvar - prior_logvar) + diff * diff * mg.exp(-prior_logvar)
                        - 1)
    return _reduce(losses, reduction)
