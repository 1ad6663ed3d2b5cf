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
(a second backward, with ``retain_graph``, replays the forward again). The
log's ops fall in three kinds, by what their arguments depend on:

- *invariant* -- only what the step closes over (a weight, a slice of it):
  run once, not T times;
- *hoisted* -- the slices ``x_t`` but not the carry (the input projection
  ``x_t @ W_ih + b``): run on many steps' rows stacked along axis 0, so T
  small products become a few large ones; its VJPs run the same way;
- *per step* -- everything that depends on the carry. The gradient of an
  invariant such an op uses (W in ``h @ W``) is not summed step by step
  either: its VJP runs on many steps' values stacked -- a few large
  products Hᵀ·Ḡ instead of T small ones.

"Many steps" is a block of ``BLOCK_ROWS`` rows: the forward runs the
hoisted ops a block at a time as the loop reaches it, and the backward, as
it finishes a block, runs that block's batched weight VJPs and hoisted VJPs
-- so neither the projected input nor its gradient is ever held whole.
(Hoisted ops whose VJPs need more than the xs run on all steps at once.)

The contract (every recurrent cell keeps it) is what makes stacking rows
legal:

- the step is built from minigrad ops on its arguments and on tensors it
  closes over; anything it works out otherwise (NumPy on ``.data``,
  comparisons, random numbers) is frozen at its value in the first step;
- axis 0 of the carries and slices is the batch: the step treats the rows
  alike and independently (no op mixes rows or bakes in their number), and
  what it closes over is shared by all rows.

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

BLOCK_ROWS = 1024  # rows (steps × batch) that hoisted ops and batched weight VJPs run on at a time


