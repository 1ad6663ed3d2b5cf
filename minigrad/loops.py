"""scan: a loop over time that records one node (the shape of jax.lax.scan).

    final_carry, ys = mg.scan(step, init, xs, length=None, reverse=False, unroll=False)

*means* this loop -- and with ``unroll=True`` it *is* this loop (:func:`_loop`)::

    carry, ys = init, [None] * T
    for t in (reversed(range(T)) if reverse else range(T)):
        carry, ys[t] = step(carry, <the t-th slices of xs along axis 0>)
    return carry, <each y stacked along a new axis 0, in time order>

``init``, ``xs`` and what ``step`` returns may be a Tensor or (nested)
tuples, lists and dicts of Tensors (a NumPy array counts as a constant
Tensor, copied in grad mode as ``mg.tensor`` copies); ``step`` gets them
back in the same structure. The fast path gives the loop's values and
gradients (first and higher order) to float rounding. What it cannot
replay faithfully raises :class:`~minigrad.TraceError` when the step is
traced, naming the line; what only the loop can do (a step that closes
over an outer step's values, shapes that change from step to step) it
hands to the loop.

The fast path (docs/how-scan-works.md walks through it):

1. *Trace* (minigrad.tracing): the step runs once, on the first slices; its
   ops become instructions over numbered slots. Those that read no value
   that varies from step to step (made from ``consts`` or constants alone)
   run once per call, before the steps, and their VJPs once, after them.
2. *Replay*: every step, the first too, runs the instructions on bare
   arrays -- no Tensors, no Nodes (a kept program has them written out as
   straight-line Python) -- each keeping (its *frame*) only what the VJPs
   need.
   An instruction that depends on the slices alone, not on the carry, and
   whose op is proved to treat rows alike (its ``rows`` rule in
   minigrad.ops: the input projection ``x_t @ W + b``, say) is *hoisted*:
   it runs once on a block of steps' rows stacked along axis 0.
3. *Backward*: the frames backwards, with the VJPs the tape would call (a
   kept program has a step's VJP calls written out too). The
   gradient of a closed-over tensor that an op treating rows alike uses (U
   in ``h @ U``) is taken once per block, on the block's steps stacked; the
   hoisted instructions' VJPs run once per block too. The backward uses
   up the frames: a second one (retain_graph) replays the forward, which
   must give the first run's outputs bit for bit (a RuntimeError if not:
   the step reads what no trace sees, a custom op's own random draws).
4. *create_graph*: the instructions replayed on the tape, differentiated there.

Reusing a trace. A step usually closes over tensors that are new in every
call (a layer's weights, prepared for the loop), so each call traces its
step again: tens of microseconds per op, the most of a small model's
forward. Pass those tensors as ``consts`` instead -- ``step(carry, x,
consts)`` gets them as stand-ins, so what it computes from them is recorded
too -- and the step can be traced once: scan keeps the program and reuses it
for a later call with the same step object, the same structures, shapes
(the xs' per step), dtypes and requires_grad flags, grad and anomaly mode
and default dtype, giving bit for bit what a fresh trace gives. That is a
promise you make by passing consts: the step computes from its arguments
alone, as a function ``jax.jit`` traces -- no Python value that changes
between calls (a global flag, an attribute) steers it. What scan can check,
it does: a program whose step also reached a tensor by closure is not kept
(the next call may close over another one), nor one whose step read the
values of a tensor from outside (``t.item()``: they are constants of the
trace, and may have changed by the next call) or gave an op a NumPy array
among its settings (``clip(x, low=array)``, copied when traced); one whose
requires_grad flags had not settled within the steps it ran is kept for
that number of steps only.

A block is BLOCK_ROWS rows (steps × rows per step): big enough that a
hoisted matmul is one large product, small enough that neither the hoisted
values nor their gradients are held for the whole sequence.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from operator import itemgetter

import numpy as np

from .engine import backward, fitted, is_anomaly_enabled, is_grad_enabled, note_reads, record
from .ops import astype, clone, stack
from .tensor import Tensor, as_array, get_default_dtype, takes_over_ops
from .tracing import TraceError, Untraceable, trace
from .trees import flatten, flatten_like, unflatten

BLOCK_ROWS = 1024  # rows (steps × rows per step) that hoisted ops and batched weight VJPs run on at a time


def scan(step: Callable, init, xs=None, length: int | None = None, reverse: bool = False, unroll: bool = False,
         consts=None):
    """``(final_carry, ys)`` of ``carry, y = step(carry, x_t)`` over axis 0 of
    ``xs`` (see the module docstring). ``length`` gives T when ``xs`` is None.
    With ``consts`` (a tree of tensors the step reads, e.g. weights), the
    step is called as ``step(carry, x_t, consts)`` and may be traced once
    for many calls (see "Reusing a trace" in the module docstring)."""
    carry, carry_def = _flatten(init, "init")
    x_leaves, x_def = _flatten(xs, "xs")
    const_leaves, const_def = _flatten(consts, "consts")
    steps = _length(x_leaves, length)
    order = range(steps - 1, -1, -1) if reverse else range(steps)
    if unroll or any(takes_over_ops(v) for v in (*carry, *x_leaves, *const_leaves)):
        return _loop(step, carry, carry_def, x_leaves, x_def, order, const_leaves, const_def)  # (in a traced step)
    key = None if consts is None else _program_key(step, carry, carry_def, x_leaves, x_def, const_leaves, const_def)
    try:
        program = _programs.get(key, steps)
        fresh = program is None
        if fresh:
            program = _Program(step, carry, carry_def, x_leaves, x_def, order, const_leaves, const_def)
        inputs = (*carry, *x_leaves, *const_leaves, *program.closed[len(const_leaves):])
        note_reads(inputs)
        arrays = [t._data for t in inputs]
        recording = is_grad_enabled() and any(program.output_requires_grad)
        constants = program.constants(copy=recording)
        ys, final, tape = program.run(arrays, constants, order, keep=recording)
    except Untraceable:
        return _loop(step, carry, carry_def, x_leaves, x_def, order, const_leaves, const_def)
    if fresh and key is not None:
        _programs.put(key, program, steps)
    if not recording:
        outputs = [Tensor._make(a) for a in (*ys, *final)]
    else:
        wanted = [t.requires_grad for t in inputs]
        versions = [t._version for t in inputs]  # (the counters themselves: a create_graph VJP's copies share them)
        kept = [tape]
        del tape

        def vjp(g: tuple, outputs, *saved) -> list:
            """Every input's gradient (carry, xs, closed-over) at once."""
            if any(isinstance(gi, Tensor) for gi in g):  # create_graph: differentiate the loop on the tape
                again = program.run([as_array(x) for x in saved], constants, order, keep=False)
                _check_replay(step, [as_array(y) for y in outputs], [*again[0], *again[1]], "a create_graph backward")
                return program.tape_vjp(saved, versions, constants, g, order)
            if kept:
                frames = kept.pop()
            else:  # the backward used up the frames; another one (retain_graph) replays the forward
                *again, frames = program.run(list(saved), constants, order, keep=True)
                _check_replay(step, outputs, [*again[0], *again[1]], "a second backward (retain_graph)")
            return program.backward(frames, order, g, wanted)

        # saves the outputs (the frames hold them) and the inputs, so that in-place changes are caught
        outputs = record("scan", inputs, (*ys, *final), vjp, saves=(-1, *range(len(inputs))), arrays=arrays)
        outputs = [out if requires else out.detach()  # (as in the loop; detach shares the version counter)
                   for out, requires in zip(outputs, program.output_requires_grad)]
    n_y = len(program.y_out)
    return _unflatten(carry_def, list(outputs[n_y:])), _unflatten(program.y_def, list(outputs[:n_y]))


