"""The ops: each forward on NumPy arrays with its VJPs right beside it.

An op is a function decorated with :func:`primitive`. Its positional
parameters are tensors, its keyword-only parameters plain settings (axis,
shape, ...). The forward gets the arrays. Each input has a VJP that maps the
output's gradient ``g`` to that input's gradient (None if it has none):
``vjp(g, [y,] [*inputs], **settings)`` -- the output ``y`` if the op says
``save_output``, the inputs if ``save_inputs`` (True, or the positions of the
ones its VJPs use); nothing else is kept alive for the backward. VJPs that need no more than that are given once, to the
decorator (``vjps=``). An op whose VJPs need something its forward worked
out (a shape, a mask) returns ``(output, vjps)`` instead, closures over it.

Called with Tensors, an op returns a Tensor and records a node when needed.
Called with nothing but arrays, it just computes and returns an array: that
is how the VJPs, written with these same ops, run at NumPy speed in a plain
backward and build a graph under ``create_graph``. Python numbers beside a
float Tensor take its dtype (``x32 * 2.0`` stays float32), as in PyTorch.

VJPs return gradients in the output's broadcast shape; the engine sums them
back to each input's shape (``engine.unbroadcast``). Each docstring holds the
math: ``y`` the output, ``ȳ`` its gradient, ``x̄`` an input's. Composite ops
(mean, min, swapaxes, ...) are plain functions of primitives.
"""

from __future__ import annotations

import builtins
import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

from .engine import _mode, record
from .tensor import Tensor, as_array, get_default_dtype


def _lift(args: tuple) -> tuple:
    """The arguments as Tensors: non-Tensors become constants. A Python number
    (or NumPy scalar) next to a float tensor takes that tensor's dtype."""
    ref = next((a.dtype for a in args if isinstance(a, Tensor) and a.dtype.kind == "f"), None)
    lifted = []
    for a in args:
        if not isinstance(a, Tensor):
            if isinstance(a, (int, float, np.number)) and not isinstance(a, bool) and ref is not None:
                a = np.asarray(a, dtype=ref)
            a = Tensor._make(as_array(a))
        lifted.append(a)
    return tuple(lifted)


def primitive(forward=None, *, vjps=None, save_inputs: bool | tuple = False, save_output: bool = False,
              name: str | None = None):
    """Make ``forward(*arrays, **settings)`` an op (see the module docstring)."""
    fixed_vjps = vjps if vjps is None or isinstance(vjps, tuple) else (vjps,)
    saves = ((-1,) if save_output else ()) + (save_inputs if isinstance(save_inputs, tuple) else ())

    def decorate(forward):
        op_name = name or forward.__name__

        @functools.wraps(forward)
        def op(*args, **settings):
            for x in args:
                if not isinstance(x, Tensor):
                    for a in args:
                        if isinstance(a, Tensor):
                            return op(*_lift(args), **settings)
                    # only arrays: plain NumPy (this is how VJPs run in a plain backward)
                    return forward(*args, **settings) if fixed_vjps else forward(*args, **settings)[0]
            arrays = [x.data for x in args]
            try:
                out = forward(*arrays, **settings)
            except ValueError as error:  # NumPy's shape complaints, with the op's name and the shapes
                shapes = ", ".join(str(x.shape) for x in args)
                raise ValueError(f"{op_name}: {error} (input shapes {shapes})") from None
            if fixed_vjps is None:
                out, op_vjps = out
                if not isinstance(op_vjps, tuple):
                    op_vjps = (op_vjps,)
            elif settings:
                op_vjps = tuple(functools.partial(v, **settings) for v in fixed_vjps)
            else:
                op_vjps = fixed_vjps
            if type(out) is not np.ndarray and type(out) is not tuple:
                out = np.asarray(out)  # NumPy gives scalars for 0-d results; a Tensor holds an ndarray
            op_saves = saves + tuple(range(len(args))) if save_inputs is True else saves
            if _mode.grad_enabled:
                for x in args:
                    if x.requires_grad:
                        result = record(op_name, args, out, op_vjps, op_saves, arrays)
                        break
                else:
                    result = None
            else:
                result = None
            if result is None:
                result = tuple(map(Tensor._make, out)) if type(out) is tuple else Tensor._make(out)
            if _mode.tracer is not None:  # scan is tracing a step: log how to replay this call
                _mode.tracer.append((forward, settings, op_vjps, fixed_vjps is not None, op_saves, args, result))
            return result

        return op

    return decorate if forward is None else decorate(forward)


