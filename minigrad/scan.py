"""scan: a loop over time recorded as one node (as jax.lax.scan).

    ys, final = mg.scan(step, carry, xs, reverse=False)

runs ``carry, y = step(carry, x_t)`` for t = 0..T−1 (T−1..0 if ``reverse``),
``x_t`` the t-th slices (along axis 0) of the tensors in ``xs``, and returns
the ys stacked along a new axis 0 in time order and the last carry: what the
Python loop gives, but the tape holds one node instead of T copies of the
step's ops, and the loop runs at nearly NumPy speed.

How. The step is traced once, on the first slice: every primitive it calls
is logged (forward function, settings, arguments, outputs) and each value
gets a numbered slot. The other steps replay the log on bare arrays -- no
Tensors, no Nodes -- keeping per step only the values the VJPs need. The
backward replays the log backwards, step by step, calling the very VJPs the
tape would call, and lets go of each step's values once it is done with them
(a second backward, with ``retain_graph``, replays the forward again). Two
more savings:

- an op whose arguments do not change over the loop (a weight the step closes
  over, a slice of it) is *invariant*: it runs once, not T times;
- the gradient of an invariant that a per-step op uses (W in ``h @ W``) is
  not summed step by step: its VJP runs on many steps' values stacked along
  axis 0 (``CHUNK_ROWS`` rows at a time) -- for W a few large products Hᵀ·Ḡ
  instead of T small ones. This is why the contract says what it says.

The contract (every recurrent cell keeps it):

- the step is built from minigrad ops on its arguments and on tensors it
  closes over; anything it works out otherwise (NumPy on ``.data``,
  comparisons, random numbers) is frozen at its value in the first step;
- axis 0 of the carries and slices is the batch: the step treats the rows
  alike and independently, and what it closes over is shared by all rows.

A backward with ``create_graph`` re-runs the loop on the tape and
differentiates that, so gradients of gradients are exact.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import itemgetter

import numpy as np

from .engine import _mode, backward, record, set_grad_enabled, unbroadcast
from .ops import stack
from .tensor import Tensor

CHUNK_ROWS = 256  # rows (steps × batch) stacked for one VJP of an invariant


def scan(step: Callable, carry: Sequence[Tensor], xs: Sequence[Tensor], reverse: bool = False):
    """``(ys, final_carry)`` of ``carry, y = step(carry, x_t)`` over axis 0 of ``xs``
    (see the module docstring). ``carry`` and ``xs`` are sequences of Tensors;
    ``step`` gets and returns the carry as a tuple, and ``x_t`` as a tuple."""
    carry, xs = tuple(map(_tensor, carry)), tuple(map(_tensor, xs))
    if not xs or any(x.ndim == 0 for x in xs) or len({x.shape[0] for x in xs}) != 1 or xs[0].shape[0] == 0:
        raise ValueError(f"scan: xs must be one or more tensors with the same number (> 0) of steps on axis 0, "
                         f"got shapes {[x.shape for x in xs]}")
    order = range(xs[0].shape[0] - 1, -1, -1) if reverse else range(xs[0].shape[0])
    if not _mode.grad_enabled:
        return _unrolled(step, carry, xs, order)
    program = _Program(step, carry, xs, order[0])
    inputs = carry + xs + program.captured
    if not any(x.requires_grad for x in inputs):
        return _unrolled(step, carry, xs, order)
    carry_arrays, x_arrays = [c.data for c in carry], [x.data for x in xs]
    ys, frames, closures = program.run(carry_arrays, x_arrays, order, program.first)
    program.first = None
    final = tuple(frames[order[-1]][s] for s in program.carry_out)
    memo: dict = {"tape": (frames, closures)}
    del frames, closures
    wanted = [x.requires_grad for x in inputs]

    def vjp(g: tuple, i: int):
        if memo.get("g") is not g:  # the engine asks once per input: work them all out at the first
            if any(isinstance(gi, Tensor) for gi in g):  # create_graph: differentiate the loop on the tape
                memo["grads"] = _retraced_vjp(step, carry, xs, order, inputs, g)
            else:  # the backward consumes the frames; a second one (retain_graph) replays the forward
                tape = memo.pop("tape", None) or program.run(carry_arrays, x_arrays, order)[1:]
                memo["grads"] = program.backward(*tape, order, g, wanted)
            memo["g"] = g
        return memo["grads"][i]

    outs = record("scan", inputs, (ys, *final), tuple(lambda g, i=i: vjp(g, i) for i in range(len(inputs))))
    return outs[0], outs[1:]


def _tensor(x) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"scan: carry and xs must be Tensors, got {type(x).__name__}")
    return x


def _unrolled(step: Callable, carry: tuple, xs: tuple, order: range):
    """The plain Python loop (recorded op by op if grad mode is on)."""
    ys: list = [None] * len(order)
    for t in order:
        carry, ys[t] = step(carry, tuple(x[t] for x in xs))
        carry = tuple(carry)
    return stack(ys), carry


def _retraced_vjp(step: Callable, carry: tuple, xs: tuple, order: range, inputs: tuple, g: tuple) -> list:
    """The scan's VJP in a create_graph backward: the loop re-run on the tape
    and differentiated up to (not past) the scan's inputs, itself on the tape."""
    with set_grad_enabled(True):
        ys, final = _unrolled(step, carry, xs, order)
        pairs = [(out, gi) for out, gi in zip((ys, *final), g) if gi is not None and out.requires_grad]
        return backward([out for out, _ in pairs], [gi for _, gi in pairs], retain_graph=True,
                        create_graph=True, inputs=inputs, stop_at_inputs=True)