# -- reusing a trace ----------------------------------------------------------------------------

class _ProgramCache:
    """Traced programs kept for later calls (module docstring, "Reusing a
    trace"), by key: at most SIZE, the least recently used dropped first.
    Threads share it; a kept program is only read."""

    SIZE = 64

    def __init__(self):
        self._programs: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key, steps: int):
        """The program kept for ``key`` if it holds for ``steps`` steps, else None:
        the one for any number of steps from its horizon on, or the one for
        exactly ``steps`` (traced on fewer steps than its flags took to settle)."""
        if key is None:
            return None
        with self._lock:
            program = self._programs.get(key)
            if program is None or steps < program.horizon:
                key = (key, steps)
                program = self._programs.get(key)
            if program is not None:
                self._programs.move_to_end(key)
        return program

    def put(self, key, program, steps: int) -> None:
        """Keep ``program`` (after its first run on ``steps`` steps) if nothing
        ties it to its first call: for any number of steps from its horizon
        on, or, if its flags had not settled, for exactly ``steps``."""
        if not program.reusable:
            return
        program.forget_first_call()
        with self._lock:
            self._programs[key if program.horizon is not None else (key, steps)] = program
            while len(self._programs) > self.SIZE:
                self._programs.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._programs.clear()


_programs = _ProgramCache()


def _program_key(step: Callable, carry: list, carry_def, xs: list, x_def, consts: list, const_def):
    """What a trace of ``step`` depends on besides the step itself: the
    trees' structures, every leaf's shape (the xs' per step), dtype and
    requires_grad, the modes and the default dtype. None if unhashable."""
    key = (step, carry_def, x_def, const_def,
           tuple([(t.shape, t.dtype, t.requires_grad) for t in carry]),
           tuple([(t.shape[1:], t.dtype, t.requires_grad) for t in xs]),
           tuple([(t.shape, t.dtype, t.requires_grad) for t in consts]),
           is_grad_enabled(), is_anomaly_enabled(), get_default_dtype())
    try:
        hash(key)
    except TypeError:  # (a step object that cannot be a dict key)
        return None
    return key


# -- structures of tensors -----------------------------------------------------------------

_NOTHING = object()  # the description of no tree at all: xs=None, or a step whose y is None


_FIRST = object()  # a step's y before the first step: no structure to follow yet


def _flatten(tree, what: str, like=_FIRST) -> tuple[list, object]:
    """The Tensors of a tree (minigrad.trees; arrays count as constants, None
    is no tree), its dicts' keys in the order of those in ``like`` if given."""
    if tree is None:
        return [], _NOTHING
    if like is _FIRST:
        return flatten(tree, f"scan: {what}", arrays=_constant)
    return flatten_like(tree, like, f"scan: {what}", arrays=_constant)


def _constant(array: np.ndarray) -> Tensor:
    """A NumPy array in scan's trees as a constant Tensor: in grad mode a copy,
    as an op copies an array it saves (the tape may save this one, and the
    caller may refill theirs before the backward); under no_grad, nothing is
    saved, so no copy."""
    return Tensor._make(as_array(array, copy=is_grad_enabled()))


def _unflatten(description, leaves: list):
    return None if description is _NOTHING else unflatten(description, leaves)


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


def _call_step(step: Callable, carry_tree, x_tree, carry: Sequence[Tensor], carry_def, extra: tuple = (),
               y_def=_FIRST) -> tuple:
    """``step(carry, x, *extra)``, checked: the new carry's leaves (the
    carry's structure, shapes and dtypes), y's leaves and y's structure (the
    earlier steps' ``y_def`` if given: ys are stacked leaf by leaf). A dict's
    keys in another order are the same structure (trees.flatten_like)."""
    returned = step(carry_tree, x_tree, *extra)
    if not (isinstance(returned, tuple) and len(returned) == 2):
        raise TypeError(f"scan: step must return a pair (carry, y), got {type(returned).__name__}")
    new_carry, new_def = _flatten(returned[0], "the carry step returns", like=carry_def)
    if new_def != carry_def:
        raise TypeError("scan: step must return the carry in the structure it got (same nesting and number of "
                        f"tensors: {len(carry)})")
    for k, (old, new) in enumerate(zip(carry, new_carry)):
        if old.shape != new.shape or old.dtype != new.dtype:
            raise ValueError(f"scan: carry[{k}] goes in as {old.shape} {old.dtype} but comes out of step as "
                             f"{new.shape} {new.dtype}")
    y_leaves, new_y_def = _flatten(returned[1], "the y step returns", like=y_def)
    if y_def is not _FIRST and new_y_def != y_def:
        raise TypeError("scan: step must return y in the same structure at every step (same nesting, dict "
                        "keys and number of tensors): ys are stacked tensor by tensor")
    return new_carry, y_leaves, new_y_def


def _loop(step: Callable, carry: list, carry_def, xs: list, x_def, order: range, consts: list, const_def):
    """The plain Python loop, recorded op by op: the definition of scan (the
    consts, arrays among them as Tensors as the traced step gets them, are
    passed to every step)."""
    extra = () if const_def is _NOTHING else (_unflatten(const_def, consts),)
    ys: list = [None] * len(order)
    y_def = _FIRST
    for t in order:
        x = _unflatten(x_def, [x[t] for x in xs])
        carry, ys[t], y_def = _call_step(step, _unflatten(carry_def, carry), x, carry, carry_def, extra, y_def)
    stacked = [stack([y[k] for y in ys]) for k in range(len(ys[order[0]]))]
    return _unflatten(carry_def, carry), _unflatten(y_def, stacked)


