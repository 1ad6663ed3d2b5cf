"""The tape: grad mode, recording nodes, and the reverse sweep.

Every op that sees an input with ``requires_grad`` (while grad mode is on)
records one :class:`Node`: a sequence number that only grows, where each
input's gradient must go (``parents``), the op's VJP, and the values it
needs (the inputs and/or the output, nothing else) with their versions.

A VJP comes in one of two forms. Most ops give one function per input,
``vjp_i(g, *saved, **settings) -> that input's gradient`` (one line each in
ops.py). Ops that work out all their input gradients together (a custom
:class:`~minigrad.Function`, ``scan``) give one function for all of them,
``vjp(g, *saved) -> a gradient (or None) per input``. Either way the sweep
asks a node once, so nothing needs remembering between calls.

``backward`` pops nodes in decreasing sequence number from a heap -- every
consumer of a value was recorded after it, so a node's gradient is complete
when it pops. No recursion: a 100,000-step chain is fine. The engine sums
what arrives at each node and, unless ``retain_graph``, drops the node's
saved values as soon as it is done with them. A gradient that broadcasting
stretched is summed back to its input's shape in one place, :func:`unbroadcast`.

VJPs are written once, with operators and minigrad ops, and the sweep runs
them in one of two ways. In a plain backward it hands them bare NumPy arrays
(minigrad ops given only arrays just compute arrays), so they cost what the
NumPy arithmetic costs. With ``create_graph`` it hands them Tensors under
grad mode, so the same code is recorded and can be differentiated again.

Modes (grad, anomaly) are per thread, as in PyTorch: ``no_grad`` in one
thread does not switch recording off in another.
"""

from __future__ import annotations

import functools
import heapq
import inspect
import sys
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import ContextDecorator, contextmanager, nullcontext
from operator import itemgetter

import numpy as np

from .tensor import Tensor, clock, share_views


class _Modes(threading.local):
    """Per-thread switches (class attributes are each new thread's defaults)."""

    grad_enabled = True
    anomaly = False
    reads = None  # inside reading(): {id(tensor): (weakref, grad mode)} of the tensors ops read

    def __init__(self):  # (run in each thread: its own stack)
        self.saved: list[bool] = []  # the modes set_grad_enabled blocks restore, innermost last
        self.anomaly_saved: list[bool] = []  # and detect_anomaly blocks


_modes = _Modes()


class _GradMode:
    """Turn recording on or off inside a ``with`` block, in this thread; or, as
    a decorator, inside every call of a function -- for a generator function,
    inside each of its steps, with the caller's mode back between them (as in
    PyTorch: the code after a ``yield`` runs in the generator's mode, the loop
    around it in its own). An async function is refused: its body runs when
    awaited, after the call, and the thread's mode is shared by every
    coroutine of the event loop while it waits."""

    def __init__(self, enabled: bool):
        if not isinstance(enabled, (bool, np.bool_)):  # (bool("False") is True)
            raise TypeError(f"set_grad_enabled: enabled must be a bool, got {type(enabled).__name__} {enabled!r}")
        self.enabled = bool(enabled)

    def __enter__(self) -> None:
        modes = _modes
        modes.saved.append(modes.grad_enabled)  # (in the thread's own stack: one object may serve many threads)
        modes.grad_enabled = self.enabled

    def __exit__(self, *exception) -> None:
        modes = _modes
        modes.grad_enabled = modes.saved.pop()

    def __call__(self, function):
        enabled = self.enabled
        if not callable(function):
            raise TypeError(f"a grad mode decorates a function, got {type(function).__name__} {function!r}")
        if inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function):
            raise TypeError(f"a grad mode cannot decorate the async function {function.__qualname__}: use "
                            "`with` around the code that must run in the mode, between its awaits")
        if not inspect.isgeneratorfunction(function):
            @functools.wraps(function)
            def call(*args, **kwargs):
                with _GradMode(enabled):
                    return function(*args, **kwargs)

            return call

        @functools.wraps(function)
        def generator(*args, **kwargs):
            """``function``'s generator, each step run in the mode: what the
            caller sends or throws in is passed on, and a close() too."""
            steps, mode = function(*args, **kwargs), _GradMode(enabled)
            try:
                with mode:
                    value = steps.send(None)
                while True:
                    try:
                        sent = yield value
                    except GeneratorExit:
                        with mode:
                            steps.close()
                        raise
                    except BaseException as error:
                        with mode:
                            value = steps.throw(error)
                    else:
                        with mode:
                            value = steps.send(sent)
            except StopIteration as stop:
                return stop.value

        return generator


