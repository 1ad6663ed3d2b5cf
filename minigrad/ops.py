"""The ops: each forward on NumPy arrays with its VJPs right beside it.

An op is a function decorated with :func:`primitive`. Its positional
parameters are tensors, its keyword-only parameters plain settings (axis,
shape, ...). The forward gets the arrays. Each input has a VJP that maps the
output's gradient ``g`` to that input's gradient (None if it has none):
``vjp(g, [y,] [*inputs], **settings)`` -- the output ``y`` if the op says
``save_output``, the inputs if ``save_inputs`` (True, the positions of the
ones its VJPs use, or a slice of them: getitem's index arrays, however many);
nothing else is kept alive for the backward. A saved input is the one the
forward used: a tensor changed in place since makes the backward raise, a
NumPy array is copied (the caller may change theirs). So an index or a mask
a VJP needs is saved too, not kept in a closure. VJPs that
need no more than that are given once, to the decorator (``vjps=``). An op
whose VJPs need something its forward worked out (a shape, a mask) returns
``(output, vjps)`` instead, closures over it.

Called with Tensors, an op returns a Tensor and records a node when needed.
Called with nothing but arrays, it just computes and returns an array: that
is how the VJPs, written with these same ops, run at NumPy speed in a plain
backward and build a graph under ``create_graph``.

Dtypes follow PyTorch's rule: tensors of one or more dimensions decide --
the highest category among them (bool < int < float) and only the dtypes of
that category (float32 with int64 is float32, with float64 float64), a list
or tuple counting as the tensor it makes (``[1, 2]`` as int64); a 0-d
tensor or a Python number never widens a float tensor (``x32 * 2.0`` and
``x32 * tensor(2.0, float64)`` stay float32); integers meeting a float number
give the default float dtype; arithmetic that cannot stay integer (``/``,
``exp``, ...) gives the default float dtype too.

Besides its VJPs an op may say how it treats rows (``rows=``): a rule that
tells when running it once on many steps' rows stacked along axis 0 gives
the same as running it on each step's rows (what ``scan`` needs to hoist it
out of a loop). An op with no rule is never assumed to treat rows alike.

A Tensor subclass that defines ``__minigrad_dispatch__(op, args, settings)``
receives every call of an op on it instead (how ``scan`` traces a step, and
how forward mode's dual tensors, minigrad.forward, carry their tangents).

Forward mode needs each op's JVP (Jacobian-vector product), given beside its
VJPs: ``jvps=``, one per input, ``jvp_i(ẋ_i, y, *inputs, **settings)`` -> that
input's share of the output's tangent ẏ (the shares of the inputs that have a
tangent are summed; None for an input no derivative flows from), or ``jvp=``,
one function for all, ``jvp(tangents, y, *inputs, **settings)`` with None for
an input without a tangent. Nothing is kept for later in forward mode, so a
JVP gets the output and every input. Written with minigrad ops, a JVP runs on
whatever the primals are -- tape tensors, or the duals of an outer ``jvp`` --
so forward mode nests and can be differentiated in reverse. An op with
``differentiable=False`` needs none (its outputs have a zero tangent).

VJPs return gradients in the output's broadcast shape; the engine sums them
back to each input's shape (``engine.unbroadcast``); JVPs likewise may return
a tangent that broadcasts to the output's. Each docstring holds the math:
``y`` the output, ``ȳ`` its gradient, ``x̄`` an input's, ``ẏ`` and ``ẋ`` their tangents. Composite ops
(mean, swapaxes, masked_fill, ...) are plain functions of primitives.
"""

from __future__ import annotations

import builtins
import functools
import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .engine import _modes, note_reads, record
from .tensor import Tensor, as_array, get_default_dtype, share_views


class Primitive:
    """What the engine and transforms know of an op (see the module docstring).
    ``promote``: which arguments meet under the dtype rule; ``floating``: integer
    inputs become the default float dtype first; ``differentiable``: False for
    ops whose outputs carry no gradient (comparisons, lookups of ids, random
    draws); ``random``: the op draws random numbers; ``jvp``: its JVP,
``jvp(tangents, y, *inputs, **settings)`` (None if it has none)."""

    __slots__ = ("name", "forward", "vjps", "saves", "save_inputs", "rows", "promote", "floating", "differentiable",
                 "random", "all_at_once", "jvp", "saves_by_count")

    def __init__(self, name: str, forward: Callable, vjps, saves: tuple, save_inputs: slice | None, rows, promote,
                 floating: bool, differentiable: bool, random: bool, all_at_once: bool = False, jvp=None):
        self.name, self.forward, self.vjps, self.saves, self.save_inputs = name, forward, vjps, saves, save_inputs
        self.rows, self.promote, self.floating = rows, promote, floating
        self.differentiable, self.random, self.all_at_once, self.jvp = differentiable, random, all_at_once, jvp
        self.saves_by_count: dict = {}  # saves_for's answers, worked out once per number of inputs

    def needs_cast(self, arrays: list) -> bool:
        """Do these arrays need the dtype rule (mixed dtypes, or integers into a floating op)?"""
        if self.promote is True:
            first = arrays[0].dtype
            for a in arrays:
                if a.dtype is not first and a.dtype != first:
                    return True
        elif self.promote:
            first = arrays[self.promote[0]].dtype
            for i in self.promote:
                if arrays[i].dtype is not first and arrays[i].dtype != first:
                    return True
        if self.floating:
            for a in arrays:
                if a.dtype.kind != "f":
                    return True
        return False

    def saves_for(self, n_args: int) -> tuple:
        """What the VJPs take after ḡ (see engine.record) for a call with ``n_args`` inputs."""
        if self.save_inputs is None:
            return self.saves
        saves = self.saves_by_count.get(n_args)
        if saves is None:
            saves = self.saves_by_count[n_args] = self.saves + tuple(range(n_args)[self.save_inputs])
        return saves

    def run(self, arrays: list, settings: dict) -> tuple:
        """The forward on (promoted) arrays: (output, the VJPs for this call)."""
        try:
            out = self.forward(*arrays, **settings) if settings else self.forward(*arrays)
        except ValueError as error:  # NumPy's shape complaints, with the op's name (once) and the shapes
            shapes = ", ".join(str(np.shape(a)) for a in arrays)
            named = str(error) if str(error).startswith(f"{self.name}: ") else f"{self.name}: {error}"
            raise ValueError(f"{named} (input shapes {shapes})") from None
        if self.vjps is None:
            out, vjps = out
            if type(vjps) is not tuple and not self.all_at_once:
                vjps = (vjps,)
        else:
            vjps = self.vjps
        if type(out) is not np.ndarray and type(out) is not tuple:
            out = np.asarray(out)  # NumPy gives scalars for 0-d results; a Tensor holds an ndarray
        return out, vjps


def primitive(forward=None, *, vjps=None, save_inputs: bool | tuple | slice = False, save_output: bool = False,
              name: str | None = None, rows: Callable | None = None, promote: bool | tuple = False,
              floating: bool = False, differentiable: bool = True, random: bool = False, jvps=None,
              jvp: Callable | None = None):
    """Make ``forward(*arrays, **settings)`` an op (see the module docstring)."""
    if vjps is None and not differentiable:
        vjps = ()  # (an op without gradient needs no VJPs: its forward returns just the output)
    fixed_vjps = vjps if vjps is None or isinstance(vjps, tuple) else (vjps,)
    saves = ((-1,) if save_output else ()) + (save_inputs if isinstance(save_inputs, tuple) else ())
    saved_slice = slice(None) if save_inputs is True else save_inputs if isinstance(save_inputs, slice) else None
    if jvps is not None:
        jvp = _summed_jvps(jvps if isinstance(jvps, tuple) else (jvps,))

    def decorate(forward):
        op_name = name or forward.__name__
        run, run_vjps, run_jvp = forward, fixed_vjps, jvp
        if not (getattr(forward, "__module__", None) or "").startswith(_OWN_PACKAGES):  # a user's op: read-only views
            run = (_one_vjp_per_input(forward, op_name, fixed_vjps) if differentiable
                   else _just_outputs(forward, op_name))
            run = _handing_views(run, op_name, "forward", returns_vjps=fixed_vjps is None)
            run_vjps = _each_handing_views(fixed_vjps, op_name)
            run_jvp = jvp and _handing_views(jvp, op_name, "JVP")
        spec = Primitive(op_name, run, run_vjps, saves, saved_slice, rows, promote, floating, differentiable, random,
                         jvp=run_jvp)

        checks_dtypes = bool(promote or floating)

        @functools.wraps(forward)
        def op(*args, **settings):
            for x in args:  # (plain Tensors, and subclasses that do not take over ops, such as nn.Parameter)
                if type(x) is not Tensor and (not isinstance(x, Tensor) or type(x).__minigrad_dispatch__ is not None):
                    return _apply_general(op, args, settings)
            arrays = [x._data for x in args]
            if checks_dtypes and spec.needs_cast(arrays):
                arrays = promote_arrays(spec, arrays, args)
            return apply(spec, args, arrays, settings)

        op.__name__ = spec.name
        op.spec = spec
        return op

    return decorate if forward is None else decorate(forward)


_OWN_PACKAGES = ("minigrad.", "nn.")  # whose ops get the tape's arrays as they are (reviewed, and on the hot path)


def read_only(array):
    """A read-only view of ``array`` (anything else as it is)."""
    if isinstance(array, np.ndarray):
        array = array.view()
        array.flags.writeable = False
    return array


