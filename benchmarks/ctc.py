"""CTC loss + gradient, three implementations in the same run:

- new: the kernel of ``nn.ctc`` (``_ctc_loss_and_grad``), and the user's path through it
  (``ctc_loss`` forward and backward through minigrad), timed both;
- previous: the kernel as it was before issue 16 (a frozen copy in benchmarks/_ctc_previous.py);
- reference: a straightforward per-sample forward-backward (one sequence at a time, α and β
  over time written plainly with np.logaddexp), in float64.

The ratios compare kernel with kernel (the op around either costs the same). All are checked
to agree before anything is timed (float64: loss to 1e-12 relative, gradient to 2e-11
absolute; float32 against the float64 reference: 1e-6 and 1e-3). New and previous are timed
interleaved, best of ``--repeats``; the reference once (it is slow).
``--clock cpu`` times this process's CPU time instead of wall time (steadier on a busy machine).
``--warm`` times each call right after an untimed call of the same implementation, so that each
finds the heap and caches as it leaves them (interleaved, a kernel otherwise pays page faults for
memory the one before it gave back to the kernel).
BLAS runs on one thread while timing when threadpoolctl is installed: the previous kernel's
one matmul would otherwise swing with the machine's load, and the new kernel uses none.

    python -m benchmarks.ctc [--repeats R] [--sizes 0,1,2] [--clock wall|cpu] [--warm]
"""

from __future__ import annotations

import argparse
import contextlib
import time

import numpy as np

import minigrad as mg
from benchmarks import _ctc_previous
from benchmarks._timing import best_time, table
from nn.ctc import _ctc_loss_and_grad, ctc_loss

SIZES = [(100, 32, 30, 30), (400, 16, 60, 80), (1000, 8, 100, 200)]  # (T, B, C, S)
TOLERANCES = {np.float64: (1e-12, 2e-11), np.float32: (1e-6, 1e-3)}  # loss rtol, gradient atol


def reference_one(lp: np.ndarray, target: np.ndarray, blank: int = 0) -> tuple[float, np.ndarray]:
    """−ln p and its gradient w.r.t. lp (T, C) for one sequence: α and β over t, vectorised over s."""
    T, C = lp.shape
    ext = np.full(2 * len(target) + 1, blank)
    ext[1::2] = target
    y = lp[:, ext]  # (T, L)
    can_skip = np.zeros(len(ext), dtype=bool)  # s−2 -> s allowed
    can_skip[2:] = (ext[2:] != blank) & (ext[2:] != ext[:-2])
    alpha, beta = np.full_like(y, -np.inf), np.full_like(y, -np.inf)
    alpha[0, :2] = y[0, :2]
    for t in range(1, T):
        prev, here = alpha[t - 1], alpha[t - 1].copy()
        here[1:] = np.logaddexp(here[1:], prev[:-1])
        here[2:] = np.where(can_skip[2:], np.logaddexp(here[2:], prev[:-2]), here[2:])
        alpha[t] = here + y[t]
    beta[T - 1, -2:] = y[T - 1, -2:]
    for t in range(T - 2, -1, -1):
        nxt, here = beta[t + 1], beta[t + 1].copy()
        here[:-1] = np.logaddexp(here[:-1], nxt[1:])
        here[:-2] = np.where(can_skip[2:], np.logaddexp(here[:-2], nxt[2:]), here[:-2])
        beta[t] = here + y[t]
    log_p = np.logaddexp.reduce(alpha[T - 1, -2:])
    grad = np.zeros((T, C))
    np.add.at(grad.T, ext, -np.exp(alpha + beta - y - log_p).T)
    return -log_p, grad


def reference(lp: np.ndarray, targets: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    losses, grad = np.zeros(lp.shape[1]), np.zeros(lp.shape)
    for b in range(lp.shape[1]):
        losses[b], grad[:, b] = reference_one(lp[:, b].astype(np.float64), targets[b, :lengths[b]])
    return losses, grad


def new(lp: np.ndarray, targets: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return _ctc_loss_and_grad(lp, targets, np.full(lp.shape[1], lp.shape[0]), lengths, blank=0)


def new_public(lp: np.ndarray, targets: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = mg.Tensor(lp, requires_grad=True)
    losses = ctc_loss(x, targets, np.full(lp.shape[1], lp.shape[0]), lengths, reduction="none")
    losses.sum().backward()
    return losses.data, x.grad.data


def previous(lp: np.ndarray, targets: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return _ctc_previous.ctc_loss_and_grad(lp, targets, np.full(lp.shape[1], lp.shape[0]), lengths)


def check(name: str, got: tuple, expected: tuple, dtype) -> None:
    rtol, atol = TOLERANCES[dtype]
    np.testing.assert_allclose(got[0], expected[0], rtol=rtol, err_msg=f"{name}: losses")
    np.testing.assert_allclose(got[1], expected[1], rtol=0, atol=atol, err_msg=f"{name}: gradient")


def one_blas_thread():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sizes", default="0,1,2", help="indices into SIZES")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    parser.add_argument("--warm", action="store_true",
                        help="time each call right after an untimed call of the same implementation")
    args = parser.parse_args()
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    rows = []
    with one_blas_thread():
        for T, B, C, S in (SIZES[int(i)] for i in args.sizes.split(",")):
            rng = np.random.default_rng(0)
            scores = rng.standard_normal((T, B, C))
            lp64 = scores - np.logaddexp.reduce(scores, axis=2, keepdims=True)
            lengths = rng.integers(S // 2, S + 1, size=B)
            targets = rng.integers(1, C, size=(B, S))
            start = clock()
            expected = reference(lp64, targets, lengths)
            t_ref = clock() - start
            for dtype in (np.float64, np.float32):
                lp = lp64.astype(dtype)
                got = new(lp, targets, lengths)
                check("new", got, expected, dtype)
                check("ctc_loss", new_public(lp, targets, lengths), expected, dtype)
                check("previous", previous(lp, targets, lengths), expected, dtype)
                worst = np.abs(got[1] - expected[1]).max()
                times = {f: float("inf") for f in (new, new_public, previous)}
                for _ in range(args.repeats):  # interleaved, so all see the same machine
                    for f in times:
                        if args.warm:  # (after a call of itself: the heap and caches as it leaves them)
                            f(lp, targets, lengths)
                        times[f] = min(times[f], best_time(lambda: f(lp, targets, lengths), 1, clock))
                t_new, t_public, t_prev = times.values()
                rows.append([f"{T}x{B}x{C}x{S}", np.dtype(dtype).name, f"{t_new * 1e3:.1f}", f"{t_public * 1e3:.1f}",
                             f"{t_prev * 1e3:.1f}", f"{t_ref * 1e3:.0f}", f"{t_prev / t_new:.2f}x",
                             f"{t_ref / t_new:.1f}x", f"{worst:.1e}"])
    print(f"CTC loss + gradient, {args.clock} time, best of {args.repeats} (new and previous interleaved); "
          "all checked against each other first")
    print(table(["T x B x C x S", "dtype", "new ms", "ctc_loss+backward ms", "previous ms", "reference ms",
                 "previous / new", "reference / new", "max |grad - reference|"], rows))


if __name__ == "__main__":
    main()
