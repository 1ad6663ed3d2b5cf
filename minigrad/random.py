"""One NumPy Generator behind every random draw (init, dropout, shuffling),
so ``manual_seed`` makes a whole run repeat bit for bit. Functions that draw
also take ``rng=`` to use a Generator of your own instead.

``rand_like``/``randn_like`` draw with the shape of a tensor; they are ops
(without gradient), so a transform that must not replay a draw silently --
``scan`` tracing its step -- sees them."""

from __future__ import annotations

import numpy as np

from .ops import primitive
from .tensor import get_default_dtype

_generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the global generator; returns it."""
    global _generator
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"manual_seed: seed must be a non-negative int, got {seed!r}")
    _generator = np.random.default_rng(int(seed))
    return _generator


def get_rng(rng: np.random.Generator | None = None) -> np.random.Generator:
    """``rng`` if given, else the global generator."""
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    return _generator if rng is None else rng


def rand_like(x, rng: np.random.Generator | None = None):
    """Uniform samples in [0, 1) with x's shape and (float) dtype; no gradient."""
    return _rand_like(x, rng=get_rng(rng))


def randn_like(x, rng: np.random.Generator | None = None):
    """Standard normal samples with x's shape and (float) dtype; no gradient."""
    return _randn_like(x, rng=get_rng(rng))


def _float(dtype: np.dtype) -> np.dtype:
    return dtype if dtype.kind == "f" else get_default_dtype()


@primitive(name="rand_like", vjps=(), differentiable=False, random=True)
def _rand_like(x, *, rng):
    return rng.random(x.shape).astype(_float(x.dtype), copy=False)


@primitive(name="randn_like", vjps=(), differentiable=False, random=True)
def _randn_like(x, *, rng):
    return rng.standard_normal(x.shape).astype(_float(x.dtype), copy=False)