def _handing_views(function: Callable, op: str, role: str, returns_vjps: bool = False) -> Callable:
    """``function`` (a user's forward, VJP or JVP) run on read-only views of
    its array arguments: they are the tape's own arrays -- the caller's tensor
    data, a gradient that other ops share -- and writing into one (x *= 2,
    g *= 2) would change them behind the tape's back, a wrong value or
    gradient elsewhere: a ValueError instead. A forward that returns its
    VJPs (``returns_vjps``) has those run the same way. (This project's own
    ops, on the hot path, get the arrays as they are: _OWN_PACKAGES.)"""

    def handing_views(*args, **settings):
        try:
            result = function(*map(read_only, args), **settings)
        except ValueError as error:
            if "read-only" not in str(error):
                raise
            raise ValueError(f"{op}: its {role} writes into an array minigrad handed it ({error}): the caller's "
                             "tensor, or a gradient other ops share, would change unseen; compute a new array "
                             "(x = x * 2, not x *= 2)") from None
        if not returns_vjps:
            return result
        out, vjps = result
        return out, _each_handing_views(vjps, op) if type(vjps) is tuple else _handing_views(vjps, op, "VJP")

    handing_views.__wrapped__ = function  # (what the create_graph check looks into: engine._check_differentiable)
    return handing_views


def _one_vjp_per_input(forward: Callable, op: str, vjps: tuple | None) -> Callable:
    """A user's ``forward`` checked, at every call, for one VJP per input: the
    ``vjps`` given to the decorator or, without them, the ones it returns
    with its output. Unchecked, a forgotten ``vjps=`` took the output's first
    two rows for (output, VJP), and a VJP too few was an IndexError in the
    backward."""

    def checked(*arrays, **settings):
        result = forward(*arrays, **settings)
        given = vjps
        if given is None:
            if type(result) is not tuple or len(result) != 2 or not (callable(result[1]) or type(result[1]) is tuple):
                raise TypeError(f"{op}: without vjps= given to mg.primitive its forward must return (output, "
                                f"vjp), or (output, (vjp, ...)) with one VJP per input; it returned "
                                f"{_described(result)}. Give the VJPs to the decorator (vjps=...), or say "
                                "differentiable=False for an op without gradient")
            given = result[1] if type(result[1]) is tuple else (result[1],)
        if len(given) != len(arrays):
            raise TypeError(f"{op}: {len(given)} VJP(s) for {len(arrays)} input(s); give one per input, in order "
                            "(None for an input without gradient)")
        return result

    return checked


def _just_outputs(forward: Callable, op: str) -> Callable:
    """A user's ``forward`` of an op without gradient checked, at every call, to
    return only its output(s): one returning (output, VJPs), as such an op had
    to before it needed no VJPs, crashed in an AttributeError on a tuple."""

    def checked(*arrays, **settings):
        result = forward(*arrays, **settings)
        if type(result) is tuple and any(callable(r) or type(r) is tuple for r in result):
            raise TypeError(f"{op}: an op with differentiable=False returns just its output (or a tuple of "
                            f"outputs, arrays), no VJPs; it returned {_described(result)}")
        return result

    return checked


def _described(value) -> str:
    """``value`` in a few words, for an error message."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    if type(value) is tuple:
        return f"a tuple of {len(value)}: ({', '.join(type(v).__name__ for v in value)})"
    return f"a {type(value).__name__}"


def _each_handing_views(vjps: tuple | None, op: str) -> tuple | None:
    """A user's VJPs, each handing views; None (an input without gradient) one that gives None."""
    return vjps if vjps is None else tuple([_no_gradient_vjp if v is None else _handing_views(v, op, "VJP")
                                            for v in vjps])


def _no_gradient_vjp(*args, **settings) -> None:
    """The VJP of an input a user's op gives none for (``vjps=(..., None)``): no gradient reaches it."""
    return None


def _summed_jvps(jvps: tuple) -> Callable:
    """One JVP from per-input ones: ẏ = Σᵢ jvp_i(ẋᵢ, y, *inputs) over the inputs that have a tangent."""

    def jvp(tangents, y, *inputs, **settings):
        total = None
        for rule, tangent in zip(jvps, tangents):
            if tangent is not None and rule is not None:
                share = rule(tangent, y, *inputs, **settings)
                total = share if total is None else _plus(total, share)
        return total

    return jvp


def _plus(total, share):
    """Two inputs' shares of a tangent summed: a multi-output op's, tuples of one per output
    (None for a zero one), output by output (``+`` joined the tuples)."""
    if type(total) in (tuple, list) and type(share) in (tuple, list) and len(total) == len(share):
        return tuple(b if a is None else a if b is None else a + b for a, b in zip(total, share))
    return total + share


def apply(spec: Primitive, args: Sequence[Tensor], arrays: list, settings: dict):
    """Run ``spec`` on Tensors ``args`` (their arrays, promoted, in ``arrays``):
    the output Tensor(s), with a node recorded when an input needs grad."""
    out, vjps = spec.run(arrays, settings)
    modes = _modes
    if modes.reads is not None:  # (a checkpointed function runs: what it reads is watched)
        note_reads(args)
    result = None
    if spec.differentiable and modes.grad_enabled:
        for x in args:
            if x._requires_grad:  # (the slot behind the property: no dispatching tensor reaches apply)
                saves = spec.saves_for(len(args)) if spec.save_inputs else spec.saves
                result = record(spec.name, args, out, vjps, saves, arrays,
                                settings if settings and spec.vjps is not None else None)
                break
    if result is None:
        if type(out) is tuple:
            result = tuple(map(Tensor._make, out))
            share_views(result, args)
        else:
            result = Tensor._make(out)
            if out.base is not None:
                share_views(result, args)
    return result


def _apply_general(op, args: tuple, settings: dict):
    """The op on anything but Tensors that leave ops alone: bare arrays (a VJP in a plain
    backward: just compute), a dispatching Tensor subclass (hand it over), or
    a mix of Tensors and constants (lift, promote, apply)."""
    spec = op.spec
    tensors = False
    for x in args:
        if isinstance(x, Tensor):
            tensors = True
            hook = type(x).__minigrad_dispatch__
            if hook is not None:
                return hook(op, args, settings)
    if not tensors:  # only arrays: plain NumPy (this is how VJPs run in a plain backward)
        return spec.forward(*args, **settings) if spec.vjps is not None else spec.forward(*args, **settings)[0]
    values = args
    saved = spec.saves_for(len(args)) if spec.differentiable and _modes.grad_enabled and builtins.any(
        isinstance(x, Tensor) and x.requires_grad for x in args) else ()
    args = tuple(x if isinstance(x, Tensor) else Tensor._make(_constant_operand(x, k in saved))
                 for k, x in enumerate(args))
    return apply(spec, args, promote_arrays(spec, [x._data for x in args], values), settings)


def _constant_operand(value, saved: bool) -> np.ndarray:
    """A non-Tensor argument's array; a NumPy array the tape saves is copied
    (as ``mg.tensor`` copies: the caller may change theirs before the backward)."""
    return as_array(value, copy=True) if saved and isinstance(value, np.ndarray) else constant(value)


def constant(value) -> np.ndarray:
    """The array of a non-Tensor op argument. A Python number keeps full
    precision here (float64): the dtype rule then casts it to what it meets."""
    if isinstance(value, (bool, int, float)):
        return np.asarray(value)
    return as_array(value)


def promote_arrays(spec: Primitive, arrays: list, values: Sequence | None = None) -> list:
    """``arrays`` cast as the dtype rule says (module docstring). ``values``:
    what the user passed (a Python number is weaker than a 0-d array)."""
    if spec.promote:
        positions = range(len(arrays)) if spec.promote is True else spec.promote
        values = values or arrays
        target = result_dtype([values[i] for i in positions])
        if target.kind in "iu":
            target = _fitting(spec, [arrays[i] for i in positions], target)
        for i in positions:
            if arrays[i].dtype != target:
                arrays[i] = arrays[i].astype(target)
    if spec.floating:
        for i, a in enumerate(arrays):
            if a.dtype.kind != "f":
                arrays[i] = a.astype(get_default_dtype())
    return arrays


def _fitting(spec: Primitive, arrays: list, target: np.dtype) -> np.dtype:
    """The integer dtype ``target`` the rule gives, checked against the numbers
    (Python or 0-d) among the operands, which take it: one that does not fit
    would wrap around (``uint8 == 300`` comparing with 44). A comparison or
    logical op (its bool result does not depend on the dtype) is then made
    exactly, in a dtype that holds both; any other op (``uint8 & 300`` too)
    raises a ValueError, as NumPy 2 does."""
    for number in (a for a in arrays if a.ndim == 0 and a.dtype.kind in "iuO" and a.dtype != target):
        limits, value = np.iinfo(target), number.item()  # ("O": NumPy keeps an int beyond 64 bits as an object)
        if number.dtype.kind == "O":
            raise ValueError(f"{spec.name}: the integer {value} does not fit 64 bits, nor the other operand's "
                             f"dtype {target}; convert the tensor to float first (x.astype(...))")
        if limits.min <= value <= limits.max:
            continue
        wider = _holding(target, value)
        if spec not in _BOOL_RESULT or wider is None:
            raise ValueError(f"{spec.name}: the integer {value} does not fit the other operand's dtype {target} "
                             f"({limits.min}..{limits.max}); convert the tensor first (x.astype(...))")
        target = wider
    return target


def _holding(target: np.dtype, value: int) -> np.dtype | None:
    """A 64-bit integer dtype holding ``value`` and every value of ``target``, or None (uint64 and a
    negative number). (NumPy's min_scalar_type gives uint64 for 2**32, which int8 meets in float64.)"""
    low, high = builtins.min(np.iinfo(target).min, value), builtins.max(np.iinfo(target).max, value)
    for dtype in (np.dtype(np.int64), np.dtype(np.uint64)):
        if np.iinfo(dtype).min <= low and high <= np.iinfo(dtype).max:
            return dtype
    return None


_CATEGORY = {"b": 0, "i": 1, "u": 1, "f": 2}