def scan(step: Callable, carry: Sequence[Tensor], xs: Sequence[Tensor], reverse: bool = False):
    """``(ys, final_carry)`` of ``carry, y = step(carry, x_t)`` over axis 0 of ``xs``
    (see the module docstring). ``carry`` and ``xs`` are sequences of Tensors;
    ``step`` gets and returns the carry as a tuple, and ``x_t`` as a tuple."""
    carry, xs = tuple(map(_tensor, carry)), tuple(map(_tensor, xs))
    if not xs or any(x.ndim == 0 for x in xs) or len({x.shape[0] for x in xs}) != 1 or xs[0].shape[0] == 0:
        raise ValueError(f"scan: xs must be one or more tensors with the same number (> 0) of steps on axis 0, "
                         f"got shapes {[x.shape for x in xs]}")
    order = range(xs[0].shape[0] - 1, -1, -1) if reverse else range(xs[0].shape[0])
    program = _Program(step, carry, xs, order[0])
    inputs = carry + xs + program.captured
    carry_arrays, x_arrays = [c.data for c in carry], [x.data for x in xs]
    recording = _mode.grad_enabled and any(x.requires_grad for x in inputs)
    ys, final, tape = program.run(carry_arrays, x_arrays, order, keep=recording)
    if not recording:
        return Tensor._make(ys), tuple(map(Tensor._make, final))
    memo: dict = {"tape": tape}
    del tape
    wanted = [x.requires_grad for x in inputs]

    def vjp(g: tuple, i: int):
        if memo.get("g") is not g:  # the engine asks once per input: work them all out at the first
            if any(isinstance(gi, Tensor) for gi in g):  # create_graph: differentiate the loop on the tape
                memo["grads"] = _retraced_vjp(step, carry, xs, order, inputs, g)
            else:  # the backward consumes the frames; a second one (retain_graph) replays the forward
                tape = memo.pop("tape", None) or program.run(carry_arrays, x_arrays, order, keep=True)[2]
                memo["grads"] = program.backward(tape, order, g, wanted)
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
    or the slices), is *carried* if it depends on the carry, and *needs
    grad* if it depends on something that requires grad. ``template`` holds
    the values of the invariant slots. Hoisted values are computed for a
    block of steps at a time, as (steps·B, ...) arrays: ``rows`` (B) rows per
    step, in time order."""

    def __init__(self, step: Callable, carry: tuple, xs: tuple, first: int):
        self.template: list = []
        self.varies: list[bool] = []
        self.carried: list[bool] = []
        self.needs_grad: list[bool] = []
        self.captured: tuple = ()  # tensors the step closes over that require grad: inputs of the scan node
        slots: dict[int, int] = {}  # id(tensor) -> slot
        self._tensors: list = []  # the tensors whose id() is a key of ``slots``, kept alive while tracing

        def new_slot(value, varies: bool, carried: bool, needs_grad: bool, tensor: Tensor | None = None) -> int:
            if tensor is not None:
                slots[id(tensor)] = len(self.template)
                self._tensors.append(tensor)
            self.template.append(value)
            self.varies.append(varies)
            self.carried.append(carried)
            self.needs_grad.append(needs_grad)
            return len(self.template) - 1

        def slot_of(tensor: Tensor) -> int:
            if id(tensor) not in slots:  # from outside the step: invariant
                new_slot(tensor.data, False, False, tensor.requires_grad, tensor)
                if tensor.requires_grad:
                    self.captured += (tensor,)
            return slots[id(tensor)]

        # trace: run the step once on the first slices, logging every primitive it calls
        carry_in = tuple(Tensor._make(c.data) for c in carry)
        x_in = tuple(Tensor._make(x.data[first]) for x in xs)
        self.carry_in = [new_slot(c.data, True, True, True, c) for c in carry_in]
        self.x_in = [new_slot(x.data, True, False, outer.requires_grad, x) for x, outer in zip(x_in, xs)]
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
        self.hoisted: list[_Instruction] = []  # run once per block, on its steps' rows
        self.invariant: list[_Instruction] = []  # run once (in the trace)
        for forward, settings, vjps, fixed, saves, args, result in log:
            arg_slots = [slot_of(a) for a in args]
            varies = any(self.varies[s] for s in arg_slots)
            carried = any(self.carried[s] for s in arg_slots)
            needs_grad = any(self.needs_grad[s] for s in arg_slots)
            multi = type(result) is tuple
            outs = [new_slot(o.data, varies, carried, needs_grad, o) for o in (result if multi else (result,))]
            if multi and -1 in saves:  # a multi-output op's VJPs get its outputs as one tuple
                whole = new_slot(tuple(o.data for o in result), varies, carried, False)
                self.whole.append((outs, whole))
                saved = [whole if k < 0 else arg_slots[k] for k in saves]
            else:
                saved = [outs[0] if k < 0 else arg_slots[k] for k in saves]
            ins = _Instruction(forward, settings or None, vjps if fixed else None, vjps, arg_slots, outs, multi,
                               saved)
            if carried:  # an invariant's gradient is batched over steps (single-output ops with fixed VJPs)
                ins.grad_args = [(j, s, not self.varies[s] and not multi and fixed)
                                 for j, s in enumerate(arg_slots) if self.needs_grad[s]]
            (self.steps if carried else self.hoisted if varies else self.invariant).append(ins)
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
        # the hoisted values a step reads (a slice of each per step), and those the hoisted VJPs read (kept whole)
        per_step = {s for ins in self.steps for s in ins.args} | {self.y_slot, *self.carry_out}
        self.sliced = sorted(s for s in per_step if self.varies[s] and not self.carried[s])
        self.hoist_saved = sorted({s for ins in self.hoisted for s in ins.saved if self.varies[s]})
        # hoisted a block of steps at a time if their backward needs nothing from the blocks but xs
        self.blockwise = all(ins.vjps is not None for ins in self.hoisted) and set(self.hoist_saved) <= {*self.x_in}
        needed = {self.y_slot, *self.carry_out, *(s for ins in self.steps for s in ins.saved)}
        self.dropped = [s for s in range(len(self.template)) if self.varies[s] and s not in needed]
        self.first = (self.template, [ins.trace_vjps for ins in self.steps])  # the first step's frame: the trace's
        self.template = [None if self.varies[s] else value for s, value in enumerate(self.template)]

    def _blocks(self, steps: int) -> tuple[int, int]:
        """Steps per chunk (whose weight VJPs are batched together: BLOCK_ROWS
        rows' worth) and per block (whose hoisted ops run together: a chunk,
        or every step when the hoisted VJPs need more than the xs)."""
        chunk = max(1, BLOCK_ROWS // self.rows)
        return chunk, chunk if self.blockwise else steps

    def _rows(self, xs: list) -> dict:
        """The xs' arrays of some steps as (steps·B, ...) rows, by slot."""
        return {s: x.reshape(-1, *x.shape[2:]) for s, x in zip(self.x_in, xs)}

    def _hoist(self, xs: list, steps: int) -> tuple[dict, list]:
        """The hoisted ops run once on the rows of the ``steps`` steps in
        ``xs``: every hoisted value as (steps·B, ...), and the VJPs the ops
        returned."""
        whole = self._rows(xs)
        closures = []
        for ins in self.hoisted:
            arrays = [whole[s] if self.varies[s] else self.template[s] for s in ins.args]
            try:
                out = ins.forward(*arrays, **ins.settings) if ins.settings else ins.forward(*arrays)
                out, vjps = (out, None) if ins.vjps is not None else out
                outs = out if ins.multi else (out,)
                fits = all(o.shape == (steps * self.rows, *self.shapes[s][0][1:]) for s, o in zip(ins.outs, outs))
            except ValueError:
                fits = False
            if not fits:
                raise ValueError(f"scan: {ins.forward.__name__} depends on the slices alone, so it runs once on "
                                 f"{steps} steps' rows stacked, and that fails or changes its result's shape: the "
                                 "step must treat rows independently and not bake in their number (reshape with "
                                 "-1, not the batch size)")
            closures.append(vjps if vjps is None or type(vjps) is tuple else (vjps,))
            whole.update(zip(ins.outs, outs))
        for outs, slot in self.whole:
            if outs[0] in whole:
                whole[slot] = tuple(whole[s] for s in outs)
        return whole, closures

    def run(self, carry: list, xs: list, order: range, keep: bool) -> tuple:
        """``(ys, final carry, tape)`` from the carry's and xs' arrays. The
        tape (if ``keep``) holds every step's frame (the slot values its
        backward needs), the VJPs its ops returned, and what the hoisted ops'
        VJPs need. Each y is copied into the stacked ys as soon as it is made
        and the frame keeps that copy, so ys cost no extra memory."""
        steps = len(order)
        block = self._blocks(steps)[1]
        lo = hi = -1
        y_shape, y_dtype = self.shapes[self.y_slot]
        ys = np.empty((steps, *y_shape), y_dtype)
        frames: list = [None] * steps
        closures: list = [None] * steps
        plan = [(ins.forward, _getter(ins.args), ins.settings, ins.vjps is None, ins.multi, ins.outs)
                for ins in self.steps]
        first, self.first = self.first, None
        previous = None
        for t in order:
            if not lo <= t < hi:  # the hoisted ops, on the block of steps that t starts
                lo = t // block * block
                hi = min(lo + block, steps)
                whole, hoisted_closures = self._hoist([x[lo:hi] for x in xs], hi - lo)
                stepwise = [(s, whole[s].reshape(hi - lo, self.rows, *whole[s].shape[1:])) for s in self.sliced]
            if first is not None:  # the first step was run by the trace
                (values, made), first = first, None
            else:
                values = self.template.copy()
                for k, s in enumerate(self.carry_in):
                    values[s] = carry[k] if previous is None else previous[self.carry_out[k]]
                for s, value in stepwise:
                    values[s] = value[t - lo]
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
                for outs, slot in self.whole:
                    if self.carried[slot]:
                        values[slot] = tuple(values[s] for s in outs)
            ys[t] = values[self.y_slot]
            values[self.y_slot] = ys[t]
            if keep:
                for s in self.dropped:
                    values[s] = None
                frames[t], closures[t] = values, made
            previous = values
        final = tuple(previous[s] for s in self.carry_out)
        if self.blockwise:  # (then the hoisted VJPs are fixed and take only xs)
            hoisted_closures = [None] * len(self.hoisted)
            whole = self._rows(xs)
        kept = {s: whole[s] for s in self.hoist_saved}
        return ys, final, (frames, closures, kept, hoisted_closures) if keep else None

    def backward(self, tape: tuple, order: range, g: tuple, wanted: list) -> list:
        """The scan node's input gradients (carry, xs, captured) for its output
        gradients ``g`` = (ȳs, *carry̅), all arrays; uses up the tape.

        Block by block (backwards): the per-step VJPs run step by step, each
        step's gradient of a hoisted value goes into that block's buffer, and
        when the block is done the batched weight VJPs and the hoisted ops'
        VJPs run once on its rows."""
        frames, closures, kept, hoisted_closures = tape
        shapes, n_carry, steps, rows = self.shapes, len(self.carry_in), len(order), self.rows
        g_ys, carry_grads = g[0], list(g[1:])
        x_grads = {s: np.zeros((steps * rows, *shapes[s][0][1:]), shapes[s][1])
                   for k, s in enumerate(self.x_in) if wanted[n_carry + k]}
        invariant_grads: list = [None] * len(self.template)
        pending: dict[tuple, list] = {}  # (instruction, argument) -> per-step [t, ḡ, saved] for one batched VJP
        plan = [(k, ins.outs[0], ins.outs if ins.multi else None, ins.vjps, _getter(ins.saved),
                 [(j, s, batched, *shapes[s], self.varies[s]) for j, s, batched in ins.grad_args])
                for k, ins in reversed(list(enumerate(self.steps)))]
        chunk, block = self._blocks(steps)
        hoisted, sliced, reached, pending_chunk = None, {}, set(), -1  # the current block, its buffers
        for t in reversed(order):
            if hoisted is None or not hoisted[0] <= t < hoisted[1]:
                if hoisted is not None:
                    self._finish_block(hoisted, sliced, reached, pending, invariant_grads, kept, hoisted_closures,
                                       x_grads)
                start = t // block * block
                hoisted = (start, min(start + block, steps))
                sliced = {s: np.empty(((hoisted[1] - start) * rows, *shapes[s][0][1:]), shapes[s][1])
                          for s in self.sliced if self.needs_grad[s]}  # filled step by step
                reached = set()  # the sliced slots some gradient reached
            elif pending and t // chunk != pending_chunk:  # (a chunk within a whole-loop block)
                self._flush(pending, invariant_grads, sliced, hoisted[0])
            pending_chunk = t // chunk
            grads = [None] * len(self.template)
            for s, grad in (*zip(self.carry_out, carry_grads), (self.y_slot, None if g_ys is None else g_ys[t])):
                if grad is not None and self.needs_grad[s]:
                    into = grads if self.varies[s] else invariant_grads  # (a step may return what it closes over)
                    into[s] = grad if into[s] is None else into[s] + grad
            fresh = self._step_backward(t, frames[t], closures[t], grads, plan, invariant_grads, pending)
            frames[t] = closures[t] = None
            carry_grads = [grads[s] for s in self.carry_in]
            at = (t - hoisted[0]) * rows
            for s, whole in sliced.items():
                grad = grads[s]
                whole[at:at + rows] = 0 if grad is None else grad
                if grad is not None:
                    reached.add(s)
                    for entry in fresh:  # a pending ḡ that is these very rows: read it from there, let it go
                        if entry[1] is grad:
                            entry[1] = s
        self._finish_block(hoisted, sliced, reached, pending, invariant_grads, kept, hoisted_closures, x_grads)
        self._invariant_backward(invariant_grads)
        return ([grad if want else None for grad, want in zip(carry_grads, wanted)]
                + [x_grads[s].reshape(steps, *shapes[s][0]) if s in x_grads else None for s in self.x_in]
                + [invariant_grads[s] for s in self.captured_slots])

    @staticmethod
    def _step_backward(t: int, values: list, made: list, grads: list, plan: list, invariant_grads: list,
                       pending: dict) -> list:
        """Step t's VJPs, its instructions backwards, adding into ``grads``
        (and ``invariant_grads``); a batched one is left in ``pending`` as
        [t, ḡ, saved]. Returns the entries this step left there."""
        fresh = []
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
                    fresh.append([t, g_out, saved])
                    pending.setdefault((k, j), []).append(fresh[-1])
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
        return fresh

    def _finish_block(self, steps: tuple, sliced: dict, reached: set, pending: dict, invariant_grads: list,
                      kept: dict, closures: list, x_grads: dict) -> None:
        """A block's batched weight VJPs, then its hoisted ops' VJPs, on its rows."""
        self._flush(pending, invariant_grads, sliced, steps[0])
        rows = slice(steps[0] * self.rows, steps[1] * self.rows)
        grads: list = [None] * len(self.template)
        for s in reached:
            grads[s] = sliced[s]
        self._hoisted_backward(grads, {s: kept[s][rows] for s in kept}, closures, invariant_grads,
                               rows.stop - rows.start)
        for s, x_grad in x_grads.items():
            if grads[s] is not None:
                x_grad[rows] = grads[s]

    def _hoisted_backward(self, whole_grads: list, kept: dict, closures: list, invariant_grads: list,
                          n_rows: int) -> None:
        """The hoisted ops differentiated once, on a block's ``n_rows`` rows (backwards)."""
        for k in reversed(range(len(self.hoisted))):
            ins = self.hoisted[k]
            g_out = tuple(whole_grads[s] for s in ins.outs) if ins.multi else whole_grads[ins.outs[0]]
            if g_out is None or (ins.multi and all(gi is None for gi in g_out)):
                continue
            saved = [kept[s] if self.varies[s] else self.template[s] for s in ins.saved]
            vjps = ins.vjps or closures[k]
            for j, s in enumerate(ins.args):
                if not self.needs_grad[s]:
                    continue
                grad = vjps[j](g_out, *saved)
                if self.varies[s]:  # a hoisted value (or a slice of xs): the block's rows
                    _accumulate(whole_grads, s, grad, (n_rows, *self.shapes[s][0][1:]), self.shapes[s][1])
                else:
                    self._add_invariant(invariant_grads, s, grad)

    def _flush(self, pending: dict, invariant_grads: list, sliced: dict, start: int) -> None:
        """Run each pending invariant's VJP once, on the steps' ḡ and saved
        values stacked along axis 0 (the batch, in time order), and add what
        it gives. ``sliced``: the block's (from step ``start``) hoisted
        values' gradients, filled so far."""
        for (k, j), per_step in pending.items():
            ins = self.steps[k]
            per_step.sort(key=lambda entry: entry[0])
            g_out = self._stacked_g(per_step, sliced, start)
            saved = [np.concatenate([values[n] for _, _, values in per_step]) if self.varies[s]
                     else per_step[0][2][n] for n, s in enumerate(ins.saved)]
            try:
                self._add_invariant(invariant_grads, ins.args[j], ins.vjps[j](g_out, *saved))
            except ValueError:  # its gradient over stacked steps does not reduce to its shape
                raise ValueError(f"scan: the step uses a tensor it closes over, of shape "
                                 f"{self.shapes[ins.args[j]][0]}, row by row with the batch ({self.rows} rows); "
                                 "what a step closes over must be shared by all rows (pass per-row values in "
                                 "the carry or xs)") from None
        pending.clear()

    def _stacked_g(self, per_step: list, sliced: dict, start: int):
        """The steps' ḡ stacked. A ḡ that is also a hoisted value's gradient
        (addmm hands ḡ on to its first argument, the input projection) was
        replaced by that value's slot: its rows are read from ``sliced`` --
        without a copy when every step's is."""
        rows, first, last = self.rows, per_step[0][0] - start, per_step[-1][0] - start
        slots = {g if type(g) is int else None for _, g, _ in per_step}
        if len(slots) == 1 and None not in slots:
            return sliced[slots.pop()][first * rows:(last + 1) * rows]
        return np.concatenate([sliced[g][(t - start) * rows:(t - start + 1) * rows] if type(g) is int else g
                               for t, g, _ in per_step])

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
        _accumulate(invariant_grads, slot, grad, *self.shapes[slot])


def _accumulate(grads: list, slot: int, grad, shape: tuple, dtype) -> None:
    """grads[slot] += grad, once grad is summed to ``shape`` and cast to
    ``dtype`` (never in place: grad may be a ḡ others hold). (The per-step
    loop, _step_backward, does the same inline: it is the hot path.)"""
    if grad is None:
        return
    grad = unbroadcast(grad, shape) if grad.shape != shape else grad
    grad = grad.astype(dtype) if grad.dtype != dtype else grad
    grads[slot] = grad if grads[slot] is None else grads[slot] + grad
