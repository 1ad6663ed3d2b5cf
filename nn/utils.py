"""Gradient clipping (torch.nn.utils' names)."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from minigrad import Tensor


def _grads(parameters: Iterable[Tensor] | Tensor) -> list[np.ndarray]:
    parameters = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    return [p.grad.data for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters: Iterable[Tensor] | Tensor, max_norm: float, norm_type: float = 2.0) -> float:
    """Scale all gradients together, in place, so their joint norm is at most
    ``max_norm``: scale = min(max_norm / (total + 1e-6), 1). Returns the total
    norm before clipping (the number to log when watching for explosions)."""
    if not max_norm > 0:
        raise ValueError(f"clip_grad_norm_: max_norm must be positive, got {max_norm!r}")
    grads = _grads(parameters)
    if not grads:
        return 0.0
    if norm_type == math.inf:
        total = max(float(np.abs(g).max()) for g in grads)
    else:
        total = float(sum(float((np.abs(g.astype(np.float64)) ** norm_type).sum()) for g in grads)) ** (1 / norm_type)
    scale = min(max_norm / (total + 1e-6), 1.0)
    if scale < 1:
        for g in grads:
            g *= scale
    return total


def clip_grad_value_(parameters: Iterable[Tensor] | Tensor, clip_value: float) -> None:
    """Clip every gradient element to [-clip_value, clip_value], in place."""
    if not clip_value > 0:
        raise ValueError(f"clip_grad_value_: clip_value must be positive, got {clip_value!r}")
    for g in _grads(parameters):
        np.clip(g, -clip_value, clip_value, out=g)
