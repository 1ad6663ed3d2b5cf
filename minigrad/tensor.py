"""Tensor: a NumPy array plus what the tape needs to differentiate through it.

A leaf is a tensor the user made; ``requires_grad=True`` asks for its ``.grad``.
An op's output gets ``_node`` (the Node that made it) and ``_index`` (which
output of that node it is); it requires grad exactly when it has a node.

Making a tensor from data copies it (as ``torch.tensor`` does), so changing
your array afterwards cannot change a value the tape saved. Every in-place
change made through the API -- ``+=`` and friends under ``no_grad``, an
assignment to ``.data``, an optimiser's step -- bumps the tensor's version;
a backward that needs a value saved at an older version raises instead of
using the new one. (Writing into ``t.data[...]`` directly is NumPy's business
and is not seen, as with PyTorch's ``.data``; inside a step that scan traces
the array is read-only, see _read.)
"""

from __future__ import annotations

import itertools
import weakref
from operator import attrgetter
from typing import Any

import numpy as np

_default_dtype = np.dtype(np.float32)
clock = itertools.count(1)  # one clock for the tape's nodes and the tensors' in-place changes


def set_default_dtype(dtype) -> None:
    """Float dtype for tensors made from Python numbers or lists (float32 at start)."""
    global _default_dtype
    try:
        checked = None if dtype is None else np.dtype(dtype)  # (np.dtype(None) would be float64)
    except TypeError:
        checked = None
    if checked not in (np.float32, np.float64):
        raise TypeError(f"set_default_dtype: dtype must be float32 or float64, got "
                        f"{dtype if checked is None else checked}")
    _default_dtype = checked


def get_default_dtype() -> np.dtype:
    return _default_dtype


def as_array(value: Any, dtype=None, copy: bool = False) -> np.ndarray:
    """An ndarray for ``value``. NumPy arrays and scalars keep their dtype;
    Python floats (and lists of them) get the default float dtype. A value
    that takes over ops (a dual, a traced value) refuses in its own words:
    its array alone would drop its tangent or its place in a trace."""
    if isinstance(value, Tensor):
        value = np.asarray(value) if takes_over_ops(value) else _read(value)
    keeps_dtype = isinstance(value, (np.ndarray, np.generic))
    array = np.array(value, dtype=dtype) if copy else np.asarray(value, dtype=dtype)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"tensor data must be bool, integer or float, got dtype {array.dtype}")
    if dtype is None and not keeps_dtype and array.dtype.kind == "f":
        array = array.astype(_default_dtype, copy=False)
    return array


def takes_over_ops(x) -> bool:
    """Is ``x`` a Tensor subclass that receives every op called on it
    (``__minigrad_dispatch__``, see minigrad/ops.py): a value of a scan step
    being traced, or a forward-mode dual?"""
    return isinstance(x, Tensor) and type(x).__minigrad_dispatch__ is not None


def share_views(outputs, inputs) -> None:
    """An op's output that is a view of an input's data (reshape, transpose,
    a slice...) shares that input's version counter, as in PyTorch: changing
    either in place is a change of both."""
    for out in outputs if type(outputs) is tuple else (outputs,):
        if out._data.base is not None:
            for x in inputs:
                if np.may_share_memory(out._data, x._data):
                    out._version = x._version
                    break


_RENAMED_SLOTS = {"requires_grad": "_requires_grad", "grad": "_grad"}  # (in copies pickled before they were properties)