class set_grad_enabled(_GradMode):
    """Recording on or off: a ``with`` block or a decorator, as ``no_grad``;
    called on its own, as PyTorch's, it sets this thread's mode at once
    (``mg.set_grad_enabled(False)`` records nothing from then on). A block
    restores the mode from before the call, and a decorator changes none
    until the function runs."""

    def __init__(self, enabled: bool):
        super().__init__(enabled)
        self._before = (threading.get_ident(), _modes.grad_enabled)  # what the call changed, in which thread
        _modes.grad_enabled = self.enabled

    def _undo_call(self) -> None:
        """Put back the mode the call changed (a ``with`` block or a decorator sets its own)."""
        before, self._before = self._before, None
        if before is not None and before[0] == threading.get_ident():
            _modes.grad_enabled = before[1]

    def __enter__(self) -> None:
        self._undo_call()
        super().__enter__()

    def __call__(self, function):
        self._undo_call()
        return super().__call__(function)


def no_grad(function=None):
    """Record nothing inside: ``with no_grad():``, or ``@no_grad()`` -- or ``@no_grad``, as in PyTorch 2
    (the function is then given here)."""
    return _GradMode(False) if function is None else _GradMode(False)(function)


def enable_grad(function=None):
    """Record again, e.g. inside a ``no_grad`` block; as ``no_grad``, with or without parentheses."""
    return _GradMode(True) if function is None else _GradMode(True)(function)


def is_grad_enabled() -> bool:
    return _modes.grad_enabled


def is_anomaly_enabled() -> bool:
    return _modes.anomaly


class detect_anomaly(ContextDecorator):
    """Remember where each op is created and raise at the first NaN/inf
    gradient a backward produces, naming the op and that place: a ``with``
    block, or ``@detect_anomaly()`` on a plain function (a generator's or an
    async function's body runs after the call has returned, outside the
    mode: refused, where the decorator silently did nothing)."""

    def __enter__(self) -> None:
        modes = _modes
        modes.anomaly_saved.append(modes.anomaly)  # (the thread's own stack: one object may serve many threads)
        modes.anomaly = True

    def __exit__(self, *exception) -> None:
        modes = _modes
        modes.anomaly = modes.anomaly_saved.pop()

    def __call__(self, function):
        if inspect.isgeneratorfunction(function) or inspect.iscoroutinefunction(function) or \
                inspect.isasyncgenfunction(function):
            raise TypeError(f"detect_anomaly cannot decorate the generator or async function "
                            f"{function.__qualname__}: use `with mg.detect_anomaly():` inside it")
        return super().__call__(function)


@contextmanager
def reading() -> Iterator[dict]:
    """Note the tensors that ops (and scan) read inside the block, in this
    thread: ``{id(tensor): (weakref to it, read with grad mode on)}`` --
    weak, so that what the block makes and drops is not kept. An outer block
    gets them too. (What a checkpointed function reads, see
    minigrad/checkpointing.py.)"""
    modes = _modes
    outer, modes.reads = modes.reads, {}
    try:
        yield modes.reads
    finally:
        read, modes.reads = modes.reads, outer
        if outer is not None:
            for key, (ref, grad) in read.items():
                kept = outer.get(key)
                if kept is not None and kept[0]() is ref():  # (read in the outer block too)
                    grad = grad or kept[1]
                outer[key] = (ref, grad)


def note_reads(tensors) -> None:
    """Inside :func:`reading`, note ``tensors`` as read (and whether with grad mode on)."""
    reads, grad = _modes.reads, _modes.grad_enabled
    if reads is not None:
        for t in tensors:
            kept = reads.get(id(t))
            if kept is None or kept[0]() is not t:  # (an id may be that of a tensor that is gone)
                reads[id(t)] = (weakref.ref(t), grad)
            elif grad and not kept[1]:
                reads[id(t)] = (kept[0], True)


