"""Custom ops: subclass :class:`Function`, write ``forward`` on NumPy arrays
and ``backward`` on Tensors, call ``MyOp.apply(...)``.

A Function is an op like the built-in ones (it is made into a
:func:`~minigrad.ops.primitive`), so it records one node, works in ``scan``
and under ``no_grad``, and its ``backward`` is called once per backward pass
with the output's gradient and returns every input's gradient together.

Second derivatives. A ``backward`` written with minigrad ops is recorded
under ``create_graph``, so it can be differentiated again -- provided what it
uses depends on the inputs through the graph. ``ctx.saved_tensors`` hands
back each saved *input* or *output* as the graph's own tensor, which makes
that work. A float array worked out inside ``forward`` and saved (say σ(x)
for a fused SiLU) is a constant to the graph, so the second derivative would
miss its dependence on x: under ``create_graph`` that raises (compute it again
in ``backward`` from the saved input instead), and so does one kept as an
attribute (``ctx.x = x``; an array given as a setting is a constant anyway).
Integer and bool arrays (masks, ids) are fine: their derivative is zero. A
Function whose backward is not differentiable sets ``once_differentiable =
True`` and then raises under ``create_graph`` instead of giving a wrong
second derivative.

``forward`` and ``backward`` get read-only views of the tape's arrays (the
inputs' data, the gradient, the saved tensors): writing into one would
change it for everyone else without a version bump, so it raises instead.

Forward mode (``mg.jvp``, ``jacfwd``, ``hessian``, ``hvp``). A Function may
give ``jvp(ctx, *tangents)``: the output's tangent ẏ = Σᵢ ∂y/∂xᵢ·ẋᵢ from the
inputs' tangents (Tensors, None for an input without one), written with
minigrad ops. Forward mode keeps no ctx of its own, so ``forward`` runs once
more on the same arrays to fill one (it must give the same output: one
drawing random numbers is refused); ``ctx.saved_tensors`` are then the very
input and output tensors, as under ``create_graph`` (and with the same rule
for other saved float arrays when the inputs are themselves differentiated:
nested in another transform). A Function without ``jvp`` is a TypeError
naming it when forward mode reaches it -- never a silently zero tangent.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .ops import constant, primitive, read_only
from .tensor import Tensor, takes_over_ops


class Context:
    """What ``forward`` leaves for ``backward``: ``save_for_backward(...)``
    for arrays, plain attributes (``ctx.axis = 1``) for settings."""

    def __init__(self):
        self._saved: tuple = ()
        self.saved_tensors: tuple = ()  # filled in just before backward runs

    def save_for_backward(self, *values: Any) -> None:
        self._saved = values


class Function:
    """Base class of custom ops (see docs/writing-a-layer.md, "Custom ops")."""

    once_differentiable = False

    @staticmethod
    def forward(ctx: Context, *arrays: np.ndarray, **settings) -> np.ndarray:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Tensor | tuple:
        """One gradient per input of forward (None for an input without one)."""
        raise NotImplementedError

    @staticmethod
    def jvp(ctx: Context, *tangents: Tensor | None) -> Tensor | None:
        """Optional, for forward mode: the output's tangent for the inputs' tangents (see the module docstring)."""
        raise NotImplementedError

    @classmethod
    def apply(cls, *args: Any, **settings) -> Tensor:
        """``forward`` on the arrays of ``args`` (Tensors or array-likes), with
        ``settings`` as keyword arguments; one node on the tape."""
        op = cls.__dict__.get("_op")
        if op is None:
            op = primitive(_forward_of(cls), save_output=True, save_inputs=True, name=cls.__name__)
            op.spec.all_at_once = True  # its backward gives every input's gradient in one call
            op.spec.jvp = _jvp_of(cls)
            cls._op = op
        out = op(*args, **settings)
        if out.dtype.kind != "f" and not takes_over_ops(out) and out.requires_grad:  # (an integer result carries no
            # gradient, as scan's flags say; a traced one's flag is the loop's to know)
            out._requires_grad = False
        return out


def _forward_of(cls: type[Function]):
    """The primitive forward of ``cls``: its output, and the VJP that runs
    ``cls.backward`` once for all inputs (given the output and the inputs:
    arrays in a plain backward, graph tensors under create_graph)."""

    def forward(*arrays: np.ndarray, **settings):
        ctx = Context()
        returned, arrays = _run_forward(cls, ctx, arrays, settings)
        if isinstance(returned, (tuple, list)):
            raise TypeError(f"{cls.__name__}.forward must return one array (a Function has one output)")
        out = np.asarray(returned)
        if out.dtype.kind not in "biuf":
            raise TypeError(f"{cls.__name__}.forward returned an array of dtype {out.dtype}")
        if any(out is x for x in arrays):  # an input as it is: copied (the two would not share a version counter)
            out = out.copy()

        def vjp(g, y, *inputs):
            graph = isinstance(g, Tensor)
            if graph and cls.once_differentiable:
                raise RuntimeError(f"{cls.__name__} is once_differentiable: its backward cannot be differentiated "
                                   "again (a create_graph backward went through it)")
            ctx.saved_tensors = tuple(_saved(cls, v, (out, returned), y, arrays, inputs, graph) for v in ctx._saved)
            if graph:
                _check_ctx(cls, ctx, settings)
            grads = cls.backward(ctx, _handed(g))
            grads = grads if isinstance(grads, tuple) else (grads,)
            if len(grads) != len(arrays):
                listed = " (a list is one gradient: return a tuple, one per input)" if len(grads) == 1 and isinstance(
                    grads[0], list) else ""
                raise RuntimeError(f"{cls.__name__}.backward returned {len(grads)} gradient(s) for "
                                   f"{len(arrays)} input(s){listed}")
            return tuple(_as_gradient(cls, k, grad, graph) for k, grad in enumerate(grads))

        return out, vjp

    forward.__name__ = cls.__name__
    return forward


def _jvp_of(cls: type[Function]):
    """The op's JVP: ``cls.jvp`` given a ctx filled by running ``forward``
    again on the primals' arrays (see the module docstring)."""

    def jvp(tangents, y, *inputs, **settings):
        if cls.jvp is Function.jvp:
            raise TypeError(f"{cls.__name__} has no jvp, so forward mode (mg.jvp, jacfwd, hessian, hvp) cannot go "
                            "through it: give it a staticmethod jvp(ctx, *tangents) that returns the output's "
                            "tangent (see minigrad/function.py)")
        tensors = [x if isinstance(x, Tensor) else Tensor._make(constant(x)) for x in inputs]
        # (asked before forward runs: in a traced scan step asking hands the call to the plain loop, which
        # knows the values forward needs)
        nested = any(x.requires_grad or type(x) is not Tensor for x in (y, *tensors))
        ctx = Context()
        returned, arrays = _run_forward(cls, ctx, [x._data for x in tensors], settings)
        out = np.asarray(returned)
        outs = (out, returned)
        _check_same_output(cls, out, y._data if isinstance(y, Tensor) else np.asarray(y))
        try:
            ctx.saved_tensors = tuple(_saved(cls, v, outs, y, arrays, tensors, True) if nested else
                                      _saved(cls, v, outs, out, arrays, arrays, False) for v in ctx._saved)
        except RuntimeError:
            raise RuntimeError(f"{cls.__name__} saved a float array that is neither an input nor the output; nested "
                               "in another transform (its inputs are duals of an outer jvp or require grad) it would "
                               "be a constant to it and the higher derivative wrong. Save the input and compute the "
                               "value again in jvp (with minigrad ops)") from None
        if nested:
            _check_ctx(cls, ctx, settings)
        tangent = cls.jvp(ctx, *tangents)
        if tangent is None:
            return None
        if not isinstance(tangent, Tensor):
            try:
                tangent = Tensor._make(np.asarray(tangent, dtype=out.dtype))
            except (TypeError, ValueError):
                raise TypeError(f"{cls.__name__}.jvp returned a {type(tangent).__name__}; return a Tensor, an array "
                                "or None") from None
        if np.broadcast_shapes(tangent.shape, out.shape) != out.shape:
            raise ValueError(f"{cls.__name__}.jvp returned a tangent of shape {tangent.shape} for an output of "
                             f"shape {out.shape}")
        return tangent

    return jvp


