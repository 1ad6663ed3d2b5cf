"""Predict the next value of a wave from the previous 20, with an Elman RNN,
a Jordan network and an LSTM.

    python -m examples.sine          # train all three, print test MSE, save sine.png

The wave is sin(0.2 t) + 0.5 sin(0.31 t) plus a little noise: never exactly
periodic within the window, so the models must learn the dynamics, not a
lookup. Each model reads the window and a linear layer maps its last state
to the prediction. The test stretch follows the training stretch in time.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import minigrad as mg
import nn
from examples.common import (
    Number,
    check_plot,
    figure,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    progress,
    train_step,
)

WINDOW = 20


def wave(steps: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(steps)
    return (np.sin(0.2 * t) + 0.5 * np.sin(0.31 * t) + noise * rng.standard_normal(steps)).astype(np.float32)


def windows(series: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (WINDOW, N, 1), time-major, and the next values (N, 1)."""
    index = np.arange(len(series) - WINDOW)[:, None] + np.arange(WINDOW)
    return series[index].T[:, :, None], series[WINDOW:, None]


class Predictor(nn.Module):
    """A recurrent layer over the window; its last state → the next value."""

    def __init__(self, kind: str, hidden: int):
        super().__init__()
        self.kind = kind
        if kind == "Jordan":  # its output is the prediction, fed back at every step
            self.rnn = nn.Jordan(1, hidden, 1)
        else:
            self.rnn = {"RNN": nn.RNN, "LSTM": nn.LSTM}[kind](1, hidden)
            self.out = nn.Linear(hidden, 1)

    def forward(self, x) -> mg.Tensor:
        outputs, last = self.rnn(mg.tensor(x))
        return last if self.kind == "Jordan" else self.out(outputs[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=Number(int, above=WINDOW), default=3000,
                        help=f"length of the training stretch (> the window, {WINDOW})")
    parser.add_argument("--noise", type=non_negative_float, default=0.02)
    parser.add_argument("--hidden", type=positive_int, default=32)
    parser.add_argument("--epochs", type=positive_int, default=20)
    parser.add_argument("--batch-size", type=positive_int, default=32)
    parser.add_argument("--lr", type=positive_float, default=5e-3)
    parser.add_argument("--seed", type=non_negative_int, default=0)
    parser.add_argument("--plot", default="sine.png", help="PNG of predictions and losses ('' for none)")
    args = parser.parse_args(argv)
    check_plot(parser, args.plot)

    rng = np.random.default_rng(args.seed)
    series = wave(args.steps + 400, args.noise, rng)
    train_x, train_y = windows(series[:args.steps])
    test_x, test_y = windows(series[args.steps:])
    results = {}
    for kind in ("RNN", "Jordan", "LSTM"):
        mg.manual_seed(args.seed)
        model = Predictor(kind, args.hidden)
        optimizer = nn.optim.Adam(model.parameters(), lr=args.lr)
        losses = []
        start = time.perf_counter()
        for _ in progress(range(args.epochs), kind):
            for rows in nn.batches(np.arange(train_y.shape[0]), batch_size=args.batch_size, rng=rng):
                loss = nn.functional.mse_loss(model(train_x[:, rows]), train_y[rows])
                losses.append(train_step(optimizer, loss))
        with mg.no_grad():
            predicted = model(test_x).data[:, 0]
        mse = float(np.mean((predicted - test_y[:, 0]) ** 2))
        results[kind] = (losses, predicted, mse)
        print(f"{kind:6s}: test MSE {mse:.2e} (noise variance {args.noise ** 2:.1e}), "
              f"{time.perf_counter() - start:.0f} s")
    if args.plot:
        with figure(args.plot, 2, 1, figsize=(9, 6)) as (fig, (top, bottom)):
            top.plot(test_y[:200, 0], color="black", lw=2, label="truth")
            for kind, (_, predicted, mse) in results.items():
                top.plot(predicted[:200], ls="--", label=f"{kind} (MSE {mse:.1e})")
            top.set(title="one-step predictions on the test stretch", xlabel="step")
            top.legend(fontsize=8)
            for kind, (losses, _, _) in results.items():
                bottom.semilogy(np.convolve(losses, np.ones(20) / 20, mode="valid"), label=kind)
            bottom.set(title="training loss (MSE, running mean of 20 batches)", xlabel="batch")
            bottom.legend(fontsize=8)
    return 0


if __name__ == "__main__":
    sys.exit(main())