class Node:
    """One recorded op. ``parents[i]`` is None when input i needs no gradient,
    else ``(target, index, shape, dtype)``: the Node (and which of its
    outputs) or the leaf Tensor that receives input i's gradient.
    ``watched`` are the saved input tensors and ``watched_out`` the version
    counters of saved outputs: a tensor's version is the clock time of its
    last in-place change, so one changed after this node (later than
    ``seq``) makes the backward raise instead of using the new value."""

    __slots__ = ("seq", "name", "vjps", "settings", "parents", "saved", "saved_from", "watched", "watched_out",
                 "n_out", "multi", "retained", "where")

    def __init__(self, name: str, vjps, settings: dict | None, parents: tuple, saved_from: tuple, n_out: int,
                 multi: bool = False):
        self.seq = next(clock)
        self.name = name
        self.vjps = vjps  # a tuple, one VJP per input; or one callable giving all inputs' gradients
        self.settings = settings  # keyword arguments of the op, passed to per-input VJPs
        self.parents = parents
        self.saved = ()  # the arrays the VJPs use, in the order they are passed after g
        self.saved_from = saved_from  # where each came from: -1 the output, i input i
        self.watched = self.watched_out = ()
        self.n_out = n_out
        self.multi = multi  # a multi-output op's VJPs take a tuple of gradients (even of one)
        self.retained = None  # {output index: weakref to a Tensor} after retain_grad()
        self.where = user_frame() if _modes.anomaly else None


LIBRARIES = {"minigrad"}  # top-level packages whose frames are not "your code" (nn adds itself)


def user_frame(frame=None) -> str:
    """Where an op was called from: the innermost frame outside minigrad and,
    if that is inside another library (see LIBRARIES), the innermost frame of
    your own code too -- e.g. 'nn/recurrent.py:52 in _lstm_step <- train.py:10 in main'.
    (From ``frame`` outwards if given: where an exception was raised, say.)"""
    frame, places = frame or sys._getframe(1), []
    while frame is not None:
        package = frame.f_globals.get("__name__", "").partition(".")[0]
        if package != "minigrad" and not places:
            places.append(frame)
        if package not in LIBRARIES:
            if frame is not places[0]:
                places.append(frame)
            break
        frame = frame.f_back
    return " <- ".join(f"{f.f_code.co_filename}:{f.f_lineno} in {f.f_code.co_name}" for f in places) or "<unknown>"


def needs_grad(inputs: Sequence[Tensor]) -> bool:
    """Would an op on ``inputs`` be recorded now?"""
    return _modes.grad_enabled and any(x.requires_grad for x in inputs)


def record(name: str, inputs: Sequence[Tensor], out, vjps, saves: tuple = (), arrays=None,
           settings: dict | None = None):
    """Record a Node for an op whose inputs need grad (see needs_grad) and
    return its output Tensor(s); ``out`` is an array, or a tuple of arrays for
    a multi-output op. ``saves`` says what the VJPs get after g: -1 the
    output(s), i the array of input i (pass the inputs' ``arrays`` if at hand)."""
    make = Tensor._make
    multi = type(out) is tuple
    parents = tuple([(x._node or x, x._index, x._data.shape, x._data.dtype) if x._requires_grad else None
                     for x in inputs])  # (the slot behind the property: no traced value is recorded)
    node = Node(name, vjps, settings, parents, saves, len(out) if multi else 1, multi)
    outputs = tuple([make(o, node, i) for i, o in enumerate(out)]) if multi else make(out, node, 0)
    if multi or out.base is not None:
        share_views(outputs, inputs)
    if saves:
        pick_saved, pick_inputs, saves_output = _plan(saves)
        node.saved = pick_saved([*(arrays or [x._data for x in inputs]), out])  # (index -1: the output)
        node.watched = pick_inputs(inputs)
        if saves_output:
            node.watched_out = tuple([o._version for o in outputs]) if multi else (outputs._version,)
    return outputs


_plans: dict = {}


def _plan(saves: tuple) -> tuple:
    """How ``record`` keeps what ``saves`` names: a function picking the saved
    values, one picking the saved inputs, and whether the output is saved."""
    plan = _plans.get(saves)
    if plan is None:
        plan = _plans[saves] = (_picker(saves), _picker(tuple(k for k in saves if k >= 0)), -1 in saves)
    return plan