class Tensor:
    __slots__ = ("_data", "_grad", "_requires_grad", "_node", "_index", "_version", "__weakref__")
    __hash__ = object.__hash__  # == is elementwise (as in NumPy and PyTorch); hashing stays by identity
    __minigrad_dispatch__ = None  # a subclass that receives every op called on it defines it (see minigrad/ops.py)

    def __init__(self, data: Any, requires_grad: bool = False, dtype=None):
        self._data = as_array(data, dtype, copy=True)
        if requires_grad and self._data.dtype.kind != "f":
            raise TypeError(f"only float tensors can require grad, got dtype {self._data.dtype}")
        self._requires_grad = bool(requires_grad)
        self._grad: Tensor | None = None
        self._node = None
        self._index = 0
        self._version = [0]  # when the data last changed in place (0: never): one list, shared with views

    @classmethod
    def _make(cls, data: np.ndarray, node=None, index: int = 0) -> Tensor:
        """Fast internal constructor: no checks, no copies."""
        t = object.__new__(cls)
        t._data, t._grad, t._requires_grad, t._node, t._index, t._version = data, None, node is not None, node, index, \
            [0]
        return t

    # -- what the array is ------------------------------------------------------------
    shape = property(lambda self: self._data.shape)
    dtype = property(lambda self: self._data.dtype)
    ndim = property(lambda self: self._data.ndim)
    size = property(lambda self: self._data.size)
    T = property(lambda self: self.transpose())
    is_leaf = property(lambda self: self._node is None)

    @property
    def data(self) -> np.ndarray:
        """The array. Assigning to it (``t.data = a``, or ``t.data -= a``) bumps the version."""
        return _read(self)

    @data.setter
    def data(self, value: Any) -> None:
        if recording.trace is not None:
            recording.trace.outside_change("assigning to .data")
        value = as_array(value)
        if self.requires_grad and value.dtype.kind != "f":
            raise TypeError(f"a tensor that requires grad needs float data, got dtype {value.dtype}")
        if self._node is not None and value.shape != self._data.shape:
            raise ValueError(f".data: an array of shape {value.shape} for the output of {self._node.name} of shape "
                             f"{self._data.shape}: the gradients through it have that shape; detach() first")
        if self._grad is not None and value.shape != self._grad.shape:
            raise ValueError(f".data: an array of shape {value.shape} for a tensor whose .grad has shape "
                             f"{self._grad.shape}; set .grad = None first")
        self._data = value
        self._bump()

    def _bump(self) -> None:
        """Record an in-place change (see the module docstring): the version
        becomes the time on the tape's clock, so a node recorded before it
        sees a later version than its own time."""
        self._version[0] = next(clock)

    def __repr__(self) -> str:
        body = np.array2string(self._data, separator=", ", prefix="tensor(")
        name = f", op={self._node.name}" if self._node is not None else ""
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"tensor({body}, dtype={self._data.dtype}{grad}{name})"

    # -- the Python protocols ---------------------------------------------------------
    def __reduce_ex__(self, protocol):
        """Copying (copy, deepcopy) and pickling take a leaf as it is; a tensor
        made by an op is refused, as PyTorch's deepcopy refuses it: its copy
        would carry a copy of the graph, whose backward fills the copied
        leaves' ``.grad``, not the leaves'."""
        if self._node is not None:
            raise RuntimeError(f"a tensor made by an op ({self._node.name}) cannot be copied or pickled with its "
                               "graph: copy t.detach() (or t.detach().requires_grad_() for a new leaf)")
        return super().__reduce_ex__(protocol)

    def __setstate__(self, state: tuple) -> None:
        """Restore a copied or unpickled leaf from its slots (and a subclass's
        __dict__); one pickled when requires_grad and grad were slots has
        those names, now properties, whose setters would look at slots not yet back."""
        attributes, slots = state if isinstance(state, tuple) else (state, None)
        for name, value in {**(attributes or {}), **(slots or {})}.items():
            setattr(self, _RENAMED_SLOTS.get(name, name), value)

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        """The slices along axis 0, each a (differentiable) t[i]."""
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    def __contains__(self, value: Any) -> bool:
        """``value in t``: a value read (a dual's value may be read; its tangent plays no part)."""
        return bool((self.numpy() == (_read(value) if isinstance(value, Tensor) else as_array(value))).any())

    def _one(self, what: str) -> np.ndarray:
        data = self.numpy()
        if data.size != 1:
            raise ValueError(f"{what} needs a tensor with one element, got shape {data.shape}")
        return data

    def __bool__(self) -> bool:
        return bool(self._one("the truth value of a tensor (bool(), if, and, or)").item())

    def __float__(self) -> float:
        return float(self._one("float()").item())

    def __int__(self) -> int:
        return int(self._one("int()").item())

    def __index__(self) -> int:
        if self._data.dtype.kind not in "iu":
            raise TypeError(f"only integer tensors can be used as an index, got dtype {self._data.dtype}")
        return int(self._one("an index").item())

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        if self.requires_grad:
            raise TypeError("a tensor that requires grad cannot become a NumPy array implicitly (the gradient "
                            "would be lost without a word); use t.detach().numpy() or t.numpy()")
        data = self.numpy()
        return np.array(data, dtype=dtype, copy=True) if copy else np.asarray(data, dtype=dtype)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        """``ndarray + Tensor`` (and -, *, /, **, @, comparisons) give Tensors;
        any other NumPy function on a Tensor is an error that says what to use."""
        op = _UFUNC_OPS.get(ufunc.__name__) if method == "__call__" and not kwargs else None
        if op is None:
            called = ufunc.__name__ if method == "__call__" else f"{ufunc.__name__}.{method}"
            name = (_REDUCE_NAMES if method == "reduce" else _OP_NAMES).get(ufunc.__name__, ufunc.__name__)
            instead = (f"use mg.{name}" if method in ("__call__", "reduce") and hasattr(ops, name)
                       else "minigrad has no such op: compose it from minigrad's ops")
            raise TypeError(f"NumPy's {called} was called on a minigrad Tensor: {instead} to keep the gradient, "
                            "or t.numpy() for the plain array")
        return op(*inputs)

    def __array_function__(self, func, types, args, kwargs):
        """NumPy's functions take a Tensor's array, as ``np.asarray`` does, except the
        reductions NumPy hands to the Tensor method of the same name with NumPy's own
        arguments (``np.sum(t)`` calls ``t.sum(out=None)``): those say what to use."""
        name = _METHOD_REDUCTIONS.get(func.__name__)
        if name is not None:
            raise TypeError(f"NumPy's {func.__name__} was called on a minigrad Tensor: use mg.{name} (t.{name}()) "
                            "to keep the gradient, or t.numpy() for the plain array")
        if func.__name__ in _FALSE_ON_FAILURE:  # converted here, so that a refusal is raised, not answered False
            args = [np.asarray(a) if isinstance(a, Tensor) else a for a in args]
            kwargs = {k: np.asarray(a) if isinstance(a, Tensor) else a for k, a in kwargs.items()}
        return func._implementation(*args, **kwargs)

    def numpy(self) -> np.ndarray:
        return _read(self)

    def item(self) -> float | int | bool:
        return self._one("item()").item()

    def tolist(self):
        return self.numpy().tolist()

    # -- differentiation ------------------------------------------------------------
    def detach(self) -> Tensor:
        """The same data, cut off from the graph (sharing the version counter)."""
        t = Tensor._make(self._data)
        t._version = self._version
        return t

    def _set_requires_grad(self, requires_grad: bool) -> None:
        self.requires_grad_(requires_grad)  # (checked: an integer tensor's gradient would be cut to integers)

    requires_grad = property(attrgetter("_requires_grad"), _set_requires_grad, doc=(
        "Does the tape follow this tensor: a leaf asked to (float tensors only; set it, or requires_grad_()), "
        "or an op's output recorded on the tape."))

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if self._node is not None:
            raise RuntimeError("requires_grad_ works on leaves only; use detach() first")
        if requires_grad and self._data.dtype.kind != "f":
            raise TypeError(f"only float tensors can require grad, got dtype {self._data.dtype}")
        self._requires_grad = bool(requires_grad)
        return self

    def _set_grad(self, grad: Tensor | None) -> None:
        if grad is not None:
            if not isinstance(grad, Tensor):
                raise TypeError(f".grad must be a Tensor or None, got {type(grad).__name__}")
            if grad.dtype.kind != "f":
                raise TypeError(f".grad must be a float tensor, got dtype {grad.dtype}")
            if grad.shape != self._data.shape:
                raise ValueError(f".grad must have the tensor's shape {self._data.shape}, got shape {grad.shape}")
        self._grad = grad

    grad = property(attrgetter("_grad"), _set_grad, doc=(
        "The gradient backward() adds into: None until then; a Tensor of this tensor's shape (checked when "
        "assigned, so that a later backward cannot fail halfway, or broadcast into it)."))

    def retain_grad(self) -> None:
        """Ask backward() to fill ``.grad`` of this interior (non-leaf) tensor too."""
        if not self.requires_grad:
            raise RuntimeError(f"retain_grad on a tensor (shape {self.shape}) that does not require grad: no backward "
                               "reaches it, so its .grad would stay None")
        if self._node is None:
            return  # leaves that require grad get .grad anyway
        if self._node.retained is None:
            self._node.retained = {}
        self._node.retained[self._index] = weakref.ref(self)

    def backward(self, grad: Any = None, retain_graph: bool | None = None, create_graph: bool = False) -> None:
        """Add d(self)/d(leaf) . grad into ``.grad`` of every leaf that requires grad.
        ``retain_graph`` defaults to ``create_graph`` (as in PyTorch): the new
        gradients' graph runs through this one."""
        seed = _seed(self, grad, "backward")
        retain_graph = create_graph if retain_graph is None else retain_graph
        engine.backward([self], [seed], retain_graph=retain_graph, create_graph=create_graph)

    # -- in-place arithmetic ------------------------------------------------------------
    def _inplace(self, other, ufunc, op) -> Tensor:
        """``self op= other``. Outside the graph (nothing to record) the data
        changes in place and the version is bumped; inside it, ``x += y``
        makes a new tensor x + y (as in JAX), for a leaf that requires grad
        it is an error (as in PyTorch)."""
        if takes_over_ops(self):
            return op(self, other)  # a dual (forward mode): stays functional
        if engine.needs_grad([self, other] if isinstance(other, Tensor) else [self]):
            if self._node is None and self.requires_grad:
                raise RuntimeError("an in-place update of a leaf that requires grad, while grad mode is on, would "
                                   "hide it from the tape: do it under mg.no_grad() (as optimisers do), or write "
                                   "x = x + y for a new tensor")
            return op(self, other)
        return self._write(lambda data, value: ufunc(data, value, out=data, casting="same_kind"), other,
                           ufunc.__name__)

    def _write(self, write, other, what: str) -> Tensor:
        """Change the data in place with ``write(data, value)``, checked, and bump the version."""
        if recording.trace is not None:  # (a tensor from outside a step being traced)
            recording.trace.outside_change(f"in-place {what}")
        data = self._data
        if not (data.flags.writeable and data.flags.owndata):
            raise ValueError(f"in-place {what} on a tensor whose data is a view or read-only (shape "
                             f"{data.shape}): it would change other tensors unseen; use x = x + y, or clone() first")
        checked_write(write, data, _operand(other, data.dtype, what), what)
        self._bump()
        return self

    def __iadd__(self, other): return self._inplace(other, np.add, ops.add)
    def __isub__(self, other): return self._inplace(other, np.subtract, ops.sub)
    def __imul__(self, other): return self._inplace(other, np.multiply, ops.mul)
    def __itruediv__(self, other): return self._inplace(other, np.true_divide, ops.truediv)
    def __ipow__(self, other): return self._inplace(other, np.power, ops.pow)
    def __iand__(self, other): return self._bitwise_inplace(other, np.bitwise_and, ops.bitwise_and)
    def __ior__(self, other): return self._bitwise_inplace(other, np.bitwise_or, ops.bitwise_or)
    def __ixor__(self, other): return self._bitwise_inplace(other, np.bitwise_xor, ops.bitwise_xor)

    def _bitwise_inplace(self, other, ufunc, op) -> Tensor:
        """``mask |= other`` changes the mask in place, as in PyTorch (without this, Python made a new tensor
        and another name for the mask kept the old values); bool or integer tensors only."""
        if self._data.dtype.kind not in "biu":
            raise TypeError(f"{op.spec.name}: in place on a {self._data.dtype} tensor: bool or integer tensors only")
        return self._inplace(other, ufunc, op)

    def copy_(self, source) -> Tensor:
        """Overwrite the data with ``source`` (broadcast, same dtype kind), in
        place, as torch's copy_; outside the graph (e.g. under no_grad) only."""
        if engine.needs_grad([self, source] if isinstance(source, Tensor) else [self]):
            raise RuntimeError("copy_ on a tensor in the graph (grad mode on and a tensor that requires grad): "
                               "do it under mg.no_grad()")
        return self._write(copy_into, source, "copy_")

    # -- operators: each is one op from minigrad.ops (bound at the end of this file) ------
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
    def clone(self): return ops.clone(self)
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
    def unsqueeze(self, axis): return ops.unsqueeze(self, axis)
    def squeeze(self, axis=None): return ops.squeeze(self, axis)
    def astype(self, dtype): return ops.astype(self, dtype)
    def argmax(self, axis=None, keepdims=False): return ops.argmax(self, axis, keepdims)
    def argmin(self, axis=None, keepdims=False): return ops.argmin(self, axis, keepdims)
    def masked_fill(self, mask, value): return ops.masked_fill(self, mask, value)


