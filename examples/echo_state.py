"""An echo state network learns the chaotic Mackey-Glass series (τ = 17) and
then runs free: every prediction is fed back as the next input.

    python -m examples.echo_state          # fit, generate, print the MSE, save echo_state.png

Only the linear readout is trained, in closed form (ridge regression); the
1000-unit reservoir stays as it was drawn. After 2000 teacher-forced steps
the network generates on its own; we measure the mean squared error over its
first 500 generated steps.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import nn
from examples.common import (
    Number,
    check_plot,
    figure,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)


def mackey_glass(length: int, tau: float = 17, beta: float = 0.2, gamma: float = 0.1, power: int = 10,
                 dt: float = 0.1, every: int = 10, discard: int = 1000) -> np.ndarray:
    """dx/dt = β x(t−τ) / (1 + x(t−τ)^10) − γ x(t), Euler steps of dt, sampled
    every ``every`` steps (one time unit), after ``discard`` units of transient."""
    lag, total = round(tau / dt), (length + discard) * every
    x = np.full(total + lag, 1.2)
    for i in range(lag, total + lag - 1):
        delayed = x[i - lag]
        x[i + 1] = x[i] + dt * (beta * delayed / (1 + delayed ** power) - gamma * x[i])
    return x[lag::every][discard:discard + length]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reservoir", type=positive_int, default=1000)
    parser.add_argument("--train", type=Number(int, at_least=200), default=2000,
                        help="teacher-forced steps (the first 100 are washout, the last 200 plotted)")
    parser.add_argument("--generate", type=positive_int, default=500)
    parser.add_argument("--spectral-radius", type=positive_float, default=1.25)
    parser.add_argument("--leak", type=Number(float, above=0, at_most=1), default=0.3)
    parser.add_argument("--ridge", type=non_negative_float, default=1e-10)
    parser.add_argument("--seed", type=non_negative_int, default=0)
    parser.add_argument("--plot", default="echo_state.png", help="PNG of generated vs true ('' for none)")
    args = parser.parse_args(argv)
    check_plot(parser, args.plot)

    series = mackey_glass(args.train + args.generate + 1)
    esn = nn.EchoStateNetwork(1, args.reservoir, spectral_radius=args.spectral_radius, leak=args.leak,
                              ridge=args.ridge, rng=np.random.default_rng(args.seed))
    start = time.perf_counter()
    fitted = esn.fit(series[:args.train], series[1:args.train + 1], washout=100)
    generated = esn.generate(args.generate, first_input=series[args.train])[:, 0]
    truth = series[args.train + 1:]
    train_mse = np.mean((fitted[:, 0] - series[101:args.train + 1]) ** 2)
    mse = np.mean((generated - truth) ** 2)
    print(f"reservoir {args.reservoir}, spectral radius {args.spectral_radius}, leak {args.leak}: "
          f"teacher-forced MSE {train_mse:.2e}")
    print(f"free-running MSE over the first {args.generate} generated steps: {mse:.2e} "
          f"({time.perf_counter() - start:.1f} s)")
    if args.plot:
        with figure(args.plot, figsize=(9, 3.5)) as (fig, ax):
            ax.plot(np.arange(-200, 0), series[args.train - 199:args.train + 1], color="gray", label="teacher forced")
            ax.plot(truth, color="black", lw=2, label="true")
            ax.plot(generated, color="tab:orange", ls="--", label="generated (free running)")
            ax.set_xlabel("step after the end of training")
            ax.set_title(f"Mackey-Glass τ=17: ESN free-running, MSE {mse:.1e} over {args.generate} steps")
            ax.legend(loc="lower left")
    return 0


if __name__ == "__main__":
    sys.exit(main())