def _picker(positions: tuple):
    """values -> the tuple of values at ``positions`` (operator.itemgetter, always a tuple)."""
    if len(positions) == 1:
        (k,) = positions
        return lambda values: (values[k],)
    return itemgetter(*positions) if positions else (lambda values: ())


def unbroadcast(grad, shape: tuple):
    """Sum ``grad`` (an array or a Tensor) over the axes that broadcasting
    added or stretched, so that it gets ``shape`` -- the one place
    broadcasting is undone. A ``grad`` whose shape is no broadcast of
    ``shape`` is a ValueError: never reshaped into it."""
    lead = grad.ndim - len(shape)
    if lead < 0 or any(n != 1 and m != n for n, m in zip(shape, grad.shape[lead:])):
        raise ValueError(f"a gradient of shape {grad.shape} is not a broadcast of shape {shape}")
    stretched = tuple(lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1)
    summed = grad.sum(axis=tuple(range(lead)) + stretched, keepdims=True)
    return summed.reshape(shape)  # (drops the leading axes, now of size 1)


def fitted(grad, shape: tuple, dtype, op: str, i: int, g, inputs: Callable[[], list] = list):
    """The gradient ``op``'s VJP gave for its input ``i`` (of ``shape`` and
    ``dtype``) summed back to that shape (:func:`unbroadcast`) and cast to
    that dtype, or the error that names them. ``g`` is the output's gradient
    (a tuple for a multi-output op) the VJP was given. Broadcasting in the
    forward is all that gradients are summed back over, so an axis summed
    away must be one an output or another input (``inputs()``: the shapes
    known; a loss of x and y broadcast together) has with that size (a
    (5, 5) gradient for an input and output of shape (5,) is a mistake, not
    a sum); and a float gradient less precise than both the input and ``g``
    lost digits the op had (a VJP computing in float32 for float64)."""
    out = g if not isinstance(g, tuple) else next((o for o in g if o is not None), None)
    if grad.shape != shape:
        try:
            summed = unbroadcast(grad, shape)
        except ValueError:
            summed = None
        outs = (g.shape,) if type(g) is not tuple else tuple(o.shape for o in g if o is not None)
        if summed is None or (not _summed_as_broadcast(grad.shape, shape, outs)
                              and not _summed_as_broadcast(grad.shape, shape, (*outs, *inputs()))):
            raise RuntimeError(f"the backward of {op} returned a gradient of shape {grad.shape} for its input {i}, "
                               f"which has shape {shape}, from an output gradient of {_shapes(g)}: a VJP gives "
                               "the input's shape, or the input broadcast to the output's or another input's "
                               "shape") from None
        grad = summed
    if grad.dtype != dtype:
        if (grad.dtype.kind == "f" and dtype.kind == "f" and out is not None
                and grad.dtype.itemsize < min(dtype.itemsize, out.dtype.itemsize)):
            raise TypeError(f"the backward of {op} returned a {grad.dtype} gradient for its input {i}, of dtype "
                            f"{dtype}, from a {out.dtype} output gradient: computed in {grad.dtype}, it lost the "
                            "precision of both; compute it in the input's dtype")
        grad = grad.astype(dtype)
    return grad


def _summed_as_broadcast(grad_shape: tuple, shape: tuple, known: Sequence) -> bool:
    """Is every axis that unbroadcast sums ``grad_shape`` over (leading ones, and
    stretched 1s of ``shape``) an axis of one of the ``known`` shapes of the same size (right-aligned)?"""
    lead, size = len(grad_shape) - len(shape), len(grad_shape)
    for j, n in enumerate(grad_shape):
        if j < lead or (shape[j - lead] == 1 and n != 1):
            for other in known:
                k = j - size + len(other)
                if k >= 0 and other[k] == n:
                    break
            else:
                return False
    return True


def _shapes(g) -> str:
    return f"shapes {tuple(None if o is None else o.shape for o in g)}" if type(g) is tuple else f"shape {g.shape}"


