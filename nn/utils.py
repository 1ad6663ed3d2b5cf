"""Gradient clipping (torch.nn.utils' names)."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from minigrad import Tensor

from ._checks import as_real, real_number


def _grads(function: str, parameters: Iterable[Tensor] | Tensor) -> list[Tensor]:
    """The gradients of ``parameters`` (a Tensor or an iterable of them), each
    once: a parameter listed twice (tied weights listed by two modules) must
    not count twice in a norm nor be scaled twice. Parameters without one are skipped."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    elif isinstance(parameters, Iterable):
        parameters = list(parameters)
    else:
        raise TypeError(f"{function}: parameters must be Tensors or an iterable of Tensors, got "
                        f"{type(parameters).__name__}")
    for p in parameters:
        if not isinstance(p, Tensor):
            raise TypeError(f"{function}: parameters must be Tensors or an iterable of Tensors, got an item "
                            f"{type(p).__name__} {p!r}")
    return list({id(p.grad): p.grad for p in parameters if p.grad is not None}.values())


def _changed(grad: Tensor, data: np.ndarray) -> None:
    """``grad``'s array was changed in place (to ``data``, the same array): assigning it bumps the version, so
    that a graph that saved the gradient (create_graph=True) refuses to use it after, as in PyTorch."""
    grad.data = data


def _positive(function: str, name: str, value) -> float:
    number = real_number(function, name, value)
    if not number > 0:
        raise ValueError(f"{function}: {name} must be positive, got {value!r}")
    return number


def _total_norm(grads: list[np.ndarray], norm_type: float) -> float:
    """‖all gradients as one vector‖_p, in float64:  (Σ |x|ᵖ)^(1/p)  for any real
    p ≠ 0 (p < 1 and p < 0 included, as torch.linalg.vector_norm), max |x|
    for p = inf, min |x| for p = -inf. Computed as s·(Σ (|x|/s)ᵖ)^(1/p) with
    s = max |x| (p > 0) or min |x| (p < 0), so every term is at most 1 and
    nothing overflows, whatever p. A NaN anywhere gives NaN; with p < 0 a
    zero element makes the norm 0."""
    grads = [g for g in grads if g.size]
    if not grads:
        return 0.0
    extreme = np.max if norm_type > 0 else np.min
    scale = float(extreme(np.array([extreme(np.abs(g)) for g in grads], dtype=np.float64)))  # (NaN propagates)
    if math.isinf(norm_type) or not 0 < scale < math.inf:
        return scale
    powered = sum(float(np.sum((np.abs(g).astype(np.float64) / scale) ** norm_type)) for g in grads)
    return scale * powered ** (1.0 / norm_type)


def clip_grad_norm_(parameters: Iterable[Tensor] | Tensor, max_norm: float, norm_type: float = 2.0) -> float:
    """Scale all gradients together, in place, so their joint p-norm is at most
    ``max_norm``: scale = min(max_norm / (total + 1e-6), 1). Returns the total
    norm before clipping (the number to log when watching for explosions).
    A parameter listed twice counts, and is scaled, once (PyTorch would do both twice).

    ``norm_type`` is any real p except 0, or ±inf (see _total_norm); it is the
    same number PyTorch returns. p = 0 (the count of non-zero elements) is
    refused: scaling cannot change it, so there is nothing to clip (PyTorch
    accepts it but counts the tensors with any non-zero gradient instead).
    A NaN in any gradient makes the norm NaN and clips nothing (PyTorch
    would multiply every gradient by NaN); the optimisers' step() then
    refuses the NaN gradient."""
    max_norm = _positive("clip_grad_norm_", "max_norm", max_norm)
    if isinstance(norm_type, str) and norm_type in ("inf", "-inf"):  # PyTorch's spelling works too
        norm_type = float(norm_type)
    p = as_real(norm_type)
    if p is None:
        raise TypeError(f"clip_grad_norm_: norm_type must be a real number or inf, got "
                        f"{type(norm_type).__name__} {norm_type!r}")
    norm_type = p
    if norm_type == 0 or math.isnan(norm_type):
        raise ValueError(f"clip_grad_norm_: norm_type must be a real p != 0 or +-inf, got {norm_type!r} "
                         "(the 0-'norm' counts non-zeros; scaling cannot clip it)")
    grads = _grads("clip_grad_norm_", parameters)
    total = _total_norm([g.data for g in grads], float(norm_type))
    scale = min(max_norm / (total + 1e-6), 1.0)
    if scale < 1:
        for g in grads:
            _changed(g, np.multiply(g.data, scale, out=g.data))
    return total


def clip_grad_value_(parameters: Iterable[Tensor] | Tensor, clip_value: float) -> None:
    """Clip every gradient element to [-clip_value, clip_value], in place."""
    clip_value = _positive("clip_grad_value_", "clip_value", clip_value)
    for g in _grads("clip_grad_value_", parameters):
        _changed(g, np.clip(g.data, -clip_value, clip_value, out=g.data))