def explain(step: Callable, init, xs=None, length: int | None = None, reverse: bool = False, consts=None) -> str:
    """What ``scan`` makes of ``step`` (traced once, on the first slices): the
    slots and the instructions, each run once per call, hoisted or run per
    step. For seeing why an op is not hoisted; docs/how-scan-works.md reads one."""
    carry, carry_def = _flatten(init, "init")
    x_leaves, x_def = _flatten(xs, "xs")
    const_leaves, const_def = _flatten(consts, "consts")
    steps = _length(x_leaves, length)
    order = range(steps - 1, -1, -1) if reverse else range(steps)
    return _Program(step, carry, carry_def, x_leaves, x_def, order, const_leaves, const_def).describe()


def _check_replay(step: Callable, first: tuple, again: list, why: str) -> None:
    """A replay of the forward (for a second backward, or before a create_graph
    one replays the steps on the tape) computes on the same arrays as the
    first run did, so it must give its outputs bit for bit. If not, the step
    reads something no trace sees (a custom op drawing from a NumPy generator
    of its own, or reading state changed since): the gradient would be taken
    at other values than the forward's, a RuntimeError."""
    for a, b in zip(first, again):
        if not np.array_equal(a, b, equal_nan=a.dtype.kind == "f"):
            raise RuntimeError(f"scan: {_name(step)} gave other outputs when its forward was replayed for {why}: "
                               "it reads something besides its arguments and the tensors "
                               "it closes over (a custom op drawing from a generator of its own, or reading state "
                               "changed since the forward), so the gradient would be taken at other values. Run "
                               "the plain loop (scan(..., unroll=True)), whose tape keeps the forward's values")


