"""Initialisers (torch.nn.init's names): fill a Parameter's array in place (bumping its version).

Every one draws from ``rng`` if given, else from the generator
``minigrad.manual_seed`` sets, so a seed fixes every initial weight. The
random ones need a floating-point tensor (TypeError otherwise, as in PyTorch)
and finite settings (a ≤ b, std ≥ 0, gain ≥ 0: ValueError, before anything is
written; PyTorch refuses these too).
"""

from __future__ import annotations

import math

import numpy as np

from minigrad import Tensor, get_rng, no_grad
from minigrad.creation import checked_fill as _checked_fill

from ._checks import check_real


def _fans(t: Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight (out_features, in_features, *kernel)."""
    if t.ndim < 2:
        raise ValueError(f"fan in/out needs a tensor with at least 2 dimensions, got shape {t.shape}")
    receptive = int(np.prod(t.shape[2:])) if t.ndim > 2 else 1
    return t.shape[1] * receptive, t.shape[0] * receptive


def _check_float(function: str, t: Tensor) -> None:
    """Random values are refused for an integer (or bool) tensor, as in PyTorch: they would be truncated."""
    if t.dtype.kind != "f":
        raise TypeError(f"{function}: random values need a floating-point tensor, got dtype {t.dtype}")


def _fill(t: Tensor, values) -> Tensor:
    """Write ``values`` into t in place (its version is bumped: a graph that saved t's old values will say so)."""
    with no_grad():
        return t.copy_(np.asarray(values).astype(t.dtype, copy=False))


def uniform_(t: Tensor, a: float = 0.0, b: float = 1.0, rng: np.random.Generator | None = None) -> Tensor:
    """U(a, b)."""
    _check_float("uniform_", t)
    a, b = check_real("uniform_", "a", a), check_real("uniform_", "b", b)
    if a > b:
        raise ValueError(f"uniform_: a must be <= b, got a={a!r}, b={b!r}")
    return _fill(t, get_rng(rng).uniform(a, b, t.shape))


def normal_(t: Tensor, mean: float = 0.0, std: float = 1.0, rng: np.random.Generator | None = None) -> Tensor:
    """N(mean, std²)."""
    _check_float("normal_", t)
    mean, std = check_real("normal_", "mean", mean), check_real("normal_", "std", std, low=0.0)
    return _fill(t, get_rng(rng).normal(mean, std, t.shape))


def zeros_(t: Tensor) -> Tensor:
    return _fill(t, 0)


def ones_(t: Tensor) -> Tensor:
    return _fill(t, 1)


def constant_(t: Tensor, value: float) -> Tensor:
    """``value`` everywhere, if t's dtype holds it (as mg.full checks: 2.5 or NaN in an integer tensor, 1e300 in
    float32, are a ValueError; they became 2, -2**63 and inf)."""
    return _fill(t, _checked_fill(value, t.dtype, "constant_"))


def xavier_uniform_(t: Tensor, gain: float = 1.0, rng: np.random.Generator | None = None) -> Tensor:
    """U(-a, a) with a = gain·√(6 / (fan_in + fan_out)) (Glorot & Bengio)."""
    _check_float("xavier_uniform_", t)
    gain = check_real("xavier_uniform_", "gain", gain, low=0.0)
    fan_in, fan_out = _fans(t)
    if fan_in + fan_out == 0:  # a tensor without elements, (0, 0, ...): nothing to fill (PyTorch warns)
        return t
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(t, -bound, bound, rng)


def kaiming_uniform_(t: Tensor, a: float = 0.0, nonlinearity: str = "leaky_relu",
                     rng: np.random.Generator | None = None) -> Tensor:
    """U(-b, b) with b = gain·√(3 / fan_in), gain = √(2 / (1 + a²)) for (leaky) relu (He et al.).
    With a = √5 this is PyTorch's default for Linear: b = 1/√fan_in."""
    _check_float("kaiming_uniform_", t)
    a = check_real("kaiming_uniform_", "a", a)
    fan_in, _ = _fans(t)
    gains = {"leaky_relu": math.sqrt(2.0 / (1 + a * a)), "relu": math.sqrt(2.0), "linear": 1.0,
             "sigmoid": 1.0, "tanh": 5.0 / 3}
    if nonlinearity not in gains:
        raise ValueError(f"kaiming_uniform_: nonlinearity must be one of {sorted(gains)}, got {nonlinearity!r}")
    if fan_in == 0:  # a tensor without elements: nothing to fill (PyTorch warns)
        return t
    bound = gains[nonlinearity] * math.sqrt(3.0 / fan_in)
    return uniform_(t, -bound, bound, rng)


def orthogonal_(t: Tensor, gain: float = 1.0, rng: np.random.Generator | None = None) -> Tensor:
    """A (semi-)orthogonal matrix from the QR decomposition of a Gaussian one (Saxe et al.)."""
    _check_float("orthogonal_", t)
    gain = check_real("orthogonal_", "gain", gain)
    if t.ndim < 2:
        raise ValueError(f"orthogonal_ needs at least 2 dimensions, got shape {t.shape}")
    rows, cols = t.shape[0], int(np.prod(t.shape[1:]))
    flat = get_rng(rng).standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))  # a unique, uniformly distributed Q
    if rows < cols:
        q = q.T
    return _fill(t, gain * q.reshape(t.shape))
