"""Ways to make tensors: from data, filled, random, ranges."""

from __future__ import annotations

from typing import Any

import numpy as np

from .random import get_rng
from .tensor import Tensor, _shape_arg, as_array, get_default_dtype


def tensor(data: Any, requires_grad: bool = False, dtype=None) -> Tensor:
    """A tensor holding a copy of ``data`` (as torch.tensor)."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor that shares ``array``'s memory (as torch.from_numpy): no copy,
    but changes you make to the array are not seen by the tape's version checks."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return Tensor._make(as_array(array))


def _fresh(array: np.ndarray, requires_grad: bool) -> Tensor:
    """A new leaf around an array made here (no copy needed)."""
    return Tensor._make(array).requires_grad_(requires_grad)


def _float(dtype) -> np.dtype:
    return np.dtype(dtype) if dtype is not None else get_default_dtype()


def zeros(*shape, dtype=None, requires_grad: bool = False) -> Tensor:
    return _fresh(np.zeros(_shape_arg(shape), _float(dtype)), requires_grad)


def ones(*shape, dtype=None, requires_grad: bool = False) -> Tensor:
    return _fresh(np.ones(_shape_arg(shape), _float(dtype)), requires_grad)


def full(shape, value: float, dtype=None, requires_grad: bool = False) -> Tensor:
    return _fresh(np.full(_shape_arg((shape,)), value, _float(dtype)), requires_grad)


def zeros_like(t: Tensor, dtype=None, requires_grad: bool = False) -> Tensor:
    return _fresh(np.zeros(t.shape, dtype or t.dtype), requires_grad)


def ones_like(t: Tensor, dtype=None, requires_grad: bool = False) -> Tensor:
    return _fresh(np.ones(t.shape, dtype or t.dtype), requires_grad)


def randn(*shape, dtype=None, rng: np.random.Generator | None = None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples from ``rng`` (or the generator manual_seed sets)."""
    data = get_rng(rng).standard_normal(_shape_arg(shape)).astype(_float(dtype))
    return _fresh(data, requires_grad)


def rand(*shape, dtype=None, rng: np.random.Generator | None = None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1)."""
    data = get_rng(rng).random(_shape_arg(shape)).astype(_float(dtype))
    return _fresh(data, requires_grad)


def arange(start, stop=None, step=1, dtype=None) -> Tensor:
    """Like np.arange; integer unless a float argument or dtype says otherwise."""
    data = np.arange(start, stop, step, dtype=dtype)
    if dtype is None and data.dtype.kind == "f":
        data = data.astype(get_default_dtype())
    return Tensor._make(data)