def _data(value):
    """The array inside a Tensor, or the array itself: for masks and other
    constants a VJP derives from its saved values."""
    return value.data if isinstance(value, Tensor) else np.asarray(value)


# -- elementwise arithmetic (NumPy broadcasting; the engine unbroadcasts) -------------

@primitive(vjps=(lambda g: g, lambda g: g))
def add(a, b):
    """y = a + b;  ā = ȳ,  b̄ = ȳ"""
    return a + b


@primitive(vjps=(lambda g: g, lambda g: -g))
def sub(a, b):
    """y = a − b;  ā = ȳ,  b̄ = −ȳ"""
    return a - b


@primitive(save_inputs=True, vjps=(lambda g, a, b: g * b, lambda g, a, b: g * a))
def mul(a, b):
    """y = a·b;  ā = ȳ·b,  b̄ = ȳ·a"""
    return a * b


@primitive(save_inputs=True, vjps=(lambda g, a, b: g / b, lambda g, a, b: -g * a / (b * b)))
def truediv(a, b):
    """y = a / b;  ā = ȳ / b,  b̄ = −ȳ·a / b²"""
    return a / b


@primitive(save_inputs=(1, 2), vjps=(lambda g, a, b: g, lambda g, a, b: g * b, lambda g, a, b: g * a))
def addcmul(t, a, b):
    """y = t + a·b (as torch.addcmul);  t̄ = ȳ,  ā = ȳ·b,  b̄ = ȳ·a"""
    y = a * b
    if t.dtype == y.dtype and t.shape == y.shape:
        y += t  # into the fresh product: one array fewer
        return y
    return y + t


@primitive(vjps=lambda g: -g)
def neg(x):
    """y = −x;  x̄ = −ȳ"""
    return -x


@primitive(save_inputs=True, vjps=(lambda g, a, b: g * b * a ** (b - 1),
                                   lambda g, a, b: g * a ** b * log(where(_data(a) > 0, a, 1))))
def pow(a, b):
    """y = aᵇ;  ā = ȳ·b·aᵇ⁻¹,  b̄ = ȳ·aᵇ·ln a  (taken as 0 where a ≤ 0)"""
    return np.power(a, b)


def _share(winner, loser, g) -> np.ndarray:
    """1 where ``winner`` > ``loser``, ½ on a tie, else 0 (a constant)."""
    w, v = _data(winner), _data(loser)
    return ((w > v) + 0.5 * (w == v)).astype(_data(g).dtype)


@primitive(save_inputs=True, vjps=(lambda g, a, b: g * _share(a, b, g), lambda g, a, b: g * _share(b, a, g)))
def maximum(a, b):
    """y = max(a, b);  ā = ȳ·[a > b],  b̄ = ȳ·[a < b]  (a tie gives ½ to each)"""
    return np.maximum(a, b)


@primitive(save_inputs=True, vjps=(lambda g, a, b: g * _share(b, a, g), lambda g, a, b: g * _share(a, b, g)))
def minimum(a, b):
    """y = min(a, b);  ā = ȳ·[a < b],  b̄ = ȳ·[a > b]  (a tie gives ½ to each)"""
    return np.minimum(a, b)


@primitive
def where(condition, a, b):
    """y = a where condition else b;  ā = ȳ where condition else 0,  b̄ = ȳ elsewhere"""
    mask = np.asarray(condition, dtype=bool)
    return np.where(mask, a, b), (lambda g: None, lambda g: where(mask, g, 0.0), lambda g: where(mask, 0.0, g))


# -- elementwise functions ------------------------------------------------------------

@primitive(save_output=True, vjps=lambda g, y: g * y)
def exp(x):
    """y = eˣ;  x̄ = ȳ·y"""
    return np.exp(x)


@primitive(save_inputs=True, vjps=lambda g, x: g / x)
def log(x):
    """y = ln x;  x̄ = ȳ / x"""
    return np.log(x)


@primitive(save_output=True, vjps=lambda g, y: g / (2 * y))
def sqrt(x):
    """y = √x;  x̄ = ȳ / (2y)"""
    return np.sqrt(x)


