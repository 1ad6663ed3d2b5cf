"""Per-op recording cost: forward + backward on 1-element float32 arrays.

Each row runs a chain of N steps of one op (x = op(x, w), w a leaf that
requires grad), forward and backward, and divides by the number of recorded
ops. Beside it, bare NumPy does the same forward and the hand-written
backward of the same chain, in the same run, so the ratio is what the tape
costs on top of the arithmetic. The last row is a 10,000-step chain
x = tanh(x * w + b).

    python -m benchmarks.overhead [--steps N] [--repeats R]
"""

from __future__ import annotations

import argparse

import numpy as np

import minigrad as mg
from benchmarks._timing import best_time, table

F32 = np.float32


def numpy_chain(step: str, n: int, x0: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Forward n steps keeping what backward needs, then backward by hand; returns dL/dw."""
    xs, x = [], x0
    for _ in range(n):
        xs.append(x)
        if step == "add":
            x = x + w
        elif step == "mul":
            x = x * w
        elif step == "tanh":
            x = np.tanh(x + w)
        elif step == "sigmoid":
            x = 1 / (1 + np.exp(-(x + w)))
        elif step == "matmul":
            x = x @ w
        else:  # "tanh(x*w+b)"
            x = np.tanh(x * w + b)
        if step in ("tanh", "sigmoid", "tanh(x*w+b)"):
            xs[-1] = (xs[-1], x)
    g, gw = np.ones_like(x), np.zeros_like(w)
    for saved in reversed(xs):
        if step == "add":
            gw += g
        elif step == "mul":
            gw += g * saved
            g = g * w
        elif step == "tanh":
            g = g * (1 - saved[1] * saved[1])
            gw += g
        elif step == "sigmoid":
            g = g * saved[1] * (1 - saved[1])
            gw += g
        elif step == "matmul":
            gw += saved.T @ g
            g = g @ w.T
        else:
            g = g * (1 - saved[1] * saved[1])
            gw += g * saved[0]
            g = g * w
    return gw


def minigrad_chain(step: str, n: int, x0: np.ndarray, w: mg.Tensor, b: mg.Tensor) -> np.ndarray:
    w.grad = None
    x = mg.Tensor(x0)
    for _ in range(n):
        if step == "add":
            x = x + w
        elif step == "mul":
            x = x * w
        elif step == "tanh":
            x = mg.tanh(x + w)
        elif step == "sigmoid":
            x = mg.sigmoid(x + w)
        elif step == "matmul":
            x = x @ w
        else:
            x = mg.tanh(x * w + b)
    x.sum().backward()
    return w.grad.data


OPS_PER_STEP = {"add": 1, "mul": 1, "tanh": 2, "sigmoid": 2, "matmul": 1, "tanh(x*w+b)": 3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2000, help="chain length for the per-op rows")
    parser.add_argument("--chain", type=int, default=10_000, help="length of the long tanh(x*w+b) chain")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    rows = []
    for step, n in [(s, args.steps) for s in OPS_PER_STEP] + [("tanh(x*w+b)", args.chain)]:
        shape = (1, 1) if step == "matmul" else (1,)
        x0, w0, b0 = (np.full(shape, v, F32) for v in (0.5, 0.9, 0.1))
        w, b = mg.Tensor(w0, requires_grad=True), mg.Tensor(b0, requires_grad=True)
        ours = minigrad_chain(step, n, x0, w, b)
        ref = numpy_chain(step, n, x0, w0, b0)
        np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-6, err_msg=f"gradients disagree for {step}")
        t_mg = best_time(lambda: minigrad_chain(step, n, x0, w, b), args.repeats)
        t_np = best_time(lambda: numpy_chain(step, n, x0, w0, b0), args.repeats)
        ops = n * OPS_PER_STEP[step]
        rows.append([f"{step} x {n}", ops, f"{t_mg / ops * 1e6:.2f}", f"{t_np / ops * 1e6:.2f}", f"{t_mg / t_np:.2f}"])
    print(table(["chain", "recorded ops", "minigrad us/op", "numpy us/op", "ratio"], rows))


if __name__ == "__main__":
    main()
