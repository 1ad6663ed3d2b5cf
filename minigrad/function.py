"""Custom primitives: subclass :class:`Function`, write ``forward`` on NumPy
arrays and ``backward`` on Tensors, call ``MyOp.apply(...)``.

A ``backward`` written with minigrad ops is differentiable again, so a custom
op works with ``create_graph``: ``ctx.saved_tensors`` hands back saved inputs
and outputs as the graph's own tensors, which is what makes the second
derivative right."""

from __future__ import annotations

from typing import Any

import numpy as np

from .engine import _mode, needs_grad, record
from .ops import _lift
from .tensor import Tensor


class Context:
    """What ``forward`` leaves for ``backward``."""

    def __init__(self, inputs: tuple):
        self._inputs = inputs
        self._saved: tuple = ()
        self._output: Tensor | None = None  # set while backward runs

    def save_for_backward(self, *values: Any) -> None:
        self._saved = values

    @property
    def saved_tensors(self) -> tuple:
        """The saved values as Tensors: an input's or the output's array comes
        back as that graph tensor, anything else as a constant."""
        out = []
        for v in self._saved:
            match = next((x for x in self._inputs if x.data is v), None)
            if match is None and self._output is not None and self._output.data is v:
                match = self._output
            if match is None:
                match = v if isinstance(v, Tensor) else Tensor._make(np.asarray(v))
            out.append(match)
        return tuple(out)


class Function:
    """Base class of custom ops (see the README's "write your own op")."""

    @staticmethod
    def forward(ctx: Context, *arrays: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Tensor | tuple:
        """One gradient per input of forward (None for an input without one)."""
        raise NotImplementedError

    @classmethod
    def apply(cls, *args: Any) -> Tensor:
        inputs = _lift(args)
        out, vjps, saves = cls._run(inputs)
        result = record(cls.__name__, inputs, out, vjps, saves=saves) if needs_grad(inputs) else Tensor._make(out)
        if _mode.tracer is not None:  # scan is tracing a step: log how to replay this call, like a primitive
            def replay(*arrays: np.ndarray) -> tuple:
                return cls._run(tuple(map(Tensor._make, arrays)))[:2]

            _mode.tracer.append((replay, {}, vjps, False, saves, inputs, result))
        return result

    @classmethod
    def _run(cls, inputs: tuple) -> tuple:
        """forward on the inputs' arrays: its output, one VJP per input (each
        runs ``backward``, once per gradient g), and what the VJPs take after g."""
        ctx = Context(inputs)
        out = np.asarray(cls.forward(ctx, *(x.data for x in inputs)))
        memo: dict = {}

        def run_backward(g, *y):
            if memo.get("g") is not g:
                plain = not isinstance(g, Tensor)  # a plain backward passes arrays
                ctx._output = (Tensor._make(y[0]) if plain else y[0]) if y else None
                try:
                    grads = cls.backward(ctx, Tensor._make(g) if plain else g)
                finally:
                    ctx._output = None
                grads = grads if isinstance(grads, tuple) else (grads,)
                if len(grads) != len(inputs):
                    raise RuntimeError(f"{cls.__name__}.backward returned {len(grads)} gradients for "
                                       f"{len(inputs)} inputs")
                memo["g"] = g
                memo["grads"] = [x.data if plain and isinstance(x, Tensor) else x for x in grads]
            return memo["grads"]

        vjps = tuple(lambda g, *y, i=i: run_backward(g, *y)[i] for i in range(len(inputs)))
        return out, vjps, (-1,) if any(v is out for v in ctx._saved) else ()