@primitive(save_output=True, vjps=lambda g, y: g * (1 - y * y))
def tanh(x):
    """y = tanh x;  x̄ = ȳ·(1 − y²)"""
    return np.tanh(x)


@primitive(save_output=True, vjps=lambda g, y: g * y * (1 - y))
def sigmoid(x):
    """y = 1 / (1 + e⁻ˣ);  x̄ = ȳ·y·(1 − y)"""
    y = np.asarray(np.negative(x, dtype=x.dtype if x.dtype.kind == "f" else np.float64))  # (0-d: an array too)
    with np.errstate(over="ignore"):  # e⁻ˣ overflows to inf for very negative x, and 1/inf = 0 is exact
        np.exp(y, out=y)
    y += 1
    return np.reciprocal(y, out=y)  # (in place: one array instead of four)


@primitive(save_output=True, vjps=lambda g, y: g * (_data(y) > 0))
def relu(x):
    """y = max(x, 0);  x̄ = ȳ·[y > 0]"""
    return np.maximum(x, 0)


@primitive(save_inputs=True, vjps=lambda g, x: g * np.sign(_data(x)))
def abs(x):
    """y = |x|;  x̄ = ȳ·sign(x)"""
    return np.abs(x)


def clip(x, low: float | None = None, high: float | None = None):
    """y = x limited to [low, high];  x̄ = ȳ inside the interval (ends included), 0 outside"""
    return _clip(x, low=low, high=high)


@primitive(name="clip")
def _clip(x, *, low, high):
    inside = np.ones(np.shape(x), dtype=bool)
    if low is not None:
        inside &= x >= low
    if high is not None:
        inside &= x <= high
    return np.clip(x, low, high), lambda g: g * inside


# -- reductions -----------------------------------------------------------------------

def _axes(ndim: int, axis) -> tuple:
    """``axis`` (None, an int or a tuple, negatives allowed) as a sorted tuple."""
    if axis is None:
        return tuple(range(ndim))
    axis = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    for a in axis:
        if not -ndim <= a < builtins.max(ndim, 1):
            raise ValueError(f"axis {a} is out of range for a tensor with {ndim} dimensions")
    return tuple(sorted(a % builtins.max(ndim, 1) for a in axis))


def _kept_shape(shape: tuple, axes: tuple) -> tuple:
    """The shape a reduction over ``axes`` has with keepdims=True."""
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def sum(x, axis=None, keepdims: bool = False):
    """y = Σ x over ``axis``;  x̄ = ȳ spread back over the summed axes"""
    return _sum(x, axis=axis, keepdims=keepdims)


@primitive(name="sum")
def _sum(x, *, axis, keepdims):
    shape = np.shape(x)
    axes = _axes(len(shape), axis)
    kept = _kept_shape(shape, axes)
    return np.sum(x, axis=axes, keepdims=keepdims), lambda g: broadcast_to(g.reshape(kept), shape)


def mean(x, axis=None, keepdims: bool = False):
    """Σ x / n over ``axis`` (composite)."""
    shape = np.shape(_data(x))
    n = int(np.prod([shape[a] for a in _axes(len(shape), axis)]))
    return sum(x, axis, keepdims) * (1.0 / builtins.max(n, 1))


def max(x, axis=None, keepdims: bool = False):
    """y = max x over ``axis``;  x̄ = ȳ shared equally by the elements that attain it"""
    return _max(x, axis=axis, keepdims=keepdims)


@primitive(name="max")
def _max(x, *, axis, keepdims):
    axes = _axes(np.ndim(x), axis)
    y = np.max(x, axis=axes, keepdims=True)
    kept, shape = y.shape, np.shape(x)
    winners = x == y
    share = (winners / winners.sum(axis=axes, keepdims=True)).astype(x.dtype)
    return (y if keepdims else np.squeeze(y, axis=axes)), lambda g: broadcast_to(g.reshape(kept), shape) * share


def min(x, axis=None, keepdims: bool = False):
    """−max(−x) (composite)."""
    return -max(-x, axis, keepdims)


