"""Hypothesis strategies for testing ops and layers, yours included.

    from hypothesis import given
    from minigrad import gradcheck, testing as mt

    @given(mt.tensors(mt.shapes()))
    def test_softplus(x):
        assert gradcheck(softplus, [x])

Values stay in a box and a ``margin`` away from the ``kinks`` you name (0 for
relu and abs), so central differences see a smooth function. ``distinct=True``
keeps all elements ``spacing`` apart, for max and sort-like ops. Needs
hypothesis (``pip install minigrad[test]``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .tensor import Tensor


def shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4) -> st.SearchStrategy:
    """Array shapes, e.g. (), (3,), (2, 1, 4)."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def broadcastable_shapes(num_shapes: int = 2, min_dims: int = 0, max_dims: int = 3,
                         max_side: int = 4) -> st.SearchStrategy:
    """Tuples of shapes that broadcast together (size-1 and missing axes on any side)."""
    return hnp.mutually_broadcastable_shapes(num_shapes=num_shapes, min_dims=min_dims, max_dims=max_dims,
                                             max_side=max_side).map(lambda s: s.input_shapes)


def arrays(shape: Sequence[int] | st.SearchStrategy, low: float = -2.0, high: float = 2.0,
           kinks: Sequence[float] = (), margin: float = 0.05, distinct: bool = False,
           spacing: float = 0.01, dtype=np.float64) -> st.SearchStrategy:
    """Arrays of ``dtype`` (float64 by default) in [low, high], at least ``margin`` from
    each kink; with ``distinct`` all elements differ by at least ``spacing`` (to rounding:
    they are low + k·spacing, so 0.01 apart can be 0.0099999999999998; the last is cut to
    ``high``, which -3 + 17·0.1 = -1.2999999999999998 passed)."""
    def away(v: float) -> bool:
        return all(abs(v - k) >= margin for k in kinks)

    if distinct:
        steps = int((high - low) / spacing)
        elements = st.integers(0, steps).map(lambda k: min(low + k * spacing, high)).filter(away)
    else:
        elements = st.floats(low, high, allow_nan=False, allow_infinity=False).filter(away)
    return hnp.arrays(dtype, shape, elements=elements, unique=distinct)


def tensors(shape: Sequence[int] | st.SearchStrategy, requires_grad: bool = True, **kwargs) -> st.SearchStrategy:
    """Tensors over :func:`arrays` (same keyword arguments)."""
    return arrays(shape, **kwargs).map(lambda a: Tensor(a, requires_grad=requires_grad))


def lengths(batch: int, max_length: int) -> st.SearchStrategy:
    """``batch`` sequence lengths, each in 1..max_length (for padded batches)."""
    return st.lists(st.integers(1, max_length), min_size=batch, max_size=batch)
