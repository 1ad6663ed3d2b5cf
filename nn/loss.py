"""Losses as modules (torch.nn's names), over nn.functional."""

from __future__ import annotations

from minigrad import Tensor

from . import functional as F
from .module import Module


class MSELoss(Module):
    def __init__(self, reduction: str = "mean"):
        super().__init__()
        F._check_reduction(reduction)
        self.reduction = reduction

    def forward(self, input: Tensor, target) -> Tensor:
        return F.mse_loss(input, target, self.reduction)


class NLLLoss(Module):
    def __init__(self, ignore_index: int = -100, reduction: str = "mean"):
        super().__init__()
        F._check_reduction(reduction)
        self.ignore_index, self.reduction = ignore_index, reduction

    def forward(self, log_probs: Tensor, target) -> Tensor:
        return F.nll_loss(log_probs, target, self.ignore_index, self.reduction)


class CrossEntropyLoss(Module):
    """Softmax cross-entropy of logits (classes last) with integer targets."""

    def __init__(self, ignore_index: int = -100, reduction: str = "mean"):
        super().__init__()
        F._check_reduction(reduction)
        self.ignore_index, self.reduction = ignore_index, reduction

    def forward(self, logits: Tensor, target) -> Tensor:
        return F.cross_entropy(logits, target, self.ignore_index, self.reduction)
