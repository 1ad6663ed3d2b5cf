"""Argument checks shared by nn's layers, so that each mistake a user can
make has one message everywhere."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from minigrad import Tensor

if TYPE_CHECKING:
    from .module import Module


def check_positive_int(name: str, value) -> int:
    """``value`` as an int, if it is a positive integer (a size, a count); else ValueError."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def check_normalized_shape(owner: str, value) -> tuple[int, ...]:
    """A layer norm's ``normalized_shape`` as a non-empty tuple of positive ints: an int n is (n,), as in
    PyTorch's LayerNorm; a tuple, list or 1-D array as it is; anything else is a TypeError, no axes a ValueError
    (x − x would be all zeros), a dimension that is not a positive int a ValueError naming it."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        value = (value,)
    elif isinstance(value, np.ndarray) and value.ndim == 1:  # (a shape kept as an array, e.g. np.array(x.shape))
        value = tuple(value)
    if not isinstance(value, (tuple, list)):
        raise TypeError(f"{owner}: normalized_shape must be an int or a tuple of ints, got "
                        f"{type(value).__name__} {value!r}")
    if not value:
        raise ValueError(f"{owner}: normalized_shape must have at least one dimension, got ()")
    return tuple(check_positive_int("normalized_shape", n) for n in value)


def check_flag(owner: str, name: str, value) -> bool:
    """``value`` as a bool, if it is one (a NumPy bool too); else TypeError: a string "False" would be true."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{owner}: {name} must be True or False, got {type(value).__name__} {value!r}")
    return bool(value)


def as_real(value) -> float | None:
    """``value`` as a float if it is a real number -- a Python or NumPy int or float, or a 0-d array of
    one (np.float64(0.1), np.array(0.5)) -- else None: a bool, a string, a complex number, a bigger array."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    return float(value)


def real_number(owner: str, name: str, value) -> float:
    """``value`` as a float, if it is a real number (see as_real); else TypeError naming it."""
    number = as_real(value)
    if number is None:
        raise TypeError(f"{owner}: {name} must be a real number, got {type(value).__name__} {value!r}")
    return number


def check_real(owner: str, name: str, value, low: float = -math.inf) -> float:
    """``value`` as a float, if it is a real number (see as_real; else TypeError) that is finite and
    >= ``low`` (ValueError: NaN would pass a range check and spread silently)."""
    number = real_number(owner, name, value)
    if not low <= number < math.inf:
        raise ValueError(f"{owner}: {name} must be finite" + (f" and >= {low}" if low > -math.inf else "")
                         + f", got {value!r}")
    return number


def check_index(name: str, value, size: int, owner: str = "", negative: bool = False) -> int:
    """``value`` as an int, if it is an integer (TypeError; a bool or 2.0 is not)
    that picks one of ``size`` entries: in [0, size), or in [-size, size) if
    ``negative`` counts from the end (ValueError)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{owner}{name} must be an int, got {type(value).__name__} {value!r}")
    low = -size if negative else 0
    if not low <= value < size:
        raise ValueError(f"{owner}{name} must lie in [{low}, {size}), got {value}")
    return int(value)


def check_probability(name: str, value) -> float:
    """``value`` as a float, if it is a real number (see as_real) in [0, 1]
    (not NaN); else ValueError."""
    number = as_real(value)
    if number is None or not 0 <= number <= 1:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return number


def check_rng(owner: str, rng) -> np.random.Generator | None:
    """``rng`` if it is None or a NumPy Generator (checked where it is given,
    not at its first draw); else TypeError: a seed goes in default_rng()."""
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise TypeError(f"{owner}: rng must be a numpy.random.Generator, got {type(rng).__name__}")
    return rng


REDUCTIONS = ("none", "mean", "sum")


def check_reduction(reduction: str) -> None:
    """A loss's reduction: one of REDUCTIONS, else ValueError."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def axis_or_dim(axis, dim, owner: str) -> int:
    """The one axis a call names: ``axis=`` (minigrad's word, NumPy's) or its
    PyTorch spelling ``dim=``, not both; an int either way (TypeError)."""
    if dim is not None:
        if axis is not None:
            raise TypeError(f"{owner}: give axis or dim (its PyTorch name), not both; got axis={axis!r}, dim={dim!r}")
        axis = dim
    axis = -1 if axis is None else axis
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{owner}: axis must be an int, got {type(axis).__name__} {axis!r}")
    return int(axis)


def check_lengths(lengths, batch: int, steps: int | None, name: str = "lengths", owner: str = "",
                  minimum: int = 1) -> np.ndarray:
    """The real length of each of ``batch`` sequences padded to ``steps`` time
    steps, checked, as an int64 array (batch,): integers (TypeError), one per
    sequence, each in minimum..steps (ValueError; no upper bound if ``steps``
    is None). An empty batch takes an empty list. ``owner`` prefixes the
    messages (``"ctc_loss: "``)."""
    values = np.asarray(lengths.data if isinstance(lengths, Tensor) else lengths)
    if values.dtype.kind not in "iu" and values.size:  # (an empty list comes as float64: fine)
        raise TypeError(f"{owner}{name} must hold integers, got dtype {values.dtype}")
    if values.shape != (batch,):
        raise ValueError(f"{owner}{name} must hold one length per sequence: expected shape ({batch},), "
                         f"got shape {values.shape}")
    if values.size and (values.min() < minimum or (steps is not None and values.max() > steps)):
        bounds = f"{minimum}..{steps} (the number of time steps)" if steps is not None else f">= {minimum}"
        raise ValueError(f"{owner}{name} must lie in {bounds}, got values from {values.min()} to {values.max()}")
    return values.astype(np.int64)


def check_dtype(owner: Module | str, name: str, x: Tensor, expected, against: str = "the parameters are") -> None:
    """A layer's input (or state) must have its parameters' dtype, as in PyTorch:
    a float64 input into a float32 layer would silently compute in float64,
    and a recurrent state could not change dtype from one step to the next.
    ``owner`` names the layer (a Module, or a function's name); ``against``
    says what has the ``expected`` dtype."""
    if x.dtype == expected:
        return
    label = owner if isinstance(owner, str) else type(owner).__name__
    hint = (f"cast one to the other (x.astype(np.{expected}) or layer.to(np.{x.dtype}))" if x.dtype.kind == "f"
            else f"cast it to floating point (x.astype(np.{expected}))")
    raise TypeError(f"{label}: {name} has dtype {x.dtype} but {against} {expected}; {hint}")


def time_major(layer: Module, x, features: int, batch_first: bool, dtype) -> Tensor:
    """x as a (T, B, features) Tensor of the parameters' ``dtype``, checked: for
    layers over sequences that take (T, B, ·), or (B, T, ·) with batch_first."""
    x = x if isinstance(x, Tensor) else Tensor(x)
    if x.ndim != 3 or x.shape[-1] != features:
        raise ValueError(f"{type(layer).__name__}: input must be (T, B, {features}) (batch_first: (B, T, ·)), "
                         f"got shape {x.shape}")
    check_dtype(layer, "input", x, dtype)
    x = x.transpose(1, 0, 2) if batch_first else x
    if x.shape[0] == 0:
        raise ValueError(f"{type(layer).__name__}: the input has no time steps (shape {x.shape}); a sequence needs "
                         "at least one")
    return x
