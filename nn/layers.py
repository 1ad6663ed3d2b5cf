"""The basic layers: Linear, Embedding, Dropout, LayerNorm (torch.nn's
names, parameter layouts and default initialisation)."""

from __future__ import annotations

import math

import numpy as np

import minigrad as mg
from minigrad import Tensor

from . import functional as F
from . import init
from ._checks import (
    check_dtype,
    check_flag,
    check_index,
    check_normalized_shape,
    check_positive_int,
    check_probability,
    check_real,
    check_rng,
)
from .module import Module, Parameter


class Linear(Module):
    """y = x Wᵀ + b. weight (out_features, in_features), bias (out_features,),
    both U(-1/√in, 1/√in) as in PyTorch."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 rng: np.random.Generator | None = None):
        super().__init__()
        self.in_features = check_positive_int("in_features", in_features)
        self.out_features = check_positive_int("out_features", out_features)
        bias = check_flag("Linear", "bias", bias)
        bound = 1.0 / math.sqrt(in_features)
        self.weight = init.uniform_(Parameter(mg.zeros(out_features, in_features)), -bound, bound, rng)
        if bias:
            self.bias = init.uniform_(Parameter(mg.zeros(out_features)), -bound, bound, rng)
        else:
            self.register_parameter("bias", None)

    def forward(self, x: Tensor) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(x)
        check_dtype(self, "input", x, self.weight.dtype)
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Embedding(Module):
    """A table of ``num_embeddings`` vectors, looked up by integer ids.
    weight ~ N(0, 1); the ``padding_idx`` row starts at zero and gets no gradient."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 rng: np.random.Generator | None = None):
        super().__init__()
        self.num_embeddings = check_positive_int("num_embeddings", num_embeddings)
        self.embedding_dim = check_positive_int("embedding_dim", embedding_dim)
        if padding_idx is not None:
            padding_idx = check_index("padding_idx", padding_idx, num_embeddings, "Embedding: ",
                                      negative=True) % num_embeddings
        self.padding_idx = padding_idx
        self.weight = init.normal_(Parameter(mg.zeros(num_embeddings, embedding_dim)), rng=rng)
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
        self.p, self.rng = check_probability("Dropout: p", p), check_rng("Dropout", rng)

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training, self.rng)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class LayerNorm(Module):
    """Normalise over the last axes (``normalized_shape``) to zero mean and
    unit (biased) variance, then scale by ``weight`` (ones) and shift by ``bias`` (zeros)."""

    def __init__(self, normalized_shape: int | tuple, eps: float = 1e-5, elementwise_affine: bool = True):
        super().__init__()
        shape = check_normalized_shape("LayerNorm", normalized_shape)
        self.normalized_shape, self.eps = shape, check_real("LayerNorm", "eps", eps, low=0.0)
        if check_flag("LayerNorm", "elementwise_affine", elementwise_affine):
            self.weight = init.ones_(Parameter(mg.zeros(*shape)))
            self.bias = Parameter(mg.zeros(*shape))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x: Tensor) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(x)
        if self.weight is not None:
            check_dtype(self, "input", x, self.weight.dtype)
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}"