def result_dtype(values: Sequence) -> np.dtype:
    """The dtype of an op on ``values`` (Tensors, arrays, lists and tuples,
    NumPy or Python numbers), PyTorch's rule: dimensioned ones decide (a list
    as the array it makes: of ints int64, of floats the default float), 0-d
    ones only when of a higher category (bool < int < float), Python numbers
    likewise (as int64 or the default float). Within a group the highest
    category decides and only the dtypes of that category combine (float32
    with int64 is float32)."""
    dimensioned, zero_d, python = [], [], []
    for v in values:
        if isinstance(v, (Tensor, np.ndarray)):
            (dimensioned if v.ndim else zero_d).append(v.dtype)
        elif isinstance(v, (list, tuple)):
            dimensioned.append(as_array(v).dtype)
        elif isinstance(v, np.generic):
            zero_d.append(v.dtype)
        else:
            python.append(np.dtype(bool) if isinstance(v, bool) else np.dtype(np.int64) if isinstance(v, int)
                          else get_default_dtype())
    result = None
    for group in (dimensioned, zero_d, python):
        if not group:
            continue
        top = builtins.max(_CATEGORY[d.kind] for d in group)
        if result is None or top > _CATEGORY[result.kind]:
            result = np.result_type(*[d for d in group if _CATEGORY[d.kind] == top])
    return result


def _data(value):
    """The array inside a Tensor, or the array itself: for masks and other
    constants a VJP derives from its saved values."""
    return value._data if isinstance(value, Tensor) else np.asarray(value)


# -- axes: one place that checks them and turns negatives into positions ---------------

def normalize_axis(axis: int, ndim: int, op: str) -> int:
    """``axis`` (negative counts from the end) as 0..ndim-1, or a clear error."""
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{op}: axis must be an int, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{op}: axis {axis} is out of range for a tensor with {ndim} dimension(s)")
    return int(axis) % ndim


def _ints(value, what: str) -> tuple:
    """``value``, an int or a sequence of ints (a shape, axes, sizes), as a tuple
    of ints; anything else is a TypeError naming ``what`` (int() would take a
    size of 1.9 as 1, True as 1)."""
    try:
        items = (value,) if isinstance(value, (int, np.integer)) else tuple(value)
        ints = tuple(map(operator.index, items))
    except TypeError:
        ints = None
    if ints is None or bool in map(type, items):
        raise TypeError(f"{what} must be an int or a sequence of ints, got {value!r}")
    return ints


def reduction_axes(axis, ndim: int, op: str) -> tuple:
    """``axis`` (None, an int or a tuple) of a reduction as a sorted tuple of
    positions. A 0-d tensor takes axis 0 or -1 (and reduces nothing), as in
    NumPy and PyTorch."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if type(axis) is int else _ints(axis, f"{op}: axis")
    if ndim == 0:
        for a in axes:
            if a not in (0, -1):
                raise ValueError(f"{op}: axis {a} is out of range for a 0-d tensor (only 0 or -1)")
        return ()
    positions = tuple(sorted(normalize_axis(a, ndim, op) for a in axes))
    if len(set(positions)) != len(positions):
        raise ValueError(f"{op}: axis {axis} names an axis twice")
    return positions


# -- how ops treat rows (for scan's hoisting) ------------------------------------------
# A rule gets the per-step shapes of the arguments and of the outputs, which
# arguments vary from step to step, and the settings; it returns the settings
# to use on stacked rows, or None if the op does not treat rows alike.

def rows_elementwise(shapes, out_shapes, varying, settings):
    """Elementwise with broadcasting: fine if every varying argument has the
    output's rows on axis 0 and nothing constant stretches along it."""
    ndim = len(out_shapes[0])
    if ndim == 0:
        return None
    for shape, varies in zip(shapes, varying):
        if varies and (len(shape) != ndim or shape[0] != out_shapes[0][0]):
            return None
        if not varies and len(shape) == ndim and shape[0] != 1:
            return None
    return settings


def rows_reduction(shapes, out_shapes, varying, settings):
    """A reduction (or softmax) along axes other than 0."""
    ndim = len(shapes[0])
    if ndim == 0 or not out_shapes[0] or settings["axis"] is None:
        return None
    return settings if 0 not in reduction_axes(settings["axis"], ndim, "") else None


def rows_along(shapes, out_shapes, varying, settings):
    """concat/stack/split/unbind along an axis (already normalized) other than 0,
    of varying arguments with the same rows."""
    if not builtins.all(varying) or builtins.any(len(s) == 0 for s in shapes) or len({s[0] for s in shapes}) != 1:
        return None
    return settings if settings["axis"] != 0 else None


# -- elementwise arithmetic (NumPy broadcasting; the engine unbroadcasts) -------------

@primitive(vjps=(lambda g: g, lambda g: g), jvps=(lambda t, y, a, b: t, lambda t, y, a, b: t), promote=True,
           rows=rows_elementwise)
def add(a, b):
    """y = a + b;  ā = ȳ,  b̄ = ȳ;  ẏ = ȧ + ḃ"""
    return a + b


@primitive(vjps=(lambda g: g, lambda g: -g), jvps=(lambda t, y, a, b: t, lambda t, y, a, b: -t), promote=True,
           rows=rows_elementwise)
def sub(a, b):
    """y = a − b;  ā = ȳ,  b̄ = −ȳ;  ẏ = ȧ − ḃ"""
    return a - b


@primitive(save_inputs=True, vjps=(lambda g, a, b: g * b, lambda g, a, b: g * a), promote=True,
           rows=rows_elementwise, jvps=(lambda t, y, a, b: t * b, lambda t, y, a, b: a * t))
def mul(a, b):
    """y = a·b;  ā = ȳ·b,  b̄ = ȳ·a;  ẏ = ȧ·b + a·ḃ"""
    return a * b


@primitive(save_inputs=True, vjps=(lambda g, a, b: g / b, lambda g, a, b: -g * a / (b * b)), promote=True,
           floating=True, rows=rows_elementwise, jvps=(lambda t, y, a, b: t / b, lambda t, y, a, b: -t * y / b))
def truediv(a, b):
    """y = a / b;  ā = ȳ / b,  b̄ = −ȳ·a / b²;  ẏ = ȧ / b − ḃ·y / b"""
    return a / b


@primitive(save_inputs=(1, 2), vjps=(lambda g, a, b: g, lambda g, a, b: g * b, lambda g, a, b: g * a),
           promote=True, rows=rows_elementwise,
           jvps=(lambda d, y, t, a, b: d, lambda d, y, t, a, b: d * b, lambda d, y, t, a, b: a * d))
def addcmul(t, a, b):
    """y = t + a·b (as torch.addcmul);  t̄ = ȳ,  ā = ȳ·b,  b̄ = ȳ·a;  ẏ = ṫ + ȧ·b + a·ḃ"""
    y = a * b
    if t.dtype == y.dtype and t.shape == y.shape:
        y += t  # into the fresh product: one array fewer
        return y
    return y + t


@primitive(vjps=lambda g: -g, jvps=lambda t, y, x: -t, rows=rows_elementwise)
def neg(x):
    """y = −x;  x̄ = −ȳ;  ẏ = −ẋ"""
    return -x


def _pow_grad_base(g, a, b):
    """ā = ȳ·b·aᵇ⁻¹, taken as 0 where b = 0 and a = 0 or is subnormal (there 0·a⁻¹ would give NaN, a⁻¹
    being inf: y = a⁰ = 1 is flat)."""
    base = _data(a)
    tiny = np.abs(base) < np.finfo(base.dtype).tiny if base.dtype.kind == "f" else base == 0
    zero = tiny & (_data(b) == 0)
    return g * b * a ** where(zero, 0.0, b - 1) if zero.any() else g * b * a ** (b - 1)


@primitive(save_inputs=True, promote=True, rows=rows_elementwise,
           vjps=(_pow_grad_base, lambda g, a, b: g * a ** b * log(where(_data(a) > 0, a, 1))),
           jvps=(lambda t, y, a, b: _pow_grad_base(t, a, b), lambda t, y, a, b: t * y * log(where(_data(a) > 0, a, 1))))
def pow(a, b):
    """y = aᵇ;  ā = ȳ·b·aᵇ⁻¹ (0 where a = b = 0),  b̄ = ȳ·aᵇ·ln a  (taken as 0 where a ≤ 0);
    ẏ = ȧ·b·aᵇ⁻¹ + ḃ·y·ln a  (the same conventions)"""
    return np.power(a, b)


def _share(winner, loser, g) -> np.ndarray:
    """1 where ``winner`` > ``loser``, ½ on a tie, else 0 (a constant)."""
    w, v = _data(winner), _data(loser)
    return ((w > v) + 0.5 * (w == v)).astype(_data(g).dtype)


@primitive(save_inputs=True, vjps=(lambda g, a, b: g * _share(a, b, g), lambda g, a, b: g * _share(b, a, g)),
           promote=True, rows=rows_elementwise,
           jvps=(lambda t, y, a, b: t * _share(a, b, t), lambda t, y, a, b: t * _share(b, a, t)))
def maximum(a, b):
    """y = max(a, b);  ā = ȳ·[a > b],  b̄ = ȳ·[a < b]  (a tie gives ½ to each);  ẏ = ȧ·[a > b] + ḃ·[a < b]"""
    return np.maximum(a, b)


@primitive(save_inputs=True, vjps=(lambda g, a, b: g * _share(b, a, g), lambda g, a, b: g * _share(a, b, g)),
           promote=True, rows=rows_elementwise,
           jvps=(lambda t, y, a, b: t * _share(b, a, t), lambda t, y, a, b: t * _share(a, b, t)))
def minimum(a, b):
    """y = min(a, b);  ā = ȳ·[a < b],  b̄ = ȳ·[a > b]  (a tie gives ½ to each);  ẏ = ȧ·[a < b] + ḃ·[a > b]"""
    return np.minimum(a, b)