def _getter(slots: list) -> Callable[[list], tuple]:
    """values -> the tuple of values at ``slots`` (operator.itemgetter, which
    gives a bare value for a single slot, wrapped to always give a tuple)."""
    if len(slots) == 1:
        (slot,) = slots
        return lambda values: (values[slot],)
    return itemgetter(*slots) if slots else (lambda values: ())


class _Instruction:
    """One logged primitive call: how to run it again and differentiate it.
    ``saved`` are the slots of the values its VJPs take after ḡ; ``grad_args``
    the arguments that need a gradient, as (position, slot, batched)."""

    __slots__ = ("forward", "settings", "vjps", "trace_vjps", "args", "outs", "multi", "saved", "grad_args")

    def __init__(self, forward, settings, vjps, trace_vjps, args, outs, multi, saved):
        self.forward, self.settings, self.vjps, self.trace_vjps = forward, settings, vjps, trace_vjps
        self.args, self.outs, self.multi, self.saved = args, outs, multi, saved
        self.grad_args: list = []


class _Program:
    """The traced step: instructions over numbered slots.

    Slots: the carry, the x slices, then every other value the step touches.
    A slot *varies* if it changes from step to step (it depends on the carry
    or the slices) and *needs grad* if it depends on something that requires
    grad. ``template`` holds the values of the invariant slots."""

    def __init__(self, step: Callable, carry: tuple, xs: tuple, first: int):
        self.template: list = []
        self.varies: list[bool] = []
        self.needs_grad: list[bool] = []
        self.captured: tuple = ()  # tensors the step closes over that require grad: inputs of the scan node
        slots: dict[int, int] = {}  # id(tensor) -> slot
        self._tensors: list = []  # the tensors whose id() is a key of ``slots``, kept alive while tracing

        def new_slot(value, varies: bool, needs_grad: bool, tensor: Tensor | None = None) -> int:
            if tensor is not None:
                slots[id(tensor)] = len(self.template)
                self._tensors.append(tensor)
            self.template.append(value)
            self.varies.append(varies)
            self.needs_grad.append(needs_grad)
            return len(self.template) - 1

        def slot_of(tensor: Tensor) -> int:
            if id(tensor) not in slots:  # from outside the step: invariant
                new_slot(tensor.data, False, tensor.requires_grad, tensor)
                if tensor.requires_grad:
                    self.captured += (tensor,)
            return slots[id(tensor)]

        # trace: run the step once on the first slices, logging every primitive it calls
        carry_in = tuple(Tensor._make(c.data) for c in carry)
        x_in = tuple(Tensor._make(x.data[first]) for x in xs)
        self.carry_in = [new_slot(c.data, True, True, c) for c in carry_in]
        self.x_in = [new_slot(x.data, True, outer.requires_grad, x) for x, outer in zip(x_in, xs)]
        log: list = []
        previous, _mode.tracer = _mode.tracer, log
        try:
            with set_grad_enabled(False):
                returned = step(carry_in, x_in)
        finally:
            _mode.tracer = previous
        new_carry, y = returned if isinstance(returned, tuple) and len(returned) == 2 else ((), None)
        new_carry = tuple(new_carry) if isinstance(new_carry, (tuple, list)) else ()
        if len(new_carry) != len(carry) or not all(isinstance(c, Tensor) for c in (*new_carry, y)):
            raise ValueError(f"scan: step must return (carry, y): a tuple of {len(carry)} Tensors and a Tensor")
        for k, (old, new) in enumerate(zip(carry, new_carry)):
            if old.shape != new.shape or old.dtype != new.dtype:
                raise ValueError(f"scan: carry[{k}] goes in as {old.shape} {old.dtype} but comes out of step as "
                                 f"{new.shape} {new.dtype}")

        self.whole: list = []  # (output slots, slot of their tuple) of multi-output ops whose VJPs take the outputs
        self.steps: list[_Instruction] = []  # replayed every step
        self.invariant: list[_Instruction] = []  # run once (in the trace)
        for forward, settings, vjps, fixed, saves, args, result in log:
            arg_slots = [slot_of(a) for a in args]
            varies = any(self.varies[s] for s in arg_slots)
            needs_grad = any(self.needs_grad[s] for s in arg_slots)
            multi = type(result) is tuple
            outs = [new_slot(o.data, varies, needs_grad, o) for o in (result if multi else (result,))]
            if multi and -1 in saves:  # a multi-output op's VJPs get its outputs as one tuple
                whole = new_slot(tuple(o.data for o in result), varies, False)
                self.whole.append((outs, whole))
                saved = [whole if k < 0 else arg_slots[k] for k in saves]
            else:
                saved = [outs[0] if k < 0 else arg_slots[k] for k in saves]
            ins = _Instruction(forward, settings or None, vjps if fixed else None, vjps, arg_slots, outs, multi,
                               saved)
            if varies:  # an invariant's gradient is batched over steps (single-output ops with fixed VJPs)
                ins.grad_args = [(j, s, not self.varies[s] and not multi and fixed)
                                 for j, s in enumerate(arg_slots) if self.needs_grad[s]]
            (self.steps if varies else self.invariant).append(ins)
        self.carry_out = [slot_of(c) for c in new_carry]
        self.y_slot = slot_of(y)
        self.captured_slots = [slots[id(t)] for t in self.captured]
        del self._tensors

        self.rows = xs[0].shape[1] if xs[0].ndim > 1 else 1
        for s, value in enumerate(self.template):
            if self.varies[s] and type(value) is not tuple and (value.ndim == 0 or value.shape[0] != self.rows):
                raise ValueError(f"scan: every value that changes over the loop must have the batch ({self.rows} "
                                 f"rows, axis 1 of xs) on axis 0; the step made one of shape {value.shape}")
        self.shapes = [None if type(v) is tuple else (v.shape, v.dtype) for v in self.template]
        needed = {self.y_slot, *self.carry_out, *(s for ins in self.steps for s in ins.saved)}
        self.dropped = [s for s in range(len(self.template)) if self.varies[s] and s not in needed]
        self.first = (self.template, [ins.trace_vjps for ins in self.steps])  # the first step's frame: the trace's
        self.template = [None if self.varies[s] else value for s, value in enumerate(self.template)]

    def run(self, carry: list, xs: list, order: range, first: tuple | None = None) -> tuple[np.ndarray, list, list]:
        """The stacked ys, every step's frame (the slot values its backward
        needs) and the VJPs its ops returned, from the carry's and xs' arrays.
        ``first`` is the trace's frame and VJPs, used for the first step
        instead of running it. Each y is copied into the stacked ys as soon as
        it is made and the frame keeps that copy, so ys cost no extra memory."""
        y_shape, y_dtype = self.shapes[self.y_slot]
        ys = np.empty((len(order), *y_shape), y_dtype)
        frames: list = [None] * len(order)
        closures: list = [None] * len(order)
        plan = [(ins.forward, _getter(ins.args), ins.settings, ins.vjps is None, ins.multi, ins.outs)
                for ins in self.steps]
        previous = None
        for t in order:
            if first is not None and t == order[0]:
                values, made = first
            else:
                values = self.template.copy()
                for k, s in enumerate(self.carry_in):
                    values[s] = carry[k] if previous is None else previous[self.carry_out[k]]
                for s, x in zip(self.x_in, xs):
                    values[s] = x[t]
                made = []
                for forward, take_args, settings, returns_vjps, multi, outs in plan:
                    arrays = take_args(values)
                    out = forward(*arrays, **settings) if settings else forward(*arrays)
                    if returns_vjps:
                        out, vjps = out
                        made.append(vjps if type(vjps) is tuple else (vjps,))
                    else:
                        made.append(None)
                    if multi:
                        for s, o in zip(outs, out):
                            values[s] = o
                    else:
                        values[outs[0]] = out
                for outs, whole in self.whole:
                    values[whole] = tuple(values[s] for s in outs)
            ys[t] = values[self.y_slot]
            values[self.y_slot] = ys[t]
            for s in self.dropped:
                values[s] = None
            frames[t], closures[t], previous = values, made, values
        return ys, frames, closures

    def backward(self, frames: list, closures: list, order: range, g: tuple, wanted: list) -> list:
        """The scan node's input gradients (carry, xs, captured) for its output
        gradients ``g`` = (ȳs, *carry̅), all arrays; uses up ``frames``."""
        shapes, n_carry = self.shapes, len(self.carry_in)
        g_ys, carry_grads = g[0], list(g[1:])
        x_grads = [[None] * len(order) if wanted[n_carry + k] else None for k in range(len(self.x_in))]
        invariant_grads: list = [None] * len(self.template)
        pending: dict[tuple, list] = {}  # (instruction, argument) -> per-step (ḡ, saved) for one batched VJP
        chunk = max(1, CHUNK_ROWS // self.rows)
        plan = [(k, ins.outs[0], ins.outs if ins.multi else None, ins.vjps, _getter(ins.saved),
                 [(j, s, batched, *shapes[s], self.varies[s]) for j, s, batched in ins.grad_args])
                for k, ins in reversed(list(enumerate(self.steps)))]
        for done, t in enumerate(reversed(order)):
            values, made, grads = frames[t], closures[t], [None] * len(self.template)
            frames[t] = closures[t] = None
            for s, grad in zip(self.carry_out, carry_grads):
                if grad is not None:
                    grads[s] = grad if grads[s] is None else grads[s] + grad
            if g_ys is not None:
                s = self.y_slot
                grads[s] = g_ys[t] if grads[s] is None else grads[s] + g_ys[t]
            for k, out, outs, fixed, take_saved, grad_args in plan:
                if outs is None:
                    g_out = grads[out]
                    if g_out is None:
                        continue
                else:
                    g_out = tuple([grads[s] for s in outs])
                    if all(gi is None for gi in g_out):
                        continue
                saved = take_saved(values)
                vjps = fixed or made[k]
                for j, s, batched, shape, dtype, varies in grad_args:
                    if batched:
                        pending.setdefault((k, j), []).append((g_out, saved))
                        continue
                    grad = vjps[j](g_out, *saved)
                    if grad is None:
                        continue
                    if grad.shape != shape:
                        grad = unbroadcast(grad, shape)
                    if grad.dtype != dtype:
                        grad = grad.astype(dtype)
                    into = grads if varies else invariant_grads  # (an invariant: a multi-output op's input)
                    into[s] = grad if into[s] is None else into[s] + grad  # never in place: grad may be ḡ
            carry_grads = [grads[s] for s in self.carry_in]
            for x_grad, s in zip(x_grads, self.x_in):
                if x_grad is not None:
                    x_grad[t] = np.zeros(*shapes[s]) if grads[s] is None else grads[s]
            if (done + 1) % chunk == 0 or done + 1 == len(order):
                self._flush(pending, invariant_grads)
        self._invariant_backward(invariant_grads)
        return ([grad if want else None for grad, want in zip(carry_grads, wanted)]
                + [None if x is None else np.stack(x) for x in x_grads]
                + [invariant_grads[s] for s in self.captured_slots])

    def _flush(self, pending: dict, invariant_grads: list) -> None:
        """Run each pending invariant's VJP once, on the steps' ḡ and saved
        values stacked along axis 0 (the batch), and add what it gives."""
        for (k, j), per_step in pending.items():
            ins = self.steps[k]
            g_out = np.concatenate([g for g, _ in per_step])
            saved = [np.concatenate([values[n] for _, values in per_step]) if self.varies[s] else per_step[0][1][n]
                     for n, s in enumerate(ins.saved)]
            self._add_invariant(invariant_grads, ins.args[j], ins.vjps[j](g_out, *saved))
        pending.clear()

    def _invariant_backward(self, invariant_grads: list) -> None:
        """The ops that ran once, differentiated once (backwards)."""
        for ins in reversed(self.invariant):
            g_out = (tuple(invariant_grads[s] for s in ins.outs) if ins.multi else invariant_grads[ins.outs[0]])
            if g_out is None or (ins.multi and all(gi is None for gi in g_out)):
                continue
            saved = [self.template[s] for s in ins.saved]
            for j, s in enumerate(ins.args):
                if self.needs_grad[s]:
                    self._add_invariant(invariant_grads, s, ins.trace_vjps[j](g_out, *saved))

    def _add_invariant(self, invariant_grads: list, slot: int, grad) -> None:
        if grad is None:
            return
        shape, dtype = self.shapes[slot]
        grad = unbroadcast(grad, shape) if grad.shape != shape else grad
        grad = grad.astype(dtype) if grad.dtype != dtype else grad
        invariant_grads[slot] = grad if invariant_grads[slot] is None else invariant_grads[slot] + grad
