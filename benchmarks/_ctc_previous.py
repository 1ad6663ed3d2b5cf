"""A frozen copy of nn/ctc.py's CTC kernel as it was before issue 16 (commit ba1baf8): the
previous implementation that ``python -m benchmarks.ctc`` times the new one against. Not used by
the library; kept verbatim (only the op wrapper became :func:`ctc_loss_and_grad`).
"""

from __future__ import annotations

import numpy as np

NEG_INF = -np.inf


def _logsumexp3(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """a ⊕ b ⊕ c elementwise, −inf where all three are −inf."""
    m = np.maximum(np.maximum(a, b), c)
    finite = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        return np.log(np.exp(a - finite) + np.exp(b - finite) + np.exp(c - finite)) + finite


def _shift(x: np.ndarray, by: int) -> np.ndarray:
    """x moved ``by`` places along the last axis (positive: right), filled with −inf."""
    out = np.full_like(x, NEG_INF)
    if by > 0:
        out[..., by:] = x[..., :-by]
    else:
        out[..., :by] = x[..., -by:]
    return out


class _Problem:
    """The extended labellings of a batch and the masks the recursions need."""

    def __init__(self, targets: np.ndarray, input_lengths: np.ndarray, target_lengths: np.ndarray, blank: int):
        batch, max_target = targets.shape
        self.T_b, self.L_b = input_lengths, 2 * target_lengths + 1
        width = 2 * max_target + 1
        self.labels = np.full((batch, width), blank, dtype=np.int64)
        self.labels[:, 1::2] = targets
        self.valid = np.arange(width)[None, :] < self.L_b[:, None]
        same_as_two_back = np.zeros((batch, width), dtype=bool)
        same_as_two_back[:, 2:] = self.labels[:, 2:] == self.labels[:, :-2]
        self.can_skip = (self.labels != blank) & ~same_as_two_back & (np.arange(width) >= 2)  # s−2 -> s allowed
        self.rows = np.arange(batch)

    def emissions(self, log_probs: np.ndarray) -> np.ndarray:
        """y_t(l'_s) for every t, b, s: shape (T, B, L)."""
        return np.take_along_axis(log_probs, np.broadcast_to(self.labels[None], (log_probs.shape[0],
                                                                               *self.labels.shape)), axis=2)

    def forward(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """All α (T, B, L) and ln p (B,)."""
        T = y.shape[0]
        alpha = np.full(y.shape, NEG_INF)
        alpha[0, :, :2] = y[0, :, :2]
        alpha[0][~self.valid] = NEG_INF
        skip = np.where(self.can_skip, 0.0, NEG_INF)
        for t in range(1, T):
            prev = alpha[t - 1]
            alpha[t] = _logsumexp3(prev, _shift(prev, 1), _shift(prev, 2) + skip) + y[t]
            alpha[t][~self.valid] = NEG_INF
        last = alpha[self.T_b - 1, self.rows]  # (B, L): α at each sequence's own last frame
        end = last[self.rows, self.L_b - 1]
        before_end = np.where(self.L_b > 1, last[self.rows, np.maximum(self.L_b - 2, 0)], NEG_INF)
        return alpha, np.logaddexp(end, before_end)

    def backward(self, y: np.ndarray) -> np.ndarray:
        """All β (T, B, L); each sequence starts at its own last frame."""
        T = y.shape[0]
        beta = np.full(y.shape, NEG_INF)
        skip_from = _shift(np.where(self.can_skip, 0.0, NEG_INF), -2)  # s -> s+2 allowed
        ends = self.valid & (np.arange(self.valid.shape[1])[None, :] >= self.L_b[:, None] - 2)
        nxt = np.full(y.shape[1:], NEG_INF)
        for t in range(T - 1, -1, -1):
            recursion = _logsumexp3(nxt, _shift(nxt, -1), _shift(nxt, -2) + skip_from) + y[t]
            start = np.where(ends, y[t], NEG_INF)
            here = np.where((t == self.T_b - 1)[:, None], start, np.where((t < self.T_b - 1)[:, None], recursion,
                                                                          NEG_INF))
            here[~self.valid] = NEG_INF
            beta[t] = nxt = here
        return beta

    def gradient(self, log_probs: np.ndarray, y: np.ndarray, alpha: np.ndarray, log_p: np.ndarray) -> np.ndarray:
        """∂(−ln p_b)/∂ log_probs, (T, B, C); zero for impossible samples (whose loss is inf)."""
        beta = self.backward(y)
        both = alpha + beta  # (T, B, L)
        top = np.max(both, axis=2, keepdims=True)
        top = np.where(np.isfinite(top), top, 0.0)
        classes = log_probs.shape[2]
        one_hot = np.zeros((*self.labels.shape, classes))  # (B, L, C): which class each position is
        np.put_along_axis(one_hot, self.labels[..., None], 1.0, axis=2)
        summed = np.matmul(np.exp(both - top).transpose(1, 0, 2), one_hot).transpose(1, 0, 2)  # Σ over s per class
        possible = np.isfinite(log_p)
        used = summed > 0  # classes on some path through this frame; the others get no gradient
        with np.errstate(divide="ignore", invalid="ignore"):
            exponent = np.log(summed) + top - log_probs - np.where(possible, log_p, 0.0)[None, :, None]
        return np.where(used & possible[None, :, None], -np.exp(np.where(used, exponent, 0.0)), 0.0)


def ctc_loss_and_grad(log_probs: np.ndarray, targets: np.ndarray, input_lengths: np.ndarray,
                      target_lengths: np.ndarray, blank: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """What the previous op computed for a forward and a backward: per-sample losses and the gradient
    of their sum with respect to log_probs (in float64 inside, cast back to log_probs' dtype)."""
    lp = log_probs.astype(np.float64)
    problem = _Problem(targets, input_lengths, target_lengths, blank)
    y = problem.emissions(lp)
    alpha, log_p = problem.forward(y)
    grad = problem.gradient(lp, y, alpha, log_p)
    impossible = ~np.isfinite(log_p)
    if impossible.any():
        grad[:, impossible] = np.nan
    return (-log_p).astype(log_probs.dtype), grad.astype(log_probs.dtype)
