"""Activation functions as modules (torch.nn's names), so that ``nn.Sequential``
builds a network without wrapper classes::

    mlp = nn.Sequential(nn.Linear(4, 32), nn.Tanh(), nn.Linear(32, 3), nn.LogSoftmax(axis=-1))

Each is a thin shell over a minigrad op or an nn.functional form; none holds
parameters. A NumPy array or a list is taken as ``mg.tensor(x)`` (the ops
would run bare NumPy on it), as by the layers.
"""

from __future__ import annotations

from typing import Any

import minigrad as mg
from minigrad import Tensor

from . import functional as F
from ._checks import axis_or_dim
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
        return mg.relu(F._as_tensor(x))


class Tanh(Module):
    """y = tanh x."""

    def forward(self, x: Tensor) -> Tensor:
        return mg.tanh(F._as_tensor(x))


class Sigmoid(Module):
    """y = 1 / (1 + e⁻ˣ)."""

    def forward(self, x: Tensor) -> Tensor:
        return mg.sigmoid(F._as_tensor(x))


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


class _OverAxis(Module):
    """An activation normalised over one axis (classes last by default);
    ``dim=`` is the same argument under PyTorch's name."""

    def __init__(self, axis: int | None = None, *, dim: int | None = None):
        super().__init__()
        self.axis = axis_or_dim(axis, dim, type(self).__name__)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


class Softmax(_OverAxis):
    """y = eˣ / Σ eˣ over ``axis``. PyTorch's default dim=None guesses an axis
    from the input's rank (with a warning); here it is the last axis, where
    minigrad keeps class scores."""

    def forward(self, x: Tensor) -> Tensor:
        return mg.softmax(F._as_tensor(x), self.axis)


class LogSoftmax(_OverAxis):
    """y = x − ln Σ eˣ over ``axis`` (the last by default, as Softmax)."""

    def forward(self, x: Tensor) -> Tensor:
        return mg.log_softmax(F._as_tensor(x), self.axis)
