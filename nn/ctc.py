"""Connectionist Temporal Classification (Graves et al. 2006): a loss for
labelling a sequence of T frames with a shorter label sequence whose
alignment to the frames is unknown, and two ways to decode.

A labelling l is read off a frame-by-frame path π (one class per frame) by
collapsing repeats and then dropping blanks: "aa-ab-" -> "aab". The model's
probability of l is the sum over all paths that collapse to it, computed on
the *extended* labelling l' = (blank, l₁, blank, l₂, ..., l_S, blank), of
length L = 2S + 1, with the forward variables (everything in log space)

    α_t(s) = [α_{t−1}(s) ⊕ α_{t−1}(s−1) ⊕ α_{t−1}(s−2)] + y_t(l'_s)

where ⊕ is log-add-exp, y = log_probs, and the s−2 term only counts when
l'_s is a label different from l'_{s−2} (a blank cannot be skipped between
two equal labels). ln p(l) = α_{T−1}(L−1) ⊕ α_{T−1}(L−2). The backward
variables β mirror this from the end; both include the frame's own y, so

    ∂(−ln p) / ∂y_t(k) = − Σ_{s: l'_s = k} exp(α_t(s) + β_t(s) − y_t(k) − ln p)

exactly, whether or not the rows of log_probs are normalised (PyTorch's
formula assumes they are). Everything is vectorised over the batch and the
L positions; only time is a Python loop.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from minigrad import Tensor
from minigrad.ops import primitive

from .module import Module

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


def _as_ints(values, name: str) -> np.ndarray:
    values = np.asarray(values.data if isinstance(values, Tensor) else values)
    if values.dtype.kind not in "iu" and values.size:  # (an empty list comes as float64: fine)
        raise TypeError(f"ctc_loss: {name} must hold integers, got dtype {values.dtype}")
    return values.astype(np.int64)


def _padded_targets(targets, input_lengths, target_lengths, batch: int, steps: int, classes: int,
                    blank: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check everything a user can get wrong; return targets as (B, S) and both length arrays."""
    targets = _as_ints(targets, "targets")
    input_lengths = _as_ints(input_lengths, "input_lengths").reshape(-1)
    target_lengths = _as_ints(target_lengths, "target_lengths").reshape(-1)
    for name, lengths in (("input_lengths", input_lengths), ("target_lengths", target_lengths)):
        if lengths.shape != (batch,):
            raise ValueError(f"ctc_loss: {name} must have one entry per sequence ({batch}), got {lengths.shape[0]}")
    if input_lengths.min() < 1 or input_lengths.max() > steps:
        raise ValueError(f"ctc_loss: input_lengths must lie in 1..{steps} (the frames of log_probs), got values "
                         f"from {input_lengths.min()} to {input_lengths.max()}")
    if target_lengths.min() < 0:
        raise ValueError(f"ctc_loss: target_lengths must be >= 0, got {target_lengths.min()}")
    if targets.ndim == 1:  # concatenated
        if targets.size != target_lengths.sum():
            raise ValueError(f"ctc_loss: concatenated targets hold {targets.size} labels but target_lengths add up "
                             f"to {target_lengths.sum()}")
        padded = np.full((batch, max(int(target_lengths.max()), 0)), blank, dtype=np.int64)
        mask = np.arange(padded.shape[1])[None, :] < target_lengths[:, None]
        padded[mask] = targets
    elif targets.ndim == 2:
        if targets.shape[0] != batch:
            raise ValueError(f"ctc_loss: padded targets must be ({batch}, S), got shape {targets.shape}")
        if target_lengths.max(initial=0) > targets.shape[1]:
            raise ValueError(f"ctc_loss: target_lengths go up to {target_lengths.max()} but the padded targets have "
                             f"only {targets.shape[1]} columns")
        mask = np.arange(targets.shape[1])[None, :] < target_lengths[:, None]
        padded = np.where(mask, targets, blank)
    else:
        raise ValueError(f"ctc_loss: targets must be (B, S) padded or 1-D concatenated, got shape {targets.shape}")
    labels = padded[mask]
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(f"ctc_loss: target labels must lie in [0, {classes}), got values from {labels.min()} to "
                         f"{labels.max()}")
    if (labels == blank).any():
        raise ValueError(f"ctc_loss: targets contain the blank class {blank}")
    return padded, input_lengths, target_lengths


@primitive(name="ctc_loss")
def _ctc(log_probs, *, targets, input_lengths, target_lengths, blank, zero_infinity):
    """Per-sample −ln p(target | log_probs), (B,); the VJP is the exact gradient (first order only:
    it treats the gradient array as a constant, so CTC has no second derivative here)."""
    lp = log_probs.astype(np.float64)
    problem = _Problem(targets, input_lengths, target_lengths, blank)
    y = problem.emissions(lp)
    alpha, log_p = problem.forward(y)
    losses = -log_p
    impossible = ~np.isfinite(log_p)
    if zero_infinity:
        losses = np.where(impossible, 0.0, losses)

    def vjp(g):
        grad = problem.gradient(lp, y, alpha, log_p)
        if not zero_infinity and impossible.any():  # the gradient of an infinite loss does not exist
            grad[:, impossible] = np.nan
        return g[None, :, None] * grad.astype(log_probs.dtype)

    return losses.astype(log_probs.dtype), vjp