def _shift(x: np.ndarray, axis) -> np.ndarray:
    """max over ``axis`` (kept), 0 where that max is ±inf: subtracting it keeps exp() in range."""
    m = np.max(x, axis=axis, keepdims=True)
    return np.where(np.isfinite(m), m, 0)


def logsumexp(x, axis=None, keepdims: bool = False):
    """y = ln Σ eˣ over ``axis``;  x̄ = ȳ·e^(x − y)  (softmax of x)"""
    return _logsumexp(x, axis=axis, keepdims=keepdims)


@primitive(name="logsumexp", save_output=True, save_inputs=True)
def _logsumexp(x, *, axis, keepdims):
    axes = _axes(np.ndim(x), axis)
    kept = _kept_shape(np.shape(x), axes)
    m = _shift(x, axes)
    y = np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True)) + m
    return (y if keepdims else np.squeeze(y, axis=axes)), \
        lambda g, y, x: g.reshape(kept) * exp(x - y.reshape(kept))


def softmax(x, axis: int = -1):
    """y = eˣ / Σ eˣ over ``axis``;  x̄ = y·(ȳ − Σ ȳ·y)"""
    return _softmax(x, axis=axis)


@primitive(name="softmax", save_output=True, vjps=lambda g, y, axis: y * (g - (g * y).sum(axis=axis, keepdims=True)))
def _softmax(x, *, axis):
    e = np.exp(x - _shift(x, axis))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(x, axis: int = -1):
    """y = x − ln Σ eˣ over ``axis``;  x̄ = ȳ − e^y·Σ ȳ"""
    return _log_softmax(x, axis=axis)


@primitive(name="log_softmax", save_output=True, vjps=lambda g, y, axis: g - exp(y) * g.sum(axis=axis, keepdims=True))
def _log_softmax(x, *, axis):
    shifted = x - _shift(x, axis)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


# -- shapes and indexing ----------------------------------------------------------------

def reshape(x, shape: Sequence[int]):
    """y = x with a new shape;  x̄ = ȳ with x's shape"""
    return _reshape(x, shape=tuple(shape))


@primitive(name="reshape")
def _reshape(x, *, shape):
    original = np.shape(x)
    return np.reshape(x, shape), lambda g: g.reshape(original)


def transpose(x, axes: Sequence[int] | None = None):
    """y = x with axes permuted (reversed if None);  x̄ = ȳ permuted back"""
    return _transpose(x, axes=None if axes is None else tuple(axes))


@primitive(name="transpose", vjps=lambda g, axes: g.transpose(None if axes is None else tuple(np.argsort(axes))))
def _transpose(x, *, axes):
    return np.transpose(x, axes)


def swapaxes(x, axis1: int, axis2: int):
    """transpose that swaps two axes (composite)."""
    axes = list(range(np.ndim(_data(x))))
    axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
    return transpose(x, axes)


def broadcast_to(x, shape: Sequence[int]):
    """y = x stretched to ``shape`` by broadcasting;  x̄ = ȳ summed back (the engine's unbroadcast)"""
    return _broadcast_to(x, shape=tuple(shape))


@primitive(name="broadcast_to", vjps=lambda g, shape: g)
def _broadcast_to(x, *, shape):
    return np.broadcast_to(x, shape)


def astype(x, dtype):
    """y = x converted to ``dtype``;  x̄ = ȳ converted back (no gradient through non-float dtypes)"""
    dtype = np.dtype(dtype)
    if dtype.kind != "f" and isinstance(x, Tensor):
        return Tensor._make(x.data.astype(dtype))
    return _astype(x, dtype=dtype)


@primitive(name="astype")
def _astype(x, *, dtype):
    original = x.dtype
    return x.astype(dtype), lambda g: g.astype(original)


def _plain_index(index: Any) -> Any:
    """Turn Tensors and lists inside an index into arrays."""
    if isinstance(index, tuple):
        return tuple(_plain_index(i) for i in index)
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, list):
        return np.asarray(index)
    return index


def _repeat_free(index: Any) -> bool:
    """True when no element can be picked twice: ints, slices, None, ..., bool
    masks, and at most one integer array, without repeated values (a permutation)."""
    parts = index if isinstance(index, tuple) else (index,)
    arrays = [p for p in parts if isinstance(p, np.ndarray) and p.dtype != bool]
    if len(arrays) != 1:
        return not arrays
    ordered = np.sort(arrays[0], axis=None)
    return bool((ordered[1:] != ordered[:-1]).all())