def backward(roots: Sequence[Tensor], seeds: Sequence[Tensor], *, retain_graph: bool = False,
             create_graph: bool = False, inputs: Sequence[Tensor] | None = None) -> list | None:
    """The reverse sweep. With ``inputs=None`` gradients are added into the
    ``.grad`` of leaves (and of interior tensors that called retain_grad);
    otherwise nothing's ``.grad`` changes and the gradients of ``inputs`` are
    returned (None for an input the roots do not depend on). When every
    input is an interior tensor, the sweep stops as soon as the last one's
    gradient is complete: what lies beyond cannot change it."""
    pending: dict[Node, list] = {}  # node -> summed gradient of each of its outputs
    heap: list = []  # (-seq, node): the node with the highest sequence number pops first
    leaves: dict[int, list] = {}  # id(leaf) -> [leaf, summed gradient, is that sum our own buffer]
    owned: set = set()  # (node, index) whose pending sum is a buffer this sweep made: safe to add into
    wanted: dict[tuple, list] = {}  # (node, output index) -> the positions in inputs (a tensor may be listed twice)
    for k, x in enumerate(inputs or ()):
        if x._node is not None:
            wanted.setdefault((x._node, x._index), []).append(k)
    unfinished = len({node for node, _ in wanted}) if inputs and all(x._node is not None for x in inputs) else -1
    captured: list = [None] * len(inputs or ())
    push, pop = heapq.heappush, heapq.heappop
    anomaly = _modes.anomaly
    checking = anomaly or create_graph  # (every gradient goes through _fit)

    def send(target, index: int, grad) -> None:
        """Add ``grad`` to what ``target`` (a Node's output, or a leaf) has received."""
        if type(target) is not Node:
            entry = leaves.get(id(target))
            if entry is None:
                leaves[id(target)] = [target, grad, False]
            elif entry[2]:
                entry[1] += grad  # our own buffer: add in place (a Tensor just rebinds)
            else:  # the first gradient may be shared with other nodes: never write into it
                entry[1], entry[2] = entry[1] + grad, True
            return
        slots = pending.get(target)
        if slots is None:
            slots = pending[target] = [None] * target.n_out
            push(heap, (-target.seq, target))
        slots[index] = _sum_into(slots[index], grad, (target, index), owned, create_graph)

    # Under detect_anomaly a NaN/inf becomes our RuntimeError naming the op, not NumPy's warning.
    quiet = np.errstate(all="ignore") if anomaly else nullcontext()
    with _GradMode(create_graph), quiet:
        for root, seed in zip(roots, seeds):
            send(root._node or root, root._index, seed if create_graph else seed._data)
        while heap:
            node = pop(heap)[1]
            grads = pending.pop(node)
            if wanted or node.retained:
                if _capture(node, grads, wanted, captured, inputs is None):
                    unfinished -= 1
                    if unfinished == 0:
                        break
            if node.vjps is None:
                raise RuntimeError(
                    f"backward through '{node.name}' a second time: its saved values were freed by "
                    "the first backward; call the first backward with retain_graph=True")
            for t in node.watched:
                if t._version[0] > node.seq:
                    _changed(node)
            for counter in node.watched_out:
                if counter[0] > node.seq:
                    _changed(node)
            g = tuple(grads) if node.multi else grads[0]
            if create_graph:
                _check_differentiable(node)
            saved = _saved_tensors(node) if create_graph else node.saved
            vjps, settings = node.vjps, node.settings
            results = None if type(vjps) is tuple else _all_at_once(node, g, saved)
            for i, parent in enumerate(node.parents):
                if parent is None:
                    continue
                if results is not None:
                    grad = results[i]
                else:
                    grad = vjps[i](g, *saved, **settings) if settings else vjps[i](g, *saved)
                if grad is None:
                    continue
                target, index, shape, dtype = parent
                if grad.shape != shape or grad.dtype is not dtype or checking:
                    grad = _fit(grad, shape, dtype, node, i, g)
                if type(target) is Node:  # (send(), inlined for the common case)
                    slots = pending.get(target)
                    if slots is None:
                        slots = pending[target] = [None] * target.n_out
                        push(heap, (-target.seq, target))
                    previous = slots[index]
                    slots[index] = grad if previous is None else _sum_into(previous, grad, (target, index), owned,
                                                                           create_graph)
                else:
                    send(target, index, grad)
            if not retain_graph:
                node.vjps = node.parents = node.saved = None
                node.watched = node.watched_out = ()
    # (under create_graph the copies handed out are recorded too, whatever the caller's grad mode, as in PyTorch)
    with _GradMode(True) if create_graph else nullcontext():
        if inputs is not None:
            for k, x in enumerate(inputs):
                if x._node is None and id(x) in leaves:
                    captured[k] = leaves[id(x)][1]
            return [_own(g, create_graph) for g in captured]
        with _accumulating:
            for leaf, grad, _ in leaves.values():  # (all checked before any .grad changes)
                if grad.shape != leaf.shape:  # (.grad and .data check each other when assigned, but not this)
                    raise RuntimeError(
                        f"backward: a tensor was used with shape {grad.shape} and has shape {leaf.shape} now (its "
                        ".data was assigned since): its gradient is of the old one; run the forward again")
                if leaf.grad is not None and leaf.grad.shape != grad.shape:
                    raise RuntimeError(
                        f"backward: a tensor of shape {leaf.shape} has a .grad of shape {leaf.grad.shape} (its "
                        ".grad.data was assigned), which its new gradient would be broadcast into; no .grad has "
                        "changed: set .grad = None (zero_grad) and run the forward again")
            for leaf, grad, is_own in leaves.values():
                grad = _own(grad, create_graph, copy=not is_own)  # optimisers and clipping update .grad in place
                leaf.grad = grad if leaf.grad is None else leaf.grad + grad
    return None


