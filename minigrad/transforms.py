"""Functional gradients: ``grad`` (like torch.autograd.grad) and
``value_and_grad`` (like jax.value_and_grad). Neither touches ``.grad``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from . import engine
from .tensor import Tensor, _seed


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
    seeds = _as_list(grad_outputs) if grad_outputs is not None else [None] * len(outputs)
    if len(seeds) != len(outputs):
        raise ValueError(f"grad: got {len(seeds)} grad_outputs for {len(outputs)} outputs")
    for i, x in enumerate(inputs):
        if not isinstance(x, Tensor) or not x.requires_grad:
            raise ValueError(f"grad: inputs[{i}] must be a Tensor that requires grad")
    seeds = [_seed(out, seed, "grad") for out, seed in zip(outputs, seeds)]
    retain_graph = create_graph if retain_graph is None else retain_graph
    grads = engine.backward(outputs, seeds, retain_graph=retain_graph, create_graph=create_graph, inputs=inputs)
    for i, g in enumerate(grads):
        if g is None and not allow_unused:
            raise ValueError(f"grad: the outputs do not depend on inputs[{i}] (shape {inputs[i].shape}); "
                             "pass allow_unused=True to get None for it")
    return tuple(grads)


def value_and_grad(fn: Callable[..., Tensor], argnums: int | Sequence[int] = 0) -> Callable:
    """``fn(*args) -> scalar`` becomes ``f(*args) -> (value, gradient)``; the
    gradient is for ``args[argnums]`` (a tuple of them if argnums is a tuple).
    Arguments are copied into fresh leaves, so their ``.grad`` stays untouched."""
    many = isinstance(argnums, (tuple, list))
    positions = list(argnums) if many else [argnums]

    def wrapped(*args, **kwargs):
        args = list(args)
        leaves = []
        for p in positions:
            if p >= len(args):
                raise ValueError(f"value_and_grad: argnums {p} but only {len(args)} positional arguments")
            data = args[p].data if isinstance(args[p], Tensor) else args[p]
            args[p] = Tensor(data, requires_grad=True)
            leaves.append(args[p])
        value = fn(*args, **kwargs)
        if not isinstance(value, Tensor) or value.size != 1:
            raise ValueError(f"value_and_grad: fn must return a one-element Tensor, got {value!r:.80}")
        grads = grad(value, leaves, allow_unused=True)
        grads = tuple(g if g is not None else Tensor(0 * leaf.data) for g, leaf in zip(grads, leaves))
        return value.detach(), (grads if many else grads[0])

    return wrapped
