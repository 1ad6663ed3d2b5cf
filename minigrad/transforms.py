"""Function transforms: derivatives of functions, not of tensors.

- ``grad(outputs, inputs)`` (like torch.autograd.grad) and
  ``value_and_grad(f)`` (like jax.value_and_grad): the gradient, by the tape.
- ``vjp(f, *primals) -> (outputs, pullback)``: reverse mode in general;
  ``pullback(ū)`` gives ūᵀJ for any cotangent ū, as often as you like.
- ``jvp`` (minigrad.forward): forward mode, J·v, no tape.
- ``jacfwd(f)`` builds the Jacobian column by column (one ``jvp`` per input
  element), ``jacrev(f)`` row by row (one forward, then one pullback per
  output element). For f: Rⁿ → Rᵐ the first costs n passes, the second m:
  forward mode for tall Jacobians, reverse mode for wide ones (a gradient).
- ``hessian(f) = jacfwd(jacrev(f))`` and ``hvp(f, primals, tangents)``,
  the Hessian-vector product as forward mode over reverse mode.

They compose (a hessian is a jacfwd of a jacrev; jacrev of jacrev works
too): ``vjp`` differentiates the duals of an enclosing ``jvp`` -- a gradient
of a dual is the dual of the gradients of its parts (below) -- and records
its own gradients on the tape (``create_graph``) exactly when something
outside it may differentiate them again.

Reverse mode over duals. Inside ``jvp`` an input x is a dual x₀ + ε·ẋ (ε² =
0). The tape records f's value f(x₀) and its tangent ḟ = f′(x₀)·ẋ as two
plain computations of x₀ (ẋ comes from outside, a constant to x₀). The
gradient's tangent -- the derivative along ε of ∇f -- is then the gradient of
the tangent, ∇(f′(x₀)·ẋ) = ∇²f(x₀)·ẋ, since derivatives commute. So ``vjp``
over duals runs one reverse sweep per part (value, tangent, and at deeper
nesting the tangents of tangents) and reassembles the dual: the derivative
of a gradient along ε without a second tape.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from . import engine
from .forward import Dual, checked_inputs, checked_jvp, from_parts, innermost, jvp, parts, with_base
from .ops import astype, clone, reshape, stack
from .tensor import Tensor, _seed, takes_over_ops
from .tracing import Untraceable
from .trees import flatten, flatten_like, unflatten


def _as_list(x: Any) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def grad(outputs: Tensor | Sequence[Tensor], inputs: Tensor | Sequence[Tensor],
         grad_outputs: Any = None, retain_graph: bool | None = None, create_graph: bool = False,
         allow_unused: bool = False) -> tuple[Tensor | None, ...]:
    """Σ_k grad_outputs[k] · d outputs[k] / d inputs, one Tensor per input.

    ``retain_graph`` defaults to ``create_graph``; with ``create_graph`` the
    result is itself differentiable. An input the outputs do not depend on is
    an error unless ``allow_unused`` (then its gradient is None)."""
    outputs, inputs = _as_list(outputs), _as_list(inputs)
    for flag, value in (("retain_graph", retain_graph), ("create_graph", create_graph), ("allow_unused", allow_unused)):
        if not isinstance(value, (bool, np.bool_)) and (value is not None or flag != "retain_graph"):
            raise TypeError(f"grad: {flag} must be a bool, got {type(value).__name__} {value!r}")
    seeds = _as_list(grad_outputs) if grad_outputs is not None else [None] * len(outputs)
    if len(seeds) != len(outputs):
        raise ValueError(f"grad: got {len(seeds)} grad_outputs for {len(outputs)} outputs")
    for what, tensors in (("outputs", outputs), ("inputs", inputs), ("grad_outputs", seeds)):
        for i, x in enumerate(tensors):
            if isinstance(x, Dual):
                raise TypeError(f"grad: {what}[{i}] is a dual tensor (forward mode, inside mg.jvp); differentiate "
                                "a function of duals with mg.vjp, mg.value_and_grad or mg.jacrev instead")
    if any(_traced(x) for x in (*outputs, *inputs)):
        raise Untraceable  # inside a scan step being traced: scan runs its plain loop instead (as for vjp)
    for i, x in enumerate(inputs):
        if not isinstance(x, Tensor) or not x.requires_grad:
            raise ValueError(f"grad: inputs[{i}] must be a Tensor that requires grad")
    seeds = [_seed(out, seed, "grad", f"grad_outputs[{i}]") for i, (out, seed) in enumerate(zip(outputs, seeds))]
    retain_graph = create_graph if retain_graph is None else retain_graph
    grads = engine.backward(outputs, seeds, retain_graph=retain_graph, create_graph=create_graph, inputs=inputs)
    for i, g in enumerate(grads):
        if g is None and not allow_unused:
            raise ValueError(f"grad: the outputs do not depend on inputs[{i}] (shape {inputs[i].shape}); "
                             "pass allow_unused=True to get None for it")
    return tuple(grads)


# -- vjp ------------------------------------------------------------------------------------------

def vjp(f: Callable, *primals: Any) -> tuple[Any, Callable]:
    """``(f(*primals), pullback)``: ``pullback(ū)`` -- ū shaped like f's
    outputs (same structure) -- returns ūᵀ·∂f/∂primals, a tuple with one
    gradient per primal (zeros where f does not depend on it). The forward
    is recorded once; each pullback is one reverse sweep."""
    out, pullback, _ = _vjp(f, primals, "vjp")
    return out, pullback


def _vjp(f: Callable, primals: Sequence, caller: str) -> tuple[Any, Callable, bool]:
    """vjp, and whether its gradients are recorded on the tape for an outer differentiation."""
    if not callable(f):
        raise TypeError(f"{caller}: f must be callable, got {type(f).__name__}")
    xs = checked_inputs(primals, caller)
    if any(_traced(piece) for x in xs for piece in parts(x).values()):
        raise Untraceable  # inside a scan step being traced: scan runs its plain loop instead
    bases, inputs = [], []
    with engine.enable_grad():
        for x in xs:
            bottom = innermost(x)
            # a copy (so the pullback stays at this point if x changes in place later) whose gradient the
            # sweep stops at (interior: see engine.backward), joined to the caller's graph when x requires
            # grad, so that the gradients can be differentiated again
            base = clone(bottom if bottom.requires_grad else bottom.detach().requires_grad_())
            bases.append(base)
            inputs.append(with_base(x, base))
        out = f(*inputs)
    leaves, structure = flatten(out, f"{caller}: what f returns")
    if any(_traced(piece) for x in leaves for piece in parts(x).values()):
        raise Untraceable  # f closes over values of a scan step being traced: likewise
    outer = engine.is_grad_enabled() and (any(innermost(x).requires_grad for x in xs)
                                          or _reaches_outside(leaves, bases))

    def pullback(cotangent: Any) -> tuple:
        """ūᵀJ for cotangent ū (f's output structure): one gradient per primal."""
        if structure is None and not isinstance(cotangent, Tensor):
            cotangent = Tensor._make(np.asarray(cotangent, dtype=leaves[0].dtype))
        cts, ct_structure = flatten_like(cotangent, structure, f"{caller}: the cotangent")
        if ct_structure != structure:
            raise ValueError(f"{caller}: the cotangent must have the structure of f's output (the same nesting "
                             f"of tuples, lists and dicts around {len(leaves)} tensor(s)), got {len(cts)} tensor(s) "
                             "in another structure")
        pairs = []
        for k, (o, c) in enumerate(zip(leaves, cts)):
            if c.shape != o.shape:
                raise ValueError(f"{caller}: cotangent {k} has shape {c.shape} but output {k} has shape {o.shape}")
            if o.dtype.kind == "f":
                pairs.append((o, c if c.dtype == o.dtype else astype(c, o.dtype)))
        record = outer or any(p.requires_grad for _, c in pairs for p in parts(c).values())
        if any(type(o) is Dual or type(c) is Dual for o, c in pairs):
            grads = _pullback_duals(pairs, bases, record)
        else:
            roots = [(o, c) for o, c in pairs if o.requires_grad]
            grads = engine.backward([o for o, _ in roots], [c for _, c in roots], retain_graph=True,
                                    create_graph=record, inputs=bases) if roots else [None] * len(bases)
        return tuple(Tensor._make(np.zeros(x.shape, x.dtype)) if g is None else g for g, x in zip(grads, xs))

    return out, pullback, outer


def _pullback_duals(pairs: list, bases: list, record: bool) -> list:
    """Reverse mode over duals (module docstring): s = Σ ūᵀf is a dual; the
    gradient of each of its parts is that part of the gradient. (s is
    recorded whatever the caller's grad mode, as f's outputs were: under
    no_grad its parts would require no grad, and every gradient come back 0.)"""
    total = None
    with engine.enable_grad():
        for o, c in pairs:
            term = (c * o).sum()
            total = term if total is None else total + term
    pieces = parts(total)
    levels = sorted({level for key in pieces for level in key}, key=lambda level: level.depth)
    per_input: list[dict] = [{} for _ in bases]
    for key, piece in pieces.items():
        if piece.requires_grad:
            seed = Tensor._make(np.ones(piece.shape, piece.dtype))
            for i, g in enumerate(engine.backward([piece], [seed], retain_graph=True, create_graph=record,
                                                  inputs=bases)):
                if g is not None:
                    per_input[i][key] = g
    return [from_parts(pieces_of_input, levels) for pieces_of_input in per_input]


def _traced(x: Tensor) -> bool:
    """Is x another transform's stand-in (a value of a scan step being traced)?"""
    return takes_over_ops(x) and type(x) is not Dual


def _reaches_outside(outputs: list, bases: list) -> bool:
    """Does the graph of ``outputs`` (every part of them) reach a tensor that
    requires grad other than through ``bases``? Then an outer transform may
    differentiate the gradients, and they must be recorded."""
    stops = {b._node for b in bases}
    pending, seen = [], set()
    for out in outputs:
        for piece in parts(out).values():
            if piece.requires_grad:
                if piece._node is None:
                    return True  # f returned a leaf of the caller's
                pending.append(piece._node)
    while pending:
        node = pending.pop()
        if node in stops or node in seen:
            continue
        seen.add(node)
        if node.parents is None:
            return True  # a graph of the caller's, already used: be safe
        for parent in node.parents:
            if parent is not None:
                if type(parent[0]) is not engine.Node:
                    return True  # a leaf that is not ours: a parameter f closes over
                pending.append(parent[0])
    return False


# -- gradients, Jacobians, Hessians -----------------------------------------------------------------

def _positions(argnums: int | Sequence[int], n_args: int, caller: str) -> tuple[list[int], bool]:
    """``argnums`` as a list of positions in 0..n_args-1 (negatives count from the end), and whether it was a tuple."""
    many = isinstance(argnums, (tuple, list))
    positions = []
    for p in (argnums if many else [argnums]):
        if isinstance(p, bool) or not isinstance(p, (int, np.integer)):
            raise TypeError(f"{caller}: argnums must be an int or a tuple of ints, got {argnums!r}")
        if not -n_args <= p < n_args:
            raise ValueError(f"{caller}: argnums {p} but only {n_args} positional arguments")
        positions.append(int(p) % n_args)
    if many and (not positions or len(set(positions)) != len(positions)):
        raise ValueError(f"{caller}: argnums must name each argument once, got {argnums!r}")
    return positions, many


def _with_args(f: Callable, args: tuple, positions: list[int], kwargs: dict) -> Callable:
    """f as a function of the arguments at ``positions`` alone (the others fixed)."""

    def partial(*chosen):
        full = list(args)
        for p, x in zip(positions, chosen):
            full[p] = x
        return f(*full, **kwargs)

    return partial


def value_and_grad(fn: Callable[..., Tensor], argnums: int | Sequence[int] = 0) -> Callable:
    """``fn(*args) -> scalar`` becomes ``f(*args) -> (value, gradient)``; the
    gradient is for ``args[argnums]`` (a tuple of them if argnums is a tuple).
    The arguments' ``.grad`` stays untouched. Nested in another transform the
    value and gradient stay differentiable; otherwise the value is detached."""

    def wrapped(*args, **kwargs):
        positions, many = _positions(argnums, len(args), "value_and_grad")
        value, pullback, outer = _vjp(_with_args(fn, args, positions, kwargs), [args[p] for p in positions],
                                      "value_and_grad")
        if not isinstance(value, Tensor) or value.size != 1:
            raise ValueError(f"value_and_grad: fn must return a one-element Tensor, got {value!r:.80}")
        grads = pullback(Tensor._make(np.ones(value.shape, value.dtype)))
        if not outer and type(value) is Tensor:
            value = value.detach()
        return value, (grads if many else grads[0])

    return wrapped


def _scalar_gradient(f: Callable, caller: str) -> Callable:
    """x -> ∇f(x) for a scalar f (a tuple for several arguments), through vjp."""

    def gradient(*xs):
        value, pullback, _ = _vjp(f, xs, caller)
        if not isinstance(value, Tensor) or value.size != 1:
            raise ValueError(f"{caller}: f must return a one-element Tensor, got {value!r:.80}")
        grads = pullback(Tensor._make(np.ones(value.shape, value.dtype)))
        return grads if len(xs) != 1 else grads[0]

    return gradient


def _one_hots(shape: tuple, dtype) -> Iterator[Tensor]:
    """The standard basis of arrays of ``shape``: one Tensor per element, made as needed."""
    for i in range(int(np.prod(shape, dtype=np.int64))):
        e = np.zeros(shape, dtype)
        e.flat[i] = 1
        yield Tensor._make(e)


def _block(pieces: list, out_shape: tuple, in_shape: tuple, dtype, axis: int) -> Tensor:
    """One Jacobian block, out_shape + in_shape, from per-element derivatives
    stacked along ``axis`` (-1: columns from jacfwd, 0: rows from jacrev)."""
    if not pieces:
        return Tensor._make(np.zeros(out_shape + in_shape, dtype))
    return reshape(stack(pieces, axis=axis), out_shape + in_shape)


def jacfwd(f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """The Jacobian of ``f`` by forward mode: one ``jvp`` per element of the
    input(s) at ``argnums``. ``jacfwd(f)(*args)`` has shape f's output shape
    + the input's shape, for each output of f (its structure) and each input
    (a tuple when argnums is a tuple)."""

    def jacobian(*args, **kwargs):
        positions, many = _positions(argnums, len(args), "jacfwd")
        xs = checked_inputs([args[p] for p in positions], "jacfwd")
        blocks, structure = [], None
        for p, x in zip(positions, xs):
            g = _with_args(f, args, [p], kwargs)
            columns, outs = [], None
            for direction in _one_hots(x.shape, x.dtype):
                outs, tangents = jvp(g, (x,), (direction,))
                columns.append(flatten(tangents, "jacfwd: what f returns")[0])
            if outs is None:  # x has no elements: f's output tells the shapes
                outs = g(x)
            outs, structure = flatten(outs, "jacfwd: what f returns")
            blocks.append([_block([c[m] for c in columns], o.shape, x.shape, o.dtype, -1) for m, o in enumerate(outs)])
        return unflatten(structure, [tuple(b[m] for b in blocks) if many else blocks[0][m]
                                     for m in range(len(blocks[0]))])

    return jacobian


def jacrev(f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """The Jacobian of ``f`` by reverse mode: one forward, then one pullback
    per element of f's output(s). Shapes as :func:`jacfwd`."""

    def jacobian(*args, **kwargs):
        positions, many = _positions(argnums, len(args), "jacrev")
        xs = checked_inputs([args[p] for p in positions], "jacrev")
        out, pullback, _ = _vjp(_with_args(f, args, positions, kwargs), xs, "jacrev")
        outs, structure = flatten(out, "jacrev: what f returns")
        results = []
        for m, o in enumerate(outs):
            rows = [[] for _ in positions]
            for direction in _one_hots(o.shape, o.dtype):
                cotangent = [direction if j == m else Tensor._make(np.zeros(q.shape, q.dtype))
                             for j, q in enumerate(outs)]
                for row, g in zip(rows, pullback(unflatten(structure, cotangent))):
                    row.append(g)
            blocks = [_block(row, o.shape, x.shape, o.dtype, 0) for row, x in zip(rows, xs)]
            results.append(tuple(blocks) if many else blocks[0])
        return unflatten(structure, results)

    return jacobian


def hessian(f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """The Hessian of a scalar ``f`` (generally: the Jacobian of its Jacobian),
    ``jacfwd(jacrev(f))``: forward mode over reverse mode. Shape: the input's
    shape twice (nested tuples for several argnums)."""
    return jacfwd(jacrev(f, argnums), argnums)


def hvp(f: Callable, primals: Sequence, tangents: Sequence) -> tuple[Any, Any]:
    """``(∇f(x), ∇²f(x)·v)`` for a scalar ``f`` at ``primals`` along
    ``tangents``: ``jvp`` of the gradient, forward mode over reverse mode --
    the cost of about two gradients, without forming the Hessian (a tuple
    each for several primals)."""
    return checked_jvp(_scalar_gradient(f, "hvp"), primals, tangents, "hvp")
