"""Activation functions as modules (torch.nn's names), so that ``nn.Sequential``
builds a network without wrapper classes::

    mlp = nn.Sequential(nn.Linear(4, 32), nn.Tanh(), nn.Linear(32, 3), nn.LogSoftmax(dim=-1))

Each is a thin shell over a minigrad op or an nn.functional form; none holds
parameters.
"""

from __future__ import annotations

from typing import Any

import minigrad as mg
from minigrad import Tensor

from . import functional as F
from .module import Module


class Identity(Module):
    """y = x (a placeholder; ignores any constructor arguments, as PyTorch's)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__()

    def forward(self, x: Any) -> Any:
        return x


class ReLU(Module):
    """y = max(x, 0)."""

    def forward(self, x: Tensor) -> Tensor:
        return mg.relu(x)


class Tanh(Module):
    """y = tanh x."""

    def forward(self, x: Tensor) -> Tensor:
        return mg.tanh(x)


class Sigmoid(Module):
    """y = 1 / (1 + e⁻ˣ)."""

    def forward(self, x: Tensor) -> Tensor:
        return mg.sigmoid(x)


class Softplus(Module):
    """y = (1/β)·ln(1 + e^(βx)) (see nn.functional.softplus)."""

    def __init__(self, beta: float = 1.0):
        super().__init__()
        F.softplus(Tensor([0.0]), beta)  # checks beta now, not at the first call
        self.beta = float(beta)

    def forward(self, x: Tensor) -> Tensor:
        return F.softplus(x, self.beta)

    def extra_repr(self) -> str:
        return f"beta={self.beta}"


class LogSigmoid(Module):
    """y = ln σ(x) = −ln(1 + e⁻ˣ)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.logsigmoid(x)


class _OverDim(Module):
    """An activation normalised over one axis ``dim`` (classes last by default)."""

    def __init__(self, dim: int = -1):
        super().__init__()
        if isinstance(dim, bool) or not isinstance(dim, int):
            raise TypeError(f"{type(self).__name__}: dim must be an int, got {type(dim).__name__} {dim!r}")
        self.dim = dim

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmax(_OverDim):
    """y = eˣ / Σ eˣ over ``dim``. PyTorch's default dim=None guesses an axis
    from the input's rank (with a warning); here it is the last axis, where
    minigrad keeps class scores."""

    def forward(self, x: Tensor) -> Tensor:
        return mg.softmax(x, self.dim)


class LogSoftmax(_OverDim):
    """y = x − ln Σ eˣ over ``dim`` (the last axis by default, as Softmax)."""

    def forward(self, x: Tensor) -> Tensor:
        return mg.log_softmax(x, self.dim)
