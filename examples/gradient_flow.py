"""Vanishing and exploding gradients, measured and plotted, and what
gradient clipping does about them.

    python -m examples.gradient_flow          # print both experiments, save gradient_flow.png

1. How much gradient reaches each earlier time step: for a loss on the last
   hidden state, the norm of ∂L/∂h_t for t = T, T−1, ..., 1, in a tanh RNN
   whose recurrent weights are small (spectral radius ≈ 0.5: vanishing) or
   large (≈ 3: exploding, until tanh saturates), and in an LSTM. The LSTM's
   additive cell state carries the gradient as far as its forget gate lets
   it: at PyTorch's default init (forget gate ≈ 0.5) hardly further than the
   small RNN; with the forget-gate bias raised to 3 (gate ≈ 0.95, the usual
   trick) across the whole sequence.
2. A tanh RNN with large recurrent weights trained by plain SGD to output the
   mean of its inputs: without clipping an exploding gradient throws it off
   (the loss overflows), with nn.utils.clip_grad_norm_ it stays finite for
   all 600 steps. It does not learn much: with weights this large the state
   is chaotic, and the loss wanders (seeds 0-4 end between 0.03 and 0.38).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

import minigrad as mg
import nn
from examples.common import Number, check_plot, figure, non_negative_int, positive_float, positive_int, train_step


def scaled_rnn_cell(hidden: int, radius: float, rng: np.random.Generator) -> nn.RNNCell:
    cell = nn.RNNCell(1, hidden, rng=rng).to(np.float64)
    cell.weight_hh.data[...] = radius / np.sqrt(hidden) * rng.standard_normal((hidden, hidden))
    return cell


def gradient_reaching_each_step(cell: nn.Module, steps: int, hidden: int, rng: np.random.Generator) -> np.ndarray:
    """‖∂L/∂h_t‖ for t = 1..T, L = Σ h_T (averaged over a batch of 16 random input sequences)."""
    x = 0.5 * rng.standard_normal((steps, 16, 1))
    state = mg.zeros((16, hidden), dtype=np.float64)
    state = (state, state) if isinstance(cell, nn.LSTMCell) else state
    hiddens = []
    for t in range(steps):
        state = cell(x[t], state)
        hiddens.append(state[0] if isinstance(state, tuple) else state)
    grads = mg.grad(hiddens[-1].sum(), hiddens)
    return np.array([np.linalg.norm(g.data) / 4 for g in grads])  # /√16: per sequence


def train(clip: float | None, args: argparse.Namespace) -> list[float]:
    """SGD on "output the mean of 40 inputs"; stops early if the loss overflows."""
    rng = np.random.default_rng(args.seed)
    mg.manual_seed(args.seed)
    rnn, out = nn.RNN(1, args.hidden), nn.Linear(args.hidden, 1)
    rnn.weight_hh_l0.data[...] = 3.0 / np.sqrt(args.hidden) * rng.standard_normal((args.hidden, args.hidden))
    params = list(rnn.parameters()) + list(out.parameters())
    optimizer = nn.optim.SGD(params, lr=args.lr)
    losses = []
    with np.errstate(all="ignore"):  # the unclipped run is expected to overflow
        for _ in range(args.train_steps):
            x = rng.uniform(-1, 1, (40, 32, 1)).astype(np.float32)
            loss = nn.functional.mse_loss(out(rnn(mg.tensor(x))[0][-1]), x.mean(axis=0))
            losses.append(train_step(optimizer, loss, max_norm=clip))
            if not np.isfinite(losses[-1]):
                break
    return losses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=Number(int, at_least=31), default=60,
                        help="sequence length of experiment 1 (>= 31: it reports 30 steps back)")
    parser.add_argument("--hidden", type=positive_int, default=32)
    parser.add_argument("--train-steps", type=positive_int, default=600)
    parser.add_argument("--lr", type=positive_float, default=0.05)
    parser.add_argument("--max-norm", type=positive_float, default=1.0)
    parser.add_argument("--seed", type=non_negative_int, default=0)
    parser.add_argument("--plot", default="gradient_flow.png", help="PNG of both experiments ('' for none)")
    args = parser.parse_args(argv)
    check_plot(parser, args.plot)

    rng = np.random.default_rng(args.seed)
    mg.manual_seed(args.seed)
    cells = {"tanh RNN, radius 0.5": scaled_rnn_cell(args.hidden, 0.5, rng),
             "tanh RNN, radius 3": scaled_rnn_cell(args.hidden, 3.0, rng),
             "LSTM, default init": nn.LSTMCell(1, args.hidden, rng=rng).to(np.float64),
             "LSTM, forget bias 3": nn.LSTMCell(1, args.hidden, rng=rng).to(np.float64)}
    cells["LSTM, forget bias 3"].bias_ih.data[args.hidden:2 * args.hidden] += 3.0  # gate order i, f, g, o
    norms = {name: gradient_reaching_each_step(cell, args.steps, args.hidden, rng) for name, cell in cells.items()}
    print("‖∂L/∂h_t‖, L on the last step, at", ", ".join(f"{k} steps back" for k in (0, 10, 30, args.steps - 1)))
    for name, n in norms.items():
        print(f"  {name:22s}" + "".join(f"{n[-1 - k]:11.2e}" for k in (0, 10, 30, args.steps - 1)))

    runs = {"no clipping": train(None, args), f"clip_grad_norm_({args.max_norm})": train(args.max_norm, args)}
    for name, losses in runs.items():
        ending = (f"diverged at step {len(losses)} (loss {losses[-1]:.3g})" if not np.isfinite(losses[-1])
                  else f"final loss {np.mean(losses[-20:]):.4f} (start {np.mean(losses[:20]):.4f}; means of 20 steps)")
        print(f"training, {name}: {ending}")

    if args.plot:
        with figure(args.plot, 1, 2, figsize=(10, 3.8)) as (fig, (left, right)):
            for name, n in norms.items():
                left.semilogy(np.arange(args.steps)[::-1], n, label=name)
            left.set(xlabel="steps back from the loss", ylabel="‖∂L/∂h_t‖", title="gradient reaching earlier steps")
            left.legend(fontsize=8)
            for name, losses in runs.items():
                right.semilogy(np.where(np.isfinite(losses), losses, np.nan), label=name)
                if not np.isfinite(losses[-1]):
                    right.axvline(len(losses) - 1, color="red", ls=":", label="overflow")
            right.set(xlabel="SGD step", ylabel="MSE", title=f"tanh RNN, large weights, lr {args.lr}")
            right.legend(fontsize=8)
    return 0


if __name__ == "__main__":
    sys.exit(main())
