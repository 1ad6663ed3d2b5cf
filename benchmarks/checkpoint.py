"""Gradient checkpointing on a long sequence: an LSTM over T steps, its loss
and gradient with the plain backward (every step on the tape) and with
``mg.checkpoint`` over chunks of √T steps (only the chunk boundaries kept,
each chunk run again inside the backward).

    python -m benchmarks.checkpoint [--lengths 1000 2500 5000 10000] [--train-steps 30]

Peak memory is measured with tracemalloc (NumPy reports its buffers to it)
from just before the forward to just after the backward. Time is measured
apart (tracing slows allocation down), interleaved (each repeat runs all
three), best of the repeats, for the plain backward over one scan of T
steps, over the same √T-step chunks without checkpoints (so that the ratio
to it is the price of the recomputation alone), and checkpointed. Then an
LSTM is trained on T = 10,000 steps with checkpointed chunks.
"""

from __future__ import annotations

import argparse
import gc
import math
import time
import tracemalloc

import numpy as np

import minigrad as mg
import nn
from benchmarks._timing import interleaved, table

INPUTS, HIDDEN, BATCH, DELAY = 4, 32, 4, 2


def task(steps: int, rng: np.random.Generator) -> tuple[mg.Tensor, mg.Tensor]:
    """Inputs (T, B, I) of ±1 and targets (T, B, 1): the first input channel DELAY steps back."""
    x = rng.choice([-1.0, 1.0], size=(steps, BATCH, INPUTS)).astype(np.float32)
    y = np.zeros((steps, BATCH, 1), np.float32)
    y[DELAY:, :, 0] = x[:-DELAY, :, 0]
    return mg.tensor(x), mg.tensor(y)


def make_chunk(lstm: nn.LSTM, readout: nn.Linear):
    """One stretch of the sequence: (the state after it, its summed squared error). The loss is
    computed inside, so that a checkpoint of it keeps no per-step output."""

    def chunk(x, y, state):
        out, (h, c) = lstm(x, (state[0][None], state[1][None]))
        error = readout(out) - y
        return (h[0], c[0]), (error * error).sum()

    return chunk


def loss_of(chunk, x: mg.Tensor, y: mg.Tensor, size: int) -> mg.Tensor:
    """The mean squared error over the sequence, run ``size`` steps at a time from a zero state."""
    state = (mg.zeros(BATCH, HIDDEN),) * 2
    total = 0.0
    for start in range(0, x.shape[0], size):
        state, loss = chunk(x[start:start + size], y[start:start + size], state)
        total = total + loss
    return total * (1.0 / y.size)


def contenders(lstm: nn.LSTM, readout: nn.Linear, x: mg.Tensor, y: mg.Tensor) -> dict:
    chunk = make_chunk(lstm, readout)
    size = round(math.sqrt(x.shape[0]))
    return {"plain": lambda: loss_of(chunk, x, y, x.shape[0]).backward(),
            "chunks": lambda: loss_of(chunk, x, y, size).backward(),
            "checkpointed": lambda: loss_of(mg.checkpoint(chunk), x, y, size).backward()}


def peak_mib(fn) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2 ** 20
    finally:
        tracemalloc.stop()


def measure(lengths: list[int], repeats: int) -> list[list]:
    rows = []
    rng = np.random.default_rng(0)
    for steps in lengths:
        lstm, readout = nn.LSTM(INPUTS, HIDDEN, rng=rng), nn.Linear(HIDDEN, 1, rng=rng)
        x, y = task(steps, rng)
        runs = contenders(lstm, readout, x, y)
        params = list(lstm.parameters()) + list(readout.parameters())
        grads = {}
        for name, run in runs.items():  # the same gradient first
            for p in params:
                p.grad = None
            run()
            grads[name] = [p.grad.data.copy() for p in params]
        for name in ("chunks", "checkpointed"):
            for a, b in zip(grads["plain"], grads[name]):
                np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-6)
        memory = {name: peak_mib(runs[name]) for name in ("plain", "checkpointed")}
        best = interleaved(runs, repeats)
        rows.append([steps, round(math.sqrt(steps)), f"{memory['plain']:.1f}", f"{memory['checkpointed']:.2f}",
                     f"{memory['plain'] / memory['checkpointed']:.0f}x", f"{best['plain']:.2f}",
                     f"{best['chunks']:.2f}", f"{best['checkpointed']:.2f}",
                     f"{best['checkpointed'] / best['chunks']:.2f}"])
    return rows


def train(steps: int, train_steps: int) -> list[float]:
    """Adam on the delayed-copy task over one sequence of ``steps``, checkpointed chunks of √T."""
    rng = np.random.default_rng(1)
    lstm, readout = nn.LSTM(INPUTS, HIDDEN, rng=rng), nn.Linear(HIDDEN, 1, rng=rng)
    optimizer = nn.optim.Adam([*lstm.parameters(), *readout.parameters()], lr=0.05)
    chunk = mg.checkpoint(make_chunk(lstm, readout))
    x, y = task(steps, rng)
    losses = []
    for _ in range(train_steps):
        optimizer.zero_grad()
        loss = loss_of(chunk, x, y, round(math.sqrt(steps)))
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", type=int, nargs="+", default=[1000, 2500, 5000, 10000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--train-steps", type=int, default=25)
    args = parser.parse_args(argv)
    print(f"LSTM (I={INPUTS}, H={HIDDEN}, batch {BATCH}, float32) over T steps, loss and backward: the plain tape vs "
          "mg.checkpoint over chunks of sqrt(T) steps (gradients checked to agree first)")
    print(table(["T", "chunk", "plain MiB", "checkpointed MiB", "saved", "plain s", "in chunks s",
                 "checkpointed s", "checkpointed / chunks"], measure(args.lengths, args.repeats)))
    if args.train_steps:
        start = time.perf_counter()
        losses = train(10_000, args.train_steps)
        print(f"\ntraining on T = 10,000 steps with checkpointed chunks of 100 (Adam, lr 0.05): mean squared error "
              f"{losses[0]:.3f} -> {min(losses):.3f} in {args.train_steps} steps, "
              f"{(time.perf_counter() - start) / args.train_steps:.1f} s per step "
              f"(predicting 0 gives 1.0; the target is input channel 0 from {DELAY} steps back)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