def ctc_loss(log_probs: Tensor, targets, input_lengths, target_lengths, blank: int = 0, reduction: str = "mean",
             zero_infinity: bool = False) -> Tensor:
    """CTC negative log-likelihood of ``targets`` under frame scores ``log_probs`` (T, B, C).

    targets: (B, S) padded or 1-D concatenated; input_lengths, target_lengths: B ints.
    reduction: 'none' (B,), 'sum', or 'mean' = batch mean of loss_b / max(target_length_b, 1)
    (PyTorch's). An impossible alignment gives inf, or 0 with a zero gradient under zero_infinity."""
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"ctc_loss: reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
    log_probs = log_probs if isinstance(log_probs, Tensor) else Tensor(log_probs)
    if log_probs.ndim != 3:
        raise ValueError(f"ctc_loss: log_probs must be (T, B, C), got shape {log_probs.shape}")
    steps, batch, classes = log_probs.shape
    if not 0 <= blank < classes:
        raise ValueError(f"ctc_loss: blank must lie in [0, {classes}), got {blank}")
    padded, input_lengths, target_lengths = _padded_targets(targets, input_lengths, target_lengths, batch, steps,
                                                            classes, blank)
    losses = _ctc(log_probs, targets=padded, input_lengths=input_lengths, target_lengths=target_lengths,
                  blank=blank, zero_infinity=zero_infinity)
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    return (losses * (1.0 / np.maximum(target_lengths, 1)).astype(losses.dtype)).mean()


class CTCLoss(Module):
    """Module form of :func:`ctc_loss` (torch.nn.CTCLoss's arguments)."""

    def __init__(self, blank: int = 0, reduction: str = "mean", zero_infinity: bool = False):
        super().__init__()
        self.blank, self.reduction, self.zero_infinity = blank, reduction, zero_infinity

    def forward(self, log_probs, targets, input_lengths, target_lengths) -> Tensor:
        return ctc_loss(log_probs, targets, input_lengths, target_lengths, self.blank, self.reduction,
                        self.zero_infinity)


# -- decoding --------------------------------------------------------------------------------------

def _scores(log_probs) -> np.ndarray:
    return np.asarray(log_probs.data if isinstance(log_probs, Tensor) else log_probs, dtype=np.float64)


def greedy_decode(log_probs, input_lengths: Sequence[int] | None = None, blank: int = 0) -> list[list[int]]:
    """Best path decoding: the likeliest class of every frame, repeats collapsed,
    blanks dropped; log_probs (T, B, C), frames past input_lengths ignored."""
    scores = _scores(log_probs)
    if scores.ndim != 3:
        raise ValueError(f"greedy_decode: log_probs must be (T, B, C), got shape {scores.shape}")
    steps, batch, _ = scores.shape
    lengths = np.full(batch, steps) if input_lengths is None else _as_ints(input_lengths, "input_lengths")
    if lengths.shape != (batch,) or lengths.min() < 0 or lengths.max() > steps:
        raise ValueError(f"greedy_decode: input_lengths must be {batch} values in 0..{steps}, got {lengths}")
    best = scores.argmax(axis=2)  # (T, B)
    changed = np.ones_like(best, dtype=bool)
    changed[1:] = best[1:] != best[:-1]
    keep = changed & (best != blank) & (np.arange(steps)[:, None] < lengths[None, :])
    return [best[keep[:, b], b].tolist() for b in range(batch)]


def prefix_beam_search(log_probs, beam_width: int, blank: int = 0) -> list[tuple[tuple[int, ...], float]]:
    """Prefix beam search (Hannun et al. 2014) over one utterance's (T, C)
    log_probs: the ``beam_width`` likeliest labellings with their log
    probabilities, best first. Each prefix keeps two probabilities -- of the
    paths ending in blank and of those ending in its last label -- so that a
    repeated label counts as new only after a blank. With a beam wide enough
    for every labelling, each probability is exactly exp(−ctc_loss) of it."""
    scores = _scores(log_probs)
    if scores.ndim != 2:
        raise ValueError(f"prefix_beam_search: log_probs must be (T, C) for one utterance, got shape {scores.shape}")
    if beam_width < 1:
        raise ValueError(f"prefix_beam_search: beam_width must be >= 1, got {beam_width}")
    beams: dict[tuple, tuple[float, float]] = {(): (0.0, NEG_INF)}  # prefix -> (ln p ending in blank, in label)
    for frame in scores:
        grown: dict[tuple, list] = {}

        def add(prefix: tuple, which: int, value: float) -> None:
            entry = grown.setdefault(prefix, [NEG_INF, NEG_INF])
            entry[which] = np.logaddexp(entry[which], value)

        for prefix, (p_blank, p_label) in beams.items():
            total = np.logaddexp(p_blank, p_label)
            add(prefix, 0, total + frame[blank])  # a blank: same labelling
            for c in range(len(frame)):
                if c == blank:
                    continue
                if prefix and prefix[-1] == c:
                    add(prefix + (c,), 1, p_blank + frame[c])  # a new c needs a blank in between
                    add(prefix, 1, p_label + frame[c])  # otherwise the repeat collapses
                else:
                    add(prefix + (c,), 1, total + frame[c])
        alive = [kv for kv in grown.items() if np.logaddexp(*kv[1]) > NEG_INF]  # impossible prefixes take no slot
        ranked = sorted(alive, key=lambda kv: -np.logaddexp(*kv[1]))[:beam_width]
        beams = {prefix: (pb, pl) for prefix, (pb, pl) in ranked}
    return [(prefix, float(np.logaddexp(pb, pl))) for prefix, (pb, pl) in beams.items()]