@primitive(save_inputs=(0,), promote=(1, 2), rows=rows_elementwise,
           vjps=(lambda g, c: None, lambda g, c: where(c, g, 0.0), lambda g, c: where(c, 0.0, g)),
           jvps=(None, lambda t, y, c, a, b: where(c, t, 0.0), lambda t, y, c, a, b: where(c, 0.0, t)))
def where(condition, a, b):
    """y = a where condition else b;  ā = ȳ where condition else 0,  b̄ = ȳ elsewhere;  ẏ = ȧ where condition else ḃ
    (condition must be bool: a float or int one, taken as != 0, is more likely a mistake -- or torch's additive mask)"""
    _check_bool(condition, "where: condition")
    return np.where(condition, a, b)


def _check_bool(mask, what: str) -> None:
    """A TypeError unless ``mask`` (an array, a Tensor, a list) holds bools."""
    dtype = mask.dtype if isinstance(mask, (Tensor, np.ndarray, np.generic)) else np.asarray(mask).dtype
    if dtype.kind != "b":
        raise TypeError(f"{what} must be a bool tensor or array, got dtype {dtype} (make one by comparing: x > 0, "
                        "ids != pad)")


# -- comparisons and logic: bool results, no gradient --------------------------------------

_BOOL_RESULT: set[Primitive] = set()  # the comparisons and logical ops (see _fitting)


def _no_gradient(ufunc, name: str):
    """A comparison or logical op: NumPy's ``ufunc``, elementwise, its output carries no gradient."""
    op = primitive(lambda *arrays: ufunc(*arrays), vjps=(), name=name, promote=ufunc.nin == 2,
                   differentiable=False, rows=rows_elementwise)
    op.__doc__ = f"y = {name}(...) elementwise, as np.{ufunc.__name__} (bool; no gradient)"
    _BOOL_RESULT.add(op.spec)
    return op


less, less_equal = _no_gradient(np.less, "less"), _no_gradient(np.less_equal, "less_equal")
greater, greater_equal = _no_gradient(np.greater, "greater"), _no_gradient(np.greater_equal, "greater_equal")
equal, not_equal = _no_gradient(np.equal, "equal"), _no_gradient(np.not_equal, "not_equal")
logical_and, logical_or = _no_gradient(np.logical_and, "logical_and"), _no_gradient(np.logical_or, "logical_or")
logical_xor, logical_not = _no_gradient(np.logical_xor, "logical_xor"), _no_gradient(np.logical_not, "logical_not")


def _bitwise(ufunc, name: str):
    """A bitwise op (``&``, ``|``, ``^``, ``~`` on tensors): NumPy's ``ufunc`` on
    bool or integer operands, bool staying bool (so on masks it is the logical
    op), no gradient. A float operand is a TypeError, as in NumPy and PyTorch
    (bits of a float are no mask: compare first)."""

    def forward(*arrays):
        for a in arrays:
            if a.dtype.kind not in "biu":
                raise TypeError(f"{name}: operands must be bool or integer tensors, got dtype {a.dtype} "
                                "(for a mask from floats compare first, e.g. (x > 0) & (y > 0))")
        return ufunc(*arrays)

    op = primitive(forward, vjps=(), name=name, promote=ufunc.nin == 2, differentiable=False, rows=rows_elementwise)
    op.__doc__ = f"y = {name}(...) elementwise, as np.{ufunc.__name__}, on bool or integer tensors (no gradient)"
    return op


bitwise_and, bitwise_or = _bitwise(np.bitwise_and, "bitwise_and"), _bitwise(np.bitwise_or, "bitwise_or")
bitwise_xor, bitwise_not = _bitwise(np.bitwise_xor, "bitwise_xor"), _bitwise(np.invert, "bitwise_not")


@primitive(vjps=(), differentiable=False, rows=rows_elementwise)
def stop_gradient(x):
    """y = x, with no gradient flowing back (``Tensor.detach`` inside a traced step).
    A copy, not x itself: an in-place change of either must not reach what
    saved the other unseen (the two would not share a version counter)."""
    return x.copy()


@primitive(vjps=lambda g: g, jvps=lambda t, y, x: t, rows=rows_elementwise)
def clone(x):
    """y = a copy of x;  x̄ = ȳ;  ẏ = ẋ"""
    return np.array(x, copy=True)


# -- elementwise functions ------------------------------------------------------------

@primitive(save_output=True, vjps=lambda g, y: g * y, jvps=lambda t, y, x: t * y, floating=True,
           rows=rows_elementwise)
def exp(x):
    """y = eˣ;  x̄ = ȳ·y;  ẏ = ẋ·y"""
    return np.exp(x)


@primitive(save_inputs=True, vjps=lambda g, x: g / x, jvps=lambda t, y, x: t / x, floating=True,
           rows=rows_elementwise)
def log(x):
    """y = ln x;  x̄ = ȳ / x;  ẏ = ẋ / x"""
    return np.log(x)


@primitive(save_output=True, vjps=lambda g, y: g / (2 * y), jvps=lambda t, y, x: t / (2 * y), floating=True,
           rows=rows_elementwise)
def sqrt(x):
    """y = √x;  x̄ = ȳ / (2y);  ẏ = ẋ / (2y)"""
    return np.sqrt(x)


@primitive(save_output=True, vjps=lambda g, y: g * (1 - y * y), jvps=lambda t, y, x: t * (1 - y * y),
           floating=True, rows=rows_elementwise)
def tanh(x):
    """y = tanh x;  x̄ = ȳ·(1 − y²);  ẏ = ẋ·(1 − y²)"""
    return np.tanh(x)


@primitive(save_output=True, vjps=lambda g, y: g * y * (1 - y), jvps=lambda t, y, x: t * y * (1 - y),
           floating=True, rows=rows_elementwise)
def sigmoid(x):
    """y = 1 / (1 + e⁻ˣ);  x̄ = ȳ·y·(1 − y);  ẏ = ẋ·y·(1 − y)"""
    y = np.asarray(np.negative(x))  # (0-d: an array too)
    with np.errstate(over="ignore"):  # e⁻ˣ overflows to inf for very negative x, and 1/inf = 0 is exact
        np.exp(y, out=y)
    y += 1
    return np.reciprocal(y, out=y)  # (in place: one array instead of four)


@primitive(save_output=True, vjps=lambda g, y: g * (_data(y) > 0), jvps=lambda t, y, x: t * (_data(y) > 0),
           rows=rows_elementwise)
def relu(x):
    """y = max(x, 0);  x̄ = ȳ·[y > 0]  (0 at x = 0 and for NaN);  ẏ = ẋ·[y > 0]"""
    return np.maximum(x, 0)


@primitive(save_inputs=True, vjps=lambda g, x: g * np.sign(_data(x)), jvps=lambda t, y, x: t * np.sign(_data(x)),
           rows=rows_elementwise)
def abs(x):
    """y = |x|;  x̄ = ȳ·sign(x);  ẏ = ẋ·sign(x)"""
    return np.abs(x)


def clip(x, low: float | None = None, high: float | None = None):
    """y = x limited to [low, high] (the bounds meet x under the dtype rule: an
    integer x with a float bound gives the default float);  x̄ = ȳ inside the
    interval (ends included), 0 outside;  ẏ = ẋ likewise"""
    if isinstance(low, Tensor) or isinstance(high, Tensor):  # (settings, not inputs: no gradient flows to them)
        raise TypeError("clip: low and high must be numbers or NumPy arrays, got a Tensor; for tensor bounds use "
                        "mg.maximum(x, low) and mg.minimum(x, high)")
    return _clip(x, low=low, high=high)


def _inside(x: np.ndarray, low, high) -> np.ndarray:
    """The mask low ≤ x ≤ high (a bound that is None: no limit)."""
    inside = np.ones(np.shape(x), dtype=bool)
    if low is not None:
        inside &= x >= low
    if high is not None:
        inside &= x <= high
    return inside


@primitive(name="clip", rows=rows_elementwise, jvps=lambda t, y, x, low, high: t * _inside(_data(x), low, high))
def _clip(x, *, low, high):
    dtype = result_dtype([x, *(bound for bound in (low, high) if bound is not None)])
    inside = _inside(x, low, high)
    return np.clip(x.astype(dtype, copy=False), low, high).astype(dtype, copy=False), lambda g: g * inside


# -- reductions -----------------------------------------------------------------------

def _kept_shape(shape: tuple, axes: tuple) -> tuple:
    """The shape a reduction over ``axes`` has with keepdims=True."""
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def sum(x, axis=None, keepdims: bool = False):
    """y = Σ x over ``axis``;  x̄ = ȳ spread back over the summed axes;  ẏ = Σ ẋ"""
    return _sum(x, axis=axis, keepdims=keepdims)


@primitive(name="sum", rows=rows_reduction, jvps=lambda t, y, x, axis, keepdims: _sum(t, axis=axis, keepdims=keepdims))
def _sum(x, *, axis, keepdims):
    shape = np.shape(x)
    axes = reduction_axes(axis, len(shape), "sum")
    kept = _kept_shape(shape, axes)
    return np.sum(x, axis=axes, keepdims=keepdims), lambda g: _broadcast_to(g.reshape(kept), shape=shape)


def mean(x, axis=None, keepdims: bool = False):
    """Σ x / n over ``axis`` (composite); NaN over an empty axis, as in NumPy and PyTorch.
    float16 is summed in float32, as NumPy and PyTorch do (in float16 the sum
    of 70000 ones, and so their mean, is inf)."""
    data = _data(x)
    if data.dtype == np.float16:
        return astype(mean(astype(x, np.float32), axis, keepdims), np.float16)
    shape = data.shape
    n = int(np.prod([shape[a] for a in reduction_axes(axis, len(shape), "mean")]))
    return sum(x, axis, keepdims) * (1.0 / n if n else np.nan)