_accumulating = threading.Lock()  # one thread at a time adds into .grad (two backwards into a shared leaf)


def _check_differentiable(node: Node) -> None:
    """A per-input VJP that closes over a float array its forward computed
    would use it as a constant under create_graph, and the second derivative
    would miss how it depends on the input: raise instead. (Masks, ids and
    shapes are fine; the values a VJP differentiates go through ``saves``.)"""
    if type(node.vjps) is not tuple:
        return  # one VJP for all inputs: a Function (which checks its saved values) or scan
    for vjp in node.vjps:
        vjp = getattr(vjp, "__wrapped__", vjp)  # (a user's VJP, as ops._handing_views wraps it)
        for cell in getattr(vjp, "__closure__", None) or ():
            value = cell.cell_contents
            if isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.size:
                raise RuntimeError(
                    f"create_graph through '{node.name}': its VJP closes over a float array of shape {value.shape} "
                    "worked out in its forward, a constant to the graph, so the second derivative would be wrong. "
                    "Save the values the VJP needs (save_inputs/save_output) and compute from them in the VJP")


def _all_at_once(node: Node, g, saved: tuple) -> list:
    """Call a node's one-for-all VJP and check it gave one gradient per input."""
    results = node.vjps(g, *saved)
    results = list(results) if isinstance(results, (tuple, list)) else [results]
    if len(results) != len(node.parents):
        raise RuntimeError(f"the backward of '{node.name}' returned {len(results)} gradient(s) for "
                           f"{len(node.parents)} input(s)")
    return results


def _changed(node: Node) -> None:
    """Raise: a value this node saved was changed in place after it was recorded."""
    positions = [k for k in node.saved_from if k >= 0]
    changed = [f"its input {k}" for k, t in zip(positions, node.watched) if t._version[0] > node.seq]
    changed += ["its output"] * any(counter[0] > node.seq for counter in node.watched_out)
    raise changed_in_place(node.name, f"{' and '.join(changed)} (saved for the backward)")


def changed_in_place(name: str, what: str) -> RuntimeError:
    """The error of a backward through op ``name`` that needs ``what``, changed in place since the op ran."""
    return RuntimeError(
        f"backward through '{name}': {what} was changed in place after the op ran -- e.g. by optimizer.step(), "
        "a += under no_grad, or a .data assignment. Compute the forward again after the change, or change a copy.")


def _sum_into(total, grad, key, owned: set, create_graph: bool):
    """total + grad, adding in place when ``total`` is a buffer this sweep made
    (the first gradient to arrive may be shared with other nodes, so it never is)."""
    if total is None:
        return grad
    if create_graph:
        return total + grad
    if key in owned:
        total += grad  # an ndarray adds in place; a NumPy scalar just rebinds
        return total
    owned.add(key)
    return total + grad


