"""A time-delay layer (Waibel et al., 1989): each output frame sees a fixed
window of input frames, with the same weights at every time -- a 1-D
convolution over time, composed from slicing, concat and one matmul.

    y_t = b + Σ_k W[:, :, k] x_{t + k·dilation},   k = 0 .. kernel_size − 1

The weight has PyTorch Conv1d's layout (out, in, kernel_size), so
``TimeDelay(I, O, K)`` computes what ``Conv1d(I, O, K)`` does on the
transposed input (valid padding, stride 1).
"""

from __future__ import annotations

import math

import numpy as np

import minigrad as mg
from minigrad import Tensor

from . import init
from ._checks import check_flag, check_positive_int, time_major
from .module import Module, Parameter


class TimeDelay(Module):
    """x (T, B, in_features) (or (B, T, ·) with batch_first) → (T − (K−1)·dilation, B, out_features)."""

    def __init__(self, in_features: int, out_features: int, kernel_size: int = 3, dilation: int = 1,
                 bias: bool = True, batch_first: bool = False, rng: np.random.Generator | None = None):
        super().__init__()
        self.in_features = check_positive_int("in_features", in_features)
        self.out_features = check_positive_int("out_features", out_features)
        self.kernel_size = check_positive_int("kernel_size", kernel_size)
        self.dilation = check_positive_int("dilation", dilation)
        self.batch_first = check_flag("TimeDelay", "batch_first", batch_first)
        bound = 1.0 / math.sqrt(in_features * kernel_size)  # Conv1d's default
        self.weight = init.uniform_(Parameter(mg.zeros(out_features, in_features, kernel_size)), -bound, bound, rng)
        if check_flag("TimeDelay", "bias", bias):
            self.bias = init.uniform_(Parameter(mg.zeros(out_features)), -bound, bound, rng)
        else:
            self.register_parameter("bias", None)

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, kernel_size={self.kernel_size}, dilation={self.dilation}"

    def forward(self, x: Tensor) -> Tensor:
        x = time_major(self, x, self.in_features, self.batch_first, self.weight.dtype)
        span = (self.kernel_size - 1) * self.dilation
        steps = x.shape[0] - span
        if steps < 1:
            raise ValueError(f"TimeDelay: needs at least {span + 1} time steps (kernel_size {self.kernel_size}, "
                             f"dilation {self.dilation}), got {x.shape[0]}")
        d = self.dilation
        windows = mg.concat([x[k * d:k * d + steps] for k in range(self.kernel_size)], axis=-1)  # (T', B, K·I)
        weight = self.weight.transpose(2, 1, 0).reshape(self.kernel_size * self.in_features, self.out_features)
        y = windows @ weight
        if self.bias is not None:
            y = y + self.bias
        return y.transpose(1, 0, 2) if self.batch_first else y