def _read(tensor: Tensor) -> np.ndarray:
    """The array of a tensor whose values are read (.numpy(), .data, .item(),
    mg.tensor(t), ...). While a trace is recorded in this thread, the trace
    hears of it (minigrad.tracing, Trace.read_value) and the array is a
    read-only view: a step writing into it (``t.data -= v``, ``t.data[...] =
    v``, ``out=t.numpy()``) fails at that line before anything changes."""
    data = tensor._data
    if recording.trace is not None:
        recording.trace.read_value()
        if isinstance(data, np.ndarray):  # (a traced tensor's refuses to be read: see minigrad.tracing)
            data = data.view()
            data.flags.writeable = False
    return data


def _operand(value: Any, dtype: np.dtype, what: str) -> np.ndarray:
    """The other operand of an in-place change of a ``dtype`` tensor. A Python
    number or list, or a 0-d array or tensor, is weak, as in the ops' dtype
    rule: it takes the tensor's dtype if it is of a kind that dtype holds --
    x64 *= 0.1 multiplies by the float64 0.1, uint8 += 1 adds a uint8 -- and
    an integer must fit it (int32 += 2**40, or += np.int64(2**40), would
    wrap around), as must the integers of a wider array or tensor
    (int8 += np.array([1000])). A float into an integer tensor stays a float
    (checked_write refuses it)."""
    if isinstance(value, (Tensor, np.ndarray, np.generic)):
        array = as_array(value)
        if array.ndim:
            _check_fits(array, dtype, value, what)
            return array
    else:
        array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"in-place {what}: the other operand must be bool, integer or float, got "
                        f"{type(value).__name__} {value!r}")
    if dtype.kind == "f" and array.dtype.kind in "iuf":
        return array.astype(dtype)
    if array.dtype.kind in "iu" and dtype.kind in "iu":
        _check_fits(array, dtype, value, what)
        return array.astype(dtype)
    return array