def max(x, axis=None, keepdims: bool = False):
    """y = max x over ``axis``;  x̄ = ȳ shared equally by the elements that attain it
    (by the NaNs, if the max is NaN: a NaN input propagates, as in PyTorch);  ẏ = the mean of ẋ over them"""
    return _max(x, axis=axis, keepdims=keepdims)


def min(x, axis=None, keepdims: bool = False):
    """y = min x over ``axis``;  x̄ = ȳ shared equally by the elements that attain it
    (by the NaNs, if the min is NaN);  ẏ = the mean of ẋ over them"""
    return _min(x, axis=axis, keepdims=keepdims)


def _attaining(x: np.ndarray, y: np.ndarray, axes: tuple) -> tuple:
    """Which elements of x attain ``y``, its max or min over ``axes`` (kept), as a
    mask -- the NaNs, where y is NaN -- and how many do, per element of y."""
    mask = np.where(np.isnan(y), np.isnan(x), x == y)
    return mask, mask.sum(axis=axes, keepdims=True)


def _extremum(name: str, reduce: Callable):
    """The op max or min (``reduce``: np.max or np.min) over axes, with the
    gradient and the tangent shared equally by the elements that attain it."""

    def jvp(t, y, x, *, axis, keepdims):
        """ẏ = Σ ẋ·share over ``axis``, share = 1/k on the k elements that attain y (the VJP's split)."""
        x = _data(x)
        axes = reduction_axes(axis, x.ndim, name)
        mask, counts = _attaining(x, _data(y).reshape(_kept_shape(x.shape, axes)), axes)
        return _sum(t * (mask / counts).astype(x.dtype), axis=axes, keepdims=keepdims)

    @primitive(name=name, rows=rows_reduction, jvps=jvp)
    def extremum(x, *, axis, keepdims):
        axes = reduction_axes(axis, np.ndim(x), name)
        y = reduce(x, axis=axes, keepdims=True)
        kept, shape = y.shape, np.shape(x)
        mask, counts = _attaining(x, y, axes)  # (a mask and counts: no float array in the closure)
        return (y if keepdims else np.squeeze(y, axis=axes)), \
            lambda g: _broadcast_to(g.reshape(kept), shape=shape) * mask / counts

    return extremum


_max, _min = _extremum("max", np.max), _extremum("min", np.min)


def _shift(x: np.ndarray, axis) -> np.ndarray:
    """max over ``axis`` (kept), 0 where that max is ±inf or the axis is empty:
    subtracting it keeps exp() in range."""
    m = np.max(x, axis=axis, keepdims=True, initial=-np.inf)
    return np.where(np.isfinite(m), m, 0)


def _total(e: np.ndarray, axis) -> np.ndarray:
    """Σ e over ``axis`` (kept) for the softmax family; float16 is summed in
    float32, as PyTorch does (in float16 65505 terms of 1 sum to inf, and the
    softmax of 70000 zeros was 0 everywhere)."""
    return e.sum(axis=axis, keepdims=True, dtype=np.float32 if e.dtype == np.float16 else None)


def logsumexp(x, axis=None, keepdims: bool = False):
    """y = ln Σ eˣ over ``axis``;  x̄ = ȳ·e^(x − y)  (softmax of x);  ẏ = Σ ẋ·e^(x − y)
    (e^(x − y) taken as 0, the limit, on a slice of −inf only)"""
    return _logsumexp(x, axis=axis, keepdims=keepdims)


def _logsumexp_jvp(t, y, x, *, axis, keepdims):
    axes = reduction_axes(axis, _ndim(x), "logsumexp")
    return _sum(t * _softmax_of(x, y.reshape(_kept_shape(x.shape, axes))), axis=axes, keepdims=keepdims)


@primitive(name="logsumexp", save_output=True, save_inputs=True, floating=True, rows=rows_reduction,
           jvps=_logsumexp_jvp)
def _logsumexp(x, *, axis, keepdims):
    axes = reduction_axes(axis, np.ndim(x), "logsumexp")
    kept = _kept_shape(np.shape(x), axes)
    m = _shift(x, axes)
    with np.errstate(divide="ignore"):  # ln 0 = −inf: every entry −inf, or an empty axis
        y = (np.log(_total(np.exp(x - m), axes)) + m).astype(x.dtype, copy=False)
    return (y if keepdims else np.squeeze(y, axis=axes)), \
        lambda g, y, x: g.reshape(kept) * _softmax_of(x, y.reshape(kept))


def _softmax_of(x, y):
    """e^(x − y) for y = logsumexp(x) (kept dims): the softmax of x, the derivative
    of y -- and 0, the limit, on a slice of −inf only, where y = −inf and x − y
    would be NaN (y is taken as 0 there)."""
    lost = _data(y) == -np.inf
    return exp(x - (where(lost, 0.0, y) if lost.any() else y))


def _ndim(x) -> int:
    return x.ndim if isinstance(x, (Tensor, np.ndarray)) else np.ndim(x)


def softmax(x, axis: int = -1):
    """y = eˣ / Σ eˣ over ``axis``;  x̄ = y·(ȳ − Σ ȳ·y);  ẏ = y·(ẋ − Σ ẋ·y) (the Jacobian
    diag(y) − y yᵀ is symmetric).  Entries of +inf share the whole mass (the limit), the others get 0."""
    return _softmax(x, axis=normalize_axis(axis, _ndim(x), "softmax"))


def _softmax_vjp(g, y, axis):
    return y * (g - (g * y).sum(axis=axis, keepdims=True))


@primitive(name="softmax", save_output=True, vjps=_softmax_vjp, floating=True, rows=rows_reduction,
           jvps=lambda t, y, x, axis: _softmax_vjp(t, y, axis))
def _softmax(x, *, axis):
    top = np.max(x, axis=axis, keepdims=True, initial=-np.inf)
    if np.isposinf(top).any():  # the limit: the +inf entries share the mass
        infinite = np.isposinf(x)
        x = np.where(np.isposinf(top), np.where(infinite, 0.0, -np.inf), x).astype(x.dtype)
    e = np.exp(x - _shift(x, axis))
    return (e / _total(e, axis)).astype(e.dtype, copy=False)


def log_softmax(x, axis: int = -1):
    """y = x − ln Σ eˣ over ``axis``;  x̄ = ȳ − e^y·Σ ȳ;  ẏ = ẋ − Σ ẋ·e^y"""
    return _log_softmax(x, axis=normalize_axis(axis, _ndim(x), "log_softmax"))


def _log_softmax_vjp(g, y, axis):
    """float16 in float32, as the forward sums (Σ ȳ of 100 terms of 1000 is inf in float16)."""
    if g.dtype == np.float16:
        return astype(_log_softmax_vjp(astype(g, np.float32), astype(y, np.float32), axis), np.float16)
    return g - exp(y) * g.sum(axis=axis, keepdims=True)


@primitive(name="log_softmax", save_output=True, vjps=_log_softmax_vjp, floating=True, rows=rows_reduction,
           jvps=lambda t, y, x, axis: t - (t * exp(y)).sum(axis=axis, keepdims=True))
def _log_softmax(x, *, axis):
    shifted = x - _shift(x, axis)
    with np.errstate(divide="ignore"):  # ln 0 = −inf: an empty axis (the result is empty) or every entry −inf
        return (shifted - np.log(_total(np.exp(shifted), axis))).astype(shifted.dtype, copy=False)


# -- shapes ---------------------------------------------------------------------------------

def reshape(x, shape: int | Sequence[int]):
    """y = x with a new shape;  x̄ = ȳ with x's shape;  ẏ = ẋ with the new shape"""
    return _reshape(x, shape=_ints(shape, "reshape: shape"))


def _rows_reshape(shapes, out_shapes, varying, settings):
    """Keeps rows apart when axis 0 keeps its size: in C order row i is the
    same block of elements before and after. (Not for empty rows, whose
    count -1 cannot stand for.)"""
    if not shapes[0] or not out_shapes[0] or out_shapes[0][0] != shapes[0][0] or 0 in out_shapes[0][1:]:
        return None
    return {"shape": (-1, *out_shapes[0][1:])}


@primitive(name="reshape", rows=_rows_reshape, jvps=lambda t, y, x, shape: _reshape(t, shape=shape))
def _reshape(x, *, shape):
    original = np.shape(x)
    return np.reshape(x, shape), lambda g: g.reshape(original)


def unsqueeze(x, axis: int):
    """x with a new axis of size 1 at ``axis`` (negative counts from the end of the result)."""
    shape = list(x.shape)
    shape.insert(normalize_axis(axis, len(shape) + 1, "unsqueeze"), 1)
    return reshape(x, shape)


def squeeze(x, axis: int | Sequence[int] | None = None):
    """x without axes of size 1 (all, or those named; a named axis of another size stays, as in PyTorch)."""
    shape = x.shape
    axes = range(len(shape)) if axis is None else reduction_axes(axis, len(shape), "squeeze")
    return reshape(x, [n for i, n in enumerate(shape) if not (i in axes and n == 1)])


