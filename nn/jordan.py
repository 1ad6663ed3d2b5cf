"""The Jordan network (Jordan, 1986): like an Elman RNN, but what is fed back
to the hidden layer is the previous *output*, not the previous hidden state.

    h_t = tanh(W_ih x_t + W_oh y_{t-1} + b_h)
    y_t = W_ho h_t + b_o        (optionally squashed by ``output_activation``)

It runs as one ``mg.scan`` like the layers built on ``nn.RecurrentLayer``,
but is not one of them: what it carries is the output y (O wide, after a
readout W_ho), not an H-wide cell state, so neither the base's parameter
layout (G·H rows, ``weight_hh`` (G·H, H)) nor its state layout
((layers·D, B, H)) describes it, and PyTorch has no Jordan layer whose
names a shared layout would buy. Stacking or a reverse direction would be
layers of their own.
"""

from __future__ import annotations

import math

import numpy as np

import minigrad as mg
from minigrad import Tensor

from . import init
from ._checks import check_dtype, check_flag, check_positive_int, time_major
from .module import Module, Parameter

_ACTIVATIONS = {None: lambda y: y, "tanh": mg.tanh, "sigmoid": mg.sigmoid}


class Jordan(Module):
    """``outputs, y_n = jordan(x, y0=None)``: x (T, B, input_size) (or (B, T, ·)
    with batch_first), outputs (T, B, output_size), y_n the last output.
    Parameters weight_ih (H, I), weight_oh (H, O), bias_h (H,), weight_ho (O, H),
    bias_o (O,), all U(-1/√H, 1/√H)."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int, output_activation: str | None = None,
                 batch_first: bool = False, rng: np.random.Generator | None = None):
        super().__init__()
        if not isinstance(output_activation, (str, type(None))) or output_activation not in _ACTIVATIONS:
            raise ValueError(f"output_activation must be None, 'tanh' or 'sigmoid', got {output_activation!r}")
        self.input_size = check_positive_int("input_size", input_size)
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        self.output_size = check_positive_int("output_size", output_size)
        self.output_activation = output_activation
        self.batch_first = check_flag("Jordan", "batch_first", batch_first)
        bound = 1.0 / math.sqrt(hidden_size)
        for name, shape in (("weight_ih", (hidden_size, input_size)), ("weight_oh", (hidden_size, output_size)),
                            ("bias_h", (hidden_size,)), ("weight_ho", (output_size, hidden_size)),
                            ("bias_o", (output_size,))):
            setattr(self, name, init.uniform_(Parameter(mg.zeros(*shape)), -bound, bound, rng))

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, {self.output_size}" + (
            f", output_activation={self.output_activation!r}" if self.output_activation else "")

    def forward(self, x: Tensor, y0: Tensor | None = None) -> tuple[Tensor, Tensor]:
        x = time_major(self, x, self.input_size, self.batch_first, self.weight_ih.dtype)
        batch = x.shape[1]
        if y0 is None:
            y = Tensor(np.zeros((batch, self.output_size), dtype=x.dtype))
        else:
            y = y0 if isinstance(y0, Tensor) else Tensor(y0)
            if y.shape != (batch, self.output_size):
                raise ValueError(f"Jordan: y0 must have shape {(batch, self.output_size)}, got {y.shape}")
            check_dtype(self, "y0", y, self.weight_ih.dtype)
        squash = _ACTIVATIONS[self.output_activation]
        w_ih, w_oh, w_ho = self.weight_ih.T, self.weight_oh.T, self.weight_ho.T

        def step(y: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
            h = mg.tanh(mg.addmm(mg.addmm(self.bias_h, x, w_ih), y, w_oh))  # x's part: all steps at once
            y = squash(mg.addmm(self.bias_o, h, w_ho))
            return y, y

        y, out = mg.scan(step, y, x)
        return (out.transpose(1, 0, 2) if self.batch_first else out), y
