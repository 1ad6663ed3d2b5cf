"""The tape: grad mode, recording nodes, and the reverse sweep.

Every op that sees an input with ``requires_grad`` (while grad mode is on)
records one :class:`Node`: a sequence number that only grows, where each
input's gradient must go (``parents``), one VJP per input, and the values
those VJPs need (the inputs and/or the output, nothing else).

``backward`` pops nodes in decreasing sequence number from a heap -- every
consumer of a value was recorded after it, so a node's gradient is complete
when it pops. No recursion: a 100,000-step chain is fine. Each VJP maps the
output gradient ``g`` to one input's gradient; the engine sums what arrives
at each node and, unless ``retain_graph``, drops the node's saved values as
soon as it is done with them. A gradient that broadcasting stretched is
summed back to its input's shape in one place, :func:`unbroadcast`.

VJPs are written once, with operators and minigrad ops, and the sweep runs
them in one of two ways. In a plain backward it hands them bare NumPy arrays
(minigrad ops given only arrays just compute arrays), so they cost what the
NumPy arithmetic costs. With ``create_graph`` it hands them Tensors under
grad mode, so the same code is recorded and can be differentiated again.
"""

from __future__ import annotations

import heapq
import itertools
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext

import numpy as np

from .tensor import Tensor


class _Mode:
    """Global switches: is recording on, is anomaly detection on, and the
    list that logs every primitive call while ``scan`` traces a step."""

    grad_enabled = True
    anomaly = False
    tracer: list | None = None


_mode = _Mode()
_seq = itertools.count()


@contextmanager
def set_grad_enabled(enabled: bool) -> Iterator[None]:
    """Turn recording on or off inside a ``with`` block (or as a decorator)."""
    previous, _mode.grad_enabled = _mode.grad_enabled, bool(enabled)
    try:
        yield
    finally:
        _mode.grad_enabled = previous


def no_grad():
    """Record nothing inside: ``with no_grad():`` or ``@no_grad()``."""
    return set_grad_enabled(False)


def enable_grad():
    """Record again, e.g. inside a ``no_grad`` block."""
    return set_grad_enabled(True)


def is_grad_enabled() -> bool:
    return _mode.grad_enabled


@contextmanager
def detect_anomaly() -> Iterator[None]:
    """Remember where each op is created and raise at the first NaN/inf
    gradient a backward produces, naming the op and that place."""
    previous, _mode.anomaly = _mode.anomaly, True
    try:
        yield
    finally:
        _mode.anomaly = previous


class Node:
    """One recorded op. ``parents[i]`` is None when input i needs no gradient,
    else ``(target, index, shape, dtype)``: the Node (and which of its
    outputs) or the leaf Tensor that receives input i's gradient."""

    __slots__ = ("seq", "name", "vjps", "parents", "saved", "saved_from", "n_out", "multi", "retained", "where")

    def __init__(self, name: str, vjps: tuple, parents: tuple, saved: tuple, saved_from: tuple, n_out: int,
                 multi: bool = False):
        self.seq = next(_seq)
        self.name = name
        self.vjps = vjps  # one VJP per input: vjp(g, *saved) -> that input's gradient
        self.parents = parents
        self.saved = saved  # the arrays the VJPs use, in the order they are passed after g
        self.saved_from = saved_from  # where each came from: -1 the output, i input i
        self.n_out = n_out
        self.multi = multi  # a multi-output op's VJPs take a tuple of gradients (even of one)
        self.retained = None  # {output index: weakref to a Tensor} after retain_grad()
        self.where = _user_frame() if _mode.anomaly else None


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _user_frame() -> str:
    """'file:line in function' of the innermost caller outside minigrad."""
    frame = sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR):
        frame = frame.f_back
    if frame is None:
        return "<unknown>"
    return f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"


def needs_grad(inputs: Sequence[Tensor]) -> bool:
    """Would an op on ``inputs`` be recorded now?"""
    return _mode.grad_enabled and any(x.requires_grad for x in inputs)


def record(name: str, inputs: Sequence[Tensor], out, vjps: tuple, saves: tuple = (), input_arrays=None):
    """Record a Node for an op whose inputs need grad (see needs_grad) and
    return its output Tensor(s); ``out`` is an array, or a tuple of arrays for
    a multi-output op. ``saves`` says what the VJPs get after g: -1 the
    output, i the array of input i (pass ``input_arrays`` if at hand)."""
    make = Tensor._make
    multi = type(out) is tuple
    parents = tuple([(x._node or x, x._index, x.data.shape, x.data.dtype) if x.requires_grad else None
                     for x in inputs])
    if saves:
        arrays = input_arrays or [x.data for x in inputs]
        saved = tuple([out if k < 0 else arrays[k] for k in saves])
    else:
        saved = ()
    node = Node(name, vjps, parents, saved, saves, len(out) if multi else 1, multi)
    if multi:
        return tuple([make(o, node, i) for i, o in enumerate(out)])
    return make(out, node, 0)


