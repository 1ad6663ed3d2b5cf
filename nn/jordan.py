"""The Jordan network (Jordan, 1986): like an Elman RNN, but what is fed back
to the hidden layer is the previous *output*, not the previous hidden state.

    h_t = tanh(W_ih x_t + W_oh y_{t-1} + b_h)
    y_t = W_ho h_t + b_o        (optionally squashed by ``output_activation``)
"""

from __future__ import annotations

import math

import numpy as np

import minigrad as mg
from minigrad import Tensor

from . import init
from .layers import _check_positive, _empty, _time_major
from .module import Module, _check_dtype

_ACTIVATIONS = {None: lambda y: y, "tanh": mg.tanh, "sigmoid": mg.sigmoid}


class Jordan(Module):
    """``outputs, y_n = jordan(x, y0=None)``: x (T, B, input_size) (or (B, T, ·)
    with batch_first), outputs (T, B, output_size), y_n the last output.
    Parameters weight_ih (H, I), weight_oh (H, O), bias_h (H,), weight_ho (O, H),
    bias_o (O,), all U(-1/√H, 1/√H)."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int, output_activation: str | None = None,
                 batch_first: bool = False, rng: np.random.Generator | None = None):
        super().__init__()
        if output_activation not in _ACTIVATIONS:
            raise ValueError(f"output_activation must be None, 'tanh' or 'sigmoid', got {output_activation!r}")
        self.input_size = _check_positive("input_size", input_size)
        self.hidden_size = _check_positive("hidden_size", hidden_size)
        self.output_size = _check_positive("output_size", output_size)
        self.output_activation, self.batch_first = output_activation, bool(batch_first)
        bound = 1.0 / math.sqrt(hidden_size)
        for name, shape in (("weight_ih", (hidden_size, input_size)), ("weight_oh", (hidden_size, output_size)),
                            ("bias_h", (hidden_size,)), ("weight_ho", (output_size, hidden_size)),
                            ("bias_o", (output_size,))):
            setattr(self, name, init.uniform_(_empty(*shape), -bound, bound, rng))

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, {self.output_size}" + (
            f", output_activation={self.output_activation!r}" if self.output_activation else "")

    def forward(self, x: Tensor, y0: Tensor | None = None) -> tuple[Tensor, Tensor]:
        x = _time_major(self, x, self.input_size, self.batch_first, self.weight_ih.dtype)
        steps, batch, _ = x.shape
        if y0 is None:
            y = Tensor(np.zeros((batch, self.output_size), dtype=x.dtype))
        else:
            y = y0 if isinstance(y0, Tensor) else Tensor(y0)
            if y.shape != (batch, self.output_size):
                raise ValueError(f"Jordan: y0 must have shape {(batch, self.output_size)}, got {y.shape}")
            _check_dtype(self, "y0", y, self.weight_ih.dtype)
        squash = _ACTIVATIONS[self.output_activation]
        projected = mg.unbind(x @ self.weight_ih.T + self.bias_h, axis=0)  # all steps in one matmul
        w_oh, w_ho = self.weight_oh.T, self.weight_ho.T
        outputs = []
        for t in range(steps):
            h = mg.tanh(mg.addmm(projected[t], y, w_oh))
            y = squash(mg.addmm(self.bias_o, h, w_ho))
            outputs.append(y)
        out = mg.stack(outputs, axis=0)
        return (out.transpose(1, 0, 2) if self.batch_first else out), y
