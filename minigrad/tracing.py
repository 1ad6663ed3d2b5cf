"""Tracing: run a function once on stand-in tensors and keep the list of ops it calls.

``trace(fn, inputs)`` calls ``fn`` on :class:`Traced` tensors -- tensors with
a shape, a dtype and a value (the given inputs'), but whose value the
function may not read. Every op that gets a Traced argument hands the call
to it (the ops' dispatch protocol, see minigrad.ops), and it is written down
as an :class:`Instruction` over numbered *slots*: the inputs first, then
every constant or closed-over tensor an instruction reads, then every value
an instruction makes. What the function computes without touching a Traced
value (``W.T`` of a weight it closes over, say) runs as usual, once, and
enters the trace as a closed-over tensor.

So the trace records what the function does with its inputs *faithfully*
(comparisons, ``where``, lookups with traced ids, ``detach``, casts: all are
ops; an op under ``no_grad`` is followed by a ``stop_gradient``, as the tape
would not record it), and refuses what it cannot record: reading a traced
value (``.item()``, ``float()``, ``if t > 0:``, ``np.asarray``, ``.data``,
``mg.tensor(t)``), random draws (from minigrad's generator or one given
as ``rng=``), which a replay would not repeat. Those raise
:class:`TraceError` at the line that did it. What only the plain run knows
raises :class:`Untraceable`, and the caller (scan) runs its loop instead:
a traced value's ``requires_grad`` (the loop's tensor may or may not
require grad; ``acc += h @ w`` on a tensor the step made asks it), and a
cast the dtype rule decides by the value of a 0-d integer tensor, which may
differ from step to step (``uint8_tokens == counter``).

In-place changes. ``x += y`` on a value the function made is recorded as
the new value ``x + y`` (what the tape does in the graph), and
``x.copy_(y)`` makes the tensor x stand for the copy. In a plain run
an in-place change also changes every tensor sharing the data, which a
replay cannot do, so the trace refuses it when that matters: a change of
one of the function's inputs (or of a view or a detached copy of one: the
caller's tensors), and reading, after a change, another name for the
changed value (a view, a detached copy, the same tensor kept under another
name), which a plain run sees changed. (``x += y`` on an input is fine if a
plain run makes the new tensor in the graph, changing nothing, which the
caller checks: see ``Trace.change``.) Under a ``no_grad`` inside a step
traced with grad, the plain run changes the tensor in place and keeps its
place in the graph (the gradient passes the change by), which the trace's
new value cannot: if the tensor may require grad, the caller runs the loop.

What the function takes from outside. A tensor it closes over is a slot
the trace names (``closed``), a NumPy array it reads a constant slot
(``arrays``): their values are the caller's, which may change later. The
rest goes past the ops: the function may read a tensor's values
(``w.item()``, ``float(t)``, ``.data``) or change one in place. So while a
trace is recorded, its thread's :data:`recording` names it, and
minigrad.tensor tells it of both. A value read makes what the function
computed from it a constant of the trace, so the trace stands for this
call only (``read_values``); the array it gets is read-only (see
minigrad.tensor._read), so writing into it (``w.data -= v``) fails at the
line with a TraceError, changing nothing. An in-place change of a tensor
from outside is refused: a plain run makes it at every call, a replay never
(a tensor the function made from constants alone and then changes is
refused too: the trace cannot tell it from a closed-over one) -- unless
the other operand is a value of the trace (``acc += h @ w``): whether the
plain run changes acc or makes a new tensor depends on requires_grad, so
the loop runs it (see above).

What no trace can see is Python that does not go through minigrad: a
global counter, a draw from a NumPy generator of your own. The function
must compute from its inputs and the tensors it closes over, like a
function ``jax.jit`` traces.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import numpy as np

from . import random as _random
from .engine import is_anomaly_enabled, is_grad_enabled, user_frame
from .ops import astype, broadcast_to, constant, promote_arrays, stop_gradient
from .tensor import Tensor, checked_write, copy_into, takes_over_ops


class TraceError(RuntimeError):
    """A traced function did something a trace cannot record faithfully."""


class Untraceable(Exception):
    """The function is fine but a trace cannot stand for it: an op mixed this
    trace's values with another trace's (a scan inside a traced step that
    closes over the outer step's values), or the function switched grad mode
    on while traced under no_grad. The caller runs the function plainly."""


class Instruction:
    """One recorded op call: ``op`` (the public op function, its ``spec`` the
    Primitive) on the values in slots ``args`` (cast to ``casts`` where not
    None), with ``settings``, making the values in slots ``outs``."""

    __slots__ = ("op", "spec", "settings", "args", "outs", "multi", "casts", "saved", "where")

    def __init__(self, op, settings: dict, args: list, outs: list, multi: bool, casts: list | None,
                 where: str | None):
        self.op, self.spec, self.settings = op, op.spec, settings
        self.args, self.outs, self.multi, self.casts, self.where = args, outs, multi, casts, where
        # the slots of the values its VJPs take after ḡ: -1 the output, k argument k
        self.saved = [outs[0] if k < 0 else args[k] for k in self.spec.saves_for(len(args))]

    def describe(self) -> str:
        return f"'{self.spec.name}'" + (f" (created at {self.where})" if self.where else "")


class Trace:
    """The record: ``values`` (every slot's value in the traced call; the
    function's arguments are the first ``arguments``), ``closed`` (slot ->
    the Tensor a closed-over slot holds), ``arrays`` (the slots of NumPy
    arrays the function read: the caller's own, which may change after the
    trace), ``instructions``; ``changed``: the slots whose values an
    in-place change would have changed in a plain run (see the module
    docstring), which the function may no longer read; ``outside_graph``:
    slots a plain run refuses to find requiring grad (those of a copy_ in
    grad mode), or changes in place under a ``no_grad`` inside the step
    (there the tensor keeps its place in the graph, its gradient passing
    the change by: the trace's new value, made under no_grad, passes none);
    ``input_changes``: in-place changes of the function's arguments that a
    plain run must make as new tensors (see change); ``read_values``: whether
    the function read the values of a tensor from outside (see read_value),
    or gave an op a NumPy array in its settings (``clip(x, low=array)``),
    whose values the instruction keeps as they were (a copy): either way
    the trace stands for this call only."""

    def __init__(self):
        self.grad_enabled, self.done = is_grad_enabled(), False
        self.values: list = []
        self.arguments = 0
        self.closed: dict[int, Tensor] = {}
        self.arrays: list[int] = []
        self.changed: set[int] = set()
        self.outside_graph: list[int] = []
        self.input_changes: list[tuple[list, str]] = []
        self.read_values = False
        self.instructions: list[Instruction] = []
        self._slots: dict[int, int] = {}  # id(closed-over tensor) -> its slot
        self._anomaly = is_anomaly_enabled()

    def new_slot(self, value) -> int:
        self.values.append(value)
        return len(self.values) - 1

    def slot_of(self, value) -> int:
        """The slot of an op argument: a Traced value's own; a closed-over
        Tensor's (one per tensor); a fresh constant for anything else."""
        if isinstance(value, Traced):
            if value._trace is not self:
                raise Untraceable
            self.check_unchanged([value._slot])
            return value._slot
        if isinstance(value, Tensor):
            if takes_over_ops(value):
                raise Untraceable  # another transform's value
            slot = self._slots.get(id(value))
            if slot is None:
                slot = self._slots[id(value)] = self.new_slot(value._data)
                self.closed[slot] = value
            return slot
        slot = self.new_slot(constant(value))
        if isinstance(value, np.ndarray):
            self.arrays.append(slot)
        return slot

    def call(self, op, args: tuple, settings: dict):
        """Record ``op(*args, **settings)`` and return Traced output(s)."""
        spec = op.spec
        if self.done:
            raise TraceError(f"'{spec.name}' at {user_frame()} got a value traced inside a step that is over (kept "
                             "in a list or an attribute?): inside a traced step, values are stand-ins; return what "
                             "you need from the step (as its y) instead")
        if spec.random:
            raise TraceError(f"'{spec.name}' draws random numbers inside a traced step, and a replay would not draw "
                             f"again ({user_frame()}): draw them outside (e.g. masks for all steps) and pass them "
                             "in, or run the plain loop (scan(..., unroll=True))")
        if settings:  # a NumPy array among them is copied, as the loop's op keeps what it read (and see read_values)
            copied = {name: _copied(value) for name, value in settings.items()}
            if any(copied[name] is not value for name, value in settings.items()):
                settings, self.read_values = copied, True
        values = self.values
        slots = [a._slot if type(a) is Traced and a._trace is self else self.slot_of(a) for a in args]
        self.check_unchanged(slots, spec.name)
        arrays = [values[s] for s in slots]
        casts = None
        if (spec.promote or spec.floating) and spec.needs_cast(arrays):
            cast = promote_arrays(spec, list(arrays), args)
            if _value_decides_dtype(args, arrays, cast):
                raise Untraceable  # (the loop decides at every step)
            casts = [c.dtype if c.dtype != a.dtype else None for c, a in zip(cast, arrays)]
            arrays = cast
        out = spec.run(arrays, settings)[0]
        multi = type(out) is tuple
        outs = list(range(len(values), len(values) + (len(out) if multi else 1)))
        values.extend(out if multi else (out,))
        self.instructions.append(Instruction(op, settings, slots, outs, multi, casts,
                                             user_frame() if self._anomaly else None))
        traced = tuple([Traced(self, s) for s in outs])
        if is_grad_enabled() != self.grad_enabled:  # the step switched grad mode
            if self.grad_enabled:  # off: the tape would not record this op, so no gradient goes through it
                traced = tuple(stop_gradient(t) for t in traced) if spec.differentiable else traced
            else:  # on, inside a scan under no_grad: the loop would record ops, so let it
                raise Untraceable
        return traced if multi else traced[0]

    def change(self, value: Traced, what: str, new: Instruction | None = None) -> None:
        """``value`` changes in place (``what``; its new value is made, by
        the instruction ``new`` for ``x op= y``). The values that share its
        data in a plain run (its own, views of it, a detached copy) are
        changed. If that would change one of the function's arguments (the
        caller's tensor), a TraceError -- unless the plain run makes the new
        tensor instead (``x op= y`` with grad mode on and x or y requiring
        grad, as the tape does) at every step of the loop, changing nothing:
        whether it does is known once the loop's requires_grad flags are (the
        caller checks ``input_changes``: the slots x and y of each such
        change, and its error)."""
        slot = value._slot
        shared = [s for s, v in enumerate(self.values) if s == slot or np.may_share_memory(self.values[slot], v)]
        if shared[0] < self.arguments:
            why = "" if new is None else (" (in a step where neither operand requires grad, or under no_grad, "
                                          "x += y changes x)")
            message = (f"{what} at {user_frame()} changes an input of a traced step in place (the carry, a slice of "
                       "xs, a const, or a view or detached copy of one): the plain loop would change the caller's "
                       f"tensor{why}, and every y that holds it, which a replay cannot do. Make a new tensor instead "
                       "(i = i + 1, not i += 1), or run the plain loop (scan(..., unroll=True))")
            if new is None or not is_grad_enabled():
                raise TraceError(message)
            self.input_changes.append((new.args, message))
            return  # (then nothing changes in a plain run: every name keeps the value it had)
        self.changed.update(shared)

    def check_unchanged(self, slots: list, op: str | None = None) -> None:
        """A TraceError if one of ``slots`` (the arguments of ``op``, or what
        the function returns) holds a value an in-place change changed (see change)."""
        if self.changed and not self.changed.isdisjoint(slots):
            what = f"'{op}' at {user_frame()} reads" if op else "the traced step returns"
            raise TraceError(f"{what} a value that was changed in place earlier in the traced step through "
                             "another name for it (a view, a detached copy, the same tensor kept under another "
                             "name): the plain loop would see the changed value (or in the graph, where x += y "
                             "makes a new tensor, the old one), a replay only one of them. Make a new tensor instead "
                             "(x = x + y), or run the plain loop (scan(..., unroll=True))")

    def read_value(self) -> None:
        """The function read the values of a tensor that is not one of its
        own (those it may not read): one it closes over, or made from
        constants. What it computed from them is in the trace as constants,
        so the trace stands for this call only (a later one may find other
        values there)."""
        self.read_values = True

    def outside_change(self, what: str) -> None:
        """A tensor that is not a value of the function (closed over, or made
        from constants in it) is about to change in place: a TraceError."""
        raise TraceError(f"{what} at {user_frame()} changes in place a tensor that is not a value of the traced "
                         "step: one it closes over (the plain loop would change it at every step, a replay never), "
                         "or one it makes from constants (a buffer, a layer built in the step: a trace cannot tell "
                         "one made afresh at every step from one made once and kept). Make a new tensor instead "
                         "(x = x + y), build it outside the step or from the step's values, pass state through the "
                         "carry, or run the plain loop (scan(..., unroll=True))")


def _value_decides_dtype(args: tuple, arrays: list, cast: list) -> bool:
    """Did the dtype rule depend here on the value of a 0-d integer tensor,
    which may differ from step to step or call to call? It did if the rule
    cast one to a dtype that cannot hold all its values: a number that does
    not fit the other operand's dtype is compared in a wider one, or refused
    in arithmetic (ops._fitting), so a replay of the cast made for the traced
    value could wrap (uint8 == 256 as uint8 == 0). (An int32 counter meeting
    int64 lengths is cast safely, whatever its value.)"""
    return any(isinstance(x, Tensor) and a.ndim == 0 and a.dtype.kind in "iu" and c.dtype != a.dtype
               and not np.can_cast(a.dtype, c.dtype) for x, a, c in zip(args, arrays, cast))


def _copied(setting):
    """An op's setting with the NumPy arrays in it (in tuples and lists too)
    copied; the setting itself if it holds none."""
    if isinstance(setting, np.ndarray):
        return setting.copy()
    if type(setting) in (tuple, list):
        items = [_copied(item) for item in setting]
        if any(new is not old for new, old in zip(items, setting)):
            return type(setting)(items)
    return setting


class _Recording(threading.local):
    """The trace being recorded in this thread (the innermost), or None:
    what minigrad.tensor tells of a read of a tensor's values and of an
    in-place change of a tensor."""

    trace: Trace | None = None


recording = _Recording()


class _Unread:
    """What a Traced tensor holds instead of its array: the shape and dtype,
    which a function may read, and a refusal for anything that reads the
    values (``mg.tensor(t)``, or library code that takes a tensor's array)."""

    __slots__ = ("shape", "dtype", "ndim", "size")

    def __init__(self, value: np.ndarray):
        self.shape, self.dtype, self.ndim, self.size = value.shape, value.dtype, value.ndim, value.size

    def __array__(self, dtype=None, copy=None):
        _refuse("taking its array (mg.tensor(t), np.array(t.data), ...)", self.shape)


def _refuse(what: str, shape: tuple):
    raise TraceError(f"{what} reads the value of a traced tensor (shape {shape}) at {user_frame()}; a traced "
                     "step is recorded once and replayed, so its values are not known. Write it with minigrad ops "
                     "(mg.where instead of if, t.detach() instead of mg.tensor(t), ...), pass what depends on the "
                     "data in through the inputs, or run the plain loop (scan(..., unroll=True))")


class Traced(Tensor):
    """A value of a function being traced (see the module docstring)."""

    __slots__ = ("_trace", "_slot")

    def __init__(self, trace: Trace, slot: int):
        self._data, self._grad, self._node, self._index, self._version = _Unread(trace.values[slot]), None, None, 0, [0]
        self._trace, self._slot = trace, slot

    @property
    def requires_grad(self):
        """Not known while tracing: the loop's tensor may require grad at one step and not at another, and
        code that asks (x.requires_grad, x += y deciding between in place and a new tensor) may choose
        differently. Asking hands the call to the plain loop, which knows."""
        if self._trace.done:
            raise TraceError(f"requires_grad of a value traced inside a step that is over (kept in a list or an "
                             f"attribute?), at {user_frame()}: return what you need from the step (as its y) instead")
        raise Untraceable

    @staticmethod
    def __minigrad_dispatch__(op, args: tuple, settings: dict):
        trace = next(a._trace for a in args if isinstance(a, Traced))
        return trace.call(op, args, settings)

    @property
    def data(self):
        _refuse(".data", self.shape)

    @data.setter
    def data(self, value):
        raise TraceError(f"assigning to .data of a traced tensor (shape {self.shape}) at {user_frame()}: write the "
                         "new value as a new tensor (x = ...), or run the plain loop (scan(..., unroll=True))")

    def numpy(self):
        _refuse("numpy()/item()/bool()/float()/int()/np.asarray()", self.shape)

    def __array__(self, dtype=None, copy=None):
        _refuse("taking its array (mg.tensor(t), np.array(t.data), ...)", self.shape)

    def detach(self) -> Tensor:
        """A stop_gradient, whose value in the trace is this one's very
        array: Tensor.detach shares the data (see Trace.change)."""
        detached = stop_gradient(self)
        detached._trace.values[detached._slot] = self._trace.values[self._slot]
        return detached

    def copy_(self, source) -> Tensor:
        """Overwrite the value with ``source``, checked as Tensor.copy_ checks
        it: from now on this tensor stands for source broadcast to its shape
        and cast to its dtype, so every name for it sees the copy, as in the
        plain loop. (In grad mode the two must not require grad; under a
        no_grad inside the step, this one keeps its gradient in the loop:
        see ``Trace.outside_graph``.)"""
        trace = self._trace
        if not isinstance(source, Traced):  # a number, an array, a tensor from outside: a value of the trace
            source = Traced(trace, trace.slot_of(source))
        checked_write(copy_into, np.empty(self.shape, self.dtype), np.empty(source.shape, source.dtype), "copy_")
        new = astype(broadcast_to(source, self.shape), self.dtype)
        trace.change(self, "in-place copy_")
        if is_grad_enabled():
            trace.outside_graph += [self._slot, source._slot]
        elif trace.grad_enabled:
            trace.outside_graph.append(self._slot)
        self._slot = new._slot
        return self

    def _inplace(self, other, ufunc, op) -> Tensor:
        """``self op= other``: the new value ``self op other`` (module docstring, "In-place changes")."""
        trace = self._trace
        made_by = len(trace.instructions)
        new = op(self, other)
        what = f"in-place {ufunc.__name__}"
        if new.shape != self.shape or new.dtype != self.dtype:
            raise TraceError(f"{what} at {user_frame()} gives a {new.dtype} value of shape {new.shape} for a "
                             f"{self.dtype} one of shape {self.shape}: the plain loop keeps the tensor's dtype and "
                             "shape (or fails) outside the graph, makes the new tensor inside it, and a traced step "
                             "cannot tell which it will be. Write x = x + y, or run the plain loop "
                             "(scan(..., unroll=True))")
        trace.change(self, what, trace.instructions[made_by])
        if trace.grad_enabled and not is_grad_enabled():
            trace.outside_graph.append(self._slot)
        return new

    def backward(self, *args, **kwargs):
        raise TraceError(f"backward() inside a traced step ({user_frame()}): differentiate the whole loop instead")

    def __repr__(self) -> str:
        return f"traced(shape={self.shape}, dtype={self.dtype})"


def trace(fn: Callable, inputs: Sequence[np.ndarray], name: str = "the function",
          closed: Sequence[Tensor] = ()) -> tuple[Trace, object]:
    """Call ``fn(*traced_inputs, *traced_closed)`` and return the trace
    (inputs are slots 0..n-1, then the ``closed`` tensors, which the trace
    keeps as closed-over tensors but hands to ``fn`` as stand-ins, so that
    what ``fn`` computes from them is recorded too) and what ``fn`` returned.
    Raises TraceError for what cannot be recorded (``name`` says whose fault
    it is), Untraceable for what only a plain run can do."""
    record = Trace()
    traced = [Traced(record, record.new_slot(value)) for value in inputs]
    for tensor in closed:  # (not in _slots: the same tensor reached by a closure gets a slot of its own)
        slot = record.new_slot(tensor._data)
        record.closed[slot] = tensor
        traced.append(Traced(record, slot))
    record.arguments = len(record.values)
    uses = _random.generator_uses()  # (counted in this thread: another thread's draws are not ours)
    outer, recording.trace = recording.trace, record
    try:
        result = fn(*traced)
    except ValueError as error:
        message = _wrote_into_a_read_array(error) if record.read_values else None
        if message:  # (see minigrad.tensor._read)
            raise TraceError(message) from error
        raise
    finally:
        record.done, recording.trace = True, outer
    if _random.generator_uses() != uses:
        raise TraceError(f"{name} drew random numbers (from minigrad's generator or one given as rng=) while it was "
                         "traced, and a replay would not draw again: draw them outside (e.g. masks for all steps) "
                         "and pass them in, or run the plain loop (scan(..., unroll=True))")
    return record, result


def _wrote_into_a_read_array(error: ValueError) -> str | None:
    """The message for NumPy's error at a write into a tensor's array that a
    function being traced took (t.data, t.numpy(): read-only while traced),
    or None if ``error`` is not that."""
    tb = error.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    frame = tb.tb_frame
    if "read-only" not in str(error) or frame.f_globals.get("__name__", "").startswith("minigrad."):
        return None
    while frame.f_back is not None and frame.f_globals.get("__name__", "").startswith("numpy."):
        frame = frame.f_back  # (where your code called NumPy)
    return (f"writing into the array of a tensor (t.data -= v, t.data[...] = v, np.add(..., out=t.numpy())) at "
            f"{user_frame(frame)} ({error}): while a step is traced, the arrays of tensors are handed out "
            "read-only, and nothing was changed. The plain loop would change the tensor at every step, a replay "
            "never: change it outside the step, make a new tensor (x = x + y), or run the plain loop "
            "(scan(..., unroll=True))")
