"""CTC loss + gradient: minigrad's batched forward-backward against a
straightforward per-sample reference (one sequence at a time, the α/β
recursions over time and label positions written plainly), in the same run.
The two are checked to agree before they are timed.

    python -m benchmarks.ctc [--repeats R]
"""

from __future__ import annotations

import argparse

import numpy as np

import minigrad as mg
from benchmarks._timing import best_time, table
from nn.ctc import ctc_loss

SIZES = [(100, 32, 30, 30), (400, 16, 60, 80)]  # (T, B, C, S)


def reference_one(lp: np.ndarray, target: np.ndarray, blank: int = 0) -> tuple[float, np.ndarray]:
    """−ln p and its gradient w.r.t. lp (T, C) for one sequence, loops over t and s."""
    T, C = lp.shape
    ext = [blank]
    for label in target:
        ext += [int(label), blank]
    L = len(ext)
    alpha = np.full((T, L), -np.inf)
    alpha[0, 0] = lp[0, ext[0]]
    if L > 1:
        alpha[0, 1] = lp[0, ext[1]]
    for t in range(1, T):
        for s in range(L):
            terms = [alpha[t - 1, s]]
            if s >= 1:
                terms.append(alpha[t - 1, s - 1])
            if s >= 2 and ext[s] != blank and ext[s] != ext[s - 2]:
                terms.append(alpha[t - 1, s - 2])
            alpha[t, s] = np.logaddexp.reduce(terms) + lp[t, ext[s]]
    beta = np.full((T, L), -np.inf)
    beta[T - 1, L - 1] = lp[T - 1, ext[L - 1]]
    if L > 1:
        beta[T - 1, L - 2] = lp[T - 1, ext[L - 2]]
    for t in range(T - 2, -1, -1):
        for s in range(L):
            terms = [beta[t + 1, s]]
            if s + 1 < L:
                terms.append(beta[t + 1, s + 1])
            if s + 2 < L and ext[s + 2] != blank and ext[s + 2] != ext[s]:
                terms.append(beta[t + 1, s + 2])
            beta[t, s] = np.logaddexp.reduce(terms) + lp[t, ext[s]]
    log_p = np.logaddexp(alpha[T - 1, L - 1], alpha[T - 1, L - 2] if L > 1 else -np.inf)
    grad = np.zeros((T, C))
    for s in range(L):
        grad[:, ext[s]] -= np.exp(alpha[:, s] + beta[:, s] - lp[:, ext[s]] - log_p)
    return -log_p, grad


def reference(lp: np.ndarray, targets: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    losses, grad = np.zeros(lp.shape[1]), np.zeros_like(lp)
    for b in range(lp.shape[1]):
        losses[b], grad[:, b] = reference_one(lp[:, b], targets[b, :lengths[b]])
    return losses, grad


def ours(lp: np.ndarray, targets: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = mg.Tensor(lp, requires_grad=True)
    losses = ctc_loss(x, targets, np.full(lp.shape[1], lp.shape[0]), lengths, reduction="none")
    losses.sum().backward()
    return losses.data, x.grad.data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for T, B, C, S in SIZES:
        rng = np.random.default_rng(0)
        scores = rng.standard_normal((T, B, C))
        lp = scores - np.logaddexp.reduce(scores, axis=2, keepdims=True)
        lengths = rng.integers(S // 2, S + 1, size=B)
        targets = rng.integers(1, C, size=(B, S))
        (l1, g1), (l2, g2) = ours(lp, targets, lengths), reference(lp, targets, lengths)
        np.testing.assert_allclose(l1, l2, rtol=1e-9)
        np.testing.assert_allclose(g1, g2, rtol=1e-7, atol=1e-10)
        t_ours = best_time(lambda: ours(lp, targets, lengths), args.repeats)
        t_ref = best_time(lambda: reference(lp, targets, lengths), 1)
        rows.append([f"{T}x{B}x{C}x{S}", f"{t_ours * 1e3:.1f}", f"{t_ref * 1e3:.0f}", f"{t_ref / t_ours:.0f}x"])
    print("CTC loss + gradient (float64); both agree to 1e-9 (loss) and 1e-7 (gradient) first")
    print(table(["T x B x C x S", "minigrad ms", "per-sample reference ms", "speed-up"], rows))


if __name__ == "__main__":
    main()