def _name(step: Callable) -> str:
    code = getattr(step, "__code__", None)
    return "the step" if code is None else f"the step ({code.co_filename}:{code.co_firstlineno} in {code.co_name})"


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
    """The traced step as instructions over slots (see tracing.Trace), each
    run hoisted (on a block of steps' rows at once) or per step.

    A slot *varies* if it changes from step to step (the inputs and what
    instructions make); else ``template`` holds its value (a closed-over
    tensor's array, a constant). It *needs grad* if a gradient must reach it
    in some step, and is *stacked* if the loop holds it as a block of steps'
    rows along axis 0: the xs (with at least one axis) and what hoisted
    instructions make. Nothing that depends on the carry is ever stacked."""

    def __init__(self, step: Callable, carry: list, carry_def, xs: list, x_def, order: range,
                 consts: Sequence[Tensor] = (), const_def=_NOTHING):
        n_carry, n_x, first = len(carry), len(xs), order[0]

        def traced_step(*values):
            extra = () if const_def is _NOTHING else (_unflatten(const_def, list(values[n_carry + n_x:])),)
            return _call_step(step, _unflatten(carry_def, list(values[:n_carry])),
                              _unflatten(x_def, list(values[n_carry:n_carry + n_x])), carry, carry_def, extra)

        inputs = [c._data for c in carry] + [x._data[first] for x in xs]
        record_, (new_carry, y_leaves, self.y_def) = trace(traced_step, inputs, _name(step), closed=consts)
        self.carry_in, self.x_in = list(range(n_carry)), list(range(n_carry, n_carry + n_x))
        self.carry_out = [record_.slot_of(c) for c in new_carry]
        self.y_out = [record_.slot_of(y) for y in y_leaves]
        self.closed = tuple(record_.closed.values())  # closed-over tensors: inputs of the scan's node
        self.closed_slots = list(record_.closed)
        self.arrays = record_.arrays  # the caller's NumPy arrays the step read (see constants)
        self.instructions = instructions = record_.instructions
        values = record_.values
        n = len(values)
        self.shapes = [(v.shape, v.dtype) for v in values]
        # an instruction that reads no varying value (consts, closed-over tensors, constants) runs once per call
        self.varies = [s < n_carry + n_x for s in range(n)]
        self.invariant: list = []
        for ins in instructions:
            if any(self.varies[a] for a in ins.args):
                for o in ins.outs:
                    self.varies[o] = True
            else:
                self.invariant.append(ins)
        self.template = [None if self.varies[s] else v for s, v in enumerate(values)]

        self.needs_grad, self.output_requires_grad, self.horizon, every_step = \
            self._follow_requires_grad(carry, xs, len(order))
        if is_grad_enabled() and any(self.needs_grad[s] for s in record_.outside_graph):
            raise Untraceable  # (a copy_ in the graph: the loop refuses it, and says where; or an in-place change
            # under no_grad in the step, which the loop makes keeping the tensor's gradient, as the trace cannot)
        self._check_input_changes(record_.input_changes, every_step, carry, consts, record_.arguments)
        # (see _ProgramCache; a step changing its inputs in place is checked against the call's leaves)
        self.reusable = len(self.closed) == len(consts) and not record_.read_values and not record_.input_changes
        self._plans: dict = {}  # the backward's plans (per step, run once), worked out at the first backward
        self._functions: dict = {}  # what a kept program has written out (see _written), and their sources:
        self.sources: dict = {}  # 'step', 'step backward', 'once', 'once backward'
        self.runs = 0
        self._row_settings: dict = {}  # id(instruction) -> row_settings (the instructions live as long as self)

        # hoisted: what depends on stacked values alone (not on the carry), if its op treats rows alike
        self.stacked = [s in self.x_in and values[s].ndim > 0 for s in range(n)]
        self.hoisted: list = []  # (instruction, its settings on stacked rows)
        self.steps: list = []  # the instructions run per step
        for ins in instructions:
            if ins.multi and -1 in ins.spec.saves_for(len(ins.args)):
                raise TraceError(f"scan: {ins.describe()} has several outputs and its VJP takes them: not supported "
                                 "inside a scan step (use unroll=True)")
            if not any(self.varies[a] for a in ins.args):
                continue  # (in self.invariant: run once per call)
            settings = self.hoisted_settings(ins)
            if settings is not None:
                self.hoisted.append((ins, settings))
                for o in ins.outs:
                    self.stacked[o] = True
            else:
                self.steps.append(ins)

        # what the replay reads and keeps
        per_step = {a for ins in self.steps for a in ins.args} | {*self.y_out, *self.carry_out}
        self.sliced = sorted(s for s in per_step if self.stacked[s] and s not in self.x_in)  # hoisted, read per step
        self.x_read = sorted(s for s in per_step if s in self.x_in)  # xs read per step
        self.hoist_kept = sorted({s for ins, _ in self.hoisted for s in ins.saved
                                  if self.varies[s] and s not in self.x_in})  # (xs rows can be sliced again)
        needed = {*self.y_out, *self.carry_out, *(s for ins in self.steps for s in ins.saved)}
        self.dropped = [s for s in range(n) if self.varies[s] and s not in needed]
        rows = [values[s].shape[0] for s in range(n) if self.varies[s] and values[s].ndim]
        self.block = max(1, BLOCK_ROWS // max(rows + [1]))  # steps per block
        # the ops whose output shapes are checked at every run (see _may_change_shape)
        per_call = {*self.closed_slots, *(o for ins in self.invariant for o in ins.outs)}
        self.shape_checked = {k for k, ins in enumerate(self.steps) if self._may_change_shape(ins, per_call)}
        self.once_shape_checked = {k for k, ins in enumerate(self.invariant) if self._may_change_shape(ins, per_call)}

    def _may_change_shape(self, ins, per_call: set) -> bool:
        """Can the output shape of ``ins`` depend on the data? For a custom op
        (all at once), and for a lookup by a mask or by an index that can
        change from step to step or from call to call (``per_call``: the
        closed-over tensors, the consts and what is made from them) -- a mask
        picking more or fewer. (A constant mask is a NumPy array the step
        read: it may be changed in place between calls.)"""
        return ins.spec.all_at_once or (ins.spec.name == "getitem" and any(
            self.varies[a] or a in per_call or self.shapes[a][1] == np.bool_ for a in ins.args[1:]))

    def _follow_requires_grad(self, carry: list, xs: list, steps: int) -> tuple[list, list, int | None, list]:
        """Which slots need grad in some step, which outputs (ys, final
        carry) require grad in the loop, from how many steps on both stay
        the same (None: not known), and every slot's flags in each step (one
        list per different set: the steps' flags are among them, and each is
        some step's). A value requires grad if an op made it from one that
        does (a differentiable op, a float value); the carry's flags are
        followed step by step until they repeat."""
        start = [False] * len(self.shapes)
        for s, t in zip((*self.x_in, *self.closed_slots), (*xs, *self.closed)):
            start[s] = t.requires_grad
        flows = [(ins.args, [o for o in ins.outs if self.shapes[o][1].kind == "f"])
                 for ins in self.instructions if ins.spec.differentiable]
        needs_grad, ys, every_step = [False] * len(start), [False] * len(self.y_out), []
        state, seen = tuple(t.requires_grad for t in carry), []  # the carry's flags entering each step
        while state not in seen and len(seen) < steps:
            seen.append(state)
            flags = list(start)
            for s, flag in zip(self.carry_in, state):
                flags[s] = flag
            for args, outs in flows:
                if any([flags[a] for a in args]):
                    for o in outs:
                        flags[o] = True
            every_step.append(flags)
            needs_grad = [a or b for a, b in zip(needs_grad, flags)]
            ys = [y or flags[s] for y, s in zip(ys, self.y_out)]
            state = tuple(flags[s] for s in self.carry_out)
        horizon = len(seen) if state == seen[-1] else None  # the flags stay put: any T >= horizon gives these
        if not is_grad_enabled():
            horizon = 1  # (nothing is recorded: the flags do not matter)
        if len(seen) < steps:  # the flags repeat from step `cycle` on: the final carry's are those of step T
            cycle = seen.index(state)
            state = seen[cycle + (steps - cycle) % (len(seen) - cycle)]
        return needs_grad, ys + list(state), horizon, every_step

    def _check_input_changes(self, changes: list, every_step: list, carry: list, consts: Sequence[Tensor],
                             arguments: int) -> None:
        """The step changes its inputs in place (``x op= y``, see
        tracing.Trace.change), which the trace recorded as new values: right
        only if the loop makes ``x op y`` a new tensor at every step (x or y
        requires grad: ``every_step``'s flags), else its TraceError. If x is
        a leaf that requires grad (the caller's init in the first step, or a
        const), the loop refuses the change: Untraceable, so that it says so.
        So it is when x is a carry the step replaces by one of its arguments
        (the first ``arguments`` slots) or a closed-over tensor, unchanged: a
        later step's x may then be a leaf."""
        leaves = {s for s, t in (*zip(self.carry_in, carry), *zip(self.closed_slots, consts))
                  if t.requires_grad and t._node is None}
        handed_on = {c for c, out in zip(self.carry_in, self.carry_out) if out < arguments or out in self.closed_slots}
        for (x, *other), message in changes:
            if not all(flags[x] or any([flags[a] for a in other]) for flags in every_step):
                raise TraceError(message)
            if x in leaves or x in handed_on:
                raise Untraceable

    def row_settings(self, ins):
        """The settings to run ``ins`` on stacked rows, or None if its op is not
        proved to treat rows alike here (its ``rows`` rule, minigrad.ops).
        (Asked several times per instruction: worked out once.)"""
        key = id(ins)
        if key not in self._row_settings:
            rule = ins.spec.rows
            self._row_settings[key] = None if rule is None else rule(
                [self.shapes[a][0] for a in ins.args], [self.shapes[o][0] for o in ins.outs],
                [self.varies[a] for a in ins.args], ins.settings)
        return self._row_settings[key]

    def hoisted_settings(self, ins):
        """Hoist ``ins`` (return its settings on stacked rows) if every value it
        reads that varies is stacked and its op treats rows alike; else None."""
        return self.row_settings(ins) if all(self.stacked[a] for a in ins.args if self.varies[a]) else None

    def batched(self, ins) -> bool:
        """Are the gradients of the closed-over tensors a per-step ``ins`` reads
        taken once per block, on its steps stacked? (Its op treats rows alike
        and has fixed VJPs: the VJP on stacked rows is the sum of the steps'.)"""
        return ins.spec.vjps is not None and len(ins.outs) == 1 and self.row_settings(ins) is not None

    def forget_first_call(self) -> None:
        """Drop what ties the program to the call that traced it (its tensors
        and what was made from them), so that a cache can keep it for later calls."""
        for s in [*self.closed_slots, *(o for ins in self.invariant for o in ins.outs)]:
            self.template[s] = None
        self.closed = ()

    def describe(self) -> str:
        """The slots and the instructions, each run once per call, hoisted or per step (what :func:`explain`
        prints)."""
        hoisted = {id(ins) for ins, _ in self.hoisted}
        kinds = ["constant"] * len(self.shapes)
        for slots, kind in ((self.carry_in, "carry"), (self.x_in, "x"), (self.closed_slots, "closed")):
            for s in slots:
                kinds[s] = kind
        once = {id(ins) for ins in self.invariant}
        for ins in self.instructions:
            for o in ins.outs:
                kinds[o] = "once" if id(ins) in once else "hoisted" if id(ins) in hoisted else "per step"
        lines = ["slot  kind      shape      dtype    needs grad"]
        lines += [f"{s:>4}  {kind:<8}  {str(shape):<9}  {str(dtype):<7}  {'yes' if self.needs_grad[s] else ''}"
                  for s, (kind, (shape, dtype)) in enumerate(zip(kinds, self.shapes))]
        lines.append("instructions")
        for ins in self.instructions:
            call = f"{ins.spec.name}({', '.join(map(str, ins.args))}) -> {', '.join(map(str, ins.outs))}"
            how = "once per call" if id(ins) in once else "hoisted" if id(ins) in hoisted else "per step"
            batched = [a for a in ins.args if not self.varies[a] and self.needs_grad[a]] \
                if how == "per step" and self.batched(ins) else []
            if batched:
                how += f"; gradient of {', '.join(map(str, batched))} per block"
            lines.append(f"  {call:<36} {how}")
        lines.append(f"returns carry {self.carry_out}, ys {self.y_out}; blocks of {self.block} steps")
        return "\n".join(lines)

    def _x_rows(self, xs: list, lo: int, hi: int) -> dict:
        """The stacked xs' arrays of steps lo..hi-1 as (steps·rows, ...), by slot."""
        return {s: xs[k][lo:hi].reshape((hi - lo) * xs[k].shape[1], *xs[k].shape[2:])
                for k, s in enumerate(self.x_in) if self.stacked[s]}

    def _hoist(self, xs: list, template: list, lo: int, hi: int) -> tuple[dict, list]:
        """The hoisted instructions run once on the rows of steps lo..hi-1:
        every stacked value of those steps as (steps·rows, ...), and the VJPs
        the ops returned (for ops whose VJPs are closures)."""
        stacked = self._x_rows(xs, lo, hi)
        closures = []
        for ins, settings in self.hoisted:
            arrays = _cast([stacked[s] if self.varies[s] else template[s] for s in ins.args], ins.casts)
            out, vjps = ins.spec.run(arrays, settings)
            outs = out if type(out) is tuple else (out,)
            for s, o in zip(ins.outs, outs):
                shape = self.shapes[s][0]
                if o.shape != ((hi - lo) * shape[0], *shape[1:]):
                    raise Untraceable  # (shapes that depend on the data: a lookup by a mask) the loop can do it
            closures.append(None if ins.spec.vjps is not None else vjps)
            stacked.update(zip(ins.outs, outs))
        return stacked, closures

    # -- the forward -----------------------------------------------------------------------------

    def forward_function(self, which: str) -> Callable[[list], list]:
        """``run(v) -> the VJPs the ops returned`` (None for fixed VJPs): the
        per-step instructions (``which`` = 'step', on a step's values ``v``
        by slot) or the run-once ones ('once', on the template); the outputs of
        ops whose shape may change are checked (see _may_change_shape). At a
        program's first run they are interpreted one by one; a kept program
        (run before) has them written out as one straight-line Python function
        (its source in ``self.sources[which]``), which saves a loop over the
        instructions and their options per op.
        Writing it (Python's ``compile``) costs about as much as tracing, so
        a program gets it at its second run: a program a cache keeps."""
        instructions, checked = (self.steps, self.shape_checked) if which == "step" else (
            self.invariant, self.once_shape_checked)
        if self.runs == 0:
            return _interpreted(instructions, checked, self.shapes)
        return self._written(which, lambda: _written_forward(instructions, checked, self.shapes))

    def _written(self, kind: str, write: Callable[[], tuple]) -> Callable:
        """The function of ``kind`` (see ``self.sources``), made by ``write() ->
        (function, source)`` the first time it is asked for."""
        if kind not in self._functions:
            self._functions[kind], self.sources[kind] = write()
        return self._functions[kind]

    def constants(self, copy: bool) -> list:
        """The arrays the step read (the caller's NumPy arrays: a mask, a
        scale) for one call -- copied when a backward will need them: the
        call's forward and every later replay of it (another backward, a
        create_graph one) read the copies, as the loop's ops keep what they
        save, so a change to the caller's array after the forward cannot reach
        the gradient."""
        arrays = [self.template[s] for s in self.arrays]
        return [a.copy() for a in arrays] if copy else arrays

    def _template(self, closed: Sequence, constants: list) -> list:
        """The fixed slots' values for one call: ``closed`` (the closed-over tensors') and ``constants``."""
        template = list(self.template)
        for s, value in zip((*self.closed_slots, *self.arrays), (*closed, *constants)):
            template[s] = value
        return template

    def run(self, inputs: list, constants: list, order: range, keep: bool) -> tuple:
        """``(ys, final carry, tape)`` from the arrays of the scan's inputs
        (carry, xs, closed-over) and the call's ``constants``. The tape (if
        ``keep``) holds every step's frame (the values its VJPs need), the
        VJPs its ops returned, and per block what the hoisted ops' VJPs need.
        Each y is copied into the stacked ys as soon as it is made, and the
        frame keeps that copy. Raises Untraceable if a replayed op fails or
        changes shape: the loop then says what went wrong, or does what the
        replay cannot."""
        n_carry, n_x = len(self.carry_in), len(self.x_in)
        carry, xs = inputs[:n_carry], inputs[n_carry:n_carry + n_x]
        template = self._template(inputs[n_carry + n_x:], constants)
        steps, block, shapes = len(order), self.block, self.shapes
        ys = [np.empty((steps, *shapes[s][0]), shapes[s][1]) for s in self.y_out]
        frames: list = [None] * steps
        made_vjps: list = [None] * steps
        blocks: dict = {}  # block number -> (hoisted VJP closures, hoisted values the VJPs need)
        run_step, run_once = self.forward_function("step"), self.forward_function("once")
        self.runs += 1
        previous = None
        lo = hi = -1
        carry_slots = list(zip(self.carry_in, self.carry_out))
        x_slots = [(s, xs[s - n_carry]) for s in self.x_read]
        y_slots = list(zip(ys, self.y_out))
        try:
            invariant_made = run_once(template)
            for t in order:
                if not lo <= t < hi:  # the hoisted instructions, on the block of steps that t starts
                    lo = t // block * block
                    hi = min(lo + block, steps)
                    stacked, closures = self._hoist(xs, template, lo, hi)
                    if keep:
                        blocks[lo // block] = (closures, {s: stacked[s] for s in self.hoist_kept})
                    per_step = [(s, stacked[s].reshape(hi - lo, *shapes[s][0])) for s in self.sliced]
                values = template.copy()
                if previous is None:
                    for s, value in zip(self.carry_in, carry):
                        values[s] = value
                else:
                    for s, s_before in carry_slots:
                        values[s] = previous[s_before]
                for s, x in x_slots:
                    values[s] = x[t]
                for s, rows in per_step:
                    values[s] = rows[t - lo]
                made = run_step(values)
                for y, s in y_slots:
                    y[t] = values[s]
                    values[s] = y[t]
                if keep:
                    for s in self.dropped:
                        values[s] = None
                    frames[t], made_vjps[t] = values, made
                previous = values
        except Untraceable:
            raise
        except Exception as error:  # the loop raises it again, at the line of the step that caused it
            raise Untraceable from error
        final = [np.array(previous[s], copy=True) for s in self.carry_out]  # (not the frame's, nor an input's)
        return ys, final, (frames, made_vjps, blocks, template, xs, invariant_made) if keep else None

    # -- the backward ------------------------------------------------------------------------

    def backward(self, tape: tuple, order: range, g: tuple, wanted: list) -> list:
        """The scan node's input gradients (carry, xs, closed-over) for its
        output gradients ``g`` = (*ȳs, *carry̅), all arrays; uses up the tape.

        Step by step backwards, each step's VJPs in reverse; a step's gradient
        of a stacked value goes into its block's buffer. When a block is done,
        the batched weight VJPs and the hoisted instructions' VJPs run once
        on its rows."""
        frames, made_vjps, blocks, template, xs, invariant_made = tape
        shapes, n_carry, steps, block = self.shapes, len(self.carry_in), len(order), self.block
        n_y = len(self.y_out)
        g_ys, carry_grads = g[:n_y], list(g[n_y:])
        x_grads = _Lazy({s: (steps, *shapes[s][0]) for k, s in enumerate(self.x_in) if wanted[n_carry + k]}, shapes)
        invariant = [None] * len(shapes)  # the gradients of the closed-over tensors, by slot
        pending: dict = {}  # (instruction, argument) -> per step [t, ḡ, saved], for one batched VJP per block
        step_backward = self.backward_function("step")
        lo = hi = -1
        sliced: dict = {}  # slot -> the current block's gradients of a stacked value the steps read
        reached: set = set()  # the sliced slots some gradient reached in the block
        n_slots, varies, needs_grad = len(shapes), self.varies, self.needs_grad
        carry_seeds = [(k, s, varies[s]) for k, s in enumerate(self.carry_out) if needs_grad[s]]
        y_seeds = [(gy, s, varies[s]) for s, gy in zip(self.y_out, g_ys) if gy is not None and needs_grad[s]]
        x_read = [s for s in self.x_read if s in x_grads.wanted]
        for t in reversed(order):
            if not lo <= t < hi:
                if lo >= 0:
                    self._block_backward(lo, hi, sliced, reached, pending, invariant, blocks, template, xs, x_grads)
                lo = t // block * block
                hi = min(lo + block, steps)
                sliced = {s: np.empty((hi - lo, *shapes[s][0]), shapes[s][1])
                          for s in self.sliced if self.needs_grad[s]}
                reached = set()
            grads = [None] * n_slots
            for k, s, step_value in carry_seeds:  # (a step may return what it closes over: not step_value)
                if carry_grads[k] is not None:
                    _add(grads if step_value else invariant, s, carry_grads[k])
            for gy, s, step_value in y_seeds:
                _add(grads if step_value else invariant, s, gy[t])
            fresh = step_backward(t, frames[t], made_vjps[t], grads, invariant, pending)
            frames[t] = made_vjps[t] = None
            carry_grads = [grads[s] for s in self.carry_in]
            for s in x_read:
                if grads[s] is not None:
                    x_grads[s][t] += grads[s]
            for s, buffer in sliced.items():
                grad = grads[s]
                buffer[t - lo] = 0 if grad is None else grad
                if grad is not None:
                    reached.add(s)
                    for entry in fresh:  # a pending ḡ that is these very rows: read it from the buffer, let it go
                        if entry[1] is grad:
                            entry[1] = s
        self._block_backward(lo, hi, sliced, reached, pending, invariant, blocks, template, xs, x_grads)
        self.backward_function("once")(-1, template, invariant_made, invariant, invariant, {})
        return ([grad if want else None for grad, want in zip(carry_grads, wanted)]
                + [x_grads.get(s) for s in self.x_in]
                + [invariant[s] for s in self.closed_slots])

    def backward_function(self, which: str) -> Callable:
        """``backward(t, values, made, grads, invariant, pending) -> fresh``:
        the VJPs of the per-step instructions (``which`` = 'step') or of the
        run-once ones ('once', called with -1, the template and ``grads`` =
        ``invariant``): the plain :meth:`_step_backward` on a plan, or, for a
        kept program (run more than once) not under detect_anomaly, written out."""
        instructions = self.steps if which == "step" else self.invariant
        plan = self._plans.get(which)
        if plan is None:
            plan = self._plans[which] = self._backward_plan(instructions, per_step=which == "step")
        anomaly = is_anomaly_enabled()
        if self.runs > 1 and not anomaly:  # (detect_anomaly's checks stay in the plain version)
            return self._written(f"{which} backward", lambda: _written_backward(plan))

        def backward(t, values, made, grads, invariant, pending):
            where = anomaly and (f"step {t}" if t >= 0 else "run once for all steps")
            return self._step_backward(t, values, made, grads, plan, invariant, pending, where)

        return backward

    def _backward_plan(self, instructions: list, per_step: bool) -> list:
        """Per instruction that a gradient must go through, backwards: what
        _step_backward needs, worked out once -- (k, its output slot or
        slots, multi, a getter of its saved values, its fixed VJPs or None,
        one VJP for all inputs?, its settings for fixed VJPs, the instruction,
        and per argument that needs grad (position, slot, batched?, shape,
        dtype, varies?)). Only per-step instructions are batched."""
        plan = []
        for k in reversed(range(len(instructions))):
            ins = instructions[k]
            batched = per_step and self.batched(ins)
            grad_args = [(j, a, batched and not self.varies[a], *self.shapes[a], self.varies[a])
                         for j, a in enumerate(ins.args) if self.needs_grad[a]]
            if grad_args and ins.spec.differentiable and ins.outs:
                plan.append((k, ins.outs if ins.multi else ins.outs[0], ins.multi, _getter(ins.saved),
                             ins.spec.vjps, ins.spec.all_at_once, ins.settings if ins.spec.vjps else None, ins,
                             grad_args))
        return plan

    @staticmethod
    def _step_backward(t: int, values: list, made: list, grads: list, plan: list, invariant: list, pending: dict,
                       where) -> list:
        """Step t's VJPs, its instructions backwards, adding into ``grads``
        (and ``invariant``); a batched one is left in ``pending`` as
        [t, ḡ, saved]. Returns the entries this step left there. ``where``:
        False, or under detect_anomaly which steps these are (for its message)."""
        fresh = []
        for k, out, multi, take_saved, fixed, at_once, settings, ins, grad_args in plan:
            if multi:
                g_out = tuple([grads[s] for s in out])
                if all(gi is None for gi in g_out):
                    continue
            else:
                g_out = grads[out]
                if g_out is None:
                    continue
            saved = take_saved(values)
            vjps = fixed or made[k]
            results = vjps(g_out, *saved) if at_once else None
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
                if grad.shape != shape or grad.dtype != dtype or where:
                    grad = _fit(grad, shape, dtype, ins, j, where, g_out, saved)
                into = grads if varies else invariant
                previous = into[s]
                into[s] = grad if previous is None else previous + grad  # never in place: grad may be ḡ
        return fresh

    def _block_backward(self, lo: int, hi: int, sliced: dict, reached: set, pending: dict, invariant: list,
                        blocks: dict, template: list, xs: list, x_grads: dict) -> None:
        """Steps lo..hi-1 done: their batched weight VJPs, then their hoisted
        instructions' VJPs, on their rows."""
        anomaly = is_anomaly_enabled() and f"steps {lo}..{hi - 1}, run together"
        self._flush(pending, invariant, sliced, lo, anomaly)
        closures, kept = blocks.pop(lo // self.block)
        if not self.hoisted:
            return
        n = hi - lo
        grads = [None] * len(self.shapes)  # the block's rows' gradients, by slot
        for s in reached:
            grads[s] = sliced[s].reshape(n * self.shapes[s][0][0], *self.shapes[s][0][1:])
        rows = {**self._x_rows(xs, lo, hi), **kept}
        for k in reversed(range(len(self.hoisted))):
            ins, settings = self.hoisted[k]
            g_out = tuple(grads[s] for s in ins.outs) if ins.multi else grads[ins.outs[0]]
            if g_out is None or (ins.multi and all(gi is None for gi in g_out)):
                continue
            saved = [rows[s] if self.varies[s] else template[s] for s in ins.saved]
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
                    _add(grads, s, _fit(grad, (n * shape[0], *shape[1:]), dtype, ins, j, anomaly, g_out, saved))
                else:
                    _add(invariant, s, _fit(grad, shape, dtype, ins, j, anomaly, g_out, saved))
        for s in x_grads.wanted:
            if grads[s] is not None:
                x_grads[s][lo:hi] += grads[s].reshape(n, *self.shapes[s][0])

    def _flush(self, pending: dict, invariant: list, sliced: dict, start: int, anomaly) -> None:
        """Run each pending closed-over tensor's VJP once, on the steps' ḡ and
        saved values stacked along axis 0 (in time order), and add what it
        gives. ``sliced``: the block's (from step ``start``) stacked values'
        gradients."""
        for (k, j), per_step in pending.items():
            ins = self.steps[k]
            per_step.sort(key=lambda entry: entry[0])
            g_out = self._stacked_g(per_step, sliced, start)
            saved = [np.concatenate([values[m] for _, _, values in per_step]) if self.varies[s]
                     else per_step[0][2][m] for m, s in enumerate(ins.saved)]
            settings = self.row_settings(ins)
            grad = ins.spec.vjps[j](g_out, *saved, **settings) if settings else ins.spec.vjps[j](g_out, *saved)
            if grad is not None:
                _add(invariant, ins.args[j], _fit(grad, *self.shapes[ins.args[j]], ins, j, anomaly, g_out,
                                                  saved))
        pending.clear()

    @staticmethod
    def _stacked_g(per_step: list, sliced: dict, start: int):
        """The steps' ḡ stacked. A ḡ that is also a stacked value's gradient
        (addmm hands ḡ on to its first argument, the input projection) was
        replaced by that value's slot: its rows are read from ``sliced`` --
        without a copy when every step's is."""
        first, last = per_step[0][0] - start, per_step[-1][0] - start
        slots = {g if type(g) is int else None for _, g, _ in per_step}
        if len(slots) == 1 and None not in slots and last - first + 1 == len(per_step):
            buffer = sliced[slots.pop()][first:last + 1]
            return buffer.reshape(-1, *buffer.shape[2:])
        return np.concatenate([sliced[g][t - start] if type(g) is int else g for t, g, _ in per_step])

    # -- create_graph -----------------------------------------------------------------------------

    def tape_vjp(self, inputs: tuple, versions: list, constants: list, g: tuple, order: range) -> list:
        """The scan's VJP in a create_graph backward: the instructions replayed
        on the tape, step by step, from copies of the inputs (graph tensors,
        so what comes out is differentiable again) and the call's
        ``constants``, and differentiated back to the copies -- the partial
        derivatives of the loop alone. Each copy shares the version counter
        of the scan's input (``versions``, kept at the call: the engine hands
        a computed input over as a new Tensor): the replayed ops save the
        copies, and an in-place change of an input after this backward (an
        optimizer step) must make the next backward through them raise, as
        the loop's ops, which saved the input itself, do -- not give
        derivatives at the old values."""
        copies = [clone(x) for x in inputs]
        for copy, version in zip(copies, versions):
            copy._version = version
        n_carry, n_x = len(self.carry_in), len(self.x_in)
        template = [v if v is None or isinstance(v, Tensor) else Tensor._make(v)
                    for v in self._template(copies[n_carry + n_x:], constants)]
        anomaly = is_anomaly_enabled()
        carry = copies[:n_carry]
        ys = [[None] * len(order) for _ in self.y_out]
        for t in order:
            values = list(template)
            for s, c in zip(self.carry_in, carry):
                values[s] = c
            for s, x in zip(self.x_in, copies[n_carry:n_carry + n_x]):
                values[s] = x[t]
            for ins in self.instructions:
                args = [values[a] for a in ins.args]
                if ins.casts is not None:
                    args = [a if c is None else astype(a, c) for a, c in zip(args, ins.casts)]
                out = ins.op(*args, **ins.settings)
                for s, o in zip(ins.outs, out if ins.multi else (out,)):
                    values[s] = o
                    if anomaly and o._node is not None and ins.where:
                        o._node.where = ins.where  # (detect_anomaly names the step's line, not this one)
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


class _Lazy(dict):
    """The xs' gradients, each made (zeros) when the first contribution
    arrives: an x no gradient reaches gets None, as in the loop."""

    def __init__(self, wanted: dict, shapes: list):
        super().__init__()
        self.wanted, self.shapes = wanted, shapes

    def __missing__(self, slot: int) -> np.ndarray:
        self[slot] = np.zeros(self.wanted[slot], self.shapes[slot][1])
        return self[slot]


def _add(grads: list, slot: int, grad) -> None:
    """grads[slot] += grad (never in place: grad may be a ḡ others hold)."""
    previous = grads[slot]
    grads[slot] = grad if previous is None else previous + grad


def _fit(grad: np.ndarray, shape: tuple, dtype, ins, j: int, where, g, saved: Sequence) -> np.ndarray:
    """The gradient instruction ``ins``'s VJP gave for its argument ``j`` from
    the output's gradient ``g`` (and the values it saved, ``saved``), summed
    to the argument's ``shape`` and cast to its ``dtype`` (engine.fitted);
    under detect_anomaly (``where``: which steps) checked for NaN/inf."""
    if grad.shape != shape or grad.dtype != dtype:
        grad = fitted(grad, shape, dtype, f"{ins.describe()} in scan", j, g, lambda: [
            value.shape for k, value in zip(ins.spec.saves_for(len(ins.args)), saved) if k >= 0])
    if where and not np.isfinite(grad).all():
        raise RuntimeError(f"detect_anomaly: the backward of {ins.describe()} in scan ({where}) produced NaN/inf "
                           f"in the gradient of its input {j}")
    return grad


# -- instructions run: interpreted, or written out as straight-line Python ---------------------------

def _interpreted(instructions: list, checked: set, shapes: list) -> Callable[[list], list]:
    """``run(v) -> the VJPs the ops returned`` (None for fixed VJPs): the
    instructions run one by one on the values ``v`` (by slot); those whose
    index is in ``checked`` have their outputs' shapes and dtypes checked
    (Untraceable if they differ from the trace's: the loop can do it)."""
    # per instruction: returns_vjps is 0 for fixed VJPs, 1 for one closure per input, 2 for one for all inputs
    plan = [(ins.spec.forward, _getter(ins.args), ins.settings,
             0 if ins.spec.vjps is not None else 2 if ins.spec.all_at_once else 1, ins.multi, ins.outs,
             ins.casts, k in checked) for k, ins in enumerate(instructions)]

    def run(values: list) -> list:
        made = []
        for forward, take_args, settings, returns_vjps, multi, outs, casts, check in plan:
            arrays = take_args(values) if casts is None else _cast(list(take_args(values)), casts)
            out = forward(*arrays, **settings) if settings else forward(*arrays)
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
            if check and any(values[s].shape != shapes[s][0] or values[s].dtype != shapes[s][1] for s in outs):
                raise Untraceable  # a shape that depends on the data: the loop can do it
        return made

    return run


def _written_forward(instructions: list, checked: set, shapes: list) -> tuple[Callable[[list], list], str]:
    """What :func:`_interpreted` does, written out as one function: (it, its source)."""
    names = {"ndarray": np.ndarray, "asarray": np.asarray, "Untraceable": Untraceable}
    lines, made = ["def run(v):"], []
    for k, ins in enumerate(instructions):
        names[f"op{k}"] = ins.spec.forward
        args = []
        for j, a in enumerate(ins.args):
            if ins.casts is None or ins.casts[j] is None:
                args.append(f"v[{a}]")
            else:
                names[f"dtype{k}_{j}"] = ins.casts[j]
                args.append(f"v[{a}].astype(dtype{k}_{j})")
        if ins.settings:
            names[f"settings{k}"] = ins.settings
            args.append(f"**settings{k}")
        call = f"op{k}({', '.join(args)})  # {_one_line(ins.spec.name)}"
        if ins.spec.vjps is not None:  # fixed VJPs (the op's own)
            lines.append(f"    out = {call}")
            made.append("None")
        else:  # VJPs made by this call: one for all inputs, or closures per input
            lines.append(f"    out, vjps{k} = {call}")
            made.append(f"vjps{k}" if ins.spec.all_at_once else f"(vjps{k} if type(vjps{k}) is tuple else (vjps{k},))")
        if ins.multi:
            lines.append(f"    {''.join(f'v[{o}], ' for o in ins.outs)}= out" if ins.outs else "    () = out")
        else:
            lines.append(f"    v[{ins.outs[0]}] = out if type(out) is ndarray else asarray(out)")
        if k in checked:  # a shape that depends on the data: the loop can do it
            for o in ins.outs:
                names[f"shape{o}"], names[f"dtype{o}"] = shapes[o]
                lines.append(f"    if v[{o}].shape != shape{o} or v[{o}].dtype != dtype{o}:")
                lines.append("        raise Untraceable")
    lines.append(f"    return [{', '.join(made)}]")
    return _compiled(lines, names, "run")


def _written_backward(plan: list) -> tuple[Callable, str]:
    """What :meth:`_Program._step_backward` does on ``plan`` (without
    detect_anomaly's checks), written out as one function of (t, values, made,
    grads, invariant, pending): (it, its source). Per op: its VJP calls and
    the sums into the gradients' slots."""
    names = {"fit": _fit}
    lines = ["def backward(t, v, made, grads, invariant, pending):", "    fresh = []"]
    for k, out, multi, _, fixed, at_once, settings, ins, grad_args in plan:
        saved = "".join(f"v[{a}], " for a in ins.saved)
        lines.append(f"    # {_one_line(ins.spec.name)}")
        if multi:
            lines.append(f"    g = ({''.join(f'grads[{o}], ' for o in out)})")
            lines.append(f"    if {' or '.join(f'g[{i}] is not None' for i in range(len(out)))}:")
        else:
            lines.append(f"    g = grads[{out}]")
            lines.append("    if g is not None:")
        if fixed is None:
            lines.append(f"        vjps = made[{k}]")
        if at_once:
            names[f"vjps{k}"] = fixed
            lines.append(f"        results = {'vjps' if fixed is None else f'vjps{k}'}(g, {saved})")
        if settings:
            names[f"settings{k}"] = settings
        for j, s, is_batched, shape, dtype, varies in grad_args:
            if is_batched:  # left for one batched VJP per block (see _step_backward)
                lines.append(f"        entry = [t, g, ({saved})]")
                lines.append(f"        fresh.append(entry); pending.setdefault(({k}, {j}), []).append(entry)")
                continue
            if at_once:
                lines.append(f"        grad = results[{j}]")
            elif fixed is None:
                lines.append(f"        grad = vjps[{j}](g, {saved})")
            else:
                names[f"vjp{k}_{j}"] = fixed[j]
                lines.append(f"        grad = vjp{k}_{j}(g, {saved}{f'**settings{k}' if settings else ''})")
            names[f"shape{s}"], names[f"dtype{s}"], names[f"ins{k}"] = shape, dtype, ins
            into = "grads" if varies else "invariant"
            lines += ["        if grad is not None:",
                      f"            if grad.shape != shape{s} or grad.dtype != dtype{s}:",
                      f"                grad = fit(grad, shape{s}, dtype{s}, ins{k}, {j}, False, g, ({saved}))",
                      f"            previous = {into}[{s}]",
                      f"            {into}[{s}] = grad if previous is None else previous + grad"]
    lines.append("    return fresh")
    return _compiled(lines, names, "backward")


def _one_line(name: str) -> str:
    """An op's name for a comment in written-out code (a user's op may be named anything)."""
    return " ".join(str(name).split())


def _compiled(lines: list, names: dict, name: str) -> tuple[Callable, str]:
    source = "\n".join(lines)
    exec(compile(source, f"<scan {name}>", "exec"), names)
    return names[name], source
