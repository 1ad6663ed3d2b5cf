"""scan: a loop over time that records one node (the shape of jax.lax.scan).

    final_carry, ys = mg.scan(step, init, xs, reverse=False, unroll=False)

*means* this loop -- and with ``unroll=True`` it *is* this loop::

    carry, ys = init, [None] * T
    for t in (reversed(range(T)) if reverse else range(T)):
        carry, ys[t] = step(carry, <the t-th slices of xs along axis 0>)
    return carry, <each y stacked along a new axis 0, in time order>

``init``, ``xs`` and what ``step`` returns may be a Tensor or (nested)
tuples, lists and dicts of Tensors; ``step`` gets them back in the same
structure. The fast path gives the loop's values and gradients (first and
higher order) to float rounding, or raises :class:`~minigrad.TraceError`
before computing anything, naming the line of the step and what to do.

How (docs/how-scan-works.md walks through it). The step is traced once,
on the first slices (minigrad.tracing): its ops become instructions over
numbered slots. The other steps replay the instructions on bare arrays --
no Tensors, no Nodes -- keeping per step only what the VJPs need; the
backward replays them backwards with the very VJPs the tape would call, and
lets go of each step's values once done. An instruction runs:

- *hoisted*, when it depends on the slices alone (not the carry) and its op
  is known to treat rows alike (its ``rows`` rule, e.g. the input
  projection ``x_t @ W_ih + b``): once on many steps' rows stacked along
  axis 0, so T small products become a few large ones; its VJPs likewise;
- *per step* otherwise. The gradient of a closed-over tensor that a per-step
  op uses (W in ``h @ W``) is, when the op treats rows alike, not summed step
  by step either: its VJP runs on many steps' values stacked.

"Many steps" is a block of BLOCK_ROWS rows (steps × rows per step): the
forward hoists a block at a time as the loop reaches it, the backward runs a
block's batched and hoisted VJPs as it finishes it -- so neither the
projected input nor its gradient is held whole.

Anything the step computes without its arguments (a weight's transpose) is
computed once, by the trace, on the ordinary tape. A ``create_graph``
backward replays the instructions on the tape and differentiates that, so
gradients of gradients are the loop's too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import itemgetter

import numpy as np

from .engine import backward, is_anomaly_enabled, is_grad_enabled, record, unbroadcast
from .ops import clone, stack
from .tensor import Tensor
from .tracing import ForeignValue, TraceError, trace

BLOCK_ROWS = 1024  # rows (steps × rows per step) that hoisted ops and batched weight VJPs run on at a time


def scan(step: Callable, init, xs=None, length: int | None = None, reverse: bool = False, unroll: bool = False):
    """``(final_carry, ys)`` of ``carry, y = step(carry, x_t)`` over axis 0 of
    ``xs`` (see the module docstring). ``length`` gives T when ``xs`` is None."""
    carry, carry_def = _flatten(init, "init")
    x_leaves, x_def = _flatten(xs, "xs")
    steps = _length(x_leaves, length)
    order = range(steps - 1, -1, -1) if reverse else range(steps)
    if unroll or any(getattr(type(v), "__minigrad_dispatch__", None) is not None for v in (*carry, *x_leaves)):
        return _loop(step, carry, carry_def, x_leaves, x_def, order)
    try:
        program = _Program(step, carry, carry_def, x_leaves, x_def, order[0])
    except ForeignValue:  # the step mixes in an outer trace's values (a scan inside a step): run the loop
        return _loop(step, carry, carry_def, x_leaves, x_def, order)
    inputs = (*carry, *x_leaves, *program.captured)
    arrays = [t._data for t in inputs]
    recording = is_grad_enabled() and any(t.requires_grad for t in inputs)
    ys, final, tape = program.run(arrays, order, keep=recording)
    if not recording:
        outputs = [Tensor._make(a) for a in (*ys, *final)]
    else:
        kept = {"tape": tape}
        del tape
        wanted = [t.requires_grad for t in inputs]

        def vjp(g: tuple, outputs, *saved) -> list:
            """All inputs' gradients (carry, xs, captured) at once."""
            if any(isinstance(gi, Tensor) for gi in g):  # create_graph: differentiate the loop on the tape
                return program.tape_vjp(saved, g, order)
            # the backward uses up the frames; a second one (retain_graph) replays the forward
            frames = kept.pop("tape", None) or program.run(list(saved), order, keep=True)[2]
            return program.backward(frames, order, g, wanted)

        # saves: the outputs (the frames hold them, so their versions are checked) and the inputs
        outputs = record("scan", inputs, (*ys, *final), vjp, saves=(-1, *range(len(inputs))), arrays=arrays)
    n_y = len(program.y_out)
    return _unflatten(carry_def, list(outputs[n_y:])), _unflatten(program.y_def, list(outputs[:n_y]))


