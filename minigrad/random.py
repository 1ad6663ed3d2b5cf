"""One NumPy Generator behind every random draw (init, dropout, shuffling),
so ``manual_seed`` makes a whole run repeat bit for bit. Functions that draw
also take ``rng=`` to use a Generator of your own instead.

``rand_like``/``randn_like`` draw with the shape of a tensor; they are ops
(without gradient), so a transform that must not replay a draw silently --
``scan`` tracing its step -- sees them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from .ops import _as_tensor, primitive
from .tensor import get_default_dtype

_generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the global generator; returns it. (Inside :func:`replaying`,
    this thread's stand-in for it: f seeding itself in checkpoint's
    recomputation draws what its first run drew, and leaves the global alone.)"""
    global _generator
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"manual_seed: seed must be a non-negative int, got {seed!r}")
    if _uses.replay is not None:
        _uses.replay = np.random.default_rng(int(seed))
        return _uses.replay
    _generator = np.random.default_rng(int(seed))
    return _generator


class _Uses(threading.local):
    count = 0  # how often this thread asked for a generator
    replay: np.random.Generator | None = None  # this thread's stand-in for the global generator (see replaying)


_uses = _Uses()


def get_rng(rng: np.random.Generator | None = None) -> np.random.Generator:
    """``rng`` if given, else the global generator (inside :func:`replaying`,
    this thread's replay of it). Either way the request is counted (per
    thread), so that a trace can tell that its function drew random numbers:
    a replay would not draw them again."""
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    _uses.count += 1
    if rng is not None:
        return rng
    return _generator if _uses.replay is None else _uses.replay


@contextmanager
def replaying(state: dict) -> Iterator[None]:
    """Inside, this thread's draws from the global generator come from a copy
    of it started at ``state`` (an earlier ``bit_generator.state``): the same
    draws again (checkpoint's recomputation), while the global generator --
    which other threads may be drawing from -- is left as it is."""
    bits = getattr(np.random, state["bit_generator"])()
    bits.state = state
    outer, _uses.replay = _uses.replay, np.random.Generator(bits)
    try:
        yield
    finally:
        _uses.replay = outer


def generator_uses() -> int:
    """How often this thread has asked for a generator (get_rng, with or without rng)."""
    return _uses.count


def rand_like(x, rng: np.random.Generator | None = None):
    """Uniform samples in [0, 1) with x's shape and (float) dtype; no gradient.
    ``x`` may be an array or a list (a Tensor comes back either way)."""
    return _rand_like(_as_tensor(x), rng=get_rng(rng))


def randn_like(x, rng: np.random.Generator | None = None):
    """Standard normal samples with x's shape and (float) dtype; no gradient (x as in rand_like)."""
    return _randn_like(_as_tensor(x), rng=get_rng(rng))


def _float(dtype: np.dtype) -> np.dtype:
    return dtype if dtype.kind == "f" else get_default_dtype()


@primitive(name="rand_like", vjps=(), differentiable=False, random=True)
def _rand_like(x, *, rng):
    return rng.random(x.shape).astype(_float(x.dtype), copy=False)


@primitive(name="randn_like", vjps=(), differentiable=False, random=True)
def _randn_like(x, *, rng):
    return rng.standard_normal(x.shape).astype(_float(x.dtype), copy=False)


def multinomial(probs, num_samples: int = 1, replacement: bool = False, rng: np.random.Generator | None = None):
    """``num_samples`` class indices per row of ``probs`` (..., C), each drawn
    with probability proportional to its entry, as torch.multinomial (no
    gradient). Without replacement a class is drawn at most once per row
    (Gumbel top-k: exactly sequential sampling without replacement)."""
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples < 1:
        raise ValueError(f"multinomial: num_samples must be a positive int, got {num_samples!r}")
    if not isinstance(replacement, (bool, np.bool_)):  # ("False" is true)
        raise TypeError(f"multinomial: replacement must be a bool, got {type(replacement).__name__} {replacement!r}")
    return _multinomial(_as_tensor(probs), num_samples=int(num_samples), replacement=bool(replacement),
                        rng=get_rng(rng))


@primitive(name="multinomial", vjps=(), differentiable=False, random=True)
def _multinomial(probs, *, num_samples, replacement, rng):
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim == 0 or (p < 0).any() or not np.isfinite(p).all() or (p.sum(axis=-1) <= 0).any():
        raise ValueError("multinomial: probs must be finite, non-negative, with a positive sum in every row "
                         f"(shape {p.shape})")
    classes = p.shape[-1]
    fewest = None if replacement else int((p > 0).sum(axis=-1).min(initial=classes))  # (0: never drawn)
    if fewest is not None and num_samples > fewest:
        raise ValueError(f"cannot draw {num_samples} classes without replacement from a row with only {fewest} "
                         "of positive probability")  # (the primitive adds the op's name and the shape)
    if replacement:  # inverse CDF: the class is the number of cdf entries <= u, u uniform in [0, 1). Never
        # one of probability 0: its entry equals the one before, and from the last positive class on all are 1 > u
        cdf = np.cumsum(p.reshape(-1, classes), axis=-1)
        cdf /= cdf[:, -1:]
        picks = _count_at_most(cdf, rng.random((len(cdf), num_samples)))
        return picks.reshape(*p.shape[:-1], num_samples)
    with np.errstate(divide="ignore"):
        keys = np.log(p) + rng.gumbel(size=p.shape)
    return np.argsort(-keys, axis=-1, kind="stable")[..., :num_samples]


def _count_at_most(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    """For each row r of the sorted rows ``cdf`` (R, C) and each u[r, k]: how many
    entries of cdf[r] are <= u[r, k] (np.searchsorted(cdf[r], u[r], "right"), all
    rows at once). A binary search in steps of C's highest power of two, halved
    each time: a count grows by a step while the entry it would then end at is
    still <= u. Each row is searched alone, so a draw cannot end in the next
    row, as one search over all rows (row r shifted to [r, r + 1]) did when
    rounding u + r gave r + 1."""
    classes = cdf.shape[-1]
    count = np.zeros(u.shape, dtype=np.intp)
    step = 1 << (classes.bit_length() - 1)
    while step:
        longer = np.minimum(count + step, classes)
        count = np.where(np.take_along_axis(cdf, longer - 1, axis=-1) <= u, longer, count)
        step >>= 1
    return count
