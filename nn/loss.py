"""Losses as modules (torch.nn's names), over nn.functional."""

from __future__ import annotations

import numpy as np

from minigrad import Tensor

from . import functional as F
from ._checks import check_reduction
from .module import Module


class MSELoss(Module):
    def __init__(self, reduction: str = "mean"):
        super().__init__()
        check_reduction(reduction)
        self.reduction = reduction

    def forward(self, input: Tensor, target) -> Tensor:
        return F.mse_loss(input, target, self.reduction)


class NLLLoss(Module):
    """Negative log-likelihood of log-probabilities (classes last) with integer
    targets. The arguments are keyword-only: PyTorch's first positional one is
    a class weight (not supported here), which must not become ignore_index."""

    def __init__(self, *, ignore_index: int = -100, reduction: str = "mean"):
        super().__init__()
        check_reduction(reduction)
        self.ignore_index, self.reduction = F._check_ignore_index("NLLLoss", ignore_index), reduction

    def forward(self, log_probs: Tensor, target) -> Tensor:
        return F.nll_loss(log_probs, target, ignore_index=self.ignore_index, reduction=self.reduction)


class CrossEntropyLoss(Module):
    """Softmax cross-entropy of logits (classes last) with integer targets;
    keyword-only arguments, as in NLLLoss."""

    def __init__(self, *, ignore_index: int = -100, reduction: str = "mean"):
        super().__init__()
        check_reduction(reduction)
        self.ignore_index, self.reduction = F._check_ignore_index("CrossEntropyLoss", ignore_index), reduction

    def forward(self, logits: Tensor, target) -> Tensor:
        return F.cross_entropy(logits, target, ignore_index=self.ignore_index, reduction=self.reduction)


class _WeightedBinaryLoss(Module):
    """Holds a binary loss's reduction and optional weights, as buffers (so
    they are saved with the model, as in PyTorch)."""

    def __init__(self, reduction: str, **weights):
        super().__init__()
        check_reduction(reduction)
        self.reduction = reduction
        for name, value in weights.items():
            if value is not None:
                value = np.asarray(value.data if isinstance(value, Tensor) else value)
                if value.dtype.kind not in "biuf":
                    raise TypeError(f"{type(self).__name__}: {name} must hold numbers, got dtype {value.dtype}")
            self.register_buffer(name, value)


class BCELoss(_WeightedBinaryLoss):
    """Binary cross-entropy of probabilities (see F.binary_cross_entropy)."""

    def __init__(self, weight=None, reduction: str = "mean"):
        super().__init__(reduction, weight=weight)

    def forward(self, input: Tensor, target) -> Tensor:
        return F.binary_cross_entropy(input, target, self.weight, self.reduction)


class BCEWithLogitsLoss(_WeightedBinaryLoss):
    """Binary cross-entropy of logits, with optional ``pos_weight`` (see
    F.binary_cross_entropy_with_logits)."""

    def __init__(self, weight=None, reduction: str = "mean", pos_weight=None):
        super().__init__(reduction, weight=weight, pos_weight=pos_weight)

    def forward(self, logits: Tensor, target) -> Tensor:
        return F.binary_cross_entropy_with_logits(logits, target, self.weight, self.reduction, self.pos_weight)