def getitem(x, index: Any):
    """y = x[index] (basic or integer-array indexing);  x̄ = ȳ added into zeros at index
    (np.add.at, or plain assignment when nothing is picked twice)"""
    return _getitem(x, index=_plain_index(index))


@primitive(name="getitem")
def _getitem(x, *, index):
    shape = x.shape
    try:
        y = x[index]
    except IndexError as error:
        raise ValueError(f"index {index!r} does not fit shape {shape}: {error}") from None
    return y, lambda g: add_at(g, index, shape)


def add_at(g, index: Any, shape: Sequence[int]):
    """y = zeros(shape) with g added at ``index`` (getitem's transpose);  ḡ = ȳ[index]"""
    return _add_at(g, index=index, shape=tuple(shape))


@primitive(name="add_at")
def _add_at(g, *, index, shape):
    out = np.zeros(shape, dtype=g.dtype)
    if _repeat_free(index):
        out[index] = g  # nothing picked twice: assignment is the fast scatter
    else:
        np.add.at(out, index, g)
    return out, lambda gy: gy[index]


def _along(axis: int, ndim: int, index) -> tuple:
    """An index that picks ``index`` (an int or a slice) along ``axis``."""
    return (slice(None),) * (axis % ndim) + (index,)


def concat(tensors: Sequence, axis: int = 0):
    """y = [x₁ x₂ …] along ``axis``;  x̄ᵢ = ȳ's matching slice"""
    if not builtins.any(isinstance(x, Tensor) for x in tensors):  # arrays (split's VJP in a plain backward)
        return np.concatenate(tensors, axis=axis)
    return _concat(*tensors, axis=axis)


@primitive(name="concat")
def _concat(*xs, axis):
    before, vjps, end = (slice(None),) * (axis % xs[0].ndim), [], 0
    for x in xs:
        start, end = end, end + x.shape[axis]
        vjps.append(lambda g, piece=(*before, slice(start, end)): g[piece])
    return np.concatenate(xs, axis=axis), tuple(vjps)


def stack(tensors: Sequence, axis: int = 0):
    """y = the xᵢ stacked along a new ``axis``;  x̄ᵢ = ȳ's i-th slice along it"""
    if not builtins.any(isinstance(x, Tensor) for x in tensors):  # arrays (unbind's VJP in a plain backward)
        return np.stack(tensors, axis=axis)
    return _stack(*tensors, axis=axis)


@primitive(name="stack")
def _stack(*xs, axis):
    y = np.stack(xs, axis=axis)
    return y, tuple(lambda g, i=i: g[_along(axis, y.ndim, i)] for i in range(len(xs)))