# -- structures of tensors -----------------------------------------------------------------

def _flatten(tree, name: str) -> tuple[list, object]:
    """The Tensors of a (nested) tuple/list/dict, and a description to rebuild it."""
    if tree is None:
        return [], None
    if isinstance(tree, Tensor):
        return [tree], Tensor
    if isinstance(tree, np.ndarray):
        return [Tensor._make(tree)], Tensor
    if isinstance(tree, (tuple, list)):
        leaves, defs = [], []
        for item in tree:
            sub, d = _flatten(item, name)
            leaves += sub
            defs.append((len(sub), d))
        return leaves, (type(tree), defs)
    if isinstance(tree, dict):
        leaves, defs = [], []
        for key in tree:
            sub, d = _flatten(tree[key], name)
            leaves += sub
            defs.append((key, len(sub), d))
        return leaves, (dict, defs)
    raise TypeError(f"scan: {name} must be a Tensor, or tuples/lists/dicts of Tensors, got {type(tree).__name__}")


def _unflatten(definition, leaves: list):
    if definition is None:
        return None
    if definition is Tensor:
        return leaves[0]
    kind, defs = definition
    if kind is dict:
        out, at = {}, 0
        for key, n, d in defs:
            out[key] = _unflatten(d, leaves[at:at + n])
            at += n
        return out
    items, at = [], 0
    for n, d in defs:
        items.append(_unflatten(d, leaves[at:at + n]))
        at += n
    return kind(items)


def _length(xs: list, length: int | None) -> int:
    sizes = {x.shape[0] if x.ndim else None for x in xs}
    if None in sizes or len(sizes) > 1:
        raise ValueError(f"scan: every tensor in xs needs the same number of steps on axis 0, got shapes "
                         f"{[x.shape for x in xs]}")
    if length is not None and (isinstance(length, bool) or not isinstance(length, (int, np.integer))):
        raise TypeError(f"scan: length must be an int, got {length!r}")
    if sizes and length is not None and sizes != {length}:
        raise ValueError(f"scan: length={length} but xs have {sizes.pop()} steps")
    steps = sizes.pop() if sizes else length
    if steps is None:
        raise ValueError("scan: give xs, or length= when there are no xs")
    if steps <= 0:
        raise ValueError(f"scan: the loop needs at least one step, got {steps}")
    return int(steps)


def _call_step(step: Callable, carry_tree, x_tree, carry: Sequence[Tensor], carry_def) -> tuple:
    """``step(carry, x)``, checked: the new carry's leaves (the carry's
    structure, shapes and dtypes), y's leaves and y's structure."""
    returned = step(carry_tree, x_tree)
    if not (isinstance(returned, tuple) and len(returned) == 2):
        raise TypeError(f"scan: step must return a pair (carry, y), got {type(returned).__name__}")
    new_carry, new_def = _flatten(returned[0], "the carry step returns")
    if new_def != carry_def:
        raise TypeError("scan: step must return the carry in the structure it got (same nesting and number of "
                        f"tensors: {len(carry)})")
    for k, (old, new) in enumerate(zip(carry, new_carry)):
        if old.shape != new.shape or old.dtype != new.dtype:
            raise ValueError(f"scan: carry[{k}] goes in as {old.shape} {old.dtype} but comes out of step as "
                             f"{new.shape} {new.dtype}")
    y_leaves, y_def = _flatten(returned[1], "the y step returns")
    return new_carry, y_leaves, y_def


