"""Forward mode vs reverse mode through time: RTRL and BPTT compute the same
gradient of a recurrent network, with the engine's two modes, at very different costs.

    python -m examples.rtrl_vs_bptt          # check they agree, then print the time/memory table

RTRL (nn.rtrl) is forward mode: ``mg.jvp`` through each step carries the
derivative of the state along every parameter direction -- P = H² + H·I + ...
of them -- forward in time. Nothing of the past is kept, so its memory does
not grow with the sequence length T, but every step costs P times the work
of a step: O(H⁴) per step. BPTT is reverse mode: the tape records all T
steps, O(T·H) memory, and one backward sweep gives the gradient of all P
parameters at once, O(H²) per step. Peak memory is measured with tracemalloc
(NumPy reports its buffers to it).
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc

import numpy as np

import minigrad as mg
import nn
from examples.common import non_negative_int, positive_int, progress
from nn.rtrl import rtrl_gradients


def bptt_gradients(cell: nn.RNNCell, readout: nn.Linear, x: np.ndarray, y: np.ndarray) -> dict:
    """The same loss, Σ_t ½‖readout(h_t) − y_t‖², differentiated by the tape."""
    for p in (*cell.parameters(), *readout.parameters()):
        p.grad = None
    h = mg.zeros((x.shape[1], cell.hidden_size), dtype=np.float64)
    loss = 0.0
    for t in range(len(x)):
        h = cell(x[t], h)
        error = readout(h) - y[t]
        loss = loss + 0.5 * (error * error).sum()
    loss.backward()
    return dict(cell.named_parameters()) | {f"readout.{k}": v for k, v in readout.named_parameters()}


def measure(fn) -> tuple[float, float]:
    """(seconds, peak MiB allocated) of fn: timed in one call, and its memory
    traced in a second (tracing slows allocation-heavy code down)."""
    start = time.perf_counter()
    fn()
    seconds = time.perf_counter() - start
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return seconds, peak / 2 ** 20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", type=positive_int, nargs="+", default=[25, 100, 400])
    parser.add_argument("--hidden", type=positive_int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--batch", type=positive_int, default=4)
    parser.add_argument("--seed", type=non_negative_int, default=0)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    rows = []
    worst = 0.0
    for hidden in args.hidden:
        for steps in progress(args.lengths, f"H={hidden}"):
            cell = nn.RNNCell(2, hidden, rng=rng).to(np.float64)
            readout = nn.Linear(hidden, 1, rng=rng).to(np.float64)
            x, y = rng.standard_normal((steps, args.batch, 2)), rng.standard_normal((steps, args.batch, 1))
            result = {}
            rtrl_time, rtrl_mem = measure(lambda: result.update(rtrl=rtrl_gradients(cell, readout, x, y)[1]))
            bptt_time, bptt_mem = measure(lambda: result.update(bptt=bptt_gradients(cell, readout, x, y)))
            difference = max(np.abs(result["rtrl"][k] - p.grad.data).max() for k, p in result["bptt"].items())
            worst = max(worst, difference)
            directions = sum(p.size for p in (*cell.parameters(), *readout.parameters()))
            rows.append((hidden, steps, directions, rtrl_time, bptt_time, rtrl_mem, bptt_mem))
    print(f"largest |RTRL − BPTT| gradient difference over all runs: {worst:.1e} (float64)\n")
    print(f"{'H':>4} {'T':>5} | {'P':>5} | {'forward s':>9} {'reverse s':>9} {'ratio':>6} | "
          f"{'forward MiB':>11} {'reverse MiB':>11}")
    for hidden, steps, directions, rt, bt, rm, bm in rows:
        print(f"{hidden:4d} {steps:5d} | {directions:5d} | {rt:9.3f} {bt:9.3f} {rt / bt:6.1f} | {rm:11.2f} {bm:11.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