def _run_forward(cls, ctx: Context, arrays, settings: dict) -> tuple:
    """``cls.forward`` on read-only views of ``arrays``: (what it returned, the
    views it got). Writing into an input would change the caller's tensor
    behind the tape's back (no version bump): a ValueError instead."""
    views = [read_only(array) for array in arrays]
    try:
        return cls.forward(ctx, *views, **settings), views
    except ValueError as error:
        if "read-only" not in str(error):
            raise
        raise ValueError(f"{cls.__name__}.forward writes into its input ({error}): that would change the caller's "
                         "tensor unseen by the tape; write into a copy (x = x.copy()) or a new array") from None


def _check_same_output(cls, again: np.ndarray, first: np.ndarray) -> None:
    """forward run again for the jvp must give its first output: a forward
    that draws random numbers would fill ctx for another output than the
    one the tangent belongs to (a wrong tangent, without a word)."""
    same = (again.shape == first.shape and
            (np.allclose(again, first, rtol=1e-6, atol=0, equal_nan=True) if again.dtype.kind == "f"
             else np.array_equal(again, first)))
    if not same:
        raise RuntimeError(f"{cls.__name__}.forward gave another output when run again for its jvp (does it draw "
                           "random numbers?): its tangent would belong to another output. Draw them outside and "
                           "pass them to apply as an input")


