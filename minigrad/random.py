"""One NumPy Generator behind every random draw (init, dropout, shuffling),
so ``manual_seed`` makes a whole run repeat bit for bit. Functions that draw
also take ``rng=`` to use a Generator of your own instead."""

from __future__ import annotations

import numpy as np

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
