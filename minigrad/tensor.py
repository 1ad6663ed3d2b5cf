"""Tensor: a NumPy array plus what the tape needs to differentiate through it.

A leaf is a tensor the user made; ``requires_grad=True`` asks for its ``.grad``.
An op's output gets ``_node`` (the Node that made it) and ``_index`` (which
output of that node it is); it requires grad exactly when it has a node.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

_default_dtype = np.dtype(np.float32)


def set_default_dtype(dtype) -> None:
    """Float dtype for tensors made from Python numbers or lists (float32 at start)."""
    global _default_dtype
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"set_default_dtype: dtype must be float32 or float64, got {dtype}")
    _default_dtype = dtype


def get_default_dtype() -> np.dtype:
    return _default_dtype


def as_array(value: Any, dtype=None) -> np.ndarray:
    """An ndarray for ``value``. NumPy arrays and scalars keep their dtype;
    Python floats (and lists of them) get the default float dtype."""
    if isinstance(value, Tensor):
        value = value.data
    keeps_dtype = isinstance(value, (np.ndarray, np.generic))
    array = np.asarray(value, dtype=dtype)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"tensor data must be bool, integer or float, got dtype {array.dtype}")
    if dtype is None and not keeps_dtype and array.dtype.kind == "f":
        array = array.astype(_default_dtype, copy=False)
    return array


class Tensor:
    __slots__ = ("data", "grad", "requires_grad", "_node", "_index", "__weakref__")
    __array_ufunc__ = None  # NumPy defers to our reflected operators: ndarray * Tensor -> Tensor

    def __init__(self, data: Any, requires_grad: bool = False, dtype=None):
        self.data = as_array(data, dtype)
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(f"only float tensors can require grad, got dtype {self.data.dtype}")
        self.requires_grad = bool(requires_grad)
        self.grad: Tensor | None = None
        self._node = None
        self._index = 0

    @classmethod
    def _make(cls, data: np.ndarray, node=None, index: int = 0) -> Tensor:
        """Fast internal constructor: no checks, no copies."""
        t = object.__new__(cls)
        t.data, t.grad, t.requires_grad, t._node, t._index = data, None, node is not None, node, index
        return t

    # -- what the array is ------------------------------------------------------------
    shape = property(lambda self: self.data.shape)
    dtype = property(lambda self: self.data.dtype)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: self.data.size)
    T = property(lambda self: self.transpose())
    is_leaf = property(lambda self: self._node is None)

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="tensor(")
        name = f", op={self._node.name}" if self._node is not None else ""
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"tensor({body}, dtype={self.data.dtype}{grad}{name})"

    def numpy(self) -> np.ndarray:
        return self.data

    def item(self) -> float | int | bool:
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.data.item()

    def tolist(self):
        return self.data.tolist()

    def detach(self) -> Tensor:
        """The same data, cut off from the graph."""
        return Tensor._make(self.data)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if self._node is not None:
            raise RuntimeError("requires_grad_ works on leaves only; use detach() first")
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(f"only float tensors can require grad, got dtype {self.data.dtype}")
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self) -> None:
        """Ask backward() to fill ``.grad`` of this interior (non-leaf) tensor too."""
        if self._node is None:
            return  # leaves that require grad get .grad anyway
        if self._node.retained is None:
            self._node.retained = {}
        self._node.retained[self._index] = weakref.ref(self)

    # -- differentiation ------------------------------------------------------------
    def backward(self, grad: Any = None, retain_graph: bool = False, create_graph: bool = False) -> None:
        """Add d(self)/d(leaf) . grad into ``.grad`` of every leaf that requires grad."""
        seed = _seed(self, grad, "backward")
        engine.backward([self], [seed], retain_graph=retain_graph, create_graph=create_graph)

    # -- operators: each is one op from minigrad.ops (bound at the end of this file) ------
    # comparisons give bool tensors without gradient (== and != stay identity-based)
    def __lt__(self, other): return Tensor._make(self.data < as_array(other))
    def __le__(self, other): return Tensor._make(self.data <= as_array(other))
    def __gt__(self, other): return Tensor._make(self.data > as_array(other))
    def __ge__(self, other): return Tensor._make(self.data >= as_array(other))
    def __radd__(self, other): return ops.add(other, self)
    def __rsub__(self, other): return ops.sub(other, self)
    def __rmul__(self, other): return ops.mul(other, self)
    def __rtruediv__(self, other): return ops.truediv(other, self)
    def __rpow__(self, other): return ops.pow(other, self)
    def __rmatmul__(self, other): return ops.matmul(other, self)
    def __getitem__(self, index): return ops.getitem(self, index)

    def exp(self): return ops.exp(self)
    def log(self): return ops.log(self)
    def sqrt(self): return ops.sqrt(self)
    def tanh(self): return ops.tanh(self)
    def sigmoid(self): return ops.sigmoid(self)
    def relu(self): return ops.relu(self)
    def abs(self): return ops.abs(self)
    def clip(self, low=None, high=None): return ops.clip(self, low, high)
    def sum(self, axis=None, keepdims=False): return ops.sum(self, axis, keepdims)
    def mean(self, axis=None, keepdims=False): return ops.mean(self, axis, keepdims)
    def max(self, axis=None, keepdims=False): return ops.max(self, axis, keepdims)
    def min(self, axis=None, keepdims=False): return ops.min(self, axis, keepdims)
    def softmax(self, axis=-1): return ops.softmax(self, axis)
    def log_softmax(self, axis=-1): return ops.log_softmax(self, axis)
    def logsumexp(self, axis=None, keepdims=False): return ops.logsumexp(self, axis, keepdims)
    def reshape(self, *shape): return ops.reshape(self, _shape_arg(shape))
    def transpose(self, *axes): return ops.transpose(self, _shape_arg(axes) if axes not in ((), (None,)) else None)
    def swapaxes(self, axis1, axis2): return ops.swapaxes(self, axis1, axis2)
    def permute(self, *axes): return ops.transpose(self, _shape_arg(axes))
    def expand(self, *shape): return ops.broadcast_to(self, _shape_arg(shape))
    def flatten(self): return ops.reshape(self, (-1,))
    def unsqueeze(self, axis): return ops.reshape(self, np.expand_dims(self.data, axis).shape)
    def squeeze(self, axis=None): return ops.reshape(self, np.squeeze(self.data, axis).shape)
    def astype(self, dtype): return ops.astype(self, dtype)


def _shape_arg(shape: tuple) -> tuple:
    """Accept both f(2, 3) and f((2, 3))."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def _seed(output: Tensor, grad: Any, caller: str) -> Tensor:
    """The gradient that starts a backward from ``output``, checked."""
    if not isinstance(output, Tensor):
        raise TypeError(f"{caller}: outputs must be Tensors, got {type(output).__name__}")
    if not output.requires_grad:
        raise RuntimeError(f"{caller}: the output of shape {output.shape} does not require grad "
                           "(no input required grad, or it was computed under no_grad)")
    if grad is None:
        if output.data.size != 1:
            raise ValueError(f"{caller}: grad can be left out only for a one-element output; the output "
                             f"has shape {output.shape}, so pass grad= of that shape")
        return Tensor._make(np.ones_like(output.data))
    grad = grad if isinstance(grad, Tensor) else Tensor(as_array(grad, dtype=output.dtype))
    if grad.shape != output.shape:
        raise ValueError(f"{caller}: grad has shape {grad.shape} but the output has shape {output.shape}")
    return grad


from . import engine, ops  # noqa: E402  (both need Tensor defined first)

# The forward operators are the ops themselves: one call less on every a + b.
Tensor.__add__, Tensor.__sub__, Tensor.__mul__ = ops.add, ops.sub, ops.mul
Tensor.__truediv__, Tensor.__pow__, Tensor.__matmul__, Tensor.__neg__ = ops.truediv, ops.pow, ops.matmul, ops.neg