def split(x, split_size_or_sections: int | Sequence[int], axis: int = 0) -> tuple:
    """Pieces of x along ``axis``: of size ``split_size`` each (the last may be
    smaller) or of the listed sizes, as torch.split;  x̄ = the ȳᵢ concatenated"""
    n = x.shape[axis]
    if isinstance(split_size_or_sections, (int, np.integer)):
        size = int(split_size_or_sections)
        if size <= 0:
            raise ValueError(f"split: split_size must be positive, got {size}")
        sizes = (size,) * (n // size) + ((n % size,) if n % size else ())
    else:
        sizes = tuple(int(s) for s in split_size_or_sections)
        if builtins.sum(sizes) != n or builtins.min(sizes, default=0) < 0:
            raise ValueError(f"split: sections {list(sizes)} must be non-negative and add up to {n}, "
                             f"the size of axis {axis}")
    return _split(x, sizes=sizes, axis=axis)


def chunk(x, chunks: int, axis: int = 0) -> tuple:
    """``chunks`` pieces of (nearly) equal size along ``axis``, as torch.chunk."""
    return split(x, -(-x.shape[axis] // chunks), axis)


@primitive(name="split", vjps=lambda gs, *, sizes, axis: concat(_zeros_for_missing(gs, axis, sizes), axis))
def _split(x, *, sizes, axis):
    before = (slice(None),) * (axis % x.ndim)
    pieces, start = [], 0
    for size in sizes:
        pieces.append(x[(*before, slice(start, start + size))])
        start += size
    return tuple(pieces)


def unbind(x, axis: int = 0) -> tuple:
    """The slices of x along ``axis`` (the axis dropped), one each;  x̄ = the ȳᵢ stacked"""
    return _unbind(x, axis=axis)


@primitive(name="unbind", vjps=lambda gs, *, axis: stack(_zeros_for_missing(gs, axis, None), axis))
def _unbind(x, *, axis):
    return tuple(np.moveaxis(x, axis, 0))


def _zeros_for_missing(grads: tuple, axis: int, sizes) -> list:
    """The output gradients, with zeros for pieces that received none, shaped
    like one that did (with ``axis`` set to the piece's size, for split)."""
    given = next(grad for grad in grads if grad is not None)
    piece = list(given.shape)
    out = []
    for k, grad in enumerate(grads):
        if grad is None:
            if sizes is not None:
                piece[axis] = sizes[k]
            grad = np.zeros(piece, dtype=given.dtype)
        out.append(grad)
    return out


# -- matrix product ---------------------------------------------------------------------

def _matmul_grad_a(g, a, b):
    """ā = ȳ @ bᵀ, with 1-D operands promoted to matrices and the promoted axis dropped again."""
    if b.ndim == 1:
        return g[..., None] * b
    if a.ndim == 1:
        return (g[..., None, :] @ b.swapaxes(-1, -2))[..., 0, :]
    return g @ b.swapaxes(-1, -2)


def _matmul_grad_b(g, a, b):
    """b̄ = aᵀ @ ȳ, with 1-D operands promoted to matrices and the promoted axis dropped again."""
    if a.ndim == 1:
        return a[:, None] * g[..., None, :] if b.ndim > 1 else g * a
    if b.ndim == 1:
        return (a.swapaxes(-1, -2) @ g[..., None])[..., 0]
    return a.swapaxes(-1, -2) @ g


@primitive(save_inputs=(1, 2), vjps=(lambda g, a, b: g, lambda g, a, b: g @ b.swapaxes(-1, -2),
                                     lambda g, a, b: a.swapaxes(-1, -2) @ g))
def addmm(c, a, b):
    """y = c + a @ b for matrices a, b (c broadcast, as torch.addmm);  c̄ = ȳ,  ā = ȳ @ bᵀ,  b̄ = aᵀ @ ȳ"""
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"addmm needs 2-D a and b, got shapes {a.shape} and {b.shape}")
    y = a @ b
    if c.dtype == y.dtype and (c.shape == y.shape or c.shape == y.shape[1:]):
        y += c  # into the fresh product: one array fewer
        return y
    return y + c


@primitive(save_inputs=True, vjps=(_matmul_grad_a, _matmul_grad_b))
def matmul(a, b):
    """y = a @ b (batched; 1-D operands as in NumPy);  ā = ȳ @ bᵀ,  b̄ = aᵀ @ ȳ"""
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError("matmul needs operands with at least one dimension")
    return np.matmul(a, b)


# -- lookups without gradient to the indices --------------------------------------------

def _check_indices(indices: Any, size: int, name: str, what: str) -> np.ndarray:
    indices = as_array(indices)
    if indices.dtype.kind not in "iu":
        raise TypeError(f"{name}: indices must be integers, got dtype {indices.dtype}")
    if indices.size and (indices.min() < 0 or indices.max() >= size):
        raise ValueError(f"{name}: indices must lie in [0, {size}) ({what}), "
                         f"got values from {indices.min()} to {indices.max()}")
    return indices


def one_hot(indices, num_classes: int, dtype=None) -> Tensor:
    """y[..., k] = 1 where indices == k, else 0 (no gradient)."""
    indices = _check_indices(indices, num_classes, "one_hot", "num_classes")
    out = np.zeros(indices.shape + (num_classes,), dtype=dtype or get_default_dtype())
    np.put_along_axis(out, indices[..., None], 1, axis=-1)
    return Tensor._make(out)


def embedding(weight: Tensor, indices) -> Tensor:
    """y = weight[indices] (rows picked by integer ids);  weight̄ = ȳ added into the picked rows"""
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be 2-D (num_embeddings, dim), got shape {weight.shape}")
    return getitem(weight, _check_indices(indices, weight.shape[0], "embedding", "num_embeddings"))