def unbroadcast(grad, shape: tuple):
    """Sum ``grad`` (an array or a Tensor) over the axes that broadcasting
    added or stretched, so that it gets ``shape`` -- the one place
    broadcasting is undone."""
    lead = grad.ndim - len(shape)
    stretched = tuple(lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1)
    return grad.sum(axis=tuple(range(lead)) + stretched, keepdims=True).reshape(shape)


def backward(roots: Sequence[Tensor], seeds: Sequence[Tensor], *, retain_graph: bool = False,
             create_graph: bool = False, inputs: Sequence[Tensor] | None = None,
             stop_at_inputs: bool = False) -> list | None:
    """The reverse sweep. With ``inputs=None`` gradients are added into the
    ``.grad`` of leaves (and of interior tensors that called retain_grad);
    otherwise nothing's ``.grad`` changes and the gradients of ``inputs`` are
    returned (None for an input the roots do not depend on). With
    ``stop_at_inputs`` the sweep goes no further than the inputs: it gives
    the partial derivatives, as if the inputs were independent leaves."""
    pending: dict[Node, list] = {}  # node -> summed gradient of each of its outputs
    heap: list = []  # (-seq, node): the node with the highest sequence number pops first
    leaves: dict[int, list] = {}  # id(leaf) -> [leaf, summed gradient, is that sum our own buffer]
    owned: set = set()  # (node, index) whose pending sum is a buffer this sweep made: safe to add into
    wanted = {(x._node, x._index): k for k, x in enumerate(inputs or ()) if x._node is not None}
    captured: list = [None] * len(inputs or ())
    push, pop = heapq.heappush, heapq.heappop
    anomaly = _mode.anomaly

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
    with set_grad_enabled(create_graph), quiet:
        for root, seed in zip(roots, seeds):
            send(root._node or root, root._index, seed if create_graph else seed.data)
        while heap:
            node = pop(heap)[1]
            grads = pending.pop(node)
            if wanted or node.retained:
                _capture(node, grads, wanted, captured, inputs is None)
                if stop_at_inputs and any((node, index) in wanted for index in range(node.n_out)):
                    continue
            if node.vjps is None:
                raise RuntimeError(
                    f"backward through '{node.name}' a second time: its saved values were freed by "
                    "the first backward; call the first backward with retain_graph=True")
            g = tuple(grads) if node.multi else grads[0]
            saved = _saved_tensors(node) if create_graph else node.saved
            for parent, vjp in zip(node.parents, node.vjps):
                if parent is None:
                    continue
                grad = vjp(g, *saved)
                if grad is None:
                    continue
                target, index, shape, dtype = parent
                if grad.shape != shape or grad.dtype is not dtype or anomaly:
                    grad = _fit(grad, shape, dtype, node, node.parents.index(parent))
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
    if inputs is not None:
        for k, x in enumerate(inputs):
            if x._node is None and id(x) in leaves:
                captured[k] = leaves[id(x)][1]
        return [_as_tensor(g) for g in captured]
    for leaf, grad, owned in leaves.values():
        grad = _as_tensor(grad, copy=not owned)  # a buffer of its own: optimisers update .grad in place
        leaf.grad = grad if leaf.grad is None else leaf.grad + grad
    return None


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
            tensors.append(Tensor._make(array, node, 0))
        elif parent is None:
            tensors.append(Tensor._make(array))
        elif type(parent[0]) is Node:
            tensors.append(Tensor._make(array, parent[0], parent[1]))
        else:
            tensors.append(parent[0])  # a leaf: the very tensor, so its gradient reaches it
    return tuple(tensors)


def _as_tensor(grad, copy: bool = False) -> Tensor | None:
    if grad is None or isinstance(grad, Tensor):
        return grad
    return Tensor._make(np.array(grad, copy=True) if copy else np.asarray(grad))


def _capture(node: Node, grads: list, wanted: dict, captured: list, accumulate: bool) -> None:
    """Hand the summed output gradients of ``node`` to grad()'s interior
    ``inputs`` and to tensors that asked for retain_grad()."""
    for index, grad in enumerate(grads):
        position = wanted.get((node, index))
        if position is not None:
            captured[position] = grad
    if accumulate and node.retained:
        for index, ref in node.retained.items():
            tensor, grad = ref(), _as_tensor(grads[index], copy=True)
            if tensor is not None and grad is not None:
                tensor.grad = grad if tensor.grad is None else tensor.grad + grad


def _fit(grad, shape: tuple, dtype, node: Node, i: int):
    """Bring a VJP's gradient for input ``i`` to that input's shape and dtype;
    check for NaN/inf under detect_anomaly."""
    if grad.shape != shape:
        try:
            grad = unbroadcast(grad, shape)
        except ValueError:
            grad = None
        if grad is None or grad.shape != shape:
            raise RuntimeError(f"the VJP of '{node.name}' returned a gradient that cannot be reduced to "
                               f"input {i}'s shape {shape}")
    if grad.dtype != dtype:
        grad = grad.astype(dtype)
    data = grad.data if isinstance(grad, Tensor) else grad
    if _mode.anomaly and not np.isfinite(data).all():
        raise RuntimeError(f"detect_anomaly: the backward of '{node.name}' produced NaN/inf in the gradient "
                           f"of its input {i}; the op was created at {node.where or '<before detect_anomaly>'}")
    return grad
