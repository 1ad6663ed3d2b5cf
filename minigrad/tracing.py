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
ops), and refuses what it cannot record: reading a traced value (``.item()``,
``float()``, ``if t > 0:``, ``np.asarray``, ``.data``), random draws, which a
replay would repeat. Those raise :class:`TraceError` at the line that did it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from . import random as _random
from .engine import is_anomaly_enabled, user_frame
from .ops import constant, promote_arrays, stop_gradient
from .tensor import Tensor


class TraceError(RuntimeError):
    """A traced function did something a trace cannot record faithfully."""


class ForeignValue(Exception):
    """An op mixed values of this trace with another trace's (or another
    transform's): the caller falls back to running the function plainly."""


class Instruction:
    """One recorded op call: ``op`` (the public op function, its ``spec`` the
    Primitive) on the values in slots ``args`` (cast to ``casts`` where not
    None), with ``settings``, making the values in slots ``outs``."""

    __slots__ = ("op", "spec", "settings", "args", "outs", "multi", "casts", "made", "where")

    def __init__(self, op, settings: dict, args: list, outs: list, multi: bool, casts: list | None, made,
                 where: str | None):
        self.op, self.spec, self.settings = op, op.spec, settings
        self.args, self.outs, self.multi, self.casts, self.where = args, outs, multi, casts, where
        self.made = made  # the VJPs the traced call returned (for ops whose VJPs are closures)

    def describe(self) -> str:
        return f"'{self.spec.name}'" + (f" (created at {self.where})" if self.where else "")


class Trace:
    """The record: ``values`` (every slot's value in the traced call),
    ``closed`` (slot -> the Tensor a closed-over slot holds), ``instructions``."""

    def __init__(self):
        self.values: list = []
        self.closed: dict[int, Tensor] = {}
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
                raise ForeignValue
            return value._slot
        if isinstance(value, Tensor):
            if getattr(type(value), "__minigrad_dispatch__", None) is not None:
                raise ForeignValue  # another transform's value
            slot = self._slots.get(id(value))
            if slot is None:
                slot = self._slots[id(value)] = self.new_slot(value._data)
                self.closed[slot] = value
            return slot
        return self.new_slot(constant(value))

    def call(self, op, args: tuple, settings: dict):
        """Record ``op(*args, **settings)`` and return Traced output(s)."""
        spec = op.spec
        if spec.random:
            raise TraceError(f"'{spec.name}' draws random numbers inside a traced step, and a replay would not draw "
                             f"again ({user_frame()}): draw them outside (e.g. masks for all steps) and pass them "
                             "in, or run the plain loop (scan(..., unroll=True))")
        slots = [self.slot_of(a) for a in args]
        arrays = [self.values[s] for s in slots]
        casts = None
        if (spec.promote or spec.floating) and spec.needs_cast(arrays):
            cast = promote_arrays(spec, list(arrays), args)
            casts = [c.dtype if c.dtype != a.dtype else None for c, a in zip(cast, arrays)]
            arrays = cast
        out, vjps = spec.run(arrays, settings)
        multi = type(out) is tuple
        outs = [self.new_slot(o) for o in (out if multi else (out,))]
        self.instructions.append(Instruction(op, settings, slots, outs, multi, casts,
                                             vjps if spec.vjps is None else None,
                                             user_frame() if self._anomaly else None))
        traced = tuple(Traced(self, s) for s in outs)
        return traced if multi else traced[0]


class Traced(Tensor):
    """A value of a function being traced (see the module docstring)."""

    __slots__ = ("_trace", "_slot")

    def __init__(self, trace: Trace, slot: int):
        self._data, self.grad, self.requires_grad, self._node, self._index, self._version = \
            trace.values[slot], None, False, None, 0, [0]
        self._trace, self._slot = trace, slot

    @staticmethod
    def __minigrad_dispatch__(op, args: tuple, settings: dict):
        trace = next(a._trace for a in args if isinstance(a, Traced))
        return trace.call(op, args, settings)

    def _refuse(self, what: str):
        raise TraceError(f"{what} reads the value of a traced tensor (shape {self.shape}) at {user_frame()}; a "
                         "traced step is recorded once and replayed, so its values are not known. Write it with "
                         "minigrad ops (mg.where instead of if, ...), pass what depends on the data in through "
                         "the inputs, or run the plain loop (scan(..., unroll=True))")

    @property
    def data(self):
        self._refuse(".data")

    def numpy(self):
        self._refuse("numpy()/item()/bool()/float()/int()/np.asarray()")

    def detach(self) -> Tensor:
        return stop_gradient(self)

    def backward(self, *args, **kwargs):
        raise TraceError(f"backward() inside a traced step ({user_frame()}): differentiate the whole loop instead")

    def __repr__(self) -> str:
        return f"traced(shape={self.shape}, dtype={self.dtype})"


def trace(fn: Callable, inputs: Sequence[np.ndarray]) -> tuple[Trace, object]:
    """Call ``fn(*traced_inputs)`` and return the trace (inputs are slots
    0..n-1) and what ``fn`` returned. Raises TraceError for what cannot be
    recorded, ForeignValue if ``fn`` mixes in another trace's values."""
    record = Trace()
    traced = [Traced(record, record.new_slot(value)) for value in inputs]
    generator = _random.get_rng()
    state = generator.bit_generator.state
    result = fn(*traced)
    if _random.get_rng() is not generator or generator.bit_generator.state != state:
        raise TraceError("the step drew random numbers from minigrad's generator while it was traced, and a replay "
                         "would not draw again: draw them outside (e.g. masks for all steps) and pass them in, or "
                         "run the plain loop (scan(..., unroll=True))")
    return record, result