def _check_fits(array: np.ndarray, dtype: np.dtype, value: Any, what: str) -> None:
    """A ValueError if the integers of ``array`` (the operand ``value``) do not fit
    an integer ``dtype``: cast into it they would wrap around."""
    if array.dtype.kind in "iu" and dtype.kind in "iu" and not np.can_cast(array.dtype, dtype):
        limits = np.iinfo(dtype)
        if array.size and (array.min() < limits.min or array.max() > limits.max):
            raise ValueError(f"in-place {what}: {value!r} does not fit a {dtype} tensor ({limits.min}..{limits.max}"
                             "): it would wrap around")


def checked_write(write, data: np.ndarray, value: np.ndarray, what: str) -> None:
    """``write(data, value)``, NumPy's casting and broadcasting errors said in
    minigrad's words (a traced step checks its copy_ with it, on stand-ins)."""
    try:
        write(data, value)
    except TypeError:  # NumPy's casting error: e.g. an int tensor += 0.5
        raise TypeError(f"in-place {what} would change the dtype of a {data.dtype} tensor "
                        f"(other operand {value.dtype}); use x = x + y for a new tensor") from None
    except ValueError as error:
        if _broadcasts(value.shape, data.shape):  # NumPy refused the values (an integer to a negative power)
            raise ValueError(f"in-place {what}: {error}") from None
        raise ValueError(f"in-place {what}: an operand of shape {value.shape} does not broadcast to "
                         f"the tensor's shape {data.shape}") from None