def _saved_tensors(node: Node) -> tuple:
    """The saved arrays as the graph's Tensors, for a create_graph backward:
    the output is this node's, an input is its parent's (the leaf itself, or
    that node's output) or a constant. (A plain backward passes the arrays.)"""
    tensors = []
    for origin, array in zip(node.saved_from, node.saved):
        parent = node.parents[origin] if origin >= 0 else None
        if origin < 0:
            tensors.append(tuple(Tensor._make(a, node, i) for i, a in enumerate(array)) if node.multi
                           else Tensor._make(array, node, 0))
        elif parent is None:
            tensors.append(Tensor._make(array))
        elif type(parent[0]) is Node:
            tensors.append(Tensor._make(array, parent[0], parent[1]))
        else:
            tensors.append(parent[0])  # a leaf: the very tensor, so its gradient reaches it
    return tuple(tensors)


def _own(grad, create_graph: bool, copy: bool = True) -> Tensor | None:
    """A gradient handed to the user as a Tensor of its own: never the seed,
    another tensor's gradient or a read-only broadcast view. Under
    create_graph it is a recorded copy (so it stays differentiable)."""
    if grad is None:
        return None
    if isinstance(grad, Tensor):
        from .ops import clone  # (ops imports this module)
        return clone(grad)
    return Tensor._make(np.array(grad, copy=True) if copy else np.asarray(grad))


def _capture(node: Node, grads: list, wanted: dict, captured: list, accumulate: bool) -> bool:
    """Hand the summed output gradients of ``node`` to grad()'s interior
    ``inputs`` and to tensors that asked for retain_grad(). True if the
    node holds one of the inputs."""
    found = False
    for index, grad in enumerate(grads):
        for position in wanted.get((node, index), ()):
            captured[position] = grad  # (each handed out as a copy of its own)
            found = True
    if accumulate and node.retained:
        for index, ref in node.retained.items():
            tensor, grad = ref(), grads[index]
            if tensor is not None and grad is not None:
                grad = _own(grad, isinstance(grad, Tensor))
                with _accumulating:
                    tensor.grad = grad if tensor.grad is None else tensor.grad + grad
    return found


def _input_shapes(node: Node) -> list:
    """The shapes of ``node``'s inputs that it knows: those that get a gradient, and the saved ones."""
    return [p[2] for p in node.parents if p is not None] + [a.shape for k, a in zip(node.saved_from, node.saved)
                                                            if k >= 0]


def _fit(grad, shape: tuple, dtype, node: Node, i: int, g):
    """Bring a VJP's gradient for input ``i`` to that input's shape and dtype
    (:func:`fitted`); check for NaN/inf under detect_anomaly. Under
    create_graph (``g`` a Tensor, or a tuple holding one: a multi-output
    op's first output may be unused, its ḡ None) a gradient that is no
    Tensor -- a VJP that computed on ``g.data`` or ``.numpy()`` -- would be a
    constant, the derivatives through it lost without a word: an error,
    unless it is all zeros (a VJP is linear in ḡ: zeros are zeros at every
    ḡ, as for a step function's ``np.zeros_like``), which becomes a constant."""
    if not isinstance(grad, Tensor) and (isinstance(g, Tensor) or type(g) is tuple and any(
            isinstance(gk, Tensor) for gk in g)):
        if np.any(grad):
            raise RuntimeError(f"create_graph through '{node.name}': its VJP gave a plain {type(grad).__name__}, not "
                               f"a Tensor, for its input {i}; a constant to the graph, the second derivative would "
                               "miss it. Compute it with minigrad ops on the Tensors the VJP gets (not .data or "
                               ".numpy())")
        grad = Tensor._make(np.asarray(grad))
    if grad.shape != shape or grad.dtype != dtype:
        grad = fitted(grad, shape, dtype, f"'{node.name}'", i, g, lambda: _input_shapes(node))
    data = grad._data if isinstance(grad, Tensor) else grad
    if _modes.anomaly and not np.isfinite(data).all():
        raise RuntimeError(f"detect_anomaly: the backward of '{node.name}' produced NaN/inf in the gradient "
                           f"of its input {i}; the op was created at {node.where or '<before detect_anomaly>'}")
    return grad
