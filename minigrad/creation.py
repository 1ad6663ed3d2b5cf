"""Ways to make tensors: from data, filled, random, ranges."""

from __future__ import annotations

from typing import Any

import numpy as np

from .ops import _ints
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


def _dtype(dtype, caller: str, floats_only: bool = False) -> np.dtype:
    """``dtype`` (None: the default float dtype), checked to be one a tensor
    holds: bool, integer or float -- or float only, for random samples
    (cast to an integer dtype they would be zeros, to bool all True)."""
    dtype = get_default_dtype() if dtype is None else np.dtype(dtype)
    kinds, what = ("f", "a float") if floats_only else ("biuf", "a bool, integer or float")
    if dtype.kind not in kinds:
        raise TypeError(f"{caller}: dtype must be {what} dtype, got {dtype}")
    return dtype


def _shape(shape: tuple, caller: str) -> tuple:
    """The shape given as f(2, 3), f((2, 3)) or f([2, 3]), checked: ints, none negative."""
    sizes = _ints(_shape_arg(shape), f"{caller}: shape")
    if any(n < 0 for n in sizes):
        raise ValueError(f"{caller}: shape must not have negative sizes, got {sizes}")
    return sizes


def checked_fill(value, dtype: np.dtype, caller: str = "full"):
    """``value`` (a number, or an array that broadcasts), checked to fit
    ``dtype`` (errors name ``caller``): whole numbers in range for an integer
    dtype (NumPy would store NaN as the smallest int64, 2.5 as 2), and no
    finite number that overflows a float dtype (1e300 would become inf in
    float32; torch refuses it too)."""
    values = np.asarray(value)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        if values.dtype.kind not in "biuf" or (values.dtype.kind == "f" and not np.all(np.isfinite(values))) \
                or not np.all(values == np.trunc(values)) or values.size and (values.min() < info.min
                                                                                 or values.max() > info.max):
            raise ValueError(f"{caller}: value must be whole numbers in [{info.min}, {info.max}] for dtype {dtype}, "
                             f"got {value!r}")
    elif dtype.kind == "f" and values.dtype.kind in "iufO":  # (O: a Python int beyond int64)
        with np.errstate(over="ignore"):
            wide = values.astype(np.float64)
            if (np.isfinite(wide) & np.isinf(wide.astype(dtype))).any():
                raise ValueError(f"{caller}: value overflows dtype {dtype} (a finite value must have magnitude "
                                 f"at most {np.finfo(dtype).max}), got {value!r}")
    return value


def zeros(*shape, dtype=None, requires_grad: bool = False) -> Tensor:
    return _fresh(np.zeros(_shape(shape, "zeros"), _dtype(dtype, "zeros")), requires_grad)


def ones(*shape, dtype=None, requires_grad: bool = False) -> Tensor:
    return _fresh(np.ones(_shape(shape, "ones"), _dtype(dtype, "ones")), requires_grad)


def full(shape, value: float, dtype=None, requires_grad: bool = False) -> Tensor:
    dtype = _dtype(dtype, "full")
    return _fresh(np.full(_shape((shape,), "full"), checked_fill(value, dtype), dtype), requires_grad)


def zeros_like(t: Tensor, dtype=None, requires_grad: bool = False) -> Tensor:
    return _fresh(np.zeros(t.shape, _dtype(dtype or t.dtype, "zeros_like")), requires_grad)


def ones_like(t: Tensor, dtype=None, requires_grad: bool = False) -> Tensor:
    return _fresh(np.ones(t.shape, _dtype(dtype or t.dtype, "ones_like")), requires_grad)


def randn(*shape, dtype=None, rng: np.random.Generator | None = None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples from ``rng`` (or the generator manual_seed sets)."""
    dtype = _dtype(dtype, "randn", floats_only=True)
    return _fresh(get_rng(rng).standard_normal(_shape(shape, "randn")).astype(dtype), requires_grad)


def rand(*shape, dtype=None, rng: np.random.Generator | None = None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1)."""
    dtype = _dtype(dtype, "rand", floats_only=True)
    return _fresh(get_rng(rng).random(_shape(shape, "rand")).astype(dtype), requires_grad)


def arange(start, stop=None, step=1, dtype=None) -> Tensor:
    """Like np.arange; integer unless a float argument or dtype says otherwise.
    An integer dtype takes whole numbers only: NumPy works the step out in
    that dtype (np.arange(0, 5, 0.5, dtype=int) is ten zeros)."""
    if step == 0:
        raise ValueError("arange: step must not be 0")
    if dtype is not None:
        dtype = _dtype(dtype, "arange")
        bounds = [value for value in (start, stop, step) if value is not None]
        if dtype.kind in "iu" and not all(float(value).is_integer() for value in bounds):
            raise ValueError(f"arange: with integer dtype {dtype}, start, stop and step must be whole numbers, "
                             f"got {', '.join(map(str, bounds))}")
    data = np.arange(start, stop, step, dtype=dtype)
    if dtype is None and data.dtype.kind == "f":
        data = data.astype(get_default_dtype())
    return Tensor._make(data)