def _loop(step: Callable, carry: list, carry_def, xs: list, x_def, order: range):
    """The plain Python loop, recorded op by op (the definition of scan)."""
    ys: list = [None] * len(order)
    y_def = None
    for t in order:
        x = _unflatten(x_def, [x[t] for x in xs])
        carry, ys[t], y_def = _call_step(step, _unflatten(carry_def, carry), x, carry, carry_def)
    stacked = [stack([y[k] for y in ys]) for k in range(len(ys[order[0]]))]
    return _unflatten(carry_def, carry), _unflatten(y_def, stacked)


# -- the traced program -------------------------------------------------------------------------

def _getter(slots: list) -> Callable[[list], tuple]:
    """values -> the tuple of values at ``slots`` (itemgetter, which gives a
    bare value for one slot, wrapped to always give a tuple)."""
    if len(slots) == 1:
        (slot,) = slots
        return lambda values: (values[slot],)
    return itemgetter(*slots) if slots else (lambda values: ())


def _cast(arrays: list, casts) -> list:
    return arrays if casts is None else [a if c is None else a.astype(c) for a, c in zip(arrays, casts)]


class _Program:
    """The traced step as instructions over slots (see tracing.Trace).

    A slot *varies* if it changes from step to step, is *carried* if it
    depends on the carry, *needs grad* if it depends on something that
    requires grad, and is *stacked* if the loop holds it as many steps' rows
    along axis 0 (the xs, the hoisted values). ``template`` holds the values
    of the slots that do not vary."""

    def __init__(self, step: Callable, carry: list, carry_def, xs: list, x_def, first: int):
        n_carry, n_x = len(carry), len(xs)

        def traced_step(*values):
            return _call_step(step, _unflatten(carry_def, list(values[:n_carry])),
                              _unflatten(x_def, list(values[n_carry:])), carry, carry_def)

        record_, (new_carry, y_leaves, self.y_def) = trace(traced_step, [c._data for c in carry] +
                                                             [x._data[first] for x in xs])
        self.carry_in, self.x_in = list(range(n_carry)), list(range(n_carry, n_carry + n_x))
        self.carry_out = [record_.slot_of(c) for c in new_carry]
        self.y_out = [record_.slot_of(y) for y in y_leaves]
        values = record_.values
        n = len(values)
        inputs_end = n_carry + n_x
        self.shapes = [(v.shape, v.dtype) for v in values]
        self.captured = tuple(t for s, t in record_.closed.items() if t.requires_grad)
        self.captured_slots = [s for s, t in record_.closed.items() if t.requires_grad]
        instructions = record_.instructions
        made = {o for ins in instructions for o in ins.outs}
        self.varies = [s < inputs_end or s in made for s in range(n)]

        # which slots need grad: what requires grad, through differentiable float ops, until the carry settles
        self.needs_grad = [False] * n
        for k, t in enumerate((*carry, *xs)):
            self.needs_grad[k] = t.requires_grad
        for s in self.captured_slots:
            self.needs_grad[s] = True
        while True:
            for ins in instructions:
                flows = ins.spec.differentiable and any(self.needs_grad[a] for a in ins.args)
                for o in ins.outs:
                    self.needs_grad[o] = flows and values[o].dtype.kind == "f"
            late = [k for k, s in enumerate(self.carry_out) if self.needs_grad[s] and not self.needs_grad[k]]
            if not late:
                break
            for k in late:
                self.needs_grad[k] = True

        # hoisted or per step
        self.carried = [s < n_carry for s in range(n)]
        self.stacked = [n_carry <= s < inputs_end and values[s].ndim > 0 for s in range(n)]
        self.hoisted: list = []  # (instruction, settings for stacked rows)
        self.steps: list = []  # (instruction, batched: the arguments whose VJPs run on stacked steps)
        for ins in instructions:
            carried = any(self.carried[a] for a in ins.args)
            for o in ins.outs:
                self.carried[o] = carried
            if ins.multi and -1 in ins.spec.saves_for(len(ins.args)):
                raise TraceError(f"scan: {ins.describe()} has several outputs and its VJP takes them: not supported "
                                 "inside a scan step (use unroll=True)")
            stacked = self._row_settings(ins) if not carried and all(
                self.stacked[a] for a in ins.args if self.varies[a]) else None
            if stacked is not None:
                self.hoisted.append((ins, stacked))
                for o in ins.outs:
                    self.stacked[o] = True
            else:
                self.steps.append(ins)

        self.rows = max([values[s].shape[0] for s in range(n) if self.stacked[s]], default=1)
        per_step = {a for ins in self.steps for a in ins.args} | {*self.y_out, *self.carry_out}
        self.sliced = sorted(s for s in per_step if self.stacked[s] and s not in self.x_in)
        self.x_read = sorted(s for s in per_step if s in self.x_in)
        self.hoist_saved = sorted({s for ins, _ in self.hoisted for s in self._saved_slots(ins) if self.varies[s]})
        # hoisted a block of steps at a time if their VJPs need nothing from the block but xs
        self.blockwise = all(ins.spec.vjps is not None for ins, _ in self.hoisted) and \
            set(self.hoist_saved) <= set(self.x_in)
        needed = {*self.y_out, *self.carry_out, *(s for ins in self.steps for s in self._saved_slots(ins))}
        self.dropped = [s for s in range(n) if self.varies[s] and s not in needed]
        self.first = list(values)  # the first step's values: the trace's
        self.template = [None if self.varies[s] else v for s, v in enumerate(values)]
        # ops whose output shape may depend on the data (a lookup by a mask that varies, a custom op): checked
        self.shape_checked = {k for k, ins in enumerate(self.steps) if ins.spec.all_at_once or (
            ins.spec.name == "getitem" and any(self.varies[a] for a in ins.args[1:]))}

    def _row_settings(self, ins):
        """The settings to run ``ins`` on stacked rows, or None if its op is not
        known to treat rows alike here."""
        rule = ins.spec.rows
        if rule is None:
            return None
        return rule([self.shapes[a][0] for a in ins.args], [self.shapes[o][0] for o in ins.outs],
                    [self.varies[a] for a in ins.args], ins.settings)

    @staticmethod
    def _saved_slots(ins) -> list:
        return [ins.outs[0] if k < 0 else ins.args[k] for k in ins.spec.saves_for(len(ins.args))]

    def _blocks(self, steps: int) -> tuple[int, int]:
        """Steps per chunk (whose weight VJPs are batched together: BLOCK_ROWS
        rows' worth) and per block (whose hoisted ops run together: a chunk,
        or every step when the hoisted VJPs need more than the xs)."""
        chunk = max(1, BLOCK_ROWS // self.rows) if self.rows else steps
        return chunk, chunk if self.blockwise else steps

    def _x_rows(self, xs: list, lo: int, hi: int) -> dict:
        """The stacked xs' arrays of steps lo..hi-1 as (steps·rows, ...), by slot."""
        return {s: xs[k][lo:hi].reshape(-1, *xs[k].shape[2:]) for k, s in enumerate(self.x_in) if self.stacked[s]}

    def _hoist(self, xs: list, lo: int, hi: int) -> tuple[dict, list]:
        """The hoisted instructions run once on the rows of steps lo..hi-1:
        every stacked value of those steps as (steps·rows, ...), and the VJPs
        the ops returned (for ops whose VJPs are closures)."""
        whole = self._x_rows(xs, lo, hi)
        closures = []
        for ins, settings in self.hoisted:
            arrays = _cast([whole[s] if self.varies[s] else self.template[s] for s in ins.args], ins.casts)
            out, vjps = ins.spec.run(arrays, settings)
            outs = out if type(out) is tuple else (out,)
            for s, o in zip(ins.outs, outs):
                if o.shape[1:] != self.shapes[s][0][1:]:
                    raise RuntimeError(f"scan: {ins.describe()} on stacked rows gave shape {o.shape} (per step "
                                       f"{self.shapes[s][0]}): its rows rule is wrong; please report this")
            closures.append(None if ins.spec.vjps is not None else vjps)
            whole.update(zip(ins.outs, outs))
        return whole, closures

    def run(self, inputs: list, order: range, keep: bool) -> tuple:
        """``(ys, final carry, tape)`` from the arrays of the scan's inputs
        (carry, xs, captured). The tape (if ``keep``) holds every step's frame
        (the slot values its backward needs), the VJPs its ops returned, and
        what the hoisted ops' VJPs need. Each y is copied into the stacked
        ys as soon as it is made and the frame keeps that copy."""
        n_carry, n_x = len(self.carry_in), len(self.x_in)
        carry, xs = inputs[:n_carry], inputs[n_carry:n_carry + n_x]
        template = list(self.template)
        for s, value in zip(self.captured_slots, inputs[n_carry + n_x:]):
            template[s] = value
        steps = len(order)
        block = self._blocks(steps)[1]
        lo = hi = -1
        ys = [np.empty((steps, *self.shapes[s][0]), self.shapes[s][1]) for s in self.y_out]
        frames: list = [None] * steps
        closures: list = [None] * steps
        # returns_vjps: 0 fixed VJPs, 1 one closure per input (a bare function for one input), 2 all at once
        plan = [(ins.spec.forward, _getter(ins.args), ins.settings,
                 0 if ins.spec.vjps is not None else 2 if ins.spec.all_at_once else 1, ins.multi, ins.outs,
                 ins.casts, k in self.shape_checked) for k, ins in enumerate(self.steps)]
        first = self.first
        self.first = None
        previous = None
        for t in order:
            if not lo <= t < hi:  # the hoisted instructions, on the block of steps that t starts
                lo = t // block * block
                hi = min(lo + block, steps)
                whole, hoisted_closures = self._hoist(xs, lo, hi)
                stepwise = [(s, whole[s].reshape(hi - lo, -1, *whole[s].shape[1:])) for s in self.sliced]
            if first is not None:  # the first step was run by the trace
                values, made, first = first, [ins.made for ins in self.steps], None
            else:
                values = template.copy()
                for k, s in enumerate(self.carry_in):
                    values[s] = carry[k] if previous is None else previous[self.carry_out[k]]
                for s in self.x_read:
                    values[s] = xs[s - n_carry][t]
                for s, value in stepwise:
                    values[s] = value[t - lo]
                made = []
                for k, (forward, take_args, settings, returns_vjps, multi, outs, casts, check) in enumerate(plan):
                    arrays = take_args(values) if casts is None else _cast(list(take_args(values)), casts)
                    try:
                        out = forward(*arrays, **settings) if settings else forward(*arrays)
                    except (ValueError, IndexError) as error:
                        raise type(error)(f"scan: at step {t}, {self.steps[k].describe()}: {error}") from None
                    if returns_vjps:
                        out, vjps = out
                        made.append((vjps,) if returns_vjps == 1 and type(vjps) is not tuple else vjps)
                    else:
                        made.append(None)
                    if multi:
                        for s, o in zip(outs, out):
                            values[s] = o
                    else:
                        values[outs[0]] = out if type(out) is np.ndarray else np.asarray(out)
                    if check:
                        self._check_shapes(k, t, values)
            for y, s in zip(ys, self.y_out):
                y[t] = values[s]
                values[s] = y[t]
            if keep:
                for s in self.dropped:
                    values[s] = None
                frames[t], closures[t] = values, made
            previous = values
        final = [np.array(previous[s], copy=True) for s in self.carry_out]  # the frames keep theirs
        if self.blockwise:  # (then the hoisted VJPs are fixed and take only xs)
            hoisted_closures = [None] * len(self.hoisted)
            whole = self._x_rows(xs, 0, steps)
        kept = {s: whole[s] for s in self.hoist_saved}
        return ys, final, (frames, closures, kept, hoisted_closures, template, xs) if keep else None

    def _check_shapes(self, k: int, t: int, values: list) -> None:
        ins = self.steps[k]
        for s in ins.outs:
            if values[s].shape != self.shapes[s][0]:
                raise ValueError(f"scan: {ins.describe()} gave shape {values[s].shape} at step {t} but "
                                 f"{self.shapes[s][0]} when traced: a step's values must keep their shapes from "
                                 "step to step (use unroll=True for a loop whose shapes change)")

    # -- the backward ------------------------------------------------------------------------

    def backward(self, tape: tuple, order: range, g: tuple, wanted: list) -> list:
        """The scan node's input gradients (carry, xs, captured) for its output
        gradients ``g`` = (*ȳs, *carry̅), all arrays; uses up the tape.

        Block by block (backwards): the per-step VJPs run step by step, each
        step's gradient of a stacked value goes into that block's buffer, and
        when the block is done the batched weight VJPs and the hoisted ops'
        VJPs run once on its rows."""
        frames, closures, kept, hoisted_closures, template, xs = tape
        shapes, n_carry, steps = self.shapes, len(self.carry_in), len(order)
        n_y = len(self.y_out)
        g_ys, carry_grads = g[:n_y], list(g[n_y:])
        x_grads = _Lazy({s: (steps, *shapes[s][0]) for k, s in enumerate(self.x_in) if wanted[n_carry + k]}, shapes)
        invariant: dict = {}  # slot -> gradient of a closed-over tensor
        pending: dict[tuple, list] = {}  # (instruction, argument) -> per step [t, ḡ, saved] for one batched VJP
        anomaly = is_anomaly_enabled()
        plan = []
        for k in reversed(range(len(self.steps))):
            ins = self.steps[k]
            batched = self._row_settings(ins) if ins.spec.vjps is not None and len(ins.outs) == 1 else None
            grad_args = [(j, a, batched is not None and not self.varies[a], *shapes[a], self.varies[a])
                         for j, a in enumerate(ins.args) if self.needs_grad[a]]
            plan.append((k, ins, ins.outs if ins.multi else None, _getter(self._saved_slots(ins)), grad_args,
                         ins.settings if ins.spec.vjps is not None else None))
        chunk, block = self._blocks(steps)
        span, sliced, reached, pending_chunk = None, {}, set(), -1  # the current block and its buffers
        for t in reversed(order):
            if span is None or not span[0] <= t < span[1]:
                if span is not None:
                    self._finish_block(span, sliced, reached, pending, invariant, kept, hoisted_closures, x_grads,
                                       template)
                start = t // block * block
                span = (start, min(start + block, steps))
                sliced = {s: np.empty((span[1] - start, *shapes[s][0]), shapes[s][1])
                          for s in self.sliced if self.needs_grad[s]}  # filled step by step
                reached = set()  # the sliced slots some gradient reached
            elif pending and t // chunk != pending_chunk:  # (a chunk within a whole-loop block)
                self._flush(pending, invariant, sliced, span[0])
            pending_chunk = t // chunk
            grads = [None] * len(shapes)
            for s, grad in (*zip(self.carry_out, carry_grads),
                            *((s, None if gy is None else gy[t]) for s, gy in zip(self.y_out, g_ys))):
                if grad is not None and self.needs_grad[s]:
                    into = grads if self.varies[s] else invariant  # (a step may return what it closes over)
                    _add(into, s, grad)
            fresh = self._step_backward(t, frames[t], closures[t], grads, plan, invariant, pending, anomaly)
            frames[t] = closures[t] = None
            carry_grads = [grads[s] for s in self.carry_in]
            for s in self.x_read:
                if grads[s] is not None and s in x_grads.wanted:
                    x_grads[s][t] += grads[s]
            at = t - span[0]
            for s, buffer in sliced.items():
                grad = grads[s]
                buffer[at] = 0 if grad is None else grad
                if grad is not None:
                    reached.add(s)
                    for entry in fresh:  # a pending ḡ that is these very rows: read it from there, let it go
                        if entry[1] is grad:
                            entry[1] = s
        self._finish_block(span, sliced, reached, pending, invariant, kept, hoisted_closures, x_grads, template)
        return ([grad if want else None for grad, want in zip(carry_grads, wanted)]
                + [x_grads.get(s) for s in self.x_in]
                + [invariant.get(s) for s in self.captured_slots])

    def _step_backward(self, t: int, values: list, made: list, grads: list, plan: list, invariant: dict,
                       pending: dict, anomaly: bool) -> list:
        """Step t's VJPs, its instructions backwards, adding into ``grads``
        (and ``invariant``); a batched one is left in ``pending`` as
        [t, ḡ, saved]. Returns the entries this step left there."""
        fresh = []
        for k, ins, outs, take_saved, grad_args, settings in plan:
            if outs is None:
                g_out = grads[ins.outs[0]]
                if g_out is None:
                    continue
            else:
                g_out = tuple([grads[s] for s in outs])
                if all(gi is None for gi in g_out):
                    continue
            saved = take_saved(values)
            vjps = ins.spec.vjps if ins.spec.vjps is not None else made[k]
            results = vjps(g_out, *saved) if ins.spec.all_at_once else None
            for j, s, is_batched, shape, dtype, varies in grad_args:
                if is_batched:
                    fresh.append([t, g_out, saved])
                    pending.setdefault((k, j), []).append(fresh[-1])
                    continue
                if results is not None:
                    grad = results[j]
                else:
                    grad = vjps[j](g_out, *saved, **settings) if settings else vjps[j](g_out, *saved)
                if grad is None:
                    continue
                if grad.shape != shape:
                    grad = unbroadcast(grad, shape)
                if grad.dtype != dtype:
                    grad = grad.astype(dtype)
                if anomaly and not np.isfinite(grad).all():
                    raise RuntimeError(f"detect_anomaly: the backward of {ins.describe()} in scan's step {t} "
                                       f"produced NaN/inf in the gradient of its input {j}")
                _add(grads if varies else invariant, s, grad)  # never in place: grad may be ḡ
        return fresh

    def _finish_block(self, span: tuple, sliced: dict, reached: set, pending: dict, invariant: dict, kept: dict,
                      closures: list, x_grads: dict, template: list) -> None:
        """A block's batched weight VJPs, then its hoisted ops' VJPs, on its rows."""
        self._flush(pending, invariant, sliced, span[0])
        if not self.hoisted:
            return
        n = span[1] - span[0]
        grads: dict = {s: sliced[s].reshape(-1, *self.shapes[s][0][1:]) for s in reached}
        rows = {s: kept[s][span[0] * self.shapes[s][0][0]:span[1] * self.shapes[s][0][0]] for s in kept}
        self._hoisted_backward(grads, rows, closures, invariant, n, template)
        for s in x_grads.wanted:
            if s in grads:
                x_grads[s][span[0]:span[1]] += grads[s].reshape(n, *self.shapes[s][0])

    def _hoisted_backward(self, grads: dict, kept: dict, closures: list, invariant: dict, n: int,
                          template: list) -> None:
        """The hoisted instructions differentiated once, on a block of ``n`` steps' rows (backwards)."""
        for k in reversed(range(len(self.hoisted))):
            ins, settings = self.hoisted[k]
            g_out = tuple(grads.get(s) for s in ins.outs) if len(ins.outs) > 1 else grads.get(ins.outs[0])
            if g_out is None or (len(ins.outs) > 1 and all(gi is None for gi in g_out)):
                continue
            saved = [kept[s] if self.varies[s] else template[s] for s in self._saved_slots(ins)]
            vjps = ins.spec.vjps if ins.spec.vjps is not None else closures[k]
            fixed = ins.spec.vjps is not None and settings
            for j, s in enumerate(ins.args):
                if not self.needs_grad[s]:
                    continue
                grad = vjps[j](g_out, *saved, **settings) if fixed else vjps[j](g_out, *saved)
                if grad is None:
                    continue
                shape, dtype = self.shapes[s]
                if self.varies[s]:  # a stacked value (or xs): the block's rows
                    _accumulate(grads, s, grad, (n * shape[0], *shape[1:]), dtype)
                else:
                    _accumulate(invariant, s, grad, shape, dtype)

    def _flush(self, pending: dict, invariant: dict, sliced: dict, start: int) -> None:
        """Run each pending closed-over tensor's VJP once, on the steps' ḡ and
        saved values stacked along axis 0 (in time order), and add what it
        gives. ``sliced``: the block's (from step ``start``) stacked values'
        gradients, filled so far."""
        for (k, j), per_step in pending.items():
            ins = self.steps[k]
            per_step.sort(key=lambda entry: entry[0])
            g_out = self._stacked_g(per_step, sliced, start)
            saved = [np.concatenate([values[m] for _, _, values in per_step]) if self.varies[s]
                     else per_step[0][2][m] for m, s in enumerate(self._saved_slots(ins))]
            settings = self._row_settings(ins)
            grad = ins.spec.vjps[j](g_out, *saved, **settings) if settings else ins.spec.vjps[j](g_out, *saved)
            _accumulate(invariant, ins.args[j], grad, *self.shapes[ins.args[j]])
        pending.clear()

    def _stacked_g(self, per_step: list, sliced: dict, start: int):
        """The steps' ḡ stacked. A ḡ that is also a stacked value's gradient
        (addmm hands ḡ on to its first argument, the input projection) was
        replaced by that value's slot: its rows are read from ``sliced`` --
        without a copy when every step's is."""
        first, last = per_step[0][0] - start, per_step[-1][0] - start
        slots = {g if type(g) is int else None for _, g, _ in per_step}
        if len(slots) == 1 and None not in slots:
            buffer = sliced[slots.pop()][first:last + 1]
            return buffer.reshape(-1, *buffer.shape[2:])
        return np.concatenate([sliced[g][t - start] if type(g) is int else g for t, g, _ in per_step])

    # -- create_graph -----------------------------------------------------------------------------

    def tape_vjp(self, inputs: tuple, g: tuple, order: range) -> list:
        """The scan's VJP in a create_graph backward: the instructions replayed
        on the tape, step by step, from copies of the inputs (graph tensors,
        so what comes out is differentiable again), and differentiated back to
        the copies -- the partial derivatives of the loop alone."""
        copies = [clone(x) for x in inputs]
        n_carry, n_x = len(self.carry_in), len(self.x_in)
        template = [None if v is None else Tensor._make(v) for v in self.template]
        for s, x in zip(self.captured_slots, copies[n_carry + n_x:]):
            template[s] = x
        carry = copies[:n_carry]
        ys = [[None] * len(order) for _ in self.y_out]
        for t in order:
            values = list(template)
            for s, c in zip(self.carry_in, carry):
                values[s] = c
            for s, x in zip(self.x_in, copies[n_carry:n_carry + n_x]):
                values[s] = x[t]
            for ins in self.steps_in_trace_order():
                out = ins.op(*[values[a] for a in ins.args], **ins.settings)
                for s, o in zip(ins.outs, out if type(out) is tuple else (out,)):
                    values[s] = o
            carry = [values[s] for s in self.carry_out]
            for y, s in zip(ys, self.y_out):
                y[t] = values[s]
        outs = [stack(y) for y in ys] + carry
        pairs = [(out, gi) for out, gi in zip(outs, g) if gi is not None and out.requires_grad]
        if not pairs:
            return [None] * len(copies)
        wanted = [x for x in copies if x.requires_grad]
        grads = iter(backward([o for o, _ in pairs], [gi for _, gi in pairs], retain_graph=True, create_graph=True,
                              inputs=wanted))
        return [next(grads) if x.requires_grad else None for x in copies]

    def steps_in_trace_order(self) -> list:
        """Every instruction (hoisted and per step) in the order the trace made them."""
        return sorted([ins for ins, _ in self.hoisted] + self.steps, key=lambda ins: ins.outs[0])


class _Lazy(dict):
    """The xs' gradients, each made (zeros) when the first contribution
    arrives: an x no gradient reaches gets None, as in the loop."""

    def __init__(self, wanted: dict, shapes: list):
        super().__init__()
        self.wanted, self.shapes = wanted, shapes

    def __missing__(self, slot: int) -> np.ndarray:
        self[slot] = np.zeros(self.wanted[slot], self.shapes[slot][1])
        return self[slot]


def _add(grads, slot: int, grad) -> None:
    """grads[slot] += grad (a list or a dict; never in place: grad may be a ḡ others hold)."""
    previous = grads[slot] if isinstance(grads, list) else grads.get(slot)
    grads[slot] = grad if previous is None else previous + grad


def _accumulate(grads, slot: int, grad, shape: tuple, dtype) -> None:
    """grads[slot] += grad, once grad is summed to ``shape`` and cast to ``dtype``."""
    if grad is None:
        return
    grad = unbroadcast(grad, shape) if grad.shape != shape else grad
    grad = grad.astype(dtype) if grad.dtype != dtype else grad
    _add(grads, slot, grad)
