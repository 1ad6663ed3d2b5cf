"""Gradient checkpointing: memory for compute.

    outputs = mg.checkpoint(f)(*args)

gives ``f(*args)``, but the tape keeps one node holding f's inputs and
outputs instead of everything f computes. Its backward runs f again, on the
tape this time, and differentiates that. Cut a long loop into chunks of √T
steps and checkpoint each: the forward keeps √T chunk boundaries, the
backward holds one chunk's tape at a time -- memory O(√T) instead of O(T),
for one more forward pass (``python -m benchmarks.checkpoint``). Keep the
per-step outputs inside f too (compute the chunk's loss there): what f
returns is kept for the backward.

What f may do. Its arguments and results may be anything (Tensors, also
inside tuples, lists and dicts); the arguments that require grad get
gradients, and the outputs that require grad in f's run do (one f computes
under ``no_grad``, detaches or makes from constants comes back as f gives
it, a plain tensor). Tensors f closes
over that require grad (a layer's parameters) are found on the first run
and get gradients too. A closed-over tensor that was itself *computed* on
the tape cannot be re-entered by the recomputation: that is a ValueError
(pass it to f as an argument). Random draws from minigrad's generator
repeat exactly: the recomputation draws from a copy of the generator started
at the state the first run started from, and leaves the generator itself
alone (another thread may be drawing from it; one that draws while f's first
run does makes the recomputation differ: an error). Anything else that
would make the second run differ raises instead of giving a wrong
gradient. Every tensor f's ops read in the first run -- its arguments and
the tensors it closes over, whether they require grad or not -- is
watched: one changed in place before the backward makes the backward
raise, naming it, as it would without checkpoint; and an output of f
that is (a view of) a tensor it was given or read shares that tensor's
version counter, as f's own output would. A tensor f itself
changes in place in its first run (a running statistic updated under
``no_grad``, as BatchNorm does) is f's own state, not watched: other calls
of f, and the recomputation, change it again. If f also read it with grad
mode on (to compute what it returns), the recomputation would see another
value: that raises when f returns. (Own state f reads under ``no_grad`` to
compute its outputs is not caught unless the outputs change.) And the
recomputed outputs must equal the first run's bit for bit (which catches
draws from a generator of your own, and f's own state changing what it
returns). (What f reads other than through ops, ``.data`` or ``.numpy()``,
goes unseen, as for any op.)

Limits: gradients of gradients (a ``create_graph`` backward) through a
checkpoint raise; under ``no_grad``, in forward mode (duals) and inside a
traced scan step there is nothing to keep, and f just runs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from . import engine
from .random import get_rng, replaying
from .tensor import Tensor, clock, takes_over_ops
from .trees import flatten, replace_tensors, tensors_in, unflatten


def checkpoint(f: Callable) -> Callable:
    """``f`` that keeps only its inputs and outputs for the backward and
    computes the rest again there (see the module docstring)."""
    if not callable(f):
        raise TypeError(f"checkpoint: f must be callable, got {type(f).__name__}")
    name = f"checkpoint of {getattr(f, '__name__', type(f).__name__)}"

    @functools.wraps(f)
    def checkpointed(*args):
        given = tensors_in(args)
        if not engine.is_grad_enabled() or any(takes_over_ops(t) for t in given):
            return f(*args)
        wanted = list({id(t): t for t in given if t.requires_grad}.values())  # (a tensor passed twice: once)
        generator_state = get_rng().bit_generator.state
        start = next(clock)  # nodes f records and the changes it makes number from here on
        with engine.reading() as seen:
            outs, structure, copies = _run(f, args, wanted, [t._data for t in wanted])
        if any(takes_over_ops(o) for o in outs):  # f closes over duals: forward mode, nothing to keep
            with replaying(generator_state):  # (the same draws as f alone would make)
                return f(*args)
        params = _closed_over(outs, copies, start, name)
        inputs = wanted + params
        differentiable = [k for k, o in enumerate(outs) if o.requires_grad]  # (as f gives them)
        results = [_alias(o, copies, wanted) for o in outs]
        if not inputs or not differentiable:
            return unflatten(structure, results)
        del outs, copies  # (the first run's tape and what f made: freed, so that what is left of ...)
        read = _watched(seen, start, name)  # (... what f read came from outside it)

        def vjp(g: tuple, first: tuple, *saved) -> list:
            """Every input's gradient: f run again on the saved inputs, on the tape, and differentiated."""
            if any(isinstance(gk, Tensor) for gk in g):
                raise RuntimeError(f"{name}: gradients of gradients (create_graph) through a checkpoint are not "
                                   "supported; call f without checkpoint for them")
            _check_unchanged(read, start, args, name)
            with replaying(generator_state):
                again, _, copies = _run(f, args, wanted, saved[:len(wanted)])
            leaves = [again[k] for k in differentiable]
            for k, (new, old) in enumerate(zip(leaves, first)):
                if new.shape != old.shape or not np.array_equal(new._data, old, equal_nan=True):
                    raise RuntimeError(f"{name}: f computed output {differentiable[k]} differently when run again for "
                                       "the backward (it draws random numbers from a generator of its own, or reads "
                                       "state that changed, or another thread drew from minigrad's generator "
                                       "while f ran): the gradient would be wrong")
            roots = [(out, gk) for out, gk in zip(leaves, g) if gk is not None and out.requires_grad]
            if not roots:
                return [None] * len(inputs)
            grads = engine.backward([o for o, _ in roots], [Tensor._make(gk) for _, gk in roots],
                                    inputs=copies + params)
            return [None if gr is None else gr._data for gr in grads]

        node_outputs = engine.record(name, inputs, tuple(results[k]._data for k in differentiable), vjp,
                                     saves=(-1, *range(len(inputs))))
        for k, out in zip(differentiable, node_outputs):
            out._version = results[k]._version
            results[k] = out
        node_outputs[0]._node.watched_out = tuple(out._version for out in node_outputs)
        return unflatten(structure, results)

    return checkpointed


