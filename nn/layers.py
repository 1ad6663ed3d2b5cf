"""The basic layers: Linear, Embedding, Dropout, LayerNorm (torch.nn's
names, parameter layouts and default initialisation)."""

from __future__ import annotations

import math

import numpy as np

import minigrad as mg
from minigrad import Tensor

from . import functional as F
from . import init
from .module import Module, Parameter, _check_dtype


def _check_positive(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _time_major(layer: Module, x, features: int, batch_first: bool, dtype) -> Tensor:
    """x as a (T, B, features) Tensor of the parameters' ``dtype``, checked: for
    layers over sequences that take (T, B, ·), or (B, T, ·) with batch_first."""
    x = x if isinstance(x, Tensor) else Tensor(x)
    if x.ndim != 3 or x.shape[-1] != features:
        raise ValueError(f"{type(layer).__name__}: input must be (T, B, {features}) (batch_first: (B, T, ·)), "
                         f"got shape {x.shape}")
    _check_dtype(layer, "input", x, dtype)
    return x.transpose(1, 0, 2) if batch_first else x


def _empty(*shape: int) -> Parameter:
    return Parameter(np.zeros(shape, dtype=mg.get_default_dtype()))


class Linear(Module):
    """y = x Wᵀ + b. weight (out_features, in_features), bias (out_features,),
    both U(-1/√in, 1/√in) as in PyTorch."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 rng: np.random.Generator | None = None):
        super().__init__()
        self.in_features = _check_positive("in_features", in_features)
        self.out_features = _check_positive("out_features", out_features)
        bound = 1.0 / math.sqrt(in_features)
        self.weight = init.uniform_(_empty(out_features, in_features), -bound, bound, rng)
        if bias:
            self.bias = init.uniform_(_empty(out_features), -bound, bound, rng)
        else:
            self.register_parameter("bias", None)

    def forward(self, x: Tensor) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(x)
        _check_dtype(self, "input", x, self.weight.dtype)
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Embedding(Module):
    """A table of ``num_embeddings`` vectors, looked up by integer ids.
    weight ~ N(0, 1); the ``padding_idx`` row starts at zero and gets no gradient."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 rng: np.random.Generator | None = None):
        super().__init__()
        self.num_embeddings = _check_positive("num_embeddings", num_embeddings)
        self.embedding_dim = _check_positive("embedding_dim", embedding_dim)
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"padding_idx must lie in [-{num_embeddings}, {num_embeddings}), got {padding_idx}")
            padding_idx %= num_embeddings
        self.padding_idx = padding_idx
        self.weight = init.normal_(_empty(num_embeddings, embedding_dim), rng=rng)
        if padding_idx is not None:
            self.weight.data[padding_idx] = 0

    def forward(self, indices) -> Tensor:
        return F.embedding(indices, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        pad = f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"


class Dropout(Module):
    """Zero elements with probability p in training (scaling the rest by
    1/(1 − p)); the identity in eval mode."""

    def __init__(self, p: float = 0.5, rng: np.random.Generator | None = None):
        super().__init__()
        if not isinstance(p, (int, float)) or not 0 <= p <= 1:
            raise ValueError(f"Dropout: p must be a probability in [0, 1], got {p!r}")
        self.p, self.rng = float(p), rng

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training, self.rng)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class LayerNorm(Module):
    """Normalise over the last axes (``normalized_shape``) to zero mean and
    unit (biased) variance, then scale by ``weight`` (ones) and shift by ``bias`` (zeros)."""

    def __init__(self, normalized_shape: int | tuple, eps: float = 1e-5, elementwise_affine: bool = True):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else tuple(normalized_shape)
        for n in shape:
            _check_positive("normalized_shape", n)
        self.normalized_shape, self.eps = shape, float(eps)
        if elementwise_affine:
            self.weight = init.ones_(_empty(*shape))
            self.bias = _empty(*shape)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x: Tensor) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(x)
        if self.weight is not None:
            _check_dtype(self, "input", x, self.weight.dtype)
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}"