def _broadcasts(shape: tuple, target: tuple) -> bool:
    """Does ``shape`` broadcast to ``target``?"""
    try:
        return np.broadcast_shapes(shape, target) == target
    except ValueError:
        return False


def copy_into(data: np.ndarray, value: np.ndarray) -> None:
    """What copy_ writes: ``value`` into ``data``, broadcast, cast within its dtype's kind."""
    np.copyto(data, value, casting="same_kind")


def _shape_arg(shape: tuple) -> tuple:
    """Accept both f(2, 3) and f((2, 3))."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def _seed(output: Tensor, grad: Any, caller: str, argument: str = "grad") -> Tensor:
    """The gradient that starts a backward from ``output``, checked, in the output's dtype; errors
    name it as the caller's ``argument`` (backward's ``grad``, grad's ``grad_outputs[i]``)."""
    if not isinstance(output, Tensor):
        raise TypeError(f"{caller}: outputs must be Tensors, got {type(output).__name__}")
    if not output.requires_grad:
        raise RuntimeError(f"{caller}: the output of shape {output.shape} does not require grad "
                           "(no input required grad, or it was computed under no_grad)")
    if grad is None:
        if output._data.size != 1:
            raise ValueError(f"{caller}: {argument} can be left out only for a one-element output; the output "
                             f"has shape {output.shape}, so pass {argument.partition('[')[0]}= of that shape")
        return Tensor._make(np.ones_like(output._data))
    if takes_over_ops(grad):
        raise TypeError(f"{caller}: {argument} is a {type(grad).__name__} (a traced or dual value): its extra part "
                        "would be dropped; differentiate inside the transform instead")
    if not isinstance(grad, Tensor):
        grad = Tensor._make(as_array(grad, dtype=output.dtype, copy=True))
    elif grad.dtype != output.dtype:  # cast to the output's dtype, as PyTorch does (on the tape: it may require
        with engine.enable_grad():  # grad, and a create_graph backward differentiates it whatever the caller's mode)
            grad = ops.astype(grad, output.dtype)
    if grad.shape != output.shape:
        raise ValueError(f"{caller}: {argument} has shape {grad.shape} but the output has shape {output.shape}")
    return grad