def _handed(value) -> Tensor:
    """``value`` (an array, or a Tensor of the graph) as backward gets it: a
    Tensor that requires grad (or a dual) as it is; any other on a read-only
    view -- it is the tape's own array (an input's data, a gradient shared
    with other ops), which writing into (g *= 2) would change behind its back."""
    if isinstance(value, Tensor):
        if type(value) is not Tensor or value.requires_grad:
            return value
        value = value._data
    return Tensor._make(read_only(value))


def _saved(cls, value, outs: tuple, y, arrays: tuple, inputs: tuple, graph: bool):
    """A saved value as backward sees it: an input or the output (``outs``: the
    array, and what forward returned -- a NumPy scalar for a 0-d result) as
    its graph tensor (``y``, ``inputs``), anything else as a constant Tensor."""
    if isinstance(value, Tensor):
        value = value._data
    if any(value is out for out in outs):
        return _handed(y)
    for array, given in zip(arrays, inputs):
        if value is array:
            return _handed(given)
    value = np.asarray(value)
    if graph and value.dtype.kind == "f":
        raise RuntimeError(f"{cls.__name__} saved a float array that is neither an input nor the output (shape "
                           f"{value.shape}); under create_graph it would be a constant and the second derivative "
                           "wrong. Save the input and compute the value again in backward (with minigrad ops), "
                           "or set once_differentiable = True")
    return Tensor._make(value)


def _check_ctx(cls, ctx: Context, settings: dict) -> None:
    """Raise if ``forward`` kept a float array on ``ctx`` (``ctx.x = x``) where
    backward's values must reach the inputs through the graph (create_graph,
    nested forward mode): it would be a constant there, its derivative lost
    without a word (a NumPy float scalar too: ctx.total = x.sum()). An array
    given as a setting is a constant anyway."""
    for name, value in vars(ctx).items():
        if isinstance(value, Tensor):
            value = value._data
        if (name not in ("_saved", "saved_tensors") and isinstance(value, (np.ndarray, np.floating))
                and value.dtype.kind == "f" and value.size
                and not any(value is setting for setting in settings.values())):
            raise RuntimeError(f"{cls.__name__} keeps a float array on ctx (ctx.{name}, shape {value.shape}); "
                               "differentiated again it would be a constant and the higher derivative wrong. "
                               "Save an input or the output with ctx.save_for_backward (backward gets it as the "
                               "graph's tensor) and compute other values from it in backward with minigrad ops "
                               "(a true constant, such as drawn noise: pass it to apply as an input), or set "
                               "once_differentiable = True")


def _as_gradient(cls, k: int, grad, graph: bool):
    """backward's k-th result as the engine takes it (None, an array, or a Tensor under create_graph)."""
    if grad is None:
        return None
    if isinstance(grad, Tensor):
        return grad if graph else grad._data
    try:
        array = np.asarray(grad)
    except Exception:
        array = None
    if array is None or array.dtype.kind not in "biufc":  # (a str or an object array: nonsense, or None -> NaN)
        raise TypeError(f"{cls.__name__}.backward returned a {type(grad).__name__} for input {k}; return a Tensor, "
                        "an array of numbers or None")
    if graph and array.any():  # (zeros are zeros at every grad: a backward is linear in it)
        raise RuntimeError(f"{cls.__name__}.backward returned a plain {type(grad).__name__} for input {k} under "
                           "create_graph: a constant to the graph, the second derivative would miss it. Compute "
                           "it with minigrad ops on grad and ctx.saved_tensors (not .data or .numpy()), or set "
                           "once_differentiable = True")
    return Tensor._make(array) if graph else array