def _alias(out: Tensor, copies: list, wanted: list) -> Tensor:
    """A tensor of its own holding what f returned, ``out``'s data, sharing
    its version counter: when ``out`` is (a view of) a tensor f was given or
    read (``f = lambda a: a.reshape(3)``), an in-place change of that tensor
    changes what checkpoint returns, and what saved it must see that. (f ran
    on ``copies`` of the arguments that require grad: a view of one shares
    the counter of the argument in ``wanted`` instead.)"""
    result = Tensor._make(out._data)
    result._version = out._version
    for copy, given in zip(copies, wanted):
        if out._version is copy._version:
            result._version = given._version
            break
    return result


def _watched(seen: dict, start: int, name: str) -> list:
    """The weak references in ``seen`` to tensors still alive that f did not
    change in place in its first run (which started at ``start``). One f
    changed is f's own state (a running statistic), which other calls of f
    and the recomputation change again, so changes to it are not from
    outside -- unless f also read it with grad mode on, to compute what it
    returns: the recomputation would read the changed value, a RuntimeError."""
    watched = []
    for ref, read_with_grad in seen.values():
        t = ref()
        if t is None:
            continue
        if t._version[0] < start:
            watched.append(ref)
        elif read_with_grad:
            raise RuntimeError(f"{name}: f read a tensor of shape {t.shape} with grad mode on and then changed it "
                               "in place: the backward's recomputation of f would read the changed value. Change "
                               "it outside f, or call f without checkpoint")
    return watched


def _check_unchanged(read: list, start: int, args: tuple, name: str) -> None:
    """Raise if a tensor f read in its first run, and did not change itself
    (``read``: weak references), was changed in place since (its version is
    a later time than ``start``)."""
    for ref in read:
        t = ref()
        if t is not None and t._version[0] > start:
            positions = [k for k, arg in enumerate(args) if any(x is t for x in tensors_in(arg))]
            what = f"its argument {positions[0]}" if positions else "a tensor f closes over"
            raise engine.changed_in_place(name, f"{what} (shape {t.shape}), which f read,")


def _run(f: Callable, args: tuple, wanted: list, arrays) -> tuple[list, object, list]:
    """f on the tape, with the arguments that require grad replaced by fresh
    leaves holding ``arrays``: (f's output Tensors, its structure, the leaves)."""
    copies = {id(t): Tensor._make(a).requires_grad_() for t, a in zip(wanted, arrays)}
    with engine.enable_grad():
        out = f(*replace_tensors(args, lambda t: copies.get(id(t), t)))
    outs, structure = flatten(out, "checkpoint: what f returns", keep=True)
    return outs, structure, list(copies.values())


def _closed_over(outs: list, copies: list, start: int, name: str) -> list:
    """The leaves that require grad which f's outputs reach, other than
    ``copies`` (f's arguments as _run gave them): the tensors f closes over.
    A node numbered before ``start`` was recorded before f ran: an error."""
    found, seen, stack = {}, set(), []
    ours = {id(c) for c in copies}
    for out in outs:
        if out._node is not None:
            stack.append(out._node)
        elif out.requires_grad and id(out) not in ours:
            found[id(out)] = out
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        if node.seq < start:
            raise ValueError(f"{name}: f uses a tensor computed outside it that requires grad (made by "
                             f"'{node.name}'); the recomputation cannot re-enter the tape there: pass it to f as an "
                             "argument, or compute it inside f")
        for parent in node.parents or ():  # (None if f ran a backward through it: nothing to reach there)
            if parent is not None:
                target = parent[0]
                if type(target) is engine.Node:
                    stack.append(target)
                elif id(target) not in ours:
                    found.setdefault(id(target), target)
    return list(found.values())