from . import engine, ops  # noqa: E402  (both need Tensor defined first)
from .tracing import recording  # noqa: E402

# The forward operators are the ops themselves: one call less on every a + b.
Tensor.__add__, Tensor.__sub__, Tensor.__mul__ = ops.add, ops.sub, ops.mul
Tensor.__truediv__, Tensor.__pow__, Tensor.__matmul__, Tensor.__neg__ = ops.truediv, ops.pow, ops.matmul, ops.neg
Tensor.__lt__, Tensor.__le__, Tensor.__gt__, Tensor.__ge__ = ops.less, ops.less_equal, ops.greater, ops.greater_equal
# & | ^ ~ are bitwise, as in NumPy and PyTorch: on bool masks the logical ops, on integers bitwise, on floats an error
Tensor.__and__, Tensor.__or__, Tensor.__xor__, Tensor.__invert__ = \
    ops.bitwise_and, ops.bitwise_or, ops.bitwise_xor, ops.bitwise_not
Tensor.__rand__ = lambda self, other: ops.bitwise_and(other, self)
Tensor.__ror__ = lambda self, other: ops.bitwise_or(other, self)
Tensor.__rxor__ = lambda self, other: ops.bitwise_xor(other, self)


def _comparable(other) -> bool:
    return isinstance(other, (Tensor, np.ndarray, np.generic, int, float, bool, list, tuple))


# == and != are elementwise (as in NumPy and PyTorch); with anything that is not array-like, identity
Tensor.__eq__ = lambda self, other: ops.equal(self, other) if _comparable(other) else NotImplemented
Tensor.__ne__ = lambda self, other: ops.not_equal(self, other) if _comparable(other) else NotImplemented

_UFUNC_OPS = {"add": ops.add, "subtract": ops.sub, "multiply": ops.mul, "true_divide": ops.truediv,
              "divide": ops.truediv, "power": ops.pow, "matmul": ops.matmul, "negative": ops.neg,
              "less": ops.less, "less_equal": ops.less_equal, "greater": ops.greater,
              "greater_equal": ops.greater_equal, "equal": ops.equal, "not_equal": ops.not_equal,
              "bitwise_and": ops.bitwise_and, "bitwise_or": ops.bitwise_or, "bitwise_xor": ops.bitwise_xor,
              "invert": ops.bitwise_not}
# minigrad's names of NumPy's ufuncs where they differ, and of their reductions (for __array_ufunc__'s error)
_OP_NAMES = {"absolute": "abs", "subtract": "sub", "multiply": "mul", "true_divide": "truediv",
             "divide": "truediv", "power": "pow", "negative": "neg", "invert": "bitwise_not"}
_REDUCE_NAMES = {"add": "sum", "maximum": "max", "minimum": "min", "logical_and": "all", "logical_or": "any"}
# NumPy's functions that call a Tensor method of the same name with arguments it does not take -> that op
_METHOD_REDUCTIONS = {"sum": "sum", "mean": "mean", "max": "max", "amax": "max", "min": "min", "amin": "min"}
# NumPy's functions that answer False when np.asarray fails (a tensor that requires grad refuses it)
_FALSE_ON_FAILURE = {"array_equal", "array_equiv"}
