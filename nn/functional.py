"""Functional forms (torch.nn.functional's names): layers and losses as
plain functions of tensors, composed from minigrad ops.

One difference from PyTorch, as the SPEC asks: for sequences, class scores
come last -- cross_entropy takes (N, T, C) logits with (N, T) targets.
"""

from __future__ import annotations

import numpy as np

import minigrad as mg
from minigrad import Tensor

from .ctc import ctc_loss  # noqa: F401  (CTC lives in nn.ctc; this is its functional name)

_REDUCTIONS = ("none", "mean", "sum")


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _as_tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x Wᵀ + b over the last axis of x (any leading shape, one matmul)."""
    x = _as_tensor(x)
    if x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input has {x.shape[-1]} features (shape {x.shape}), "
                         f"the weight expects {weight.shape[1]}")
    flat = x.reshape(-1, x.shape[-1]) if x.ndim != 2 else x
    y = mg.addmm(bias, flat, weight.T) if bias is not None else flat @ weight.T
    return y if x.ndim == 2 else y.reshape(*x.shape[:-1], weight.shape[0])


def dropout(x: Tensor, p: float = 0.5, training: bool = True, rng: np.random.Generator | None = None) -> Tensor:
    """Inverted dropout: zero each element with probability p and scale the
    rest by 1/(1 − p), so nothing changes at evaluation time (identity)."""
    if not isinstance(p, (int, float)) or not 0 <= p <= 1:
        raise ValueError(f"dropout: p must be a probability in [0, 1], got {p!r}")
    x = _as_tensor(x)
    if not training or p == 0:
        return x
    if p == 1:
        return x * 0.0
    keep = mg.rand_like(x, rng=rng) >= p  # a random op: a traced scan step refuses it instead of freezing one mask
    return mg.where(keep, x * (1.0 / (1 - p)), 0.0)


def softmax(x: Tensor, dim: int = -1) -> Tensor:
    return mg.softmax(x, dim)


def log_softmax(x: Tensor, dim: int = -1) -> Tensor:
    return mg.log_softmax(x, dim)


def layer_norm(x: Tensor, normalized_shape: tuple, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """(x − mean) / √(var + eps) over the last len(normalized_shape) axes
    (biased variance, as PyTorch), then · weight + bias."""
    x = _as_tensor(x)
    normalized_shape = tuple(normalized_shape)
    if x.shape[x.ndim - len(normalized_shape):] != normalized_shape:
        raise ValueError(f"layer_norm: the input's last axes {x.shape} must be normalized_shape {normalized_shape}")
    axes = tuple(range(x.ndim - len(normalized_shape), x.ndim))
    centered = x - x.mean(axis=axes, keepdims=True)
    y = centered / mg.sqrt((centered * centered).mean(axis=axes, keepdims=True) + eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def embedding(indices, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """Rows of ``weight`` picked by integer ``indices``; the ``padding_idx`` row
    is returned as it is but receives no gradient."""
    indices = indices.data if isinstance(indices, Tensor) else np.asarray(indices)
    out = mg.embedding(weight, indices)
    if padding_idx is not None:
        pad = indices == padding_idx
        if pad.any():
            out = mg.where(pad[..., None], out.detach(), out)
    return out


def _reduce(losses: Tensor, reduction: str, count: int | None = None) -> Tensor:
    """'none', 'sum', or 'mean' over ``count`` elements (all by default; NaN
    when there are none, as in PyTorch)."""
    if reduction == "none":
        return losses
    total = losses.sum()
    if reduction == "sum":
        return total
    count = losses.size if count is None else count
    return total * (1.0 / count) if count else total * float("nan")


def mse_loss(input: Tensor, target, reduction: str = "mean") -> Tensor:
    """(input − target)², reduced."""
    _check_reduction(reduction)
    input, target = _as_tensor(input), _as_tensor(target)
    if input.shape != target.shape:
        raise ValueError(f"mse_loss: input shape {input.shape} and target shape {target.shape} differ")
    diff = input - target
    return _reduce(diff * diff, reduction)


def nll_loss(log_probs: Tensor, target, ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """−log_probs[..., target] for class scores on the last axis: (N, C) with
    targets (N,), or (N, T, C) with (N, T). Positions whose target is
    ``ignore_index`` count for nothing; 'mean' averages over the others."""
    _check_reduction(reduction)
    log_probs = _as_tensor(log_probs)
    target = target.data if isinstance(target, Tensor) else np.asarray(target)
    classes = log_probs.shape[-1]
    if target.dtype.kind not in "iu":
        raise TypeError(f"nll_loss: target must hold integer class indices, got dtype {target.dtype}")
    if target.shape != log_probs.shape[:-1]:
        raise ValueError(f"nll_loss: target shape {target.shape} must be the input shape {log_probs.shape} "
                         "without its last (class) axis")
    kept = target != ignore_index
    bad = kept & ((target < 0) | (target >= classes))
    if bad.any():
        raise ValueError(f"nll_loss: targets must lie in [0, {classes}) or be ignore_index={ignore_index}; "
                         f"got {target[bad].ravel()[:5].tolist()}")
    flat = log_probs.reshape(-1, classes)
    rows = np.arange(flat.shape[0])
    picked = flat[rows, np.where(kept, target, 0).ravel()].reshape(target.shape)
    losses = -picked if kept.all() else mg.where(kept, -picked, 0.0)
    return _reduce(losses, reduction, count=int(kept.sum()))


def cross_entropy(input: Tensor, target, ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy of logits ``input`` (classes on the last axis)
    with integer targets: nll_loss(log_softmax(input)). Finite for logits of
    any magnitude (log_softmax subtracts the row maximum)."""
    return nll_loss(mg.log_softmax(_as_tensor(input), -1), target, ignore_index, reduction)