def transpose(x, axes: Sequence[int] | None = None):
    """y = x with axes permuted (reversed if None);  x̄ = ȳ permuted back;  ẏ = ẋ permuted"""
    ndim = x.ndim
    if axes is None:
        axes = tuple(reversed(range(ndim)))
    axes = tuple(normalize_axis(a, ndim, "transpose") for a in axes)
    if sorted(axes) != list(range(ndim)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of the {ndim} axes")
    return _transpose(x, axes=axes)


def _rows_transpose(shapes, out_shapes, varying, settings):
    return settings if settings["axes"] and settings["axes"][0] == 0 else None


@primitive(name="transpose", vjps=lambda g, axes: g.transpose(tuple(np.argsort(axes))), rows=_rows_transpose,
           jvps=lambda t, y, x, axes: _transpose(t, axes=axes))
def _transpose(x, *, axes):
    return np.transpose(x, axes)


def swapaxes(x, axis1: int, axis2: int):
    """transpose that swaps two axes (composite)."""
    axes = list(range(x.ndim))
    a, b = normalize_axis(axis1, x.ndim, "swapaxes"), normalize_axis(axis2, x.ndim, "swapaxes")
    axes[a], axes[b] = axes[b], axes[a]
    return transpose(x, axes)


def broadcast_to(x, shape: int | Sequence[int]):
    """y = x stretched to ``shape`` by broadcasting;  x̄ = ȳ summed back (the engine's unbroadcast);  ẏ = ẋ stretched"""
    return _broadcast_to(x, shape=_ints(shape, "broadcast_to: shape"))


@primitive(name="broadcast_to", vjps=lambda g, shape: g, jvps=lambda t, y, x, shape: _broadcast_to(t, shape=shape))
def _broadcast_to(x, *, shape):
    return np.broadcast_to(x, shape)


def astype(x, dtype):
    """y = x converted to ``dtype``;  x̄ = ȳ converted back (no gradient to or from non-float dtypes);
    ẏ = ẋ converted"""
    dtype = np.dtype(dtype)
    if dtype.kind not in "biuf":
        raise TypeError(f"astype: dtype must be bool, integer or float, got {dtype}")
    source = x.dtype
    if dtype.kind == "f" and source.kind == "f":
        return _astype(x, dtype=dtype)
    return _astype_constant(x, dtype=dtype)


@primitive(name="astype", rows=rows_elementwise, jvps=lambda t, y, x, dtype: _astype(t, dtype=dtype))
def _astype(x, *, dtype):
    original = x.dtype
    return x.astype(dtype), lambda g: g.astype(original)


@primitive(name="astype", vjps=(), differentiable=False, rows=rows_elementwise)
def _astype_constant(x, *, dtype):
    return x.astype(dtype)


# -- indexing ---------------------------------------------------------------------------------

class _Slot:
    """Where a tensor sat inside an index: the index is a template, the
    tensors are the op's arguments (so a traced id is an input, not a constant)."""

    __slots__ = ("position",)

    def __init__(self, position: int):
        self.position = position

    def __repr__(self) -> str:
        return f"<index tensor {self.position}>"


def _split_index(index: Any, tensors: list) -> Any:
    """The index with each index array (a Tensor, an array or a list) replaced
    by a _Slot; the arrays go to ``tensors`` (NumPy arrays as they are: op
    arguments that are constants, so a scan step looking up by one is kept)."""
    if isinstance(index, tuple):
        return tuple(_split_index(i, tensors) for i in index)
    if isinstance(index, (Tensor, np.ndarray, list)):
        value = index if isinstance(index, Tensor) else np.asarray(index)
        if isinstance(index, list) and value.size == 0:
            value = value.astype(np.intp)  # x[[]]: no indices (NumPy makes an empty list a float array)
        if value.dtype.kind not in "biu":
            raise IndexError(f"getitem: index arrays must be integers or booleans, got dtype {value.dtype}")
        tensors.append(value)
        return _Slot(len(tensors) - 1)
    if isinstance(index, bool) or not isinstance(index, (int, np.integer, slice, type(None), type(Ellipsis))):
        raise IndexError(f"getitem: cannot index with {type(index).__name__} {index!r}")
    return index


def _fill(template: Any, arrays: Sequence[np.ndarray]) -> Any:
    """The template with the index arrays put back."""
    if isinstance(template, tuple):
        return tuple(_fill(t, arrays) for t in template)
    return arrays[template.position] if isinstance(template, _Slot) else template


def _normalized(index: Any, shape: tuple) -> Any:
    """``index`` (filled) with negative integer-array entries made positive, so
    that x[[1, -2]] on 3 elements is seen to pick element 1 twice. An entry
    below -n is an IndexError (made positive it would still be negative, and
    NumPy would count it from the end a second time)."""
    parts = index if isinstance(index, tuple) else (index,)
    consumed = builtins.sum(1 if not isinstance(p, np.ndarray) or p.dtype != bool else p.ndim
                            for p in parts if p is not None and p is not Ellipsis)
    out, axis = [], 0
    for p in parts:
        if p is Ellipsis:
            axis += len(shape) - consumed
        elif isinstance(p, np.ndarray) and p.dtype != bool:
            if p.size and p.min() < 0 and axis < len(shape):  # (past the last axis: NumPy's "too many indices")
                if p.min() < -shape[axis]:
                    raise IndexError(f"add_at: index {p.min()} is out of range for axis {axis} of size "
                                     f"{shape[axis]}")
                p = _from_end(p, shape[axis])
            out.append(p)
            axis += 1
            continue
        elif p is not None:
            axis += p.ndim if isinstance(p, np.ndarray) else 1
        out.append(p)
    return tuple(out) if isinstance(index, tuple) else out[0]


def _from_end(indices: np.ndarray, size: int) -> np.ndarray:
    """``indices`` with the negative ones counted from the end of an axis of
    ``size`` (in intp: a small dtype may not hold the size, int8 -1 of 200)."""
    indices = indices.astype(np.intp, copy=False)
    return np.where(indices < 0, indices + size, indices)


def _repeat_free(index: Any) -> bool:
    """True when no element can be picked twice: ints, slices, None, ...,
    bool masks, and integer arrays (after _normalized: no negative entries)
    whose broadcast combinations do not repeat -- one array without repeated
    values (a permutation or a selection), or several that pick distinct
    (row, column, ...) tuples. Several arrays beside a bool mask count as
    repeating (np.add.at: right, only slower)."""
    parts = index if isinstance(index, tuple) else (index,)
    arrays = [p for p in parts if isinstance(p, np.ndarray) and p.dtype != bool]
    if len(arrays) > 1 and builtins.any(isinstance(p, np.ndarray) and p.dtype == bool for p in parts):
        return False
    if not arrays:
        return True
    if builtins.any(a.size == 0 for a in arrays):  # (nothing picked)
        return True
    key, radix = np.zeros((), dtype=np.int64), 1
    for array in arrays:  # the picked tuples as one number each, in a mixed radix
        base = int(array.max()) + 1
        radix *= base
        if radix > 2 ** 62:
            return False
        key = key * base + array.astype(np.int64, copy=False)
    ordered = np.sort(key, axis=None)
    return bool((ordered[1:] != ordered[:-1]).all())


def getitem(x, index: Any):
    """y = x[index] (basic and integer-array indexing; index arrays may be
    tensors);  x̄ = ȳ added into zeros at index (plain assignment when nothing
    is picked twice, else np.add.at);  ẏ = ẋ[index]"""
    tensors: list = []
    template = _split_index(index, tensors)
    return _getitem(x, *tensors, index=template)


def _rows_getitem(shapes, out_shapes, varying, settings):
    """Rows stay apart when a varying x keeps axis 0 whole (``x[:, ...]`` or
    ``x[..., k]``) and is indexed by constants, with at most one index array
    (several would move their axes to the front); or when a constant table is
    looked up by varying integer ids (``table[ids]``, an embedding: the
    output is ids.shape + a table row's shape; a boolean mask picks as many
    rows as it has True, so its output is that only by chance)."""
    template = settings["index"]
    parts = template if isinstance(template, tuple) else (template,)
    slots = [p for p in parts if isinstance(p, _Slot)]
    if varying[0]:
        if builtins.any(varying[1:]) or not shapes[0] or not out_shapes[0]:
            return None
        if slots and not builtins.all(isinstance(p, (slice, _Slot)) or p is None for p in parts):
            return None  # an int beside an index array is an index array too
        if isinstance(parts[0], slice) and parts[0] == slice(None):
            return settings if len(slots) <= 1 else None
        if parts[0] is Ellipsis and not slots:
            used = builtins.sum(1 for p in parts if p is not None and p is not Ellipsis)
            return settings if len(shapes[0]) - used >= 1 else None
        return None
    if len(parts) == 1 and slots and varying[1] and shapes[1] and out_shapes[0] == shapes[1] + shapes[0][1:]:
        return settings
    return None


def _getitem_jvp(tangents, y, x, *arrays, index):
    return None if tangents[0] is None else _getitem(tangents[0], *arrays, index=index)


@primitive(name="getitem", save_inputs=slice(1, None), rows=_rows_getitem, jvp=_getitem_jvp)
def _getitem(x, *arrays, index):
    shape = x.shape
    full = _fill(index, arrays)
    try:
        y = x[full]
    except IndexError as error:
        raise IndexError(f"getitem: index {full!r} does not fit shape {shape}: {error}") from None
    # the VJPs take the index arrays as saved inputs (checked or copied), not the ones in ``full``
    vjps = (lambda g, *saved: add_at(g, _fill(index, saved), shape),) + (lambda g, *saved: None,) * len(arrays)
    return y, vjps


def add_at(g, index: Any, shape: Sequence[int]):
    """y = zeros(shape) with g added at ``index`` (getitem's transpose);  ḡ = ȳ[index];  ẏ = zeros with ġ added
    (When g is a Tensor the op may be recorded, and its VJP keeps the index:
    a copy of it, so that changing the caller's arrays later changes nothing.)"""
    shape = tuple(shape)
    return _add_at(g, index=_normalized(_index_arrays(index, copy=isinstance(g, Tensor)), shape), shape=shape)


def _index_arrays(index: Any, copy: bool) -> Any:
    """``index`` with the lists and Tensors in it as arrays (so that repeats in them are seen), copied if ``copy``."""
    if isinstance(index, tuple):
        return tuple(_index_arrays(part, copy) for part in index)
    if isinstance(index, (list, Tensor, np.ndarray)):
        return np.array(_data(index)) if copy else _data(index)
    return index


@primitive(name="add_at", jvps=lambda t, y, g, index, shape: _add_at(t, index=index, shape=shape))
def _add_at(g, *, index, shape):
    out = np.zeros(shape, dtype=g.dtype)
    if _repeat_free(index):
        out[index] = g  # nothing picked twice: assignment is the fast scatter
    elif type(index) is np.ndarray and index.dtype.kind in "iu" and out.ndim:
        _add_rows(out, index, g)
    else:
        np.add.at(out, index, g)
    return out, lambda gy: gy[index]


def _add_rows(out: np.ndarray, rows: np.ndarray, g: np.ndarray) -> None:
    """out[rows] += g, rows repeating (an embedding's gradient): np.add.at on
    the flat array with one position per element, 3-10x faster than on rows.
    g must broadcast to the shape the rows pick, as for np.add.at (the flat
    positions would take any g of the right size, its elements misplaced)."""
    picked = rows.shape + out.shape[1:]
    if g.shape != picked:
        try:
            g = np.broadcast_to(g, picked)
        except ValueError:
            raise ValueError(f"g has shape {g.shape}, which does not broadcast to the shape index picks, "
                             f"{picked}") from None
    width = int(np.prod(out.shape[1:]))
    rows = rows.astype(np.intp, copy=False)  # (the positions overflow a small dtype: int8 row 10 of width 20)
    positions = (rows.reshape(-1, 1) * width + np.arange(width)).reshape(-1)
    np.add.at(out.reshape(-1), positions, np.ascontiguousarray(g).reshape(-1))


def _check_indices(indices: np.ndarray, size: int, name: str, what: str, error: type = IndexError) -> None:
    if indices.dtype.kind not in "iu":
        raise TypeError(f"{name}: indices must be integers, got dtype {indices.dtype}")
    if indices.size and (indices.min() < 0 or indices.max() >= size):
        raise error(f"{name}: indices must lie in [0, {size}) ({what}), "
                    f"got values from {indices.min()} to {indices.max()}")


def _as_tensor(value) -> Tensor:
    return value if isinstance(value, Tensor) else Tensor._make(as_array(value))


def one_hot(indices, num_classes: int, dtype=None) -> Tensor:
    """y[..., k] = 1 where indices == k, else 0 (no gradient)."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 0:
        raise ValueError(f"one_hot: num_classes must be a non-negative int, got {num_classes!r}")
    dtype = get_default_dtype() if dtype is None else np.dtype(dtype)
    if dtype.kind not in "biuf":
        raise TypeError(f"one_hot: dtype must be a bool, integer or float dtype, got {dtype}")
    return _one_hot(_as_tensor(indices), num_classes=int(num_classes), dtype=dtype)


def _rows_leading(shapes, out_shapes, varying, settings):
    return settings if shapes[0] else None


@primitive(name="one_hot", vjps=(), differentiable=False, rows=_rows_leading)
def _one_hot(indices, *, num_classes, dtype):
    _check_indices(indices, num_classes, "one_hot", "num_classes", ValueError)
    out = np.zeros(indices.shape + (num_classes,), dtype=dtype)
    np.put_along_axis(out, indices[..., None], 1, axis=-1)
    return out


def embedding(weight: Tensor, indices) -> Tensor:
    """y = weight[indices] (rows picked by integer ids, which may be a tensor);
    weight̄ = ȳ added into the picked rows;  ẏ = ẇ[indices] (ẇ the weight's tangent)"""
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be 2-D (num_embeddings, dim), got shape {weight.shape}")
    # ids that are not a Tensor: a copy (cheap, for integers), the caller may change theirs before the backward
    return _embedding(weight, indices if isinstance(indices, Tensor) else Tensor._make(as_array(indices, copy=True)))


def _rows_embedding(shapes, out_shapes, varying, settings):
    """A constant table looked up by varying ids keeps rows apart."""
    return settings if not varying[0] and varying[1] and shapes[1] else None


@primitive(name="embedding", save_inputs=(1,), rows=_rows_embedding,
           jvps=(lambda t, y, weight, ids: _embedding(t, ids), None))
def _embedding(weight, ids):
    _check_indices(ids, weight.shape[0], "embedding", "num_embeddings")
    shape = weight.shape
    return weight[ids], (lambda g, ids: add_at(g, ids, shape), lambda g, ids: None)


def argmax(x, axis: int | None = None, keepdims: bool = False):
    """The index of the largest element (along ``axis``; of the flattened x if None), as np.argmax (no gradient)."""
    return _argmax(x, axis=None if axis is None else normalize_axis(axis, _ndim(x), "argmax"), keepdims=keepdims)


def argmin(x, axis: int | None = None, keepdims: bool = False):
    """The index of the smallest element, as np.argmin (no gradient)."""
    return _argmin(x, axis=None if axis is None else normalize_axis(axis, _ndim(x), "argmin"), keepdims=keepdims)


@primitive(name="argmax", vjps=(), differentiable=False, rows=rows_reduction)
def _argmax(x, *, axis, keepdims):
    return np.argmax(x, axis=axis, keepdims=keepdims)


@primitive(name="argmin", vjps=(), differentiable=False, rows=rows_reduction)
def _argmin(x, *, axis, keepdims):
    return np.argmin(x, axis=axis, keepdims=keepdims)


def take_along_axis(x, indices, axis: int):
    """y = np.take_along_axis(x, indices, axis): pick along ``axis`` by an
    index array of x's number of dimensions (the other axes broadcast against
    each other);  x̄ = ȳ added into zeros at the picked places (and summed
    over the axes x broadcast along);  ẏ = ẋ picked alike"""
    ndim = _ndim(x)
    return _take_along_axis(x, _as_tensor(indices), axis=normalize_axis(axis, ndim, "take_along_axis"),
                            caller="take_along_axis: indices")


def gather(x, axis: int, index):
    """torch.gather: y[i][j][k] = x[i][index[i][j][k]][k] (for axis 1), ``index``
    an integer array of x's number of dimensions, no larger than x along the
    other axes, and y of index's shape -- no broadcasting (the difference
    from take_along_axis, whose index broadcasts: an index of one row picks
    from every row of x). Composite: x cut to index's extent along the other
    axes, then take_along_axis; x̄ = ȳ added into zeros at the picked places"""
    index = _as_tensor(index)
    shape, ndim = _shape(x), len(_shape(x))
    axis = normalize_axis(axis, ndim, "gather")
    if index.ndim != ndim or builtins.any(n > m for d, (n, m) in enumerate(zip(index.shape, shape)) if d != axis):
        raise ValueError(f"gather: index must have x's {ndim} dimensions and be no larger than x's shape {shape} "
                         f"along every axis but axis {axis}, got shape {index.shape}")
    if builtins.any(n < m for d, (n, m) in enumerate(zip(index.shape, shape)) if d != axis):
        x = getitem(x, tuple(slice(None) if d == axis else slice(0, n) for d, n in enumerate(index.shape)))
    return _take_along_axis(x, index, axis=axis, caller="gather: index")


def _shape(x) -> tuple:
    return x.shape if isinstance(x, (Tensor, np.ndarray)) else np.shape(x)


@primitive(name="take_along_axis", jvps=(
    lambda t, y, x, indices, axis, caller: _take_along_axis(t, indices, axis=axis, caller=caller), None))
def _take_along_axis(x, indices, *, axis, caller):
    """(``caller`` names the function and argument the user gave, for the errors: "gather: index".)"""
    if indices.dtype.kind not in "iu" or indices.ndim != x.ndim:
        raise IndexError(f"{caller} must be integers with x's {x.ndim} dimensions, got dtype "
                         f"{indices.dtype} and shape {indices.shape}")
    n = x.shape[axis]
    if indices.size and (indices.min() < -n or indices.max() >= n):
        raise IndexError(f"{caller} must lie in [{-n}, {n}) (axis {axis} has size {n}), "
                         f"got values from {indices.min()} to {indices.max()}")
    picked = _from_end(indices, n)
    y = np.take_along_axis(x, indices, axis=axis)
    # x̄ is scattered into x's shape broadcast as y is (y's shape with x's size along axis), where each
    # element of ȳ has a place of its own unless an index repeats along axis; the engine then sums it over
    # the axes x broadcast along (its size-1 ones)
    shape = y.shape
    spread = shape[:axis] + x.shape[axis:axis + 1] + shape[axis + 1:]

    def vjp(g):
        if picked.shape[axis] < 2 or (np.diff(np.sort(picked, axis=axis), axis=axis) != 0).all():
            return _put_along_axis(g, picked, axis=axis, shape=spread)  # nothing picked twice: assignment
        grid = list(np.ix_(*[np.arange(n) for n in shape]))
        grid[axis] = picked
        return add_at(g, tuple(grid), spread)

    return y, (vjp, lambda g: None)


@primitive(name="put_along_axis", jvps=lambda t, y, g, indices, axis, shape: _put_along_axis(t, indices, axis=axis,
                                                                                             shape=shape))
def _put_along_axis(g, indices, *, axis, shape):
    """y = zeros(shape) with g put at the places take_along_axis picks by
    ``indices`` (none of them twice): take_along_axis's transpose;
    ḡ = ȳ picked by ``indices``"""
    out = np.zeros(shape, dtype=g.dtype)
    np.put_along_axis(out, indices, g, axis=axis)
    return out, lambda gy: _take_along_axis(gy, indices, axis=axis, caller="take_along_axis: indices")


def masked_fill(x, mask, value: float):
    """y = value where mask, else x (composite: ``where(mask, value, x)``, ``mask`` bool);  x̄ = ȳ where not mask"""
    _check_bool(mask, "masked_fill: mask")
    return where(mask, value, x)


# -- joining and splitting --------------------------------------------------------------------

def concat(tensors: Sequence, axis: int = 0):
    """y = [x₁ x₂ …] along ``axis``;  x̄ᵢ = ȳ's matching slice;  ẏ = [ẋ₁ ẋ₂ …]"""
    _check_sequence(tensors, "concat")
    if not _holds_tensor(tensors):  # only arrays: plain NumPy
        return np.concatenate(tensors, axis=axis)
    return _concat(*tensors, axis=normalize_axis(axis, _ndim(tensors[0]), "concat"))


def _check_sequence(tensors, op: str) -> None:
    """A TypeError unless ``tensors`` is a list or tuple (a tensor would be taken
    apart into its rows, a generator used up), a ValueError if it is empty."""
    if not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{op}: tensors must be a list or tuple of tensors, got {type(tensors).__name__}")
    if not tensors:
        raise ValueError(f"{op}: needs at least one tensor")


def _holds_tensor(items: Sequence) -> bool:
    for x in items:
        if isinstance(x, Tensor):
            return True
    return False


def _joined_jvp(join: Callable) -> Callable:
    """The JVP of concat or stack: the inputs' tangents joined alike (zeros for an input without one)."""

    def jvp(tangents, y, *xs, axis):
        return join(*[np.zeros(np.shape(_data(x)), y.dtype) if t is None else t for t, x in zip(tangents, xs)],
                    axis=axis)

    return jvp


@primitive(name="concat", promote=True, rows=rows_along, jvp=_joined_jvp(lambda *ts, axis: _concat(*ts, axis=axis)))
def _concat(*xs, axis):
    before, vjps, end = (slice(None),) * axis, [], 0
    for x in xs:
        start, end = end, end + x.shape[axis]
        vjps.append(lambda g, piece=(*before, slice(start, end)): g[piece])
    return np.concatenate(xs, axis=axis), tuple(vjps)


def stack(tensors: Sequence, axis: int = 0):
    """y = the xᵢ stacked along a new ``axis``;  x̄ᵢ = ȳ's i-th slice along it;  ẏ = the ẋᵢ stacked"""
    _check_sequence(tensors, "stack")
    if not _holds_tensor(tensors):  # only arrays: plain NumPy
        return np.stack(tensors, axis=axis)
    return _stack(*tensors, axis=normalize_axis(axis, _ndim(tensors[0]) + 1, "stack"))


@primitive(name="stack", promote=True, rows=rows_along, jvp=_joined_jvp(lambda *ts, axis: _stack(*ts, axis=axis)))
def _stack(*xs, axis):
    y = np.stack(xs, axis=axis)
    before = (slice(None),) * axis
    return y, tuple(lambda g, i=i: g[(*before, i)] for i in range(len(xs)))


def split(x, split_size_or_sections: int | Sequence[int], axis: int = 0) -> tuple:
    """Pieces of x along ``axis``: of size ``split_size`` each (the last may be
    smaller) or of the listed sizes, as torch.split;  x̄ = the ȳᵢ concatenated;  ẏᵢ = ẋ split alike"""
    axis = normalize_axis(axis, x.ndim, "split")
    n = x.shape[axis]
    sizes = _ints(split_size_or_sections, "split: split_size_or_sections")
    if isinstance(split_size_or_sections, (int, np.integer)):
        size = sizes[0]
        if size <= 0:
            raise ValueError(f"split: split_size must be positive, got {size}")
        sizes = (size,) * (n // size) + ((n % size,) if n % size else ())
        sizes = sizes or (0,)  # an empty axis gives one empty piece
    else:
        if builtins.sum(sizes) != n or builtins.min(sizes, default=0) < 0:
            raise ValueError(f"split: sections {list(sizes)} must be non-negative and add up to {n}, "
                             f"the size of axis {axis}")
    return _split(x, sizes=sizes, axis=axis)


def chunk(x, chunks: int, axis: int = 0) -> tuple:
    """``chunks`` pieces of (nearly) equal size along ``axis``, as torch.chunk
    (an empty axis gives ``chunks`` empty pieces)."""
    if isinstance(chunks, bool) or not isinstance(chunks, (int, np.integer)) or chunks <= 0:
        raise ValueError(f"chunk: chunks must be a positive int, got {chunks!r}")
    n = x.shape[normalize_axis(axis, x.ndim, "chunk")]
    if n == 0:
        return split(x, [0] * int(chunks), axis)
    return split(x, -(-n // chunks), axis)


@primitive(name="split", vjps=lambda gs, *, sizes, axis: _joined(concat, gs, axis, sizes),
           rows=rows_along, jvps=lambda t, ys, x, sizes, axis: _split(t, sizes=sizes, axis=axis))
def _split(x, *, sizes, axis):
    return tuple([x[index] for index in _pieces(sizes, axis)])


@functools.lru_cache(maxsize=1024)
def _pieces(sizes: tuple, axis: int) -> tuple:
    """The index of each piece of a split (kept: a scan step splits the same way at every step)."""
    before = (slice(None),) * axis
    indices, start = [], 0
    for size in sizes:
        indices.append((*before, slice(start, start + size)))
        start += size
    return tuple(indices)


def unbind(x, axis: int = 0) -> tuple:
    """The slices of x along ``axis`` (the axis dropped), one each;  x̄ = the ȳᵢ stacked;  ẏᵢ = ẋ's slices"""
    return _unbind(x, axis=normalize_axis(axis, x.ndim, "unbind"))


@primitive(name="unbind", vjps=lambda gs, *, axis: _joined(stack, gs, axis, None),
           rows=rows_along, jvps=lambda t, ys, x, axis: _unbind(t, axis=axis))
def _unbind(x, *, axis):
    return tuple(np.moveaxis(x, axis, 0))


def _joined(join, grads: tuple, axis: int, sizes):
    """split's and unbind's VJP: the pieces' gradients joined again by
    ``join`` (concat or stack), zeros for the pieces that received none. (All
    arrays, nothing missing -- every step of a plain backward through an LSTM
    cell -- is one NumPy call.)"""
    plain = True
    for grad in grads:
        if type(grad) is not np.ndarray:
            plain = False
            break
    if plain:
        return np.concatenate(grads, axis) if join is concat else np.stack(grads, axis)
    return join(_zeros_for_missing(grads, axis, sizes), axis)


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

def _product(x, y):
    """x @ y for operands of 2+ axes; when the summed axis has length 1 that is
    an outer product, and broadcasting x * y gives it exactly, 2-3x faster
    than a batched matmul of inner length 1."""
    return x * y if x.shape[-1] == 1 else x @ y


def _matmul_grad_a(g, a, b):
    """ā = ȳ @ bᵀ, with 1-D operands promoted to matrices and the promoted axis dropped again."""
    if b.ndim == 1:
        return g[..., None] * b
    if a.ndim == 1:
        return (g[..., None, :] @ b.swapaxes(-1, -2))[..., 0, :]
    return _product(g, b.swapaxes(-1, -2))


def _matmul_grad_b(g, a, b):
    """b̄ = aᵀ @ ȳ, with 1-D operands promoted to matrices and the promoted axis dropped again."""
    if a.ndim == 1:
        return a[:, None] * g[..., None, :] if b.ndim > 1 else g * a
    if b.ndim == 1:
        return (a.swapaxes(-1, -2) @ g[..., None])[..., 0]
    return _product(a.swapaxes(-1, -2), g)


def _rows_matmul(shapes, out_shapes, varying, settings):
    """Rows stay apart for (varying rows) @ (a constant vector or matrix), or a
    batched product whose batch axis 0 is the rows: the varying operands
    have 3 or more axes, as many each (batch axes line up from the right)
    and the same rows; the constants at most 2 axes (no batch axes)."""
    (a, b), (va, vb) = shapes, varying
    if va and not vb:
        return settings if len(a) >= 2 and len(b) <= 2 else None
    batched = [s for s, v in zip(shapes, varying) if v]
    if len({len(s) for s in batched}) == 1 and len(batched[0]) >= 3 and len({s[0] for s in batched}) == 1 and \
            builtins.all(len(s) <= 2 for s, v in zip(shapes, varying) if not v):
        return settings
    return None


def _rows_addmm(shapes, out_shapes, varying, settings):
    """c + a @ b: (varying rows a) @ (constant b), plus c elementwise."""
    (c, a, b), (vc, va, vb) = shapes, varying
    if vb:
        return None
    return rows_elementwise([c, out_shapes[0] if va else (a[0], b[1])], out_shapes, [vc, va], settings)


@primitive(save_inputs=(1, 2), promote=True, rows=_rows_addmm,
           vjps=(lambda g, a, b: g, lambda g, a, b: g @ b.swapaxes(-1, -2), lambda g, a, b: a.swapaxes(-1, -2) @ g),
           jvps=(lambda t, y, c, a, b: t, lambda t, y, c, a, b: matmul(t, b), lambda t, y, c, a, b: matmul(a, t)))
def addmm(c, a, b):
    """y = c + a @ b for matrices a, b (c broadcast, as torch.addmm);  c̄ = ȳ,  ā = ȳ @ bᵀ,  b̄ = aᵀ @ ȳ;
    ẏ = ċ + ȧ @ b + a @ ḃ"""
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"addmm needs 2-D a and b, got shapes {a.shape} and {b.shape}")
    y = a @ b
    if c.dtype == y.dtype and (c.shape == y.shape or c.shape == y.shape[1:]):
        y += c  # into the fresh product: one array fewer
        return y
    return y + c


@primitive(save_inputs=True, vjps=(_matmul_grad_a, _matmul_grad_b), promote=True, rows=_rows_matmul,
           jvps=(lambda t, y, a, b: matmul(t, b), lambda t, y, a, b: matmul(a, t)))
def matmul(a, b):
    """y = a @ b (batched; 1-D operands as in NumPy);  ā = ȳ @ bᵀ,  b̄ = aᵀ @ ȳ;  ẏ = ȧ @ b + a @ ḃ"""
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError("matmul needs operands with at least one dimension")
    return np.matmul(a, b)
