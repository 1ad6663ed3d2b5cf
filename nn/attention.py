"""Attention: score every key against a query, softmax the scores into
weights, return the weighted sum of the keys (the context).

Scores (Luong et al. 2015; Bahdanau et al. 2015):
    dot       qᵀk                       (query and key sizes equal)
    general   qᵀ W k
    concat    vᵀ tanh(W [q; k])         (Luong)
    additive  vᵀ tanh(W q + U k + b)    (Bahdanau)
Masked keys (padding) get the score −∞, so their weight is exactly 0 and the
weights of each query sum to 1 over the real keys: what finite values the
padding holds changes nothing, bit for bit. (Padding must be finite, as in
PyTorch: the context is weights @ keys, and 0 · inf or 0 · NaN is NaN.)
"""

from __future__ import annotations

import numpy as np

import minigrad as mg
from minigrad import Tensor

from ._checks import check_dtype, check_positive_int, check_rng
from .layers import Linear
from .module import Module

KINDS = ("dot", "general", "concat", "additive")


class Attention(Module):
    """``context, weights = attn(query, keys, mask=None)``.

    query (B, Dq) or (B, Tq, Dq); keys (B, Tk, Dk); mask (B, Tk) bool, True
    where a key may be attended to (False: padding). Returns context
    (B, [Tq,] Dk) and weights (B, [Tq,] Tk)."""

    def __init__(self, query_size: int, key_size: int, kind: str = "general", hidden_size: int | None = None,
                 rng: np.random.Generator | None = None):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"Attention: kind must be one of {KINDS}, got {kind!r}")
        query_size = check_positive_int("Attention: query_size", query_size)
        key_size = check_positive_int("Attention: key_size", key_size)
        hidden = query_size if hidden_size is None else check_positive_int("Attention: hidden_size", hidden_size)
        check_rng("Attention", rng)
        if kind == "dot" and query_size != key_size:
            raise ValueError(f"Attention: 'dot' needs query_size == key_size, got {query_size} and {key_size}")
        self.query_size, self.key_size, self.kind = query_size, key_size, kind
        self.projected_size = {"dot": key_size, "general": query_size}.get(kind, hidden)  # project_keys' width
        if kind == "general":
            self.key_proj = Linear(key_size, query_size, bias=False, rng=rng)  # W k, so that score = q · (W k)
        elif kind == "concat":
            self.key_proj = Linear(key_size, hidden, bias=False, rng=rng)  # W = [W_q W_k] on [q; k]
            self.query_proj = Linear(query_size, hidden, bias=False, rng=rng)
            self.v = Linear(hidden, 1, bias=False, rng=rng)
        elif kind == "additive":
            self.key_proj = Linear(key_size, hidden, bias=True, rng=rng)
            self.query_proj = Linear(query_size, hidden, bias=False, rng=rng)
            self.v = Linear(hidden, 1, bias=False, rng=rng)

    def extra_repr(self) -> str:
        return f"query_size={self.query_size}, key_size={self.key_size}, kind={self.kind!r}"

    def project_keys(self, keys: Tensor) -> Tensor:
        """The part of the score that depends on the keys only; a decoder
        computes it once per source sentence and passes it to every step."""
        return keys if self.kind == "dot" else self.key_proj(keys)

    def forward(self, query: Tensor, keys: Tensor, mask=None, projected_keys: Tensor | None = None):
        """``projected_keys``: ``project_keys(keys)``, when the caller keeps it
        for many queries (checked against the keys' batch and length)."""
        query = query if isinstance(query, Tensor) else Tensor(query)
        keys = keys if isinstance(keys, Tensor) else Tensor(keys)
        if keys.ndim != 3 or keys.shape[-1] != self.key_size or keys.shape[1] == 0:
            raise ValueError(f"Attention: keys must be (batch, time >= 1, {self.key_size}), got shape {keys.shape} "
                             "(weights over no keys cannot sum to 1)")
        single = query.ndim == 2
        if single:
            query = query.unsqueeze(1)
        if query.ndim != 3 or query.shape[0] != keys.shape[0] or query.shape[-1] != self.query_size:
            given = (query.shape[0], query.shape[2]) if single else query.shape
            raise ValueError(f"Attention: query must be ({keys.shape[0]}, [time,] {self.query_size}) to match keys "
                             f"{keys.shape}, got shape {given}")
        if self.kind == "dot":  # no parameters: the keys must be floating point, the query must match them
            if keys.dtype.kind != "f":
                check_dtype(self, "keys", keys, np.dtype(mg.get_default_dtype()),
                             against="'dot' needs floating point, e.g.")
            check_dtype(self, "query", query, keys.dtype, against="the keys are")
        else:
            for name, x in (("query", query), ("keys", keys)):
                check_dtype(self, name, x, self.key_proj.weight.dtype)
        mask = None if mask is None else _check_mask(mask, keys.shape[:2])
        if projected_keys is None:
            projected = self.project_keys(keys)
        else:  # (another batch's would broadcast against the query, silently)
            projected = projected_keys if isinstance(projected_keys, Tensor) else Tensor(projected_keys)
            expected = (*keys.shape[:2], self.projected_size)
            if projected.shape != expected:
                raise ValueError(f"Attention: projected_keys must have shape {expected} (project_keys(keys)), "
                                 f"got {projected.shape}")
            check_dtype(self, "projected_keys", projected, query.dtype, against="the query is")
        scores = self._scores(query, projected)  # (B, Tq, Tk)
        if mask is not None:
            scores = mg.where(mask[:, None, :], scores, -np.inf)
        weights = mg.softmax(scores, axis=-1)
        context = weights @ keys
        if single:
            return context.squeeze(1), weights.squeeze(1)
        return context, weights

    def _scores(self, query: Tensor, projected: Tensor) -> Tensor:
        if self.kind in ("dot", "general"):
            return query @ projected.swapaxes(-1, -2)
        # concat / additive: vᵀ tanh(W q + U k) for every (query, key) pair
        pairs = mg.tanh(self.query_proj(query).unsqueeze(2) + projected.unsqueeze(1))  # (B, Tq, Tk, H)
        return self.v(pairs).squeeze(-1)


def _check_mask(mask, shape: tuple[int, int]) -> np.ndarray:
    """``mask`` as a bool array of ``shape`` (batch, keys), checked. Only bool:
    a float mask could be PyTorch's additive one (0 = attend, -inf = masked),
    and an int one its key_padding_mask (1 = masked), the opposite of ours."""
    mask = np.asarray(mask.data if isinstance(mask, Tensor) else mask)
    if mask.dtype != bool:
        raise TypeError(f"Attention: mask must be a bool array, True where a key may be attended to (False: "
                        f"padding), got dtype {mask.dtype}")
    if mask.shape != shape:
        raise ValueError(f"Attention: mask must have shape {shape}, got {mask.shape}")
    if not mask.any(axis=1).all():
        raise ValueError("Attention: every row of mask needs at least one True (a key to attend to)")
    return mask
